/* mhactl.c: administration of a node's journal and catalog.
 *   mhactl [-c CONFIG] journal [--since SEQ] [--limit N] [--origin ID] [--json]
 *   mhactl [-c CONFIG] catalog [--json] [PATH-PREFIX]
 *   mhactl [-c CONFIG] check [--hash] [BACKING-DIR]
 * (status and peer, which talk to the running daemon, are in mhactl_status.c;
 * user, drain and undrain, about balancing, in mhactl_balance.c.)
 * Everything here opens state_dir/journal.db read-only, so it is safe while
 * mhafs runs.  Exit: 0 ok, 1 check found differences, 2 usage, 3 error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mhactl.h"
#include "hash.h"
#include "hlc.h"
#include "journal.h"
#include "json.h"
#include "pathpat.h"

#define EXIT_DIFF 1
#define EXIT_USAGE 2
#define EXIT_ERR 3

static const char usage_text[] =
	"usage: mhactl [-c CONFIG] COMMAND [ARGS]\n"
	"commands:\n"
	"  journal [--since SEQ] [--limit N] [--origin ID] [--json]\n"
	"                     list journal entries (seq >= SEQ), oldest first\n"
	"  catalog [--json] [PATH-PREFIX]\n"
	"                     list catalog rows (PATH-PREFIX and below)\n"
	"  check [--hash] [BACKING-DIR]\n"
	"                     compare catalog and backing tree (exit 1 if they differ)\n"
	"  status [--json]    state of the running mhafs (control socket)\n"
	"  peer up|down       tell the running mhafs the peer's state\n"
	"  user ADDRESS       which node serves a user, and why (nodes_file)\n"
	"  drain | undrain    take this node out of (or back into) the balance\n"
	"CONFIG defaults to " MHAFS_DEFAULT_CONFIG ".\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("mhactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Text output: a path with control bytes and backslashes escaped. */
static void put_text(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static sqlite3 *open_ro(const struct config *cfg)
{
	char path[4200];
	sqlite3 *db = NULL;
	snprintf(path, sizeof(path), "%s/journal.db", cfg->state_dir);
	if (access(path, F_OK) < 0) {
		fprintf(stderr, "mhactl: %s: %s (is state_dir right?)\n", path, strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "mhactl: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static const char *hash_col(sqlite3_stmt *s, int col, char *buf)
{
	if (sqlite3_column_type(s, col) != SQLITE_BLOB || sqlite3_column_bytes(s, col) != 16)
		return NULL;
	struct hash128 h;
	hash_from_bytes(sqlite3_column_blob(s, col), &h);
	return hash_hex(&h, buf);
}

static const char *text_col(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

static int cmd_journal(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' }, { "limit", required_argument, NULL, 'n' },
		{ "origin", required_argument, NULL, 'o' }, { "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 } };
	uint64_t since = 0, limit = INT64_MAX, origin = 0;
	int json = 0, c;

	optind = 0; /* glibc: full re-initialisation for the sub-command */
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_u64(optarg, INT64_MAX, &since) < 0)
				return usage_error("--since: '%s' is not a sequence number", optarg);
			break;
		case 'n':
			if (parse_u64(optarg, INT64_MAX, &limit) < 0)
				return usage_error("--limit: '%s' is not a count", optarg);
			break;
		case 'o':
			if (parse_u64(optarg, 65535, &origin) < 0 || origin == 0)
				return usage_error("--origin: '%s' is not a node id (1..65535)", optarg);
			break;
		case 'j':
			json = 1;
			break;
		default:
			return usage_error("journal: bad option");
		}
	}
	if (optind < argc)
		return usage_error("journal: unexpected argument '%s'", argv[optind]);
	sqlite3 *db = open_ro(cfg);
	sqlite3_stmt *s;
	if (!db)
		return EXIT_ERR;
	if (sqlite3_prepare_v2(db, "SELECT origin, seq, hlc, op, path, path2, xname, flags, size, hash"
			       " FROM journal WHERE seq >= ?1 AND (?2 = 0 OR origin = ?2)"
			       " ORDER BY origin, seq LIMIT ?3", -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "mhactl: reading the journal: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return EXIT_ERR;
	}
	sqlite3_bind_int64(s, 1, (int64_t)since);
	sqlite3_bind_int64(s, 2, (int64_t)origin);
	sqlite3_bind_int64(s, 3, (int64_t)limit);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char hb[32], hx[HASH128_HEX];
		hlc_t hlc = (hlc_t)sqlite3_column_int64(s, 2);
		const char *op = jop_name((enum jop)sqlite3_column_int(s, 3));
		const char *p = text_col(s, 4), *p2 = text_col(s, 5), *xn = text_col(s, 6);
		const char *h = hash_col(s, 9, hx);
		int has_size = sqlite3_column_type(s, 8) != SQLITE_NULL;
		long long size = sqlite3_column_int64(s, 8);
		unsigned flags = (unsigned)sqlite3_column_int64(s, 7);
		if (json) {
			printf("{\"seq\":%lld,\"origin\":%d,\"hlc\":\"%s\",\"op\":\"%s\",\"path\":",
			       sqlite3_column_int64(s, 1), sqlite3_column_int(s, 0),
			       hlc_format(hlc, hb, sizeof(hb)), op);
			json_str(stdout, p ? p : "");
			if (p2) {
				fputs(",\"path2\":", stdout);
				json_str(stdout, p2);
			}
			if (xn) {
				fputs(",\"xname\":", stdout);
				json_str(stdout, xn);
			}
			printf(",\"flags\":%u", flags);
			if (has_size)
				printf(",\"size\":%lld", size);
			if (h)
				printf(",\"hash\":\"%s\"", h);
			fputs("}\n", stdout);
		} else {
			printf("%lld %d %s %s ", sqlite3_column_int64(s, 1), sqlite3_column_int(s, 0),
			       hlc_format(hlc, hb, sizeof(hb)), op);
			put_text(stdout, p ? p : "");
			if (p2) {
				/* a commit names its (node-local) source */
				fputs(sqlite3_column_int(s, 3) == JOP_COMMIT ? " <- " : " -> ", stdout);
				put_text(stdout, p2);
			}
			if (xn) {
				fputs(" xattr=", stdout);
				put_text(stdout, xn);
			}
			if (flags)
				printf(" flags=0x%x", flags);
			if (has_size)
				printf(" size=%lld", size);
			printf(" hash=%s\n", h ? h : "-");
		}
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "mhactl: reading the journal: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc == SQLITE_DONE ? 0 : EXIT_ERR;
}

static int cmd_catalog(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { NULL, 0, NULL, 0 } };
	int json = 0, c;
	char *prefix = NULL;

	optind = 0; /* glibc: full re-initialisation for the sub-command */
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c != 'j')
			return usage_error("catalog: bad option");
		json = 1;
	}
	if (argc - optind > 1)
		return usage_error("catalog: unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc) {
		prefix = argv[optind];
		size_t n = strlen(prefix);
		while (n > 1 && prefix[n - 1] == '/')
			prefix[--n] = '\0';
		if (!pathpat_is_safe(prefix))
			return usage_error("catalog: '%s' is not a store-relative path "
					   "(no leading '/', '.', '..' or empty components)", prefix);
	}
	sqlite3 *db = open_ro(cfg);
	sqlite3_stmt *s;
	if (!db)
		return EXIT_ERR;
	/* Prefix and below: [p, p0) keeping p itself and p/... (no LIKE). */
	if (sqlite3_prepare_v2(db, "SELECT path, kind, mode, uid, gid, size, mtime_ns, ino, hash, hlc,"
			       " origin, deleted FROM catalog WHERE ?1 IS NULL OR (path >= ?1"
			       " AND path < ?1 || '0' AND (path = ?1 OR path >= ?1 || '/'))"
			       " ORDER BY path", -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "mhactl: reading the catalog: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return EXIT_ERR;
	}
	if (prefix)
		sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char hb[32], hx[HASH128_HEX];
		const char *p = text_col(s, 0), *kind = text_col(s, 1);
		const char *h = hash_col(s, 8, hx);
		hlc_format((hlc_t)sqlite3_column_int64(s, 9), hb, sizeof(hb));
		int deleted = sqlite3_column_int(s, 11);
		unsigned mode = (unsigned)sqlite3_column_int64(s, 2);
		if (json) {
			printf("{\"path\":");
			json_str(stdout, p ? p : "");
			printf(",\"kind\":\"%s\",\"deleted\":%s,\"mode\":\"%04o\",\"uid\":%lld,"
			       "\"gid\":%lld,\"size\":%lld,\"mtime_ns\":%lld,\"ino\":%llu,",
			       kind ? kind : "?", deleted ? "true" : "false", mode & 07777,
			       sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4),
			       sqlite3_column_int64(s, 5), sqlite3_column_int64(s, 6),
			       (unsigned long long)sqlite3_column_int64(s, 7));
			if (h)
				printf("\"hash\":\"%s\",", h);
			printf("\"hlc\":\"%s\",\"origin\":%d}\n", hb, sqlite3_column_int(s, 10));
		} else {
			printf("%s %s %04o %lld %lld %lld %lld %llu %s %s %d ", deleted ? "D" : "L",
			       kind ? kind : "?", mode & 07777, sqlite3_column_int64(s, 3),
			       sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5),
			       sqlite3_column_int64(s, 6), (unsigned long long)sqlite3_column_int64(s, 7),
			       h ? h : "-", hb, sqlite3_column_int(s, 10));
			put_text(stdout, p ? p : "");
			fputc('\n', stdout);
		}
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "mhactl: reading the catalog: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc == SQLITE_DONE ? 0 : EXIT_ERR;
}

static int cmd_check(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = { { "hash", no_argument, NULL, 'H' },
					      { NULL, 0, NULL, 0 } };
	int verify = 0, c;
	const char *backing = cfg->backing_dir;
	char err[512];

	optind = 0; /* glibc: full re-initialisation for the sub-command */
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c != 'H')
			return usage_error("check: bad option");
		verify = 1;
	}
	if (argc - optind > 1)
		return usage_error("check: unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc)
		backing = argv[optind];
	if (!backing)
		return usage_error("check: no backing directory (give one, or set backing_dir in the configuration)");
	int fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mhactl: %s: %s\n", backing, strerror(errno));
		return EXIT_ERR;
	}
	long n = journal_check(cfg->state_dir, fd, cfg->node_local, cfg->n_node_local, verify,
			       stdout, err, sizeof(err));
	close(fd);
	if (n < 0) {
		fprintf(stderr, "mhactl: check: %s\n", err);
		return EXIT_ERR;
	}
	if (n > 0) {
		fprintf(stderr, "mhactl: check: %ld difference%s between the catalog and %s\n", n,
			n == 1 ? "" : "s", backing);
		return EXIT_DIFF;
	}
	fprintf(stderr, "mhactl: check: the catalog matches %s%s\n", backing,
		verify ? " (contents hashed)" : "");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *conf = NULL;
	struct config cfg;
	char err[CONFIG_ERRLEN];
	int c, rc;

	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	const char *cmd = argv[optind];
	int (*fn)(const struct config *, int, char **) =
		!strcmp(cmd, "journal") ? cmd_journal : !strcmp(cmd, "catalog") ? cmd_catalog :
		!strcmp(cmd, "check") ? cmd_check : !strcmp(cmd, "status") ? cmd_status :
		!strcmp(cmd, "peer") ? cmd_peer : !strcmp(cmd, "user") ? cmd_user :
		!strcmp(cmd, "drain") || !strcmp(cmd, "undrain") ? cmd_drain : NULL;
	if (!fn)
		return usage_error("unknown command '%s'", cmd);
	config_defaults(&cfg);
	/* An explicit -c must exist; the default file may be absent. */
	if (config_load(&cfg, conf ? conf : MHAFS_DEFAULT_CONFIG, conf == NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "mhactl: %s\n", err);
		config_free(&cfg);
		return EXIT_ERR;
	}
	rc = fn(&cfg, argc - optind, argv + optind);
	config_free(&cfg);
	return rc;
}
