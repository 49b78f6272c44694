/* jcodec.c: the binary form of a journal entry (for the wire and tests),
 * the per-op validity rules shared by encoder, decoder and journal_record,
 * and operation names.
 *
 * Format, version 1, every integer little-endian, no padding:
 *   u8  version (1)        u8  op (1..JOP_MAX)      u16 origin (!= 0)
 *   u64 seq (!= 0)         u64 hlc (!= 0)           u32 flags
 *   u8  present: bit0 st, bit1 hash, bit2 path2, bit3 xname (others 0)
 *   if st:    u32 mode, u32 uid, u32 gid, u64 size (<= INT64_MAX),
 *             i64 mtime_ns, u64 ino
 *   if hash:  16 bytes (hash_to_bytes order)
 *   u16 len + path bytes; if path2: u16 len + bytes; if xname: u16 len + bytes
 * The record must end exactly after the last field. */
#include "journal.h"

#include <stdio.h>
#include <string.h>

#include "pathpat.h"

#define JC_VERSION 1
#define P_ST 0x01u
#define P_HASH 0x02u
#define P_PATH2 0x04u
#define P_XNAME 0x08u
#define P_ALL (P_ST | P_HASH | P_PATH2 | P_XNAME)

/* What each operation carries: whether path2 / xname are required (1),
 * optional (2) or forbidden (0), whether path2 must be a safe store path
 * (a symlink target need not be), and the allowed flag bits. */
struct op_rule {
	const char *name;
	unsigned char path2, path2_safe, xname;
	uint32_t flags_mask;
};

static const struct op_rule op_rules[JOP_MAX + 1] = {
	[JOP_MKDIR]       = { "mkdir",       0, 0, 0, 0 },
	[JOP_RMDIR]       = { "rmdir",       0, 0, 0, 0 },
	[JOP_CREATE]      = { "create",      0, 0, 0, 0 },
	[JOP_MKNOD]       = { "mknod",       0, 0, 0, 0 },
	[JOP_SYMLINK]     = { "symlink",     1, 0, 0, 0 },
	[JOP_UNLINK]      = { "unlink",      2, 1, 0, JOP_UNLINK_RESTATED }, /* path2: where a moved message went */
	[JOP_RENAME]      = { "rename",      1, 1, 0, JOP_RENAME_FLAGS },
	[JOP_LINK]        = { "link",        1, 1, 0, 0 },
	[JOP_SETATTR]     = { "setattr",     0, 0, 0, JOP_SETATTR_FLAGS },
	[JOP_WRITE]       = { "write",       0, 0, 0, 0 },
	[JOP_SETXATTR]    = { "setxattr",    0, 0, 1, JOP_SETXATTR_FLAGS },
	[JOP_REMOVEXATTR] = { "removexattr", 0, 0, 1, 0 },
	[JOP_COMMIT]      = { "commit",      2, 1, 0, 0 }, /* source may be unknown */
};

const char *jop_name(enum jop op)
{
	if ((int)op < 1 || (int)op > JOP_MAX)
		return "?";
	return op_rules[op].name;
}

int jop_from_name(const char *name)
{
	for (int i = 1; i <= JOP_MAX; i++)
		if (strcmp(op_rules[i].name, name) == 0)
			return i;
	return -1;
}

static int str_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	return n >= 1 && n <= max;
}

static int mode_ok(uint32_t mode)
{
	if (mode & ~(uint32_t)(S_IFMT | 07777))
		return 0;
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return 1;
	default:
		return 0;
	}
}

const char *jentry_invalid(const struct jentry *e, int need_ids)
{
	if ((int)e->op < 1 || (int)e->op > JOP_MAX)
		return "operation out of range";
	const struct op_rule *r = &op_rules[e->op];
	if (need_ids && (e->origin == 0 || e->seq == 0 || e->hlc == 0))
		return "origin, seq and hlc must be set";
	if (!e->path || !str_ok(e->path, JENTRY_MAX_PATH) || !pathpat_is_safe(e->path))
		return "path is not a safe store-relative path";
	if (r->path2 && (e->path2 || r->path2 == 1)) {
		if (!e->path2 || !str_ok(e->path2, JENTRY_MAX_PATH))
			return "second path missing or too long";
		if (r->path2_safe && !pathpat_is_safe(e->path2))
			return "second path is not a safe store-relative path";
	} else if (e->path2) {
		return "second path given for an operation without one";
	}
	if (r->xname) {
		if (!e->xname || !str_ok(e->xname, JENTRY_MAX_XNAME))
			return "xattr name missing or too long";
	} else if (e->xname) {
		return "xattr name given for an operation without one";
	}
	if (e->flags & ~r->flags_mask)
		return "flags not valid for this operation";
	if (e->op == JOP_RENAME && (e->flags & JOP_RENAME_NOREPLACE) && (e->flags & JOP_RENAME_EXCHANGE))
		return "rename flags NOREPLACE and EXCHANGE together";
	if (e->has_st) {
		if (!mode_ok((uint32_t)e->st.st_mode))
			return "mode is not a valid file type and permission";
		if (e->st.st_size < 0)
			return "negative size";
	}
	return NULL;
}

/* Little-endian writer and reader over a bounded buffer. */
struct wr {
	uint8_t *p;
	size_t cap, len;
};

static void put(struct wr *w, uint64_t v, int n)
{
	for (int i = 0; i < n; i++) {
		if (w->len < w->cap)
			w->p[w->len] = (uint8_t)(v >> (8 * i));
		w->len++;
	}
}

static void put_bytes(struct wr *w, const void *src, size_t n)
{
	if (w->len + n <= w->cap)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_str(struct wr *w, const char *s)
{
	size_t n = strlen(s);
	put(w, n, 2);
	put_bytes(w, s, n);
}

static int64_t st_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

long jentry_encode(const struct jentry *e, uint8_t *buf, size_t cap)
{
	struct wr w = { buf, buf ? cap : 0, 0 };
	if (jentry_invalid(e, 1))
		return -1;
	unsigned present = (e->has_st ? P_ST : 0) | (e->has_hash ? P_HASH : 0) |
			   (e->path2 ? P_PATH2 : 0) | (e->xname ? P_XNAME : 0);
	put(&w, JC_VERSION, 1);
	put(&w, (uint64_t)e->op, 1);
	put(&w, e->origin, 2);
	put(&w, e->seq, 8);
	put(&w, e->hlc, 8);
	put(&w, e->flags, 4);
	put(&w, present, 1);
	if (e->has_st) {
		put(&w, (uint32_t)e->st.st_mode, 4);
		put(&w, (uint32_t)e->st.st_uid, 4);
		put(&w, (uint32_t)e->st.st_gid, 4);
		put(&w, (uint64_t)e->st.st_size, 8);
		put(&w, (uint64_t)st_mtime_ns(&e->st), 8);
		put(&w, (uint64_t)e->st.st_ino, 8);
	}
	if (e->has_hash) {
		uint8_t h[16];
		hash_to_bytes(&e->hash, h);
		put_bytes(&w, h, 16);
	}
	put_str(&w, e->path);
	if (e->path2)
		put_str(&w, e->path2);
	if (e->xname)
		put_str(&w, e->xname);
	return (long)w.len;
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	int bad;
};

static uint64_t get(struct rd *r, int n)
{
	uint64_t v = 0;
	if (r->bad || r->len - r->off < (size_t)n) {
		r->bad = 1;
		return 0;
	}
	for (int i = 0; i < n; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += (size_t)n;
	return v;
}

/* Copy a length-prefixed string into the string buffer (NUL-terminated);
 * rejects embedded NULs, empty strings and strings over max. */
static const char *get_str(struct rd *r, size_t max, char *sb, size_t cap, size_t *used)
{
	size_t n = (size_t)get(r, 2);
	if (r->bad || n == 0 || n > max || r->len - r->off < n || cap - *used < n + 1) {
		r->bad = 1;
		return NULL;
	}
	if (memchr(r->p + r->off, '\0', n)) {
		r->bad = 1;
		return NULL;
	}
	char *s = sb + *used;
	memcpy(s, r->p + r->off, n);
	s[n] = '\0';
	*used += n + 1;
	r->off += n;
	return s;
}

int jentry_decode(const uint8_t *buf, size_t len, struct jentry *e, char *strbuf, size_t strcap)
{
	struct rd r = { buf, buf ? len : 0, 0, 0 };
	size_t used = 0;

	memset(e, 0, sizeof(*e));
	if (!strbuf)
		strcap = 0;
	if (get(&r, 1) != JC_VERSION)
		return -1;
	uint64_t op = get(&r, 1);
	if (op < 1 || op > JOP_MAX)
		return -1;
	e->op = (enum jop)op;
	e->origin = (uint16_t)get(&r, 2);
	e->seq = get(&r, 8);
	e->hlc = get(&r, 8);
	e->flags = (uint32_t)get(&r, 4);
	unsigned present = (unsigned)get(&r, 1);
	if (r.bad || (present & ~P_ALL))
		return -1;
	if (present & P_ST) {
		e->has_st = 1;
		e->st.st_mode = (mode_t)get(&r, 4);
		e->st.st_uid = (uid_t)get(&r, 4);
		e->st.st_gid = (gid_t)get(&r, 4);
		uint64_t size = get(&r, 8);
		int64_t mt = (int64_t)get(&r, 8);
		e->st.st_ino = (ino_t)get(&r, 8);
		if (size > (uint64_t)INT64_MAX)
			return -1;
		e->st.st_size = (off_t)size;
		int64_t sec = mt / 1000000000, nsec = mt % 1000000000;
		if (nsec < 0) {
			nsec += 1000000000;
			sec -= 1;
		}
		e->st.st_mtim.tv_sec = (time_t)sec;
		e->st.st_mtim.tv_nsec = (long)nsec;
	}
	if (present & P_HASH) {
		uint8_t h[16];
		if (r.bad || r.len - r.off < 16)
			return -1;
		memcpy(h, r.p + r.off, 16);
		r.off += 16;
		hash_from_bytes(h, &e->hash);
		e->has_hash = 1;
	}
	e->path = get_str(&r, JENTRY_MAX_PATH, strbuf, strcap, &used);
	if (present & P_PATH2)
		e->path2 = get_str(&r, JENTRY_MAX_PATH, strbuf, strcap, &used);
	if (present & P_XNAME)
		e->xname = get_str(&r, JENTRY_MAX_XNAME, strbuf, strcap, &used);
	if (r.bad || r.off != r.len || jentry_invalid(e, 1)) {
		memset(e, 0, sizeof(*e));
		return -1;
	}
	return 0;
}
