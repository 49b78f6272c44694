/* fsops-ops.c: the single-process sections of the fsops script: create,
 * link, rename (incl. renameat2), unlink, mkdir/rmdir, times, sync, xattrs,
 * symlinks, truncate, O_APPEND, pread/pwrite, mmap, chmod/chown, fallocate,
 * statfs and readdir.  Each section works in its own subdirectory. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsops.h"

#define OK 0
#define ANY (-1)

void t_create(void)
{
	int fd;

	section("create");
	chk("mkdir c", mkdir("c", 0755), OK);
	fd = (int)chk("open c/new O_CREAT|O_EXCL 0666", open("c/new", O_WRONLY | O_CREAT | O_EXCL, 0666), OK);
	if (fd >= 0) {
		chk("write c/new", write(fd, "hello", 5), OK);
		st_fd("c/new(fd)", fd);
		close(fd);
	}
	st("c/new");
	cat("c/new");
	chk("open c/new O_CREAT|O_EXCL again", open("c/new", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	fd = (int)chk("open c/new O_CREAT (exists)", open("c/new", O_RDWR | O_CREAT, 0600), OK);
	if (fd >= 0)
		close(fd);
	st("c/new");
	fd = (int)chk("open c/p600 O_CREAT|O_EXCL 0600", open("c/p600", O_WRONLY | O_CREAT | O_EXCL, 0600), OK);
	if (fd >= 0)
		close(fd);
	st("c/p600");
	chk("symlink c/dangling -> nowhere", symlink("nowhere", "c/dangling"), OK);
	chk("open c/dangling O_CREAT|O_EXCL", open("c/dangling", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	st("c/nowhere");
	chk("open c/missing O_RDONLY", open("c/missing", O_RDONLY), ENOENT);
	chk("open c/new O_DIRECTORY", open("c/new", O_RDONLY | O_DIRECTORY), ENOTDIR);
	chk("open c/new/x O_CREAT", open("c/new/x", O_WRONLY | O_CREAT, 0644), ENOTDIR);
	chk("open c O_WRONLY", open("c", O_WRONLY), EISDIR);
	fd = (int)chk("open c/new O_TRUNC", open("c/new", O_WRONLY | O_TRUNC), OK);
	if (fd >= 0)
		close(fd);
	st("c/new");
	ls("c");
}

void t_link(void)
{
	ino_t a;

	section("link");
	chk("mkdir l", mkdir("l", 0755), OK);
	chk("mkdir l/sub", mkdir("l/sub", 0755), OK);
	chk("put l/a", put("l/a", "AAA"), OK);
	a = ino_of("l/a");
	chk("link l/a l/b", link("l/a", "l/b"), OK);
	st("l/a");
	st("l/b");
	expect("l/b same inode as l/a", ino_of("l/b") == a, 1);
	chk("link l/a l/sub/c", link("l/a", "l/sub/c"), OK);
	st("l/a");
	chk("link l/a l/b (exists)", link("l/a", "l/b"), EEXIST);
	chk("link l/sub l/subl (dir)", link("l/sub", "l/subl"), EPERM);
	chk("link l/missing l/x", link("l/missing", "l/x"), ENOENT);
	chk("unlink l/a", unlink("l/a"), OK);
	st("l/b");
	cat("l/sub/c");
	expect("l/sub/c same inode as old l/a", ino_of("l/sub/c") == a, 1);
	ls("l");
}

void t_rename_files(void)
{
	ino_t x, h;
	int fd;

	section("rename-files");
	chk("mkdir r", mkdir("r", 0755), OK);
	chk("put r/x", put("r/x", "from-x"), OK);
	chk("put r/y", put("r/y", "old-y"), OK);
	x = ino_of("r/x");
	chk("rename r/x r/y (over existing)", rename("r/x", "r/y"), OK);
	st("r/x");
	st("r/y");
	cat("r/y");
	expect("r/y has r/x's inode", ino_of("r/y") == x, 1);
	chk("rename r/missing r/z", rename("r/missing", "r/z"), ENOENT);
	chk("rename r/y r/y (itself)", rename("r/y", "r/y"), OK);
	st("r/y");
	/* rename between two names of one inode does nothing */
	chk("link r/y r/h", link("r/y", "r/h"), OK);
	h = ino_of("r/h");
	chk("rename r/y r/h (same inode)", rename("r/y", "r/h"), OK);
	st("r/y");
	st("r/h");
	expect("r/h inode unchanged", ino_of("r/h") == h, 1);
	chk("unlink r/h", unlink("r/h"), OK);
	/* a file renamed while open stays the same file */
	fd = (int)chk("open r/tmpf O_CREAT|O_EXCL", open("r/tmpf", O_RDWR | O_CREAT | O_EXCL, 0644), OK);
	chk("mkdir r/new", mkdir("r/new", 0755), OK);
	chk("rename r/tmpf r/new/mail (open)", rename("r/tmpf", "r/new/mail"), OK);
	if (fd >= 0) {
		chk("write fd after rename", write(fd, "body", 4), OK);
		chk("fsync fd after rename", fsync(fd), OK);
		close(fd);
	}
	cat("r/new/mail");
	chk("rename r/y r/new (file over dir)", rename("r/y", "r/new"), EISDIR);
	chk("rename r/y r/missingdir/y", rename("r/y", "r/missingdir/y"), ENOENT);
	chk("rename r/y r/y/z (through file)", rename("r/y", "r/y/z"), ENOTDIR);
	ls("r");
	ls("r/new");
}

void t_rename_dirs(void)
{
	ino_t d;

	section("rename-dirs");
	chk("mkdir rd", mkdir("rd", 0755), OK);
	chk("mkdir rd/d1", mkdir("rd/d1", 0755), OK);
	chk("mkdir rd/d1/sub", mkdir("rd/d1/sub", 0755), OK);
	chk("put rd/d1/f", put("rd/d1/f", "in-d1"), OK);
	d = ino_of("rd/d1");
	chk("rename rd/d1 rd/d2", rename("rd/d1", "rd/d2"), OK);
	expect("rd/d2 keeps inode", ino_of("rd/d2") == d, 1);
	st("rd/d1");
	st("rd/d2");
	ls("rd/d2");
	cat("rd/d2/f");
	chk("mkdir rd/empty", mkdir("rd/empty", 0755), OK);
	chk("rename rd/d2 rd/empty (over empty dir)", rename("rd/d2", "rd/empty"), OK);
	expect("rd/empty has d2's inode", ino_of("rd/empty") == d, 1);
	chk("mkdir rd/full", mkdir("rd/full", 0755), OK);
	chk("put rd/full/x", put("rd/full/x", "x"), OK);
	chk("rename rd/empty rd/full (over non-empty)", rename("rd/empty", "rd/full"), ENOTEMPTY);
	chk("put rd/file", put("rd/file", "f"), OK);
	chk("rename rd/empty rd/file (dir over file)", rename("rd/empty", "rd/file"), ENOTDIR);
	chk("rename rd/empty rd/empty/sub/in (into itself)", rename("rd/empty", "rd/empty/sub/in"), EINVAL);
	/* moving a subdirectory changes both parents' link counts */
	st("rd/empty");
	st("rd/full");
	chk("rename rd/empty/sub rd/full/sub", rename("rd/empty/sub", "rd/full/sub"), OK);
	st("rd/empty");
	st("rd/full");
	st("rd/full/sub");
	ls("rd");
}

void t_renameat2(void)
{
	ino_t a, b, d;

	section("renameat2");
	chk("mkdir n", mkdir("n", 0755), OK);
	chk("put n/a", put("n/a", "AAAA"), OK);
	chk("put n/b", put("n/b", "BB"), OK);
	chk("mkdir n/d", mkdir("n/d", 0755), OK);
	a = ino_of("n/a");
	b = ino_of("n/b");
	d = ino_of("n/d");
	chk("renameat2 n/a n/b NOREPLACE", renameat2(AT_FDCWD, "n/a", AT_FDCWD, "n/b", RENAME_NOREPLACE), EEXIST);
	cat("n/a");
	cat("n/b");
	chk("renameat2 n/a n/c NOREPLACE", renameat2(AT_FDCWD, "n/a", AT_FDCWD, "n/c", RENAME_NOREPLACE), OK);
	expect("n/c has n/a's inode", ino_of("n/c") == a, 1);
	st("n/a");
	chk("renameat2 n/c n/b EXCHANGE", renameat2(AT_FDCWD, "n/c", AT_FDCWD, "n/b", RENAME_EXCHANGE), OK);
	cat("n/c");
	cat("n/b");
	expect("exchange swapped inodes", ino_of("n/c") == b && ino_of("n/b") == a, 1);
	chk("renameat2 n/b n/d EXCHANGE (file<->dir)", renameat2(AT_FDCWD, "n/b", AT_FDCWD, "n/d", RENAME_EXCHANGE), OK);
	st("n/b");
	st("n/d");
	expect("file and dir swapped", ino_of("n/b") == d && ino_of("n/d") == a, 1);
	chk("renameat2 n/c n/missing EXCHANGE", renameat2(AT_FDCWD, "n/c", AT_FDCWD, "n/missing", RENAME_EXCHANGE), ENOENT);
	chk("renameat2 NOREPLACE|EXCHANGE", renameat2(AT_FDCWD, "n/c", AT_FDCWD, "n/d", RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);
	ls("n");
}

void t_unlink(void)
{
	int fd;
	char buf[16] = { 0 };

	section("unlink");
	chk("mkdir u", mkdir("u", 0755), OK);
	chk("unlink u/missing", unlink("u/missing"), ENOENT);
	chk("unlink u (dir)", unlink("u"), EISDIR);
	chk("put u/open", put("u/open", "still-here"), OK);
	fd = (int)chk("open u/open", open("u/open", O_RDWR), OK);
	chk("unlink u/open (while open)", unlink("u/open"), OK);
	st("u/open");
	if (fd >= 0) {
		st_fd("u/open(fd)", fd);
		chk("pread unlinked", pread(fd, buf, sizeof(buf) - 1, 0), OK);
		say("read back: %s", buf);
		chk("write unlinked", write(fd, "more", 4), OK);
		close(fd);
	}
	ls("u");
	chk("put u/f", put("u/f", "x"), OK);
	chk("unlink u/f", unlink("u/f"), OK);
	chk("unlink u/f again", unlink("u/f"), ENOENT);
	ls("u");
}

void t_mkdir_rmdir(void)
{
	section("mkdir-rmdir");
	chk("mkdir m 0777 (umask 022)", mkdir("m", 0777), OK);
	st("m");
	chk("mkdir m (exists)", mkdir("m", 0755), EEXIST);
	chk("mkdir m/a/b (no parent)", mkdir("m/a/b", 0755), ENOENT);
	chk("mkdir m/a 0700", mkdir("m/a", 0700), OK);
	chk("mkdir m/b", mkdir("m/b", 0755), OK);
	st("m");
	st("m/a");
	chk("put m/a/f", put("m/a/f", "f"), OK);
	chk("rmdir m/a (non-empty)", rmdir("m/a"), ENOTEMPTY);
	chk("rmdir m/a/f (file)", rmdir("m/a/f"), ENOTDIR);
	chk("rmdir m/missing", rmdir("m/missing"), ENOENT);
	chk("rmdir m/b/. ", rmdir("m/b/."), EINVAL);
	chk("unlink m/a/f", unlink("m/a/f"), OK);
	chk("rmdir m/a", rmdir("m/a"), OK);
	chk("rmdir m/b", rmdir("m/b"), OK);
	st("m");
	ls("m");
}

static int near_now(const struct timespec *t)
{
	time_t now = time(NULL);

	return t->tv_sec >= now - 10 && t->tv_sec <= now + 1;
}

void t_times(void)
{
	struct timespec ts[2];
	struct stat sb;
	int fd;

	section("times");
	chk("mkdir t", mkdir("t", 0755), OK);
	chk("put t/f", put("t/f", "mail"), OK);
	ts[0].tv_sec = 1000000000; ts[0].tv_nsec = 111111111;
	ts[1].tv_sec = 1234567890; ts[1].tv_nsec = 123456789;
	chk("utimensat t/f atime+mtime ns", utimensat(AT_FDCWD, "t/f", ts, 0), OK);
	st_times("t/f");
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1500000000; ts[1].tv_nsec = 999999999;
	chk("utimensat t/f UTIME_OMIT atime", utimensat(AT_FDCWD, "t/f", ts, 0), OK);
	st_times("t/f");
	ts[0].tv_sec = 1600000000; ts[0].tv_nsec = 1;
	ts[1].tv_nsec = UTIME_OMIT;
	chk("utimensat t/f UTIME_OMIT mtime", utimensat(AT_FDCWD, "t/f", ts, 0), OK);
	st_times("t/f");
	fd = open("t/f", O_RDONLY);
	ts[0].tv_sec = 1700000000; ts[0].tv_nsec = 500;
	ts[1].tv_sec = 1700000001; ts[1].tv_nsec = 600;
	chk("futimens t/f", futimens(fd, ts), OK);
	if (fd >= 0)
		close(fd);
	st_times("t/f");
	chk("symlink t/lnk -> f", symlink("f", "t/lnk"), OK);
	ts[0].tv_sec = 1100000000; ts[0].tv_nsec = 0;
	ts[1].tv_sec = 1100000000; ts[1].tv_nsec = 42;
	chk("utimensat t/lnk AT_SYMLINK_NOFOLLOW", utimensat(AT_FDCWD, "t/lnk", ts, AT_SYMLINK_NOFOLLOW), OK);
	st_times("t/lnk");
	st_times("t/f");
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_NOW;
	chk("utimensat t/f UTIME_NOW", utimensat(AT_FDCWD, "t/f", ts, 0), OK);
	expect("t/f mtime near now", lstat("t/f", &sb) == 0 && near_now(&sb.st_mtim), 1);
	chk("utimensat t/missing", utimensat(AT_FDCWD, "t/missing", NULL, 0), ENOENT);
	/* Dovecot notices new mail by directory mtime; INTERNALDATE is mtime */
	ts[0].tv_sec = ts[1].tv_sec = 1000000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	chk("utimensat t (dir, old)", utimensat(AT_FDCWD, "t", ts, 0), OK);
	st_times("t");
	chk("put t/new", put("t/new", "x"), OK);
	expect("t mtime advanced by create", lstat("t", &sb) == 0 && near_now(&sb.st_mtim), 1);
	chk("utimensat t (dir, old)", utimensat(AT_FDCWD, "t", ts, 0), OK);
	chk("rename t/new t/new2", rename("t/new", "t/new2"), OK);
	expect("t mtime advanced by rename", lstat("t", &sb) == 0 && near_now(&sb.st_mtim), 1);
	chk("utimensat t (dir, old)", utimensat(AT_FDCWD, "t", ts, 0), OK);
	chk("unlink t/new2", unlink("t/new2"), OK);
	expect("t mtime advanced by unlink", lstat("t", &sb) == 0 && near_now(&sb.st_mtim), 1);
	chk("utimensat t/f (old)", utimensat(AT_FDCWD, "t/f", ts, 0), OK);
	fd = open("t/f", O_WRONLY | O_APPEND);
	chk("append t/f", write(fd, "!", 1), OK);
	if (fd >= 0)
		close(fd);
	expect("t/f mtime advanced by write", lstat("t/f", &sb) == 0 && near_now(&sb.st_mtim), 1);
}

void t_sync(void)
{
	int fd, dfd;

	section("sync");
	chk("mkdir s", mkdir("s", 0755), OK);
	fd = (int)chk("open s/f O_CREAT", open("s/f", O_RDWR | O_CREAT, 0644), OK);
	chk("write s/f", write(fd, "data", 4), OK);
	chk("fsync s/f", fsync(fd), OK);
	chk("fdatasync s/f", fdatasync(fd), OK);
	chk("syncfs", syncfs(fd), OK);
	if (fd >= 0)
		close(fd);
	fd = (int)chk("open s/f O_RDONLY", open("s/f", O_RDONLY), OK);
	chk("fsync s/f (read-only fd)", fsync(fd), OK);
	if (fd >= 0)
		close(fd);
	dfd = (int)chk("open s O_DIRECTORY", open("s", O_RDONLY | O_DIRECTORY), OK);
	chk("fsync s (dir)", fsync(dfd), OK);
	chk("fdatasync s (dir)", fdatasync(dfd), OK);
	if (dfd >= 0)
		close(dfd);
	dfd = (int)chk("open . O_DIRECTORY", open(".", O_RDONLY | O_DIRECTORY), OK);
	chk("fsync . (root dir)", fsync(dfd), OK);
	if (dfd >= 0)
		close(dfd);
}

/* The xattr section on a mount with xattrs off (mhafs's default,
 * FSOPS_NO_XATTRS set): every call that reaches the file system fails
 * with EOPNOTSUPP, the first ones too (mhafs answers ENOSYS, the kernel
 * turns it into EOPNOTSUPP and stops asking); what the kernel decides
 * before asking stays as on ext4.  Creates the section's same objects. */
static void t_xattr_off(void)
{
	char buf[256];
	int fd;

	section("xattr");
	chk("mkdir x", mkdir("x", 0755), OK);
	chk("put x/f", put("x/f", "x"), OK);
	chk("getxattr user.a size", getxattr("x/f", "user.a", NULL, 0), EOPNOTSUPP);
	chk("getxattr security.capability", getxattr("x/f", "security.capability", buf, sizeof(buf)),
	    EOPNOTSUPP);
	chk("listxattr x/f size", listxattr("x/f", NULL, 0), EOPNOTSUPP);
	chk("setxattr user.a", setxattr("x/f", "user.a", "one", 3, 0), EOPNOTSUPP);
	chk("setxattr user.a XATTR_CREATE", setxattr("x/f", "user.a", "1", 1, XATTR_CREATE), EOPNOTSUPP);
	chk("getxattr user.a", getxattr("x/f", "user.a", buf, sizeof(buf)), EOPNOTSUPP);
	chk("listxattr x/f", listxattr("x/f", buf, sizeof(buf)), EOPNOTSUPP);
	chk("removexattr user.a", removexattr("x/f", "user.a"), EOPNOTSUPP);
	fd = open("x/f", O_RDWR);
	chk("fsetxattr user.fd", fsetxattr(fd, "user.fd", "F", 1, 0), EOPNOTSUPP);
	chk("fgetxattr user.fd", fgetxattr(fd, "user.fd", buf, sizeof(buf)), EOPNOTSUPP);
	chk("flistxattr", flistxattr(fd, buf, sizeof(buf)), EOPNOTSUPP);
	chk("fremovexattr user.fd", fremovexattr(fd, "user.fd"), EOPNOTSUPP);
	/* writes go on without the kernel's capability check */
	chk("pwrite x/f", pwrite(fd, "y", 1, 1), OK);
	chk("fsync x/f", fsync(fd), OK);
	if (fd >= 0)
		close(fd);
	cat("x/f");
	chk("setxattr x (dir) user.d", setxattr("x", "user.d", "D", 1, 0), EOPNOTSUPP);
	chk("getxattr x user.d", getxattr("x", "user.d", buf, sizeof(buf)), EOPNOTSUPP);
	chk("symlink x/lnk -> f", symlink("f", "x/lnk"), OK);
	chk("lsetxattr x/lnk user.l (symlink)", lsetxattr("x/lnk", "user.l", "L", 1, 0), EPERM);
	chk("setxattr x/lnk user.viaf (follows)", setxattr("x/lnk", "user.viaf", "V", 1, 0), EOPNOTSUPP);
	chk("setxattr bogus.ns", setxattr("x/f", "bogus.ns", "1", 1, 0), EOPNOTSUPP);
	chk("setxattr x/missing", setxattr("x/missing", "user.a", "1", 1, 0), ENOENT);
}

void t_xattr(void)
{
	char buf[8192];
	char big[4000];
	ssize_t n;
	int fd;

	if (getenv("FSOPS_NO_XATTRS")) {
		t_xattr_off();
		return;
	}
	section("xattr");
	chk("mkdir x", mkdir("x", 0755), OK);
	chk("put x/f", put("x/f", "x"), OK);
	chk("setxattr user.b", setxattr("x/f", "user.b", "two", 3, 0), OK);
	chk("setxattr user.a", setxattr("x/f", "user.a", "one", 3, 0), OK);
	chk("setxattr user.a XATTR_CREATE", setxattr("x/f", "user.a", "1", 1, XATTR_CREATE), EEXIST);
	chk("setxattr user.c XATTR_REPLACE", setxattr("x/f", "user.c", "1", 1, XATTR_REPLACE), ENODATA);
	chk("setxattr user.a XATTR_REPLACE", setxattr("x/f", "user.a", "uno", 3, XATTR_REPLACE), OK);
	n = chk("getxattr user.a size", getxattr("x/f", "user.a", NULL, 0), OK);
	say("size=%zd", n);
	n = chk("getxattr user.a", getxattr("x/f", "user.a", buf, sizeof(buf)), OK);
	if (n >= 0)
		say("value=%.*s", (int)n, buf);
	chk("getxattr user.a small buffer", getxattr("x/f", "user.a", buf, 1), ERANGE);
	chk("getxattr user.none", getxattr("x/f", "user.none", buf, sizeof(buf)), ENODATA);
	memset(big, 'v', sizeof(big));
	chk("setxattr user.big 4000 bytes", setxattr("x/f", "user.big", big, sizeof(big), 0), OK);
	n = getxattr("x/f", "user.big", buf, sizeof(buf));
	expect("user.big reads back", n == (ssize_t)sizeof(big) && memcmp(buf, big, sizeof(big)) == 0, 1);
	chk("setxattr user.empty (empty value)", setxattr("x/f", "user.empty", "", 0, 0), OK);
	n = chk("getxattr user.empty", getxattr("x/f", "user.empty", buf, sizeof(buf)), OK);
	say("size=%zd", n);
	n = chk("listxattr x/f", listxattr("x/f", buf, sizeof(buf)), OK);
	if (n > 0) {
		/* names come NUL-separated; print the user.* ones sorted */
		char *names[64];
		int cnt = 0;

		for (char *p = buf; p < buf + n && cnt < 64; p += strlen(p) + 1)
			if (strncmp(p, "user.", 5) == 0)
				names[cnt++] = p;
		for (int i = 0; i < cnt; i++)
			for (int j = i + 1; j < cnt; j++)
				if (strcmp(names[i], names[j]) > 0) {
					char *t = names[i];

					names[i] = names[j];
					names[j] = t;
				}
		printf("names:");
		for (int i = 0; i < cnt; i++)
			printf(" %s", names[i]);
		putchar('\n');
	}
	chk("listxattr x/f small buffer", listxattr("x/f", buf, 2), ERANGE);
	chk("removexattr user.b", removexattr("x/f", "user.b"), OK);
	chk("removexattr user.b again", removexattr("x/f", "user.b"), ENODATA);
	chk("getxattr user.b", getxattr("x/f", "user.b", buf, sizeof(buf)), ENODATA);
	fd = open("x/f", O_RDONLY);
	chk("fsetxattr user.fd", fsetxattr(fd, "user.fd", "F", 1, 0), OK);
	n = chk("fgetxattr user.fd", fgetxattr(fd, "user.fd", buf, sizeof(buf)), OK);
	if (n >= 0)
		say("value=%.*s", (int)n, buf);
	chk("fremovexattr user.fd", fremovexattr(fd, "user.fd"), OK);
	if (fd >= 0)
		close(fd);
	chk("setxattr x (dir) user.d", setxattr("x", "user.d", "D", 1, 0), OK);
	n = chk("getxattr x user.d", getxattr("x", "user.d", buf, sizeof(buf)), OK);
	if (n >= 0)
		say("value=%.*s", (int)n, buf);
	chk("symlink x/lnk -> f", symlink("f", "x/lnk"), OK);
	chk("lsetxattr x/lnk user.l (symlink)", lsetxattr("x/lnk", "user.l", "L", 1, 0), EPERM);
	chk("setxattr x/lnk user.viaf (follows)", setxattr("x/lnk", "user.viaf", "V", 1, 0), OK);
	n = chk("getxattr x/f user.viaf", getxattr("x/f", "user.viaf", buf, sizeof(buf)), OK);
	chk("setxattr bogus.ns", setxattr("x/f", "bogus.ns", "1", 1, 0), EOPNOTSUPP);
	chk("setxattr x/missing", setxattr("x/missing", "user.a", "1", 1, 0), ENOENT);
}

void t_symlink(void)
{
	char buf[256];
	ssize_t n;

	section("symlink");
	chk("mkdir y", mkdir("y", 0755), OK);
	chk("put y/target", put("y/target", "pointed-to"), OK);
	chk("symlink y/l -> target", symlink("target", "y/l"), OK);
	st("y/l");
	n = chk("readlink y/l", readlink("y/l", buf, sizeof(buf)), OK);
	if (n >= 0)
		say("target=%.*s", (int)n, buf);
	cat("y/l");
	chk("symlink y/l (exists)", symlink("x", "y/l"), EEXIST);
	chk("symlink y/abs -> /nonexistent/abs", symlink("/nonexistent/abs", "y/abs"), OK);
	n = chk("readlink y/abs", readlink("y/abs", buf, sizeof(buf)), OK);
	if (n >= 0)
		say("target=%.*s", (int)n, buf);
	st("y/abs");
	chk("stat y/abs (dangling)", access("y/abs", F_OK), ENOENT);
	chk("readlink y/target (not a link)", readlink("y/target", buf, sizeof(buf)), EINVAL);
	n = chk("readlink y/l short buffer", readlink("y/l", buf, 3), OK);
	if (n >= 0)
		say("truncated=%.*s", (int)n, buf);
	chk("open y/l O_NOFOLLOW", open("y/l", O_RDONLY | O_NOFOLLOW), ELOOP);
	chk("mkdir y/d", mkdir("y/d", 0755), OK);
	chk("symlink y/dl -> d", symlink("d", "y/dl"), OK);
	chk("put y/dl/through", put("y/dl/through", "t"), OK);
	ls("y/d");
	chk("symlink y/loop -> loop", symlink("loop", "y/loop"), OK);
	chk("open y/loop", open("y/loop", O_RDONLY), ELOOP);
	chk("rename y/l y/l2 (symlink)", rename("y/l", "y/l2"), OK);
	n = chk("readlink y/l2", readlink("y/l2", buf, sizeof(buf)), OK);
	if (n >= 0)
		say("target=%.*s", (int)n, buf);
	chk("unlink y/l2", unlink("y/l2"), OK);
	cat("y/target");
	ls("y");
}

void t_truncate(void)
{
	int fd;

	section("truncate");
	chk("mkdir tr", mkdir("tr", 0755), OK);
	chk("put tr/f", put("tr/f", "0123456789"), OK);
	chk("truncate tr/f 4", truncate("tr/f", 4), OK);
	cat("tr/f");
	chk("truncate tr/f 20 (grow)", truncate("tr/f", 20), OK);
	st("tr/f");
	cat("tr/f");
	fd = open("tr/f", O_RDWR);
	chk("ftruncate 2", ftruncate(fd, 2), OK);
	st_fd("tr/f(fd)", fd);
	chk("ftruncate 70000", ftruncate(fd, 70000), OK);
	chk("ftruncate -1", ftruncate(fd, -1), EINVAL);
	if (fd >= 0)
		close(fd);
	st("tr/f");
	chk("truncate tr (dir)", truncate("tr", 0), EISDIR);
	chk("truncate tr/missing", truncate("tr/missing", 0), ENOENT);
	fd = open("tr/f", O_RDONLY);
	chk("ftruncate read-only fd", ftruncate(fd, 0), EINVAL);
	if (fd >= 0)
		close(fd);
	chk("truncate tr/f 0", truncate("tr/f", 0), OK);
	st("tr/f");
}

void t_append(void)
{
	int a, b;

	section("append");
	chk("mkdir ap", mkdir("ap", 0755), OK);
	chk("put ap/f", put("ap/f", "start;"), OK);
	a = open("ap/f", O_WRONLY | O_APPEND);
	b = open("ap/f", O_WRONLY | O_APPEND);
	chk("write a1", write(a, "a1;", 3), OK);
	chk("write b1", write(b, "b1;", 3), OK);
	chk("write a2", write(a, "a2;", 3), OK);
	chk("pwrite b at 0 (O_APPEND appends)", pwrite(b, "P;", 2, 0), OK);
	say("lseek a SEEK_CUR=%lld", (long long)lseek(a, 0, SEEK_CUR));
	say("lseek a SEEK_END=%lld", (long long)lseek(a, 0, SEEK_END));
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	cat("ap/f");
	st("ap/f");
}

void t_pread_pwrite(void)
{
	char buf[32];
	int fd;
	ssize_t n;
	int zero = 1;

	section("pread-pwrite");
	chk("mkdir pw", mkdir("pw", 0755), OK);
	fd = (int)chk("open pw/f O_CREAT", open("pw/f", O_RDWR | O_CREAT, 0644), OK);
	chk("pwrite 'head' at 0", pwrite(fd, "head", 4, 0), OK);
	chk("pwrite 'tail' at 1048576", pwrite(fd, "tail", 4, 1048576), OK);
	chk("pwrite 'mid' at 2", pwrite(fd, "mid", 3, 2), OK);
	st_fd("pw/f(fd)", fd);
	say("lseek SEEK_CUR=%lld", (long long)lseek(fd, 0, SEEK_CUR));
	n = chk("pread 8 at 0", pread(fd, buf, 8, 0), OK);
	say("n=%zd data=%.5s", n, buf);
	n = pread(fd, buf, 16, 4096);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i])
			zero = 0;
	say("pread hole: n=%zd zeros=%s", n, zero ? "yes" : "no");
	n = chk("pread at 1048574", pread(fd, buf, 16, 1048574), OK);
	say("n=%zd data=%.*s", n, (int)(n > 2 ? n - 2 : 0), buf + 2);
	n = chk("pread past EOF", pread(fd, buf, 16, 2000000), OK);
	say("n=%zd", n);
	chk("pwrite at -1", pwrite(fd, "x", 1, -1), EINVAL);
	if (fd >= 0)
		close(fd);
	fd = open("pw", O_RDONLY | O_DIRECTORY);
	chk("pread dir fd", pread(fd, buf, 1, 0), EISDIR);
	if (fd >= 0)
		close(fd);
}

void t_mmap(void)
{
	int fd;
	char *p;
	const char *text = "mapped content for dovecot index";
	size_t len = strlen(text);

	section("mmap");
	chk("mkdir mm", mkdir("mm", 0755), OK);
	chk("put mm/f", put("mm/f", text), OK);
	fd = open("mm/f", O_RDONLY);
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	chk("mmap read-only shared", p == MAP_FAILED ? -1 : 0, OK);
	if (p != MAP_FAILED) {
		expect("mapped bytes equal the file", memcmp(p, text, len) == 0, 1);
		munmap(p, len);
	}
	if (fd >= 0)
		close(fd);
	fd = open("mm/f", O_RDWR);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	chk("mmap read-write shared", p == MAP_FAILED ? -1 : 0, OK);
	if (p != MAP_FAILED) {
		memcpy(p, "MAPPED", 6);
		chk("msync MS_SYNC", msync(p, len, MS_SYNC), OK);
		munmap(p, len);
	}
	if (fd >= 0)
		close(fd);
	cat("mm/f");
	fd = open("mm/f", O_RDONLY);
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	chk("mmap private", p == MAP_FAILED ? -1 : 0, OK);
	if (p != MAP_FAILED) {
		expect("private map sees the write", memcmp(p, "MAPPED", 6) == 0, 1);
		munmap(p, len);
	}
	if (fd >= 0)
		close(fd);
}

void t_chmod_chown(void)
{
	int fd;

	section("chmod-chown");
	chk("mkdir co", mkdir("co", 0755), OK);
	chk("put co/f", put("co/f", "f"), OK);
	chk("chmod co/f 0600", chmod("co/f", 0600), OK);
	st("co/f");
	chk("chmod co/f 04755", chmod("co/f", 04755), OK);
	st("co/f");
	chk("chown co/f 5000:5000 (clears setuid)", chown("co/f", 5000, 5000), OK);
	st("co/f");
	chk("chown co/f -1:6000", chown("co/f", (uid_t)-1, 6000), OK);
	st("co/f");
	fd = open("co/f", O_RDONLY);
	chk("fchmod 0640", fchmod(fd, 0640), OK);
	chk("fchown 0:0", fchown(fd, 0, 0), OK);
	st_fd("co/f(fd)", fd);
	if (fd >= 0)
		close(fd);
	chk("chmod co 0711 (dir)", chmod("co", 0711), OK);
	st("co");
	chk("chmod co 0755", chmod("co", 0755), OK);
	chk("symlink co/l -> f", symlink("f", "co/l"), OK);
	chk("lchown co/l 5000:5000", lchown("co/l", 5000, 5000), OK);
	st("co/l");
	st("co/f");
	chk("chmod co/missing", chmod("co/missing", 0644), ENOENT);
}

void t_fallocate(void)
{
	int fd;

	section("fallocate");
	chk("mkdir fa", mkdir("fa", 0755), OK);
	fd = open("fa/f", O_RDWR | O_CREAT, 0644);
	chk_rc("posix_fallocate 0+65536", posix_fallocate(fd, 0, 65536), OK);
	st_fd("fa/f(fd)", fd);
	chk("pwrite 'x' at 100", pwrite(fd, "x", 1, 100), OK);
	chk_rc("posix_fallocate 60000+10000", posix_fallocate(fd, 60000, 10000), OK);
	st_fd("fa/f(fd)", fd);
	if (fd >= 0)
		close(fd);
}

void t_statfs(void)
{
	struct statfs sf;

	section("statfs");
	/* block counts are compared with the backing fs by semantics.sh */
	if (chk("statfs .", statfs(".", &sf), OK) == 0) {
		say("namelen=%ld", (long)sf.f_namelen);
		expect("f_blocks > 0 and f_bfree <= f_blocks", sf.f_blocks > 0 && sf.f_bfree <= sf.f_blocks, 1);
		expect("f_bavail <= f_bfree", sf.f_bavail <= sf.f_bfree, 1);
	}
}

void t_readdir(void)
{
	section("readdir");
	chk("mkdir rl", mkdir("rl", 0755), OK);
	chk("put rl/file", put("rl/file", "f"), OK);
	chk("mkdir rl/dir", mkdir("rl/dir", 0755), OK);
	chk("symlink rl/link -> file", symlink("file", "rl/link"), OK);
	chk("mkfifo rl/fifo", mkfifo("rl/fifo", 0644), OK);
	ls("rl");
	st("rl/fifo");
	st("rl");
	for (int i = 0; i < 300; i++) {
		char name[96]; /* room for any int: -Wformat-truncation at -O1 */

		snprintf(name, sizeof(name), "rl/dir/%d.%06d.M%dP1.host,S=%d:2,", 1700000000 + i, i, i, 100 + i);
		if (put(name, "m") < 0) {
			chk(name, -1, OK);
			break;
		}
	}
	ls("rl/dir");
	st("rl/dir");
}

/* A 5 MiB file written in odd-sized chunks and read back in other odd
 * sizes: a mail with a large attachment must come back byte for byte. */
static unsigned char pattern_at(long long off)
{
	return (unsigned char)((off * 2654435761ULL) >> 13);
}

void t_bigfile(void)
{
	enum { SIZE = 5 * 1024 * 1024, WCHUNK = 4099, RCHUNK = 65543 };
	static unsigned char buf[RCHUNK];
	long long off = 0;
	int fd, good = 1;
	ssize_t n;

	section("bigfile");
	chk("mkdir bf", mkdir("bf", 0755), OK);
	fd = (int)chk("open bf/f O_CREAT|O_EXCL", open("bf/f", O_WRONLY | O_CREAT | O_EXCL, 0644), OK);
	if (fd < 0)
		return;
	while (off < SIZE) {
		size_t len = SIZE - off < WCHUNK ? (size_t)(SIZE - off) : WCHUNK;

		for (size_t i = 0; i < len; i++)
			buf[i] = pattern_at(off + (long long)i);
		n = write(fd, buf, len);
		if (n <= 0) {
			chk("write bf/f", -1, OK);
			break;
		}
		off += n;
	}
	chk("fsync bf/f", fsync(fd), OK);
	close(fd);
	st("bf/f");
	fd = open("bf/f", O_RDONLY);
	off = 0;
	while (fd >= 0 && (n = read(fd, buf, RCHUNK)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern_at(off + i))
				good = 0;
		off += n;
	}
	if (fd >= 0)
		close(fd);
	expect("5 MiB read back byte for byte", good && off == SIZE, 1);
}
