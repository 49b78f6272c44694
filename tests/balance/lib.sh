# tests/balance/lib.sh: the balanced two-node cluster of the balancer tests
# (bash, sourced after tests/e2e/lib.sh and lib-balance.sh): replicating
# mhafs mounts, Dovecot and Postfix behind PROXY listeners, heartbeatd with
# the VIP and its agent, HAProxy on both nodes.  bal_setup builds it and
# waits until the VIP holder's HAProxy has both nodes up at their weights;
# bal_node_up (re)starts one node the same way after a crash.

VIP=192.0.2.100
MHACTL=$E2E_BUILD/tools/mhactl
BAL=$E2E_SRC/tests/balance/balclient.py

bal_require() {
	e2e_require_mail
	e2e_require_mhafs
	[ -x "$MHACTL" ] || e2e_skip "no mhactl"
	[ -x "$E2E_HB_BIN" ] || e2e_skip "no heartbeatd"
	e2e_balance_init "$VIP"
}

# bal_conf N: node N's mhafs.conf lines beyond replication: heartbeatd
# with the VIP, and its agent.
bal_conf() {
	e2e_hb_conf "$1" $((3 - $1)) "$VIP/24"
	e2e_balance_conf "$1"
	# BAL_CONF_MORE names a function printing more lines (tests/queue)
	[ -z "${BAL_CONF_MORE:-}" ] || "$BAL_CONF_MORE" "$1"
}

# bal_mount N: node N's mhafs again (after a crash), as bal_setup made it.
bal_mount() {
	local n=$1
	E2E_MHAFS_CONF_EXTRA="$(e2e_peer_conf "$n" $((3 - n)))
$(bal_conf "$n")"
	e2e_mhafs_mount "$n" "$E2E_TMP/n$n-backing" "$E2E_TMP/n$n-mnt" "$E2E_TMP/n$n-state"
	E2E_MHAFS_CONF_EXTRA=""
}

# bal_setup USER...: the whole cluster, the users on both nodes.
bal_setup() {
	local n
	E2E_PAIR_CONF=bal_conf e2e_pair "$@"
	for n in 1 2; do e2e_mail_start "$n" "$E2E_TMP/n$n-mnt"; done
	for n in 1 2; do e2e_hb_start "$n"; done
	for n in 1 2; do e2e_haproxy_start "$n"; done
	e2e_wait 15 bal_one_holder || e2e_die "no single VIP holder"
	H=$(bal_holder)
	e2e_log "node $H holds the VIP"
	e2e_wait 15 bal_weighted || {
		e2e_haproxy_cmd "$H" "show servers state" >&2
		e2e_die "HAProxy on node $H did not take both nodes up at their agents' weights"
	}
	for n in 1 2; do
		e2e_wait 10 bal_table_up "$n" || {
			cat "$(e2e_nodes_file "$n")" >&2
			e2e_die "node $n's node table does not have both nodes up"
		}
	done
}

# bal_table_up N: node N's node table (heartbeatd's nodes_file) has both up.
bal_table_up() { [ "$(grep -c '^node .* up$' "$(e2e_nodes_file "$1")")" = 2 ]; }

bal_holder() { e2e_vip_holder "$VIP" 1 2; }
bal_one_holder() { [ "$(bal_holder | wc -l)" = 1 ]; }

# bal_weighted: the holder's HAProxy has both nodes up, at the weights set
# in E2E_WEIGHT_1 and E2E_WEIGHT_2 where those are set, else at any weight.
bal_weighted() {
	local n w
	for n in 1 2; do
		eval "w=\${E2E_WEIGHT_$n:-}"
		if [ -n "$w" ]; then
			[ "$(e2e_haproxy_weight "$H" smtp "n$n")" = "$w" ] || return 1
		else
			[ "$(e2e_haproxy_weight "$H" smtp "n$n")" -gt 0 ] 2>/dev/null || return 1
		fi
		e2e_haproxy_up "$H" imap "n$n" && e2e_haproxy_up "$H" smtp "n$n" || return 1
	done
}

# bal_hb_pid N: the PID of node N's heartbeatd (the process in node N's
# namespace running the heartbeatd under test); dies if there is none.
bal_hb_pid() {
	local p hb=""
	for p in $(ip netns pids "$(e2e_ns "$1")"); do
		[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "$E2E_HB_BIN")" ] && hb=$p
	done
	[ -n "$hb" ] || e2e_die "no heartbeatd found in node $1's namespace"
	printf '%s\n' "$hb"
}

# bal_home LOGIN: the user's home node (n1 or n2) as mhactl user says.
bal_home() { "$MHACTL" -c "$(e2e_node_dir 1)/conf/mhafs.conf" user "$1" | sed -n 's/^home=\([^ ]*\).*/\1/p'; }

# bal_node_up N: node N back after e2e_node_crash: mount, mail, heartbeatd,
# HAProxy.
bal_node_up() {
	local n=$1
	bal_mount "$n"
	e2e_mail_start "$n" "$E2E_TMP/n$n-mnt"
	e2e_hb_start "$n"
	e2e_haproxy_start "$n"
}
