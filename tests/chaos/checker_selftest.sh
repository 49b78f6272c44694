#!/bin/bash
# tests/chaos/checker_selftest.sh: the chaos checker must see what it is for.
# On crafted pairs of Maildir trees (no daemons) and saved IMAP views, a
# clean pair passes, and each planted fault -- a lost acknowledged message,
# a duplicate, an unexpected message, a tree divergence (flags, a missing
# folder), an IMAP flag divergence, a resurrected expunge (also when the
# logs show two deliveries and two copies remain), a moved message
# back in its source folder, a copy in a folder it was never moved to, a
# second copy after a half-done move -- is reported under its own name with
# the right count, and the verdict is FAIL; a move without an answer that
# left a message in both folders is accounted as such and passes, as is a
# second copy that the delivery logs show the MTA delivered twice, and one
# copy left of two deliveries after the client expunged the other, and a
# message left after an expunge whose OK came without an EXPUNGE.
# Outgoing mail (issue 17): an acknowledged message the SMTP sink never
# got is lost_outgoing, one it got twice without two deliveries in the
# Postfix logs (a deferral is none) is duplicated_outgoing, and both fail
# the verdict; two copies the logs account for (an attempt a kill cut
# short, then the survivor's takeover instance delivering the same queue
# ID) are redelivered_outgoing and pass; a Message-ID in the sink that was
# never sent out is unexpected.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
CHECKER=$src/tests/chaos/checker.py
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: no $PY"; exit 77; }
T=$(mktemp -d /tmp/chaos-selftest.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "checker_selftest: FAIL: $*" >&2; exit 1; }

# msg DIR NAME MID: one message file with Message-ID MID.
msg() {
	mkdir -p "$1" && printf 'Return-Path: <s@x.test>\nMessage-ID: <%s>\nSubject: t\n\nbody %s\n' \
		"$3" "$3" >"$1/$2"
}
# fresh: node trees a and b holding m1..m4 for alice (m4 in .Archive,
# m3 seen), m5 for carol; the record acknowledges m1..m5, m6 attempted
# without an answer (absent: fine), m7 expunged from INBOX (absent: fine).
fresh() {
	rm -rf "$T/a" "$T/b" && mkdir -p "$T/a" "$T/b" || fail "mkdir"
	local n
	for n in a b; do
		local md=$T/$n/d1.test/alice/Maildir
		mkdir -p "$md/new" "$md/cur" "$md/tmp" "$md/.Archive/cur" "$md/.Archive/new"
		msg "$md/new" 100.M1.h "m1@chaos"
		msg "$md/cur" 101.M2.h:2, "m2@chaos"
		msg "$md/cur" 102.M3.h:2,S "m3@chaos"
		msg "$md/.Archive/cur" 103.M4.h:2,S "m4@chaos"
		msg "$T/$n/d2.test/carol/Maildir/new" 104.M5.h "m5@chaos"
		mkdir -p "$T/$n/d2.test/carol/Maildir/cur"
	done
	cat >"$T/rec" <<-'EOF'
	{"op":"smtp","mid":"<m1@chaos>","user":"alice@d1.test","ack":true}
	{"op":"smtp","mid":"<m2@chaos>","user":"alice@d1.test","ack":true}
	{"op":"smtp","mid":"<m3@chaos>","user":"alice@d1.test","ack":true}
	{"op":"smtp","mid":"<m4@chaos>","user":"alice@d1.test","ack":true}
	{"op":"smtp","mid":"<m5@chaos>","user":"carol@d2.test","ack":true}
	{"op":"smtp","mid":"<m6@chaos>","user":"carol@d2.test","ack":null}
	{"op":"smtp","mid":"<m7@chaos>","user":"alice@d1.test","ack":true}
	{"op":"imap","cmd":"move","user":"alice@d1.test","folder":"INBOX","mids":["<m4@chaos>"],"ok":true}
	{"op":"imap","cmd":"expunge","user":"alice@d1.test","folder":"INBOX","mids":["<m7@chaos>"],"ok":true}
	{"op":"imap","cmd":"store","user":"alice@d1.test","folder":"INBOX","mids":["<m3@chaos>"],"ok":true}
	EOF
	view '\Seen' >"$T/va.json"; cp "$T/va.json" "$T/vb.json"
}
# view FLAGS_OF_M3: a saved IMAP view of alice's and carol's folders.
view() {
	printf '{"alice@d1.test": {"INBOX": {"1": ["<m1@chaos>", ""], "2": ["<m2@chaos>", ""], "3": ["<m3@chaos>", "%s"]}, "Archive": {"1": ["<m4@chaos>", "\\\\Seen"]}}, "carol@d2.test": {"INBOX": {"1": ["<m5@chaos>", ""]}}}\n' \
		"$(printf '%s' "$1" | sed 's/\\/\\\\/g')"
}
DLOGS=()   # --delivery-log arguments of the next runs
SINK=()    # --sink FILE of the next runs
run() { # run -> $out, $rc
	out=$("$PY" "$CHECKER" --record "$T/rec" --tree "n1=$T/a" --tree "n2=$T/b" \
		--view-json "n1=$T/va.json" --view-json "n2=$T/vb.json" "${DLOGS[@]}" "${SINK[@]}" 2>&1)
	rc=$?
}
# expect NAME KIND=COUNT...: the verdict line must show exactly these
# counts for the five kinds (others zero) and the exit status must match.
expect() {
	local name=$1 k want line
	shift
	run
	line=$(printf '%s\n' "$out" | grep '^checker: attempted=') || fail "$name: no summary line: $out"
	for k in lost duplicated unexpected divergent resurrected; do
		want=0
		local kv
		for kv in "$@"; do [ "${kv%%=*}" = "$k" ] && want=${kv#*=}; done
		case " $line " in *" $k=$want "*) ;; *) fail "$name: want $k=$want, got: $line
$out" ;; esac
	done
	local core=0 kv
	for kv in "$@"; do [ "${kv%%=*}" = resurrected ] || core=1; done
	if [ $# = 0 ]; then
		[ "$rc" = 0 ] || fail "$name: clean pair exit $rc: $out"
	elif [ "$core" = 0 ]; then
		# resurrections alone are reported, not in the verdict; --strict fails them
		[ "$rc" = 0 ] || fail "$name: exit $rc, want 0 (resurrected only): $out"
		printf '%s\n' "$out" | grep -q '^checker: PASS, with [0-9]* resurrected' ||
			fail "$name: resurrections not reported in the verdict line"
		"$PY" "$CHECKER" --strict --record "$T/rec" --tree "n1=$T/a" --tree "n2=$T/b" \
			--view-json "n1=$T/va.json" --view-json "n2=$T/vb.json" >/dev/null 2>&1 &&
			fail "$name: --strict passed a resurrection"
	else
		[ "$rc" = 1 ] || fail "$name: exit $rc, want 1: $out"
		printf '%s\n' "$out" | grep -q '^checker: FAIL$' || fail "$name: no FAIL verdict"
	fi
	echo "ok: $name ($line)"
}

fresh; expect "clean pair"
case "$out" in *"attempted=7 acknowledged=6 indeterminate=1"*) ;; *) fail "wrong totals: $out" ;; esac

fresh; rm "$T/b/d1.test/alice/Maildir/cur/101.M2.h:2,"
expect "lost on one node" lost=1 divergent=1
printf '%s\n' "$out" | grep -q '^lost: n2 alice@d1.test: <m2@chaos>$' || fail "lost line: $out"

# m4 was moved to Archive (a move is no expunge: it must still be somewhere).
fresh; rm "$T"/[ab]/d1.test/alice/Maildir/.Archive/cur/103.M4.h:2,S
rm "$T"/[ab]/d1.test/alice/Maildir/cur/101.M2.h:2,
expect "lost on both nodes (one of them moved)" lost=4

fresh; for n in a b; do msg "$T/$n/d1.test/alice/Maildir/new" 200.M9.h "m1@chaos"; done
expect "duplicate in a folder" duplicated=2

# A second copy the delivery agents' logs show was delivered twice (the
# MTA restarted after the store took it) is redelivered, not duplicated;
# without that evidence, or beyond it, it is a duplicate.
fresh; for n in a b; do msg "$T/$n/d1.test/alice/Maildir/new" 200.M9.h "m1@chaos"; done
for i in 1 2; do
	echo "Dec 04 17:47:4$i lmtp(alice@d1.test)<1700$i><GA3oBsX8Em>: Info: msgid=<m1@chaos>: saved mail to INBOX"
done >"$T/dovecot.log"
DLOGS=(--delivery-log "$T/dovecot.log")
expect "LMTP redelivery (Dovecot's log)"
printf '%s\n' "$out" | grep -q '^redelivered: n1 alice@d1.test: <m1@chaos> x2, 2 delivery attempts logged$' ||
	fail "redelivered line: $out"
case "$out" in *"redelivered by the MTA: 2"*) ;; *) fail "redelivery not counted: $out" ;; esac
for n in a b; do msg "$T/$n/d1.test/alice/Maildir/cur" 201.M9c.h:2, "m1@chaos"; done
expect "a third copy of a message delivered twice" duplicated=2
fresh; for n in a b; do msg "$T/$n/d2.test/carol/Maildir/new" 202.V1.h "m5@chaos"; done
cat >"$T/postfix.log" <<-'EOF'
	Dec 04 17:47:47 n1 postfix/cleanup[17120]: 8BF70A73BB8: message-id=<m5@chaos>
	Dec 04 17:47:47 n1 postfix/virtual[17130]: 8BF70A73BB8: to=<carol@d2.test>, relay=virtual, delay=0.1, dsn=2.0.0, status=sent (delivered to maildir)
	Dec 04 17:47:49 n1 postfix/virtual[17280]: 8BF70A73BB8: to=<carol@d2.test>, relay=virtual, delay=1.6, dsn=2.0.0, status=sent (delivered to maildir)
	EOF
DLOGS=(--delivery-log "$T/postfix.log")
expect "virtual(8) redelivery (Postfix's log)"
# killed before virtual(8) logged the first delivery: a second qmgr taking
# the message up again is the evidence
cat >"$T/postfix.log" <<-'EOF'
	Dec 04 18:32:56 n2 postfix/cleanup[15765]: BCDFFA7AEAA: message-id=<m5@chaos>
	Dec 04 18:32:56 n2 postfix/qmgr[15650]: BCDFFA7AEAA: from=<loadgen@client.test>, size=330, nrcpt=1 (queue active)
	Dec 04 18:33:09 n2 postfix/qmgr[16312]: BCDFFA7AEAA: from=<loadgen@client.test>, size=330, nrcpt=1 (queue active)
	Dec 04 18:33:09 n2 postfix/virtual[16323]: BCDFFA7AEAA: to=<carol@d2.test>, relay=virtual, delay=13, dsn=2.0.0, status=sent (delivered to maildir)
	EOF
expect "virtual(8) redelivery after a Postfix restart (qmgr's log)"
# two copies under one base name are one file under two flag names, not
# two deliveries, whatever the logs say
fresh; for n in a b; do msg "$T/$n/d2.test/carol/Maildir/cur" 104.M5.h:2,S "m5@chaos"; done
expect "one base name twice despite two attempts logged" duplicated=2
DLOGS=(--delivery-log "$T/dovecot.log")
expect "the same without its delivery log" duplicated=2
DLOGS=(--delivery-log "$T/nonexistent.log")
run; [ "$rc" = 2 ] || fail "a missing delivery log accepted: $out"
DLOGS=()

fresh; for n in a b; do msg "$T/$n/d2.test/carol/Maildir/new" 201.MX.h "never@sent"; done
expect "unexpected message" unexpected=2
printf '%s\n' "$out" | grep -q '^unexpected: n1 carol@d2.test/INBOX: <never@sent>' || fail "unexpected line: $out"

fresh; mv "$T/b/d1.test/alice/Maildir/cur/102.M3.h:2,S" "$T/b/d1.test/alice/Maildir/cur/102.M3.h:2,FS"
expect "flag divergence in the tree" divergent=2

fresh; rm -r "$T/a/d1.test/alice/Maildir/.Archive"
expect "folder missing on one node" divergent=1 lost=1

fresh; view '\Flagged \Seen' >"$T/vb.json"
expect "IMAP flag divergence" divergent=1
printf '%s\n' "$out" | grep -q "^divergent: imap alice@d1.test/INBOX uid 3" || fail "imap line: $out"

fresh; for n in a b; do msg "$T/$n/d1.test/alice/Maildir/cur" 300.M7.h:2, "m7@chaos"; done
expect "resurrected expunge" resurrected=2
# The same message, the logs showing two deliveries (the MTA restarted
# after the store took it): the client expunged one copy, the one left is
# the other delivery's (seed 89).  Two copies left after one expunge are
# a resurrection still.
for i in 1 2; do
	echo "Dec 04 17:47:4$i lmtp(alice@d1.test)<1700$i><GA3oBsX8Em>: Info: msgid=<m7@chaos>: saved mail to INBOX"
done >"$T/dovecot.log"
DLOGS=(--delivery-log "$T/dovecot.log")
expect "one copy of two deliveries expunged, the other left"
printf '%s\n' "$out" | grep -q '^redelivered: n1 alice@d1.test: <m7@chaos> x1 left, 2 delivery attempts logged, 1 expunged$' ||
	fail "redelivered-and-expunged line: $out"
for n in a b; do msg "$T/$n/d1.test/alice/Maildir/cur" 301.M7b.h:2, "m7@chaos"; done
expect "both copies of two deliveries left after an expunge" resurrected=2
DLOGS=()
fresh; for n in a b; do msg "$T/$n/d1.test/alice/Maildir/cur" 300.M7.h:2, "m7@chaos"; done
# The resurrected expunge above, answered OK with no untagged EXPUNGE
# (Dovecot's sync had failed under it: seed 109), which the load
# generator records with ok null: the message, \Deleted and still there,
# is no resurrection.
sed -i 's|^{"op":"imap","cmd":"expunge",.*m7@chaos.*|{"op":"imap","cmd":"expunge","user":"alice@d1.test","folder":"INBOX","mids":["<m7@chaos>"],"ok":null,"phase":"sent"}\n{"op":"imap","cmd":"expunge","user":"alice@d1.test","folder":"INBOX","mids":["<m7@chaos>"],"ok":null,"error":"OK without an untagged EXPUNGE: nothing removed"}|' "$T/rec"
for n in a b; do mv "$T/$n/d1.test/alice/Maildir/cur/300.M7.h:2," "$T/$n/d1.test/alice/Maildir/cur/300.M7.h:2,T"; done
expect "an expunge answered OK without an EXPUNGE, the message left"
grep -q '"error":"OK without' "$T/rec" || fail "the unconfirmed expunge was not planted"

# A move cut short (sent, connection died): the message may be in both
# folders.  That is accounted as indeterminate, not a failure ...
half_move() {
	cat >>"$T/rec" <<-'EOF'
	{"op":"imap","cmd":"move","user":"alice@d1.test","folder":"INBOX","mids":["<m2@chaos>"],"ok":null,"phase":"sent"}
	{"op":"imap","cmd":"move","user":"alice@d1.test","folder":"INBOX","mids":["<m2@chaos>"],"ok":null,"phase":"cut"}
	EOF
	for n in a b; do msg "$T/$n/d1.test/alice/Maildir/.Archive/cur" 101.M2.h:2, "m2@chaos"; done
}
fresh; half_move
view '\Seen' | sed 's/"Archive": {/"Archive": {"2": ["<m2@chaos>", ""], /' >"$T/va.json"; cp "$T/va.json" "$T/vb.json"
expect "half-done move left in both folders"
case "$out" in *"moves/expunges without an OK: move=1;"*"left in two folders by a move without an OK: 2"*) ;;
	*) fail "half-done move not accounted: $out" ;; esac
printf '%s\n' "$out" | grep -q '^indeterminate move: n1 alice@d1.test: <m2@chaos> in INBOX Archive$' ||
	fail "half-done move line: $out"
# ... as is a move answered NO (Dovecot's MOVE is a copy, then an
# expunge: a NO can come after the copy) ...
fresh
cat >>"$T/rec" <<-'EOF'
	{"op":"imap","cmd":"move","user":"alice@d1.test","folder":"INBOX","mids":["<m2@chaos>"],"ok":null,"phase":"sent"}
	{"op":"imap","cmd":"move","user":"alice@d1.test","folder":"INBOX","mids":["<m2@chaos>"],"ok":false,"error":"[SERVERBUG]"}
	EOF
for n in a b; do msg "$T/$n/d1.test/alice/Maildir/.Archive/cur" 101.M2.h:2, "m2@chaos"; done
view '\Seen' | sed 's/"Archive": {/"Archive": {"2": ["<m2@chaos>", ""], /' >"$T/va.json"; cp "$T/va.json" "$T/vb.json"
expect "move answered NO left in both folders"
case "$out" in *"moves/expunges without an OK: move=1;"*"left in two folders by a move without an OK: 2"*) ;;
	*) fail "move answered NO not accounted: $out" ;; esac
# ... but a second copy of it in one folder is still a duplicate,
fresh; half_move
for n in a b; do msg "$T/$n/d1.test/alice/Maildir/.Archive/cur" 401.M2b.h:2,S "m2@chaos"; done
expect "second copy after a half-done move" duplicated=2 divergent=0
# a message in two folders without any unanswered move is a duplicate,
fresh; for n in a b; do msg "$T/$n/d1.test/alice/Maildir/.Archive/cur" 402.M1.h:2, "m1@chaos"; done
expect "copy in a folder it was never moved to" duplicated=2 unexpected=2
printf '%s\n' "$out" | grep -q '^unexpected: n1 alice@d1.test/Archive: <m1@chaos> never moved there' ||
	fail "never-moved line: $out"
# and a completed move whose message is back in its source folder is a
# resurrection (m4 was moved from INBOX with an OK).
fresh; for n in a b; do msg "$T/$n/d1.test/alice/Maildir/cur" 403.M4.h:2,S "m4@chaos"; done
expect "moved message back in its source folder" resurrected=2
printf '%s\n' "$out" | grep -q '^resurrected: n2 alice@d1.test/INBOX: <m4@chaos> (moved away; cur/403.M4.h:2,S)$' ||
	fail "moved-away line: $out"

# What the client saw the server get wrong is listed and counted (the
# verdict comes from the stores and views).
fresh
echo '{"op":"imap","cmd":"anomaly","user":"alice@d1.test","folder":"INBOX","mids":["<m1@chaos>"],"uids":["1","9"],"ok":null,"what":"two UIDs with one Message-ID","wall":"12:00:00.000"}' >>"$T/rec"
expect "client-side UID anomaly recorded"
case "$out" in *"UID anomalies the client saw: 1"*) ;; *) fail "anomaly not counted: $out" ;; esac
printf '%s\n' "$out" | grep -q '^client saw: 12:00:00.000 alice@d1.test INBOX: two UIDs with one Message-ID UIDs 1,9$' ||
	fail "anomaly line: $out"

# Outgoing mail, judged on the sink's list.  out_fresh: the clean pair,
# and in the record o1 and o2 acknowledged to a remote address, o3 cut
# off after DATA (indeterminate), o4 refused; the sink took o1, o2, o3.
out_fresh() {
	fresh
	cat >>"$T/rec" <<-'EOF'
	{"op":"smtp","mid":"<o1@chaos>","user":"ext@remote.test","out":true,"ack":true}
	{"op":"smtp","mid":"<o2@chaos>","user":"ext@remote.test","out":true,"ack":true}
	{"op":"smtp","mid":"<o3@chaos>","user":"ext@remote.test","out":true,"ack":null}
	{"op":"smtp","mid":"<o4@chaos>","user":"ext@remote.test","out":true,"ack":false}
	EOF
	printf '<o1@chaos>\n<o2@chaos>\n<o3@chaos>\n' >"$T/received"
	SINK=(--sink "$T/received")
	DLOGS=()
}
# expect_out NAME RC KIND=COUNT...: the outgoing line shows these counts
# (others of lost_outgoing, duplicated_outgoing, redelivered_outgoing 0),
# and the exit status is RC.
expect_out() {
	local name=$1 want_rc=$2 k want kv line
	shift 2
	run
	line=$(printf '%s\n' "$out" | grep '^checker: outgoing ') || fail "$name: no outgoing line: $out"
	for k in lost_outgoing duplicated_outgoing redelivered_outgoing; do
		want=0
		for kv in "$@"; do [ "${kv%%=*}" = "$k" ] && want=${kv#*=}; done
		case " $line " in *" $k=$want "*) ;; *) fail "$name: want $k=$want, got: $line
$out" ;; esac
	done
	[ "$rc" = "$want_rc" ] || fail "$name: exit $rc, want $want_rc: $out"
	if [ "$want_rc" = 1 ]; then
		printf '%s\n' "$out" | grep -q '^checker: FAIL$' || fail "$name: no FAIL verdict: $out"
	fi
	echo "ok: $name ($line)"
}
out_fresh
expect_out "outgoing, all delivered once" 0
case "$out" in *"checker: outgoing attempted=4 acknowledged=2 indeterminate=1 delivered=2 "*) ;;
	*) fail "wrong outgoing totals: $out" ;; esac
case "$out" in *"checker: attempted=7 acknowledged=6 indeterminate=1"*) ;;
	*) fail "outgoing mail counted as local: $out" ;; esac
out_fresh; printf '<o1@chaos>\n<o3@chaos>\n' >"$T/received"
expect_out "outgoing lost" 1 lost_outgoing=1
printf '%s\n' "$out" | grep -q '^lost_outgoing: sink: <o2@chaos> (acknowledged, never arrived)$' ||
	fail "lost_outgoing line: $out"
# the indeterminate o3 may be missing
out_fresh; printf '<o1@chaos>\n<o2@chaos>\n' >"$T/received"
expect_out "indeterminate outgoing message absent" 0
out_fresh; echo '<o1@chaos>' >>"$T/received"
expect_out "outgoing duplicated, no log" 1 duplicated_outgoing=1
printf '%s\n' "$out" | grep -q '^duplicated_outgoing: sink: <o1@chaos> x2, 0 deliveries logged$' ||
	fail "duplicated_outgoing line: $out"
# node 1 took o1 up, was killed before it logged an outcome; node 2's
# takeover instance delivered the same queue ID: two deliveries
cat >"$T/pf-n1.log" <<-'EOF'
	Dec 06 10:00:01 n1 postfix/cleanup[100]: 4Rk0Qd2xYz7Bq1: message-id=<o1@chaos>
	Dec 06 10:00:01 n1 postfix/qmgr[90]: 4Rk0Qd2xYz7Bq1: from=<loadgen@client.test>, size=300, nrcpt=1 (queue active)
	EOF
cat >"$T/pf-takeover.log" <<-'EOF'
	Dec 06 10:00:09 n2 postfix-takeover-n1/qmgr[300]: 4Rk0Qd2xYz7Bq1: from=<loadgen@client.test>, size=300, nrcpt=1 (queue active)
	Dec 06 10:00:09 n2 postfix-takeover-n1/smtp[301]: 4Rk0Qd2xYz7Bq1: to=<ext@remote.test>, relay=192.0.2.19[192.0.2.19]:25, delay=8, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 queued)
	EOF
DLOGS=(--delivery-log "$T/pf-n1.log" --delivery-log "$T/pf-takeover.log")
expect_out "outgoing redelivered by the takeover" 0 redelivered_outgoing=1
printf '%s\n' "$out" | grep -q '^redelivered_outgoing: sink: <o1@chaos> x2, 2 deliveries logged$' ||
	fail "redelivered_outgoing line: $out"
echo '<o1@chaos>' >>"$T/received"
expect_out "a third copy of an outgoing message delivered twice" 1 duplicated_outgoing=1
# an attempt that ended in a deferral delivered nothing
out_fresh; echo '<o1@chaos>' >>"$T/received"
cat >"$T/pf-n1.log" <<-'EOF'
	Dec 06 10:00:01 n1 postfix/cleanup[100]: 4Rk0Qd2xYz7Bq1: message-id=<o1@chaos>
	Dec 06 10:00:01 n1 postfix/qmgr[90]: 4Rk0Qd2xYz7Bq1: from=<loadgen@client.test>, size=300, nrcpt=1 (queue active)
	Dec 06 10:00:01 n1 postfix/smtp[101]: 4Rk0Qd2xYz7Bq1: to=<ext@remote.test>, relay=192.0.2.19[192.0.2.19]:25, delay=0.1, delays=0/0/0/0, dsn=4.3.0, status=deferred (host 192.0.2.19[192.0.2.19] said: 451 4.3.0 try again later (in reply to RCPT TO command))
	Dec 06 10:00:05 n1 postfix/qmgr[90]: 4Rk0Qd2xYz7Bq1: from=<loadgen@client.test>, size=300, nrcpt=1 (queue active)
	Dec 06 10:00:05 n1 postfix/smtp[102]: 4Rk0Qd2xYz7Bq1: to=<ext@remote.test>, relay=192.0.2.19[192.0.2.19]:25, delay=4, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 queued)
	EOF
DLOGS=(--delivery-log "$T/pf-n1.log")
expect_out "outgoing twice, one delivery and one deferral logged" 1 duplicated_outgoing=1
# the sink got a message nobody sent out
out_fresh; echo '<zz@chaos>' >>"$T/received"
expect "never-sent message in the sink" unexpected=1
printf '%s\n' "$out" | grep -q '^unexpected: sink: <zz@chaos> x1 (never sent to a remote address)$' ||
	fail "sink unexpected line: $out"
SINK=() DLOGS=()

# Bad input: a clear error, exit 2.
"$PY" "$CHECKER" --record "$T/rec" --tree "n1=$T/a" >/dev/null 2>&1
[ $? = 2 ] || fail "one tree accepted"
"$PY" "$CHECKER" --record "$T/nonexistent" --tree "n1=$T/a" --tree "n2=$T/b" >/dev/null 2>&1
[ $? = 2 ] || fail "missing record accepted"
echo "checker_selftest: PASS"
