/* log.c: syslog or time-stamped stderr logging, thread safe; and the
 * error text handed to a caller (seterr). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int use_stderr = 1;
static int max_level = LOG_INFO;
static char log_ident[64] = "mhafs";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *ident, int to_stderr, int level)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	use_stderr = to_stderr;
	max_level = level;
	if (!to_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_level_from_name(const char *name)
{
	static const struct { const char *n; int l; } map[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
		{ "warning", LOG_WARNING }, { "error", LOG_ERR },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (name && strcmp(name, map[i].n) == 0)
			return map[i].l;
	return LOG_INFO;
}

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_NOTICE: return "notice";
	case LOG_WARNING: return "warning";
	default: return "error";
	}
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	if (prio > max_level)
		return;
	va_start(ap, fmt);
	if (use_stderr) {
		struct timespec ts;
		struct tm tm;
		char when[32];
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "%s.%03ld %s[%s]: ", when, ts.tv_nsec / 1000000, log_ident, prio_name(prio));
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		fflush(stderr);
		pthread_mutex_unlock(&log_lock);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

void log_limited(struct log_limit *l, unsigned interval_s, int prio, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	unsigned skipped;
	pthread_mutex_lock(&log_lock);
	if (l->next_ms && now < l->next_ms) {
		l->skipped++;
		pthread_mutex_unlock(&log_lock);
		return;
	}
	skipped = l->skipped;
	l->skipped = 0;
	l->next_ms = now + (long long)interval_s * 1000;
	pthread_mutex_unlock(&log_lock);
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (skipped)
		log_msg(prio, "%s (and %u more like it since the last such line)", text, skipped);
	else
		log_msg(prio, "%s", text);
}

void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
