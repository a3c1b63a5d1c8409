#!/bin/bash
# zcsend - and a receiver that speaks protocol versions 1 and 2 only (an
# older zcrecvd): it answers zcsend's version 3 HELLO with ERROR version,
# zcsend connects again proposing 2, and then fails the stream clearly
# (exit 4, "needs version 3"), at once, so that the producer's pipe
# breaks; files of the same run still go, in version 2.  The older
# receiver is a relay run by systemd-socket-activate (--inetd, one per
# connection) in front of the daemon (old_receiver in lib.sh): it refuses a
# HELLO proposing 3 itself and passes any other conversation on.
. "$(dirname "$0")/lib.sh"

start_daemon
old_receiver 2

mkfile "$T/src/plain" 100000
st=$(timeout 120 bash -c 'cat /dev/zero | "$@"; echo "${PIPESTATUS[*]}" >&3' \
    _ "$ZCSEND" -v "$T/src/plain" - --name s "127.0.0.1:$RPORT" \
    3>&1 >"$T/out" 2>"$T/err" </dev/null) || true
prefix 'zcsend stdout: ' "$T/out" >&2
prefix 'zcsend stderr: ' "$T/err" >&2
[ -n "$st" ] || fail "cat /dev/zero | zcsend did not end within 120 s"
[ "${st##* }" -eq 4 ] || fail "zcsend exited ${st##* }, expected 4"
[ "${st%% *}" -eq 141 ] ||
    fail "the producer exited ${st%% *}, expected 141 (SIGPIPE)"
[ "$(tr '\n' ' ' <"$T/relay/versions")" = "3 2 " ] ||
    fail "zcsend proposed versions $(tr '\n' ' ' <"$T/relay/versions"), expected 3 then 2"
grep -qxF "zcsend: s: the receiver speaks protocol version 2; a stream from standard input needs version 3 (a newer zcrecvd)" \
    "$T/err" || fail "no clear error for a stream against version 2"
check_summary "$T/out" plain 100000 >/dev/null
same "$T/src/plain" "$T/dest/plain"
[ ! -e "$T/dest/s" ] || fail "the stream landed"
no_staging

stop_daemon
check_daemon_log
check_xfer_log
