/* flagmerge.c: Maildir flags as sets, their per-flag stamps, and the
 * per-flag merge (see flagmerge.h). */
#include "flagmerge.h"

#include <stdio.h>
#include <string.h>

static int flag_bit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return 26 + (c - 'a');
	return -1;
}

static char bit_flag(int i)
{
	return (char)(i < 26 ? 'A' + i : 'a' + (i - 26));
}

int fstamp_cmp(const struct fstamp *a, const struct fstamp *b)
{
	if (a->hlc != b->hlc)
		return a->hlc < b->hlc ? -1 : 1;
	return a->node == b->node ? 0 : a->node < b->node ? -1 : 1;
}

int mflags_parse(const char *name, uint64_t *mask)
{
	const char *info = strchr(name, ':');
	*mask = 0;
	if (!info)
		return 1;
	if (strncmp(info + 1, "2,", 2) != 0)
		return 0;
	for (const char *p = info + 3; *p; p++) {
		int b = flag_bit(*p);
		if (b < 0)
			return 0;
		*mask |= 1ULL << b;
	}
	return 1;
}

int mflags_deleted(const char *name)
{
	const char *slash = strrchr(name, '/');
	uint64_t mask;
	return mflags_parse(slash ? slash + 1 : name, &mask) && (mask & (1ULL << flag_bit('T')));
}

int mflags_name(const char *name, uint64_t mask, char *out, size_t outlen)
{
	char letters[MFLAG_N + 1];
	size_t n = 0;
	for (int i = 0; i < MFLAG_N; i++)
		if (mask & (1ULL << i))
			letters[n++] = bit_flag(i);
	letters[n] = '\0';
	int len = snprintf(out, outlen, "%.*s:2,%s", (int)strcspn(name, ":"), name, letters);
	return len < 0 || (size_t)len >= outlen ? -1 : 0;
}

void fregs_note(struct fregs *r, uint64_t from, uint64_t to, const struct fstamp *s)
{
	uint64_t changed = (from ^ to) & ((1ULL << MFLAG_N) - 1);
	for (int i = 0; i < MFLAG_N; i++) {
		if (!(changed & (1ULL << i)))
			continue;
		if ((r->known & (1ULL << i)) && fstamp_cmp(&r->st[i], s) >= 0)
			continue;
		r->st[i] = *s;
		r->known |= 1ULL << i;
	}
}

size_t fregs_encode(const struct fregs *r, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	for (int i = 0; i < MFLAG_N; i++) {
		if (!(r->known & (1ULL << i)))
			continue;
		if (n + 11 > cap)
			return 0;
		buf[n++] = (uint8_t)bit_flag(i);
		for (int k = 0; k < 8; k++)
			buf[n++] = (uint8_t)(r->st[i].hlc >> (8 * k));
		buf[n++] = (uint8_t)r->st[i].node;
		buf[n++] = (uint8_t)(r->st[i].node >> 8);
	}
	return n;
}

int fregs_decode(const uint8_t *buf, size_t len, struct fregs *r)
{
	memset(r, 0, sizeof(*r));
	if (len % 11)
		return -1;
	for (size_t n = 0; n < len; n += 11) {
		int b = flag_bit((char)buf[n]);
		if (b < 0 || (r->known & (1ULL << b))) {
			memset(r, 0, sizeof(*r));
			return -1;
		}
		uint64_t h = 0;
		for (int k = 0; k < 8; k++)
			h |= (uint64_t)buf[n + 1 + k] << (8 * k);
		r->st[b].hlc = h;
		r->st[b].node = (uint16_t)(buf[n + 9] | buf[n + 10] << 8);
		r->known |= 1ULL << b;
	}
	return 0;
}

static struct fstamp stamp_of(const struct fside *s, int i)
{
	static const struct fstamp none = { 0, 0 };
	return s->regs && (s->regs->known & (1ULL << i)) ? s->regs->st[i] : none;
}

uint64_t merge_flags(const struct fside *a, const struct fside *b)
{
	uint64_t out = a->mask & b->mask;
	uint64_t differ = (a->mask ^ b->mask) & ((1ULL << MFLAG_N) - 1);
	for (int i = 0; i < MFLAG_N; i++) {
		if (!(differ & (1ULL << i)))
			continue;
		struct fstamp sa = stamp_of(a, i), sb = stamp_of(b, i);
		int c = fstamp_cmp(&sa, &sb);
		if (c == 0)
			c = fstamp_cmp(&a->msg, &b->msg);
		/* the same stamp on both sides with different values cannot
		 * come from one change; keep the flag, whichever side is a */
		if (c > 0 ? (a->mask >> i) & 1 : c < 0 ? (b->mask >> i) & 1 : 1)
			out |= 1ULL << i;
	}
	return out;
}

uint64_t merge_flags_change(uint64_t here, const struct fregs *regs, const struct fstamp *here_msg,
			    uint64_t src, uint64_t dst, const struct fstamp *s)
{
	struct fregs theirs;
	memset(&theirs, 0, sizeof(theirs));
	fregs_note(&theirs, src, dst, s);
	struct fside a = { here, regs, *here_msg }, b = { dst, &theirs, *s };
	return merge_flags(&a, &b);
}
