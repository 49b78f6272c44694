#!/bin/bash
# tests/balance/oneuser.sh: many sessions of one user through the VIP.
# imaptest's kind of load (balclient.py stress: 10 sessions of one user at
# once, each storing and clearing flags, fetching, appending, expunging)
# runs through the balancer, where HAProxy spreads the sessions over both
# nodes and the home-node passdb sends every one of them to the user's
# home node; then the same run against a single native node (Dovecot on a
# plain directory, node 3).  The cluster may show no kind of session error
# that the native node does not show (two Dovecots on one mailbox showed
# "Mailbox was deleted under us", SERVERBUG and "session state is
# inconsistent" before).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init oneuser
bal_require
U=stress@$E2E_LMTP_DOMAIN
bal_setup "$U" other@$E2E_LMTP_DOMAIN
# the native node: no mhafs, no balancer
e2e_net_node 3
e2e_users 3 "$U"
mkdir -p "$E2E_TMP/native" && e2e_store_prepare "$E2E_TMP/native"
saved=$E2E_BALANCE; E2E_BALANCE=""
e2e_mail_start 3 "$E2E_TMP/native"
E2E_BALANCE=$saved
for host in "$VIP" "$(e2e_ip 3)"; do
	out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$host" --count 40 --users "$U" --tag seed) ||
		e2e_die "seeding $U through $host failed: $out"
done
home=$(bal_home "$U")
n40() { # NODE...: 40 deliveries to U logged on these nodes together
	local n c=0
	for n in "$@"; do c=$((c + $(grep -c "lmtp($U)<.*saved mail to INBOX" "$(e2e_node_dir "$n")/log/dovecot.log"))); done
	[ "$c" -ge 40 ]
}
e2e_wait 30 n40 1 2 && e2e_wait 30 n40 3 || e2e_die "the seed messages were not delivered"

run() { # HOST OUT
	e2e_client "$E2E_PY" "$BAL" stress --vip "$1" --user "$U" --sessions 10 --seconds 25 --seed 7 >"$2" ||
		e2e_die "the stress client failed against $1"
}
run "$VIP" "$E2E_TMP/cluster.out"
run "$(e2e_ip 3)" "$E2E_TMP/native.out"
e2e_log "through the VIP: $(tr '\n' ' ' <"$E2E_TMP/cluster.out")"
e2e_log "native node:     $(tr '\n' ' ' <"$E2E_TMP/native.out")"
[ "$(awk '$1 == "ops" { print $2 }' "$E2E_TMP/cluster.out")" -ge 200 ] ||
	e2e_die "too few operations through the VIP to mean anything"
kinds() { sed -n 's/^error \(.*\) COUNT [0-9]*$/\1/p' "$1" | sort -u; }
extra=$(comm -23 <(kinds "$E2E_TMP/cluster.out") <(kinds "$E2E_TMP/native.out"))
[ -z "$extra" ] || e2e_die "session errors through the VIP that the native node does not show:
$extra"
other=$([ "$home" = n1 ] && echo 2 || echo 1)
! grep -q "imap($U)<" "$(e2e_node_dir "$other")/log/dovecot.log" ||
	e2e_die "node $other served $U, whose home is $home"
bad=$(grep -hE "Panic|Fatal|killed with signal|Corrupted|inconsistent" "$E2E_TMP"/n[12]/log/dovecot.log)
[ -z "$bad" ] || e2e_die "Dovecot on the cluster logged:
$bad"

for n in 1 2 3; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: one user's many sessions through the VIP, all on its home node, errors as native"
