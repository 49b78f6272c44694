/* sdnotify.c: the daemons' messages to systemd through libsystemd's
 * sd_notify (see sdnotify.h); empty functions without HAVE_SYSTEMD.
 * Errors are ignored on purpose: a daemon not run by systemd, or whose
 * manager went away, goes on as before. */
#include "build-config.h"
#include "sdnotify.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static void say(const char *what, const char *status)
{
	if (status)
		sd_notifyf(0, "%s\nSTATUS=%s", what, status);
	else
		sd_notify(0, what);
}

void sdn_ready(const char *status)
{
	say("READY=1", status);
}

void sdn_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}

void sdn_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}

void sdn_stopping(const char *status)
{
	say("STOPPING=1", status);
}

uint64_t sdn_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

#else /* !HAVE_SYSTEMD */

void sdn_ready(const char *status)
{
	(void)status;
}

void sdn_status(const char *fmt, ...)
{
	(void)fmt;
}

void sdn_watchdog(void)
{
}

void sdn_stopping(const char *status)
{
	(void)status;
}

uint64_t sdn_watchdog_usec(void)
{
	return 0;
}

#endif
