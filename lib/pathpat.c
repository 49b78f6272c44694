/* pathpat.c: matching of node-local patterns against store paths. */
#include "pathpat.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>

int pathpat_is_local(char *const *patterns, size_t n, const char *relpath)
{
	char comp[256];
	const char *p = relpath;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		int is_dir = slash != NULL;
		if (len > 0 && len < sizeof(comp)) {
			memcpy(comp, p, len);
			comp[len] = '\0';
			for (size_t i = 0; i < n; i++) {
				const char *pat = patterns[i];
				size_t pl = strlen(pat);
				if (pl > 1 && pat[pl - 1] == '/') {
					/* directory pattern: the component must be a directory
					 * on the path, or the last component itself (the dir) */
					if (pl - 1 == len && strncmp(pat, comp, len) == 0)
						return 1;
				} else if (fnmatch(pat, comp, 0) == 0) {
					return 1;
				}
			}
		}
		(void)is_dir;
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}

int pathpat_is_safe(const char *relpath)
{
	const char *p = relpath;
	if (!p || *p == '\0' || *p == '/')
		return 0;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0)
			return 0;
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

int pathpat_open_beneath(int root_fd, const char *path, int flags)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}
