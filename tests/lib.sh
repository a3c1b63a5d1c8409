# lib.sh -- sourced by every zcrecvd integration test.
#
# The harness sets ZCRECVD, ZCSEND, ZCPEER (absolute paths of the built
# programs), SRCDIR and BUILDDIR.  Exit status: 0 pass, 1 fail, 77 skip,
# 99 hard error (the harness itself is broken).
#
# A test sets SERVER_EXTRA / DEFAULT_EXTRA (lines added to [server] and
# [default]) before start_daemon, and ALLOW_LOG (an extended regex) for the
# daemon log lines it expects besides "listening on" and "landed".
# DAEMON_ENV (an array of NAME=VALUE words) is the environment added for the
# daemon alone, e.g. NOTIFY_SOCKET for a test that plays systemd.
# DAEMON_LISTEN is the config's listen address (default 127.0.0.1:0, a port
# the kernel picks; start_daemon needs an IPv4 one, PORT is its port).
#
# Nothing here needs more than bash, coreutils, grep, sed and awk.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "ERROR: $0: run the tests with bash, not sh" >&2
	exit 99
fi
set -euo pipefail
shopt -s inherit_errexit

# Plain "zcrecvd: " log lines and no inherited systemd hand-over, whatever
# environment the tests are run from.
unset JOURNAL_STREAM NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES \
    WATCHDOG_USEC WATCHDOG_PID

TEST_NAME=$(basename "$0" .sh)

# Print a message and fail the test.
fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

# Skip the test with a reason.
skip() {
	echo "SKIP: $TEST_NAME: $*" >&2
	exit 77
}

# A long system test (a container, whole trees of the system, kills and
# restarts): check.sh runs it in its gcc and sanitizer suites and skips it
# in make distcheck (ZC_SKIP_HEAVY=1), whose point is that the release
# tarball builds and passes the suite.
heavy() {
	[ -z "${ZC_SKIP_HEAVY:-}" ] ||
	    skip "long system test, run by check.sh outside distcheck"
}

# The harness itself is broken.
hard_error() {
	echo "ERROR: $TEST_NAME: $*" >&2
	exit 99
}

# Progress note for the test's .log file.
note() {
	echo "# $*" >&2
}

# prefix TEXT [FILE]: copy FILE (or stdin) to stdout, TEXT before each line.
prefix() {
	P=$1 awk '{ print ENVIRON["P"] $0 }' "${2:--}"
}

for _v in ZCRECVD ZCSEND; do
	[ -n "${!_v:-}" ] || hard_error "$_v is not set"
	[ -x "${!_v}" ] || hard_error "$_v=${!_v} is not executable"
done
unset _v

# Tests that speak the raw protocol call this first.
need_zcpeer() {
	[ -n "${ZCPEER:-}" ] || hard_error "ZCPEER is not set"
	[ -x "$ZCPEER" ] || hard_error "ZCPEER=$ZCPEER is not executable"
}

# --- temp dir and cleanup -------------------------------------------------

# The destination must be on a disk filesystem (O_DIRECT, statx
# STATX_DIOALIGN), so never tmpfs; fall back to the build tree if TMPDIR is.
_base=${TMPDIR:-/tmp}
case $(stat -f -c %T "$_base" 2>/dev/null || echo unknown) in
tmpfs|ramfs|unknown)
	_base=${BUILDDIR:-.}
	;;
esac
T=$(mktemp -d "$_base/zcrecvd-test.XXXXXX") ||
    hard_error "cannot make a temp dir in $_base"
unset _base
case $T in
*/zcrecvd-test.??????) ;;
*) hard_error "unexpected temp dir '$T'" ;;
esac
mkdir "$T/dest" "$T/src" "$T/cwd"
DEST_FSTYPE=$(stat -f -c %T "$T/dest")
# The daemon runs as nobody, as a deployment runs it unprivileged: the
# destination and the transfer log are nobody's, and $T can be traversed
# (a reload opens the paths again after the privilege drop).
DAEMON_USER=${DAEMON_USER:-nobody}
chmod 755 "$T"
chown "$DAEMON_USER:" "$T/dest"
: >"$T/xfer.log"
chown "$DAEMON_USER:" "$T/xfer.log"

# The rate (zcsend --limit-rate) of a test that asserts how much payload
# maps: a receiver that falls behind its sender meets the edge of the
# window, where the kernel cuts segments off the page grid (a window probe
# carries what the window allows), and what follows cannot be mapped
# until a segment is on the grid again.  On a machine busy with other
# tests, under ASan, that cost 3% of a 1 GiB stream (rx_map copies it).
# Paced below what the receiver keeps up with, the tests see the framing
# they are about: nothing was copied in 10 runs of that stream with two
# busy loops beside it on two cores.
MAP_PACE=128M

DPID=				# running daemon
DAEMON_N=0			# daemons started so far
DLOG=				# current daemon's stderr
BGPIDS=()			# other background processes to kill
DAEMON_ENV=()			# NAME=VALUE words for the daemon only
SERVER_EXTRA=${SERVER_EXTRA:-}
DEFAULT_EXTRA=${DEFAULT_EXTRA:-}
DAEMON_LISTEN=${DAEMON_LISTEN:-127.0.0.1:0}
ALLOW_LOG=${ALLOW_LOG:-}
XLOG=$T/xfer.log

# True if PID is a live (not zombie) process.
alive() {
	local state
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

# Kill a process: TERM, up to 5 s, then KILL.
_kill_wait() {
	local pid=$1 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

_cleanup() {
	local rc=$? f p
	set +e
	for p in "${BGPIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	if [ -n "$DPID" ]; then
		_kill_wait "$DPID"
		wait "$DPID" 2>/dev/null
	fi
	wait 2>/dev/null
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for f in "$T"/daemon.*.log "$XLOG"; do
			[ -s "$f" ] || continue
			echo "--- last lines of $f:" >&2
			tail -n 40 "$f" >&2
		done
	fi
	# $T was checked above to be a zcrecvd-test.XXXXXX directory.
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "# kept $T" >&2
	elif [ -n "$T" ] && [ -d "$T" ]; then
		rm -rf -- "$T"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- daemon ---------------------------------------------------------------

# Write the daemon config to $T/zcrecvd.conf.  Extra [server] lines come
# from SERVER_EXTRA and the arguments, extra [default] lines from
# DEFAULT_EXTRA.
write_config() {
	local l
	{
		echo "[server]"
		echo "listen = $DAEMON_LISTEN"
		echo "transfer_log = $XLOG"
		case $SERVER_EXTRA in
		*"user ="*) ;;
		*) echo "user = $DAEMON_USER" ;;
		esac
		[ -z "$SERVER_EXTRA" ] || printf '%s\n' "$SERVER_EXTRA"
		for l in "$@"; do
			printf '%s\n' "$l"
		done
		echo
		echo "[default]"
		echo "path = $T/dest"
		[ -z "$DEFAULT_EXTRA" ] || printf '%s\n' "$DEFAULT_EXTRA"
	} >"$T/zcrecvd.conf"
}

# Start zcrecvd in the background and wait for its listening line; sets
# DPID, DLOG and PORT.
start_daemon() {
	local i
	[ -z "$DPID" ] || fail "start_daemon: a daemon is already running"
	write_config "$@"
	DAEMON_N=$((DAEMON_N + 1))
	DLOG=$T/daemon.$DAEMON_N.log
	: >"$DLOG"	# exists before the background shell opens it
	# Started from an empty directory of its own, so that anything the
	# daemon wrongly resolves against its cwd shows up in $T/cwd.
	(cd "$T/cwd" &&
	    exec env ${DAEMON_ENV[@]+"${DAEMON_ENV[@]}"} "$ZCRECVD" \
	    -f "$T/zcrecvd.conf") \
	    >"$T/daemon.$DAEMON_N.out" 2>"$DLOG" </dev/null &
	DPID=$!
	PORT=
	local host=${DAEMON_LISTEN%:*}
	host=${host//./\\.}
	for ((i = 0; i < 100; i++)); do
		PORT=$(sed -nE \
		    "s/^zcrecvd: listening on $host:([0-9]+)( .*)?\$/\\1/p" \
		    "$DLOG" | head -n 1) || true
		[ -z "$PORT" ] || break
		alive "$DPID" || break
		sleep 0.1
	done
	if [ -z "$PORT" ]; then
		cat "$DLOG" >&2
		if alive "$DPID"; then
			fail "daemon did not log 'listening on' within 10 s"
		fi
		local rc=0
		wait "$DPID" || rc=$?
		DPID=
		fail "daemon exited with status $rc at start-up"
	fi
	[ "$PORT" -gt 0 ] || fail "daemon listens on port $PORT"
	note "daemon $DAEMON_N pid $DPID on ${DAEMON_LISTEN%:*}:$PORT"
}

# True while the daemon is running.
daemon_alive() {
	[ -n "$DPID" ] && alive "$DPID"
}

# SIGTERM the daemon, wait up to 10 s, insist on exit status 0.
stop_daemon() {
	local i rc=0
	[ -n "$DPID" ] || fail "stop_daemon: no daemon running"
	alive "$DPID" || {
		wait "$DPID" || rc=$?
		DPID=
		fail "daemon died before stop_daemon (status $rc)"
	}
	kill -TERM "$DPID"
	for ((i = 0; i < 100; i++)); do
		alive "$DPID" || break
		sleep 0.1
	done
	if alive "$DPID"; then
		kill -KILL "$DPID" 2>/dev/null || true
		wait "$DPID" 2>/dev/null || true
		DPID=
		fail "daemon still running 10 s after SIGTERM"
	fi
	wait "$DPID" || rc=$?
	DPID=
	[ "$rc" -eq 0 ] || fail "daemon exited with status $rc after SIGTERM"
}

# Lines a daemon may always log: listeners, landed files, and its own
# start and stop.
BASE_ALLOW_LOG='^zcrecvd: (listening on 127\.0\.0\.1:[0-9]+ |landed |[^ ]+: map [0-9]+ us/MB, copy [0-9]+ us/MB: (mapping|copying)$|zcrecvd [0-9][^ ]* (starting|started|ready)(, [0-9]+ workers?)?$|running as uid [0-9]+ gid [0-9]+, no capabilities$|stopped$|([A-Za-z ]+: )?(shutting down|exiting|stopping)( |$))'

# Fail if any daemon log holds a line that is neither always allowed nor
# matches ALLOW_LOG, or any sanitizer report.
check_daemon_log() {
	local f bad
	for f in "$T"/daemon.*.log; do
		[ -e "$f" ] || continue
		if grep -nE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$f" >&2; then
			fail "sanitizer report in $(basename "$f")"
		fi
		bad=$(grep -vE "$BASE_ALLOW_LOG" "$f" |
		    { if [ -n "$ALLOW_LOG" ]; then grep -vE "$ALLOW_LOG"; else cat; fi; } ||
		    true)
		if [ -n "$bad" ]; then
			printf '%s\n' "$bad" | prefix 'unexpected: ' >&2
			fail "unexpected lines in $(basename "$f")"
		fi
	done
}

# --- systemd notify socket -----------------------------------------------

# start_sdlisten PATH OUT [SECONDS]: listen on the datagram socket PATH in
# the background for SECONDS (default 120) with the sdlisten helper, one
# line per message in OUT; returns once the socket exists.  Sets SDPID.
start_sdlisten() {
	local i
	[ -n "${SDLISTEN:-}" ] || hard_error "SDLISTEN is not set"
	[ -x "$SDLISTEN" ] || hard_error "SDLISTEN=$SDLISTEN is not executable"
	"$SDLISTEN" "$1" "${3:-120}" >"$2" 2>"$2.err" </dev/null &
	SDPID=$!
	BGPIDS+=("$SDPID")
	for ((i = 0; i < 100; i++)); do
		[ -S "$1" ] && return 0
		alive "$SDPID" || break
		sleep 0.1
	done
	cat "$2.err" >&2
	hard_error "sdlisten did not bind $1 within 10 s"
}

# wait_notify OUT REGEX [COUNT]: wait up to 10 s until COUNT (default 1)
# lines of OUT match REGEX.
wait_notify() {
	local n=${3:-1} i
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cE -- "$2" "$1" || true)" -lt "$n" ] || return 0
		sleep 0.1
	done
	prefix 'notify: ' "$1" >&2
	fail "no notify message matching '$2' (want $n) within 10 s"
}

# --- files ----------------------------------------------------------------

# mkfile PATH SIZE: SIZE random bytes.
mkfile() {
	head -c "$2" /dev/urandom >"$1"
	[ "$(stat -c %s "$1")" -eq "$2" ] || hard_error "mkfile $1 $2"
}

# same PATH1 PATH2: byte-identical, or fail.
same() {
	[ -f "$2" ] || fail "$2 does not exist"
	cmp -- "$1" "$2" >&2 || fail "$2 differs from $1"
}

# Skip unless the temp dir's filesystem has BYTES free.
need_space() {
	local avail
	avail=$(df -P -B1 "$T" | awk 'NR == 2 { print $4 }')
	[ "$avail" -ge "$1" ] || skip "need $1 bytes free in $T, have $avail"
}

# Staging files left in the destination (prints them).
staging_files() {
	find "$T/dest" -maxdepth 1 -name '.zcrecvd.*' -print
}

# Fail if a staging file is left in the destination.
no_staging() {
	local left
	left=$(staging_files)
	[ -z "$left" ] || fail "staging files left in dest: $left"
}

# --- a sender frozen mid-file ----------------------------------------------

# freeze_mid_file SPID NAME OUT: wait until payload of file NAME, sent by
# the zcsend SPID (its output in $T/OUT.out and .err), reaches a staging
# file in $T/dest, then stop the sender (SIGSTOP), so that the file cannot
# be finished.  Skips if the whole file landed first.  Sets STAGED to the
# staging file.
freeze_mid_file() {
	local spid=$1 name=$2 out=$3 i
	STAGED=
	for ((i = 0; i < 1000; i++)); do
		STAGED=$(find "$T/dest" -maxdepth 1 -name '.zcrecvd.*.part' \
		    -size +0 -print -quit)
		[ -z "$STAGED" ] || break
		alive "$spid" || break
		sleep 0.01
	done
	kill -STOP "$spid" 2>/dev/null || true
	if [ -z "$STAGED" ] || [ -e "$T/dest/$name" ] || ! alive "$spid"; then
		cat "$T/$out.out" "$T/$out.err" >&2
		[ ! -e "$T/dest/$name" ] ||
		    skip "the whole file landed before the sender could be stopped"
		fail "no staging file with data appeared while zcsend was sending"
	fi
}

# resume_sender SPID OUT MESSAGE: wake the stopped zcsend SPID (its output
# in $T/OUT.out and .err) and wait up to 30 s for it to exit; if it does
# not, kill it and fail with MESSAGE.  Shows its output; sets SEND_RC to
# its exit status.
resume_sender() {
	local spid=$1 name=$2 i
	kill -CONT "$spid"
	for ((i = 0; i < 300; i++)); do
		alive "$spid" || break
		sleep 0.1
	done
	if alive "$spid"; then
		kill -KILL "$spid" 2>/dev/null || true
		fail "$3"
	fi
	SEND_RC=0
	wait "$spid" || SEND_RC=$?
	prefix "zcsend $name stdout: " "$T/$name.out" >&2
	prefix "zcsend $name stderr: " "$T/$name.err" >&2
}

# --- a file system that fills up -----------------------------------------

# fill_during LABEL DIR DEST NAME SIZE: send a file NAME of SIZE bytes to
# destination DEST, whose directory DIR is a small file system of its own;
# zcsend is stopped the moment its staging file appears in DIR (hostile
# stop-on-staging), the file system is filled (DIR/filler), and zcsend goes
# on.  It must exit 4 "(nospace)", the transfer log must say nospace, and
# the daemon must remove its staging file (DIR then holds the filler
# only).  Sets FILL_LINE to the transfer log line.  Needs HOSTILE.
fill_during() {
	local label=$1 dir=$2 dest=$3 name=$4 size=$5 spid wpid rc i staged avail
	mkfile "$T/src/$name" "$size"
	# zcsend starts stopped, so that the watcher knows its pid before it
	# runs.
	(kill -STOP "$BASHPID" && exec "$ZCSEND" -t 10 "$T/src/$name" \
	    "127.0.0.1:$PORT/$dest") >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	spid=$!
	BGPIDS+=("$spid")
	"$HOSTILE" stop-on-staging "$dir" "$spid" >"$T/watch.out" \
	    2>"$T/watch.err" &
	wpid=$!
	BGPIDS+=("$wpid")
	for ((i = 0; i < 100; i++)); do
		grep -qx WATCHING "$T/watch.out" && break
		sleep 0.1
	done
	grep -qx WATCHING "$T/watch.out" || fail "$label the watcher did not start"
	for ((i = 0; i < 100; i++)); do
		[ "$(awk '{ print $3 }' "/proc/$spid/stat")" = T ] && break
		sleep 0.01
	done
	kill -CONT "$spid"
	rc=0
	wait "$wpid" || rc=$?
	prefix 'watcher: ' "$T/watch.out" >&2
	[ "$rc" -eq 0 ] && grep -q '^STOPPED \.zcrecvd\.' "$T/watch.out" ||
	    fail "$label zcsend was not stopped when its staging file appeared"
	staged=$(find "$dir" -maxdepth 1 -name '.zcrecvd.*.part' -print)
	[ -n "$staged" ] || fail "$label no staging file in $dest"
	note "$label zcsend stopped; staging file $(basename "$staged"), $(stat -c %s "$staged") bytes"
	# Fill the file system as root: big blocks, then what is left.
	dd if=/dev/zero of="$dir/filler" bs=64k status=none 2>/dev/null || true
	dd if=/dev/zero of="$dir/filler" bs=4k oflag=append conv=notrunc \
	    status=none 2>/dev/null || true
	avail=$(df -P -B1 "$dir" | awk 'NR == 2 { print $4 }')
	[ "$avail" -eq 0 ] || fail "$label the file system still has $avail bytes free"
	resume_sender "$spid" "$name" \
	    "$label zcsend -t 10 still running 30 s after the disk filled"
	[ "$SEND_RC" -eq 4 ] || fail "$label zcsend exited $SEND_RC, expected 4"
	grep -qE "^zcsend: $name: rejected by receiver \(nospace\): " "$T/$name.err" ||
	    fail "$label zcsend stderr lacks '$name: rejected by receiver (nospace)'"
	FILL_LINE=$(wait_xfer "$name")
	[ "$(field "$FILL_LINE" result)" = nospace ] ||
	    fail "$label result not nospace: $FILL_LINE"
	# The daemon removes its staging file (bounded wait) and lands nothing.
	for ((i = 0; i < 100; i++)); do
		[ "$(find "$dir" -mindepth 1 -printf '%P\n')" = filler ] && break
		sleep 0.1
	done
	[ "$(find "$dir" -mindepth 1 -printf '%P\n')" = filler ] ||
	    fail "$label $dest holds $(find "$dir" -mindepth 1 -printf '%P ')besides the filler"
}

# --- transfer log ---------------------------------------------------------

# json_field LINE KEY: print the value of KEY (a string without its quotes,
# or a number), or fail with status 1 if absent.  Escapes are left as they
# are.
json_field() {
	local v
	v=$(printf '%s\n' "$1" | sed -nE \
	    's/^.*[{,][[:space:]]*"'"$2"'"[[:space:]]*:[[:space:]]*("([^"\\]|\\.)*"|[^,}[:space:]]+).*$/\1/p')
	[ -n "$v" ] || return 1
	case $v in
	\"*\") v=${v#\"}; v=${v%\"} ;;
	esac
	printf '%s\n' "$v"
}

# xfer_lines NAME: the transfer log lines for file NAME (a name that needs
# no JSON escaping).
xfer_lines() {
	[ -f "$XLOG" ] || return 0
	grep -E "\"name\"[[:space:]]*:[[:space:]]*\"$(re_quote "$1")\"" "$XLOG" || true
}

# wait_xfer NAME [COUNT]: wait up to 10 s until the transfer log has COUNT
# (default 1) lines for NAME, then print the last one.  The daemon may
# write the line just after it answers the sender.
wait_xfer() {
	local n=${2:-1} i
	for ((i = 0; i < 100; i++)); do
		[ "$(xfer_lines "$1" | wc -l)" -lt "$n" ] || break
		sleep 0.1
	done
	[ "$(xfer_lines "$1" | wc -l)" -ge "$n" ] ||
	    fail "no transfer log line (want $n) for '$1' within 10 s"
	xfer_lines "$1" | tail -n 1
}

# field LINE KEY: like json_field, but fail the test if KEY is missing.
field() {
	json_field "$1" "$2" || fail "no \"$2\" in transfer log line: $1"
}

# Every transfer log line must be one JSON object.
check_xfer_log() {
	local bad
	[ -f "$XLOG" ] || return 0
	bad=$(grep -vnE '^\{".*\}$' "$XLOG" || true)
	[ -z "$bad" ] || fail "transfer log lines that are not JSON objects: $bad"
	iconv -f UTF-8 -t UTF-8 "$XLOG" >/dev/null ||
	    fail "the transfer log is not valid UTF-8"
	jq -e 'type == "object"' "$XLOG" >/dev/null ||
	    fail "the transfer log does not parse as JSON (jq)"
}

# check_landed NAME SIZE: exactly one transfer log line for NAME, result
# ok, size and bytes SIZE; prints the line.
check_landed() {
	local line n
	line=$(wait_xfer "$1")
	n=$(xfer_lines "$1" | wc -l)
	[ "$n" -eq 1 ] || fail "$n transfer log lines for $1, expected 1"
	[ "$(field "$line" result)" = ok ] || fail "$1: result not ok: $line"
	[ "$(field "$line" size)" = "$2" ] || fail "$1: size not $2: $line"
	[ "$(field "$line" bytes)" = "$2" ] || fail "$1: bytes not $2: $line"
	printf '%s\n' "$line"
}

# --- an older receiver ---------------------------------------------------

# A port below the ephemeral range that nothing listens on.
pick_port() {
	local lo p i
	lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range)
	[ "$lo" -gt 12000 ] || lo=32768
	for ((i = 0; i < 50; i++)); do
		p=$((10000 + RANDOM % (lo - 10000)))
		[ -n "$(ss -Htln "( sport = :$p )")" ] || { echo "$p"; return 0; }
	done
	hard_error "no free port found in 50 tries"
}

# relay_listen CMD [ARGS...]: start CMD in the background (stderr in
# $T/relay.log), "@PORT@" in its arguments replaced by a free port, until
# it listens there (10 ports tried); sets RPORT and RPID.
relay_listen() {
	local p i try a args
	RPORT= RPID=
	for ((try = 0; try < 10; try++)); do
		p=$(pick_port)
		args=()
		for a in "$@"; do
			args+=("${a//@PORT@/$p}")
		done
		"${args[@]}" >/dev/null 2>"$T/relay.log" </dev/null &
		RPID=$!
		BGPIDS+=("$RPID")
		for ((i = 0; i < 100; i++)); do
			[ -z "$(ss -Htln "( sport = :$p )")" ] || break
			alive "$RPID" || break
			sleep 0.1
		done
		if alive "$RPID" && [ -n "$(ss -Htln "( sport = :$p )")" ]; then
			RPORT=$p
			return 0
		fi
		kill "$RPID" 2>/dev/null || true
	done
	hard_error "$1 could not listen"
}

# old_receiver MAX: a receiver that speaks protocol versions 1 to MAX only
# (an older zcrecvd) in front of the running daemon.  It is a relay run by
# systemd-socket-activate (--inetd, one per connection): it reads the
# sender's HELLO (32 bytes), notes the version proposed in
# $T/relay/versions, answers a version above MAX with ERROR version itself
# and passes any other conversation on to the daemon.  Sets RPORT.
old_receiver() {
	local max=$1 speaks="1 to $1"
	command -v systemd-socket-activate >/dev/null 2>&1 ||
	    skip "systemd-socket-activate is not installed"
	command -v ss >/dev/null 2>&1 || skip "ss (iproute2) is not installed"
	command -v od >/dev/null 2>&1 || skip "od is not installed"
	[ "$max" -ne 1 ] || speaks=1
	[ "$max" -ne 2 ] || speaks="1 and 2"
	cat >"$T/relay.sh" <<'EOS'
hello=$(mktemp "$RELAYDIR/hello.XXXXXX") || exit 1
dd bs=32 count=1 iflag=fullblock of="$hello" status=none
version=$(od -An -tu1 -j20 -N2 "$hello" | awk '{ print $1 * 256 + $2 }')
echo "$version" >>"$RELAYDIR/versions"
if [ "$version" -gt "$MAXV" ]; then
	rm -f "$hello"
	msg="unsupported protocol version $version (this receiver speaks $SPEAKS)"
	n=${#msg}
	printf "\x00\x07\x00\x00\x00\x00\x00\\x$(printf %02x $((n + 8)))"
	printf '\x00\x00\x00\x00\x00\x00\x00\x00'
	printf "\x00\x02\x00\\x$(printf %02x "$n")\x00\x00\x00\x00%s" "$msg"
	exit 0
fi
exec 3<>"/dev/tcp/127.0.0.1/$REAL" || exit 1
cat "$hello" >&3
rm -f "$hello"
cat <&3 &
back=$!
cat >&3
kill "$back" 2>/dev/null
EOS
	mkdir -p "$T/relay"
	relay_listen systemd-socket-activate -l "127.0.0.1:@PORT@" -a --inetd \
	    -E "REAL=$PORT" -E "RELAYDIR=$T/relay" -E "MAXV=$max" \
	    -E "SPEAKS=$speaks" /bin/bash "$T/relay.sh"
	note "version $max relay on 127.0.0.1:$RPORT, daemon on $PORT"
}

# --- zcsend output --------------------------------------------------------

# Escape a string for use in an extended regex.
re_quote() {
	printf '%s' "$1" | sed 's|[][\.*^$+?(){}]|\\&|g; s/|/\\|/g'
}

# check_summary OUT NAME SIZE: zcsend's stdout OUT has exactly one summary
# line for NAME with SIZE bytes; prints its xxh3 digest.
check_summary() {
	local re n
	re="^$(re_quote "$2"): landed, $3 bytes in [0-9]+\.[0-9]{3} s, [0-9]+\.[0-9]{2} Gbit/s, xxh3 [0-9a-f]{32} verified$"
	n=$(grep -cE "$re" "$1" || true)
	[ "$n" -eq 1 ] || {
		prefix 'zcsend stdout: ' "$1" >&2
		fail "$n zcsend summary lines for $2 ($3 bytes), expected 1"
	}
	grep -E "$re" "$1" | sed -nE 's/.* xxh3 ([0-9a-f]{32}) verified$/\1/p'
}

# check_digest FILE HEX JSONLINE: the transfer log digest is the one zcsend
# printed and, if xxh128sum is installed, XXH3-128 of FILE.
check_digest() {
	local d
	d=$(field "$3" digest)
	[ "$d" = "xxh3:$2" ] ||
	    fail "$(basename "$1"): transfer log digest $d, zcsend printed $2"
	if command -v xxh128sum >/dev/null 2>&1; then
		d=$(xxh128sum <"$1" | awk '{ print $1 }')
		[ "$d" = "$2" ] ||
		    fail "$(basename "$1"): xxh3 $2 is not XXH3-128 $d"
	fi
}

# send_ok FILE...: zcsend the files to the daemon, insist on exit 0; stdout
# in $T/send.out, stderr in $T/send.err.
send_ok() {
	local rc=0
	"$ZCSEND" "$@" "127.0.0.1:$PORT" >"$T/send.out" 2>"$T/send.err" ||
	    rc=$?
	if [ "$rc" -ne 0 ]; then
		prefix 'zcsend stdout: ' "$T/send.out" >&2
		prefix 'zcsend stderr: ' "$T/send.err" >&2
		fail "zcsend $* exited $rc"
	fi
}

# check_file NAME SIZE [IO]: $T/src/NAME landed as $T/dest/NAME: same
# bytes, zcsend summary in $T/send.out, one transfer log line with result
# ok, right size and digest, and io IO if given.  Prints the log line.
check_file() {
	local hex line
	same "$T/src/$1" "$T/dest/$1"
	hex=$(check_summary "$T/send.out" "$1" "$2")
	line=$(check_landed "$1" "$2")
	check_digest "$T/src/$1" "$hex" "$line"
	if [ $# -ge 3 ]; then
		[ "$(field "$line" io)" = "$3" ] ||
		    fail "$1: io $(field "$line" io), expected $3: $line"
	fi
	printf '%s\n' "$line"
}
