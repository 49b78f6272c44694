/* json.h: the small JSON writer mhactl's --json outputs share.  Strings
 * are bytes: quotes, backslashes and control characters are escaped, valid
 * UTF-8 passes through, and each byte of an invalid sequence is written as
 * \u00XX, so the output is always valid JSON whatever a file name holds. */
#ifndef MHAFS_JSON_H
#define MHAFS_JSON_H

#include <stdio.h>

/* s as a JSON string, or null for NULL. */
void json_str(FILE *f, const char *s);
/* "key": then the value as json_str, preceded by a comma unless first. */
void json_key(FILE *f, const char *key, int first);

#endif
