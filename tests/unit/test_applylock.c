/* test_applylock.c: the applier's dotlock (mhafs/apply_uidlist.c).  The
 * lock it takes to replace a dovecot-uidlist carries "pid:host" as
 * Dovecot's own do, so that a lock left by an mhafs that died is seen as
 * its holder gone at once (by Dovecot and by the next applier) instead of
 * after two minutes; a stale lock of a dead holder is removed and taken;
 * the unlock removes only a lock the applier took. */
#define _GNU_SOURCE
#include "apply.h"
#include "apply_int.h"
#include "tcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOCK "dovecot-uidlist.lock"

static int lock_text(int dfd, char *buf, size_t len)
{
	int fd = openat(dfd, LOCK, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return (int)n;
}

static void plant(int dfd, const char *text)
{
	int fd = openat(dfd, LOCK, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
		close(fd);
	}
}

int main(void)
{
	char dir[] = "/tmp/mhafs-test-applylock.XXXXXX", want[320], got[320], host[256], dead[320];
	struct applier a;
	struct stat st;
	memset(&a, 0, sizeof(a));
	umask(022); /* as Dovecot's readers need it; mhafs runs with 0 */
	if (!mkdtemp(dir))
		return 1;
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);

	/* taken: the lock names this process, readable by Dovecot */
	CHECK_INT(apply_uidlist_lock(&a, dfd, "u/Maildir/dovecot-uidlist"), 1);
	CHECK(apply_dotlock_marker(want, sizeof(want)) > 0);
	CHECK(lock_text(dfd, got, sizeof(got)) > 0);
	CHECK_STR(got, want);
	CHECK(fstatat(dfd, LOCK, &st, 0) == 0 && (st.st_mode & 0044) == 0044);
	apply_uidlist_unlock(dfd, 1);
	CHECK(fstatat(dfd, LOCK, &st, 0) < 0 && errno == ENOENT);

	/* a lock of a process of this host that is gone: removed and taken */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	CHECK(gethostname(host, sizeof(host)) == 0);
	host[sizeof(host) - 1] = '\0';
	snprintf(dead, sizeof(dead), "%ld:%s", (long)child, host);
	plant(dfd, dead);
	CHECK_INT(apply_dotlock_stale(dfd, LOCK), DOTLOCK_HOLDER_GONE);
	CHECK_INT(apply_uidlist_lock(&a, dfd, "u/Maildir/dovecot-uidlist"), 1);
	CHECK(lock_text(dfd, got, sizeof(got)) > 0);
	CHECK_STR(got, want);

	/* the applier's own lock, as a crashed mhafs would leave it, is
	 * stale as soon as that process is gone */
	apply_uidlist_unlock(dfd, 1);
	child = fork();
	if (child == 0) {
		int rc = apply_uidlist_lock(&a, dfd, "u/Maildir/dovecot-uidlist");
		_exit(rc == 1 ? 0 : 1); /* dies holding it */
	}
	int status = 0;
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT(apply_dotlock_stale(dfd, LOCK), DOTLOCK_HOLDER_GONE);

	/* held by a live process here (this one, as Dovecot would): not
	 * stale, and an unlock of a lock not taken leaves it */
	unlinkat(dfd, LOCK, 0);
	plant(dfd, want);
	CHECK_INT(apply_dotlock_stale(dfd, LOCK), 0);
	apply_uidlist_unlock(dfd, 0);
	CHECK(fstatat(dfd, LOCK, &st, 0) == 0);
	unlinkat(dfd, LOCK, 0);
	close(dfd);
	rmdir(dir);
	return t_done("test_applylock");
}
