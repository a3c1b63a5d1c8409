# tests/hostile-lib.sh -- what the tests that run tests/hostile against a
# daemon share; sourced after lib.sh.  Each attack is followed by
# after_case, which checks that the daemon is the same process, left no
# staging file, changed nothing outside its destinations, holds exactly the
# files that should have landed, and still lands a normal file.
#
# A test may set, before hostile_start:
#   HDESTS	the destination directories under $T (default: dest);
#   OK_ARGS	extra zcsend arguments for that normal file (e.g. --key-file);
# and records what lands in LANDED (names in $T/dest) and LANDED_ELSE
# ("DIR/NAME" in the other destinations).

[ -n "${HOSTILE:-}" ] || hard_error "HOSTILE is not set"
[ -x "$HOSTILE" ] || hard_error "HOSTILE=$HOSTILE is not executable"

mkdir "$T/out" "$T/outside"
echo "not for the network" >"$T/outside/target"

HDESTS=(dest)
OK_ARGS=()
LANDED=()
LANDED_ELSE=()

# What hostile prints for the usual answers.
HELLO='HELLO version 1'
ACCEPT='ACCEPT offset 0'
CLOSED='EOF|RESET'
LANDS='RESULT code ok: landed'

# hplay LABEL ARGS...: run hostile ARGS against the daemon; its output in
# $T/out/LABEL (and shown in the test's log).  It must exit 0.
hplay() {
	local label=$1 rc=0
	shift
	"$HOSTILE" "$@" >"$T/out/$label" 2>"$T/out/$label.err" </dev/null ||
	    rc=$?
	prefix "hostile $label: " "$T/out/$label" >&2
	prefix "hostile $label (stderr): " "$T/out/$label.err" >&2
	[ "$rc" -eq 0 ] || fail "$label: hostile exited $rc"
}

# hrun LABEL ARGS...: hplay, and hostile must finish its case (DONE) with
# no wait timing out.
hrun() {
	local label=$1
	hplay "$@"
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

# Everything the daemon could reach outside its destinations: the temp dir
# (but the destinations, hostile's output and the logs), with sizes, modes
# and times; /etc/x and the parent of the temp dir's x.
outside_state() {
	local d prune=()
	for d in "${HDESTS[@]}"; do
		prune+=(-path "./$d" -o)
	done
	(cd "$T" && find . \( "${prune[@]}" -path ./out -o \
	    -path ./send.out -o -path ./send.err -o \
	    -name 'daemon.*' -o -name xfer.log \) -prune -o \
	    -printf '%p %y %s %m %T@ %l\n') | LC_ALL=C sort
	cksum "$T/outside/target"
	local p
	for p in /etc/x /x "$(dirname "$T")/x"; do
		[ ! -e "$p" ] || echo "exists: $p"
	done
}

# What the destinations hold, and what they should hold, as DIR/NAME.
dest_state() {
	local d
	for d in "${HDESTS[@]}"; do
		find "$T/$d" -mindepth 1 -printf "$d/%P\n"
	done | LC_ALL=C sort
}
expected_dest() {
	{
		[ "${#LANDED[@]}" -eq 0 ] || printf 'dest/%s\n' "${LANDED[@]}"
		[ "${#LANDED_ELSE[@]}" -eq 0 ] || printf '%s\n' "${LANDED_ELSE[@]}"
	} | LC_ALL=C sort
}

# Staging files in any destination.
all_staging() {
	local d
	for d in "${HDESTS[@]}"; do
		find "$T/$d" -maxdepth 1 -name '.zcrecvd.*' -print
	done
}

# Wait up to 10 s for the daemon to drop its staging files.
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

# hostile_start: start the daemon and note what after_case compares with.
hostile_start() {
	start_daemon
	PID0=$DPID
	START0=$(awk '{ print $22 }' "/proc/$DPID/stat")
	H=(127.0.0.1 "$PORT")
	OUTSIDE0=$(outside_state)
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
	send_ok "${OK_ARGS[@]}" "$T/src/ok-$n_ok"
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
