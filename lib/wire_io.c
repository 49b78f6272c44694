/* wire_io.c: whole frames over a TLS connection.  wire_send encodes and
 * writes one frame as a unit (the OP entry and DATA bytes are not copied
 * into a frame buffer); wire_recv reads exactly one frame into the caller's
 * buffer and validates it with the codec in wire.c. */
#include "wire.h"

#include <errno.h>

#include "tls.h"

static int io_code(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case -ETIMEDOUT:
		return WIRE_ETIMEDOUT;
	case -ENOTCONN:
		return WIRE_ECLOSED;
	case -EPIPE:
		return WIRE_EBROKEN;
	default:
		return WIRE_EIO;
	}
}

int wire_send(struct tls_conn *c, enum wire_type t, const void *msg)
{
	uint8_t scratch[WIRE_SCRATCH];
	struct iovec iov[3];
	int n;

	if (!c)
		return WIRE_EINVAL;
	n = wire_encode_iov(t, msg, scratch, iov);
	if (n < 0)
		return n;
	return io_code(tls_writev_full(c, iov, n));
}

int wire_recv(struct tls_conn *c, struct wire_msg *out, uint8_t *buf, size_t cap)
{
	uint8_t h[WIRE_HDR_LEN];
	struct wire_hdr hdr;
	int rc;

	if (!c || !out)
		return WIRE_EINVAL;
	rc = tls_read_full(c, h, sizeof(h));
	if (rc)
		return io_code(rc);
	/* From here the stream is inside a frame: any failure leaves it out of
	 * step, so the read side is closed for good. */
	rc = wire_decode_header(h, &hdr);
	if (rc == 0 && (size_t)hdr.len > cap)
		rc = WIRE_ESPACE;
	if (rc == 0 && hdr.len) {
		int r = tls_read_full(c, buf, hdr.len);
		if (r)
			rc = (r == -EPIPE) ? WIRE_EBROKEN : WIRE_EIO;
	}
	if (rc == 0)
		rc = wire_decode(&hdr, buf, out);
	if (rc)
		tls_conn_fail_read(c);
	return rc;
}
