/* space.c: storage-space levels and their hysteresis (see space.h). */
#include "space.h"

#include <errno.h>
#include <sys/statvfs.h>

#define HYSTERESIS_PM 20 /* 2 points */

unsigned space_used_pm(uint64_t total, uint64_t avail)
{
	if (total == 0)
		return 0;
	uint64_t used = avail < total ? total - avail : 0;
	/* in long double: sizes near 2^64 would overflow used * 1000 */
	long double pm = (long double)used * 1000.0L / (long double)total;
	unsigned up = (unsigned)pm;
	return (long double)up < pm ? up + 1 : up;
}

/* The share a level is left at, in thousandths. */
static unsigned clear_below(unsigned threshold_pct)
{
	unsigned t = threshold_pct * 10, h = t / 2 < HYSTERESIS_PM ? t / 2 : HYSTERESIS_PM;
	return t - h;
}

int space_level_next(int old, unsigned pm, unsigned warn_pct, unsigned crit_pct)
{
	int now = pm >= crit_pct * 10 ? SPACE_CRITICAL : pm >= warn_pct * 10 ? SPACE_WARNING : SPACE_OK;
	if (old == SPACE_UNKNOWN || now >= old)
		return now;
	/* falling: step down only past each level's clearing point */
	int level = old;
	while (level > now && pm < clear_below(level == SPACE_CRITICAL ? crit_pct : warn_pct))
		level--;
	return level;
}

const char *space_level_name(int level)
{
	switch (level) {
	case SPACE_OK:
		return "ok";
	case SPACE_WARNING:
		return "warning";
	case SPACE_CRITICAL:
		return "critical";
	}
	return "unknown";
}

const char *space_fs_name(int fs)
{
	return fs == SPACE_STORE || fs == SPACE_PEER_STORE ? "store" : "journal";
}

int space_read(const char *dir, uint64_t *total, uint64_t *avail)
{
	struct statvfs sv;
	if (statvfs(dir, &sv) < 0)
		return -errno;
	*total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (*avail > *total)
		*avail = *total;
	return 0;
}
