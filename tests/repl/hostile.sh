#!/bin/bash
# tests/repl/hostile.sh: hostile frames from a peer with a valid
# certificate are refused and write nothing: not inside the store, not
# outside it through "..", an absolute path or a symlink.
. "$(dirname "$0")/lib.sh"
repl_preflight
[ -x "$top_builddir/tests/repl/hostile" ] || skip "hostile client not built"
repl_setup 1000
# only A runs; the hostile client plays beta from B's namespace
start_node a
mkdir -p "$T/outside"
before=$(cd "$T/a/back" && find . | sort)
nsenter --net=/run/netns/"$NS_B" "$top_builddir/tests/repl/hostile" 192.0.2.1 7410 \
	"$T/keys/ca.pem" "$T/keys/beta.pem" "$T/keys/beta.key" beta alpha "$T/outside" || fail "hostile client"
[ -z "$(ls -A "$T/outside")" ] || fail "something was written outside the store: $(ls -A "$T/outside")"
[ ! -e /tmp/escape2 ] || fail "/tmp/escape2 was created"
[ ! -e "$T/a/escape1" ] && [ ! -e "$T/escape1" ] || fail "a '..' path was created"
after=$(cd "$T/a/back" && find . -path ./.mhafs-staging -prune -o -print | sort)
extra=$(comm -13 <(echo "$before" | grep -v mhafs-staging) <(echo "$after") | grep -v '^./hostile-link$' || true)
[ -z "$extra" ] || fail "hostile input left files in the store: $extra"
left=$(ls -A "$T/a/back/.mhafs-staging" 2>/dev/null | grep -vx reserve || true) # reserve: the store's space reserve
[ -z "$left" ] || fail "staging files left behind: $left"
ls "$T/a/mnt" > /dev/null || fail "node A stopped serving"
echo "PASS: hostile frames refused, nothing written"
