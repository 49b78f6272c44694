# tests/pkg/lib.sh: what tests/pkg/build.sh and tests/pkg/chroot-install.sh
# share: HEAD exported with `git archive` (never the working tree, so that
# nothing uncommitted or built there leaks into the package) and the binary
# package built from such an export as an admin builds it.  Sourced; the
# caller sets top_srcdir.  Each function returns non-zero on failure and
# prints nothing on success except what it is asked for.

# pkg_tools_missing: the first tool the build needs that is not installed
pkg_tools_missing() {
	for t in git dpkg-buildpackage dpkg-checkbuilddeps dpkg-deb dh; do
		command -v "$t" >/dev/null 2>&1 || { echo "$t"; return 0; }
	done
	return 1
}

# pkg_export DIR: HEAD of $top_srcdir unpacked into DIR (which must exist)
pkg_export() {
	git -C "$top_srcdir" rev-parse --verify -q HEAD >/dev/null 2>&1 || return 1
	git -C "$top_srcdir" archive --format=tar HEAD | tar -x -C "$1" || return 1
	[ -f "$1/debian/control" ]
}

# pkg_build DIR LOG: `dpkg-buildpackage -us -uc -b` in DIR, its output in
# LOG; prints the path of the mhafs_*.deb it wrote next to DIR.  The test
# suite is not run (it needs root, FUSE and namespaces: tools/test).
pkg_build() {
	(cd "$1" && DEB_BUILD_OPTIONS="nocheck noddebs" dpkg-buildpackage -us -uc -b -j"$(nproc)") \
		>"$2" 2>&1 || return 1
	v=$(cd "$1" && dpkg-parsechangelog -S Version) || return 1
	a=$(dpkg-architecture -qDEB_HOST_ARCH) || return 1
	d=$(cd "$1/.." && pwd) || return 1
	[ -f "$d/mhafs_${v}_$a.deb" ] || return 1
	echo "$d/mhafs_${v}_$a.deb"
}
