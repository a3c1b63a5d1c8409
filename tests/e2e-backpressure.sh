#!/bin/bash
# A slow disk stops only the connections that write to it (issue 11 part
# 5).  One worker, so both connections share one event loop; destination
# [slow] is ext4 on a loop device whose writes the daemon's cgroup throttles
# to 2 MiB/s (cgroup v2 io.max, or v1 blkio.throttle.write_bps_device):
#   (a) a 24 MiB file goes to [slow] (at least 12 s at that rate); once its
#       staging file has grown, a 256 MiB file goes to [default] and must
#       land while the slow transfer still runs: before, the worker waited
#       for the slow disk in synchronous pwrite() and for queued writes,
#       and the fast file finished when the slow one did;
#   (b) the slow one then lands too; both are byte-exact, with io direct;
#   (c) the daemon's counters: the slow connection stopped reading for its
#       disk (zcrecvd_read_pauses_total{reason="disk"} > 0) and no event
#       loop wrote synchronously (zcrecvd_loop_writes_total 0).
#   (d) files of 64 KiB to 2 MiB to [slow] (a tree, one connection) while
#       the fast file goes to [default]: it lands first, they land byte
#       for byte, and still no event loop wrote synchronously.
# No timing is asserted beyond the order in (a), which holds on a loaded
# machine too: 256 MiB to an unthrottled disk against 12 s.
#
# BP_MEASURE=N (a measurement, never asserted) also sends the fast file N
# times alone before (a) and N times beside the slow transfer in (a), and
# prints both throughputs and their ratio:
#   make check TESTS=tests/e2e-backpressure.sh BP_MEASURE=3; \
#   grep '^# measure' tests/e2e-backpressure.sh.log
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root for a loop device and a cgroup"
command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4"
command -v curl >/dev/null || skip "no curl"
[ "$DEST_FSTYPE" != tmpfs ] || skip "the default destination is on tmpfs"

RATE=$((2 * 1024 * 1024))		# bytes per second to [slow]
SLOW_SIZE=$((24 * 1024 * 1024))
FAST_SIZE=$((256 * 1024 * 1024))
need_space $((FAST_SIZE * 2 + 128 * 1024 * 1024))

SLOW=$T/slow
CG=
IMG=
mkdir "$SLOW"
# The image in memory where there is some (the throttle is the only slow
# part, and its writeback does not compete with [default]'s disk).
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
    [ "$(df -k --output=avail /dev/shm | tail -n 1)" -gt $((512 * 1024)) ]; then
	IMG=$(mktemp /dev/shm/zcrecvd-test-bp.XXXXXX)
else
	IMG=$T/slow.img
fi

# Cleanup, even on failure: the daemon out of the cgroup first (it dies),
# then the mount (the loop device goes with it) and the cgroup.
cleanup_bp() {
	if [ -n "$DPID" ] && alive "$DPID"; then
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	DPID=
	umount "$SLOW" 2>/dev/null || umount -l "$SLOW" 2>/dev/null
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		rmdir "$CG" 2>/dev/null
	fi
	case $IMG in
	/dev/shm/zcrecvd-test-bp.??????) rm -f -- "$IMG" ;;
	esac
}
cleanup_bg() {
	local p
	for p in "${BGPIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
}
trap '_rc=$?; set +e; cleanup_bg; cleanup_bp; (exit $_rc); _cleanup' EXIT
truncate -s 96M "$IMG"
mkfs.ext4 -q -F -m 0 "$IMG" >"$T/mkfs.out" 2>&1 ||
    hard_error "mkfs.ext4 failed: $(cat "$T/mkfs.out")"
mount -o loop "$IMG" "$SLOW" 2>"$T/mount.err" ||
    skip "cannot mount a loop device: $(cat "$T/mount.err")"
rmdir "$SLOW/lost+found"
chown "$DAEMON_USER:" "$SLOW"
DEV=$(findmnt -n -o MAJ:MIN --target "$SLOW" | tr -d ' ')
[[ $DEV =~ ^[0-9]+:[0-9]+$ ]] || hard_error "no device numbers for $SLOW: '$DEV'"

# throttle PID: put PID into a new cgroup whose writes to $DEV go at RATE.
throttle() {
	local v2=/sys/fs/cgroup
	[ -f "$v2/cgroup.controllers" ] || v2=/sys/fs/cgroup/unified
	if [ -f "$v2/cgroup.controllers" ] &&
	    grep -qw io "$v2/cgroup.controllers"; then
		grep -qw io "$v2/cgroup.subtree_control" ||
		    echo +io >"$v2/cgroup.subtree_control" ||
		    skip "cannot enable the io controller in $v2"
		CG=$v2/zcrecvd-test-bp.$$
		mkdir "$CG"
		echo "$DEV wbps=$RATE" >"$CG/io.max"
	elif [ -f /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device ]; then
		CG=/sys/fs/cgroup/blkio/zcrecvd-test-bp.$$
		mkdir "$CG"
		echo "$DEV $RATE" >"$CG/blkio.throttle.write_bps_device"
	else
		skip "no cgroup io.max nor blkio throttle"
	fi
	echo "$1" >"$CG/cgroup.procs"
	note "pid $1 in $CG: writes to $DEV at $RATE bytes/s"
}

SERVER_EXTRA="workers = 1
metrics_listen = 127.0.0.1:0"
DEFAULT_EXTRA="[slow]
path = $SLOW
min_free = 0"
ALLOW_LOG='^zcrecvd: serving metrics on 127\.0\.0\.1:[0-9]+$'
start_daemon
MPORT=$(sed -nE 's/^zcrecvd: serving metrics on 127\.0\.0\.1:([0-9]+)$/\1/p' \
    "$DLOG" | head -n 1)
[ -n "$MPORT" ] || fail "no 'serving metrics on' line in the daemon log"
throttle "$DPID"

# metric SERIES: its value now.
metric() {
	curl -sS -m 10 "http://127.0.0.1:$MPORT/metrics" >"$T/metrics" ||
	    fail "cannot scrape the metrics"
	awk -v s="$1" '$1 == s { print $2 }' "$T/metrics"
}

mkfile "$T/src/slowfile" "$SLOW_SIZE"
mkfile "$T/src/fastfile" "$FAST_SIZE"

# send_fast: send the fast file to [default], print MB/s (wall clock of
# zcsend), remove what landed.
send_fast() {
	local t0 t1 rc=0
	t0=$(date +%s%N)
	timeout 300 "$ZCSEND" "$T/src/fastfile" "127.0.0.1:$PORT" \
	    >"$T/fast.out" 2>"$T/fast.err" </dev/null || rc=$?
	t1=$(date +%s%N)
	[ "$rc" -eq 0 ] || fail "zcsend of the fast file exited $rc"
	rm -f "$T/dest/fastfile"
	echo $((FAST_SIZE * 1000 / (t1 - t0)))
}
MEASURE=${BP_MEASURE:-0}
alone=0
for ((m = 0; m < MEASURE; m++)); do
	v=$(send_fast)
	note "measure: alone $v MB/s"
	alone=$((alone + v))
done

note "(a) the fast destination is served while the slow one is written"
"$ZCSEND" "$T/src/slowfile" "127.0.0.1:$PORT/slow" >"$T/slow.out" \
    2>"$T/slow.err" </dev/null &
SPID=$!
BGPIDS+=("$SPID")
# Wait until the slow file is well under way: 4 MiB in its staging file
# (two of the throttled seconds), so that its queue is full.
for ((i = 0; i < 300; i++)); do
	sz=$(find "$SLOW" -maxdepth 1 -name '.zcrecvd.*.part' -printf '%s\n' |
	    head -n 1)
	[ -z "$sz" ] || [ "$sz" -lt $((4 * 1024 * 1024)) ] || break
	alive "$SPID" || fail "(a) the slow zcsend ended early: $(cat "$T/slow.err")"
	sleep 0.1
done
[ -n "$sz" ] && [ "$sz" -ge $((4 * 1024 * 1024)) ] ||
    fail "(a) the slow file's staging file did not grow within 30 s"
beside=0
for ((m = 0; m < MEASURE; m++)); do
	v=$(send_fast)
	note "measure: beside the throttled transfer $v MB/s"
	beside=$((beside + v))
	alive "$SPID" || note "measure: the slow transfer ended meanwhile"
done
[ "$MEASURE" -eq 0 ] || note "measure: mean alone $((alone / MEASURE)) MB/s," \
    "beside $((beside / MEASURE)) MB/s: $((beside * 100 / alone))% of alone"
rc=0
timeout 300 "$ZCSEND" "$T/src/fastfile" "127.0.0.1:$PORT" >"$T/fast.out" \
    2>"$T/fast.err" </dev/null || rc=$?
prefix 'zcsend fast stderr: ' "$T/fast.err" >&2
[ "$rc" -eq 0 ] || fail "(a) zcsend of the fast file exited $rc"
alive "$SPID" ||
    fail "(a) the fast file landed only after the slow one was done"
[ ! -e "$SLOW/slowfile" ] || fail "(a) the slow file landed first"
same "$T/src/fastfile" "$T/dest/fastfile"
line=$(wait_xfer fastfile)
[ "$(field "$line" result)" = ok ] || fail "(a) fast result not ok: $line"
note "fast: $line"

note "(b) the slow file lands too"
rc=0
for ((i = 0; i < 1200; i++)); do
	alive "$SPID" || break
	sleep 0.1
done
alive "$SPID" && fail "(b) the slow zcsend still runs after 120 s more"
wait "$SPID" || rc=$?
prefix 'zcsend slow stderr: ' "$T/slow.err" >&2
[ "$rc" -eq 0 ] || fail "(b) zcsend of the slow file exited $rc"
same "$T/src/slowfile" "$SLOW/slowfile"
line=$(wait_xfer slowfile)
note "slow: $line"
[ "$(field "$line" result)" = ok ] || fail "(b) slow result not ok: $line"
[ "$(field "$line" io)" = direct ] || fail "(b) slow io not direct: $line"
[ "$(find "$SLOW" -mindepth 1 -printf '%P\n')" = slowfile ] ||
    fail "(b) the slow destination holds: $(find "$SLOW" -mindepth 1)"

note "(c) the slow connection stopped reading; no loop wrote synchronously"
pauses=$(metric 'zcrecvd_read_pauses_total{reason="disk"}')
writes=$(metric zcrecvd_loop_writes_total)
note "read pauses for the disk: $pauses, synchronous loop writes: $writes"
[ -n "$pauses" ] && [ "$pauses" -gt 0 ] ||
    fail "(c) no pause for the disk counted: '$pauses'"
[ "$writes" = 0 ] || fail "(c) synchronous writes by the event loop: '$writes'"

note "(d) small files to the slow disk are queued too"
# Files of 2 MiB and less had no io_uring of their own and were written
# with pwrite() on the event loop, half a second a MiB at this rate.
mkdir "$T/src/small"
for s in 65537 300000 1048575 1048576 1052673 1572864 2093057 2097152; do
	mkfile "$T/src/small/f$s" "$s"
done
"$ZCSEND" -r "$T/src/small" "127.0.0.1:$PORT/slow" >"$T/small.out" \
    2>"$T/small.err" </dev/null &
SPID=$!
BGPIDS+=("$SPID")
for ((i = 0; i < 300; i++)); do
	[ -z "$(find "$SLOW" -maxdepth 2 -name '.zcrecvd.*.part')" ] || break
	alive "$SPID" || fail "(d) the small files' zcsend ended early: $(cat "$T/small.err")"
	sleep 0.1
done
rm -f "$T/dest/fastfile"
rc=0
timeout 300 "$ZCSEND" "$T/src/fastfile" "127.0.0.1:$PORT" >"$T/fast.out" \
    2>"$T/fast.err" </dev/null || rc=$?
[ "$rc" -eq 0 ] || fail "(d) zcsend of the fast file exited $rc"
alive "$SPID" ||
    fail "(d) the fast file landed only after the small slow ones were done"
same "$T/src/fastfile" "$T/dest/fastfile"
for ((i = 0; i < 1200; i++)); do
	alive "$SPID" || break
	sleep 0.1
done
alive "$SPID" && fail "(d) the small files' zcsend still runs after 120 s"
rc=0
wait "$SPID" || rc=$?
prefix 'zcsend small stderr: ' "$T/small.err" >&2
[ "$rc" -eq 0 ] || fail "(d) zcsend of the small files exited $rc"
diff -r "$T/src/small" "$SLOW/small" >&2 || fail "(d) the small files differ"
writes=$(metric zcrecvd_loop_writes_total)
note "synchronous loop writes after the small files: $writes"
[ "$writes" = 0 ] || fail "(d) synchronous writes by the event loop: '$writes'"

stop_daemon
check_daemon_log
check_xfer_log
