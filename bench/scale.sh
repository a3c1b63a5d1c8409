#!/bin/bash
# bench/scale.sh -- how zcrecvd scales (or: make bench-scale).
#
#	bench/scale.sh --zcrecvd PATH --zcsend PATH [options]
#
# Three tests, each against a fresh zcrecvd (default config: io = auto,
# verify = xxh3) on loopback, landing on a disk filesystem, page cache
# dropped before each run:
#  1. concurrency: the same SIZE of data (cut into K chunk files, K = the
#     largest connection count) sent over 1, 2, 4, 8, 16 concurrent zcsend
#     connections (chunk j goes to connection j mod N): aggregate Gbit/s,
#     receiver and whole-machine CPU per MB, every file verified.
#  2. many small files: 10,000 files of 64 KiB in one zcsend call: files per
#     second (and, for reference, the same files to an rsync daemon).
#  3. idle connections: 1,000 connections that said HELLO and then nothing,
#     held open: the daemon's RSS (VmRSS) before and while holding them, per
#     connection; and a 64 MiB transfer while they are held.
# Rounds are interleaved (1 2 4 8 16 1 2 4 ...); medians are reported.
# Output: a table on stdout, scale-STAMP.json and scale-STAMP.png under the
# output directory.  MB = 10^6 bytes, Gbit = 10^9 bits.

. "$(dirname "$0")/lib.sh"

SIZE=4G
CONNS="1 2 4 8 16"
SMALL_COUNT=10000
SMALL_SIZE=64K
IDLE=1000
ROUNDS=3
DEST_BASE=/var/tmp
OUT=
TIMEOUT=
TESTS="concurrency small idle"
SMALL_RSYNC=1
CMDLINE="$0 $*"

usage() {
	cat <<EOF
usage: $PROG --zcrecvd PATH --zcsend PATH [options]
  --size SIZE          data per concurrency run, all connections together (default $SIZE)
  --conns "LIST"       connection counts (default "$CONNS")
  --small-count N      files in the small-files run (default $SMALL_COUNT)
  --small-size SIZE    size of each small file (default $SMALL_SIZE)
  --no-rsync           small files: skip the rsync reference
  --idle N             idle connections to hold (default $IDLE)
  --rounds N           rounds of tests 1 and 2 (default $ROUNDS)
  --tests "LIST"       subset of: $TESTS
  --dest DIR           landing directory is made under DIR (default $DEST_BASE)
  --out DIR            results directory (default ./bench/results)
  --timeout SECONDS    bound of every transfer (default 120 + 1 s per 32 MiB)
  --helpers DIR        prebuilt cpurun, recvloop, holdconn
  --no-install         do not apt-get missing tools
EOF
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--zcrecvd) ZCRECVD=${2:?}; shift ;;
	--zcsend) ZCSEND=${2:?}; shift ;;
	--size) SIZE=${2:?}; shift ;;
	--conns) CONNS=${2:?}; CONNS=${CONNS//,/ }; shift ;;
	--small-count) SMALL_COUNT=${2:?}; shift ;;
	--small-size) SMALL_SIZE=${2:?}; shift ;;
	--no-rsync) SMALL_RSYNC=0 ;;
	--idle) IDLE=${2:?}; shift ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--tests) TESTS=${2:?}; TESTS=${TESTS//,/ }; shift ;;
	--dest) DEST_BASE=${2:?}; shift ;;
	--out) OUT=${2:?}; shift ;;
	--timeout) TIMEOUT=${2:?}; shift ;;
	--helpers) HELPERS=${2:?}; shift ;;
	--no-install) INSTALL=0 ;;
	-h|--help) usage 0 ;;
	*) msg "unknown option '$1'"; usage ;;
	esac
	shift
done

BYTES=$(parse_size "$SIZE")
SMALL_BYTES=$(parse_size "$SMALL_SIZE")
for n in $CONNS $ROUNDS $SMALL_COUNT $IDLE; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "expected a positive number, got '$n'"
done
for t in $TESTS; do
	case $t in concurrency|small|idle) ;; *) die "unknown test '$t'" ;; esac
done
has_test() { [[ " $TESTS " == *" $1 "* ]]; }
KMAX=1
for n in $CONNS; do [ "$n" -gt "$KMAX" ] && KMAX=$n; done
CHUNK=$((BYTES / KMAX))
BYTES=$((CHUNK * KMAX))
[ "$CHUNK" -gt 0 ] || die "--size too small"
[ -n "$TIMEOUT" ] || TIMEOUT=$((120 + BYTES / (32 * 1024 * 1024)))
ZC_LIFETIME=$((TIMEOUT + 120))
OUT=${OUT:-$PWD/bench/results}

check_programs
check_root
need_packages rsync:rsync gnuplot:gnuplot-nox xxh128sum:xxhash \
    timeout:coreutils pgrep:procps findmnt:util-linux
make_work
build_helpers
make_dest "$DEST_BASE"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
LOGDIR=$OUT/scale-logs-$STAMP
mkdir -p "$LOGDIR"
RES=$OUT/scale-runs-$STAMP.tsv
JSON=$OUT/scale-$STAMP.json
PNG=$OUT/scale-$STAMP.png
machine_facts "$DEST_RUN" >"$OUT/scale-machine-$STAMP.tsv"
printf 'test\tround\tparam\tok\tbytes\tfiles\twall_s\tgbps\tfiles_per_s\trecv_us\trecv_us_per_mb\tsys_us_per_mb\tzc_pct\tverified\tnote\n' >"$RES"

# The daemon may hold many descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# record TEST ROUND PARAM OK BYTES FILES WALL RECV_US SYS_US ZC VERIFIED NOTE
record() {
	awk -v t="$1" -v r="$2" -v p="$3" -v ok="$4" -v b="$5" -v f="$6" -v w="$7" \
	    -v u="$8" -v s="$9" -v z="${10}" -v v="${11}" -v n="${12}" 'BEGIN {
		mb = b / 1e6
		printf "%s\t%s\t%s\t%d\t%.0f\t%d\t%.3f\t%.3f\t%.1f\t%d\t%.1f\t%.1f\t%.2f\t%s\t%s\n",
		    t, r, p, ok, b, f, w, (w > 0 ? b * 8 / w / 1e9 : 0), (w > 0 ? f / w : 0),
		    u, (mb > 0 ? u / mb : 0), (mb > 0 ? s / mb : 0), z, v, n
	}' | tee -a "$RES" | awk -F'\t' '{
		printf "%-11s round %s %-8s %s %7.2f Gbit/s %9.1f files/s %8.1f us/MB recv %8.1f us/MB system zc %6.2f%% verified %s%s\n",
		    $1, $2, $3, ($4 == 1 ? "ok  " : "FAIL"), $8, $9, $11, $12, $13, $14, ($15 != "" ? " (" $15 ")" : "")
	}' >&2
}

# --- 1. concurrency -------------------------------------------------------------

test_concurrency() {
	local i j n round pids files rc ok note u s ok_f nf b z c h bad
	msg "concurrency: $(human "$BYTES") in $KMAX chunks of $(human "$CHUNK") over $CONNS connections, $ROUNDS rounds"
	mkdir -p "$WORK/conc"
	declare -gA CHASH=()
	for ((i = 1; i <= KMAX; i++)); do
		f=$(printf '%s/conc/chunk-%02d.bin' "$WORK" "$i")
		head -c "$CHUNK" /dev/urandom >"$f"
		CHASH[$(basename "$f")]=$(xxh128sum "$f" 2>/dev/null | awk '{ print $1 }')
	done
	for ((round = 1; round <= ROUNDS; round++)); do
		for n in $CONNS; do
			local L=$LOGDIR/conc-r$round-n$n
			R_WALL=0 R_SYS=0
			ok=1 note=''
			empty_dir "$DEST_RUN"
			drop_caches
			if ! start_zcrecvd "conc-$n" \
			    server.max_connections_per_address=2000 \
			    server.max_connections=2000; then
				record concurrency "$round" "$n" 0 "$BYTES" "$KMAX" 0 0 0 0 no "zcrecvd did not start"
				continue
			fi
			pids=()
			window_start
			for ((j = 0; j < n; j++)); do
				files=()
				for ((i = j + 1; i <= KMAX; i += n)); do
					files+=("$(printf '%s/conc/chunk-%02d.bin' "$WORK" "$i")")
				done
				timeout -k 5 "$TIMEOUT" "$ZCSEND" -q -t 60 "${files[@]}" \
				    "127.0.0.1:$ZC_PORT" >"$L.c$j.out" 2>"$L.c$j.err" &
				pids+=($!)
			done
			for j in "${!pids[@]}"; do
				rc=0
				wait "${pids[$j]}" || rc=$?
				[ "$rc" = 0 ] || { ok=0; note="${note:+$note; }connection $j: zcsend exit $rc $(head -c 200 "$L.c$j.err")"; }
			done
			window_end
			stop_zcrecvd
			u=$ZC_U s=$ZC_S
			cp "$ZC_LOG" "$L.daemon.log"; cp "$ZC_TLOG" "$L.tlog" 2>/dev/null || true
			[ "$u" = NA ] && { ok=0; note="${note:+$note; }no daemon CPU"; u=0 s=0; }
			read -r ok_f nf b z c < <(tlog_sum "$ZC_TLOG")
			[ "$ok_f" = "$KMAX" ] && [ "$b" = "$BYTES" ] ||
			    { ok=0; note="${note:+$note; }log: $ok_f/$KMAX files ok, $b bytes"; }
			bad=0
			for f in "${!CHASH[@]}"; do
				h=$(xxh128sum "$DEST_RUN/$f" 2>/dev/null | awk '{ print $1 }')
				[ "$h" = "${CHASH[$f]}" ] || bad=$((bad + 1))
			done
			[ "$bad" = 0 ] || { ok=0; note="${note:+$note; }$bad files missing or different"; }
			empty_dir "$DEST_RUN"
			record concurrency "$round" "$n" "$ok" "$BYTES" "$KMAX" "$R_WALL" \
			    $((u + s)) "$R_SYS" \
			    "$(awk -v z="$z" -v b="$b" 'BEGIN { printf "%.2f", (b > 0 ? 100 * z / b : 0) }')" \
			    "$([ "$bad" = 0 ] && echo yes || echo no)" "$note"
		done
	done
	safe_rm_dir "$WORK/conc"
}

# --- 2. many small files --------------------------------------------------------

test_small() {
	local round L ok note u s rc ok_f nf b z c port conf dpid t kind
	local total=$((SMALL_COUNT * SMALL_BYTES))
	msg "small files: $SMALL_COUNT files of $(human "$SMALL_BYTES") in one zcsend call, $ROUNDS rounds"
	mkdir -p "$WORK/small"
	head -c "$total" /dev/urandom | (cd "$WORK/small" &&
	    split -b "$SMALL_BYTES" -d -a 6 --additional-suffix=.bin - small-)
	[ "$(find "$WORK/small" -name 'small-*.bin' | wc -l)" = "$SMALL_COUNT" ] ||
	    die "could not make $SMALL_COUNT small files"
	(cd "$WORK/small" && xxh128sum small-*.bin 2>/dev/null) >"$WORK/small.sums"
	mapfile -t SMALL < <(find "$WORK/small" -name 'small-*.bin' | sort)
	for ((round = 1; round <= ROUNDS; round++)); do
		for kind in zcsend rsync rsync-fsync; do
			[ "$kind" != zcsend ] && [ "$SMALL_RSYNC" = 0 ] && continue
			L=$LOGDIR/small-r$round-$kind
			R_WALL=0 R_SYS=0
			ok=1 note='' z=0
			empty_dir "$DEST_RUN"
			drop_caches
			if [ "$kind" = zcsend ]; then
				if ! start_zcrecvd small; then
					record small "$round" "$kind" 0 "$total" "$SMALL_COUNT" 0 0 0 0 no "zcrecvd did not start"
					continue
				fi
				rc=0
				window_start
				timeout -k 5 "$TIMEOUT" "$ZCSEND" -q -t 60 "${SMALL[@]}" \
				    "127.0.0.1:$ZC_PORT" >"$L.out" 2>"$L.err" || rc=$?
				window_end
				stop_zcrecvd
				u=$ZC_U s=$ZC_S
				cp "$ZC_LOG" "$L.daemon.log"; cp "$ZC_TLOG" "$L.tlog" 2>/dev/null || true
				[ "$rc" = 0 ] || { ok=0; note="zcsend exit $rc $(head -c 200 "$L.err")"; }
				[ "$u" = NA ] && { ok=0; u=0 s=0; }
				read -r ok_f nf b z c < <(tlog_sum "$ZC_TLOG")
				[ "$ok_f" = "$SMALL_COUNT" ] || { ok=0; note="${note:+$note; }log: $ok_f files ok"; }
				z=$(awk -v z="$z" -v b="$b" 'BEGIN { printf "%.2f", (b > 0 ? 100 * z / b : 0) }')
			else
				port=$(pick_port)
				conf=$WORK/run/rsyncd-small.conf
				rsyncd_conf "$conf" "$DEST_RUN" "$L.rsyncd.log"
				"$H_CPURUN" -o "$L.cpu" -t $((TIMEOUT + 60)) -- rsync --daemon \
				    --no-detach --config="$conf" --port="$port" \
				    --address=127.0.0.1 >"$L.out" 2>"$L.err" </dev/null &
				P_PID=$!
				track "$P_PID"
				wait_listen "$port" 20 "$P_PID" || { ok=0; note="rsync daemon did not listen"; }
				dpid=$(pgrep -P "$P_PID" | head -1)
				rc=0
				window_start
				timeout -k 5 "$TIMEOUT" rsync -r \
				    $([ "$kind" = rsync-fsync ] && echo --fsync) "$WORK/small/" \
				    "rsync://127.0.0.1:$port/bench/" >"$L.send.out" 2>"$L.send.err" || rc=$?
				t=$(( $(date +%s) + 30 ))
				while [ -n "$dpid" ] && pgrep -P "$dpid" >/dev/null &&
				    [ "$(date +%s)" -lt "$t" ]; do
					sleep 0.01
				done
				# Durable, as zcrecvd's per-file fsync makes its files.
				"$H_CPURUN" -o "$L.sync.cpu" -t "$TIMEOUT" -- sync -f "$DEST_RUN" || true
				window_end
				[ "$rc" = 0 ] || { ok=0; note="rsync exit $rc $(head -c 200 "$L.send.err")"; }
				[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
				bounded_wait "$P_PID" || true
				u=0 s=0
				[ -s "$L.cpu" ] && read -r u s _ <"$L.cpu"
				[ -s "$L.sync.cpu" ] && { read -r a b2 _ <"$L.sync.cpu"; u=$((u + a)); s=$((s + b2)); }
			fi
			if (cd "$DEST_RUN" && xxh128sum -c --quiet "$WORK/small.sums" >"$L.check" 2>&1); then
				v=yes
			else
				v=no; ok=0; note="${note:+$note; }$(grep -c FAILED "$L.check" || true) files differ or missing"
			fi
			empty_dir "$DEST_RUN"
			record small "$round" "$kind" "$ok" "$total" "$SMALL_COUNT" "$R_WALL" \
			    $((u + s)) "$R_SYS" "$z" "$v" "$note"
		done
	done
	safe_rm_dir "$WORK/small"
}

# --- 3. idle connections ----------------------------------------------------------

IDLE_LINE=
test_idle() {
	local L=$LOGDIR/idle rss0 rss1 vsz0 vsz1 fd0 fd1 thr hpid held rc=0 ok=1 note='' f t
	msg "idle connections: $IDLE connections that said HELLO"
	start_zcrecvd idle server.max_connections_per_address=$((IDLE + 100)) \
	    server.max_connections=$((IDLE + 100)) server.idle_timeout=600 \
	    server.stall_timeout=600 || die "zcrecvd did not start"
	sleep 1
	rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$ZC_DPID/status")
	vsz0=$(awk '/^VmSize/ { print $2 }' "/proc/$ZC_DPID/status")
	fd0=$(find "/proc/$ZC_DPID/fd" -mindepth 1 | wc -l)
	"$H_HOLDCONN" -t 300 127.0.0.1 "$ZC_PORT" "$IDLE" >"$L.hold.out" 2>"$L.hold.err" &
	hpid=$!
	track "$hpid"
	wait_line "$L.hold.out" '^holding' 120 "$hpid" || { ok=0; note="holdconn did not report"; }
	held=$(sed -n 's/^holding \([0-9]*\) connections/\1/p' "$L.hold.out")
	[ "${held:-0}" = "$IDLE" ] || { ok=0; note="${note:+$note; }held ${held:-0} of $IDLE: $(head -c 200 "$L.hold.err")"; }
	sleep 2
	rss1=$(awk '/^VmRSS/ { print $2 }' "/proc/$ZC_DPID/status")
	vsz1=$(awk '/^VmSize/ { print $2 }' "/proc/$ZC_DPID/status")
	fd1=$(find "/proc/$ZC_DPID/fd" -mindepth 1 | wc -l)
	thr=$(awk '/^Threads/ { print $2 }' "/proc/$ZC_DPID/status")
	# One real transfer while they are held.
	f=$WORK/idle-probe.bin
	head -c $((64 * 1024 * 1024)) /dev/urandom >"$f"
	t=$(now)
	timeout -k 5 120 "$ZCSEND" -q -t 60 "$f" "127.0.0.1:$ZC_PORT" >"$L.probe.out" 2>"$L.probe.err" || rc=$?
	t=$(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
	[ "$rc" = 0 ] || { ok=0; note="${note:+$note; }probe transfer exit $rc"; }
	kill -TERM "$hpid" 2>/dev/null || true
	wait "$hpid" 2>/dev/null || true
	untrack "$hpid"
	stop_zcrecvd
	cp "$ZC_LOG" "$L.daemon.log"
	empty_dir "$DEST_RUN"
	rm -f "$f"
	IDLE_LINE=$(awk -v n="$IDLE" -v h="${held:-0}" -v r0="$rss0" -v r1="$rss1" -v v0="$vsz0" \
	    -v v1="$vsz1" -v f0="$fd0" -v f1="$fd1" -v th="$thr" -v pt="$t" -v ok="$ok" -v note="$note" 'BEGIN {
		printf "%d\t%d\t%d\t%d\t%.2f\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n",
		    n, h, r0, r1, (h > 0 ? (r1 - r0) / h : 0), v0, v1, f0, f1, th, pt, ok, note
	}')
	printf 'idle\t1\t%s\t%d\t0\t0\t0\t0\t0\t0\t0\t0\t0\t%s\t%s\n' "$IDLE" "$ok" \
	    "$([ "$ok" = 1 ] && echo yes || echo no)" \
	    "$(awk -F'\t' '{ printf "rss %d -> %d KiB, %.2f KiB/conn, probe 64 MiB in %s s", $3, $4, $5, $11 }' <<<"$IDLE_LINE")" >>"$RES"
}

START=$(date +%s)
has_test concurrency && test_concurrency
has_test small && test_small
has_test idle && test_idle
ELAPSED=$(( $(date +%s) - START ))

# --- report ---------------------------------------------------------------------------

MED=$OUT/scale-medians-$STAMP.tsv
awk -F'\t' "$AWK_MEDIAN"'
NR == 1 || $1 == "idle" { next }
{
	k = $1 SUBSEP $3
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	runs[k]++
	if ($4 != 1) next
	ok[k]++
	w[k] = w[k] " " $7; g[k] = g[k] " " $8; fps[k] = fps[k] " " $9
	rc[k] = rc[k] " " $11; sc[k] = sc[k] " " $12; zc[k] = zc[k] " " $13
	us[k] = us[k] " " ($10 / $6)
}
END {
	print "test\tparam\truns\tok\twall_s\tgbps\tfiles_per_s\trecv_us_per_mb\tsys_us_per_mb\tzc_pct\trecv_us_per_file"
	for (i = 1; i <= n; i++) {
		k = order[i]; split(k, p, SUBSEP)
		if (!ok[k]) { printf "%s\t%s\t%d\t0\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n", p[1], p[2], runs[k]; continue }
		printf "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\n", p[1], p[2], runs[k], ok[k],
		    median(w[k]), median(g[k]), median(fps[k]), median(rc[k]), median(sc[k]), median(zc[k]), median(us[k])
	}
}' "$RES" >"$MED"

echo
echo "zcrecvd scaling: loopback to $(fs_type "$DEST_RUN") ($(findmnt -n -o SOURCE -T "$DEST_RUN" 2>/dev/null)), $(uname -r), $(nproc) CPUs; medians of $ROUNDS rounds"
if has_test concurrency; then
	echo
	echo "1. concurrency: $(human "$BYTES") per run in $KMAX files of $(human "$CHUNK"), spread over N zcsend connections"
	awk -F'\t' 'NR == 1 { printf "%-12s %8s %11s %11s %8s %7s %6s\n", "connections", "Gbit/s", "recv us/MB", "sys us/MB", "wall s", "zc %", "ok"; next }
	$1 == "concurrency" {
		if ($4 == 0) { printf "%-12s %8s\n", $2, "FAILED"; next }
		printf "%-12s %8.2f %11.1f %11.1f %8.2f %7.2f %6s\n", $2, $6, $8, $9, $5, $10, $4 "/" $3
	}' "$MED"
	awk -F'\t' '$1 == "concurrency" && $4 > 0 { g[$2] = $6; last = $2; if (first == "") first = $2 }
	END {
		if (first == "" || last == first) exit
		r = g[last] / g[first]
		printf "target: %s connections aggregate / %s connection = %.3f (want >= 1)  %s\n", last, first, r, (r >= 1 ? "met" : "MISSED")
	}' "$MED"
	awk -F'\t' 'NR > 1 && $1 == "concurrency" && $4 == 0 { bad++ } END { print (bad ? "lost or failed runs: " bad " (see the runs file)" : "nothing lost: every file of every run landed and verified") }' "$RES"
fi
if has_test small; then
	echo
	echo "2. small files: $SMALL_COUNT files of $(human "$SMALL_BYTES") in one call (fsync per file)"
	awk -F'\t' 'NR == 1 { printf "%-12s %10s %8s %8s %13s %11s %6s\n", "sender", "files/s", "Gbit/s", "wall s", "recv us/file", "sys us/MB", "ok"; next }
	$1 == "small" {
		if ($4 == 0) { printf "%-10s %10s\n", $2, "FAILED"; next }
		printf "%-12s %10.1f %8.3f %8.2f %13.1f %11.1f %6s\n", $2 (($2 ~ /^rsync/) ? "*" : ""), $7, $6, $5, $11, $9, $4 "/" $3
	}' "$MED"
	[ "$SMALL_RSYNC" = 1 ] && echo "* rsync daemon (rsync -r [--fsync] DIR/ rsync://...), then sync -f: a reference, not a target;" &&
	    echo "  zcrecvd fsyncs each file and the directory and answers each file before zcsend sends the next"
fi
if has_test idle && [ -n "$IDLE_LINE" ]; then
	echo
	echo "3. idle connections (HELLO, then nothing)"
	awk -F'\t' '{
		printf "held %d of %d; daemon VmRSS %d KiB -> %d KiB (+%.2f KiB per connection); VmSize %d -> %d KiB; fds %d -> %d; threads %d\n",
		    $2, $1, $3, $4, $5, $6, $7, $8, $9, $10
		printf "a 64 MiB zcsend while they were held: %s s%s\n", $11, ($12 == 1 ? "" : " (FAILED: " $13 ")")
	}' <<<"$IDLE_LINE"
fi

# JSON.
{
	printf '{\n  "benchmark": "zcrecvd bench/scale.sh",\n'
	printf '  "command": "%s",\n' "$(printf '%s' "$CMDLINE" | json_escape)"
	printf '  "rounds": %s,\n  "elapsed_s": %s,\n' "$ROUNDS" "$ELAPSED"
	printf '  "concurrency": {"bytes": %s, "files": %s, "file_bytes": %s, "connections": [%s]},\n' \
	    "$BYTES" "$KMAX" "$CHUNK" "$(echo $CONNS | tr ' ' ,)"
	printf '  "small_files": {"count": %s, "file_bytes": %s},\n' "$SMALL_COUNT" "$SMALL_BYTES"
	printf '  "machine": {\n'
	awk -F'\t' '{
		v = $2; gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v)
		printf "%s    \"%s\": \"%s\"", (NR > 1 ? ",\n" : ""), $1, v
	} END { print "" }' "$OUT/scale-machine-$STAMP.tsv"
	printf '  },\n'
	awk -F'\t' '
	NR == 1 { print "  \"runs\": ["; next }
	{
		gsub(/\\/, "\\\\", $15); gsub(/"/, "\\\"", $15)
		printf "%s    {\"test\": \"%s\", \"round\": %s, \"param\": \"%s\", \"ok\": %s, \"bytes\": %s, \"files\": %s, \"wall_s\": %s, \"gbps\": %s, \"files_per_s\": %s, \"recv_cpu_us\": %s, \"recv_us_per_mb\": %s, \"sys_us_per_mb\": %s, \"zc_pct\": %s, \"verified\": \"%s\", \"note\": \"%s\"}",
		    (NR > 2 ? ",\n" : ""), $1, $2, $3, ($4 == 1 ? "true" : "false"), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
	}
	END { print "\n  ]," }' "$RES"
	awk -F'\t' '
	function v(x) { return x == "NA" ? "null" : x }
	NR == 1 { print "  \"medians\": ["; next }
	{
		printf "%s    {\"test\": \"%s\", \"param\": \"%s\", \"runs\": %s, \"ok_runs\": %s, \"wall_s\": %s, \"gbps\": %s, \"files_per_s\": %s, \"recv_us_per_mb\": %s, \"sys_us_per_mb\": %s, \"zc_pct\": %s, \"recv_us_per_file\": %s}",
		    (NR > 2 ? ",\n" : ""), $1, $2, $3, $4, v($5), v($6), v($7), v($8), v($9), v($10), v($11)
	}
	END { print "\n  ]," }' "$MED"
	if [ -n "$IDLE_LINE" ]; then
		awk -F'\t' '{
			gsub(/"/, "\\\"", $13)
			printf "  \"idle\": {\"connections\": %d, \"held\": %d, \"rss_before_kib\": %d, \"rss_held_kib\": %d, \"rss_per_connection_kib\": %s, \"vmsize_before_kib\": %d, \"vmsize_held_kib\": %d, \"fds_before\": %d, \"fds_held\": %d, \"threads\": %d, \"probe_64mib_s\": %s, \"ok\": %s, \"note\": \"%s\"}\n",
			    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, ($12 == 1 ? "true" : "false"), $13
		}' <<<"$IDLE_LINE"
	else
		printf '  "idle": null\n'
	fi
	printf '}\n'
} >"$JSON"

# Chart: aggregate Gbit/s and receiver CPU per MB against connections.
if has_test concurrency && command -v gnuplot >/dev/null 2>&1; then
	DAT=$OUT/scale-$STAMP.dat
	awk -F'\t' '$1 == "concurrency" && $4 > 0 { print $2 "\t" $6 "\t" $8 "\t" $9 }' "$MED" >"$DAT"
	if [ -s "$DAT" ]; then
		gnuplot <<EOF 2>"$LOGDIR/gnuplot.err" || msg "gnuplot failed: $(head -c 300 "$LOGDIR/gnuplot.err")"
set terminal pngcairo size 1000,500 font "sans,10"
set output "$PNG"
set datafile separator "\t"
set title "zcrecvd: $(human "$BYTES") over N concurrent zcsend connections to $(fs_type "$DEST_RUN") (medians of $ROUNDS; $(nproc) CPUs)"
set xlabel "concurrent connections"
set logscale x 2
set xrange [0.8:$(awk -v k="$KMAX" 'BEGIN { print k * 1.25 }')]
set xtics ($(echo $CONNS | sed 's/\([0-9]*\)/"\1" \1/g; s/ "/, "/g'))
set ylabel "aggregate Gbit/s"
set y2label "CPU us per MB"
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid
set key bottom center
plot "$DAT" using 1:2 with linespoints lw 2 pt 7 title "aggregate Gbit/s", \
     "" using 1:3 axes x1y2 with linespoints lw 2 pt 5 title "receiver us/MB", \
     "" using 1:4 axes x1y2 with linespoints lw 1 pt 4 dt 2 title "whole-machine us/MB"
EOF
	fi
fi

echo
echo "runs:    $RES"
echo "medians: $MED"
echo "json:    $JSON"
[ -s "$PNG" ] && echo "chart:   $PNG"
echo "logs:    $LOGDIR"
echo "elapsed: ${ELAPSED} s"
