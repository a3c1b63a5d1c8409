#!/bin/bash
# Files of awkward sizes land byte-identical, one zcsend call per file and
# several files in one call; zcsend prints one summary line per file and the
# transfer log has one "ok" line per file with the right byte count.
. "$(dirname "$0")/lib.sh"

SIZES="0 1 4095 4096 4097 1048577 67108864"

for s in $SIZES; do
	mkfile "$T/src/one-$s" "$s"
	mkfile "$T/src/many-$s" "$s"
done

start_daemon

note "one file per zcsend call"
for s in $SIZES; do
	send_ok "$T/src/one-$s"
	check_file "one-$s" "$s" >/dev/null
	[ "$(wc -l <"$T/send.out")" -eq 1 ] ||
	    fail "zcsend printed more than one line for one file"
done

note "all files in one zcsend call"
files=()
for s in $SIZES; do
	files+=("$T/src/many-$s")
done
send_ok "${files[@]}"
for s in $SIZES; do
	check_file "many-$s" "$s" >/dev/null
done
[ "$(wc -l <"$T/send.out")" -eq "${#files[@]}" ] ||
    fail "zcsend printed other lines than one summary per file"

# Nothing else appeared in the destination.
n=$(find "$T/dest" -mindepth 1 | wc -l)
[ "$n" -eq $((2 * ${#files[@]})) ] || fail "$n entries in dest"
no_staging

stop_daemon
check_daemon_log
check_xfer_log
# One "landed" line per file in the daemon log.
n=$(grep -c '^zcrecvd: landed ' "$DLOG" || true)
[ "$n" -eq $((2 * ${#files[@]})) ] || fail "$n 'landed' lines in the daemon log"
