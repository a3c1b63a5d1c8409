#!/bin/bash
# Streams (protocol version 3) from a hostile raw client (tests/hostile):
#   - streams of 5000 and of 0 bytes land, with the pattern;
#   - the flag STREAM in version 2, STREAM without WAIT, END instead of
#     EOS, an EOS whose size is not the bytes sent, DATA after the short
#     last record, and EOS for a file that is not a stream: ERROR
#     protocol, the stream fails (logged), nothing lands and no staging
#     file is left.
# After each, the same daemon lands a normal file (hostile-lib.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile-lib.sh"

ALLOW_LOG='^zcrecvd: (127\.0\.0\.1:[0-9]+: protocol error: |failed stream-[a-z0-9-]+ from 127\.0\.0\.1:[0-9]+: protocol: )'
hostile_start
H3='HELLO version 3 window [0-9]+'
PROTO='ERROR code protocol: .*'

for size in 5000 0 8192; do
	hrun "good-$size" stream "${H[@]}" good "$size"
	expect_lines "good-$size" "$H3" 'ACCEPT #1 offset 0' \
	    'RESULT #1 code ok: landed' DONE
	landed_pattern "stream-good-$size" "$size"
	xfer_result "stream-good-$size" ok
	after_case "good-$size"
done

# protocol LABEL MESSAGE: the case ended in ERROR protocol with MESSAGE
# (an ERE), then the connection closed; nothing landed (after_case).
protocol() {
	grep -qE "^ERROR code protocol: ($2)\$" "$T/out/$1" ||
	    fail "$1: no ERROR protocol '$2'"
	grep -qE "^($CLOSED)\$" "$T/out/$1" || fail "$1: the connection stayed"
	! grep -q 'code ok' "$T/out/$1" || fail "$1: landed"
	[ ! -e "$T/dest/stream-$1-5000" ] || fail "$1: the stream landed"
	after_case "$1"
}

hplay in-v2 stream "${H[@]}" in-v2
protocol in-v2 'a stream \(ENTRY flag STREAM\) before version 3'
hplay no-wait stream "${H[@]}" no-wait
protocol no-wait 'ENTRY 1: a stream that is not a file that waits'
hplay end stream "${H[@]}" end
protocol end 'END for a stream \(EOS expected\)'
xfer_result stream-end-5000 protocol
hplay eos-size stream "${H[@]}" eos-size
protocol eos-size 'EOS says 9096 bytes, the stream carried 5000'
xfer_result stream-eos-size-5000 protocol
hplay after-tail stream "${H[@]}" after-tail
protocol after-tail 'DATA 4096@8192 does not fit the stream: expected offset 5000, after its short last record'
xfer_result stream-after-tail-5000 protocol
hplay eos-file stream "${H[@]}" eos-file
protocol eos-file 'EOS for another entry or not a stream'
xfer_result stream-eos-file-5000 protocol

stop_daemon
check_daemon_log
check_xfer_log
