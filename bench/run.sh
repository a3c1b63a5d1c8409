#!/bin/bash
# bench/run.sh -- zcrecvd against its peers and the disk's own limit.
#
#	bench/run.sh --zcrecvd PATH --zcsend PATH [options]	(or: make bench)
#
# Receives the same source data (random, generated once in tmpfs) over
# loopback into a fresh directory on a disk filesystem, with the page cache
# dropped before each run, for every candidate, interleaved round by round
# (A B C A B C ...).  Per run: receiver CPU (user+sys of the receiving
# process tree, us per MB), whole-machine CPU per MB (/proc/stat: sender,
# softirq and writeback included), wall seconds, Gbit/s, % zero-copy, and
# whether the landed bytes equal the source.  Medians per candidate go to a
# table on stdout, results.json and chart.png under the output directory.
# MB = 10^6 bytes, Gbit = 10^9 bits.  See bench/README.md.

. "$(dirname "$0")/lib.sh"

ALL_CANDIDATES="zc-auto zc-p2 zc-p4 base-auto zc-direct zc-write zc-vmsplice zc-splice zc-copy zc-plain mbuffer socat nc rsync dd-direct dd-direct-16m dd-fsync discard discard-p4 discard-plain recvloop"
SIZE=4G
FILES=1
ROUNDS=5
DEST_BASE=/var/tmp
CANDIDATES=
BASELINE=
OUT=
TIMEOUT=
CMDLINE="$0 $*"

usage() {
	cat <<EOF
usage: $PROG --zcrecvd PATH --zcsend PATH [options]
  --size SIZE         bytes per run, all files together (default $SIZE; K M G T = 1024^n)
  --files N           split the data into N files of SIZE/N (default $FILES)
  --rounds N          rounds; medians are over them (default $ROUNDS)
  --dest DIR          a fresh landing directory is made under DIR (default $DEST_BASE;
                      must be a disk filesystem, not tmpfs)
  --candidates LIST   comma-separated subset (default: all; base-auto only with
                      --baseline), from: ${ALL_CANDIDATES// /,}
  --baseline PATH|DIR|REV  an older zcrecvd for base-auto, so that old and new
                      are measured in the same interleaved run: a zcrecvd binary
                      (run with the current zcsend), a build directory with
                      zcrecvd and zcsend, or a git revision, built here
  --out DIR           results directory (default ./bench/results)
  --timeout SECONDS   bound of every transfer (default 60 + 1 s per 32 MiB)
  --helpers DIR       prebuilt cpurun, recvloop, holdconn (else compiled with cc)
  --no-install        do not apt-get missing peers
  --list              print the candidates and what they run, and exit
EOF
	exit "${1:-2}"
}

list_candidates() {
	cat <<'EOF'
zc-auto        zcrecvd io=auto (direct here), verify=xxh3    <- zcsend
zc-p2          the same, striped over 2 connections         <- zcsend -P 2
zc-p4          the same, striped over 4 connections         <- zcsend -P 4
base-auto      the same with the --baseline zcrecvd         <- its zcsend (or zcsend)
zc-direct      zcrecvd io=direct                            <- zcsend
zc-write       zcrecvd io=write                             <- zcsend
zc-vmsplice    zcrecvd io=vmsplice                          <- zcsend
zc-splice      zcrecvd io=splice                            <- zcsend
zc-copy        zcrecvd io=copy (recv + pwrite)              <- zcsend
zc-plain       zcrecvd io=auto                              <- zcsend --no-zerocopy (plain send())
mbuffer        mbuffer -q -I PORT -o FILE; sync FILE        <- mbuffer -q -i SRC -O 127.0.0.1:PORT
               (mbuffer 20230301 opens the output file with O_DIRECT)
socat          socat -u TCP-LISTEN:PORT CREATE:FILE; sync   <- socat -u FILE:SRC TCP:127.0.0.1:PORT
nc             nc -l 127.0.0.1 PORT >FILE; sync FILE        <- nc -N 127.0.0.1 PORT <SRC
rsync          rsync --daemon --no-detach (module = dest); sync  <- rsync SRC rsync://127.0.0.1:PORT/bench/
dd-direct      dd if=SRC of=FILE bs=2M oflag=direct         (the disk's limit, no network)
dd-direct-16m  dd if=SRC of=FILE bs=16M oflag=direct        (the same with larger writes)
dd-fsync       dd if=SRC of=FILE bs=2M conv=fsync           (buffered, no network)
discard        zcrecvd io=discard verify=none               <- zcsend --no-verify (network only)
discard-p4     the same as discard, striped                 <- zcsend --no-verify -P 4
discard-plain  zcrecvd io=discard verify=none               <- zcsend --no-zerocopy --no-verify
recvloop       bench/recvloop (recv() into 1 MiB, drop)     <- socat -u -b 1048576 FILE:SRC TCP:...
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--zcrecvd) ZCRECVD=${2:?}; shift ;;
	--zcsend) ZCSEND=${2:?}; shift ;;
	--baseline) BASELINE=${2:?}; shift ;;
	--size) SIZE=${2:?}; shift ;;
	--files) FILES=${2:?}; shift ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--dest) DEST_BASE=${2:?}; shift ;;
	--candidates) CANDIDATES=${2:?}; CANDIDATES=${CANDIDATES//,/ }; shift ;;
	--out) OUT=${2:?}; shift ;;
	--timeout) TIMEOUT=${2:?}; shift ;;
	--helpers) HELPERS=${2:?}; shift ;;
	--no-install) INSTALL=0 ;;
	--list) list_candidates; exit 0 ;;
	-h|--help) usage 0 ;;
	*) msg "unknown option '$1'"; usage ;;
	esac
	shift
done

BYTES=$(parse_size "$SIZE")
[[ $FILES =~ ^[1-9][0-9]*$ ]] || die "--files: expected a positive number"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: expected a positive number"
FILE_BYTES=$((BYTES / FILES))
[ "$FILE_BYTES" -gt 0 ] || die "--size must be at least --files bytes"
BYTES=$((FILE_BYTES * FILES))
if [ -z "$CANDIDATES" ]; then
	CANDIDATES=$ALL_CANDIDATES
	[ -n "$BASELINE" ] || CANDIDATES=${CANDIDATES/ base-auto/}
fi
for c in $CANDIDATES; do
	[[ " $ALL_CANDIDATES " == *" $c "* ]] || die "unknown candidate '$c' (--list)"
done
if [[ " $CANDIDATES " == *" base-auto "* ]]; then
	[ -n "$BASELINE" ] || die "base-auto needs --baseline PATH|DIR|REV"
fi
[ -n "$TIMEOUT" ] || TIMEOUT=$((60 + BYTES / (32 * 1024 * 1024)))
ZC_LIFETIME=$((TIMEOUT + 60))
OUT=${OUT:-$PWD/bench/results}

check_programs
check_root
need_packages mbuffer:mbuffer socat:socat nc:netcat-openbsd rsync:rsync \
    gnuplot:gnuplot-nox /usr/bin/time:time xxh128sum:xxhash timeout:coreutils \
    pgrep:procps findmnt:util-linux
make_work
build_helpers
[ -z "$BASELINE" ] || baseline_resolve "$BASELINE"
make_dest "$DEST_BASE"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
RUNS=$OUT/runs-$STAMP.tsv
MEDIANS=$OUT/medians-$STAMP.tsv
JSON=$OUT/results-$STAMP.json
PNG=$OUT/chart-$STAMP.png
LOGDIR=$OUT/logs-$STAMP
mkdir -p "$LOGDIR"

# Space: source in tmpfs, one run's landing at a time on the disk.
need_free() {
	local dir=$1 need=$2 have
	have=$(df -P -B1 "$dir" | awk 'NR == 2 { print $4 }')
	[ "$have" -gt "$need" ] || die "$dir: $(human "$have") free, need more than $(human "$need")"
}
need_free "$WORK" $((BYTES + 64 * 1024 * 1024))
need_free "$DEST_RUN" $((BYTES + 256 * 1024 * 1024))

# --- source data --------------------------------------------------------------

msg "generating $FILES file(s) of $FILE_BYTES bytes in $WORK/data"
mkdir -p "$WORK/data"
SRC=()
SRC_HASH=()
for ((i = 1; i <= FILES; i++)); do
	f=$WORK/data/data-$i.bin
	head -c "$FILE_BYTES" /dev/urandom >"$f"
	SRC+=("$f")
	h=$(xxh128sum "$f" 2>/dev/null | awk '{ print $1 }')
	[ -n "$h" ] || die "xxh128sum $f failed"
	SRC_HASH+=("$h")
done

machine_facts "$DEST_RUN" >"$OUT/machine-$STAMP.tsv"

# --- one run ------------------------------------------------------------------

# Results of the current run, set by the run_* functions.
reset_run() {
	R_OK=1 R_WALL=0 R_RU=0 R_RS=0 R_SYS=0 R_ZC=0 R_VER=no R_TLOG=NA R_NOTE=''
	R_SEND=0
}
# verify_landed: every source file's name in the destination, same xxh128.
verify_landed() {
	local i f h bad=0
	for ((i = 0; i < FILES; i++)); do
		f=$DEST_RUN/$(basename "${SRC[$i]}")
		if [ ! -f "$f" ]; then
			bad=1; R_NOTE="${R_NOTE:+$R_NOTE; }$(basename "$f") missing"
			continue
		fi
		h=$(xxh128sum "$f" 2>/dev/null | awk '{ print $1 }')
		if [ "$h" != "${SRC_HASH[$i]}" ]; then
			bad=1; R_NOTE="${R_NOTE:+$R_NOTE; }$(basename "$f") differs"
		fi
	done
	if [ "$bad" = 0 ]; then R_VER=yes; else R_VER=no; R_OK=0; fi
}

L=	# this run's log prefix

run_zc() {	# run_zc IO VERIFY [zcsend options...]
	local io=$1 verify=$2 rc=0 u s ok n b z c
	shift 2
	if ! start_zcrecvd "$CUR" io="$io" verify="$verify" overwrite=no; then
		fail_run "zcrecvd did not start"; return
	fi
	window_start
	send "$L.sender.cpu" timeout -k 5 "$TIMEOUT" "$ZCSEND" -q -t 30 "$@" \
	    "${SRC[@]}" "127.0.0.1:$ZC_PORT" >"$L.sender.out" 2>"$L.sender.err" || rc=$?
	window_end
	add_send_cpu "$L.sender.cpu"
	stop_zcrecvd
	u=$ZC_U s=$ZC_S
	cp "$ZC_LOG" "$L.daemon.log"; cp "$ZC_TLOG" "$L.tlog" 2>/dev/null || true
	[ "$rc" = 0 ] || fail_run "zcsend exit $rc: $(head -c 300 "$L.sender.err")"
	if [ "$u" = NA ]; then fail_run "no daemon CPU figure"; else R_RU=$u R_RS=$s; fi
	read -r ok n b z c < <(tlog_sum "$ZC_TLOG")
	[ "$ok" = "$FILES" ] && [ "$b" = "$BYTES" ] ||
	    fail_run "transfer log: $ok of $FILES files ok, $b bytes"
	R_ZC=$(awk -v z="$z" -v b="$b" 'BEGIN { printf "%.2f", (b > 0 ? 100 * z / b : 0) }')
	R_TLOG=$c
	if [ "$io" = discard ]; then
		# Nothing lands: the byte count in the log is the check.
		[ "$R_OK" = 1 ] && R_VER=count || R_VER=no
	else
		verify_landed
	fi
}

# run_stream NAME: mbuffer, socat, nc -- one receiver process per file.
run_stream() {
	local kind=$1 i src dst port rc
	for ((i = 0; i < FILES; i++)); do
		src=${SRC[$i]}; dst=$DEST_RUN/$(basename "$src")
		port=$(pick_port)
		case $kind in
		mbuffer) peer_recv_start mbuffer -q -I "$port" -o "$dst" ;;
		socat) peer_recv_start socat -u \
		    "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" "CREATE:$dst" ;;
		nc) peer_recv_start sh -c 'exec nc -l 127.0.0.1 "$1" >"$2"' sh "$port" "$dst" ;;
		esac
		if ! wait_listen "$port" 20 "$P_PID"; then
			fail_run "$kind receiver did not listen: $(head -c 300 "$L.recv$P_N.err")"
			end_pid "$P_PID"; untrack "$P_PID"; return
		fi
		rc=0
		window_start
		case $kind in
		mbuffer) send "$L.send$P_N.cpu" timeout -k 5 "$TIMEOUT" mbuffer -q -i "$src" -O "127.0.0.1:$port" ;;
		socat) send "$L.send$P_N.cpu" timeout -k 5 "$TIMEOUT" socat -u "FILE:$src" "TCP:127.0.0.1:$port" ;;
		nc) send "$L.send$P_N.cpu" timeout -k 5 "$TIMEOUT" nc -N 127.0.0.1 "$port" <"$src" ;;
		esac >"$L.send$P_N.out" 2>"$L.send$P_N.err" || rc=$?
		add_send_cpu "$L.send$P_N.cpu"
		[ "$rc" = 0 ] || fail_run "$kind sender exit $rc: $(head -c 300 "$L.send$P_N.err")"
		rc=0
		bounded_wait "$P_PID" || rc=$?
		[ "$rc" = 0 ] || fail_run "$kind receiver exit $rc: $(head -c 300 "$L.recv$P_N.err")"
		peer_sync "$dst"
		window_end
		add_cpu "$P_CPU"
	done
	verify_landed
}

run_rsync() {
	local port conf dpid rc=0 t f landed
	port=$(pick_port)
	conf=$WORK/run/rsyncd.conf
	rsyncd_conf "$conf" "$DEST_RUN" "$L.rsyncd.log"
	peer_recv_start rsync --daemon --no-detach --config="$conf" \
	    --port="$port" --address=127.0.0.1
	if ! wait_listen "$port" 20 "$P_PID"; then
		fail_run "rsync daemon did not listen: $(head -c 300 "$L.recv$P_N.err")"
		end_pid "$P_PID"; untrack "$P_PID"; return
	fi
	dpid=$(pgrep -P "$P_PID" | head -1)
	window_start
	send "$L.send.cpu" timeout -k 5 "$TIMEOUT" rsync "${SRC[@]}" \
	    "rsync://127.0.0.1:$port/bench/" >"$L.send.out" 2>"$L.send.err" || rc=$?
	add_send_cpu "$L.send.cpu"
	[ "$rc" = 0 ] || fail_run "rsync exit $rc: $(head -c 300 "$L.send.err")"
	# The transfer's forked server must be gone (and reaped, so that its
	# CPU is in the daemon's rusage) before the daemon is stopped.
	t=$(( $(date +%s) + 30 ))
	while [ -n "$dpid" ] && pgrep -P "$dpid" >/dev/null; do
		[ "$(date +%s)" -lt "$t" ] || { fail_run "rsync server child still running"; break; }
		sleep 0.01
	done
	landed=()
	for f in "${SRC[@]}"; do landed+=("$DEST_RUN/$(basename "$f")"); done
	peer_sync "${landed[@]}"
	window_end
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
	rc=0
	bounded_wait "$P_PID" || rc=$?
	add_cpu "$P_CPU"
	verify_landed
}

run_dd() {	# run_dd BS DD-OPTIONS...
	local i src dst c rc bs=$1
	shift
	for ((i = 0; i < FILES; i++)); do
		src=${SRC[$i]}; dst=$DEST_RUN/$(basename "$src")
		c=$L.dd$i.cpu
		rc=0
		window_start
		"$H_CPURUN" -o "$c" -t "$TIMEOUT" -- dd if="$src" of="$dst" bs="$bs" \
		    status=none "$@" 2>"$L.dd$i.err" || rc=$?
		window_end
		[ "$rc" = 0 ] || fail_run "dd exit $rc: $(head -c 300 "$L.dd$i.err")"
		add_cpu "$c"
	done
	verify_landed
}

run_recvloop() {
	local i src port rc got
	for ((i = 0; i < FILES; i++)); do
		src=${SRC[$i]}
		peer_recv_start "$H_RECVLOOP" -t "$TIMEOUT"
		if ! wait_line "$L.recv$P_N.out" 'listening on' 20 "$P_PID"; then
			fail_run "recvloop did not start"; end_pid "$P_PID"; untrack "$P_PID"; return
		fi
		port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$L.recv$P_N.out")
		rc=0
		window_start
		send "$L.send$P_N.cpu" timeout -k 5 "$TIMEOUT" socat -u -b 1048576 \
		    "FILE:$src" "TCP:127.0.0.1:$port" >"$L.send$P_N.out" \
		    2>"$L.send$P_N.err" || rc=$?
		add_send_cpu "$L.send$P_N.cpu"
		[ "$rc" = 0 ] || fail_run "socat exit $rc: $(head -c 300 "$L.send$P_N.err")"
		rc=0
		bounded_wait "$P_PID" || rc=$?
		window_end
		[ "$rc" = 0 ] || fail_run "recvloop exit $rc: $(head -c 300 "$L.recv$P_N.err")"
		add_cpu "$P_CPU"
		got=$(sed -n 's/^received \([0-9]*\) bytes$/\1/p' "$L.recv$P_N.out")
		[ "$got" = "$FILE_BYTES" ] || { R_OK=0; R_NOTE="${R_NOTE:+$R_NOTE; }received ${got:-?} bytes"; }
	done
	[ "$R_OK" = 1 ] && R_VER=count || R_VER=no
}

run_candidate() {
	case $CUR in
	zc-auto) run_zc auto xxh3 ;;
	zc-p2) run_zc auto xxh3 -P 2 ;;
	zc-p4) run_zc auto xxh3 -P 4 ;;
	base-auto) ZCRECVD=$BASE_ZCRECVD ZCSEND=$BASE_ZCSEND run_zc auto xxh3 ;;
	zc-direct) run_zc direct xxh3 ;;
	zc-write) run_zc write xxh3 ;;
	zc-vmsplice) run_zc vmsplice xxh3 ;;
	zc-splice) run_zc splice xxh3 ;;
	zc-copy) run_zc copy xxh3 ;;
	zc-plain) run_zc auto xxh3 --no-zerocopy ;;
	mbuffer|socat|nc) run_stream "$CUR" ;;
	rsync) run_rsync ;;
	dd-direct) run_dd 2M oflag=direct ;;
	dd-direct-16m) run_dd 16M oflag=direct ;;
	dd-fsync) run_dd 2M conv=fsync ;;
	discard) run_zc discard none --no-verify ;;
	discard-p4) run_zc discard none --no-verify -P 4 ;;
	discard-plain) run_zc discard none --no-verify --no-zerocopy ;;
	recvloop) run_recvloop ;;
	esac
}

# --- the rounds -------------------------------------------------------------------

ncand=$(wc -w <<<"$CANDIDATES")
msg "$ncand candidates x $ROUNDS rounds, $(human "$BYTES") in $FILES file(s) each, into $DEST_RUN"
msg "results: $OUT (*-$STAMP.*)"
printf 'round\tcandidate\tok\tbytes\twall_s\tgbps\trecv_user_us\trecv_sys_us\trecv_us_per_mb\tsys_cpu_us\tsys_us_per_mb\tzc_pct\tverified\ttlog_cpu_us\tsend_cpu_us\tsend_us_per_mb\tnote\n' >"$RUNS"
START=$(date +%s)
for ((round = 1; round <= ROUNDS; round++)); do
	for CUR in $CANDIDATES; do
		L=$LOGDIR/r$round-$CUR
		P_N=0
		reset_run
		empty_dir "$DEST_RUN"
		drop_caches
		run_candidate
		empty_dir "$DEST_RUN"
		line=$(awk -v r="$round" -v c="$CUR" -v ok="$R_OK" -v b="$BYTES" \
		    -v w="$R_WALL" -v u="$R_RU" -v s="$R_RS" -v sy="$R_SYS" \
		    -v z="$R_ZC" -v v="$R_VER" -v t="$R_TLOG" -v n="$R_NOTE" \
		    -v se="$R_SEND" 'BEGIN {
			mb = b / 1e6
			g = w > 0 ? b * 8 / w / 1e9 : 0
			printf "%d\t%s\t%d\t%.0f\t%.3f\t%.3f\t%d\t%d\t%.1f\t%d\t%.1f\t%.2f\t%s\t%s\t%d\t%.1f\t%s\n",
			    r, c, ok, b, w, g, u, s, (u + s) / mb, sy, sy / mb, z, v, t, se, se / mb, n
		}')
		printf '%s\n' "$line" >>"$RUNS"
		awk -F'\t' -v R="$ROUNDS" '{
			printf "round %d/%d %-13s %s %7.2f Gbit/s %8.1f us/MB recv %8.1f us/MB system %7.2f s zc %6.2f%% verified %s%s\n",
			    $1, R, $2, ($3 == 1 ? "ok  " : "FAIL"), $6, $9, $11, $5, $12, $13, ($17 != "" ? " (" $17 ")" : "")
		}' <<<"$line" >&2
	done
done
ELAPSED=$(( $(date +%s) - START ))

# --- medians, table, ratios, JSON, chart -----------------------------------------

awk -F'\t' -v order="$CANDIDATES" "$AWK_MEDIAN"'
NR == 1 { next }
{
	runs[$2]++
	if ($3 != 1) { fails[$2]++; next }
	ok[$2]++
	g[$2] = g[$2] " " $6; rc[$2] = rc[$2] " " $9; sc[$2] = sc[$2] " " $11
	w[$2] = w[$2] " " $5; z[$2] = z[$2] " " $12; v[$2] = $13
	se[$2] = se[$2] " " $16
}
END {
	printf "candidate\truns\tok\tgbps\trecv_us_per_mb\tsys_us_per_mb\twall_s\tzc_pct\tverified\tsend_us_per_mb\n"
	n = split(order, c, " ")
	for (i = 1; i <= n; i++) {
		k = c[i]
		if (ok[k] == 0) {
			printf "%s\t%d\t0\tNA\tNA\tNA\tNA\tNA\tno\tNA\n", k, runs[k]
			continue
		}
		printf "%s\t%d\t%d\t%.3f\t%.1f\t%.1f\t%.3f\t%.2f\t%s\t%.1f\n", k, runs[k], ok[k],
		    median(g[k]), median(rc[k]), median(sc[k]), median(w[k]), median(z[k]),
		    (fails[k] ? v[k] " (" ok[k] "/" runs[k] ")" : v[k]), median(se[k])
	}
}' "$RUNS" >"$MEDIANS"

# The table.
echo
echo "zcrecvd benchmark: $(human "$BYTES") in $FILES file(s) over loopback to $(fs_type "$DEST_RUN") ($(findmnt -n -o SOURCE -T "$DEST_RUN" 2>/dev/null)), medians of $ROUNDS interleaved rounds"
echo "$(uname -r), $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo
awk -F'\t' 'NR == 1 {
	printf "%-14s %8s %11s %11s %8s %7s  %-9s %11s\n", "candidate", "Gbit/s", "recv us/MB", "sys us/MB", "wall s", "zc %", "verified", "send us/MB"
	next
}
{
	if ($3 == 0) { printf "%-14s %8s %11s %11s %8s %7s  %-9s %11s\n", $1, "FAILED", "-", "-", "-", "-", "no", "-"; next }
	zc = ($1 ~ /^(zc-|base-|discard)/) ? sprintf("%.2f", $8) : "0"
	if ($1 ~ /^dd-/) zc = "-"
	printf "%-14s %8.2f %11.1f %11.1f %8.2f %7s  %-9s %11s\n", $1, $4, $5, $6, $7, zc, $9, ($1 ~ /^dd-/ ? "-" : sprintf("%.1f", $10))
}' "$MEDIANS"
echo
echo "recv us/MB: CPU (user+sys) of the receiving process tree per 10^6 bytes; for peers + the sync(1) that makes the file durable"
echo "sys us/MB: whole-machine non-idle CPU over the transfer per 10^6 bytes (sender, softirq, writeback, anything else running included)"
echo "send us/MB: CPU of the sending process (zcsend includes its XXH3 digest unless --no-verify)"

# Ratios against the issue's targets.
TARGETS=$OUT/targets-$STAMP.tsv
awk -F'\t' '
NR == FNR { if (FNR > 1 && $3 > 0) { g[$1] = $4; c[$1] = $5 } ; next }
function t(name, a, b, field, op, lim,   r, met) {
	if (!(a in g) || !(b in g)) { printf "%s\tNA\t%s %s\tnot measured\n", name, op, lim; return }
	r = field == "cpu" ? c[a] / c[b] : g[a] / g[b]
	met = (op == "<=") ? (r <= lim) : (r >= lim)
	printf "%s\t%.3f\t%s %s\t%s\n", name, r, op, lim, met ? "met" : "MISSED"
}
END {
	print "target\tratio\twant\tresult"
	t("zc-auto / dd-direct receiver CPU per MB", "zc-auto", "dd-direct", "cpu", "<=", 1.3)
	t("zc-auto / dd-direct throughput", "zc-auto", "dd-direct", "gbps", ">=", 0.9)
	t("zc-auto / mbuffer receiver CPU per MB", "zc-auto", "mbuffer", "cpu", "<=", 0.25)
	t("zc-auto / mbuffer throughput", "zc-auto", "mbuffer", "gbps", ">=", 2.5)
	t("discard / recvloop receiver CPU per MB", "discard", "recvloop", "cpu", "<=", 0.5)
}' "$MEDIANS" /dev/null >"$TARGETS"
echo
echo "targets (issue 4):"
awk -F'\t' 'NR > 1 { printf "  %-42s %7s  (want %s)  %s\n", $1, $2, $3, $4 }' "$TARGETS"

# JSON.
{
	printf '{\n  "benchmark": "zcrecvd bench/run.sh",\n'
	printf '  "command": "%s",\n' "$(printf '%s' "$CMDLINE" | json_escape)"
	printf '  "size_bytes": %s,\n  "files": %s,\n  "file_bytes": %s,\n  "rounds": %s,\n' \
	    "$BYTES" "$FILES" "$FILE_BYTES" "$ROUNDS"
	printf '  "candidates": [%s],\n' "$(printf '"%s",' $CANDIDATES | sed 's/,$//')"
	printf '  "elapsed_s": %s,\n  "units": {"mb": 1000000, "gbit": 1000000000},\n' "$ELAPSED"
	printf '  "machine": {\n'
	awk -F'\t' '{
		v = $2; gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v)
		printf "%s    \"%s\": \"%s\"", (NR > 1 ? ",\n" : ""), $1, v
	} END { print "" }' "$OUT/machine-$STAMP.tsv"
	printf '  },\n'
	awk -F'\t' -v key=runs '
	function v(x) { return (x == "NA" || x == "") ? "null" : x }
	NR == 1 { printf "  \"%s\": [\n", key; next }
	{
		gsub(/\\/, "\\\\", $17); gsub(/"/, "\\\"", $17)
		printf "%s    {\"round\": %d, \"candidate\": \"%s\", \"ok\": %s, \"bytes\": %s, \"wall_s\": %s, \"gbps\": %s, \"recv_user_us\": %s, \"recv_sys_us\": %s, \"recv_us_per_mb\": %s, \"sys_cpu_us\": %s, \"sys_us_per_mb\": %s, \"zc_pct\": %s, \"verified\": \"%s\", \"daemon_transfer_cpu_us\": %s, \"send_cpu_us\": %s, \"send_us_per_mb\": %s, \"note\": \"%s\"}",
		    (NR > 2 ? ",\n" : ""), $1, $2, ($3 == 1 ? "true" : "false"), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, v($14), $15, $16, $17
	}
	END { print "\n  ]," }' "$RUNS"
	awk -F'\t' '
	function v(x) { return (x == "NA" || x == "") ? "null" : x }
	NR == 1 { print "  \"medians\": ["; next }
	{
		printf "%s    {\"candidate\": \"%s\", \"runs\": %d, \"ok_runs\": %d, \"gbps\": %s, \"recv_us_per_mb\": %s, \"sys_us_per_mb\": %s, \"wall_s\": %s, \"zc_pct\": %s, \"verified\": \"%s\", \"send_us_per_mb\": %s}",
		    (NR > 2 ? ",\n" : ""), $1, $2, $3, v($4), v($5), v($6), v($7), v($8), $9, v($10)
	}
	END { print "\n  ]," }' "$MEDIANS"
	awk -F'\t' '
	NR == 1 { print "  \"targets\": ["; next }
	{
		printf "%s    {\"target\": \"%s\", \"ratio\": %s, \"want\": \"%s\", \"result\": \"%s\"}",
		    (NR > 2 ? ",\n" : ""), $1, ($2 == "NA" ? "null" : $2), $3, $4
	}
	END { print "\n  ]" }' "$TARGETS"
	printf '}\n'
} >"$JSON"

# Chart: receiver and whole-machine CPU per MB, and Gbit/s, per candidate.
CHART_DAT=$OUT/chart-$STAMP.dat
awk -F'\t' 'NR > 1 && $3 > 0 { printf "%s\t%s\t%s\t%s\n", $1, $5, $6, $4 }' "$MEDIANS" >"$CHART_DAT"
if command -v gnuplot >/dev/null 2>&1 && [ -s "$CHART_DAT" ]; then
	gnuplot <<EOF 2>"$LOGDIR/gnuplot.err" || msg "gnuplot failed: $(head -c 300 "$LOGDIR/gnuplot.err")"
set terminal pngcairo size 1400,1000 font "sans,10"
set output "$PNG"
set datafile separator "\t"
set multiplot layout 2,1 title "zcrecvd bench: $(human "$BYTES") over loopback to $(fs_type "$DEST_RUN"), medians of $ROUNDS rounds ($(uname -r), $(nproc) CPUs)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -30 nomirror
set key top left
set ylabel "CPU us per MB (10^6 bytes)"
set logscale y
set yrange [10:*]
set title "CPU per MB: receiving process (left) and whole machine (right), log scale; lower is better"
plot "$CHART_DAT" using 2:xtic(1) title "receiver us/MB" lc rgb "#1f77b4", \
     "" using 3 title "whole-machine us/MB" lc rgb "#aec7e8"
unset logscale y
set yrange [0:*]
set ylabel "Gbit/s"
set title "Throughput (wall clock to durable file); higher is better"
plot "$CHART_DAT" using 4:xtic(1) title "Gbit/s" lc rgb "#2ca02c", \
     "" using 0:4:(sprintf("%.2f", \$4)) with labels offset 0,0.7 notitle
unset multiplot
EOF
fi

echo
echo "runs:    $RUNS"
echo "medians: $MEDIANS"
echo "json:    $JSON"
[ -s "$PNG" ] && echo "chart:   $PNG"
echo "logs:    $LOGDIR"
echo "elapsed: ${ELAPSED} s"
