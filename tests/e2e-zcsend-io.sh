#!/bin/bash
# zcsend --io: a file's payload goes out from its mapping (map) or read into
# buffers (read), or from whichever costs the sender less CPU, measured per
# connection (auto, the default).  Either way whole pages go with
# MSG_ZEROCOPY from page-aligned memory, so the receiver still maps them.
#   (a) --io map and --io read: identical bytes; zcsend -v says every byte
#       came from the mapping, or every byte was read;
#   (b) auto, its pick forced by ZCSEND_TEST_JUDGE (a seam for tests): the
#       trials take 12 MiB each way (JUDGE_WARM + JUDGE_TRIAL), the rest
#       goes the forced way, and -v says which way it judged;
#   (c) the receiver (io = direct) maps >= 99% of a file sent with --io
#       read, as of one sent from the mapping;
#   (d) --io read over -P 2 (stripe connections on threads), and to a
#       receiver of protocol version 1 (an older zcsend's path): identical;
#   (e) a file cut short while it is read: zcsend fails, nothing lands;
#   (f) a bad --io: usage error.
. "$(dirname "$0")/lib.sh"

MIB=$((1024 * 1024))
SIZE=$((256 * MIB + 4097))
TRIAL=$((12 * MIB))		# JUDGE_WARM + JUDGE_TRIAL
mkfile "$T/src/big" "$SIZE"
case $DEST_FSTYPE in
ext2/ext3|xfs|btrfs) DEFAULT_EXTRA="io = direct" ;;
*) DEFAULT_EXTRA= ;;
esac
ALLOW_LOG='^zcrecvd: (failed cut from 127\.0\.0\.1:[0-9]+: .*|127\.0\.0\.1:[0-9]+: .*(dropped|closed|reset).*)$'
start_daemon

# payload FILE-OF-STDERR: "MAPPED READ" from zcsend -v's payload line.
payload() {
	sed -nE 's/^zcsend: payload: ([0-9]+) bytes sent from mappings, ([0-9]+) read$/\1 \2/p' "$1"
}

# send_io NAME EXPECT-MAPPED EXPECT-READ ZCSEND-ARGS...: send big as NAME
# (a copy under that name), check the bytes and the payload counters.
send_io() {
	local name=$1 want_m=$2 want_r=$3 got
	shift 3
	cp "$T/src/big" "$T/src/$name"
	send_ok -v "$@" "$T/src/$name"
	prefix 'zcsend stderr: ' "$T/send.err" >&2
	line=$(check_file "$name" "$SIZE")
	got=$(payload "$T/send.err")
	[ "$got" = "$want_m $want_r" ] ||
	    fail "$name: payload '$got' (mapped, read), expected '$want_m $want_r'"
	rm -f "$T/dest/$name" "$T/src/$name"
}

note "(a) --io map, --io read"
send_io m "$SIZE" 0 --io map
send_io r 0 "$SIZE" --io read

note "(b) auto, each pick forced"
ZCSEND_TEST_JUDGE=copy send_io ac "$TRIAL" $((SIZE - TRIAL))
grep -qE '^zcsend: 127\.0\.0\.1:[0-9]+: map [0-9]+ us/MB, read [0-9]+ us/MB: reading$' \
    "$T/send.err" || fail "(b) no 'reading' verdict from the judge"
ZCSEND_TEST_JUDGE=map send_io am $((SIZE - TRIAL)) "$TRIAL"
grep -qE '^zcsend: 127\.0\.0\.1:[0-9]+: map [0-9]+ us/MB, read [0-9]+ us/MB: mapping$' \
    "$T/send.err" || fail "(b) no 'mapping' verdict from the judge"
# Unforced: the two trials, then one way or the other, all of it sent.
cp "$T/src/big" "$T/src/au"
send_ok -v "$T/src/au"
check_file au "$SIZE" >/dev/null
read -r m r <<<"$(payload "$T/send.err")"
[ $((m + r)) -eq "$SIZE" ] && [ "$m" -ge "$TRIAL" ] && [ "$r" -ge "$TRIAL" ] ||
    fail "(b) unforced: mapped '$m' read '$r' of $SIZE"
rm -f "$T/dest/au" "$T/src/au"

if [ -n "$DEFAULT_EXTRA" ]; then
	note "(c) the receiver maps what was read"
	cp "$T/src/big" "$T/src/rz"
	send_ok --io read --limit-rate "$MAP_PACE" "$T/src/rz" # see lib.sh
	line=$(check_file rz "$SIZE" direct)
	zc=$(field "$line" zc_bytes)
	awk -v zc="$zc" -v b="$SIZE" 'BEGIN { exit !(zc * 100 >= b * 99) }' ||
	    fail "(c) only $zc of $SIZE bytes mapped: $line"
	rm -f "$T/dest/rz" "$T/src/rz"
else
	note "(c) skipped: the destination is on $DEST_FSTYPE, not O_DIRECT"
fi

note "(d) --io read striped, and to a version 1 receiver"
# (Its digest is the tree digest: bytes and the verdict are checked.)
cp "$T/src/big" "$T/src/p2"
send_ok -v --io read -P 2 --chunk-size 16M "$T/src/p2"
same "$T/src/p2" "$T/dest/p2"
line=$(wait_xfer p2)
[ "$(field "$line" result)" = ok ] || fail "(d) -P 2: $line"
[ "$(payload "$T/send.err")" = "0 $SIZE" ] ||
    fail "(d) -P 2: payload '$(payload "$T/send.err")' (mapped, read)"
rm -f "$T/dest/p2" "$T/src/p2"
old_receiver 1
cp "$T/src/big" "$T/src/v1"
rc=0
"$ZCSEND" -v --io read "$T/src/v1" "127.0.0.1:$RPORT" >"$T/send.out" \
    2>"$T/send.err" || rc=$?
prefix 'zcsend v1 stderr: ' "$T/send.err" >&2
[ "$rc" -eq 0 ] || fail "(d) zcsend --io read to version 1 exited $rc"
same "$T/src/v1" "$T/dest/v1"
[ "$(payload "$T/send.err")" = "0 $SIZE" ] ||
    fail "(d) version 1: payload '$(payload "$T/send.err")'"
rm -f "$T/dest/v1" "$T/src/v1"

note "(e) a file cut short while it is read"
mkfile "$T/src/cut" $((64 * MIB))
"$ZCSEND" --io read --limit-rate 4M "$T/src/cut" "127.0.0.1:$PORT" \
    >"$T/cut.out" 2>"$T/cut.err" </dev/null &
CPID=$!
BGPIDS+=("$CPID")
for ((i = 0; i < 300; i++)); do
	sz=$(find "$T/dest" -maxdepth 1 -name '.zcrecvd.*.part' -printf '%s\n' |
	    head -n 1)
	[ -z "$sz" ] || [ "$sz" -lt $((4 * MIB)) ] || break
	alive "$CPID" || break
	sleep 0.1
done
alive "$CPID" || fail "(e) zcsend ended before the cut: $(cat "$T/cut.err")"
truncate -s $((8 * MIB)) "$T/src/cut"
rc=0
wait "$CPID" || rc=$?
prefix 'zcsend cut stderr: ' "$T/cut.err" >&2
[ "$rc" -ne 0 ] || fail "(e) zcsend exited 0 for a file cut short"
grep -qE 'cut short|changed' "$T/cut.err" ||
    fail "(e) zcsend did not say the file was cut short"
[ ! -e "$T/dest/cut" ] || fail "(e) the cut file landed"
for ((i = 0; i < 100; i++)); do
	[ -n "$(staging_files)" ] || break
	sleep 0.1
done
no_staging

note "(f) a bad --io"
rc=0
"$ZCSEND" --io mmap "$T/src/big" "127.0.0.1:$PORT" >"$T/bad.out" \
    2>"$T/bad.err" || rc=$?
[ "$rc" -eq 2 ] || fail "(f) --io mmap exited $rc, expected 2"
grep -qx "zcsend: bad io mode 'mmap' (auto, map or read)" "$T/bad.err" ||
    fail "(f) message: $(cat "$T/bad.err")"

stop_daemon
check_daemon_log
check_xfer_log
