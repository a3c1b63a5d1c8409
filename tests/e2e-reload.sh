#!/bin/bash
# SIGHUP re-reads the configuration:
#   (a) a broken file: every error logged as FILE:LINE:, "reload failed",
#       the running configuration stays in force and the daemon serves on;
#       a destination the daemon cannot write to is refused too, and said so
#       at log_level = error;
#   (b) a good change (overwrite = no -> yes) takes effect for new files;
#   (c) the transfer log is reopened (rotation by mv + SIGHUP);
#   (d) a file in flight keeps the configuration it started with (verify
#       xxh3 stays in force for it when the reload says verify = none); the
#       next file gets the new one.
. "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024 * 1024))
need_space $((2 * SIZE + 64 * 1024 * 1024))
CONF=$T/zcrecvd.conf

# wait_log REGEX [COUNT]: wait up to 10 s until COUNT (default 1) lines of
# the daemon log match REGEX.
wait_log() {
	local n=${2:-1} i
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cE -- "$1" "$DLOG" || true)" -lt "$n" ] || return 0
		daemon_alive || fail "daemon died (waiting for '$1')"
		sleep 0.1
	done
	fail "no daemon log line matching '$1' (want $n) within 10 s"
}

# reload: SIGHUP, then wait for the daemon to say how it went (the Nth
# "reload failed" or "configuration reloaded" line).
NRELOAD=0
reload() {
	NRELOAD=$((NRELOAD + 1))
	kill -HUP "$DPID"
	wait_log '^zcrecvd: (reload failed: (.*: )?keeping the running configuration|configuration reloaded)$' "$NRELOAD"
}

# send_rc NAME FILE...: zcsend, stdout/stderr in $T/NAME.out/.err; prints
# the exit status.
send_rc() {
	local name=$1 rc=0
	shift
	"$ZCSEND" "$@" "127.0.0.1:$PORT" >"$T/$name.out" 2>"$T/$name.err" ||
	    rc=$?
	prefix "zcsend $name stderr: " "$T/$name.err" >&2
	echo "$rc"
}

R_CONF=$(re_quote "$CONF")
ALLOW_LOG="^zcrecvd: (SIGHUP: reloading $R_CONF\$|configuration reloaded\$|reload failed: (.*: )?keeping the running configuration\$|failed f from 127\.0\.0\.1:[0-9]+: exists: )|^$R_CONF(:[0-9]+: |: [0-9]+ errors?\$)"
start_daemon

note "(a) a broken configuration is refused, the old one stays"
mkfile "$T/src/f" 70000
send_ok "$T/src/f"
check_file f 70000 >/dev/null
cp "$CONF" "$T/good.conf"
# An unknown key in [server] and a bad value in [default].
awk '{ print } /^\[server\]$/ { print "mystery = 1" }
    /^\[default\]$/ { print "fsync = maybe" }' "$T/good.conf" >"$CONF"
l1=$(awk '$0 == "mystery = 1" { print NR; exit }' "$CONF")
l2=$(awk '$0 == "fsync = maybe" { print NR; exit }' "$CONF")
[ -n "$l1" ] && [ -n "$l2" ] || hard_error "broken config not written"
reload
grep -qxF "zcrecvd: reload failed: keeping the running configuration" "$DLOG" ||
    fail "the broken configuration was not refused"
grep -qxF "$CONF:$l1: unknown key 'mystery' in [server]" "$DLOG" ||
    fail "no '$CONF:$l1: unknown key 'mystery' in [server]' line"
grep -qE "^$R_CONF:$l2: fsync: bad value 'maybe' " "$DLOG" ||
    fail "no '$CONF:$l2: fsync: bad value 'maybe'' line"
grep -qxF "$CONF: 2 errors" "$DLOG" || fail "no '$CONF: 2 errors' line"
! grep -q '^zcrecvd: configuration reloaded$' "$DLOG" ||
    fail "'configuration reloaded' after a broken configuration"
daemon_alive || fail "daemon died on a broken configuration"
mkfile "$T/src/g" 80000
send_ok "$T/src/g"
check_file g 80000 >/dev/null
# Still overwrite = no: a second f is refused.
mkdir "$T/src2"
mkfile "$T/src2/f" 70001
rc=$(send_rc f2 "$T/src2/f")
[ "$rc" -eq 4 ] || fail "zcsend of an existing name exited $rc, expected 4"
grep -qE '^zcsend: (.*/)?f: rejected by receiver \(exists\)' "$T/f2.err" ||
    fail "zcsend stderr lacks 'f: rejected by receiver (exists)'"
same "$T/src/f" "$T/dest/f"

note "(a) a destination the daemon cannot write to is refused, even at log_level = error"
SERVER_EXTRA="log_level = error"
write_config
reload
mkdir -m 755 "$T/ro"	# root's; the daemon runs as $DAEMON_USER
printf '[ro]\npath = %s\n' "$T/ro" >>"$CONF"
reload
grep -qE "^zcrecvd: reload failed: .*$(re_quote "$T/ro").*: keeping the running configuration\$" "$DLOG" ||
    fail "no 'reload failed: ... $T/ro ...: keeping the running configuration' line at log_level = error"
SERVER_EXTRA=

note "(b) overwrite = no -> yes"
DEFAULT_EXTRA="overwrite = yes"
write_config
reload
grep -qx 'zcrecvd: configuration reloaded' "$DLOG" ||
    fail "no 'configuration reloaded' line"
rc=$(send_rc f3 "$T/src2/f")
[ "$rc" -eq 0 ] || fail "zcsend with overwrite = yes exited $rc, expected 0"
same "$T/src2/f" "$T/dest/f"
hex=$(check_summary "$T/f3.out" f 70001)
line=$(wait_xfer f 3)
[ "$(field "$line" result)" = ok ] || fail "overwrite: result not ok: $line"
check_digest "$T/src2/f" "$hex" "$line"

note "(c) the transfer log is reopened"
mv "$XLOG" "$XLOG.1"
# The daemon runs as nobody and cannot create files in $T.
: >"$XLOG"
chown "$DAEMON_USER:" "$XLOG"
reload
mkfile "$T/src/r" 12345
send_ok "$T/src/r"
check_file r 12345 >/dev/null
! grep -q '"name":"r"' "$XLOG.1" || fail "r logged to the rotated transfer log"
[ "$(wc -l <"$XLOG")" -eq 1 ] || fail "new transfer log has $(wc -l <"$XLOG") lines, expected 1"
[ "$(wc -l <"$XLOG.1")" -eq 4 ] ||
    fail "rotated transfer log has $(wc -l <"$XLOG.1") lines, expected 4 (f, g, f, f)"

note "(d) a file in flight keeps its configuration"
dd if=/dev/urandom of="$T/src/big.bin" bs=16M count=64 iflag=fullblock \
    status=none
"$ZCSEND" "$T/src/big.bin" "127.0.0.1:$PORT" >"$T/big.out" \
    2>"$T/big.err" &
spid=$!
BGPIDS+=("$spid")
# Wait for payload to reach the staging file, then freeze the sender so the
# file is still in flight across the reload.
freeze_mid_file "$spid" big.bin big
staged=$STAGED
note "staging file $(basename "$staged"): $(stat -c %s "$staged") bytes"
DEFAULT_EXTRA=$'overwrite = yes\nverify = none'
write_config
reload
grep -qx 'zcrecvd: configuration reloaded' "$DLOG" ||
    fail "no 'configuration reloaded' line"
kill -CONT "$spid"
# Bounded: zcsend's every wait on the receiver is 30 s; allow 120 s in all.
for ((i = 0; i < 1200; i++)); do
	alive "$spid" || break
	sleep 0.1
done
if alive "$spid"; then
	kill -KILL "$spid" 2>/dev/null || true
	fail "zcsend still running 120 s after it was resumed"
fi
rc=0
wait "$spid" || rc=$?
prefix 'zcsend big stderr: ' "$T/big.err" >&2
[ "$rc" -eq 0 ] || fail "zcsend of the file in flight exited $rc, expected 0"
cp "$T/big.out" "$T/send.out"
line=$(check_file big.bin "$SIZE")
[ -n "$(field "$line" digest)" ] || fail "big.bin: no digest: $line"
rm -f "$T/src/big.bin" "$T/dest/big.bin"

note "(d) the next file: verify = none"
mkfile "$T/src/n" 9999
rc=$(send_rc n "$T/src/n")
[ "$rc" -eq 5 ] || fail "zcsend to a non-verifying receiver exited $rc, expected 5"
same "$T/src/n" "$T/dest/n"
line=$(wait_xfer n)
[ "$(field "$line" digest)" = "" ] || fail "n: digest with verify = none: $line"
[ "$(field "$line" result)" = ok ] || fail "n: result not ok: $line"
grep -qE '^zcsend: (.*/)?n: verification failed: .*did not compute a digest' "$T/n.err" ||
    fail "zcsend stderr lacks 'n: verification failed: ... did not compute a digest'"
! grep -q verified "$T/n.out" || fail "zcsend says n was verified"

no_staging
stop_daemon
check_daemon_log
check_xfer_log
