/* mhafsck.h: what the parts of mhafsck share: one side's scanned tree and
 * catalog, the plan of differences, and the entry points of the scan,
 * plan, repair and report steps. */
#ifndef MHAFSCK_H
#define MHAFSCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hash.h"
#include "merge.h"

/* Temporary files mhafsck writes start with this; the scan skips them. */
#define FSCK_TMP_PREFIX ".mhafsck-tmp."

/* One path on one side. */
struct fent {
	char *path;            /* store-relative, no leading '/' */
	char kind;             /* 'f' file, 'd' dir, 'l' symlink, 'o' other */
	int local;             /* matches a node-local pattern */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int64_t size, mtime_ns, ctime_ns;
	int hashed;            /* hash is valid */
	struct hash128 hash;
};

/* One catalog row: what mhafsck uses of it. */
struct crow_lite {
	char *path;
	uint64_t hlc;
	int deleted;
	int has_hash;          /* a 16-byte hash was recorded */
	int64_t size, mtime_ns;
	struct hash128 hash;
};

struct side {
	char label;            /* 'a' or 'b' */
	char *root;            /* the store directory (real path) */
	int rootfd;
	int statefd;           /* the node's state directory, or -1 */
	char node[64];         /* tie-break name: node id or the root */
	struct fent *e;        /* sorted by path */
	size_t n, cap;
	int has_catalog;
	int quick;             /* trust catalog hashes (--quick) */
	struct crow_lite *c;   /* sorted by path */
	size_t nc;
	struct flagreg_lite *fr; /* the catalog's flag stamps, sorted by key */
	size_t nfr;
};

/* One message's flag stamps as the catalog keeps them (table flagreg):
 * key is "<folder>\n<base name>". */
struct flagreg_lite {
	char *key;
	uint8_t *regs;
	size_t len;
};

struct diff {
	enum merge_class cls;
	enum merge_action act;
	char kind;             /* of the object: 'f', 'd', 'l' */
	char *path;            /* what the report names */
	char *path_a, *path_b; /* the object on each side, NULL if absent */
	char *new_path;        /* MA_KEEP_BOTH_*: the loser's new path */
	char *detail;
	char *text;            /* MA_MERGE_UIDLIST: the merged file */
	size_t text_len;
	int drop_a, drop_b;    /* MA_MERGE_UIDLIST: UIDs of that side moved, so its
				* Dovecot index goes */
	int done;              /* repaired */
};

struct plan {
	struct diff *d;
	size_t n, cap;
	size_t count[MC_COUNT];
	size_t differences;    /* excluding stray node-local reports */
};

struct fsck_opts {
	int repair, json, force, stray, progress, quick;
	char *const *local_pat;
	size_t n_local;
};

/* mhafsck_scan.c */
int side_open(struct side *s, char label, const char *dir, const char *state_dir,
	      char *err, size_t errlen);
int side_scan(struct side *s, const struct fsck_opts *o, char *err, size_t errlen);
void side_free(struct side *s);
struct fent *side_find(const struct side *s, const char *path);
const struct crow_lite *side_catalog(const struct side *s, const char *path);
/* The stamps of the flags of the message at path in s's catalog: 1 filled,
 * 0 none (r empty). */
struct fregs;
int side_flag_regs(const struct side *s, const char *path, struct fregs *r);
int fent_hash(const struct side *s, struct fent *e, char *err, size_t errlen);
void progress(const struct fsck_opts *o, const char *what, size_t i, size_t n);

/* The stamp of a live entry: its catalog row's HLC, else its ctime
 * (use_ctime) or mtime in HLC form; the side's node name breaks ties. */
struct mstamp side_stamp(const struct side *s, const struct fent *e, int use_ctime);

/* mhafsck_dirs.c: directories present on one side only, decided after
 * every file (a removed directory goes only if nothing stays in it). */
struct dircand {
	struct fent *e;
	char side;
};
struct dirplan {
	struct dircand *v;
	size_t n, cap;
};
int dirs_add(struct dirplan *dp, struct fent *e, char side);
int dirs_decide(struct dirplan *dp, struct side *a, struct side *b, struct plan *p,
		char *err, size_t errlen);
void dirs_free(struct dirplan *dp);

/* mhafsck_plan.c */
/* Append a finding (NULL when out of memory). */
struct diff *plan_add(struct plan *p, enum merge_class cls, enum merge_action act,
		      const char *path);
int plan_build(struct side *a, struct side *b, const struct fsck_opts *o,
	       struct plan *p, char *err, size_t errlen);
void plan_free(struct plan *p);

/* mhafsck_repair.c: apply every diff; failures are reported on stderr.
 * Returns the number of diffs not repaired; *errors gets how many of those
 * failed with a system error (the rest need a person). */
size_t plan_repair(struct side *a, struct side *b, struct plan *p,
		   const struct fsck_opts *o, size_t *errors);

/* mhafsck_report.c */
void report_text(const struct plan *p, const struct side *a, const struct side *b,
		 const struct fsck_opts *o, size_t failed);
void report_json(const struct plan *p, const struct side *a, const struct side *b,
		 const struct fsck_opts *o, size_t failed, int exit_code);

/* mhafsck_peer.c: --peer (through the local mhafs's control socket);
 * returns the exit code. */
struct config;
int mhafsck_peer(const struct config *cfg, int repair, int json);

#endif
