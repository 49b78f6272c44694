/* tls.c: mutual TLS 1.3 between the nodes over OpenSSL 3 (see tls.h).
 * Owns the SSL contexts, the handshake with its deadline and peer checks,
 * and the reasons given for a refused peer.  The I/O is in tls_io.c. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls_int.h"
#include "wire.h"

#define TLS_DEFAULT_HANDSHAKE_MS 10000
#define TLS_CONFIRM_BYTE 0x01

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	int is_server;
};

/* ---- a socket BIO that never raises SIGPIPE ---- */

static BIO_METHOD *sock_method;
static pthread_once_t sock_once = PTHREAD_ONCE_INIT;

static int sbio_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int sbio_read(BIO *b, char *buf, int len)
{
	struct tls_conn *c = BIO_get_data(b);
	ssize_t n = recv(c->fd, buf, (size_t)len, 0);

	BIO_clear_retry_flags(b);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	else if (n == 0)
		c->eof = 1;
	return (int)n;
}

static long sbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_conn *c = BIO_get_data(b);

	switch (cmd) {
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = c->fd;
		return c->fd;
	case BIO_CTRL_EOF:
		return c->eof;
	case BIO_CTRL_FLUSH:
	case BIO_CTRL_DUP:
		return 1;
	default:
		return 0;
	}
}

static int sbio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void sock_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mhafs-socket");

	if (m && BIO_meth_set_write(m, sbio_write) && BIO_meth_set_read(m, sbio_read) &&
	    BIO_meth_set_ctrl(m, sbio_ctrl) && BIO_meth_set_create(m, sbio_create))
		sock_method = m;
	else if (m)
		BIO_meth_free(m);
}

/* ---- helpers ---- */

/* The text of the first OpenSSL error in this thread's queue. */
const char *tls_ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();

	if (!e)
		return "no details";
	ERR_error_string_n(e, buf, len);
	return buf;
}

static int file_readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (!path || !*path) {
		seterr(err, errlen, "no %s file configured", what);
		return -1;
	}
	if (access(path, R_OK) != 0) {
		seterr(err, errlen, "cannot read %s file %s: %s", what, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- certificate names ---- */

/* Whether cert names exactly `name`: one of its subjectAltName DNS entries,
 * or, when it has none, its subject CN. */
static int cert_names(X509 *cert, const char *name)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t nl = strlen(name);
	int have_dns = 0, match = 0;

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		have_dns = 1;
		const ASN1_STRING *s = g->d.dNSName;
		if ((size_t)ASN1_STRING_length(s) == nl && memcmp(ASN1_STRING_get0_data(s), name, nl) == 0)
			match = 1;
	}
	GENERAL_NAMES_free(gens);
	if (have_dns)
		return match;
	X509_NAME *subj = X509_get_subject_name(cert);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx < 0)
		return 0;
	const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
	return (size_t)ASN1_STRING_length(cn) == nl && memcmp(ASN1_STRING_get0_data(cn), name, nl) == 0;
}

/* A printable description of whom cert names, for error messages. */
static void cert_describe(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	const ASN1_STRING *s = NULL;

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !s; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			s = g->d.dNSName;
	}
	if (!s) {
		X509_NAME *subj = X509_get_subject_name(cert);
		int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		if (idx >= 0)
			s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
	}
	if (!s) {
		snprintf(buf, len, "(no name)");
	} else {
		int n = ASN1_STRING_length(s);
		const unsigned char *d = ASN1_STRING_get0_data(s);
		size_t o = 0;
		for (int i = 0; i < n && o + 1 < len; i++)
			buf[o++] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
		buf[o] = '\0';
	}
	GENERAL_NAMES_free(gens);
}

/* Remember why the peer's certificate failed, for the error message. */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;

	if (!ok && c && c->verr == 0) {
		X509 *leaf = X509_STORE_CTX_get0_cert(x);
		c->verr = X509_STORE_CTX_get_error(x);
		if (!c->verr)
			c->verr = X509_V_ERR_UNSPECIFIED;
		if (leaf)
			cert_describe(leaf, c->seen_name, sizeof(c->seen_name));
	}
	return ok;
}

/* ---- contexts ---- */

/* Whether cert is signed by (and valid under) the CA in the context's store. */
static int check_own_cert(SSL_CTX *sctx, const char *cert_file, const char *ca_file, char *err,
			  size_t errlen)
{
	X509 *cert = SSL_CTX_get0_certificate(sctx);
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	int rc = -1;

	if (!cert || !vctx) {
		seterr(err, errlen, "out of memory checking %s", cert_file);
	} else if (!X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(sctx), cert, NULL)) {
		seterr(err, errlen, "cannot check %s against %s", cert_file, ca_file);
	} else if (X509_verify_cert(vctx) != 1) {
		seterr(err, errlen, "certificate %s is not valid under the cluster CA %s: %s (certificates "
		       "of another cluster? both nodes need the ca.pem that signed their certificates: "
		       "mhafs-keygen(8))", cert_file, ca_file,
		       X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
	} else {
		rc = 0;
	}
	X509_STORE_CTX_free(vctx);
	return rc;
}

struct tls_ctx *tls_ctx_new(int is_server, const char *ca_file, const char *cert_file,
			    const char *key_file, char *err, size_t errlen)
{
	struct tls_ctx *t;
	SSL_CTX *s;
	char why[256];

	if (file_readable("CA", ca_file, err, errlen) || file_readable("certificate", cert_file, err, errlen) ||
	    file_readable("key", key_file, err, errlen))
		return NULL;
	pthread_once(&sock_once, sock_method_init);
	if (!sock_method) {
		seterr(err, errlen, "cannot set up the socket BIO");
		return NULL;
	}
	ERR_clear_error();
	s = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	if (!s) {
		seterr(err, errlen, "cannot create a TLS context: %s", tls_ossl_reason(why, sizeof(why)));
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION)) {
		seterr(err, errlen, "this OpenSSL cannot be limited to TLS 1.3");
		goto fail;
	}
	/* No resumption: every connection proves its certificate afresh. */
	SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(s, 0);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			       SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_verify_depth(s, 2);
	SSL_CTX_set_read_ahead(s, 1);
	/* Trust only the cluster CA. */
	if (!SSL_CTX_load_verify_file(s, ca_file)) {
		seterr(err, errlen, "cannot load CA certificate %s: %s", ca_file, tls_ossl_reason(why, sizeof(why)));
		goto fail;
	}
	if (is_server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(s, names);
	}
	if (SSL_CTX_use_certificate_chain_file(s, cert_file) != 1) {
		seterr(err, errlen, "cannot load certificate %s: %s", cert_file, tls_ossl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(s, key_file, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
						       ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH))
			seterr(err, errlen, "private key %s does not match certificate %s", key_file, cert_file);
		else
			seterr(err, errlen, "cannot load private key %s: %s", key_file,
			       tls_ossl_reason(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(s) != 1) {
		seterr(err, errlen, "private key %s does not match certificate %s", key_file, cert_file);
		goto fail;
	}
	if (check_own_cert(s, cert_file, ca_file, err, errlen))
		goto fail;
	t = calloc(1, sizeof(*t));
	if (!t) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	t->ssl_ctx = s;
	t->is_server = is_server;
	ERR_clear_error();
	return t;
fail:
	SSL_CTX_free(s);
	ERR_clear_error();
	return NULL;
}

int tls_ctx_check_name(const struct tls_ctx *ctx, const char *node_name, const char *cert_file,
		       char *err, size_t errlen)
{
	X509 *cert = ctx ? SSL_CTX_get0_certificate(ctx->ssl_ctx) : NULL;
	char seen[128];

	if (!cert || !node_name) {
		seterr(err, errlen, "no certificate or node name to compare");
		return -1;
	}
	if (cert_names(cert, node_name))
		return 0;
	cert_describe(cert, seen, sizeof(seen));
	seterr(err, errlen, "certificate %s names node '%s', but node_name is '%s': the peer would refuse "
	       "it; install this node's own certificate and key (mhafs-keygen node DIR %s) or fix node_name",
	       cert_file, seen, node_name, node_name);
	return -1;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

/* ---- handshake ---- */

/* Alerts that mean "the peer did not accept our certificate". */
static int cert_alert(int alert)
{
	switch (alert) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_CERTIFICATE_REQUIRED:
		return 1;
	}
	return 0;
}

/* Explain a failed handshake step (ssl_err from SSL_get_error) in err,
 * from the verify result, this thread's OpenSSL error queue and errno. */
static void explain(struct tls_conn *c, int ssl_err, int sys_errno, const char *expect, char *err,
		    size_t errlen)
{
	unsigned long e;
	char buf[256];
	int reason = 0;

	/* The earliest error names the cause; later ones are consequences. */
	e = ERR_peek_error();
	if (e && ERR_GET_LIB(e) == ERR_LIB_SSL)
		reason = ERR_GET_REASON(e);

	if (c->verr == X509_V_ERR_HOSTNAME_MISMATCH) {
		seterr(err, errlen, "wrong peer name: its certificate names '%s', expected '%s'", c->seen_name,
		       expect);
	} else if (c->verr != 0) {
		switch (c->verr) {
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		case X509_V_ERR_CERT_SIGNATURE_FAILURE:
			seterr(err, errlen, "peer certificate '%s' is not signed by the cluster CA (%s): "
			       "a certificate of another cluster? both nodes need the same ca_file",
			       c->seen_name, X509_verify_cert_error_string(c->verr));
			break;
		default:
			seterr(err, errlen, "peer certificate '%s' refused: %s", c->seen_name,
			       X509_verify_cert_error_string(c->verr));
		}
	} else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		seterr(err, errlen, "peer sent no certificate");
	} else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
		   reason == SSL_R_HTTPS_PROXY_REQUEST || reason == SSL_R_UNKNOWN_PROTOCOL ||
		   reason == SSL_R_PACKET_LENGTH_TOO_LONG || reason == SSL_R_RECORD_LENGTH_MISMATCH ||
		   reason == SSL_R_WRONG_SSL_VERSION || reason == SSL_R_UNEXPECTED_RECORD) {
		seterr(err, errlen, "peer is not speaking TLS (%s)", tls_ossl_reason(buf, sizeof(buf)));
	} else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
		seterr(err, errlen, "peer does not speak TLS 1.3 (%s)", tls_ossl_reason(buf, sizeof(buf)));
	} else if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
		int alert = reason - SSL_AD_REASON_OFFSET;
		if (cert_alert(alert))
			seterr(err, errlen, "peer refused our certificate (TLS alert: %s)",
			       SSL_alert_desc_string_long(alert));
		else
			seterr(err, errlen, "peer aborted the handshake (TLS alert: %s)",
			       SSL_alert_desc_string_long(alert));
	} else if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING || ssl_err == SSL_ERROR_ZERO_RETURN ||
		   (ssl_err == SSL_ERROR_SYSCALL && (sys_errno == 0 || sys_errno == ECONNRESET ||
						     sys_errno == EPIPE))) {
		seterr(err, errlen, "peer closed the connection during the handshake");
	} else if (ssl_err == SSL_ERROR_SYSCALL) {
		seterr(err, errlen, "TLS handshake failed: %s", strerror(sys_errno));
	} else {
		seterr(err, errlen, "TLS handshake failed: %s", tls_ossl_reason(buf, sizeof(buf)));
	}
}

/* Run one SSL call to completion within the deadline.  op: 0 handshake,
 * 1 write the confirmation byte, 2 read it.  Returns 0 or -1 with err. */
static int step(struct tls_conn *c, int is_server, int op, int64_t deadline, const char *expect,
		int timeout_ms, char *err, size_t errlen)
{
	for (;;) {
		unsigned char b = TLS_CONFIRM_BYTE;
		size_t k = 0;
		int r, se, sys;

		ERR_clear_error();
		errno = 0;
		if (op == 0)
			r = is_server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
		else if (op == 1)
			r = SSL_write_ex(c->ssl, &b, 1, &k);
		else
			r = SSL_read_ex(c->ssl, &b, 1, &k);
		sys = errno;
		if (r == 1) {
			if (op == 2 && b != TLS_CONFIRM_BYTE) {
				seterr(err, errlen, "peer sent a bad confirmation byte: not an mhafs node?");
				return -1;
			}
			return 0;
		}
		se = SSL_get_error(c->ssl, r);
		if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
			int left = (int)(deadline - tls_now_ms());
			int w = left <= 0 ? -ETIMEDOUT
					  : tls_wait_fd(c->fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, left);
			if (w == -ETIMEDOUT) {
				seterr(err, errlen, "TLS handshake timed out after %d ms", timeout_ms);
				return -1;
			}
			if (w < 0) {
				seterr(err, errlen, "TLS handshake: poll: %s", strerror(-w));
				return -1;
			}
			continue;
		}
		if (op == 2 && c->verr == 0 &&
		    (se == SSL_ERROR_ZERO_RETURN || (se == SSL_ERROR_SYSCALL && sys == 0) ||
		     ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
			seterr(err, errlen, "peer closed the connection after the handshake: it refused our "
					    "certificate or name");
			return -1;
		}
		explain(c, se, sys, expect, err, errlen);
		return -1;
	}
}

static struct tls_conn *handshake(struct tls_ctx *ctx, int fd, const char *expect, int timeout_ms,
				  char *err, size_t errlen)
{
	struct tls_conn *c;
	int flags, is_server = ctx->is_server;
	int64_t deadline;
	BIO *bio;
	X509 *peer;

	if (!wire_name_valid(expect)) {
		seterr(err, errlen, "invalid expected peer name");
		return NULL;
	}
	if (timeout_ms <= 0)
		timeout_ms = TLS_DEFAULT_HANDSHAKE_MS;
	deadline = tls_now_ms() + timeout_ms;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		seterr(err, errlen, "cannot make the socket non-blocking: %s", strerror(errno));
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->wbuf = malloc(TLS_WBUF))) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	c->fd = fd;
	c->timeout_ms = -1;
	pthread_mutex_init(&c->ssl_lock, NULL);
	pthread_mutex_init(&c->rlock, NULL);
	pthread_mutex_init(&c->wlock, NULL);
	ERR_clear_error();
	c->ssl = SSL_new(ctx->ssl_ctx);
	bio = BIO_new(sock_method);
	if (!c->ssl || !bio) {
		BIO_free(bio);
		seterr(err, errlen, "cannot create a TLS session");
		goto fail;
	}
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio);
	SSL_set_app_data(c->ssl, c);
	/* Checked inside the handshake, so the peer gets an alert (matching is
	 * case-insensitive there; the exact check follows). */
	SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_WILDCARDS);
	if (!SSL_set1_host(c->ssl, expect)) {
		seterr(err, errlen, "cannot set the expected peer name");
		goto fail;
	}
	if (step(c, is_server, 0, deadline, expect, timeout_ms, err, errlen))
		goto fail;
	peer = SSL_get0_peer_certificate(c->ssl);
	if (!peer) {
		seterr(err, errlen, "peer sent no certificate");
		goto fail;
	}
	if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
		seterr(err, errlen, "peer certificate not verified: %s",
		       X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
		goto fail;
	}
	if (SSL_version(c->ssl) != TLS1_3_VERSION) {
		seterr(err, errlen, "negotiated %s, not TLS 1.3", SSL_get_version(c->ssl));
		goto fail;
	}
	if (!cert_names(peer, expect)) {
		char seen[128];
		cert_describe(peer, seen, sizeof(seen));
		seterr(err, errlen, "wrong peer name: its certificate names '%s', expected '%s'", seen, expect);
		if (is_server) /* tell the client, which waits for our confirmation */
			SSL_shutdown(c->ssl);
		goto fail;
	}
	if (step(c, is_server, is_server ? 1 : 2, deadline, expect, timeout_ms, err, errlen))
		goto fail;
	snprintf(c->peer, sizeof(c->peer), "%s", expect);
	ERR_clear_error();
	return c;
fail:
	if (c) {
		SSL_free(c->ssl);
		pthread_mutex_destroy(&c->ssl_lock);
		pthread_mutex_destroy(&c->rlock);
		pthread_mutex_destroy(&c->wlock);
		free(c->wbuf);
		free(c);
	}
	ERR_clear_error();
	fcntl(fd, F_SETFL, flags);
	return NULL;
}

struct tls_conn *tls_accept(struct tls_ctx *ctx, int fd, const char *expect_peer_name, int timeout_ms,
			    char *err, size_t errlen)
{
	if (!ctx || !ctx->is_server) {
		seterr(err, errlen, "tls_accept needs a server context");
		return NULL;
	}
	return handshake(ctx, fd, expect_peer_name, timeout_ms, err, errlen);
}

struct tls_conn *tls_connect(struct tls_ctx *ctx, int fd, const char *expect_peer_name, int timeout_ms,
			     char *err, size_t errlen)
{
	if (!ctx || ctx->is_server) {
		seterr(err, errlen, "tls_connect needs a client context");
		return NULL;
	}
	return handshake(ctx, fd, expect_peer_name, timeout_ms, err, errlen);
}
