/* maildir_key.c: Maildir base names and finding a message's local version
 * (see maildir_key.h). */
#define _GNU_SOURCE
#include "maildir_key.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pathpat.h"

size_t maildir_base_len(const char *name)
{
	const char *colon = strchr(name, ':');
	return colon ? (size_t)(colon - name) : strlen(name);
}

int maildir_is_message(const char *path)
{
	const char *name = strrchr(path, '/');
	if (!name || name[1] == '\0')
		return 0;
	size_t dirlen = (size_t)(name - path);
	const char *sub = path + dirlen - 3;
	return dirlen >= 3 && (strncmp(sub, "new", 3) == 0 || strncmp(sub, "cur", 3) == 0) &&
	       (dirlen == 3 || sub[-1] == '/');
}

int maildir_split(const char *path, size_t *folder_len, const char **base, size_t *base_len)
{
	if (!maildir_is_message(path))
		return 0;
	const char *name = strrchr(path, '/');
	size_t dirlen = (size_t)(name - path);
	*folder_len = dirlen == 3 ? 0 : dirlen - 4;
	*base = name + 1;
	*base_len = maildir_base_len(name + 1);
	return *base_len > 0;
}

int maildir_find_key(int root_fd, const char *path, char *out, size_t outlen)
{
	char maildir[4200];
	/* the file must sit in <maildir>/new or <maildir>/cur */
	if (!maildir_is_message(path))
		return 0;
	const char *name = strrchr(path, '/');
	size_t dirlen = (size_t)(name - path);
	name++;
	if (dirlen >= sizeof(maildir))
		return 0;
	size_t mlen = dirlen == 3 ? 0 : dirlen - 4;
	memcpy(maildir, path, mlen);
	maildir[mlen] = '\0';
	size_t blen = maildir_base_len(name);
	if (blen == 0)
		return 0;

	static const char *const subs[2] = { "cur", "new" };
	for (int i = 0; i < 2; i++) {
		char dpath[4300];
		snprintf(dpath, sizeof(dpath), "%s%s%s", maildir, mlen ? "/" : "", subs[i]);
		int fd = pathpat_open_beneath(root_fd, dpath, O_RDONLY | O_DIRECTORY);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return fd;
		DIR *d = fdopendir(fd);
		if (!d) {
			close(fd);
			return -errno;
		}
		struct dirent *de;
		int found = 0;
		while ((de = readdir(d)) != NULL) {
			if (maildir_base_len(de->d_name) == blen && strncmp(de->d_name, name, blen) == 0 &&
			    de->d_name[0] != '.') {
				found = snprintf(out, outlen, "%s/%s", dpath, de->d_name) < (int)outlen;
				break;
			}
		}
		closedir(d);
		if (found)
			return 1;
	}
	return 0;
}
