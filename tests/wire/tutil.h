/* tutil.h: helpers shared by the wire and TLS tests: checks that count
 * failures, a temporary directory of credentials made by the real
 * mhafs-keygen, and a TLS pair over a socketpair (server in a thread). */
#ifndef MHAFS_TESTS_TUTIL_H
#define MHAFS_TESTS_TUTIL_H

#include <stdio.h>
#include <string.h>

#include "tls.h"

extern int t_failures;
extern int t_checks;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		t_checks++;                                                              \
		if (!(cond)) {                                                           \
			t_failures++;                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                        \
	} while (0)

#define CHECK_EQ(a, b)                                                                   \
	do {                                                                             \
		long long _a = (long long)(a), _b = (long long)(b);                      \
		t_checks++;                                                              \
		if (_a != _b) {                                                          \
			t_failures++;                                                    \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, \
				__LINE__, #a, _a, #b, _b);                               \
		}                                                                        \
	} while (0)

#define CHECK_HAS(str, sub)                                                              \
	do {                                                                             \
		t_checks++;                                                              \
		if (!strstr((str), (sub))) {                                             \
			t_failures++;                                                    \
			fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, \
				(str), (sub));                                           \
		}                                                                        \
	} while (0)

/* Print the tally; exit status for main. */
int t_done(const char *name);

/* Credentials: t_keys_make() creates a temporary directory with
 *   <dir>/c1/{ca,a,b,c}.{pem,key}   cluster CA 1 and nodes a, b, c
 *   <dir>/c2/{ca,b}.{pem,key}       another cluster's CA and a node b
 * using the built mhafs-keygen, and removes it all at exit.  Returns the
 * directory or NULL (then the test should fail). */
const char *t_keys_make(void);
/* Path of "<dir>/<cluster>/<name>.<ext>" in a static rotating buffer. */
const char *t_key(const char *cluster, const char *name, const char *ext);
/* A context for node `name` of cluster `cluster` trusting that cluster's CA. */
struct tls_ctx *t_ctx(int is_server, const char *cluster, const char *name);

/* Handshake over a fresh socketpair: server (ctx sctx, expecting sexpect)
 * in a thread, client in the caller.  Either side's ctx may be NULL, in
 * which case its raw socket is returned in *raw_fd instead for the test to
 * drive by hand (the other side still runs).  Errors land in serr/cerr. */
struct t_pair {
	struct tls_conn *server, *client;
	int raw_fd;          /* the end whose ctx was NULL, or -1 */
	int server_fd, client_fd;
	char serr[256], cerr[256];
	long server_ms;      /* how long tls_accept took */
};
/* raw_fn (may be NULL) runs on the raw end (in its own thread for the
 * server end) while the TLS side handshakes. */
void t_pair_run(struct t_pair *p, struct tls_ctx *sctx, const char *sexpect, struct tls_ctx *cctx,
		const char *cexpect, int timeout_ms, void (*raw_fn)(int fd, void *arg), void *arg);
/* Close whatever the pair still holds. */
void t_pair_close(struct t_pair *p);

#endif
