#!/bin/bash
# Slow and silent clients, with stall_timeout = 2 and idle_timeout = 2: the
# timeouts fire (every wait is bounded: hostile gives up after 20 s and
# prints TIMEOUT, which fails the test), nothing lands, no staging file is
# left, the daemon goes on serving:
#   - connect and say nothing (no HELLO within stall_timeout);
#   - HELLO, then nothing (idle_timeout);
#   - a file accepted, then nothing (stall_timeout: RESULT timeout);
#   - slowloris: a file accepted, one payload byte a second (RESULT timeout);
#   - slowloris on a record header: a FILE record one byte a second (the
#     connection closes);
# and the timeout does not hit a sender that is slow but steady: a file
# trickled at 256 KiB/s for 6 s (25.6 KiB every 100 ms) lands.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile-lib.sh"

SERVER_EXTRA="stall_timeout = 2
idle_timeout = 2"
ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: (no HELLO within 2 s, closing|idle for 2 s, closing|payload is not mappable |protocol error: |[a-z ]+ within 2 s, closing)|failed (stall|slowloris|trickle) from 127\.0\.0\.1:[0-9]+: timeout: )'

# --- attacks --------------------------------------------------------------
hostile_start

hrun silent silent "${H[@]}" 20
expect_lines silent IDLE "$CLOSED" DONE
grep -qE '^zcrecvd: 127\.0\.0\.1:[0-9]+: no HELLO within 2 s, closing$' "$DLOG" ||
    fail "silent: no 'no HELLO within 2 s' line in the daemon log"
after_case silent

hrun idle idle "${H[@]}" 20
expect_lines idle "$HELLO" IDLE "$CLOSED" DONE
grep -qE '^zcrecvd: 127\.0\.0\.1:[0-9]+: idle for 2 s, closing$' "$DLOG" ||
    fail "idle: no 'idle for 2 s' line in the daemon log"
after_case idle

hrun stall stall "${H[@]}" 20
expect_lines stall "$HELLO" "$ACCEPT" IDLE 'RESULT code timeout: .+' \
    "$CLOSED" DONE
xfer_result stall timeout
after_case stall

hrun slowloris slowloris "${H[@]}" 20
expect_lines slowloris "$HELLO" "$ACCEPT" 'RESULT code timeout: .+' \
    "$CLOSED" DONE
xfer_result slowloris timeout
after_case slowloris

# The last two are checked together, and reported together at the end.
problems=()

# Slowloris on a record header: one byte a second of a FILE record.  A
# record that has begun must be finished within stall_timeout (or the
# connection could be held for record length x idle_timeout, over and over).
hplay slow-header slow-header "${H[@]}" 20
if grep -qx TIMEOUT "$T/out/slow-header"; then
	problems+=("slow-header: a FILE record trickled at 1 byte/s held the connection for 20 s (stall_timeout = 2, idle_timeout = 2)")
else
	last=$(tail -n 2 "$T/out/slow-header" | head -n 1)
	[[ $last =~ ^($CLOSED)$ ]] ||
	    fail "slow-header: '$last', expected the connection closed"
fi
after_case slow-header

# Slow but steady progress is not a stall.
hplay trickle trickle "${H[@]}" 262144 6
if grep -qx 'RESULT code ok: landed' "$T/out/trickle"; then
	landed_pattern trickle $((262144 * 6))
else
	problems+=("trickle: a file sent at a steady 256 KiB/s (25.6 KiB every 100 ms) failed: $(grep -m1 '^RESULT' "$T/out/trickle" || echo 'no RESULT')")
	xfer_result trickle timeout
fi
after_case trickle

stop_daemon
check_daemon_log
check_xfer_log
if [ "${#problems[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${problems[@]}" >&2
	fail "${#problems[@]} timeout problem(s)"
fi
