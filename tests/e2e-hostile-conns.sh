#!/bin/bash
# Hostile connections: one client cannot take the service from the others.
#   - a connection reset (RST) at every state: hello, idle, file, payload,
#     end; nothing half-written lands, the staging file goes;
#   - 1,000 concurrent idle connections from 127.0.0.2 with the default
#     max_connections_per_address (64): 64 are held, the others get ERROR
#     denied, the daemon keeps running, and zcsend from 127.0.0.1 lands a
#     file while they are held (the daemon's RSS is printed for
#     information);
#   - a flood of FILE records whose answers are never read: the daemon
#     stops reading (the sender blocks), answers every record once the
#     sender reads, and survives;
#   - a disallowed address: [default] allow = 127.0.0.2; zcsend from
#     127.0.0.1 exits 4 "(denied)", nothing lands, 127.0.0.2 still writes.
# After each: the expected record reached the client, nothing changed
# outside the destination, the destination holds exactly what should have
# landed, no staging file is left, and the same daemon lands a normal file.
. "$(dirname "$0")/lib.sh"

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"

mkdir "$T/out" "$T/outside"
echo "not for the network" >"$T/outside/target"

REFUSED='refused a connection: 64 connections open from that address \(max_connections_per_address\)$'
ALLOW_LOG="^zcrecvd: (127\\.0\\.0\\.[0-9]+:[0-9]+: (protocol error: |payload is not mappable )|$REFUSED|[0-9]+ more failed files not logged here |failed [^ ]+ from 127\\.0\\.0\\.[0-9]+:[0-9]+: (aborted|name|denied): )"

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
# memory PID: the daemon's memory and descriptors, for the log.
memory() {
	printf 'RSS %s kB, peak %s kB, %s descriptors, %s threads' \
	    "$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")" \
	    "$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status")" \
	    "$(ls "/proc/$1/fd" | wc -l)" \
	    "$(awk '/^Threads:/ { print $2 }' "/proc/$1/status")"
}

start_daemon
PID0=$DPID
START0=$(awk '{ print $22 }' "/proc/$DPID/stat")
H=(127.0.0.1 "$PORT")
# Is 127.0.0.2 usable as a source address?  (HELLO, then hang up.)
LOOP2=yes
"$HOSTILE" -b 127.0.0.2 idle "${H[@]}" 0 >"$T/out/probe" 2>&1 </dev/null ||
    { prefix 'probe: ' "$T/out/probe" >&2; LOOP2=no; }
OUTSIDE0=$(outside_state)
HELLO='HELLO version 1'
ACCEPT='ACCEPT offset 0'
CLOSED='EOF|RESET'
note "daemon at start: $(memory "$DPID")"

# --- reset at every state --------------------------------------------------

for s in hello idle file payload end; do
	hrun "reset-$s" reset-at "${H[@]}" "$s"
	case $s in
	hello) expect_lines "reset-$s" RESET-SENT DONE ;;
	idle) expect_lines "reset-$s" "$HELLO" RESET-SENT DONE ;;
	*) expect_lines "reset-$s" "$HELLO" "$ACCEPT" RESET-SENT DONE ;;
	esac
	case $s in
	file)
		xfer_result reset-file aborted
		;;
	payload)
		# A reset under the payload ends the file: aborted (the
		# peer is gone), not io (our disk is fine).
		xfer_result reset-payload aborted
		;;
	end)
		# END was sent before the reset: the file lands whole, or
		# not at all (the reset may overtake the queued payload).
		line=$(wait_xfer reset-end)
		case $(field "$line" result) in
		ok) landed_pattern reset-end 65536 ;;
		aborted) [ ! -e "$T/dest/reset-end" ] ||
		    fail "reset-end is in dest, but was not landed" ;;
		*) fail "reset-end: transfer log result $(field "$line" result)" ;;
		esac
		;;
	esac
	after_case "reset-$s"
done

# --- 1,000 idle connections from one address ------------------------------

if [ "$LOOP2" = yes ]; then
	"$HOSTILE" -b 127.0.0.2 hold "${H[@]}" 1000 300 >"$T/out/hold" \
	    2>"$T/out/hold.err" </dev/null &
	hold_pid=$!
	BGPIDS+=("$hold_pid")
	for ((i = 0; i < 600; i++)); do
		grep -qx READY "$T/out/hold" && break
		alive "$hold_pid" || break
		sleep 0.1
	done
	prefix 'hostile hold: ' "$T/out/hold" >&2
	prefix 'hostile hold (stderr): ' "$T/out/hold.err" >&2
	grep -qx READY "$T/out/hold" || fail "hold: 1,000 connections not answered within 60 s"
	same_daemon hold
	line=$(grep '^HOLD ' "$T/out/hold") || fail "hold: no HOLD line"
	[[ $line =~ ^HOLD\ held=64\ denied=([0-9]+)\ reset=([0-9]+)\ silent=0\ other=0\ failed=0$ ]] ||
	    fail "hold: '$line', expected 64 held and the rest refused"
	denied=${BASH_REMATCH[1]} reset=${BASH_REMATCH[2]}
	[ $((denied + reset)) -eq 936 ] || fail "hold: $denied + $reset refused, expected 936"
	# A refused connection may see the reset before the ERROR (its HELLO
	# arrived after the close); most must see the ERROR.
	[ "$denied" -ge 1 ] || fail "hold: no connection got ERROR denied"
	grep -qx 'DENIED-MSG too many connections from your address' "$T/out/hold" ||
	    fail "hold: the refusal is not 'too many connections from your address'"
	note "1,000 connections from 127.0.0.2: 64 held, $denied ERROR denied, $reset reset"
	note "daemon holding 64 idle connections: $(memory "$DPID")"
	n=$(grep -cE "^zcrecvd: $REFUSED" "$DLOG" || true)
	[ "$n" -eq 936 ] || fail "hold: $n 'refused a connection' lines logged, expected 936"
	# Still held: one more from 127.0.0.2 is refused at once ...
	hrun hold-more -b 127.0.0.2 silent "${H[@]}" 10
	expect_lines hold-more IDLE \
	    'ERROR code denied: too many connections from your address' \
	    "$CLOSED" DONE
	# ... while 127.0.0.1 lands a file.
	mkfile "$T/src/while-held" 3000000
	send_ok "$T/src/while-held"
	check_file while-held 3000000 >/dev/null
	LANDED+=(while-held)
	OUTSIDE0=$(outside_state)
	grep -qx 'CLOSED 0' "$T/out/hold" &&
	    fail "hold: hostile finished holding early"
	alive "$hold_pid" || fail "hold: the holding client is gone"
	kill -TERM "$hold_pid"
	wait "$hold_pid" 2>/dev/null || true
	# Once the daemon has seen them close, 127.0.0.2 gets through again.
	for ((i = 0; i < 100; i++)); do
		"$HOSTILE" -b 127.0.0.2 good "${H[@]}" after-hold \
		    >"$T/out/after-hold" 2>&1 </dev/null || true
		grep -qx 'RESULT code ok: landed' "$T/out/after-hold" && break
		grep -q 'too many connections' "$T/out/after-hold" ||
		    { prefix 'hostile: ' "$T/out/after-hold" >&2; fail "after-hold: not refused, not landed"; }
		sleep 0.1
	done
	prefix 'hostile after-hold: ' "$T/out/after-hold" >&2
	grep -qx 'RESULT code ok: landed' "$T/out/after-hold" ||
	    fail "127.0.0.2 still refused 10 s after its connections closed"
	landed_pattern after-hold 10
	after_case hold
else
	note "SKIPPED the 1,000 connections: cannot bind 127.0.0.2"
fi

# --- answers that are never read ------------------------------------------

note "daemon before the flood: $(memory "$DPID")"
hrun flood -t 3 flood-files "${H[@]}" 1000000
note "daemon after the flood: $(memory "$DPID")"
# The sender blocked: the daemon stopped reading while its answers backed
# up; then every complete record got its answer.
sent=$(sed -n 's/^SENT //p' "$T/out/flood")
[ -n "$sent" ] && [ "$sent" -gt 0 ] || fail "flood: nothing sent"
[ "$sent" -lt 1000000 ] || fail "flood: all 1,000,000 records went through: the daemon never stopped reading"
expect_lines flood "$HELLO" SENDBLOCKED "SENT $sent" \
    "RESULT code name: file name contains / \\(x$sent\\)" "$CLOSED" \
    "ANSWERS $sent" DONE
note "flood: $sent FILE records sent before the daemon stopped reading; daemon log $(wc -c <"$DLOG") bytes, transfer log $(wc -c <"$XLOG") bytes"
# The transfer log has every refusal; the daemon log at most 20 a second,
# and once the connection is gone, the count of the ones it left out.
[ "$(xfer_lines ../x | wc -l)" -eq "$sent" ] ||
    fail "flood: $(xfer_lines ../x | wc -l) transfer log lines for ../x, expected $sent"
logged=$(grep -c '^zcrecvd: failed \.\./x from ' "$DLOG" || true)
left=$(sed -n 's/^zcrecvd: \([0-9]*\) more failed files not logged here .*/\1/p' "$DLOG" |
    awk '{ n += $1 } END { print n + 0 }')
note "flood: $logged refusals in the daemon log, $left counted as left out"
[ "$sent" -le 100 ] || [ "$logged" -lt "$sent" ] ||
    fail "flood: all $sent refusals logged one by one in the daemon log"
[ $((logged + left)) -eq "$sent" ] ||
    fail "flood: $logged logged + $left left out != $sent refused"
after_case flood

stop_daemon

# --- a disallowed address -------------------------------------------------

if [ "$LOOP2" = yes ]; then
	DEFAULT_EXTRA="allow = 127.0.0.2"
	start_daemon
	PID0=$DPID
	START0=$(awk '{ print $22 }' "/proc/$DPID/stat")
	OUTSIDE0=$(outside_state)
	H=(127.0.0.1 "$PORT")
	mkfile "$T/src/denied" 4000
	OUTSIDE0=$(outside_state)
	rc=0
	"$ZCSEND" "$T/src/denied" "127.0.0.1:$PORT" >"$T/out/denied.out" \
	    2>"$T/out/denied.err" || rc=$?
	prefix 'zcsend from 127.0.0.1: ' "$T/out/denied.err" >&2
	[ "$rc" -eq 4 ] || fail "zcsend from a disallowed address exited $rc, expected 4"
	grep -qE '^zcsend: denied: rejected by receiver \(denied\): 127\.0\.0\.1(:[0-9]+)? is not allowed to write to default$' "$T/out/denied.err" ||
	    fail "zcsend: no 'rejected by receiver (denied): ... not allowed'"
	line=$(wait_xfer denied)
	[ "$(field "$line" result)" = denied ] || fail "denied: result not 'denied': $line"
	[ "$(field "$line" bytes)" = 0 ] || fail "denied: bytes received: $line"
	# The same from 127.0.0.3 with the raw protocol: RESULT denied, the
	# connection stays (a good file after it is refused the same way).
	hrun denied-3 -b 127.0.0.3 -g denied-3b name "${H[@]}" denied-3
	expect_lines denied-3 "$HELLO" 'RESULT code denied: 127\.0\.0\.3:[0-9]+ is not allowed to write to default' \
	    'RESULT code denied: .+' DONE
	# 127.0.0.2 may write: the daemon still lands a file.
	hrun allowed-2 -b 127.0.0.2 good "${H[@]}" allowed-2 100000
	expect_lines allowed-2 "$HELLO" "$ACCEPT" 'RESULT code ok: landed' DONE
	landed_pattern allowed-2 100000
	# The checks after each case, with 127.0.0.2 as the normal sender.
	same_daemon denied
	wait_no_staging denied
	[ "$(outside_state)" = "$OUTSIDE0" ] || fail "denied: something changed outside the destination"
	[ "$(dest_state)" = "$(expected_dest)" ] || {
		diff <(expected_dest) <(dest_state) >&2 || true
		fail "denied: unexpected names in the destination"
	}
	stop_daemon
else
	note "SKIPPED the disallowed address: cannot bind 127.0.0.2"
fi

check_daemon_log
check_xfer_log
