#!/bin/bash
# Destinations: a well-formed name the receiver does not know is rejected
# (zcsend exits 4, "no destination", result "destination"); a malformed
# one is a usage error (exit 2) found before connecting.  Nothing lands
# either way; the default destination, by name or implied, still works.
. "$(dirname "$0")/lib.sh"

mkfile "$T/src/f" 5000
mkfile "$T/src/g" 5001
mkfile "$T/src/h" 5002

ALLOW_LOG='^zcrecvd: failed f from 127\.0\.0\.1:[0-9]+: destination: '
start_daemon

note "unknown destination"
rc=0
"$ZCSEND" "$T/src/f" "127.0.0.1:$PORT/nosuch" >"$T/send.out" \
    2>"$T/send.err" || rc=$?
prefix 'zcsend stdout: ' "$T/send.out" >&2
prefix 'zcsend stderr: ' "$T/send.err" >&2
[ "$rc" -eq 4 ] || fail "zcsend to /nosuch exited $rc, expected 4"
grep -q 'no destination' "$T/send.err" ||
    fail "zcsend stderr does not mention 'no destination'"
grep -qE '^zcsend: f: rejected by receiver \(destination\)' "$T/send.err" ||
    fail "zcsend stderr lacks 'f: rejected by receiver (destination)'"
! grep -q landed "$T/send.out" || fail "zcsend says landed"
[ -z "$(find "$T/dest" -mindepth 1 -print)" ] || fail "files in dest"
line=$(wait_xfer f)
[ "$(field "$line" result)" = destination ] ||
    fail "result not 'destination': $line"
grep -qE "$ALLOW_LOG" "$DLOG" ||
    fail "no 'failed f ... destination' line in the daemon log"

note "malformed destination names"
long=$(printf 'd%.0s' $(seq 65))
i=0
for d in 'bad dest' 'a/b' '.x' "$long" $'tab\there' 'caf'$'\xc3\xa9'; do
	i=$((i + 1))
	shown=$(printf '%q' "$d")
	rc=0
	"$ZCSEND" "$T/src/f" "127.0.0.1:$PORT/$d" >"$T/bad.$i.out" \
	    2>"$T/bad.$i.err" || rc=$?
	prefix "zcsend /$shown stderr: " "$T/bad.$i.err" >&2
	[ "$rc" -eq 2 ] || fail "zcsend to /$shown exited $rc, expected 2"
	grep -q 'destination' "$T/bad.$i.err" ||
	    fail "zcsend stderr for /$shown does not mention the destination"
	! grep -q landed "$T/bad.$i.out" || fail "zcsend /$shown says landed"
done
# Refused before connecting: the receiver heard of none of them.
[ "$(xfer_lines f | wc -l)" -eq 1 ] ||
    fail "the receiver saw a file sent to a malformed destination"
[ -z "$(find "$T/dest" -mindepth 1 -print)" ] || fail "files in dest"

note "the default destination, implied and by name"
send_ok "$T/src/g"
check_file g 5001 >/dev/null
rc=0
"$ZCSEND" "$T/src/h" "127.0.0.1:$PORT/default" >"$T/send.out" \
    2>"$T/send.err" || rc=$?
prefix 'zcsend /default stderr: ' "$T/send.err" >&2
[ "$rc" -eq 0 ] || fail "zcsend to /default exited $rc"
line=$(check_file h 5002)
[ "$(field "$line" dest)" = default ] || fail "/default: dest not 'default': $line"
[ ! -e "$T/dest/f" ] || fail "f landed"
[ "$(find "$T/dest" -mindepth 1 | wc -l)" -eq 2 ] || fail "extra files in dest"
no_staging
stop_daemon
check_daemon_log
check_xfer_log
