#!/bin/bash
# Hostile names: every name the network sends is refused unless it is a
# plain base name, over a connection that stays usable (a good file follows
# on it), and nothing is ever written outside the destination, also not
# through a symbolic link or a hard link planted in it:
#   - ../x, /etc/x, a/../../x with and without a NUL, NUL alone, newline,
#     tab, escape, DEL, ".", "..", the staging prefix, 256 and 319 bytes
#     (RESULT name); 320 and 4096 bytes (a FILE record over its maximum
#     length: ERROR protocol); 255 bytes and UTF-8 land;
#   - destination names ../x, .hidden, a/b, 65 bytes (RESULT name), an
#     unknown one (RESULT destination);
#   - dest/evil -> $T/outside/target with overwrite = no: refused "exists"
#     (hostile and zcsend), symlink and target untouched; in a destination
#     with overwrite = yes the symlink itself is replaced by a regular file,
#     the target untouched; the same for a symlink to a directory and a
#     hard link to an outside file.
# After each: the expected record reached the client, nothing changed
# outside the destinations, the destinations hold exactly what should have
# landed, no staging file is left, and the same daemon lands a normal file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile-lib.sh"

mkdir "$T/ow"
chown "$DAEMON_USER:" "$T/ow"
echo "hard-linked, not for the network" >"$T/outside/hl-target"
ln -s "$T/outside/target" "$T/dest/evil"
ln -s "$T/outside/target" "$T/ow/evil"
ln -s "$T/outside" "$T/ow/evildir"
ln "$T/outside/hl-target" "$T/ow/hl"
mkdir "$T/src/e"
mkfile "$T/src/e/evil" 3000

DEFAULT_EXTRA="[ow]
path = $T/ow
overwrite = yes"
ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: protocol error: |failed .* from 127\.0\.0\.1:[0-9]+: (name|exists|destination): )'

# landed_ow NAME SIZE: NAME landed in ow with hostile's payload pattern.
landed_ow() {
	"$HOSTILE" pattern "$2" >"$T/out/pattern"
	same "$T/out/pattern" "$T/ow/$1"
	[ ! -L "$T/ow/$1" ] || fail "ow/$1 is still a symlink"
}

# symlink_intact PATH TARGET: PATH is still a symlink to TARGET.
symlink_intact() {
	[ -L "$1" ] || fail "$1 is no longer a symlink"
	[ "$(readlink "$1")" = "$2" ] || fail "$1 points elsewhere: $(readlink "$1")"
}

# --- attacks --------------------------------------------------------------

HDESTS=(dest ow)
LANDED=(evil)
LANDED_ELSE=(ow/evil ow/evildir ow/hl)
hostile_start

rep() {
	printf "$1%.0s" $(seq "$2")
}
# hostile's escapes: \xHH, \n, \t, \\.
names=(
	'../x'
	'/etc/x'
	'a/../../x'
	'a/../../x\x00'
	'\x00'
	'x\x00y'
	'evil\x00'
	'../../../../../../../../etc/passwd'
	'new\nline'
	'tab\there'
	'\x1b[31mred'
	'del\x7f'
	'.'
	'..'
	'x/'
	'.zcrecvd.0123456789abcdef.part'
	'.zcrecvd.x'
	"$(rep n 256)"
	"$(rep o 319)"
)
i=0
for n in "${names[@]}"; do
	i=$((i + 1))
	hrun "name-$i" -g "after-$i" name "${H[@]}" "$n"
	expect_lines "name-$i" "$HELLO" 'RESULT code name: .+' "$ACCEPT" \
	    "$LANDS" DONE
	landed_pattern "after-$i" 10
	symlink_intact "$T/dest/evil" "$T/outside/target"
	after_case "name-$i ($(printf '%.40s' "$n"))"
done

# Names too long for a FILE record: the record is over its maximum length.
for len in 320 4096; do
	hrun "name-len-$len" name "${H[@]}" "$(rep p "$len")"
	expect_lines "name-len-$len" "$HELLO" \
	    "ERROR code protocol: FILE record length $((24 + len)) out of range.*" \
	    "$CLOSED" DONE
	after_case "name-len-$len"
done

# Proper names land: the longest one, UTF-8.
long255=$(rep m 255)
hrun name-255 name "${H[@]}" "$long255"
expect_lines name-255 "$HELLO" "$ACCEPT" "$LANDS" DONE
landed_pattern "$long255" 10
after_case name-255
hrun name-utf8 name "${H[@]}" '\xc3\xa9t\xc3\xa9'
expect_lines name-utf8 "$HELLO" "$ACCEPT" "$LANDS" DONE
landed_pattern $'\xc3\xa9t\xc3\xa9' 10
after_case name-utf8
# A name that is not UTF-8 (Latin-1) is a legal file name: it lands under
# its bytes; the transfer log, which is JSON, shows the byte as U+FFFD.
hrun name-latin1 name "${H[@]}" 'caf\xe9'
expect_lines name-latin1 "$HELLO" "$ACCEPT" "$LANDS" DONE
landed_pattern $'caf\xe9' 10
after_case name-latin1
grep -qF '"name":"caf\ufffd"' "$XLOG" ||
    fail "name-latin1: no transfer log line with name \"caf\\ufffd\""

# Destination names.
i=0
for d in '../x' '.hidden' 'a/b' "$(rep d 65)" 'nonexistent'; do
	i=$((i + 1))
	hrun "dest-$i" -d "$d" name "${H[@]}" "dest-$i"
	if [ "$d" = nonexistent ]; then
		expect_lines "dest-$i" "$HELLO" \
		    "RESULT code destination: no destination 'nonexistent'" DONE
	else
		expect_lines "dest-$i" "$HELLO" 'RESULT code name: .+' DONE
	fi
	after_case "dest-$i ($(printf '%.40s' "$d"))"
done
# "default" names the default destination.
hrun dest-default -d default name "${H[@]}" dest-default
expect_lines dest-default "$HELLO" "$ACCEPT" "$LANDS" DONE
landed_pattern dest-default 10
after_case dest-default

# A symlink planted under the name, overwrite = no: "exists", the symlink
# and its target stay as they are.
hrun evil-no name "${H[@]}" evil
expect_lines evil-no "$HELLO" 'RESULT code exists: .+' DONE
symlink_intact "$T/dest/evil" "$T/outside/target"
after_case evil-no
rc=0
"$ZCSEND" "$T/src/e/evil" "127.0.0.1:$PORT" >"$T/out/evil.out" \
    2>"$T/out/evil.err" || rc=$?
prefix 'zcsend evil: ' "$T/out/evil.err" >&2
[ "$rc" -eq 4 ] || fail "zcsend evil (overwrite = no) exited $rc, expected 4"
grep -q '^zcsend: evil: rejected by receiver (exists): ' "$T/out/evil.err" ||
    fail "zcsend evil: no 'rejected by receiver (exists)'"
symlink_intact "$T/dest/evil" "$T/outside/target"
after_case evil-no-zcsend

# overwrite = yes: the symlink is replaced, the target is not written.
rc=0
"$ZCSEND" "$T/src/e/evil" "127.0.0.1:$PORT/ow" >"$T/out/evil-ow.out" \
    2>"$T/out/evil-ow.err" || rc=$?
prefix 'zcsend evil to ow: ' "$T/out/evil-ow.err" >&2
[ "$rc" -eq 0 ] || fail "zcsend evil (overwrite = yes) exited $rc"
[ ! -L "$T/ow/evil" ] || fail "ow/evil is still a symlink"
[ -f "$T/ow/evil" ] || fail "ow/evil is not a regular file"
same "$T/src/e/evil" "$T/ow/evil"
after_case evil-ow-zcsend
# A symlink to a directory outside, and a hard link to a file outside.
hrun evildir-ow -d ow name "${H[@]}" evildir
expect_lines evildir-ow "$HELLO" "$ACCEPT" "$LANDS" DONE
landed_ow evildir 10
after_case evildir-ow
hrun hl-ow -d ow name "${H[@]}" hl
expect_lines hl-ow "$HELLO" "$ACCEPT" "$LANDS" DONE
landed_ow hl 10
[ "$(stat -c %h "$T/outside/hl-target")" -eq 1 ] ||
    fail "the hard-linked file outside still has $(stat -c %h "$T/outside/hl-target") links"
after_case hl-ow

stop_daemon
check_daemon_log
check_xfer_log
# Names reach the log escaped: one "zcrecvd: " line per message, no control
# characters (log injection, terminal escapes).
! grep -qv '^zcrecvd: ' "$DLOG" ||
    fail "daemon log lines not starting with 'zcrecvd: ' (a name logged raw?)"
! LC_ALL=C grep -q '[[:cntrl:]]' "$DLOG" ||
    fail "control characters in the daemon log (a name logged raw?)"
# A name with a NUL is logged whole, not cut at the NUL.
for n in 'x\x00y' 'a/../../x\x00' 'evil\x00'; do
	grep -qF "failed $n from 127.0.0.1:" "$DLOG" ||
	    fail "no 'failed $n from' line in the daemon log (name cut at the NUL?)"
	j=${n//\\x00/\\u0000}
	grep -qF "\"name\":\"$j\"" "$XLOG" ||
	    fail "no transfer log line with name \"$j\""
done
[ "$(cat "$T/outside/target")" = "not for the network" ] ||
    fail "the symlink target outside was written"
