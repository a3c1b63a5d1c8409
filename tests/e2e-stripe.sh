#!/bin/bash
# Striping (protocol version 4): zcsend -P N sends a file larger than one
# chunk over N connections of one session.
#   (a) N = 1..8, files of 0, 1, chunk - 1, chunk, chunk + 1 bytes and 5
#       chunks + 12345 (chunks of 1 MiB): every file lands byte for byte;
#       with N > 1 the files larger than a chunk go striped (io "striped"
#       in the transfer log) and their digest, in zcsend's summary and in
#       the transfer log, is the tree digest (XXH3-128 of the chunks'
#       XXH3-128 digests, computed here with xxh128sum); the others, and
#       everything with -P 1, keep the plain XXH3-128 of the file; 24
#       striped files in one run (more than the 16 that may be in flight)
#       all land;
#   (b) 64 MiB over -P 4 with two workers: the transfer log's "stripes"
#       name more than one worker;
#   (c) a stripe connection cut in the middle of a chunk (a relay in front
#       of the daemon that passes only the first 3 MB of zcsend's second
#       connection): zcsend exits non-zero naming the stripe connection,
#       nothing lands under the final name, no staging file is left, and
#       the next striped file lands;
#   (d) older senders against this receiver: zcsend without -P (version 2)
#       and a stream (version 3) land as before;
#   (e) usage: -P out of 1-64 and a chunk size that is not a power of two
#       from 1M to 256M are refused (exit 2);
#   (f) a destination with max_rate (chunks read in pieces): the file lands
#       whole;
#   (g) SIGTERM while a striped file is on its way: the daemon keeps the
#       joined connections for it, it lands within shutdown_grace, zcsend
#       exits 0.
. "$(dirname "$0")/lib.sh"

command -v xxh128sum >/dev/null 2>&1 || skip "xxh128sum is not installed"
command -v xxd >/dev/null 2>&1 || skip "xxd is not installed"
command -v jq >/dev/null 2>&1 || skip "jq is not installed"

C=$((1024 * 1024))
ALLOW_LOG='^zcrecvd: (failed big-cut from 127\.0\.0\.1:[0-9]+: io: stripe connection 127\.0\.0\.1:[0-9]+: .*|127\.0\.0\.1:[0-9]+: payload is not mappable .*: switching to splice)$'
SERVER_EXTRA='workers = 2'
mkdir "$T/slow"
chown "$DAEMON_USER:" "$T/slow"
DEFAULT_EXTRA="
[slow]
path = $T/slow
max_rate = 16M"
start_daemon

# tree FILE: the tree digest of FILE in chunks of $C.
tree() {
	local size i=0
	size=$(stat -c %s "$1")
	: >"$T/tree.bin"
	while ((i * C < size)); do
		dd if="$1" bs=$C skip=$i count=1 status=none | xxh128sum |
		    cut -c1-32 | xxd -r -p >>"$T/tree.bin"
		i=$((i + 1))
	done
	xxh128sum <"$T/tree.bin" | cut -c1-32
}

# --- (a) sizes around the chunk, N = 1..8 --------------------------------
SIZES=(0 1 $((C - 1)) $C $((C + 1)) $((5 * C + 12345)))
for n in 1 2 3 4 5 6 7 8; do
	files=()
	for s in "${SIZES[@]}"; do
		mkfile "$T/src/p$n-$s" "$s"
		files+=("$T/src/p$n-$s")
	done
	send_ok -P "$n" --chunk-size 1M "${files[@]}"
	for s in "${SIZES[@]}"; do
		name=p$n-$s
		same "$T/src/$name" "$T/dest/$name"
		hex=$(check_summary "$T/send.out" "$name" "$s")
		line=$(check_landed "$name" "$s")
		[ "$(field "$line" digest)" = "xxh3:$hex" ] ||
		    fail "$name: transfer log digest is not zcsend's $hex: $line"
		if [ "$n" -gt 1 ] && [ "$s" -gt "$C" ]; then
			[ "$(field "$line" io)" = striped ] ||
			    fail "$name: not striped: $line"
			[ "$hex" = "$(tree "$T/src/$name")" ] ||
			    fail "$name: digest $hex is not the tree digest"
			[ "$(printf '%s\n' "$line" |
			    jq '[.stripes[].chunks] | add')" -eq $(((s + C - 1) / C)) ] ||
			    fail "$name: the stripes do not add up to its chunks: $line"
		else
			[ "$(field "$line" io)" != striped ] ||
			    fail "$name: striped: $line"
			[ "$hex" = "$(xxh128sum <"$T/src/$name" | cut -c1-32)" ] ||
			    fail "$name: digest $hex is not XXH3-128 of the file"
		fi
	done
	grep -q 'zcsend: ' "$T/send.err" && fail "-P $n: zcsend complained"
	note "-P $n: ok"
done

# More striped files than may be in flight at once (ZC_STRIPED_MAX, 16):
# zcsend waits for RESULTs before it announces more; all land.
files=()
for ((i = 1; i <= 24; i++)); do
	mkfile "$T/src/m$i" $((C + i))
	files+=("$T/src/m$i")
done
send_ok -P 2 --chunk-size 1M "${files[@]}"
for ((i = 1; i <= 24; i++)); do
	same "$T/src/m$i" "$T/dest/m$i"
done

# --- (b) more than one worker carries the chunks -------------------------
mkfile "$T/src/big" $((64 * C))
send_ok -P 4 --chunk-size 1M "$T/src/big"
same "$T/src/big" "$T/dest/big"
line=$(check_landed big $((64 * C)))
workers=$(printf '%s\n' "$line" | jq '.stripes | length')
[ "$workers" -ge 2 ] || fail "big: chunks carried by $workers worker(s): $line"
[ "$(printf '%s\n' "$line" | jq '[.stripes[].carried] | add')" -eq $((64 * C)) ] ||
    fail "big: the stripes' bytes do not add up: $line"
note "64 MiB over -P 4: $(printf '%s\n' "$line" | jq -c .stripes)"

# --- (c) a stripe connection cut mid-chunk --------------------------------
command -v socat >/dev/null 2>&1 || skip "socat is not installed"
command -v ss >/dev/null 2>&1 || skip "ss (iproute2) is not installed"

# The relay, for one connection on stdin and stdout (socat forks one per
# connection, so they run at once): to the daemon on port $REAL and back;
# of the second connection it serves, only the first $CUT bytes go on,
# then it closes the daemon's side and swallows the rest from zcsend until
# zcsend closes.  Closing both ways at once raced: zcsend could give up and
# close its first connection before the daemon's other worker saw the cut,
# and the daemon logged a dropped sender instead of the stripe failure.
cat >"$T/relay.sh" <<'EOS'
mktemp "$RELAYDIR/conn.XXXXXX" >/dev/null || exit 1
n=$(find "$RELAYDIR" -name 'conn.*' | wc -l)
exec 3<>"/dev/tcp/127.0.0.1/$REAL" || exit 1
cat <&3 &
back=$!
if [ "$n" -eq 2 ]; then
	dd iflag=count_bytes count="$CUT" bs=65536 status=none >&3
	kill "$back" 2>/dev/null
	wait "$back" 2>/dev/null
	exec 3>&-
	cat >/dev/null
	exit 0
fi
cat >&3
kill "$back" 2>/dev/null
EOS
mkdir "$T/relay"
relay_listen env REAL="$PORT" RELAYDIR="$T/relay" CUT=3000000 socat \
    "TCP-LISTEN:@PORT@,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:/bin/bash $T/relay.sh"
note "cutting relay on 127.0.0.1:$RPORT, daemon on $PORT"

mkfile "$T/src/big-cut" $((64 * C))
rc=0
timeout 120 "$ZCSEND" -P 2 --chunk-size 1M "$T/src/big-cut" \
    "127.0.0.1:$RPORT" >"$T/cut.out" 2>"$T/cut.err" </dev/null || rc=$?
prefix 'zcsend stdout: ' "$T/cut.out" >&2
prefix 'zcsend stderr: ' "$T/cut.err" >&2
[ "$rc" -eq 3 ] || [ "$rc" -eq 4 ] ||
    fail "zcsend with a stripe connection cut exited $rc, expected 3 or 4"
grep -qE '^zcsend: .*big-cut.*: .*stripe connection' "$T/cut.err" ||
    fail "zcsend did not say a stripe connection failed"
[ "$(find "$T/relay" -name 'conn.*' | wc -l)" -ge 2 ] ||
    fail "zcsend did not open a second connection"
[ ! -e "$T/dest/big-cut" ] || fail "the cut file landed"
line=$(wait_xfer big-cut)
[ "$(field "$line" result)" = io ] || fail "big-cut: not failed io: $line"
for ((i = 0; i < 100; i++)); do
	[ -n "$(staging_files)" ] || break
	sleep 0.1
done
no_staging
mkfile "$T/src/after-cut" $((3 * C + 7))
send_ok -P 2 --chunk-size 1M "$T/src/after-cut"
same "$T/src/after-cut" "$T/dest/after-cut"

# --- (d) older senders -----------------------------------------------------
mkfile "$T/src/v2" $((3 * C + 1))
send_ok "$T/src/v2"
check_file v2 $((3 * C + 1)) >/dev/null
mkfile "$T/src/v3" $((2 * C + 5))
"$ZCSEND" - --name v3 "127.0.0.1:$PORT" <"$T/src/v3" >"$T/send.out" \
    2>"$T/send.err" || fail "a stream (version 3) failed"
check_file v3 $((2 * C + 5)) >/dev/null

# --- (f) under max_rate -------------------------------------------------------
# Read in token-sized pieces, a chunk's last block comes on its own: it is
# no tail of the file (the whole file stays).
mkfile "$T/src/paced" $((8 * C))
rc=0
"$ZCSEND" -v -P 2 --chunk-size 1M "$T/src/paced" "127.0.0.1:$PORT/slow" \
    >"$T/send.out" 2>"$T/send.err" || rc=$?
prefix 'zcsend paced stderr: ' "$T/send.err" >&2
[ "$rc" -eq 0 ] || fail "paced: zcsend exited $rc"
same "$T/src/paced" "$T/slow/paced"

# --- (e) usage -------------------------------------------------------------
for bad in "-P 0" "-P 65" "-P x" "--chunk-size 3M" "--chunk-size 512k" \
    "--chunk-size 512M"; do
	rc=0
	# shellcheck disable=SC2086
	"$ZCSEND" $bad "$T/src/v2" "127.0.0.1:$PORT" >/dev/null \
	    2>"$T/usage.err" || rc=$?
	[ "$rc" -eq 2 ] || fail "zcsend $bad exited $rc, expected 2"
done

# --- (g) SIGTERM while a file is striped: it finishes within the grace ------
mkfile "$T/src/graceful" $((64 * C))
"$ZCSEND" -P 2 --chunk-size 1M "$T/src/graceful" "127.0.0.1:$PORT/slow" \
    >"$T/graceful.out" 2>"$T/graceful.err" </dev/null &
GPID=$!
BGPIDS+=("$GPID")
for ((i = 0; i < 100; i++)); do
	[ -z "$(find "$T/slow" -maxdepth 1 -name '.zcrecvd.*' -print)" ] || break
	sleep 0.05
done
stop_daemon
rc=0
wait "$GPID" || rc=$?
prefix 'zcsend graceful stderr: ' "$T/graceful.err" >&2
[ "$rc" -eq 0 ] || fail "graceful: zcsend exited $rc after the daemon's SIGTERM"
same "$T/src/graceful" "$T/slow/graceful"
check_daemon_log
check_xfer_log
