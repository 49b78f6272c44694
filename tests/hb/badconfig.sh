#!/bin/sh
# badconfig.sh: heartbeatd refuses bad configurations with a clear error
# that names the problem (and --check says a good one is valid); a bad
# configuration sent with SIGHUP is refused and the daemon keeps running
# on the old one.
set -u
. "${top_srcdir:?}/tests/hb/lib.sh"
need_root
T=$(mktemp -d /tmp/mhhb.XXXXXX)
NSA=mhhb-$$-a
trap cleanup EXIT INT TERM
ip netns add "$NSA" || fail "netns add"
ip -n "$NSA" link set lo up
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key"
echo short >"$T/shortkey"
good() {
	cat <<EOC
node_id = 1
node_name = a
peer_address = 192.0.2.2
vip = 192.0.2.100/24
vip_interface = lo
cluster_key_file = $T/key
heartbeat_socket = $T/hb.sock
control_socket = $T/mhafs.sock
health_imap_port = 0
health_smtp_port = 0
log_target = stderr
EOC
}
check() { # expected-message sed-expression
	good | sed "$2" >"$T/c.conf"
	out=$(ip netns exec "$NSA" "$HB" -c "$T/c.conf" --check 2>&1); rc=$?
	[ $rc = 1 ] || fail "'$2' accepted (rc $rc): $out"
	echo "$out" | grep -q -- "$1" || fail "'$2': message '$out' does not say '$1'"
	note "refused: $out"
}
good >"$T/c.conf"
ip netns exec "$NSA" "$HB" -c "$T/c.conf" --check | grep -q 'is valid' || fail "good config refused"
check "c.conf:2: expected 'key = value'" '2s/.*/this is not a setting/'
check "unknown key 'vipp'" 's/^vip =/vipp =/'
check "peer_address is not set" '/^peer_address/d'
check "not a numeric IPv4 or IPv6" 's/^peer_address = .*/peer_address = peer.example/'
check "no prefix length" 's|^vip = .*|vip = 192.0.2.100|'
check "interface 'nosuch0' does not exist" 's/^vip_interface = .*/vip_interface = nosuch0/'
check "vip is set but vip_interface is not" '/^vip_interface/d'
check "shorter than 16 bytes" "s|^cluster_key_file = .*|cluster_key_file = $T/shortkey|"
check "No such file" "s|^cluster_key_file = .*|cluster_key_file = $T/nokey|"
check "at least twice" '$a heartbeat_interval_ms = 500\npeer_dead_ms = 600'
check "node_id is not set" '/^node_id/d'
check "witness 'x' is not" '$a witness = x'
out=$("$HB" -s "$T/none.sock" --status 2>&1) && fail "--status without a daemon succeeded"
echo "$out" | grep -q 'cannot reach heartbeatd' || fail "--status error: $out"

# reload with a broken file: refused, daemon keeps its configuration
good >"$T/c.conf"
bg hb "$NSA" "$HB" -c "$T/c.conf"
i=0
while ! "$HB" -s "$T/hb.sock" --status >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "garbage" >>"$T/c.conf"
kill -HUP "$(cat "$T/hb.pid")"
sleep 0.5
grep -q 'reload failed, keeping the running configuration: .*c.conf:[0-9]*: expected' "$T/hb.log" ||
	fail "bad reload not reported: $(tail -3 "$T/hb.log")"
"$HB" -s "$T/hb.sock" --status | grep -q '^role:' || fail "daemon gone after a bad reload"
stop hb
echo "PASS: bad configuration refused"
