#!/bin/bash
# Privilege drop, started as root:
#   - user = nobody: once READY=1 arrives every thread of the daemon has
#     all four uids nobody's, all four gids nobody's primary group, that
#     group alone as supplementary group, no capability in any set
#     (effective, permitted, inheritable, bounding, ambient) and
#     no_new_privs; landed files are nobody's;
#   - user = nobody, group = another group: that gid everywhere instead;
#   - no user configured: refused, exit 1, no READY=1;
#   - user = root: runs as root, with a warning;
#   - an unknown user or group: exit 1, "no such user" / "no such group".
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root"
NOBODY_UID=$(id -u nobody) || skip "no user nobody"
NOBODY_GID=$(id -g nobody)

ALLOW_LOG='^zcrecvd: (running as root \(user = root\)$|started as root with no user configured: set user = NAME in \[server\] \(or user = root to really run as root\)$|user nosuchuser: no such user$|group nosuchgroup: no such group$)'

# check_ids PID UID GID: every thread of PID runs as UID/GID with GID as
# its only group, no capabilities and no_new_privs.
check_ids() {
	local pid=$1 uid=$2 gid=$3 st task n=0 cap
	for st in /proc/"$pid"/task/*/status; do
		task=${st%/status}
		task=${task##*/}
		n=$((n + 1))
		grep -qxP "Uid:\t$uid\t$uid\t$uid\t$uid" "$st" ||
		    fail "thread $task: $(grep '^Uid:' "$st"), expected $uid x4"
		grep -qxP "Gid:\t$gid\t$gid\t$gid\t$gid" "$st" ||
		    fail "thread $task: $(grep '^Gid:' "$st"), expected $gid x4"
		grep -qxP "Groups:\t$gid ?" "$st" ||
		    fail "thread $task: $(grep '^Groups:' "$st"), expected only $gid"
		for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
			grep -qxP "$cap:\t0+" "$st" ||
			    fail "thread $task: $(grep "^$cap:" "$st"), expected none"
		done
		grep -qxP 'NoNewPrivs:\t1' "$st" ||
		    fail "thread $task: $(grep '^NoNewPrivs:' "$st"), expected 1"
	done
	[ "$n" -ge 2 ] || fail "only $n thread(s) in pid $pid: no worker checked"
	note "pid $pid: $n threads as uid $uid gid $gid, no capabilities"
}

# start_fail: start the daemon with the current config (start_daemon's
# way, with a notify socket) and expect it to exit 1 within 10 s.
start_fail() {
	local pid i rc=0
	DAEMON_N=$((DAEMON_N + 1))
	DLOG=$T/daemon.$DAEMON_N.log
	(cd "$T/cwd" && exec env "NOTIFY_SOCKET=$T/notify" "$ZCRECVD" \
	    -f "$T/zcrecvd.conf") >"$T/daemon.$DAEMON_N.out" 2>"$DLOG" \
	    </dev/null &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null || true
		fail "daemon still running 10 s after start-up; expected it to refuse"
	fi
	wait "$pid" || rc=$?
	prefix 'daemon: ' "$DLOG" >&2
	[ "$rc" -eq 1 ] || fail "daemon exited $rc, expected 1"
}

NOUT=$T/notify.out
start_sdlisten "$T/notify" "$NOUT"
DAEMON_ENV=("NOTIFY_SOCKET=$T/notify")
READY_RE='(^| [|] )READY=1( [|] |$)'

note "user = nobody"
mkfile "$T/src/f" 100000
start_daemon
wait_notify "$NOUT" "$READY_RE"
check_ids "$DPID" "$NOBODY_UID" "$NOBODY_GID"
grep -qx "zcrecvd: running as uid $NOBODY_UID gid $NOBODY_GID, no capabilities" "$DLOG" ||
    fail "no 'running as uid $NOBODY_UID gid $NOBODY_GID, no capabilities' line"
send_ok "$T/src/f"
check_file f 100000 >/dev/null
[ "$(stat -c %u:%g "$T/dest/f")" = "$NOBODY_UID:$NOBODY_GID" ] ||
    fail "landed file owned by $(stat -c %u:%g "$T/dest/f"), not nobody"
# After a transfer too (the workers did the work).
check_ids "$DPID" "$NOBODY_UID" "$NOBODY_GID"
stop_daemon

other=$(getent group daemon | cut -d: -f3) || true
if [ -n "$other" ] && [ "$other" != "$NOBODY_GID" ]; then
	note "user = nobody, group = daemon (gid $other)"
	SERVER_EXTRA=$'user = nobody\ngroup = daemon'
	start_daemon
	wait_notify "$NOUT" "$READY_RE" 2
	check_ids "$DPID" "$NOBODY_UID" "$other"
	mkfile "$T/src/g" 5000
	send_ok "$T/src/g"
	check_file g 5000 >/dev/null
	[ "$(stat -c %u:%g "$T/dest/g")" = "$NOBODY_UID:$other" ] ||
	    fail "landed file owned by $(stat -c %u:%g "$T/dest/g"), not nobody:daemon"
	stop_daemon
	SERVER_EXTRA=
else
	note "no group daemon: skipping the group = case"
fi
nready=$(grep -cE "$READY_RE" "$NOUT" || true)

note "root with no user configured"
write_config
sed -i '/^user = /d' "$T/zcrecvd.conf"
! grep -q 'user' "$T/zcrecvd.conf" || hard_error "a user line is left"
start_fail
grep -qxF 'zcrecvd: started as root with no user configured: set user = NAME in [server] (or user = root to really run as root)' "$DLOG" ||
    fail "no 'started as root with no user configured' message"

note "user = nosuchuser"
SERVER_EXTRA="user = nosuchuser"
write_config
start_fail
grep -qx 'zcrecvd: user nosuchuser: no such user' "$DLOG" ||
    fail "no 'user nosuchuser: no such user' message"

note "group = nosuchgroup"
SERVER_EXTRA=$'user = nobody\ngroup = nosuchgroup'
write_config
start_fail
grep -qx 'zcrecvd: group nosuchgroup: no such group' "$DLOG" ||
    fail "no 'group nosuchgroup: no such group' message"

note "user = root"
SERVER_EXTRA="user = root"
start_daemon
wait_notify "$NOUT" "$READY_RE" $((nready + 1))
# Datagrams arrive in order: had a refused daemon said READY=1, it would be
# counted by now.
[ "$(grep -cE "$READY_RE" "$NOUT")" -eq $((nready + 1)) ] ||
    fail "a daemon that refused to start sent READY=1"
grep -qx 'zcrecvd: running as root (user = root)' "$DLOG" ||
    fail "no 'running as root (user = root)' warning"
grep -qxP 'Uid:\t0\t0\t0\t0' "/proc/$DPID/status" ||
    fail "user = root: $(grep '^Uid:' "/proc/$DPID/status")"
mkfile "$T/src/h" 7000
send_ok "$T/src/h"
check_file h 7000 >/dev/null
[ "$(stat -c %u "$T/dest/h")" = 0 ] ||
    fail "user = root: landed file owned by uid $(stat -c %u "$T/dest/h")"
stop_daemon
check_daemon_log
check_xfer_log
