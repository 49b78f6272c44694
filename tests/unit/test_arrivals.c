/* test_arrivals.c: telling a move's unlink from an expunge (arrivals.c):
 * an unlink is a move's source only when the same base name arrived in
 * another folder of the same maildir within the window. */
#include <stdio.h>
#include <string.h>

#include "arrivals.h"
#include "tcheck.h"

int main(void)
{
	struct arrivals *ar = arrivals_new();
	char out[256];
	uint64_t t = 1000000;

	CHECK(ar != NULL);
	/* Dovecot's move: the copy is committed into .Archive, then INBOX's
	 * file (other flags) is unlinked */
	arrivals_note(ar, "d/u/Maildir/.Archive/cur/1.M1P2.h:2,S", t);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/1.M1P2.h:2,FS", t + 5, out, sizeof(out)), 1);
	CHECK(strcmp(out, "d/u/Maildir/.Archive/cur/1.M1P2.h:2,S") == 0);
	/* and back: from .Archive to .Trash, a folder to another folder */
	arrivals_note(ar, "d/u/Maildir/.Trash/new/1.M1P2.h", t + 10);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/.Archive/cur/1.M1P2.h:2,S", t + 11, out, sizeof(out)), 1);
	CHECK(strcmp(out, "d/u/Maildir/.Trash/new/1.M1P2.h") == 0);
	/* an expunge: nothing of that base name arrived */
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/2.M1P2.h:2,ST", t + 12, out, sizeof(out)), 0);
	/* a new/ to cur/ rename or a copy within the folder is no move */
	arrivals_note(ar, "d/u/Maildir/new/3.M1P2.h", t);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/3.M1P2.h:2,", t + 1, out, sizeof(out)), 0);
	/* another user's maildir does not count */
	arrivals_note(ar, "d/v/Maildir/.Archive/cur/4.M1P2.h:2,", t);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/4.M1P2.h:2,", t + 1, out, sizeof(out)), 0);
	/* outside the window an unlink is an expunge again */
	arrivals_note(ar, "d/u/Maildir/.Archive/cur/5.M1P2.h:2,", t);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/5.M1P2.h:2,", t + ARRIVALS_WINDOW_MS + 1, out,
				    sizeof(out)), 0);
	/* not a message: ignored */
	arrivals_note(ar, "d/u/Maildir/.Archive/dovecot-uidlist", t);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/dovecot-uidlist", t, out, sizeof(out)), 0);
	/* a maildir at the top of the store (folders ".X" beside cur/) */
	arrivals_note(ar, ".Sent/cur/6.M1P2.h:2,S", t);
	CHECK_INT(arrivals_moved_to(ar, "cur/6.M1P2.h:2,S", t + 1, out, sizeof(out)), 1);
	/* a full table forgets the oldest, never answers wrongly */
	for (int i = 0; i < 20000; i++) {
		char p[80];
		snprintf(p, sizeof(p), "d/u/Maildir/.Archive/cur/%d.fill.h:2,", i);
		arrivals_note(ar, p, t + 100);
	}
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/19999.fill.h:2,", t + 101, out, sizeof(out)), 1);
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/7.none.h:2,", t + 101, out, sizeof(out)), 0);
	/* a destination too long for out is not reported */
	CHECK_INT(arrivals_moved_to(ar, "d/u/Maildir/cur/19999.fill.h:2,", t + 101, out, 8), 0);
	arrivals_free(ar);
	return t_done("test_arrivals");
}
