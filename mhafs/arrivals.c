/* arrivals.c: recent arrivals of Maildir messages, by base name (see
 * arrivals.h).  An open-addressed table of ARRIVALS_SLOTS paths; a base
 * name lives in one of ARRIVALS_PROBE slots after its hash, and a new
 * arrival takes a free, expired or the oldest of them.  Losing an arrival
 * only makes a move's unlink look like an expunge, which is how every
 * unlink was treated before. */
#include "arrivals.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildir_key.h"

#define ARRIVALS_SLOTS 8192
#define ARRIVALS_PROBE 8

struct arrival {
	char *path;        /* NULL: free */
	uint64_t ms;
};

struct arrivals {
	pthread_mutex_t lock;
	struct arrival slot[ARRIVALS_SLOTS];
};

struct arrivals *arrivals_new(void)
{
	struct arrivals *ar = calloc(1, sizeof(*ar));
	if (ar)
		pthread_mutex_init(&ar->lock, NULL);
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

struct key {
	size_t folder_len, base_len, root_len;
	const char *base;
};

static int key_of(const char *path, struct key *k)
{
	if (!maildir_split(path, &k->folder_len, &k->base, &k->base_len))
		return 0;
	k->root_len = maildir_of(path, k->folder_len);
	return 1;
}

static int same_base(const char *path, const struct key *k)
{
	struct key o;
	return key_of(path, &o) && o.base_len == k->base_len &&
	       memcmp(o.base, k->base, k->base_len) == 0;
}

void arrivals_note(struct arrivals *ar, const char *path, uint64_t now_ms)
{
	struct key k;
	if (!ar || !key_of(path, &k))
		return;
	char *copy = strdup(path);
	if (!copy)
		return; /* forgetting an arrival is safe (see the top) */
	size_t h = hash_base(k.base, k.base_len), pick = h;
	pthread_mutex_lock(&ar->lock);
	for (size_t i = 0; i < ARRIVALS_PROBE; i++) {
		size_t n = (h + i) % ARRIVALS_SLOTS;
		struct arrival *s = &ar->slot[n];
		if (!s->path || same_base(s->path, &k) || now_ms - s->ms > ARRIVALS_WINDOW_MS) {
			pick = n;
			break;
		}
		if (s->ms < ar->slot[pick].ms)
			pick = n;
	}
	free(ar->slot[pick].path);
	ar->slot[pick].path = copy;
	ar->slot[pick].ms = now_ms;
	pthread_mutex_unlock(&ar->lock);
}

int arrivals_moved_to(struct arrivals *ar, const char *path, uint64_t now_ms, char *out,
		      size_t outlen)
{
	struct key k, o;
	int found = 0;
	if (!ar || !key_of(path, &k))
		return 0;
	size_t h = hash_base(k.base, k.base_len);
	pthread_mutex_lock(&ar->lock);
	for (size_t i = 0; i < ARRIVALS_PROBE && !found; i++) {
		const struct arrival *s = &ar->slot[(h + i) % ARRIVALS_SLOTS];
		if (!s->path || now_ms - s->ms > ARRIVALS_WINDOW_MS || !same_base(s->path, &k))
			continue;
		key_of(s->path, &o);
		/* another folder of the same maildir */
		if (o.root_len == k.root_len && memcmp(s->path, path, k.root_len) == 0 &&
		    (o.folder_len != k.folder_len || memcmp(s->path, path, k.folder_len) != 0))
			found = snprintf(out, outlen, "%s", s->path) < (int)outlen;
	}
	pthread_mutex_unlock(&ar->lock);
	return found;
}
