/* hash.h: content hashing with xxHash3-128 (the store's content checksum)
 * and 64-bit xxHash3 for frames and digests. */
#ifndef MHAFS_HASH_H
#define MHAFS_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hash128 {
	uint64_t hi, lo;
};

#define HASH128_HEX 33

/* Hash the whole content of fd from offset 0 with pread (the file offset is
 * untouched).  Returns 0, or -errno. *size gets the bytes hashed. */
int hash_fd(int fd, struct hash128 *out, uint64_t *size);
/* The same for the file name in directory dfd (no symlink followed, the
 * access time untouched: hashing is not a read by a user). */
int hash_at(int dfd, const char *name, struct hash128 *out, uint64_t *size);
void hash_buf(const void *p, size_t n, struct hash128 *out);
uint64_t hash64(const void *p, size_t n);
/* 32 lower-case hex digits and a NUL into buf (HASH128_HEX bytes). */
char *hash_hex(const struct hash128 *h, char *buf);
/* Incremental xxh3-128, for content hashed as it arrives. */
struct hash_stream;
struct hash_stream *hash_stream_new(void);
void hash_stream_update(struct hash_stream *hs, const void *p, size_t n);
void hash_stream_final(struct hash_stream *hs, struct hash128 *out);
void hash_stream_free(struct hash_stream *hs);
/* 16 bytes, big-endian hi then lo. */
void hash_to_bytes(const struct hash128 *h, uint8_t out[16]);
void hash_from_bytes(const uint8_t in[16], struct hash128 *h);

#endif
