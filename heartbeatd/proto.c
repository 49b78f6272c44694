/* proto.c: heartbeat packet encoding, HMAC-SHA256 authentication (OpenSSL)
 * and the replay guard.  See proto.h for the wire layout. */
#include "proto.h"
#include "byteorder.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int hb_key_load(const char *path, struct hb_key *key, char *err, size_t errlen)
{
	uint8_t buf[HB_KEY_MAX + 1];
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		seterr(err, errlen, "cluster key file %s: %s", path, strerror(e));
		return -e;
	}
	for (;;) {
		ssize_t got = read(fd, buf + n, sizeof(buf) - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			seterr(err, errlen, "cluster key file %s: %s", path, strerror(e));
			return -e;
		}
		if (got == 0 || n + (size_t)got == sizeof(buf)) {
			n += (size_t)got;
			break;
		}
		n += (size_t)got;
	}
	close(fd);
	if (n > HB_KEY_MAX) {
		seterr(err, errlen, "cluster key file %s: longer than %d bytes", path, HB_KEY_MAX);
		return -EINVAL;
	}
	while (n > 0 && isspace(buf[n - 1]))
		n--;
	if (n < HB_KEY_MIN) {
		seterr(err, errlen, "cluster key file %s: key shorter than %d bytes "
		       "(make one with: openssl rand -hex 32 > %s)", path, HB_KEY_MIN, path);
		return -EINVAL;
	}
	memcpy(key->bytes, buf, n);
	key->len = n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static int mac(const struct hb_key *key, const uint8_t *p, uint8_t out[HB_MAC_LEN])
{
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, p, HB_HDR_LEN, out, &len) ||
	    len != HB_MAC_LEN)
		return -1;
	return 0;
}

int hb_encode(const struct hb_msg *m, const struct hb_key *key, uint8_t *out)
{
	memcpy(out, HB_MAGIC, 4);
	out[4] = HB_VERSION;
	out[5] = m->type;
	out[6] = m->state;
	out[7] = m->flags;
	put16(out + 8, m->node_id);
	put16(out + 10, 0);
	put64(out + 12, m->epoch);
	put64(out + 20, m->counter);
	put64(out + 28, m->time_ms);
	if (mac(key, out, out + HB_HDR_LEN) < 0)
		return -1;
	return HB_PKT_LEN;
}

enum hb_decode_result hb_decode(const uint8_t *p, size_t n, const struct hb_key *key,
				struct hb_msg *m)
{
	uint8_t want[HB_MAC_LEN];
	if (n != HB_PKT_LEN)
		return HB_E_SHORT;
	if (memcmp(p, HB_MAGIC, 4))
		return HB_E_MAGIC;
	if (p[4] != HB_VERSION)
		return HB_E_VERSION;
	if (mac(key, p, want) < 0 || CRYPTO_memcmp(want, p + HB_HDR_LEN, HB_MAC_LEN))
		return HB_E_MAC;
	m->type = p[5];
	m->state = p[6];
	m->flags = p[7];
	m->node_id = get16(p + 8);
	m->epoch = get64(p + 12);
	m->counter = get64(p + 20);
	m->time_ms = get64(p + 28);
	if ((m->type != HB_T_ALIVE && m->type != HB_T_LEAVING) || m->node_id == 0 ||
	    get16(p + 10) != 0 || (m->flags & ~(HB_F_HOLDS_VIP | HB_F_HEALTHY)))
		return HB_E_FIELD;
	return HB_OK;
}

const char *hb_decode_str(enum hb_decode_result r)
{
	switch (r) {
	case HB_OK: return "ok";
	case HB_E_SHORT: return "wrong length";
	case HB_E_MAGIC: return "not a heartbeat";
	case HB_E_VERSION: return "unknown protocol version";
	case HB_E_MAC: return "bad HMAC (forged, or another cluster key)";
	case HB_E_FIELD: return "field out of range";
	}
	return "?";
}

int hb_seq_accept(struct hb_seq *seq, const struct hb_msg *m)
{
	if (seq->valid && (m->epoch < seq->epoch ||
			   (m->epoch == seq->epoch && m->counter <= seq->counter)))
		return 0;
	seq->valid = 1;
	seq->epoch = m->epoch;
	seq->counter = m->counter;
	return 1;
}

int hb_seq_accept_silent(struct hb_seq *seq, const struct hb_msg *m, int peer_silent)
{
	if (hb_seq_accept(seq, m))
		return 1;
	if (!peer_silent || m->epoch >= seq->epoch)
		return 0;
	seq->epoch = m->epoch;
	seq->counter = m->counter;
	return 2;
}
