# tests/queue/lib.sh: the queue tests' cluster (bash, sourced after
# tests/e2e/lib.sh, lib-balance.sh and tests/balance/lib.sh): the balanced
# pair of tests/balance/lib.sh with each node's Postfix queue on the
# replicated store (queue_on_store = yes, tools/mhafs-queue prestart before
# each Postfix start), heartbeatd's role_hook running mhafs-queue hook, and a remote
# SMTP server (qmail.py sink) in a namespace of its own at 192.0.2.19 that
# defers (451) until the test lets it accept.  Mail to @remote.test goes
# there from both nodes.

# Q_TOOL: another mhafs-queue (a modified copy, to show a test fails without a feature)
QTOOL=${Q_TOOL:-$E2E_SRC/tools/mhafs-queue}
QMAIL=$E2E_SRC/tests/queue/qmail.py
SINK_N=9                      # namespace ${E2E_ID}-n9, 192.0.2.19
SINK_DIR=""
Q_DELAY=${Q_DELAY:-2}         # takeover delay after heartbeatd's verdict

# q_tool N ARGS...: mhafs-queue for node N (in its namespace).
q_tool() {
	local n=$1 d
	shift
	d=$(e2e_node_dir "$n")
	e2e_in "$(e2e_ns "$n")" "$QTOOL" -c "$d/conf/mhafs.conf" -p "$d/conf" -l "$d/queue-local" \
		-d "$Q_DELAY" -w "${Q_WAIT_PEER:-20}" -W "${Q_WAIT_HANDBACK:-60}" \
		-m "$E2E_BUILD/tools/mhactl" -f "$E2E_BUILD/tools/mhafsck" -H "$E2E_HB_BIN" "$@"
}

# q_conf N: node N's role_hook (more mhafs.conf lines, through bal_conf).
q_conf() {
	local d
	d=$(e2e_node_dir "$1")
	mkdir -p "$d" || e2e_die "cannot create $d"
	cat >"$d/queue-hook" <<-EOF
	#!/bin/sh
	# heartbeatd's role_hook on node $1 (tests/queue/lib.sh)
	exec "$QTOOL" -c "$d/conf/mhafs.conf" -p "$d/conf" -l "$d/queue-local" -d "$Q_DELAY" \\
		-w "${Q_WAIT_PEER:-20}" -W "${Q_WAIT_HANDBACK:-60}" \\
		-S "postfix -c $d/conf stop" -R "postfix -c $d/conf start" \\
		-m "$E2E_BUILD/tools/mhactl" -f "$E2E_BUILD/tools/mhafsck" -H "$E2E_HB_BIN" hook "\$@"
	EOF
	chmod 0755 "$d/queue-hook" || e2e_die "cannot write $d/queue-hook"
	printf 'role_hook = %s\n' "$d/queue-hook"
	# Q_ON_STORE=no: the feature switched off (prestart and hook do nothing)
	printf 'queue_on_store = %s\n' "${Q_ON_STORE:-yes}"
	# Q_FSYNC_COMMIT=nothing/: queue files replicated as before issue 17
	[ -z "${Q_FSYNC_COMMIT:-}" ] || printf 'fsync_commit = %s\n' "$Q_FSYNC_COMMIT"
}

# q_prep N: before node N's Postfix starts: long queue IDs, the route to
# the sink, the queue on the store, and the wait for its hand-back.
q_prep() {
	local n=$1 d
	d=$(e2e_node_dir "$n")
	postconf -c "$d/conf" -e enable_long_queue_ids=yes || return 1
	grep -q '^remote.test ' "$d/conf/transport" ||
		printf 'remote.test smtp:[%s]:25\n' "$(e2e_ip "$SINK_N")" >>"$d/conf/transport" || return 1
	# as Postfix's unit does (systemd/postfix@.service.d/mhafs.conf)
	q_tool "$n" -i - prestart >>"$d/log/queue-ready.log" 2>&1 || { cat "$d/log/queue-ready.log" >&2; return 1; }
}

# q_setup USER...: the cluster and the sink (deferring).
q_setup() {
	[ -x "$QTOOL" ] || e2e_skip "no $QTOOL"
	[ -x "$E2E_BUILD/tools/mhafsck" ] || e2e_skip "no mhafsck"
	command -v flock >/dev/null 2>&1 || e2e_skip "flock not installed"
	BAL_CONF_MORE=q_conf
	E2E_MAIL_PREP=q_prep
	bal_setup "$@"
	SINK_DIR=$E2E_TMP/sink
	mkdir -p "$SINK_DIR" || e2e_die "cannot create $SINK_DIR"
	e2e_net_node "$SINK_N"
	setsid nsenter --net="/run/netns/$(e2e_ns "$SINK_N")" -- "$E2E_PY" "$QMAIL" sink --dir "$SINK_DIR" \
		</dev/null >>"$SINK_DIR/sink.log" 2>&1 &
	e2e_wait 10 test -e "$SINK_DIR/listening" || e2e_die "the SMTP sink did not start"
}

q_sink_accept() { : >"$SINK_DIR/accept"; }

# q_area_count N NODE: queued messages in NODE's area as node N's store
# has it, counted by queue ID: qmgr moves a file from one queue directory
# to the next while find walks them, and a file met in both is one message.
q_area_count() {
	local a=$E2E_TMP/n$1-mnt/.mhafs-queue/$2 q
	for q in incoming active deferred hold maildrop; do
		[ -d "$a/$q" ] && find "$a/$q/" -type f -printf '%f\n'
	done | sort -u | wc -l
}

# q_status N KEY: one value of node N's mhafs-queue status.
q_status() { q_tool "$1" status 2>/dev/null | sed -n "s/^$2=//p"; }

# q_delivered TAG COUNT: the sink's verdict line; 0 if all exactly once.
q_delivered() { "$E2E_PY" "$QMAIL" count --dir "$SINK_DIR" --tag "$1" --count "$2"; }

# q_in_mailbox N USER TAG COUNT: the verdict for USER's Maildir (d1.test)
# on node N's store; 0 if each message is there exactly once.
q_in_mailbox() {
	"$E2E_PY" "$QMAIL" count --maildir "$E2E_TMP/n$1-mnt/$E2E_LMTP_DOMAIN/${2%@*}/Maildir" \
		--tag "$3" --count "$4"
}
