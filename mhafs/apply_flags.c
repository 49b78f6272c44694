/* apply_flags.c: a peer's change of a Maildir message's flags (a rename
 * within one maildir that keeps the base name), merged flag by flag with
 * this node's version of the message (flagmerge.h).  The two nodes may
 * have changed other flags of it, or the same ones, while apart: each flag
 * takes its latest change, so both keep "+\Seen" from one and "+\Flagged"
 * from the other.  The peer makes the same merge when it meets this node's
 * changes, so both converge without this node journaling its result. */
#define _GNU_SOURCE
#include "apply_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flagmerge.h"
#include "log.h"
#include "maildir_key.h"

/* The flags of src and dst when e renames a message within its maildir
 * (base name kept): 1, else 0. */
static int flag_rename(const struct jentry *e, uint64_t *src, uint64_t *dst)
{
	size_t fl1, bl1, fl2, bl2;
	const char *b1, *b2;
	if (e->op != JOP_RENAME || !e->path2 || (e->flags & JOP_RENAME_EXCHANGE) ||
	    !maildir_split(e->path, &fl1, &b1, &bl1) || !maildir_split(e->path2, &fl2, &b2, &bl2))
		return 0;
	return fl1 == fl2 && bl1 == bl2 && memcmp(e->path, e->path2, fl1) == 0 &&
	       memcmp(b1, b2, bl1) == 0 && mflags_parse(b1, src) && mflags_parse(b2, dst);
}

/* "<maildir>/cur/<name with flags>": cur/ when either version is there
 * (Dovecot only moves messages from new/ to cur/). */
static int target_path(const char *local, const char *dst, uint64_t flags, char *out, size_t outlen)
{
	const char *ln = strrchr(local, '/') + 1, *dn = strrchr(dst, '/') + 1;
	int cur = strncmp(ln - 4, "cur", 3) == 0 || strncmp(dn - 4, "cur", 3) == 0;
	size_t dirlen = (size_t)(ln - 4 - local); /* the maildir and its '/' */
	char name[NAME_MAX + 1];
	if (mflags_name(ln, flags, name, sizeof(name)) < 0)
		return -ENAMETOOLONG;
	int n = snprintf(out, outlen, "%.*s%s/%s", (int)dirlen, local, cur ? "cur" : "new", name);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int move_here(struct applier *a, const char *from, const char *to)
{
	const char *fname, *tname;
	int fpfd = apply_open_parent(a, from, &fname, 0), rc;
	if (fpfd < 0)
		return fpfd;
	int tpfd = apply_open_parent(a, to, &tname, 1);
	if (tpfd < 0) {
		close(fpfd);
		return tpfd;
	}
	rc = renameat(fpfd, fname, tpfd, tname) < 0 ? -errno : 0;
	if (rc == 0)
		rc = apply_fsync_dir(a, tpfd);
	if (rc == 0 && strcmp(from, to) != 0)
		rc = apply_fsync_dir(a, fpfd);
	close(fpfd);
	close(tpfd);
	return rc;
}

int apply_flag_change(struct applier *a, struct jentry *e, int pfd, const char *name, int *skipped)
{
	uint64_t src, dst, here;
	char local[PATH_MAX];
	struct stat st;

	if (!a->flag_regs || !flag_rename(e, &src, &dst))
		return 0;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(local, sizeof(local), "%s", e->path);
	} else {
		int found = maildir_find_key(a->root_fd, e->path, local, sizeof(local));
		if (found < 0)
			return found;
		if (found == 0 || strcmp(local, e->path2) == 0)
			return 0; /* expunged here, or done here already: apply.c's rules */
	}
	if (!mflags_parse(strrchr(local, '/') + 1, &here))
		return 0; /* not a "2," name here: last writer wins as before */

	struct fregs regs;
	struct fstamp mine = { 0, 0 }, theirs = { e->hlc, e->origin };
	hlc_t lh = 0;
	uint16_t lo = 0;
	int rc = a->flag_regs(a->hlc_arg, local, &regs);
	if (rc < 0)
		return rc;
	if (a->local_hlc && a->local_hlc(a->hlc_arg, local, &lh, &lo) == 0)
		mine = (struct fstamp){ lh, lo };
	uint64_t merged = merge_flags_change(here, &regs, &mine, src, dst, &theirs);

	char target[PATH_MAX];
	if ((rc = target_path(local, e->path2, merged, target, sizeof(target))) < 0)
		return rc;
	if (strcmp(target, local) == 0) {
		log_notice("conflict: flags %s -> %s from node %u: this node's %s holds the later "
			   "change of every flag they touch: kept", e->path, e->path2, e->origin, local);
		a->n_local_newer++;
		*skipped = 1;
		return 1;
	}
	if ((rc = move_here(a, local, target)) < 0)
		return rc;
	if (strcmp(local, e->path) != 0 || strcmp(target, e->path2) != 0) {
		log_notice("conflict: flags %s -> %s from node %u merged flag by flag with this node's "
			   "%s: now %s", e->path, e->path2, e->origin, local, target);
		a->n_flags_merged++;
		snprintf(a->redirect, sizeof(a->redirect), "%s", local);
		snprintf(a->redirect2, sizeof(a->redirect2), "%s", target);
		e->path = a->redirect;
		e->path2 = a->redirect2;
		a->entry_changed = 1;
	}
	return 1;
}
