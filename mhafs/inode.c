/* inode.c: hash table of live inodes keyed by backing (dev, ino). */
#include "inode.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define NBUCKETS 65536
/* Inodes freed between two malloc_trim calls (256 KiB of chunks). */
#define TRIM_EVERY 4096

struct inode_table {
	pthread_mutex_t lock;
	struct inode root;
	struct inode **buckets;
	size_t count;
	size_t freed;         /* since the last trim */
	size_t limit;         /* of inodes and handles together; 0: none */
	size_t handles;       /* open files and directories (a descriptor each) */
	uint64_t refused;     /* for the limit */
};

static size_t bucket_of(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)dev;
	return (size_t)(h >> 48) & (NBUCKETS - 1);
}

struct inode_table *itable_new(int root_fd, dev_t dev, ino_t ino)
{
	struct inode_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->buckets = calloc(NBUCKETS, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->root.fd = root_fd;
	t->root.dev = dev;
	t->root.ino = ino;
	t->root.type = S_IFDIR;
	t->root.nlookup = 2; /* never forgotten */
	return t;
}

void itable_free(struct inode_table *t)
{
	if (!t)
		return;
	for (size_t b = 0; b < NBUCKETS; b++) {
		struct inode *in = t->buckets[b];
		while (in) {
			struct inode *next = in->next;
			close(in->fd);
			free(in);
			in = next;
		}
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct inode *itable_root(struct inode_table *t)
{
	return &t->root;
}

struct inode *itable_get(struct inode_table *t, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &t->root;
	return (struct inode *)(uintptr_t)ino;
}

fuse_ino_t itable_nodeid(struct inode_table *t, struct inode *in)
{
	return in == &t->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)in;
}

static struct inode *find_locked(struct inode_table *t, dev_t dev, ino_t ino)
{
	if (dev == t->root.dev && ino == t->root.ino)
		return &t->root;
	for (struct inode *in = t->buckets[bucket_of(dev, ino)]; in; in = in->next)
		if (in->dev == dev && in->ino == ino)
			return in;
	return NULL;
}

struct inode *itable_find(struct inode_table *t, dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&t->lock);
	struct inode *in = find_locked(t, dev, ino);
	pthread_mutex_unlock(&t->lock);
	return in;
}

/* Whether inodes and handles together are at the limit.  Under the lock. */
static int at_limit_locked(const struct inode_table *t)
{
	return t->limit && t->count + t->handles >= t->limit;
}

static struct inode *learn(struct inode_table *t, int fd, const struct stat *st, int limited)
{
	pthread_mutex_lock(&t->lock);
	struct inode *in = find_locked(t, st->st_dev, st->st_ino);
	if (in) {
		in->nlookup++;
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return in;
	}
	if (limited && at_limit_locked(t)) {
		t->refused++;
		pthread_mutex_unlock(&t->lock);
		close(fd);
		errno = ENFILE;
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		pthread_mutex_unlock(&t->lock);
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	in->fd = fd;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->type = st->st_mode & S_IFMT;
	in->nlookup = 1;
	size_t b = bucket_of(in->dev, in->ino);
	in->next = t->buckets[b];
	t->buckets[b] = in;
	t->count++;
	pthread_mutex_unlock(&t->lock);
	return in;
}

struct inode *itable_learn(struct inode_table *t, int fd, const struct stat *st)
{
	return learn(t, fd, st, 0);
}

struct inode *itable_learn_limited(struct inode_table *t, int fd, const struct stat *st)
{
	return learn(t, fd, st, 1);
}

void itable_set_limit(struct inode_table *t, size_t limit)
{
	pthread_mutex_lock(&t->lock);
	t->limit = limit;
	pthread_mutex_unlock(&t->lock);
}

int itable_full(struct inode_table *t)
{
	pthread_mutex_lock(&t->lock);
	int full = at_limit_locked(t);
	if (full)
		t->refused++;
	pthread_mutex_unlock(&t->lock);
	return full;
}

int itable_handle_open(struct inode_table *t)
{
	pthread_mutex_lock(&t->lock);
	int full = at_limit_locked(t);
	if (full)
		t->refused++;
	else
		t->handles++;
	pthread_mutex_unlock(&t->lock);
	return full ? ENFILE : 0;
}

void itable_handles(struct inode_table *t, int delta)
{
	pthread_mutex_lock(&t->lock);
	if (delta > 0 || t->handles >= (size_t)-delta)
		t->handles += (size_t)(long)delta;
	pthread_mutex_unlock(&t->lock);
}

void itable_stats(struct inode_table *t, struct itable_stats *st)
{
	pthread_mutex_lock(&t->lock);
	st->inodes = t->count;
	st->handles = t->handles;
	st->limit = t->limit;
	st->refused = t->refused;
	pthread_mutex_unlock(&t->lock);
}

void itable_growing_done(struct inode_table *t, struct inode *in)
{
	pthread_mutex_lock(&t->lock);
	int drop = atomic_fetch_sub(&in->growing, 1) == 1 && in->forgotten;
	pthread_mutex_unlock(&t->lock);
	if (drop) {
		close(in->fd);
		free(in);
	}
}

void itable_forget(struct inode_table *t, struct inode *in, uint64_t n)
{
	if (in == &t->root)
		return;
	pthread_mutex_lock(&t->lock);
	if (n > in->nlookup)
		n = in->nlookup; /* kernel bug guard: never underflow */
	in->nlookup -= n;
	if (in->nlookup == 0) {
		struct inode **pp = &t->buckets[bucket_of(in->dev, in->ino)];
		while (*pp && *pp != in)
			pp = &(*pp)->next;
		if (*pp)
			*pp = in->next;
		t->count--;
		/* a write answered but still settling the size uses it: the
		 * last such write frees it (itable_growing_done) */
		if (atomic_load(&in->growing) > 0) {
			in->forgotten = 1;
			pthread_mutex_unlock(&t->lock);
			return;
		}
		int trim = ++t->freed >= TRIM_EVERY;
		if (trim)
			t->freed = 0;
		pthread_mutex_unlock(&t->lock);
		close(in->fd);
		free(in);
		/* The kernel forgets inodes by the thousand when it is short of
		 * memory (or told to drop its caches); their chunks, spread over
		 * the worker threads' malloc arenas, would otherwise stay with
		 * the process for the next lookups. */
		if (trim)
			malloc_trim(0);
		return;
	}
	pthread_mutex_unlock(&t->lock);
}
