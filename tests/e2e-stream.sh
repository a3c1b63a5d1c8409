#!/bin/bash
# Streams of unknown length (protocol version 3): `zcsend - --name NAME`
# sends standard input.
#   (a) 0, 1, 4095, 4096, 4097 bytes and 9 MiB + 123 (more than two of
#       zcsend's buffers) from a pipe land byte for byte, with the digest
#       zcsend printed, and the transfer log's size is the stream's; 64 MiB
#       + 3 from a file on standard input, --no-verify, lands whole;
#   (b) 1 GiB from a pipe lands whole, mapped and written with O_DIRECT;
#   (c) --size: a stream that ends short of it, or runs past it, is
#       refused ("size"), and nothing lands;
#   (d) max_file_size: a stream that crosses it is refused as the bytes
#       arrive ("size", "over the limit"), nothing lands, and zcsend exits
#       4 at once, so that an endless producer's pipe breaks (SIGPIPE); a
#       stream of exactly the limit lands; --size over it is refused up
#       front;
#   (e) a producer that stalls longer than -t: zcsend exits 1 ("stalled")
#       and the daemon removes its staging file;
#   (f) zcsend killed mid-stream: nothing under the final name, no
#       staging file left, and the next stream lands;
#   (g) usage: - needs --name, once; --name and --size need -; -n says
#       what would go;
#   (h) a producer that takes longer than the receiver's stall_timeout to
#       begin: zcsend announces the stream when its input begins, and it
#       lands.
. "$(dirname "$0")/lib.sh"

GIB=$((1024 * 1024 * 1024))
need_space $((2 * GIB + 64 * 1024 * 1024))

# stream_rc NAME ARGS...: $PRODUCER (a shell command) | zcsend - ARGS;
# stdout/stderr in $T/NAME.out/.err.  Sets RC to zcsend's exit status and
# PRC to the producer's; fails if the pipeline takes over 120 s.
stream_rc() {
	local name=$1 st
	shift
	timeout 120 bash -c 'bash -c "$1" | "${@:2}"
		echo "${PIPESTATUS[*]}" >&3' _ "$PRODUCER" "$ZCSEND" - "$@" \
	    >"$T/$name.out" 2>"$T/$name.err" 3>"$T/$name.st" </dev/null ||
	    true
	prefix "zcsend $name stderr: " "$T/$name.err" >&2
	st=$(cat "$T/$name.st")
	[ -n "$st" ] || fail "$name: the pipeline did not end within 120 s"
	PRC=${st%% *}
	RC=${st##* }
}

# stream_ok NAME [ARGS...]: cat $T/src/NAME | zcsend - --name NAME; must
# land with the bytes and digest of $T/src/NAME.
stream_ok() {
	local name=$1
	shift
	PRODUCER="cat '$T/src/$name'" stream_rc "$name" "$@" --name "$name" \
	    "127.0.0.1:$PORT"
	[ "$RC" -eq 0 ] || fail "$name: zcsend exited $RC, expected 0"
	cp "$T/$name.out" "$T/send.out"
	check_file "$name" "$(stat -c %s "$T/src/$name")"
}

# nothing_landed NAME: NAME is not under its final name in either
# destination, and the daemon removes its staging file (bounded wait).
nothing_landed() {
	local i
	[ ! -e "$T/dest/$1" ] && [ ! -e "$T/small/$1" ] ||
	    fail "$1 landed under its final name"
	for ((i = 0; i < 200; i++)); do
		[ -z "$(staging_files)$(find "$T/small" -name '.zcrecvd.*')" ] &&
		    break
		sleep 0.1
	done
	no_staging
	[ -z "$(find "$T/small" -name '.zcrecvd.*')" ] ||
	    fail "staging files left in small"
}

# refused NAME RC MESSAGE: zcsend exited RC with MESSAGE (an ERE) for
# NAME, and nothing of NAME landed.
refused() {
	[ "$RC" -eq "$2" ] || fail "$1: zcsend exited $RC, expected $2"
	grep -qE "^zcsend: $1: $3" "$T/$1.err" ||
	    fail "$1: zcsend stderr lacks '$3'"
	nothing_landed "$1"
}

# refused_local NAME RC MESSAGE: as refused, for a local failure, which
# zcsend reports under the operand's name ("-").
refused_local() {
	[ "$RC" -eq "$2" ] || fail "$1: zcsend exited $RC, expected $2"
	grep -qE "^zcsend: $3" "$T/$1.err" ||
	    fail "$1: zcsend stderr lacks '$3'"
	nothing_landed "$1"
}

mkdir "$T/small"
chown "$DAEMON_USER:" "$T/small"
ALLOW_LOG='^zcrecvd: (failed [a-z0-9-]+ from 127\.0\.0\.1:[0-9]+: |127\.0\.0\.1:[0-9]+: )'
# Mapping, not auto's choice (e2e-io-auto.sh): (b) checks that a stream's
# framing keeps its payload mappable.
DEFAULT_EXTRA="io = direct"
start_daemon "" "[small]" "path = $T/small" "max_file_size = 1M"

note "(a) small and odd sizes from a pipe"
for n in 0 1 4095 4096 4097 $((9 * 1024 * 1024 + 123)); do
	mkfile "$T/src/s$n" "$n"
	line=$(stream_ok "s$n")
	[ "$(field "$line" io)" = direct ] ||
	    fail "s$n: io $(field "$line" io), expected direct: $line"
done

# From a file on standard input, without digests: zcsend reads ahead
# while its sends wait, and that read may reach the end of the input;
# what follows must still go (and the size in EOS be all of it).
mkfile "$T/src/r64" $((64 * 1024 * 1024 + 3))
RC=0
"$ZCSEND" --no-verify - --name r64 "127.0.0.1:$PORT" <"$T/src/r64" \
    >"$T/r64.out" 2>"$T/r64.err" || RC=$?
prefix 'zcsend r64 stderr: ' "$T/r64.err" >&2
[ "$RC" -eq 0 ] || fail "r64: zcsend exited $RC, expected 0"
same "$T/src/r64" "$T/dest/r64"
rm -f "$T/src/r64" "$T/dest/r64"

note "(b) 1 GiB from a pipe"
dd if=/dev/urandom of="$T/src/g1" bs=16M count=64 iflag=fullblock \
    status=none
line=$(stream_ok g1 --limit-rate "$MAP_PACE")	# lib.sh says why
zc=$(field "$line" zc_bytes)
awk -v zc="$zc" -v b="$GIB" 'BEGIN { exit !(zc * 100 >= b * 99) }' ||
    fail "g1: $zc of $GIB bytes mapped, expected 99% or more: $line"
rm -f "$T/src/g1" "$T/dest/g1"

note "(c) --size: short and long"
PRODUCER="head -c 100 /dev/urandom" stream_rc short --size 200 \
    --name short "127.0.0.1:$PORT"
refused short 4 'rejected by receiver \(size\): stream ended after 100 of the announced 200 bytes$'
PRODUCER="head -c 10000 /dev/urandom" stream_rc long --size 4096 \
    --name long "127.0.0.1:$PORT"
refused long 4 'rejected by receiver \(size\): stream longer than the announced 4096 bytes$'
mkfile "$T/src/exact" 8192
stream_ok exact --size 8192 >/dev/null

note "(d) max_file_size as the bytes arrive"
PRODUCER="cat /dev/zero" stream_rc endless --name endless \
    "127.0.0.1:$PORT/small"
refused endless 4 'rejected by receiver \(size\): stream over the limit of 1048576 bytes \(max_file_size\)$'
[ "$PRC" -eq 141 ] ||
    fail "endless: the producer exited $PRC, expected 141 (SIGPIPE)"
line=$(wait_xfer endless)
[ "$(field "$line" result)" = size ] || fail "endless: result not size: $line"
[ "$(field "$line" bytes)" -le 1048576 ] ||
    fail "endless: more than the limit written: $line"
PRODUCER="head -c 1048576 /dev/urandom" stream_rc limit --name limit \
    "127.0.0.1:$PORT/small"
[ "$RC" -eq 0 ] || fail "limit: zcsend exited $RC, expected 0"
[ "$(stat -c %s "$T/small/limit")" -eq 1048576 ] ||
    fail "limit: a stream of max_file_size did not land whole"
PRODUCER="cat /dev/zero" stream_rc sized --size 1048577 --name sized \
    "127.0.0.1:$PORT/small"
refused sized 4 'rejected by receiver \(size\): stream of 1048577 bytes is over the limit of 1048576$'
[ "$PRC" -eq 141 ] ||
    fail "sized: the producer exited $PRC, expected 141 (SIGPIPE)"

note "(e) a producer that stalls past -t"
# The producer goes on after 12 s: by then zcsend must have given up and
# closed the pipe.
PRODUCER="head -c 5000 /dev/urandom; sleep 12; head -c 100M /dev/zero" \
    stream_rc stall -t 2 --name stall "127.0.0.1:$PORT"
refused_local stall 1 '-: standard input stalled after [0-9]+ bytes; not sent$'
[ "$PRC" -eq 141 ] ||
    fail "stall: the producer exited $PRC, expected 141 (SIGPIPE)"
line=$(wait_xfer stall)
[ "$(field "$line" result)" != ok ] || fail "stall: logged as ok: $line"

note "(f) zcsend killed mid-stream"
mkfifo "$T/fifo"
bash -c "head -c 8M /dev/urandom; exec sleep 60" >"$T/fifo" &
BGPIDS+=("$!")
"$ZCSEND" - --name killed "127.0.0.1:$PORT" <"$T/fifo" \
    >"$T/killed.out" 2>"$T/killed.err" &
spid=$!
BGPIDS+=("$spid")
for ((i = 0; i < 300; i++)); do
	staged=$(find "$T/dest" -maxdepth 1 -name '.zcrecvd.*.part' -size +0 \
	    -print -quit)
	[ -z "$staged" ] || break
	sleep 0.1
done
[ -n "$staged" ] || fail "killed: no staging file with data appeared"
alive "$spid" || fail "killed: zcsend ended before it was killed"
kill -KILL "$spid"
RC=0
wait "$spid" || RC=$?
[ "$RC" -eq 137 ] || fail "killed: zcsend exited $RC, expected 137"
nothing_landed killed
line=$(wait_xfer killed)
[ "$(field "$line" result)" != ok ] || fail "killed: logged as ok: $line"
mkfile "$T/src/after" 70000
stream_ok after >/dev/null

note "(g) usage"
PRODUCER=true stream_rc u1 "127.0.0.1:$PORT"
[ "$RC" -eq 2 ] && grep -qx 'zcsend: standard input (-) needs --name' \
    "$T/u1.err" || fail "- without --name: exit $RC"
RC=0
"$ZCSEND" - - --name x "127.0.0.1:$PORT" </dev/null >/dev/null \
    2>"$T/u2.err" || RC=$?
[ "$RC" -eq 2 ] && grep -qx 'zcsend: standard input (-) can be sent only once' \
    "$T/u2.err" || fail "- twice: exit $RC"
RC=0
"$ZCSEND" --size 5 "$T/src/after" "127.0.0.1:$PORT" </dev/null \
    >/dev/null 2>"$T/u3.err" || RC=$?
[ "$RC" -eq 2 ] && grep -qx 'zcsend: --name and --size are for standard input (-)' \
    "$T/u3.err" || fail "--size without -: exit $RC"
RC=0
"$ZCSEND" - --name ../x "127.0.0.1:$PORT" </dev/null >/dev/null \
    2>"$T/u4.err" || RC=$?
[ "$RC" -eq 2 ] && grep -q '^zcsend: --name \.\./x: file name contains /' \
    "$T/u4.err" || fail "--name ../x: exit $RC"
[ ! -e "$T/dest/x" ] || fail "usage errors landed x"
RC=0
# (A here-string: with a pipe, echo may find zcsend -n gone and die of
# SIGPIPE, which pipefail makes the status.)
"$ZCSEND" -n - --name x "127.0.0.1:$PORT" <<<data >"$T/dry.out" \
    2>"$T/dry.err" || RC=$?
[ "$RC" -eq 0 ] && [ "$(cat "$T/dry.out")" = "x: standard input, size unknown" ] &&
    [ ! -s "$T/dry.err" ] || fail "-n -: exit $RC, $(cat "$T/dry.out")"
[ ! -e "$T/dest/x" ] || fail "-n - landed x"

stop_daemon

note "(h) a producer that thinks before its first byte"
# The receiver gives up on a stream that stalls for 2 s; zcsend announces
# the stream only once its input has begun, so a producer may take longer
# than that to start (within zcsend's -t), and the stream lands.
SERVER_EXTRA="stall_timeout = 2"
start_daemon
PRODUCER="sleep 5; head -c 70000 /dev/urandom | tee '$T/src/late'" \
    stream_rc late -t 20 --name late "127.0.0.1:$PORT"
[ "$RC" -eq 0 ] || fail "late: zcsend exited $RC, expected 0"
cp "$T/late.out" "$T/send.out"
check_file late 70000 >/dev/null
stop_daemon
check_daemon_log
check_xfer_log
