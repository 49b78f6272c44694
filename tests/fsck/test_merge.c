/* test_merge.c: the merge rules of mhafs/merge.c one by one: stamp order,
 * Dovecot file-name handling, and each message and small-file decision. */
#include "merge.h"
#include "tcheck.h"

static struct msg_side live(const char *dir, const char *name, uint64_t hlc,
			    const char *node, uint64_t content)
{
	struct msg_side s = { 1, dir, name, { content, content }, { hlc, node }, 0 };
	return s;
}

static struct msg_side gone(uint64_t hlc, int tomb)
{
	struct msg_side s = { 0, NULL, NULL, { 0, 0 }, { hlc, "x" }, tomb };
	return s;
}

static void test_stamps(void)
{
	struct mstamp a = { 100, "alpha" }, b = { 200, "alpha" }, c = { 100, "beta" };
	CHECK(mstamp_cmp(&a, &b) < 0);
	CHECK(mstamp_cmp(&b, &a) > 0);
	CHECK(mstamp_cmp(&a, &c) < 0);    /* same HLC: node name decides */
	CHECK(mstamp_cmp(&c, &a) > 0);
	CHECK_INT(mstamp_cmp(&a, &a), 0);
	struct mstamp n = { 100, NULL };
	CHECK(mstamp_cmp(&n, &a) < 0);
}

static void test_names(void)
{
	const char *f = "1700000000.M12P34.host,S=1234,W=1260:2,FS";
	CHECK_INT(maildir_base_len(f), strlen("1700000000.M12P34.host,S=1234,W=1260"));
	CHECK_STR(maildir_info(f), "2,FS");
	CHECK_INT(maildir_base_len("1.M1P1.h"), 8);
	CHECK_STR(maildir_info("1.M1P1.h"), "");
	/* A ',' variant without ':' is another base name, as in Dovecot. */
	CHECK(maildir_base_len("1.M1P1.h,S=5") != maildir_base_len("1.M1P1.h"));

	size_t m = 99;
	CHECK(maildir_is_message("u/Maildir/cur/1.M1P1.h:2,S", &m));
	CHECK_INT(m, strlen("u/Maildir"));
	CHECK(maildir_is_message("u/Maildir/.Sent/new/1.M1P1.h", &m));
	CHECK_INT(m, strlen("u/Maildir/.Sent"));
	CHECK(maildir_is_message("cur/1.M1P1.h", &m));
	CHECK_INT(m, 0);
	CHECK(!maildir_is_message("u/Maildir/tmp/1.M1P1.h", &m));
	CHECK(!maildir_is_message("u/Maildir/dovecot-uidlist", &m));
	CHECK(!maildir_is_message("u/Maildir/cur/.hidden", &m));
	CHECK(!maildir_is_message("u/Maildir/xcur/1", &m));
	CHECK(!maildir_is_message("u/Maildir/cur/", &m));

	CHECK_INT(maildir_root_len("u/Maildir/.Sent", 15), strlen("u/Maildir"));
	CHECK_INT(maildir_root_len("u/Maildir", 9), 9);
	CHECK_INT(maildir_root_len(".Sent", 5), 0);
	CHECK_INT(maildir_root_len("", 0), 0);

	char out[256];
	struct hash128 h = { 0x0123456789abcdefULL, 7 };
	CHECK_INT(maildir_conflict_name(f, &h, out, sizeof(out)), 0);
	CHECK_STR(out, "1700000000.M12P34.host.mhafsck-0123456789abcdef,S=1234,W=1260:2,FS");
	CHECK_INT(maildir_conflict_name("9.M9P9.h", &h, out, sizeof(out)), 0);
	CHECK_STR(out, "9.M9P9.h.mhafsck-0123456789abcdef");
	CHECK(maildir_base_len(out) > maildir_base_len("9.M9P9.h")); /* a new key */
	CHECK_INT(maildir_conflict_name(f, &h, out, 20), -1);
}

static void test_messages(void)
{
	struct merge_decision d;
	struct msg_side a, b;

	/* Identical on both sides: nothing to do. */
	a = live("m/cur", "k:2,S", 10, "a", 1);
	b = live("m/cur", "k:2,S", 20, "b", 1);
	merge_message(&a, &b, &d);
	CHECK_INT(d.cls, MC_NONE);
	CHECK_INT(d.act, MA_NONE);

	/* New mail on one side only, nothing known on the other: copy. */
	a = live("m/new", "k", 10, "a", 1);
	b = gone(0, 0);
	merge_message(&a, &b, &d);
	CHECK_INT(d.cls, MC_MISSING);
	CHECK_INT(d.act, MA_COPY_TO_B);
	merge_message(&b, &a, &d);
	CHECK_INT(d.act, MA_COPY_TO_A);

	/* Expunged on B after A's last change: the tombstone wins. */
	a = live("m/cur", "k:2,S", 10, "a", 1);
	b = gone(30, 1);
	merge_message(&a, &b, &d);
	CHECK_INT(d.cls, MC_MISSING);
	CHECK_INT(d.act, MA_DELETE_ON_A);
	merge_message(&b, &a, &d);
	CHECK_INT(d.act, MA_DELETE_ON_B);

	/* A changed the message after B expunged it: kept and copied back. */
	a = live("m/cur", "k:2,S", 40, "a", 1);
	merge_message(&a, &b, &d);
	CHECK_INT(d.act, MA_COPY_TO_B);
	/* An old tombstone (a flag rename's old path) never deletes. */
	b = gone(5, 1);
	a = live("m/cur", "k:2,S", 10, "a", 1);
	merge_message(&a, &b, &d);
	CHECK_INT(d.act, MA_COPY_TO_B);

	/* Flags differ: the later change wins. */
	a = live("m/cur", "k:2,S", 10, "a", 1);
	b = live("m/cur", "k:2,RS", 20, "b", 1);
	merge_message(&a, &b, &d);
	CHECK_INT(d.cls, MC_LOCATION);
	CHECK_INT(d.act, MA_MOVE_ON_A);
	a.stamp.hlc = 30;
	merge_message(&a, &b, &d);
	CHECK_INT(d.act, MA_MOVE_ON_B);
	/* Same HLC: the node name breaks the tie ("b" > "a"). */
	a.stamp.hlc = 20;
	merge_message(&a, &b, &d);
	CHECK_INT(d.act, MA_MOVE_ON_A);

	/* Folder differs (a move), same flags. */
	a = live("m/.Archive/cur", "k:2,S", 50, "a", 1);
	b = live("m/cur", "k:2,S", 20, "b", 1);
	merge_message(&a, &b, &d);
	CHECK_INT(d.cls, MC_LOCATION);
	CHECK_INT(d.act, MA_MOVE_ON_B);
	/* new/ versus cur/ is a location too. */
	a = live("m/new", "k", 10, "a", 1);
	b = live("m/cur", "k:2,", 20, "b", 1);
	merge_message(&a, &b, &d);
	CHECK_INT(d.act, MA_MOVE_ON_A);

	/* Same name, different content: both kept, the later one renamed. */
	a = live("m/new", "k", 10, "a", 1);
	b = live("m/new", "k", 20, "b", 2);
	merge_message(&a, &b, &d);
	CHECK_INT(d.cls, MC_CONTENT);
	CHECK_INT(d.act, MA_KEEP_BOTH_B_RENAMED);
	a.stamp.hlc = 30;
	merge_message(&a, &b, &d);
	CHECK_INT(d.act, MA_KEEP_BOTH_A_RENAMED);
	/* ... even when their flags differ too: content comes first. */
	b = live("m/cur", "k:2,S", 20, "b", 2);
	merge_message(&a, &b, &d);
	CHECK_INT(d.cls, MC_CONTENT);

	/* Neither side has it. */
	a = gone(1, 1);
	b = gone(2, 0);
	merge_message(&a, &b, &d);
	CHECK_INT(d.act, MA_NONE);
}

static void test_files(void)
{
	struct merge_decision d;
	struct file_side a = { 1, { 1, 1 }, { 10, "a" }, 0 };
	struct file_side b = { 1, { 1, 1 }, { 20, "b" }, 0 };
	merge_file(&a, &b, &d);
	CHECK_INT(d.act, MA_NONE);
	/* Different content: whole-file last writer wins. */
	b.hash.lo = 2;
	merge_file(&a, &b, &d);
	CHECK_INT(d.cls, MC_OTHER);
	CHECK_INT(d.act, MA_COPY_TO_A);
	a.stamp.hlc = 30;
	merge_file(&a, &b, &d);
	CHECK_INT(d.act, MA_COPY_TO_B);
	/* Missing without a tombstone: copied. */
	struct file_side none = { 0, { 0, 0 }, { 0, NULL }, 0 };
	merge_file(&none, &b, &d);
	CHECK_INT(d.cls, MC_MISSING);
	CHECK_INT(d.act, MA_COPY_TO_A);
	/* Deleted later than the other side's write: deleted there too. */
	struct file_side del = { 0, { 0, 0 }, { 25, "a" }, 1 };
	merge_file(&del, &b, &d);
	CHECK_INT(d.act, MA_DELETE_ON_B);
	del.stamp.hlc = 15;
	merge_file(&del, &b, &d);
	CHECK_INT(d.act, MA_COPY_TO_A);
}

static void test_dirs(void)
{
	struct merge_decision d;
	struct dir_side a = { 1, { 10, "a" }, 0 }, b = { 1, { 20, "b" }, 0 };
	merge_dir(&a, &b, 1, &d);
	CHECK_INT(d.act, MA_NONE);
	/* Only on a, nothing known on b: created on b. */
	struct dir_side none = { 0, { 0, NULL }, 0 };
	merge_dir(&a, &none, 0, &d);
	CHECK_INT(d.cls, MC_MISSING);
	CHECK_INT(d.act, MA_COPY_TO_B);
	/* b removed it after a's last change, and nothing stays in it. */
	struct dir_side rm = { 0, { 30, "b" }, 1 };
	merge_dir(&a, &rm, 0, &d);
	CHECK_INT(d.act, MA_DELETE_ON_A);
	merge_dir(&rm, &a, 0, &d);
	CHECK_INT(d.act, MA_DELETE_ON_B);
	/* ... but new mail on a keeps it (and brings it back to b). */
	merge_dir(&a, &rm, 1, &d);
	CHECK_INT(d.act, MA_COPY_TO_B);
	/* An older removal never deletes. */
	rm.stamp.hlc = 5;
	merge_dir(&a, &rm, 0, &d);
	CHECK_INT(d.act, MA_COPY_TO_B);
}

static void test_names_table(void)
{
	CHECK_STR(merge_class_name(MC_LOCATION), "flags-folder");
	CHECK_STR(merge_class_name(MC_STRAY), "stray-local");
	CHECK_STR(merge_action_name(MA_KEEP_BOTH_A_RENAMED), "keep-both-rename-a");
	CHECK_STR(merge_class_name((enum merge_class)99), "?");
}

int main(void)
{
	test_stamps();
	test_names();
	test_messages();
	test_files();
	test_dirs();
	test_names_table();
	return t_done("test_merge");
}
