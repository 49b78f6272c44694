/* tls_io.c: full-duplex, blocking-style I/O over a TLS connection whose
 * socket is non-blocking: SSL calls under a short lock, waits in poll()
 * outside it, idle timeouts, and the error text of the last failure. */
#include "tls.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls_int.h"

int64_t tls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for events, at most ms (< 0: forever).  Returns 0,
 * -ETIMEDOUT, or -errno. */
int tls_wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t deadline = ms < 0 ? 0 : tls_now_ms() + ms;

	for (;;) {
		int left = ms < 0 ? -1 : (int)(deadline - tls_now_ms());
		if (ms >= 0 && left < 0)
			left = 0;
		int r = poll(&p, 1, left);
		if (r > 0)
			return 0; /* ready, or an error/hangup the next SSL call reports */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

void tls_set_timeout(struct tls_conn *c, int ms)
{
	__atomic_store_n(&c->timeout_ms, ms < 0 ? -1 : ms, __ATOMIC_RELAXED);
}

static int io_timeout(const struct tls_conn *c)
{
	return __atomic_load_n(&c->timeout_ms, __ATOMIC_RELAXED);
}

void tls_conn_abort(struct tls_conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
}

/* side 0: the reader (holds rlock), 1: the writer (holds wlock); each has
 * its own buffer so the two never write the same memory. */
static void set_error(struct tls_conn *c, int side, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct tls_conn *c, int side, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errtext[side], sizeof(c->errtext[side]), fmt, ap);
	va_end(ap);
	__atomic_store_n(&c->last_err, side, __ATOMIC_RELEASE);
}

/* Map a failed SSL_read/SSL_write to -errno and remember the reason. */
static int io_error(struct tls_conn *c, int side, int se, int sys)
{
	const char *what = side ? "write" : "read";
	char buf[256];
	unsigned long e = ERR_peek_error();

	if (se == SSL_ERROR_ZERO_RETURN) {
		set_error(c, side, "%s: peer closed the connection", what);
		return -ENOTCONN;
	}
	if (se == SSL_ERROR_SYSCALL || (e && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		set_error(c, side, "%s: connection lost%s%s", what, sys ? ": " : "", sys ? strerror(sys) : "");
		return -ECONNRESET;
	}
	set_error(c, side, "%s: %s", what, tls_ossl_reason(buf, sizeof(buf)));
	return -EPROTO;
}

int tls_read_full(struct tls_conn *c, void *buf, size_t n)
{
	size_t got = 0;
	int rc = 0;

	pthread_mutex_lock(&c->rlock);
	if (c->rdead) {
		pthread_mutex_unlock(&c->rlock);
		return -EPIPE;
	}
	while (got < n) {
		size_t k = 0;
		int r, se = SSL_ERROR_NONE, sys;

		pthread_mutex_lock(&c->ssl_lock);
		ERR_clear_error();
		errno = 0;
		r = SSL_read_ex(c->ssl, (uint8_t *)buf + got, n - got, &k);
		sys = errno;
		if (r != 1) {
			se = SSL_get_error(c->ssl, r);
			if (se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE)
				rc = io_error(c, 0, se, sys);
		}
		pthread_mutex_unlock(&c->ssl_lock);
		if (r == 1) {
			got += k;
			continue;
		}
		if (rc) {
			if (rc == -ENOTCONN && got)
				rc = -ECONNRESET;
			break;
		}
		rc = tls_wait_fd(c->fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, io_timeout(c));
		if (rc == -ETIMEDOUT) {
			set_error(c, 0, "read: no data for %d ms", io_timeout(c));
			if (got)
				rc = -EPROTO;
			break;
		}
		if (rc) {
			set_error(c, 0, "read: poll: %s", strerror(-rc));
			break;
		}
	}
	if (rc && rc != -ETIMEDOUT)
		c->rdead = 1;
	pthread_mutex_unlock(&c->rlock);
	return rc;
}

/* Write n bytes from p; caller holds wlock. */
static int write_locked(struct tls_conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k = 0;
		int r, se = SSL_ERROR_NONE, sys, rc = 0;

		pthread_mutex_lock(&c->ssl_lock);
		ERR_clear_error();
		errno = 0;
		r = SSL_write_ex(c->ssl, p, n, &k);
		sys = errno;
		if (r != 1) {
			se = SSL_get_error(c->ssl, r);
			if (se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE)
				rc = io_error(c, 1, se, sys);
		}
		pthread_mutex_unlock(&c->ssl_lock);
		if (r == 1) {
			p += k;
			n -= k;
			continue;
		}
		if (rc)
			return rc == -ENOTCONN ? -EPIPE : rc;
		rc = tls_wait_fd(c->fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, io_timeout(c));
		if (rc) {
			set_error(c, 1, "write: %s", rc == -ETIMEDOUT ? "peer not reading" : strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int tls_writev_full(struct tls_conn *c, const struct iovec *iov, int iovcnt)
{
	size_t fill = 0;
	int rc = 0;

	pthread_mutex_lock(&c->wlock);
	if (c->wdead) {
		pthread_mutex_unlock(&c->wlock);
		return -EPIPE;
	}
	/* Coalesce into full records: small pieces are copied into wbuf, a
	 * piece larger than the space left goes out in record-sized chunks. */
	for (int i = 0; i < iovcnt && rc == 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;
		while (n > 0 && rc == 0) {
			size_t k = TLS_WBUF - fill < n ? TLS_WBUF - fill : n;
			memcpy(c->wbuf + fill, p, k);
			fill += k;
			p += k;
			n -= k;
			if (fill == TLS_WBUF) {
				rc = write_locked(c, c->wbuf, fill);
				fill = 0;
			}
		}
	}
	if (rc == 0 && fill)
		rc = write_locked(c, c->wbuf, fill);
	if (rc)
		c->wdead = 1;
	pthread_mutex_unlock(&c->wlock);
	return rc;
}

int tls_write_full(struct tls_conn *c, const void *buf, size_t n)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = n };

	return tls_writev_full(c, &v, 1);
}

void tls_conn_fail_read(struct tls_conn *c)
{
	pthread_mutex_lock(&c->rlock);
	c->rdead = 1;
	pthread_mutex_unlock(&c->rlock);
}

int tls_conn_fd(const struct tls_conn *c)
{
	return c->fd;
}

const char *tls_peer_name(const struct tls_conn *c)
{
	return c->peer;
}

const char *tls_conn_error(const struct tls_conn *c)
{
	return c->errtext[__atomic_load_n(&c->last_err, __ATOMIC_ACQUIRE)];
}

void tls_close(struct tls_conn *c)
{
	if (!c)
		return;
	if (!c->wdead) {
		/* close_notify, best effort: one short wait if the socket is full. */
		ERR_clear_error();
		int r = SSL_shutdown(c->ssl);
		if (r < 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE &&
		    tls_wait_fd(c->fd, POLLOUT, 200) == 0)
			SSL_shutdown(c->ssl);
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	close(c->fd);
	pthread_mutex_destroy(&c->ssl_lock);
	pthread_mutex_destroy(&c->rlock);
	pthread_mutex_destroy(&c->wlock);
	free(c->wbuf);
	free(c);
}

int tls_pending(struct tls_conn *c)
{
	pthread_mutex_lock(&c->ssl_lock);
	int n = SSL_has_pending(c->ssl);
	pthread_mutex_unlock(&c->ssl_lock);
	return n;
}
