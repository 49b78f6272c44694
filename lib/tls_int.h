/* tls_int.h: what tls.c (contexts, handshake) and tls_io.c (I/O) share:
 * the connection structure and the wait helpers.  Not for other code. */
#ifndef MHAFS_TLS_INT_H
#define MHAFS_TLS_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "wire.h"

#define TLS_WBUF 16384 /* one full TLS record of plaintext */

struct tls_conn {
	SSL *ssl;
	int fd;
	int eof;                 /* our socket BIO saw end of file */
	int timeout_ms;          /* idle timeout of reads and writes, < 0: none */
	int rdead, wdead;        /* read / write side unusable */
	pthread_mutex_t ssl_lock; /* around every SSL_* call on ssl */
	pthread_mutex_t rlock, wlock;
	uint8_t *wbuf;           /* coalescing buffer for tls_writev_full */
	/* set by the verify callback during the handshake */
	long verr;
	char seen_name[128];
	char peer[WIRE_NAME_MAX + 1];
	char errtext[2][256];    /* last read error, last write error */
	int last_err;            /* which of them is newer */
};

/* The text of the first OpenSSL error in this thread's queue, in buf. */
const char *tls_ossl_reason(char *buf, size_t len);
/* Monotonic milliseconds. */
int64_t tls_now_ms(void);
/* Wait for fd to be ready for events, at most ms (< 0: forever).  Returns 0,
 * -ETIMEDOUT, or -errno. */
int tls_wait_fd(int fd, short events, int ms);

#endif
