#!/bin/bash
# zcsend and a receiver that speaks only protocol version 1: it answers
# zcsend's version 2 HELLO with ERROR version, and zcsend connects again
# proposing 1 and sends plain files one at a time, as before; -r needs
# version 2 and is a usage error (exit 2) there, with nothing sent.
# The version 1 receiver is a relay run by systemd-socket-activate
# (--inetd, one per connection) in front of the daemon (old_receiver in
# lib.sh): it refuses a version 2 HELLO itself and passes a version 1
# conversation on.
. "$(dirname "$0")/lib.sh"

# run_zcsend WANT ARGS...: zcsend must exit WANT; output in $T/out, $T/err.
run_zcsend() {
	local want=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	prefix 'zcsend stdout: ' "$T/out" >&2
	prefix 'zcsend stderr: ' "$T/err" >&2
	[ "$rc" -eq "$want" ] || fail "zcsend $* exited $rc, expected $want"
}

start_daemon
old_receiver 1

note "plain files: version 1, one at a time"
mkfile "$T/src/one" $((3 * 1024 * 1024 + 5))
mkfile "$T/src/two" 1000
run_zcsend 0 -v "$T/src/one" "$T/src/two" "127.0.0.1:$RPORT"
grep -q "connecting again, proposing version 1" "$T/err" ||
    fail "zcsend did not connect again with version 1"
grep -q "protocol version 1, window 0" "$T/err" ||
    fail "zcsend did not speak version 1"
check_summary "$T/out" one $((3 * 1024 * 1024 + 5)) >/dev/null
check_summary "$T/out" two 1000 >/dev/null
same "$T/src/one" "$T/dest/one"
same "$T/src/two" "$T/dest/two"

note "-r: version 2 needed, a usage error"
mkdir -p "$T/src/tree/sub"
mkfile "$T/src/tree/sub/f" 100
run_zcsend 2 -r "$T/src/tree" "127.0.0.1:$RPORT"
grep -qxF "zcsend: 127.0.0.1:$RPORT: the receiver speaks protocol version 1 only; -r needs version 2 (a newer zcrecvd)" \
    "$T/err" || fail "no clear error for -r against version 1"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one error line"
[ ! -s "$T/out" ] || fail "zcsend wrote to stdout"
[ ! -e "$T/dest/tree" ] || fail "something of the tree landed"
if command -v jq >/dev/null 2>&1; then
	run_zcsend 2 --json -r "$T/src/tree" "127.0.0.1:$RPORT"
	jq -se 'length == 1 and .[0].type == "summary" and .[0].files == 0 and
	    .[0].exit == 2' "$T/out" >/dev/null ||
	    fail "--json: not just a summary with exit 2"
fi

stop_daemon
check_daemon_log
check_xfer_log
