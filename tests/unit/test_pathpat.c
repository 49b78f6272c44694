/* test_pathpat.c: node-local pattern matching with the default patterns,
 * and the safe store-relative path check. */
#include "config.h"
#include "pathpat.h"
#include "tcheck.h"

int main(void)
{
	struct config cfg;
	config_defaults(&cfg);
	char *const *pat = cfg.node_local;
	size_t n = cfg.n_node_local;

	/* Dovecot indexes, caches and logs. */
	CHECK(pathpat_is_local(pat, n, "u/Maildir/dovecot.index"));
	CHECK(pathpat_is_local(pat, n, "u/Maildir/dovecot.index.cache"));
	CHECK(pathpat_is_local(pat, n, "u/Maildir/dovecot.index.log.2"));
	CHECK(pathpat_is_local(pat, n, "u/Maildir/.Sent/dovecot.index.log"));
	CHECK(pathpat_is_local(pat, n, "u/Maildir/dovecot.list.index.log"));
	CHECK(pathpat_is_local(pat, n, "dovecot.index"));
	/* Lock files anywhere. */
	CHECK(pathpat_is_local(pat, n, "u/Maildir/dovecot-uidlist.lock"));
	CHECK(pathpat_is_local(pat, n, "x.lock"));
	/* tmp/ directories and all below them. */
	CHECK(pathpat_is_local(pat, n, "a/Maildir/tmp/x"));
	CHECK(pathpat_is_local(pat, n, "a/Maildir/tmp"));
	CHECK(pathpat_is_local(pat, n, "a/Maildir/.Sent/tmp/1234.M1P2.host"));
	CHECK(pathpat_is_local(pat, n, "tmp/deep/er/file"));
	/* The replicator's staging directory, always. */
	CHECK(pathpat_is_local(pat, n, CONFIG_STAGING_DIR "/17.part"));
	CHECK(pathpat_is_local(pat, n, CONFIG_STAGING_DIR));

	/* Replicated: messages, uidlist, keywords, subscriptions. */
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/cur/x"));
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/new/1234.M1P2.host"));
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/cur/1234.M1P2.host:2,S"));
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/dovecot-uidlist"));
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/dovecot-keywords"));
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/subscriptions"));
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/tmpfile"));   /* not the dir tmp */
	CHECK(!pathpat_is_local(pat, n, "a/Maildir/cur/tmp.x"));
	CHECK(!pathpat_is_local(pat, n, "a/lock"));
	CHECK(!pathpat_is_local(pat, n, "a/x.lock.old"));
	CHECK(!pathpat_is_local(pat, n, "a/mydovecot.index")); /* pattern anchors at the start */

	/* No patterns: nothing is local. */
	CHECK(!pathpat_is_local(NULL, 0, "a/Maildir/tmp/x"));

	/* Safe paths. */
	CHECK(pathpat_is_safe("a"));
	CHECK(pathpat_is_safe("a/Maildir/cur/x:2,S"));
	CHECK(pathpat_is_safe("a/.b/..c/...")); /* dots inside names are fine */
	CHECK(pathpat_is_safe("a b/c%d_e"));
	/* Unsafe ones. */
	CHECK(!pathpat_is_safe(NULL));
	CHECK(!pathpat_is_safe(""));
	CHECK(!pathpat_is_safe(".."));
	CHECK(!pathpat_is_safe("."));
	CHECK(!pathpat_is_safe("/abs"));
	CHECK(!pathpat_is_safe("/"));
	CHECK(!pathpat_is_safe("a//b"));
	CHECK(!pathpat_is_safe("a/./b"));
	CHECK(!pathpat_is_safe("a/../b"));
	CHECK(!pathpat_is_safe("../a"));
	CHECK(!pathpat_is_safe("a/.."));
	CHECK(!pathpat_is_safe("a/"));
	CHECK(!pathpat_is_safe("a/."));

	config_free(&cfg);
	return t_done("test_pathpat");
}
