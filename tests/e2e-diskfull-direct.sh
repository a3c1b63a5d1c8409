#!/bin/bash
# Disk full under io = direct, where writes of a file over 2 MiB are queued
# on an io_uring and fail only when they complete.  A 64 MiB ext4 file
# system on a loop device (no root reserve) is a second destination [ext]
# with io = direct and min_free = 0:
#   (a) a 40 MiB file is accepted (it fits), zcsend is stopped the moment
#       its staging file appears, the file system is filled, zcsend goes
#       on: it exits 4 "(nospace)", the transfer log says nospace, no
#       staging file remains, nothing lands under the name, the default
#       destination and the daemon are unharmed;
#   (b) with the filler removed, the next file that fits (8 MiB, queued
#       writes too) lands, written with io direct.
. "$(dirname "$0")/lib.sh"

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"
[ "$(id -u)" -eq 0 ] || skip "needs root to mount a file system"
command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4"

SMALL=$T/ext
mkdir "$SMALL"
truncate -s 64M "$T/ext.img"
mkfs.ext4 -q -F -m 0 "$T/ext.img" >"$T/mkfs.out" 2>&1 ||
    hard_error "mkfs.ext4 failed: $(cat "$T/mkfs.out")"
mount -o loop "$T/ext.img" "$SMALL" 2>"$T/mount.err" ||
    skip "cannot mount a loop device: $(cat "$T/mount.err")"
# Always unmount (lazily: the daemon may still hold the directory), then
# lib.sh's cleanup, with the test's exit status.
trap '_rc=$?; set +e; umount -l "$SMALL" 2>/dev/null; (exit $_rc); _cleanup' EXIT
rmdir "$SMALL/lost+found"
chown "$DAEMON_USER:" "$SMALL"

DEFAULT_EXTRA="[ext]
path = $SMALL
io = direct
min_free = 0"
ALLOW_LOG='^zcrecvd: failed forty from 127\.0\.0\.1:[0-9]+: nospace: '

small_files() {
	find "$SMALL" -mindepth 1 -printf '%P\n' | LC_ALL=C sort
}

start_daemon

note "(a) the disk fills during a transfer written with queued O_DIRECT writes"
fill_during "(a)" "$SMALL" ext forty $((40 * 1024 * 1024))
[ "$(field "$FILL_LINE" io)" = direct ] || fail "(a) io not direct: $FILL_LINE"
daemon_alive || fail "(a) the daemon died"
# The other destination is unharmed meanwhile.
mkfile "$T/src/elsewhere" 200000
send_ok "$T/src/elsewhere"
check_file elsewhere 200000 >/dev/null
rm -f "$SMALL/filler"

note "(b) the next file that fits lands"
mkfile "$T/src/eight" $((8 * 1024 * 1024))
rc=0
"$ZCSEND" "$T/src/eight" "127.0.0.1:$PORT/ext" >"$T/eight.out" \
    2>"$T/eight.err" </dev/null || rc=$?
prefix 'zcsend eight stderr: ' "$T/eight.err" >&2
[ "$rc" -eq 0 ] || fail "(b) zcsend exited $rc"
same "$T/src/eight" "$SMALL/eight"
line=$(wait_xfer eight)
[ "$(field "$line" result)" = ok ] || fail "(b) result not ok: $line"
[ "$(field "$line" io)" = direct ] || fail "(b) io not direct: $line"
[ "$(small_files)" = eight ] || fail "(b) ext holds: $(small_files | tr '\n' ' ')"
[ "$(find "$T/dest" -mindepth 1 -printf '%P\n')" = elsewhere ] ||
    fail "files in the default destination: $(find "$T/dest" -mindepth 1)"

stop_daemon
check_daemon_log
check_xfer_log
