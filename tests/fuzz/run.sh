#!/bin/bash
# run.sh BUILDDIR SRCDIR SECONDS: run each libFuzzer target for SECONDS on
# a scratch copy of its seed corpus.  A crash leaves its input in
# BUILDDIR/fuzz-artifacts/ and fails; copy it into tests/fuzz/regress/TARGET/
# so that make check replays it from then on.
set -euo pipefail
build=$1 src=$2 secs=$3
out=$build/fuzz-artifacts
mkdir -p "$out"
status=0
for t in proto name conf; do
	work=$(mktemp -d "$build/fuzz-corpus.$t.XXXXXX")
	echo "=== fuzz_$t for ${secs}s"
	if "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$out/$t-" "$work" "$src/tests/fuzz/corpus/$t" \
	    >"$out/$t.log" 2>&1; then
		grep -E "^(Done|stat::number_of_executed_units)" "$out/$t.log" ||
		    true
	else
		tail -40 "$out/$t.log"
		echo "fuzz_$t: crash, input in $out/"
		status=1
	fi
	case $work in "$build"/fuzz-corpus.*) rm -rf "$work" ;; esac
done
exit $status
