/* log.h: one logging call for every component, to syslog or stderr; and
 * the error text a function hands its caller instead of logging it. */
#ifndef MHAFS_LOG_H
#define MHAFS_LOG_H

#include <stddef.h>
#include <syslog.h>

/* ident: program name; to_stderr: 1 for stderr (with time stamps), 0 for
 * syslog (LOG_DAEMON); level: a LOG_* priority, messages above it dropped. */
void log_init(const char *ident, int to_stderr, int level);
/* Map "debug".."error" to LOG_*; returns LOG_INFO for anything else. */
int log_level_from_name(const char *name);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message that repeats for as long as a condition lasts (a peer that
 * is refused for its configuration and reconnects every second): the
 * first is logged, then at most one per interval_s, which says how many
 * were left out since.  One zero-initialised struct per message. */
struct log_limit {
	long long next_ms;
	unsigned skipped;
};
void log_limited(struct log_limit *l, unsigned interval_s, int prio, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The error text of a function that reports to its caller (the err,
 * errlen arguments): formatted into err, cut to errlen bytes; nothing
 * when err is NULL or errlen 0. */
void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
