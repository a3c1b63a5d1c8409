#!/bin/bash
# WatchdogSec=: with WATCHDOG_USEC in its environment (as systemd sets it)
# the daemon sends WATCHDOG=1 at half the period, also while it is busy
# with a transfer; without it, never.
. "$(dirname "$0")/lib.sh"

NOUT=$T/notify.out

# count REGEX: how many lines of $NOUT match.
count() {
	grep -cE "$1" "$NOUT" || true
}

start_sdlisten "$T/notify" "$NOUT"
# A one-second period: WATCHDOG=1 every half second.
DAEMON_ENV=("NOTIFY_SOCKET=$T/notify" "WATCHDOG_USEC=1000000")
start_daemon
wait_notify "$NOUT" '(^| [|] )READY=1( [|] |$)'

note "WATCHDOG=1 keeps coming, also during a transfer"
wait_notify "$NOUT" '^WATCHDOG=1$' 2
mkfile "$T/src/f" 67108864
send_ok "$T/src/f"
check_file f 67108864 >/dev/null
before=$(count '^WATCHDOG=1$')
wait_notify "$NOUT" '^WATCHDOG=1$' $((before + 2))
stop_daemon

note "without WATCHDOG_USEC: no WATCHDOG=1"
NOUT=$T/notify2.out
start_sdlisten "$T/notify2" "$NOUT"
DAEMON_ENV=("NOTIFY_SOCKET=$T/notify2")
start_daemon
wait_notify "$NOUT" '(^| [|] )READY=1( [|] |$)'
# STATUS= comes every 2 s: two of them prove time passed for a watchdog.
wait_notify "$NOUT" '^STATUS=' 2
[ "$(count '^WATCHDOG=1$')" -eq 0 ] || fail "WATCHDOG=1 without WATCHDOG_USEC"
stop_daemon
check_daemon_log
