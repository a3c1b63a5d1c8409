#!/bin/bash
# io = auto measures both receive paths on a connection and takes the one
# that costs less CPU per byte (judge.c): it maps the first 12 MiB of a
# large file (4 MiB of change-over, then an 8 MiB trial), copies the next
# 12 MiB, logs what each cost and what it picked, and carries the rest on
# that path.  Every change of path happens in the middle of a file and
# lands the same bytes.  ZCRECVD_TEST_JUDGE (tests only) fixes the pick,
# so that both ways are seen whatever this machine measures: map -> copy
# -> map, and map -> copy -> copy.  A connection that cannot be mapped at
# all, and files under 1 MiB, are copied.
. "$(dirname "$0")/lib.sh"

MIB=$((1024 * 1024))
SIZE=$((256 * MIB + 4097))	# not a page multiple: a tail
TRIAL=$((12 * MIB))		# JUDGE_WARM + JUDGE_TRIAL
case $DEST_FSTYPE in
ext2/ext3|xfs|btrfs) ;;
*) skip "destination on $DEST_FSTYPE: not sure O_DIRECT is supported" ;;
esac

mkfile "$T/src/big" "$SIZE"
mkfile "$T/src/small" $((MIB - 1))

# run PICK: send big and small over one connection with the judge's pick
# forced to PICK ("" for none); check what each path carried.
run() {
	local pick=$1 line zc cp logline want name=big-${1:-free}
	DAEMON_ENV=()
	[ -z "$pick" ] || DAEMON_ENV=("ZCRECVD_TEST_JUDGE=$pick")
	cp "$T/src/big" "$T/src/$name"
	cp "$T/src/small" "$T/src/small-$name"
	start_daemon
	send_ok "$T/src/$name" "$T/src/small-$name"
	line=$(check_file "$name" "$SIZE" direct)
	check_file "small-$name" $((MIB - 1)) copy >/dev/null
	zc=$(field "$line" zc_bytes)
	cp=$(field "$line" copied_bytes)
	note "$name: zc_bytes $zc copied_bytes $cp"
	[ $((zc + cp)) -eq "$SIZE" ] ||
	    fail "$name: zc_bytes $zc + copied_bytes $cp != $SIZE"
	# Both paths had their trial.
	[ "$zc" -ge $((TRIAL - 4 * MIB)) ] ||
	    fail "$name: only $zc bytes mapped: no trial of mapping"
	[ "$cp" -ge $((TRIAL - 4 * MIB)) ] ||
	    fail "$name: only $cp bytes copied: no trial of copying"
	logline=$(grep -E 'map [0-9]+ us/MB, copy [0-9]+ us/MB' "$DLOG") ||
	    fail "$name: the daemon did not log what the paths cost"
	[ "$(printf '%s\n' "$logline" | wc -l)" -eq 1 ] ||
	    fail "$name: more than one round of trials in $SIZE bytes"
	case $logline in
	*mapping) want=map ;;
	*copying) want=copy ;;
	esac
	[ -z "$pick" ] || [ "$want" = "$pick" ] ||
	    fail "$name: forced $pick, logged: $logline"
	# The rest went the way picked: all but the trials, a window or
	# burst of slack.
	if [ "$want" = map ]; then
		[ "$zc" -ge $((SIZE - 2 * TRIAL - 8 * MIB)) ] ||
		    fail "$name: picked mapping, but only $zc bytes mapped"
	else
		[ "$cp" -ge $((SIZE - 2 * TRIAL - 8 * MIB)) ] ||
		    fail "$name: picked copying, but only $cp bytes copied"
	fi
	no_staging
	stop_daemon
}

run map
run copy
run ""

# A stream (its size unknown, so large): judged the same way.
note "a stream"
DAEMON_ENV=("ZCRECVD_TEST_JUDGE=map")
start_daemon
"$ZCSEND" - --name stream "127.0.0.1:$PORT" <"$T/src/big" \
    >"$T/send.out" 2>"$T/send.err" || {
	prefix 'zcsend stderr: ' "$T/send.err" >&2
	fail "stream: zcsend exited non-zero"
}
same "$T/src/big" "$T/dest/stream"
line=$(check_landed stream "$SIZE")
zc=$(field "$line" zc_bytes)
cp=$(field "$line" copied_bytes)
[ $((zc + cp)) -eq "$SIZE" ] && [ "$cp" -ge $((TRIAL - 4 * MIB)) ] &&
    [ "$zc" -ge $((SIZE - 2 * TRIAL - 8 * MIB)) ] ||
    fail "stream: zc_bytes $zc copied_bytes $cp: not map, copy, map"
stop_daemon

check_daemon_log
check_xfer_log
