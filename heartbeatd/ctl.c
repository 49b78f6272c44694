/* ctl.c: heartbeatd's outward interfaces other than heartbeats: the
 * control socket (heartbeat_socket: "status" answered in "key: value"
 * lines, "drain" and "undrain" answered "drained: yes|no" or
 * "error: ..."), the --status client, the role_hook runner, and the line protocol
 * that tells the local mhafs whether the peer is up ("PEER up\n" /
 * "PEER down\n" on control_socket, answered "OK\n"). */
#define _GNU_SOURCE 1 /* accept4, pipe2 */
#include "hbd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CTL_IO_MS 100   /* the loop also sends heartbeats: never block long */
#define MHAFS_IO_MS 100
#define MHAFS_RETRY_MS 5000

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -1;
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* mkdir -p of path's parent directory. */
static void make_parent(const char *path)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
}

int ctl_open(struct hbd *d, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	const char *path = d->cfg.heartbeat_socket;
	if (unix_addr(path, &sun) < 0) {
		snprintf(err, errlen, "heartbeat_socket path too long: %s", path);
		return -1;
	}
	make_parent(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* a socket file left by a crashed daemon: refuse only if one answers */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		snprintf(err, errlen, "%s: another heartbeatd is running", path);
		close(fd);
		return -1;
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	chmod(path, 0660);
	d->ctl_fd = fd;
	return 0;
}

void ctl_close(struct hbd *d)
{
	if (d->ctl_fd < 0)
		return;
	close(d->ctl_fd);
	d->ctl_fd = -1;
	unlink(d->cfg.heartbeat_socket);
}

static void fmt_wall(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

static void status_text(struct hbd *d, FILE *f)
{
	uint64_t now = mono_ms();
	int alive = hbd_peer_alive(d, now);
	char buf[80], reason[HEALTH_REASON];
	fprintf(f, "node: %s id %u\n", d->cfg.node_name ? d->cfg.node_name : "-", d->cfg.node_id);
	fprintf(f, "role: %s\n", hb_state_name(d->state));
	fprintf(f, "role_since_ms: %llu\n", (unsigned long long)(now - d->state_since_ms));
	int h = health_peek(&d->health, now, reason, sizeof(reason));
	fprintf(f, "health: %s%s\n", h == 1 ? "ok" : h == 0 ? "failing: " : "unknown", h == 0 ? reason : "");
	const char *ps = !d->peer_seen ? "unknown" :
			 d->peer_msg.type == HB_T_LEAVING ? "left" : alive ? "alive" : "dead";
	fprintf(f, "peer: %s %s", d->cfg.peer_name ? d->cfg.peer_name : "-", ps);
	if (d->peer_seen)
		fprintf(f, " id %u role %s last_heard_ms %llu", d->peer_msg.node_id,
			hb_state_name((enum hb_state)d->peer_msg.state),
			(unsigned long long)(now - d->peer_rx_ms));
	fputc('\n', f);
	fprintf(f, "peer_address: %s port %u\n", d->cfg.peer_address, d->cfg.heartbeat_port);
	const char *owner = hb_state_holds_vip(d->state) ? "self" :
			    (alive && (d->peer_msg.flags & HB_F_HOLDS_VIP)) ? "peer" : "none";
	fprintf(f, "vip_owner: %s\n", owner);
	for (size_t i = 0; i < d->n_vips; i++) {
		char err[VIP_ERRLEN];
		int p = vip_present(d->cfg.vip_interface, &d->vips[i], err, sizeof(err));
		fprintf(f, "vip: %s dev %s %s\n", vip_format(&d->vips[i], buf, sizeof(buf)),
			d->cfg.vip_interface, p == 1 ? "present" : p == 0 ? "absent" : err);
	}
	if (d->cfg.witness)
		fprintf(f, "witness: %s %s\n", d->cfg.witness,
			!d->witness_checked_ms ? "not-needed" : d->witness_ok ? "reachable" : "unreachable");
	agent_status(d, f);
	sessions_status(&d->sessions, f);
	fprintf(f, "mhafs_told: %s\n", d->peer_reported < 0 ? "nothing-yet" :
		d->peer_reported ? "peer-up" : "peer-down");
	fprintf(f, "counters: tx=%llu tx_err=%llu rx_ok=%llu bad_mac=%llu replay=%llu malformed=%llu "
		"own_id=%llu clock_skew=%llu stalls=%llu uncounted_checks=%llu\n",
		(unsigned long long)d->c.tx, (unsigned long long)d->c.tx_err,
		(unsigned long long)d->c.rx_ok, (unsigned long long)d->c.rx_bad_mac,
		(unsigned long long)d->c.rx_replay, (unsigned long long)d->c.rx_malformed,
		(unsigned long long)d->c.rx_self, (unsigned long long)d->c.rx_skew,
		(unsigned long long)d->c.stalls, (unsigned long long)d->c.uncounted);
	fprintf(f, "transitions: %u\n", d->n_trans);
	unsigned first = d->n_trans > HBD_TRANS ? d->n_trans - HBD_TRANS : 0;
	for (unsigned i = first; i < d->n_trans; i++) {
		const struct hbd_trans *t = &d->trans[i % HBD_TRANS];
		fmt_wall(t->wall_ms, buf, sizeof(buf));
		fprintf(f, "transition: %s %s -> %s on %s%s%s\n", buf, hb_state_name(t->from),
			hb_state_name(t->to), hb_event_name(t->ev), t->why[0] ? ": " : "", t->why);
	}
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int rc;
	do
		rc = poll(&p, 1, ms);
	while (rc < 0 && errno == EINTR);
	return rc > 0 ? 0 : -1;
}

/* Serve one client: read a command line, answer, close. */
void ctl_serve(struct hbd *d)
{
	int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	char line[128];
	size_t n = 0;
	while (n < sizeof(line) - 1 && !memchr(line, '\n', n)) {
		if (wait_fd(fd, POLLIN, CTL_IO_MS) < 0)
			break;
		ssize_t got = read(fd, line + n, sizeof(line) - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	if (!f) {
		close(fd);
		return;
	}
	char err[256];
	if (!strcmp(line, "status"))
		status_text(d, f);
	else if (!strcmp(line, "drain") || !strcmp(line, "undrain")) {
		if (agent_set_drain(d, line[0] == 'd', err, sizeof(err)) < 0)
			fprintf(f, "error: %s\n", err);
		else
			fprintf(f, "drained: %s\n", d->drained ? "yes" : "no");
	} else
		fprintf(f, "error: unknown command '%.40s' (try status, drain or undrain)\n", line);
	fclose(f);
	for (size_t off = 0; off < outlen;) {
		if (wait_fd(fd, POLLOUT, CTL_IO_MS) < 0)
			break;
		ssize_t w = send(fd, out + off, outlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0 && errno != EAGAIN)
			break;
		if (w > 0)
			off += (size_t)w;
	}
	free(out);
	close(fd);
}

int ctl_status_client(const char *path)
{
	struct sockaddr_un sun;
	if (unix_addr(path, &sun) < 0) {
		fprintf(stderr, "heartbeatd: socket path too long: %s\n", path);
		return 1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "heartbeatd: cannot reach heartbeatd at %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (write(fd, "status\n", 7) != 7) {
		fprintf(stderr, "heartbeatd: %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	char buf[4096];
	ssize_t n;
	int any = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		any = 1;
	}
	close(fd);
	if (!any) {
		fprintf(stderr, "heartbeatd: no answer from %s\n", path);
		return 1;
	}
	return 0;
}

static void lower(const char *s, char *out, size_t len)
{
	size_t i = 0;
	for (; s[i] && i + 1 < len; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	out[i] = '\0';
}

void hook_run(struct hbd *d, enum hb_state from, enum hb_state to)
{
	if (!d->cfg.role_hook)
		return;
	char nrole[16], orole[16];
	lower(hb_state_name(to), nrole, sizeof(nrole));
	lower(hb_state_name(from), orole, sizeof(orole));
	pid_t pid = fork();
	if (pid < 0) {
		log_err("role_hook %s: fork: %s", d->cfg.role_hook, strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setenv("MHAFS_ROLE", nrole, 1);
		setenv("MHAFS_OLD_ROLE", orole, 1);
		setenv("MHAFS_VIP_HELD", hb_state_holds_vip(to) ? "yes" : "no", 1);
		execl(d->cfg.role_hook, d->cfg.role_hook, nrole, orole, (char *)NULL);
		_exit(127);
	}
	log_info("role_hook %s %s %s started (pid %d)", d->cfg.role_hook, nrole, orole, (int)pid);
}

void hook_reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		if (WIFEXITED(st))
			log_warn("role_hook (pid %d) exited with status %d%s", (int)pid, WEXITSTATUS(st),
				 WEXITSTATUS(st) == 127 ? " (could not be run?)" : "");
		else
			log_warn("role_hook (pid %d) killed by signal %d", (int)pid, WTERMSIG(st));
	}
}

/* One attempt to tell mhafs; 0 when it answered OK. */
static int mhafs_tell(const char *path, int up)
{
	struct sockaddr_un sun;
	if (!path || unix_addr(path, &sun) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int rc = -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
	    (errno != EINPROGRESS || wait_fd(fd, POLLOUT, MHAFS_IO_MS) < 0))
		goto out;
	const char *msg = up ? "PEER up\n" : "PEER down\n";
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) != (ssize_t)strlen(msg))
		goto out;
	char ans[16];
	size_t n = 0;
	while (n < sizeof(ans) - 1 && !memchr(ans, '\n', n)) {
		if (wait_fd(fd, POLLIN, MHAFS_IO_MS) < 0)
			goto out;
		ssize_t got = recv(fd, ans + n, sizeof(ans) - 1 - n, 0);
		if (got <= 0)
			goto out;
		n += (size_t)got;
	}
	ans[n] = '\0';
	rc = strncmp(ans, "OK", 2) == 0 ? 0 : -1;
	if (rc < 0)
		log_warn("mhafs at %s answered '%.*s' to peer state", path, (int)strcspn(ans, "\r\n"), ans);
out:
	close(fd);
	return rc;
}

void mhafs_notify(struct hbd *d, uint64_t now)
{
	int up = hbd_peer_alive(d, now);
	if (up == d->peer_reported)
		return;
	/* a peer not heard from yet is not known to be down: a heartbeatd
	 * that has just started would otherwise make a caught-up mhafs stop
	 * waiting for its peer, and catch up again (seconds under load,
	 * during which this node is not ready to serve) */
	if (!up && !d->peer_seen && now - d->start_ms < d->cfg.peer_dead_ms)
		return;
	/* a changed state is tried at once; an undelivered one every few s */
	static int last_tried = -1;
	if (up == last_tried && now < d->mhafs_retry_ms)
		return;
	last_tried = up;
	d->mhafs_retry_ms = now + MHAFS_RETRY_MS;
	if (mhafs_tell(d->cfg.control_socket, up) == 0) {
		d->peer_reported = up;
		log_info("told mhafs: peer %s", up ? "up" : "down");
	} else {
		log_debug("mhafs not reachable at %s; will retry", d->cfg.control_socket);
	}
}
