#!/bin/bash
# kill -9 of the daemon in the middle of a tree (protocol version 2, raw
# client tests/hostile, so that what the daemon reported is known exactly):
#   1. 2,000 small files in 50 directories (every third inline), pipelined
#      within the window, then a 1 MiB file the client pauses inside; the
#      daemon is killed once 100 files are reported landed, in the middle
#      of its batches.  Every file it reported landed is there, whole; every
#      file under a final name is whole (the size announced, the bytes
#      sent: a name is never given to half a file); the paused file never
#      appears.  (A file renamed in the batch the kill interrupted may be
#      there without its RESULT: the answer cannot be sent in the same
#      instant as the rename; such files are counted in the log.)
#   2. A file half sent into a subdirectory it made (big/sub/huge) when
#      the daemon is killed: never under its name.
# After each restart no staging file (.zcrecvd.*) is left anywhere in the
# tree, and the same tree sent again completes it: every file there, whole.
. "$(dirname "$0")/lib.sh"
heavy
. "$(dirname "$0")/tree-lib.sh"

need_tree_daemon
[ -n "${HOSTILE:-}" ] && [ -x "$HOSTILE" ] || hard_error "HOSTILE is not set"
mkdir "$T/out"

ALLOW_LOG='^zcrecvd: ([0-9]+ more failed files not logged here .*|.*: removed [0-9]+ stale staging files? of an earlier run|127\.0\.0\.1:[0-9]+: (payload is not mappable|protocol error: )|failed .* from 127\.0\.0\.1:[0-9]+: (exists|aborted|io|protocol|timeout|shutdown): )'

# kill_daemon: SIGKILL, reap.
kill_daemon() {
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null || true
	DPID=
}

# hbg LABEL ARGS...: hostile ARGS in the background, output in $T/out/LABEL.
hbg() {
	local label=$1
	shift
	"$HOSTILE" "$@" >"$T/out/$label" 2>"$T/out/$label.err" </dev/null &
	HPID=$!
	BGPIDS+=("$HPID")
}

# hwait LABEL: wake hostile (it may have stopped itself), wait up to 60 s.
hwait() {
	local i rc=0
	kill -CONT "$HPID" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		alive "$HPID" || break
		sleep 0.1
	done
	alive "$HPID" && { kill -KILL "$HPID"; fail "$1: hostile still running 60 s after the kill"; }
	wait "$HPID" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$T/out/$1.err" >&2; fail "$1: hostile exited $rc"; }
}

# entries LABEL: "ID SIZE PATH" of every file entry hostile sent.
entries() {
	sed -nE 's/^ENTRY #([0-9]+) file size ([0-9]+) (.*)$/\1 \2 \3/p' "$T/out/$1"
}
# reported LABEL CODE: the ids hostile got RESULT CODE for.
reported() {
	sed -nE "s/^RESULT #([0-9]+) code ($2): .*/\1/p" "$T/out/$1" | sort -n
}

# whole_files LABEL: every regular file beneath dest but staging files is
# one hostile sent, with the size it announced and the bytes it sent.
whole_files() {
	local f p size n=0
	declare -A want=()
	while read -r _ size p; do
		want[$p]=$size
	done < <(entries "$1")
	while IFS= read -r -d '' f; do
		p=${f#./}
		[ -n "${want[$p]+x}" ] || fail "$1: $p landed but was never sent"
		[ "$(stat -c %s "$T/dest/$p")" = "${want[$p]}" ] ||
		    fail "$1: $p has $(stat -c %s "$T/dest/$p") bytes under its name, ${want[$p]} announced"
		n=$((n + 1))
	done < <(cd "$T/dest" && find . -type f ! -name '.zcrecvd.*' -print0)
	(cd "$T/dest" && find . -type f ! -name '.zcrecvd.*' -print0 |
	    xargs -0 -r "$HOSTILE" check-pattern) >&2 ||
	    fail "$1: a file under its final name does not hold the bytes sent"
	WHOLE=$n
}

# landed_reported LABEL: every file reported ok is there.
landed_reported() {
	local id size p n=0
	declare -A path=()
	while read -r id size p; do
		path[$id]=$p
	done < <(entries "$1")
	for id in $(reported "$1" ok); do
		[ -n "${path[$id]+x}" ] || continue	# a directory
		[ -f "$T/dest/${path[$id]}" ] ||
		    fail "$1: ${path[$id]} (#$id) reported landed, not there"
		n=$((n + 1))
	done
	REPORTED=$n
}

# restart_clean LABEL: start the daemon again; no staging file anywhere.
restart_clean() {
	local before
	before=$(staging_anywhere "$T/dest" | wc -l)
	start_daemon
	[ -z "$(staging_anywhere "$T/dest")" ] ||
	    fail "$1: staging files left after the restart: $(staging_anywhere "$T/dest" | head -n 5)"
	note "$1: $before staging file(s) after the kill, none after the restart"
}

# --- 1. killed in the middle of the batches ---------------------------------------

start_daemon
hbg crash -p 65536 -t 30 entries 127.0.0.1 "$PORT" n c 2000 f c/zz-last 1048576
for ((i = 0; i < 600; i++)); do
	[ "$(reported crash ok | wc -l)" -ge 100 ] && break
	alive "$HPID" || break
	sleep 0.05
done
n=$(reported crash ok | wc -l)
[ "$n" -ge 100 ] || { tail -n 20 "$T/out/crash" >&2; fail "crash: only $n files reported before the kill"; }
kill_daemon
note "crash: killed with $n files reported landed, $(grep -c '^ENTRY ' "$T/out/crash") entries sent"
hwait crash
landed_reported crash
whole_files crash
[ ! -e "$T/dest/c/zz-last" ] || fail "crash: c/zz-last, paused inside, landed"
note "crash: $REPORTED reported landed and there; $WHOLE files whole under their names ($((WHOLE - REPORTED)) renamed but not answered)"
restart_clean crash

# The same tree again completes it.
hrun_again() {
	local rc=0 want
	"$HOSTILE" -t 60 entries 127.0.0.1 "$PORT" n c 2000 f c/zz-last 1048576 \
	    >"$T/out/again" 2>"$T/out/again.err" </dev/null || rc=$?
	[ "$rc" -eq 0 ] || fail "again: hostile exited $rc"
	grep -qx DONE "$T/out/again" || fail "again: hostile did not finish"
	want=$(grep -c '^ENTRY ' "$T/out/again")
	[ "$want" -eq 2001 ] || fail "again: $want entries sent"
	[ "$(reported again 'ok|exists' | wc -l)" -eq 2001 ] || {
		grep '^RESULT' "$T/out/again" | grep -vE 'code (ok|exists):' | head >&2
		fail "again: not every entry landed or existed"
	}
	whole_files again
	[ "$WHOLE" -eq 2001 ] || fail "again: $WHOLE files in the tree, 2001 sent"
}
hrun_again
note "crash: sent again, all 2001 files whole"

# --- 2. killed with a file half written in its own subdirectory ---------------------

hbg half -p 1048576 -t 30 entries 127.0.0.1 "$PORT" w big/sub/huge 8388608
for ((i = 0; i < 300; i++)); do
	grep -q '^PAUSED' "$T/out/half" && break
	alive "$HPID" || break
	sleep 0.1
done
grep -q '^PAUSED' "$T/out/half" || { cat "$T/out/half" >&2; fail "half: hostile did not pause"; }
staged=
for ((i = 0; i < 300; i++)); do
	staged=$(find "$T/dest/big" -name '.zcrecvd.*.part' -size +0 -print -quit 2>/dev/null)
	[ -n "$staged" ] && break
	sleep 0.1
done
[ -n "$staged" ] || fail "half: no staging file with data under big/"
kill_daemon
hwait half
[ ! -e "$T/dest/big/sub/huge" ] || fail "half: big/sub/huge landed half sent"
[ -e "$staged" ] || note "half: (the staging file went with the daemon)"
restart_clean half
[ ! -e "$T/dest/big/sub/huge" ] || fail "half: big/sub/huge appeared after the restart"

stop_daemon
check_daemon_log
echo "PASS: $TEST_NAME"
