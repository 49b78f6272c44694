/* fillfs.c: write helper of the ENOSPC test (tests/fs/enospc.sh).
 * Usage: fillfs FILE [MAXBYTES]
 * Creates FILE (O_CREAT|O_EXCL), writes 64 KiB chunks until a write fails
 * or MAXBYTES are written, then fsyncs and closes, and prints one line:
 *   written=N stage=open|write|fsync|close|done errno=ENAME|ok
 * The first failing step stops the run; its errno is what the caller saw.
 * Exit 0 when it ran (whatever the errno), 2 on usage errors. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void report(long long written, const char *stage, int e)
{
	const char *n = e ? strerrorname_np(e) : "ok";

	printf("written=%lld stage=%s errno=%s\n", written, stage, n ? n : "?");
}

int main(int argc, char **argv)
{
	static char chunk[65536];
	long long max = -1, written = 0;
	char *end;
	int fd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: fillfs FILE [MAXBYTES]\n");
		return 2;
	}
	if (argc == 3) {
		errno = 0;
		max = strtoll(argv[2], &end, 10);
		if (errno || *end || max < 0) {
			fprintf(stderr, "fillfs: bad byte count: %s\n", argv[2]);
			return 2;
		}
	}
	memset(chunk, 'z', sizeof(chunk));
	fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		report(0, "open", errno);
		return 0;
	}
	while (max < 0 || written < max) {
		size_t want = sizeof(chunk);
		ssize_t r;

		if (max >= 0 && (long long)want > max - written)
			want = (size_t)(max - written);
		r = write(fd, chunk, want);
		if (r < 0) {
			report(written, "write", errno);
			close(fd);
			return 0;
		}
		written += r;
	}
	if (fsync(fd) < 0) {
		report(written, "fsync", errno);
		close(fd);
		return 0;
	}
	if (close(fd) < 0) {
		report(written, "close", errno);
		return 0;
	}
	report(written, "done", 0);
	return 0;
}
