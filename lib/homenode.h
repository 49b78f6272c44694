/* homenode.h: the user-to-node map of the active-active pair, and the
 * parser of the nodes file heartbeatd writes.  Dovecot's passdb script
 * (conf/mhafs-home.lua) computes the same map in Lua, so the algorithm is
 * fixed bit for bit:
 *
 *   key    the login with ASCII A-Z lowercased, other bytes unchanged.
 *   hash   for each candidate node: FNV-1a 64 (offset 0xcbf29ce484222325,
 *          prime 0x100000001b3; h ^= byte, h *= prime) over the key's
 *          bytes, then one 0x00 byte, then the node id in decimal ASCII
 *          without leading zeros; then the finaliser
 *            h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33;
 *            h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33
 *          (uint64_t, wrapping; shifts are logical).
 *   score  u = ((double)(h >> 11) + 0.5) / 2^53
 *          score = -(double)weight / log(u)       (weighted rendezvous)
 *          in IEEE double: for h >> 11 >= 2^52 the + 0.5 rounds (to
 *          even), and for the largest hash u is 1.0 and the score -inf
 *          (that node loses); Lua's floats give the same values.
 *   pick   among the nodes whose state is "up", the highest score; on
 *          equal scores the lower node id.  If no node is up, the node
 *          named by "self" (serve here; never route to a node not up).
 *
 * A node's share of the keys is its weight over the sum of the up nodes'
 * weights, and a node that leaves takes only its own keys with it.
 *
 * The nodes file, one record per line, fields separated by one space:
 *   # comment lines (first byte '#')
 *   self <id>
 *   stamp <n>          (optional, at most once)
 *   node <id> <name> <address> <weight> <state>
 * id 1..65535 in decimal without leading zeros, name 1..63 of
 * A-Z a-z 0-9 . _ -, address an IPv4 or IPv6 literal, weight 1..256,
 * state up, drain or down.  "self" appears exactly once and names one of
 * the node lines; ids and names are unique.  The stamp (1..2^63-1) tells
 * one writing of the table from every other: heartbeatd gives each new
 * content a new stamp, and the Dovecot passdb raises a user's MODSEQ floor
 * on this node once per stamp (conf/mhafs-home.lua). */
#ifndef MHAFS_HOMENODE_H
#define MHAFS_HOMENODE_H

#include <stddef.h>
#include <stdint.h>

#define HN_MAX_NODES 16
#define HN_NAME_MAX 64        /* with the NUL */
#define HN_ADDR_MAX 46        /* INET6_ADDRSTRLEN */
#define HN_WEIGHT_MAX 256
#define HN_LINE_MAX 512

enum hn_state { HN_UP = 0, HN_DRAIN = 1, HN_DOWN = 2 };

struct hn_node {
	unsigned id;
	char name[HN_NAME_MAX];
	char address[HN_ADDR_MAX];
	unsigned weight;          /* 1..HN_WEIGHT_MAX */
	enum hn_state state;
};

struct hn_table {
	unsigned self_id;
	uint64_t stamp;           /* 0: none */
	size_t n;
	struct hn_node nodes[HN_MAX_NODES];
};

/* The hash of (login, node id) as above; the login is lowercased here. */
uint64_t homenode_hash(const char *login, unsigned node_id);

/* The weighted score of a hash: -weight / log(u). */
double homenode_score(uint64_t hash, unsigned weight);

/* Which of nodes[0..n) serves login.  Returns 0 with *idx_out the up node
 * of the highest score; 1 with *idx_out the node whose id is self_id when
 * no node is up; -1 when no node is up and self_id is not among them (or
 * n is 0). */
int homenode_pick(const struct hn_node *nodes, size_t n, unsigned self_id, const char *login,
		  size_t *idx_out);

/* As homenode_pick, but as if every node were up (the "natural" home). */
int homenode_pick_all(const struct hn_node *nodes, size_t n, const char *login, size_t *idx_out);

const char *hn_state_name(enum hn_state s);
/* "up", "drain" or "down" to the state; -1 for anything else. */
int hn_state_parse(const char *s, enum hn_state *out);

/* Parse the nodes file at path into t.  0, or -1 with err "path:line: what"
 * (or "path: why" when it cannot be read). */
int homenode_read(const char *path, struct hn_table *t, char *err, size_t errlen);

/* Parse one buffer (the file's contents; name is used in messages). */
int homenode_parse(const char *buf, size_t len, const char *name, struct hn_table *t, char *err,
		   size_t errlen);

/* The file's text for t (header comment, self, one line per node), NUL-
 * terminated.  Returns its length, or -1 if it does not fit in len. */
int homenode_format(const struct hn_table *t, char *buf, size_t len);

/* Index of the node with id in t, or -1. */
int homenode_find(const struct hn_table *t, unsigned id);

/* The nodes of t where key (the lowercased login) has mail sessions open,
 * as a mask of indexes (bit i: t->nodes[i]): heartbeatd publishes one
 * file sessions_dir/<node name>/<key> per user and node.  Down nodes are
 * left out (their published list is stale); so is every node when
 * sessions_dir is NULL or empty, or the key holds a '/' or starts with a
 * '.' or is empty. */
unsigned homenode_sessions(const struct hn_table *t, const char *sessions_dir, const char *key);

/* Who serves key now, as Dovecot's routing script decides: the one node
 * in the sessions mask, if exactly one; else home (an index of t). */
size_t homenode_serving(unsigned sessions, size_t home);

#endif
