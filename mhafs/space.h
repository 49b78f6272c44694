/* space.h: storage-space levels (mhafs.conf space_warn_pct and
 * space_crit_pct).  A file system's used share is (size - available) /
 * size, available as statvfs gives it to an unprivileged writer (df's
 * Avail).  Its level rises as soon as the share reaches a threshold and
 * falls only once the share is 2 points (at most half the threshold)
 * below it, so a store that hovers at the line does not flap.  Pure
 * functions, apart from space_read. */
#ifndef MHAFS_SPACE_H
#define MHAFS_SPACE_H

#include <stdint.h>

enum space_level { SPACE_UNKNOWN = -1, SPACE_OK = 0, SPACE_WARNING = 1, SPACE_CRITICAL = 2 };

/* The file systems watched: this node's store and journal, the peer's. */
enum space_fs { SPACE_STORE, SPACE_JOURNAL, SPACE_PEER_STORE, SPACE_PEER_JOURNAL, SPACE_NFS };

/* Used share in thousandths, rounded up (0 for a size of 0). */
unsigned space_used_pm(uint64_t total, uint64_t avail);
/* The level after old (SPACE_UNKNOWN: none yet) for a used share of pm
 * thousandths, with the thresholds in percent (warn < crit). */
int space_level_next(int old, unsigned pm, unsigned warn_pct, unsigned crit_pct);
/* "ok", "warning", "critical", "unknown". */
const char *space_level_name(int level);
/* "store" or "journal" (for the peer's too). */
const char *space_fs_name(int fs);
static inline int space_fs_is_peer(int fs)
{
	return fs == SPACE_PEER_STORE || fs == SPACE_PEER_JOURNAL;
}
/* statvfs of dir: size and room in bytes; 0 or -errno. */
int space_read(const char *dir, uint64_t *total, uint64_t *avail);

#endif
