#!/bin/bash
# tests/balance/modseq.sh: IMAP state never goes backwards when a user moves
# between nodes.  A CONDSTORE client (balclient.py condstore) works on its
# user's home node through the VIP; the home node is killed, and on the
# survivor the client must see the same UIDVALIDITY, a HIGHESTMODSEQ above
# everything it saw, and FETCH (CHANGEDSINCE known) must return the flag
# changes it had not seen; the same again when the node returns and the
# user moves back.  Dovecot's index is node-local: the survivor's MODSEQs
# count from its own floor (mhafs-modseq-floor, raised by the home-node
# script's userdb before the node serves the user).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init modseq
bal_require
USERS=""
for i in $(seq -w 1 8); do USERS="$USERS m$i@$E2E_LMTP_DOMAIN"; done
# shellcheck disable=SC2086
bal_setup $USERS
V=$((3 - H))   # the user's home: not the VIP holder, whose HAProxy stays
U=""
for u in $USERS; do [ "$(bal_home "$u")" = "n$V" ] && { U=$u; break; }; done
[ -n "$U" ] || e2e_die "none of the users has node $V as its home"
e2e_log "user $U, home node $V"

cs() { e2e_client "$E2E_PY" "$BAL" condstore --vip "$VIP" --user "$U" "$@"; }
field() { printf '%s\n' "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' | tail -1; }
changed_uids() { printf '%s\n' "$1" | awk '$1 == "changed" { print $2 }' | sort -n | tr '\n' ' '; }
flags_of() { printf '%s\n' "$1" | awk -v u="$2" '$1 == "changed" && $2 == u { $1 = $2 = ""; print }'; }

out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$VIP" --count 5 --users "$U" --tag modseq) ||
	e2e_die "SMTP through the VIP failed: $out"
five() { [ "$(grep -c "lmtp($U)<.*saved mail to INBOX" "$(e2e_node_dir "$V")/log/dovecot.log")" -ge 5 ]; }
e2e_wait 30 five || e2e_die "the 5 messages to $U were not delivered on node $V"

# --- on the home node: the client knows a state, then changes it does not see
out=$(cs --store 1,2,3 '\Seen') || e2e_die "CONDSTORE session on node $V failed: $out"
[ "$(field "$out" node)" = "n$V" ] || e2e_die "$U was not served by node $V: $out"
UV=$(field "$out" uidvalidity)
known=$(field "$out" stored)
e2e_log "on node $V: UIDVALIDITY $UV, the client knows HIGHESTMODSEQ $known"
out=$(cs --store 4,5 '\Flagged') || e2e_die "flag change on node $V failed: $out"
seen_max=$(field "$out" stored)
[ "$seen_max" -gt "$known" ] || e2e_die "HIGHESTMODSEQ did not rise on node $V: $out"
synced() { [ "$(e2e_mhafs_status "$V" backlog_ops)" = 0 ]; }
e2e_wait 10 synced || e2e_die "node $V's changes did not reach node $H"

# --- the home node dies: the survivor serves the user
e2e_node_crash "$V" "$E2E_TMP/n$V-mnt"
out_of_service() { case "$(e2e_haproxy_status "$H" imap "n$V")" in DOWN*) return 0 ;; esac; return 1; }
e2e_wait 10 out_of_service || e2e_die "HAProxy still has node $V"
down_in_table() { grep -q "^node $V .* down$" "$(e2e_nodes_file "$H")"; }
e2e_wait 10 down_in_table || e2e_die "node $H's table does not mark node $V down"
out=$(cs --since "$known") || e2e_die "CONDSTORE session on the survivor failed: $out"
e2e_log "on node $H: $(printf '%s' "$out" | tr '\n' ' ')"
[ "$(field "$out" node)" = "n$H" ] || e2e_die "$U was not served by the survivor: $out"
[ "$(field "$out" uidvalidity)" = "$UV" ] || e2e_die "UIDVALIDITY changed on the survivor: $out"
hm=$(field "$out" highestmodseq)
[ "$hm" -gt "$seen_max" ] || e2e_die "HIGHESTMODSEQ went backwards on the survivor: $hm after $seen_max"
case " $(changed_uids "$out")" in *" 4 5 "*) ;; *) e2e_die "CHANGEDSINCE $known on the survivor lacks UIDs 4 and 5: $out" ;; esac
case "$(flags_of "$out" 4)" in *'\Flagged'*) ;; *) e2e_die "UID 4 is not \\Flagged on the survivor: $out" ;; esac

# --- on the survivor: the client knows a state, a change it does not see
out=$(cs --store 1 '\Answered') || e2e_die "flag change on node $H failed: $out"
known2=$(field "$out" highestmodseq)
seen_max2=$(field "$out" stored)
[ "$seen_max2" -gt "$known2" ] || e2e_die "HIGHESTMODSEQ did not rise on node $H: $out"
synced_h() { [ "$(e2e_mhafs_status "$H" peer_synced)" = yes ]; }

# --- the node returns and the user moves back
bal_node_up "$V"
back() { e2e_haproxy_up "$H" imap "n$V" && grep -q "^node $V .* up$" "$(e2e_nodes_file "$H")"; }
e2e_wait 60 back || e2e_die "node $V did not come back into service"
e2e_wait 20 synced_h || e2e_die "node $H did not catch node $V up"
out=$(cs --since "$known2") || e2e_die "CONDSTORE session on the returned node failed: $out"
e2e_log "back on node $V: $(printf '%s' "$out" | tr '\n' ' ')"
[ "$(field "$out" node)" = "n$V" ] || e2e_die "$U did not move back to node $V: $out"
[ "$(field "$out" uidvalidity)" = "$UV" ] || e2e_die "UIDVALIDITY changed on the return: $out"
hm=$(field "$out" highestmodseq)
[ "$hm" -gt "$seen_max2" ] || e2e_die "HIGHESTMODSEQ went backwards on the return: $hm after $seen_max2"
case " $(changed_uids "$out")" in *" 1 "*) ;; *) e2e_die "CHANGEDSINCE $known2 on the returned node lacks UID 1: $out" ;; esac
case "$(flags_of "$out" 1)" in *'\Answered'*) ;; *) e2e_die "UID 1 is not \\Answered on the returned node: $out" ;; esac

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: UIDVALIDITY kept and MODSEQ only rising across a failover and a return"
