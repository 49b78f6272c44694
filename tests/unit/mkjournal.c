/* mkjournal.c: test helper for mhactl.sh: builds or changes a journal the
 * way mhafs would, without FUSE.
 *   mkjournal STATE BACKING recover        journal_open + journal_recover
 *   mkjournal STATE BACKING OP PATH [PATH2] record one entry (op by name;
 *                                           st taken from BACKING/PATH
 *                                           if it exists, content hashed)
 * Node id 1, the default node-local patterns.  Prints the stats or the seq; exit 0, or 1 with a message. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "journal.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct hlc clk;
	char err[512];
	int clean;

	if (argc < 4) {
		fprintf(stderr, "usage: mkjournal STATE BACKING recover | OP PATH [PATH2]\n");
		return 2;
	}
	log_init("mkjournal", 1, LOG_WARNING);
	hlc_init(&clk, NULL, NULL, 0);
	struct journal *j = journal_open(argv[1], 1, &clk, &clean, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "mkjournal: %s\n", err);
		return 1;
	}
	int bfd = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (bfd < 0) {
		fprintf(stderr, "mkjournal: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	int rc;
	if (!strcmp(argv[3], "recover")) {
		struct recover_stats rs;
		struct config cfg;
		config_defaults(&cfg);
		rc = journal_recover(j, bfd, cfg.node_local, cfg.n_node_local, &rs);
		config_free(&cfg);
		printf("clean %d scanned %llu added %llu changed %llu removed %llu\n", clean,
		       (unsigned long long)rs.scanned, (unsigned long long)rs.added,
		       (unsigned long long)rs.changed, (unsigned long long)rs.removed);
	} else {
		struct jentry e;
		int op = jop_from_name(argv[3]);
		memset(&e, 0, sizeof(e));
		if (op < 0 || argc < 5) {
			fprintf(stderr, "mkjournal: bad op or missing path\n");
			return 2;
		}
		e.op = (enum jop)op;
		e.path = argv[4];
		e.path2 = argc > 5 ? argv[5] : NULL;
		if (op == JOP_SETXATTR || op == JOP_REMOVEXATTR)
			e.xname = "user.test";
		const char *obj = op == JOP_RENAME || op == JOP_LINK ? e.path2 : e.path;
		if (obj && fstatat(bfd, obj, &e.st, AT_SYMLINK_NOFOLLOW) == 0) {
			e.has_st = 1;
			if (S_ISREG(e.st.st_mode)) {
				int fd = openat(bfd, obj, O_RDONLY);
				if (fd >= 0 && hash_fd(fd, &e.hash, NULL) == 0)
					e.has_hash = 1;
				if (fd >= 0)
					close(fd);
			}
		}
		rc = journal_record(j, &e);
		if (rc == 0)
			printf("seq %llu\n", (unsigned long long)e.seq);
	}
	close(bfd);
	journal_close(j, 1);
	if (rc < 0) {
		fprintf(stderr, "mkjournal: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
