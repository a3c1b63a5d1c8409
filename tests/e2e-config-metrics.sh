#!/bin/bash
# Config checking of metrics_listen and metrics_allow: bad values are
# FILE:LINE: errors, all of them counted; -T says both only when
# metrics_listen is set (a config without it dumps as before), and the
# dump parses back to itself; an address that cannot be bound stops the
# start with FILE:LINE:.
. "$(dirname "$0")/lib.sh"

# check_conf NAME [OPTION]: run zcrecvd -n (or OPTION) on $T/NAME; sets rc,
# out and err, with the config's path in err replaced by CONF.
check_conf() {
	local conf=$T/$1
	rc=0
	"$ZCRECVD" "${2:--n}" -f "$conf" >"$T/out" 2>"$T/err" </dev/null ||
	    rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
	err=${err//"$conf"/CONF}
	printf '%s\n' "$err" | prefix "$1: " >&2
}

# bad NAME COUNT PATTERN...: $T/NAME is refused with exit 1, each PATTERN
# (an extended regex, CONF standing for the file) matches a line of
# stderr, and the last line counts COUNT errors.
bad() {
	local name=$1 n=$2 p
	shift 2
	check_conf "$name"
	[ "$rc" -eq 1 ] || fail "$name: zcrecvd -n exited $rc, expected 1"
	[ -z "$out" ] || fail "$name: stdout not empty: $out"
	for p in "$@"; do
		grep -qE "$p" <<<"$err" ||
		    fail "$name: no stderr line matching: $p"
	done
	grep -qxE "CONF: $n errors?" <<<"${err##*$'\n'}" ||
	    fail "$name: last stderr line is not 'CONF: $n error(s)'"
}

# Line numbers below are those of the heredocs: keep them in step.
for v in 9100 ::1:9100 127.0.0.1: :9100 '[::1]9100'; do
	cat >"$T/bad-listen.conf" <<CONF
[server]
listen = 127.0.0.1:0
metrics_listen = $v

[default]
path = $T/dest
CONF
	bad bad-listen.conf 1 "^CONF:3: metrics_listen: bad value '$(re_quote "$v")' \(expected HOST:PORT, \[IPV6\]:PORT or \*:PORT\)$"
done

cat >"$T/twice.conf" <<CONF
[server]
metrics_listen = 127.0.0.1:9100
metrics_listen = 127.0.0.1:9101
[default]
path = $T/dest
CONF
bad twice.conf 1 "^CONF:3: duplicate key 'metrics_listen'$"

# A list whose every network is bad also lists none (as allow does).
for v in bogus 10.0.0.0/33 ::1/129 '127.0.0.1, x'; do
	cat >"$T/bad-allow.conf" <<CONF
[server]
metrics_listen = 127.0.0.1:0
metrics_allow = $v
[default]
path = $T/dest
CONF
	n=2
	[ "${v#*,}" = "$v" ] || n=1
	bad bad-allow.conf "$n" "^CONF:3: metrics_allow: bad network '${v##* }' \(expected ADDRESS, ADDRESS/PREFIX or any\)$"
done

cat >"$T/empty-allow.conf" <<CONF
[server]
metrics_listen = 127.0.0.1:0

metrics_allow = ,
[default]
path = $T/dest
CONF
bad empty-allow.conf 1 "^CONF:4: metrics_allow lists no network$"

# Both options belong to [server]; all errors of a file are counted.
cat >"$T/many.conf" <<CONF
[server]
metrics_listen = nonsense
metrics_allow = 300.1.1.1
[default]
path = $T/dest
metrics_listen = 127.0.0.1:9100
CONF
bad many.conf 4 "^CONF:2: metrics_listen: bad value 'nonsense'" \
    "^CONF:3: metrics_allow: bad network '300\.1\.1\.1'" \
    "^CONF:6: unknown key 'metrics_listen' in \[default\]$"

# -T without metrics_listen says neither option, even with metrics_allow.
cat >"$T/plain.conf" <<CONF
[server]
listen = 127.0.0.1:0
metrics_allow = 10.0.0.0/8
[default]
path = $T/dest
CONF
check_conf plain.conf -T
[ "$rc" -eq 0 ] || fail "plain.conf: -T exited $rc"
grep -q '^metrics_' <<<"$out" && fail "plain.conf: -T says a metrics_ option"

# With it, both, and the dump dumps to itself.
cat >"$T/metrics.conf" <<CONF
[server]
listen = 127.0.0.1:0
metrics_listen = [::1]:9100
[default]
path = $T/dest
CONF
check_conf metrics.conf -T
[ "$rc" -eq 0 ] || fail "metrics.conf: -T exited $rc"
printf '%s\n' "$out" >"$T/dumped.conf"
prefix 'dumped: ' "$T/dumped.conf" >&2
grep -qx 'metrics_listen = \[::1\]:9100' "$T/dumped.conf" ||
    fail "dump lacks 'metrics_listen = [::1]:9100'"
grep -qx 'metrics_allow = 127\.0\.0\.0/8, ::1/128' "$T/dumped.conf" ||
    fail "dump lacks the default 'metrics_allow = 127.0.0.0/8, ::1/128'"
check_conf dumped.conf -T
[ "$rc" -eq 0 ] || fail "dumped.conf: -T exited $rc"
[ "$out" = "$(cat "$T/dumped.conf")" ] || fail "the dump of the dump differs"

# An address the parser takes but getaddrinfo does not: the start fails,
# saying where.
cat >"$T/noport.conf" <<CONF
[server]
listen = 127.0.0.1:0
user = $DAEMON_USER
metrics_listen = 127.0.0.1:nosuchservice
[default]
path = $T/dest
CONF
rc=0
timeout 10 "$ZCRECVD" -f "$T/noport.conf" >"$T/out" 2>"$T/err" </dev/null ||
    rc=$?
prefix 'noport: ' "$T/err" >&2
[ "$rc" -eq 1 ] || fail "noport.conf: zcrecvd exited $rc, expected 1"
grep -qE "^zcrecvd: $(re_quote "$T/noport.conf"):4: metrics_listen 127\.0\.0\.1:nosuchservice: " \
    "$T/err" || fail "noport.conf: no FILE:LINE: error for metrics_listen"
