/* hash.c: xxHash3 wrappers over libxxhash. */
#define _GNU_SOURCE /* O_NOATIME */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <xxhash.h>

int hash_fd(int fd, struct hash128 *out, uint64_t *size)
{
	XXH3_state_t *st = XXH3_createState();
	static __thread char buf[128 * 1024];
	off_t off = 0;
	int rc = 0;

	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(st, buf, (size_t)n);
		off += n;
	}
	if (rc == 0) {
		XXH128_hash_t h = XXH3_128bits_digest(st);
		out->hi = h.high64;
		out->lo = h.low64;
		if (size)
			*size = (uint64_t)off;
	}
	XXH3_freeState(st);
	return rc;
}

int hash_at(int dfd, const char *name, struct hash128 *out, uint64_t *size)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0)
		return -errno;
	int rc = hash_fd(fd, out, size);
	close(fd);
	return rc;
}

void hash_buf(const void *p, size_t n, struct hash128 *out)
{
	XXH128_hash_t h = XXH3_128bits(p, n);
	out->hi = h.high64;
	out->lo = h.low64;
}

uint64_t hash64(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

char *hash_hex(const struct hash128 *h, char *buf)
{
	snprintf(buf, HASH128_HEX, "%016llx%016llx", (unsigned long long)h->hi, (unsigned long long)h->lo);
	return buf;
}

void hash_to_bytes(const struct hash128 *h, uint8_t out[16])
{
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(h->hi >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(h->lo >> (56 - 8 * i));
	}
}

void hash_from_bytes(const uint8_t in[16], struct hash128 *h)
{
	h->hi = h->lo = 0;
	for (int i = 0; i < 8; i++) {
		h->hi = (h->hi << 8) | in[i];
		h->lo = (h->lo << 8) | in[8 + i];
	}
}

struct hash_stream *hash_stream_new(void)
{
	XXH3_state_t *st = XXH3_createState();
	if (st)
		XXH3_128bits_reset(st);
	return (struct hash_stream *)st;
}

void hash_stream_update(struct hash_stream *hs, const void *p, size_t n)
{
	XXH3_128bits_update((XXH3_state_t *)hs, p, n);
}

void hash_stream_final(struct hash_stream *hs, struct hash128 *out)
{
	XXH128_hash_t h = XXH3_128bits_digest((XXH3_state_t *)hs);
	out->hi = h.high64;
	out->lo = h.low64;
}

void hash_stream_free(struct hash_stream *hs)
{
	if (hs)
		XXH3_freeState((XXH3_state_t *)hs);
}
