/* fsops-proc.c: the multi-process sections of the fsops script: fcntl
 * (POSIX) record locks, OFD locks and flock between processes, operations
 * by a non-root caller (uid/gid 5000) incl. default_permissions checks,
 * sticky and setgid directories, and readdir while another process renames
 * entries of the same directory.  Children print their own lines; the
 * parent waits for each child before printing again, so the transcript
 * order is fixed. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsops.h"

#define OK 0
#define ANY (-1)
#define LKFILE "lk/f"

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fcntl(fd, cmd, &fl);
}

static const char *lk_type(short t)
{
	return t == F_RDLCK ? "F_RDLCK" : t == F_WRLCK ? "F_WRLCK" : t == F_UNLCK ? "F_UNLCK" : "?";
}

/* F_GETLK / F_OFD_GETLK and print the answer; the holder's pid is shown
 * relative to the expected one. */
static void getlk(const char *what, int fd, int cmd, short type, off_t start, off_t len, pid_t holder)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	if (chk(what, fcntl(fd, cmd, &fl), OK) < 0)
		return;
	say("  l_type=%s l_start=%lld l_len=%lld pid=%s", lk_type(fl.l_type),
	    (long long)fl.l_start, (long long)fl.l_len,
	    fl.l_type == F_UNLCK ? "-" : fl.l_pid == holder ? "holder" :
	    fl.l_pid == -1 ? "-1" : "OTHER");
}

static int open_lk(void)
{
	int fd = open(LKFILE, O_RDWR);

	if (fd < 0)
		chk("open " LKFILE, -1, OK);
	return fd;
}

static void child_conflicts(void *arg)
{
	pid_t parent = *(pid_t *)arg;
	int fd = open_lk();

	chk("child F_SETLK wr 0+10 (parent holds wr 0+100)", setlk(fd, F_SETLK, F_WRLCK, 0, 10), EAGAIN);
	chk("child F_SETLK rd 50+10", setlk(fd, F_SETLK, F_RDLCK, 50, 10), EAGAIN);
	chk("child F_SETLK wr 200+10 (no overlap)", setlk(fd, F_SETLK, F_WRLCK, 200, 10), OK);
	getlk("child F_GETLK wr 0+10", fd, F_GETLK, F_WRLCK, 0, 10, parent);
	getlk("child F_GETLK wr 300+10", fd, F_GETLK, F_WRLCK, 300, 10, parent);
	close(fd);
}

static void child_shared(void *arg)
{
	pid_t parent = *(pid_t *)arg;
	int fd = open_lk();

	chk("child F_SETLK rd 0+10 (parent holds rd)", setlk(fd, F_SETLK, F_RDLCK, 0, 10), OK);
	chk("child F_SETLK wr 0+10", setlk(fd, F_SETLK, F_WRLCK, 0, 10), EAGAIN);
	getlk("child F_GETLK wr 20+10", fd, F_GETLK, F_WRLCK, 20, 10, parent);
	close(fd);
}

static void child_wait(void *arg)
{
	int fd = open_lk();
	long t0 = now_ms();

	(void)arg;
	chk("child F_SETLKW wr 0+10 (waits for parent)", setlk(fd, F_SETLKW, F_WRLCK, 0, 10), OK);
	expect("child waited >= 150 ms", now_ms() - t0 >= 150, 1);
	close(fd);
}

static void child_free(void *arg)
{
	int fd = open_lk();

	(void)arg;
	chk("child F_SETLK wr 0+100 (parent closed another fd)", setlk(fd, F_SETLK, F_WRLCK, 0, 100), OK);
	close(fd);
}

void t_fcntl_locks(void)
{
	pid_t self = getpid(), c;
	int fd, fd2;

	section("fcntl-locks");
	chk("mkdir lk", mkdir("lk", 0755), OK);
	chk("put " LKFILE, put(LKFILE, "lock file"), OK);
	fd = open_lk();
	chk("F_SETLK wr 0+100", setlk(fd, F_SETLK, F_WRLCK, 0, 100), OK);
	reap(spawn(child_conflicts, &self));
	chk("F_SETLK rd 0+100 (downgrade)", setlk(fd, F_SETLK, F_RDLCK, 0, 100), OK);
	reap(spawn(child_shared, &self));
	chk("F_SETLK wr 0+100 (upgrade)", setlk(fd, F_SETLK, F_WRLCK, 0, 100), OK);
	c = spawn(child_wait, NULL);
	msleep(300);
	chk("F_SETLK unlock 0+100", setlk(fd, F_SETLK, F_UNLCK, 0, 100), OK);
	reap(c);
	chk("F_SETLK wr 0+100 again", setlk(fd, F_SETLK, F_WRLCK, 0, 100), OK);
	/* POSIX: closing any fd of the file drops the process's locks */
	fd2 = open_lk();
	close(fd2);
	reap(spawn(child_free, NULL));
	close(fd);
}

static void child_ofd(void *arg)
{
	int fd = open_lk();

	(void)arg;
	chk("child F_SETLK wr 0+10 (parent holds OFD wr)", setlk(fd, F_SETLK, F_WRLCK, 0, 10), EAGAIN);
	chk("child F_OFD_SETLK wr 0+10", setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 10), EAGAIN);
	getlk("child F_OFD_GETLK wr 0+10", fd, F_OFD_GETLK, F_WRLCK, 0, 10, 0);
	close(fd);
}

void t_ofd_locks(void)
{
	int a, b;

	section("ofd-locks");
	a = open_lk();
	b = open_lk();
	chk("F_OFD_SETLK wr 0+10 on fd a", setlk(a, F_OFD_SETLK, F_WRLCK, 0, 10), OK);
	chk("F_OFD_SETLK wr 0+10 on fd b (same process)", setlk(b, F_OFD_SETLK, F_WRLCK, 0, 10), EAGAIN);
	getlk("F_OFD_GETLK wr 0+10 on fd b", b, F_OFD_GETLK, F_WRLCK, 0, 10, 0);
	chk("F_OFD_SETLK rd 20+10 on fd b", setlk(b, F_OFD_SETLK, F_RDLCK, 20, 10), OK);
	reap(spawn(child_ofd, NULL));
	close(a);
	chk("F_OFD_SETLK wr 0+10 on fd b after closing a", setlk(b, F_OFD_SETLK, F_WRLCK, 0, 10), OK);
	close(b);
}

static void child_flock(void *arg)
{
	int inherited = *(int *)arg;
	int fd = open_lk();

	chk("child flock LOCK_EX|LOCK_NB (parent holds LOCK_EX)", flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	chk("child flock LOCK_SH|LOCK_NB", flock(fd, LOCK_SH | LOCK_NB), EWOULDBLOCK);
	chk("child F_SETLK wr (flock and fcntl are independent)", setlk(fd, F_SETLK, F_WRLCK, 0, 0), OK);
	chk("child flock LOCK_EX|LOCK_NB on inherited fd", flock(inherited, LOCK_EX | LOCK_NB), OK);
	close(fd);
}

static void child_flock_free(void *arg)
{
	int fd = open_lk();
	long t0 = now_ms();

	(void)arg;
	chk("child flock LOCK_EX (waits for parent)", flock(fd, LOCK_EX), OK);
	expect("child waited >= 150 ms", now_ms() - t0 >= 150, 1);
	chk("child flock LOCK_UN", flock(fd, LOCK_UN), OK);
	close(fd);
}

void t_flock(void)
{
	int a, b;
	pid_t c;

	section("flock");
	a = open_lk();
	b = open_lk();
	chk("flock a LOCK_EX", flock(a, LOCK_EX), OK);
	chk("flock b LOCK_EX|LOCK_NB (same process, other open)", flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	reap(spawn(child_flock, &a));
	chk("flock a LOCK_SH (convert)", flock(a, LOCK_SH), OK);
	chk("flock b LOCK_SH|LOCK_NB", flock(b, LOCK_SH | LOCK_NB), OK);
	chk("flock b LOCK_UN", flock(b, LOCK_UN), OK);
	chk("flock a LOCK_EX", flock(a, LOCK_EX), OK);
	c = spawn(child_flock_free, NULL);
	msleep(300);
	chk("flock a LOCK_UN", flock(a, LOCK_UN), OK);
	reap(c);
	close(a);
	close(b);
}

static int become_user(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		chk("become uid 5000", -1, OK);
		return -1;
	}
	say("running as uid=%u gid=%u", (unsigned)getuid(), (unsigned)getgid());
	return 0;
}

static void child_user(void *arg)
{
	struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };
	int fd;

	(void)arg;
	if (become_user(5000, 5000) < 0)
		return;
	fd = (int)chk("open pub/userfile O_CREAT|O_EXCL 0640", open("pub/userfile", O_WRONLY | O_CREAT | O_EXCL, 0640), OK);
	if (fd >= 0) {
		chk("write pub/userfile", write(fd, "mine", 4), OK);
		chk("fsync pub/userfile", fsync(fd), OK);
		close(fd);
	}
	st("pub/userfile");
	chk("mkdir pub/userdir 0750", mkdir("pub/userdir", 0750), OK);
	st("pub/userdir");
	chk("symlink pub/userlink -> userfile", symlink("userfile", "pub/userlink"), OK);
	st("pub/userlink");
	chk("link pub/userfile pub/userhard", link("pub/userfile", "pub/userhard"), OK);
	st("pub/userhard");
	chk("open pub/rootfile O_WRONLY (root 0644)", open("pub/rootfile", O_WRONLY), EACCES);
	chk("open pub/rootfile O_RDWR|O_APPEND", open("pub/rootfile", O_RDWR | O_APPEND), EACCES);
	fd = (int)chk("open pub/rootfile O_RDONLY", open("pub/rootfile", O_RDONLY), OK);
	if (fd >= 0)
		close(fd);
	chk("access pub/rootfile W_OK", access("pub/rootfile", W_OK), EACCES);
	chk("truncate pub/rootfile", truncate("pub/rootfile", 0), EACCES);
	chk("chmod pub/rootfile", chmod("pub/rootfile", 0666), EPERM);
	chk("chown pub/rootfile 5000", chown("pub/rootfile", 5000, 5000), EPERM);
	chk("utimensat pub/rootfile explicit", utimensat(AT_FDCWD, "pub/rootfile", ts, 0), EPERM);
	chk("utimensat pub/rootfile now", utimensat(AT_FDCWD, "pub/rootfile", NULL, 0), EACCES);
	chk("setxattr pub/rootfile user.x", setxattr("pub/rootfile", "user.x", "1", 1, 0), EACCES);
	chk("setxattr pub/userfile user.x", setxattr("pub/userfile", "user.x", "1", 1, 0),
	    getenv("FSOPS_NO_XATTRS") ? EOPNOTSUPP : OK);
	chk("link pub/rootfile pub/hard (protected_hardlinks)", link("pub/rootfile", "pub/hard"), ANY);
	chk("chown pub/userfile 0:0", chown("pub/userfile", 0, 0), EPERM);
	chk("chown pub/userfile -1:6000 (not a member)", chown("pub/userfile", (uid_t)-1, 6000), EPERM);
	chk("chmod pub/userfile 0604", chmod("pub/userfile", 0604), OK);
	st("pub/userfile");
	chk("put rootdir-file (dir root 0755)", put("denied", "x"), EACCES);
	chk("mkdir denied-dir", mkdir("denied-dir", 0755), EACCES);
	chk("unlink sticky/rootfile (sticky dir)", unlink("sticky/rootfile"), EPERM);
	chk("rename sticky/rootfile sticky/x", rename("sticky/rootfile", "sticky/x"), EPERM);
	chk("put sticky/userfile", put("sticky/userfile", "u"), OK);
	chk("rename sticky/userfile sticky/moved", rename("sticky/userfile", "sticky/moved"), OK);
	chk("rename pub/userdir sticky/userdir (own dir)", rename("pub/userdir", "sticky/userdir"), OK);
	chk("put sgid/userfile", put("sgid/userfile", "g"), OK);
	st("sgid/userfile");
	chk("mkdir sgid/userdir 0750", mkdir("sgid/userdir", 0750), OK);
	st("sgid/userdir");
	chk("access md/cur (root 0700 dir)", access("md/cur", F_OK), EACCES);
	chk("opendir md (root 0700 dir)", open("md", O_RDONLY | O_DIRECTORY), EACCES);
	chk("open sticky/rootfile O_RDONLY|O_CREAT (exists)", open("sticky/rootfile", O_RDONLY | O_CREAT, 0644), OK);
	chk("open rl/file O_RDONLY|O_CREAT (exists, dir not writable)", open("rl/file", O_RDONLY | O_CREAT, 0644), OK);
	chk("open rl/file O_CREAT|O_EXCL (exists, dir not writable)", open("rl/file", O_RDONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	chk("open rl/nofile O_CREAT (dir not writable)", open("rl/nofile", O_RDONLY | O_CREAT, 0644), EACCES);
	chk("unlink pub/rootfile (writable dir, not sticky)", unlink("pub/rootfile"), OK);
	chk("rmdir pub (not empty, not owner)", rmdir("pub"), EACCES);
}

void t_nonroot(void)
{
	section("nonroot");
	chk("mkdir pub", mkdir("pub", 0777), OK);
	chk("chmod pub 0777", chmod("pub", 0777), OK);
	chk("mkdir sticky", mkdir("sticky", 0777), OK);
	chk("chmod sticky 01777", chmod("sticky", 01777), OK);
	chk("mkdir sgid", mkdir("sgid", 0777), OK);
	chk("chown sgid 0:6000", chown("sgid", 0, 6000), OK);
	chk("chmod sgid 02777", chmod("sgid", 02777), OK);
	st("sgid");
	chk("put pub/rootfile", put("pub/rootfile", "root's"), OK);
	chk("put sticky/rootfile", put("sticky/rootfile", "root's"), OK);
	reap(spawn(child_user, NULL));
	ls("pub");
	ls("sticky");
	ls("sgid");
	st("pub/userfile");
	st("sticky/userdir");
	cat("pub/userfile");
	cat("sticky/rootfile");
}

/* readdir while renaming: NSTABLE entries are never touched and must each
 * appear exactly once in every listing; NMOVING entries are renamed between
 * two names by a second process all the time. */
#define NSTABLE 500
#define NMOVING 20
#define NLISTINGS 150

struct linux_dirent64 {
	ino_t d_ino;
	off_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

struct shared {
	volatile int stop;
	volatile long renames;
	volatile int errors;
};

static void renamer(void *arg)
{
	struct shared *sh = arg;
	char a[64], b[64];

	while (!sh->stop) {
		for (int i = 0; i < NMOVING; i++) {
			snprintf(a, sizeof(a), "cc/moving-%02d-a", i);
			snprintf(b, sizeof(b), "cc/moving-%02d-b", i);
			if (rename(a, b) < 0 && rename(b, a) < 0)
				sh->errors++;
			else
				sh->renames++;
		}
	}
}

/* One listing with a small getdents64 buffer, so it takes many calls that
 * continue from the previous offset.  Returns the number of anomalies. */
static int one_listing(unsigned char *seen)
{
	char buf[1024];
	int fd = open("cc", O_RDONLY | O_DIRECTORY);
	int bad = 0;
	long n;

	if (fd < 0)
		return 1000;
	memset(seen, 0, NSTABLE);
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);
			int k;

			if (sscanf(de->d_name, "stable-%d", &k) == 1 && k >= 0 && k < NSTABLE)
				seen[k]++;
			else if (strncmp(de->d_name, "moving-", 7) && strcmp(de->d_name, ".") &&
				 strcmp(de->d_name, ".."))
				bad++; /* a name that was never created */
			off += de->d_reclen;
		}
	}
	if (n < 0)
		bad++;
	close(fd);
	for (int k = 0; k < NSTABLE; k++)
		if (seen[k] != 1)
			bad++;
	return bad;
}

void t_readdir_concurrent(void)
{
	struct shared *sh;
	unsigned char seen[NSTABLE];
	char name[64];
	int badlists = 0, totalbad = 0;
	pid_t c;

	section("readdir-concurrent");
	chk("mkdir cc", mkdir("cc", 0755), OK);
	for (int i = 0; i < NSTABLE; i++) {
		snprintf(name, sizeof(name), "cc/stable-%04d", i);
		if (put(name, "s") < 0) {
			chk(name, -1, OK);
			return;
		}
	}
	for (int i = 0; i < NMOVING; i++) {
		snprintf(name, sizeof(name), "cc/moving-%02d-a", i);
		if (put(name, "m") < 0) {
			chk(name, -1, OK);
			return;
		}
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		chk("mmap shared", -1, OK);
		return;
	}
	memset((void *)sh, 0, sizeof(*sh));
	c = spawn(renamer, sh);
	while (sh->renames < 2 * NMOVING)
		msleep(1);
	for (int i = 0; i < NLISTINGS; i++) {
		int b = one_listing(seen);

		if (b) {
			badlists++;
			totalbad += b;
		}
	}
	sh->stop = 1;
	reap(c);
	say("listings=%d with missing/duplicate/unknown entries=%d", NLISTINGS, badlists);
	if (badlists) {
		printf("  (%d anomalies) UNEXPECTED\n", totalbad);
		fsops_unexpected++;
	}
	expect("renamer made progress (> listings)", sh->renames > NLISTINGS, 1);
	expect("renamer had no errors", sh->errors == 0, 1);
	munmap((void *)sh, sizeof(*sh));
}

/* Racing processes: O_EXCL create, link() and rename() of the same names
 * from NRACERS processes at once; each name must have exactly one winner
 * and the losers must get the documented errno (what dotlocks, Maildir
 * delivery and Postfix's queue rely on). */
#define NRACERS 4
#define NRACE 100

struct race {
	volatile int go;
	int excl_win[NRACE], link_win[NRACE], rename_win[NRACE];
	int other_errors;
};

static void racer(void *arg)
{
	struct race *rc = arg;
	int me = getpid() & 0xffff;
	char a[64], b[64];

	while (!rc->go)
		;
	for (int k = 0; k < NRACE; k++) {
		int fd;

		snprintf(a, sizeof(a), "race/excl-%03d", k);
		fd = open(a, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			__sync_fetch_and_add(&rc->excl_win[k], 1);
			close(fd);
		} else if (errno != EEXIST) {
			__sync_fetch_and_add(&rc->other_errors, 1);
		}
		snprintf(a, sizeof(a), "race/lock-%03d", k);
		if (link("race/src", a) == 0)
			__sync_fetch_and_add(&rc->link_win[k], 1);
		else if (errno != EEXIST)
			__sync_fetch_and_add(&rc->other_errors, 1);
		snprintf(a, sizeof(a), "race/mv-%03d", k);
		snprintf(b, sizeof(b), "race/mv-%03d.to-%d", k, me);
		if (rename(a, b) == 0)
			__sync_fetch_and_add(&rc->rename_win[k], 1);
		else if (errno != ENOENT)
			__sync_fetch_and_add(&rc->other_errors, 1);
	}
}

static int exactly_one(const int *w)
{
	for (int k = 0; k < NRACE; k++)
		if (w[k] != 1)
			return 0;
	return 1;
}

void t_races(void)
{
	struct race *rc;
	pid_t pids[NRACERS];
	char name[64];
	struct stat sb;
	int moved_ok = 1;

	section("races");
	chk("mkdir race", mkdir("race", 0755), OK);
	chk("put race/src", put("race/src", "s"), OK);
	for (int k = 0; k < NRACE; k++) {
		snprintf(name, sizeof(name), "race/mv-%03d", k);
		if (put(name, "m") < 0) {
			chk(name, -1, OK);
			return;
		}
	}
	rc = mmap(NULL, sizeof(*rc), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rc == MAP_FAILED) {
		chk("mmap shared", -1, OK);
		return;
	}
	memset(rc, 0, sizeof(*rc));
	for (int i = 0; i < NRACERS; i++)
		pids[i] = spawn(racer, rc);
	rc->go = 1;
	for (int i = 0; i < NRACERS; i++)
		reap(pids[i]);
	say("%d processes x %d names", NRACERS, NRACE);
	expect("O_EXCL: every name created exactly once", exactly_one(rc->excl_win), 1);
	expect("link: every name linked exactly once", exactly_one(rc->link_win), 1);
	expect("rename: every source moved exactly once", exactly_one(rc->rename_win), 1);
	expect("losers got only EEXIST/ENOENT", rc->other_errors == 0, 1);
	st("race/src");
	for (int k = 0; k < NRACE; k++) {
		snprintf(name, sizeof(name), "race/mv-%03d", k);
		if (lstat(name, &sb) == 0)
			moved_ok = 0;
	}
	expect("no rename source left behind", moved_ok, 1);
	munmap(rc, sizeof(*rc));
}
