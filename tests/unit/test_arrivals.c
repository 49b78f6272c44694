/* test_arrivals.c: telling a move's unlink from an expunge (arrivals.c):
 * an unlink is a move's source only when the same base name, or the same
 * content, arrived in another folder of the same maildir within the
 * window, and not together with the unlinked message itself. */
#include <stdio.h>
#include <string.h>

#include "arrivals.h"
#include "hash.h"
#include "tcheck.h"

int main(void)
{
	struct arrivals *ar = arrivals_new(0); /* the least window, ARRIVALS_SIBLING_MS */
	char out[256];
	uint64_t t = 1000000;

	CHECK(ar != NULL);
	/* Dovecot's move: the copy is committed into .Archive, then INBOX's
	 * file (other flags) is unlinked */
	arrivals_note(ar, "d/u/Maildir/.Archive/cur/1.M1P2.h:2,S", NULL, t);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/1.M1P2.h:2,FS", t + 5, out, sizeof(out)), ARRIVAL_MOVED);
	CHECK(strcmp(out, "d/u/Maildir/.Archive/cur/1.M1P2.h:2,S") == 0);
	/* and on: from .Archive to .Trash, a folder to another folder */
	uint64_t t2 = t + ARRIVALS_SIBLING_MS;
	arrivals_note(ar, "d/u/Maildir/.Trash/new/1.M1P2.h", NULL, t2);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/.Archive/cur/1.M1P2.h:2,S", t2 + 1, out, sizeof(out)), ARRIVAL_MOVED);
	CHECK(strcmp(out, "d/u/Maildir/.Trash/new/1.M1P2.h") == 0);
	/* an expunge: nothing of that base name arrived */
	CHECK(arrivals_moved_to(ar, "d/u/Maildir/cur/2.M1P2.h:2,ST", t + 12, out, sizeof(out)) != ARRIVAL_MOVED);
	/* a new/ to cur/ rename or a copy within the folder is no move */
	arrivals_note(ar, "d/u/Maildir/new/3.M1P2.h", NULL, t);
	CHECK(arrivals_moved_to(ar, "d/u/Maildir/cur/3.M1P2.h:2,", t + 1, out, sizeof(out)) != ARRIVAL_MOVED);
	/* another user's maildir does not count */
	arrivals_note(ar, "d/v/Maildir/.Archive/cur/4.M1P2.h:2,", NULL, t);
	CHECK(arrivals_moved_to(ar, "d/u/Maildir/cur/4.M1P2.h:2,", t + 1, out, sizeof(out)) != ARRIVAL_MOVED);
	/* outside the window an unlink is an expunge again */
	arrivals_note(ar, "d/u/Maildir/.Archive/cur/5.M1P2.h:2,", NULL, t);
	CHECK(arrivals_moved_to(ar, "d/u/Maildir/cur/5.M1P2.h:2,", t + ARRIVALS_WINDOW_MS + 1, out,
				    sizeof(out)) != ARRIVAL_MOVED);
	/* not a message: ignored */
	arrivals_note(ar, "d/u/Maildir/.Archive/dovecot-uidlist", NULL, t);
	CHECK(arrivals_moved_to(ar, "d/u/Maildir/dovecot-uidlist", t, out, sizeof(out)) != ARRIVAL_MOVED);
	/* a maildir at the top of the store (folders ".X" beside cur/) */
	arrivals_note(ar, ".Sent/cur/6.M1P2.h:2,S", NULL, t);
	CHECK_INT(arrivals_moved_to(ar, "cur/6.M1P2.h:2,S", t + 1, out, sizeof(out)), ARRIVAL_MOVED);
	/* a full table forgets the oldest, never answers wrongly */
	for (int i = 0; i < 20000; i++) {
		char p[80];
		snprintf(p, sizeof(p), "d/u/Maildir/.Archive/cur/%d.fill.h:2,", i);
		arrivals_note(ar, p, NULL, t + 100);
	}
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/19999.fill.h:2,", t + 101, out, sizeof(out)), ARRIVAL_MOVED);
	CHECK(arrivals_moved_to(ar, "d/u/Maildir/cur/7.none.h:2,", t + 101, out, sizeof(out)) != ARRIVAL_MOVED);
	/* a destination too long for out is not reported */
	CHECK(arrivals_moved_to(ar, "d/u/Maildir/cur/19999.fill.h:2,", t + 101, out, 8) != ARRIVAL_MOVED);
	/* Dovecot's move by copying (no hard link): a new base name in the
	 * target, the same content; only the content ties the two */
	struct hash128 h1, h2;
	hash_buf("message one", 11, &h1);
	hash_buf("message two", 11, &h2);
	CHECK(arrivals_moved_to(ar, "d/w/Maildir/cur/8.old.h:2,S", t + 200, out, sizeof(out)) != ARRIVAL_BY_CONTENT); /* nothing arrived */
	arrivals_note(ar, "d/w/Maildir/.Archive/new/9.new.h,W=11", &h1, t + 200);
	CHECK(arrivals_moved_to(ar, "d/w/Maildir/cur/8.old.h:2,S", t + 201, out, sizeof(out)) == ARRIVAL_BY_CONTENT);
	CHECK_INT(arrivals_with_content(ar, "d/w/Maildir/cur/8.old.h:2,S", &h1, t + 201, out, sizeof(out)), 1);
	CHECK(strcmp(out, "d/w/Maildir/.Archive/new/9.new.h,W=11") == 0);
	CHECK_INT(arrivals_with_content(ar, "d/w/Maildir/cur/8.old.h:2,S", &h2, t + 201, out, sizeof(out)), 0);
	CHECK(arrivals_moved_to(ar, "d/w/Maildir/cur/8.old.h:2,S", t + 201, out, sizeof(out)) != ARRIVAL_MOVED);
	/* the same content arriving in the same folder is no move */
	CHECK_INT(arrivals_with_content(ar, "d/w/Maildir/.Archive/cur/10.x.h:2,", &h1, t + 201, out, sizeof(out)), 0);
	/* nor in another user's maildir */
	CHECK(arrivals_moved_to(ar, "d/x/Maildir/cur/8.old.h:2,S", t + 201, out, sizeof(out)) != ARRIVAL_BY_CONTENT);
	CHECK_INT(arrivals_with_content(ar, "d/x/Maildir/cur/8.old.h:2,S", &h1, t + 201, out, sizeof(out)), 0);
	/* a base-name arrival needs no hash */
	arrivals_note(ar, "d/w/Maildir/.Archive/cur/11.same.h:2,S", &h2, t + 202);
	CHECK(arrivals_moved_to(ar, "d/w/Maildir/cur/11.same.h:2,S", t + 203, out, sizeof(out)) != ARRIVAL_BY_CONTENT);
	/* one delivery's copies in two folders (Sieve fileinto and keep), by
	 * hard link (one base name) in either order, or by copying (the same
	 * content): unlinking one later is an expunge, not a move */
	uint64_t d = t + 300;
	arrivals_note(ar, "d/s/Maildir/new/20.sv.h", &h1, d);
	arrivals_note(ar, "d/s/Maildir/.Archive/new/20.sv.h", &h1, d + 10);
	CHECK_INT(arrivals_moved_to(ar, "d/s/Maildir/cur/20.sv.h:2,S", d + 1000, out, sizeof(out)), ARRIVAL_NONE);
	CHECK_INT(arrivals_with_content(ar, "d/s/Maildir/cur/20.sv.h:2,S", &h1, d + 1000, out, sizeof(out)), 0);
	arrivals_note(ar, "d/s/Maildir/.Archive/new/21.sv.h", &h2, d);
	arrivals_note(ar, "d/s/Maildir/new/21.sv.h", &h2, d + 10);
	CHECK_INT(arrivals_moved_to(ar, "d/s/Maildir/cur/21.sv.h:2,S", d + 1000, out, sizeof(out)), ARRIVAL_NONE);
	arrivals_note(ar, "d/s2/Maildir/new/22.a.h", &h1, d);
	arrivals_note(ar, "d/s2/Maildir/.Archive/new/23.b.h", &h1, d + 2);
	CHECK_INT(arrivals_moved_to(ar, "d/s2/Maildir/cur/22.a.h:2,S", d + 1000, out, sizeof(out)), ARRIVAL_NONE);
	CHECK_INT(arrivals_with_content(ar, "d/s2/Maildir/cur/22.a.h:2,S", &h1, d + 1000, out, sizeof(out)), 0);
	/* a move a while after the delivery is one, by base name or content */
	arrivals_note(ar, "d/s/Maildir/.Trash/cur/20.sv.h:2,S", &h1, d + ARRIVALS_SIBLING_MS);
	CHECK_INT(arrivals_moved_to(ar, "d/s/Maildir/cur/20.sv.h:2,S", d + ARRIVALS_SIBLING_MS + 1, out, sizeof(out)),
		  ARRIVAL_MOVED);
	CHECK(strcmp(out, "d/s/Maildir/.Trash/cur/20.sv.h:2,S") == 0);
	arrivals_note(ar, "d/s2/Maildir/.Trash/new/24.c.h", &h1, d + ARRIVALS_SIBLING_MS + 5);
	CHECK_INT(arrivals_with_content(ar, "d/s2/Maildir/cur/22.a.h:2,S", &h1, d + ARRIVALS_SIBLING_MS + 6, out,
					sizeof(out)), 1);
	CHECK(strcmp(out, "d/s2/Maildir/.Trash/new/24.c.h") == 0);
	/* a longer sync timeout widens the sibling window: a copy 10 s after
	 * the delivery is a sibling when commits may wait 18 s for the peer */
	struct arrivals *slow = arrivals_new(20000);
	CHECK(slow != NULL);
	arrivals_note(slow, "d/s/Maildir/new/30.sv.h", &h1, d);
	arrivals_note(slow, "d/s/Maildir/.Archive/new/30.sv.h", &h1, d + 10000);
	CHECK_INT(arrivals_moved_to(slow, "d/s/Maildir/cur/30.sv.h:2,S", d + 11000, out, sizeof(out)), ARRIVAL_NONE);
	arrivals_note(slow, "d/s/Maildir/.Trash/new/30.sv.h", &h1, d + 20000);
	CHECK_INT(arrivals_moved_to(slow, "d/s/Maildir/cur/30.sv.h:2,S", d + 20001, out, sizeof(out)), ARRIVAL_MOVED);
	arrivals_free(slow);
	/* past the window */
	CHECK_INT(arrivals_with_content(ar, "d/w/Maildir/cur/8.old.h:2,S", &h1, t + 201 + ARRIVALS_WINDOW_MS,
				    out, sizeof(out)), 0);
	arrivals_free(ar);
	return t_done("test_arrivals");
}
