/* proto.h: the heartbeat packet codec and replay guard.  A packet is a
 * fixed 36-byte header (big-endian) followed by HMAC-SHA256 of the header
 * under the cluster key:
 *   0 magic "MHHB" | 4 version | 5 type | 6 sender state | 7 flags |
 *   8 node id (16) | 10 reserved (16, zero) | 12 epoch (64) |
 *   20 counter (64) | 28 sender wall clock ms (64) | 36 HMAC (32 bytes)
 * The epoch is chosen at each start (wall-clock microseconds), the
 * counter rises by one per packet; a receiver accepts a packet only if
 * (epoch, counter) is greater than the last one it accepted from that
 * node, so a captured packet can never be played back. */
#ifndef MHAFS_HB_PROTO_H
#define MHAFS_HB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define HB_MAGIC "MHHB"
#define HB_VERSION 1
#define HB_HDR_LEN 36
#define HB_MAC_LEN 32
#define HB_PKT_LEN (HB_HDR_LEN + HB_MAC_LEN)
#define HB_KEY_MIN 16
#define HB_KEY_MAX 1024

enum hb_type { HB_T_ALIVE = 1, HB_T_LEAVING = 2 };

/* flags */
#define HB_F_HOLDS_VIP 0x01
#define HB_F_HEALTHY   0x02

struct hb_msg {
	uint8_t type;        /* enum hb_type */
	uint8_t state;       /* sender's enum hb_state */
	uint8_t flags;
	uint16_t node_id;
	uint64_t epoch;
	uint64_t counter;
	uint64_t time_ms;
};

enum hb_decode_result {
	HB_OK = 0,
	HB_E_SHORT,      /* wrong length */
	HB_E_MAGIC,      /* not a heartbeat */
	HB_E_VERSION,    /* another protocol version */
	HB_E_MAC,        /* forged or signed with another key */
	HB_E_FIELD,      /* authentic but a field is out of range */
};

struct hb_key {
	uint8_t bytes[HB_KEY_MAX];
	size_t len;
};

/* Read the cluster key file: its bytes minus trailing white space, at
 * least HB_KEY_MIN.  Returns 0 or -errno with err filled. */
int hb_key_load(const char *path, struct hb_key *key, char *err, size_t errlen);

/* Encode m into out (HB_PKT_LEN bytes).  Returns HB_PKT_LEN or -1. */
int hb_encode(const struct hb_msg *m, const struct hb_key *key, uint8_t *out);
/* Check and decode a received datagram. */
enum hb_decode_result hb_decode(const uint8_t *p, size_t n, const struct hb_key *key,
				struct hb_msg *m);
const char *hb_decode_str(enum hb_decode_result r);

/* The newest (epoch, counter) accepted from the peer. */
struct hb_seq {
	int valid;
	uint64_t epoch, counter;
};

/* Whether m is newer than what seq has seen; if so, seq advances.
 * Returns 1 accepted, 0 replayed or stale. */
int hb_seq_accept(struct hb_seq *seq, const struct hb_msg *m);

/* As hb_seq_accept, but while the peer is considered dead (peer_silent) a
 * packet from an older epoch starts the sequence over: a peer restarted
 * after its clock stepped back must not be locked out for ever.  (The
 * caller has already refused packets whose clock is far from ours, so an
 * old capture cannot use this.)  Returns 1 accepted, 2 accepted as a
 * restart with an older epoch, 0 replayed. */
int hb_seq_accept_silent(struct hb_seq *seq, const struct hb_msg *m, int peer_silent);

#endif
