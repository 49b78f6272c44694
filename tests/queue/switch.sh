#!/bin/bash
# tests/queue/switch.sh: the queue_on_store switch of mhafs-queue prestart
# and hook, which Postfix's unit and heartbeatd run on every installation
# (no mount, no daemons: a Postfix configuration directory and a plain
# directory for the store; root, for Postfix's owners).  Without
# mhafs.conf, with queue_on_store unset or no, and for another Postfix
# instance, prestart leaves the local queue as it is and hook starts
# nothing; with yes, prestart puts the default instance's queue into the
# store's area (a file already queued moves along) and ready, with no peer
# configured, quarantines a torn one.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
Q=$top_srcdir/tools/mhafs-queue
say() { echo "switch: $*"; }
fails=0
fail() { say "FAIL: $*"; fails=$((fails + 1)); }
[ "$(id -u)" = 0 ] || { say "SKIP: needs root"; exit 77; }
for p in postconf postcat; do
	command -v "$p" >/dev/null 2>&1 || { say "SKIP: $p not installed"; exit 77; }
done
getent passwd postfix >/dev/null || { say "SKIP: no postfix user"; exit 77; }

T=$(mktemp -d /tmp/mhafs-qswitch.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP
mkdir -p "$T/pf" "$T/spool/deferred/A" "$T/store" "$T/local" || exit 1
printf 'queue_directory = %s\nenable_long_queue_ids = yes\ncompatibility_level = 3.6\n' "$T/spool" >"$T/pf/main.cf"
: >"$T/pf/master.cf"
# one good queue file and one torn (as a crash would leave them) in the
# local queue: a maildrop file made by Postfix's own sendmail/postdrop
mkdir -p "$T/spool/maildrop" && chown postfix:postdrop "$T/spool/maildrop" && chmod 1730 "$T/spool/maildrop"
printf 'Subject: switch\n\nhello\n' | sendmail -C "$T/pf" -f a@switch.test b@switch.test 2>/dev/null
good=$(find "$T/spool/maildrop" -type f -printf '%f\n' | head -1)
[ -n "$good" ] || { say "SKIP: sendmail did not queue a file in $T/spool/maildrop"; exit 77; }
head -c 40 "$T/spool/maildrop/$good" >"$T/spool/deferred/A/4TornQueueIdz" && chmod 0700 "$T/spool/deferred/A/4TornQueueIdz"

conf() { # conf QUEUE_ON_STORE_LINE: mhafs.conf of node n1, no peer
	printf 'node_name = n1\nmount_point = %s\n%s\n' "$T/store" "$1" >"$T/mhafs.conf"
}
run() { "$Q" -c "$T/mhafs.conf" -p "$T/pf" -l "$T/local" "$@" >"$T/out" 2>&1; }
untouched() { # LABEL: the local queue is as it was, no area, no takeover
	[ -d "$T/spool/deferred" ] && [ ! -L "$T/spool/deferred" ] && [ -f "$T/spool/deferred/A/4TornQueueIdz" ] ||
		fail "$1: the local queue changed: $(ls -l "$T/spool" | tr '\n' ' ')"
	[ ! -e "$T/store/.mhafs-queue" ] || fail "$1: an area was made on the store"
	[ -z "$(ls -A "$T/local")" ] || fail "$1: the hook made $(ls -A "$T/local")"
}

rm -f "$T/mhafs.conf"
run prestart && [ ! -s "$T/out" ] || fail "without mhafs.conf, prestart: $(cat "$T/out")"
untouched "no mhafs.conf"
for line in "# queue_on_store unset" "queue_on_store = no"; do
	conf "$line"
	run prestart && [ ! -s "$T/out" ] || fail "$line: prestart: $(cat "$T/out")"
	run hook solo primary || fail "$line: hook: $(cat "$T/out")"
	sleep 1
	untouched "$line"
done
say "off (no mhafs.conf, unset, no): prestart and hook changed nothing"
conf "queue_on_store = yes"
run -i out prestart || fail "another instance: $(cat "$T/out")"
untouched "queue_on_store = yes, instance out"

run prestart || fail "queue_on_store = yes: prestart failed: $(cat "$T/out")"
say "on: $(tr '\n' ' ' <"$T/out")"
A=$T/store/.mhafs-queue/n1
[ "$(readlink "$T/spool/deferred")" = "$A/deferred" ] || fail "deferred is not linked into the area: $(ls -l "$T/spool" | tr '\n' ' ')"
[ -f "$A/maildrop/$good" ] || fail "the queued file $good did not move into the area"
[ -f "$A/quarantine/deferred.4TornQueueIdz" ] && [ ! -e "$A/deferred/A/4TornQueueIdz" ] ||
	fail "the torn file is not in the quarantine: $(find "$A" -type f | tr '\n' ' ')"
grep -q "quarantined n1's queue file deferred/4TornQueueIdz .*postcat" "$T/out" || fail "no log line for the torn file"
grep -q "(1 messages, 1 quarantined)" "$T/out" || fail "ready's summary: $(tail -1 "$T/out")"

[ "$fails" = 0 ] || { say "$fails check(s) failed"; exit 1; }
say "PASS"
