#!/bin/bash
# Disk full.  A 16 MiB tmpfs is a second destination [small] with
# min_free = 0:
#   (a) a 32 MiB file is refused up front: zcsend exits 4 "(nospace)", the
#       transfer log says nospace with 0 bytes received;
#   (b) the disk fills during a transfer: a 12 MiB file is accepted (it
#       fits), zcsend is stopped the moment its staging file appears, the
#       filesystem is filled, zcsend goes on: it exits 4 "(nospace)", no
#       staging file remains, nothing lands under the name, the default
#       destination and the daemon are unharmed;
#   (c) with the filler removed, the next file that fits (1 MiB) lands.
. "$(dirname "$0")/lib.sh"

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"
[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"

SMALL=$T/small
mkdir "$SMALL"
mount -t tmpfs -o size=16m,mode=0755 tmpfs "$SMALL" 2>"$T/mount.err" ||
    skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
# Always unmount (lazily: the daemon may still hold the directory), then
# lib.sh's cleanup, with the test's exit status (set +e: the trap runs
# under errexit, and "(exit 1)" would end it before the cleanup).
trap '_rc=$?; set +e; umount -l "$SMALL" 2>/dev/null; (exit $_rc); _cleanup' EXIT
chown "$DAEMON_USER:" "$SMALL"

DEFAULT_EXTRA="[small]
path = $SMALL
min_free = 0"
ALLOW_LOG='^zcrecvd: failed (huge|twelve) from 127\.0\.0\.1:[0-9]+: nospace: '

# send_rc NAME ARGS...: zcsend ARGS; stdout/stderr in $T/NAME.out/.err;
# prints the exit status.
send_rc() {
	local name=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null || rc=$?
	prefix "zcsend $name stderr: " "$T/$name.err" >&2
	echo "$rc"
}

small_files() {
	find "$SMALL" -mindepth 1 -printf '%P\n' | LC_ALL=C sort
}

start_daemon

note "(a) 32 MiB into 16 MiB: refused up front"
mkfile "$T/src/huge" $((32 * 1024 * 1024))
rc=$(send_rc huge "$T/src/huge" "127.0.0.1:$PORT/small")
[ "$rc" -eq 4 ] || fail "(a) zcsend exited $rc, expected 4"
grep -qE '^zcsend: huge: rejected by receiver \(nospace\): ' "$T/huge.err" ||
    fail "(a) zcsend stderr lacks 'huge: rejected by receiver (nospace)'"
line=$(wait_xfer huge)
[ "$(field "$line" result)" = nospace ] || fail "(a) result not nospace: $line"
[ "$(field "$line" bytes)" = 0 ] || fail "(a) bytes received: $line"
[ "$(field "$line" dest)" = small ] || fail "(a) dest not small: $line"
[ -z "$(small_files)" ] || fail "(a) files in small: $(small_files)"

note "(b) the disk fills during the transfer"
fill_during "(b)" "$SMALL" small twelve $((12 * 1024 * 1024))
daemon_alive || fail "(b) the daemon died"
# The other destination is unharmed meanwhile.
mkfile "$T/src/elsewhere" 200000
send_ok "$T/src/elsewhere"
check_file elsewhere 200000 >/dev/null
rm -f "$SMALL/filler"

note "(c) the next file that fits lands"
mkfile "$T/src/one" $((1024 * 1024))
rc=$(send_rc one "$T/src/one" "127.0.0.1:$PORT/small")
[ "$rc" -eq 0 ] || fail "(c) zcsend exited $rc"
same "$T/src/one" "$SMALL/one"
line=$(wait_xfer one)
[ "$(field "$line" result)" = ok ] || fail "(c) result not ok: $line"
[ "$(small_files)" = one ] || fail "(c) small holds: $(small_files | tr '\n' ' ')"
[ "$(find "$T/dest" -mindepth 1 -printf '%P\n')" = elsewhere ] ||
    fail "files in the default destination: $(find "$T/dest" -mindepth 1)"

stop_daemon
check_daemon_log
check_xfer_log
