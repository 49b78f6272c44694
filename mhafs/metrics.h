/* metrics.h: the metrics file (mhafs.conf metrics_file) in Prometheus's
 * text exposition format, for node_exporter's textfile collector: the
 * counters of the control socket's STATUS (journal, replication, commit
 * waits, conflicts by rule, reconciliation, dotlocks), the space figures
 * and levels of both nodes (watch.h), and heartbeatd's role and
 * transitions, asked of its control socket (heartbeat_socket) at each
 * write.  Written to a temporary file beside it and renamed over it, so
 * a reader never sees half a file.  The names are listed in mhafs.conf(5). */
#ifndef MHAFS_METRICS_H
#define MHAFS_METRICS_H

#include <stddef.h>

struct mhafs;
struct watch_snap;

/* Write the file now: 0, or -1 with err. */
int metrics_write(struct mhafs *fs, const struct watch_snap *s, char *err, size_t errlen);

#endif
