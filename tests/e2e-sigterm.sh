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
staged=
for ((i = 0; i < 1000; i++)); do
	staged=$(find "$T/dest" -maxdepth 1 -name '.zcrecvd.*.part' -size +0 \
	    -print -quit)
	[ -z "$staged" ] || break
	alive "$spid" || break
	sleep 0.01
done
kill -STOP "$spid" 2>/dev/null || true
if [ -z "$staged" ] || [ -e "$T/dest/big.bin" ] || ! alive "$spid"; then
	cat "$T/big.out" "$T/big.err" >&2
	[ -e "$T/dest/big.bin" ] && skip "the whole file landed before the sender could be stopped"
	fail "no staging file with data appeared while zcsend was sending"
fi
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
kill -CONT "$spid"
for ((i = 0; i < 300; i++)); do
	alive "$spid" || break
	sleep 0.1
done
if alive "$spid"; then
	kill -KILL "$spid" 2>/dev/null || true
	fail "zcsend -t 5 still running 30 s after the daemon stopped"
fi
rc=0
wait "$spid" || rc=$?
prefix 'zcsend stdout: ' "$T/big.out" >&2
prefix 'zcsend stderr: ' "$T/big.err" >&2
case $rc in
3|4) note "zcsend exited $rc" ;;
*) fail "zcsend exited $rc, expected 3 (connection) or 4 (rejected)" ;;
esac
! grep -q landed "$T/big.out" || fail "zcsend says big.bin landed"
[ ! -e "$T/dest/big.bin" ] || fail "big.bin appeared under its final name"
check_daemon_log
check_xfer_log
