#!/bin/sh
# test_keygen.sh: mhafs-keygen end to end, its output checked independently
# with the openssl command: CA and node certificates (chain, names, key
# usage, lifetimes, key type), 0600 keys, refusal to overwrite, usage errors
# and exit codes, and the cluster key.
set -u
kg="${top_builddir:-.}/tools/mhafs-keygen"
command -v openssl >/dev/null 2>&1 || { echo "openssl command not installed: skip"; exit 77; }
[ -x "$kg" ] || { echo "no $kg"; exit 1; }
tmp=$(mktemp -d /tmp/mhafs-keygen-test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }
expect_rc() { # expected-rc description command...
	want=$1; what=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, expected $want: $(cat "$tmp/err")"; fi
}
mode() { stat -c %a "$1"; }

expect_rc 2 "no arguments" "$kg"
expect_rc 2 "unknown command" "$kg" frobnicate "$tmp/x"
expect_rc 2 "node without a name" "$kg" node "$tmp/d"
expect_rc 0 "--help" "$kg" --help

d="$tmp/d"
expect_rc 1 "node before the CA exists" "$kg" node "$d" a
[ ! -e "$d/a.key" ] && [ ! -e "$d/a.pem" ] && ok "nothing left behind" || bad "files left behind"
grep -q "make the CA first" "$tmp/err" && ok "says to make the CA" || bad "message: $(cat "$tmp/err")"

expect_rc 0 "make the CA" "$kg" ca "$d"
[ "$(mode "$d/ca.key")" = 600 ] && ok "ca.key is 0600" || bad "ca.key mode $(mode "$d/ca.key")"
openssl x509 -in "$d/ca.pem" -noout -ext basicConstraints,keyUsage >"$tmp/ext" 2>&1
grep -q "CA:TRUE" "$tmp/ext" && grep -q "Certificate Sign" "$tmp/ext" && ok "CA extensions" || bad "CA extensions: $(cat "$tmp/ext")"
openssl x509 -in "$d/ca.pem" -noout -checkend $((3640 * 86400)) >/dev/null && ok "CA valid for ~10 years" || bad "CA lifetime too short"
openssl x509 -in "$d/ca.pem" -noout -checkend $((3660 * 86400)) >/dev/null && bad "CA lifetime too long" || ok "CA not valid past 10 years"
openssl pkey -in "$d/ca.key" -noout -text 2>/dev/null | grep -q "prime256v1" && ok "CA key is EC P-256" || bad "CA key type"

sum_before=$(cat "$d/ca.pem" "$d/ca.key" | md5sum)
expect_rc 1 "second CA in the same place" "$kg" ca "$d"
grep -q "already exists" "$tmp/err" && ok "says it exists" || bad "message: $(cat "$tmp/err")"
[ "$(cat "$d/ca.pem" "$d/ca.key" | md5sum)" = "$sum_before" ] && ok "CA untouched" || bad "CA changed"

expect_rc 0 "node a" "$kg" node "$d" a
expect_rc 0 "node mail-2.example_x" "$kg" node "$d" mail-2.example_x
[ "$(mode "$d/a.key")" = 600 ] && ok "a.key is 0600" || bad "a.key mode $(mode "$d/a.key")"
openssl verify -CAfile "$d/ca.pem" "$d/a.pem" >/dev/null 2>&1 && ok "a.pem verifies under ca.pem" || bad "a.pem does not verify"
openssl verify -CAfile "$d/ca.pem" -purpose sslclient "$d/a.pem" >/dev/null 2>&1 && ok "usable as TLS client" || bad "not a client cert"
openssl verify -CAfile "$d/ca.pem" -purpose sslserver "$d/a.pem" >/dev/null 2>&1 && ok "usable as TLS server" || bad "not a server cert"
openssl x509 -in "$d/mail-2.example_x.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:mail-2.example_x" && ok "subjectAltName DNS" || bad "no SAN"
openssl x509 -in "$d/a.pem" -noout -subject | grep -q "CN *= *a$" && ok "CN=a" || bad "subject: $(openssl x509 -in "$d/a.pem" -noout -subject)"
openssl x509 -in "$d/a.pem" -noout -ext basicConstraints | grep -q "CA:FALSE" && ok "node is not a CA" || bad "node basicConstraints"
openssl x509 -in "$d/a.pem" -noout -checkend $((725 * 86400)) >/dev/null && ok "node valid ~2 years" || bad "node lifetime short"
openssl x509 -in "$d/a.pem" -noout -checkend $((735 * 86400)) >/dev/null && bad "node lifetime long" || ok "node not valid past 2 years"
[ "$(openssl x509 -in "$d/a.pem" -noout -pubkey)" = "$(openssl pkey -in "$d/a.key" -pubout)" ] && ok "a.key matches a.pem" || bad "a.key does not match"

sum_before=$(cat "$d/a.pem" "$d/a.key" | md5sum)
expect_rc 1 "node a again" "$kg" node "$d" a
[ "$(cat "$d/a.pem" "$d/a.key" | md5sum)" = "$sum_before" ] && ok "a untouched" || bad "a changed"
rm "$d/a.pem"
expect_rc 1 "node a with only a.key left" "$kg" node "$d" a
[ ! -e "$d/a.pem" ] && ok "no a.pem made" || bad "a.pem made beside the old key"

expect_rc 2 "node named ca" "$kg" node "$d" ca
expect_rc 2 "node name with a slash" "$kg" node "$d" ../evil
expect_rc 2 "node name too long" "$kg" node "$d" 0123456789012345678901234567890123456789012345678901234567890123
[ ! -e "$tmp/evil.key" ] && ok "nothing written outside DIR" || bad "wrote $tmp/evil.key"

# a second cluster: its certificates do not verify under the first CA
expect_rc 0 "second CA" "$kg" ca "$tmp/d2"
expect_rc 0 "node b of cluster 2" "$kg" node "$tmp/d2" b
openssl verify -CAfile "$d/ca.pem" "$tmp/d2/b.pem" >/dev/null 2>&1 && bad "cluster 2 cert verifies under CA 1" || ok "CAs are distinct"
# a CA key that does not belong to the CA certificate
cp "$tmp/d2/ca.key" "$tmp/d3.key"
mkdir "$tmp/d3" && cp "$d/ca.pem" "$tmp/d3/ca.pem" && cp "$tmp/d3.key" "$tmp/d3/ca.key"
expect_rc 1 "mismatched CA key" "$kg" node "$tmp/d3" x
grep -q "does not match" "$tmp/err" && ok "says the CA key does not match" || bad "message: $(cat "$tmp/err")"

k="$tmp/cluster.key"
expect_rc 0 "cluster key" "$kg" cluster-key "$k"
[ "$(mode "$k")" = 600 ] && ok "cluster key is 0600" || bad "cluster key mode $(mode "$k")"
grep -Eqx '[0-9a-f]{64}' "$k" && [ "$(wc -l <"$k")" -eq 1 ] && ok "64 hex digits" || bad "content: $(cat "$k")"
first=$(cat "$k")
expect_rc 1 "cluster key again" "$kg" cluster-key "$k"
[ "$(cat "$k")" = "$first" ] && ok "cluster key untouched" || bad "cluster key changed"
expect_rc 0 "another cluster key" "$kg" cluster-key "$tmp/k2"
[ "$(cat "$tmp/k2")" != "$first" ] && ok "keys differ" || bad "same key twice"
expect_rc 1 "cluster key in a missing directory" "$kg" cluster-key "$tmp/nope/k"

[ "$fails" -eq 0 ] && { echo "test_keygen: all passed"; exit 0; }
echo "test_keygen: $fails failed"
exit 1
