#!/bin/bash
# A sender killed mid-file: nothing appears under the final name, the
# daemon stays up, notices the end of the connection and removes its
# staging file, logs a failed transfer, and lands the next file normally.
. "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024 * 1024))
need_space $((2 * SIZE + 64 * 1024 * 1024))
dd if=/dev/urandom of="$T/src/big.bin" bs=16M count=64 iflag=fullblock \
    status=none
mkfile "$T/src/small.bin" 4097

ALLOW_LOG='^zcrecvd: (failed big\.bin from 127\.0\.0\.1:[0-9]+: |127\.0\.0\.1:[0-9]+: )'
start_daemon

"$ZCSEND" "$T/src/big.bin" "127.0.0.1:$PORT" >"$T/big.out" 2>"$T/big.err" &
spid=$!
BGPIDS+=("$spid")

# Wait for payload to reach the staging file, then freeze the sender so the
# file cannot be finished before it is killed.
freeze_mid_file "$spid" big.bin big
staged=$STAGED
note "staging file $(basename "$staged"): $(stat -c %s "$staged") bytes"
kill -KILL "$spid"
wait "$spid" 2>/dev/null || true

# The daemon notices the closed connection and cleans up (bounded wait,
# shorter than the default stall_timeout of 30 s).
for ((i = 0; i < 200; i++)); do
	[ -n "$(staging_files)" ] || break
	sleep 0.1
done
no_staging
daemon_alive || fail "daemon died after the sender was killed"
[ ! -e "$T/dest/big.bin" ] || fail "big.bin appeared under its final name"

line=$(wait_xfer big.bin)
result=$(field "$line" result)
[ "$result" != ok ] || fail "killed transfer logged as ok: $line"
note "killed transfer logged with result $result"
grep -qE '^zcrecvd: failed big\.bin from 127\.0\.0\.1:[0-9]+: ' "$DLOG" ||
    fail "no 'failed big.bin' line in the daemon log"

send_ok "$T/src/small.bin"
check_file small.bin 4097 >/dev/null
[ ! -e "$T/dest/big.bin" ] || fail "big.bin appeared under its final name"
[ "$(find "$T/dest" -mindepth 1 | wc -l)" -eq 1 ] || fail "extra files in dest"
stop_daemon
check_daemon_log
check_xfer_log
