#!/bin/bash
# tests/repl/watch.sh: watching a pair (issue 18).
#  0. Bad input is refused with a message that names the key: thresholds
#     out of 1..99, space_warn_pct not below space_crit_pct, a relative
#     metrics_file or space_hook.
#  1. mhactl status --json parses and matches the plain status field by
#     field (heartbeatd's part from a stand-in answering on
#     heartbeat_socket: its repeated vip and transition lines, counters);
#     the plain status is taken before and after, and a value that moved
#     in between (hlc, sql_statements) must lie between the two.
#  2. The metrics file parses with prometheus_client's text-format parser,
#     and its counters move when mail is delivered (journal, sent entries,
#     commit waits); heartbeatd's role and transitions are in it.
#  3. Node B's store is a small tmpfs filled from outside: the warning and
#     critical crossings and the way back are logged, shown in status and
#     metrics on B and (as the peer's) on A, and each node's space_hook
#     runs once per crossing.  A's hook hangs at the critical crossing
#     (killed after space_hook_timeout, logged) and fails at the way back
#     (logged); A serves throughout.
. "$(dirname "$0")/lib.sh"
repl_preflight
PY=/usr/bin/python3
"$PY" -c "import prometheus_client" 2>/dev/null || skip "no python3-prometheus-client"

# ---- 0: bad input ----------------------------------------------------
bad() { # EXPECTED-TEXT -o OPTION...: mhafs refuses to start, saying it
	local want=$1 out
	shift
	out=$("$MHAFS" /nonexistent-b /nonexistent-m -f -o config=/dev/null -o node_id=1 "$@" 2>&1) &&
		fail "mhafs started with $*"
	case $out in *"$want"*) ;; *) fail "mhafs $*: expected '$want', said: $out" ;; esac
}
bad "space_warn_pct: 0 is out of range 1..99" -o space_warn_pct=0
bad "space_crit_pct: 100 is out of range 1..99" -o space_crit_pct=100
bad "space_warn_pct (90) must be below space_crit_pct (90)" -o space_warn_pct=90 -o space_crit_pct=90
bad "space_warn_pct (96) must be below space_crit_pct (95)" -o space_warn_pct=96
bad "metrics_file must be an absolute path" -o metrics_file=m.prom
bad "space_hook must be an absolute path" -o space_hook=hook.sh
bad "metrics_interval: 0 is out of range" -o metrics_interval=0
note "bad input refused"
# the sample hook writes a mail for the postmaster (sendmail stood in for)
mailout=$(mktemp) && printf '#!/bin/sh\necho "$@" > %s.args; cat >> %s\n' "$mailout" "$mailout" > "$mailout.sm" &&
	chmod 755 "$mailout.sm" || fail "mktemp"
SENDMAIL=$mailout.sm sh "$top_srcdir/conf/space-hook.sample" store beta critical 97 warning ||
	fail "conf/space-hook.sample failed"
grep -q "^To: postmaster$" "$mailout" && grep -q "^Subject: mhafs: the store of node beta is CRITICAL: 97% used$" "$mailout" &&
	grep -q -- "-t -oi" "$mailout.args" || fail "the sample hook's mail: $(cat "$mailout" "$mailout.args")"
rm -f "$mailout" "$mailout.sm" "$mailout.args"

repl_setup 1500
# B's store on an 8 MiB tmpfs of its own, filled beside the store
mkdir -p "$T/b/small"
mount -t tmpfs -o size=8m,mode=0755 mhrepl-watch "$T/b/small" || skip "cannot mount a tmpfs"
REPL_MOUNTS="$REPL_MOUNTS $T/b/small"
rmdir "$T/b/back" && mkdir "$T/b/small/store" && ln -s "$T/b/small/store" "$T/b/back"

for n in a b; do
	cat > "$T/$n/hook.sh" <<EOF
#!/bin/sh
echo "\$*" >> "$T/$n/hooks.log"
[ -e "$T/$n/hang" ] && exec sleep 60
[ -e "$T/$n/failhook" ] && { echo "no mail sent: failing on purpose"; exit 3; }
exit 0
EOF
	chmod 755 "$T/$n/hook.sh"
	cat >> "$T/$n/mhafs.conf" <<EOF
metrics_file = $T/$n/mhafs.prom
metrics_interval = 1
space_hook = $T/$n/hook.sh
space_hook_timeout = 2
heartbeat_socket = $T/$n/hb.sock
nodes_file = $T/$n/nodes
EOF
done

# heartbeatd's stand-in on A: one status answer per connection
cat > "$T/hbstub.py" <<'EOF'
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(8)
ans = b"""node: alpha id 1
role: PRIMARY
role_since_ms: 4200
health: ok
peer: beta alive id 2 role SECONDARY last_heard_ms 90
peer_address: 192.0.2.2 port 7411
vip_owner: self
vip: 192.0.2.100/24 dev lo present
vip: 192.0.2.101/24 dev lo present
mhafs_told: peer-up
counters: tx=10 tx_err=0 rx_ok=9 bad_mac=0 replay=0 malformed=0 own_id=0 clock_skew=0 stalls=0
transitions: 3
transition: 2024-01-01T00:00:00.000Z STARTING -> SECONDARY on none
transition: 2024-01-01T00:00:01.000Z SECONDARY -> PRIMARY on peer-dead: peer silent
transition: 2024-01-01T00:00:02.000Z PRIMARY -> PRIMARY on health-ok
"""
while True:
    c, _ = s.accept()
    c.settimeout(1)
    try:
        c.recv(128)
        c.sendall(ans)
    except OSError:
        pass
    c.close()
EOF
"$PY" "$T/hbstub.py" "$T/a/hb.sock" &
PIDS="$PIDS $!"
start_pair

# ---- 1: status --json against the plain status -----------------------
"$MHACTL" -c "$T/a/mhafs.conf" status > "$T/plain" || fail "mhactl status failed"
"$MHACTL" -c "$T/a/mhafs.conf" status --json > "$T/json" || fail "mhactl status --json failed"
"$MHACTL" -c "$T/a/mhafs.conf" status > "$T/plain2" || fail "mhactl status failed"
"$PY" - "$T/plain" "$T/json" "$T/plain2" <<'EOF' || fail "status --json does not match the plain status"
import json, sys
plain = [l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]) if "=" in l]
after = [l.rstrip("\n").split("=", 1) for l in open(sys.argv[3]) if "=" in l]
if [k for k, _ in plain] != [k for k, _ in after]:
    print("FAIL: the plain status changed its keys between two calls"); sys.exit(1)
doc = json.load(open(sys.argv[2]))
def between(j, v, w):
    if v == w or not (v.isdigit() and w.isdigit()):
        return False
    return min(int(v), int(w)) <= int(j) <= max(int(v), int(w))
bad = []
seen = {}
for (k, v), (_, w) in zip(plain, after):
    if k not in doc:
        bad.append("missing " + k); continue
    j = doc[k]
    if isinstance(j, list):
        i = seen.get(k, 0); seen[k] = i + 1
        ok = i < len(j) and j[i] == v
    elif isinstance(j, dict):
        ok = " ".join("%s=%s" % kv for kv in j.items()) == v
    elif j is None:
        ok = v == "-"
    elif isinstance(j, bool):
        ok = False
    elif isinstance(j, int):
        ok = str(j) in (v, w) or between(j, v, w) or k.endswith("_age_ms")
    else:
        ok = j in (v, w) or (k == "hlc" and between(j, v, w))
    if not ok:
        bad.append("%s: plain %r, json %r" % (k, v, j))
keys = {k for k, _ in plain}
extra = set(doc) - keys - {"heartbeat_vip", "heartbeat_transition"}
bad += ["extra " + k for k in extra]
for k in ("node_id", "commit_waits", "space_store_used_pct", "space_peer_store_size_bytes",
          "heartbeat_transitions", "heartbeat_role_since_ms"):
    if not isinstance(doc.get(k), int):
        bad.append("%s is not a number: %r" % (k, doc.get(k)))
if len(doc.get("heartbeat_transition", [])) != 3 or len(doc.get("heartbeat_vip", [])) != 2:
    bad.append("heartbeat arrays: %r %r" % (doc.get("heartbeat_transition"), doc.get("heartbeat_vip")))
if doc.get("heartbeat_counters", {}).get("rx_ok") != 9:
    bad.append("heartbeat_counters: %r" % doc.get("heartbeat_counters"))
if doc.get("space_store_level") not in ("ok", "warning", "critical") or doc.get("node") != "alpha":
    bad.append("values: %r %r" % (doc.get("space_store_level"), doc.get("node")))
print("# status --json: %d keys, %d plain lines" % (len(doc), len(plain)))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
# B has no heartbeatd: its lists are absent, and the JSON still parses
"$MHACTL" -c "$T/b/mhafs.conf" status --json | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert d["heartbeat"].startswith("not running"), d["heartbeat"]
assert "heartbeat_vip" not in d
' || fail "B's status --json without heartbeatd"

# ---- 2: metrics -------------------------------------------------------
# metric NODE NAME [LABEL=VALUE...]: the sample's value in NODE's file
metric() {
	"$PY" - "$T/$1/mhafs.prom" "${@:2}" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
name, want = sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
            print(int(s.value) if s.value == int(s.value) else s.value)
            sys.exit(0)
print("absent")
EOF
}
# fresh_metrics: wait for both files to be rewritten once more
fresh_metrics() {
	local ta tb
	ta=$(stat -c %Y.%y "$T/a/mhafs.prom"); tb=$(stat -c %Y.%y "$T/b/mhafs.prom")
	for _ in $(seq 40); do
		[ "$(stat -c %Y.%y "$T/a/mhafs.prom")" != "$ta" ] &&
			[ "$(stat -c %Y.%y "$T/b/mhafs.prom")" != "$tb" ] && return 0
		sleep 0.1
	done
	fail "the metrics files are not rewritten every second"
}
fresh_metrics
"$PY" - "$T/a/mhafs.prom" <<'EOF' || fail "the metrics file does not parse"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
need = ["mhafs_ops_journaled", "mhafs_replication_backlog_ops", "mhafs_replication_last_commit_ack_seconds",
        "mhafs_commit_waits", "mhafs_commit_timeouts", "mhafs_conflicts", "mhafs_reconcile_runs",
        "mhafs_heartbeat_role", "mhafs_heartbeat_transitions", "mhafs_space_avail_bytes",
        "mhafs_space_level", "mhafs_space_hook_runs"]
missing = [n for n in need if n not in fams]
if missing:
    print("FAIL: families missing:", missing, "have:", sorted(fams))
    sys.exit(1)
print("# metrics: %d families, %d samples" % (len(fams), sum(len(f.samples) for f in fams.values())))
EOF
[ "$(metric a mhafs_heartbeat_role role=PRIMARY)" = 1 ] || fail "A's metrics: heartbeat role not PRIMARY"
[ "$(metric a mhafs_heartbeat_transitions_total)" = 3 ] || fail "A's metrics: heartbeat transitions"
[ "$(metric b mhafs_heartbeat_up)" = 0 ] || fail "B's metrics: heartbeatd counted up"
j0=$(metric a mhafs_ops_journaled_total); s0=$(metric a mhafs_replication_sent_ops_total)
w0=$(metric a mhafs_commit_waits_total); p0=$(metric b mhafs_replication_applied_ops_total)
for i in $(seq 1 10); do deliver a u/Maildir "m$i" 1024; done
converge 10
fresh_metrics
j1=$(metric a mhafs_ops_journaled_total); s1=$(metric a mhafs_replication_sent_ops_total)
w1=$(metric a mhafs_commit_waits_total); p1=$(metric b mhafs_replication_applied_ops_total)
note "10 deliveries on A: journaled $j0 -> $j1, sent $s0 -> $s1, commit waits $w0 -> $w1, applied on B $p0 -> $p1"
[ "$j1" -ge $((j0 + 10)) ] 2>/dev/null || fail "A's mhafs_ops_journaled_total did not move by 10: $j0 -> $j1"
[ "$s1" -ge $((s0 + 10)) ] 2>/dev/null || fail "A's mhafs_replication_sent_ops_total did not move: $s0 -> $s1"
[ "$w1" -ge $((w0 + 10)) ] 2>/dev/null || fail "A's mhafs_commit_waits_total did not move by 10: $w0 -> $w1"
[ "$p1" -ge $((p0 + 10)) ] 2>/dev/null || fail "B's mhafs_replication_applied_ops_total did not move: $p0 -> $p1"

# ---- 3: B's store fills and empties -----------------------------------
sv() { status_val "$1" "$2"; }
# fill_to PCT: B's tmpfs at PCT % used, by a file beside the store
fill_to() {
	local size used want
	size=$(df -B1 --output=size "$T/b/small" | tail -1)
	used=$(( size - $(df -B1 --output=avail "$T/b/small" | tail -1) ))
	[ -e "$T/b/small/fill" ] && used=$(( used - $(stat -c %s "$T/b/small/fill") ))
	want=$(( size * $1 / 100 - used ))
	rm -f "$T/b/small/fill"
	[ "$want" -gt 0 ] && { head -c "$want" /dev/zero > "$T/b/small/fill" || fail "cannot fill B's tmpfs"; }
	note "B's tmpfs: $(df --output=pcent "$T/b/small" | tail -1 | tr -d ' ') used"
}
# expect_level LEVEL: B's store and (as the peer's) on A, within 8 s
expect_level() {
	for _ in $(seq 80); do
		[ "$(sv b space_store_level)" = "$1" ] && [ "$(sv a space_peer_store_level)" = "$1" ] && break
		sleep 0.1
	done
	[ "$(sv b space_store_level)" = "$1" ] || fail "B's space_store_level is $(sv b space_store_level), not $1"
	[ "$(sv a space_peer_store_level)" = "$1" ] || fail "A's space_peer_store_level is $(sv a space_peer_store_level), not $1"
	fresh_metrics
	local lv
	case $1 in ok) lv=0 ;; warning) lv=1 ;; critical) lv=2 ;; esac
	[ "$(metric b mhafs_space_level fs=store side=self node=beta)" = $lv ] ||
		fail "B's metrics: store level $(metric b mhafs_space_level fs=store side=self), not $lv"
	[ "$(metric a mhafs_space_level fs=store side=peer node=beta)" = $lv ] ||
		fail "A's metrics: the peer's store level $(metric a mhafs_space_level fs=store side=peer), not $lv"
}
# hooks NODE: the store-of-beta lines of NODE's hook log
hooks() { cat "$T/$1/hooks.log" 2>/dev/null | grep -c "^store beta "; }

[ "$(sv b space_store_level)" = ok ] || fail "B's store is not ok at the start: $(sv b space_store_level)"
[ "$(hooks a)" = 0 ] && [ "$(hooks b)" = 0 ] || fail "hooks ran before any crossing"
fill_to 90
expect_level warning
grep -q "space: the store of node beta (.*) is 9[0-9]% used: over the warning threshold of 85%" "$T/b.log" ||
	fail "B did not log the warning crossing"
grep -q "space: the store of node beta (the peer's) is 9[0-9]% used: over the warning" "$T/a.log" ||
	fail "A did not log the peer's warning crossing"

touch "$T/a/hang"
fill_to 97
expect_level critical
grep -q "store of node beta .* over the critical threshold of 95%" "$T/b.log" || fail "B did not log the critical crossing"
# A's hook hangs: killed after 2 s; A keeps serving meanwhile
deliver a u/Maildir during-hang 512 || fail "A does not take mail while its hook hangs"
for _ in $(seq 50); do grep -q "space_hook .*still running after 2 s: killed" "$T/a.log" && break; sleep 0.1; done
grep -q "space_hook .*still running after 2 s: killed" "$T/a.log" || fail "A's hung hook was not killed and logged"
rm -f "$T/a/hang"
touch "$T/a/failhook"

fill_to 0
expect_level ok
grep -q "space: the store of node beta (.*) is [0-9]*% used: back to ok (from critical)" "$T/b.log" ||
	fail "B did not log the way back to ok"
for _ in $(seq 30); do grep -q "space_hook .*exited with status 3: no mail sent" "$T/a.log" && break; sleep 0.1; done
grep -q "space_hook .*exited with status 3: no mail sent: failing on purpose" "$T/a.log" ||
	fail "A's failing hook was not logged"
# no hook runs twice for a crossing: give a late duplicate the time to show
sleep 1.5
[ "$(hooks b)" = 3 ] || fail "B's hook ran $(hooks b) times for 3 crossings: $(cat "$T/b/hooks.log")"
[ "$(hooks a)" = 3 ] || fail "A's hook ran $(hooks a) times for the peer's 3 crossings: $(cat "$T/a/hooks.log")"
sed -n 's/^/# B hook: /p' "$T/b/hooks.log" | grep "store beta"
[ "$(sv a space_hook_failures)" -ge 2 ] || fail "A's space_hook_failures: $(sv a space_hook_failures)"
[ "$(metric a mhafs_space_hook_kills_total)" = 1 ] || fail "A's metrics: hook kills $(metric a mhafs_space_hook_kills_total)"
[ "$(metric b mhafs_space_crossings_total fs=store side=self node=beta)" = 3 ] ||
	fail "B's metrics: crossings $(metric b mhafs_space_crossings_total fs=store side=self)"
deliver a u/Maildir after 512 && converge 10
ls "$T/a/mnt/u/Maildir/new" >/dev/null || fail "A does not serve after its hooks failed"
echo "PASS"
