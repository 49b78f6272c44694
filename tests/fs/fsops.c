/* fsops.c: main program and transcript helpers of the filesystem-semantics
 * test.  Usage: fsops DIR.  Runs the fixed operation script (fsops-ops.c,
 * fsops-proc.c) inside DIR, which must be empty and traversable by uid 5000,
 * and prints the normalized transcript on stdout (fsops-mail.c holds the
 * Dovecot/Postfix file patterns).  Exit 0 when the script
 * ran and every judged result was as expected, 1 when some line says
 * UNEXPECTED, 2 on a usage or setup error.  tests/fs/semantics.sh runs it
 * on a plain directory and on an mhafs mount and diffs the transcripts.
 * With FSOPS_NO_XATTRS set in the environment the xattr calls must fail
 * with EOPNOTSUPP (a mount with mhafs's default `xattrs = no`). */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsops.h"

int fsops_unexpected;

void section(const char *name)
{
	printf("== %s\n", name);
}

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const char *ename(int e)
{
	static char buf[32];
	const char *n;

	if (e == 0)
		return "ok";
	n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static void judge(int got, int want)
{
	if (want >= 0 && got != want) {
		/* ename uses a static buffer only for unknown numbers */
		printf(" UNEXPECTED(want %s)", ename(want));
		fsops_unexpected++;
	}
	putchar('\n');
}

long chk(const char *what, long ret, int want)
{
	int e = ret < 0 ? errno : 0;

	printf("%s: %s", what, ename(e));
	judge(e, want);
	errno = e;
	return ret;
}

int chk_rc(const char *what, int rc, int want)
{
	printf("%s: %s", what, ename(rc));
	judge(rc, want);
	return rc;
}

void expect(const char *what, int got, int want)
{
	printf("%s: %s", what, got ? "yes" : "no");
	if (!!got != !!want) {
		printf(" UNEXPECTED(want %s)", want ? "yes" : "no");
		fsops_unexpected++;
	}
	putchar('\n');
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "sock";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	default: return "?";
	}
}

static void print_stat(const char *tag, const struct stat *sb)
{
	printf("stat %s: type=%s mode=%04o nlink=%lu size=%lld uid=%u gid=%u\n", tag,
	       type_name(sb->st_mode), (unsigned)(sb->st_mode & 07777),
	       (unsigned long)sb->st_nlink, (long long)sb->st_size,
	       (unsigned)sb->st_uid, (unsigned)sb->st_gid);
}

void st(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) < 0) {
		printf("stat %s: %s\n", path, ename(errno));
		return;
	}
	print_stat(path, &sb);
}

void st_fd(const char *tag, int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0) {
		printf("fstat %s: %s\n", tag, ename(errno));
		return;
	}
	print_stat(tag, &sb);
}

void st_times(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) < 0) {
		printf("times %s: %s\n", path, ename(errno));
		return;
	}
	printf("times %s: atime=%lld.%09ld mtime=%lld.%09ld\n", path,
	       (long long)sb.st_atim.tv_sec, sb.st_atim.tv_nsec,
	       (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
}

ino_t ino_of(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) < 0 ? 0 : sb.st_ino;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char dtype_char(unsigned char t)
{
	switch (t) {
	case DT_REG: return 'f';
	case DT_DIR: return 'd';
	case DT_LNK: return 'l';
	case DT_UNKNOWN: return '?';
	default: return 'o';
	}
}

void ls(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		printf("ls %s: %s\n", dir, ename(errno));
		return;
	}
	errno = 0;
	while ((de = readdir(d))) {
		char *s;

		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 16;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				abort();
			names = nn;
		}
		if (asprintf(&s, "%s/%c", de->d_name, dtype_char(de->d_type)) < 0)
			abort();
		names[n++] = s;
	}
	if (errno)
		printf("ls %s: readdir %s\n", dir, ename(errno));
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	printf("ls %s:", dir);
	for (size_t i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	putchar('\n');
	free(names);
}

void cat(const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t r;
	size_t total = 0;

	if (fd < 0) {
		printf("cat %s: %s\n", path, ename(errno));
		return;
	}
	printf("cat %s: \"", path);
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r; i++) {
			unsigned char c = (unsigned char)buf[i];

			if (total + (size_t)i < 64) {
				if (c >= 32 && c < 127 && c != '"' && c != '\\')
					putchar(c);
				else
					printf("\\x%02x", c);
			}
		}
		total += (size_t)r;
	}
	printf("\"%s len=%zu%s\n", total > 64 ? "..." : "", total,
	       r < 0 ? " READ-ERROR" : "");
	close(fd);
}

int put(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t len = strlen(data);

	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

pid_t spawn(void (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fsops: fork");
		exit(2);
	}
	if (pid == 0) {
		fsops_unexpected = 0; /* the child reports only its own */
		fn(arg);
		fflush(stdout);
		_exit(fsops_unexpected ? 1 : 0);
	}
	return pid;
}

void reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) < 0) {
		printf("waitpid: %s UNEXPECTED\n", ename(errno));
		fsops_unexpected++;
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		fsops_unexpected++; /* the child already printed UNEXPECTED */
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("child: died (status 0x%x) UNEXPECTED\n", status);
		fsops_unexpected++;
	}
}

void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void (*const script[])(void) = {
	t_create, t_link, t_rename_files, t_rename_dirs, t_renameat2, t_unlink,
	t_mkdir_rmdir, t_times, t_sync, t_xattr, t_symlink, t_truncate,
	t_append, t_pread_pwrite, t_mmap, t_chmod_chown, t_fallocate, t_statfs,
	t_readdir, t_maildir, t_dovecot_files, t_fcntl_locks, t_ofd_locks, t_flock, t_nonroot, t_races, t_bigfile,
	t_readdir_concurrent,
};

int main(int argc, char **argv)
{
	DIR *d;
	struct dirent *de;

	if (argc != 2) {
		fprintf(stderr, "usage: fsops DIR   (DIR empty; run as root)\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "fsops: must run as root (it switches to uid 5000 for some checks)\n");
		return 2;
	}
	if (chdir(argv[1]) < 0) {
		fprintf(stderr, "fsops: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	d = opendir(".");
	if (!d) {
		fprintf(stderr, "fsops: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			fprintf(stderr, "fsops: %s: not empty (found %s)\n", argv[1], de->d_name);
			closedir(d);
			return 2;
		}
	}
	closedir(d);
	umask(022);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	for (size_t i = 0; i < sizeof(script) / sizeof(script[0]); i++)
		script[i]();
	say("== end: %d unexpected", fsops_unexpected);
	fflush(stdout);
	return fsops_unexpected ? 1 : 0;
}
