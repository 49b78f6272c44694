# tests/e2e/lib.sh: harness for end-to-end mail tests, the demo and the LMTP
# benchmark (bash, sourced).  It owns the lab network (a client namespace
# holding a bridge, one namespace per mail node joined to it by a veth pair,
# addresses in 192.0.2.0/24 only), the mail store (a plain directory or an
# mhafs mount), and each node's own Dovecot and Postfix instances with every
# config file under a temp dir.  Everything it creates is recorded and torn
# down by e2e_cleanup, which e2e_init installs as the EXIT trap.
#
# Node N (1, 2, ...) lives in namespace ${E2E_ID}-n$N at 192.0.2.(10+N); the
# client namespace ${E2E_ID}-c holds br0 at 192.0.2.1.  Daemons are started
# with `nsenter --net` only, so they share the root mount namespace and see
# FUSE mounts made by the harness.

E2E_SRC=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The build: make check's top_builddir, else tools/test's _build/, else
# a build in the source tree.
if [ -n "${top_builddir:-}" ]; then E2E_BUILD=$top_builddir
elif [ -x "$E2E_SRC/_build/mhafs/mhafs" ]; then E2E_BUILD=$E2E_SRC/_build
else E2E_BUILD=$E2E_SRC; fi
# Absolute: daemons started from other directories (Dovecot's auth worker
# running the MODSEQ floor script) are given paths under both.
E2E_SRC=$(cd "$E2E_SRC" && pwd) || exit 1
[ -d "$E2E_BUILD" ] && E2E_BUILD=$(cd "$E2E_BUILD" && pwd)
E2E_PY=/usr/bin/python3
E2E_LMTP_DOMAIN=d1.test
E2E_VIRTUAL_DOMAIN=d2.test
E2E_NETS=""      # namespaces we created, deleted on cleanup
E2E_MOUNTS=""    # mount points we mounted
E2E_MHAFS=""     # "pid:mountpoint" of mhafs daemons we started
E2E_MAIL=""      # nodes whose Dovecot/Postfix we started
E2E_CLEANED=""

e2e_log() { printf '%s: %s\n' "${E2E_NAME:-e2e}" "$*" >&2; }
e2e_die() { e2e_log "FAIL: $*"; exit 1; }
e2e_skip() { e2e_log "SKIP: $*"; exit "${E2E_SKIP_RC:-77}"; }

# e2e_init NAME [ID]: temp dir, traps, identifiers.  ID (the namespace
# prefix, at most 9 characters after "mhe2e-") defaults to mhe2e-<pid>.
e2e_init() {
	E2E_NAME=$1
	E2E_ID=${2:-mhe2e-$$}
	if [ -z "${E2E_TMP:-}" ]; then
		E2E_TMP=$(mktemp -d "/tmp/$E2E_ID.XXXXXX") || e2e_die "mktemp failed"
		E2E_OWN_TMP=1
	else
		mkdir -p "$E2E_TMP" || e2e_die "cannot create $E2E_TMP"
		E2E_OWN_TMP=""
	fi
	# Dovecot, Postfix and vmail processes must traverse it.
	chmod 0755 "$E2E_TMP"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM HUP PIPE
}

# e2e_require_root_tools: skip unless root with the mail servers installed.
e2e_require_mail() {
	[ "$(id -u)" = 0 ] || e2e_skip "needs root"
	local p
	for p in dovecot postfix postconf nsenter ip; do
		command -v "$p" >/dev/null 2>&1 || e2e_skip "$p not installed (tools/install-deps)"
	done
	[ -x "$E2E_PY" ] || e2e_skip "$E2E_PY not installed"
	[ -d /usr/lib/postfix/sbin ] || e2e_skip "postfix daemons missing"
	getent group postdrop >/dev/null || e2e_skip "postfix group postdrop missing"
	getent passwd dovenull >/dev/null || e2e_skip "dovecot users missing"
}

# e2e_require_mhafs: skip unless the mhafs binary and /dev/fuse exist.
e2e_require_mhafs() {
	[ -c /dev/fuse ] || e2e_skip "no /dev/fuse"
	command -v fusermount3 >/dev/null 2>&1 || e2e_skip "fusermount3 not installed"
	E2E_MHAFS_BIN=${MHAFS_BIN:-$E2E_BUILD/mhafs/mhafs}
	[ -x "$E2E_MHAFS_BIN" ] || e2e_skip "no mhafs binary at $E2E_MHAFS_BIN"
}

# e2e_vmail: create the vmail system user if missing; sets VMAIL_UID/GID.
e2e_vmail() {
	if ! getent passwd vmail >/dev/null; then
		useradd --system --user-group --home-dir /nonexistent \
			--shell /usr/sbin/nologin vmail 2>/dev/null ||
			getent passwd vmail >/dev/null || e2e_die "cannot create user vmail"
	fi
	VMAIL_UID=$(id -u vmail) && VMAIL_GID=$(id -g vmail) || e2e_die "no vmail ids"
	[ "$VMAIL_UID" -ge 100 ] || e2e_die "vmail uid $VMAIL_UID < 100 (virtual_minimum_uid)"
}

e2e_ns() { printf '%s-n%s' "$E2E_ID" "$1"; }
e2e_ip() { printf '192.0.2.%s' $((10 + $1)); }
E2E_CLIENT_IP=192.0.2.1

# e2e_in NS CMD...: run CMD in network namespace NS (mount namespace shared).
e2e_in() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }
# e2e_client CMD...: run CMD in the client namespace.
e2e_client() { e2e_in "$E2E_ID-c" "$@"; }

# e2e_net_client: the client namespace with bridge br0 at 192.0.2.1/24.
e2e_net_client() {
	local c=$E2E_ID-c
	ip netns add "$c" || e2e_die "ip netns add $c failed"
	E2E_NETS="$E2E_NETS $c"
	ip -n "$c" link set lo up &&
	ip -n "$c" link add br0 type bridge &&
	ip -n "$c" link set br0 up &&
	ip -n "$c" addr add "$E2E_CLIENT_IP/24" dev br0 ||
		e2e_die "client namespace $c setup failed"
}

# e2e_net_node N: namespace for node N, veth into the client bridge.
e2e_net_node() {
	local n=$1 ns c=$E2E_ID-c ip
	ns=$(e2e_ns "$n"); ip=$(e2e_ip "$n")
	ip netns add "$ns" || e2e_die "ip netns add $ns failed"
	E2E_NETS="$E2E_NETS $ns"
	ip -n "$ns" link set lo up &&
	ip -n "$ns" link add eth0 type veth peer name "vn$n" netns "$c" &&
	ip -n "$c" link set "vn$n" master br0 &&
	ip -n "$c" link set "vn$n" up &&
	ip -n "$ns" addr add "$ip/24" dev eth0 &&
	ip -n "$ns" link set eth0 up ||
		e2e_die "node $n network setup failed"
}

# e2e_wait SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
e2e_wait() {
	local t=$(( $1 * 10 )); shift
	while ! "$@" 2>/dev/null; do
		t=$((t - 1))
		[ "$t" -gt 0 ] || return 1
		sleep 0.1
	done
}

e2e_is_fuse_mount() {
	# mountinfo: field 5 is the mount point; the type follows the "-" field.
	awk -v m="$1" '$5 == m { for (i = 7; i < NF; i++) if ($i == "-") break;
		if ($(i + 1) ~ /^fuse/) f = 1 } END { exit !f }' /proc/self/mountinfo
}

# e2e_mhafs_mount N BACKING MNT STATEDIR: write node N's mhafs.conf (in its
# conf dir), start mhafs in the foreground (-f) in the node's namespace and
# wait until MNT is a FUSE mount.  E2E_MHAFS_OPTS adds -o options;
# E2E_MHAFS_CONF_EXTRA adds lines to mhafs.conf (peer settings, for a
# cluster: set it per node before each call).
e2e_mhafs_mount() {
	local n=$1 backing=$2 mnt=$3 state=$4 pid conf
	conf=$(e2e_node_dir "$n")/conf/mhafs.conf
	mkdir -p "$backing" "$mnt" "$state" "${conf%/*}" || e2e_die "cannot create mhafs dirs"
	cat >"$conf" <<-EOC || e2e_die "cannot write $conf"
	# mhafs.conf for node $n, written by tests/e2e/lib.sh
	node_name = n$n
	node_id = $n
	backing_dir = $backing
	mount_point = $mnt
	state_dir = $state
	control_socket = $state/mhafs.sock
	log_target = stderr
	EOC
	[ -z "${E2E_MHAFS_CONF_EXTRA:-}" ] ||
		printf '%s\n' "$E2E_MHAFS_CONF_EXTRA" >>"$conf" || e2e_die "cannot write $conf"
	# Its own session: a terminal hangup must not take the mount down.
	setsid nsenter --net="/run/netns/$(e2e_ns "$n")" -- "$E2E_MHAFS_BIN" "$backing" "$mnt" -f \
		-o "config=$conf${E2E_MHAFS_OPTS:+,$E2E_MHAFS_OPTS}" </dev/null >"$state/mhafs.log" 2>&1 &
	pid=$!
	E2E_MHAFS="$E2E_MHAFS $pid:$mnt"
	E2E_MOUNTS="$E2E_MOUNTS $mnt"
	if ! e2e_wait 10 e2e_mounted_or_gone "$mnt" "$pid"; then
		tail -20 "$state/mhafs.log" >&2
		e2e_die "mhafs did not mount $mnt within 10 s"
	fi
	if ! e2e_is_fuse_mount "$mnt"; then
		wait "$pid"
		local rc=$?
		tail -20 "$state/mhafs.log" >&2
		e2e_die "mhafs exited with status $rc before mounting $mnt (log above)"
	fi
}

# e2e_cluster_keys NODE...: a CA and one certificate per node (named nN)
# in $E2E_TMP/keys, made by tools/mhafs-keygen.
e2e_cluster_keys() {
	local keygen=$E2E_BUILD/tools/mhafs-keygen n
	[ -x "$keygen" ] || e2e_skip "no mhafs-keygen at $keygen"
	mkdir -p "$E2E_TMP/keys" && "$keygen" ca "$E2E_TMP/keys" >/dev/null ||
		e2e_die "mhafs-keygen ca failed"
	for n in "$@"; do
		"$keygen" node "$E2E_TMP/keys" "n$n" >/dev/null || e2e_die "mhafs-keygen node n$n failed"
	done
}

# e2e_peer_conf N PEER: mhafs.conf lines that make node N replicate with
# node PEER (set E2E_MHAFS_CONF_EXTRA to this before e2e_mhafs_mount N).
e2e_peer_conf() {
	local k=$E2E_TMP/keys
	printf 'peer_name = n%s\npeer_address = %s\nca_file = %s\ncert_file = %s\nkey_file = %s\n' \
		"$2" "$(e2e_ip "$2")" "$k/ca.pem" "$k/n$1.pem" "$k/n$1.key"
	printf 'sync_timeout_ms = %s\n' "${E2E_SYNC_TIMEOUT_MS:-3000}"
	# E2E_MHAFS_LOG_LEVEL=debug: every lock and apply in the node's log
	[ -z "${E2E_MHAFS_LOG_LEVEL:-}" ] || printf 'log_level = %s\n' "$E2E_MHAFS_LOG_LEVEL"
}

# e2e_pair USER...: two nodes whose mhafs mounts ($E2E_TMP/nN-mnt over
# nN-backing, state in nN-state) replicate each other in sync mode, the
# users on both, in sync, with the store layout made through node 1 and
# replicated; the mail servers are the caller's to start.  E2E_PAIR_CONF
# names a function that prints more mhafs.conf lines for node N (its
# heartbeatd's, say).
e2e_pair() {
	local n
	e2e_vmail
	e2e_net_client
	e2e_cluster_keys 1 2
	for n in 1 2; do
		e2e_net_node "$n"
		e2e_users "$n" "$@"
	done
	for n in 1 2; do
		E2E_MHAFS_CONF_EXTRA="$(e2e_peer_conf "$n" $((3 - n)))
$([ -z "${E2E_PAIR_CONF:-}" ] || "$E2E_PAIR_CONF" "$n")"
		e2e_mhafs_mount "$n" "$E2E_TMP/n$n-backing" "$E2E_TMP/n$n-mnt" "$E2E_TMP/n$n-state"
	done
	E2E_MHAFS_CONF_EXTRA=""
	for n in 1 2; do
		e2e_wait 15 e2e_peer_synced "$n" || e2e_die "node $n did not get in sync with its peer"
	done
	e2e_store_prepare "$E2E_TMP/n1-mnt"
	e2e_wait 10 test -d "$E2E_TMP/n2-mnt/$E2E_VIRTUAL_DOMAIN" ||
		e2e_die "store layout not replicated to node 2"
}

# e2e_mhafs_status N KEY: one value of `mhactl status` for node N.
e2e_mhafs_status() {
	"$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir "$1")/conf/mhafs.conf" status 2>/dev/null |
		sed -n "s/^$2=//p"
}

e2e_peer_synced() { [ "$(e2e_mhafs_status "$1" peer_synced)" = yes ]; }

# e2e_mhafs_log_clean STATEDIR: fail if the daemon logged an error (e.g. an
# operation it could not journal) or a sanitizer report, quoting those lines.
e2e_mhafs_log_clean() {
	local bad
	bad=$(grep -E 'mhafs\[(error|crit|alert|emerg)\]|Sanitizer|runtime error:' "$1/mhafs.log" 2>/dev/null)
	[ -z "$bad" ] || e2e_die "mhafs logged errors:
$bad"
}

e2e_mounted_or_gone() { e2e_is_fuse_mount "$1" || e2e_gone "$2"; }

# e2e_umount MNT: unmount a FUSE mount we made and reap its daemon.
e2e_umount() {
	local mnt=$1 e pid rest="" t0
	if e2e_is_fuse_mount "$mnt"; then
		e2e_wait 5 fusermount3 -u "$mnt" || {
			e2e_log "fusermount3 -u $mnt failed; lazy unmount"; fuser -vm "$mnt" >&2
			fusermount3 -uz "$mnt"
		}
	fi
	for e in $E2E_MHAFS; do
		pid=${e%%:*}
		if [ "${e#*:}" = "$mnt" ]; then
			t0=$SECONDS
			if ! e2e_wait 30 e2e_gone "$pid"; then
				kill -KILL "$pid" 2>/dev/null
				e2e_log "mhafs $pid still running 30 s after unmount: killed"
			elif [ $((SECONDS - t0)) -ge 3 ]; then
				e2e_log "note: mhafs $pid took $((SECONDS - t0)) s to exit after unmount"
			fi
			wait "$pid" 2>/dev/null
		else
			rest="$rest $e"
		fi
	done
	E2E_MHAFS=$rest
}

# e2e_gone PID: has PID exited?  A zombie counts: inside a trap bash may
# not have reaped its own children yet.
e2e_gone() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	case "$st" in ''|Z*|X*) return 0 ;; *) return 1 ;; esac
}

# e2e_stop_pidfile FILE: TERM the process named in FILE, KILL after 10 s.
e2e_stop_pidfile() {
	local pid
	[ -s "$1" ] || return 0
	pid=$(tr -d ' \n' <"$1")
	case "$pid" in ''|*[!0-9]*) return 0 ;; esac
	kill -TERM "$pid" 2>/dev/null || return 0
	e2e_wait 10 e2e_gone "$pid" || kill -KILL "$pid" 2>/dev/null
}

# e2e_render TEMPLATE OUT NAME=VALUE...: replace each @NAME@ in TEMPLATE.
e2e_render() {
	local in=$1 out=$2 kv script=""
	shift 2
	for kv in "$@"; do
		script="$script;s|@${kv%%=*}@|${kv#*=}|g"
	done
	sed -e "${script#;}" "$in" >"$out" || e2e_die "cannot render $out"
	if grep -n '@[A-Z_]*@' "$out" >&2; then
		e2e_die "unreplaced template variables in $out"
	fi
}

# e2e_node_dir N: where node N's config, runtime and logs live.
e2e_node_dir() { printf '%s/n%s' "$E2E_TMP" "$1"; }

# e2e_users N USER@DOMAIN...: node N's mail users; password "pw-<local part>".
e2e_users() {
	local n=$1 d u
	shift
	d=$(e2e_node_dir "$n")/conf
	mkdir -p "$d" || e2e_die "cannot create $d"
	: >"$d/dovecot-users"; : >"$d/vmailbox"
	for u in "$@"; do
		printf '%s:{PLAIN}pw-%s::::::\n' "$u" "${u%@*}" >>"$d/dovecot-users"
		printf '%s %s/%s/Maildir/\n' "$u" "${u#*@}" "${u%@*}" >>"$d/vmailbox"
	done
	printf '%s virtual:\n' "$E2E_VIRTUAL_DOMAIN" >"$d/transport"
	chmod 0644 "$d/dovecot-users"
}

# e2e_store_prepare STORE: domain directories owned by vmail.
e2e_store_prepare() {
	local dom
	for dom in "$E2E_LMTP_DOMAIN" "$E2E_VIRTUAL_DOMAIN"; do
		mkdir -p "$1/$dom" && chown vmail:vmail "$1/$dom" && chmod 0750 "$1/$dom" ||
			e2e_die "cannot prepare $1/$dom"
	done
	chmod 0755 "$1"
}

# e2e_mail_start N STORE [PROTOCOLS]: render the configs and start node N's
# Dovecot and Postfix in its namespace with the store at STORE.
e2e_mail_start() {
	local n=$1 store=$2 protos=${3:-imap pop3 lmtp} d host
	d=$(e2e_node_dir "$n"); host=n$n.mhafs.test
	mkdir -p "$d/conf" "$d/run" "$d/state" "$d/log" "$d/spool" "$d/data" ||
		e2e_die "cannot create $d"
	chown postfix "$d/data" && chmod 0755 "$d" "$d/conf" "$d/log" ||
		e2e_die "cannot set up $d"
	E2E_MAIL="$E2E_MAIL $n"
	# behind the balancer the VIP's ports belong to HAProxy: listen on the
	# node's own address (and loopback, for heartbeatd's health checks)
	local listen='*' inet=all maps="texthash:$d/conf/transport"
	if [ -n "${E2E_BALANCE:-}" ]; then
		listen="$(e2e_ip "$n"), 127.0.0.1"; inet=$listen
		E2E_LMTP_PORT=24   # LMTP proxied from the peer; this node's Postfix's fallback
		# mhafs-route (conf/postfix-master-balance.cf.in); E2E_NO_ROUTE=1:
		# without it, every message through this node's Dovecot
		[ -n "${E2E_NO_ROUTE:-}" ] || maps="$maps, socketmap:unix:private/mhafs-route:route"
	fi
	e2e_render "$E2E_SRC/conf/dovecot.conf.in" "$d/conf/dovecot.conf" \
		INSTANCE="$E2E_ID-n$n" RUN_DIR="$d/run" STATE_DIR="$d/state" \
		LOG_DIR="$d/log" PROTOCOLS="$protos" CONF_DIR="$d/conf" \
		VMAIL_UID="$VMAIL_UID" VMAIL_GID="$VMAIL_GID" STORE="$store" \
		IMAP_PORT=143 POP3_PORT=110 LMTP_PORT="${E2E_LMTP_PORT:-0}" \
		LMTP_MIN="${E2E_LMTP_MIN:-0}" MAIL_HOST="$host" \
		LISTEN="$listen"
	e2e_render "$E2E_SRC/conf/postfix-main.cf.in" "$d/conf/main.cf" \
		CONF_DIR="$d/conf" SPOOL_DIR="$d/spool" DATA_DIR="$d/data" \
		LOG_DIR="$d/log" MAIL_HOST="$host" LMTP_DOMAIN="$E2E_LMTP_DOMAIN" \
		VIRTUAL_DOMAIN="$E2E_VIRTUAL_DOMAIN" LMTP_SOCKET="$d/run/lmtp" \
		STORE="$store" VMAIL_UID="$VMAIL_UID" VMAIL_GID="$VMAIL_GID" \
		INET_INTERFACES="$inet" TRANSPORT_MAPS="$maps"
	cp "$E2E_SRC/conf/postfix-master.cf" "$d/conf/master.cf" || e2e_die "no master.cf"
	# the balancer's listeners (tests/e2e/lib-balance.sh)
	[ -z "${E2E_BALANCE:-}" ] || e2e_balance_mail_conf "$n"
	# E2E_MAIL_PREP names a function run with N once the configs are
	# written, before the servers start (tests/queue: the queue's place)
	[ -z "${E2E_MAIL_PREP:-}" ] || "$E2E_MAIL_PREP" "$n" || e2e_die "$E2E_MAIL_PREP $n failed"

	# Daemons get no terminal or pipe of ours: `tools/demo | tee` must end.
	# a second try after a moment: a node booting right after a crash can
	# find its ports still held by processes the kernel is tearing down
	e2e_in "$(e2e_ns "$n")" dovecot -c "$d/conf/dovecot.conf" </dev/null >>"$d/log/dovecot.log" 2>&1 ||
		{ sleep 1; e2e_in "$(e2e_ns "$n")" dovecot -c "$d/conf/dovecot.conf" </dev/null >>"$d/log/dovecot.log" 2>&1; } ||
		{ tail -5 "$d/log/dovecot.log"; e2e_die "dovecot failed to start on node $n (see $d/log/dovecot.log)"; }
	e2e_wait 10 test -S "$d/run/lmtp" ||
		e2e_die "dovecot LMTP socket did not appear on node $n"
	if [ "$protos" != lmtp ]; then
		e2e_in "$(e2e_ns "$n")" postfix -c "$d/conf" start </dev/null >"$d/log/postfix-start.log" 2>&1 || {
			cat "$d/log/postfix-start.log" >&2
			e2e_die "postfix failed to start on node $n"
		}
		e2e_wait 10 e2e_port_open "$n" 25 || e2e_die "postfix not listening on node $n"
		e2e_wait 10 e2e_port_open "$n" 143 || e2e_die "dovecot IMAP not listening on node $n"
	fi
}

# e2e_port_open N PORT: is TCP PORT on node N reachable from the client?
e2e_port_open() {
	e2e_client bash -c "exec 3<>/dev/tcp/$(e2e_ip "$1")/$2" 2>/dev/null
}

# e2e_mail_stop N: stop node N's Postfix and Dovecot (by their pid files).
e2e_mail_stop() {
	local n=$1 d rest="" m
	d=$(e2e_node_dir "$n")
	e2e_stop_pidfile "$d/spool/pid/master.pid"
	e2e_stop_pidfile "$d/run/master.pid"
	for m in $E2E_MAIL; do [ "$m" = "$n" ] || rest="$rest $m"; done
	E2E_MAIL=$rest
}

# e2e_netns_pids NS [KEEP]: processes inside namespace NS, except the
# mhafs daemons when KEEP is given (they go by unmounting).
e2e_netns_pids() {
	local p e skip
	for p in $(ip netns pids "$1" 2>/dev/null); do
		skip=""
		if [ -n "${2:-}" ]; then
			for e in $E2E_MHAFS; do [ "${e%%:*}" = "$p" ] && skip=1; done
		fi
		[ -n "$skip" ] || printf '%s\n' "$p"
	done
}

# e2e_kill_netns NS [KEEP]: end the processes left inside a namespace we
# created (TERM, then KILL after 0.5 s).
e2e_kill_netns() {
	local pids
	pids=$(e2e_netns_pids "$@")
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	sleep 0.5
	pids=$(e2e_netns_pids "$@")
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
}

# e2e_dump_logs: the end of every daemon log we made, for a failed run.
e2e_dump_logs() {
	local f
	[ -n "${E2E_TMP:-}" ] && [ -d "$E2E_TMP" ] || return 0
	for f in "$E2E_TMP"/n*/log/*.log "$E2E_TMP"/*/mhafs.log "$E2E_TMP"/n*/state/mhafs.log; do
		[ -s "$f" ] || continue
		printf '%s\n' "---- tail of $f" >&2
		tail -n "${E2E_LOG_LINES:-25}" "$f" >&2
	done
}

# e2e_cleanup [RC]: stop, unmount and delete everything, in that order.
# Runs from the EXIT trap (RC = the exit status); safe to call twice.
e2e_cleanup() {
	local rc=${1:-$?} n m ns
	[ -z "$E2E_CLEANED" ] || return "$rc"
	E2E_CLEANED=1
	trap - EXIT
	[ "$rc" = 0 ] || [ "$rc" = 77 ] || e2e_dump_logs
	for n in $E2E_MAIL; do e2e_mail_stop "$n"; done
	for ns in $E2E_NETS; do
		e2e_kill_netns "$ns" keep-mhafs
	done
	for m in $E2E_MOUNTS; do e2e_umount "$m"; done
	for ns in $E2E_NETS; do
		e2e_kill_netns "$ns"
		ip netns del "$ns" 2>/dev/null || e2e_log "cannot delete namespace $ns"
	done
	if [ -n "${E2E_KEEP:-}" ] ||
		{ [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "${E2E_KEEP_ON_FAIL:-}" ]; }; then
		e2e_log "kept $E2E_TMP"
	elif [ -n "$E2E_OWN_TMP" ] && [ -n "$E2E_TMP" ]; then
		for m in $E2E_MOUNTS; do
			if e2e_is_fuse_mount "$m"; then
				e2e_log "$m still mounted; keeping $E2E_TMP"
				return "$rc"
			fi
		done
		rm -rf "$E2E_TMP"
	fi
	return "$rc"
}

# e2e_mhafs_pid MNT: pid of the mhafs daemon we started for MNT.
e2e_mhafs_pid() {
	local e
	for e in $E2E_MHAFS; do
		[ "${e#*:}" = "$1" ] && { printf '%s\n' "${e%%:*}"; return 0; }
	done
	return 1
}

# e2e_node_crash N MNT: a crash of node N: kill -9 its mhafs (for MNT) and
# every other process in its namespace (Dovecot, Postfix), then detach the
# dead FUSE mount as a reboot would.  The namespace itself stays.
e2e_node_crash() {
	local n=$1 mnt=$2 pid e rest="" pids
	pid=$(e2e_mhafs_pid "$mnt") || e2e_die "no mhafs of ours on $mnt"
	disown "$pid" 2>/dev/null   # no "Killed" job notice from bash
	kill -KILL "$pid" 2>/dev/null
	pids=$(e2e_netns_pids "$(e2e_ns "$n")")
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
	e2e_wait 5 e2e_gone "$pid" || e2e_die "mhafs $pid survived kill -9"
	# the node's other processes too: a Dovecot child still dying holds
	# the node's ports, and the node's next boot could not bind them
	for e in $pids; do e2e_wait 5 e2e_gone "$e" || e2e_die "process $e survived kill -9"; done
	fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	for e in $E2E_MHAFS; do [ "${e%%:*}" = "$pid" ] || rest="$rest $e"; done
	E2E_MHAFS=$rest
	rest=""
	for e in $E2E_MAIL; do [ "$e" = "$n" ] || rest="$rest $e"; done
	E2E_MAIL=$rest
}

# e2e_ms: milliseconds since the epoch (for figures).
e2e_ms() { date +%s%3N; }

# heartbeatd (issue 5) on the lab's nodes: the VIP lives on each node's
# eth0, the client bridge (192.0.2.1) is the witness, the cluster key is
# $E2E_TMP/keys/cluster.key.  The daemons run in the node namespaces, so
# e2e_cleanup ends them with the namespaces' other processes.
E2E_HB_BIN=${HEARTBEATD_BIN:-$E2E_BUILD/heartbeatd/heartbeatd}
e2e_hb_sock() { printf '%s/run/hb.sock' "$(e2e_node_dir "$1")"; }

# e2e_hb_conf N PEER VIP/LEN: mhafs.conf lines for node N's heartbeatd (add
# them with e2e_peer_conf's to E2E_MHAFS_CONF_EXTRA).
e2e_hb_conf() {
	local key=$E2E_TMP/keys/cluster.key
	if [ ! -s "$key" ]; then
		mkdir -p "${key%/*}" && (umask 077 &&
			head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key") ||
			e2e_die "cannot write $key"
	fi
	printf 'vip = %s\nvip_interface = eth0\nheartbeat_interface = eth0\n' "$3"
	printf 'cluster_key_file = %s\nwitness = %s\nheartbeat_socket = %s\n' \
		"$key" "$E2E_CLIENT_IP" "$(e2e_hb_sock "$1")"
}

# e2e_hb_start N: start node N's heartbeatd (after its mail servers: its
# health checks need IMAP and SMTP answering).
e2e_hb_start() {
	local n=$1 d
	d=$(e2e_node_dir "$n")
	[ -x "$E2E_HB_BIN" ] || e2e_die "no heartbeatd at $E2E_HB_BIN"
	mkdir -p "$d/run" "$d/log" || e2e_die "cannot create $d/run"
	e2e_in "$(e2e_ns "$n")" "$E2E_HB_BIN" -c "$d/conf/mhafs.conf" --check >"$d/log/heartbeatd.log" 2>&1 ||
		{ cat "$d/log/heartbeatd.log" >&2; e2e_die "heartbeatd --check failed on node $n"; }
	setsid nsenter --net="/run/netns/$(e2e_ns "$n")" -- "$E2E_HB_BIN" -c "$d/conf/mhafs.conf" \
		</dev/null >>"$d/log/heartbeatd.log" 2>&1 &
	e2e_wait 10 test -S "$(e2e_hb_sock "$n")" || e2e_die "heartbeatd did not start on node $n"
}

# e2e_hb_role N: node N's heartbeatd state (PRIMARY, SECONDARY, SOLO, ...).
e2e_hb_role() { "$E2E_HB_BIN" -s "$(e2e_hb_sock "$1")" --status 2>/dev/null | sed -n 's/^role: //p'; }

# e2e_vip_holder VIP NODE...: print the nodes whose eth0 carries VIP.
e2e_vip_holder() {
	local vip=$1 n
	shift
	for n in "$@"; do
		ip -n "$(e2e_ns "$n")" -o addr show dev eth0 2>/dev/null |
			grep -q " inet $vip/" && printf '%s\n' "$n"
	done
}
