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
. "$(dirname "$0")/hostile-lib.sh"

grep -q -- --key-file <<<"$("$ZCSEND" -h 2>&1 || true)" ||
    skip "zcsend has no --key-file"

mkdir "$T/keys" "$T/destb" "$T/desto"
chown "$DAEMON_USER:" "$T/destb" "$T/desto"
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
mkfile "$T/src/f1" 100000
mkfile "$T/src/f2" 200001
mkfile "$T/src/fb" 3000
mkfile "$T/src/fo" 4000
HDESTS=(dest destb desto)
OK_ARGS=(--key-file "$KEY_A")
hostile_start

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
LANDED_ELSE+=(destb/fb)
after_case b-key
# A destination without a key needs none.
rc=$(send_rc open "$T/src/fo" "127.0.0.1:$PORT/open")
[ "$rc" -eq 0 ] || fail "zcsend to a destination without a key exited $rc"
same "$T/src/fo" "$T/desto/fo"
LANDED_ELSE+=(desto/fo)
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
