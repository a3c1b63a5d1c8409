#!/bin/bash
# Trees from a hostile raw client (protocol version 2, tests/hostile):
#   - HELLO: version 1 gets HELLO version 1 (a version 1 client works with
#     a version 2 daemon), version 2 gets version 2 and a window, 0 gets
#     ERROR version;
#   - paths a/../../x, /x, a//b, a/./b, a/, .., the staging prefix, control
#     characters, beyond max_path_depth and max_path_length: RESULT name,
#     each over a connection that goes on (a good entry lands after them);
#   - a symlink in the destination, planted beforehand, on the way of a
#     file, a directory, a WAIT file, a symlink and as the entry itself;
#   - a symlink swapped into the destination mid-run: a directory the
#     daemon has created (a file of it half sent) is moved away and a
#     symlink to the outside put in its place; the rest of the file and
#     more entries beneath it follow;
#   - symlinks: refused (denied) by default, landed as links, never
#     followed, with allow_symlinks = yes; a FILE record in version 2 and
#     an END for another entry: ERROR protocol;
#   - a sparse file (first and last block sent) lands with its holes.
# After each: nothing changed outside the destinations (the outside is the
# daemon user's, so a followed link could write there), the destinations
# hold exactly what should have landed, no staging file is left, and the
# same daemon lands a normal file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile-lib.sh"
. "$(dirname "$0")/tree-lib.sh"

need_tree_daemon

# A daemon that follows a link could write to the outside.
chown -R "$DAEMON_USER:" "$T/outside"
mkdir "$T/links"
chown "$DAEMON_USER:" "$T/links"
ln -s "$T/outside" "$T/dest/evil"
ln -s "$T/outside/target" "$T/dest/evilfile"

DEFAULT_EXTRA="max_path_depth = 4
max_path_length = 64

[links]
path = $T/links
allow_symlinks = yes"
ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: (protocol error: |unsupported protocol version |payload is not mappable)|failed .* from 127\.0\.0\.1:[0-9]+: (name|exists|denied|protocol|aborted|io): )'

HDESTS=(dest links)
LANDED=(evil evilfile)
hostile_start

# Skip unless the daemon speaks version 2.
"$HOSTILE" hello 127.0.0.1 "$PORT" 2 >"$T/out/probe" 2>&1 || true
grep -qE '^HELLO version 2 window [1-9][0-9]*$' "$T/out/probe" ||
    skip "the daemon does not speak protocol version 2: $(head -n 1 "$T/out/probe")"

# result LABEL ID: "CODE" of the RESULT for entry ID in hostile's output.
result() {
	sed -nE "s/^RESULT #$2 code ([a-z]+): .*/\1/p" "$T/out/$1" | head -n 1
}
# expect_result LABEL ID RE: the RESULT for entry ID has a code matching RE.
expect_result() {
	local c
	c=$(result "$1" "$2")
	[[ $c =~ ^($3)$ ]] || fail "$1: entry #$2: result '${c:-none}', expected $3"
}

# --- HELLO -----------------------------------------------------------------------

hrun hello1 hello "${H[@]}" 1
expect_lines hello1 'HELLO version 1' DONE
hrun hello2 hello "${H[@]}" 2
expect_lines hello2 'HELLO version 2 window [1-9][0-9]*' DONE
hrun hello0 hello "${H[@]}" 0
expect_lines hello0 'ERROR code version: .*' "$CLOSED" DONE
# A version 1 client on the same daemon: HELLO version 1, and a file lands.
hrun v1 good "${H[@]}" v1-file
expect_lines v1 "$HELLO" "$ACCEPT" "$LANDS" DONE
landed_pattern v1-file 10
after_case hello

# --- hostile paths ----------------------------------------------------------------

long=$(printf 'L%.0s' $(seq 65))
hrun paths entries "${H[@]}" \
    f 'a/../../x' 10 \
    f '/x' 10 \
    f 'a//b' 10 \
    f 'a/./b' 10 \
    f 'a/' 10 \
    f '..' 10 \
    f 'p/.zcrecvd.0123456789abcdef.part' 10 \
    f 'ctl\x01/x' 10 \
    f 'nl\n/x' 10 \
    d '../up' - \
    w 'w/../../x' 10 \
    i 'i/../x' 10 \
    f 'deep/b/c/d/e' 10 \
    d 'deepdir/b/c/d/e' - \
    f "$long" 10 \
    f 'ok/after' 10
for i in $(seq 15); do
	expect_result paths "$i" name
done
expect_result paths 16 ok
grep -qx 'SENT 16' "$T/out/paths" || fail "paths: not every entry was sent"
LANDED+=(ok ok/after)
"$HOSTILE" check-pattern "$T/dest/ok/after" >&2 || fail "ok/after: wrong content"
after_case paths

# Within the limits: 4 components, 64 bytes.
name64=$(printf 'M%.0s' $(seq 60))
hrun limits entries "${H[@]}" f 'q/r/s/t' 10 f "q/$name64" 10
expect_result limits 1 ok
expect_result limits 2 ok
LANDED+=(q q/r q/r/s q/r/s/t "q/$name64")
after_case limits

# --- symlinks in the destination ------------------------------------------------------

# evil -> $T/outside, evilfile -> $T/outside/target, planted beforehand.
hrun planted entries "${H[@]}" \
    f 'evil/x' 10 \
    d 'evil/sub' - \
    w 'evil/y' 10 \
    f 'evil/new/z' 10 \
    i 'evil/i' 10 \
    d 'evil' 0777 \
    f 'evilfile' 10 \
    i 'evilfile' 10 \
    f 'fine' 10
for i in 1 2 3 4 5; do
	expect_result planted "$i" name
done
for i in 6 7 8; do
	expect_result planted "$i" 'name|exists|denied|io'
done
expect_result planted 9 ok
[ "$(readlink "$T/dest/evil")" = "$T/outside" ] || fail "planted: evil was changed"
[ "$(readlink "$T/dest/evilfile")" = "$T/outside/target" ] || fail "planted: evilfile was changed"
LANDED+=(fine)
after_case planted

# Swapped mid-run: sw/ is the daemon's (it made it for sw/a, whose payload
# is half sent), then it is moved away and a symlink to the outside takes
# its place; the rest of sw/a and more entries beneath sw/ follow.
"$HOSTILE" -p 8192 entries "${H[@]}" \
    w 'sw/a' 65536 \
    f 'sw/b' 10 \
    f 'sw/c/d' 10 \
    w 'sw/e' 10 \
    d 'sw' 0777 \
    f 'swok' 10 \
    >"$T/out/swap" 2>"$T/out/swap.err" </dev/null &
hpid=$!
BGPIDS+=("$hpid")
for ((i = 0; i < 300; i++)); do
	grep -q '^PAUSED' "$T/out/swap" && break
	alive "$hpid" || break
	sleep 0.1
done
grep -q '^PAUSED' "$T/out/swap" || { cat "$T/out/swap" >&2; fail "swap: hostile did not pause in sw/a"; }
for ((i = 0; i < 100; i++)); do
	[ "$(awk '{ print $3 }' "/proc/$hpid/stat")" = T ] && break
	sleep 0.05
done
[ -d "$T/dest/sw" ] && [ ! -L "$T/dest/sw" ] || fail "swap: the daemon made no directory sw"
staged=$(find "$T/dest/sw" -name '.zcrecvd.*.part' | head -n 1)
[ -n "$staged" ] || fail "swap: no staging file of sw/a in sw/"
note "swap: sw/a staged as $(basename "$staged"); moving sw away, sw -> $T/outside"
mv "$T/dest/sw" "$T/dest/sw.moved"
ln -s "$T/outside" "$T/dest/sw"
kill -CONT "$hpid"
rc=0
wait "$hpid" || rc=$?
prefix 'hostile swap: ' "$T/out/swap" >&2
prefix 'hostile swap (stderr): ' "$T/out/swap.err" >&2
[ "$rc" -eq 0 ] || fail "swap: hostile exited $rc"
grep -qx DONE "$T/out/swap" || fail "swap: hostile did not finish"
# sw/a may land where its directory went (sw.moved), or fail; never outside.
for i in 2 3 4 5; do
	expect_result swap "$i" 'name|exists|denied|io'
done
expect_result swap 6 ok
LANDED+=(sw sw.moved swok)
if [ "$(result swap 1)" = ok ]; then
	[ -f "$T/dest/sw.moved/a" ] || fail "swap: sw/a reported landed, but sw.moved/a is missing"
	"$HOSTILE" check-pattern "$T/dest/sw.moved/a" >&2 || fail "swap: sw.moved/a: wrong content"
	LANDED+=(sw.moved/a)
fi
[ "$(readlink "$T/dest/sw")" = "$T/outside" ] || fail "swap: the symlink sw was changed"
after_case swap

# --- symlinks as entries ------------------------------------------------------------------

# allow_symlinks = no (the default): denied.
hrun nolinks entries "${H[@]}" l 'lnk' '/etc/passwd' l 'rel' '../../x' f 'after-nolinks' 10
expect_result nolinks 1 denied
expect_result nolinks 2 denied
expect_result nolinks 3 ok
LANDED+=(after-nolinks)
after_case nolinks

# allow_symlinks = yes: created as given, never followed.
hrun links -d links entries "${H[@]}" \
    l 'abs' "$T/outside/target" \
    l 'up' '../../../../x' \
    l 'sub/dir/l' 'anything at all' \
    d 'sub' 0755
for i in 1 2 3 4; do
	expect_result links "$i" ok
done
[ "$(readlink "$T/links/abs")" = "$T/outside/target" ] || fail "links: abs -> $(readlink "$T/links/abs")"
[ "$(readlink "$T/links/up")" = '../../../../x' ] || fail "links: up -> $(readlink "$T/links/up")"
[ "$(readlink "$T/links/sub/dir/l")" = 'anything at all' ] || fail "links: sub/dir/l wrong"
[ "$(stat -c %Y "$T/links/abs")" = 1600000000 ] ||
    fail "links: the link's mtime is $(stat -c %Y "$T/links/abs"), not 1600000000"
[ "$(stat -c '%a %Y' "$T/links/sub")" = '755 1600000000' ] ||
    fail "links: sub is $(stat -c '%a %Y' "$T/links/sub"), want 755 1600000000"
LANDED_ELSE+=(links/abs links/up links/sub links/sub/dir links/sub/dir/l)
after_case links

# The links exist now: nothing replaces them, nothing goes through them.
hrun links2 -d links entries "${H[@]}" \
    l 'abs' 'again' \
    f 'abs/x' 10 \
    i 'abs' 10 \
    f 'up' 10 \
    d 'up' 0777
expect_result links2 1 'exists|name'
expect_result links2 2 name
for i in 3 4 5; do
	expect_result links2 "$i" 'exists|name'
done
[ "$(readlink "$T/links/abs")" = "$T/outside/target" ] || fail "links2: abs was replaced"
[ "$(readlink "$T/links/up")" = '../../../../x' ] || fail "links2: up was replaced"
after_case links2

# A symlink and, in the same stream, a file beneath its name: whichever
# the daemon lands first, nothing goes through the link (to the outside).
hrun race -d links entries "${H[@]}" l 'r' "$T/outside" f 'r/x' 10
r1=$(result race 1) r2=$(result race 2)
if [ "$r1" = ok ]; then
	[ -L "$T/links/r" ] || fail "race: r reported created, not a symlink"
	[ "$r2" != ok ] || fail "race: r/x landed beneath the symlink r"
	LANDED_ELSE+=(links/r)
else
	# The file's parent was made first (a directory), the link refused.
	[ "$r2" = ok ] && [ -d "$T/links/r" ] && [ ! -L "$T/links/r" ] ||
	    fail "race: r $r1, r/x $r2, and r is not a directory"
	note "race: r/x landed first (r made a directory), the symlink r refused ($r1)"
	LANDED_ELSE+=(links/r links/r/x)
fi
after_case race

# --- protocol errors in version 2 ----------------------------------------------------------

hrun v2file v2-file "${H[@]}"
expect_lines v2file 'HELLO version 2 window [0-9]+' 'ERROR code protocol: .*' "$CLOSED" DONE
after_case v2file

hrun badend entries "${H[@]}" e 'badend' 10
grep -qE '^ERROR code protocol: ' "$T/out/badend" || fail "badend: no ERROR protocol"
[ ! -e "$T/dest/badend" ] || fail "badend: landed with an END for another entry"
after_case badend

# --- sparse ------------------------------------------------------------------------------

size=$((64 * 1024 * 1024))
hrun sparse entries "${H[@]}" s 'sparse' "$size"
expect_result sparse 1 ok
f=$T/dest/sparse
[ "$(stat -c %s "$f")" -eq "$size" ] || fail "sparse: size $(stat -c %s "$f"), want $size"
alloc=$(( $(stat -c %b "$f") * $(stat -c %B "$f") ))
note "sparse: $size bytes, $alloc allocated ($(du -k "$f" | cut -f1) KiB by du)"
[ "$alloc" -le $((1024 * 1024)) ] || fail "sparse: $alloc bytes allocated for 8 KiB of data: the holes were filled"
"$HOSTILE" pattern 4096 >"$T/out/block"
cmp -n 4096 "$T/out/block" "$f" >&2 || fail "sparse: first block differs"
# The payload pattern runs on from the file offset.
"$HOSTILE" pattern "$size" | tail -c 4096 >"$T/out/block"
cmp -n 4096 "$T/out/block" <(tail -c 4096 "$f") >&2 || fail "sparse: last block differs"
cmp -n $((size - 8192)) -i 4096:0 "$f" /dev/zero >&2 || fail "sparse: the hole is not zeros"
LANDED+=(sparse)
after_case sparse

check_xfer_log
stop_daemon
check_daemon_log
echo "PASS: $TEST_NAME"
