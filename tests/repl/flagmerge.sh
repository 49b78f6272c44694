#!/bin/bash
# tests/repl/flagmerge.sh: flags of the same messages changed on both nodes
# while they were apart are merged flag by flag (issue 19, flagmerge.h).
# Dovecot changes a message's flags by renaming its file within the
# maildir.  With B down, A renames; with A down, B renames (B's changes are
# the later ones); then both run and meet each other's changes.  Checked
# on both backing stores, name by name:
#   M1  ""  A +S, B +F            -> FS  (both kept)
#   M2  S   A -S, B +F            -> F   (a removal and an addition)
#   M3  S   A +a, B +b            -> Sab (keywords, letters a-z)
#   M4  ""  A +S, B +S then -S    -> ""  (the same flag: the later change)
#   M5  ""  A +F, B +S            -> FS  (M1's mirror image)
#   M6  F   A +R, B nothing       -> FR
#   M7  new A new->cur +S, B +F   -> cur FS
#   M8  S   A -S, B -S            -> ""
# and the catalog matches the store (mhactl check).
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
IN=u/Maildir
declare -A BASE=([M1]="" [M2]=S [M3]=S [M4]="" [M5]="" [M6]=F [M8]=S)
for m in "${!BASE[@]}" M7; do deliver a $IN $m 2048; done
for m in "${!BASE[@]}"; do mv "$T/a/mnt/$IN/new/$m" "$T/a/mnt/$IN/cur/$m:2,${BASE[$m]}"; done
converge 15

# flag NODE MSG FROM TO: Dovecot's flag change through NODE's mount
flag() { mv "$T/$1/mnt/$IN/$3" "$T/$1/mnt/$IN/$4" || fail "node $1: cannot rename $3 to $4"; }

stop_node b
flag a M1 cur/M1:2, cur/M1:2,S
flag a M2 cur/M2:2,S cur/M2:2,
flag a M3 cur/M3:2,S cur/M3:2,Sa
flag a M4 cur/M4:2, cur/M4:2,S
flag a M5 cur/M5:2, cur/M5:2,F
flag a M6 cur/M6:2,F cur/M6:2,FR
flag a M7 new/M7 cur/M7:2,S
flag a M8 cur/M8:2,S cur/M8:2,
stop_node a
sleep 0.01
start_node b
flag b M1 cur/M1:2, cur/M1:2,F
flag b M2 cur/M2:2,S cur/M2:2,FS
flag b M3 cur/M3:2,S cur/M3:2,Sb
flag b M4 cur/M4:2, cur/M4:2,S
flag b M4 cur/M4:2,S cur/M4:2,
flag b M5 cur/M5:2, cur/M5:2,S
flag b M7 new/M7 cur/M7:2,F
flag b M8 cur/M8:2,S cur/M8:2,
start_node a
wait_synced a 20
wait_synced b 20
converge 20

want="cur/M1:2,FS cur/M2:2,F cur/M3:2,Sab cur/M4:2, cur/M5:2,FS cur/M6:2,FR cur/M7:2,FS cur/M8:2, "
for n in a b; do
	got=$(cd "$T/$n/back/$IN" && find cur new -type f | sort | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "node $n holds [$got], not the per-flag merge [$want]"
done
merged=$(( $(status_val a conflicts_flags_merged) + $(status_val b conflicts_flags_merged) ))
[ "$merged" -gt 0 ] || fail "no node counted a flag merge (conflicts_flags_merged)"
note "flag merges counted: $merged"
stop_and_check
grep -h "conflict: flags" "$T/a.log" "$T/b.log" | sed 's/^/# /' | head -20
echo "PASS: flags changed on both nodes while apart are merged flag by flag, keywords too"
