#!/bin/bash
# tests/queue/quarantine.sh: queue files Postfix cannot use are moved to
# the area's quarantine with a log line, never delivered nor dropped.  10
# outgoing messages are deferred in node 1's queue; with node 1's Postfix
# stopped, two bad files are planted in its area through its mount: a torn
# copy of one queue file (its first half, marked finished) in deferred/,
# and an unfinished one (not marked, as when the writer dies before the
# 250) in incoming/.  Node 1 dies; node 2's takeover quarantines both
# before its instance starts (log lines naming each), takes over the 10,
# and delivers each exactly once (a delivered torn copy would show as a
# duplicate).  Then the returning node's `ready`: with node 1's Postfix
# stopped again, a torn file in its own area is quarantined by ready.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"
. "$E2E_SRC/tests/queue/lib.sh"

N=${Q_COUNT:-10}
e2e_init q-quarantine mhq$$
bal_require
q_setup alice@d1.test
t0=$SECONDS
A1=$E2E_TMP/n1-mnt/.mhafs-queue/n1      # node 1's area, through node 1's mount
A2=$E2E_TMP/n2-mnt/.mhafs-queue/n1      # ... through node 2's

sent=$(e2e_client "$E2E_PY" "$QMAIL" send --host "$(e2e_ip 1)" --count "$N" --tag quar \
	--to "dest@remote.test") || e2e_die "sending through node 1 failed"
[ "$sent" = "$N" ] || e2e_die "node 1 accepted $sent of $N"
deferred() { [ -s "$SINK_DIR/attempts" ] && [ "$(wc -l <"$SINK_DIR/attempts")" -ge "$N" ]; }
e2e_wait 20 deferred || e2e_die "node 1 did not try the remote server for all $N messages"
in_deferred() { [ "$(find "$A1/deferred/" -type f | wc -l)" = "$N" ]; }
e2e_wait 20 in_deferred || e2e_die "node 1's deferred queue holds $(find "$A1/deferred/" -type f | wc -l) of $N"

# plant SRC DIR NAME MODE [half]: a copy of queue file SRC (its first half)
# as DIR/NAME, with MODE
plant() {
	local src=$1 dir=$2 name=$3 mode=$4 size
	size=$(stat -c %s "$src")
	[ -n "${5:-}" ] && size=$((size / 2))
	mkdir -p "$dir" && head -c "$size" "$src" >"$dir/$name" && chown postfix "$dir/$name" &&
		chmod "$mode" "$dir/$name" && sync "$dir/$name" || e2e_die "cannot plant $dir/$name"
}
# other_id ID C: another queue ID of the same form, its last character C
# (or w if that is ID's)
other_id() { local c=$2; [ "${1: -1}" = "$c" ] && c=w; printf '%s%s' "${1%?}" "$c"; }

e2e_stop_pidfile "$(e2e_node_dir 1)/spool/pid/master.pid"
sleep 2   # its children follow the master
src=$(find "$A1/deferred/" -type f | head -1)
id=${src##*/}
torn=$(other_id "$id" z)
unfin=$(other_id "$id" y)
plant "$src" "${src%/*}" "$torn" 0700 half
plant "$src" "$A1/incoming" "$unfin" 0600
e2e_log "planted in node 1's area: deferred/$torn (the first half of $id, marked finished) and incoming/$unfin (not marked finished)"
both() { [ -f "$(find "$A2/deferred/" -name "$torn" | head -1)" ] && [ -f "$A2/incoming/$unfin" ]; }
e2e_wait 10 both || e2e_die "node 2 does not hold the planted files"

e2e_node_crash 1 "$E2E_TMP/n1-mnt"
taken() { [ "$(q_status 2 takeover_instance)" = running ]; }
e2e_wait 60 taken || { cat "$(e2e_node_dir 2)/queue-local/n1/takeover.log" >&2; e2e_die "node 2 did not take node 1's queue over"; }
tlog=$(e2e_node_dir 2)/queue-local/n1/takeover.log
e2e_log "node 2 took node 1's queue over: $(grep -c quarantined "$tlog") quarantine line(s) in its log"
[ "$(q_status 2 takeover_messages)" = "$N" ] || e2e_die "node 2 took over $(q_status 2 takeover_messages) messages, not $N"
for f in "deferred/$torn" "incoming/$unfin"; do
	q=${f%%/*} i=${f#*/}
	[ -f "$A2/quarantine/$q.$i" ] || e2e_die "$f is not in node 2's quarantine: $(ls "$A2/quarantine" 2>&1 | tr '\n' ' ')"
	l=$(grep "quarantined n1's queue file $f " "$tlog") || e2e_die "no log line names $f: $(cat "$tlog")"
	e2e_log "$l"
	grep -q " $f " "$A2/quarantine/LOG" || e2e_die "quarantine/LOG does not name $f"
done
grep -q "incoming/$unfin incomplete" "$A2/quarantine/LOG" || e2e_die "the unfinished file's reason: $(cat "$A2/quarantine/LOG")"
grep -q "deferred/$torn postcat" "$A2/quarantine/LOG" || e2e_die "the torn file's reason: $(cat "$A2/quarantine/LOG")"
q_sink_accept
all() { q_delivered quar "$N" >/dev/null; }
e2e_wait 40 all || e2e_die "node 2 did not deliver node 1's queue: $(q_delivered quar "$N")"
e2e_log "node 2 delivered: $(q_delivered quar "$N")"

# the returning node's ready (Postfix's ExecStartPre) checks its own area
bal_node_up 1
[ -z "$(q_status 2 takeover)" ] || e2e_die "node 2 still holds node 1's queue after the hand-back"
[ "$(q_status 1 queue_quarantined)" = 2 ] || e2e_die "node 1's status: queue_quarantined=$(q_status 1 queue_quarantined), not 2"
e2e_stop_pidfile "$(e2e_node_dir 1)/spool/pid/master.pid"
sleep 2
late=$(other_id "$id" x)
mkdir -p "$A1/hold"
plant "$E2E_TMP/n1-mnt/.mhafs-queue/n1/quarantine/deferred.$torn" "$A1/hold" "$late" 0700
e2e_log "node 1's Postfix stopped, a torn file planted in its hold/ ($late)"
q_tool 1 ready >"$E2E_TMP/ready.log" 2>&1 || { cat "$E2E_TMP/ready.log" >&2; e2e_die "ready failed"; }
e2e_log "node 1's ready: $(tr '\n' ' ' <"$E2E_TMP/ready.log")"
grep -q "quarantined n1's queue file hold/$late " "$E2E_TMP/ready.log" || e2e_die "ready did not log the quarantine of hold/$late"
[ -f "$A1/quarantine/hold.$late" ] && [ ! -e "$A1/hold/$late" ] || e2e_die "hold/$late is not in node 1's quarantine"
sleep 3
v=$(q_delivered quar "$N") || e2e_die "after node 1's return: $v"
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: torn and unfinished queue files quarantined with a log line at takeover and at ready; $v ($((SECONDS - t0)) s)"
