/* sessions.h: which users have mail sessions on this node, published for
 * Dovecot's routing script on both nodes (conf/mhafs-home.lua).
 *
 * Dovecot wants one server per mailbox at a time.  A user's home node
 * changes when a node dies or returns; a session held on the other node
 * since then must not be joined by new sessions on the home node.  So
 * every SESSIONS_INTERVAL_MS a thread asks this node's Dovecot who is
 * logged in (sessions_cmd, `doveadm who`: backend sessions, not proxied
 * ones) and keeps one empty file per such user in
 * sessions_dir/<node_name>/ on the replicated store; the routing script
 * sends a user who has sessions on exactly one live node there, and
 * otherwise to the home node.  Only this node writes its directory. */
#ifndef MHAFS_HB_SESSIONS_H
#define MHAFS_HB_SESSIONS_H

#include <pthread.h>
#include <stdio.h>

#include "config.h"

#define SESSIONS_INTERVAL_MS 2000
#define SESSIONS_CMD_TIMEOUT_MS 5000

struct sessions {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop, started;
	char dir[4096];          /* sessions_dir/<node_name> */
	char cmd[1024];
	/* last round, under lock */
	unsigned long rounds, failures;
	long users;              /* users with sessions here, -1 before a round */
	char err[200];           /* the last failure, "" after a good round */
};

/* The directory this node publishes to, from the configuration: 1 with it
 * in out, 0 when publishing is off (no sessions_dir, or no node_name). */
int sessions_dir_of(const struct config *cfg, char *out, size_t outlen);
/* Start publishing (nothing when off).  0 or -errno. */
int sessions_start(struct sessions *s, const struct config *cfg);
/* Stop the thread; the published files stay (the sessions outlive this
 * daemon; the peer ignores them once this node is down). */
void sessions_stop(struct sessions *s);
void sessions_status(struct sessions *s, FILE *f);

/* One round's parse of sessions_cmd's output (`doveadm -f tab who -1`: a
 * header line, then user TAB service TAB pid TAB ip): the distinct valid
 * user names, lowercased, sorted, into *users (n of them, freed with
 * sessions_free_users).  0 or -errno.  For the unit test. */
int sessions_parse(const char *out, char ***users, size_t *n);
void sessions_free_users(char **users, size_t n);

#endif
