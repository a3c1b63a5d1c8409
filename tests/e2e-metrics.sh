#!/bin/bash
# Prometheus metrics (metrics_listen, metrics_allow):
#   (a) GET /metrics answers in the text format 0.0.4 with the counters of
#       what was sent: a landed file's bytes and result, a refused one
#       (exists), one for an unknown destination (under "(other)"), the
#       build info; promtool finds nothing to say; HEAD, 404 and 405;
#   (b) a real Prometheus (the packaged binary, on a port of its own,
#       storage in the temp dir) scrapes the daemon every second, and a
#       query through its HTTP API returns the bytes of a file just sent;
#   (c) a connection refused by max_connections_per_address is counted;
#       a reload to metrics_allow = 10.0.0.0/8 refuses the scrape from
#       127.0.0.1 (403); a reload that changes metrics_listen says a
#       restart is needed and the old socket serves on;
#   (d) the socket is closed when the daemon stops.
. "$(dirname "$0")/lib.sh"

for t in curl promtool prometheus ss; do
	command -v "$t" >/dev/null 2>&1 ||
	    skip "$t is not installed (tools/deps.sh installs it)"
done

CONF=$T/zcrecvd.conf
R_CONF=$(re_quote "$CONF")
ALLOW_LOG="^zcrecvd: (serving metrics on 127\.0\.0\.1:[0-9]+\$|SIGHUP: reloading $R_CONF\$|configuration reloaded\$|reload: metrics_listen changed: restart to apply\$|refused a connection: 1 connection open from that address \(max_connections_per_address\)\$|failed f1 from 127\.0\.0\.1:[0-9]+: exists: |failed f3 from 127\.0\.0\.1:[0-9]+: destination: )"
METRICS_TYPE='text/plain; version=0.0.4; charset=utf-8'

# scrape OUT [CURL ARGS...]: ask /metrics, body to OUT; sets CODE (000 if
# the connection failed) and CTYPE.  Bounded: curl -m 10.
scrape() {
	local out=$1 w
	shift
	w=$(curl -sS -m 10 -o "$out" -w '%{http_code} %{content_type}' "$@" \
	    "$URL" 2>"$T/curl.err") || true
	CODE=${w%% *}
	CTYPE=${w#* }
}

# metric FILE SERIES: the value of SERIES (name and labels, exactly as
# written) in a scrape; empty if absent.
metric() {
	awk -v s="$2" '$1 == s { print $2 }' "$1"
}

# expect FILE SERIES VALUE: the scrape holds SERIES with VALUE.
expect() {
	local v
	v=$(metric "$1" "$2")
	[ "$v" = "$3" ] || {
		prefix 'scrape: ' "$1" >&2
		fail "$2 is '$v', expected $3"
	}
}

# wait_log REGEX [COUNT]: wait up to 10 s until COUNT (default 1) lines of
# the daemon log match REGEX.
wait_log() {
	local n=${2:-1} i
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cE -- "$1" "$DLOG" || true)" -lt "$n" ] || return 0
		daemon_alive || fail "daemon died (waiting for '$1')"
		sleep 0.1
	done
	fail "no daemon log line matching '$1' (want $n) within 10 s"
}

# reload LINE...: rewrite the config with LINEs in [server], SIGHUP, wait
# for "configuration reloaded".
NRELOAD=0
reload() {
	write_config "$@"
	NRELOAD=$((NRELOAD + 1))
	kill -HUP "$DPID"
	wait_log '^zcrecvd: configuration reloaded$' "$NRELOAD"
}

start_daemon "metrics_listen = 127.0.0.1:0"
MPORT=$(sed -nE 's/^zcrecvd: serving metrics on 127\.0\.0\.1:([0-9]+)$/\1/p' \
    "$DLOG")
[ -n "$MPORT" ] || fail "no 'serving metrics on' line in the daemon log"
URL=http://127.0.0.1:$MPORT/metrics
note "metrics on $URL"

note "(a) the counters of what was sent"
S1=$((3 * 1024 * 1024 + 4321))
mkfile "$T/src/f1" "$S1"
send_ok "$T/src/f1"
check_file f1 "$S1" >/dev/null
rc=0
"$ZCSEND" "$T/src/f1" "127.0.0.1:$PORT" >"$T/again.out" 2>"$T/again.err" ||
    rc=$?
[ "$rc" -ne 0 ] || fail "a second f1 was not refused"
[ "$(field "$(wait_xfer f1 2)" result)" = exists ] ||
    fail "the second f1 was not refused with exists"
mkfile "$T/src/f3" 5000
rc=0
"$ZCSEND" "$T/src/f3" "127.0.0.1:$PORT/nosuch" >"$T/f3.out" \
    2>"$T/f3.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a file for destination nosuch was not refused"
wait_xfer f3 >/dev/null

scrape "$T/m1"
[ "$CODE" = 200 ] || fail "GET /metrics: status $CODE: $(cat "$T/curl.err")"
[ "$CTYPE" = "$METRICS_TYPE" ] || fail "GET /metrics: Content-Type '$CTYPE'"
prefix 'scrape: ' "$T/m1" >&2
VERSION=$("$ZCRECVD" -V | awk '{ print $2 }')
expect "$T/m1" "zcrecvd_build_info{version=\"$VERSION\"}" 1
expect "$T/m1" 'zcrecvd_received_bytes_total{dest="default",result="ok"}' "$S1"
expect "$T/m1" 'zcrecvd_files_total{dest="default",result="ok"}' 1
expect "$T/m1" 'zcrecvd_files_total{dest="default",result="exists"}' 1
expect "$T/m1" 'zcrecvd_files_total{dest="(other)",result="destination"}' 1
expect "$T/m1" 'zcrecvd_transfer_duration_seconds_count' 1
expect "$T/m1" 'zcrecvd_transfer_duration_seconds_bucket{le="+Inf"}' 1
expect "$T/m1" 'zcrecvd_files_in_flight' 0
expect "$T/m1" 'zcrecvd_queued_writes' 0
expect "$T/m1" 'zcrecvd_connections_refused_total{reason="max_connections"}' 0
# Only f1 sent payload: the paths add up to its size.
sum=$(awk '$1 ~ /^zcrecvd_payload_bytes_total\{path="(mapped|copied|spliced)"\}$/ { s += $2 } END { print s }' "$T/m1")
[ "$sum" = "$S1" ] || fail "payload bytes by path add up to $sum, not $S1"
# The senders are gone: the connection gauge comes back to 0.
for ((i = 0; i < 100; i++)); do
	scrape "$T/m2"
	[ "$(metric "$T/m2" zcrecvd_connections)" != 0 ] || break
	sleep 0.1
done
expect "$T/m2" zcrecvd_connections 0

promtool check metrics <"$T/m1" >"$T/promtool.out" 2>&1 || {
	prefix 'promtool: ' "$T/promtool.out" >&2
	fail "promtool check metrics failed"
}
[ ! -s "$T/promtool.out" ] || {
	prefix 'promtool: ' "$T/promtool.out" >&2
	fail "promtool check metrics has something to say"
}

scrape "$T/head" -I
[ "$CODE" = 200 ] || fail "HEAD /metrics: status $CODE"
grep -qi "^Content-Type: $(re_quote "$METRICS_TYPE")" "$T/head" ||
    fail "HEAD /metrics: no Content-Type $METRICS_TYPE"
grep -q '^# ' "$T/head" && fail "HEAD /metrics sent a body"
scrape "$T/post" -X POST
[ "$CODE" = 405 ] || fail "POST /metrics: status $CODE, expected 405"
w=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$MPORT/other") || true
[ "$w" = 404 ] || fail "GET /other: status $w, expected 404"

note "(b) Prometheus scrapes the daemon"
mkdir "$T/prom"
cat >"$T/prom/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: zcrecvd
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
YML
prometheus --config.file="$T/prom/prometheus.yml" \
    --storage.tsdb.path="$T/prom/data" \
    --web.listen-address=127.0.0.1:0 --log.level=warn \
    >"$T/prom/out" 2>"$T/prom/err" </dev/null &
PROM=$!
BGPIDS+=("$PROM")
# Port 0: the kernel picks a free one; ss says which.
PPORT=
for ((i = 0; i < 300; i++)); do
	PPORT=$(ss -Hltnp 2>/dev/null | awk -v p="pid=$PROM," \
	    'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
	[ -z "$PPORT" ] || break
	alive "$PROM" || break
	sleep 0.1
done
[ -n "$PPORT" ] || {
	prefix 'prometheus: ' "$T/prom/err" >&2
	fail "prometheus did not listen within 30 s"
}
note "prometheus pid $PROM on 127.0.0.1:$PPORT"

S2=$((1024 * 1024 + 7))
mkfile "$T/src/f2" "$S2"
send_ok "$T/src/f2"
check_file f2 "$S2" >/dev/null
want=$((S1 + S2))
query='zcrecvd_received_bytes_total{dest="default",result="ok"}'
got=
for ((i = 0; i < 120; i++)); do
	got=$(curl -sS -m 5 --get "http://127.0.0.1:$PPORT/api/v1/query" \
	    --data-urlencode "query=$query" 2>/dev/null |
	    jq -r '.data.result[0].value[1] // empty' 2>/dev/null) || true
	[ "$got" != "$want" ] || break
	alive "$PROM" || break
	sleep 0.5
done
[ "$got" = "$want" ] || {
	prefix 'prometheus: ' "$T/prom/err" >&2
	fail "Prometheus says $query is '$got', expected $want (within 60 s)"
}
note "Prometheus: $query = $got"
kill -TERM "$PROM"
wait "$PROM" 2>/dev/null || true

note "(c) a refused connection, metrics_allow, metrics_listen"
# A connection held open (bash's /dev/tcp, no HELLO) uses up a limit of 1
# per address; the next one is refused, and counted.
reload "metrics_listen = 127.0.0.1:0" "max_connections_per_address = 1"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
for ((i = 0; i < 100; i++)); do
	scrape "$T/m6"
	[ "$(metric "$T/m6" zcrecvd_connections)" != 1 ] || break
	sleep 0.1
done
expect "$T/m6" zcrecvd_connections 1
rc=0
"$ZCSEND" "$T/src/f2" "127.0.0.1:$PORT" >"$T/over.out" 2>"$T/over.err" ||
    rc=$?
[ "$rc" -ne 0 ] || fail "a connection over max_connections_per_address was taken"
exec 3>&-
scrape "$T/m6"
expect "$T/m6" \
    'zcrecvd_connections_refused_total{reason="max_connections_per_address"}' 1
reload "metrics_listen = 127.0.0.1:0" "metrics_allow = 10.0.0.0/8"
scrape "$T/m3"
[ "$CODE" = 403 ] || [ "$CODE" = 000 ] ||
    fail "a peer outside metrics_allow got status $CODE"
grep -q '^zcrecvd_' "$T/m3" && fail "a peer outside metrics_allow got metrics"
reload "metrics_listen = 127.0.0.1:1"
wait_log '^zcrecvd: reload: metrics_listen changed: restart to apply$'
scrape "$T/m4"
[ "$CODE" = 200 ] || fail "after the reload, GET /metrics: status $CODE"
expect "$T/m4" 'zcrecvd_files_total{dest="default",result="ok"}' 2

note "(d) closed at stop"
stop_daemon
scrape "$T/m5"
[ "$CODE" = 000 ] || fail "the metrics socket answers after the daemon stopped"
check_daemon_log
