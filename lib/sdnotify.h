/* sdnotify.h: the daemons' messages to systemd (sd_notify(3)): ready,
 * status line, watchdog ping, stopping.  Without libsystemd at build time
 * (no HAVE_SYSTEMD), or when not started by systemd (no NOTIFY_SOCKET),
 * every call does nothing. */
#ifndef MHAFS_SDNOTIFY_H
#define MHAFS_SDNOTIFY_H

#include <stdint.h>

/* READY=1, with a STATUS= line when status is not NULL. */
void sdn_ready(const char *status);
/* STATUS=..., printf-style. */
void sdn_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* WATCHDOG=1. */
void sdn_watchdog(void);
/* STOPPING=1, with a STATUS= line when status is not NULL. */
void sdn_stopping(const char *status);
/* The watchdog interval systemd asks of this process (WatchdogSec=) in
 * microseconds, or 0 when there is no watchdog. */
uint64_t sdn_watchdog_usec(void);

#endif
