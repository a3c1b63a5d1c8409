#!/bin/bash
# kill -9 of the daemon mid-transfer.  A 1 GiB file is being sent; once its
# staging file holds data, the sender is frozen and the daemon killed with
# SIGKILL.  Then: nothing under the final name, the staging file left by
# the crash is still there, and the sender, woken up, exits 3 instead of
# hanging.  A new daemon on the same destination removes the stale staging
# file at start-up ("removed 1 stale staging file of an earlier run"),
# leaves alone what only looks like one (a symlink to a file outside, a
# directory, near-miss names), and lands a normal file.
. "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024 * 1024))
need_space $((2 * SIZE + 64 * 1024 * 1024))
dd if=/dev/urandom of="$T/src/big.bin" bs=16M count=64 iflag=fullblock \
    status=none

mkdir "$T/outside"
echo "not for the daemon" >"$T/outside/target"

ALLOW_LOG='^zcrecvd: [^ ]+/dest: removed 1 stale staging file of an earlier run$'
start_daemon

"$ZCSEND" -t 5 "$T/src/big.bin" "127.0.0.1:$PORT" >"$T/big.out" \
    2>"$T/big.err" </dev/null &
spid=$!
BGPIDS+=("$spid")

# Wait for payload in the staging file, then freeze the sender so that the
# file cannot be finished before the daemon is killed.
freeze_mid_file "$spid" big.bin big
staged=$STAGED

kill -KILL "$DPID"
rc=0
wait "$DPID" 2>/dev/null || rc=$?
[ "$rc" -eq 137 ] || fail "the daemon exited $rc after SIGKILL, expected 137"
DPID=		# nothing for stop_daemon or the cleanup to stop
note "killed the daemon with $(stat -c %s "$staged") bytes in $(basename "$staged")"

[ ! -e "$T/dest/big.bin" ] || fail "big.bin appeared under its final name"
[ -f "$staged" ] || fail "the staging file is gone after the crash"
[ "$(find "$T/dest" -mindepth 1 -printf '%P\n')" = "$(basename "$staged")" ] ||
    fail "dest holds more than the staging file: $(find "$T/dest" -mindepth 1)"

# The sender, woken up, finds the receiver gone: exit 3 (bounded: -t 5,
# allow 30 s).
resume_sender "$spid" big \
    "zcsend -t 5 still running 30 s after the daemon was killed"
[ "$SEND_RC" -eq 3 ] ||
    fail "zcsend exited $SEND_RC, expected 3 (connection failure)"
! grep -q landed "$T/big.out" || fail "zcsend says big.bin landed"

# Things that look like staging files but are not a regular file of the
# exact form: the restart must leave them (and what they point to) alone.
ln -s "$T/outside/target" "$T/dest/.zcrecvd.0123456789abcdef.part"
mkdir "$T/dest/.zcrecvd.fedcba9876543210.part"
echo keep >"$T/dest/.zcrecvd.0123456789abcde.part"
echo keep >"$T/dest/.zcrecvd.0123456789ABCDEF.part"
echo keep >"$T/dest/x.zcrecvd.0123456789abcdef.part"
chown -h "$DAEMON_USER:" "$T"/dest/.zcrecvd.* "$T/dest/x.zcrecvd.0123456789abcdef.part"
decoys=$(find "$T/dest" -mindepth 1 ! -path "$staged" -printf '%P %y\n' |
    LC_ALL=C sort)

start_daemon
grep -qE "^zcrecvd: $(re_quote "$T/dest"): removed 1 stale staging file of an earlier run$" "$DLOG" ||
    fail "no 'removed 1 stale staging file of an earlier run' line in the new daemon's log"
[ ! -e "$staged" ] || fail "the stale staging file is still there"
[ ! -e "$T/dest/big.bin" ] || fail "big.bin appeared under its final name"
now=$(find "$T/dest" -mindepth 1 -printf '%P %y\n' | LC_ALL=C sort)
[ "$now" = "$decoys" ] || {
	diff <(printf '%s\n' "$decoys") <(printf '%s\n' "$now") >&2 || true
	fail "the restart touched files that are not its staging files"
}
[ "$(cat "$T/outside/target")" = "not for the daemon" ] ||
    fail "the target of the symlink was changed"

mkfile "$T/src/after" 3000000
send_ok "$T/src/after"
check_file after 3000000 >/dev/null
stop_daemon
check_daemon_log
check_xfer_log
