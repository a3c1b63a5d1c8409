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
. "$(dirname "$0")/hostile-lib.sh"

REFUSED='refused a connection: 64 connections open from that address \(max_connections_per_address\)$'
ALLOW_LOG="^zcrecvd: (127\\.0\\.0\\.[0-9]+:[0-9]+: (protocol error: |payload is not mappable )|$REFUSED|[0-9]+ more failed files not logged here |failed [^ ]+ from 127\\.0\\.0\\.[0-9]+:[0-9]+: (aborted|name|denied): )"

# --- attacks --------------------------------------------------------------
# memory PID: the daemon's memory and descriptors, for the log.
memory() {
	printf 'RSS %s kB, peak %s kB, %s descriptors, %s threads' \
	    "$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")" \
	    "$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status")" \
	    "$(ls "/proc/$1/fd" | wc -l)" \
	    "$(awk '/^Threads:/ { print $2 }' "/proc/$1/status")"
}

hostile_start
# Is 127.0.0.2 usable as a source address?  (HELLO, then hang up.)
LOOP2=yes
"$HOSTILE" -b 127.0.0.2 idle "${H[@]}" 0 >"$T/out/probe" 2>&1 </dev/null ||
    { prefix 'probe: ' "$T/out/probe" >&2; LOOP2=no; }
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
	# Once the daemon has seen them close, 127.0.0.2 gets through again
	# (within 60 s: a loaded machine may take seconds).
	for ((i = 0; i < 600; i++)); do
		"$HOSTILE" -b 127.0.0.2 good "${H[@]}" after-hold \
		    >"$T/out/after-hold" 2>&1 </dev/null || true
		grep -qx 'RESULT code ok: landed' "$T/out/after-hold" && break
		grep -q 'too many connections' "$T/out/after-hold" ||
		    { prefix 'hostile: ' "$T/out/after-hold" >&2; fail "after-hold: not refused, not landed"; }
		sleep 0.1
	done
	prefix 'hostile after-hold: ' "$T/out/after-hold" >&2
	grep -qx 'RESULT code ok: landed' "$T/out/after-hold" ||
	    fail "127.0.0.2 still refused 60 s after its connections closed"
	landed_pattern after-hold 10
	after_case hold
else
	note "SKIPPED the 1,000 connections: cannot bind 127.0.0.2"
fi

# --- answers that are never read ------------------------------------------

note "daemon before the flood: $(memory "$DPID")"
# -t 3: blocked that long, the sender takes it that the daemon stopped
# reading.  -a 60: each wait for the next answer once the sender reads.
# After seconds of a closed window the daemon's TCP may resume on a timer
# it has backed off to seconds (zero-window probe, retransmission), and a
# loaded machine adds its own delays; 60 s is longer than the daemon's
# stall_timeout (30), after which it gives up on a peer that takes nothing.
hrun flood -t 3 -a 60 flood-files "${H[@]}" 1000000
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
	hostile_start
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
