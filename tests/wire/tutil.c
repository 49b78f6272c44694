/* tutil.c: see tutil.h. */
#define _GNU_SOURCE
#include "tutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int t_failures;
int t_checks;

static char keydir[256];

int t_done(const char *name)
{
	if (t_failures) {
		fprintf(stderr, "%s: %d of %d checks FAILED\n", name, t_failures, t_checks);
		return 1;
	}
	printf("%s: all %d checks passed\n", name, t_checks);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void keys_cleanup(void)
{
	if (keydir[0])
		nftw(keydir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run the built mhafs-keygen with up to 3 arguments; 0 if it exited 0. */
static int keygen(const char *a1, const char *a2, const char *a3)
{
	const char *top = getenv("top_builddir");
	char prog[512];
	pid_t pid;
	int st;

	snprintf(prog, sizeof(prog), "%s/tools/mhafs-keygen", top ? top : ".");
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 1);
		execl(prog, prog, a1, a2, a3, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "mhafs-keygen %s %s %s failed\n", a1, a2, a3 ? a3 : "");
		return -1;
	}
	return 0;
}

const char *t_keys_make(void)
{
	char c1[300], c2[300];

	if (keydir[0])
		return keydir;
	snprintf(keydir, sizeof(keydir), "/tmp/mhafs-wiretest.XXXXXX");
	if (!mkdtemp(keydir)) {
		keydir[0] = '\0';
		return NULL;
	}
	atexit(keys_cleanup);
	snprintf(c1, sizeof(c1), "%s/c1", keydir);
	snprintf(c2, sizeof(c2), "%s/c2", keydir);
	if (keygen("ca", c1, NULL) || keygen("node", c1, "a") || keygen("node", c1, "b") ||
	    keygen("node", c1, "c") || keygen("ca", c2, NULL) || keygen("node", c2, "b"))
		return NULL;
	return keydir;
}

const char *t_key(const char *cluster, const char *name, const char *ext)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s/%s.%s", keydir, cluster, name, ext);
	return b;
}

struct tls_ctx *t_ctx(int is_server, const char *cluster, const char *name)
{
	char err[256];
	struct tls_ctx *c = tls_ctx_new(is_server, t_key(cluster, "ca", "pem"), t_key(cluster, name, "pem"),
					t_key(cluster, name, "key"), err, sizeof(err));

	if (!c)
		fprintf(stderr, "tls_ctx_new(%s/%s): %s\n", cluster, name, err);
	return c;
}

struct side {
	struct t_pair *p;
	struct tls_ctx *ctx;
	const char *expect;
	int timeout_ms;
	void (*raw_fn)(int, void *);
	void *arg;
};

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void *server_side(void *arg)
{
	struct side *s = arg;
	struct t_pair *p = s->p;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (s->ctx) {
		p->server = tls_accept(s->ctx, p->server_fd, s->expect, s->timeout_ms, p->serr, sizeof(p->serr));
		if (p->server)
			p->server_fd = -1; /* owned by the connection now */
	} else if (s->raw_fn) {
		s->raw_fn(p->server_fd, s->arg);
	}
	p->server_ms = ms_since(&t0);
	return NULL;
}

void t_pair_run(struct t_pair *p, struct tls_ctx *sctx, const char *sexpect, struct tls_ctx *cctx,
		const char *cexpect, int timeout_ms, void (*raw_fn)(int fd, void *arg), void *arg)
{
	struct side s = { p, sctx, sexpect, timeout_ms, raw_fn, arg };
	pthread_t th;
	int sv[2];

	memset(p, 0, sizeof(*p));
	p->raw_fd = p->server_fd = p->client_fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(p->serr, sizeof(p->serr), "socketpair: %s", strerror(errno));
		t_failures++;
		return;
	}
	p->server_fd = sv[0];
	p->client_fd = sv[1];
	if (!sctx)
		p->raw_fd = sv[0];
	if (!cctx)
		p->raw_fd = sv[1];
	pthread_create(&th, NULL, server_side, &s);
	if (cctx) {
		p->client = tls_connect(cctx, p->client_fd, cexpect, timeout_ms, p->cerr, sizeof(p->cerr));
		if (p->client)
			p->client_fd = -1;
	} else if (raw_fn) {
		raw_fn(p->client_fd, arg);
	}
	pthread_join(th, NULL);
}

void t_pair_close(struct t_pair *p)
{
	tls_close(p->server);
	tls_close(p->client);
	if (p->server_fd >= 0)
		close(p->server_fd);
	if (p->client_fd >= 0)
		close(p->client_fd);
	p->server = p->client = NULL;
	p->server_fd = p->client_fd = p->raw_fd = -1;
}
