#!/bin/bash
# Socket activation: under systemd-socket-activate the daemon takes the
# passed socket (LISTEN_FDS), says so, binds nothing itself whatever
# "listen" says (a connect to the config's port fails), and a file sent to
# the activated port lands byte for byte.
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null 2>&1 ||
    skip "systemd-socket-activate is not installed"
command -v ss >/dev/null 2>&1 || skip "ss (iproute2) is not installed"

# True if something listens on TCP port $1 of 127.0.0.1 (or any address).
port_listening() {
	[ -n "$(ss -Htln "( sport = :$1 )")" ]
}

# A port below the ephemeral range (so no outgoing connection holds it)
# that nothing listens on; bounded attempts.
pick_port() {
	local lo p i
	lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range)
	[ "$lo" -gt 12000 ] || lo=32768
	for ((i = 0; i < 50; i++)); do
		p=$((10000 + RANDOM % (lo - 10000)))
		port_listening "$p" || { echo "$p"; return 0; }
	done
	hard_error "no free port found in 50 tries"
}

mkfile "$T/src/f" $((8 * 1024 * 1024 + 17))

# The configuration names a port of its own, which must stay unbound.
CPORT=$(pick_port)
DAEMON_LISTEN=127.0.0.1:$CPORT
write_config

# systemd-socket-activate binds, waits for the first connection, then execs
# the daemon in its own process with LISTEN_FDS=1 and the socket as fd 3.
# Its own lines share the daemon's stderr.
ALLOW_LOG='^(Listening on 127\.0\.0\.1:[0-9]+ as 3\.|Communication attempt on fd 3\.|Execing .*)$|^zcrecvd: socket activation: '
DAEMON_N=1
DLOG=$T/daemon.1.log
APORT=
for ((try = 0; try < 10; try++)); do
	p=$(pick_port)
	[ "$p" -ne "$CPORT" ] || continue
	: >"$DLOG"
	(cd "$T/cwd" && exec systemd-socket-activate -l "127.0.0.1:$p" \
	    "$ZCRECVD" -f "$T/zcrecvd.conf") \
	    >"$T/daemon.1.out" 2>"$DLOG" </dev/null &
	DPID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^Listening on ' "$DLOG" && break
		alive "$DPID" || break
		sleep 0.1
	done
	if grep -qx "Listening on 127.0.0.1:$p as 3." "$DLOG"; then
		APORT=$p
		break
	fi
	# Lost a race for the port: try another.
	prefix 'systemd-socket-activate: ' "$DLOG" >&2
	_kill_wait "$DPID"
	wait "$DPID" 2>/dev/null || true
	DPID=
done
[ -n "$APORT" ] || hard_error "systemd-socket-activate could not listen"
note "systemd-socket-activate pid $DPID on 127.0.0.1:$APORT, config port $CPORT"

# The first connection starts the daemon; zcsend waits for its HELLO.
PORT=$APORT
send_ok "$T/src/f"
check_file f $((8 * 1024 * 1024 + 17)) >/dev/null
daemon_alive || fail "the daemon is gone after the first file"
[ "$(readlink "/proc/$DPID/exe")" = "$(readlink -f "$ZCRECVD")" ] ||
    fail "pid $DPID is $(readlink "/proc/$DPID/exe"), not zcrecvd"

grep -qxF "zcrecvd: socket activation: 1 socket; listen in $T/zcrecvd.conf not used" "$DLOG" ||
    fail "no 'socket activation: 1 socket; listen in FILE not used' line"
grep -qE "^zcrecvd: listening on 127\.0\.0\.1:$APORT \(page_mss [0-9]+\) \(socket activation\)$" "$DLOG" ||
    fail "no 'listening on 127.0.0.1:$APORT ... (socket activation)' line"
[ "$(grep -c '^zcrecvd: listening on ' "$DLOG")" -eq 1 ] ||
    fail "more than one 'listening on' line"

note "nothing listens on the config's port $CPORT"
! port_listening "$CPORT" || fail "something listens on the config's port $CPORT"
if (exec 3<>"/dev/tcp/127.0.0.1/$CPORT") 2>/dev/null; then
	fail "a connection to the config's port $CPORT succeeded"
fi

note "a second file on a new connection"
mkfile "$T/src/g" 5000
send_ok "$T/src/g"
check_file g 5000 >/dev/null
stop_daemon
no_staging
check_daemon_log
check_xfer_log
