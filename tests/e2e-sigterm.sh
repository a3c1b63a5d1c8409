#!/bin/bash
# SIGTERM while a file is in flight: the daemon exits 0, removes its staging
# file, lands nothing under the final name and logs the file with result
# "shutdown"; the sender then fails (connection or rejection) instead of
# hanging.
. "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024 * 1024))
need_space $((2 * SIZE + 64 * 1024 * 1024))
dd if=/dev/urandom of="$T/src/big.bin" bs=16M count=64 iflag=fullblock \
    status=none

ALLOW_LOG='^zcrecvd: (failed big\.bin from 127\.0\.0\.1:[0-9]+: shutdown: |shutdown grace period over: aborting 1 transfer$)'
# Transfers in flight get one second to finish, then are aborted.
SERVER_EXTRA="shutdown_grace = 1"
start_daemon

"$ZCSEND" -t 5 "$T/src/big.bin" "127.0.0.1:$PORT" >"$T/big.out" \
    2>"$T/big.err" &
spid=$!
BGPIDS+=("$spid")

# Wait for payload to reach the staging file, then freeze the sender so the
# file cannot be finished before the daemon is told to stop.
freeze_mid_file "$spid" big.bin big
staged=$STAGED
note "staging file $(basename "$staged"): $(stat -c %s "$staged") bytes"

# SIGTERM, exit 0 within 10 s (stop_daemon insists on both).
stop_daemon
[ ! -e "$T/dest/big.bin" ] || fail "big.bin appeared under its final name"
no_staging
[ -z "$(find "$T/dest" -mindepth 1 -print)" ] ||
    fail "files left in dest: $(find "$T/dest" -mindepth 1 -print)"
line=$(wait_xfer big.bin)
[ "$(xfer_lines big.bin | wc -l)" -eq 1 ] ||
    fail "more than one transfer log line for big.bin"
[ "$(field "$line" result)" = shutdown ] ||
    fail "result not 'shutdown': $line"
grep -qE "$ALLOW_LOG" "$DLOG" ||
    fail "no 'failed big.bin ... shutdown' line in the daemon log"

# The sender, woken up, finds the receiver gone and gives up (bounded: its
# every wait is 5 s; allow 30 s in all).
resume_sender "$spid" big \
    "zcsend -t 5 still running 30 s after the daemon stopped"
case $SEND_RC in
3|4) note "zcsend exited $SEND_RC" ;;
*) fail "zcsend exited $SEND_RC, expected 3 (connection) or 4 (rejected)" ;;
esac
! grep -q landed "$T/big.out" || fail "zcsend says big.bin landed"
[ ! -e "$T/dest/big.bin" ] || fail "big.bin appeared under its final name"
check_daemon_log
check_xfer_log
