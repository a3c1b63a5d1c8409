#!/bin/bash
# Config checking (zcrecvd -n): every error is reported as FILE:LINE:
# message, all of them, then exit 1; a good config prints "configuration
# OK"; -T dumps a config that parses back to the same dump.
. "$(dirname "$0")/lib.sh"

# check_conf NAME: run zcrecvd -n on $T/NAME; sets rc, out and err, with
# the config's path in err replaced by CONF.
check_conf() {
	local conf=$T/$1
	rc=0
	"$ZCRECVD" -n -f "$conf" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
	err=${err//"$conf"/CONF}
	printf '%s\n' "$err" | prefix "$1: " >&2
}

# bad NAME PATTERN...: $T/NAME is refused with exit 1, each PATTERN (an
# extended regex, CONF standing for the file) matches a line of stderr,
# and the last line counts the errors.
bad() {
	local name=$1 p
	shift
	check_conf "$name"
	[ "$rc" -eq 1 ] || fail "$name: zcrecvd -n exited $rc, expected 1"
	[ -z "$out" ] || fail "$name: stdout not empty: $out"
	for p in "$@"; do
		grep -qE "$p" <<<"$err" ||
		    fail "$name: no stderr line matching: $p"
	done
}

# count N: the last stderr line says N error(s).
count() {
	# Here-strings, not pipes: with pipefail, grep -q exiting early can
	# kill the writer with SIGPIPE and fail the check at random.
	grep -qxE "CONF: $1 errors?|CONF: $1 error\(s\)" <<<"${err##*$'\n'}" ||
	    fail "last stderr line is not 'CONF: $1 error(s)'"
}

mkdir "$T/rel"

# Line numbers below are those of the heredocs: keep them in step.
cat >"$T/unknown-key.conf" <<CONF
[server]
listen = 127.0.0.1:0
bogus = 1

[default]
path = $T/dest
CONF
bad unknown-key.conf "^CONF:3: unknown key 'bogus' in \[server\]$"
count 1

cat >"$T/unknown-section.conf" <<CONF
[server]
listen = 127.0.0.1:0

[nosuch]
foo = 1

[default]
path = $T/dest
CONF
# Any section but [server] is a named destination: this one lacks a path
# and has a key no destination knows.
bad unknown-section.conf "^CONF:4: \[nosuch\]: path is required$" \
    "^CONF:5: unknown key 'foo' in \[nosuch\]$"
count 2

cat >"$T/bad-io.conf" <<CONF
[server]
listen = 127.0.0.1:0
[default]
path = $T/dest
io = fast
CONF
bad bad-io.conf "^CONF:5: io: bad value 'fast' \(expected .*\)$"
count 1

for v in 50 32768 abc 4096x -1; do
	cat >"$T/bad-mss-$v.conf" <<CONF
[server]
page_mss = $v
[default]
path = $T/dest
CONF
	bad "bad-mss-$v.conf" "^CONF:2: page_mss: bad value '$v' \(expected .*\)$"
	count 1
done

# The limits on tree paths and allow_symlinks: bounds and words, every
# error on its line.
cat >"$T/bad-tree.conf" <<CONF
[default]
path = $T/dest
max_path_depth = 0
max_path_length = 4096
allow_symlinks = maybe
CONF
bad bad-tree.conf "^CONF:3: max_path_depth: bad value '0' \(expected 1-1024\)$" \
    "^CONF:4: max_path_length: bad value '4096' \(expected 1-4095\)$" \
    "^CONF:5: allow_symlinks: bad value 'maybe' \(expected yes or no\)$"
count 3

cat >"$T/bad-tree2.conf" <<CONF
[default]
path = $T/dest

[trees]
path = $T/dest
max_path_depth = 1025
max_path_length = 0
allow_symlinks = yes
allow_symlinks = no
CONF
bad bad-tree2.conf "^CONF:6: max_path_depth: bad value '1025' \(expected 1-1024\)$" \
    "^CONF:7: max_path_length: bad value '0' \(expected 1-4095\)$" \
    "^CONF:9: duplicate key 'allow_symlinks'$"
count 3

cat >"$T/no-path.conf" <<CONF
[server]
listen = 127.0.0.1:0
[default]
io = write
CONF
bad no-path.conf '^CONF:[0-9]+: \[default\]: path is required$'
count 1

cat >"$T/relative-path.conf" <<CONF
[default]
path = rel
CONF
(cd "$T" && bad relative-path.conf "^CONF:2: path: .*'rel'")

cat >"$T/missing-path.conf" <<CONF
[default]

path = $T/nonexistent
CONF
bad missing-path.conf "^CONF:3: path: .*nonexistent"

mkfile "$T/plainfile" 1
cat >"$T/file-path.conf" <<CONF
[default]
path = $T/plainfile
CONF
bad file-path.conf "^CONF:2: path: .*plainfile"

cat >"$T/duplicate.conf" <<CONF
[default]
path = $T/dest
io = write
io = copy
CONF
bad duplicate.conf "^CONF:4: duplicate key 'io'$"

cat >"$T/syntax.conf" <<CONF
[default]
path = $T/dest
this line has no equals sign
CONF
bad syntax.conf '^CONF:3: syntax error'

# Several errors in one file: all reported, in order, and counted.
cat >"$T/many.conf" <<CONF
[server]
listen = 127.0.0.1:0
bogus = 1
page_mss = 50
idle_timeout = 0
[default]
path = $T/dest
io = fast
fsync = maybe
CONF
bad many.conf "^CONF:3: unknown key 'bogus' in \[server\]$" \
    "^CONF:4: page_mss: bad value '50'" \
    "^CONF:5: idle_timeout: bad value '0'" \
    "^CONF:8: io: bad value 'fast'" \
    "^CONF:9: fsync: bad value 'maybe'"
count 5
lines=$(printf '%s\n' "$err" | sed -nE 's/^CONF:([0-9]+): .*/\1/p' | tr '\n' ' ')
[ "$lines" = "3 4 5 8 9 " ] || fail "many.conf: errors on lines '$lines', expected 3 4 5 8 9 in order"

# An unreadable config file.
rc=0
"$ZCRECVD" -n -f "$T/nonexistent.conf" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "missing config file: exit $rc, expected 1"
grep -qxF "zcrecvd: $T/nonexistent.conf: No such file or directory" "$T/err" ||
    fail "missing config file: wrong message: $(cat "$T/err")"

# A good config, every key set away from its default.
cat >"$T/good.conf" <<CONF
; a comment
# another comment
[server]
listen = 127.0.0.1:0
listen = [::1]:7734
page_mss = 8204
transfer_log = $T/xfer.log
idle_timeout = 60
stall_timeout = 7

[default]
path = $T/dest
io = write
fsync = no
overwrite = yes
verify = none
max_path_depth = 1024
max_path_length = 1
allow_symlinks = yes
CONF
check_conf good.conf
[ "$rc" -eq 0 ] || fail "good.conf: zcrecvd -n exited $rc"
[ "$out" = "configuration OK" ] || fail "good.conf: stdout '$out'"
[ -z "$err" ] || fail "good.conf: stderr not empty"

# -T dumps it; the dump checks OK and dumps to itself.
"$ZCRECVD" -T -f "$T/good.conf" >"$T/dumped.conf" 2>"$T/err" ||
    fail "zcrecvd -T exited $?: $(cat "$T/err")"
prefix 'dumped: ' "$T/dumped.conf" >&2
for kv in "listen = 127.0.0.1:0" "listen = \[::1\]:7734" "page_mss = 8204" \
    "transfer_log = $T/xfer.log" "idle_timeout = 60" "stall_timeout = 7" \
    "path = $T/dest" "io = write" "fsync = no" "overwrite = yes" \
    "verify = none" "max_path_depth = 1024" "max_path_length = 1" \
    "allow_symlinks = yes"; do
	k=${kv%% = *}
	v=${kv#* = }
	grep -qE "^[[:space:]]*${k}[[:space:]]*=[[:space:]]*${v}[[:space:]]*$" "$T/dumped.conf" ||
	    fail "dump lacks '$k = $v'"
done
grep -qx '\[server\]' "$T/dumped.conf" || fail "dump lacks [server]"
grep -qx '\[default\]' "$T/dumped.conf" || fail "dump lacks [default]"
check_conf dumped.conf
if [ "$rc" -ne 0 ] || [ "$out" != "configuration OK" ]; then
	fail "dumped config does not check OK (exit $rc)"
fi
"$ZCRECVD" -T -f "$T/dumped.conf" >"$T/dumped2.conf" ||
    fail "zcrecvd -T on the dump exited $?"
cmp "$T/dumped.conf" "$T/dumped2.conf" >&2 || {
	diff "$T/dumped.conf" "$T/dumped2.conf" >&2 || true
	fail "dump of the dump differs"
}

# A minimal config dumps its defaults, and that dump parses back too.
cat >"$T/minimal.conf" <<CONF
[default]
path = $T/dest
CONF
"$ZCRECVD" -T -f "$T/minimal.conf" >"$T/dumped-min.conf" ||
    fail "zcrecvd -T minimal.conf exited $?"
for kv in "listen = 127.0.0.1:7733" "page_mss = (auto|28684)" "idle_timeout = 300" \
    "stall_timeout = 30" "io = auto" "fsync = yes" "overwrite = no" \
    "verify = xxh3" "max_path_depth = 32" "max_path_length = 4095" \
    "allow_symlinks = no"; do
	k=${kv%% = *}
	v=${kv#* = }
	grep -qE "^[[:space:]]*${k}[[:space:]]*=[[:space:]]*${v}[[:space:]]*$" "$T/dumped-min.conf" ||
	    fail "minimal dump lacks default '$k = $v'"
done
check_conf dumped-min.conf
[ "$rc" -eq 0 ] || fail "minimal dump does not check OK"
"$ZCRECVD" -T -f "$T/dumped-min.conf" >"$T/dumped-min2.conf"
cmp "$T/dumped-min.conf" "$T/dumped-min2.conf" >&2 || fail "minimal dump of dump differs"

# -T on a bad config fails like -n.
rc=0
"$ZCRECVD" -T -f "$T/many.conf" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "zcrecvd -T on a bad config exited $rc, expected 1"
