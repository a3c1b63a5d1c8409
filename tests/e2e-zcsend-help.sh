#!/bin/bash
# zcsend --help (and -h) describes every option of zcsend's option table,
# one line each, on stdout with exit 0; zcsend.1 documents every long
# option, ZCSEND_KEY_FILE and the default port; usage errors stay on stderr
# with exit 2.
. "$(dirname "$0")/lib.sh"

# The long options, from the table getopt's table is made from.
mapfile -t LONGOPTS < <(sed -n '/^static const struct zcsend_option zcsend_optab/,/^};/p' \
    "$SRCDIR/src/zcsend.c" | sed -nE 's/^[[:space:]]*\{ "([a-z-]+)", .*/\1/p')
[ "${#LONGOPTS[@]}" -ge 9 ] ||
    hard_error "found ${#LONGOPTS[@]} options in src/zcsend.c's table"
note "options: ${LONGOPTS[*]}"

for h in --help -h; do
	rc=0
	"$ZCSEND" "$h" >"$T/help.out" 2>"$T/help.err" </dev/null || rc=$?
	prefix "zcsend $h: " "$T/help.out" >&2
	[ "$rc" -eq 0 ] || fail "zcsend $h exited $rc"
	[ ! -s "$T/help.err" ] || fail "zcsend $h wrote to stderr"
	grep -q '^usage: zcsend ' "$T/help.out" || fail "zcsend $h: no usage line"
	for o in "${LONGOPTS[@]}"; do
		n=$(grep -cE "^  (-[a-zA-Z], |    )--$o( [a-z]+)?  +[^ ].*" \
		    "$T/help.out" || true)
		[ "$n" -eq 1 ] ||
		    fail "zcsend $h: $n description lines for --$o, expected 1"
	done
	grep -qE '^  --timeout|--timeout seconds .*\(default: 30\)' \
	    "$T/help.out" || fail "zcsend $h: no default for --timeout"
	grep -q 'ZCSEND_KEY_FILE' "$T/help.out" ||
	    fail "zcsend $h: ZCSEND_KEY_FILE not mentioned"
	grep -q '7733' "$T/help.out" || fail "zcsend $h: default port not mentioned"
done

# The manual: every long option, as mdoc writes it ("Fl \-key\-file").
man=$SRCDIR/man/zcsend.1
for o in "${LONGOPTS[@]}"; do
	grep -qF "Fl \\-${o//-/\\-}" "$man" || fail "zcsend.1 lacks --$o"
done
grep -q '^\.Sh ENVIRONMENT' "$man" || fail "zcsend.1 has no ENVIRONMENT section"
grep -q '^\.It Ev ZCSEND_KEY_FILE' "$man" ||
    fail "zcsend.1 does not list ZCSEND_KEY_FILE"
grep -q '7733' "$man" || fail "zcsend.1 does not give the default port"
if command -v mandoc >/dev/null 2>&1; then
	mandoc -Tlint -Wwarning "$man" >"$T/lint" 2>&1 || true
	prefix 'mandoc -Tlint: ' "$T/lint" >&2
	[ ! -s "$T/lint" ] || fail "mandoc -Tlint warns about zcsend.1"
fi

# Usage errors: stderr, exit 2, nothing on stdout.
for args in "" "-x f 127.0.0.1" "--no-such f 127.0.0.1" "f" "-t 0 f 127.0.0.1"; do
	rc=0
	# shellcheck disable=SC2086
	"$ZCSEND" $args >"$T/u.out" 2>"$T/u.err" </dev/null || rc=$?
	prefix "zcsend $args: " "$T/u.err" >&2
	[ "$rc" -eq 2 ] || fail "zcsend $args exited $rc, expected 2"
	[ ! -s "$T/u.out" ] || fail "zcsend $args wrote to stdout"
	[ -s "$T/u.err" ] || fail "zcsend $args: nothing on stderr"
done
