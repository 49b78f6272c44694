/* socketmap.c: the netstring framing of Postfix's socketmap protocol, for
 * a table server (see socketmap.h). */
#include "socketmap.h"

#include <stdio.h>
#include <string.h>

long sm_parse(const char *buf, size_t len, struct sm_request *r, const char **why)
{
	size_t i = 0, n = 0;
	while (i < len && buf[i] >= '0' && buf[i] <= '9') {
		if (i > 0 && n == 0) {
			*why = "netstring length with a leading zero";
			return -1;
		}
		n = n * 10 + (size_t)(buf[i] - '0');
		if (n > SM_REQUEST_MAX) {
			*why = "request too long";
			return -1;
		}
		i++;
	}
	if (i == len)
		return 0;
	if (i == 0 || buf[i] != ':') {
		*why = "not a netstring (no decimal length and ':')";
		return -1;
	}
	const char *d = buf + i + 1;
	if (len - i - 1 < n + 1)
		return 0;
	if (d[n] != ',') {
		*why = "netstring not ended by ','";
		return -1;
	}
	const char *sp = memchr(d, ' ', n);
	if (!sp || sp == d || sp == d + n - 1) {
		*why = "request is not \"NAME KEY\"";
		return -1;
	}
	for (size_t k = 0; k < n; k++)
		if (d[k] == '\0' || d[k] == '\r' || d[k] == '\n') {
			*why = "NUL, CR or LF in the request";
			return -1;
		}
	r->name = d;
	r->name_len = (size_t)(sp - d);
	r->key = sp + 1;
	r->key_len = n - r->name_len - 1;
	return (long)(i + 1 + n + 1);
}

long sm_format(char *out, size_t outlen, const char *status, const char *data)
{
	size_t dl = strlen(status) + 1 + strlen(data);
	int k = snprintf(out, outlen, "%zu:%s %s,", dl, status, data);
	if (k < 0 || (size_t)k >= outlen)
		return -1;
	return k;
}
