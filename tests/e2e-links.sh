#!/bin/bash
# Links like users have: two network namespaces joined by a veth pair,
# segments MSS-sized as from a NIC (sender TSO/GSO off, receiver GRO on).
#
# MTU 9000: with page_mss = auto and a wildcard listen address, the daemon
# adds a socket for the veth's address with the MSS its MTU carries in
# whole pages (2 x 4096 + 12), so that the payload maps (io = direct: at
# least 98%; a connection's first record may be cut at the window's edge,
# and what follows is copied until a segment is on the page grid again),
# and a second daemon
# is still refused the port.  MTU 1500: no page fits a segment, there is no
# such socket, nothing maps, and the payload is copied in whole buffers:
# O_DIRECT all the same.  Bytes landed are the bytes sent, every time.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ethtool >/dev/null || hard_error "ethtool is missing (tools/deps.sh)"
case $DEST_FSTYPE in
ext2/ext3|xfs|btrfs) ;;
*) skip "destination on $DEST_FSTYPE: not sure O_DIRECT is supported" ;;
esac

NS_S=zcl$$s
NS_R=zcl$$r
V_S=zl$$s
V_R=zl$$r
A_S=10.213.0.1
A_R=10.213.0.2
MIB=$((1024 * 1024))

links_down() {
	ip netns del "$NS_S" 2>/dev/null
	ip netns del "$NS_R" 2>/dev/null
	return 0
}
# The daemon goes before its namespace does; _cleanup takes the exit
# status from $? (set +e: "(exit 1)" would end the trap under set -e).
trap 'rc=$?; set +e; [ -z "$DPID" ] || _kill_wait "$DPID"; links_down; (exit $rc); _cleanup' EXIT

ip netns add "$NS_S" && ip netns add "$NS_R" ||
    hard_error "cannot create network namespaces"
ip link add "$V_S" type veth peer name "$V_R"
ip link set "$V_S" netns "$NS_S"
ip link set "$V_R" netns "$NS_R"
ip -n "$NS_S" addr add "$A_S/24" dev "$V_S"
ip -n "$NS_R" addr add "$A_R/24" dev "$V_R"
ip -n "$NS_S" link set lo up
ip -n "$NS_R" link set lo up
ip netns exec "$NS_S" ethtool -K "$V_S" tso off gso off >/dev/null
ip netns exec "$NS_R" ethtool -K "$V_R" gro on >/dev/null

# mtu N: both ends of the link.
mtu() {
	ip -n "$NS_S" link set "$V_S" mtu "$1" up
	ip -n "$NS_R" link set "$V_R" mtu "$1" up
}

# The daemon runs in the receiver's namespace.
cat >"$T/in-ns" <<EOF
#!/bin/sh
exec ip netns exec $NS_R "$ZCRECVD" "\$@"
EOF
chmod +x "$T/in-ns"
REAL_ZCRECVD=$ZCRECVD
ZCRECVD=$T/in-ns
DAEMON_LISTEN=0.0.0.0:0
ALLOW_LOG='^zcrecvd: listening on (0\.0\.0\.0|10\.213\.0\.2):[0-9]+ '


# send NAME [ZCSEND-ARGS...]: from the sender's namespace over the link.
send() {
	local rc=0
	ip netns exec "$NS_S" "$ZCSEND" "${@:2}" "$T/src/$1" "$A_R:$PORT" \
	    >"$T/send.out" 2>"$T/send.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		prefix 'zcsend stderr: ' "$T/send.err" >&2
		fail "$1: zcsend exited $rc"
	fi
}

opt=12
[ "$(ip netns exec "$NS_R" cat /proc/sys/net/ipv4/tcp_timestamps)" != 0 ] ||
    opt=0

note "MTU 9000"
mtu 9000
mkfile "$T/src/j" $((256 * MIB + 123))
DEFAULT_EXTRA=$(printf 'io = direct\nallow = 10.213.0.0/24')
start_daemon
grep -qE "^zcrecvd: listening on 0\.0\.0\.0:$PORT \(page_mss [0-9]+\)$" \
    "$DLOG" || fail "no wildcard listener on port $PORT"
want="listening on $A_R:$PORT (page_mss $((2 * 4096 + opt)), MTU 9000 on $V_R)"
grep -qF "zcrecvd: $want" "$DLOG" || fail "no line '$want' in the log"

note "a second daemon on the port is refused"
sed "s/^listen = .*/listen = 0.0.0.0:$PORT/" "$T/zcrecvd.conf" >"$T/second.conf"
rc=0
timeout 20 ip netns exec "$NS_R" "$REAL_ZCRECVD" -f "$T/second.conf" \
    2>"$T/second.err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
    fail "a second daemon on port $PORT: exit $rc"
grep -qF "0.0.0.0:$PORT: bind: Address already in use" "$T/second.err" ||
    fail "second daemon: $(cat "$T/second.err")"

send j --limit-rate "$MAP_PACE"	# lib.sh says why
line=$(check_file j $((256 * MIB + 123)) direct)
zc=$(field "$line" zc_bytes)
note "MTU 9000, io = direct: zc_pct $(field "$line" zc_pct)"
awk -v zc="$zc" -v b=$((256 * MIB + 123)) 'BEGIN { exit !(zc * 100 >= b * 98) }' ||
    fail "MTU 9000: only $zc bytes mapped: $line"
stop_daemon

note "MTU 9000, io = auto"
DEFAULT_EXTRA="allow = 10.213.0.0/24"
start_daemon
mv "$T/src/j" "$T/src/j2"
rm -f "$T/dest/j"
send j2
check_file j2 $((256 * MIB + 123)) direct >/dev/null
stop_daemon

note "MTU 1500"
mtu 1500
rm -f "$T/src/j2" "$T/dest/j2"
for io in direct auto; do
	mkfile "$T/src/k-$io" $((64 * MIB + 5))
	DEFAULT_EXTRA=$(printf 'io = %s\nallow = 10.213.0.0/24' "$io")
	start_daemon
	! grep -q "listening on $A_R:" "$DLOG" ||
	    fail "MTU 1500: a listener for $A_R: $(grep listening "$DLOG")"
	send "k-$io"
	line=$(check_file "k-$io" $((64 * MIB + 5)) direct)
	zc=$(field "$line" zc_bytes)
	note "MTU 1500, io = $io: zc_bytes $zc, copied $(field "$line" copied_bytes)"
	[ "$zc" -le $((64 * MIB / 100)) ] ||
	    fail "MTU 1500, io = $io: $zc bytes mapped from 1448-byte segments"
	rm -f "$T/src/k-$io" "$T/dest/k-$io"
	stop_daemon
done

check_daemon_log
check_xfer_log
