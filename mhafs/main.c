/* main.c: the mhafs daemon's start-up and shut-down: command line and
 * configuration, checks of the backing directory and mount point, the
 * journal and its start-up check, then the multi-threaded FUSE loop.
 *
 *   mhafs BACKING MOUNTPOINT [-f] [-d] [-s] [-o OPT[,OPT...]]
 *
 * -o config=PATH picks the configuration file; -o KEY=VALUE overrides any
 * configuration key; every other -o option goes to FUSE (and is refused
 * there if unknown). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "fs.h"
#include "ctl.h"
#include "arrivals.h"
#include "log.h"
#include "mountpoint.h"
#include "ready.h"
#include "repl.h"
#include "watch.h"
#include "sdnotify.h"

#define MAX_OVERRIDES 64

struct cmdline {
	const char *backing, *mountpoint, *config_path;
	int foreground, debug, single_thread, show_help, show_version;
	char *overrides[MAX_OVERRIDES]; /* "key=value" for config keys */
	size_t n_overrides;
	struct fuse_args fuse_args;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mhafs BACKING MOUNTPOINT [-f] [-d] [-s] [-o OPTIONS]\n"
		"  -f            stay in the foreground\n"
		"  -d            FUSE debug output (implies -f)\n"
		"  -s            single-threaded\n"
		"  -o config=PATH  configuration file (default " MHAFS_DEFAULT_CONFIG ")\n"
		"  -o KEY=VALUE    set any mhafs.conf key, e.g. -o node_id=1\n"
		"  -o OPT          FUSE mount options (allow_other and default_permissions are on)\n"
		"See mhafs(8) and mhafs.conf(5).\n");
}

/* Options the Debian mount helper or fstab may pass that mean nothing here. */
static int ignorable(const char *opt)
{
	static const char *const ign[] = { "defaults", "auto", "noauto", "user", "nouser", "users",
					   "_netdev", "nofail", "allow_other", "default_permissions" };
	for (size_t i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
		if (strcmp(opt, ign[i]) == 0)
			return 1;
	return strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0;
}

static int add_mount_opts(struct cmdline *cl, char *list)
{
	char *save = NULL;
	for (char *opt = strtok_r(list, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');
		if (strncmp(opt, "config=", 7) == 0) {
			free((char *)cl->config_path);
			cl->config_path = strdup(opt + 7);
		} else if (eq) {
			*eq = '\0';
			int is_key = config_is_key(opt);
			*eq = '=';
			if (is_key) {
				if (cl->n_overrides >= MAX_OVERRIDES) {
					fprintf(stderr, "mhafs: too many -o options\n");
					return -1;
				}
				cl->overrides[cl->n_overrides++] = strdup(opt);
				continue;
			}
			goto fuse_opt;
		} else if (!ignorable(opt)) {
		fuse_opt:;
			char buf[PATH_MAX];
			snprintf(buf, sizeof(buf), "-o%s", opt);
			if (fuse_opt_add_arg(&cl->fuse_args, buf) < 0)
				return -1;
		}
	}
	return 0;
}

static void free_cmdline(struct cmdline *cl)
{
	for (size_t i = 0; i < cl->n_overrides; i++)
		free(cl->overrides[i]);
	free((char *)cl->config_path);
	fuse_opt_free_args(&cl->fuse_args);
}

static int parse_cmdline(int argc, char **argv, struct cmdline *cl)
{
	memset(cl, 0, sizeof(*cl));
	struct fuse_args init = FUSE_ARGS_INIT(0, NULL);
	cl->fuse_args = init;
	if (fuse_opt_add_arg(&cl->fuse_args, argv[0]) < 0)
		return -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cl->show_help = 1;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			cl->show_version = 1;
		} else if (!strcmp(a, "-f")) {
			cl->foreground = 1;
		} else if (!strcmp(a, "-d")) {
			cl->debug = 1;
			cl->foreground = 1;
		} else if (!strcmp(a, "-s")) {
			cl->single_thread = 1;
		} else if (!strncmp(a, "-o", 2)) {
			char *list;
			if (a[2])
				list = strdup(a + 2);
			else if (i + 1 < argc)
				list = strdup(argv[++i]);
			else {
				fprintf(stderr, "mhafs: -o needs an argument\n");
				return -1;
			}
			int rc = add_mount_opts(cl, list);
			free(list);
			if (rc < 0)
				return -1;
		} else if (a[0] == '-') {
			fprintf(stderr, "mhafs: unknown option '%s'\n", a);
			return -1;
		} else if (!cl->backing) {
			cl->backing = a;
		} else if (!cl->mountpoint) {
			cl->mountpoint = a;
		} else {
			fprintf(stderr, "mhafs: unexpected argument '%s'\n", a);
			return -1;
		}
	}
	return 0;
}

/* libfuse's own messages during option parsing, kept to report one line. */
static char fuse_log_msg[512];

static void capture_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	vsnprintf(fuse_log_msg, sizeof(fuse_log_msg), fmt, ap);
	fuse_log_msg[strcspn(fuse_log_msg, "\n")] = '\0';
}

static int load_config(struct cmdline *cl, struct config *cfg)
{
	char err[CONFIG_ERRLEN];
	const char *path = cl->config_path ? cl->config_path : MHAFS_DEFAULT_CONFIG;

	/* cfg holds the defaults already */
	if (config_load(cfg, path, cl->config_path == NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "mhafs: %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < cl->n_overrides; i++) {
		char *kv = cl->overrides[i], *eq = strchr(kv, '=');
		*eq = '\0';
		int rc = config_set(cfg, kv, eq + 1, err, sizeof(err));
		*eq = '=';
		if (rc < 0) {
			fprintf(stderr, "mhafs: -o %s: %s\n", kv, err);
			return -1;
		}
	}
	if (cl->backing && config_set(cfg, "backing_dir", cl->backing, err, sizeof(err)) < 0)
		goto bad;
	if (cl->mountpoint && config_set(cfg, "mount_point", cl->mountpoint, err, sizeof(err)) < 0)
		goto bad;
	if (!cfg->backing_dir || !cfg->mount_point) {
		fprintf(stderr, "mhafs: need a backing directory and a mount point\n");
		usage(stderr);
		return -1;
	}
	if (config_validate(cfg, err, sizeof(err)) < 0)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "mhafs: %s: %s\n", path, err);
	return -1;
}

/* Open the backing directory and check the mount point; errors printed. */
static int check_paths(struct mhafs *fs, struct config *cfg, char *mnt_real)
{
	struct stat st;
	char real[PATH_MAX];

	if (!realpath(cfg->backing_dir, real)) {
		fprintf(stderr, "mhafs: backing directory %s: %s\n", cfg->backing_dir, strerror(errno));
		return -1;
	}
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mhafs: backing directory %s: not a directory\n", cfg->backing_dir);
		return -1;
	}
	if (!realpath(cfg->mount_point, mnt_real)) {
		fprintf(stderr, "mhafs: mount point %s: %s\n", cfg->mount_point, strerror(errno));
		return -1;
	}
	if (stat(mnt_real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mhafs: mount point %s: not a directory\n", cfg->mount_point);
		return -1;
	}
	if (mountpoint_in_use(mnt_real)) {
		fprintf(stderr, "mhafs: mount point %s is already in use (something is mounted there)\n",
			mnt_real);
		return -1;
	}
	fs->root_fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->root_fd < 0) {
		fprintf(stderr, "mhafs: backing directory %s: %s\n", real, strerror(errno));
		return -1;
	}
	fs->root_path = strdup(strcmp(real, "/") == 0 ? "" : real);
	fs->root_len = strlen(fs->root_path);
	if (fstat(fs->root_fd, &st) < 0)
		return -1;
	fs->inodes = itable_new(fs->root_fd, st.st_dev, st.st_ino);
	fs->arrivals = arrivals_new((uint64_t)cfg->sync_timeout_ms + 2000);
	return fs->inodes && fs->arrivals ? 0 : -1;
}

/* The backing file system's name when its close() never reports an error
 * (it has no flush method: local disk file systems), else NULL.  Then a
 * close through the mount need not ask mhafs (FUSE FLUSH): the backing
 * file systems report a failed write at write() or fsync(), not at close. */
static const char *silent_close_fs(int fd)
{
	static const struct { unsigned long magic; const char *name; } silent[] = {
		{ EXT4_SUPER_MAGIC, "ext4" }, { XFS_SUPER_MAGIC, "xfs" },
		{ BTRFS_SUPER_MAGIC, "btrfs" }, { TMPFS_MAGIC, "tmpfs" },
	};
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++)
		if ((unsigned long)sf.f_type == silent[i].magic)
			return silent[i].name;
	return NULL;
}

/* One mhafs per state directory: hold a lock for the life of the daemon. */
static int lock_state_dir(const char *dir)
{
	char path[PATH_MAX];
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "mhafs: state directory %s: %s\n", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "mhafs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "mhafs: state directory %s is in use by another mhafs\n", dir);
		close(fd);
		return -1;
	}
	return fd; /* kept open: the lock lives as long as the process */
}

static int open_journal(struct mhafs *fs, struct config *cfg)
{
	char err[512];
	int clean = 0;
	fs->journal = journal_open(cfg->state_dir, (uint16_t)cfg->node_id, &fs->clock, &clean, err,
				   sizeof(err));
	if (!fs->journal) {
		fprintf(stderr, "mhafs: journal: %s\n", err);
		return -1;
	}
	struct recover_stats rs;
	memset(&rs, 0, sizeof(rs));
	/* a new (or recreated) journal numbers from the current HLC: a peer
	 * that saw the old one's numbers will not mistake new entries for
	 * ones it already has */
	if (journal_last_seq(fs->journal) == 0)
		journal_seq_floor(fs->journal, hlc_now(&fs->clock));
	journal_set_node_name(fs->journal, cfg->node_name);
	if (!clean) {
		int building = !journal_catalog_built(fs->journal);
		int dfd = openat(fs->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int rc = dfd < 0 ? -errno
				 : journal_recover(fs->journal, dfd, cfg->node_local, cfg->n_node_local, &rs);
		if (dfd >= 0)
			close(dfd);
		if (rc < 0) {
			fprintf(stderr, "mhafs: start-up check failed: %s\n", strerror(-rc));
			return -1;
		}
		if (building) {
			log_notice("startup check: new catalog built from the store: %llu entries",
				   (unsigned long long)rs.scanned);
			/* no journal entry describes these: the peer gets them by a
			 * full sync */
			if (rs.scanned > 0)
				repl_mark_full_sync(cfg->state_dir);
		}
		else
			log_notice("startup check: last stop was not clean; %llu entries scanned, %llu added, "
				   "%llu changed, %llu removed: journal and store consistent",
				   (unsigned long long)rs.scanned, (unsigned long long)rs.added,
				   (unsigned long long)rs.changed, (unsigned long long)rs.removed);
	} else {
		log_info("startup check: last stop was clean, nothing to check");
	}
	return 0;
}

/* mhafs holds a descriptor for every file the kernel knows (inode.c), so
 * the soft limit of open files goes up to the hard one; a low hard limit
 * is said once at start, not found later as EMFILE on a client's open.
 * Returns the limit (0: none). */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = was;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536)
		log_warn("open files limited to %llu: mhafs keeps a descriptor per file the kernel "
			 "caches, and a large store needs more (LimitNOFILE= or ulimit -Hn)",
			 (unsigned long long)rl.rlim_cur);
	else
		log_info("open files limit %llu", (unsigned long long)rl.rlim_cur);
	return rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur;
}

/* The most files the kernel may hold through the mount and open handles,
 * together: the open files limit less a reserve (an eighth, 256 to
 * 16,384) for mhafs's own descriptors (FUSE workers' clone_fd, SQLite,
 * the peer's connections, the journal's hashing), so that running short
 * refuses new lookups and opens with ENFILE (and the watch thread has the
 * kernel drop unused entries) instead of failing a journal entry. */
static size_t inode_limit(rlim_t nofile)
{
	if (nofile == 0 || nofile > ((rlim_t)1 << 40))
		return 0;
	size_t reserve = (size_t)nofile / 8;
	reserve = reserve < 256 ? 256 : reserve > 16384 ? 16384 : reserve;
	return (size_t)nofile > 2 * reserve ? (size_t)nofile - reserve : (size_t)nofile / 2;
}

int main(int argc, char **argv)
{
	struct cmdline cl;
	struct config cfg;
	struct mhafs fs;
	char mnt_real[PATH_MAX];
	struct ready *rdy = NULL; /* READY=1 and the watchdog (systemd) */
	int ret = 1;

	umask(0); /* the kernel applies the caller's umask; modes arrive final */
	signal(SIGPIPE, SIG_IGN);
	memset(&fs, 0, sizeof(fs));
	pthread_mutex_init(&fs.ns_lock, NULL);
	config_defaults(&cfg);
	if (parse_cmdline(argc, argv, &cl) < 0) {
		usage(stderr);
		ret = 2;
		goto out_early;
	}
	if (cl.show_help || cl.show_version) {
		if (cl.show_help)
			usage(stdout);
		else
			printf("mhafs %s (libfuse %d)\n", PACKAGE_VERSION, fuse_version());
		ret = 0;
		goto out_early;
	}
	if (load_config(&cl, &cfg) < 0)
		goto out_early;
	fs.cfg = &cfg;
	fs.entry_timeout = cfg.entry_timeout;
	fs.attr_timeout = cfg.attr_timeout;
	log_init("mhafs", strcmp(cfg.log_target, "stderr") == 0, log_level_from_name(cfg.log_level));
	hlc_init(&fs.clock, NULL, NULL, cfg.clock_offset_ms);
	rlim_t nofile = raise_nofile();

	if (check_paths(&fs, &cfg, mnt_real) < 0)
		goto out_early;
	const char *silent = silent_close_fs(fs.root_fd);
	/* the writeback cache writes dirty pages back at close: it keeps FLUSH */
	fs.close_silent = silent != NULL && !cfg.writeback_cache;
	size_t ilimit = inode_limit(nofile);
	itable_set_limit(fs.inodes, ilimit);

	/* FUSE options are checked before anything is created */
	char fsname[PATH_MAX + 16];
	snprintf(fsname, sizeof(fsname), "-ofsname=%s", fs.root_path[0] ? fs.root_path : "/");
	if (fuse_opt_add_arg(&cl.fuse_args, "-oallow_other,default_permissions,subtype=mhafs") < 0 ||
	    fuse_opt_add_arg(&cl.fuse_args, fsname) < 0 ||
	    (cl.debug && fuse_opt_add_arg(&cl.fuse_args, "-odebug") < 0))
		goto out_early;
	fuse_set_log_func(capture_fuse_log);
	fs.se = fuse_session_new(&cl.fuse_args, fs_build_ops(), sizeof(struct fuse_lowlevel_ops), &fs);
	fuse_set_log_func(NULL);
	if (!fs.se) {
		fprintf(stderr, "mhafs: %s\n", fuse_log_msg[0] ? fuse_log_msg : "bad FUSE options");
		goto out_early;
	}
	sdn_status("start-up check of the journal and the store");
	if (lock_state_dir(cfg.state_dir) < 0 || open_journal(&fs, &cfg) < 0) {
		fuse_session_destroy(fs.se);
		goto out_early;
	}
	fs_space_init(&fs);
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	{
		char err[512];
		if (cfg.peer_address) {
			fs.repl = repl_start(&fs, err, sizeof(err));
			if (!fs.repl) {
				fprintf(stderr, "mhafs: replication: %s\n", err);
				goto out_signals;
			}
		} else {
			log_notice("no peer_address: running without replication");
		}
		fs.watch = watch_new(&fs, err, sizeof(err));
		fs.ctl = fs.watch ? ctl_start(&fs, err, sizeof(err)) : NULL;
		if (!fs.ctl) {
			fprintf(stderr, "mhafs: %s\n", err);
			goto out_signals;
		}
	}
	if (fuse_session_mount(fs.se, mnt_real) != 0) {
		fprintf(stderr, "mhafs: cannot mount on %s\n", mnt_real);
		goto out_signals;
	}
	if (mountpoint_remember(mnt_real) < 0)
		log_warn("%s: the new mount is not in mountinfo as expected; a stop by signal ends its "
			 "connection as libfuse does", mnt_real);
	if (cfg.writeback_cache)
		log_warn("writeback_cache is on: the kernel gathers writes and owns file sizes, so a full "
			 "backing disk is reported only at fsync or close and the size seen through the "
			 "mount can run ahead of what was stored; use it only where the disk cannot fill");
	log_notice("mounted %s on %s (node %s id %u, state %s, sync mode %s)", fs.root_path, mnt_real,
		   cfg.node_name ? cfg.node_name : "-", cfg.node_id, cfg.state_dir,
		   cfg.sync_mode == SYNC_MODE_SYNC ? "sync" : "async");
	log_info("inodes_limit %zu: the most files the kernel holds and handles open at once", ilimit);
	log_info("backing file system %s: %s", silent ? silent : "of another kind",
		 fs.close_silent ? "its close reports no error, so closes through the mount send no FLUSH"
				 : "every close through the mount asks it (FLUSH)");
	/* log_target = stderr keeps logging there in the background too */
	int saved_err = cl.foreground || strcmp(cfg.log_target, "stderr") ? -1 : dup(2);
	if (fuse_daemonize(cl.foreground) != 0)
		goto out_unmount;
	if (saved_err >= 0) {
		dup2(saved_err, 2);
		close(saved_err);
	}
	{
		/* threads start after the fork; errors from here go to the log */
		char err[512];
		if (fs_start_journal_writer(&fs) < 0) {
			log_err("cannot start the journal writer thread");
			goto out_unmount;
		}
		if (fs.repl && repl_run(fs.repl, err, sizeof(err)) < 0) {
			log_err("replication: %s", err);
			goto out_unmount;
		}
		if (ctl_run(fs.ctl) < 0) {
			log_err("cannot start the control socket thread");
			goto out_unmount;
		}
		if (watch_run(fs.watch) < 0) {
			log_err("cannot start the watch thread");
			goto out_unmount;
		}
		char status[2 * PATH_MAX + 128];
		snprintf(status, sizeof(status), "serving %s on %s (node %s id %u)", fs.root_path,
			 mnt_real, cfg.node_name ? cfg.node_name : "-", cfg.node_id);
		rdy = ready_start(mnt_real, status);
	}

	if (cl.single_thread) {
		ret = fuse_session_loop(fs.se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, 1);
		fuse_loop_cfg_set_max_threads(lc, 32);
		fuse_loop_cfg_set_idle_threads(lc, 32); /* no thread churn between bursts */
		ret = fuse_session_loop_mt(fs.se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	/* libfuse returns the signal that ended the loop: a stop, not a failure */
	ret = ret != 0 && ret != SIGTERM && ret != SIGINT && ret != SIGHUP;
out_unmount:
	sdn_stopping("unmounting");
	int foreign = mountpoint_end_connection(fuse_session_fd(fs.se), mnt_real);
	/* stop replication first: its threads use the session */
	ctl_stop(fs.ctl);
	fs.ctl = NULL;
	watch_stop(fs.watch); /* its thread asks replication for figures */
	journal_hooks_off(fs.journal); /* the writer's hook uses replication */
	repl_stop(fs.repl);
	fs.repl = NULL;
	watch_free(fs.watch); /* the receiver hands it the peer's figures */
	fs.watch = NULL;
	if (!foreign)
		fuse_session_unmount(fs.se); /* else the device is closed at destroy */
	ready_stop(rdy); /* its probe of the mount returns once unmounted */
out_signals:
	ctl_stop(fs.ctl);
	repl_stop(fs.repl);
	watch_free(fs.watch);
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
	journal_close(fs.journal, !atomic_load(&fs.journal_failed));
	log_notice("unmounted %s: %lu operations journaled, %lu node-local%s", mnt_real,
		   atomic_load(&fs.ops_journaled), atomic_load(&fs.ops_local),
		   atomic_load(&fs.journal_failed) ? "; a journal write failed, the next start checks the store" : "");
out_early:
	itable_free(fs.inodes);
	arrivals_free(fs.arrivals);
	if (fs.root_fd > 0)
		close(fs.root_fd);
	free(fs.root_path);
	free_cmdline(&cl);
	config_free(&cfg);
	return ret;
}
