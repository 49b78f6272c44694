/* arrivals.c: recent arrivals of Maildir messages (see arrivals.h).  An
 * open-addressed table of ARRIVALS_SLOTS paths with their content hashes;
 * a base name lives in one of ARRIVALS_PROBE slots after its hash (once
 * per folder), and a new arrival takes its own earlier slot, a free, an
 * expired or the oldest of them.  An unlink
 * whose base name did not arrive scans the table for any arrival in
 * another folder of its maildir (a few thousand compares at most); only
 * then is its content hashed and the table scanned again by hash.  Losing
 * an arrival only makes a move's unlink name no destination: a removal of
 * unknown kind, which never costs a copy (apply_move.c); taking an
 * expunge for a move can cost a copy nobody expunged (when a concurrent
 * expunge wins over the "move"), so where in doubt it is no move. */
#include "arrivals.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "maildir_key.h"

#define ARRIVALS_SLOTS 8192
#define ARRIVALS_PROBE 8

struct key {
	size_t folder_len, base_len, root_len;
	const char *base;
};

struct arrival {
	char *path;        /* NULL: free */
	struct key k;      /* of path (base points into it) */
	uint64_t ms;
	struct hash128 h;
	int has_h;
};

struct arrivals {
	pthread_mutex_t lock;
	uint64_t sibling_ms;
	struct arrival slot[ARRIVALS_SLOTS];
};

struct arrivals *arrivals_new(uint64_t sibling_ms)
{
	struct arrivals *ar = calloc(1, sizeof(*ar));
	if (!ar)
		return NULL;
	pthread_mutex_init(&ar->lock, NULL);
	ar->sibling_ms = sibling_ms > ARRIVALS_SIBLING_MS ? sibling_ms : ARRIVALS_SIBLING_MS;
	return ar;
}

void arrivals_free(struct arrivals *ar)
{
	if (!ar)
		return;
	for (size_t i = 0; i < ARRIVALS_SLOTS; i++)
		free(ar->slot[i].path);
	pthread_mutex_destroy(&ar->lock);
	free(ar);
}

static size_t hash_base(const char *base, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)base[i];
		h *= 1099511628211ull;
	}
	return (size_t)(h % ARRIVALS_SLOTS);
}

/* Length of the maildir a folder belongs to: a Maildir++ folder
 * "<maildir>/.Name" belongs to <maildir>; any other folder is its own. */
static size_t maildir_of(const char *path, size_t folder_len)
{
	for (size_t i = folder_len; i > 0; i--) {
		if (path[i - 1] == '/')
			return path[i] == '.' ? i - 1 : folder_len;
	}
	return path[0] == '.' ? 0 : folder_len;
}

static int key_of(const char *path, struct key *k)
{
	if (!maildir_split(path, &k->folder_len, &k->base, &k->base_len))
		return 0;
	k->root_len = maildir_of(path, k->folder_len);
	return 1;
}

static int same_base(const struct key *o, const struct key *k)
{
	return o->base_len == k->base_len && memcmp(o->base, k->base, k->base_len) == 0;
}

static int same_folder(const struct arrival *s, const char *path, const struct key *k)
{
	return s->k.folder_len == k->folder_len && memcmp(s->path, path, k->folder_len) == 0;
}

/* Whether arrival s is in another folder of the maildir of path (key k). */
static int other_folder(const struct arrival *s, const char *path, const struct key *k)
{
	const struct key *o = &s->k;
	return o->root_len == k->root_len && memcmp(s->path, path, k->root_len) == 0 &&
	       !same_folder(s, path, k);
}

void arrivals_note(struct arrivals *ar, const char *path, const struct hash128 *h, uint64_t now_ms)
{
	struct key k;
	if (!ar || !key_of(path, &k))
		return;
	char *copy = strdup(path);
	if (!copy)
		return; /* forgetting an arrival is safe (see the top) */
	size_t start = hash_base(k.base, k.base_len), pick = start;
	pthread_mutex_lock(&ar->lock);
	for (size_t i = 0; i < ARRIVALS_PROBE; i++) {
		size_t n = (start + i) % ARRIVALS_SLOTS;
		struct arrival *s = &ar->slot[n];
		if (!s->path || (same_base(&s->k, &k) && same_folder(s, path, &k)) ||
		    now_ms - s->ms > ARRIVALS_WINDOW_MS) {
			pick = n;
			break;
		}
		if (s->ms < ar->slot[pick].ms)
			pick = n;
	}
	struct arrival *s = &ar->slot[pick];
	free(s->path);
	s->path = copy;
	key_of(copy, &s->k);
	s->ms = now_ms;
	s->has_h = h != NULL;
	if (h)
		s->h = *h;
	pthread_mutex_unlock(&ar->lock);
}

static int recent(const struct arrival *s, uint64_t now_ms)
{
	return s->path && now_ms - s->ms <= ARRIVALS_WINDOW_MS;
}

/* When path's message arrived in its own folder within the window, or 0.
 * Under the lock. */
static uint64_t own_arrival(struct arrivals *ar, const char *path, const struct key *k, uint64_t now_ms)
{
	size_t start = hash_base(k->base, k->base_len);
	for (size_t i = 0; i < ARRIVALS_PROBE; i++) {
		const struct arrival *s = &ar->slot[(start + i) % ARRIVALS_SLOTS];
		if (recent(s, now_ms) && same_base(&s->k, k) && same_folder(s, path, k))
			return s->ms;
	}
	return 0;
}

/* Whether arrival s could be a copy made from a message that arrived at
 * own_ms (0: not lately): not if it came with it, as one delivery's. */
static int after_own(const struct arrivals *ar, const struct arrival *s, uint64_t own_ms)
{
	return !own_ms || s->ms >= own_ms + ar->sibling_ms;
}

/* The latest arrival of path's base name in another folder of its maildir
 * within the window, after its own arrival; or NULL.  Under the lock. */
static const struct arrival *by_base(struct arrivals *ar, const char *path, const struct key *k,
				     uint64_t own_ms, uint64_t now_ms)
{
	const struct arrival *best = NULL;
	size_t start = hash_base(k->base, k->base_len);
	for (size_t i = 0; i < ARRIVALS_PROBE; i++) {
		const struct arrival *s = &ar->slot[(start + i) % ARRIVALS_SLOTS];
		if (recent(s, now_ms) && same_base(&s->k, k) && other_folder(s, path, k) &&
		    after_own(ar, s, own_ms) && (!best || s->ms > best->ms))
			best = s;
	}
	return best;
}

/* The latest arrival in another folder of path's maildir within the
 * window with content h, or (h NULL) any such arrival; NULL if none.
 * Under the lock. */
static const struct arrival *by_content(struct arrivals *ar, const char *path, const struct key *k,
					const struct hash128 *h, uint64_t own_ms, uint64_t now_ms)
{
	const struct arrival *best = NULL;
	for (size_t n = 0; n < ARRIVALS_SLOTS; n++) {
		const struct arrival *s = &ar->slot[n];
		if (!recent(s, now_ms) || (best && s->ms <= best->ms) || !after_own(ar, s, own_ms))
			continue;
		if (h && (!s->has_h || s->h.hi != h->hi || s->h.lo != h->lo))
			continue;
		if (other_folder(s, path, k)) {
			best = s;
			if (!h)
				break; /* whether there is one is all the caller asks */
		}
	}
	return best;
}

/* s's path into out: 1, or 0 if it does not fit. */
static int copy_path(const struct arrival *s, char *out, size_t outlen)
{
	return s && snprintf(out, outlen, "%s", s->path) < (int)outlen;
}

int arrivals_moved_to(struct arrivals *ar, const char *path, uint64_t now_ms, char *out, size_t outlen)
{
	struct key k;
	int r = ARRIVAL_NONE;
	if (!ar || !key_of(path, &k))
		return r;
	pthread_mutex_lock(&ar->lock);
	uint64_t own = own_arrival(ar, path, &k, now_ms);
	const struct arrival *s = by_base(ar, path, &k, own, now_ms);
	if (s)
		r = copy_path(s, out, outlen) ? ARRIVAL_MOVED : ARRIVAL_NONE;
	else if (by_content(ar, path, &k, NULL, own, now_ms))
		r = ARRIVAL_BY_CONTENT;
	pthread_mutex_unlock(&ar->lock);
	return r;
}

int arrivals_with_content(struct arrivals *ar, const char *path, const struct hash128 *h,
			  uint64_t now_ms, char *out, size_t outlen)
{
	struct key k;
	if (!ar || !key_of(path, &k))
		return 0;
	pthread_mutex_lock(&ar->lock);
	uint64_t own = own_arrival(ar, path, &k, now_ms);
	int found = copy_path(by_content(ar, path, &k, h, own, now_ms), out, outlen);
	pthread_mutex_unlock(&ar->lock);
	return found;
}
