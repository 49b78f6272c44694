# tests/e2e/lib-balance.sh: the balancer on the lab's two mail nodes (bash,
# sourced after lib.sh): HAProxy on both nodes bound to the VIP, each node's
# Dovecot and Postfix listening for PROXY v2 on its own address behind a
# firewall rule that admits only the nodes, and Dovecot's home-node passdb
# (conf/mhafs-home.lua) reading the node table that heartbeatd writes.
# e2e_balance_init turns it on for the e2e_mail_start calls that follow.
# HAProxy runs inside the node's namespace, so e2e_cleanup ends it with
# the namespace's other processes.

E2E_SMTP_PROXY_PORT=10025
E2E_SUBMISSION_PROXY_PORT=10587
E2E_IMAP_PROXY_PORT=10143
E2E_POP3_PROXY_PORT=10110
E2E_IMAPS_PROXY_PORT=10993
E2E_POP3S_PROXY_PORT=10995
E2E_LMTP_ROUTE_PORT=10024   # the routed LMTP listener (mhafs-route)
E2E_AGENT_PORT=7412

# e2e_balance_init VIP: the next e2e_mail_start calls set up the balancer.
e2e_balance_init() {
	command -v haproxy >/dev/null 2>&1 || e2e_skip "haproxy not installed (tools/install-deps)"
	command -v nft >/dev/null 2>&1 || e2e_skip "nft not installed (tools/install-deps)"
	[ -e /usr/lib/dovecot/modules/auth/libauthdb_lua.so ] ||
		e2e_skip "dovecot-auth-lua not installed (tools/install-deps)"
	E2E_BALANCE=$1
}

e2e_nodes_file() { printf '%s/run/nodes' "$(e2e_node_dir "$1")"; }

# e2e_balance_conf N [MOUNT]: mhafs.conf lines for node N's heartbeatd agent
# (add them to E2E_MHAFS_CONF_EXTRA with e2e_peer_conf's and e2e_hb_conf's);
# MOUNT (default $E2E_TMP/nN-mnt) holds the published sessions.
# E2E_WEIGHT_<N> sets the node's weight (default: its CPUs).
e2e_balance_conf() {
	local w d
	eval "w=\${E2E_WEIGHT_$1:-auto}"
	d=$(e2e_node_dir "$1")
	printf 'node_address = %s\nagent_port = %s\nnodes_file = %s\nnode_weight = %s\n' \
		"$(e2e_ip "$1")" "$E2E_AGENT_PORT" "$(e2e_nodes_file "$1")" "$w"
	# a dead Dovecot or Postfix makes the agent say down within 1 s
	# (2 failed rounds), so HAProxy has the node out of every backend
	# within 2 s (conf/mhafs.conf.sample); E2E_HEALTH_MS overrides it
	printf 'health_interval_ms = %s\n' "${E2E_HEALTH_MS:-500}"
	printf 'haproxy_socket = %s/run/haproxy.sock\n' "$d"
	printf 'sessions_dir = %s/.mhafs-sessions\nsessions_cmd = doveadm -c %s/conf/dovecot.conf -f tab who -1\n' \
		"${2:-$E2E_TMP/n$1-mnt}" "$d"
}

# e2e_balance_tls: the lab's TLS certificate (self-signed, for the VIP's
# name and address), made once per test: $E2E_TMP/tls/cert.pem, key.pem.
e2e_balance_tls() {
	local d=$E2E_TMP/tls
	if [ ! -s "$d/cert.pem" ]; then
		mkdir -p "$d" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$d/key.pem" -out "$d/cert.pem" -days 2 -subj "/CN=mail.mhafs.test" \
			-addext "subjectAltName=DNS:mail.mhafs.test,IP:$E2E_BALANCE" >"$d/openssl.log" 2>&1 ||
			{ cat "$d/openssl.log" >&2; e2e_die "cannot make the lab's TLS certificate"; }
	fi
}

# e2e_balance_mail_conf N: node N's Dovecot include, the Lua passdb and the
# Postfix PROXY listeners (called by e2e_mail_start).  E2E_FLOOR_CMD replaces
# the MODSEQ floor command (E2E_FLOOR_CMD=true: no floor, to see a test fail);
# E2E_NODES_FILE_LUA=/nonexistent makes the script serve every user where
# the connection landed (no affinity, likewise); E2E_DROPS_FILE_LUA=/nonexistent
# hides mhafs's index drop mark from it (no new floor after an index drop).
e2e_balance_mail_conf() {
	local n=$1 d addrs
	d=$(e2e_node_dir "$n")
	addrs="$(e2e_ip 1) $(e2e_ip 2)"
	e2e_balance_tls
	sed -e "s|^local nodes_file = .*|local nodes_file = \"${E2E_NODES_FILE_LUA:-$(e2e_nodes_file "$n")}\"|" \
		-e "s|^local floor_cmd = .*|local floor_cmd = \"${E2E_FLOOR_CMD:-$E2E_SRC/tools/mhafs-modseq-floor -c $d/conf/mhafs.conf -d $d/conf/dovecot.conf -m $E2E_BUILD/tools/mhactl}\"|" \
		-e "s|^local floor_dir = .*|local floor_dir = \"$d/state/modseq-floor\"|" \
		-e "s|^local drops_file = .*|local drops_file = \"${E2E_DROPS_FILE_LUA:-$E2E_TMP/n$n-state/index-drops}\"|" \
		-e "s|^local sessions_dir = .*|local sessions_dir = \"$(sed -n 's/^sessions_dir = //p' "$d/conf/mhafs.conf")\"|" \
		"$E2E_SRC/conf/mhafs-home.lua" >"$d/conf/mhafs-home.lua" || e2e_die "no mhafs-home.lua"
	e2e_render "$E2E_SRC/conf/dovecot-balance.conf.in" "$d/conf/dovecot-balance.conf" \
		NODE_ADDRS="$addrs" NODE_ADDR="$(e2e_ip "$n")" NODE_NAME="n$n" LUA_FILE="$d/conf/mhafs-home.lua" \
		IMAP_PROXY_PORT="$E2E_IMAP_PROXY_PORT" LMTP_ROUTE_PORT="$E2E_LMTP_ROUTE_PORT" \
		POP3_PROXY_PORT="$E2E_POP3_PROXY_PORT" \
		IMAPS_PROXY_PORT="$E2E_IMAPS_PROXY_PORT" POP3S_PROXY_PORT="$E2E_POP3S_PROXY_PORT" \
		TLS_CERT="$E2E_TMP/tls/cert.pem" TLS_KEY="$E2E_TMP/tls/key.pem"
	e2e_render "$E2E_SRC/conf/postfix-master-balance.cf.in" "$d/conf/master-balance.cf" \
		NODE_ADDR="$(e2e_ip "$n")" SMTP_PROXY_PORT="$E2E_SMTP_PROXY_PORT" \
		SUBMISSION_PROXY_PORT="$E2E_SUBMISSION_PROXY_PORT" \
		ROUTE_USER=nobody ROUTE_CMD="$E2E_BUILD/tools/mhafs-route" \
		MHAFS_CONF="$d/conf/mhafs.conf" ROUTE_FALLBACK="[127.0.0.1]:24" \
		LMTP_ROUTE_PORT="$E2E_LMTP_ROUTE_PORT" \
		LMTP_DOMAIN="$E2E_LMTP_DOMAIN"
	cat "$d/conf/master-balance.cf" >>"$d/conf/master.cf" || e2e_die "cannot extend master.cf"
	e2e_render "$E2E_SRC/conf/nftables-balance.nft.in" "$d/conf/balance.nft" \
		NODE_ADDRS_NFT="$(e2e_ip 1), $(e2e_ip 2)" \
		PROXY_PORTS="$E2E_SMTP_PROXY_PORT, $E2E_SUBMISSION_PROXY_PORT, $E2E_IMAP_PROXY_PORT, $E2E_POP3_PROXY_PORT, $E2E_IMAPS_PROXY_PORT, $E2E_POP3S_PROXY_PORT"
	e2e_in "$(e2e_ns "$n")" nft -f "$d/conf/balance.nft" ||
		e2e_die "cannot load node $n's firewall rule for the PROXY ports"
}

# e2e_haproxy_start N: node N's HAProxy, bound to the VIP whether or not
# the node holds it.  E2E_HAPROXY_CFG_IN replaces conf/haproxy.cfg.in (a
# test shows it fails with an older template).
e2e_haproxy_start() {
	local n=$1 d pid
	d=$(e2e_node_dir "$n")
	mkdir -p "$d/run" "$d/log" || e2e_die "cannot create $d/run"
	e2e_in "$(e2e_ns "$n")" sysctl -q -w net.ipv4.ip_nonlocal_bind=1 ||
		e2e_die "cannot set ip_nonlocal_bind on node $n"
	e2e_render "${E2E_HAPROXY_CFG_IN:-$E2E_SRC/conf/haproxy.cfg.in}" "$d/conf/haproxy.cfg" \
		RUN_DIR="$d/run" VIP="$E2E_BALANCE" AGENT_PORT="$E2E_AGENT_PORT" \
		N1_NAME=n1 N1_ADDR="$(e2e_ip 1)" N2_NAME=n2 N2_ADDR="$(e2e_ip 2)" \
		SMTP_PROXY_PORT="$E2E_SMTP_PROXY_PORT" SUBMISSION_PROXY_PORT="$E2E_SUBMISSION_PROXY_PORT" \
		IMAP_PROXY_PORT="$E2E_IMAP_PROXY_PORT" POP3_PROXY_PORT="$E2E_POP3_PROXY_PORT" \
		IMAPS_PROXY_PORT="$E2E_IMAPS_PROXY_PORT" POP3S_PROXY_PORT="$E2E_POP3S_PROXY_PORT"
	e2e_in "$(e2e_ns "$n")" haproxy -c -q -f "$d/conf/haproxy.cfg" >"$d/log/haproxy.log" 2>&1 ||
		{ cat "$d/log/haproxy.log" >&2; e2e_die "haproxy refused node $n's configuration"; }
	setsid nsenter --net="/run/netns/$(e2e_ns "$n")" -- haproxy -db -f "$d/conf/haproxy.cfg" \
		</dev/null >>"$d/log/haproxy.log" 2>&1 &
	pid=$!
	e2e_wait 10 test -S "$d/run/haproxy.sock" ||
		{ tail -5 "$d/log/haproxy.log" >&2; e2e_die "haproxy did not start on node $n"; }
	printf '%s\n' "$pid" >"$d/run/haproxy.child"
}

# e2e_haproxy_cmd N CMD: one command on node N's HAProxy stats socket.
e2e_haproxy_cmd() {
	"$E2E_PY" - "$(e2e_node_dir "$1")/run/haproxy.sock" "$2" <<-'EOF'
	import socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.settimeout(5)
	s.connect(sys.argv[1])
	s.sendall(sys.argv[2].encode() + b"\n")
	out = b""
	while True:
	    b = s.recv(65536)
	    if not b:
	        break
	    out += b
	sys.stdout.write(out.decode())
	EOF
}

# e2e_haproxy_weight N BACKEND SERVER: the server's current weight as node
# N's HAProxy sees it (empty if unknown).
e2e_haproxy_weight() {
	e2e_haproxy_cmd "$1" "show servers state $2" |
		awk -v s="$3" '$4 == s { print $8 }'
}

# e2e_haproxy_status N BACKEND SERVER: the server's status there (UP, DOWN,
# DRAIN, MAINT, ...), from `show stat`.
e2e_haproxy_status() {
	e2e_haproxy_cmd "$1" "show stat" | awk -F, -v b="$2" -v s="$3" '$1 == b && $2 == s { print $18 }'
}

# e2e_haproxy_up N BACKEND SERVER: does the server take new connections
# there (UP, neither down nor drained)?
e2e_haproxy_up() { [ "$(e2e_haproxy_status "$@")" = UP ]; }
