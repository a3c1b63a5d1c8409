#!/bin/bash
# zcsend and a receiver that speaks only protocol version 1: it answers
# zcsend's version 2 HELLO with ERROR version, and zcsend connects again
# proposing 1 and sends plain files one at a time, as before; -r needs
# version 2 and is a usage error (exit 2) there, with nothing sent.
# The version 1 receiver is a relay run by systemd-socket-activate
# (--inetd, one per connection) in front of the daemon: it refuses a
# version 2 HELLO itself and passes a version 1 conversation on.
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null 2>&1 ||
    skip "systemd-socket-activate is not installed"
command -v ss >/dev/null 2>&1 || skip "ss (iproute2) is not installed"
command -v od >/dev/null 2>&1 || skip "od is not installed"

# run_zcsend WANT ARGS...: zcsend must exit WANT; output in $T/out, $T/err.
run_zcsend() {
	local want=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	prefix 'zcsend stdout: ' "$T/out" >&2
	prefix 'zcsend stderr: ' "$T/err" >&2
	[ "$rc" -eq "$want" ] || fail "zcsend $* exited $rc, expected $want"
}

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
# (32 bytes), then ERROR version (code 2) for any version but 1, or the
# conversation passed on to the daemon on port $REAL.
cat >"$T/relay.sh" <<'EOF'
hello=$(mktemp "$RELAYDIR/hello.XXXXXX") || exit 1
dd bs=32 count=1 iflag=fullblock of="$hello" status=none
version=$(od -An -tu1 -j20 -N2 "$hello" | awk '{ print $1 * 256 + $2 }')
if [ "$version" != 1 ]; then
	rm -f "$hello"
	msg="unsupported protocol version $version (this receiver speaks 1)"
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
EOF

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
note "version 1 relay on 127.0.0.1:$RPORT, daemon on $PORT"

note "plain files: version 1, one at a time"
mkfile "$T/src/one" $((3 * 1024 * 1024 + 5))
mkfile "$T/src/two" 1000
run_zcsend 0 -v "$T/src/one" "$T/src/two" "127.0.0.1:$RPORT"
grep -q "connecting again, proposing version 1" "$T/err" ||
    fail "zcsend did not connect again with version 1"
grep -q "protocol version 1, window 0" "$T/err" ||
    fail "zcsend did not speak version 1"
check_summary "$T/out" one $((3 * 1024 * 1024 + 5)) >/dev/null
check_summary "$T/out" two 1000 >/dev/null
same "$T/src/one" "$T/dest/one"
same "$T/src/two" "$T/dest/two"

note "-r: version 2 needed, a usage error"
mkdir -p "$T/src/tree/sub"
mkfile "$T/src/tree/sub/f" 100
run_zcsend 2 -r "$T/src/tree" "127.0.0.1:$RPORT"
grep -qxF "zcsend: 127.0.0.1:$RPORT: the receiver speaks protocol version 1 only; -r needs version 2 (a newer zcrecvd)" \
    "$T/err" || fail "no clear error for -r against version 1"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one error line"
[ ! -s "$T/out" ] || fail "zcsend wrote to stdout"
[ ! -e "$T/dest/tree" ] || fail "something of the tree landed"
if command -v jq >/dev/null 2>&1; then
	run_zcsend 2 --json -r "$T/src/tree" "127.0.0.1:$RPORT"
	jq -se 'length == 1 and .[0].type == "summary" and .[0].files == 0 and
	    .[0].exit == 2' "$T/out" >/dev/null ||
	    fail "--json: not just a summary with exit 2"
fi

stop_daemon
check_daemon_log
check_xfer_log
