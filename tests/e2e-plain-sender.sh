#!/bin/bash
# A sender without MSG_ZEROCOPY (zcsend --no-zerocopy) sends unmappable
# payload: the file still lands identical, copied in whole aligned buffers
# and so still written with O_DIRECT under io = auto, whose trials of both
# receive paths the daemon logs.
. "$(dirname "$0")/lib.sh"

SIZE=$((64 * 1024 * 1024))
case $DEST_FSTYPE in
ext2/ext3|xfs|btrfs) ;;
*) skip "destination on $DEST_FSTYPE: not sure O_DIRECT is supported" ;;
esac
mkfile "$T/src/plain.bin" "$SIZE"
start_daemon
send_ok --no-zerocopy "$T/src/plain.bin"
line=$(check_file plain.bin "$SIZE" direct)
[ "$(field "$line" io_config)" = auto ] ||
    fail "io_config is not auto: $line"
copied=$(field "$line" copied_bytes)
awk -v c="$copied" -v b="$SIZE" 'BEGIN { exit !(c * 100 >= b * 99) }' ||
    fail "only $copied of $SIZE bytes copied from a plain sender: $line"
grep -qE "^zcrecvd: 127\.0\.0\.1:[0-9]+: map [0-9]+ us/MB, copy [0-9]+ us/MB: (mapping|copying)$" "$DLOG" ||
    fail "the daemon did not log its trials of both paths"
no_staging
stop_daemon
check_daemon_log
check_xfer_log
