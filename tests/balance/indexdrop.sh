#!/bin/bash
# tests/balance/indexdrop.sh: IMAP state never goes backwards when mhafs
# drops a Dovecot index.  A CONDSTORE client works on its user's home node
# through the VIP and knows a HIGHESTMODSEQ; then the replication link alone
# is cut (heartbeats pass, so the node table and its stamp stay the same)
# while each node saves a message to the user's INBOX, both under the same
# next UID.  When the link returns, the uidlist merge gives both messages
# new UIDs, and mhafs on the home node removes that mailbox's index, which
# Dovecot rebuilds from low MODSEQs.  The next session must still see a
# HIGHESTMODSEQ above what the client knew, and FETCH (CHANGEDSINCE known)
# must return the two new messages: the index drop mark (state_dir/
# index-drops) makes conf/mhafs-home.lua raise the user's floor again.
# E2E_DROPS_FILE_LUA=/nonexistent hides the mark from the script (the
# floor then follows the node table only) and the test fails.
#
# With "held" (indexdrop-held.sh), an IMAP session of the user with another
# folder selected stays open across the cut and selects INBOX once the
# index is gone: Dovecot rebuilds it there from MODSEQ 1, before any login
# could raise the floor.  The next session must still pass the same checks:
# mhafs-modseq-floor removes an index rebuilt below any floor after the
# mark changed, then raises the floor.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

variant=${1:-}
case "${0##*/}" in indexdrop-held.sh) variant=held ;; esac
case "$variant" in ''|held) ;; *) echo "usage: indexdrop.sh [held]" >&2; exit 2 ;; esac
e2e_init "indexdrop${variant:+-$variant}"
bal_require
command -v nft >/dev/null 2>&1 || e2e_skip "nft not installed (tools/install-deps)"
USERS=""
for i in $(seq -w 1 4); do USERS="$USERS x$i@$E2E_LMTP_DOMAIN"; done
# shellcheck disable=SC2086
bal_setup $USERS
U=${USERS# }; U=${U%% *}
V=$(bal_home "$U"); V=${V#n}
P=$((3 - V))
case "$V" in 1|2) ;; *) e2e_die "no home node for $U" ;; esac
e2e_log "user $U, home node $V"

cs() { e2e_client "$E2E_PY" "$BAL" condstore --vip "$VIP" --user "$U" "$@"; }
field() { printf '%s\n' "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' | tail -1; }
changed_uids() { printf '%s\n' "$1" | awk '$1 == "changed" { print $2 }' | sort -n | tr '\n' ' '; }
stamp_of() { sed -n 's/^stamp //p' "$(e2e_nodes_file "$1")"; }
dconf() { printf '%s/conf/dovecot.conf' "$(e2e_node_dir "$1")"; }
mlog=$E2E_TMP/n$V-state/mhafs.log

out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$VIP" --count 3 --users "$U" --tag drop) ||
	e2e_die "SMTP through the VIP failed: $out"
three() { [ "$(grep -c "lmtp($U)<.*saved mail to INBOX" "$(e2e_node_dir "$V")/log/dovecot.log")" -ge 3 ]; }
e2e_wait 30 three || e2e_die "the 3 messages to $U were not delivered on node $V"

# --- on the home node: the client knows a state
out=$(cs --store 1,2 '\Seen') || e2e_die "CONDSTORE session on node $V failed: $out"
[ "$(field "$out" node)" = "n$V" ] || e2e_die "$U was not served by node $V: $out"
UV=$(field "$out" uidvalidity)
known=$(field "$out" stored)
e2e_log "on node $V: UIDVALIDITY $UV, the client knows HIGHESTMODSEQ $known"
synced() { [ "$(e2e_mhafs_status 1 backlog_ops)" = 0 ] && [ "$(e2e_mhafs_status 2 backlog_ops)" = 0 ]; }
e2e_wait 10 synced || e2e_die "the nodes did not get in sync"
stamp=$(stamp_of "$V")
[ -n "$stamp" ] || e2e_die "node $V's table has no stamp"

# held: a session with another folder selected, open across the cut; at
# the go file it selects INBOX and prints what it sees
held_py='
import imaplib, os, sys, time
vip, user, go, out = sys.argv[1:5]
m = imaplib.IMAP4(vip, 143, timeout=60)
m.login(user, "pw-" + user.split("@")[0])
m._simple_command("ENABLE", "CONDSTORE")
m.create("Held")
if m.select("Held")[0] != "OK":
    sys.exit("SELECT Held failed")
open(out + ".ready", "w").close()
while not os.path.exists(go):
    time.sleep(0.1)
typ, _ = m.select("INBOX")
print("held select %s %s" % (typ, m.untagged_responses.get("HIGHESTMODSEQ")), flush=True)
m.logout()
'
if [ "$variant" = held ]; then
	e2e_client "$E2E_PY" -c "$held_py" "$VIP" "$U" "$E2E_TMP/go" "$E2E_TMP/held" >"$E2E_TMP/held.out" 2>&1 &
	held=$!
	e2e_wait 30 test -e "$E2E_TMP/held.ready" || e2e_die "the held session did not start: $(cat "$E2E_TMP/held.out")"
fi

# --- the replication link is cut; heartbeats and clients still pass (the
# rule goes with the namespace if the test fails)
e2e_in "$(e2e_ns "$V")" nft -f - <<EOF || e2e_die "nft on node $V failed"
table inet mhdrop {
	chain in { type filter hook input priority 0; ip saddr $(e2e_ip "$P") tcp sport 7410 drop; ip saddr $(e2e_ip "$P") tcp dport 7410 drop; }
	chain out { type filter hook output priority 0; ip daddr $(e2e_ip "$P") tcp sport 7410 drop; ip daddr $(e2e_ip "$P") tcp dport 7410 drop; }
}
EOF
# each node saves a message of its own: both take UID 4 (a commit waits for
# the peer for sync_timeout_ms, then goes on alone)
for n in 1 2; do
	printf 'From: <drop@client.mhafs.test>\r\nTo: <%s>\r\nSubject: saved on node %s\r\n\r\nsaved on node %s\r\n' \
		"$U" "$n" "$n" | doveadm -c "$(dconf "$n")" save -u "$U" >"$E2E_TMP/save-$n.out" 2>&1 &
	eval "save$n=\$!"
done
# shellcheck disable=SC2154
wait "$save1" || e2e_die "doveadm save on node 1 failed: $(cat "$E2E_TMP/save-1.out")"
# shellcheck disable=SC2154
wait "$save2" || e2e_die "doveadm save on node 2 failed: $(cat "$E2E_TMP/save-2.out")"
e2e_in "$(e2e_ns "$V")" nft delete table inet mhdrop || e2e_die "cannot remove node $V's rule"

# --- the link returns: the merge renumbers both, node V drops its index
dropped() { grep -q "${U#*@}/${U%@*}/Maildir/dovecot-uidlist: UIDs of this node's messages changed" "$mlog"; }
e2e_wait 60 dropped || e2e_die "node $V did not drop $U's INBOX index after the merge"
e2e_wait 30 synced || e2e_die "the nodes did not get in sync after the link returned"
[ "$(stamp_of "$V")" = "$stamp" ] ||
	e2e_die "node $V's table changed during the cut ($stamp, now $(stamp_of "$V")): only the drop may raise the floor here"
e2e_log "node $V dropped the index under the same table stamp $stamp; mark $(cat "$E2E_TMP/n$V-state/index-drops" 2>/dev/null)"

if [ "$variant" = held ]; then
	touch "$E2E_TMP/go"
	wait "$held" || e2e_die "the held session failed: $(cat "$E2E_TMP/held.out")"
	e2e_log "$(cat "$E2E_TMP/held.out")"
fi

# --- the next session: MODSEQ above what the client knew, the changes shown
out=$(cs --since "$known") || e2e_die "CONDSTORE session after the drop failed: $out"
e2e_log "after the drop: $(printf '%s' "$out" | tr '\n' ' ')"
[ "$(field "$out" node)" = "n$V" ] || e2e_die "$U was not served by node $V: $out"
[ "$(field "$out" uidvalidity)" = "$UV" ] || e2e_die "UIDVALIDITY changed: $out"
hm=$(field "$out" highestmodseq)
[ "$hm" -gt "$known" ] || e2e_die "HIGHESTMODSEQ went backwards after the index drop: $hm after $known"
case " $(changed_uids "$out")" in *" 5 6 "*) ;; *) e2e_die "CHANGEDSINCE $known lacks the renumbered UIDs 5 and 6: $out" ;; esac

# the floor's message is one line (a second one reaches Dovecot's log as
# the auth worker's stderr, an error)
errs=$(grep 'auth-worker.*Error' "$(e2e_node_dir "$V")/log/dovecot.log")
[ -z "$errs" ] || e2e_die "Dovecot's auth worker logged errors: $errs"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: HIGHESTMODSEQ only rising and the changes shown after mhafs dropped an index"
