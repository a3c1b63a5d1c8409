#!/bin/bash
# Rate limits (issue 12 part 4):
#   (a) zcsend --limit-rate 64M (the kernel paces the socket): a 256 MiB
#       file takes no less than 3.6 s (4 s at the rate, less 10%), lands
#       byte-exact;
#   (b) a destination's max_rate = 64M (the receiver stops reading the
#       connection and resumes on a timer): the same file, sent without a
#       limit, takes no less than 3.6 s either, lands byte-exact, and the
#       daemon counted its pauses;
#   (c) bad values: max_rate below 64K, with a junk suffix, and zcsend's
#       --limit-rate alike are refused with a message that says what is
#       expected (zcrecvd -n: file:line; zcsend: exit 2); -T dumps the
#       value as given.
# Only the lower bounds are asserted; the rates achieved are noted in the
# log (they should be within 10% of the asked 64 MiB/s).
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip "no curl"
SIZE=$((256 * 1024 * 1024))
RATE=$((64 * 1024 * 1024))
MIN_NS=3600000000
need_space $((SIZE * 3))

mkdir "$T/rated"
chown "$DAEMON_USER:" "$T/rated"
SERVER_EXTRA="metrics_listen = 127.0.0.1:0"
DEFAULT_EXTRA="[rated]
path = $T/rated
max_rate = 64M"
ALLOW_LOG='^zcrecvd: serving metrics on 127\.0\.0\.1:[0-9]+$'

mkfile "$T/src/big" "$SIZE"

# timed_send NAME ARGS...: zcsend ARGS, fail unless it exits 0; sets NS to
# its wall clock nanoseconds and notes the rate achieved.
timed_send() {
	local name=$1 t0 t1 rc=0
	shift
	t0=$(date +%s%N)
	timeout 120 "$ZCSEND" "$@" >"$T/$name.out" 2>"$T/$name.err" \
	    </dev/null || rc=$?
	t1=$(date +%s%N)
	prefix "zcsend $name stderr: " "$T/$name.err" >&2
	[ "$rc" -eq 0 ] || fail "zcsend $* exited $rc"
	NS=$((t1 - t0))
	note "$name: $SIZE bytes in $((NS / 1000000)) ms:" \
	    "$((SIZE * 1000000000 / NS / 1024)) KiB/s, asked $((RATE / 1024))" \
	    "KiB/s ($((SIZE * 1000000000 / NS * 100 / RATE))%)"
}

start_daemon
MPORT=$(sed -nE 's/^zcrecvd: serving metrics on 127\.0\.0\.1:([0-9]+)$/\1/p' \
    "$DLOG" | head -n 1)
[ -n "$MPORT" ] || fail "no 'serving metrics on' line in the daemon log"

note "(a) zcsend --limit-rate 64M"
timed_send sender --limit-rate 64M "$T/src/big" "127.0.0.1:$PORT"
[ "$NS" -ge "$MIN_NS" ] ||
    fail "(a) 256 MiB at 64 MiB/s took $((NS / 1000000)) ms, less than 3.6 s"
same "$T/src/big" "$T/dest/big"
line=$(wait_xfer big)
[ "$(field "$line" result)" = ok ] || fail "(a) result not ok: $line"
note "(a) receiver: $(field "$line" seconds) s"

note "(b) the destination's max_rate = 64M"
timed_send receiver "$T/src/big" "127.0.0.1:$PORT/rated"
[ "$NS" -ge "$MIN_NS" ] ||
    fail "(b) 256 MiB at max_rate 64M took $((NS / 1000000)) ms, less than 3.6 s"
same "$T/src/big" "$T/rated/big"
line=$(wait_xfer big 2)
[ "$(field "$line" result)" = ok ] || fail "(b) result not ok: $line"
[ "$(field "$line" dest)" = rated ] || fail "(b) not to rated: $line"
note "(b) receiver: $(field "$line" seconds) s"
pauses=$(curl -sS -m 10 "http://127.0.0.1:$MPORT/metrics" |
    awk '$1 == "zcrecvd_read_pauses_total{reason=\"rate\"}" { print $2 }')
[ -n "$pauses" ] && [ "$pauses" -gt 0 ] ||
    fail "(b) no pause for max_rate counted: '$pauses'"

stop_daemon
check_daemon_log
check_xfer_log

note "(c) bad values"
"$ZCRECVD" -T -f "$T/zcrecvd.conf" >"$T/dump" 2>&1 ||
    fail "(c) zcrecvd -T failed: $(cat "$T/dump")"
grep -qx 'max_rate = 64M' "$T/dump" || fail "(c) -T: no 'max_rate = 64M'"
for v in 1000 64x -1 2T 99999999999999999999; do
	DEFAULT_EXTRA="[rated]
path = $T/rated
max_rate = $v"
	write_config
	rc=0
	"$ZCRECVD" -n -f "$T/zcrecvd.conf" >"$T/n.out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail "(c) max_rate = $v: zcrecvd -n exited $rc"
	line=$(grep -n "^max_rate = " "$T/zcrecvd.conf" | cut -d: -f1)
	grep -qF "$T/zcrecvd.conf:$line: max_rate: bad value '$v' (expected" \
	    "$T/n.out" || fail "(c) max_rate = $v: $(cat "$T/n.out")"
done
for v in 1000 64x 64m 0 2000G ''; do
	rc=0
	"$ZCSEND" --limit-rate "$v" "$T/src/big" 127.0.0.1:1 \
	    >"$T/s.out" 2>"$T/s.err" || rc=$?
	[ "$rc" -eq 2 ] || fail "(c) --limit-rate '$v': exit $rc, not 2"
	grep -qF "bad rate '$v' (bytes per second" "$T/s.err" ||
	    fail "(c) --limit-rate '$v': $(cat "$T/s.err")"
done
