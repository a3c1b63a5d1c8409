#!/bin/bash
# zcsend -P and a receiver that speaks protocol versions 1 to 3 only (an
# older zcrecvd): it answers zcsend's version 4 HELLO with ERROR version,
# zcsend connects again proposing 3, says once that striping needs
# version 4 and sends every file over that one connection, as -P 1 would;
# they land and zcsend exits 0.  The older receiver is a relay run by
# systemd-socket-activate (--inetd, one per connection) in front of the
# daemon, as in e2e-stream-old.sh: it refuses a HELLO proposing 4 itself
# and passes any other conversation on.
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null 2>&1 ||
    skip "systemd-socket-activate is not installed"
command -v ss >/dev/null 2>&1 || skip "ss (iproute2) is not installed"
command -v od >/dev/null 2>&1 || skip "od is not installed"

# A port below the ephemeral range that nothing listens on.
pick_port() {
	local lo p i
	lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range)
	[ "$lo" -gt 12000 ] || lo=32768
	for ((i = 0; i < 50; i++)); do
		p=$((10000 + RANDOM % (lo - 10000)))
		[ -n "$(ss -Htln "( sport = :$p )")" ] || { echo "$p"; return 0; }
	done
	hard_error "no free port found in 50 tries"
}

# The relay, for one connection on stdin and stdout: the sender's HELLO
# (32 bytes), then ERROR version (code 2) for a version above 3, or the
# conversation passed on to the daemon on port $REAL.
cat >"$T/relay.sh" <<'EOS'
hello=$(mktemp "$RELAYDIR/hello.XXXXXX") || exit 1
dd bs=32 count=1 iflag=fullblock of="$hello" status=none
version=$(od -An -tu1 -j20 -N2 "$hello" | awk '{ print $1 * 256 + $2 }')
echo "$version" >>"$RELAYDIR/versions"
if [ "$version" -gt 3 ]; then
	rm -f "$hello"
	msg="unsupported protocol version $version (this receiver speaks 1 to 3)"
	n=${#msg}
	printf "\x00\x07\x00\x00\x00\x00\x00\\x$(printf %02x $((n + 8)))"
	printf '\x00\x00\x00\x00\x00\x00\x00\x00'
	printf "\x00\x02\x00\\x$(printf %02x "$n")\x00\x00\x00\x00%s" "$msg"
	exit 0
fi
exec 3<>"/dev/tcp/127.0.0.1/$REAL" || exit 1
cat "$hello" >&3
rm -f "$hello"
cat <&3 &
back=$!
cat >&3
kill "$back" 2>/dev/null
EOS

# Relayed, the payload loses the zero-copy framing.
ALLOW_LOG='^zcrecvd: 127\.0\.0\.1:[0-9]+: payload is not mappable .*: switching to splice$'
start_daemon
mkdir "$T/relay"
RPORT=
for ((try = 0; try < 10; try++)); do
	p=$(pick_port)
	: >"$T/relay.log"
	systemd-socket-activate -l "127.0.0.1:$p" -a --inetd \
	    -E "REAL=$PORT" -E "RELAYDIR=$T/relay" \
	    /bin/bash "$T/relay.sh" >/dev/null 2>"$T/relay.log" </dev/null &
	RPID=$!
	BGPIDS+=("$RPID")
	for ((i = 0; i < 100; i++)); do
		grep -q '^Listening on ' "$T/relay.log" && break
		alive "$RPID" || break
		sleep 0.1
	done
	if grep -qx "Listening on 127.0.0.1:$p as 3." "$T/relay.log"; then
		RPORT=$p
		break
	fi
	kill "$RPID" 2>/dev/null || true
done
[ -n "$RPORT" ] || hard_error "systemd-socket-activate could not listen"
note "version 3 relay on 127.0.0.1:$RPORT, daemon on $PORT"

C=$((1024 * 1024))
mkfile "$T/src/one" $((5 * C + 3))
mkfile "$T/src/two" 1000
rc=0
"$ZCSEND" -P 4 --chunk-size 1M "$T/src/one" "$T/src/two" \
    "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err" </dev/null || rc=$?
prefix 'zcsend stdout: ' "$T/out" >&2
prefix 'zcsend stderr: ' "$T/err" >&2
[ "$rc" -eq 0 ] || fail "zcsend -P 4 against version 3 exited $rc, expected 0"
[ "$(tr '\n' ' ' <"$T/relay/versions")" = "4 3 " ] ||
    fail "zcsend proposed versions $(tr '\n' ' ' <"$T/relay/versions"), expected 4 then 3"
grep -qxF "zcsend: 127.0.0.1:$RPORT: the receiver speaks protocol version 3; striping (-P) needs version 4: sending over one connection" \
    "$T/err" || fail "no clear note that striping needs version 4"
[ "$(grep -c 'striping (-P) needs' "$T/err")" -eq 1 ] ||
    fail "the note came more than once"
check_summary "$T/out" one $((5 * C + 3)) >/dev/null
check_summary "$T/out" two 1000 >/dev/null
same "$T/src/one" "$T/dest/one"
same "$T/src/two" "$T/dest/two"
line=$(wait_xfer one)
[ "$(field "$line" io)" != striped ] || fail "one went striped: $line"
no_staging

stop_daemon
check_daemon_log
check_xfer_log
