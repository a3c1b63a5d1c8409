#!/bin/bash
# nspawn-root.sh -- make (once) and cache a minimal Debian 12 root file
# system that systemd-nspawn can boot, for tests/e2e-nspawn.sh.
#
#   tools/nspawn-root.sh [PACKAGE...]
#
# prints the root's path, building it first if it is missing, out of date,
# or lacks one of the PACKAGEs (Debian packages to include besides the
# base set below: the test passes those that hold the daemon's shared
# libraries, so a new library dependency needs no change here).
#
# The root lives outside the clone, in
# ${ZCRECVD_NSPAWN_CACHE:-/var/cache/zcrecvd-nspawn}/bookworm, so that CI
# runs and fresh clones on the same machine reuse it.  It is built with
# debootstrap into a temporary directory beside it and renamed into place
# only when complete, so an interrupted run never leaves a half root; a
# stamp inside the root records what it was built from and with which
# packages; a root whose recipe differs, or that lacks a package asked for,
# is rebuilt (keeping the packages it had, so that callers asking for
# different sets do not make it rebuild every time).  Packages come from
# the mirror in this machine's own apt sources.  Needs root the first time
# (debootstrap); run as root, it installs systemd-container (and, to
# build, debootstrap) with apt-get if they are missing.  Output: the root's path on stdout; progress
# on stderr.
set -euo pipefail

SUITE=bookworm
VARIANT=minbase
# What a booted container needs to run zcrecvd under systemd: the init
# system, /bin/kill (procps) for the unit's ExecReload=, the daemon's
# shared libraries, and ip(8) for debugging.
BASE="systemd systemd-sysv dbus procps libevent-2.1-7 libinih1 libsystemd0
libcap2 libxxhash0 iproute2"
# Bump when the steps after debootstrap change.
RECIPE_VERSION=2
RECIPE="$RECIPE_VERSION $SUITE $VARIANT"

CACHE=${ZCRECVD_NSPAWN_CACHE:-/var/cache/zcrecvd-nspawn}
ROOT=$CACHE/$SUITE
STAMP=.zcrecvd-nspawn-root
TMPROOT=			# the tree being built, removed on failure
CHILD=				# debootstrap's process group
WANT=				# packages the root must have

msg() {
	echo "nspawn-root: $*" >&2
}

die() {
	msg "$*"
	exit 1
}

# The stamp: the recipe on line 1, the packages included on line 2.
stamp_line() {
	[ -f "$ROOT/$STAMP" ] && sed -n "${1}p" "$ROOT/$STAMP"
}

# Sorted, unique package names from the arguments (words).
pkg_set() {
	# shellcheck disable=SC2048,SC2086 # split the words, on purpose
	printf '%s\n' $* | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# True if ROOT is complete, built from this recipe, with every package of
# $WANT.
root_ok() {
	local have p
	[ "$(stamp_line 1 2>/dev/null)" = "$RECIPE" ] || return 1
	have=" $(stamp_line 2) "
	for p in $WANT; do
		case $have in
		*" $p "*) ;;
		*) return 1 ;;
		esac
	done
}

# Unmount whatever is mounted at or below $1 (debootstrap mounts proc and
# sys inside its target), deepest first, then remove it without crossing
# into another file system.
remove_tree() {
	local dir=$1 m
	case $dir in
	"$CACHE"/.*.??????) ;;
	*) die "refusing to remove '$dir'" ;;
	esac
	[ -e "$dir" ] || return 0
	awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' \
	    /proc/self/mountinfo | sort -r |
	while read -r m; do
		umount -l -- "$m" || true
	done
	rm -rf --one-file-system -- "$dir"
}

# Interrupted or failed: stop debootstrap (TERM, KILL after 10 s) and
# remove the partial tree.
cleanup() {
	local rc=$? i
	trap - EXIT INT TERM HUP
	if [ -n "$CHILD" ] && kill -0 -- "-$CHILD" 2>/dev/null; then
		kill -TERM -- "-$CHILD" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 -- "-$CHILD" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL -- "-$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	if [ -n "$TMPROOT" ]; then
		remove_tree "$TMPROOT"
		rm -f -- "$TMPROOT.log"
	fi
	exit "$rc"
}

# Install the Debian packages named as arguments that are missing.
need_packages() {
	local p missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'ok installed' || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	msg "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Print the URI of the Debian archive this machine's apt uses for $SUITE:
# deb822 .sources files first, then one-line sources.list entries.
apt_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# One stanza per paragraph; take the first URI of a "deb"
		# stanza whose Suites include $SUITE itself.
		uri=$(awk -v suite="$SUITE" '
		    function flush() {
			if (!done && uris != "" && types ~ /(^| )deb( |$)/ &&
			    (" " suites " ") ~ (" " suite " ")) {
			    split(uris, u, " "); print u[1]; done = 1
			}
			types = suites = uris = ""
		    }
		    /^[[:space:]]*$/ { flush(); next }
		    /^[[:space:]]*#/ { next }
		    tolower($1) == "types:" { $1 = ""; types = $0 " " }
		    tolower($1) == "suites:" { $1 = ""; suites = $0 }
		    tolower($1) == "uris:" { $1 = ""; uris = $0 }
		    tolower($1) == "enabled:" && tolower($2) == "no" { types = "" }
		    END { flush() }' "$f" | sed 's/^[[:space:]]*//')
		[ -z "$uri" ] || { printf '%s\n' "$uri"; return 0; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [options] URI SUITE COMPONENT...
		uri=$(awk -v suite="$SUITE" '
		    $1 != "deb" { next }
		    { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } }
		    $(i + 1) == suite { print $i; exit }' "$f")
		[ -z "$uri" ] || { printf '%s\n' "$uri"; return 0; }
	done
	return 1
}

# Settings for booting the root as a throw-away test container.
configure_root() {
	local r=$1
	# No terminal login on the container's console: nothing reads it.
	ln -sf /dev/null "$r/etc/systemd/system/console-getty.service"
	ln -sf /dev/null "$r/etc/systemd/system/getty.target"
	# Timers that would run apt inside a test container.
	ln -sf /dev/null "$r/etc/systemd/system/apt-daily.timer"
	ln -sf /dev/null "$r/etc/systemd/system/apt-daily-upgrade.timer"
	# Every boot is a first boot with its own machine id.
	: >"$r/etc/machine-id"
	echo zcrecvd-test >"$r/etc/hostname"
	# The downloaded packages are not needed any more.
	find "$r/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -delete
}

build_root() {
	local mirror
	mirror=$(apt_mirror) ||
	    die "no 'deb' source for $SUITE in /etc/apt/sources.list{,.d}"
	need_packages debootstrap systemd-container
	TMPROOT=$(mktemp -d "$CACHE/.$SUITE.XXXXXX")
	chmod 755 "$TMPROOT"
	msg "debootstrap $SUITE from $mirror into $TMPROOT (a minute or more)"
	msg "packages: $WANT"
	# In its own process group, so that a signal to this script can stop
	# debootstrap and everything it runs before the tree is removed.
	setsid debootstrap --variant="$VARIANT" --include="${WANT// /,}" \
	    "$SUITE" "$TMPROOT" "$mirror" >"$TMPROOT.log" 2>&1 </dev/null &
	CHILD=$!
	wait "$CHILD" || {
		CHILD=
		tail -n 30 "$TMPROOT.log" >&2
		rm -f -- "$TMPROOT.log"
		die "debootstrap failed"
	}
	CHILD=
	rm -f -- "$TMPROOT.log"
	configure_root "$TMPROOT"
	printf '%s\n%s\n' "$RECIPE" "$WANT" >"$TMPROOT/$STAMP"
	# Swap the new root in; an old one is moved aside first because
	# rename(2) cannot replace a non-empty directory.
	if [ -e "$ROOT" ]; then
		local old
		old=$(mktemp -d "$CACHE/.$SUITE-old.XXXXXX")
		mv -T -- "$ROOT" "$old/root"
		mv -T -- "$TMPROOT" "$ROOT"
		TMPROOT=$old
	else
		mv -T -- "$TMPROOT" "$ROOT"
		TMPROOT=
	fi
	msg "built $ROOT"
}

main() {
	local p
	for p in "$@"; do
		[[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] ||
		    die "'$p' is not a Debian package name"
	done
	WANT=$(pkg_set "$BASE" "$@")
	# What boots the root, even when it is cached already.
	[ "$(id -u)" -ne 0 ] || need_packages systemd-container
	if root_ok; then
		printf '%s\n' "$ROOT"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "need root to build $ROOT"
	mkdir -p -- "$CACHE"
	# One builder at a time; the others wait (bounded) and reuse its root.
	exec 9>"$CACHE/.lock"
	flock -w 1800 9 || die "timed out waiting for $CACHE/.lock"
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
	if ! root_ok; then
		# Left-overs of a builder that was killed outright.
		local d
		for d in "$CACHE/.$SUITE".?????? "$CACHE/.$SUITE-old".??????; do
			[ -d "$d" ] || continue
			msg "removing stale $d"
			remove_tree "$d"
		done
		rm -f -- "$CACHE/.$SUITE".??????.log
		if [ "$(stamp_line 1 2>/dev/null)" = "$RECIPE" ]; then
			WANT=$(pkg_set "$WANT" "$(stamp_line 2)")
		fi
		build_root
	fi
	printf '%s\n' "$ROOT"
}

main "$@"
