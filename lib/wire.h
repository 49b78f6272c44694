/* wire.h: the replication wire protocol.  Frames (a 16-byte header and a
 * payload) and every message type are encoded and validated here, in one
 * place; the codec (wire.c) is pure (no I/O) so it can be fuzzed, and
 * wire_io.c reads and writes whole frames over a TLS connection (tls.h).
 *
 * Header:  "MH" | version u8 | type u8 | payload length u32 BE |
 *          xxh3-64 (u64 BE) of header bytes 0..7 followed by the payload.
 * Payload: fixed-size integers are big-endian; strings are a length prefix
 * then the bytes, no NUL, no terminator.  A payload must be exactly as long
 * as its fields (no trailing bytes); the encoding is canonical, so a frame
 * that decodes re-encodes to the same bytes. */
#ifndef MHAFS_WIRE_H
#define MHAFS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define WIRE_VERSION 1   /* frame format: the header's version byte */
/* Protocol levels, agreed in HELLO (ver_min..ver_max) and HELLO_ACK:
 *   1  the first release;
 *   2  an UNLINK entry may carry path2, where a moved message went, and
 *      the flag JOP_UNLINK_RESTATED (the reconciliation walk's);
 *   3  the sender tells the peer its free space in WIRE_SPACE frames;
 *   4  the sender follows each entry someone waits on (a commit, a lock
 *      grant) with a PING, so the receiver may hold the others back to
 *      share one sync and acknowledgement.
 * A node speaks the highest level both know, so a pair mid-upgrade keeps
 * replicating; the frame format stays WIRE_VERSION at every level. */
#define WIRE_PROTO 4
#define WIRE_HDR_LEN 16
#define WIRE_MAX_PAYLOAD (1024u * 1024u)
#define WIRE_NAME_MAX 63          /* node name: [A-Za-z0-9._-]{1,63} */
#define WIRE_TEXT_MAX 256         /* WIRE_ERROR message */
#define WIRE_MAX_CONTENT (UINT64_C(1) << 40) /* content_len of one WIRE_OP */

enum wire_type {
	WIRE_HELLO = 1,      /* first frame of the connecting side */
	WIRE_HELLO_ACK = 2,  /* answer to HELLO */
	WIRE_OP = 3,         /* one journal entry, then content_len bytes of DATA */
	WIRE_DATA = 4,       /* raw content bytes (1..WIRE_MAX_PAYLOAD) */
	WIRE_ACK = 5,        /* (origin, seq) applied durably */
	WIRE_PING = 6,
	WIRE_PONG = 7,
	WIRE_ERROR = 8,      /* the sender is about to close: why */
	WIRE_BYE = 9,        /* orderly end of the stream, empty payload */
	WIRE_TREE_REQ = 10,  /* reconciliation: one node of the peer's digest tree */
	WIRE_TREE_RESP = 11, /* answer to TREE_REQ */
	WIRE_LOCK = 12,      /* take or give back a cluster-wide dotlock (sender -> peer) */
	WIRE_LOCK_RESP = 13, /* the peer's answer to a WIRE_LOCK take */
	WIRE_SPACE = 14,     /* the sender's free space (level 3 and up) */
};
#define WIRE_TYPE_MAX 14

/* Error codes: every function returns 0 (or a length) or one of these. */
enum {
	WIRE_EMAGIC = -1,    /* header does not start with "MH" */
	WIRE_EVERSION = -2,  /* frame version is not WIRE_VERSION */
	WIRE_ETYPE = -3,     /* unknown message type */
	WIRE_ELEN = -4,      /* payload length over WIRE_MAX_PAYLOAD */
	WIRE_ECSUM = -5,     /* checksum mismatch */
	WIRE_ETRUNC = -6,    /* payload shorter than its fields */
	WIRE_ETRAILING = -7, /* bytes after the last field */
	WIRE_ESTRLEN = -8,   /* string longer than its bound */
	WIRE_ENAME = -9,     /* node name not [A-Za-z0-9._-]{1,63} */
	WIRE_ETEXT = -10,    /* NUL or control character in a text field */
	WIRE_EFIELD = -11,   /* a field's value is out of range */
	WIRE_ESPACE = -12,   /* the caller's buffer is too small */
	WIRE_EINVAL = -13,   /* bad argument to an encoder */
	WIRE_EIO = -14,      /* TLS or socket error (the connection is dead) */
	WIRE_ECLOSED = -15,  /* the peer closed the connection between frames */
	WIRE_ETIMEDOUT = -16,/* no frame started within the connection's timeout */
	WIRE_EBROKEN = -17,  /* an earlier error left the receive side unusable */
};

/* WIRE_HELLO flags (role/flags u32).  Bits outside WIRE_HELLO_FLAGS are
 * refused by the decoder: a new flag needs a new bit here. */
#define WIRE_HELLO_F_SENDER   0x1u /* the sender streams its journal on this connection */
#define WIRE_HELLO_F_RECEIVER 0x2u /* the sender wants the peer's journal on this connection */
#define WIRE_HELLO_F_EMPTY    0x4u /* the sender's store is empty (needs a full sync) */
#define WIRE_HELLO_F_ASYNC    0x8u /* the sender runs in async commit mode */
#define WIRE_HELLO_FLAGS      0xfu

/* Well-known WIRE_ERROR codes (any non-zero code is valid on the wire). */
enum {
	WIRE_ERR_PROTOCOL = 1, /* malformed or unexpected frame */
	WIRE_ERR_VERSION = 2,  /* no common protocol version */
	WIRE_ERR_PEER = 3,     /* wrong node id or name */
	WIRE_ERR_PATH = 4,     /* a path outside the store was refused */
	WIRE_ERR_APPLY = 5,    /* the operation could not be applied */
	WIRE_ERR_SHUTDOWN = 6, /* the node is stopping */
};

struct wire_hello {
	uint16_t node_id;                   /* 1..65535 */
	char node_name[WIRE_NAME_MAX + 1];  /* NUL-terminated */
	uint8_t ver_min, ver_max;           /* 1 <= ver_min <= ver_max */
	uint32_t flags;                     /* WIRE_HELLO_F_* */
};

struct wire_hello_ack {
	uint16_t node_id;
	char node_name[WIRE_NAME_MAX + 1];
	uint64_t resume_seq; /* last seq of the HELLO sender's origin applied durably (0: none) */
	uint8_t proto;       /* level picked, 2..255; 0 means 1.  Encoded (one byte
	                      * after resume_seq) only when not 0, so a level-1
	                      * node, which answers without it, is understood, and
	                      * is sent it only if its HELLO offered level 2 */
};

/* Pointers of a decoded OP or DATA point into the payload buffer given to
 * wire_decode / wire_recv and live as long as it does. */
struct wire_op {
	const uint8_t *entry;  /* jentry_encode() bytes, opaque here */
	uint32_t entry_len;    /* 1 .. WIRE_MAX_PAYLOAD - 12 */
	uint64_t content_len;  /* DATA bytes that follow, <= WIRE_MAX_CONTENT */
};

struct wire_data {
	const uint8_t *data;
	uint32_t len;          /* 1 .. WIRE_MAX_PAYLOAD */
};

struct wire_ack {
	uint16_t origin;       /* 1..65535 */
	uint64_t seq;          /* >= 1 */
};

struct wire_ping {             /* PING and PONG */
	uint64_t nonce;
	uint64_t hlc;
};

/* WIRE_LOCK: the requesting node asks its peer to hold the same dotlock
 * (a store-relative path, e.g. "u/Maildir/dovecot-uidlist.lock") on its
 * side, or to let it go.  Only a take is answered. */
#define WIRE_LOCK_TAKE    1u
#define WIRE_LOCK_GIVE    2u
#define WIRE_PATH_MAX     4095u
struct wire_lock {
	uint64_t id;           /* the requester's handle, echoed in the answer */
	uint8_t op;            /* WIRE_LOCK_TAKE or WIRE_LOCK_GIVE */
	uint16_t path_len;     /* 1 .. WIRE_PATH_MAX */
	const char *path;      /* relative, no "", "." or ".." component, no NUL;
				* not NUL-terminated (points into the frame) */
};

#define WIRE_LOCK_GRANTED 0u   /* the peer holds it for us */
#define WIRE_LOCK_BUSY    1u   /* someone there holds it: try again later */
#define WIRE_LOCK_REFUSED 2u   /* not a lock the peer will take (bad path) */
struct wire_lock_resp {
	uint64_t id;
	uint8_t result;        /* WIRE_LOCK_GRANTED / _BUSY / _REFUSED */
};

/* WIRE_SPACE: the sending node's store (backing file system) and journal
 * (state_dir's file system), in bytes, as statvfs gives them: total size
 * and room left for unprivileged writers; avail <= total.  Sent only on a
 * stream whose agreed level is 3 or more, so an older peer never sees one. */
struct wire_space {
	uint64_t store_total, store_avail;
	uint64_t journal_total, journal_avail;
};

struct wire_error {
	uint32_t code;                      /* non-zero, WIRE_ERR_* or other */
	char text[WIRE_TEXT_MAX + 1];       /* printable, NUL-terminated */
};

/* Reconciliation (mhafs/reconcile.h).  A digest-tree node id is
 * level << 12 | prefix with level 0..3 and prefix < 16^level; a directory
 * is "" (the top) or a store-relative path without "." or ".." parts; an
 * entry name is 1..255 bytes without '/' or NUL, not "." or "..".  Decoded
 * strings point into the payload and are NOT NUL-terminated. */
#define WIRE_TREE_DIR_MAX 4096
#define WIRE_TREE_NAME_MAX 255
#define WIRE_TREE_F_ENTRIES 0x1u /* REQ/RESP: catalog rows, not bucket digests */
#define WIRE_TREE_F_MORE    0x2u /* RESP (entries): rows are left after the last */

struct wire_tree_req {
	uint16_t node;
	uint8_t flags;           /* WIRE_TREE_F_ENTRIES */
	const char *dir;         /* dir_len bytes */
	uint16_t dir_len;
	const char *after;       /* entries after this name; after_len 0: from the first */
	uint16_t after_len;
};

/* The node's own digest and count, then n items in body: bucket digests
 * (n <= 16, index strictly increasing, count > 0) or catalog rows (names
 * strictly increasing); build body with wire_tree_put_*, read it back
 * with wire_tree_next_* (the decoder has validated every item). */
struct wire_tree_resp {
	uint16_t node;
	uint8_t flags;           /* WIRE_TREE_F_ENTRIES | WIRE_TREE_F_MORE */
	uint8_t digest[16];
	uint64_t count;
	uint64_t nchild;         /* node 0: the directory's direct children (<= count); else 0 */
	uint16_t n;
	const uint8_t *body;
	uint32_t body_len;
};

struct wire_tree_bucket {
	uint8_t idx;             /* 0..15 */
	uint8_t digest[16];
	uint64_t count;          /* >= 1 */
};

#define WIRE_TE_DELETED 0x1u /* a tombstone */
#define WIRE_TE_HASH    0x2u /* hash is set */
#define WIRE_TE_SUB     0x4u /* sub_*: the subtree digest (live directories only) */
struct wire_tree_entry {
	char name[WIRE_TREE_NAME_MAX + 1]; /* NUL-terminated */
	char kind;               /* d f l c b p s; a live row's mode has that type */
	uint8_t flags;           /* WIRE_TE_* */
	uint32_t mode;
	int64_t size, mtime_ns;
	uint64_t hlc;
	uint16_t origin;
	uint8_t hash[16];
	uint8_t sub_digest[16];
	uint64_t sub_count;
	uint64_t sub_nchild;     /* the directory's direct children, <= sub_count */
};

/* Append one item to a TREE_RESP body: the bytes written, WIRE_ESPACE, or
 * the code of an invalid item. */
long wire_tree_put_bucket(uint8_t *buf, size_t cap, const struct wire_tree_bucket *b);
long wire_tree_put_entry(uint8_t *buf, size_t cap, const struct wire_tree_entry *e);
/* The item at *pos of a decoded TREE_RESP body (advancing *pos): 1, or 0
 * at the end, or a WIRE_E* code for a body that was not decoded. */
int wire_tree_next_bucket(const struct wire_tree_resp *m, size_t *pos, struct wire_tree_bucket *b);
int wire_tree_next_entry(const struct wire_tree_resp *m, size_t *pos, struct wire_tree_entry *e);

struct wire_hdr {
	uint8_t version;
	enum wire_type type;
	uint32_t len;          /* payload length */
	uint64_t csum;
};

struct wire_msg {
	enum wire_type type;
	union {
		struct wire_hello hello;
		struct wire_hello_ack hello_ack;
		struct wire_op op;
		struct wire_data data;
		struct wire_ack ack;
		struct wire_ping ping;   /* WIRE_PING and WIRE_PONG */
		struct wire_error error;
		struct wire_tree_req tree_req;
		struct wire_tree_resp tree_resp;
		struct wire_lock lock;
		struct wire_lock_resp lock_resp;
		struct wire_space space;
	} u;
};

/* Encode a whole frame (header and payload) of type t into buf.  msg points
 * to the struct for t (struct wire_hello for WIRE_HELLO, struct wire_ping
 * for PING and PONG, ...; NULL for WIRE_BYE).  The fields are validated as
 * the decoder would.  Returns the frame length, or WIRE_ESPACE when cap is
 * too small, or another WIRE_E* code for an invalid message. */
long wire_encode(enum wire_type t, const void *msg, uint8_t *buf, size_t cap);
/* The same frame as up to 3 pieces without copying the OP entry or the
 * DATA bytes: header and fixed fields go into scratch, iov[] points into
 * scratch and into the message's blob.  Returns the number of pieces or a
 * WIRE_E* code. */
#define WIRE_SCRATCH 512
int wire_encode_iov(enum wire_type t, const void *msg, uint8_t scratch[WIRE_SCRATCH],
		    struct iovec iov[3]);
/* Length of the payload wire_encode would produce, or a WIRE_E* code. */
long wire_payload_len(enum wire_type t, const void *msg);

/* Parse and check a header: magic, version, type, length <= max.  Returns
 * 0 or WIRE_EMAGIC / WIRE_EVERSION / WIRE_ETYPE / WIRE_ELEN. */
int wire_decode_header(const uint8_t h[WIRE_HDR_LEN], struct wire_hdr *out);
/* Check the checksum over the header and payload (h->len bytes), then parse
 * and validate every field of the message.  Returns 0 or a WIRE_E* code;
 * *out is only meaningful on 0. */
int wire_decode(const struct wire_hdr *h, const uint8_t *payload, struct wire_msg *out);

/* Whether s is a valid node name: [A-Za-z0-9._-]{1,63}. */
int wire_name_valid(const char *s);
/* The highest protocol version this build and the HELLO both speak, or
 * WIRE_EVERSION when the ranges do not meet. */
int wire_version_pick(const struct wire_hello *h);
const char *wire_type_name(enum wire_type t);
const char *wire_strerror(int code);

/* I/O over a TLS connection (wire_io.c). */
struct tls_conn;
/* Send one frame; thread safe (frames from several threads never mix).
 * Returns 0, or a codec error for an invalid message (nothing was sent), or
 * WIRE_EIO / WIRE_ETIMEDOUT (the peer did not take the bytes within the
 * connection's timeout) / WIRE_EBROKEN, after which the send side is
 * unusable: a frame may have gone out in part. */
int wire_send(struct tls_conn *c, enum wire_type t, const void *msg);
/* Receive exactly one frame: the header, then its payload into buf (cap
 * bytes; WIRE_MAX_PAYLOAD is always enough), never reading past the frame
 * and never allocating.  Returns 0, WIRE_ETIMEDOUT when no frame began
 * within the connection's timeout (the connection stays usable), or another
 * WIRE_E* code, after which the receive side is unusable (WIRE_EBROKEN) but
 * the caller may still send a WIRE_ERROR and close. */
int wire_recv(struct tls_conn *c, struct wire_msg *out, uint8_t *buf, size_t cap);

#endif
