#!/bin/bash
# The Debian packages, built and used as an administrator would:
#
#   - the tree a release tarball holds ("make distdir", debian/ included)
#     is copied to $T and built with dpkg-buildpackage -us -uc -b into
#     zcrecvd and zcsend; lintian reports no error and no warning; zcsend's
#     package holds no daemon, unit or configuration;
#   - a booted Debian container (systemd-nspawn, an overlay of the root
#     tools/nspawn-root.sh caches, with the libraries the root can spare
#     purged first): apt-get install of the two .debs fetches those
#     libraries from the mirror, creates user zcrecvd, enables and starts
#     zcrecvd.service and leaves zcrecvd.socket disabled;
#   - with the shipped configuration a file sent from the host lands in
#     /var/lib/zcrecvd (the container shares the host's network), and one
#     sent by the packaged zcsend inside the container;
#   - /etc/zcrecvd.conf edited (another port) and the daemon restarted;
#     an unattended upgrade (--force-confdef --force-confold) to a rebuilt
#     package, the version bumped and the shipped zcrecvd.conf changed,
#     keeps the edited file, puts the new one beside it as .dpkg-dist and
#     restarts the daemon, which still listens on the edited port;
#   - apt-get purge zcrecvd zcsend: no program, man page, unit, enablement
#     link, conffile, state or log directory is left; the system user
#     zcrecvd is kept (see debian/zcrecvd.postrm for why).
#
# Needs root, debhelper and lintian (tools/deps.sh) and the Debian mirror
# of this machine's apt sources; skips if systemd-nspawn cannot run here,
# and for sanitizer builds (the packages are built with Debian's flags
# whatever the build tree's, so the plain build's run covers them).
. "$(dirname "$0")/lib.sh"
heavy

[ "$(id -u)" -eq 0 ] || skip "needs root (mount, systemd-nspawn, apt-get)"
[ -n "${SRCDIR:-}" ] && [ -n "${BUILDDIR:-}" ] ||
    hard_error "SRCDIR and BUILDDIR must be set"
if grep -qa -e __asan_init -e __ubsan_handle -e __tsan_init "$ZCRECVD"; then
	skip "sanitizer build: the packages are built and tested by the plain one"
fi
for c in ss dpkg-buildpackage dh lintian; do
	command -v "$c" >/dev/null ||
	    hard_error "$c is not installed (tools/deps.sh installs it)"
done
[ -f "$SRCDIR/debian/control" ] || hard_error "no debian/ in $SRCDIR"

. "$(dirname "$0")/nspawn-lib.sh"

# --- building -------------------------------------------------------------

# build_debs DIR: dpkg-buildpackage in the source tree DIR; the packages
# land in DIR's parent.  The upstream suite is not run (debian/rules).
build_debs() {
	local dir=$1 start=$SECONDS
	(cd "$dir" &&
	    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    DEB_BUILD_OPTIONS="nocheck parallel=2" \
	    dpkg-buildpackage -us -uc -b) >"$dir.build.log" 2>&1 </dev/null || {
		tail -n 40 "$dir.build.log" >&2
		fail "dpkg-buildpackage failed in $dir"
	}
	note "built $(cd "$dir/.." && echo ./*.deb) in $((SECONDS - start)) s"
}

# deb DIR PACKAGE: the path of PACKAGE's .deb built in DIR.
deb() {
	local f
	for f in "$1/$2"_*.deb; do
		[ -f "$f" ] || break
		printf '%s\n' "$f"
		return 0
	done
	fail "no $2 package in $1"
}

# deb_files DEB: the paths the package installs (files and links).
deb_files() {
	dpkg-deb -c "$1" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }'
}

total=$SECONDS
note "the release tree (make distdir) in $T/b1/zcrecvd"
mkdir "$T/b1" "$T/b2"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make -C "$BUILDDIR" distdir distdir="$T/b1/zcrecvd" >"$T/distdir.out" 2>&1 || {
	tail -n 30 "$T/distdir.out" >&2
	fail "make distdir failed"
}
[ -x "$T/b1/zcrecvd/debian/rules" ] ||
    fail "the distribution lacks an executable debian/rules"
cp -a "$T/b1/zcrecvd" "$T/b2/zcrecvd"

V=$(dpkg-parsechangelog -l "$T/b1/zcrecvd/debian/changelog" -S Version)
MAINT=$(dpkg-parsechangelog -l "$T/b1/zcrecvd/debian/changelog" -S Maintainer)
[[ $V =~ ^([^-]+)-([0-9]+)$ ]] || fail "version $V is not UPSTREAM-N"
V2=${BASH_REMATCH[1]}-$((BASH_REMATCH[2] + 1))
note "packages $V, upgrade to $V2"

# The second build: next Debian revision, a changed shipped zcrecvd.conf.
{
	printf 'zcrecvd (%s) unstable; urgency=medium\n\n' "$V2"
	printf '  * Rebuilt by tests/e2e-deb.sh: a changed shipped zcrecvd.conf.\n\n'
	printf ' -- %s  %s\n\n' "$MAINT" "$(date -R)"
	cat "$T/b1/zcrecvd/debian/changelog"
} >"$T/b2/zcrecvd/debian/changelog"
printf '\n# (changed in %s by tests/e2e-deb.sh)\n' "$V2" \
    >>"$T/b2/zcrecvd/conf/zcrecvd.conf"

build_debs "$T/b1/zcrecvd"

# --- lintian and the packages' contents -------------------------------------

start=$SECONDS
changes=$(echo "$T"/b1/zcrecvd_"$V"_*.changes)
[ -f "$changes" ] || fail "no .changes file for $V"
rc=0
lintian "$changes" >"$T/lintian.out" 2>&1 || rc=$?
prefix 'lintian: ' "$T/lintian.out" >&2
if grep -qE '^[EW]: ' "$T/lintian.out"; then
	fail "lintian reports errors or warnings"
fi
[ "$rc" -eq 0 ] || fail "lintian exited $rc"
note "lintian clean after $((SECONDS - start)) s"

D1=$(deb "$T/b1" zcrecvd)
S1=$(deb "$T/b1" zcsend)
files=$(deb_files "$D1")
for f in /usr/sbin/zcrecvd /etc/zcrecvd.conf \
    /lib/systemd/system/zcrecvd.service /lib/systemd/system/zcrecvd.socket \
    /usr/lib/sysusers.d/zcrecvd.conf /usr/share/man/man8/zcrecvd.8.gz \
    /usr/share/man/man5/zcrecvd.conf.5.gz \
    /usr/share/bash-completion/completions/zcrecvd; do
	grep -qxF "$f" <<<"$files" || fail "$(basename "$D1") lacks $f"
done
conffiles=$(dpkg-deb --ctrl-tarfile "$D1" | tar -xOf - ./conffiles)
[ "$conffiles" = /etc/zcrecvd.conf ] ||
    fail "conffiles of $(basename "$D1"): '$conffiles'"
files=$(deb_files "$S1")
grep -qxF /usr/bin/zcsend <<<"$files" || fail "$(basename "$S1") lacks zcsend"
grep -qxF /usr/share/man/man1/zcsend.1.gz <<<"$files" ||
    fail "$(basename "$S1") lacks zcsend.1"
grep -qxF /usr/share/bash-completion/completions/zcsend <<<"$files" ||
    fail "$(basename "$S1") lacks the bash completion of zcsend"
bad=$(grep -vE '^/usr/(bin/zcsend|share/(man/man1/zcsend\.1\.gz|bash-completion/completions/zcsend|doc/zcsend/.*|lintian/overrides/zcsend))$' \
    <<<"$files" || true)
[ -z "$bad" ] || fail "$(basename "$S1") holds more than the client: $bad"
dpkg-deb -f "$S1" Depends | grep -q zcrecvd &&
    fail "zcsend depends on zcrecvd"

# --- the container ----------------------------------------------------------

note "cached root file system (built on first use: a minute or more)"
start=$SECONDS
CACHED=$(bash "$SRCDIR/tools/nspawn-root.sh") ||
    fail "tools/nspawn-root.sh failed"
note "root $CACHED ready after $((SECONDS - start)) s"
nspawn_overlay "$CACHED"
mirror=$(grep -hE '^deb ' "$CT/etc/apt/sources.list" 2>/dev/null || true)
[ -n "$mirror" ] || fail "the cached root has no apt source"
note "container apt source: $mirror"

# The shipped configuration listens here; on the host's network, so the
# port must be free.
listen=$(sed -n 's/^listen = //p' "$T/b1/zcrecvd/conf/zcrecvd.conf")
PORT=${listen##*:}
[ "$listen" = "127.0.0.1:$PORT" ] ||
    fail "the shipped zcrecvd.conf listens on '$listen', expected 127.0.0.1:PORT"
[ -z "$(ss -Hltn "sport = :$PORT")" ] ||
    skip "port $PORT, where the shipped configuration listens, is in use"

mkdir -p "$CT/srv/debs/1" "$CT/srv/debs/2"
cp "$D1" "$S1" "$CT/srv/debs/1/"
chmod -R a+rX "$CT/srv/debs"

nspawn_boot
in_ct getent passwd zcrecvd >/dev/null &&
    fail "the cached root already has a user zcrecvd"

# apt_ct ARGS...: apt-get in the container, unattended, output in
# $T/apt.N.log (shown on failure).
APT_N=0
apt_ct() {
	local rc=0
	APT_N=$((APT_N + 1))
	TMO=300 in_ct env DEBIAN_FRONTEND=noninteractive apt-get -y \
	    -o Dpkg::Use-Pty=0 "$@" >"$T/apt.$APT_N.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$T/apt.$APT_N.log" >&2
		fail "apt-get $* exited $rc in the container"
	fi
}

# The libraries the packages depend on that the root can do without are
# purged, so that installing the packages must fetch them.
libs=$( { dpkg-deb -f "$D1" Depends; dpkg-deb -f "$S1" Depends; } |
    tr ',|' '\n\n' | sed -nE 's/^ *(lib[a-z0-9][a-z0-9+.-]*).*/\1/p' |
    grep -vx libc6 | sort -u)
PURGED=
for p in $libs; do
	if in_ct dpkg --purge "$p" >"$T/purge-$p.log" 2>&1; then
		PURGED="$PURGED $p"
	fi
done
[ -n "$PURGED" ] || fail "no library could be purged from the root ($libs)"
note "purged from the container:$PURGED"

start=$SECONDS
apt_ct update
note "apt-get update in $((SECONDS - start)) s"

# --- install ----------------------------------------------------------------

start=$SECONDS
apt_ct install --no-install-recommends \
    "/srv/debs/1/$(basename "$D1")" "/srv/debs/1/$(basename "$S1")"
note "apt-get install in $((SECONDS - start)) s"
for p in $PURGED; do
	st=$(in_ct dpkg-query -W -f '${Status}' "$p" 2>/dev/null) || true
	[ "$st" = "install ok installed" ] ||
	    fail "installing the packages did not bring $p back: '$st'"
	grep -q "^Get:.* $p " "$T/apt.$APT_N.log" ||
	    fail "$p was not fetched from the mirror"
done
for p in zcrecvd zcsend; do
	st=$(in_ct dpkg-query -W -f '${Status} ${Version}' "$p") || true
	[ "$st" = "install ok installed $V" ] || fail "$p: '$st'"
done

in_ct getent passwd zcrecvd >/dev/null ||
    fail "no user zcrecvd after installation"
[ "$(in_ct systemctl is-active zcrecvd)" = active ] ||
    fail "zcrecvd is $(unit_state zcrecvd.service) after installation"
[ "$(in_ct systemctl is-enabled zcrecvd.service)" = enabled ] ||
    fail "zcrecvd.service is not enabled"
st=$(in_ct systemctl is-enabled zcrecvd.socket) || true
[ "$st" = disabled ] || fail "zcrecvd.socket is '$st', expected disabled"
[ "$(unit_state zcrecvd.socket)" = inactive ] ||
    fail "zcrecvd.socket is $(unit_state zcrecvd.socket)"
MAINPID=$(in_ct systemctl show -p MainPID --value zcrecvd)
[ "$(in_ct ps -o user= -p "$MAINPID")" = zcrecvd ] ||
    fail "the daemon does not run as zcrecvd"

# --- files land -------------------------------------------------------------

XLOG=$CT/var/log/zcrecvd/transfers.json
SIZE=$((4 * 1024 * 1024 + 12345))
mkfile "$T/src/a.bin" "$SIZE"
send_ok "$T/src/a.bin"
same "$T/src/a.bin" "$CT/var/lib/zcrecvd/a.bin"
check_summary "$T/send.out" a.bin "$SIZE" >/dev/null
check_landed a.bin "$SIZE" >/dev/null
note "the host's zcsend landed a.bin on 127.0.0.1:$PORT"

mkfile "$CT/srv/b.bin" "$SIZE"
out=$(in_ct zcsend /srv/b.bin "127.0.0.1:$PORT" 2>&1) ||
    fail "the packaged zcsend failed: $out"
same "$CT/srv/b.bin" "$CT/var/lib/zcrecvd/b.bin"
check_landed b.bin "$SIZE" >/dev/null
note "the packaged zcsend landed b.bin"

# --- an edited configuration survives an upgrade ------------------------------

PORT1=$PORT
PORT=$(free_port)
in_ct sed -i "s/^listen = .*/listen = 127.0.0.1:$PORT/" /etc/zcrecvd.conf
grep -qx "listen = 127.0.0.1:$PORT" "$CT/etc/zcrecvd.conf" ||
    fail "could not edit /etc/zcrecvd.conf"
cp "$CT/etc/zcrecvd.conf" "$T/edited.conf"
TMO=100 in_ct systemctl restart zcrecvd || fail "systemctl restart zcrecvd failed"
mkfile "$T/src/c.bin" "$SIZE"
send_ok "$T/src/c.bin"
same "$T/src/c.bin" "$CT/var/lib/zcrecvd/c.bin"
[ -z "$(ss -Hltn "sport = :$PORT1")" ] ||
    fail "the edited configuration is not in force: $PORT1 still listening"
MAINPID=$(in_ct systemctl show -p MainPID --value zcrecvd)

build_debs "$T/b2/zcrecvd"
D2=$(deb "$T/b2" "zcrecvd_$V2")
S2=$(deb "$T/b2" "zcsend_$V2")
cp "$D2" "$S2" "$CT/srv/debs/2/"
chmod -R a+rX "$CT/srv/debs"

start=$SECONDS
apt_ct install -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold \
    "/srv/debs/2/$(basename "$D2")" "/srv/debs/2/$(basename "$S2")"
note "upgrade to $V2 in $((SECONDS - start)) s"
for p in zcrecvd zcsend; do
	st=$(in_ct dpkg-query -W -f '${Status} ${Version}' "$p") || true
	[ "$st" = "install ok installed $V2" ] || fail "$p after upgrade: '$st'"
done
cmp -s "$T/edited.conf" "$CT/etc/zcrecvd.conf" ||
    fail "the upgrade did not keep the edited /etc/zcrecvd.conf"
cmp -s "$T/b2/zcrecvd/conf/zcrecvd.conf" "$CT/etc/zcrecvd.conf.dpkg-dist" ||
    fail "no new shipped zcrecvd.conf as /etc/zcrecvd.conf.dpkg-dist"
want_state zcrecvd.service active
[ "$(in_ct systemctl show -p MainPID --value zcrecvd)" != "$MAINPID" ] ||
    fail "the upgrade did not restart the daemon"
mkfile "$T/src/d.bin" "$SIZE"
send_ok "$T/src/d.bin"
same "$T/src/d.bin" "$CT/var/lib/zcrecvd/d.bin"
note "edited zcrecvd.conf kept, new one as .dpkg-dist, daemon restarted on $PORT"

# --- purge ------------------------------------------------------------------

apt_ct purge zcrecvd zcsend
for p in zcrecvd zcsend; do
	st=$(in_ct dpkg-query -W -f '${Status}' "$p" 2>/dev/null) || true
	case $st in
	""|"unknown ok not-installed"|"purge ok not-installed") ;;
	*) fail "$p after purge: '$st'" ;;
	esac
done
[ "$(in_ct systemctl show -p LoadState --value zcrecvd.service)" = not-found ] ||
    fail "zcrecvd.service still loads after purge"
in_ct pgrep -x zcrecvd >/dev/null && fail "zcrecvd still runs after purge"
[ -z "$(ss -Hltn "sport = :$PORT")" ] || fail "port $PORT still listening"
for f in /usr/sbin/zcrecvd /usr/bin/zcsend /etc/zcrecvd.conf \
    /etc/zcrecvd.conf.dpkg-dist /etc/zcrecvd.conf.dpkg-old \
    /lib/systemd/system/zcrecvd.service /lib/systemd/system/zcrecvd.socket \
    /etc/systemd/system/multi-user.target.wants/zcrecvd.service \
    /usr/lib/sysusers.d/zcrecvd.conf /usr/share/doc/zcrecvd \
    /usr/share/doc/zcsend /var/lib/zcrecvd /var/log/zcrecvd; do
	[ ! -e "$CT$f" ] && [ ! -L "$CT$f" ] || fail "$f is left after purge"
done
# Nothing else named after the packages, besides the .debs the test put
# there (overlay whiteouts, character devices, mark what was removed).
left=$(cd "$T/upper" && find . ! -type c \( -name '*zcrecvd*' -o \
    -name '*zcsend*' \) ! -path './srv/debs/*' | sed 's/^\.//')
[ -z "$left" ] || fail "left after purge: $(echo $left)"
in_ct getent passwd zcrecvd >/dev/null ||
    fail "purge removed the user zcrecvd, which Debian keeps"
note "purged: nothing left but the user zcrecvd"

nspawn_poweroff
note "total $((SECONDS - total)) s"
