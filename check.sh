#!/bin/bash
# check.sh -- build zcrecvd and run the whole test suite, from a fresh
# Debian 12 machine (as root: installs its own packages).
#
#   1. gcc, warnings as errors, make check
#   2. clang with AddressSanitizer + UndefinedBehaviorSanitizer (leak
#      checking on), warnings as errors, make check again
#   3. libFuzzer (clang): each fuzz target for FUZZ_SECONDS (default 60)
#   4. make distcheck (the release tarball builds and passes the suite,
#      less the long system tests of 1 and 2: ZC_SKIP_HEAVY=1)
#   5. SIZE=16M ./demo.sh (the README's first command)
#
# Builds happen out of tree under build-*/; the source tree stays clean.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc)

sh tools/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

pass=0
fail=0
# Add one suite's counts from its test-suite.log summary.
count() {
	local log=$1/test-suite.log p f e
	p=$(sed -n 's/^# PASS: *//p' "$log")
	f=$(sed -n 's/^# FAIL: *//p' "$log")
	e=$(sed -n 's/^# ERROR: *//p' "$log")
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${e:-0}))
}

# run_suite NAME CONFIGURE-ARGS...: configure, build and check in build-NAME.
run_suite() {
	local name=$1 dir=$top/build-$1 rc=0
	shift
	echo "=== $name: configure $*"
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" --enable-werror "$@" >configure.out) ||
		{ cat "$dir/config.log" | tail -40; exit 1; }
	echo "=== $name: build"
	make -C "$dir" -j"$jobs" >"$dir/build.out" 2>&1 ||
		{ cat "$dir/build.out"; exit 1; }
	echo "=== $name: make check"
	make -C "$dir" -j"$jobs" check || rc=$?
	[ -f "$dir/test-suite.log" ] && count "$dir"
	if [ $rc -ne 0 ]; then
		cat "$dir/test-suite.log" || true
		return 1
	fi
}

status=0
run_suite gcc CC=gcc CFLAGS="-O2 -g" || status=1
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite asan CC=clang CFLAGS="-O1 -g $san" LDFLAGS="$san" || status=1

echo "=== fuzz: ${FUZZ_SECONDS:-60}s per target"
fz=$top/build-fuzz
rm -rf "$fz"
mkdir -p "$fz"
fsan="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
if (cd "$fz" && "$top/configure" CC=clang --enable-fuzzing --enable-werror \
    CFLAGS="-O1 -g $fsan" LDFLAGS="-fsanitize=address,undefined" \
    >configure.out) && make -C "$fz" -j"$jobs" fuzz \
    FUZZ_SECONDS="${FUZZ_SECONDS:-60}"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	status=1
fi

echo "=== distcheck (long system tests skipped: they ran above)"
if ZC_SKIP_HEAVY=1 make -C "$top/build-gcc" -j"$jobs" distcheck \
    >"$top/build-gcc/distcheck.out" 2>&1; then
	pass=$((pass + 1))
else
	tail -60 "$top/build-gcc/distcheck.out"
	fail=$((fail + 1))
	status=1
fi
grep -E "archives ready for distribution|^# (TOTAL|PASS|FAIL)" \
    "$top/build-gcc/distcheck.out" || true

# The README's first command must work too: a short demo.
echo "=== demo: SIZE=16M ./demo.sh"
if SIZE=16M ./demo.sh >"$top/build-gcc/demo.out" 2>&1 &&
    grep -q '^payload.bin: landed, 16777216 bytes .* verified$' \
    "$top/build-gcc/demo.out" &&
    grep -q '^bytes landed are identical' "$top/build-gcc/demo.out"; then
	tail -4 "$top/build-gcc/demo.out"
	pass=$((pass + 1))
else
	tail -40 "$top/build-gcc/demo.out"
	fail=$((fail + 1))
	status=1
fi

echo "$pass passed, $fail failed"
exit $status
