/* test_space.c: storage-space levels (mhafs/space.c): the used share
 * rounded up, each threshold crossed upwards at once, and downwards only
 * past the hysteresis, so a share that hovers at a line does not flap;
 * and lib/json.c's string escaping, which mhactl status --json uses. */
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "space.h"
#include "tcheck.h"

static int next(int old, unsigned pm)
{
	return space_level_next(old, pm, 85, 95);
}

static void test_levels(void)
{
	CHECK_INT(space_used_pm(1000, 1000), 0);
	CHECK_INT(space_used_pm(1000, 0), 1000);
	CHECK_INT(space_used_pm(3, 2), 334); /* rounded up */
	CHECK_INT(space_used_pm(0, 0), 0);
	CHECK_INT(space_used_pm(UINT64_MAX, UINT64_MAX / 2), 501);
	CHECK_INT(space_used_pm(100, 200), 0); /* avail over size: none used */

	CHECK_INT(next(SPACE_UNKNOWN, 100), SPACE_OK);
	CHECK_INT(next(SPACE_UNKNOWN, 900), SPACE_WARNING);
	CHECK_INT(next(SPACE_UNKNOWN, 960), SPACE_CRITICAL);
	CHECK_INT(next(SPACE_OK, 849), SPACE_OK);
	CHECK_INT(next(SPACE_OK, 850), SPACE_WARNING);
	CHECK_INT(next(SPACE_OK, 950), SPACE_CRITICAL);
	CHECK_INT(next(SPACE_WARNING, 950), SPACE_CRITICAL);
	/* down: 2 points of hysteresis */
	CHECK_INT(next(SPACE_WARNING, 840), SPACE_WARNING);
	CHECK_INT(next(SPACE_WARNING, 830), SPACE_WARNING);
	CHECK_INT(next(SPACE_WARNING, 829), SPACE_OK);
	CHECK_INT(next(SPACE_CRITICAL, 940), SPACE_CRITICAL);
	CHECK_INT(next(SPACE_CRITICAL, 929), SPACE_WARNING);
	CHECK_INT(next(SPACE_CRITICAL, 840), SPACE_WARNING);
	CHECK_INT(next(SPACE_CRITICAL, 500), SPACE_OK);
	/* a share hovering at the line: one crossing, no flapping */
	int level = SPACE_OK, changes = 0;
	for (int i = 0; i < 100; i++) {
		int l = next(level, i % 2 ? 851 : 845);
		changes += l != level;
		level = l;
	}
	CHECK_INT(changes, 1);
	CHECK_INT(level, SPACE_WARNING);
	/* a threshold of 1 %: half of it is the hysteresis, and it still clears */
	CHECK_INT(space_level_next(SPACE_WARNING, 6, 1, 2), SPACE_WARNING);
	CHECK_INT(space_level_next(SPACE_WARNING, 4, 1, 2), SPACE_OK);
	CHECK_INT(space_level_next(SPACE_CRITICAL, 0, 1, 2), SPACE_OK);
	CHECK_STR(space_level_name(SPACE_CRITICAL), "critical");
	CHECK_STR(space_level_name(SPACE_UNKNOWN), "unknown");
	CHECK_STR(space_fs_name(SPACE_PEER_JOURNAL), "journal");
}

static void json_is(const char *in, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_str(f, in);
	fclose(f);
	CHECK_STR(buf, want);
	free(buf);
}

static void test_json(void)
{
	json_is(NULL, "null");
	json_is("", "\"\"");
	json_is("a\"b\\c", "\"a\\\"b\\\\c\"");
	json_is("l1\nl2\tx\x01\x7f", "\"l1\\nl2\\tx\\u0001\\u007f\"");
	json_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\"");
	/* not UTF-8: a stray continuation, an overlong form, a surrogate, a cut sequence */
	json_is("\x80", "\"\\u0080\"");
	json_is("\xc0\xaf", "\"\\u00c0\\u00af\"");
	json_is("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"");
	json_is("\xe2\x82", "\"\\u00e2\\u0082\"");
	json_is("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\"");
}

int main(void)
{
	test_levels();
	test_json();
	return t_done("test_space");
}
