#!/bin/bash
# zcsend -P and a receiver that speaks protocol versions 1 to 3 only (an
# older zcrecvd): it answers zcsend's version 4 HELLO with ERROR version,
# zcsend connects again proposing 3, says once that striping needs
# version 4 and sends every file over that one connection, as -P 1 would;
# they land and zcsend exits 0.  The older receiver is a relay run by
# systemd-socket-activate (--inetd, one per connection) in front of the
# daemon, as in e2e-stream-old.sh: it refuses a HELLO proposing 4 itself
# and passes any other conversation on.
. "$(dirname "$0")/lib.sh"

start_daemon
old_receiver 3

C=$((1024 * 1024))
mkfile "$T/src/one" $((5 * C + 3))
mkfile "$T/src/two" 1000
rc=0
"$ZCSEND" -P 4 --chunk-size 1M "$T/src/one" "$T/src/two" \
    "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err" </dev/null || rc=$?
prefix 'zcsend stdout: ' "$T/out" >&2
prefix 'zcsend stderr: ' "$T/err" >&2
[ "$rc" -eq 0 ] || fail "zcsend -P 4 against version 3 exited $rc, expected 0"
[ "$(tr '\n' ' ' <"$T/relay/versions")" = "4 3 " ] ||
    fail "zcsend proposed versions $(tr '\n' ' ' <"$T/relay/versions"), expected 4 then 3"
grep -qxF "zcsend: 127.0.0.1:$RPORT: the receiver speaks protocol version 3; striping (-P) needs version 4: sending over one connection" \
    "$T/err" || fail "no clear note that striping needs version 4"
[ "$(grep -c 'striping (-P) needs' "$T/err")" -eq 1 ] ||
    fail "the note came more than once"
check_summary "$T/out" one $((5 * C + 3)) >/dev/null
check_summary "$T/out" two 1000 >/dev/null
same "$T/src/one" "$T/dest/one"
same "$T/src/two" "$T/dest/two"
line=$(wait_xfer one)
[ "$(field "$line" io)" != striped ] || fail "one went striped: $line"
no_staging

stop_daemon
check_daemon_log
check_xfer_log
