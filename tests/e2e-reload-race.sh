#!/bin/bash
# SIGHUP in a stream of transfers: several zcsend loops send many small
# files and some multi-MiB ones, each with content of its own, to two
# destinations (io = auto and io = write), while the test sends SIGHUP
# after SIGHUP with a configuration that cycles through transfer_log = A,
# transfer_log = B and no transfer log.  Whatever the moment a reload
# swaps or drops the transfer log at:
#   - every zcsend exits 0 and every file lands byte-identical (a transfer
#     log line written to a descriptor number that meanwhile became a
#     staging file or a socket would show here);
#   - no staging file is left, and no landed file holds a transfer log line;
#   - every line of A and B is one JSON object for a file that was sent,
#     result ok, and no file is logged twice;
#   - the daemon logs nothing but the reloads and the files (no "transfer
#     log write" error);
# and then, reloading one at a time: a file sent under A is logged in A
# only, under B in B only, and with no transfer log nowhere.
. "$(dirname "$0")/lib.sh"

NSEND=4			# concurrent sender loops
ROUNDS=8		# zcsend runs per loop, one connection each
NSMALL=16		# small files per run
MIB=$((1024 * 1024))
need_space $((256 * MIB))

CONF=$T/zcrecvd.conf
# Even loops send to [default] (io = auto: O_DIRECT where the file system
# has it), odd ones to [w], io = write: a stray line written to a staging
# file fails with EINVAL under O_DIRECT, and lands in the file otherwise.
mkdir "$T/destw"
chown "$DAEMON_USER:" "$T/destw"
DEFAULT_EXTRA=$'\n[w]\npath = '"$T/destw"$'\nio = write'
LOG_A=$T/xlog-a.json
LOG_B=$T/xlog-b.json
# The daemon runs as nobody and cannot create files in $T.
for f in "$LOG_A" "$LOG_B"; do
	: >"$f"
	chown "$DAEMON_USER:" "$f"
done

# The three configurations, as text: CONFS[a], CONFS[b] and CONFS[none].
declare -A CONFS
XLOG=$LOG_A write_config
CONFS[a]=$(<"$CONF")
XLOG=$LOG_B write_config
CONFS[b]=$(<"$CONF")
write_config
CONFS[none]=$(sed '/^transfer_log = /d' "$CONF")
case ${CONFS[none]} in
*transfer_log*) hard_error "no transfer_log line to remove" ;;
esac

# use_conf NAME: put CONFS[NAME] in place, atomically for a reload reading
# it, with one process (the reload loop below wants to be quick).
use_conf() {
	printf '%s\n' "${CONFS[$1]}" >"$CONF.tmp"
	mv -f "$CONF.tmp" "$CONF"
}

# Files: $T/src/sS/rR/sSrRkNN, NSMALL small ones of up to 96 KiB cut from
# one random stream per run, one empty one, and in two runs of each loop
# one of 2 to 6 MiB.
note "making the files"
for ((s = 0; s < NSEND; s++)); do
	for ((r = 0; r < ROUNDS; r++)); do
		d=$T/src/s$s/r$r
		mkdir -p "$d"
		piece=$((1 + RANDOM * 3 % (96 * 1024)))
		head -c $((piece * NSMALL - RANDOM % piece)) /dev/urandom |
		    split -b "$piece" -d -a 2 - "$d/s${s}r${r}k"
		: >"$d/s${s}r${r}empty"
		if [ "$r" -eq 2 ] || [ "$r" -eq 5 ]; then
			mkfile "$d/s${s}r${r}big" $((2 * MIB + RANDOM * 128))
		fi
	done
done
NFILES=$(find "$T/src" -type f | wc -l)
note "$NFILES files"

R_CONF=$(re_quote "$CONF")
ALLOW_LOG="^zcrecvd: (SIGHUP: reloading $R_CONF|configuration reloaded)\$"
XLOG=$LOG_A
start_daemon

DESTS=("" /w)

# sender S: ROUNDS zcsend runs, one after the other; failures are written
# to $T/sS.fail, and $T/sS.done marks the end.
sender() {
	local s=$1 r rc
	for ((r = 0; r < ROUNDS; r++)); do
		rc=0
		"$ZCSEND" "$T/src/s$s/r$r"/* "127.0.0.1:$PORT${DESTS[s % 2]}" \
		    >>"$T/s$s.out" 2>>"$T/s$s.err" || rc=$?
		[ "$rc" -eq 0 ] || echo "run $r: zcsend exited $rc" >>"$T/s$s.fail"
	done
	: >"$T/s$s.done"
}

spids=()
for ((s = 0; s < NSEND; s++)); do
	sender "$s" </dev/null &
	spids+=("$!")
	BGPIDS+=("$!")
done
note "$NSEND sender loops started"

# SIGHUP after SIGHUP, cycling the configurations, until every loop is
# done (bounded: 90 s).
CYCLE=(a b none)
nhup=0
while :; do
	ndone=0
	for ((s = 0; s < NSEND; s++)); do
		[ ! -e "$T/s$s.done" ] || ndone=$((ndone + 1))
	done
	[ "$ndone" -lt "$NSEND" ] || break
	[ "$SECONDS" -lt 90 ] || fail "sender loops still running after 90 s"
	kill -0 "$DPID" || fail "daemon died during the reloads"
	use_conf "${CYCLE[nhup % 3]}"
	kill -HUP "$DPID"
	nhup=$((nhup + 1))
done
for p in "${spids[@]}"; do
	wait "$p" || fail "a sender loop failed"
done
note "$nhup SIGHUPs sent during the stream"
daemon_alive || fail "daemon died during the reloads"

# reloads_done: how many reloads the daemon has finished.
reloads_done() {
	grep -cx 'zcrecvd: configuration reloaded' "$DLOG" || true
}

# Wait until the daemon has dealt with every SIGHUP sent so far: as many
# reloads finished as started, twice in a row 0.1 s apart (bounded: 10 s).
quiet=0
for ((i = 0; i < 100 && quiet < 2; i++)); do
	started=$(grep -cx "zcrecvd: SIGHUP: reloading $(re_quote "$CONF")" "$DLOG" ||
	    true)
	if [ "$started" -eq "$(reloads_done)" ]; then
		quiet=$((quiet + 1))
	else
		quiet=0
	fi
	sleep 0.1
done
[ "$quiet" -ge 2 ] || fail "the daemon is still reloading 10 s after the last SIGHUP"
note "$(reloads_done) reloads done during the stream"

# sync_reload NAME: reload with CONFS[NAME], wait for it to be done.
sync_reload() {
	local n i
	use_conf "$1"
	n=$(reloads_done)
	kill -HUP "$DPID"
	for ((i = 0; i < 100; i++)); do
		[ "$(reloads_done)" -le "$n" ] || return 0
		daemon_alive || fail "daemon died reloading with CONFS[$1]"
		sleep 0.1
	done
	fail "reload with CONFS[$1] not done within 10 s"
}

# wait_line FILE NAME: wait up to 10 s for a line of FILE with "name":"NAME".
wait_line() {
	local i
	for ((i = 0; i < 100; i++)); do
		! grep -qF "\"name\":\"$2\"" "$1" || return 0
		sleep 0.1
	done
	fail "no line for $2 in $(basename "$1") within 10 s"
}

note "one reload at a time: A, B, none"
mkdir "$T/src/x"
for c in a b none; do
	mkfile "$T/src/x/x-$c" 54321
done
NFILES=$((NFILES + 3))
sync_reload a
send_ok "$T/src/x/x-a"
wait_line "$LOG_A" x-a
sync_reload b
send_ok "$T/src/x/x-b"
wait_line "$LOG_B" x-b
sync_reload none
send_ok "$T/src/x/x-none"
# Its fate in the transfer log is decided just after this line.
for ((i = 0; i < 100; i++)); do
	! grep -q '^zcrecvd: landed x-none ' "$DLOG" || break
	sleep 0.1
done
stop_daemon	# joins the workers: every line is written

note "checking"
fails=$(cat "$T"/s*.fail 2>/dev/null || true)
if [ -n "$fails" ]; then
	for ((s = 0; s < NSEND; s++)); do
		[ ! -e "$T/s$s.fail" ] || prefix "zcsend s$s stderr: " "$T/s$s.err" >&2
	done
	fail "zcsend runs failed: $fails"
fi
# Byte for byte (diff -r compares as cmp does), and nothing else in the
# destinations: no staging file, nothing unexpected.
mkdir "$T/flat" "$T/flatw"
find "$T/src/x" "$T"/src/s*[02468] -type f -exec ln -t "$T/flat" -- {} +
find "$T"/src/s*[13579] -type f -exec ln -t "$T/flatw" -- {} +
[ "$(find "$T/flat" "$T/flatw" -type f | wc -l)" -eq "$NFILES" ] ||
    hard_error "file names made twice"
diff -rq "$T/flat" "$T/dest" >&2 ||
    fail "files landed in [default] differ from the files sent (above)"
diff -rq "$T/flatw" "$T/destw" >&2 ||
    fail "files landed in [w] differ from the files sent (above)"
no_staging
bad=$(grep -rlaF -e '{"time":"' -e '"result":"' "$T/dest" "$T/destw" || true)
[ -z "$bad" ] || fail "transfer log text in landed files: $bad"
check_daemon_log

# Every line of A and B: a JSON object for a file sent, result ok.
: >"$T/names"
for XLOG in "$LOG_A" "$LOG_B"; do
	check_xfer_log
	jq -R -r '(try fromjson catch null) |
	    if type == "object" and (.name | type) == "string" and
	        .result == "ok" then .name else "BAD LINE" end' \
	    "$XLOG" >"$T/names.one" || fail "jq failed on $(basename "$XLOG")"
	[ "$(wc -l <"$T/names.one")" -eq "$(wc -l <"$XLOG")" ] ||
	    fail "jq read $(wc -l <"$T/names.one") of $(wc -l <"$XLOG") lines of $(basename "$XLOG")"
	grep -n 'BAD LINE' "$T/names.one" >&2 &&
	    fail "lines of $(basename "$XLOG") that are not one JSON object for a landed file"
	note "$(basename "$XLOG"): $(wc -l <"$XLOG") lines"
	cat "$T/names.one" >>"$T/names"
done
dup=$(sort "$T/names" | uniq -d)
[ -z "$dup" ] || fail "files logged more than once: $dup"
find "$T/src" -type f -printf '%f\n' | sort >"$T/sent"
bad=$(sort "$T/names" | comm -23 - "$T/sent")
[ -z "$bad" ] || fail "transfer log lines for files that were not sent: $bad"
grep -qF '"name":"x-a"' "$LOG_A" && ! grep -qF '"name":"x-a"' "$LOG_B" ||
    fail "x-a, sent with transfer_log = A, not logged in A alone"
grep -qF '"name":"x-b"' "$LOG_B" && ! grep -qF '"name":"x-b"' "$LOG_A" ||
    fail "x-b, sent with transfer_log = B, not logged in B alone"
! grep -qF '"name":"x-none"' "$LOG_A" "$LOG_B" ||
    fail "x-none, sent with no transfer log, was logged"
