#!/bin/bash
# Every io mode lands the same files byte-identical and says so in the
# transfer log ("io" the mode used, "io_config" the mode configured); auto
# copies a file under 1 MiB (recv and write: cheaper than mapping it) and
# picks direct for a larger one on a filesystem with O_DIRECT, as does
# copy-direct (recv into large buffers, O_DIRECT writes).  With protocol version 2,
# zcsend sends a file of at most 64 KiB inside its ENTRY record, except the
# first file of a connection (which waits for ACCEPT, and so authenticates
# where it must): the lander writes it with pwrite() whatever the mode, io
# "write".
. "$(dirname "$0")/lib.sh"

SIZES="1 4097 300007 $((8 * 1024 * 1024 + 123))"

case $DEST_FSTYPE in
ext2/ext3|xfs|btrfs) auto_io=direct ;;
*) skip "destination on $DEST_FSTYPE: not sure O_DIRECT is supported" ;;
esac

for s in $SIZES; do
	mkfile "$T/src/$s" "$s"
done

for io in direct write vmsplice splice copy copy-direct auto; do
	note "io = $io"
	want=$io
	[ "$io" != auto ] || want=$auto_io
	[ "$io" != copy-direct ] || want=direct
	files=()
	for s in $SIZES; do
		cp "$T/src/$s" "$T/src/$io-$s"
		files+=("$T/src/$io-$s")
	done
	DEFAULT_EXTRA="io = $io"
	start_daemon
	send_ok "${files[@]}"
	for s in $SIZES; do
		w=$want
		[ "$io" != auto ] || [ "$s" -ge 1048576 ] || w=copy
		[ "$s" -gt 65536 ] || [ "$s" = "${SIZES%% *}" ] || w=write
		line=$(check_file "$io-$s" "$s" "$w")
		[ "$(field "$line" io_config)" = "$io" ] ||
		    fail "$io-$s: io_config is not $io: $line"
	done
	no_staging
	stop_daemon
done
check_daemon_log
check_xfer_log
