/* socketmap.h: Postfix's socketmap protocol (socketmap_table(5)), the
 * server side: requests and replies are netstrings ("LEN:DATA," with LEN
 * in decimal).  A request's data is "NAME KEY" (map name, one space, the
 * lookup key); a reply's is "STATUS DATA" with STATUS OK, NOTFOUND, TEMP,
 * TIMEOUT or PERM.  The parser checks everything and copies nothing. */
#ifndef MHAFS_SOCKETMAP_H
#define MHAFS_SOCKETMAP_H

#include <stddef.h>

/* The longest request data taken: Postfix sends "name key", and its
 * smtpd takes no command line over line_length_limit (2048 bytes by
 * default), so an envelope address fits with room to spare.  A longer
 * request is refused (PERM), which fails only that one lookup. */
#define SM_REQUEST_MAX 4096
/* Room for a whole request netstring: length digits, ':', data, ','. */
#define SM_FRAME_MAX (SM_REQUEST_MAX + 8)

struct sm_request {
	const char *name; /* points into the caller's buffer; not NUL-terminated */
	size_t name_len;
	const char *key;
	size_t key_len;
};

/* Parse the first request in buf[0..len).  Returns the bytes it took (> 0)
 * and fills r; 0 when buf holds only the beginning of a valid request
 * (read more); -1 when it is malformed (no recovery: the stream has lost
 * its framing), with why.  Malformed: a length with a leading zero, not
 * decimal, or over SM_REQUEST_MAX; no ',' after the data; data without a
 * space, with an empty name or key, or with a NUL, CR or LF. */
long sm_parse(const char *buf, size_t len, struct sm_request *r, const char **why);

/* The reply netstring for status and data (data may be empty) into out.
 * Returns its length, or -1 when it does not fit in outlen. */
long sm_format(char *out, size_t outlen, const char *status, const char *data);

#endif
