/* test_jcodec.c: the binary journal entry: round trips for every op, and
 * rejection of every malformed form (truncation at each length, trailing
 * bytes, bad version/op/presence bits, zero ids, unsafe/empty/long/NUL
 * paths, per-op path2/xname/flags rules, bad mode, oversized size, small
 * string buffer). */
#include <stdlib.h>

#include "journal.h"
#include "tcheck.h"

static uint8_t buf[JENTRY_MAX_ENCODED];
static char sb[JENTRY_MAX_STRBUF];

static struct jentry base(enum jop op)
{
	struct jentry e;
	memset(&e, 0, sizeof(e));
	e.op = op;
	e.origin = 3;
	e.seq = 0x0102030405060708ull;
	e.hlc = HLC_MAKE(1700000000000ull, 9);
	e.path = "u/Maildir/cur/1.M2P3.h:2,S";
	switch (op) {
	case JOP_SYMLINK: e.path2 = "../../target with spaces"; break;
	case JOP_RENAME: e.path2 = "u/Maildir/cur/1.M2P3.h:2,RS"; e.flags = JOP_RENAME_NOREPLACE; break;
	case JOP_LINK: e.path2 = "u/Maildir/new/x"; break;
	case JOP_COMMIT: e.path2 = "u/Maildir/tmp/1.M2P3.h"; break;
	case JOP_SETATTR: e.flags = (1u << 0) | (1u << 5); break;
	case JOP_SETXATTR: e.xname = "user.mhafs"; e.flags = 1; break;
	case JOP_REMOVEXATTR: e.xname = "user.x"; break;
	default: break;
	}
	return e;
}

static int same(const struct jentry *a, const struct jentry *b)
{
	if (a->op != b->op || a->origin != b->origin || a->seq != b->seq || a->hlc != b->hlc ||
	    a->flags != b->flags || a->has_st != b->has_st || a->has_hash != b->has_hash)
		return 0;
	if (strcmp(a->path, b->path) || !a->path2 != !b->path2 || !a->xname != !b->xname)
		return 0;
	if ((a->path2 && strcmp(a->path2, b->path2)) || (a->xname && strcmp(a->xname, b->xname)))
		return 0;
	if (a->has_st && (a->st.st_mode != b->st.st_mode || a->st.st_uid != b->st.st_uid ||
			  a->st.st_gid != b->st.st_gid || a->st.st_size != b->st.st_size ||
			  a->st.st_ino != b->st.st_ino ||
			  a->st.st_mtim.tv_sec != b->st.st_mtim.tv_sec ||
			  a->st.st_mtim.tv_nsec != b->st.st_mtim.tv_nsec))
		return 0;
	if (a->has_hash && (a->hash.hi != b->hash.hi || a->hash.lo != b->hash.lo))
		return 0;
	return 1;
}

static int roundtrip(const struct jentry *e)
{
	struct jentry d;
	long n = jentry_encode(e, buf, sizeof(buf));
	if (n <= 0)
		return 0;
	if (jentry_encode(e, NULL, 0) != n) /* the size query agrees */
		return 0;
	if (jentry_decode(buf, (size_t)n, &d, sb, sizeof(sb)) != 0)
		return 0;
	return same(e, &d);
}

/* Every strict prefix and a one-byte extension of a valid record fail. */
static int truncations_fail(const struct jentry *e)
{
	struct jentry d;
	long n = jentry_encode(e, buf, sizeof(buf));
	for (long i = 0; i < n; i++)
		if (jentry_decode(buf, (size_t)i, &d, sb, sizeof(sb)) == 0)
			return 0;
	buf[n] = 0;
	return jentry_decode(buf, (size_t)n + 1, &d, sb, sizeof(sb)) == -1;
}

static int decodes(const uint8_t *b, size_t n)
{
	struct jentry d;
	return jentry_decode(b, n, &d, sb, sizeof(sb)) == 0;
}

/* Offsets in the fixed part (see jcodec.c). */
enum { O_VER = 0, O_OP = 1, O_ORIGIN = 2, O_SEQ = 4, O_HLC = 12, O_FLAGS = 20, O_PRESENT = 24,
       O_ST = 25 };

int main(void)
{
	struct jentry e, d;
	long n;

	/* Round trips: each op, with and without st and hash. */
	for (int op = 1; op <= JOP_MAX; op++) {
		e = base((enum jop)op);
		CHECK(roundtrip(&e));
		e.has_st = 1;
		e.st.st_mode = (op == JOP_MKDIR ? S_IFDIR : S_IFREG) | 0640;
		e.st.st_uid = 4000000000u;
		e.st.st_gid = 8;
		e.st.st_size = 8192;
		e.st.st_ino = (ino_t)0xfedcba9876543210ull;
		e.st.st_mtim.tv_sec = 1700000000;
		e.st.st_mtim.tv_nsec = 123456789;
		e.has_hash = 1;
		hash_buf("hello", 5, &e.hash);
		CHECK(roundtrip(&e));
		CHECK(truncations_fail(&e));
		if (t_failed) {
			fprintf(stderr, "  (op %s)\n", jop_name((enum jop)op));
			break;
		}
	}
	/* Times before 1970 keep their value. */
	e = base(JOP_SETATTR);
	e.has_st = 1;
	e.st.st_mode = S_IFREG | 0600;
	e.st.st_mtim.tv_sec = -2;
	e.st.st_mtim.tv_nsec = 5;
	CHECK(roundtrip(&e));
	/* Names at the limits, RENAME_EXCHANGE, xattr flags. */
	static char longpath[JENTRY_MAX_PATH + 2];
	memset(longpath, 'a', JENTRY_MAX_PATH);
	longpath[JENTRY_MAX_PATH] = '\0';
	e = base(JOP_RENAME);
	e.path = longpath;
	e.path2 = longpath;
	e.flags = JOP_RENAME_EXCHANGE;
	CHECK(roundtrip(&e));
	n = jentry_encode(&e, buf, sizeof(buf));
	CHECK(jentry_decode(buf, (size_t)n, &d, sb, 2 * JENTRY_MAX_PATH + 1) == -1); /* strbuf short */
	CHECK(jentry_decode(buf, (size_t)n, &d, sb, 2 * JENTRY_MAX_PATH + 2) == 0);
	CHECK(jentry_decode(buf, (size_t)n, &d, NULL, 0) == -1);
	longpath[JENTRY_MAX_PATH] = 'a';
	longpath[JENTRY_MAX_PATH + 1] = '\0';
	CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1); /* 4097 bytes */
	/* Encode into a short buffer reports the size needed, writes nothing past cap. */
	e = base(JOP_UNLINK);
	long need = jentry_encode(&e, NULL, 0);
	memset(buf, 0xee, sizeof(buf));
	CHECK_INT(jentry_encode(&e, buf, 10), need);
	CHECK_INT(buf[10], 0xee);

	/* Entries the encoder refuses (and journal_record with -EINVAL). */
	e = base(JOP_UNLINK); e.path = "..";          CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.path = "/abs";        CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.path = "a//b";        CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.path = "a/./b";       CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.path = "";            CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.path = NULL;          CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_MKDIR); e.path2 = "x";           CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	/* an unlink may say where a moved message went, a safe path only */
	e = base(JOP_UNLINK); e.path2 = "../x";       CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.path2 = "/x";         CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.path2 = "m/.A/cur/x:2,S";
	{
		long len = jentry_encode(&e, buf, sizeof(buf));
		struct jentry back;
		CHECK(len > 0);
		CHECK(len > 0 && jentry_decode(buf, (size_t)len, &back, sb, sizeof(sb)) == 0 &&
		      back.path2 && strcmp(back.path2, e.path2) == 0);
	}
	e = base(JOP_UNLINK); e.xname = "user.x";     CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.flags = 2;            CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	{ /* the walk's re-stated removal: its one flag round-trips */
		struct jentry back;
		char rsb[JENTRY_MAX_STRBUF];
		e = base(JOP_UNLINK);
		e.flags = JOP_UNLINK_RESTATED;
		long len = jentry_encode(&e, buf, sizeof(buf));
		CHECK(len > 0 && jentry_decode(buf, (size_t)len, &back, rsb, sizeof(rsb)) == 0 &&
		      back.flags == JOP_UNLINK_RESTATED);
	}
	e = base(JOP_UNLINK); e.origin = 0;           CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.seq = 0;              CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.hlc = 0;              CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.op = 0;               CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_UNLINK); e.op = (enum jop)14;    CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_RENAME); e.path2 = NULL;         CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_RENAME); e.path2 = "../x";       CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_RENAME); e.flags = 3;            CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_RENAME); e.flags = 8;            CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_LINK); e.path2 = "/etc/passwd";  CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_COMMIT); e.path2 = NULL;         CHECK(roundtrip(&e)); /* source unknown */
	e = base(JOP_COMMIT); e.path2 = "a/../b";     CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_SYMLINK); e.path2 = "";          CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_SETXATTR); e.xname = NULL;       CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_SETXATTR); e.flags = 4;          CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_SETATTR); e.flags = 1u << 18;    CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_WRITE); e.has_st = 1; e.st.st_mode = 0644; /* no file type */
	CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	e = base(JOP_WRITE); e.has_st = 1; e.st.st_mode = S_IFREG | 0644; e.st.st_size = -1;
	CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	static char longx[JENTRY_MAX_XNAME + 2];
	memset(longx, 'x', JENTRY_MAX_XNAME + 1);
	e = base(JOP_REMOVEXATTR); e.xname = longx;   CHECK_INT(jentry_encode(&e, buf, sizeof(buf)), -1);
	longx[JENTRY_MAX_XNAME] = '\0';
	CHECK(roundtrip(&e));

	/* Hand-corrupted records the decoder rejects. */
	e = base(JOP_SETXATTR);
	e.has_st = 1;
	e.st.st_mode = S_IFREG | 0644;
	n = jentry_encode(&e, buf, sizeof(buf));
	CHECK(n > 0 && decodes(buf, (size_t)n));
	uint8_t good[512];
	memcpy(good, buf, (size_t)n);
#define MUTATE(stmt) do { memcpy(buf, good, (size_t)n); stmt; CHECK(!decodes(buf, (size_t)n)); } while (0)
	MUTATE(buf[O_VER] = 2);
	MUTATE(buf[O_VER] = 0);
	MUTATE(buf[O_OP] = 0);
	MUTATE(buf[O_OP] = JOP_MAX + 1);
	MUTATE(buf[O_OP] = 0xff);
	MUTATE(buf[O_OP] = JOP_UNLINK);              /* xname present but not allowed */
	MUTATE(buf[O_ORIGIN] = 0; buf[O_ORIGIN + 1] = 0);
	MUTATE(memset(buf + O_SEQ, 0, 8));
	MUTATE(memset(buf + O_HLC, 0, 8));
	MUTATE(buf[O_FLAGS] = 4);                    /* setxattr flags 0..3 */
	MUTATE(buf[O_FLAGS + 3] = 0x80);
	MUTATE(buf[O_PRESENT] |= 0x10);              /* unknown presence bit */
	MUTATE(buf[O_PRESENT] |= 0x80);
	MUTATE(buf[O_PRESENT] &= (uint8_t)~0x08u);   /* xname missing: tail left over */
	MUTATE(buf[O_ST + 1] = 0);                   /* mode without a file type */
	MUTATE(buf[O_ST + 3] = 0x80);                /* mode bits beyond S_IFMT */
	MUTATE(buf[O_ST + 12 + 7] = 0x80);           /* size > INT64_MAX */
	/* Path fields: the path follows st (25 + 36 = 61). */
	size_t po = O_ST + 36;
	size_t plen = strlen(e.path);
	MUTATE(buf[po] = 0; buf[po + 1] = 0);        /* empty path */
	MUTATE(buf[po] = 0xff; buf[po + 1] = 0xff);  /* longer than the record and the limit */
	MUTATE(buf[po] = (uint8_t)(plen + 1));       /* runs into the next field */
	MUTATE(buf[po + 2] = '/');                   /* absolute */
	MUTATE(buf[po + 2 + 1] = '\0');              /* embedded NUL */
	MUTATE(buf[po + 2] = '.'; buf[po + 3] = '.'; buf[po + 4] = '/'); /* "../" */
	MUTATE(buf[po + 2 + 2] = '/');               /* "u//aildir..." empty component */
	size_t xo = po + 2 + plen;
	MUTATE(buf[xo] = 0; buf[xo + 1] = 0);        /* empty xname */
	MUTATE(buf[xo + 2] = '\0');                  /* NUL in xname */
	MUTATE(buf[xo] = (uint8_t)(strlen(e.xname) - 1)); /* trailing garbage */
	/* Every single-byte truncation and extension. */
	memcpy(buf, good, (size_t)n);
	CHECK(truncations_fail(&e));
	/* Garbage of every length up to 64 never decodes to an invalid entry. */
	srand(1);
	int bad_accept = 0;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand() % 64);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rand();
		if (jentry_decode(buf, len, &d, sb, sizeof(sb)) == 0 && jentry_invalid(&d, 1))
			bad_accept++;
	}
	CHECK_INT(bad_accept, 0);
	CHECK(jentry_decode(NULL, 0, &d, sb, sizeof(sb)) == -1);

	/* Op names. */
	CHECK_STR(jop_name(JOP_MKDIR), "mkdir");
	CHECK_STR(jop_name(JOP_COMMIT), "commit");
	CHECK_STR(jop_name((enum jop)0), "?");
	CHECK_STR(jop_name((enum jop)99), "?");
	CHECK_INT(jop_from_name("rename"), JOP_RENAME);
	CHECK_INT(jop_from_name("nope"), -1);
	return t_done("test_jcodec");
}
