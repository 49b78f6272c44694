/* sessions.c: publishes the users with mail sessions on this node (see
 * sessions.h): runs sessions_cmd every SESSIONS_INTERVAL_MS, parses its
 * user names and makes sessions_dir/<node_name>/ hold exactly one empty
 * file per user. */
#define _GNU_SOURCE
#include "sessions.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "health.h" /* hb_pause, mono_ms */
#include "log.h"

#define OUT_MAX (4u << 20)

extern char **environ;

int sessions_dir_of(const struct config *cfg, char *out, size_t outlen)
{
	const char *name = cfg->node_name ? cfg->node_name : "";
	int n;
	if (!name[0] || strchr(name, '/'))
		return 0;
	if (!cfg->sessions_dir || !cfg->sessions_dir[0])
		return 0;
	n = snprintf(out, outlen, "%s/%s", cfg->sessions_dir, name);
	return n > 0 && (size_t)n < outlen;
}

/* A user name as the routing script looks it up: one path component. */
static int valid_user(const char *u, size_t len)
{
	if (len == 0 || len > 255 || u[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (u[i] == '/' || (unsigned char)u[i] <= ' ' || u[i] == 0x7f)
			return 0;
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sessions_free_users(char **users, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(users[i]);
	free(users);
}

int sessions_parse(const char *out, char ***users, size_t *n)
{
	char **v = NULL;
	size_t cap = 0, k = 0;
	int first = 1;
	*users = NULL;
	*n = 0;
	for (const char *l = out; *l; ) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		size_t ulen = strcspn(l, "\t\n");
		if (ulen > len)
			ulen = len;
		int header = first && ulen == 8 && strncmp(l, "username", 8) == 0;
		first = 0;
		if (!header && valid_user(l, ulen)) {
			if (k == cap) {
				cap = cap ? cap * 2 : 64;
				char **nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					sessions_free_users(v, k);
					return -ENOMEM;
				}
				v = nv;
			}
			if (!(v[k] = strndup(l, ulen))) {
				sessions_free_users(v, k);
				return -ENOMEM;
			}
			for (char *p = v[k]; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			k++;
		}
		l += len + (eol ? 1 : 0);
	}
	if (k)
		qsort(v, k, sizeof(*v), cmp_str);
	size_t u = 0; /* one per user */
	for (size_t i = 0; i < k; i++) {
		if (u && strcmp(v[u - 1], v[i]) == 0)
			free(v[i]);
		else
			v[u++] = v[i];
	}
	*users = v;
	*n = u;
	return 0;
}

/* Run cmd through /bin/sh, its output into a malloc'd string.  0 or a
 * message in err. */
static int run_cmd(const char *cmd, char **out, char *err, size_t errlen)
{
	int pfd[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	*out = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		snprintf(err, errlen, "cannot run '%.80s': %s", cmd, strerror(rc));
		return -1;
	}
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	uint64_t deadline = mono_ms() + SESSIONS_CMD_TIMEOUT_MS;
	int timed_out = 0, toolong = 0;
	while (buf) {
		uint64_t now = mono_ms();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		struct pollfd p = { pfd[0], POLLIN, 0 };
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		if (len + 1 >= cap) {
			if (cap >= OUT_MAX) {
				toolong = 1;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(pfd[0], buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(pfd[0]);
	if (timed_out || toolong || !buf)
		kill(-pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	buf[len] = '\0';
	if (timed_out || toolong || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		size_t l1 = strcspn(buf, "\n");
		snprintf(err, errlen, "'%.60s' %s%s%.*s", cmd,
			 timed_out ? "timed out" : toolong ? "printed too much" : "failed",
			 l1 ? ": " : "", (int)(l1 > 120 ? 120 : l1), buf);
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0755);
		*p = '/';
		if (rc < 0 && errno != EEXIST)
			return -errno;
	}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Make dir hold exactly the files named in users (sorted). */
static int sync_dir(const char *dir, char **users, size_t n, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", dir);
	int rc = mkdirs(path);
	int dfd = rc < 0 ? -1 : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errlen, "%.120s: %s", dir, strerror(rc < 0 ? -rc : errno));
		return -1;
	}
	DIR *d = fdopendir(dup(dfd));
	if (!d) {
		snprintf(err, errlen, "%.120s: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	struct dirent *de;
	int bad = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *key = de->d_name;
		if (n && bsearch(&key, users, n, sizeof(*users), cmp_str))
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT && !bad++)
			snprintf(err, errlen, "%.80s/%.60s: %s", dir, de->d_name, strerror(errno));
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		if (faccessat(dfd, users[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		int fd = openat(dfd, users[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST && !bad++)
			snprintf(err, errlen, "%.80s/%.60s: %s", dir, users[i], strerror(errno));
	}
	close(dfd);
	return bad ? -1 : 0;
}

static void *sessions_main(void *arg)
{
	struct sessions *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		pthread_mutex_unlock(&s->lock);
		char err[200] = "", *out = NULL, **users = NULL;
		size_t n = 0;
		int ok = run_cmd(s->cmd, &out, err, sizeof(err)) == 0;
		if (ok && sessions_parse(out, &users, &n) < 0) {
			snprintf(err, sizeof(err), "out of memory");
			ok = 0;
		}
		/* a failed who keeps the files: a user whose sessions we cannot
		 * see is not sent to the other node on that account */
		if (ok && sync_dir(s->dir, users, n, err, sizeof(err)) < 0)
			ok = 0;
		free(out);
		sessions_free_users(users, n);
		pthread_mutex_lock(&s->lock);
		s->rounds++;
		if (ok) {
			if (s->err[0])
				log_notice("sessions: publishing again (%zu users here)", n);
			s->err[0] = '\0';
			s->users = (long)n;
		} else {
			if (strcmp(s->err, err) != 0)
				log_warn("sessions: %s (the published list in %s stays as it was)", err, s->dir);
			s->failures++;
			snprintf(s->err, sizeof(s->err), "%s", err);
		}
		hb_pause(&s->cond, &s->lock, SESSIONS_INTERVAL_MS, &s->stop);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int sessions_start(struct sessions *s, const struct config *cfg)
{
	pthread_condattr_t ca;
	memset(s, 0, sizeof(*s));
	s->users = -1;
	if (!sessions_dir_of(cfg, s->dir, sizeof(s->dir)) || !cfg->sessions_cmd || !cfg->sessions_cmd[0])
		return 0;
	snprintf(s->cmd, sizeof(s->cmd), "%s", cfg->sessions_cmd);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&s->thread, NULL, sessions_main, s);
	if (rc)
		return -rc;
	s->started = 1;
	log_info("sessions: publishing this node's mail sessions in %s every %u ms", s->dir,
		 SESSIONS_INTERVAL_MS);
	return 0;
}

void sessions_stop(struct sessions *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->started = 0;
}

void sessions_status(struct sessions *s, FILE *f)
{
	if (!s->started) {
		fprintf(f, "sessions: off\n");
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->users < 0)
		fprintf(f, "sessions: %s (no round yet)\n", s->dir);
	else
		fprintf(f, "sessions: %ld users here, in %s (%lu rounds, %lu failed)%s%s\n", s->users, s->dir,
			s->rounds, s->failures, s->err[0] ? "; last: " : "", s->err);
	pthread_mutex_unlock(&s->lock);
}
