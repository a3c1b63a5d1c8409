#!/bin/bash
# With io = direct a 64 MiB file from zcsend is received zero-copy: at
# least 99% of the bytes mapped, written with O_DIRECT.  (io = auto maps or
# copies, whichever costs less here: e2e-io-auto.sh.)
. "$(dirname "$0")/lib.sh"

SIZE=$((64 * 1024 * 1024))
case $DEST_FSTYPE in
ext2/ext3|xfs|btrfs) ;;
*) skip "destination on $DEST_FSTYPE: not sure O_DIRECT is supported" ;;
esac

mkfile "$T/src/zc.bin" "$SIZE"
DEFAULT_EXTRA="io = direct"
start_daemon
send_ok --limit-rate "$MAP_PACE" "$T/src/zc.bin"	# lib.sh says why
line=$(check_file zc.bin "$SIZE" direct)

zc=$(field "$line" zc_bytes)
copied=$(field "$line" copied_bytes)
bytes=$(field "$line" bytes)
note "zc_bytes $zc copied_bytes $copied zc_pct $(field "$line" zc_pct)"
awk -v zc="$zc" -v b="$bytes" 'BEGIN { exit !(zc * 100 >= b * 99) }' ||
    fail "only $zc of $bytes bytes zero-copy: $line"
awk -v zc="$zc" -v c="$copied" -v b="$bytes" 'BEGIN { exit !(zc + c == b) }' ||
    fail "zc_bytes $zc + copied_bytes $copied != bytes $bytes"
awk -v p="$(field "$line" zc_pct)" 'BEGIN { exit !(p >= 99 && p <= 100) }' ||
    fail "zc_pct out of range: $line"

stop_daemon
check_daemon_log
check_xfer_log
