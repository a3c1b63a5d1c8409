#!/bin/bash
# On a terminal zcsend shows a progress line (bytes, rate, ETA) besides its
# summary; with stderr not a terminal it shows none.  The terminal is a
# pseudo-terminal from script(1) (util-linux).
. "$(dirname "$0")/lib.sh"

command -v script >/dev/null 2>&1 || skip "script(1) is not installed"

SIZE=$((64 * 1024 * 1024))
mkfile "$T/src/tty.bin" "$SIZE"
mkfile "$T/src/notty.bin" "$SIZE"

start_daemon

# run_bounded SECONDS OUT CMD...: run CMD with stdout and stderr to OUT,
# stdin from /dev/null; fail if it runs longer than SECONDS; sets RC.
run_bounded() {
	local secs=$1 out=$2 pid i
	shift 2
	"$@" >"$out" 2>&1 </dev/null &
	pid=$!
	BGPIDS+=("$pid")
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "$1 still running after $secs s"
	fi
	RC=0
	wait "$pid" || RC=$?
}

note "stderr is a terminal"
cmd=$(printf '%q ' "$ZCSEND" "$T/src/tty.bin" "127.0.0.1:$PORT")
run_bounded 60 "$T/tty.raw" script -qefc "$cmd" /dev/null
# Lines on a terminal end in CR LF and the progress line is rewritten in
# place after a CR and an erase-line sequence: split at every CR and drop
# the erase sequences.
tr '\r' '\n' <"$T/tty.raw" | sed 's/\x1b\[K//g' | grep -v '^$' >"$T/tty.out" ||
    true
prefix 'zcsend on a tty: ' "$T/tty.out" >&2
[ "$RC" -eq 0 ] || fail "zcsend under script(1) exited $RC"
grep -qE '^tty\.bin  .+ / .+  [0-9]+\.[0-9]{2} Gbit/s  ETA [0-9]+:[0-9]{2}$' \
    "$T/tty.out" || fail "no progress line with Gbit/s and ETA on the terminal"
check_summary "$T/tty.out" tty.bin "$SIZE" >/dev/null
same "$T/src/tty.bin" "$T/dest/tty.bin"
check_landed tty.bin "$SIZE" >/dev/null

note "stderr is a file"
rc=0
"$ZCSEND" "$T/src/notty.bin" "127.0.0.1:$PORT" >"$T/send.out" \
    2>"$T/send.err" </dev/null || rc=$?
prefix 'zcsend stdout: ' "$T/send.out" >&2
prefix 'zcsend stderr: ' "$T/send.err" >&2
[ "$rc" -eq 0 ] || fail "zcsend without a terminal exited $rc"
! grep -q 'ETA' "$T/send.err" "$T/send.out" ||
    fail "progress line printed although stderr is not a terminal"
! grep -q $'\r' "$T/send.err" "$T/send.out" ||
    fail "carriage return in zcsend output although stderr is not a terminal"
[ ! -s "$T/send.err" ] || fail "zcsend wrote to stderr"
check_file notty.bin "$SIZE" >/dev/null

no_staging
stop_daemon
check_daemon_log
check_xfer_log
