/* test_config.c: the configuration parser: a good file, and every kind of
 * error naming file:line (unknown key, duplicate, bad number, out of range,
 * bad bool, missing '='), plus -o style config_set and config_validate. */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "tcheck.h"

static char path[64];

static void write_conf(const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(99);
	}
	fputs(text, f);
	fclose(f);
}

/* Load text; returns the status and leaves the message in err. */
static int load(const char *text, struct config *cfg, char *err, size_t errlen)
{
	write_conf(text);
	config_defaults(cfg);
	err[0] = '\0';
	return config_load(cfg, path, 0, err, errlen);
}

static void expect_error(const char *text, int line, const char *what)
{
	struct config cfg;
	char err[CONFIG_ERRLEN], where[96];
	CHECK_INT(load(text, &cfg, err, sizeof(err)), -1);
	snprintf(where, sizeof(where), "%s:%d:", path, line);
	CHECK_HAS(err, where);
	CHECK_HAS(err, what);
	config_free(&cfg);
}

int main(void)
{
	struct config cfg;
	char err[CONFIG_ERRLEN];
	int fd;

	snprintf(path, sizeof(path), "/tmp/mhafs-test-config.XXXXXX");
	if ((fd = mkstemp(path)) < 0) {
		perror("mkstemp");
		return 99;
	}
	close(fd);

	/* A good file: comments, blank lines, spacing, every value type. */
	CHECK_INT(load("# node\n\nnode_name = alpha\nnode_id=7   # trailing comment\n"
		       "state_dir = /var/lib/x\nwriteback_cache = yes\nxattrs = yes\nentry_timeout = 2.5\n"
		       "clock_offset_ms = -60000\nsync_mode = async\n"
		       "node_local = a* b/\nnode_local = c.lock\n", &cfg, err, sizeof(err)), 0);
	CHECK_STR(cfg.node_name, "alpha");
	CHECK_INT(cfg.node_id, 7);
	CHECK_STR(cfg.state_dir, "/var/lib/x");
	CHECK_INT(cfg.writeback_cache, 1);
	CHECK_INT(cfg.xattrs, 1);
	CHECK(cfg.entry_timeout > 2.49 && cfg.entry_timeout < 2.51);
	CHECK_INT(cfg.clock_offset_ms, -60000);
	CHECK_INT(cfg.sync_mode, SYNC_MODE_ASYNC);
	/* a repeated list key appends; the replicator's staging dir is always in */
	CHECK_INT(cfg.n_node_local, 4);
	CHECK_STR(cfg.node_local[0], "a*");
	CHECK_STR(cfg.node_local[1], "b/");
	CHECK_STR(cfg.node_local[2], CONFIG_STAGING_DIR);
	CHECK_STR(cfg.node_local[3], "c.lock");
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);

	/* Defaults: the node-local patterns the design names. */
	config_defaults(&cfg);
	CHECK_INT(cfg.n_node_local, 6);
	CHECK_STR(cfg.node_local[0], "dovecot.index*");
	CHECK_STR(cfg.node_local[3], "dovecot-uidlist.tmp");
	CHECK_STR(cfg.node_local[4], "tmp/");
	CHECK_STR(cfg.node_local[5], CONFIG_STAGING_DIR);
	CHECK_INT(cfg.node_id, 0);
	CHECK_INT(cfg.xattrs, 0); /* off: their values are not replicated */
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), -1); /* node_id unset */
	CHECK_HAS(err, "node_id");
	config_free(&cfg);

	/* Every error names file:line and what is wrong. */
	expect_error("node_id = 1\nno_such_key = 3\n", 2, "unknown key 'no_such_key'");
	expect_error("node_id = 1\n\nnode_id = 2\n", 3, "given twice");
	expect_error("# x\nnode_id = seven\n", 2, "not a whole number");
	expect_error("node_id = 12x\n", 1, "not a whole number");
	expect_error("node_id = 70000\n", 1, "out of range");
	expect_error("node_id = 0\n", 1, "out of range");
	expect_error("node_id = 1\nheartbeat_interval_ms = 5\n", 2, "out of range");
	expect_error("writeback_cache = maybe\n", 1, "not yes or no");
	expect_error("node_id = 1\njust some words\n", 2, "expected 'key = value'");
	expect_error("sync_mode = sometimes\n", 1, "not sync or async");
	expect_error("entry_timeout = fast\n", 1, "not a number");
	expect_error("node_name =\n", 1, "empty value");

	/* A failed load leaves earlier keys, but says which line failed. */
	CHECK_INT(load("node_id = 5\nnode_id = 6\n", &cfg, err, sizeof(err)), -1);
	CHECK_INT(cfg.node_id, 5);
	config_free(&cfg);

	/* Missing files: an error unless missing_ok. */
	config_defaults(&cfg);
	CHECK_INT(config_load(&cfg, "/nonexistent/mhafs.conf", 0, err, sizeof(err)), -1);
	CHECK_HAS(err, "/nonexistent/mhafs.conf");
	CHECK_INT(config_load(&cfg, "/nonexistent/mhafs.conf", 1, err, sizeof(err)), 0);

	/* -o key=value goes through the same checks. */
	CHECK_INT(config_set(&cfg, "node_id", "9", err, sizeof(err)), 0);
	CHECK_INT(cfg.node_id, 9);
	CHECK_INT(config_set(&cfg, "node_id", "-1", err, sizeof(err)), -1);
	CHECK_HAS(err, "out of range");
	CHECK_INT(config_set(&cfg, "nope", "1", err, sizeof(err)), -1);
	CHECK_HAS(err, "unknown key");
	CHECK(config_is_key("state_dir"));
	CHECK(!config_is_key("state-dir"));
	CHECK_INT(config_set(&cfg, "log_target", "console", err, sizeof(err)), 0);
	CHECK_INT(config_validate(&cfg, err, sizeof(err)), -1);
	CHECK_HAS(err, "log_target");
	config_free(&cfg);

	unlink(path);
	return t_done("test_config");
}
