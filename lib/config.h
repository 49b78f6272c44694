/* config.h: the one configuration file every mhafs component reads
 * (/etc/mhafs/mhafs.conf).  Format: "key = value" lines, '#' comments.
 * Every key is declared in the table in config.c; unknown keys, bad values
 * and duplicates are errors that name the file and line. */
#ifndef MHAFS_CONFIG_H
#define MHAFS_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define MHAFS_DEFAULT_CONFIG SYSCONFDIR "/mhafs/mhafs.conf"
#define CONFIG_MAX_LIST 32
#define CONFIG_ERRLEN 512
/* Directory in the backing root where the replicator stages incoming
 * content; always node-local. */
#define CONFIG_STAGING_DIR ".mhafs-staging"

enum sync_mode { SYNC_MODE_SYNC = 0, SYNC_MODE_ASYNC = 1 };

struct config {
	/* identity */
	char *node_name;
	unsigned node_id;            /* 1..65535, unique in the cluster */
	/* storage */
	char *backing_dir;
	char *mount_point;
	char *state_dir;             /* journal and catalog databases */
	char *node_local[CONFIG_MAX_LIST]; /* patterns never replicated */
	size_t n_node_local;
	char *fsync_commit[CONFIG_MAX_LIST]; /* patterns whose fsync waits for the peer */
	size_t n_fsync_commit;
	int queue_on_store;          /* bool: Postfix's queue on the store (mhafs-queue(8)) */
	double entry_timeout;        /* seconds the kernel caches names */
	double attr_timeout;         /* seconds the kernel caches attributes */
	int writeback_cache;         /* bool */
	int xattrs;                  /* bool: pass extended attributes through (ENOSYS if not) */
	char *control_socket;        /* mhafs's control socket */
	int64_t clock_offset_ms;     /* test hook: skews this node's HLC clock */
	/* replication */
	char *peer_name;
	char *peer_address;
	unsigned peer_port;
	char *listen_address;
	unsigned listen_port;
	char *ca_file;
	char *cert_file;
	char *key_file;
	enum sync_mode sync_mode;
	unsigned sync_timeout_ms;
	unsigned tombstone_hold;   /* s: tombstones the peer has are kept this long */
	int reconcile_on_connect;  /* bool: walk the digest trees on every connection */
	/* heartbeat and VIP */
	char *vip[CONFIG_MAX_LIST];  /* "addr/prefix", IPv4 or IPv6 */
	size_t n_vip;
	char *vip_interface;
	char *heartbeat_interface;
	unsigned heartbeat_port;
	unsigned heartbeat_interval_ms;
	unsigned peer_dead_ms;
	char *cluster_key_file;
	char *witness;
	unsigned health_interval_ms;
	unsigned health_imap_port;
	unsigned health_smtp_port;
	char *role_hook;
	char *heartbeat_socket;
	unsigned announce_count;
	/* balancing (both nodes serve; heartbeatd.8) */
	unsigned node_weight;        /* 1..256; 0 = auto (online CPUs, at most 256) */
	char *node_address;          /* this node's service address (IP literal) */
	unsigned agent_port;         /* HAProxy agent-check responder; 0 = off */
	char *nodes_file;            /* the node table heartbeatd writes */
	char *haproxy_socket;        /* local HAProxy stats socket (mhactl status) */
	char *sessions_dir;          /* where nodes publish their users' sessions (on the mount); NULL = off */
	char *sessions_cmd;          /* lists this node's Dovecot sessions (doveadm who) */
	/* watching (mhafs/watch.c): metrics and storage-space warnings */
	char *metrics_file;          /* Prometheus text file, written atomically; NULL = off */
	unsigned metrics_interval;   /* s between writes */
	unsigned space_warn_pct;     /* used share that warns, 1..99 */
	unsigned space_crit_pct;     /* ... that is critical, above space_warn_pct */
	char *space_hook;            /* run on each crossing; NULL = none */
	unsigned space_hook_timeout; /* s before a hook is killed */
	/* logging */
	char *log_target;            /* "syslog" or "stderr" */
	char *log_level;             /* "debug", "info", "notice", "warning", "error" */
};

/* Fill cfg with defaults (every pointer owned by cfg). */
void config_defaults(struct config *cfg);

/* Parse path into cfg (which must hold defaults).  Returns 0, or -1 with a
 * message "path:line: what is wrong" in err.  A missing file is an error
 * unless missing_ok, in which case defaults stand. */
int config_load(struct config *cfg, const char *path, int missing_ok,
		char *err, size_t errlen);

/* Set one key from a string, as if read from a file (used for -o key=value).
 * Returns 0 or -1 with err filled. */
int config_set(struct config *cfg, const char *key, const char *value,
	       char *err, size_t errlen);

/* Whether key names a configuration key. */
int config_is_key(const char *key);

/* Cross-field checks (e.g. node_id set, dirs absolute). 0 or -1 with err. */
int config_validate(const struct config *cfg, char *err, size_t errlen);

void config_free(struct config *cfg);

/* node_weight with "auto" resolved: the online CPUs, 1..256. */
unsigned config_node_weight(const struct config *cfg);

/* Write every key and its value, one per line, in file syntax. */
void config_dump(const struct config *cfg, FILE *out);

#endif
