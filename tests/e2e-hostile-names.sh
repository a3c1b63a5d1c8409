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

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"

mkdir "$T/out" "$T/outside" "$T/ow"
chown "$DAEMON_USER:" "$T/ow"
echo "not for the network" >"$T/outside/target"
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
	(cd "$T" && find . \( -path ./dest -o -path ./ow -o -path ./out -o \
	    -path ./send.out -o -path ./send.err -o \
	    -name 'daemon.*' -o -name xfer.log \) -prune -o \
	    -printf '%p %y %s %m %T@ %l\n') | LC_ALL=C sort
	cksum "$T/outside/target"
	local p
	for p in /etc/x /x "$(dirname "$T")/x"; do
		[ ! -e "$p" ] || echo "exists: $p"
	done
}

# The names that must be in the destinations ($T/dest: LANDED, $T/ow:
# LANDED_OW), nothing else.
LANDED=()
LANDED_OW=()
dest_state() {
	{
		find "$T/dest" -mindepth 1 -printf 'dest/%P\n'
		find "$T/ow" -mindepth 1 -printf 'ow/%P\n'
	} | LC_ALL=C sort
}
expected_dest() {
	{
		[ "${#LANDED[@]}" -eq 0 ] || printf 'dest/%s\n' "${LANDED[@]}"
		[ "${#LANDED_OW[@]}" -eq 0 ] || printf 'ow/%s\n' "${LANDED_OW[@]}"
	} | LC_ALL=C sort
}

# Wait up to 10 s for the daemon to drop its staging files.
all_staging() {
	find "$T/dest" "$T/ow" -maxdepth 1 -name '.zcrecvd.*' -print
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
	send_ok "$T/src/ok-$n_ok"
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

LANDED=(evil)
LANDED_OW=(evil evildir hl)
start_daemon
PID0=$DPID
START0=$(awk '{ print $22 }' "/proc/$DPID/stat")
OUTSIDE0=$(outside_state)
H=(127.0.0.1 "$PORT")
HELLO='HELLO version 1'
ACCEPT='ACCEPT offset 0'
CLOSED='EOF|RESET'
LANDS='RESULT code ok: landed'

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
