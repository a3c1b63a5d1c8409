#!/bin/bash
# Replay the fuzz seed corpus and every input that once crashed a fuzz
# target (tests/fuzz/regress/TARGET/) through the targets' own code.
set -euo pipefail
d=$SRCDIR/tests/fuzz
for t in proto name conf; do
	args=("$d/corpus/$t")
	[ -d "$d/regress/$t" ] && args+=("$d/regress/$t")
	"$BUILDDIR/tests/fuzz/replay_$t" "${args[@]}"
done
