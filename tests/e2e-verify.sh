#!/bin/bash
# Digests.  With verify = none the receiver lands a file but computes no
# digest: zcsend says so and exits 5 (landed but unverified) unless it was
# given --no-verify.  With verify = xxh3 a file whose END digest is wrong is
# refused with RESULT "digest" and nothing is landed.
. "$(dirname "$0")/lib.sh"
need_zcpeer

mkfile "$T/src/f" 100005
mkfile "$T/src/g" 4097
mkfile "$T/src/h" 3000

note "verify = none"
DEFAULT_EXTRA="verify = none"
start_daemon
rc=0
"$ZCSEND" "$T/src/f" "127.0.0.1:$PORT" >"$T/send.out" 2>"$T/send.err" ||
    rc=$?
prefix 'zcsend stdout: ' "$T/send.out" >&2
prefix 'zcsend stderr: ' "$T/send.err" >&2
[ "$rc" -eq 5 ] || fail "zcsend to a verify = none receiver exited $rc, expected 5"
grep -qE '^zcsend: f: verification failed: .*did not compute a digest' \
    "$T/send.err" ||
    fail "zcsend stderr does not say the receiver did not compute a digest"
! grep -q landed "$T/send.out" || fail "zcsend printed a summary for f"
# Landed but unverified: the bytes are there, the log says ok, no digest.
same "$T/src/f" "$T/dest/f"
line=$(check_landed f 100005)
[ "$(field "$line" digest)" = "" ] ||
    fail "verify = none: digest not empty: $line"

# --no-verify asks for no digest: landed, exit 0, "not verified".
send_ok --no-verify "$T/src/g"
prefix 'zcsend stdout: ' "$T/send.out" >&2
same "$T/src/g" "$T/dest/g"
n=$(grep -cE '^g: landed, 4097 bytes in [0-9]+\.[0-9]{3} s, [0-9]+\.[0-9]{2} Gbit/s, not verified$' \
    "$T/send.out" || true)
[ "$n" -eq 1 ] || fail "$n summary lines for g ending in 'not verified', expected 1"
[ ! -s "$T/send.err" ] || fail "zcsend --no-verify wrote to stderr"
line=$(check_landed g 4097)
[ "$(field "$line" digest)" = "" ] || fail "--no-verify: digest not empty: $line"
no_staging
stop_daemon

note "verify = xxh3, wrong digest in END"
DEFAULT_EXTRA=
ALLOW_LOG='^zcrecvd: failed bd from 127\.0\.0\.1:[0-9]+: digest: '
start_daemon
rc=0
"$ZCPEER" baddigest 127.0.0.1 "$PORT" >"$T/peer.out" 2>&1 || rc=$?
prefix 'zcpeer baddigest: ' "$T/peer.out" >&2
[ "$rc" -eq 0 ] || fail "zcpeer baddigest exited $rc"
grep -qx 'ACCEPT offset 0' "$T/peer.out" || fail "bd was not accepted"
grep -q '^RESULT code digest: ' "$T/peer.out" ||
    fail "wrong digest not answered with RESULT code digest"
! grep -q '^RESULT code ok' "$T/peer.out" || fail "bd landed with a wrong digest"
[ ! -e "$T/dest/bd" ] || fail "bd exists in dest"
no_staging
line=$(wait_xfer bd)
[ "$(field "$line" result)" = digest ] || fail "bd: result not 'digest': $line"
[ "$(xfer_lines bd | wc -l)" -eq 1 ] || fail "more than one transfer log line for bd"
grep -qE "$ALLOW_LOG" "$DLOG" || fail "no 'failed bd ... digest' line in the daemon log"
daemon_alive || fail "daemon died after the wrong digest"

# The daemon goes on landing files.
send_ok "$T/src/h"
check_file h 3000 >/dev/null
[ "$(find "$T/dest" -mindepth 1 | wc -l)" -eq 3 ] || fail "extra files in dest"
stop_daemon
check_daemon_log
check_xfer_log
