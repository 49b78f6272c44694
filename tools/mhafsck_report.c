/* mhafsck_report.c: the report, as text lines for people ("CLASS PATH:
 * detail [action]") or as one JSON document (--json).  File names are
 * bytes: the JSON writer escapes quotes, backslashes and control
 * characters, and writes bytes that are not valid UTF-8 as \u00XX. */
#include "mhafsck.h"

#include <stdio.h>
#include <string.h>

static const char *status(const struct diff *d, const struct fsck_opts *o)
{
	if (d->cls == MC_STRAY)
		return "";
	if (!o->repair)
		return ", not repaired (dry run)";
	return d->done ? ", repaired" : ", NOT repaired";
}

void report_text(const struct plan *p, const struct side *a, const struct side *b,
		 const struct fsck_opts *o, size_t failed)
{
	printf("mhafsck: a = %s%s, b = %s%s\n", a->root, a->has_catalog ? " (catalog)" : "",
	       b->root, b->has_catalog ? " (catalog)" : "");
	for (size_t i = 0; i < p->n; i++) {
		const struct diff *d = &p->d[i];
		printf("%-12s %s: %s [%s%s]\n", merge_class_name(d->cls), d->path,
		       d->detail ? d->detail : "", merge_action_name(d->act), status(d, o));
	}
	if (p->differences == 0) {
		printf("mhafsck: clean, the stores agree\n");
		return;
	}
	printf("mhafsck: %zu difference%s (", p->differences, p->differences == 1 ? "" : "s");
	const char *sep = "";
	for (int c = MC_MISSING; c < MC_COUNT; c++) {
		if (c == MC_STRAY || !p->count[c])
			continue;
		printf("%s%s %zu", sep, merge_class_name((enum merge_class)c), p->count[c]);
		sep = ", ";
	}
	if (!o->repair)
		printf("); dry run, nothing changed\n");
	else if (failed)
		printf("); %zu NOT repaired\n", failed);
	else
		printf("); all repaired\n");
}

/* Length of the valid UTF-8 sequence at s (up to end), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	size_t n;
	unsigned min;
	unsigned cp;
	if (*s >= 0xc2 && *s <= 0xdf) {
		n = 2; cp = *s & 0x1f; min = 0x80;
	} else if (*s >= 0xe0 && *s <= 0xef) {
		n = 3; cp = *s & 0x0f; min = 0x800;
	} else if (*s >= 0xf0 && *s <= 0xf4) {
		n = 4; cp = *s & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)(end - s) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void json_str(const char *str)
{
	if (!str) {
		fputs("null", stdout);
		return;
	}
	const unsigned char *s = (const unsigned char *)str, *end = s + strlen(str);
	putchar('"');
	while (s < end) {
		if (*s == '"' || *s == '\\') {
			printf("\\%c", *s++);
		} else if (*s == '\n') {
			fputs("\\n", stdout);
			s++;
		} else if (*s == '\t') {
			fputs("\\t", stdout);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			printf("\\u%04x", *s++);
		} else if (*s < 0x80) {
			putchar(*s++);
		} else {
			size_t n = utf8_len(s, end);
			if (n) {
				fwrite(s, 1, n, stdout);
				s += n;
			} else {
				printf("\\u%04x", *s++);
			}
		}
	}
	putchar('"');
}

static void json_kv(const char *key, const char *val, int comma)
{
	json_str(key);
	putchar(':');
	json_str(val);
	if (comma)
		putchar(',');
}

void report_json(const struct plan *p, const struct side *a, const struct side *b,
		 const struct fsck_opts *o, size_t failed, int exit_code)
{
	printf("{");
	json_kv("store_a", a->root, 1);
	json_kv("store_b", b->root, 1);
	printf("\"catalog_a\":%s,\"catalog_b\":%s,", a->has_catalog ? "true" : "false",
	       b->has_catalog ? "true" : "false");
	json_kv("mode", o->repair ? "repair" : "dry-run", 1);
	printf("\"differences\":%zu,\"not_repaired\":%zu,\"exit\":%d,\"counts\":{",
	       p->differences, o->repair ? failed : p->differences, exit_code);
	for (int c = MC_MISSING; c < MC_COUNT; c++)
		printf("%s\"%s\":%zu", c == MC_MISSING ? "" : ",", merge_class_name((enum merge_class)c),
		       p->count[c]);
	printf("},\"items\":[");
	for (size_t i = 0; i < p->n; i++) {
		const struct diff *d = &p->d[i];
		printf("%s{", i ? "," : "");
		json_kv("class", merge_class_name(d->cls), 1);
		json_kv("action", merge_action_name(d->act), 1);
		json_kv("path", d->path, 1);
		json_kv("path_a", d->path_a, 1);
		json_kv("path_b", d->path_b, 1);
		json_kv("new_path", d->new_path, 1);
		json_kv("detail", d->detail, 1);
		printf("\"repaired\":%s}", d->done ? "true" : "false");
	}
	printf("]}\n");
}
