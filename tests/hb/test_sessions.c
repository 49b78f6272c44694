/* test_sessions.c: heartbeatd/sessions.c's reading of `doveadm -f tab who
 * -1`: one name per user, lowercased, sorted; the header and names that
 * cannot be one file name (empty, '/', leading '.', control characters)
 * are left out. */
#include "sessions.h"
#include "tcheck.h"

#include <stdlib.h>

int main(void)
{
	char **u;
	size_t n;
	const char *out = "username\tservice\tpid\tip\n"
			  "bob@d1.test\timap\t123\t192.0.2.9\n"
			  "Alice@D1.test\timap\t124\t192.0.2.9\n"
			  "alice@d1.test\tpop3\t125\t192.0.2.10\n"
			  "../etc\timap\t1\t192.0.2.1\n"
			  ".hidden\timap\t1\t192.0.2.1\n"
			  "a/b\timap\t1\t192.0.2.1\n"
			  "\timap\t1\t192.0.2.1\n"
			  "carol\timap\t1\t192.0.2.1";
	CHECK_INT(sessions_parse(out, &u, &n), 0);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(u[0], "alice@d1.test");
		CHECK_STR(u[1], "bob@d1.test");
		CHECK_STR(u[2], "carol");
	}
	sessions_free_users(u, n);
	/* nobody logged in: the header alone, or nothing */
	CHECK_INT(sessions_parse("username\tservice\tpid\tip\n", &u, &n), 0);
	CHECK_INT(n, 0);
	sessions_free_users(u, n);
	CHECK_INT(sessions_parse("", &u, &n), 0);
	CHECK_INT(n, 0);
	sessions_free_users(u, n);
	/* a user called "username" is only the header on the first line */
	CHECK_INT(sessions_parse("username\tservice\nusername\timap\n", &u, &n), 0);
	CHECK_INT(n, 1);
	sessions_free_users(u, n);
	return t_done("test_sessions");
}
