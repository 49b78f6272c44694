/* repl_lock.h: cluster-wide dotlocks (see repl_lock.c).  The FUSE side
 * asks with repl_lock_take/repl_lock_give; the sender and receiver threads
 * carry WIRE_LOCK frames through the hooks below. */
#ifndef MHAFS_REPL_LOCK_H
#define MHAFS_REPL_LOCK_H

#include <stdint.h>

#include "wire.h"

struct repl;
struct repl_status;
struct tls_conn;

#define REPL_DOTLOCK_NAME "dovecot-uidlist.lock"

/* Whether a file name is a dotlock the nodes share. */
int repl_lock_name(const char *name);

/* Before creating the dotlock at path (store-relative) here, have the
 * peer hold it too.  Returns 1 when the peer holds it for us (give it back
 * with repl_lock_give once it is gone here), 0 when there is no peer to
 * ask (down, not caught up, or silent for sync_timeout_ms: this node goes
 * on alone), -EEXIST when it is taken on the peer's side. */
int repl_lock_take(struct repl *r, const char *path);
/* The dotlock at path is gone here (renamed over its file, or removed):
 * let the peer drop its marker after every entry journaled so far. */
void repl_lock_give(struct repl *r, const char *path);

int repl_lock_init(struct repl *r);
void repl_lock_fini(struct repl *r);

/* Sender thread: send queued TAKE and GIVE frames, in order, each once
 * the entries journaled before it are sent (up to sent_upto).  0 or a
 * wire error. */
int repl_lock_pump(struct repl *r, struct tls_conn *c, uint64_t sent_upto);
/* Sender thread: the peer's answer to a TAKE. */
void repl_lock_answer(struct repl *r, const struct wire_lock_resp *m);
/* Sender thread: the connection ended; outstanding TAKEs fail. */
void repl_lock_out_down(struct repl *r);

/* Receiver thread: a TAKE or GIVE from the peer (origin); answers a TAKE.
 * 0 or a wire error. */
int repl_lock_serve(struct repl *r, struct tls_conn *c, const struct wire_lock *m, uint16_t origin);
/* Answer the pending grants that are due, on c (the receiver's).  The
 * number still pending, or -1 when c failed. */
int repl_lock_due(struct repl *r, struct tls_conn *c);
/* Receiver thread: the peer's connection ended; drop its markers. */
void repl_lock_in_down(struct repl *r);

void repl_lock_stats(struct repl *r, struct repl_status *st);
/* An entry of this node was journaled (or committed) with seq. */
void repl_lock_journaled(struct repl *r, uint64_t seq);

#endif
