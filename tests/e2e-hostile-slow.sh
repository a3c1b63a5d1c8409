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

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"

mkdir "$T/out" "$T/outside"
echo "not for the network" >"$T/outside/target"

SERVER_EXTRA="stall_timeout = 2
idle_timeout = 2"
ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: (no HELLO within 2 s, closing|idle for 2 s, closing|payload is not mappable |protocol error: |[a-z ]+ within 2 s, closing)|failed (stall|slowloris|trickle) from 127\.0\.0\.1:[0-9]+: timeout: )'

# --- checks shared by every case ------------------------------------------

# hrun LABEL ARGS...: run hostile ARGS against the daemon; its output in
# $T/out/LABEL.  It must finish its case (DONE) with no wait timing out.
hrun() {
	local label=$1 rc=0
	shift
	"$HOSTILE" "$@" >"$T/out/$label" 2>"$T/out/$label.err" </dev/null ||
	    rc=$?
	prefix "hostile $label: " "$T/out/$label" >&2
	prefix "hostile $label (stderr): " "$T/out/$label.err" >&2
	[ "$rc" -eq 0 ] || fail "$label: hostile exited $rc"
	grep -qx DONE "$T/out/$label" || fail "$label: hostile did not finish"
	if grep -qE '^(TIMEOUT|BAD )' "$T/out/$label"; then
		fail "$label: the daemon did not answer in time, or sent a malformed record"
	fi
}

# expect_lines LABEL RE...: hostile's output is exactly one line per RE,
# each matching it as a whole (extended regex), in order.
expect_lines() {
	local label=$1 f=$T/out/$1 i=0 line re
	shift
	[ "$(wc -l <"$f")" -eq $# ] ||
	    fail "$label: $(wc -l <"$f") lines of output, expected $#: $*"
	for re in "$@"; do
		i=$((i + 1))
		line=$(sed -n "${i}p" "$f")
		[[ $line =~ ^($re)$ ]] ||
		    fail "$label: line $i is '$line', expected '$re'"
	done
}

# Everything the daemon could reach outside its destination: the temp dir
# (but the destination, hostile's output and the logs), with sizes, modes
# and times; /etc/x and the parent of the temp dir's x.
outside_state() {
	(cd "$T" && find . \( -path ./dest -o -path ./out -o \
	    -path ./send.out -o -path ./send.err -o \
	    -name 'daemon.*' -o -name xfer.log \) -prune -o \
	    -printf '%p %y %s %m %T@ %l\n') | LC_ALL=C sort
	cksum "$T/outside/target"
	local p
	for p in /etc/x /x "$(dirname "$T")/x"; do
		[ ! -e "$p" ] || echo "exists: $p"
	done
}

# The names that must be in the destination, nothing else.
LANDED=()
dest_state() {
	find "$T/dest" -mindepth 1 -printf '%P\n' | LC_ALL=C sort
}
expected_dest() {
	[ "${#LANDED[@]}" -eq 0 ] || printf '%s\n' "${LANDED[@]}" | LC_ALL=C sort
}

# Wait up to 10 s for the daemon to drop its staging files.
wait_no_staging() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(staging_files)" ] || return 0
		sleep 0.1
	done
	fail "$1: staging file left in dest: $(staging_files)"
}

# xfer_result NAME RESULT: the next transfer log line for NAME (the
# daemon logs every file it started) has RESULT.
declare -A XN=()
xfer_result() {
	local line
	XN[$1]=$((${XN[$1]:-0} + 1))
	line=$(wait_xfer "$1" "${XN[$1]}")
	[ "$(field "$line" result)" = "$2" ] ||
	    fail "$1: transfer log result $(field "$line" result), expected $2: $line"
}

# same_daemon: the daemon started first is still running: same pid, same
# start time.
same_daemon() {
	daemon_alive || fail "$1: the daemon died"
	[ "$DPID" = "$PID0" ] || fail "$1: another daemon pid"
	[ "$(awk '{ print $22 }' "/proc/$DPID/stat")" = "$START0" ] ||
	    fail "$1: the daemon's pid belongs to another process"
}

# after_case LABEL: the checks that follow every attack.
n_ok=0
after_case() {
	local label=$1 now
	same_daemon "$label"
	wait_no_staging "$label"
	now=$(outside_state)
	[ "$now" = "$OUTSIDE0" ] || {
		diff <(printf '%s\n' "$OUTSIDE0") <(printf '%s\n' "$now") >&2 || true
		fail "$label: something changed outside the destination"
	}
	[ "$(dest_state)" = "$(expected_dest)" ] || {
		diff <(expected_dest) <(dest_state) >&2 || true
		fail "$label: unexpected names in the destination"
	}
	# A normal file still lands, from the same daemon.
	n_ok=$((n_ok + 1))
	mkfile "$T/src/ok-$n_ok" $((5000 + n_ok))
	send_ok "$T/src/ok-$n_ok"
	check_file "ok-$n_ok" $((5000 + n_ok)) >/dev/null
	LANDED+=("ok-$n_ok")
	same_daemon "$label"
	# The next attack starts from here (the sender's own files are new).
	OUTSIDE0=$(outside_state)
	note "$label: ok"
}

# landed_pattern NAME SIZE: NAME landed with hostile's payload pattern.
landed_pattern() {
	"$HOSTILE" pattern "$2" >"$T/out/pattern"
	same "$T/out/pattern" "$T/dest/$1"
	LANDED+=("$1")
}

# --- attacks --------------------------------------------------------------
start_daemon
PID0=$DPID
START0=$(awk '{ print $22 }' "/proc/$DPID/stat")
OUTSIDE0=$(outside_state)
H=(127.0.0.1 "$PORT")
HELLO='HELLO version 1'
ACCEPT='ACCEPT offset 0'
CLOSED='EOF|RESET'

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

# hsoft LABEL ARGS...: run hostile like hrun, but only print its output.
hsoft() {
	local label=$1 rc=0
	shift
	"$HOSTILE" "$@" >"$T/out/$label" 2>"$T/out/$label.err" </dev/null ||
	    rc=$?
	prefix "hostile $label: " "$T/out/$label" >&2
	prefix "hostile $label (stderr): " "$T/out/$label.err" >&2
	[ "$rc" -eq 0 ] || fail "$label: hostile exited $rc"
}

# Slowloris on a record header: one byte a second of a FILE record.  A
# record that has begun must be finished within stall_timeout (or the
# connection could be held for record length x idle_timeout, over and over).
hsoft slow-header slow-header "${H[@]}" 20
if grep -qx TIMEOUT "$T/out/slow-header"; then
	problems+=("slow-header: a FILE record trickled at 1 byte/s held the connection for 20 s (stall_timeout = 2, idle_timeout = 2)")
else
	last=$(tail -n 2 "$T/out/slow-header" | head -n 1)
	[[ $last =~ ^($CLOSED)$ ]] ||
	    fail "slow-header: '$last', expected the connection closed"
fi
after_case slow-header

# Slow but steady progress is not a stall.
hsoft trickle trickle "${H[@]}" 262144 6
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
