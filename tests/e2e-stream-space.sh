#!/bin/bash
# min_free for a stream of unknown size, enforced as the bytes arrive.  A
# 64 MiB tmpfs is a second destination [small] with min_free = 16M:
#   (a) an endless stream (cat /dev/zero) is accepted, and refused with
#       "nospace" before it would take the free space below 16 MiB: zcsend
#       exits 4 at once (the producer's pipe breaks), nothing lands, no
#       staging file is left, and the file system keeps its floor free;
#   (b) a stream that fits (8 MiB) lands;
#   (c) with the file system below its floor, a stream is refused up
#       front (0 bytes received).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"

SMALL=$T/small
mkdir "$SMALL"
mount -t tmpfs -o size=64m,mode=0755 tmpfs "$SMALL" 2>"$T/mount.err" ||
    skip "cannot mount a tmpfs: $(cat "$T/mount.err")"
# Always unmount (lazily: the daemon may still hold the directory), then
# lib.sh's cleanup, with the test's exit status.
trap '_rc=$?; set +e; umount -l "$SMALL" 2>/dev/null; (exit $_rc); _cleanup' EXIT
chown "$DAEMON_USER:" "$SMALL"
FLOOR=$((16 * 1024 * 1024))

DEFAULT_EXTRA="[small]
path = $SMALL
min_free = 16M"
ALLOW_LOG='^zcrecvd: failed (endless|below) from 127\.0\.0\.1:[0-9]+: nospace: '
start_daemon

# stream NAME PRODUCER: PRODUCER | zcsend - --name NAME to [small]; sets
# RC (zcsend's exit status) and PRC (the producer's).
stream() {
	local st
	st=$(timeout 120 bash -c 'bash -c "$1" | "${@:2}"
		echo "${PIPESTATUS[*]}" >&3' _ "$2" "$ZCSEND" - --name "$1" \
	    "127.0.0.1:$PORT/small" 3>&1 >"$T/$1.out" 2>"$T/$1.err" \
	    </dev/null) || true
	prefix "zcsend $1 stderr: " "$T/$1.err" >&2
	[ -n "$st" ] || fail "$1: the pipeline did not end within 120 s"
	PRC=${st%% *}
	RC=${st##* }
}

# free: bytes free in [small].
free() {
	df -P -B1 "$SMALL" | awk 'NR == 2 { print $4 }'
}

note "(a) an endless stream stops at the floor"
stream endless "cat /dev/zero"
[ "$RC" -eq 4 ] || fail "endless: zcsend exited $RC, expected 4"
[ "$PRC" -eq 141 ] ||
    fail "endless: the producer exited $PRC, expected 141 (SIGPIPE)"
grep -qE '^zcsend: endless: rejected by receiver \(nospace\): not enough space in small: [0-9]+ bytes free, 16777216 kept free, stream needs [0-9]+ more after [0-9]+$' \
    "$T/endless.err" || fail "endless: no clear nospace message"
line=$(wait_xfer endless)
[ "$(field "$line" result)" = nospace ] ||
    fail "endless: result not nospace: $line"
[ "$(field "$line" bytes)" -gt 0 ] ||
    fail "endless: refused before any byte: $line"
[ "$(field "$line" bytes)" -le $((64 * 1024 * 1024 - FLOOR)) ] ||
    fail "endless: more than the room above the floor taken: $line"
for ((i = 0; i < 100; i++)); do
	[ -z "$(find "$SMALL" -mindepth 1)" ] && break
	sleep 0.1
done
[ -z "$(find "$SMALL" -mindepth 1)" ] ||
    fail "small holds $(find "$SMALL" -mindepth 1 -printf '%P ')"

note "(b) a stream that fits lands"
mkfile "$T/src/fits" $((8 * 1024 * 1024 + 17))
stream fits "cat '$T/src/fits'"
[ "$RC" -eq 0 ] || fail "fits: zcsend exited $RC, expected 0"
same "$T/src/fits" "$SMALL/fits"
rm -f "$SMALL/fits"

note "(c) below the floor: refused up front"
dd if=/dev/zero of="$SMALL/filler" bs=1M count=50 status=none
[ "$(free)" -lt "$FLOOR" ] || fail "the filler left $(free) bytes free"
stream below "cat /dev/zero"
[ "$RC" -eq 4 ] || fail "below: zcsend exited $RC, expected 4"
[ "$PRC" -eq 141 ] ||
    fail "below: the producer exited $PRC, expected 141 (SIGPIPE)"
grep -q '^zcsend: below: rejected by receiver (nospace): ' "$T/below.err" ||
    fail "below: not refused with nospace"
line=$(wait_xfer below)
[ "$(field "$line" bytes)" -eq 0 ] || fail "below: bytes received: $line"
[ ! -e "$SMALL/below" ] || fail "below landed"

stop_daemon
check_daemon_log
check_xfer_log
