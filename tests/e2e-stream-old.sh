#!/bin/bash
# zcsend - and a receiver that speaks protocol versions 1 and 2 only (an
# older zcrecvd): it answers zcsend's version 3 HELLO with ERROR version,
# zcsend connects again proposing 2, and then fails the stream clearly
# (exit 4, "needs version 3"), at once, so that the producer's pipe
# breaks; files of the same run still go, in version 2.  The older
# receiver is a relay run by systemd-socket-activate (--inetd, one per
# connection) in front of the daemon, as in e2e-zcsend-v1.sh: it refuses a
# HELLO proposing 3 itself and passes any other conversation on.
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
# (32 bytes), then ERROR version (code 2) for a version above 2, or the
# conversation passed on to the daemon on port $REAL.
cat >"$T/relay.sh" <<'EOS'
hello=$(mktemp "$RELAYDIR/hello.XXXXXX") || exit 1
dd bs=32 count=1 iflag=fullblock of="$hello" status=none
version=$(od -An -tu1 -j20 -N2 "$hello" | awk '{ print $1 * 256 + $2 }')
echo "$version" >>"$RELAYDIR/versions"
if [ "$version" -gt 2 ]; then
	rm -f "$hello"
	msg="unsupported protocol version $version (this receiver speaks 1 and 2)"
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
note "version 2 relay on 127.0.0.1:$RPORT, daemon on $PORT"

mkfile "$T/src/plain" 100000
st=$(timeout 120 bash -c 'cat /dev/zero | "$@"; echo "${PIPESTATUS[*]}" >&3' \
    _ "$ZCSEND" -v "$T/src/plain" - --name s "127.0.0.1:$RPORT" \
    3>&1 >"$T/out" 2>"$T/err" </dev/null) || true
prefix 'zcsend stdout: ' "$T/out" >&2
prefix 'zcsend stderr: ' "$T/err" >&2
[ -n "$st" ] || fail "cat /dev/zero | zcsend did not end within 120 s"
[ "${st##* }" -eq 4 ] || fail "zcsend exited ${st##* }, expected 4"
[ "${st%% *}" -eq 141 ] ||
    fail "the producer exited ${st%% *}, expected 141 (SIGPIPE)"
[ "$(tr '\n' ' ' <"$T/relay/versions")" = "3 2 " ] ||
    fail "zcsend proposed versions $(tr '\n' ' ' <"$T/relay/versions"), expected 3 then 2"
grep -qxF "zcsend: s: the receiver speaks protocol version 2; a stream from standard input needs version 3 (a newer zcrecvd)" \
    "$T/err" || fail "no clear error for a stream against version 2"
check_summary "$T/out" plain 100000 >/dev/null
same "$T/src/plain" "$T/dest/plain"
[ ! -e "$T/dest/s" ] || fail "the stream landed"
no_staging

stop_daemon
check_daemon_log
check_xfer_log
