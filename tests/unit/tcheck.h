/* tcheck.h: the few assertion macros the unit tests share.  A failed check
 * prints file:line and what was expected and the test goes on; t_done()
 * prints the tally and gives the exit status (0 all passed, 1 otherwise). */
#ifndef MHAFS_TCHECK_H
#define MHAFS_TCHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int t_checks, t_failed;

#define CHECK(cond) do { \
	t_checks++; \
	if (!(cond)) { \
		t_failed++; \
		fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_INT(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	t_checks++; \
	if (a_ != b_) { \
		t_failed++; \
		fprintf(stderr, "%s:%d: FAIL: %s == %lld, expected %s == %lld\n", \
			__FILE__, __LINE__, #a, a_, #b, b_); \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	t_checks++; \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
		t_failed++; \
		fprintf(stderr, "%s:%d: FAIL: %s is \"%s\", expected \"%s\"\n", \
			__FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} \
} while (0)

/* The string contains the substring. */
#define CHECK_HAS(s, sub) do { \
	const char *s_ = (s), *sub_ = (sub); \
	t_checks++; \
	if (!s_ || !strstr(s_, sub_)) { \
		t_failed++; \
		fprintf(stderr, "%s:%d: FAIL: \"%s\" does not contain \"%s\"\n", \
			__FILE__, __LINE__, s_ ? s_ : "(null)", sub_); \
	} \
} while (0)

static inline int t_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, t_checks, t_failed);
	return t_failed ? 1 : 0;
}

#endif
