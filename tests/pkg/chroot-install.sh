#!/bin/sh
# tests/pkg/chroot-install.sh (opt-in, not in make check; root, network to
# the Debian mirror this machine's apt uses, 3-6 min): the Debian package
# installed, upgraded, removed and purged on a fresh Debian 12, the way an
# admin does it, in a chroot:
#   - the package built from a `git archive` of HEAD (tests/pkg/lib.sh);
#   - Debian 12 (bookworm, variant minbase) debootstrapped once into
#     $MHAFS_CHROOT_CACHE (default /var/tmp/mhafs-chroot/base, complete when
#     its marker file exists) and copied afresh for each run;
#   - /proc, /sys and /dev mounted into the copy, and unmounted by the EXIT
#     trap (only mounts under the copy; the copy is deleted only once none
#     is left);
#   - no systemd runs in a chroot: the maintainer scripts are made to
#     believe it does (/run/systemd/system exists) and meet a stand-in
#     systemctl (dpkg-divert) that logs each call with the script that made
#     it, and a policy-rc.d that logs each request and, as in any chroot or
#     image build, denies every start during the installation;
#   - `apt-get install --no-install-recommends ./mhafs_*.deb` (its Depends
#     alone, from Debian's archive), then its Recommends (Dovecot, Postfix);
#   - checks: every program in /usr/sbin has its libraries (ldd) and prints
#     its usage, its manual page and mhafs.conf(5) are there, the mhafs
#     system user, /var/lib/mhafs (root, 0700), /etc/mhafs (empty), the
#     units, their enablement and the Dovecot and Postfix drop-ins, a
#     daemon-reload, no conffile, no start asked for and no process started,
#     systemd-analyze verify against Debian 12's dovecot.service and
#     postfix@.service;
#   - an upgrade to a higher version (a changelog entry added to the export,
#     rebuilt) with an admin's /etc/mhafs and unit drop-in in place, starts
#     allowed: the admin's files unchanged, nothing stopped before the
#     unpack, one try-restart of heartbeatd and mhafs after a daemon-reload;
#   - `apt-get remove` (stops both in one call, programs gone, admin's
#     files and state kept) and `apt-get purge` (dpkg forgets the package,
#     units and their enablement gone; the admin's /etc/mhafs, the state in
#     /var/lib/mhafs and the user stay, as README.Debian says).
# What it cannot show: systemd's own ordering of the restart transaction
# (no systemd runs here; see systemd-analyze in tests/pkg/build.sh).
#
# Options: --keep leaves the run's chroot (its path is printed) for a look;
# --refresh debootstraps the cached base anew.  Environment:
# MHAFS_CHROOT_CACHE (directory of the base and the runs), MHAFS_MIRROR and
# MHAFS_SECURITY_MIRROR (default: the Debian mirrors in this machine's apt
# sources).  Exit 0 pass, 77 skip, 1 fail.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/pkg/lib.sh"
say() { echo "chroot: $*"; }
skip() { say "SKIP: $*"; exit 77; }
fails=0
ok() { say "ok: $*"; }
fail() { say "FAIL: $*"; fails=$((fails + 1)); }
check() { # check WHAT COMMAND...: ok or FAIL by the command's status
	w=$1
	shift
	if "$@"; then ok "$w"; else fail "$w"; fi
}

keep=0
refresh=0
for a in "$@"; do
	case $a in
	--keep) keep=1 ;;
	--refresh) refresh=1 ;;
	*) echo "usage: $0 [--keep] [--refresh]" >&2; exit 2 ;;
	esac
done

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mounts)"
t=$(pkg_tools_missing) && skip "$t not installed (tools/install-deps)"
for t in debootstrap findmnt chroot; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not installed (apt-get install debootstrap)"
done
git -C "$top_srcdir" rev-parse --verify -q HEAD >/dev/null 2>&1 || skip "$top_srcdir is not a git checkout"

# The mirrors this machine's apt already uses (deb822 or one-line sources),
# so that no other host is contacted.
apt_uris() {
	{
		sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list \
			/etc/apt/sources.list.d/*.list 2>/dev/null
	} | tr ' ' '\n' | sed 's|/*$||'
}
MIRROR=${MHAFS_MIRROR:-$(apt_uris | grep -m1 '/debian$')}
SECURITY=${MHAFS_SECURITY_MIRROR:-$(apt_uris | grep -m1 '/debian-security$')}
[ -n "$MIRROR" ] || skip "no Debian mirror in this machine's apt sources (set MHAFS_MIRROR)"

CACHE=${MHAFS_CHROOT_CACHE:-/var/tmp/mhafs-chroot}
BASE=$CACHE/base
MARK=$BASE/.mhafs-base-complete
T=$(mktemp -d /tmp/mhafs-chroot.XXXXXX) || exit 1
R=
mkdir -p "$CACHE" || exit 1

# unmount_under DIR: every mount at or below DIR, deepest first.  Status 0
# only when none is left.
unmount_under() {
	d=$(cd "$1" 2>/dev/null && pwd -P) || return 0
	findmnt -rn -o TARGET | awk -v d="$d" '$0 == d || index($0, d "/") == 1' | sort -r |
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m"
		done
	! findmnt -rn -o TARGET | awk -v d="$d" '$0 == d || index($0, d "/") == 1 { f = 1 } END { exit !f }'
}
cleanup() {
	rc=$?
	if [ -n "$R" ]; then
		if ! unmount_under "$R"; then
			say "mounts left under $R, not deleted"
		elif [ "$keep" = 1 ]; then
			say "kept $R"
		else
			rm -rf --one-file-system "$R"
		fi
	fi
	unmount_under "$BASE.new" && rm -rf --one-file-system "$BASE.new"
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

start_all=$(date +%s)
elapsed() { echo "$(($(date +%s) - $1)) s"; }

# ---- the package, twice: HEAD's version and a higher one ----
mkdir "$T/v1" "$T/v2/" "$T/v2/src" "$T/v1/src"
pkg_export "$T/v1/src" || { say "git archive failed, or HEAD has no debian/control"; exit 1; }
(cd "$T/v1/src" && dpkg-checkbuilddeps) >"$T/deps.log" 2>&1 || skip "build dependencies missing: $(cat "$T/deps.log")"
cp -a "$T/v1/src/." "$T/v2/src/"
v1=$(cd "$T/v1/src" && dpkg-parsechangelog -S Version)
v2=$v1+chroot1
{
	printf 'mhafs (%s) unstable; urgency=medium\n\n' "$v2"
	printf '  * tests/pkg/chroot-install.sh: the same tree, a higher version.\n\n'
	printf ' -- mhafs developers <mhafs-dev@example.invalid>  %s\n\n' "$(date -R)"
	cat "$T/v1/src/debian/changelog"
} >"$T/v2/src/debian/changelog"
dpkg --compare-versions "$v2" gt "$v1" || { say "$v2 is not above $v1"; exit 1; }

s=$(date +%s)
pkg_build "$T/v1/src" "$T/v1/build.log" >"$T/v1/deb" &
b1=$!
# ---- the base system, while the first package builds ----
if [ "$refresh" = 1 ] || [ ! -f "$MARK" ]; then
	s2=$(date +%s)
	unmount_under "$BASE.new" || { say "mounts left under $BASE.new"; exit 1; }
	rm -rf --one-file-system "$BASE.new" "$BASE"
	say "debootstrap bookworm (minbase) from $MIRROR"
	if ! debootstrap --variant=minbase bookworm "$BASE.new" "$MIRROR" >"$T/debootstrap.log" 2>&1; then
		tail -n 20 "$T/debootstrap.log"
		wait "$b1"
		say "FAIL: debootstrap"
		exit 1
	fi
	unmount_under "$BASE.new" || { say "mounts left under $BASE.new"; exit 1; }
	mv "$BASE.new" "$BASE" && date -R >"$MARK"
	say "base system in $(elapsed "$s2") (cached in $BASE)"
else
	say "base system from the cache ($BASE, made $(cat "$MARK"))"
fi
wait "$b1" || { tail -n 40 "$T/v1/build.log"; say "FAIL: dpkg-buildpackage of $v1"; exit 1; }
deb1=$(cat "$T/v1/deb")
say "built $(basename "$deb1") in $(elapsed "$s")"
s=$(date +%s)
deb2=$(pkg_build "$T/v2/src" "$T/v2/build.log") ||
	{ tail -n 40 "$T/v2/build.log"; say "FAIL: dpkg-buildpackage of $v2"; exit 1; }
say "built $(basename "$deb2") in $(elapsed "$s")"

# ---- a fresh copy of the base, with what a chroot needs ----
R=$(mktemp -d "$CACHE/run.XXXXXX") || exit 1
cp -a "$BASE/." "$R/" || { say "copy of the base failed"; exit 1; }
rm -f "$R/.mhafs-base-complete"
mount -t proc proc "$R/proc" && mount -t sysfs -o ro sysfs "$R/sys" && mount --bind /dev "$R/dev" ||
	{ say "mounts failed"; exit 1; }
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
{
	printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$MIRROR"
	printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
	[ -z "$SECURITY" ] ||
		printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$SECURITY"
} >"$R/etc/apt/sources.list.d/debian.sources"
: >"$R/etc/apt/sources.list"
cp "$deb1" "$deb2" "$R/root/"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive "$@"; }
# systemd as the maintainer scripts see it: /run/systemd/system exists;
# systemctl (diverted before systemd is installed, as dpkg names it) logs
# each call with the script that made it, leaves what works on unit files
# alone (enable, preset, mask, is-enabled...: the real systemctl does it
# offline), says every unit is active and does nothing for the calls that
# need a running systemd; policy-rc.d logs each request and answers
# $R/policy.answer (101, deny, during the installation)
mkdir -p "$R/run/systemd/system"
in_root dpkg-divert --quiet --local --rename --divert /bin/systemctl.distrib --add /bin/systemctl ||
	{ say "dpkg-divert of systemctl failed"; exit 1; }
cat >"$R/bin/systemctl" <<'EOF'
#!/bin/sh
echo "${DPKG_MAINTSCRIPT_NAME:-?} ${DPKG_MAINTSCRIPT_PACKAGE:-?}: systemctl $*" >>/var/log/systemctl.calls
case " $* " in
*" --root="* | *" enable "* | *" disable "* | *" reenable "* | *" preset "* | *" mask "* | \
	*" unmask "* | *" is-enabled "* | *" --version "*)
	exec /bin/systemctl.distrib "$@" ;;
*" is-active "*) echo active ;;
esac
exit 0
EOF
cat >"$R/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
echo "${DPKG_MAINTSCRIPT_NAME:-?} ${DPKG_MAINTSCRIPT_PACKAGE:-?}: $*" >>/var/log/policy-rc.d.calls
exit "$(cat /policy.answer)"
EOF
chmod 0755 "$R/bin/systemctl" "$R/usr/sbin/policy-rc.d"
echo 101 >"$R/policy.answer"
L=$R/var/log/systemctl.calls
P=$R/var/log/policy-rc.d.calls
: >"$L"
: >"$P"
# processes whose root is the chroot (none may run after an installation)
chroot_procs() {
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
	done
}

# ---- install ----
s=$(date +%s)
in_root apt-get update >"$T/update.log" 2>&1 || { tail -n 20 "$T/update.log"; say "FAIL: apt-get update"; exit 1; }
if in_root apt-get install -y --no-install-recommends "./root/$(basename "$deb1")" >"$T/install.log" 2>&1 &&
	[ "$(in_root dpkg-query -W -f '${Status} ${Version}' mhafs)" = "install ok installed $v1" ]; then
	ok "apt-get install --no-install-recommends ./$(basename "$deb1") on a fresh bookworm ($(elapsed "$s"))"
else
	tail -n 30 "$T/install.log"
	fail "apt-get install ./$(basename "$deb1")"
	say "$fails check(s) failed"
	exit 1
fi

# ---- what the installation left ----
# every program in /usr/sbin: its libraries, its usage
progs=$(in_root dpkg -L mhafs | grep '^/usr/sbin/.')
[ "$(echo "$progs" | wc -w)" -ge 7 ] || fail "only these programs in /usr/sbin: $progs"
for p in $progs; do
	n=${p##*/}
	if head -c 4 "$R$p" | grep -q 'ELF'; then
		l=$(in_root ldd "$p" 2>&1)
		echo "$l" | grep -q 'not found' && { fail "$n: libraries missing: $(echo "$l" | grep 'not found' | tr '\n' ' ')"; continue; }
	fi
	out=
	for o in --help -h --version; do
		out=$(in_root timeout 10 "$p" "$o" 2>&1)
		rc=$?
		[ "$rc" -lt 124 ] || { out="(status $rc)"; continue; }
		echo "$out" | grep -qi 'error while loading' && break
		if [ "$rc" = 0 ] || echo "$out" | grep -qi 'usage'; then
			u=$(echo "$out" | grep -i -m1 'usage') || u=$(echo "$out" | grep -v -m1 '^[[:space:]]*$')
			ok "$n $o (status $rc): $(echo "$u" | cut -c1-70)"
			out=OK
			break
		fi
	done
	[ "$out" = OK ] || fail "$n prints no usage with --help, -h or --version: $(echo "$out" | head -n 3)"
	[ -f "$R/usr/share/man/man8/$n.8.gz" ] || fail "no manual page for $n"
done
ok "manual pages of the $(echo "$progs" | wc -w) programs checked"
check "manual page mhafs.conf(5)" test -f "$R/usr/share/man/man5/mhafs.conf.5.gz"
check "/usr/libexec/mhafs/mhafs-unmount is executable" test -x "$R/usr/libexec/mhafs/mhafs-unmount"
# the system user
pw=$(in_root getent passwd mhafs)
uid=$(echo "$pw" | cut -d: -f3)
if [ -n "$pw" ] && [ "$uid" -lt 1000 ] && in_root getent group mhafs >/dev/null; then
	ok "system user and group mhafs: $pw"
else
	fail "no system user mhafs (getent: '$pw')"
fi
# directories
st() { stat -c '%U:%G %a' "$R$1" 2>/dev/null; }
check "/var/lib/mhafs root:root 0700 ($(st /var/lib/mhafs))" test "$(st /var/lib/mhafs)" = "root:root 700"
check "/run/mhafs root:root 0755 ($(st /run/mhafs))" test "$(st /run/mhafs)" = "root:root 755"
check "/etc/mhafs exists and is empty" test -d "$R/etc/mhafs" -a -z "$(ls -A "$R/etc/mhafs")"
# what mhafs's own maintainer scripts asked of systemd
grep -h '^[a-z]* mhafs:' "$L" "$P" | sed 's/^/  install: /'
check "the postinst asked for no start (systemctl or policy-rc.d)" \
	test -z "$(grep -hE '^[a-z]* mhafs: .*(start|restart)' "$L" "$P")"
check "the postinst reloaded systemd (the Dovecot and Postfix drop-ins read at once)" \
	grep -q '^postinst mhafs: systemctl.*daemon-reload' "$L"
# its Recommends, as an admin gets them with `apt install`
rec=$(dpkg-deb -f "$deb1" Recommends | tr -d ',' | sed 's/([^)]*)//g')
s=$(date +%s)
# shellcheck disable=SC2086 # one word per package
if in_root apt-get install -y $rec >"$T/recommends.log" 2>&1; then
	ok "apt-get install $rec ($(elapsed "$s"))"
else
	tail -n 20 "$T/recommends.log"
	fail "apt-get install $rec"
fi
say "  pulled in: $(sed -n 's/^Setting up \([^: ]*\).*/\1/p' "$T/install.log" "$T/recommends.log" | sort | tr '\n' ' ' | cut -c1-800)"
# units, drop-ins, enablement
for u in mhafs.service heartbeatd.service dovecot.service.d/mhafs.conf postfix@.service.d/mhafs.conf; do
	check "/lib/systemd/system/$u" test -f "$R/lib/systemd/system/$u"
done
for u in mhafs.service heartbeatd.service; do
	check "$u enabled (multi-user.target.wants)" \
		test "$(readlink "$R/etc/systemd/system/multi-user.target.wants/$u")" = "/lib/systemd/system/$u"
done
for u in dovecot.service postfix@.service; do
	check "Debian's $u is installed next to its drop-in" test -f "$R/lib/systemd/system/$u"
done
cf=$(in_root dpkg-query -W -f '${Conffiles}' mhafs)
check "no conffile (the admin writes /etc/mhafs): '${cf}'" test -z "$cf"
pr=$(chroot_procs)
check "nothing started by the installation${pr:+: $pr}" test -z "$pr"
if [ -x "$R/usr/bin/systemd-analyze" ]; then
	v=$(in_root systemd-analyze verify --man=no mhafs.service heartbeatd.service dovecot.service postfix@-.service 2>&1)
	check "systemd-analyze verify with Debian's dovecot and postfix units${v:+: $v}" test -z "$v"
else
	fail "no systemd-analyze in the chroot (is systemd installed?)"
fi

# ---- the upgrade, with an admin's configuration in place ----
# the admin's files: mhafs.conf from the sample, changed; a key; a drop-in
sed 's/^#* *node_id.*/node_id = 2/' "$R/usr/share/doc/mhafs/examples/mhafs.conf.sample" >"$R/etc/mhafs/mhafs.conf"
echo "# local change $(date +%s)" >>"$R/etc/mhafs/mhafs.conf"
printf 'not a real key\n' >"$R/etc/mhafs/node.key"
chmod 0600 "$R/etc/mhafs/node.key"
mkdir -p "$R/etc/systemd/system/mhafs.service.d"
printf '[Service]\nLimitNOFILE=65536\n' >"$R/etc/systemd/system/mhafs.service.d/local.conf"
admin_files="/etc/mhafs/mhafs.conf /etc/mhafs/node.key /etc/systemd/system/mhafs.service.d/local.conf"
sums() { (cd "$R" && for f in $admin_files; do
	echo "$f $(stat -c '%U:%G %a' ".$f") $(sha256sum <".$f")"
done); }
sums >"$T/admin.before"
# starts allowed from here on: the log shows what would run
echo 0 >"$R/policy.answer"
: >"$L"
: >"$P"

s=$(date +%s)
if in_root apt-get install -y "./root/$(basename "$deb2")" >"$T/upgrade.log" 2>&1 &&
	[ "$(in_root dpkg-query -W -f '${Status} ${Version}' mhafs)" = "install ok installed $v2" ]; then
	ok "upgrade $v1 -> $v2 ($(elapsed "$s"))"
else
	tail -n 30 "$T/upgrade.log"
	fail "upgrade $v1 -> $v2"
fi
sums >"$T/admin.after"
if cmp -s "$T/admin.before" "$T/admin.after"; then
	ok "the admin's files unchanged by the upgrade (content, owner, mode)"
else
	fail "the upgrade changed the admin's files: $(diff "$T/admin.before" "$T/admin.after" | tr '\n' ' ')"
fi
left=$(find "$R/etc" -name '*.dpkg-*' -o -name '*.ucf-*' | sed "s|^$R||")
check "no .dpkg-new/.dpkg-old/.dpkg-dist in /etc${left:+: $left}" test -z "$left"
sed 's/^/  upgrade: /' "$L"
check "nothing stopped before the unpack (old prerm, new preinst)" \
	test -z "$(grep -E '^(prerm|preinst) .*(stop|restart)' "$L")"
check "the new postinst restarts heartbeatd and mhafs in one call: try-restart heartbeatd.service mhafs.service" \
	grep -q '^postinst mhafs: systemctl try-restart heartbeatd.service mhafs.service$' "$L"
rl=$(grep -n '^postinst mhafs: systemctl.*daemon-reload' "$L" | tail -n 1 | cut -d: -f1)
tr=$(grep -n '^postinst mhafs: systemctl.*try-restart' "$L" | head -n 1 | cut -d: -f1)
check "daemon-reload (new units read) before the restart" test -n "$rl" -a -n "$tr" -a "${rl:-0}" -lt "${tr:-0}"
check "the upgrade starts no stopped service (no start, no restart)" \
	test -z "$(grep -E 'systemctl.* (start|restart|reload-or-restart) ' "$L")"
check "the units stay enabled" test -L "$R/etc/systemd/system/multi-user.target.wants/mhafs.service" \
	-a -L "$R/etc/systemd/system/multi-user.target.wants/heartbeatd.service"

# ---- remove, purge ----
: >"$L"
if in_root apt-get remove -y mhafs >"$T/remove.log" 2>&1; then
	ok "apt-get remove: $(in_root dpkg-query -W -f '${Status}' mhafs 2>&1)"
else
	tail -n 20 "$T/remove.log"
	fail "apt-get remove"
fi
sed 's/^/  remove: /' "$L"
check "the prerm stops heartbeatd and mhafs in one call" \
	grep -q '^prerm mhafs: systemctl stop heartbeatd.service mhafs.service$' "$L"
check "the programs are gone" test ! -e "$R/usr/sbin/mhafs" -a ! -e "$R/usr/sbin/heartbeatd"
check "the units are gone" test ! -e "$R/lib/systemd/system/mhafs.service"
sums >"$T/admin.after"
check "the admin's files kept by remove" cmp -s "$T/admin.before" "$T/admin.after"
check "/var/lib/mhafs kept by remove" test -d "$R/var/lib/mhafs"

: >"$L"
if in_root apt-get purge -y mhafs >"$T/purge.log" 2>&1; then
	ok "apt-get purge: $(in_root dpkg-query -W -f '${Status}' mhafs 2>&1)"
else
	tail -n 20 "$T/purge.log"
	fail "apt-get purge"
fi
sed 's/^/  purge: /' "$L"
check "dpkg forgets mhafs" test -z "$(in_root dpkg-query -W -f '${Status}' mhafs 2>/dev/null | grep -v not-installed)"
links=$(find "$R/etc/systemd" -lname '*mhafs.service' -o -lname '*heartbeatd.service' | sed "s|^$R||")
check "no enablement or mask of the units left${links:+: $links}" test -z "$links"
check "no deb-systemd-helper state left" test -z "$(find "$R/var/lib/systemd/deb-systemd-helper-enabled" \
	"$R/var/lib/systemd/deb-systemd-helper-masked" -name '*mhafs*' -o -name '*heartbeatd*' 2>/dev/null)"
sums >"$T/admin.after"
check "the admin's files kept by purge (not the package's)" cmp -s "$T/admin.before" "$T/admin.after"
check "/var/lib/mhafs (the journal and catalog) kept by purge" test -d "$R/var/lib/mhafs"
check "the user mhafs kept by purge" test -n "$(in_root getent passwd mhafs)"
pr=$(chroot_procs)
check "no process left in the chroot${pr:+: $pr}" test -z "$pr"

say "whole run $(elapsed "$start_all")"
[ "$fails" = 0 ] || { say "$fails check(s) failed"; exit 1; }
say "PASS: installed, upgraded, removed and purged on a fresh Debian 12"
exit 0
