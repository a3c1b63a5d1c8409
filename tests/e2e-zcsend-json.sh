#!/bin/bash
# zcsend --json: stdout holds only JSON, one object a line: one per file
# in the order given (a landed file, a refused one, a missing path whose
# name holds a newline and a byte that is not UTF-8, a directory) and the
# summary last, with the right values; errors still on stderr, one line a
# file; no summary lines.
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null 2>&1 || skip "jq is not installed"

SIZE=$((1024 * 1024 + 5))
mkfile "$T/src/a" "$SIZE"
mkfile "$T/src/b" 3000
mkdir "$T/src/dir"
BAD=$T/src/no$'\n'such$'\xff'		# not there
BAD_SHOWN=$T/src/no$'\n'such$'\xef\xbf\xbd'	# \xff as U+FFFD

ALLOW_LOG='^zcrecvd: failed b from 127\.0\.0\.1:[0-9]+: exists: '
start_daemon
send_ok "$T/src/b"

rc=0
"$ZCSEND" --json "$T/src/a" "$T/src/b" "$BAD" "$T/src/dir" \
    "127.0.0.1:$PORT" >"$T/json.out" 2>"$T/json.err" </dev/null || rc=$?
prefix 'zcsend --json stdout: ' "$T/json.out" >&2
prefix 'zcsend --json stderr: ' "$T/json.err" >&2
[ "$rc" -eq 4 ] || fail "zcsend --json exited $rc, expected 4"
[ "$(wc -l <"$T/json.out")" -eq 5 ] || fail "not 5 lines on stdout"
while IFS= read -r line; do
	jq -e 'type == "object"' <<<"$line" >/dev/null ||
	    fail "not a JSON object: $line"
done <"$T/json.out"
! grep -q 'landed,' "$T/json.out" || fail "summary line with --json"
LC_ALL=C grep -qF '\u000a' "$T/json.out" || fail "newline not escaped as \\u000a"
LC_ALL=C grep -qF '\ufffd' "$T/json.out" || fail "0xff not escaped as \\ufffd"

# jqcheck N FILTER: line N of stdout satisfies FILTER.
jqcheck() {
	sed -n "$1p" "$T/json.out" | jq -e --arg t "$T" --arg bad "$BAD_SHOWN" \
	    --argjson size "$SIZE" "$2" >/dev/null ||
	    fail "line $1 does not satisfy $2: $(sed -n "$1p" "$T/json.out")"
}
jqcheck 1 '.type == "file" and .name == "a" and .path == $t + "/src/a" and
    .dest == "default" and .size == $size and .bytes == $size and
    .seconds > 0 and .gbps >= 0 and .result == "ok" and .message == "" and
    (.digest | test("^xxh3:[0-9a-f]{32}$")) and .exit == 0'
# b is small: in protocol version 2 its content travels in its ENTRY, so
# it is sent (and its digest given) although the receiver refuses it.
jqcheck 2 '.type == "file" and .name == "b" and .size == 3000 and
    .bytes == 3000 and .result == "exists" and
    (.message | startswith("rejected by receiver (exists): ")) and
    (.digest | test("^xxh3:[0-9a-f]{32}$")) and .exit == 4'
jqcheck 3 '.type == "file" and .path == $bad and .size == 0 and
    .bytes == 0 and .result == "local" and
    .message == "No such file or directory" and .exit == 1'
jqcheck 4 '.type == "file" and .name == "dir" and .result == "local" and
    .message == "is a directory, not a regular file" and .exit == 1'
jqcheck 5 '.type == "summary" and .files == 4 and .ok == 1 and
    .failed == 3 and .skipped == 0 and .bytes == $size + 3000 and
    .seconds > 0 and .exit == 4'

# The digest is the one the receiver logged.
line=$(check_landed a "$SIZE")
[ "$(field "$line" digest)" = "$(sed -n 1p "$T/json.out" | jq -r .digest)" ] ||
    fail "digest differs from the transfer log's: $line"
same "$T/src/a" "$T/dest/a"

# One error line per failed file, naming it.
[ "$(wc -l <"$T/json.err")" -eq 3 ] || fail "not 3 error lines"
grep -qE '^zcsend: b: rejected by receiver \(exists\): ' "$T/json.err" ||
    fail "no error line for b"
# (a newline shown as \n; bytes from 0x80 up pass, as the daemon's log has it)
LC_ALL=C grep -qF "zcsend: $T/src/no\\nsuch"$'\xff'": No such file or directory" \
    "$T/json.err" || fail "no error line for the missing path"
grep -qF "zcsend: $T/src/dir: is a directory, not a regular file" \
    "$T/json.err" || fail "no error line for the directory"

note "-q --json: still JSON; --no-verify: no digest"
mkfile "$T/src/c" 100
rc=0
"$ZCSEND" -q --json --no-verify "$T/src/c" "127.0.0.1:$PORT/default" \
    >"$T/q.out" 2>"$T/q.err" </dev/null || rc=$?
prefix 'zcsend -q --json: ' "$T/q.out" >&2
[ "$rc" -eq 0 ] || fail "zcsend -q --json exited $rc"
[ ! -s "$T/q.err" ] || fail "zcsend -q --json wrote to stderr"
jq -se 'length == 2 and .[0].result == "ok" and .[0].digest == "" and
    .[0].dest == "default" and .[1].type == "summary" and .[1].exit == 0' \
    "$T/q.out" >/dev/null || fail "zcsend -q --json: wrong output"

stop_daemon
check_daemon_log
check_xfer_log
