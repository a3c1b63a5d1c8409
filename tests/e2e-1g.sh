#!/bin/bash
# A 1 GiB file of random bytes lands byte-identical.
. "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024 * 1024))
need_space $((2 * SIZE + 64 * 1024 * 1024))

dd if=/dev/urandom of="$T/src/big.bin" bs=16M count=64 iflag=fullblock \
    status=none
[ "$(stat -c %s "$T/src/big.bin")" -eq "$SIZE" ] || hard_error "dd"

start_daemon
send_ok "$T/src/big.bin"
check_file big.bin "$SIZE" >/dev/null
no_staging
stop_daemon
check_daemon_log
check_xfer_log
