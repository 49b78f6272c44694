/* ctl.c: the control socket server (see ctl.h).  One thread; each client
 * sends one command line and gets the answer, with a short timeout so a
 * stuck client cannot block the next. */
#define _GNU_SOURCE
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "repl.h"
#include "watch.h"

struct ctl {
	struct mhafs *fs;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	int running;
	/* RECONCILE requests run on their own threads (a walk may take a
	 * while; PEER hints must not wait for it) */
	pthread_mutex_t jobs_lock;
	pthread_cond_t jobs_done;
	int jobs, stopping;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void mkdir_parent(const char *path)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
}

static void answer_status(struct ctl *c, FILE *out)
{
	struct mhafs *fs = c->fs;
	struct repl_status st;
	repl_get_status(fs->repl, &st);
	fprintf(out, "node=%s\nnode_id=%u\nmount=%s\nbacking=%s\n",
		fs->cfg->node_name ? fs->cfg->node_name : "-", fs->cfg->node_id, fs->cfg->mount_point,
		fs->root_path);
	fprintf(out, "ops_journaled=%lu\nops_node_local=%lu\njournal_failed=%d\n",
		atomic_load(&fs->ops_journaled), atomic_load(&fs->ops_local),
		atomic_load(&fs->journal_failed));
	fprintf(out, "sql_statements=%" PRIu64 "\n", journal_statements());
	/* files the kernel holds and open handles (a descriptor each) against
	 * the most kept */
	struct itable_stats is;
	itable_stats(fs->inodes, &is);
	fprintf(out, "inodes=%zu\nopen_handles=%zu\ninodes_limit=%zu\ninodes_refused=%" PRIu64 "\n",
		is.inodes, is.handles, is.limit, is.refused);
	fprintf(out, "cache_stores_skipped=%lu\n", atomic_load(&fs->stores_skipped));
	fprintf(out, "flushes=%lu\n", atomic_load(&fs->flushes));
	/* the clock now: above every change this node made or applied (the
	 * MODSEQ floor of a user who starts being served here) */
	fprintf(out, "hlc=%" PRIu64 "\n", (uint64_t)hlc_now(&fs->clock));
	fprintf(out, "sync_mode=%s\n", fs->cfg->sync_mode == SYNC_MODE_SYNC ? "sync" : "async");
	fprintf(out, "replication=%s\n", st.configured ? "on" : "off");
	if (st.configured) {
		fprintf(out, "peer=%s\npeer_connected=%s\npeer_synced=%s\npeer_stream_in=%s\n",
			fs->cfg->peer_name, st.out_connected ? "yes" : "no", st.synced ? "yes" : "no",
			st.in_connected ? "yes" : "no");
		fprintf(out, "full_sync=%s\n", st.full_sync ? "running" : "no");
		fprintf(out, "reconcile_walking=%s\n", st.walking ? "yes" : "no");
		fprintf(out, "peer_protocol=%d\n", st.peer_proto);
		fprintf(out, "peer_heartbeat=%s\n",
			st.peer_hint < 0 ? "unknown" : st.peer_hint ? "up" : "down");
		fprintf(out, "last_seq=%" PRIu64 "\nacked_seq=%" PRIu64 "\nbacklog_ops=%" PRIu64
			"\nbacklog_bytes=%" PRIu64 "\n", st.last_seq, st.acked_seq, st.backlog_ops,
			st.backlog_bytes);
		fprintf(out, "sent_ops=%" PRIu64 "\nsent_bytes=%" PRIu64 "\napplied_ops=%" PRIu64
			"\napplied_skipped=%" PRIu64 "\npeer_applied_seq=%" PRIu64 "\napply_syncs=%" PRIu64 "\n",
			st.sent_ops, st.sent_bytes, st.applied_ops, st.applied_skipped, st.peer_applied_seq,
			st.apply_syncs);
		fprintf(out, "conflicts_last_writer_theirs=%" PRIu64 "\nconflicts_last_writer_ours=%" PRIu64
			"\nconflicts_expunge_wins=%" PRIu64 "\nconflicts_applied_to_local_version=%" PRIu64 "\n",
			st.conflicts_theirs_newer, st.conflicts_ours_newer, st.conflicts_expunge_wins,
			st.conflicts_redirected);
		fprintf(out, "conflicts_removals_met=%" PRIu64 "\n", st.conflicts_removals_met);
		fprintf(out, "conflicts_flags_merged=%" PRIu64 "\n", st.conflicts_flags_merged);
		fprintf(out, "uidlist_merges=%" PRIu64 "\n", st.uidlist_merges);
		fprintf(out, "reconcile_runs=%" PRIu64 "\nreconcile_nodes=%" PRIu64 "\nreconcile_entries=%" PRIu64
			"\nreconcile_diffs=%" PRIu64 "\nreconcile_sent=%" PRIu64 "\nreconcile_last_ms=%" PRIu64
			"\ntombstones_collected=%" PRIu64 "\n", st.reconcile_runs, st.reconcile_nodes,
			st.reconcile_entries, st.reconcile_diffs, st.reconcile_sent, st.reconcile_last_ms,
			st.tombstones_collected);
		fprintf(out, "dotlocks_shared=%" PRIu64 "\ndotlocks_busy_on_peer=%" PRIu64
			"\ndotlocks_alone=%" PRIu64 "\ndotlocks_held_for_peer=%" PRIu64 "\n",
			st.locks_granted, st.locks_busy, st.locks_alone, st.locks_served);
		fprintf(out, "commit_waits=%" PRIu64 "\ncommit_timeouts=%" PRIu64
			"\nlast_commit_ack_us=%" PRIu64 "\nlast_error=%s\n",
			st.commit_waits, st.commit_timeouts, st.last_ack_lag_us,
			st.last_error[0] ? st.last_error : "-");
	}
	watch_status(fs->watch, out);
	fprintf(out, "END\n");
}

struct rec_job {
	struct ctl *c;
	FILE *f;
	int repair;
};

/* mhafsck --peer: the walk over this node's connection to the peer. */
static void *reconcile_job(void *arg)
{
	struct rec_job *job = arg;
	struct ctl *c = job->c;
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fileno(job->f), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int rc = repl_reconcile(c->fs->repl, job->repair, 600000, &c->stopping, job->f);
	if (rc < 0)
		fprintf(job->f, "ERR %s\n", rc == -ENOTCONN ? "not connected to the peer" : strerror(-rc));
	else
		fprintf(job->f, "END\n");
	fclose(job->f);
	free(job);
	pthread_mutex_lock(&c->jobs_lock);
	c->jobs--;
	pthread_cond_broadcast(&c->jobs_done);
	pthread_mutex_unlock(&c->jobs_lock);
	return NULL;
}

static int start_reconcile(struct ctl *c, FILE *f, int repair)
{
	pthread_t t;
	pthread_attr_t attr;
	struct rec_job *job = malloc(sizeof(*job));
	if (!job)
		return -1;
	*job = (struct rec_job){ c, f, repair };
	pthread_mutex_lock(&c->jobs_lock);
	c->jobs++;
	pthread_mutex_unlock(&c->jobs_lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &attr, reconcile_job, job);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(job);
		pthread_mutex_lock(&c->jobs_lock);
		c->jobs--;
		pthread_mutex_unlock(&c->jobs_lock);
		return -1;
	}
	return 0;
}

static void serve_client(struct ctl *c, int fd)
{
	char line[256];
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	FILE *f = fdopen(fd, "r+");
	if (!f) {
		close(fd);
		return;
	}
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "STATUS") == 0) {
			answer_status(c, f);
		} else if (strcmp(line, "RECONCILE") == 0 || strcmp(line, "RECONCILE dry") == 0) {
			if (start_reconcile(c, f, line[9] == '\0') == 0)
				return; /* the job answers and closes f */
			fprintf(f, "ERR cannot start the walk\n");
		} else if (strcmp(line, "PEER up") == 0 || strcmp(line, "PEER down") == 0) {
			repl_peer_hint(c->fs->repl, line[5] == 'u');
			fprintf(f, "OK\n");
		} else {
			fprintf(f, "ERR unknown command\n");
		}
	}
	fclose(f);
}

static void *ctl_main(void *arg)
{
	struct ctl *c = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN },
				       { .fd = c->stop_pipe[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN) {
			int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				serve_client(c, fd);
		}
	}
	return NULL;
}

struct ctl *ctl_start(struct mhafs *fs, char *err, unsigned long errlen)
{
	struct ctl *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa;
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fs = fs;
	c->fd = -1;
	pthread_mutex_init(&c->jobs_lock, NULL);
	pthread_cond_init(&c->jobs_done, NULL);
	if (strlen(fs->cfg->control_socket) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control_socket path too long");
		free(c);
		return NULL;
	}
	snprintf(c->path, sizeof(c->path), "%s", fs->cfg->control_socket);
	mkdir_parent(c->path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->path, strlen(c->path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || pipe2(c->stop_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		snprintf(err, errlen, "control socket %s is in use by another mhafs "
			 "(set control_socket per mount)", c->path);
		goto fail;
	}
	close(c->fd);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	unlink(c->path); /* stale, from a run that crashed */
	mode_t old = umask(077);
	int rc = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(c->fd, 8) < 0) {
		snprintf(err, errlen, "control socket %s: %s", c->path, strerror(errno));
		goto fail;
	}
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

int ctl_run(struct ctl *c)
{
	if (pthread_create(&c->thread, NULL, ctl_main, c) != 0)
		return -1;
	c->running = 1;
	return 0;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	if (write(c->stop_pipe[1], "x", 1) < 0) {
		/* the thread also ends when the pipe closes */
	}
	if (c->running)
		pthread_join(c->thread, NULL);
	/* RECONCILE jobs see stopping within 200 ms */
	pthread_mutex_lock(&c->jobs_lock);
	__atomic_store_n(&c->stopping, 1, __ATOMIC_RELAXED);
	while (c->jobs > 0)
		pthread_cond_wait(&c->jobs_done, &c->jobs_lock);
	pthread_mutex_unlock(&c->jobs_lock);
	close(c->fd);
	close(c->stop_pipe[0]);
	close(c->stop_pipe[1]);
	unlink(c->path);
	free(c);
}
