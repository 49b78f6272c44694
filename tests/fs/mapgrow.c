/* mapgrow.c: the way Dovecot maps its index files, without Dovecot.
 *
 *   mapgrow DIR SECONDS READERS
 *
 * In DIR, for SECONDS: one process appends records to "log" (O_APPEND
 * write, as dovecot.index.log) and to "cache" (pwrite at the size fstat
 * gives, as dovecot.index.cache), and now and then writes "index.tmp"
 * (smaller or larger than before) and renames it over "index"; READERS
 * processes each loop: open one of the three, fstat it, mmap the size
 * fstat gave, read every page of the mapping, keep it a while (fstat
 * again, map more if it grew, re-read), then open the file afresh by
 * name.  Files are never truncated, so on a local file system no access
 * within a mapping can fault.  Any SIGBUS is caught and counted; a mapped
 * "index" whose bytes are not all one value (each one is written with one
 * byte value and never changed after the rename) counts as wrong data.
 * Prints one line per reader and exits 1 if any reader saw a SIGBUS or
 * wrong data, 2 on a usage or set-up error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf fault_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static int put(int fd, const char *buf, size_t len, off_t off, int append)
{
	while (len > 0) {
		ssize_t n = append ? write(fd, buf, len) : pwrite(fd, buf, len, off);
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* index: one byte value throughout, replaced by rename */
static int replace_index(unsigned *seed, int gen)
{
	static char buf[96 * 1024];
	size_t len = 1 + next_rand(seed) % sizeof(buf);
	memset(buf, 'a' + gen % 26, len);
	int fd = open("index.tmp", O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || put(fd, buf, len, 0, 0) < 0 || close(fd) < 0)
		return -1;
	return rename("index.tmp", "index");
}

static int writer(double end)
{
	unsigned seed = (unsigned)getpid();
	char rec[300];
	int log = open("log", O_WRONLY | O_APPEND);
	int cache = open("cache", O_RDWR);
	if (log < 0 || cache < 0)
		return 2;
	for (int gen = 1; now() < end; gen++) {
		struct stat st;
		memset(rec, 'a' + gen % 26, sizeof(rec));
		/* a record of 132 bytes, as Dovecot's log often appends */
		if (put(log, rec, 132, 0, 1) < 0 || fstat(cache, &st) < 0 ||
		    put(cache, rec, 1 + next_rand(&seed) % sizeof(rec), st.st_size, 0) < 0)
			return 2;
		if (gen % 64 == 0 && replace_index(&seed, gen) < 0)
			return 2;
	}
	return 0;
}

/* Read every page of p[0..len) and its last byte; 1 on SIGBUS. */
static int touch(const char *p, size_t len, unsigned *sum)
{
	volatile unsigned s = 0;
	if (sigsetjmp(fault_jmp, 1))
		return 1;
	for (size_t off = 0; off < len; off += 4096)
		s += (unsigned char)p[off];
	s += (unsigned char)p[len - 1];
	*sum = s;
	return 0;
}

static int reader(double end, int id)
{
	static const char *const names[] = { "log", "cache", "index" };
	unsigned seed = (unsigned)getpid(), sum = 0;
	long maps = 0, faults = 0, wrong = 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
	while (now() < end) {
		const char *name = names[next_rand(&seed) % 3];
		int fd = open(name, O_RDONLY);
		if (fd < 0)
			continue;
		char *p = NULL;
		size_t len = 0;
		int holds = 1 + (int)(next_rand(&seed) % 16);
		for (int h = 0; h < holds; h++) {
			struct stat st;
			if (fstat(fd, &st) < 0)
				break;
			if ((size_t)st.st_size > len) { /* grew: map it all, as Dovecot does */
				if (p)
					munmap(p, len);
				len = (size_t)st.st_size;
				p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
				if (p == MAP_FAILED) {
					p = NULL;
					break;
				}
			}
			if (!p)
				continue;
			maps++;
			if (touch(p, len, &sum)) {
				faults++;
				if (faults <= 3)
					fprintf(stderr, "reader %d: SIGBUS in a %zu-byte mapping of %s (fstat now %lld)\n",
						id, len, name, fstat(fd, &st) == 0 ? (long long)st.st_size : -1LL);
				break;
			}
			if (name[0] == 'i') {
				for (size_t i = 0; i < len; i += 509)
					if (p[i] != p[0]) {
						if (++wrong <= 3)
							fprintf(stderr, "reader %d: index mapping holds two generations "
								"(%c at 0, %c at %zu of %zu)\n", id, p[0], p[i], i, len);
						break;
					}
			}
		}
		if (p)
			munmap(p, len);
		close(fd);
	}
	printf("reader %d: %ld mappings read, %ld SIGBUS, %ld with wrong data\n", id, maps, faults, wrong);
	fflush(stdout);
	return faults || wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 || chdir(argv[1]) < 0) {
		fprintf(stderr, "usage: mapgrow DIR SECONDS READERS\n");
		return 2;
	}
	double end = now() + atof(argv[2]);
	int readers = atoi(argv[3]);
	unsigned seed = 1;
	char first[100];
	memset(first, 'l', sizeof(first));
	const char *const files[] = { "log", "cache" };
	for (int i = 0; i < 2; i++) {
		int fd = open(files[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || put(fd, first, sizeof(first), 0, 0) < 0 || close(fd) < 0) {
			perror(files[i]);
			return 2;
		}
	}
	unlink("index.tmp");
	if (replace_index(&seed, 0) < 0) {
		perror("index");
		return 2;
	}
	for (int i = 0; i < readers; i++)
		if (fork() == 0)
			_exit(reader(end, i));
	pid_t w = fork();
	if (w == 0)
		_exit(writer(end));
	int rc = 0, st;
	pid_t pid;
	while ((pid = wait(&st)) > 0) {
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 2;
		if (pid == w && code)
			fprintf(stderr, "writer failed: %d\n", code);
		if (code > rc)
			rc = code;
	}
	return rc;
}
