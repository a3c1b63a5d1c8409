#!/bin/bash
# A sender without MSG_ZEROCOPY (zcsend --no-zerocopy) sends unmappable
# payload: the file still lands identical, and under io = auto the daemon
# switches the connection to splice.
. "$(dirname "$0")/lib.sh"

SIZE=$((64 * 1024 * 1024))
ALLOW_LOG='^zcrecvd: 127\.0\.0\.1:[0-9]+: payload is not mappable .*switching to splice$'
mkfile "$T/src/plain.bin" "$SIZE"
start_daemon
send_ok --no-zerocopy "$T/src/plain.bin"
line=$(check_file plain.bin "$SIZE" splice)
[ "$(field "$line" io_config)" = auto ] ||
    fail "io_config is not auto: $line"
grep -qE "$ALLOW_LOG" "$DLOG" || fail "the daemon did not log the switch to splice"
no_staging
stop_daemon
check_daemon_log
check_xfer_log
