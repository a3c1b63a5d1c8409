#!/bin/bash
# Every file zcsend fails is reported in one line on stderr that names it
# and the cause: an unreadable file, a directory, a missing file, a file
# the receiver refuses, one whose verification fails, and, when the
# receiver cannot be reached, the file tried and each one left.
. "$(dirname "$0")/lib.sh"

# run_zcsend WANT ARGS...: zcsend must exit WANT; output in $T/out, $T/err.
# AS_USER (setpriv options) runs it as another user.
AS_USER=()
run_zcsend() {
	local want=$1 rc=0
	shift
	${AS_USER[@]+"${AS_USER[@]}"} "$ZCSEND" "$@" >"$T/out" 2>"$T/err" \
	    </dev/null || rc=$?
	prefix 'zcsend stderr: ' "$T/err" >&2
	[ "$rc" -eq "$want" ] || fail "zcsend $* exited $rc, expected $want"
}

# lines N: stderr has N lines, each a "zcsend: " line.
lines() {
	[ "$(wc -l <"$T/err")" -eq "$1" ] || fail "not $1 lines on stderr"
	! grep -qv '^zcsend: ' "$T/err" || fail "stderr line without 'zcsend: '"
}

mkfile "$T/src/good" 5000
mkfile "$T/src/dup" 6000
mkfile "$T/src/unverified" 7000
mkfile "$T/src/secret" 100
chmod 000 "$T/src/secret"
mkdir "$T/src/adir"

ALLOW_LOG='^zcrecvd: failed dup from 127\.0\.0\.1:[0-9]+: exists: '
start_daemon
send_ok "$T/src/dup"

note "local errors and a refusal in one run"
run_zcsend 4 "$T/src/adir" "$T/src/missing" "$T/src/dup" "$T/src/good" \
    "127.0.0.1:$PORT"
lines 3
grep -qxF "zcsend: $T/src/adir: is a directory, not a regular file" "$T/err" ||
    fail "no line for the directory"
grep -qxF "zcsend: $T/src/missing: No such file or directory" "$T/err" ||
    fail "no line for the missing file"
grep -qE '^zcsend: dup: rejected by receiver \(exists\): .' "$T/err" ||
    fail "no line for the refused file"
check_summary "$T/out" good 5000 >/dev/null

note "unreadable file"
if [ "$(id -u)" -eq 0 ]; then
	command -v setpriv >/dev/null 2>&1 || skip "setpriv is not installed"
	AS_USER=(setpriv --reuid="$DAEMON_USER" --regid="$(id -g "$DAEMON_USER")"
	    --clear-groups)
fi
run_zcsend 1 "$T/src/secret" "127.0.0.1:$PORT"
AS_USER=()
lines 1
grep -qxF "zcsend: $T/src/secret: Permission denied" "$T/err" ||
    fail "no 'Permission denied' line for the unreadable file"
stop_daemon
check_daemon_log

note "verification failed"
DEFAULT_EXTRA="verify = none"
start_daemon
run_zcsend 5 "$T/src/unverified" "127.0.0.1:$PORT"
lines 1
grep -qE '^zcsend: unverified: verification failed: .*did not compute a digest' \
    "$T/err" || fail "no 'verification failed' line naming unverified"
port=$PORT
stop_daemon
check_daemon_log

note "connection failure"
run_zcsend 3 -t 5 "$T/src/good" "$T/src/dup" "127.0.0.1:$port"
lines 2
grep -qxF "zcsend: 127.0.0.1:$port: good not sent: connection failed: Connection refused" \
    "$T/err" || fail "no 'connection failed' line naming good"
grep -qxF "zcsend: 127.0.0.1:$port: dup not sent: no connection" "$T/err" ||
    fail "no 'no connection' line naming dup"
check_xfer_log
