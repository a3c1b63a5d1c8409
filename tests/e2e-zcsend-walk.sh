#!/bin/bash
# zcsend -r walks a tree without any receiver (-n, --dry-run): entries in
# name order, each directory after its contents, paths relative to the
# operand's parent (or, with a trailing slash or ".", to the operand);
# symlinks skipped with a warning unless --links, later hard links,
# fifos and devices skipped with a warning; plain files among the
# operands by their base names; a path longer than 4095 bytes fails
# (exit 1) and nothing beneath it is listed; usage errors exit 2.
. "$(dirname "$0")/lib.sh"

# run_zcsend WANT ARGS...: zcsend must exit WANT; output in $T/out, $T/err.
run_zcsend() {
	local want=$1 rc=0
	shift
	"$ZCSEND" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	prefix 'zcsend stdout: ' "$T/out" >&2
	prefix 'zcsend stderr: ' "$T/err" >&2
	[ "$rc" -eq "$want" ] || fail "zcsend $* exited $rc, expected $want"
}

# expect_out FILE: stdout is exactly FILE.
expect_out() {
	diff -u "$1" "$T/out" >&2 || fail "unexpected list of entries"
}

S=$T/src
mkdir -p "$S/photos/b/c" "$S/photos/a" "$S/photos/empty" "$S/photos/sp ace"
printf 'x' >"$S/photos/b/c/x"
printf 'yy' >"$S/photos/b/y"
printf '123' >"$S/photos/a/z"
printf 'u' >"$S/photos/sp ace/ü"
ln -s b/y "$S/photos/link"
ln "$S/photos/b/y" "$S/photos/hard"
mkfifo "$S/photos/fifo"
printf 'plain' >"$S/plain"

note "tree, names sorted, directories last; warnings for what is skipped"
run_zcsend 0 -n -r "$S/photos" 127.0.0.1
cat >"$T/want" <<'EOF'
photos/a/z: file, 3 bytes
photos/a: directory
photos/b/c/x: file, 1 bytes
photos/b/c: directory
photos/b/y: file, 2 bytes
photos/b: directory
photos/empty: directory
photos/sp ace/ü: file, 1 bytes
photos/sp ace: directory
photos: directory
EOF
expect_out "$T/want"
[ "$(wc -l <"$T/err")" -eq 3 ] || fail "not 3 warnings"
grep -qxF "zcsend: $S/photos/link: skipped: a symbolic link (--links sends it as one)" \
    "$T/err" || fail "no warning for the symlink"
grep -qxF "zcsend: $S/photos/hard: skipped: a hard link to photos/b/y, which is sent" \
    "$T/err" || fail "no warning for the hard link"
grep -qxF "zcsend: $S/photos/fifo: skipped: a fifo" "$T/err" ||
    fail "no warning for the fifo"

note "--links, the contents of a directory (trailing slash), a plain file"
run_zcsend 0 -n -r --links "$S/photos/b/" "$S/plain" 127.0.0.1/dest
cat >"$T/want" <<'EOF'
c/x: file, 1 bytes
c: directory
y: file, 2 bytes
plain: file, 5 bytes
EOF
expect_out "$T/want"
run_zcsend 0 -n -r --links "$S/photos" 127.0.0.1
grep -qxF 'photos/link: symlink to b/y' "$T/out" || fail "symlink not listed"
grep -q 'skipped: a symbolic link' "$T/err" && fail "symlink skipped with --links"

note "\".\" sends what is in the directory; a symlink operand is not followed"
ln -s photos/b "$S/blink"
(cd "$S/photos/b" && "$ZCSEND" -n -r . 127.0.0.1) >"$T/out" 2>"$T/err" ||
    fail "zcsend -n -r . failed"
printf 'c/x: file, 1 bytes\nc: directory\ny: file, 2 bytes\n' >"$T/want"
expect_out "$T/want"
run_zcsend 0 -n -r "$S/blink" 127.0.0.1
[ ! -s "$T/out" ] || fail "a symlink operand was followed"
grep -qxF "zcsend: $S/blink: skipped: a symbolic link (--links sends it as one)" \
    "$T/err" || fail "no warning for the symlink operand"

if [ "$(id -u)" -eq 0 ]; then
	note "a device"
	mkdir "$S/dev"
	mknod "$S/dev/null" c 1 3
	run_zcsend 0 -n -r "$S/dev" 127.0.0.1
	grep -qxF "zcsend: $S/dev/null: skipped: a character device" "$T/err" ||
	    fail "no warning for the device"
	printf 'dev: directory\n' >"$T/want"
	expect_out "$T/want"
fi

note "--json: one object per entry, then the summary"
if command -v jq >/dev/null 2>&1; then
	run_zcsend 0 -n --json -r "$S/photos/b" 127.0.0.1
	jq -se 'length == 5 and
	    ([.[0:4][] | [.type, .name, .result, .exit]] ==
	    [["file", "b/c/x", "dry-run", 0], ["dir", "b/c", "dry-run", 0],
	     ["file", "b/y", "dry-run", 0], ["dir", "b", "dry-run", 0]]) and
	    .[4].type == "summary" and .[4].files == 4 and .[4].skipped == 0 and
	    .[4].exit == 0' "$T/out" >/dev/null || fail "wrong --json -n output"
	run_zcsend 0 -n --json -r "$S/photos" 127.0.0.1
	jq -se '[.[] | select(.result == "skipped")] | length == 3 and
	    all(.exit == 0 and (.message | startswith("skipped: ")))' \
	    "$T/out" >/dev/null || fail "skipped entries not in --json"
	jq -se '.[-1].skipped == 3 and .[-1].failed == 0' "$T/out" >/dev/null ||
	    fail "summary does not count the skipped entries"
fi

note "a path longer than 4095 bytes fails, and nothing beneath it goes"
comp=$(printf 'd%.0s' {1..200})
# 21 components of 200 bytes: the path sent is over 4095 bytes long.
mkdir "$S/deep"
(
	cd "$S/deep" || exit 1
	for ((i = 0; i < 21; i++)); do
		mkdir "$comp" && cd "$comp" || exit 1
	done
	printf 'f' >f
) || hard_error "cannot make a deep tree"
run_zcsend 1 -n -r "$S/deep" 127.0.0.1
grep -q ': path longer than 4095 bytes; nothing beneath it is sent$' \
    "$T/err" || fail "no failure for the long path"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one error line for the long path"
! grep -q '/f: file' "$T/out" || fail "a file beneath the long path is listed"
grep -qx 'deep: directory' "$T/out" || fail "the short part of the tree is not listed"
rm -rf "$S/deep"

note "usage errors"
for args in "-r" "-r $S/photos" "-x -r $S/photos 127.0.0.1" \
    "--links=1 $S/plain 127.0.0.1"; do
	# shellcheck disable=SC2086
	run_zcsend 2 $args
	[ ! -s "$T/out" ] || fail "zcsend $args wrote to stdout"
done

note "-n judges plain operands as a real run does"
run_zcsend 1 -n "$S/photos" "$S/plain" "$S/missing" 127.0.0.1
grep -qxF "zcsend: $S/photos: is a directory, not a regular file" "$T/err" ||
    fail "no failure for the directory without -r"
grep -qxF "zcsend: $S/missing: No such file or directory" "$T/err" ||
    fail "no failure for the missing file"
printf 'plain: file, 5 bytes\n' >"$T/want"
expect_out "$T/want"
