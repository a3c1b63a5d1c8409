#!/bin/bash
# Striping (protocol version 4) from a hostile raw client (tests/hostile
# stripe WHICH): a file of 3 MiB + 5000 bytes in chunks of 1 MiB,
# announced on a first connection A, its chunks on A and on B.
#   - good: B joins A's session, both carry chunks, the file lands with
#     the pattern;
#   - forged JOINs (A's id with a wrong token, an unknown id, A's id with
#     B's own token) are refused with ERROR denied, and so is a JOIN over
#     max_stripes; a CHUNK for A's file from another session (no JOIN) is
#     a protocol error; none of them touches A's file, which lands;
#   - a chunk sent twice, off the chunk grid, past the end of the file, of
#     the wrong length, a joined connection's END or ENTRY: ERROR protocol
#     on B, A's file still lands (nothing of B's was taken);
#   - DATA outside its chunk, and B reset in the middle of a chunk: the
#     whole file fails, answered on A (RESULT protocol, io), nothing lands,
#     no staging file is left;
#   - A sends END but no chunk: the file fails (timeout) after
#     stall_timeout, nothing lands;
#   - JOIN after an ENTRY, a striped ENTRY in version 3, a chunk size that
#     is not a power of two, a 17th striped file in flight, a RESUME entry
#     (version 5) in version 4 or without a digest: ERROR protocol.
# After each, the same daemon lands a normal file (hostile-lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile-lib.sh"

ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: (protocol error: |refused: JOIN refused: )|failed stripe-[a-z0-9-]+ from 127\.0\.0\.1:[0-9]+: )'
SERVER_EXTRA='stall_timeout = 3
max_stripes = 2
workers = 2'
hostile_start
SIZE=$((3 * 1024 * 1024 + 5000))
H4='HELLO version 4 window [0-9]+'
START=("$H4" SESSION 'ACCEPT #1 offset 0' "$H4" SESSION)
LANDS1='RESULT #1 code ok: landed'

# lands LABEL: A's file stripe-LABEL landed whole, with the pattern.
lands() {
	landed_pattern "stripe-$1" "$SIZE"
	xfer_result "stripe-$1" ok
	after_case "$1"
}

# fails LABEL RESULT: A's file failed with RESULT; nothing landed.
fails() {
	[ ! -e "$T/dest/stripe-$1" ] || fail "$1: the file landed"
	xfer_result "stripe-$1" "$2"
	after_case "$1"
}

hrun good stripe "${H[@]}" good
expect_lines good "${START[@]}" JOINED "$LANDS1" DONE
lands good
# The transfer log names both workers.
line=$(xfer_lines stripe-good | tail -n 1)
[ "$(printf '%s\n' "$line" | jq '.stripes | length')" -eq 2 ] ||
    fail "good: the chunks did not go over two workers: $line"
[ "$(printf '%s\n' "$line" | jq '[.stripes[].chunks] | add')" -eq 4 ] ||
    fail "good: not 4 chunks in the transfer log: $line"
[ "$(field "$line" io)" = striped ] || fail "good: io not striped: $line"

DENIED='ERROR code denied: JOIN refused: no such session, or wrong token'
for w in wrong-token unknown foreign-join; do
	hrun "$w" stripe "${H[@]}" "$w"
	expect_lines "$w" "${START[@]}" "$DENIED" EOF "$LANDS1" DONE
	lands "$w"
done
hrun max stripe "${H[@]}" max
expect_lines max "${START[@]}" JOINED "$H4" SESSION \
    'ERROR code denied: JOIN refused: session has 2 connections already \(max_stripes\)' \
    EOF "$LANDS1" DONE
lands max

hrun foreign-chunk stripe "${H[@]}" foreign-chunk
expect_lines foreign-chunk "${START[@]}" \
    'ERROR code protocol: CHUNK for entry 1, which is not a striped file in flight in this session' \
    EOF "$LANDS1" DONE
lands foreign-chunk

# refused LABEL MESSAGE: B's CHUNK or record was a protocol error; A's file
# landed all the same.
refused() {
	hrun "$1" stripe "${H[@]}" "$1"
	expect_lines "$1" "${START[@]}" JOINED "ERROR code protocol: $2" EOF \
	    "$LANDS1" DONE
	lands "$1"
}
refused overlap 'CHUNK at 1048576 of entry 1 sent twice'
refused offgrid 'CHUNK at 4096 is not on the grid of 1048576-byte chunks of a 3150728-byte file'
refused beyond 'CHUNK at 4194304 is not on the grid of 1048576-byte chunks of a 3150728-byte file'
refused badlen 'CHUNK at 1048576 of 1052672 bytes: the chunk there has 1048576'
refused end-joined 'END outside a file, for no striped entry waiting for it'
refused entry-joined 'ENTRY on a joined connection \(chunks only\)'

hrun data-outside stripe "${H[@]}" data-outside
grep -qE '^ERROR code protocol: DATA 4096@2097152 does not fit' \
    "$T/out/data-outside" || fail "data-outside: B's DATA was taken"
grep -qE '^RESULT #1 code protocol: stripe connection 127\.0\.0\.1:[0-9]+: DATA 4096@2097152 does not fit: .* \(chunk 1\)$' \
    "$T/out/data-outside" || fail "data-outside: A's file did not fail"
fails data-outside protocol

hrun kill stripe "${H[@]}" kill
expect_lines kill "${START[@]}" JOINED RESET-SENT \
    'RESULT #1 code io: stripe connection 127\.0\.0\.1:[0-9]+: .* \(chunk 1\)' \
    DONE
fails kill io

# The END of a file already failed is dropped: the connection goes on.
hrun kill-end stripe "${H[@]}" kill-end
expect_lines kill-end "${START[@]}" JOINED RESET-SENT \
    'RESULT #1 code io: stripe connection 127\.0\.0\.1:[0-9]+: .* \(chunk 1\)' \
    'ACCEPT #2 offset 0' EOF DONE
fails kill-end io

hrun stall stripe "${H[@]}" stall
expect_lines stall "$H4" SESSION 'ACCEPT #1 offset 0' \
    'RESULT #1 code timeout: striped file stalled: 0 of 4 chunks in, no progress for 3 s' \
    DONE
fails stall timeout

hrun join-late stripe "${H[@]}" join-late
expect_lines join-late "$H4" SESSION 'ACCEPT #1 offset 0' \
    'ERROR code protocol: JOIN after the connection was used' EOF DONE
fails join-late aborted
hrun many stripe "${H[@]}" many
expect_lines many "$H4" SESSION 'ACCEPT #1 offset 0' \
    'ERROR code protocol: more striped files in flight than ZC_STRIPED_MAX' \
    'ACCEPTED 16' EOF DONE
for ((i = 1; i <= 16; i++)); do
	[ $i -eq 1 ] && n=stripe-many || n=stripe-many-$i
	xfer_result "$n" aborted
done
after_case many
hrun v3 stripe "${H[@]}" v3
expect_lines v3 'HELLO version 3 window [0-9]+' \
    'ERROR code protocol: a striped file \(ENTRY flag STRIPED\) before version 4' \
    EOF DONE
after_case v3
hrun chunk-size stripe "${H[@]}" chunk-size
expect_lines chunk-size "$H4" SESSION \
    'ERROR code protocol: ENTRY 1: chunk size not a power of two from 1 MiB to 256 MiB' \
    EOF DONE
after_case chunk-size
# Version 5's RESUME: not before version 5, not without a digest.
hrun resume-v4 stripe "${H[@]}" resume-v4
expect_lines resume-v4 "$H4" SESSION \
    'ERROR code protocol: a resumed file \(ENTRY flag RESUME\) before version 5' \
    EOF DONE
after_case resume-v4
hrun resume-nodigest stripe "${H[@]}" resume-nodigest
expect_lines resume-nodigest 'HELLO version 5 window [0-9]+' SESSION \
    'ERROR code protocol: ENTRY 1: a resumed entry that is not striped with a digest' \
    EOF DONE
after_case resume-nodigest

stop_daemon
check_daemon_log
check_xfer_log
