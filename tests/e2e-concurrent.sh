#!/bin/bash
# Several senders at once: eight zcsend processes, each with a file of its
# own, and a ninth with four files, all started together.  Every zcsend
# exits 0, every file lands byte-identical, and the transfer log has one
# "ok" line per file.
. "$(dirname "$0")/lib.sh"

MIB=$((1024 * 1024))
SIZES=(1 4097 65536 $((MIB - 1)) $((3 * MIB + 5)) $((16 * MIB)) \
    $((32 * MIB)) $((48 * MIB + 4095)))
MANY_SIZES=(0 12345 $((2 * MIB)) $((8 * MIB + 1)))
NFILES=$((${#SIZES[@]} + ${#MANY_SIZES[@]}))
need_space $((3 * 128 * MIB))

for i in "${!SIZES[@]}"; do
	mkfile "$T/src/one-$i" "${SIZES[$i]}"
done
many=()
for i in "${!MANY_SIZES[@]}"; do
	mkfile "$T/src/many-$i" "${MANY_SIZES[$i]}"
	many+=("$T/src/many-$i")
done

start_daemon

# Start every sender before waiting for any.
pids=()
outs=()
for i in "${!SIZES[@]}"; do
	"$ZCSEND" "$T/src/one-$i" "127.0.0.1:$PORT" >"$T/one-$i.out" \
	    2>"$T/one-$i.err" &
	pids+=("$!")
	outs+=("one-$i")
	BGPIDS+=("$!")
done
"$ZCSEND" "${many[@]}" "127.0.0.1:$PORT" >"$T/many.out" 2>"$T/many.err" &
pids+=("$!")
outs+=(many)
BGPIDS+=("$!")
note "${#pids[@]} zcsend processes started"

# Bounded wait: zcsend's own timeouts are 30 s per wait; give the lot 120 s.
for ((i = 0; i < 1200; i++)); do
	running=0
	for p in "${pids[@]}"; do
		! alive "$p" || running=$((running + 1))
	done
	[ "$running" -gt 0 ] || break
	sleep 0.1
done
[ "$running" -eq 0 ] || fail "$running zcsend processes still running after 120 s"

bad=0
for j in "${!pids[@]}"; do
	rc=0
	wait "${pids[$j]}" || rc=$?
	if [ "$rc" -ne 0 ]; then
		prefix "${outs[$j]} stdout: " "$T/${outs[$j]}.out" >&2
		prefix "${outs[$j]} stderr: " "$T/${outs[$j]}.err" >&2
		note "zcsend ${outs[$j]} exited $rc"
		bad=$((bad + 1))
	fi
done
[ "$bad" -eq 0 ] || fail "$bad of ${#pids[@]} zcsend processes failed"
daemon_alive || fail "daemon died"

# Every file landed whole, with its summary line and one ok log line.
check_one() {
	local name=$1 size=$2 out=$3 hex line
	same "$T/src/$name" "$T/dest/$name"
	hex=$(check_summary "$out" "$name" "$size")
	line=$(check_landed "$name" "$size")
	check_digest "$T/src/$name" "$hex" "$line"
}
for i in "${!SIZES[@]}"; do
	check_one "one-$i" "${SIZES[$i]}" "$T/one-$i.out"
	[ "$(wc -l <"$T/one-$i.out")" -eq 1 ] ||
	    fail "zcsend one-$i printed more than its summary line"
done
for i in "${!MANY_SIZES[@]}"; do
	check_one "many-$i" "${MANY_SIZES[$i]}" "$T/many.out"
done
[ "$(wc -l <"$T/many.out")" -eq "${#MANY_SIZES[@]}" ] ||
    fail "zcsend with ${#MANY_SIZES[@]} files printed other lines than one summary per file"

n=$(find "$T/dest" -mindepth 1 | wc -l)
[ "$n" -eq "$NFILES" ] || fail "$n entries in dest, expected $NFILES"
no_staging
stop_daemon
check_daemon_log
check_xfer_log
n=$(wc -l <"$XLOG")
[ "$n" -eq "$NFILES" ] || fail "$n transfer log lines, expected $NFILES"
n=$(grep -cE '"result"[[:space:]]*:[[:space:]]*"ok"' "$XLOG" || true)
[ "$n" -eq "$NFILES" ] || fail "$n ok lines in the transfer log, expected $NFILES"
