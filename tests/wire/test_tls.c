/* test_tls.c: mutual TLS 1.3 (lib/tls.c) over socketpairs, with keys made
 * by the real mhafs-keygen.  A good handshake both ways and full-duplex
 * transfer; refusal, with the reason, of a peer from another CA, a peer with
 * the wrong name (either side), a client without a certificate, a plain-text
 * client and a silent one (timeout); load-time errors of tls_ctx_new; and
 * no SIGPIPE when writing to a peer that went away. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tutil.h"

static struct tls_ctx *srv_a, *cli_b, *cli_c, *cli_b_other, *srv_c;

static void test_good(void)
{
	struct t_pair p;
	char buf[16];

	t_pair_run(&p, srv_a, "b", cli_b, "a", 5000, NULL, NULL);
	CHECK(p.server != NULL);
	CHECK(p.client != NULL);
	if (!p.server || !p.client) {
		fprintf(stderr, "good handshake failed: server '%s' client '%s'\n", p.serr, p.cerr);
		t_pair_close(&p);
		return;
	}
	CHECK(strcmp(tls_peer_name(p.server), "b") == 0);
	CHECK(strcmp(tls_peer_name(p.client), "a") == 0);
	CHECK_EQ(tls_write_full(p.client, "hello", 5), 0);
	CHECK_EQ(tls_read_full(p.server, buf, 5), 0);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(tls_write_full(p.server, "world!", 6), 0);
	CHECK_EQ(tls_read_full(p.client, buf, 6), 0);
	CHECK(memcmp(buf, "world!", 6) == 0);

	/* read timeout: nothing consumed, the connection stays usable */
	tls_set_timeout(p.server, 100);
	CHECK_EQ(tls_read_full(p.server, buf, 4), -ETIMEDOUT);
	CHECK_EQ(tls_write_full(p.client, "more", 4), 0);
	CHECK_EQ(tls_read_full(p.server, buf, 4), 0);
	CHECK(memcmp(buf, "more", 4) == 0);
	/* clean close: the reader sees -ENOTCONN */
	tls_set_timeout(p.server, 5000);
	tls_close(p.client);
	p.client = NULL;
	CHECK_EQ(tls_read_full(p.server, buf, 1), -ENOTCONN);
	CHECK_EQ(tls_read_full(p.server, buf, 1), -EPIPE); /* stays unusable */
	t_pair_close(&p);
}

/* Full duplex: each side writes 4 MiB from one thread while reading the
 * other's 4 MiB in another; with a half-duplex implementation the socket
 * buffers fill and both block. */
#define DUPLEX_BYTES (4u << 20)

struct pump {
	struct tls_conn *c;
	uint8_t seed;
	int rc;
};

static void *pump_write(void *arg)
{
	struct pump *p = arg;
	static __thread uint8_t chunk[65536];

	p->rc = 0;
	for (size_t off = 0; off < DUPLEX_BYTES && p->rc == 0; off += sizeof(chunk)) {
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = (uint8_t)(p->seed + off + i);
		p->rc = tls_write_full(p->c, chunk, sizeof(chunk));
	}
	return NULL;
}

static int pump_read(struct tls_conn *c, uint8_t seed)
{
	static __thread uint8_t chunk[50000];
	size_t off = 0;

	while (off < DUPLEX_BYTES) {
		size_t n = DUPLEX_BYTES - off < sizeof(chunk) ? DUPLEX_BYTES - off : sizeof(chunk);
		int rc = tls_read_full(c, chunk, n);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++)
			if (chunk[i] != (uint8_t)(seed + off + i))
				return -EBADMSG;
		off += n;
	}
	return 0;
}

struct reader {
	struct tls_conn *c;
	uint8_t seed;
	int rc;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->rc = pump_read(r->c, r->seed);
	return NULL;
}

static void test_duplex(void)
{
	struct t_pair p;
	pthread_t w1, w2, r1;
	struct pump ps, pc;
	struct reader rs;

	t_pair_run(&p, srv_a, "b", cli_b, "a", 5000, NULL, NULL);
	if (!p.server || !p.client) {
		CHECK(!"handshake for duplex test");
		t_pair_close(&p);
		return;
	}
	tls_set_timeout(p.server, 10000);
	tls_set_timeout(p.client, 10000);
	ps = (struct pump){ p.server, 11, -1 };
	pc = (struct pump){ p.client, 99, -1 };
	rs = (struct reader){ p.server, 99, -1 };
	pthread_create(&w1, NULL, pump_write, &ps);
	pthread_create(&w2, NULL, pump_write, &pc);
	pthread_create(&r1, NULL, reader_main, &rs);
	CHECK_EQ(pump_read(p.client, 11), 0);
	pthread_join(w1, NULL);
	pthread_join(w2, NULL);
	pthread_join(r1, NULL);
	CHECK_EQ(ps.rc, 0);
	CHECK_EQ(pc.rc, 0);
	CHECK_EQ(rs.rc, 0);
	t_pair_close(&p);
}

/* A client with a certificate from another CA that trusts anything, driven
 * with OpenSSL directly: only the server's check can stop it. */
static void imposter_client(int fd, void *arg)
{
	int *delivered = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char b;

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_use_certificate_chain_file(ctx, t_key("c2", "b", "pem"));
	SSL_CTX_use_PrivateKey_file(ctx, t_key("c2", "b", "key"), SSL_FILETYPE_PEM);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1) {
		if (SSL_write(ssl, "secret", 6) == 6 && SSL_read(ssl, &b, 1) == 1)
			*delivered = 1;
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void test_other_ca(void)
{
	struct t_pair p;
	int delivered = 0;

	/* an imposter b with a certificate from another cluster's CA */
	t_pair_run(&p, srv_a, "b", NULL, NULL, 5000, imposter_client, &delivered);
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "not signed by the cluster CA");
	CHECK_EQ(delivered, 0);
	fprintf(stderr, "  other CA (client): server: %s\n", p.serr);
	t_pair_close(&p);

	/* a node of another cluster (trusting its own CA) refuses us first */
	t_pair_run(&p, srv_a, "b", cli_b_other, "a", 5000, NULL, NULL);
	CHECK(p.server == NULL);
	CHECK(p.client == NULL);
	CHECK_HAS(p.cerr, "peer certificate 'a' is not signed by the cluster CA");
	CHECK_HAS(p.serr, "peer refused our certificate");
	fprintf(stderr, "  other cluster: server: %s | client: %s\n", p.serr, p.cerr);
	t_pair_close(&p);
}

static void test_wrong_name(void)
{
	struct t_pair p;

	/* the server expects b, the client is c (same CA) */
	t_pair_run(&p, srv_a, "b", cli_c, "a", 5000, NULL, NULL);
	CHECK(p.server == NULL);
	CHECK(p.client == NULL);
	CHECK_HAS(p.serr, "wrong peer name");
	CHECK_HAS(p.serr, "'c'");
	CHECK_HAS(p.serr, "'b'");
	CHECK(p.cerr[0] != '\0');
	fprintf(stderr, "  wrong client name: server: %s | client: %s\n", p.serr, p.cerr);
	t_pair_close(&p);

	/* the client expects a, the server is c */
	t_pair_run(&p, srv_c, "b", cli_b, "a", 5000, NULL, NULL);
	CHECK(p.server == NULL);
	CHECK(p.client == NULL);
	CHECK_HAS(p.cerr, "wrong peer name: its certificate names 'c', expected 'a'");
	CHECK(p.serr[0] != '\0');
	fprintf(stderr, "  wrong server name: server: %s | client: %s\n", p.serr, p.cerr);
	t_pair_close(&p);
}

/* A TLS 1.3 client with no certificate (it trusts the cluster CA, so only
 * the missing certificate can be the reason), driven with OpenSSL directly. */
static void no_cert_client(int fd, void *arg)
{
	int *delivered = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char b;

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_load_verify_file(ctx, t_key("c1", "ca", "pem"));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1) {
		/* TLS 1.3 clients finish before the server judges them: try to
		 * deliver data anyway, then see the refusal. */
		if (SSL_write(ssl, "secret", 6) == 6 && SSL_read(ssl, &b, 1) == 1)
			*delivered = 1;
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void test_no_client_cert(void)
{
	struct t_pair p;
	int delivered = 0;

	t_pair_run(&p, srv_a, "b", NULL, NULL, 5000, no_cert_client, &delivered);
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "peer sent no certificate");
	CHECK_EQ(delivered, 0);
	fprintf(stderr, "  no client certificate: server: %s\n", p.serr);
	t_pair_close(&p);
}

static void plain_client(int fd, void *arg)
{
	const char *text = arg;

	if (write(fd, text, strlen(text)) < 0)
		perror("write");
	usleep(300 * 1000); /* keep the connection open while the server reads */
}

static void test_plain_text(void)
{
	struct t_pair p;

	t_pair_run(&p, srv_a, "b", NULL, NULL, 5000, plain_client, "EHLO mail.example.org\r\n");
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "peer is not speaking TLS");
	fprintf(stderr, "  plain-text client: server: %s\n", p.serr);
	t_pair_close(&p);

	t_pair_run(&p, srv_a, "b", NULL, NULL, 5000, plain_client, "GET / HTTP/1.0\r\n\r\n");
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "peer is not speaking TLS");
	t_pair_close(&p);

	/* a plain-text server: the client refuses too */
	t_pair_run(&p, NULL, NULL, cli_b, "a", 5000, plain_client, "220 mail ESMTP\r\n");
	CHECK(p.client == NULL);
	CHECK_HAS(p.cerr, "peer is not speaking TLS");
	fprintf(stderr, "  plain-text server: client: %s\n", p.cerr);
	t_pair_close(&p);
}

/* A valid node b whose TLS stops at 1.2. */
static void tls12_client(int fd, void *arg)
{
	int *delivered = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char b;

	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_use_certificate_chain_file(ctx, t_key("c1", "b", "pem"));
	SSL_CTX_use_PrivateKey_file(ctx, t_key("c1", "b", "key"), SSL_FILETYPE_PEM);
	SSL_CTX_load_verify_file(ctx, t_key("c1", "ca", "pem"));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1 && SSL_write(ssl, "secret", 6) == 6 && SSL_read(ssl, &b, 1) == 1)
		*delivered = 1;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void test_tls12(void)
{
	struct t_pair p;
	int delivered = 0;

	t_pair_run(&p, srv_a, "b", NULL, NULL, 5000, tls12_client, &delivered);
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "peer does not speak TLS 1.3");
	CHECK_EQ(delivered, 0);
	fprintf(stderr, "  TLS 1.2 client: server: %s\n", p.serr);
	t_pair_close(&p);
}

static void silent_client(int fd, void *arg)
{
	(void)fd;
	usleep((useconds_t)(intptr_t)arg * 1000);
}

static void test_timeout(void)
{
	struct t_pair p;

	t_pair_run(&p, srv_a, "b", NULL, NULL, 300, silent_client, (void *)(intptr_t)800);
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "timed out after 300 ms");
	CHECK(p.server_ms >= 250 && p.server_ms < 790);
	t_pair_close(&p);

}

static void hangup_client(int fd, void *arg)
{
	(void)arg;
	shutdown(fd, SHUT_RDWR);
}

static void test_hangup(void)
{
	struct t_pair p;

	t_pair_run(&p, srv_a, "b", NULL, NULL, 2000, hangup_client, NULL);
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "closed the connection during the handshake");
	t_pair_close(&p);
}

static void test_write_to_gone_peer(void)
{
	struct t_pair p;
	static uint8_t chunk[1 << 16];
	int rc = 0;

	t_pair_run(&p, srv_a, "b", cli_b, "a", 5000, NULL, NULL);
	if (!p.server || !p.client) {
		CHECK(!"handshake for write test");
		t_pair_close(&p);
		return;
	}
	tls_close(p.server);
	p.server = NULL;
	tls_set_timeout(p.client, 2000);
	/* SIGPIPE is at its default (fatal): surviving this loop is the test */
	for (int i = 0; i < 64 && rc == 0; i++)
		rc = tls_write_full(p.client, chunk, sizeof(chunk));
	CHECK(rc == -ECONNRESET || rc == -EPIPE);
	CHECK(tls_conn_error(p.client)[0] != '\0');
	CHECK_EQ(tls_write_full(p.client, chunk, 1), -EPIPE);
	t_pair_close(&p);
}

/* Write <dir>/c1/<name>.pem/.key: a certificate for name signed by CA 1
 * whose validity ended a day ago (what a node sees two years on). */
static int make_expired(const char *name)
{
	FILE *f;
	X509 *ca = NULL, *x = X509_new();
	EVP_PKEY *ca_key = NULL, *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int ok = 0;

	if ((f = fopen(t_key("c1", "ca", "pem"), "r"))) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if ((f = fopen(t_key("c1", "ca", "key"), "r"))) {
		ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (ca && ca_key && key && x && X509_set_version(x, X509_VERSION_3) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -30L * 86400) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), -86400) &&
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)name,
				       -1, -1, 0) &&
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) && X509_set_pubkey(x, key) &&
	    X509_sign(x, ca_key, EVP_sha256())) {
		FILE *kf = fopen(t_key("c1", name, "key"), "w"), *cf = fopen(t_key("c1", name, "pem"), "w");
		ok = kf && cf && PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) && PEM_write_X509(cf, x);
		if (kf)
			fclose(kf);
		if (cf)
			fclose(cf);
	}
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return ok ? 0 : -1;
}

static void old_client(int fd, void *arg)
{
	int *delivered = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char b;

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_use_certificate_chain_file(ctx, t_key("c1", "old", "pem"));
	SSL_CTX_use_PrivateKey_file(ctx, t_key("c1", "old", "key"), SSL_FILETYPE_PEM);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1 && SSL_write(ssl, "secret", 6) == 6 && SSL_read(ssl, &b, 1) == 1)
		*delivered = 1;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void test_expired(void)
{
	struct t_pair p;
	char err[256];
	int delivered = 0;

	if (make_expired("old")) {
		CHECK(!"made an expired certificate");
		return;
	}
	/* a peer whose certificate has expired is refused, and told so */
	t_pair_run(&p, srv_a, "old", NULL, NULL, 5000, old_client, &delivered);
	CHECK(p.server == NULL);
	CHECK_HAS(p.serr, "peer certificate 'old' refused: certificate has expired");
	CHECK_EQ(delivered, 0);
	fprintf(stderr, "  expired client certificate: server: %s\n", p.serr);
	t_pair_close(&p);
	/* and our own expired certificate is refused at start-up */
	CHECK(tls_ctx_new(1, t_key("c1", "ca", "pem"), t_key("c1", "old", "pem"), t_key("c1", "old", "key"), err,
			  sizeof(err)) == NULL);
	CHECK_HAS(err, "certificate has expired");
}

static void test_ctx_errors(void)
{
	char err[256];
	struct tls_ctx *c;

	c = tls_ctx_new(1, t_key("c1", "ca", "pem"), t_key("c1", "a", "pem"), t_key("c1", "b", "key"), err,
			sizeof(err));
	CHECK(c == NULL);
	CHECK_HAS(err, "does not match");
	c = tls_ctx_new(1, t_key("c1", "ca", "pem"), t_key("c1", "zz", "pem"), t_key("c1", "a", "key"), err,
			sizeof(err));
	CHECK(c == NULL);
	CHECK_HAS(err, "cannot read certificate file");
	c = tls_ctx_new(1, t_key("c1", "ca", "pem"), t_key("c2", "b", "pem"), t_key("c2", "b", "key"), err,
			sizeof(err));
	CHECK(c == NULL);
	CHECK_HAS(err, "not valid under the cluster CA");
	c = tls_ctx_new(0, t_key("c1", "a", "key"), t_key("c1", "a", "pem"), t_key("c1", "a", "key"), err,
			sizeof(err));
	CHECK(c == NULL);
	CHECK_HAS(err, "cannot load CA certificate");
	c = tls_ctx_new(0, NULL, t_key("c1", "a", "pem"), t_key("c1", "a", "key"), err, sizeof(err));
	CHECK(c == NULL);
	CHECK_HAS(err, "no CA file");
	/* wrong roles and bad expected names are refused before any I/O */
	struct tls_conn *x = tls_accept(cli_b, 0, "a", 100, err, sizeof(err));
	CHECK(x == NULL);
	CHECK_HAS(err, "server context");
	x = tls_connect(cli_b, 0, "a/b", 100, err, sizeof(err));
	CHECK(x == NULL);
	CHECK_HAS(err, "invalid expected peer name");
	/* a node whose own certificate names another node is told so at start */
	c = tls_ctx_new(1, t_key("c1", "ca", "pem"), t_key("c1", "a", "pem"), t_key("c1", "a", "key"), err,
			sizeof(err));
	CHECK(c != NULL);
	CHECK(tls_ctx_check_name(c, "a", "a.pem", err, sizeof(err)) == 0);
	CHECK(tls_ctx_check_name(c, "b", "a.pem", err, sizeof(err)) == -1);
	CHECK_HAS(err, "certificate a.pem names node 'a', but node_name is 'b'");
	tls_ctx_free(c);
}

int main(void)
{
	signal(SIGPIPE, SIG_DFL);
	if (!t_keys_make()) {
		fprintf(stderr, "cannot make test keys with mhafs-keygen\n");
		return 1;
	}
	srv_a = t_ctx(1, "c1", "a");
	srv_c = t_ctx(1, "c1", "c");
	cli_b = t_ctx(0, "c1", "b");
	cli_c = t_ctx(0, "c1", "c");
	cli_b_other = t_ctx(0, "c2", "b");
	if (!srv_a || !srv_c || !cli_b || !cli_c || !cli_b_other)
		return 1;
	test_good();
	test_duplex();
	test_other_ca();
	test_wrong_name();
	test_no_client_cert();
	test_plain_text();
	test_tls12();
	test_timeout();
	test_hangup();
	test_write_to_gone_peer();
	test_expired();
	test_ctx_errors();
	tls_ctx_free(srv_a);
	tls_ctx_free(srv_c);
	tls_ctx_free(cli_b);
	tls_ctx_free(cli_c);
	tls_ctx_free(cli_b_other);
	return t_done("test_tls");
}
