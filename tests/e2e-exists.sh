#!/bin/bash
# A file that exists is not replaced: the second zcsend is rejected (exit
# 4, "exists"), the landed file keeps its bytes and no staging file is left.
# With overwrite = yes the second send replaces it.
. "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024 + 5))
mkdir "$T/src2"
mkfile "$T/src/f" "$SIZE"
mkfile "$T/src2/f" "$SIZE"
cmp -s "$T/src/f" "$T/src2/f" && hard_error "random files are equal"

ALLOW_LOG='^zcrecvd: failed f from 127\.0\.0\.1:[0-9]+: exists: '
start_daemon
send_ok "$T/src/f"
check_file f "$SIZE" >/dev/null

rc=0
"$ZCSEND" "$T/src2/f" "127.0.0.1:$PORT" >"$T/send2.out" 2>"$T/send2.err" ||
    rc=$?
prefix 'zcsend stderr: ' "$T/send2.err" >&2
[ "$rc" -eq 4 ] || fail "second zcsend exited $rc, expected 4"
grep -q exists "$T/send2.err" || fail "zcsend stderr does not mention 'exists'"
grep -qE '^zcsend: (.*/)?f: rejected by receiver \(exists\)' "$T/send2.err" ||
    fail "zcsend stderr lacks 'f: rejected by receiver (exists)'"
! grep -q landed "$T/send2.out" || fail "zcsend says landed"
same "$T/src/f" "$T/dest/f"
no_staging
[ "$(find "$T/dest" -mindepth 1 | wc -l)" -eq 1 ] || fail "extra files in dest"

# The rejection is in the transfer log and the daemon log.
line=$(wait_xfer f 2)
[ "$(field "$line" result)" = exists ] || fail "result not 'exists': $line"
grep -qE "$ALLOW_LOG" "$DLOG" || fail "no 'failed f ... exists' line in the daemon log"
stop_daemon

note "overwrite = yes"
DEFAULT_EXTRA="overwrite = yes"
start_daemon
cp "$T/src/f" "$T/src/f.first"
cp "$T/src2/f" "$T/src/f"
send_ok "$T/src/f"
same "$T/src2/f" "$T/dest/f"
hex=$(check_summary "$T/send.out" f "$SIZE")
line=$(wait_xfer f 3)
[ "$(field "$line" result)" = ok ] || fail "overwrite: result not ok: $line"
check_digest "$T/src2/f" "$hex" "$line"
no_staging
[ "$(find "$T/dest" -mindepth 1 | wc -l)" -eq 1 ] || fail "extra files in dest"
stop_daemon
check_daemon_log
check_xfer_log
