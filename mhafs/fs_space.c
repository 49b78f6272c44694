/* fs_space.c: room in the store for Dovecot's control files (see fs.h).
 * ext4 keeps blocks for root; this keeps a reserve for the files whose
 * half-done writes break Dovecot's view of a mailbox.  Seen in a fault
 * run: a full disk failed Dovecot's rewrite of carol's dovecot-uidlist,
 * Dovecot then wrote the file back with no entries, answered an EXPUNGE
 * OK without removing the message, and gave all 1553 messages of the
 * mailbox new UIDs. */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define CONTROL_RESERVE_MAX (4 << 20)

void fs_control_space_init(struct mhafs *fs)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/%s", fs->root_path, CONFIG_STAGING_DIR);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_warn("store: cannot create %s (%s): no reserve for Dovecot's control files", dir,
			 strerror(errno));
		atomic_store(&fs->control_reserve.released, 1);
		return;
	}
	int rc = reserve_init(&fs->control_reserve, dir, "reserve", CONTROL_RESERVE_MAX);
	if (rc < 0)
		log_warn("store: cannot reserve %lld bytes in %s (%s): the store's disk is full or "
			 "nearly; mail is refused until there is room", fs->control_reserve.size, dir,
			 strerror(-rc));
}

/* Whether a file name is one of Dovecot's control files. */
static int control_name(const char *name)
{
	/* subscriptions is written as subscriptions.lock and renamed */
	return strncmp(name, "dovecot", 7) == 0 || strncmp(name, "subscriptions", 13) == 0;
}

/* The name of the file open as fd, into buf: 0 or -1. */
static int fd_name(int fd, char *buf, size_t len)
{
	char proc[64], path[4200];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, path, sizeof(path) - 1);
	if (n <= 0)
		return -1;
	path[n] = '\0';
	const char *slash = strrchr(path, '/');
	return snprintf(buf, len, "%s", slash ? slash + 1 : path) < (int)len ? 0 : -1;
}

static int fd_is_control(int fd)
{
	char name[256];
	return fd_name(fd, name, sizeof(name)) == 0 && control_name(name);
}

/* 1 while the reserve is given away (after trying to make it again). */
static int tight(struct mhafs *fs)
{
	struct reserve *r = &fs->control_reserve;
	if (reserve_held(r) || r->size <= 0)
		return 0;
	if (!reserve_regain(r))
		return 1;
	log_notice("store: room again on the backing file system: the %lld-byte reserve for "
		   "Dovecot's control files is back, mail is accepted", r->size);
	return 0;
}

int fs_space_admit(struct mhafs *fs, int fd)
{
	return tight(fs) && !fd_is_control(fd) ? ENOSPC : 0;
}

int fs_space_admit_path(struct mhafs *fs, const char *path)
{
	const char *slash = strrchr(path, '/');
	return tight(fs) && !control_name(slash ? slash + 1 : path) ? ENOSPC : 0;
}

int fs_space_release_for(struct mhafs *fs, int fd)
{
	struct reserve *r = &fs->control_reserve;
	char name[256];
	if (r->size <= 0 || fd_name(fd, name, sizeof(name)) < 0 || !control_name(name) ||
	    !reserve_release(r))
		return 0;
	log_warn("store: the backing file system is full: released the %lld-byte reserve for %s "
		 "and Dovecot's other control files; mail gets ENOSPC until there is room", r->size, name);
	return 1;
}
