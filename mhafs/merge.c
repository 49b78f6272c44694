/* merge.c: the merge rules as pure functions (see merge.h): stamps, Dovecot
 * Maildir file names, and the per-key decisions for messages and small
 * files.  The dovecot-uidlist merge lives in uidlist.c. */
#include "merge.h"

#include <stdio.h>
#include <string.h>

int mstamp_cmp(const struct mstamp *a, const struct mstamp *b)
{
	if (a->hlc != b->hlc)
		return a->hlc < b->hlc ? -1 : 1;
	int c = strcmp(a->node ? a->node : "", b->node ? b->node : "");
	return c < 0 ? -1 : c > 0;
}

size_t maildir_base_len(const char *fname)
{
	return strcspn(fname, ":");
}

const char *maildir_info(const char *fname)
{
	const char *p = strchr(fname, ':');
	return p ? p + 1 : "";
}

int maildir_is_message(const char *relpath, size_t *mbox_len)
{
	const char *slash = strrchr(relpath, '/');
	if (!slash || slash[1] == '\0' || slash[1] == '.')
		return 0; /* Dovecot skips dot files in cur/ and new/ */
	size_t dirlen = (size_t)(slash - relpath);
	if (dirlen < 3)
		return 0;
	const char *last = relpath + dirlen - 3;
	if (strncmp(last, "cur", 3) != 0 && strncmp(last, "new", 3) != 0)
		return 0;
	if (dirlen > 3 && last[-1] != '/')
		return 0;
	if (mbox_len)
		*mbox_len = dirlen > 3 ? dirlen - 4 : 0;
	return 1;
}

size_t maildir_root_len(const char *mbox, size_t mbox_len)
{
	size_t i = mbox_len;
	while (i > 0 && mbox[i - 1] != '/')
		i--;
	if (i < mbox_len && mbox[i] == '.')
		return i > 0 ? i - 1 : 0;
	return mbox_len;
}

int maildir_conflict_name(const char *fname, const struct hash128 *content,
			  char *out, size_t outlen)
{
	size_t base = maildir_base_len(fname);
	size_t uniq = strcspn(fname, ",");
	if (uniq > base)
		uniq = base;
	int n = snprintf(out, outlen, "%.*s.mhafsck-%016llx%s", (int)uniq, fname,
			 (unsigned long long)content->hi, fname + uniq);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int same_location(const struct msg_side *a, const struct msg_side *b)
{
	return strcmp(a->dir, b->dir) == 0 && strcmp(a->name, b->name) == 0;
}

static int same_hash(const struct hash128 *a, const struct hash128 *b)
{
	return a->hi == b->hi && a->lo == b->lo;
}

/* One side present: copy it, unless the other side's tombstone is later. */
static void one_sided(int a_present, int tomb, const struct mstamp *live,
		      const struct mstamp *dead, struct merge_decision *d)
{
	d->cls = MC_MISSING;
	if (tomb && mstamp_cmp(dead, live) > 0)
		d->act = a_present ? MA_DELETE_ON_A : MA_DELETE_ON_B;
	else
		d->act = a_present ? MA_COPY_TO_B : MA_COPY_TO_A;
}

/* What presence alone decides, for a message or a file: nothing when
 * neither side has it, one_sided when one has.  1 when decided (d set),
 * 0 when both sides have it (d says none so far). */
static int by_presence(int a_present, int b_present, int a_tomb, int b_tomb,
		       const struct mstamp *a_stamp, const struct mstamp *b_stamp,
		       struct merge_decision *d)
{
	d->cls = MC_NONE;
	d->act = MA_NONE;
	if (!a_present && !b_present)
		return 1;
	if (a_present != b_present) {
		if (a_present)
			one_sided(1, b_tomb, a_stamp, b_stamp, d);
		else
			one_sided(0, a_tomb, b_stamp, a_stamp, d);
		return 1;
	}
	return 0;
}

void merge_message(const struct msg_side *a, const struct msg_side *b,
		   struct merge_decision *d)
{
	if (by_presence(a->present, b->present, a->tombstone, b->tombstone, &a->stamp, &b->stamp, d))
		return;
	int later = mstamp_cmp(&a->stamp, &b->stamp); /* >0: A is later */
	if (!same_hash(&a->hash, &b->hash)) {
		/* Never merged, never dropped: the copy with the earlier stamp
		 * keeps the name, the other is kept under a new unique name. */
		d->cls = MC_CONTENT;
		d->act = later > 0 ? MA_KEEP_BOTH_A_RENAMED : MA_KEEP_BOTH_B_RENAMED;
		return;
	}
	if (same_location(a, b))
		return;
	d->cls = MC_LOCATION;
	d->act = later >= 0 ? MA_MOVE_ON_B : MA_MOVE_ON_A;
}

void merge_file(const struct file_side *a, const struct file_side *b,
		struct merge_decision *d)
{
	if (by_presence(a->present, b->present, a->tombstone, b->tombstone, &a->stamp, &b->stamp, d))
		return;
	if (same_hash(&a->hash, &b->hash))
		return;
	d->cls = MC_OTHER;
	d->act = mstamp_cmp(&a->stamp, &b->stamp) >= 0 ? MA_COPY_TO_B : MA_COPY_TO_A;
}

void merge_dir(const struct dir_side *a, const struct dir_side *b, int keeps_content,
	       struct merge_decision *d)
{
	d->cls = MC_NONE;
	d->act = MA_NONE;
	if (a->present == b->present)
		return;
	d->cls = MC_MISSING;
	const struct dir_side *live = a->present ? a : b, *gone = a->present ? b : a;
	if (!keeps_content && gone->tombstone && mstamp_cmp(&gone->stamp, &live->stamp) > 0)
		d->act = a->present ? MA_DELETE_ON_A : MA_DELETE_ON_B;
	else
		d->act = a->present ? MA_COPY_TO_B : MA_COPY_TO_A;
}

static const char *const class_names[MC_COUNT] = {
	[MC_NONE] = "none",
	[MC_MISSING] = "missing",
	[MC_LOCATION] = "flags-folder",
	[MC_CONTENT] = "content",
	[MC_UIDLIST] = "uidlist",
	[MC_OTHER] = "other",
	[MC_STRAY] = "stray-local",
};

static const char *const action_names[MA_COUNT] = {
	[MA_NONE] = "none",
	[MA_COPY_TO_A] = "copy-to-a",
	[MA_COPY_TO_B] = "copy-to-b",
	[MA_DELETE_ON_A] = "delete-on-a",
	[MA_DELETE_ON_B] = "delete-on-b",
	[MA_MOVE_ON_A] = "move-on-a",
	[MA_MOVE_ON_B] = "move-on-b",
	[MA_KEEP_BOTH_A_RENAMED] = "keep-both-rename-a",
	[MA_KEEP_BOTH_B_RENAMED] = "keep-both-rename-b",
	[MA_MERGE_UIDLIST] = "merge-uidlist",
	[MA_MERGE_FLAGS] = "merge-flags",
};

const char *merge_class_name(enum merge_class c)
{
	return (unsigned)c < MC_COUNT ? class_names[c] : "?";
}

const char *merge_action_name(enum merge_action a)
{
	return (unsigned)a < MA_COUNT ? action_names[a] : "?";
}
