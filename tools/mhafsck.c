/* mhafsck.c: compare two mhafs stores offline and, with --repair, make them
 * converge by the merge rules (mhafs/merge.c, mhafs/uidlist.c).  This file
 * owns the command line, the live-mount check and the fsck exit codes;
 * the scan, plan, repair and report steps live in mhafsck_*.c. */
#define _GNU_SOURCE
#include "mhafsck.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mountinfo.h"

enum {
	EXIT_CLEAN = 0,
	EXIT_REPAIRED = 1,
	EXIT_LEFT = 4,
	EXIT_OPERATIONAL = 8,
	EXIT_USAGE = 16,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mhafsck [--dry-run | --repair] [--json] [--stray] [--force]\n"
		"               [--state-a DIR --state-b DIR [--quick]] [-c CONFIG] STORE_A STORE_B\n"
		"       mhafsck --peer [--dry-run | --repair] [--json] [-c CONFIG]\n"
		"Compare two mhafs store directories and report every difference;\n"
		"with --repair apply the merge rules to both so they converge.\n"
		"--peer: compare this node's catalog with the running peer's (through the\n"
		"local mhafs); --repair sends what the peer lacks or holds older.\n"
		"Exit: 0 clean, 1 repaired, 4 differences left, 8 operational error,\n"
		"16 usage error.  See mhafsck(8).\n");
}

/* Whether one of the two paths is the other or lies below it. */
static int related(const char *x, const char *y)
{
	size_t lx = strlen(x), ly = strlen(y), l = lx < ly ? lx : ly;
	if (strncmp(x, y, l) != 0)
		return 0;
	if (lx == ly)
		return 1;
	const char *longer = lx > ly ? x : y;
	return longer[l] == '/' || (l == 1 && longer[0] == '/');
}

/* 1 if dir is, holds or lies in the source (backing directory) or the
 * mount point of a fuse.mhafs mount, 0 if not, -1 if mountinfo cannot be
 * read. */
static int mhafs_mounted(const char *dir, char *err, size_t errlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		snprintf(err, errlen, "/proc/self/mountinfo: %s", strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		char *save, *fstype = strtok_r(sep + 3, " \n", &save);
		char *source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
		if (!fstype || !source || strcmp(fstype, "fuse.mhafs") != 0)
			continue;
		char *save2, *mnt = NULL, *tok = strtok_r(line, " ", &save2);
		for (int i = 0; tok && i < 4; i++) /* id parent dev root mountpoint */
			tok = strtok_r(NULL, " ", &save2);
		mnt = tok;
		mountinfo_unescape(source);
		if (mnt)
			mountinfo_unescape(mnt);
		found = related(source, dir) || (mnt && related(mnt, dir));
	}
	free(line);
	fclose(f);
	return found;
}

struct args {
	struct fsck_opts o;
	const char *state_a, *state_b, *config, *store_a, *store_b;
	int dry_run, peer;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "stray", no_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "quick", no_argument, NULL, 'q' },
		{ "state-a", required_argument, NULL, 'A' },
		{ "state-b", required_argument, NULL, 'B' },
		{ "config", required_argument, NULL, 'c' },
		{ "peer", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "nrjsfqc:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': a->dry_run = 1; break;
		case 'r': a->o.repair = 1; break;
		case 'j': a->o.json = 1; break;
		case 's': a->o.stray = 1; break;
		case 'f': a->o.force = 1; break;
		case 'q': a->o.quick = 1; break;
		case 'A': a->state_a = optarg; break;
		case 'B': a->state_b = optarg; break;
		case 'c': a->config = optarg; break;
		case 'p': a->peer = 1; break;
		case 'h': usage(stdout); exit(EXIT_CLEAN);
		default: return -1;
		}
	}
	if (a->dry_run && a->o.repair) {
		fprintf(stderr, "mhafsck: --dry-run and --repair exclude each other\n");
		return -1;
	}
	if (!a->state_a != !a->state_b) {
		fprintf(stderr, "mhafsck: give both --state-a and --state-b, or neither\n");
		return -1;
	}
	if (a->o.quick && !a->state_a) {
		fprintf(stderr, "mhafsck: --quick needs the catalogs (--state-a, --state-b)\n");
		return -1;
	}
	if (a->peer) {
		if (argc != optind || a->state_a || a->o.quick || a->o.stray || a->o.force) {
			fprintf(stderr, "mhafsck: --peer takes no store directories, --state-*, --quick, "
				"--stray or --force\n");
			return -1;
		}
		return 0;
	}
	if (argc - optind != 2) {
		fprintf(stderr, "mhafsck: need exactly two store directories\n");
		return -1;
	}
	a->store_a = argv[optind];
	a->store_b = argv[optind + 1];
	return 0;
}

static int check_mounts(const struct args *a, const struct side *sa, const struct side *sb)
{
	if (!a->o.repair || a->o.force)
		return 0;
	const struct side *s[2] = { sa, sb };
	char err[512];
	for (int i = 0; i < 2; i++) {
		int m = mhafs_mounted(s[i]->root, err, sizeof(err));
		if (m < 0) {
			fprintf(stderr, "mhafsck: %s\n", err);
			return -1;
		}
		if (m) {
			fprintf(stderr, "mhafsck: %s is in use by a mounted mhafs; stop it first "
				"(or --force)\n", s[i]->root);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	if (parse_args(argc, argv, &a) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	struct config cfg;
	char err[1024];
	config_defaults(&cfg);
	if (config_load(&cfg, a.config ? a.config : MHAFS_DEFAULT_CONFIG, !a.config, err,
			sizeof(err)) < 0) {
		fprintf(stderr, "mhafsck: %s\n", err);
		config_free(&cfg);
		return EXIT_OPERATIONAL;
	}
	if (a.peer) {
		int rc = mhafsck_peer(&cfg, a.o.repair, a.o.json);
		config_free(&cfg);
		return rc;
	}
	a.o.local_pat = cfg.node_local;
	a.o.n_local = cfg.n_node_local;
	a.o.progress = isatty(STDERR_FILENO);

	struct side sa, sb;
	struct plan p = { 0 };
	int code = EXIT_OPERATIONAL;
	memset(&sb, 0, sizeof(sb));
	sb.rootfd = -1;
	if (side_open(&sa, 'a', a.store_a, a.state_a, err, sizeof(err)) < 0 ||
	    side_open(&sb, 'b', a.store_b, a.state_b, err, sizeof(err)) < 0) {
		fprintf(stderr, "mhafsck: %s\n", err);
		goto out;
	}
	sa.quick = sb.quick = a.o.quick;
	if (!strcmp(sa.root, sb.root)) {
		fprintf(stderr, "mhafsck: %s and %s are the same directory\n", a.store_a, a.store_b);
		goto out;
	}
	if (check_mounts(&a, &sa, &sb) < 0)
		goto out;
	if (side_scan(&sa, &a.o, err, sizeof(err)) < 0 || side_scan(&sb, &a.o, err, sizeof(err)) < 0 ||
	    plan_build(&sa, &sb, &a.o, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "mhafsck: %s\n", err);
		goto out;
	}
	size_t failed = 0, errors = 0;
	if (a.o.repair)
		failed = plan_repair(&sa, &sb, &p, &a.o, &errors);
	if (p.differences == 0)
		code = EXIT_CLEAN;
	else if (!a.o.repair)
		code = EXIT_LEFT;
	else
		code = errors ? EXIT_OPERATIONAL : failed ? EXIT_LEFT : EXIT_REPAIRED;
	if (a.o.json)
		report_json(&p, &sa, &sb, &a.o, failed, code);
	else
		report_text(&p, &sa, &sb, &a.o, failed);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mhafsck: writing the report: %s\n", strerror(errno));
		code = EXIT_OPERATIONAL;
	}
out:
	plan_free(&p);
	side_free(&sa);
	side_free(&sb);
	config_free(&cfg);
	return code;
}
