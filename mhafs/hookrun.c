/* hookrun.c: the hook runner (see hookrun.h).  posix_spawn starts the
 * script in a new process group with default signal handling (mhafs
 * ignores SIGPIPE, which an exec would keep) and no descriptor of mhafs's
 * but /dev/null, and a pipe for its output; waitpid names its pid, so no
 * other child of mhafs is reaped here. */
#define _GNU_SOURCE
#include "hookrun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

void hookrun_init(struct hookrun *h, const char *what, const char *path, unsigned timeout_s)
{
	memset(h, 0, sizeof(*h));
	h->what = what;
	h->path = path;
	h->timeout_ms = (uint64_t)timeout_s * 1000u;
	h->out_fd = -1;
}

void hookrun_queue(struct hookrun *h, const char *const args[HOOKRUN_ARGS])
{
	if (!h->path)
		return;
	if (h->qlen == HOOKRUN_QUEUE) {
		h->dropped++;
		log_warn("%s: %u runs already waiting; not running it for: %s %s %s %s", h->what,
			 HOOKRUN_QUEUE, args[0], args[1], args[2], args[3]);
		return;
	}
	unsigned slot = (h->qhead + h->qlen++) % HOOKRUN_QUEUE;
	for (int i = 0; i < HOOKRUN_ARGS; i++)
		snprintf(h->q[slot][i], HOOKRUN_ARGLEN, "%s", args[i]);
}

int hookrun_busy(const struct hookrun *h)
{
	return h->pid > 0 || h->qlen > 0;
}

static void read_output(struct hookrun *h)
{
	char buf[512];
	ssize_t n;
	while (h->out_fd >= 0 && (n = read(h->out_fd, buf, sizeof(buf))) > 0) {
		size_t room = sizeof(h->out) - 1 - h->outlen, take = (size_t)n < room ? (size_t)n : room;
		memcpy(h->out + h->outlen, buf, take);
		h->outlen += take;
		h->out[h->outlen] = '\0';
	}
}

static void start(struct hookrun *h, uint64_t now_ms)
{
	char (*a)[HOOKRUN_ARGLEN] = h->q[h->qhead];
	h->qhead = (h->qhead + 1) % HOOKRUN_QUEUE;
	h->qlen--;
	snprintf(h->args, sizeof(h->args), "%s %s %s %s %s", a[0], a[1], a[2], a[3], a[4]);
	char *argv[HOOKRUN_ARGS + 2] = { (char *)h->path };
	for (int i = 0; i < HOOKRUN_ARGS; i++)
		argv[i + 1] = a[i];
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0) {
		h->failures++;
		log_err("%s %s: pipe: %s", h->what, h->args, strerror(errno));
		return;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	pid_t pid;
	int rc = posix_spawn(&pid, h->path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	h->runs++;
	if (rc != 0) {
		close(pfd[0]);
		h->failures++;
		log_err("%s %s %s: cannot run it: %s", h->what, h->path, h->args, strerror(rc));
		return;
	}
	h->pid = pid;
	h->out_fd = pfd[0];
	h->started_ms = now_ms;
	h->killed = 0;
	h->outlen = 0;
	h->out[0] = '\0';
	log_info("%s %s %s started (pid %d)", h->what, h->path, h->args, (int)pid);
}

/* The first line of what the run wrote, for the log. */
static const char *first_line(struct hookrun *h)
{
	h->out[strcspn(h->out, "\n")] = '\0';
	return h->out;
}

static void finish(struct hookrun *h, int st)
{
	read_output(h);
	close(h->out_fd);
	h->out_fd = -1;
	const char *out = first_line(h);
	const char *sep = out[0] ? ": " : "";
	if (h->killed) {
		h->failures++;
		if (h->killed == 2)
			log_warn("%s %s %s: killed, mhafs is stopping%s%s", h->what, h->path, h->args, sep, out);
		else
			log_err("%s %s %s: still running after %llu s: killed%s%s", h->what, h->path,
				h->args, (unsigned long long)(h->timeout_ms / 1000), sep, out);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		log_info("%s %s %s: done", h->what, h->path, h->args);
	} else if (WIFEXITED(st)) {
		h->failures++;
		log_err("%s %s %s: exited with status %d%s%s", h->what, h->path, h->args, WEXITSTATUS(st),
			sep, out);
	} else {
		h->failures++;
		log_err("%s %s %s: killed by signal %d%s%s", h->what, h->path, h->args, WTERMSIG(st), sep,
			out);
	}
	h->pid = 0;
}

void hookrun_poll(struct hookrun *h, uint64_t now_ms)
{
	if (h->pid > 0) {
		int st;
		read_output(h);
		pid_t got = waitpid(h->pid, &st, WNOHANG);
		if (got == h->pid) {
			finish(h, st);
		} else if (got < 0 && errno != EINTR) {
			log_err("%s (pid %d): waitpid: %s", h->what, (int)h->pid, strerror(errno));
			close(h->out_fd);
			h->out_fd = -1;
			h->pid = 0;
		} else if (!h->killed && now_ms - h->started_ms >= h->timeout_ms) {
			kill(-h->pid, SIGKILL);
			h->kills++;
			h->killed = 1;
		}
	}
	if (h->pid == 0 && h->qlen > 0)
		start(h, now_ms);
}

void hookrun_fini(struct hookrun *h)
{
	if (h->pid <= 0)
		return;
	kill(-h->pid, SIGKILL);
	h->killed = h->killed ? h->killed : 2;
	int st;
	while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR) {
	}
	finish(h, st);
}
