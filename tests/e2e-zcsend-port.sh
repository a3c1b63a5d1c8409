#!/bin/bash
# HOST[:PORT][/DEST]: without a port zcsend uses 7733 (ZC_DEFAULT_PORT):
# "host", "host/dest", and still "host:port/dest", reach a daemon on
# 127.0.0.1:7733; "[v6]" and "[v6]/dest" are taken too.  Malformed targets
# are usage errors.  Skips if something already listens on port 7733.
. "$(dirname "$0")/lib.sh"

DEFAULT_PORT=$(sed -nE 's/^#define ZC_DEFAULT_PORT[[:space:]]+"([0-9]+)".*/\1/p' \
    "$SRCDIR/src/zcproto.h")
[ "$DEFAULT_PORT" = 7733 ] || hard_error "ZC_DEFAULT_PORT is '$DEFAULT_PORT'"

# run_zcsend WANT ARGS...: zcsend must exit WANT; output in $T/out, $T/err.
run_zcsend() {
	local want=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	prefix "zcsend $*: " "$T/err" >&2
	[ "$rc" -eq "$want" ] || fail "zcsend $* exited $rc, expected $want"
}

mkfile "$T/src/f" 100
for t in "127.0.0.1:" "::1" "[::1]:" "[::1" "" "/dest" ":7733" "*" \
    "127.0.0.1/bad/dest"; do
	run_zcsend 2 "$T/src/f" "$t"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$t': not one error line"
done

if command -v ss >/dev/null 2>&1; then
	[ -z "$(ss -Htln "sport = :$DEFAULT_PORT")" ] ||
	    skip "port $DEFAULT_PORT is in use"
else
	(exec 3<>"/dev/tcp/127.0.0.1/$DEFAULT_PORT") 2>/dev/null &&
	    skip "port $DEFAULT_PORT is in use"
fi
DAEMON_LISTEN=127.0.0.1:$DEFAULT_PORT
DEFAULT_EXTRA="[b]
path = $T/destb"
mkdir "$T/destb"
chown "$DAEMON_USER:" "$T/destb"
start_daemon
[ "$PORT" = "$DEFAULT_PORT" ] || fail "daemon on port $PORT"

mkfile "$T/src/g" 200
mkfile "$T/src/h" 300
mkfile "$T/src/i" 400
send_one() {
	local rc=0
	"$ZCSEND" "$1" "$2" >"$T/send.out" 2>"$T/send.err" </dev/null || rc=$?
	prefix "zcsend $2: " "$T/send.err" >&2
	[ "$rc" -eq 0 ] || fail "zcsend ... $2 exited $rc"
	check_summary "$T/send.out" "${1##*/}" "$(stat -c %s "$1")" >/dev/null
}
send_one "$T/src/f" 127.0.0.1
same "$T/src/f" "$T/dest/f"
send_one "$T/src/g" 127.0.0.1/b
same "$T/src/g" "$T/destb/g"
send_one "$T/src/h" "127.0.0.1:$DEFAULT_PORT/b"
same "$T/src/h" "$T/destb/h"
send_one "$T/src/i" localhost/default
same "$T/src/i" "$T/dest/i"

# IPv6: taken as a target (the daemon listens on IPv4 only: exit 3).
for t in "[::1]" "[::1]/b"; do
	run_zcsend 3 -t 5 "$T/src/f" "$t"
	grep -qF "zcsend: $t: f not sent: connection failed: " "$T/err" ||
	    fail "$t: no 'connection failed' line naming f"
done

stop_daemon
check_daemon_log
check_xfer_log
