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
mkfile "$T/src/forty" $((40 * 1024 * 1024))
# zcsend starts stopped, so that the watcher knows its pid before it runs.
(kill -STOP "$BASHPID" && exec "$ZCSEND" -t 10 "$T/src/forty" \
    "127.0.0.1:$PORT/ext") >"$T/forty.out" 2>"$T/forty.err" </dev/null &
spid=$!
BGPIDS+=("$spid")
"$HOSTILE" stop-on-staging "$SMALL" "$spid" >"$T/watch.out" \
    2>"$T/watch.err" &
wpid=$!
BGPIDS+=("$wpid")
for ((i = 0; i < 100; i++)); do
	grep -qx WATCHING "$T/watch.out" && break
	sleep 0.1
done
grep -qx WATCHING "$T/watch.out" || fail "(a) the watcher did not start"
for ((i = 0; i < 100; i++)); do
	[ "$(awk '{ print $3 }' "/proc/$spid/stat")" = T ] && break
	sleep 0.01
done
kill -CONT "$spid"
rc=0
wait "$wpid" || rc=$?
prefix 'watcher: ' "$T/watch.out" >&2
[ "$rc" -eq 0 ] && grep -q '^STOPPED \.zcrecvd\.' "$T/watch.out" ||
    fail "(a) zcsend was not stopped when its staging file appeared"
staged=$(find "$SMALL" -maxdepth 1 -name '.zcrecvd.*.part' -print)
[ -n "$staged" ] || fail "(a) no staging file in ext"
note "(a) zcsend stopped; staging file $(basename "$staged"), $(stat -c %s "$staged") bytes"
# Fill the filesystem (made with no root reserve).
dd if=/dev/zero of="$SMALL/filler" bs=64k status=none 2>/dev/null || true
dd if=/dev/zero of="$SMALL/filler" bs=4k oflag=append conv=notrunc \
    status=none 2>/dev/null || true
avail=$(df -P -B1 "$SMALL" | awk 'NR == 2 { print $4 }')
[ "$avail" -eq 0 ] || fail "(a) the filesystem still has $avail bytes free"
kill -CONT "$spid"
for ((i = 0; i < 300; i++)); do
	alive "$spid" || break
	sleep 0.1
done
alive "$spid" && fail "(a) zcsend -t 10 still running 30 s after the disk filled"
rc=0
wait "$spid" || rc=$?
prefix 'zcsend forty stdout: ' "$T/forty.out" >&2
prefix 'zcsend forty stderr: ' "$T/forty.err" >&2
[ "$rc" -eq 4 ] || fail "(a) zcsend exited $rc, expected 4"
grep -qE '^zcsend: forty: rejected by receiver \(nospace\): ' "$T/forty.err" ||
    fail "(a) zcsend stderr lacks 'forty: rejected by receiver (nospace)'"
line=$(wait_xfer forty)
[ "$(field "$line" result)" = nospace ] || fail "(a) result not nospace: $line"
[ "$(field "$line" io)" = direct ] || fail "(a) io not direct: $line"
# The daemon removes its staging file (bounded wait) and lands nothing.
for ((i = 0; i < 100; i++)); do
	[ "$(small_files)" = filler ] && break
	sleep 0.1
done
[ "$(small_files)" = filler ] ||
    fail "(a) ext holds $(small_files | tr '\n' ' ')besides the filler"
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
