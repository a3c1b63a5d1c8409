#!/bin/bash
# Limits and access control:
#   (a) max_connections_per_address = 2: a third connection from 127.0.0.1
#       gets ERROR denied "too many connections from your address"; once
#       one closes, a file lands;
#   (b) max_connections = 1: the same with "too many connections";
#   (c) allow = 10.0.0.0/8 on [default]: a file from 127.0.0.1 is refused
#       (exit 4, "denied", "not allowed"), nothing lands, result "denied";
#   (e) a named destination [other] with its own path and allow =
#       127.0.0.1 takes the same file, into its own path only;
#   (d) max_file_size = 1M: 1 MiB lands, 1 MiB + 1 is refused ("size");
#   (f) min_free over the free space (over the filesystem's size): refused
#       up front ("nospace", 0 bytes sent).
. "$(dirname "$0")/lib.sh"
need_zcpeer

# send_rc NAME ARGS...: zcsend ARGS, stdout/stderr in $T/NAME.out/.err;
# prints the exit status.
send_rc() {
	local name=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
	prefix "zcsend $name stderr: " "$T/$name.err" >&2
	echo "$rc"
}

# hold N: open N idle protocol connections (HELLO exchanged, then silence)
# in the background; returns once the daemon has answered each.  Their
# pids are in HOLD.  Each has an output file of its own (HOLD_N counts
# them all): one named after the count held, which release() lowers, was
# the file of a connection released before, and the check could read that
# one's IDLE before the new zcpeer had truncated it.  The wait ends when
# the daemon answers or zcpeer gives up (it waits up to 120 s for the
# HELLO); a loaded machine may take seconds.
HOLD=()
HOLD_N=0
hold() {
	local i pid out deadline
	for ((i = 0; i < $1; i++)); do
		out=$T/idle.$HOLD_N.out
		HOLD_N=$((HOLD_N + 1))
		: >"$out"
		"$ZCPEER" idle 127.0.0.1 "$PORT" 120 >>"$out" 2>&1 &
		pid=$!
		HOLD+=("$pid")
		BGPIDS+=("$pid")
		deadline=$((SECONDS + 150))
		while ! grep -qx IDLE "$out" && alive "$pid" &&
		    [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.1
		done
		grep -qx IDLE "$out" || {
			prefix 'zcpeer idle: ' "$out" >&2
			fail "idle connection $i was not taken"
		}
	done
}

# release: close the oldest held connection.
release() {
	kill -TERM "${HOLD[0]}"
	wait "${HOLD[0]}" 2>/dev/null || true
	HOLD=("${HOLD[@]:1}")
}

# refused MESSAGE: a new connection is refused with ERROR denied MESSAGE
# (at accept, before it says anything), then closed.  zcpeer waits up to
# 60 s for it: were the connection taken instead, the daemon would send
# nothing and close it after stall_timeout (30 s), and the check fails.
refused() {
	local out=$T/quiet.out
	"$ZCPEER" quiet 127.0.0.1 "$PORT" 60 >"$out" 2>&1 ||
	    { prefix 'zcpeer: ' "$out" >&2; fail "zcpeer quiet failed"; }
	prefix 'zcpeer quiet: ' "$out" >&2
	[ "$(sed -n 1p "$out")" = "ERROR code denied: $1" ] ||
	    fail "no 'ERROR code denied: $1' for a connection over the limit"
	grep -qxE 'EOF|RESET' "$out" || fail "the refused connection stayed open"
}

# send_after_release FILE: zcsend FILE, insisting on success; a refusal
# for too many connections is retried (for up to 60 s) while the daemon
# frees the connection just closed.
send_after_release() {
	local rc deadline=$((SECONDS + 60))
	while :; do
		rc=$(send_rc retry "$1" "127.0.0.1:$PORT")
		[ "$rc" -ne 0 ] || break
		grep -q 'too many connections' "$T/retry.err" ||
		    fail "zcsend $(basename "$1") exited $rc"
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.1
	done
	[ "$rc" -eq 0 ] || fail "zcsend still refused 60 s after a connection closed"
	cp "$T/retry.out" "$T/send.out"
}

REFUSED_LOG='refused a connection: [0-9]+ connections? open (\(max_connections\)|from that address \(max_connections_per_address\))$'
ALLOW_LOG="^zcrecvd: ($REFUSED_LOG|failed [a-z0-9]+ from 127\\.0\\.0\\.1:[0-9]+: (denied|size|nospace): )"

note "(a) max_connections_per_address = 2"
SERVER_EXTRA="max_connections_per_address = 2"
start_daemon
hold 2
refused "too many connections from your address"
grep -qE "^zcrecvd: refused a connection: 2 connections open from that address \(max_connections_per_address\)$" "$DLOG" ||
    fail "no 'refused a connection' warning in the daemon log"
# zcsend is refused too and passes the reason on.
mkfile "$T/src/a" 100000
rc=$(send_rc over "$T/src/a" "127.0.0.1:$PORT")
note "zcsend over the limit exited $rc"
[ "$rc" -eq 3 ] || [ "$rc" -eq 4 ] ||
    fail "zcsend over the limit exited $rc, expected 3 or 4"
grep -qE '^zcsend: 127\.0\.0\.1:[0-9]+: .*\(denied\): too many connections from your address$' "$T/over.err" ||
    fail "zcsend stderr lacks '(denied): too many connections from your address'"
[ ! -e "$T/dest/a" ] || fail "a landed over the connection limit"
release
send_after_release "$T/src/a"
check_file a 100000 >/dev/null
release
stop_daemon

note "(b) max_connections = 1"
SERVER_EXTRA="max_connections = 1"
start_daemon
hold 1
refused "too many connections"
grep -qE "^zcrecvd: refused a connection: 1 connection open \(max_connections\)$" "$DLOG" ||
    fail "no 'refused a connection' warning in the daemon log"
mkfile "$T/src/b" 100001
release
send_after_release "$T/src/b"
check_file b 100001 >/dev/null
stop_daemon

note "(c) allow = 10.0.0.0/8 on [default], (e) [other] allows 127.0.0.1"
mkdir "$T/other"
chown "$DAEMON_USER:" "$T/other"
DEFAULT_EXTRA="allow = 10.0.0.0/8
[other]
path = $T/other
allow = 127.0.0.1"
SERVER_EXTRA=
start_daemon
mkfile "$T/src/c" 5000
rc=$(send_rc c "$T/src/c" "127.0.0.1:$PORT")
[ "$rc" -eq 4 ] || fail "zcsend from a refused address exited $rc, expected 4"
grep -qE '^zcsend: c: rejected by receiver \(denied\): 127\.0\.0\.1(:[0-9]+)? is not allowed to write to default$' "$T/c.err" ||
    fail "zcsend stderr lacks 'c: rejected by receiver (denied): ... not allowed'"
[ ! -e "$T/dest/c" ] || fail "c landed in a destination that refuses 127.0.0.1"
line=$(wait_xfer c)
[ "$(field "$line" result)" = denied ] || fail "result not 'denied': $line"
[ "$(field "$line" bytes)" = 0 ] || fail "denied, yet bytes received: $line"
[ "$(field "$line" dest)" = default ] || fail "dest not 'default': $line"
rc=$(send_rc c2 "$T/src/c" "127.0.0.1:$PORT/other")
[ "$rc" -eq 0 ] || fail "zcsend to /other exited $rc"
same "$T/src/c" "$T/other/c"
[ ! -e "$T/dest/c" ] || fail "c sent to /other landed in the default path"
cp "$T/c2.out" "$T/send.out"
hex=$(check_summary "$T/send.out" c 5000)
line=$(wait_xfer c 2)
[ "$(field "$line" result)" = ok ] || fail "/other: result not ok: $line"
[ "$(field "$line" dest)" = other ] || fail "/other: dest not 'other': $line"
check_digest "$T/src/c" "$hex" "$line"
stop_daemon

note "(d) max_file_size = 1M, (f) min_free over the file system's size"
mkdir "$T/tight"
chown "$DAEMON_USER:" "$T/tight"
# Over the size of the filesystem: free space moves by gigabytes while
# other tests write and delete big files, and no amount of it is enough.
avail=$(df -B1 --output=avail "$T/tight" | tail -n 1 | tr -d ' ')
fs_size=$(df -B1 --output=size "$T/tight" | tail -n 1 | tr -d ' ')
floor=$((fs_size + 1024 * 1024 * 1024))
DEFAULT_EXTRA="max_file_size = 1M
[tight]
path = $T/tight
min_free = $floor"
start_daemon
mkfile "$T/src/m1" 1048576
mkfile "$T/src/m2" 1048577
send_ok "$T/src/m1"
check_file m1 1048576 >/dev/null
rc=$(send_rc m2 "$T/src/m2" "127.0.0.1:$PORT")
[ "$rc" -eq 4 ] || fail "zcsend of 1 MiB + 1 exited $rc, expected 4"
grep -qE '^zcsend: m2: rejected by receiver \(size\): file of 1048577 bytes is over the limit of 1048576$' "$T/m2.err" ||
    fail "zcsend stderr lacks 'm2: rejected by receiver (size): file of 1048577 bytes is over the limit of 1048576'"
[ ! -e "$T/dest/m2" ] || fail "m2 landed over max_file_size"
line=$(wait_xfer m2)
[ "$(field "$line" result)" = size ] || fail "result not 'size': $line"
[ "$(field "$line" bytes)" = 0 ] || fail "size refused, yet bytes received: $line"

note "min_free = $floor bytes, $avail free"
mkfile "$T/src/s" 4096
rc=$(send_rc s "$T/src/s" "127.0.0.1:$PORT/tight")
[ "$rc" -eq 4 ] || fail "zcsend to a destination short of space exited $rc, expected 4"
grep -qE '^zcsend: s: rejected by receiver \(nospace\): not enough space in tight: ' "$T/s.err" ||
    fail "zcsend stderr lacks 's: rejected by receiver (nospace): not enough space in tight'"
line=$(wait_xfer s)
[ "$(field "$line" result)" = nospace ] || fail "result not 'nospace': $line"
[ "$(field "$line" bytes)" = 0 ] || fail "nospace, yet bytes received: $line"
[ "$(field "$line" dest)" = tight ] || fail "dest not 'tight': $line"
[ -z "$(find "$T/tight" -mindepth 1 -print)" ] ||
    fail "files in the tight destination: $(find "$T/tight" -mindepth 1)"
stop_daemon
no_staging
check_daemon_log
check_xfer_log
