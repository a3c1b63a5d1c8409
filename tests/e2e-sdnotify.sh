#!/bin/bash
# The sd_notify sequence, read from a NOTIFY_SOCKET the test owns: READY=1
# (with a STATUS=) once the daemon is up, and then the listener takes a
# file; a later STATUS= counts the landed file; SIGHUP sends RELOADING=1
# (with MONOTONIC_USEC=) and READY=1 again; SIGTERM sends STOPPING=1, last.
. "$(dirname "$0")/lib.sh"

NOUT=$T/notify.out

# line_of REGEX [AFTER]: number of the first line of $NOUT after line AFTER
# (default 0) that matches REGEX; empty if none.
line_of() {
	awk -v re="$1" -v after="${2:-0}" \
	    'NR > after && $0 ~ re { print NR; exit }' "$NOUT"
}

# Regex for a message with the line $1 among its " | "-separated lines.
msg_re() {
	printf '(^| [|] )%s( [|] |$)' "$1"
}
READY_RE=$(msg_re READY=1)
STOPPING_RE=$(msg_re STOPPING=1)
RELOADING_RE=$(msg_re RELOADING=1)
STATUS_TAIL='0 failed, [0-9]+\.[0-9]{2} Gbit/s, [0-9]+\.[0-9]% zero-copy$'

mkfile "$T/src/f" 3000000

ALLOW_LOG='^zcrecvd: (SIGHUP: reloading .*/zcrecvd\.conf$|configuration reloaded$)'
start_sdlisten "$T/notify" "$NOUT"
DAEMON_ENV=("NOTIFY_SOCKET=$T/notify")
start_daemon

note "READY=1, then a file lands"
wait_notify "$NOUT" "$READY_RE"
ready=$(line_of "$READY_RE")
grep -qE "^READY=1 [|] STATUS=0 connections, 0 files landed, $STATUS_TAIL" <<<"$(sed -n "${ready}p" "$NOUT")" ||
    fail "READY=1 message without the expected STATUS=: $(sed -n "${ready}p" "$NOUT")"
send_ok "$T/src/f"
check_file f 3000000 >/dev/null

note "STATUS= counts the landed file (updated every 2 s)"
# Bounded: the first update after the transfer comes within 2 s; allow 10.
wait_notify "$NOUT" "^STATUS=[0-9]+ connections, 1 files landed, $STATUS_TAIL"
status=$(line_of '^STATUS=[0-9]+ connections, 1 files landed, ')
[ "$status" -gt "$ready" ] || fail "STATUS= with 1 file landed before READY=1"

note "SIGHUP: RELOADING=1, then READY=1 again"
kill -HUP "$DPID"
wait_notify "$NOUT" '^RELOADING=1 [|] MONOTONIC_USEC=[0-9]+$'
reloading=$(line_of '^RELOADING=1 ')
[ "$reloading" -gt "$status" ] || fail "RELOADING=1 came before the SIGHUP"
wait_notify "$NOUT" "$READY_RE" 2
ready2=$(line_of "$READY_RE" "$reloading")
[ -n "$ready2" ] || fail "no READY=1 after RELOADING=1"
grep -qE '^zcrecvd: configuration reloaded$' "$DLOG" ||
    fail "no 'configuration reloaded' in the daemon log"
# Still serving after the reload.
mkfile "$T/src/g" 4097
send_ok "$T/src/g"
check_file g 4097 >/dev/null

note "SIGTERM: STOPPING=1"
stop_daemon
wait_notify "$NOUT" "$STOPPING_RE"
stopping=$(line_of "$STOPPING_RE")
[ "$stopping" -gt "$ready2" ] || fail "STOPPING=1 before the second READY=1"
# READY=1 twice (start, reload), STOPPING=1 once, nothing ready after it.
n=$(grep -cE "$READY_RE" "$NOUT")
[ "$n" -eq 2 ] || fail "READY=1 sent $n times, expected 2"
[ "$(grep -cE "$STOPPING_RE" "$NOUT")" -eq 1 ] ||
    fail "STOPPING=1 sent more than once"
[ "$(grep -cE "$RELOADING_RE" "$NOUT")" -eq 1 ] ||
    fail "RELOADING=1 sent more than once"
# No WatchdogSec here: no WATCHDOG=1.
! grep -q 'WATCHDOG=' "$NOUT" || fail "WATCHDOG=1 sent without WATCHDOG_USEC"
prefix 'notify: ' "$NOUT" >&2
check_daemon_log
check_xfer_log
