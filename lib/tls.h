/* tls.h: mutually authenticated TLS 1.3 between the two nodes (OpenSSL 3).
 * Both sides present a certificate signed by the cluster CA (ca_file, and
 * nothing else: the system trust store is never used), and each side checks
 * that the peer's certificate names the node it expects (subjectAltName DNS,
 * or the CN when the certificate has no DNS name).
 *
 * After the TLS handshake and its own checks the accepting side sends one
 * confirmation byte, which tls_connect waits for: so a refusal on either
 * side makes both tls_accept and tls_connect fail, with a reason, and no
 * application byte is ever exchanged with a refused peer.
 *
 * A connection may be used by one reading thread and one writing thread at
 * the same time (SSL calls are serialised inside, waits happen outside the
 * lock); writes and reads are each serialised.  Writes never raise SIGPIPE.
 * tls_close must not race with a call in another thread: stop such a
 * thread with tls_conn_abort first. */
#ifndef MHAFS_TLS_H
#define MHAFS_TLS_H

#include <stddef.h>
#include <sys/uio.h>

struct tls_ctx;
struct tls_conn;

/* TLS 1.3 only, peer certificate required and verified against ca_file.
 * Checks at load that the key matches the certificate and that the
 * certificate is signed by ca_file, with a clear message in err. */
struct tls_ctx *tls_ctx_new(int is_server, const char *ca_file, const char *cert_file,
			    const char *key_file, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);
/* Whether the context's own certificate (from cert_file, named in the
 * message) names node_name, as the peer checks it: 0, or -1 with a message
 * in err that says what to fix. */
int tls_ctx_check_name(const struct tls_ctx *ctx, const char *node_name, const char *cert_file,
		       char *err, size_t errlen);

/* Handshake on a connected socket fd (blocking or not; it is made
 * non-blocking), within timeout_ms (<= 0: 10 s), and check that the peer is
 * expect_peer_name.  On success the connection owns fd (tls_close closes
 * it).  On failure returns NULL, leaves fd open for the caller to close and
 * puts the reason in err: the peer's certificate is not signed by the
 * cluster CA, names another node, is missing, the peer is not speaking TLS,
 * the peer refused our certificate, or the handshake timed out. */
struct tls_conn *tls_accept(struct tls_ctx *ctx, int fd, const char *expect_peer_name,
			    int timeout_ms, char *err, size_t errlen);
struct tls_conn *tls_connect(struct tls_ctx *ctx, int fd, const char *expect_peer_name,
			     int timeout_ms, char *err, size_t errlen);

/* Idle timeout of reads and writes: a call fails with -ETIMEDOUT when no
 * byte moves for ms milliseconds.  ms < 0 (the default): wait forever. */
void tls_set_timeout(struct tls_conn *c, int ms);

/* Read exactly n bytes.  Returns 0, or
 *   -ETIMEDOUT  nothing arrived within the timeout (no byte consumed; the
 *               connection is still usable),
 *   -ENOTCONN   the peer closed the connection (close_notify) before the
 *               first byte,
 *   -ECONNRESET the connection ended without close_notify, or mid-read,
 *   -EPROTO     a TLS error (alert, bad record), or a timeout mid-read,
 *   -EPIPE      the read side was already unusable.
 * Any error but -ETIMEDOUT makes the read side unusable. */
int tls_read_full(struct tls_conn *c, void *buf, size_t n);
/* Write all n bytes (or all iovecs) as one unit: concurrent writers never
 * interleave.  Returns 0, or -ETIMEDOUT / -ECONNRESET / -EPIPE / -EPROTO;
 * any error makes the write side unusable. */
int tls_write_full(struct tls_conn *c, const void *buf, size_t n);
int tls_writev_full(struct tls_conn *c, const struct iovec *iov, int iovcnt);

/* Wake every thread blocked on c (their calls fail at once) and make the
 * connection unusable: shuts the socket down both ways.  Then join those
 * threads and tls_close(c).  Safe to call from any thread. */
void tls_conn_abort(struct tls_conn *c);
/* Mark the read side unusable (after a framing error above TLS). */
void tls_conn_fail_read(struct tls_conn *c);
int tls_conn_fd(const struct tls_conn *c);
/* The peer's verified node name. */
const char *tls_peer_name(const struct tls_conn *c);
/* Text of the last I/O error on c ("" if none), for logging. */
const char *tls_conn_error(const struct tls_conn *c);
/* Send close_notify (without waiting long), free, and close the fd. */
void tls_close(struct tls_conn *c);
/* Non-zero when data is buffered inside TLS (decrypted or not, with read-
 * ahead on), so a poll() on tls_conn_fd would not report it: read first. */
int tls_pending(struct tls_conn *c);

#endif
