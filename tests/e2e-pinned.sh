#!/bin/bash
# Mapped payload is not held for a sender that stops.  Under io = direct,
# pages mapped out of the socket stay mapped while their O_DIRECT write is
# queued; once the write is done they must be given back, whatever the
# sender does next.  zcsend is stopped (SIGSTOP) once the daemon has
# written 8 MiB of a 512 MiB file: within 10 s no page of the daemon's
# socket mapping is resident, the staging file holds what was written,
# and when the sender goes on, the file lands whole, at least 99% of it
# mapped: what the project promises, not 100%, because the kernel may hand
# over a segment it could not map (a retransmitted or collapsed one) and
# the receiver then copies it.  zcsend runs with -v so that its zero-copy
# counters (sends, completions, chunks sent plainly) are in the test log.
. "$(dirname "$0")/lib.sh"

SIZE=$((512 * 1024 * 1024))
need_space $((2 * SIZE + 64 * 1024 * 1024))
mkfile "$T/src/big" "$SIZE"

# The resident kB of the daemon's socket mappings (sum over all of them).
socket_rss() {
	awk '/ socket:\[/ { s = 1; next } /^[0-9a-f]+-[0-9a-f]+ / { s = 0 }
	    s && $1 == "Rss:" { kb += $2 } END { print kb + 0 }' \
	    "/proc/$DPID/smaps"
}
# Bytes the daemon has written to storage.
written() {
	awk '$1 == "write_bytes:" { print $2 }' "/proc/$DPID/io"
}

DEFAULT_EXTRA="io = direct"
start_daemon

# Paced (lib.sh says why): the mapped share is asserted at the end.
"$ZCSEND" -v -t 60 --limit-rate "$MAP_PACE" "$T/src/big" \
    "127.0.0.1:$PORT" >"$T/send.out" \
    2>"$T/send.err" </dev/null &
spid=$!
BGPIDS+=("$spid")
# Stop the sender once the daemon has written 8 MiB of the file.
for ((i = 0; i < 2000; i++)); do
	[ "$(written)" -lt $((8 * 1024 * 1024)) ] || break
	alive "$spid" || break
	sleep 0.005
done
kill -STOP "$spid" 2>/dev/null || true
[ ! -e "$T/dest/big" ] ||
    skip "the whole file landed before the sender could be stopped"
alive "$spid" || fail "zcsend ended early: $(cat "$T/send.err")"
note "sender stopped with $(written) bytes written by the daemon"

grep -q ' socket:\[' "/proc/$DPID/maps" ||
    fail "the daemon has no socket mapping (not receiving mapped payload?)"
rss=
for ((i = 0; i < 100; i++)); do
	rss=$(socket_rss)
	[ "$rss" -ne 0 ] || break
	sleep 0.1
done
note "socket mapping resident with the sender stopped: $rss kB"
[ "$rss" -eq 0 ] ||
    fail "$rss kB of mapped payload still held 10 s after the sender stopped"

staged=$(staging_files)
[ -n "$staged" ] || fail "no staging file while the file is in flight"
n=$(stat -c %s "$staged")
[ "$n" -ge $((8 * 1024 * 1024)) ] && [ "$n" -lt "$SIZE" ] ||
    fail "staging file is $n bytes, expected 8 MiB or more, less than $SIZE"

kill -CONT "$spid"
rc=0
wait "$spid" || rc=$?
prefix 'zcsend: ' "$T/send.err" >&2
[ "$rc" -eq 0 ] || fail "zcsend exited $rc"
line=$(check_file big "$SIZE" direct)
pct=$(field "$line" zc_pct)
note "big: $pct% mapped, $(field "$line" copied_bytes) bytes copied"
awk -v p="$pct" 'BEGIN { exit !(p >= 99) }' ||
    fail "big: only $pct% mapped, expected 99% or more: $line"
no_staging

stop_daemon
check_daemon_log
check_xfer_log
