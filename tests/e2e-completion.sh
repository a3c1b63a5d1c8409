#!/bin/bash
# The bash completions: sourced in bash they register for zcsend and
# zcrecvd; "zcsend --j<TAB>" gives --json, "zcsend --<TAB>" every long
# option of zcsend's option table, "zcsend --key-file <TAB>" and
# "zcrecvd -f <TAB>" files, "zcrecvd -<TAB>" its options.
. "$(dirname "$0")/lib.sh"

CDIR=$SRCDIR/completion
[ -f "$CDIR/zcsend" ] && [ -f "$CDIR/zcrecvd" ] ||
    hard_error "no completion files in $CDIR"

# complete_words FILE CWORD WORD...: COMPREPLY of FILE's function for
# COMP_WORDS=(WORD...) and COMP_CWORD, one a line, sorted, in a fresh bash.
complete_words() {
	local file=$1 cword=$2
	shift 2
	bash --norc --noprofile -c '
		. "$1" || exit 1
		shift
		cword=$1
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$cword
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		fn=$(complete -p "$1" | sed -nE "s/.* -F ([^ ]+) .*/\1/p")
		[ -n "$fn" ] || exit 1
		"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" \
		    "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' complete "$file" "$cword" "$@" |
	    sort
}

for p in zcsend zcrecvd; do
	out=$(bash --norc --noprofile -c '. "$1" && complete -p "$2"' sh \
	    "$CDIR/$p" "$p") || fail "sourcing completion/$p failed"
	note "$out"
	[[ $out == "complete -F _$p $p" ]] ||
	    fail "complete -p $p: '$out', expected 'complete -F _$p $p'"
done

[ "$(complete_words "$CDIR/zcsend" 1 zcsend --j)" = --json ] ||
    fail "zcsend --j<TAB> does not give --json"

mapfile -t LONGOPTS < <(sed -n '/^static const struct zcsend_option zcsend_optab/,/^};/p' \
    "$SRCDIR/src/zcsend.c" | sed -nE 's/^[[:space:]]*\{ "([a-z-]+)", .*/\1/p')
[ "${#LONGOPTS[@]}" -ge 9 ] || hard_error "no options in src/zcsend.c"
got=$(complete_words "$CDIR/zcsend" 1 zcsend --)
want=$(printf -- '--%s\n' "${LONGOPTS[@]}" | sort)
[ "$got" = "$want" ] || fail "zcsend --<TAB>: '$got', expected '$want'"

mkdir "$T/c"
: >"$T/c/key one"
: >"$T/c/conf.conf"
[ "$(complete_words "$CDIR/zcsend" 2 zcsend --key-file "$T/c/key")" = \
    "$T/c/key one" ] || fail "zcsend --key-file <TAB> does not give files"
[ "$(complete_words "$CDIR/zcsend" 1 zcsend "$T/c/k")" = "$T/c/key one" ] ||
    fail "zcsend <TAB> does not give files"
[ -z "$(complete_words "$CDIR/zcsend" 2 zcsend -t "")" ] ||
    fail "zcsend -t <TAB> offers something"
[ "$(complete_words "$CDIR/zcrecvd" 2 zcrecvd -f "$T/c/co")" = \
    "$T/c/conf.conf" ] || fail "zcrecvd -f <TAB> does not give files"
got=$(complete_words "$CDIR/zcrecvd" 1 zcrecvd - | tr '\n' ' ')
[ "$got" = "-T -V -d -f -h -n " ] || fail "zcrecvd -<TAB>: '$got'"
