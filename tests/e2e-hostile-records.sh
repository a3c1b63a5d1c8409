#!/bin/bash
# Hostile records: garbage and truncated records at every state, record
# lengths 0, max, max+1 and 2^32-1, file sizes and DATA offsets up to
# 2^64-1, sizes smaller and larger than what is sent, a wrong digest, and
# every record type where it does not belong.  Each attack runs against the
# same daemon, and after each one:
#   - the expected record (ERROR/RESULT with its code) reached the client,
#   - nothing was written outside the destination,
#   - the destination holds exactly the files that should have landed,
#   - no staging file is left,
#   - the same daemon process still lands a normal file.
. "$(dirname "$0")/lib.sh"

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"

mkdir "$T/out" "$T/outside"
echo "not for the network" >"$T/outside/target"

ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: (protocol error: |peer reports error: )|failed [^ ]+ from 127\.0\.0\.1:[0-9]+: (protocol|aborted|size|digest|nospace): )'

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

# Everything the daemon could reach outside its destinations: the temp dir
# (but the destinations, hostile's output and the logs), with sizes, modes
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
PROTO='ERROR code protocol: .+'

# Garbage at each state.
hrun garbage-at-hello garbage-at-hello "${H[@]}"
expect_lines garbage-at-hello 'ERROR code protocol: unknown record type [0-9]+' \
    "$CLOSED" DONE
after_case garbage-at-hello

hrun garbage-after-hello garbage-after-hello "${H[@]}"
expect_lines garbage-after-hello "$HELLO" \
    'ERROR code protocol: unknown record type [0-9]+' "$CLOSED" DONE
after_case garbage-after-hello

hrun garbage-in-file garbage-in-file "${H[@]}"
expect_lines garbage-in-file "$HELLO" "$ACCEPT" \
    'ERROR code protocol: unknown record type [0-9]+' "$CLOSED" DONE
xfer_result garbage-in-file protocol
after_case garbage-in-file

# Truncated records at each state, then the write side shut: the daemon
# closes without landing anything.
for s in hello hello-body idle idle-body; do
	hrun "truncated-$s" truncated "${H[@]}" "$s"
	case $s in
	hello*) expect_lines "truncated-$s" "$CLOSED" DONE ;;
	*) expect_lines "truncated-$s" "$HELLO" "$CLOSED" DONE ;;
	esac
	after_case "truncated-$s"
done
for s in file payload end; do
	hrun "truncated-$s" truncated "${H[@]}" "$s"
	expect_lines "truncated-$s" "$HELLO" "$ACCEPT" "$CLOSED" DONE
	xfer_result "truncated-$s" aborted
	after_case "truncated-$s"
done
n=$(grep -cE '^zcrecvd: 127\.0\.0\.1:[0-9]+: protocol error: connection closed inside a record$' "$DLOG" || true)
[ "$n" -ge 4 ] ||
    fail "$n 'connection closed inside a record' protocol errors logged, expected >= 4"

# FILE record lengths: 0 (below the minimum), 343 (the maximum, but the
# inner lengths do not add up), 344 (max + 1), 2^32 - 1.
hrun file-len-0 file-len "${H[@]}" 0
expect_lines file-len-0 "$HELLO" \
    'ERROR code protocol: FILE record length 0 out of range.*' "$CLOSED" DONE
after_case file-len-0
hrun file-len-343 file-len "${H[@]}" 343
expect_lines file-len-343 "$HELLO" 'ERROR code protocol: FILE lengths .*' \
    "$CLOSED" DONE
after_case file-len-343
for n in 344 4294967295; do
	hrun "file-len-$n" file-len "${H[@]}" "$n"
	expect_lines "file-len-$n" "$HELLO" \
	    "ERROR code protocol: FILE record length $n out of range.*" \
	    "$CLOSED" DONE
	after_case "file-len-$n"
done

# DATA record lengths in a 1 GiB file: 0, 2^30 (the maximum: accepted; a
# little payload, then the sender goes away), 2^30 + 1, 2^32 - 1.
for n in 0 1073741825 4294967295; do
	hrun "data-len-$n" data-len "${H[@]}" "$n"
	expect_lines "data-len-$n" "$HELLO" "$ACCEPT" \
	    "ERROR code protocol: DATA record length $n out of range.*" \
	    "$CLOSED" DONE
	xfer_result data-len protocol
	after_case "data-len-$n"
done
hrun data-len-max data-len "${H[@]}" 1073741824
expect_lines data-len-max "$HELLO" "$ACCEPT" "$CLOSED" DONE
xfer_result data-len aborted
line=$(xfer_lines data-len | tail -n 1)
[ "$(field "$line" bytes)" = 65536 ] ||
    fail "data-len-max: $(field "$line" bytes) bytes received, expected 65536"
after_case data-len-max

# Announced sizes: 2^64 - 1 and 2^63 are refused ("size"); 2^63 - 1 - 2^30
# (the largest the protocol allows) is refused for space.  The connection
# stays usable: a good file follows on it (-g).
for n in 18446744073709551615 9223372036854775808; do
	hrun "file-size-$n" -g "after-size-$n" file-size "${H[@]}" "$n"
	expect_lines "file-size-$n" "$HELLO" 'RESULT code size: .+' "$ACCEPT" \
	    'RESULT code ok: landed' DONE
	xfer_result file-size size
	landed_pattern "after-size-$n" 10
	after_case "file-size-$n"
done
n=9223372035781033983
hrun "file-size-$n" -g "after-size-$n" file-size "${H[@]}" "$n"
expect_lines "file-size-$n" "$HELLO" 'RESULT code nospace: .+' "$ACCEPT" \
    'RESULT code ok: landed' DONE
xfer_result file-size nospace
landed_pattern "after-size-$n" 10
after_case "file-size-$n"

# DATA offsets: 2^64 - 1 (not block aligned) and 2^64 - 4096 (aligned, but
# not where the file goes on, and offset + length wraps around).
for n in 18446744073709551615 18446744073709547520; do
	hrun "data-offset-$n" data-offset "${H[@]}" "$n"
	expect_lines "data-offset-$n" "$HELLO" "$ACCEPT" \
	    "ERROR code protocol: DATA .*$n.*" "$CLOSED" DONE
	xfer_result data-offset protocol
	after_case "data-offset-$n"
done

# Announced 10 bytes, sent 4096: a protocol error.
hrun size-smaller size-smaller "${H[@]}"
expect_lines size-smaller "$HELLO" "$ACCEPT" "$PROTO" "$CLOSED" DONE
xfer_result size-smaller protocol
after_case size-smaller

# Announced 8192, sent 4096 and END: result "size", the connection goes on.
hrun size-larger -g after-size-larger size-larger "${H[@]}"
expect_lines size-larger "$HELLO" "$ACCEPT" \
    'RESULT code size: file ended after 4096 of 8192 bytes' "$ACCEPT" \
    'RESULT code ok: landed' DONE
xfer_result size-larger size
landed_pattern after-size-larger 10
after_case size-larger

# A digest that does not match: result "digest", the connection goes on.
hrun bad-digest -g after-bad-digest bad-digest "${H[@]}"
expect_lines bad-digest "$HELLO" "$ACCEPT" 'RESULT code digest: .+' \
    "$ACCEPT" 'RESULT code ok: landed' DONE
xfer_result bad-digest digest
landed_pattern after-bad-digest 10
after_case bad-digest

# Headers that are wrong in themselves or out of place: "STATE TYPE LEN
# [ARG [FLAGS]]".  Each is answered with ERROR protocol and a close.
headers=(
	"hello 0 16"		# type 0
	"hello 2 25"		# FILE before HELLO
	"hello 4 4096"		# DATA before HELLO
	"idle 11 0"		# type one past the last
	"idle 65535 16"		# type 2^16 - 1
	"idle 1 16 0 1"		# flags
	"idle 2 25 5"		# FILE with an argument
	"idle 1 16"		# a second HELLO
	"idle 3 16"		# ACCEPT from the sender
	"idle 4 4096"		# DATA outside a file
	"idle 5 32"		# END outside a file
	"idle 6 40"		# RESULT from the sender
	"idle 8 32"		# CHALLENGE from the sender
	"idle 9 64"		# AUTH without CHALLENGE
	"idle 10 32"		# AUTHOK from the sender
	"file 1 16"		# HELLO inside a file
	"file 2 25"		# FILE inside a file
	"file 4 4096 4095"	# DATA at an unaligned offset
	"file 4 8192 61440"	# DATA past the end of the file
)
i=0
for h in "${headers[@]}"; do
	i=$((i + 1))
	read -r -a a <<<"$h"
	hrun "header-$i" header "${H[@]}" "${a[@]}"
	case ${a[0]} in
	hello) expect_lines "header-$i" "$PROTO" "$CLOSED" DONE ;;
	idle) expect_lines "header-$i" "$HELLO" "$PROTO" "$CLOSED" DONE ;;
	file)
		expect_lines "header-$i" "$HELLO" "$ACCEPT" "$PROTO" \
		    "$CLOSED" DONE
		xfer_result header protocol
		;;
	esac
	after_case "header-$i ($h)"
done

# ERROR from the sender ends the connection without an answer.
hrun header-error header "${H[@]}" idle 7 8
expect_lines header-error "$HELLO" "$CLOSED" DONE
grep -qE '^zcrecvd: 127\.0\.0\.1:[0-9]+: peer reports error: ' "$DLOG" ||
    fail "no 'peer reports error' line in the daemon log"
after_case header-error

n=$(grep -cE '^zcrecvd: 127\.0\.0\.1:[0-9]+: protocol error: ' "$DLOG" || true)
note "$n protocol errors logged"
stop_daemon
check_daemon_log
check_xfer_log
# Every log line is one "zcrecvd: " line: nothing from the network split
# or forged one.
! grep -qv '^zcrecvd: ' "$DLOG" || fail "daemon log lines not starting with 'zcrecvd: '"
