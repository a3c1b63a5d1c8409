#!/bin/bash
# zcsend --resume (protocol version 5): a transfer broken by a killed
# sender, a daemon stopped (SIGTERM) or killed (SIGKILL) mid-file goes on
# where it stopped, sending only the chunks the receiver had not made
# durable, and lands byte-identical; the receiver's partial is kept only
# for what it is: a source changed (size, mtime), a partial damaged on
# disk (cut short, a chunk overwritten), a sidecar of garbage, a partial
# past resume_keep, or one of another sender's identity (a destination's
# key changed) are never trusted nor reused, and stay for their owner.  An older receiver (a relay speaking up to version 4) gets
# the whole file, with a clear note.  Every assertion is on bytes, exit
# codes, transfer log fields and files; the daemon is slowed by max_rate so
# that a file can be broken around a chosen point.
. "$(dirname "$0")/lib.sh"

M=$((1024 * 1024))
CHUNK=$((4 * M))		# zcsend --resume's chunk size
BIG=$((1024 * M))
need_space $((4 * BIG))

ALLOW_LOG='^zcrecvd: ([^ ]+: resuming: [0-9]+ of [0-9]+ chunks kept|failed [^ ]+ from 127\.0\.0\.1:[0-9]+: (aborted|shutdown|io|timeout): |[^ ]+: [0-9]+ of [0-9]+ kept chunks damaged: sent again$|[^ ]+: resume sidecar discarded: |[^ ]+: resume partial older than resume_keep|.*: removed [0-9]+ (resume partials? older than resume_keep|stale staging files? of an earlier run)|removed [0-9]+ resume partials? of an older version$|shutdown grace period over: aborting [0-9]+ transfers?$|127\.0\.0\.1:[0-9]+: (peer reports error|protocol error: (connection closed|CHUNK for entry [0-9]+, which is not a striped file in flight)))'

# partials: the resume partials in dest.  sidecars: their sidecars.
partials() {
	find "$T/dest" -maxdepth 1 -name '.zcrecvd.*.resume' -print
}
sidecars() {
	find "$T/dest" -maxdepth 1 -name '.zcrecvd.*.chunks' -print
}

# recorded NAME IDENT: the chunks the one sidecar in dest records for the
# file NAME of the sender identity IDENT (its length is in the sidecar).
recorded() {
	local sc n
	sc=$(sidecars | head -n 1)
	[ -n "$sc" ] || { echo 0; return; }
	n=$(stat -c %s "$sc" 2>/dev/null) || { echo 0; return; }
	echo $(((n - 44 - ${#2} - 7 - ${#1} - 16) / 20))
}

# start_send NAME ARGS...: zcsend --resume ARGS $T/src/NAME in the
# background; SPID is its pid, its output in $T/NAME.out and .err.
start_send() {
	local name=$1
	shift
	"$ZCSEND" --resume "$@" "$T/src/$name" "127.0.0.1:$PORT" \
	    >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	SPID=$!
	BGPIDS+=("$SPID")
}

# wait_recorded NAME IDENT CHUNKS: wait (up to 120 s) until the sidecar
# records at least CHUNKS chunks of NAME, while the sender SPID runs.
wait_recorded() {
	local i
	for ((i = 0; i < 12000; i++)); do
		[ "$(recorded "$1" "$2")" -lt "$3" ] || return 0
		alive "$SPID" || break
		sleep 0.01
	done
	cat "$T/$1.out" "$T/$1.err" | prefix "zcsend $1: " >&2
	fail "$1: the sidecar never recorded $3 chunks (has $(recorded "$1" "$2"))"
}

# settled NAME IDENT: wait until the keeper has recorded what it will
# (the count stays the same for a second); prints it.
settled() {
	local i last=-1 now same=0
	for ((i = 0; i < 300 && same < 10; i++)); do
		now=$(recorded "$1" "$2")
		if [ "$now" = "$last" ]; then
			same=$((same + 1))
		else
			same=0
		fi
		last=$now
		sleep 0.1
	done
	echo "$last"
}

# kill_sender NAME [IDENT]: SIGKILL the sender SPID (stopped first, so
# that it sends nothing more), wait for the daemon's line of the broken
# file and for the keeper to have recorded what it will.
kill_sender() {
	kill -STOP "$SPID"
	kill -KILL "$SPID"
	wait "$SPID" 2>/dev/null || true
	[ "$(field "$(wait_xfer "$1")" result)" != ok ] ||
	    fail "$1 landed before the sender could be killed"
	settled "$1" "${2:-$ADDR}" >/dev/null
}

# broken NAME SIZE CHUNKS ARGS...: a file NAME of SIZE random bytes, sent
# with zcsend --resume ARGS (paced, so that it is broken mid-file), its
# sender killed once the sidecar records CHUNKS chunks.
broken() {
	local name=$1 size=$2 chunks=$3
	shift 3
	mkfile "$T/src/$name" "$size"
	start_send "$name" "$@"
	wait_recorded "$name" "$ADDR" "$chunks"
	kill_sender "$name"
}

# started_over LINE NAME WHY: the transfer log LINE says NAME was sent
# whole, nothing kept (WHY, for the failure message).
started_over() {
	[ "$(field "$1" skipped_bytes)" -eq 0 ] &&
	    [ "$(field "$1" bytes)" -eq "$(stat -c %s "$T/src/$2")" ] ||
	    fail "$2: $3: $1"
}

# resume_ok NAME N ARGS...: zcsend --resume ARGS NAME must land it, the
# N-th transfer log line of NAME; prints that line.
resume_ok() {
	local name=$1 n=$2 rc=0 line
	shift 2
	"$ZCSEND" --resume "$@" "$T/src/$name" "127.0.0.1:$PORT" \
	    >"$T/$name.out" 2>"$T/$name.err" </dev/null || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$T/$name.out" "$T/$name.err" | prefix "zcsend $name: " >&2
		fail "zcsend --resume $name exited $rc"
	fi
	same "$T/src/$name" "$T/dest/$name"
	line=$(wait_xfer "$name" "$n")
	[ "$(field "$line" result)" = ok ] || fail "$name: not ok: $line"
	printf '%s\n' "$line"
}

# no_partials: nothing of resume is left in dest.
no_partials() {
	local left
	left=$(find "$T/dest" -maxdepth 1 -name '.zcrecvd.*' -print)
	[ -z "$left" ] || fail "left in dest: $left"
}

ADDR=addr:127.0.0.1
DEFAULT_EXTRA='max_rate = 128M'
start_daemon 'shutdown_grace = 1'

# --- 1. the sender killed at half of 1 GiB ---------------------------------
dd if=/dev/urandom of="$T/src/big.bin" bs=16M count=64 iflag=fullblock \
    status=none
start_send big.bin
wait_recorded big.bin "$ADDR" $((BIG / CHUNK / 2))
kill_sender big.bin
first=$(wait_xfer big.bin)
[ "$(field "$first" result)" = aborted ] || fail "killed: $first"
[ -n "$(partials)" ] || fail "no partial kept after the sender was killed"
[ ! -e "$T/dest/big.bin" ] || fail "big.bin landed while killed"
line=$(resume_ok big.bin 2)
bytes=$(field "$line" bytes)
skipped=$(field "$line" skipped_bytes)
[ $((bytes + skipped)) -eq "$BIG" ] ||
    fail "big.bin: $bytes sent + $skipped kept is not $BIG"
[ $((bytes * 100)) -le $((BIG * 55)) ] ||
    fail "big.bin: resume sent $bytes bytes, more than 55% of $BIG"
missing=$((BIG - $(field "$first" bytes)))
note "big.bin: first attempt received $(field "$first" bytes), resume sent $bytes for $missing missing: ratio $(awk -v a="$bytes" -v b="$missing" 'BEGIN { printf "%.4f", a / b }')"
[ $((bytes * 10)) -le $((missing * 11)) ] ||
    fail "big.bin: resume sent $bytes bytes for $missing missing (over 1.1x)"
grep -qE "^zcsend: .*big\.bin: resuming: the receiver has $skipped of $BIG bytes$" \
    "$T/big.bin.err" || fail "zcsend did not say what it resumed from"
no_partials
rm -f "$T/src/big.bin" "$T/dest/big.bin"

# --- 2. -P 2, broken and resumed striped ----------------------------------
S=$((128 * M))
mkfile "$T/src/p2.bin" $((S + 12345))
start_send p2.bin -P 2 --limit-rate 32M
wait_recorded p2.bin "$ADDR" $((S / CHUNK / 2))
kill_sender p2.bin
first=$(wait_xfer p2.bin)
line=$(resume_ok p2.bin 2 -P 2)
note "p2.bin (-P 2): first attempt received $(field "$first" bytes), resume sent $(field "$line" bytes) for $((S + 12345 - $(field "$first" bytes))) missing"
[ "$(field "$line" skipped_bytes)" -ge $((S / 2)) ] ||
    fail "p2.bin: less than half kept: $line"
[ "$(field "$line" bytes)" -le $((S / 2 + 12345 + 2 * CHUNK)) ] ||
    fail "p2.bin: resume sent too much: $line"
no_partials

# --- 3. source changed between attempts (mtime, then size) -----------------
for how in mtime size; do
	n=chg-$how.bin
	broken "$n" $((64 * M)) 4 --limit-rate 16M
	old=$(partials)
	[ -n "$old" ] || fail "$n: no partial"
	if [ $how = mtime ]; then
		touch -d '2001-02-03 04:05:06' "$T/src/$n"
	else
		head -c 4096 /dev/urandom >>"$T/src/$n"
	fi
	started_over "$(resume_ok "$n" 2)" "$n" \
	    "a changed source resumed from the old partial"
	[ ! -e "$old" ] || fail "$n: the old partial is still there"
	no_partials
done

# --- 4. a partial damaged on disk: cut short; a chunk overwritten ----------
for how in truncate overwrite; do
	n=dmg-$how.bin
	broken "$n" $((64 * M)) 8 --limit-rate 16M
	rec=$(recorded "$n" "$ADDR")
	p=$(partials)
	if [ $how = truncate ]; then
		truncate -s $((3 * CHUNK + 100)) "$p"
		want=3		# chunks 0-2 whole, the 4th cut
	else
		dd if=/dev/urandom of="$p" bs=4096 seek=$((CHUNK / 4096 + 5)) \
		    count=1 conv=notrunc status=none
		want=$((rec - 1))	# chunk 1 hit
	fi
	line=$(resume_ok "$n" 2)
	[ "$(field "$line" skipped_bytes)" -eq $((want * CHUNK)) ] ||
	    fail "$n: kept $(field "$line" skipped_bytes), expected $want chunks: $line"
	[ "$(field "$line" bytes)" -eq $((64 * M - want * CHUNK)) ] ||
	    fail "$n: resent $(field "$line" bytes), expected all but $want chunks"
	grep -qE "^zcrecvd: $n: [0-9]+ of $rec kept chunks damaged: sent again$" \
	    "$DLOG" || fail "$n: the damage was not reported"
	no_partials
done

# --- 5. a sidecar of garbage is discarded, not trusted ---------------------
n=garbage.bin
broken "$n" $((64 * M)) 4 --limit-rate 16M
sc=$(sidecars)
head -c "$(stat -c %s "$sc")" /dev/urandom >"$sc"
started_over "$(resume_ok "$n" 2)" "$n" "a garbage sidecar was trusted"
grep -qE "^zcrecvd: $n: resume sidecar discarded: " "$DLOG" ||
    fail "$n: the garbage sidecar was not reported"
no_partials

# --- 6. the daemon stopped (SIGTERM), then killed (SIGKILL), mid-file -------
for how in TERM KILL; do
	n=daemon-$how.bin
	mkfile "$T/src/$n" $((256 * M))
	start_send "$n" --limit-rate 64M
	wait_recorded "$n" "$ADDR" 16
	if [ $how = TERM ]; then
		stop_daemon	# shutdown_grace = 1: the file is cut
	else
		kill -KILL "$DPID"
		wait "$DPID" 2>/dev/null || true
		DPID=
	fi
	rc=0
	wait "$SPID" || rc=$?
	[ "$rc" -ne 0 ] || fail "$n: zcsend exited 0 with the daemon gone"
	[ -n "$(partials)" ] || fail "$n: no partial kept ($how)"
	# A stray staging file of the old run goes at start-up; partials stay.
	: >"$T/dest/.zcrecvd.0123456789abcdef.part"
	start_daemon 'shutdown_grace = 1'
	[ ! -e "$T/dest/.zcrecvd.0123456789abcdef.part" ] ||
	    fail "$n: the stray staging file survived the restart"
	[ -n "$(partials)" ] || fail "$n: the partial did not survive the restart"
	# (a daemon killed logs nothing of the file it was receiving)
	line=$(resume_ok "$n" $([ $how = TERM ] && echo 2 || echo 1))
	[ "$(field "$line" skipped_bytes)" -ge $((16 * CHUNK)) ] ||
	    fail "$n: less than recorded was kept: $line"
	no_partials
done

# --- 7. another sender's identity: a keyed destination, its key changed,
# then back -----------------------------------------------------------------
mkdir "$T/keys"
(umask 077; printf 'alpha key 0123456789abcdef\n' >"$T/keys/a";
    printf 'bravo key 0123456789abcdef\n' >"$T/keys/b")
n=ident.bin
mkfile "$T/src/$n" $((64 * M))
KEYID="key:$(printf '%064d' 0)"		# as long as a key's identity
stop_daemon
DEFAULT_EXTRA=$'max_rate = 128M\nkey_file = '"$T/keys/a"
start_daemon 'shutdown_grace = 1'
start_send "$n" --key-file "$T/keys/a" --limit-rate 16M
wait_recorded "$n" "$KEYID" 4
kill_sender "$n" "$KEYID"
pa=$(partials)
suma=$(cat "$pa" "$(sidecars)" | md5sum)
stop_daemon
DEFAULT_EXTRA=$'max_rate = 128M\nkey_file = '"$T/keys/b"
start_daemon 'shutdown_grace = 1'
started_over "$(resume_ok "$n" 2 --key-file "$T/keys/b")" "$n" \
    "another identity's partial was used"
[ -e "$pa" ] && [ "$(cat "$pa" "$(sidecars)" | md5sum)" = "$suma" ] ||
    fail "$n: another identity's partial was touched"
# Its own sender (key a again) does resume from it.
rm -f "$T/dest/$n"
stop_daemon
DEFAULT_EXTRA=$'max_rate = 128M\nkey_file = '"$T/keys/a"
start_daemon 'shutdown_grace = 1'
line=$(resume_ok "$n" 3 --key-file "$T/keys/a")
[ "$(field "$line" skipped_bytes)" -ge $((4 * CHUNK)) ] ||
    fail "$n: the key's own partial was not used: $line"
no_partials

# --- 8. an expired partial is removed, not used ----------------------------
stop_daemon
DEFAULT_EXTRA='max_rate = 128M'
start_daemon 'shutdown_grace = 1' 'resume_keep = 1'
n=expired.bin
broken "$n" $((64 * M)) 4 --limit-rate 16M
sleep 3		# past resume_keep: the partial expires
started_over "$(resume_ok "$n" 2)" "$n" "an expired partial was used"
grep -qE 'resume partials? older than resume_keep' "$DLOG" ||
    fail "$n: the expired partial was not reported removed"
no_partials

# --- 9. an older receiver (version 4): the whole file, said clearly ---------
old_receiver 4
n=old.bin
mkfile "$T/src/$n" $((8 * M + 1))
rc=0
"$ZCSEND" --resume "$T/src/$n" "127.0.0.1:$RPORT" >"$T/old.out" \
    2>"$T/old.err" </dev/null || rc=$?
cat "$T/old.out" "$T/old.err" | prefix 'zcsend old: ' >&2
[ "$rc" -eq 0 ] || fail "zcsend --resume against version 4 exited $rc"
[ "$(tr '\n' ' ' <"$T/relay/versions")" = "5 4 " ] ||
    fail "zcsend proposed versions $(tr '\n' ' ' <"$T/relay/versions"), expected 5 then 4"
grep -qxF "zcsend: 127.0.0.1:$RPORT: the receiver speaks protocol version 4; resume (--resume) needs version 5: sending whole files" \
    "$T/old.err" || fail "no clear note that resume needs version 5"
same "$T/src/$n" "$T/dest/$n"
line=$(wait_xfer "$n")
json_field "$line" skipped_bytes >/dev/null && fail "resumed over version 4"
no_partials

stop_daemon
check_daemon_log
check_xfer_log
