#!/bin/bash
# Pre-shared keys (key_file): only a sender with the destination's key
# writes to it.
#   - key files readable or writable by others, too short, relative or
#     missing are configuration errors naming key_file (zcrecvd -n);
#   - zcsend without --key-file: exit 4 "requires a key"; with the wrong key
#     (or another destination's key): exit 4 "authentication failed"; with
#     the right key: lands (two files on one connection); a destination
#     without a key takes files without one;
#   - raw protocol: a random MAC, DATA instead of AUTH, AUTH unasked, half
#     an AUTH, no AUTH at all (stall_timeout), an AUTH replayed on a new
#     connection, and the key of A used for B on a connection authenticated
#     for A: all refused, nothing lands; hostile with the right key lands
#     and verifies the receiver's AUTHOK.
# After each attack: the expected record reached the client, nothing
# changed outside the destinations, the destinations hold exactly what
# should have landed, no staging file is left, the same daemon lands a
# normal file.
. "$(dirname "$0")/lib.sh"

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"
grep -q -- --key-file <<<"$("$ZCSEND" -h 2>&1 || true)" ||
    skip "zcsend has no --key-file"

mkdir "$T/out" "$T/outside" "$T/keys" "$T/destb" "$T/desto"
chown "$DAEMON_USER:" "$T/destb" "$T/desto"
echo "not for the network" >"$T/outside/target"
KEY_A=$T/keys/a
KEY_B=$T/keys/b
KEY_WRONG=$T/keys/wrong
(
	umask 077
	printf 'alpha key 0123456789abcdef\n' >"$KEY_A"
	printf 'bravo key 0123456789abcdef\n' >"$KEY_B"
	printf 'alpha key 0123456789abcdeF\n' >"$KEY_WRONG"
	printf '0123456789abcde\n' >"$T/keys/short"
	printf 'alpha key 0123456789abcdef\n' >"$T/keys/open"
	printf 'alpha key 0123456789abcdef\n' >"$T/keys/group"
)
chmod 0644 "$T/keys/open"
chmod 0640 "$T/keys/group"

ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: (authentication failed for destination (default|b)$|protocol error: |no AUTH within 2 s, closing$)|failed [^ ]+ from 127\.0\.0\.1:[0-9]+: (denied|protocol|aborted): )'

# --- checks shared by every case ------------------------------------------

# hrun LABEL ARGS...: run hostile ARGS against the daemon; its output in
# $T/out/LABEL.  It must finish its case (DONE) with no wait timing out.
hrun() {
	local label=$1 rc=0
	shift
	"$HOSTILE" "$@" >"$T/out/$label" 2>"$T/out/$label.err" </dev/null ||
	    rc=$?
	prefix "hostile $label: " "$T/out/$label" >&2
	prefix "hostile $label (stderr): " "$T/out/$label.err" >&2
	[ "$rc" -eq 0 ] || fail "$label: hostile exited $rc"
	grep -qx DONE "$T/out/$label" || fail "$label: hostile did not finish"
	if grep -qE '^(TIMEOUT|BAD )' "$T/out/$label"; then
		fail "$label: the daemon did not answer in time, or sent a malformed record"
	fi
}

# expect_lines LABEL RE...: hostile's output is exactly one line per RE,
# each matching it as a whole (extended regex), in order.
expect_lines() {
	local label=$1 f=$T/out/$1 i=0 line re
	shift
	[ "$(wc -l <"$f")" -eq $# ] ||
	    fail "$label: $(wc -l <"$f") lines of output, expected $#: $*"
	for re in "$@"; do
		i=$((i + 1))
		line=$(sed -n "${i}p" "$f")
		[[ $line =~ ^($re)$ ]] ||
		    fail "$label: line $i is '$line', expected '$re'"
	done
}

# Everything the daemon could reach outside its destination: the temp dir
# (but the destination, hostile's output and the logs), with sizes, modes
# and times; /etc/x and the parent of the temp dir's x.
outside_state() {
	(cd "$T" && find . \( -path ./dest -o -path ./destb -o -path ./desto -o \
	    -path ./out -o \
	    -path ./send.out -o -path ./send.err -o \
	    -name 'daemon.*' -o -name xfer.log \) -prune -o \
	    -printf '%p %y %s %m %T@ %l\n') | LC_ALL=C sort
	cksum "$T/outside/target"
	local p
	for p in /etc/x /x "$(dirname "$T")/x"; do
		[ ! -e "$p" ] || echo "exists: $p"
	done
}

# The names that must be in the destinations ($T/dest: LANDED, destb:
# LANDED_B, desto: LANDED_O), nothing else.
LANDED=()
LANDED_B=()
LANDED_O=()
dest_state() {
	{
		find "$T/dest" -mindepth 1 -printf 'dest/%P\n'
		find "$T/destb" -mindepth 1 -printf 'destb/%P\n'
		find "$T/desto" -mindepth 1 -printf 'desto/%P\n'
	} | LC_ALL=C sort
}
expected_dest() {
	{
		[ "${#LANDED[@]}" -eq 0 ] || printf 'dest/%s\n' "${LANDED[@]}"
		[ "${#LANDED_B[@]}" -eq 0 ] || printf 'destb/%s\n' "${LANDED_B[@]}"
		[ "${#LANDED_O[@]}" -eq 0 ] || printf 'desto/%s\n' "${LANDED_O[@]}"
	} | LC_ALL=C sort
}

# Wait up to 10 s for the daemon to drop its staging files.
all_staging() {
	find "$T/dest" "$T/destb" "$T/desto" -maxdepth 1 -name '.zcrecvd.*' -print
}
wait_no_staging() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(all_staging)" ] || return 0
		sleep 0.1
	done
	fail "$1: staging file left: $(all_staging)"
}

# xfer_result NAME RESULT: the next transfer log line for NAME (the
# daemon logs every file it started) has RESULT.
declare -A XN=()
xfer_result() {
	local line
	XN[$1]=$((${XN[$1]:-0} + 1))
	line=$(wait_xfer "$1" "${XN[$1]}")
	[ "$(field "$line" result)" = "$2" ] ||
	    fail "$1: transfer log result $(field "$line" result), expected $2: $line"
}

# same_daemon: the daemon started first is still running: same pid, same
# start time.
same_daemon() {
	daemon_alive || fail "$1: the daemon died"
	[ "$DPID" = "$PID0" ] || fail "$1: another daemon pid"
	[ "$(awk '{ print $22 }' "/proc/$DPID/stat")" = "$START0" ] ||
	    fail "$1: the daemon's pid belongs to another process"
}

# after_case LABEL: the checks that follow every attack.
n_ok=0
after_case() {
	local label=$1 now
	same_daemon "$label"
	wait_no_staging "$label"
	now=$(outside_state)
	[ "$now" = "$OUTSIDE0" ] || {
		diff <(printf '%s\n' "$OUTSIDE0") <(printf '%s\n' "$now") >&2 || true
		fail "$label: something changed outside the destination"
	}
	[ "$(dest_state)" = "$(expected_dest)" ] || {
		diff <(expected_dest) <(dest_state) >&2 || true
		fail "$label: unexpected names in the destination"
	}
	# A normal file still lands, from the same daemon.
	n_ok=$((n_ok + 1))
	mkfile "$T/src/ok-$n_ok" $((5000 + n_ok))
	send_ok --key-file "$KEY_A" "$T/src/ok-$n_ok"
	check_file "ok-$n_ok" $((5000 + n_ok)) >/dev/null
	LANDED+=("ok-$n_ok")
	same_daemon "$label"
	# The next attack starts from here (the sender's own files are new).
	OUTSIDE0=$(outside_state)
	note "$label: ok"
}

# landed_pattern NAME SIZE: NAME landed with hostile's payload pattern.
landed_pattern() {
	"$HOSTILE" pattern "$2" >"$T/out/pattern"
	same "$T/out/pattern" "$T/dest/$1"
	LANDED+=("$1")
}

# --- attacks --------------------------------------------------------------
# send_rc NAME ARGS...: zcsend ARGS; stdout/stderr in $T/out/NAME.out/.err;
# prints the exit status.
send_rc() {
	local name=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/out/$name.out" 2>"$T/out/$name.err" </dev/null ||
	    rc=$?
	prefix "zcsend $name stderr: " "$T/out/$name.err" >&2
	echo "$rc"
}

# --- key files the daemon must refuse --------------------------------------

# bad_key NAME PATH REGEX: a config with key_file = PATH fails zcrecvd -n
# with a message matching REGEX (and naming key_file).
bad_key() {
	local rc=0
	DEFAULT_EXTRA="key_file = $2"
	write_config
	"$ZCRECVD" -n -f "$T/zcrecvd.conf" >"$T/out/$1.out" 2>"$T/out/$1.err" ||
	    rc=$?
	prefix "zcrecvd -n ($1): " "$T/out/$1.err" >&2
	[ "$rc" -eq 1 ] || fail "$1: zcrecvd -n exited $rc, expected 1"
	grep -qE "key_file: .*$3" "$T/out/$1.err" ||
	    fail "$1: no 'key_file: ... $3' in the error"
}
bad_key mode-0644 "$T/keys/open" 'readable or writable by group or others \(mode 0644\)'
bad_key mode-0640 "$T/keys/group" 'readable or writable by group or others \(mode 0640\)'
bad_key short "$T/keys/short" 'key must be 16 to [0-9]+ bytes'
bad_key relative keys/a 'not an absolute path'
bad_key missing "$T/keys/missing" 'No such file or directory'
# and the good one passes
DEFAULT_EXTRA="key_file = $KEY_A"
write_config
"$ZCRECVD" -n -f "$T/zcrecvd.conf" >"$T/out/good.out" 2>&1 ||
    fail "zcrecvd -n refuses a good key file: $(cat "$T/out/good.out")"

# --- zcsend -----------------------------------------------------------------

SERVER_EXTRA="stall_timeout = 2"
DEFAULT_EXTRA="key_file = $KEY_A
[b]
path = $T/destb
key_file = $KEY_B
[open]
path = $T/desto"
start_daemon
PID0=$DPID
START0=$(awk '{ print $22 }' "/proc/$DPID/stat")
H=(127.0.0.1 "$PORT")
HELLO='HELLO version 1'
ACCEPT='ACCEPT offset 0'
CLOSED='EOF|RESET'
mkfile "$T/src/f1" 100000
mkfile "$T/src/f2" 200001
mkfile "$T/src/fb" 3000
mkfile "$T/src/fo" 4000
OUTSIDE0=$(outside_state)

rc=$(send_rc nokey "$T/src/f1" "127.0.0.1:$PORT")
[ "$rc" -eq 4 ] || fail "zcsend without a key exited $rc, expected 4"
grep -q 'requires a key' "$T/out/nokey.err" ||
    fail "zcsend without a key: no 'requires a key'"
after_case nokey

for k in wrong b; do
	key=$KEY_WRONG
	[ "$k" = wrong ] || key=$KEY_B
	rc=$(send_rc "key-$k" --key-file "$key" "$T/src/f1" "127.0.0.1:$PORT")
	[ "$rc" -eq 4 ] || fail "zcsend with key $k exited $rc, expected 4"
	grep -q '^zcsend: f1: rejected by receiver (denied): authentication failed$' "$T/out/key-$k.err" ||
	    fail "zcsend with key $k: no 'rejected by receiver (denied): authentication failed'"
	xfer_result f1 denied
	after_case "key-$k"
done
n=$(grep -cE '^zcrecvd: 127\.0\.0\.1:[0-9]+: authentication failed for destination default$' "$DLOG" || true)
[ "$n" -eq 2 ] || fail "$n 'authentication failed' lines logged, expected 2"

# The right key: two files on one connection.
rc=$(send_rc right --key-file "$KEY_A" "$T/src/f1" "$T/src/f2" "127.0.0.1:$PORT")
[ "$rc" -eq 0 ] || fail "zcsend with the right key exited $rc"
cp "$T/out/right.out" "$T/send.out"
same "$T/src/f1" "$T/dest/f1"
same "$T/src/f2" "$T/dest/f2"
check_summary "$T/send.out" f1 100000 >/dev/null
check_summary "$T/send.out" f2 200001 >/dev/null
XN[f1]=$((XN[f1] + 1))
line=$(wait_xfer f1 "${XN[f1]}")
[ "$(field "$line" result)" = ok ] || fail "f1: not ok: $line"
LANDED+=(f1 f2)
after_case right-key

# Destination b takes its own key only.
rc=$(send_rc a-for-b --key-file "$KEY_A" "$T/src/fb" "127.0.0.1:$PORT/b")
[ "$rc" -eq 4 ] || fail "zcsend to b with the key of default exited $rc, expected 4"
grep -q 'authentication failed' "$T/out/a-for-b.err" ||
    fail "zcsend to b with the key of default: no 'authentication failed'"
after_case a-for-b
rc=$(send_rc b --key-file "$KEY_B" "$T/src/fb" "127.0.0.1:$PORT/b")
[ "$rc" -eq 0 ] || fail "zcsend to b with its key exited $rc"
same "$T/src/fb" "$T/destb/fb"
LANDED_B+=(fb)
after_case b-key
# A destination without a key needs none.
rc=$(send_rc open "$T/src/fo" "127.0.0.1:$PORT/open")
[ "$rc" -eq 0 ] || fail "zcsend to a destination without a key exited $rc"
same "$T/src/fo" "$T/desto/fo"
LANDED_O+=(fo)
after_case open

# --- raw protocol ------------------------------------------------------------

hrun auth-wrong auth-wrong "${H[@]}"
expect_lines auth-wrong "$HELLO" CHALLENGE \
    'RESULT code denied: authentication failed' "$CLOSED" DONE
after_case auth-wrong

hrun auth-skip auth-skip "${H[@]}"
expect_lines auth-skip "$HELLO" CHALLENGE 'ERROR code protocol: .+' \
    "$CLOSED" DONE
after_case auth-skip

hrun auth-unsolicited auth-unsolicited "${H[@]}"
expect_lines auth-unsolicited "$HELLO" 'ERROR code protocol: .+' "$CLOSED" DONE
after_case auth-unsolicited

hrun auth-truncated truncated "${H[@]}" auth
expect_lines auth-truncated "$HELLO" CHALLENGE "$CLOSED" DONE
after_case auth-truncated

hrun auth-stall auth-stall "${H[@]}" 20
expect_lines auth-stall "$HELLO" CHALLENGE IDLE "$CLOSED" DONE
grep -qE '^zcrecvd: 127\.0\.0\.1:[0-9]+: no AUTH within 2 s, closing$' "$DLOG" ||
    fail "auth-stall: no 'no AUTH within 2 s' line in the daemon log"
after_case auth-stall

# hostile with the right key: lands, and the receiver proves the key too.
hrun auth-good -k "$KEY_A" good "${H[@]}" auth-good
expect_lines auth-good "$HELLO" CHALLENGE 'AUTHOK verified' "$ACCEPT" \
    'RESULT code ok: landed' DONE
landed_pattern auth-good 10
after_case auth-good

# A good AUTH replayed on another connection is refused.
hrun auth-replay -k "$KEY_A" auth-replay "${H[@]}"
expect_lines auth-replay "$HELLO" CHALLENGE 'AUTHOK verified' "$ACCEPT" \
    'RESULT code ok: landed' RECONNECT "$HELLO" CHALLENGE \
    'RESULT code denied: authentication failed' "$CLOSED" DONE
landed_pattern auth-replay 10
after_case auth-replay

# Authenticated for default, the same connection is challenged again for b,
# and the key of default does not answer it.
hrun auth-cross -k "$KEY_A" auth-cross "${H[@]}" b
expect_lines auth-cross "$HELLO" CHALLENGE 'AUTHOK verified' "$ACCEPT" \
    'RESULT code ok: landed' CHALLENGE \
    'RESULT code denied: authentication failed' DONE
landed_pattern auth-cross 10
after_case auth-cross

stop_daemon
check_daemon_log
check_xfer_log
