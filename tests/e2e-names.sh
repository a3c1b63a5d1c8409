#!/bin/bash
# File names come from the network: anything but a plain base name is
# answered with RESULT "name" and nothing is written, in the destination or
# anywhere else.  A proper name (also a non-ASCII one) lands.
. "$(dirname "$0")/lib.sh"
need_zcpeer

long=$(printf 'n%.0s' $(seq 256))
names=(
	"../x"
	"/etc/x"
	"a/../../x"
	"a/b"
	"."
	".."
	"$long"
	$'new\nline'
	".zcrecvd.x"
	".zcrecvd.0123456789abcdef.part"
	$'tab\there'
	$'del\x7f'
	"x/"
)

ALLOW_LOG='^zcrecvd: failed .* from 127\.0\.0\.1:[0-9]+: name: '
# A name with a newline may be logged escaped; a raw newline would split
# the line, and the remainder fails check_daemon_log (log injection).

etc_x_before=no
[ ! -e /etc/x ] || etc_x_before=yes
# The daemon's own files are filtered out, here and after.
DAEMON_FILES='^(zcrecvd\.conf|daemon\.[0-9]+\.(log|out)|xfer\.log|peer\..*)$'
before=$(ls -A "$T" | grep -vE "$DAEMON_FILES" || true)

start_daemon

# Positive control: zcpeer's FILE record is accepted with a good name.
"$ZCPEER" name 127.0.0.1 "$PORT" good-name >"$T/peer.out" 2>&1 ||
    fail "zcpeer name good-name failed: $(cat "$T/peer.out")"
prefix 'zcpeer good-name: ' "$T/peer.out" >&2
grep -qx 'ACCEPT offset 0' "$T/peer.out" || fail "good-name not accepted"
grep -q '^RESULT code ok: ' "$T/peer.out" || fail "good-name did not land"
[ "$(cat "$T/dest/good-name")" = 0123456789 ] || fail "good-name has wrong bytes"
rm -f -- "$T/dest/good-name"

# Try every name, then report all that were not refused properly.
errors=()
i=0
for n in "${names[@]}"; do
	i=$((i + 1))
	shown=$(printf '%q' "$n")
	[ "${#n}" -lt 60 ] || shown="${#n}-byte name"
	rc=0
	"$ZCPEER" name 127.0.0.1 "$PORT" "$n" >"$T/peer.$i" 2>&1 || rc=$?
	prefix "zcpeer $shown: " "$T/peer.$i" >&2
	if [ "$rc" -ne 0 ]; then
		errors+=("zcpeer name $shown exited $rc")
	elif grep -q '^ACCEPT' "$T/peer.$i"; then
		errors+=("name $shown was accepted")
	elif ! grep -q '^RESULT code name: ' "$T/peer.$i"; then
		errors+=("name $shown not answered with RESULT code name")
	fi
	daemon_alive || fail "daemon died after name $shown"
	# Nothing in the destination, no staging file.
	left=$(find "$T/dest" -mindepth 1 -print)
	[ -z "$left" ] || fail "name $shown left in dest: $left"
done
# Names from the network reach the daemon log escaped: one line per
# message, no control characters (log injection, terminal escapes).
if grep -qv '^zcrecvd: ' "$DLOG"; then
	errors+=("daemon log has lines not starting with 'zcrecvd: ' (a name with a newline logged raw?)")
fi
if LC_ALL=C grep -q '[[:cntrl:]]' "$DLOG"; then
	errors+=("daemon log has control characters (names logged raw?)")
fi
if [ "${#errors[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${errors[@]}" >&2
	fail "${#errors[@]} problem(s) with refused names"
fi

# Nothing outside the destination: the temp dir has the same entries as
# before (plus the daemon's own files), the daemon's cwd is empty, no
# /etc/x.
after=$(ls -A "$T" | grep -vE "$DAEMON_FILES" || true)
[ "$before" = "$after" ] || fail "new entries in $T: before: $before after: $after"
[ -z "$(ls -A "$T/cwd")" ] || fail "files in the daemon's cwd: $(ls -A "$T/cwd")"
[ -z "$(ls -A "$T/src")" ] || fail "files in $T/src"
[ "$etc_x_before" = yes ] || [ ! -e /etc/x ] || fail "/etc/x was created"

# A UTF-8 name lands through zcsend.
u=$'\xc3\xa9.txt'
mkfile "$T/src/$u" 3000
send_ok "$T/src/$u"
same "$T/src/$u" "$T/dest/$u"
check_summary "$T/send.out" "$u" 3000 >/dev/null
[ "$(find "$T/dest" -mindepth 1 | wc -l)" -eq 1 ] || fail "extra files in dest"

# Every refused name is in the transfer log as a failure, none as ok
# beyond the two landed files.
stop_daemon
check_daemon_log
check_xfer_log
n=$(grep -cE '"result"[[:space:]]*:[[:space:]]*"ok"' "$XLOG" || true)
[ "$n" -eq 2 ] || fail "$n ok lines in the transfer log, expected 2"
