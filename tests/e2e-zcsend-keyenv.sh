#!/bin/bash
# ZCSEND_KEY_FILE: the key file when --key-file is not given.  Against a
# destination with a key: the right key from the environment lands; a wrong
# one is refused (exit 4); --key-file wins over the environment (both
# ways); a key file the environment names but that cannot be used is a
# usage error naming ZCSEND_KEY_FILE (exit 2); an empty value is no key.
. "$(dirname "$0")/lib.sh"

mkdir "$T/keys"
KEY_A=$T/keys/a
KEY_WRONG=$T/keys/wrong
(
	umask 077
	printf 'alpha key 0123456789abcdef\n' >"$KEY_A"
	printf 'alpha key 0123456789abcdeF\n' >"$KEY_WRONG"
)

# send_rc NAME ARGS...: zcsend ARGS; output in $T/NAME.out/.err; prints
# the exit status.
send_rc() {
	local name=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null || rc=$?
	prefix "zcsend $name stderr: " "$T/$name.err" >&2
	echo "$rc"
}

ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: authentication failed for destination default$|failed [^ ]+ from 127\.0\.0\.1:[0-9]+: denied: )'
DEFAULT_EXTRA="key_file = $KEY_A"
start_daemon
for f in f1 f2 f3 f4 f5; do
	mkfile "$T/src/$f" 10000
done

rc=$(ZCSEND_KEY_FILE=$KEY_A send_rc env "$T/src/f1" "127.0.0.1:$PORT")
[ "$rc" -eq 0 ] || fail "ZCSEND_KEY_FILE with the right key: exit $rc"
check_summary "$T/env.out" f1 10000 >/dev/null
same "$T/src/f1" "$T/dest/f1"

rc=$(ZCSEND_KEY_FILE=$KEY_WRONG send_rc envwrong "$T/src/f2" \
    "127.0.0.1:$PORT")
[ "$rc" -eq 4 ] || fail "ZCSEND_KEY_FILE with a wrong key: exit $rc"
grep -qx 'zcsend: f2: rejected by receiver (denied): authentication failed' \
    "$T/envwrong.err" || fail "wrong key: no 'authentication failed' line"
[ ! -e "$T/dest/f2" ] || fail "f2 landed with a wrong key"

rc=$(ZCSEND_KEY_FILE=$KEY_WRONG send_rc optwins --key-file "$KEY_A" \
    "$T/src/f2" "127.0.0.1:$PORT")
[ "$rc" -eq 0 ] || fail "--key-file right, ZCSEND_KEY_FILE wrong: exit $rc"
same "$T/src/f2" "$T/dest/f2"

rc=$(ZCSEND_KEY_FILE=$KEY_A send_rc optwins2 --key-file "$KEY_WRONG" \
    "$T/src/f3" "127.0.0.1:$PORT")
[ "$rc" -eq 4 ] || fail "--key-file wrong, ZCSEND_KEY_FILE right: exit $rc"
[ ! -e "$T/dest/f3" ] || fail "f3 landed with --key-file wrong"

rc=$(ZCSEND_KEY_FILE=$T/keys/missing send_rc envmissing "$T/src/f4" \
    "127.0.0.1:$PORT")
[ "$rc" -eq 2 ] || fail "ZCSEND_KEY_FILE missing: exit $rc, expected 2"
grep -qxF "zcsend: ZCSEND_KEY_FILE: $T/keys/missing: No such file or directory" \
    "$T/envmissing.err" || fail "missing key file: no line naming ZCSEND_KEY_FILE"
# ... but not when --key-file is given: the environment is not read.
rc=$(ZCSEND_KEY_FILE=$T/keys/missing send_rc envmissing2 --key-file \
    "$KEY_A" "$T/src/f4" "127.0.0.1:$PORT")
[ "$rc" -eq 0 ] || fail "--key-file with ZCSEND_KEY_FILE missing: exit $rc"
same "$T/src/f4" "$T/dest/f4"

rc=$(ZCSEND_KEY_FILE= send_rc envempty "$T/src/f5" "127.0.0.1:$PORT")
[ "$rc" -eq 4 ] || fail "empty ZCSEND_KEY_FILE: exit $rc, expected 4"
grep -q 'requires a key (--key-file or ZCSEND_KEY_FILE)' "$T/envempty.err" ||
    fail "empty ZCSEND_KEY_FILE: no 'requires a key' line"

stop_daemon
check_daemon_log
check_xfer_log
