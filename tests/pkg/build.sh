#!/bin/sh
# tests/pkg/build.sh: the Debian package, built the way an admin builds it
# from a clean checkout, and checked:
#   - HEAD exported with `git archive` into a temporary directory (never the
#     working tree: nothing uncommitted and nothing built there leaks in),
#     `dpkg-buildpackage -us -uc -b` there;
#   - its contents: every program the Makefile fragments install into sbin,
#     each with its manual page, every manual page of man/Makefile.inc, the
#     units and drop-ins of systemd/, the unmount helper, tmpfiles.d and
#     sysusers.d entries, the docs, and every file of conf/ as an example;
#   - its postinst: sysusers and tmpfiles run, and an upgrade reloads
#     systemd, then restarts both services in one systemctl call (one
#     transaction, which orders them);
#   - lintian: no error (E:) tag; every tag is printed;
#   - systemd-analyze verify, without any output, on the units as packaged
#     (their ExecStart paths pointed at the unpacked package, since nothing
#     is installed on this machine) together with dovecot.service and
#     postfix@-.service carrying the package's drop-ins.  It needs no
#     systemd as PID 1.
# Skips (77) without git, the Debian tools or the build dependencies, or
# outside a git checkout.  Takes 40-90 s (the build).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
say() { echo "pkg: $*"; }
skip() { say "SKIP: $*"; exit 77; }
fails=0
fail() { say "FAIL: $*"; fails=$((fails + 1)); }

. "$top_srcdir/tests/pkg/lib.sh"
t=$(pkg_tools_missing) && skip "$t not installed (tools/install-deps)"
for t in lintian systemd-analyze; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not installed (tools/install-deps)"
done
git -C "$top_srcdir" rev-parse --verify -q HEAD >/dev/null 2>&1 || skip "$top_srcdir is not a git checkout"

T=$(mktemp -d /tmp/mhafs-pkg.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
mkdir "$T/src" "$T/root" "$T/units"
pkg_export "$T/src" || { say "git archive failed, or HEAD has no debian/control"; exit 1; }
(cd "$T/src" && dpkg-checkbuilddeps) >"$T/deps.log" 2>&1 || skip "build dependencies missing: $(cat "$T/deps.log")"

# ---- build ----
start=$(date +%s)
if ! deb=$(pkg_build "$T/src" "$T/build.log"); then
	tail -n 40 "$T/build.log"
	say "FAIL: dpkg-buildpackage failed, or wrote no mhafs_*.deb"
	exit 1
fi
say "built $(basename "$deb") in $(($(date +%s) - start)) s"

# ---- contents ----
dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); print p }' >"$T/contents"
has() { grep -qx "$1" "$T/contents" || fail "package lacks $1"; }
src=$T/src
progs=$(sed -n 's/^\(sbin_PROGRAMS\|dist_sbin_SCRIPTS\) *+= *//p' "$src"/*/Makefile.inc | tr ' \t' '\n\n' |
	sed -n 's|.*/||p')
[ "$(echo "$progs" | wc -w)" -ge 7 ] || fail "found only these programs in the Makefile fragments: $progs"
for p in $progs; do
	has "/usr/sbin/$p"
	has "/usr/share/man/man8/$p.8.gz"
done
for m in $(sed -n 's/^dist_man_MANS *+= *//p' "$src/man/Makefile.inc"); do
	b=${m##*/}
	has "/usr/share/man/man${b##*.}/$b.gz"
done
for u in "$src"/systemd/*.service; do
	has "/lib/systemd/system/${u##*/}"
done
for d in "$src"/systemd/*.service.d; do
	for f in "$d"/*; do
		has "/lib/systemd/system/${d##*/}/${f##*/}"
	done
done
for f in /usr/libexec/mhafs/mhafs-unmount /usr/libexec/mhafs/mhafs-role-hook /usr/lib/tmpfiles.d/mhafs.conf /usr/lib/sysusers.d/mhafs.conf \
	/usr/share/doc/mhafs/copyright /usr/share/doc/mhafs/README.Debian /usr/share/doc/mhafs/SETUP.md.gz \
	/usr/share/doc/mhafs/examples/mhafs.conf.sample /etc/mhafs/; do
	has "$f"
done
# every sample and snippet of conf/ as an example
for f in "$src"/conf/*; do
	[ "${f##*/}" = Makefile.inc ] || has "/usr/share/doc/mhafs/examples/${f##*/}"
done
# the admin's configuration is never the package's
grep -q '^/etc/mhafs/.' "$T/contents" && fail "the package ships files in /etc/mhafs"

# ---- maintainer scripts ----
dpkg-deb -e "$deb" "$T/control"
pi=$T/control/postinst
grep -q 'systemd-sysusers.*mhafs' "$pi" || fail "postinst does not create the mhafs user"
grep -q 'systemd-tmpfiles.*mhafs' "$pi" || fail "postinst does not create /var/lib/mhafs"
# an upgrade: nothing stopped before, both restarted (if running) after
grep -Eq "deb-systemd-invoke (try-)?restart '?heartbeatd.service'? '?mhafs.service'?" "$pi" ||
	fail "postinst does not restart heartbeatd and mhafs in one call: $(grep deb-systemd-invoke "$pi")"
# ... after systemd has read the new units (tests/pkg/chroot-install.sh
# runs the maintainer scripts)
awk '/systemctl --system daemon-reload/ { r = NR } /deb-systemd-invoke try-restart/ { t = NR }
	END { exit !(r && t && r < t) }' "$pi" || fail "postinst does not reload systemd before the restart"
! grep -q 'deb-systemd-invoke stop' "$T/control/preinst" 2>/dev/null ||
	fail "preinst stops the services before an upgrade"
grep -Eq "deb-systemd-invoke stop '?heartbeatd.service'? '?mhafs.service'?" "$T/control/prerm" 2>/dev/null ||
	fail "prerm does not stop the services at removal"

# ---- lintian ----
lintian --tag-display-limit 0 "$deb" >"$T/lintian.log" 2>&1
sed -n 's/^\([EWIPX]\): /  lintian \1: /p' "$T/lintian.log"
if grep -q '^E: ' "$T/lintian.log"; then
	fail "lintian reports errors"
fi
say "lintian: $(grep -c '^E: ' "$T/lintian.log") errors, $(grep -c '^W: ' "$T/lintian.log") warnings"

# ---- systemd-analyze verify ----
dpkg-deb -x "$deb" "$T/root"
U=$T/units
cp -r "$T/root/lib/systemd/system/." "$U/"
sed -i "s|/usr/sbin/|$T/root/usr/sbin/|g; s|/usr/libexec/mhafs/|$T/root/usr/libexec/mhafs/|g" "$U"/*.service \
	"$U"/*.service.d/*.conf
# Postfix's drop-in runs mhafs-queue prestart (issue 17), which the
# package ships; its role hook runs mhafs-queue too
grep -q "^ExecStartPre=$T/root/usr/sbin/mhafs-queue -i %i prestart\$" "$U/postfix@.service.d/mhafs.conf" ||
	fail "postfix@.service's drop-in does not run mhafs-queue prestart: $(grep ExecStartPre "$U/postfix@.service.d/mhafs.conf")"
[ -x "$T/root/usr/libexec/mhafs/mhafs-role-hook" ] && grep -q '^exec /usr/sbin/mhafs-queue hook "\$@"$' "$T/root/usr/libexec/mhafs/mhafs-role-hook" ||
	fail "/usr/libexec/mhafs/mhafs-role-hook does not run mhafs-queue hook"
# the mail servers' own units, where installed, else stand-ins, under the
# package's drop-ins
for s in dovecot.service postfix.service postfix@.service haproxy.service; do
	if [ -f "/lib/systemd/system/$s" ]; then
		cp "/lib/systemd/system/$s" "$U/"
	else
		printf '[Unit]\nDescription=stand-in for %s\n[Service]\nExecStart=/bin/true\n' "$s" >"$U/$s"
	fi
done
MANPATH=$T/root/usr/share/man:$(manpath 2>/dev/null) \
	systemd-analyze verify "$U/mhafs.service" "$U/heartbeatd.service" "$U/dovecot.service" \
	"$U/postfix@-.service" >"$T/verify.log" 2>&1
rc=$?
if [ "$rc" != 0 ] || [ -s "$T/verify.log" ]; then
	sed 's/^/  verify: /' "$T/verify.log"
	fail "systemd-analyze verify (status $rc)"
fi
# the drop-ins are read with dovecot's and postfix's units: a bad key in
# them is reported (so the verify above saw them)
echo 'NoSuchKey=1' >>"$U/dovecot.service.d/mhafs.conf"
systemd-analyze verify "$U/dovecot.service" 2>&1 | grep -q 'dovecot.service.d/mhafs.conf.*NoSuchKey' ||
	fail "systemd-analyze verify did not read the dovecot drop-in"

[ "$fails" = 0 ] || { say "$fails check(s) failed"; exit 1; }
say "PASS: package built, contents, postinst, lintian and systemd-analyze verify"
exit 0
