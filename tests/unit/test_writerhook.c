/* test_writerhook.c: the journal writer's committed() hook and
 * journal_hooks_off (journal_async.c).  The hook is told of every
 * committed entry while it is on; journal_hooks_off returns only after a
 * call in progress has ended, and no call follows it, while the writer
 * goes on committing.  mhafs relies on this to free replication, which
 * the hook uses, while the writer still drains its queue at unmount. */
#include "tjournal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static struct hlc clk;
static atomic_int in_hook, calls, entered;
static atomic_ullong top_seen;

static void nap_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* a slow hook: long enough that hooks_off finds it running */
static void hook(void *arg, uint64_t seq)
{
	(void)arg;
	atomic_store(&in_hook, 1);
	atomic_store(&entered, 1);
	nap_ms(200);
	atomic_store(&top_seen, seq);
	atomic_fetch_add(&calls, 1);
	atomic_store(&in_hook, 0);
}

static int rec(struct journal *j, int i)
{
	char p[64];
	struct jentry e;
	memset(&e, 0, sizeof(e));
	snprintf(p, sizeof(p), "u/cur/%d.M1P1.h", i);
	e.op = JOP_UNLINK;
	e.path = p;
	return journal_record(j, &e);
}

int main(void)
{
	char td[] = "/tmp/mhafs-test-writerhook.XXXXXX", err[512];
	struct journal_hooks hooks = { .committed = hook };

	hlc_init(&clk, NULL, NULL, 0);
	tmpdir(td);
	struct journal *j = journal_open(td, 3, &clk, NULL, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "open: %s\n", err);
		rm_rf(td);
		return 99;
	}
	CHECK_INT(journal_start_writer(j, &hooks), 0);

	/* on: the hook hears of the entries committed */
	CHECK_INT(rec(j, 1), 0);
	journal_flush(j);
	for (int i = 0; i < 500 && atomic_load(&calls) == 0; i++)
		nap_ms(10); /* up to 5 s: a loaded machine */
	CHECK_INT(atomic_load(&calls), 1);
	CHECK(atomic_load(&top_seen) >= 1);

	/* off while a call runs: it waits for that call to end */
	atomic_store(&entered, 0);
	CHECK_INT(rec(j, 2), 0);
	for (int i = 0; i < 5000 && !atomic_load(&entered); i++)
		nap_ms(1);
	CHECK_INT(atomic_load(&entered), 1);
	journal_hooks_off(j);
	CHECK_INT(atomic_load(&in_hook), 0);
	CHECK_INT(atomic_load(&calls), 2);

	/* off: entries are still committed, and nobody is told */
	for (int i = 3; i < 20; i++)
		CHECK_INT(rec(j, i), 0);
	journal_flush(j);
	nap_ms(300);
	CHECK_INT(atomic_load(&calls), 2);
	sqlite3 *db = db_reader(td);
	CHECK_INT(q_int(db, "SELECT count(*) FROM journal", NULL), 19);
	sqlite3_close(db);

	journal_close(j, 1);
	rm_rf(td);
	return t_done("test_writerhook");
}
