#!/bin/bash
# On a terminal zcsend shows a progress line (bytes, rate, ETA) besides its
# summary; with stderr not a terminal it shows none.  The terminal is a
# pseudo-terminal from script(1) (util-linux).
# The line is one for the whole run: the file being sent, files done of all,
# bytes done of the size of all files, rate and ETA; redrawn at most about
# 4 times a second, erased before the summary lines, cut to the terminal's
# width; not shown with -q or --json.
. "$(dirname "$0")/lib.sh"

command -v script >/dev/null 2>&1 || skip "script(1) is not installed"

SIZE=$((64 * 1024 * 1024))
mkfile "$T/src/tty.bin" "$SIZE"
mkfile "$T/src/notty.bin" "$SIZE"

start_daemon

# run_bounded SECONDS OUT CMD...: run CMD with stdout and stderr to OUT,
# stdin from /dev/null; fail if it runs longer than SECONDS; sets RC.
run_bounded() {
	local secs=$1 out=$2 pid i
	shift 2
	"$@" >"$out" 2>&1 </dev/null &
	pid=$!
	BGPIDS+=("$pid")
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "$1 still running after $secs s"
	fi
	RC=0
	wait "$pid" || RC=$?
}

note "stderr is a terminal"
cmd=$(printf '%q ' "$ZCSEND" "$T/src/tty.bin" "127.0.0.1:$PORT")
run_bounded 60 "$T/tty.raw" script -qefc "$cmd" /dev/null
# Lines on a terminal end in CR LF and the progress line is rewritten in
# place after a CR and an erase-line sequence: split at every CR and drop
# the erase sequences.
tr '\r' '\n' <"$T/tty.raw" | sed 's/\x1b\[K//g' | grep -v '^$' >"$T/tty.out" ||
    true
prefix 'zcsend on a tty: ' "$T/tty.out" >&2
[ "$RC" -eq 0 ] || fail "zcsend under script(1) exited $RC"
grep -qE '^tty\.bin  .+ / .+  [0-9]+\.[0-9]{2} Gbit/s  ETA [0-9]+:[0-9]{2}$' \
    "$T/tty.out" || fail "no progress line with Gbit/s and ETA on the terminal"
check_summary "$T/tty.out" tty.bin "$SIZE" >/dev/null
same "$T/src/tty.bin" "$T/dest/tty.bin"
check_landed tty.bin "$SIZE" >/dev/null

# tty_lines RAW OUT: the lines a terminal shows from RAW, as above.
tty_lines() {
	tr '\r' '\n' <"$1" | sed 's/\x1b\[K//g' | grep -v '^$' >"$2" || true
}

note "whole run on a terminal: three files, one line"
PART=$((48 * 1024 * 1024))
for i in 1 2 3; do
	mkfile "$T/src/run$i.bin" "$PART"
done
cmd=$(printf '%q ' "$ZCSEND" "$T/src/run1.bin" "$T/src/run2.bin" \
    "$T/src/run3.bin" "127.0.0.1:$PORT")
t0=$(date +%s%N)
run_bounded 120 "$T/run.raw" script -qefc "$cmd" /dev/null
t1=$(date +%s%N)
tty_lines "$T/run.raw" "$T/run.out"
prefix 'zcsend run on a tty: ' "$T/run.out" >&2
[ "$RC" -eq 0 ] || fail "zcsend of three files under script(1) exited $RC"
for i in 1 2 3; do
	check_summary "$T/run.out" "run$i.bin" "$PART" >/dev/null
	same "$T/src/run$i.bin" "$T/dest/run$i.bin"
done
RUN_RE='^run([123])\.bin  ([0-3])/3 files  ([0-9.]+ [KMG]?i?B) / 144\.0 MiB  [0-9]+\.[0-9]{2} Gbit/s  ETA [0-9]+:[0-9]{2}(:[0-9]{2})?$'
grep -E '  [0-9]+/[0-9]+ files  ' "$T/run.out" >"$T/run.progress" || true
[ -s "$T/run.progress" ] || fail "no whole-run progress line"
bad=$(grep -vE "$RUN_RE" "$T/run.progress" || true)
[ -z "$bad" ] || fail "progress lines not of the whole run (144.0 MiB): $bad"
# While runN.bin is sent, at most N-1 files are done (protocol version 2
# pipelines: a file's RESULT may come after the next file has started),
# files done never go back, nor do bytes done.
sed -E "s#$RUN_RE#\1 \2 \3#" "$T/run.progress" | awk '
	{ v = $3; u = $4
	  m = u == "KiB" ? 1024 : u == "MiB" ? 1048576 : u == "GiB" ? 1073741824 : 1
	  if ($2 > $1 - 1) { print "file " $1 " shown with " $2 " done"; bad = 1 }
	  if ($2 < lastdone) { print "files done went back: " $2; bad = 1 }
	  lastdone = $2
	  if (v * m < last) { print "bytes done went back: " v " " u; bad = 1 }
	  last = v * m }
	END { exit bad }' >&2 || fail "inconsistent whole-run progress lines"
# Drawn at most about 4 times a second.
draws=$(LC_ALL=C grep -oaP '\r\x1b\[K[^\r\n]' "$T/run.raw" | wc -l)
limit=$(( (t1 - t0) * 4 / 1000000000 + 3 ))
note "$draws progress draws in $(( (t1 - t0) / 1000000 )) ms"
[ "$draws" -le "$limit" ] || fail "$draws progress draws, at most $limit expected"

note "a long name is cut to the terminal's width"
LONG=$(printf 'l%.0s' {1..100}).bin
mkfile "$T/src/$LONG" "$SIZE"
cmd="stty cols 60; $(printf '%q ' "$ZCSEND" "$T/src/$LONG" "127.0.0.1:$PORT")"
run_bounded 60 "$T/long.raw" script -qefc "$cmd" /dev/null
tty_lines "$T/long.raw" "$T/long.out"
prefix 'zcsend long name on a tty: ' "$T/long.out" >&2
[ "$RC" -eq 0 ] || fail "zcsend of a long name under script(1) exited $RC"
check_summary "$T/long.out" "$LONG" "$SIZE" >/dev/null
grep -E '  0/1 files  ' "$T/long.out" >"$T/long.progress" || true
[ -s "$T/long.progress" ] || fail "no progress line for the long name"
grep -qE '^l+  0/1 files  .+ / 64\.0 MiB  [0-9]+\.[0-9]{2} Gbit/s  ETA [0-9]+:[0-9]{2}$' \
    "$T/long.progress" || fail "no progress line with a shortened name"
awk 'length($0) >= 60 { print "too wide: " $0; bad = 1 } END { exit bad }' \
    "$T/long.progress" >&2 || fail "progress line wider than the terminal"

note "no progress line with -q or --json"
for o in -q --json; do
	mkfile "$T/src/q$o.bin" "$SIZE"
	cmd=$(printf '%q ' "$ZCSEND" "$o" "$T/src/q$o.bin" "127.0.0.1:$PORT")
	run_bounded 60 "$T/q.raw" script -qefc "$cmd" /dev/null
	prefix "zcsend $o on a tty: " "$T/q.raw" >&2
	[ "$RC" -eq 0 ] || fail "zcsend $o under script(1) exited $RC"
	! grep -q 'ETA' "$T/q.raw" || fail "progress line with $o"
	same "$T/src/q$o.bin" "$T/dest/q$o.bin"
	check_landed "q$o.bin" "$SIZE" >/dev/null
done

note "stderr is a file"
rc=0
"$ZCSEND" "$T/src/notty.bin" "127.0.0.1:$PORT" >"$T/send.out" \
    2>"$T/send.err" </dev/null || rc=$?
prefix 'zcsend stdout: ' "$T/send.out" >&2
prefix 'zcsend stderr: ' "$T/send.err" >&2
[ "$rc" -eq 0 ] || fail "zcsend without a terminal exited $rc"
! grep -q 'ETA' "$T/send.err" "$T/send.out" ||
    fail "progress line printed although stderr is not a terminal"
! grep -q $'\r' "$T/send.err" "$T/send.out" ||
    fail "carriage return in zcsend output although stderr is not a terminal"
[ ! -s "$T/send.err" ] || fail "zcsend wrote to stderr"
check_file notty.bin "$SIZE" >/dev/null

no_staging
stop_daemon
check_daemon_log
check_xfer_log
