#!/bin/bash
# Peers that do not speak the protocol get an ERROR record and a closed
# connection, the daemon logs a protocol error and goes on serving: random
# bytes, a HELLO with a wrong version, a HELLO with a wrong magic, and a
# header cut short by the peer.
. "$(dirname "$0")/lib.sh"
need_zcpeer

ALLOW_LOG='^zcrecvd: 127\.0\.0\.1:[0-9]+: (protocol error: |unsupported protocol version 99$)'
start_daemon

# peer MODE: run zcpeer, show and keep its output in $T/peer.MODE.
peer() {
	local rc=0
	"$ZCPEER" "$1" 127.0.0.1 "$PORT" >"$T/peer.$1" 2>&1 || rc=$?
	prefix "zcpeer $1: " "$T/peer.$1" >&2
	[ "$rc" -eq 0 ] || fail "zcpeer $1 exited $rc"
	# The daemon closes the connection: no timeout, last line EOF/RESET.
	! grep -q '^TIMEOUT' "$T/peer.$1" || fail "zcpeer $1: daemon did not close"
	! grep -q '^BAD' "$T/peer.$1" || fail "zcpeer $1: malformed record"
	tail -n 1 "$T/peer.$1" | grep -qE '^(EOF|RESET)$' ||
	    fail "zcpeer $1: connection not closed"
}

# expect_error MODE CODE: the peer got exactly one ERROR, with CODE, and
# nothing else before the close.
expect_error() {
	[ "$(grep -c '^ERROR ' "$T/peer.$1")" -eq 1 ] ||
	    fail "zcpeer $1: expected one ERROR record"
	grep -q "^ERROR code $2: ." "$T/peer.$1" ||
	    fail "zcpeer $1: ERROR code is not $2"
	[ "$(grep -cvE '^(ERROR |EOF$|RESET$)' "$T/peer.$1")" -eq 0 ] ||
	    fail "zcpeer $1: records other than ERROR"
}

# check_serving: the daemon is alive and lands a file.
n_ok=0
check_serving() {
	n_ok=$((n_ok + 1))
	daemon_alive || fail "daemon died"
	mkfile "$T/src/ok-$n_ok" 5000
	send_ok "$T/src/ok-$n_ok"
	check_file "ok-$n_ok" 5000 >/dev/null
}

peer garbage
expect_error garbage protocol
check_serving

peer version
expect_error version version
grep -qE '^zcrecvd: 127\.0\.0\.1:[0-9]+: unsupported protocol version 99$' "$DLOG" ||
    fail "no 'unsupported protocol version 99' line in the daemon log"
check_serving

peer magic
expect_error magic protocol
check_serving

# A header cut short: the daemon may answer ERROR, and must close.
peer short
[ "$(grep -cvE '^(ERROR code protocol: .*|EOF|RESET)$' "$T/peer.short")" -eq 0 ] ||
    fail "zcpeer short: unexpected records"
check_serving

n=$(grep -cE '^zcrecvd: 127\.0\.0\.1:[0-9]+: protocol error: ' "$DLOG" || true)
[ "$n" -ge 2 ] || fail "$n 'protocol error' lines in the daemon log, expected >= 2"

[ "$(find "$T/dest" -mindepth 1 | wc -l)" -eq "$n_ok" ] ||
    fail "unexpected files in dest"
no_staging
stop_daemon
check_daemon_log
check_xfer_log
