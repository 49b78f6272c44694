/* json.c: JSON string escaping (see json.h). */
#include "json.h"

#include <string.h>

/* Bytes in the well-formed UTF-8 sequence starting at s (Unicode's table
 * of well-formed byte sequences: no overlong forms, no surrogates, nothing
 * above U+10FFFF), or 0 when there is none. */
static size_t utf8_ok(const unsigned char *s, size_t left)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return n;
}

void json_str(FILE *f, const char *str)
{
	if (!str) {
		fputs("null", f);
		return;
	}
	const unsigned char *s = (const unsigned char *)str;
	size_t left = strlen(str);
	fputc('"', f);
	while (left) {
		size_t n = *s >= 0x80 ? utf8_ok(s, left) : 1;
		if (n > 1) {
			fwrite(s, 1, n, f);
		} else if (*s == '"' || *s == '\\') {
			fprintf(f, "\\%c", *s);
		} else if (*s == '\n' || *s == '\t') {
			fputs(*s == '\n' ? "\\n" : "\\t", f);
		} else if (*s < 0x20 || *s >= 0x7f) {
			fprintf(f, "\\u%04x", *s); /* control, DEL, or a stray byte */
			n = 1;
		} else {
			fputc(*s, f);
		}
		s += n;
		left -= n;
	}
	fputc('"', f);
}

void json_key(FILE *f, const char *key, int first)
{
	if (!first)
		fputc(',', f);
	json_str(f, key);
	fputc(':', f);
}
