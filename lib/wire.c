/* wire.c: the frame codec of the replication protocol (see wire.h).  Pure
 * functions, no I/O and no allocation: every field of every message type is
 * encoded and validated here and nowhere else. */
#include "wire.h"
#include "wire_tree_int.h"
#include "byteorder.h"

#include <string.h>
#include <sys/uio.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* ---- field checks shared by encoder and decoder ---- */

static int name_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* A name of n bytes (not NUL-terminated). */
static int check_name(const uint8_t *s, size_t n)
{
	if (n == 0)
		return WIRE_ENAME;
	if (n > WIRE_NAME_MAX)
		return WIRE_ESTRLEN;
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(s[i]))
			return WIRE_ENAME;
	return 0;
}

int wire_name_valid(const char *s)
{
	return s && check_name((const uint8_t *)s, strnlen(s, WIRE_NAME_MAX + 1)) == 0;
}

/* Error text: no NUL, no control characters (it ends up in logs). */
static int check_text(const uint8_t *s, size_t n)
{
	if (n > WIRE_TEXT_MAX)
		return WIRE_ESTRLEN;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return WIRE_ETEXT;
	return 0;
}

static int check_hello(const struct wire_hello *m)
{
	if (m->node_id == 0 || m->ver_min == 0 || m->ver_min > m->ver_max ||
	    (m->flags & ~WIRE_HELLO_FLAGS))
		return WIRE_EFIELD;
	return 0;
}

static int check_op(const struct wire_op *m)
{
	if (m->entry_len == 0 || m->content_len > WIRE_MAX_CONTENT)
		return WIRE_EFIELD;
	if (m->entry_len > WIRE_MAX_PAYLOAD - 12)
		return WIRE_ELEN;
	return 0;
}

static int check_ack(const struct wire_ack *m)
{
	return (m->origin == 0 || m->seq == 0) ? WIRE_EFIELD : 0;
}

/* A store-relative path of n bytes: not absolute, no NUL, no empty, "."
 * or ".." component. */
static int check_relpath(const uint8_t *s, size_t n)
{
	if (n == 0 || !s)
		return WIRE_EFIELD;
	if (n > WIRE_PATH_MAX)
		return WIRE_ESTRLEN;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] == '\0')
			return WIRE_EFIELD;
		if (i < n && s[i] != '/')
			continue;
		size_t len = i - start;
		if (len == 0 || (len == 1 && s[start] == '.') ||
		    (len == 2 && s[start] == '.' && s[start + 1] == '.'))
			return WIRE_EFIELD;
		start = i + 1;
	}
	return 0;
}

static int check_lock(const struct wire_lock *m)
{
	if (m->op != WIRE_LOCK_TAKE && m->op != WIRE_LOCK_GIVE)
		return WIRE_EFIELD;
	return check_relpath((const uint8_t *)m->path, m->path_len);
}

static int check_lock_resp(const struct wire_lock_resp *m)
{
	return m->result > WIRE_LOCK_REFUSED ? WIRE_EFIELD : 0;
}

static int check_space(const struct wire_space *m)
{
	return m->store_avail > m->store_total || m->journal_avail > m->journal_total ? WIRE_EFIELD : 0;
}

/* ---- encoding ---- */

/* Length of a C string bounded by max+1, so an unterminated or overlong
 * string is caught without reading far past its bound. */
static size_t bounded_len(const char *s, size_t max)
{
	return strnlen(s, max + 1);
}

long wire_payload_len(enum wire_type t, const void *msg)
{
	int rc;

	if (t != WIRE_BYE && !msg)
		return WIRE_EINVAL;
	switch (t) {
	case WIRE_HELLO: {
		const struct wire_hello *m = msg;
		size_t n = bounded_len(m->node_name, WIRE_NAME_MAX);
		if ((rc = check_name((const uint8_t *)m->node_name, n)) || (rc = check_hello(m)))
			return rc;
		return (long)(2 + 1 + n + 1 + 1 + 4);
	}
	case WIRE_HELLO_ACK: {
		const struct wire_hello_ack *m = msg;
		size_t n = bounded_len(m->node_name, WIRE_NAME_MAX);
		if ((rc = check_name((const uint8_t *)m->node_name, n)))
			return rc;
		if (m->node_id == 0 || m->proto == 1)
			return WIRE_EFIELD; /* level 1 is said by leaving the byte out */
		return (long)(2 + 1 + n + 8 + (m->proto ? 1 : 0));
	}
	case WIRE_OP: {
		const struct wire_op *m = msg;
		if ((rc = check_op(m)))
			return rc;
		if (!m->entry)
			return WIRE_EINVAL;
		return (long)(4 + (size_t)m->entry_len + 8);
	}
	case WIRE_DATA: {
		const struct wire_data *m = msg;
		if (m->len == 0 || !m->data)
			return WIRE_EFIELD;
		if (m->len > WIRE_MAX_PAYLOAD)
			return WIRE_ELEN;
		return (long)m->len;
	}
	case WIRE_ACK:
		if ((rc = check_ack(msg)))
			return rc;
		return 2 + 8;
	case WIRE_PING:
	case WIRE_PONG:
		return 16;
	case WIRE_ERROR: {
		const struct wire_error *m = msg;
		size_t n = bounded_len(m->text, WIRE_TEXT_MAX);
		if ((rc = check_text((const uint8_t *)m->text, n)))
			return rc;
		if (m->code == 0)
			return WIRE_EFIELD;
		return (long)(4 + 2 + n);
	}
	case WIRE_BYE:
		return 0;
	case WIRE_TREE_REQ: {
		const struct wire_tree_req *m = msg;
		if ((rc = wire_tree_check_req(m)))
			return rc;
		return (long)(2 + 1 + 2 + (size_t)m->dir_len + 2 + (size_t)m->after_len);
	}
	case WIRE_TREE_RESP: {
		const struct wire_tree_resp *m = msg;
		if ((m->body_len && !m->body) || m->body_len > WIRE_MAX_PAYLOAD)
			return m->body_len > WIRE_MAX_PAYLOAD ? WIRE_ELEN : WIRE_EINVAL;
		if ((rc = wire_tree_check_resp(m)))
			return rc;
		if (37 + (size_t)m->body_len > WIRE_MAX_PAYLOAD)
			return WIRE_ELEN;
		return (long)(37 + (size_t)m->body_len);
	}
	case WIRE_LOCK: {
		const struct wire_lock *m = msg;
		if ((rc = check_lock(m)))
			return rc;
		return (long)(8 + 1 + 2 + m->path_len);
	}
	case WIRE_LOCK_RESP:
		if ((rc = check_lock_resp(msg)))
			return rc;
		return 8 + 1;
	case WIRE_SPACE:
		if ((rc = check_space(msg)))
			return rc;
		return 4 * 8;
	}
	return WIRE_ETYPE;
}

/* Write the payload of a small message type into p (already validated). */
static void encode_small(enum wire_type t, const void *msg, uint8_t *p)
{
	switch (t) {
	case WIRE_HELLO: {
		const struct wire_hello *m = msg;
		size_t n = strlen(m->node_name);
		put16(p, m->node_id);
		p[2] = (uint8_t)n;
		memcpy(p + 3, m->node_name, n);
		p += 3 + n;
		p[0] = m->ver_min;
		p[1] = m->ver_max;
		put32(p + 2, m->flags);
		break;
	}
	case WIRE_HELLO_ACK: {
		const struct wire_hello_ack *m = msg;
		size_t n = strlen(m->node_name);
		put16(p, m->node_id);
		p[2] = (uint8_t)n;
		memcpy(p + 3, m->node_name, n);
		put64(p + 3 + n, m->resume_seq);
		if (m->proto)
			p[3 + n + 8] = m->proto;
		break;
	}
	case WIRE_ACK: {
		const struct wire_ack *m = msg;
		put16(p, m->origin);
		put64(p + 2, m->seq);
		break;
	}
	case WIRE_PING:
	case WIRE_PONG: {
		const struct wire_ping *m = msg;
		put64(p, m->nonce);
		put64(p + 8, m->hlc);
		break;
	}
	case WIRE_ERROR: {
		const struct wire_error *m = msg;
		size_t n = strlen(m->text);
		put32(p, m->code);
		put16(p + 4, (uint16_t)n);
		memcpy(p + 6, m->text, n);
		break;
	}
	case WIRE_LOCK_RESP: {
		const struct wire_lock_resp *m = msg;
		put64(p, m->id);
		p[8] = m->result;
		break;
	}
	case WIRE_SPACE: {
		const struct wire_space *m = msg;
		put64(p, m->store_total);
		put64(p + 8, m->store_avail);
		put64(p + 16, m->journal_total);
		put64(p + 24, m->journal_avail);
		break;
	}
	case WIRE_OP:
	case WIRE_DATA:
	case WIRE_BYE:
	case WIRE_LOCK: /* fixed part in wire_encode_iov, the path by reference */
	case WIRE_TREE_REQ:
	case WIRE_TREE_RESP:
		break;
	}
}

int wire_encode_iov(enum wire_type t, const void *msg, uint8_t scratch[WIRE_SCRATCH],
		    struct iovec iov[3])
{
	long len = wire_payload_len(t, msg);
	XXH3_state_t st;
	int n;

	if (len < 0)
		return (int)len;
	scratch[0] = 'M';
	scratch[1] = 'H';
	scratch[2] = WIRE_VERSION;
	scratch[3] = (uint8_t)t;
	put32(scratch + 4, (uint32_t)len);
	if (t == WIRE_OP) {
		const struct wire_op *m = msg;
		put32(scratch + WIRE_HDR_LEN, m->entry_len);
		put64(scratch + WIRE_HDR_LEN + 4, m->content_len);
		iov[0] = (struct iovec){ scratch, WIRE_HDR_LEN + 4 };
		iov[1] = (struct iovec){ (void *)m->entry, m->entry_len };
		iov[2] = (struct iovec){ scratch + WIRE_HDR_LEN + 4, 8 };
		n = 3;
	} else if (t == WIRE_DATA) {
		const struct wire_data *m = msg;
		iov[0] = (struct iovec){ scratch, WIRE_HDR_LEN };
		iov[1] = (struct iovec){ (void *)m->data, m->len };
		n = 2;
	} else if (t == WIRE_LOCK) {
		const struct wire_lock *m = msg;
		put64(scratch + WIRE_HDR_LEN, m->id);
		scratch[WIRE_HDR_LEN + 8] = m->op;
		put16(scratch + WIRE_HDR_LEN + 9, m->path_len);
		iov[0] = (struct iovec){ scratch, WIRE_HDR_LEN + 11 };
		iov[1] = (struct iovec){ (void *)m->path, m->path_len };
		n = 2;
	} else if (t == WIRE_TREE_REQ) {
		/* fixed fields and the dir length, the dir, the after name */
		const struct wire_tree_req *m = msg;
		uint8_t *p = scratch + WIRE_HDR_LEN, *q = scratch + WIRE_HDR_LEN + 16;
		put16(p, m->node);
		p[2] = m->flags;
		put16(p + 3, m->dir_len);
		put16(q, m->after_len);
		if (m->after_len)
			memcpy(q + 2, m->after, m->after_len);
		iov[0] = (struct iovec){ scratch, WIRE_HDR_LEN + 5 };
		iov[1] = (struct iovec){ m->dir_len ? (void *)m->dir : (void *)p, m->dir_len };
		iov[2] = (struct iovec){ q, 2 + (size_t)m->after_len };
		n = 3;
	} else if (t == WIRE_TREE_RESP) {
		const struct wire_tree_resp *m = msg;
		uint8_t *p = scratch + WIRE_HDR_LEN;
		put16(p, m->node);
		p[2] = m->flags;
		memcpy(p + 3, m->digest, 16);
		put64(p + 19, m->count);
		put64(p + 27, m->nchild);
		put16(p + 35, m->n);
		iov[0] = (struct iovec){ scratch, WIRE_HDR_LEN + 37 };
		iov[1] = (struct iovec){ m->body_len ? (void *)m->body : (void *)p, m->body_len };
		n = 2;
	} else {
		encode_small(t, msg, scratch + WIRE_HDR_LEN);
		iov[0] = (struct iovec){ scratch, WIRE_HDR_LEN + (size_t)len };
		n = 1;
	}
	/* Checksum: header bytes 0..7, then the payload in its pieces. */
	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, scratch, 8);
	XXH3_64bits_update(&st, scratch + WIRE_HDR_LEN, iov[0].iov_len - WIRE_HDR_LEN);
	for (int i = 1; i < n; i++)
		XXH3_64bits_update(&st, iov[i].iov_base, iov[i].iov_len);
	put64(scratch + 8, XXH3_64bits_digest(&st));
	return n;
}

long wire_encode(enum wire_type t, const void *msg, uint8_t *buf, size_t cap)
{
	uint8_t scratch[WIRE_SCRATCH];
	struct iovec iov[3];
	size_t total = 0;
	int n = wire_encode_iov(t, msg, scratch, iov);

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (!buf || cap < total)
		return WIRE_ESPACE;
	total = 0;
	for (int i = 0; i < n; i++) {
		memcpy(buf + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	return (long)total;
}

static uint64_t frame_csum(const uint8_t h8[8], const uint8_t *payload, size_t len)
{
	XXH3_state_t st;

	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, h8, 8);
	if (len)
		XXH3_64bits_update(&st, payload, len);
	return XXH3_64bits_digest(&st);
}

/* ---- decoding ---- */

int wire_decode_header(const uint8_t h[WIRE_HDR_LEN], struct wire_hdr *out)
{
	uint32_t len;

	if (h[0] != 'M' || h[1] != 'H')
		return WIRE_EMAGIC;
	if (h[2] != WIRE_VERSION)
		return WIRE_EVERSION;
	if (h[3] < 1 || h[3] > WIRE_TYPE_MAX)
		return WIRE_ETYPE;
	len = get32(h + 4);
	if (len > WIRE_MAX_PAYLOAD)
		return WIRE_ELEN;
	out->version = h[2];
	out->type = (enum wire_type)h[3];
	out->len = len;
	out->csum = get64(h + 8);
	return 0;
}

static int rd_u8(struct rd *r, uint8_t *v)
{
	if (need(r, 1))
		return WIRE_ETRUNC;
	*v = *take(r, 1);
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (need(r, 2))
		return WIRE_ETRUNC;
	*v = get16(take(r, 2));
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (need(r, 4))
		return WIRE_ETRUNC;
	*v = get32(take(r, 4));
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	if (need(r, 8))
		return WIRE_ETRUNC;
	*v = get64(take(r, 8));
	return 0;
}

/* A node name: u8 length, then the bytes; copied NUL-terminated to out. */
static int rd_name(struct rd *r, char out[WIRE_NAME_MAX + 1])
{
	uint8_t n;
	int rc;

	if ((rc = rd_u8(r, &n)))
		return rc;
	if (n > WIRE_NAME_MAX)
		return WIRE_ESTRLEN;
	if (need(r, n))
		return WIRE_ETRUNC;
	if ((rc = check_name(r->p, n)))
		return rc;
	memcpy(out, take(r, n), n);
	out[n] = '\0';
	return 0;
}

static int decode_payload(enum wire_type t, struct rd *r, struct wire_msg *m)
{
	int rc;

	switch (t) {
	case WIRE_HELLO: {
		struct wire_hello *h = &m->u.hello;
		if ((rc = rd_u16(r, &h->node_id)) || (rc = rd_name(r, h->node_name)) ||
		    (rc = rd_u8(r, &h->ver_min)) || (rc = rd_u8(r, &h->ver_max)) ||
		    (rc = rd_u32(r, &h->flags)))
			return rc;
		return check_hello(h);
	}
	case WIRE_HELLO_ACK: {
		struct wire_hello_ack *h = &m->u.hello_ack;
		if ((rc = rd_u16(r, &h->node_id)) || (rc = rd_name(r, h->node_name)) ||
		    (rc = rd_u64(r, &h->resume_seq)))
			return rc;
		if (r->left && ((rc = rd_u8(r, &h->proto)) || h->proto < 2))
			return rc ? rc : WIRE_EFIELD; /* level 1 leaves the byte out */
		return h->node_id == 0 ? WIRE_EFIELD : 0;
	}
	case WIRE_OP: {
		struct wire_op *o = &m->u.op;
		if ((rc = rd_u32(r, &o->entry_len)))
			return rc;
		if (o->entry_len > WIRE_MAX_PAYLOAD - 12)
			return WIRE_ELEN;
		if (need(r, o->entry_len))
			return WIRE_ETRUNC;
		o->entry = take(r, o->entry_len);
		if ((rc = rd_u64(r, &o->content_len)))
			return rc;
		return check_op(o);
	}
	case WIRE_DATA:
		if (r->left == 0)
			return WIRE_EFIELD;
		m->u.data.len = (uint32_t)r->left;
		m->u.data.data = take(r, r->left);
		return 0;
	case WIRE_ACK:
		if ((rc = rd_u16(r, &m->u.ack.origin)) || (rc = rd_u64(r, &m->u.ack.seq)))
			return rc;
		return check_ack(&m->u.ack);
	case WIRE_PING:
	case WIRE_PONG:
		if ((rc = rd_u64(r, &m->u.ping.nonce)) || (rc = rd_u64(r, &m->u.ping.hlc)))
			return rc;
		return 0;
	case WIRE_ERROR: {
		struct wire_error *e = &m->u.error;
		uint16_t n;
		if ((rc = rd_u32(r, &e->code)) || (rc = rd_u16(r, &n)))
			return rc;
		if (n > WIRE_TEXT_MAX)
			return WIRE_ESTRLEN;
		if (need(r, n))
			return WIRE_ETRUNC;
		if ((rc = check_text(r->p, n)))
			return rc;
		memcpy(e->text, take(r, n), n);
		e->text[n] = '\0';
		return e->code == 0 ? WIRE_EFIELD : 0;
	}
	case WIRE_BYE:
		return 0;
	case WIRE_TREE_REQ: {
		struct wire_tree_req *q = &m->u.tree_req;
		if ((rc = rd_u16(r, &q->node)) || (rc = rd_u8(r, &q->flags)) || (rc = rd_u16(r, &q->dir_len)))
			return rc;
		if (q->dir_len > WIRE_TREE_DIR_MAX)
			return WIRE_ESTRLEN;
		if (need(r, q->dir_len))
			return WIRE_ETRUNC;
		q->dir = (const char *)take(r, q->dir_len);
		if ((rc = rd_u16(r, &q->after_len)))
			return rc;
		if (q->after_len > WIRE_TREE_NAME_MAX)
			return WIRE_ESTRLEN;
		if (need(r, q->after_len))
			return WIRE_ETRUNC;
		q->after = (const char *)take(r, q->after_len);
		return wire_tree_check_req(q);
	}
	case WIRE_TREE_RESP: {
		struct wire_tree_resp *a = &m->u.tree_resp;
		if ((rc = rd_u16(r, &a->node)) || (rc = rd_u8(r, &a->flags)))
			return rc;
		if (need(r, 16))
			return WIRE_ETRUNC;
		memcpy(a->digest, take(r, 16), 16);
		if ((rc = rd_u64(r, &a->count)) || (rc = rd_u64(r, &a->nchild)) || (rc = rd_u16(r, &a->n)))
			return rc;
		a->body_len = (uint32_t)r->left;
		a->body = take(r, r->left);
		return wire_tree_check_resp(a);
	}
	case WIRE_LOCK: {
		struct wire_lock *l = &m->u.lock;
		if ((rc = rd_u64(r, &l->id)) || (rc = rd_u8(r, &l->op)) || (rc = rd_u16(r, &l->path_len)))
			return rc;
		if (l->path_len > WIRE_PATH_MAX)
			return WIRE_ESTRLEN;
		if (need(r, l->path_len))
			return WIRE_ETRUNC;
		l->path = (const char *)take(r, l->path_len);
		return check_lock(l);
	}
	case WIRE_LOCK_RESP:
		if ((rc = rd_u64(r, &m->u.lock_resp.id)) || (rc = rd_u8(r, &m->u.lock_resp.result)))
			return rc;
		return check_lock_resp(&m->u.lock_resp);
	case WIRE_SPACE: {
		struct wire_space *s = &m->u.space;
		if ((rc = rd_u64(r, &s->store_total)) || (rc = rd_u64(r, &s->store_avail)) ||
		    (rc = rd_u64(r, &s->journal_total)) || (rc = rd_u64(r, &s->journal_avail)))
			return rc;
		return check_space(s);
	}
	}
	return WIRE_ETYPE;
}

int wire_decode(const struct wire_hdr *h, const uint8_t *payload, struct wire_msg *out)
{
	uint8_t h8[8];
	struct rd r;
	int rc;

	if (h->version != WIRE_VERSION)
		return WIRE_EVERSION;
	if (h->type < 1 || h->type > WIRE_TYPE_MAX)
		return WIRE_ETYPE;
	if (h->len > WIRE_MAX_PAYLOAD)
		return WIRE_ELEN;
	if (h->len && !payload)
		return WIRE_EINVAL;
	h8[0] = 'M';
	h8[1] = 'H';
	h8[2] = h->version;
	h8[3] = (uint8_t)h->type;
	put32(h8 + 4, h->len);
	if (frame_csum(h8, payload, h->len) != h->csum)
		return WIRE_ECSUM;
	memset(out, 0, sizeof(*out));
	out->type = h->type;
	r.p = payload;
	r.left = h->len;
	if ((rc = decode_payload(h->type, &r, out)))
		return rc;
	return r.left ? WIRE_ETRAILING : 0;
}

int wire_version_pick(const struct wire_hello *h)
{
	if (h->ver_min > WIRE_PROTO || h->ver_max < 1 || h->ver_min > h->ver_max)
		return WIRE_EVERSION;
	return h->ver_max < WIRE_PROTO ? h->ver_max : WIRE_PROTO;
}

/* ---- names ---- */

static const char *const type_names[WIRE_TYPE_MAX + 1] = {
	[WIRE_HELLO] = "HELLO", [WIRE_HELLO_ACK] = "HELLO_ACK", [WIRE_OP] = "OP",
	[WIRE_DATA] = "DATA",   [WIRE_ACK] = "ACK",             [WIRE_PING] = "PING",
	[WIRE_PONG] = "PONG",   [WIRE_ERROR] = "ERROR",         [WIRE_BYE] = "BYE",
	[WIRE_LOCK] = "LOCK",   [WIRE_LOCK_RESP] = "LOCK_RESP",
	[WIRE_TREE_REQ] = "TREE_REQ", [WIRE_TREE_RESP] = "TREE_RESP", [WIRE_SPACE] = "SPACE",
};

const char *wire_type_name(enum wire_type t)
{
	if ((int)t < 1 || t > WIRE_TYPE_MAX || !type_names[t])
		return "unknown";
	return type_names[t];
}

static const struct {
	int code;
	const char *text;
} errors[] = {
	{ 0, "success" },
	{ WIRE_EMAGIC, "bad frame magic (not an mhafs peer)" },
	{ WIRE_EVERSION, "unsupported protocol version" },
	{ WIRE_ETYPE, "unknown message type" },
	{ WIRE_ELEN, "frame or field length over the maximum" },
	{ WIRE_ECSUM, "frame checksum mismatch" },
	{ WIRE_ETRUNC, "payload truncated" },
	{ WIRE_ETRAILING, "trailing bytes after the last field" },
	{ WIRE_ESTRLEN, "string longer than allowed" },
	{ WIRE_ENAME, "invalid node name" },
	{ WIRE_ETEXT, "NUL or control character in text" },
	{ WIRE_EFIELD, "field value out of range" },
	{ WIRE_ESPACE, "buffer too small for the frame" },
	{ WIRE_EINVAL, "invalid argument" },
	{ WIRE_EIO, "connection error" },
	{ WIRE_ECLOSED, "peer closed the connection" },
	{ WIRE_ETIMEDOUT, "timed out waiting for a frame" },
	{ WIRE_EBROKEN, "connection unusable after an earlier error" },
};

const char *wire_strerror(int code)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == code)
			return errors[i].text;
	return "unknown wire error";
}
