#!/bin/bash
# Hostile records: garbage and truncated records at every state, record
# lengths 0, max, max+1 and 2^32-1, file sizes and DATA offsets up to
# 2^64-1, sizes smaller and larger than what is sent, a wrong digest, and
# every record type where it does not belong.  Each attack runs against the
# same daemon, and after each one:
#   - the expected record (ERROR/RESULT with its code) reached the client,
#   - nothing was written outside the destination,
#   - the destination holds exactly the files that should have landed,
#   - no staging file is left,
#   - the same daemon process still lands a normal file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile-lib.sh"

ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: (protocol error: |peer reports error: )|failed [^ ]+ from 127\.0\.0\.1:[0-9]+: (protocol|aborted|size|digest|nospace): )'

# --- attacks --------------------------------------------------------------

hostile_start
PROTO='ERROR code protocol: .+'

# Garbage at each state.
hrun garbage-at-hello garbage-at-hello "${H[@]}"
expect_lines garbage-at-hello 'ERROR code protocol: unknown record type [0-9]+' \
    "$CLOSED" DONE
after_case garbage-at-hello

hrun garbage-after-hello garbage-after-hello "${H[@]}"
expect_lines garbage-after-hello "$HELLO" \
    'ERROR code protocol: unknown record type [0-9]+' "$CLOSED" DONE
after_case garbage-after-hello

hrun garbage-in-file garbage-in-file "${H[@]}"
expect_lines garbage-in-file "$HELLO" "$ACCEPT" \
    'ERROR code protocol: unknown record type [0-9]+' "$CLOSED" DONE
xfer_result garbage-in-file protocol
after_case garbage-in-file

# Truncated records at each state, then the write side shut: the daemon
# closes without landing anything.
for s in hello hello-body idle idle-body; do
	hrun "truncated-$s" truncated "${H[@]}" "$s"
	case $s in
	hello*) expect_lines "truncated-$s" "$CLOSED" DONE ;;
	*) expect_lines "truncated-$s" "$HELLO" "$CLOSED" DONE ;;
	esac
	after_case "truncated-$s"
done
for s in file payload end; do
	hrun "truncated-$s" truncated "${H[@]}" "$s"
	expect_lines "truncated-$s" "$HELLO" "$ACCEPT" "$CLOSED" DONE
	xfer_result "truncated-$s" aborted
	after_case "truncated-$s"
done
n=$(grep -cE '^zcrecvd: 127\.0\.0\.1:[0-9]+: protocol error: connection closed inside a record$' "$DLOG" || true)
[ "$n" -ge 4 ] ||
    fail "$n 'connection closed inside a record' protocol errors logged, expected >= 4"

# FILE record lengths: 0 (below the minimum), 343 (the maximum, but the
# inner lengths do not add up), 344 (max + 1), 2^32 - 1.
hrun file-len-0 file-len "${H[@]}" 0
expect_lines file-len-0 "$HELLO" \
    'ERROR code protocol: FILE record length 0 out of range.*' "$CLOSED" DONE
after_case file-len-0
hrun file-len-343 file-len "${H[@]}" 343
expect_lines file-len-343 "$HELLO" 'ERROR code protocol: FILE lengths .*' \
    "$CLOSED" DONE
after_case file-len-343
for n in 344 4294967295; do
	hrun "file-len-$n" file-len "${H[@]}" "$n"
	expect_lines "file-len-$n" "$HELLO" \
	    "ERROR code protocol: FILE record length $n out of range.*" \
	    "$CLOSED" DONE
	after_case "file-len-$n"
done

# DATA record lengths in a 1 GiB file: 0, 2^30 (the maximum: accepted; a
# little payload, then the sender goes away), 2^30 + 1, 2^32 - 1.
for n in 0 1073741825 4294967295; do
	hrun "data-len-$n" data-len "${H[@]}" "$n"
	expect_lines "data-len-$n" "$HELLO" "$ACCEPT" \
	    "ERROR code protocol: DATA record length $n out of range.*" \
	    "$CLOSED" DONE
	xfer_result data-len protocol
	after_case "data-len-$n"
done
hrun data-len-max data-len "${H[@]}" 1073741824
expect_lines data-len-max "$HELLO" "$ACCEPT" "$CLOSED" DONE
xfer_result data-len aborted
line=$(xfer_lines data-len | tail -n 1)
[ "$(field "$line" bytes)" = 65536 ] ||
    fail "data-len-max: $(field "$line" bytes) bytes received, expected 65536"
after_case data-len-max

# Announced sizes: 2^64 - 1 and 2^63 are refused ("size"); 2^63 - 1 - 2^30
# (the largest the protocol allows) is refused for space.  The connection
# stays usable: a good file follows on it (-g).
for n in 18446744073709551615 9223372036854775808; do
	hrun "file-size-$n" -g "after-size-$n" file-size "${H[@]}" "$n"
	expect_lines "file-size-$n" "$HELLO" 'RESULT code size: .+' "$ACCEPT" \
	    'RESULT code ok: landed' DONE
	xfer_result file-size size
	landed_pattern "after-size-$n" 10
	after_case "file-size-$n"
done
n=9223372035781033983
hrun "file-size-$n" -g "after-size-$n" file-size "${H[@]}" "$n"
expect_lines "file-size-$n" "$HELLO" 'RESULT code nospace: .+' "$ACCEPT" \
    'RESULT code ok: landed' DONE
xfer_result file-size nospace
landed_pattern "after-size-$n" 10
after_case "file-size-$n"

# DATA offsets: 2^64 - 1 (not block aligned) and 2^64 - 4096 (aligned, but
# not where the file goes on, and offset + length wraps around).
for n in 18446744073709551615 18446744073709547520; do
	hrun "data-offset-$n" data-offset "${H[@]}" "$n"
	expect_lines "data-offset-$n" "$HELLO" "$ACCEPT" \
	    "ERROR code protocol: DATA .*$n.*" "$CLOSED" DONE
	xfer_result data-offset protocol
	after_case "data-offset-$n"
done

# Announced 10 bytes, sent 4096: a protocol error.
hrun size-smaller size-smaller "${H[@]}"
expect_lines size-smaller "$HELLO" "$ACCEPT" "$PROTO" "$CLOSED" DONE
xfer_result size-smaller protocol
after_case size-smaller

# Announced 8192, sent 4096 and END: result "size", the connection goes on.
hrun size-larger -g after-size-larger size-larger "${H[@]}"
expect_lines size-larger "$HELLO" "$ACCEPT" \
    'RESULT code size: file ended after 4096 of 8192 bytes' "$ACCEPT" \
    'RESULT code ok: landed' DONE
xfer_result size-larger size
landed_pattern after-size-larger 10
after_case size-larger

# A digest that does not match: result "digest", the connection goes on.
hrun bad-digest -g after-bad-digest bad-digest "${H[@]}"
expect_lines bad-digest "$HELLO" "$ACCEPT" 'RESULT code digest: .+' \
    "$ACCEPT" 'RESULT code ok: landed' DONE
xfer_result bad-digest digest
landed_pattern after-bad-digest 10
after_case bad-digest

# Headers that are wrong in themselves or out of place: "STATE TYPE LEN
# [ARG [FLAGS]]".  Each is answered with ERROR protocol and a close.
headers=(
	"hello 0 16"		# type 0
	"hello 2 25"		# FILE before HELLO
	"hello 4 4096"		# DATA before HELLO
	"idle 11 0"		# type one past the last
	"idle 65535 16"		# type 2^16 - 1
	"idle 1 16 0 1"		# flags
	"idle 2 25 5"		# FILE with an argument
	"idle 1 16"		# a second HELLO
	"idle 3 16"		# ACCEPT from the sender
	"idle 4 4096"		# DATA outside a file
	"idle 5 32"		# END outside a file
	"idle 6 40"		# RESULT from the sender
	"idle 8 32"		# CHALLENGE from the sender
	"idle 9 64"		# AUTH without CHALLENGE
	"idle 10 32"		# AUTHOK from the sender
	"file 1 16"		# HELLO inside a file
	"file 2 25"		# FILE inside a file
	"file 4 4096 4095"	# DATA at an unaligned offset
	"file 4 8192 61440"	# DATA past the end of the file
)
i=0
for h in "${headers[@]}"; do
	i=$((i + 1))
	read -r -a a <<<"$h"
	hrun "header-$i" header "${H[@]}" "${a[@]}"
	case ${a[0]} in
	hello) expect_lines "header-$i" "$PROTO" "$CLOSED" DONE ;;
	idle) expect_lines "header-$i" "$HELLO" "$PROTO" "$CLOSED" DONE ;;
	file)
		expect_lines "header-$i" "$HELLO" "$ACCEPT" "$PROTO" \
		    "$CLOSED" DONE
		xfer_result header protocol
		;;
	esac
	after_case "header-$i ($h)"
done

# ERROR from the sender ends the connection without an answer.
hrun header-error header "${H[@]}" idle 7 8
expect_lines header-error "$HELLO" "$CLOSED" DONE
grep -qE '^zcrecvd: 127\.0\.0\.1:[0-9]+: peer reports error: ' "$DLOG" ||
    fail "no 'peer reports error' line in the daemon log"
after_case header-error

n=$(grep -cE '^zcrecvd: 127\.0\.0\.1:[0-9]+: protocol error: ' "$DLOG" || true)
note "$n protocol errors logged"
stop_daemon
check_daemon_log
check_xfer_log
# Every log line is one "zcrecvd: " line: nothing from the network split
# or forged one.
! grep -qv '^zcrecvd: ' "$DLOG" || fail "daemon log lines not starting with 'zcrecvd: '"
