#!/bin/bash
# zcsend exit codes: 2 for usage errors, 1 for a local file error, 3 when
# the receiver cannot be reached.
. "$(dirname "$0")/lib.sh"

# run_zcsend WANT ARGS...: zcsend must exit WANT; output in $T/out, $T/err.
run_zcsend() {
	local want=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	prefix 'zcsend stderr: ' "$T/err" >&2
	[ "$rc" -eq "$want" ] || fail "zcsend $* exited $rc, expected $want"
}

mkfile "$T/src/f" 100

run_zcsend 2
[ -s "$T/err" ] || fail "no usage message on stderr"
run_zcsend 2 "$T/src/f"			# no HOST:PORT
run_zcsend 2 --no-such-option "$T/src/f" 127.0.0.1:1

start_daemon
run_zcsend 1 "$T/nonexistent" "127.0.0.1:$PORT"
grep -qF "nonexistent: No such file or directory" "$T/err" ||
    fail "no 'No such file or directory' message"
[ ! -e "$T/dest/nonexistent" ] || fail "nonexistent file landed"

port=$PORT
stop_daemon
# The daemon's port is closed now.
run_zcsend 3 -t 5 "$T/src/f" "127.0.0.1:$port"
grep -q "connection failed" "$T/err" || fail "no 'connection failed' message"
[ ! -e "$T/dest/f" ] || fail "file landed on a stopped daemon"
check_daemon_log
