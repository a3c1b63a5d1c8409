#!/bin/bash
# bench/tree.sh -- trees and many small files: zcrecvd against the rsync
# daemon (or: make bench-tree).  Issue 9's targets.
#
#	bench/tree.sh --zcrecvd PATH --zcsend PATH [options]
#
# Datasets, generated reproducibly in tmpfs (bench/mktree: fixed seed,
# fixed mtimes):
#   64k   10,000 files of 64 KiB in 250 leaf directories (10 x 25)
#   4k    100,000 files of 4 KiB in 400 leaf directories (20 x 20)
#   doc   a copy of /usr/share/doc (the mixed tree: sizes, depths, symlinks)
# Candidates, interleaved within each round (page cache dropped before
# every run), medians over the rounds:
#   zc           zcrecvd, default config (fsync on, verify xxh3); the sender is
#                `zcsend -r DIR host:port` when zcsend has -r (version 2),
#                else zcsend's version 1, `zcsend FILE... host:port` (files
#                land flat: their names are unique), in as few calls as the
#                argument list allows
#   rsync        rsync daemon on loopback, `rsync -a DIR/ rsync://.../bench/DIR/`,
#                then `sync -f` of the destination (durable, as zcrecvd's)
#   rsync-fsync  the same with `rsync -a --fsync` (fsync per file), then sync -f
# Per run: wall time from starting the sender until the data is durable,
# files per second, the receiver's CPU (daemon process tree) per file and
# the whole machine's; the landed tree is compared with the source (paths,
# types, symlink targets, XXH3-128 of every file).  Then a 4 GiB single
# file through bench/run.sh (zc-auto, and base-auto with --baseline), to
# show that large files are not slowed.
# Output: a markdown table and the ratios against issue 9's targets on
# stdout and in tree-STAMP.md, tree-STAMP.json, tree-runs-STAMP.tsv,
# tree-logs-STAMP/ under --out.

. "$(dirname "$0")/lib.sh"

ALL_DATASETS="64k 4k doc"
ALL_CANDIDATES="zc rsync rsync-fsync"
DATASETS=$ALL_DATASETS
CANDIDATES=$ALL_CANDIDATES
ROUNDS=3
DEST_BASE=/var/tmp
LOOP_SIZE=
COUNT_64K=10000
COUNT_4K=100000
DOC_SRC=/usr/share/doc
ZC_MODE=auto
LARGE=4G
LARGE_ROUNDS=3
BASELINE=
ZC_OPTS=()
OUT=
TIMEOUT=
CMDLINE="$0 $*"

usage() {
	cat <<EOF
usage: $PROG --zcrecvd PATH --zcsend PATH [options]
  --datasets LIST     comma-separated subset of: ${ALL_DATASETS// /,} (default all)
  --candidates LIST   comma-separated subset of: ${ALL_CANDIDATES// /,} (default all)
  --rounds N          rounds; medians are over them (default $ROUNDS)
  --count-64k N       files in the 64k dataset (default $COUNT_64K)
  --count-4k N        files in the 4k dataset (default $COUNT_4K)
  --doc DIR           the mixed tree to copy (default $DOC_SRC)
  --zc-mode MODE      auto (tree if zcsend has -r), tree, or flat (version 1
                      zcsend, files land flat; not for doc) (default $ZC_MODE)
  --dest DIR          the landing directory is made under DIR (default $DEST_BASE;
                      a disk filesystem, not tmpfs)
  --loop SIZE         land on a fresh ext4 image of SIZE (e.g. 8G), a file under
                      --dest, loop-mounted (instead of --dest's own filesystem)
  --large SIZE|none   single-file run through bench/run.sh (default $LARGE)
  --large-rounds N    its rounds (default $LARGE_ROUNDS)
  --baseline PATH|DIR|REV  an older zcrecvd for the single-file comparison
                      (base-auto): a binary, a build directory, or a git revision
  --zc-opt KEY=VALUE  a [default] option for zcrecvd in the tree runs (repeatable;
                      server.KEY=VALUE for [server]), e.g. io=write: experiments
  --out DIR           results directory (default ./bench/results)
  --timeout SECONDS   bound of every transfer (default 300 + 1 s per 50 files)
  --helpers DIR       prebuilt cpurun, recvloop, holdconn, mktree
  --no-install        do not apt-get missing tools
EOF
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--zcrecvd) ZCRECVD=${2:?}; shift ;;
	--zcsend) ZCSEND=${2:?}; shift ;;
	--datasets) DATASETS=${2:?}; DATASETS=${DATASETS//,/ }; shift ;;
	--candidates) CANDIDATES=${2:?}; CANDIDATES=${CANDIDATES//,/ }; shift ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--count-64k) COUNT_64K=${2:?}; shift ;;
	--count-4k) COUNT_4K=${2:?}; shift ;;
	--doc) DOC_SRC=${2:?}; shift ;;
	--zc-mode) ZC_MODE=${2:?}; shift ;;
	--dest) DEST_BASE=${2:?}; shift ;;
	--loop) LOOP_SIZE=${2:?}; shift ;;
	--large) LARGE=${2:?}; shift ;;
	--large-rounds) LARGE_ROUNDS=${2:?}; shift ;;
	--baseline) BASELINE=${2:?}; shift ;;
	--zc-opt) ZC_OPTS+=("${2:?}"); shift ;;
	--out) OUT=${2:?}; shift ;;
	--timeout) TIMEOUT=${2:?}; shift ;;
	--helpers) HELPERS=${2:?}; shift ;;
	--no-install) INSTALL=0 ;;
	-h|--help) usage 0 ;;
	*) msg "unknown option '$1'"; usage ;;
	esac
	shift
done

for d in $DATASETS; do
	[[ " $ALL_DATASETS " == *" $d "* ]] || die "unknown dataset '$d'"
done
for c in $CANDIDATES; do
	[[ " $ALL_CANDIDATES " == *" $c "* ]] || die "unknown candidate '$c'"
done
for n in $ROUNDS $COUNT_64K $COUNT_4K $LARGE_ROUNDS; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "expected a positive number, got '$n'"
done
case $ZC_MODE in auto|tree|flat) ;; *) die "--zc-mode: auto, tree or flat" ;; esac
[ "$LARGE" = none ] || LARGE_BYTES=$(parse_size "$LARGE")
[ -z "$LOOP_SIZE" ] || LOOP_BYTES=$(parse_size "$LOOP_SIZE")
OUT=${OUT:-$PWD/bench/results}

check_programs
check_root
[ "$(id -u)" = 0 ] || die "run as root (page cache, the rsync daemon's chroot)"
need_packages rsync:rsync xxh128sum:xxhash timeout:coreutils pgrep:procps \
    findmnt:util-linux mkfs.ext4:e2fsprogs losetup:mount
make_work
build_helpers
[ -z "$BASELINE" ] || baseline_resolve "$BASELINE"

# bench/mktree: from --helpers, else compiled here.
if [ -n "$HELPERS" ] && [ -x "$HELPERS/mktree" ]; then
	H_MKTREE=$HELPERS/mktree
else
	"${CC:-cc}" -std=gnu11 -O2 -o "$WORK/bin/mktree" "$BENCH_SRC/mktree.c" ||
	    die "cannot compile $BENCH_SRC/mktree.c"
	H_MKTREE=$WORK/bin/mktree
fi

# What this zcsend and zcrecvd can do.
ZC_TREE=0
if "$ZCSEND" --help 2>&1 | grep -Eq '(^|[[:space:],])-r([,[:space:]]|$)'; then
	ZC_TREE=1
fi
case $ZC_MODE in
auto) [ "$ZC_TREE" = 1 ] && ZC_MODE=tree || ZC_MODE=flat ;;
tree) [ "$ZC_TREE" = 1 ] || die "--zc-mode tree: $ZCSEND has no -r" ;;
esac
ZC_LINKS=0
"$ZCSEND" --help 2>&1 | grep -q -- '--links' && ZC_LINKS=1
# Options the daemon knows (unknown keys are errors in its config).
zc_knows() {
	printf '[server]\nlisten = 127.0.0.1:0\n[default]\npath = /\n' >"$WORK/run/probe.conf"
	"$ZCRECVD" -T -f "$WORK/run/probe.conf" 2>/dev/null | grep -Eq "^[[:space:]]*$1[[:space:]]*="
}
ZC_SYMLINKS=0
zc_knows allow_symlinks && ZC_SYMLINKS=1

# --- the destination ------------------------------------------------------------

LOOP_IMG= LOOP_DEV= LOOP_MNT=
loop_teardown() {
	[ -n "$LOOP_MNT" ] && mountpoint -q "$LOOP_MNT" && umount "$LOOP_MNT"
	[ -n "$LOOP_DEV" ] && losetup -d "$LOOP_DEV" 2>/dev/null
	[ -n "$LOOP_IMG" ] && [ -f "$LOOP_IMG" ] && rm -f -- "$LOOP_IMG"
	LOOP_IMG= LOOP_DEV= LOOP_MNT=
}
tree_cleanup() {
	local rc=$? pid
	trap - EXIT
	for pid in "${BG_PIDS[@]}"; do
		end_pid "$pid"
	done
	BG_PIDS=()
	if [ -n "$LOOP_MNT" ]; then
		[ -n "$DEST_RUN" ] && safe_rm_dir "$DEST_RUN"
		DEST_RUN=
		loop_teardown || true
	fi
	# lib.sh's cleanup reads the status from $?; errexit must not act on it.
	set +e
	(exit "$rc")
	cleanup
}
trap tree_cleanup EXIT

if [ -n "$LOOP_SIZE" ]; then
	[ "$(id -u)" = 0 ] || die "--loop needs root"
	[ "$(fs_type "$DEST_BASE")" != tmpfs ] || die "--dest $DEST_BASE is tmpfs"
	LOOP_IMG=$(mktemp "$DEST_BASE/zcbench-tree.XXXXXX.img")
	truncate -s "$LOOP_BYTES" "$LOOP_IMG"
	# Inode tables and journal written now, not in the background during runs.
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -N 400000 \
	    "$LOOP_IMG" || die "mkfs.ext4 failed"
	LOOP_DEV=$(losetup --find --show --direct-io=on "$LOOP_IMG") ||
	    die "losetup failed"
	LOOP_MNT=$WORK/mnt
	mkdir -p "$LOOP_MNT"
	mount -t ext4 "$LOOP_DEV" "$LOOP_MNT" || die "mount $LOOP_DEV failed"
	make_dest "$LOOP_MNT"
else
	make_dest "$DEST_BASE"
fi

# --- datasets ---------------------------------------------------------------------

# Regular files and bytes of each dataset, and its manifest.
declare -A DS_FILES=() DS_BYTES=() DS_ENTRIES=()

# manifest DIR: one line per entry beneath DIR (type, path, symlink
# target), then "hash  ./path" for every regular file, sorted.  (xxhsum
# writes progress clean-up to stderr even when it is not a terminal; a file
# it cannot read is missing from the list, so the comparison fails anyway.)
manifest() {
	(cd "$1" && find . -mindepth 1 -printf '%y %p %l\n' | sort &&
	    find . -type f -print0 | sort -z | xargs -0 -r xxh128sum 2>/dev/null)
}
# flat_manifest DIR: the files of DIR's manifest as they land flat (base
# names; the hashes only).
flat_manifest() {
	grep -E '^[0-9a-f]{32}  ' "$1" | sed -E 's|  \./(.*/)?|  ./|' | sort
}

make_dataset() {
	local ds=$1 d=$WORK/src/$1
	mkdir -p "$WORK/src"
	case $ds in
	64k) "$H_MKTREE" -s 64 "$d" "$COUNT_64K" 65536 10 25 ;;
	4k) "$H_MKTREE" -s 4 "$d" "$COUNT_4K" 4096 20 20 ;;
	doc)
		[ -d "$DOC_SRC" ] || die "$DOC_SRC: no such directory"
		# Symlinks stay symlinks; no hard links (cp -a would keep them).
		cp -R --preserve=mode,timestamps "$DOC_SRC" "$d" ||
		    die "cannot copy $DOC_SRC"
		;;
	esac
	manifest "$d" >"$WORK/src/$ds.manifest"
	flat_manifest "$WORK/src/$ds.manifest" >"$WORK/src/$ds.flat"
	DS_FILES[$ds]=$(find "$d" -type f | wc -l)
	DS_ENTRIES[$ds]=$(find "$d" -mindepth 1 | wc -l)
	DS_BYTES[$ds]=$(find "$d" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
	msg "dataset $ds: ${DS_FILES[$ds]} files, ${DS_ENTRIES[$ds]} entries, ${DS_BYTES[$ds]} bytes"
}

need_free() {
	local have
	have=$(df -P -B1 "$1" | awk 'NR == 2 { print $4 }')
	[ "$have" -gt "$2" ] || die "$1: $(human "$have") free, need more than $2 bytes"
}

for ds in $DATASETS; do
	make_dataset "$ds"
	need_free "$DEST_RUN" $(( ${DS_BYTES[$ds]} * 2 + 256 * 1024 * 1024 ))
done
maxfiles=0
for ds in $DATASETS; do
	[ "${DS_ENTRIES[$ds]}" -gt "$maxfiles" ] && maxfiles=${DS_ENTRIES[$ds]}
done
[ -n "$TIMEOUT" ] || TIMEOUT=$((300 + maxfiles / 50))
ZC_LIFETIME=$((TIMEOUT + 120))

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
LOGDIR=$OUT/tree-logs-$STAMP
RUNS=$OUT/tree-runs-$STAMP.tsv
MEDIANS=$OUT/tree-medians-$STAMP.tsv
MD=$OUT/tree-$STAMP.md
JSON=$OUT/tree-$STAMP.json
mkdir -p "$LOGDIR"
machine_facts "$DEST_RUN" >"$OUT/tree-machine-$STAMP.tsv"
{
	printf 'zc_mode\t%s\n' "$ZC_MODE"
	printf 'dest_loop_image\t%s\n' "${LOOP_SIZE:-no}"
	printf 'rsync_version\t%s\n' "$(rsync --version | head -1)"
	printf 'zc_options\t%s\n' "${ZC_OPTS[*]:-default}"
} >>"$OUT/tree-machine-$STAMP.tsv"

# The daemon may hold many descriptors.
ulimit -n 65536 2>/dev/null || true

# --- one run ------------------------------------------------------------------------

reset_run() { R_OK=1 R_WALL=0 R_SYS=0 R_U=0 R_S=0 R_VER=no R_NOTE='' R_TLOG=0; }
fail_run() {
	R_OK=0
	R_NOTE="${R_NOTE:+$R_NOTE; }$*"
	msg "  $CUR: $*"
}

# verify DS LAYOUT: what landed equals the source (tree: DEST/DS; flat:
# the files in DEST, by base name).
verify() {
	local ds=$1 layout=$2 m=$L.manifest
	if [ "$layout" = tree ]; then
		if [ ! -d "$DEST_RUN/$ds" ]; then
			fail_run "nothing landed under $ds/"; return
		fi
		manifest "$DEST_RUN/$ds" >"$m"
		if diff -q "$WORK/src/$ds.manifest" "$m" >/dev/null; then
			R_VER=yes
			rm -f "$m"
		else
			diff "$WORK/src/$ds.manifest" "$m" >"$L.diff" || true
			fail_run "landed tree differs: $(grep -c '^[<>]' "$L.diff") lines (see $(basename "$L").diff)"
		fi
	else
		manifest "$DEST_RUN" >"$m"
		if diff -q "$WORK/src/$ds.flat" <(flat_manifest "$m") >/dev/null; then
			R_VER=yes
			rm -f "$m"
		else
			diff "$WORK/src/$ds.flat" <(flat_manifest "$m") >"$L.diff" || true
			fail_run "landed files differ: $(grep -c '^[<>]' "$L.diff") lines"
		fi
	fi
}

run_zc() {
	local ds=$1 rc=0 extra=("${ZC_OPTS[@]}") ok n b z c
	if [ "$ZC_MODE" = flat ] && [ "$ds" = doc ]; then
		R_OK=skip R_NOTE="version 1 zcsend lands files flat: names of $ds collide"
		return
	fi
	[ "$ds" = doc ] && [ "$ZC_SYMLINKS" = 1 ] && extra+=(allow_symlinks=yes)
	if ! start_zcrecvd "$CUR" "${extra[@]}"; then
		fail_run "zcrecvd did not start"; return
	fi
	if [ "$ZC_MODE" = tree ]; then
		local opts=(-q -t 60 -r)
		[ "$ds" = doc ] && [ "$ZC_LINKS" = 1 ] && [ "$ZC_SYMLINKS" = 1 ] && opts+=(--links)
		window_start
		timeout -k 5 "$TIMEOUT" "$ZCSEND" "${opts[@]}" "$WORK/src/$ds" \
		    "127.0.0.1:$ZC_PORT" >"$L.send.out" 2>"$L.send.err" || rc=$?
		window_end
	else
		# Version 1: one file per round trip, as many per call as fit.
		(cd "$WORK/src/$ds" && find . -type f -print0 | sort -z) >"$L.list"
		window_start
		ZC_TARGET=127.0.0.1:$ZC_PORT timeout -k 5 "$TIMEOUT" \
		    xargs -0 -s 1000000 -a "$L.list" \
		    sh -c 'cd "$1" && shift 2 && exec "$0" -q -t 60 "$@" "$ZC_TARGET"' \
		    "$ZCSEND" "$WORK/src/$ds" -- >"$L.send.out" 2>"$L.send.err" || rc=$?
		window_end
	fi
	stop_zcrecvd
	cp "$ZC_LOG" "$L.daemon.log"; cp "$ZC_TLOG" "$L.tlog" 2>/dev/null || true
	[ "$rc" = 0 ] || fail_run "zcsend exit $rc: $(head -c 300 "$L.send.err")"
	if [ "$ZC_U" = NA ]; then fail_run "no daemon CPU figure"; else R_U=$ZC_U R_S=$ZC_S; fi
	read -r ok n b z c < <(tlog_sum "$ZC_TLOG")
	R_TLOG=$ok
	verify "$ds" "$ZC_MODE"
}

run_rsync() {
	local ds=$1 fsync=$2 port conf pid dpid rc=0 t u s x
	port=$(pick_port)
	conf=$WORK/run/rsyncd.conf
	# As bench/lib.sh's rsyncd_conf, but chrooted (we run as root): without
	# a chroot the daemon munges or trims symlink targets that leave the
	# tree, and /usr/share/doc has such links.
	{
		echo "use chroot = yes"
		echo "max connections = 0"
		echo "log file = $L.rsyncd.log"
		echo "[bench]"
		echo "	path = $DEST_RUN"
		echo "	read only = no"
		echo "	uid = root"
		echo "	gid = root"
	} >"$conf"
	"$H_CPURUN" -o "$L.rsyncd.cpu" -t $((TIMEOUT + 60)) -- rsync --daemon \
	    --no-detach --config="$conf" --port="$port" --address=127.0.0.1 \
	    >"$L.rsyncd.out" 2>"$L.rsyncd.err" </dev/null &
	pid=$!
	track "$pid"
	if ! wait_listen "$port" 20 "$pid"; then
		fail_run "rsync daemon did not listen: $(head -c 300 "$L.rsyncd.err")"
		end_pid "$pid"; untrack "$pid"; return
	fi
	dpid=$(pgrep -P "$pid" | head -1)
	window_start
	timeout -k 5 "$TIMEOUT" rsync -a $([ "$fsync" = 1 ] && echo --fsync) \
	    "$WORK/src/$ds/" "rsync://127.0.0.1:$port/bench/$ds/" \
	    >"$L.send.out" 2>"$L.send.err" || rc=$?
	# The transfer's server process must be done (and reaped, so that its
	# CPU is in the daemon's rusage).
	t=$(( $(date +%s) + 60 ))
	while [ -n "$dpid" ] && pgrep -P "$dpid" >/dev/null; do
		[ "$(date +%s)" -lt "$t" ] || { fail_run "rsync server still running"; break; }
		sleep 0.01
	done
	# Durable, as zcrecvd's files are when zcsend exits.
	"$H_CPURUN" -o "$L.sync.cpu" -t "$TIMEOUT" -- sync -f "$DEST_RUN" ||
	    fail_run "sync -f failed"
	window_end
	[ "$rc" = 0 ] || fail_run "rsync exit $rc: $(head -c 300 "$L.send.err")"
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
	bounded_wait "$pid" || true
	u=0 s=0
	if [ -s "$L.rsyncd.cpu" ]; then read -r u s x <"$L.rsyncd.cpu"; else fail_run "no rsync daemon CPU figure"; fi
	R_U=$u R_S=$s
	if [ -s "$L.sync.cpu" ]; then read -r u s x <"$L.sync.cpu"; R_U=$((R_U + u)); R_S=$((R_S + s)); fi
	verify "$ds" tree
}

run_candidate() {
	case $CUR in
	zc) run_zc "$DS" ;;
	rsync) run_rsync "$DS" 0 ;;
	rsync-fsync) run_rsync "$DS" 1 ;;
	esac
}

# --- the rounds -------------------------------------------------------------------------

msg "$(wc -w <<<"$CANDIDATES") candidates x $(wc -w <<<"$DATASETS") datasets x $ROUNDS rounds into $DEST_RUN ($(fs_type "$DEST_RUN")); zcsend mode: $ZC_MODE"
msg "results: $OUT (tree-*-$STAMP.*)"
printf 'round\tdataset\tcandidate\tok\tfiles\tentries\tbytes\twall_s\tfiles_per_s\tmb_per_s\trecv_us\trecv_us_per_file\tsys_us\tsys_us_per_file\tverified\ttlog_ok\tnote\n' >"$RUNS"
START=$(date +%s)
for ((round = 1; round <= ROUNDS; round++)); do
	for DS in $DATASETS; do
		for CUR in $CANDIDATES; do
			L=$LOGDIR/r$round-$DS-$CUR
			reset_run
			empty_dir "$DEST_RUN"
			drop_caches
			run_candidate
			empty_dir "$DEST_RUN"
			[ "$R_OK" = skip ] && { msg "round $round $DS $CUR: skipped ($R_NOTE)"; continue; }
			line=$(awk -v r="$round" -v d="$DS" -v c="$CUR" -v ok="$R_OK" \
			    -v f="${DS_FILES[$DS]}" -v e="${DS_ENTRIES[$DS]}" -v b="${DS_BYTES[$DS]}" \
			    -v w="$R_WALL" -v u="$((R_U + R_S))" -v s="$R_SYS" -v v="$R_VER" \
			    -v t="$R_TLOG" -v n="$R_NOTE" 'BEGIN {
				printf "%d\t%s\t%s\t%d\t%d\t%d\t%.0f\t%.3f\t%.1f\t%.1f\t%d\t%.1f\t%d\t%.1f\t%s\t%d\t%s\n",
				    r, d, c, ok, f, e, b, w, (w > 0 ? f / w : 0), (w > 0 ? b / w / 1e6 : 0),
				    u, u / f, s, s / f, v, t, n
			}')
			printf '%s\n' "$line" >>"$RUNS"
			awk -F'\t' -v R="$ROUNDS" '{
				printf "round %d/%d %-4s %-12s %s %8.2f s %9.1f files/s %7.1f MB/s %8.1f recv us/file verified %s%s\n",
				    $1, R, $2, $3, ($4 == 1 ? "ok  " : "FAIL"), $8, $9, $10, $12, $15, ($17 != "" ? " (" $17 ")" : "")
			}' <<<"$line" >&2
		done
	done
done
ELAPSED=$(( $(date +%s) - START ))

# --- medians, ratios ----------------------------------------------------------------

awk -F'\t' "$AWK_MEDIAN"'
NR == 1 { next }
{
	k = $2 SUBSEP $3
	if (!(k in runs)) order[++n] = k
	runs[k]++
	fl[k] = $5; en[k] = $6; by[k] = $7
	if ($4 != 1) next
	ok[k]++
	w[k] = w[k] " " $8; fps[k] = fps[k] " " $9; mbs[k] = mbs[k] " " $10
	ru[k] = ru[k] " " $12; su[k] = su[k] " " $14
}
END {
	print "dataset\tcandidate\truns\tok\tfiles\tentries\tbytes\twall_s\tfiles_per_s\tmb_per_s\trecv_us_per_file\tsys_us_per_file"
	for (i = 1; i <= n; i++) {
		k = order[i]; split(k, p, SUBSEP)
		if (!ok[k]) { printf "%s\t%s\t%d\t0\t%d\t%d\t%d\tNA\tNA\tNA\tNA\tNA\n", p[1], p[2], runs[k], fl[k], en[k], by[k]; continue }
		printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.1f\t%.1f\t%.1f\t%.1f\n", p[1], p[2], runs[k], ok[k], fl[k], en[k], by[k],
		    median(w[k]), median(fps[k]), median(mbs[k]), median(ru[k]), median(su[k])
	}
}' "$RUNS" >"$MEDIANS"

TARGETS=$OUT/tree-targets-$STAMP.tsv
awk -F'\t' '
NR == 1 { next }
$4 > 0 { fps[$1, $2] = $9; w[$1, $2] = $8; have[$1, $2] = 1 }
function t(ds, what, b, lim,   r) {
	if (!have[ds, "zc"] || !have[ds, b]) { printf "%s\t%s\tNA\t>= %s\tnot measured\n", ds, what, lim; return }
	r = fps[ds, "zc"] / fps[ds, b]
	printf "%s\t%s\t%.3f\t>= %s\t%s\n", ds, what, r, lim, (r >= lim ? "met" : "MISSED")
}
function tw(ds, what, b,   r) {
	if (!have[ds, "zc"] || !have[ds, b]) { printf "%s\t%s\tNA\t<= 1\tnot measured\n", ds, what; return }
	r = w[ds, "zc"] / w[ds, b]
	printf "%s\t%s\t%.3f\t<= 1\t%s\n", ds, what, r, (r <= 1 ? "met" : "MISSED")
}
END {
	print "dataset\ttarget\tratio\twant\tresult"
	t("64k", "files/s zc / rsync --fsync", "rsync-fsync", 1.5)
	t("64k", "files/s zc / rsync", "rsync", 1.0)
	t("4k", "files/s zc / rsync --fsync", "rsync-fsync", 1.5)
	t("4k", "files/s zc / rsync", "rsync", 1.0)
	tw("doc", "wall time zc / rsync", "rsync")
}' "$MEDIANS" >"$TARGETS"

# --- the single large file ---------------------------------------------------------

LARGE_MED= LARGE_JSON=
if [ "$LARGE" != none ]; then
	lc=zc-auto
	lb=()
	[ -n "$BASELINE" ] && { lc=zc-auto,base-auto; lb=(--baseline "${BASE_DIR:-$BASE_ZCRECVD}"); }
	msg "single file: $(human "$LARGE_BYTES") through bench/run.sh ($lc, $LARGE_ROUNDS rounds)"
	if bash "$BENCH_SRC/run.sh" --zcrecvd "$ZCRECVD" --zcsend "$ZCSEND" \
	    ${HELPERS:+--helpers "$HELPERS"} --out "$OUT" --dest "$DEST_BASE" \
	    --size "$LARGE" --rounds "$LARGE_ROUNDS" --candidates "$lc" \
	    "${lb[@]}" $([ "$INSTALL" = 1 ] || echo --no-install) \
	    >"$LOGDIR/large.out" 2>"$LOGDIR/large.err"; then
		LARGE_MED=$(sed -n 's/^medians: *//p' "$LOGDIR/large.out")
		LARGE_JSON=$(sed -n 's/^json: *//p' "$LOGDIR/large.out")
	else
		msg "bench/run.sh failed: $(tail -c 300 "$LOGDIR/large.err")"
	fi
fi

# --- report -------------------------------------------------------------------------------

label() {
	case $1 in
	zc) [ "$ZC_MODE" = tree ] && echo 'zcrecvd + `zcsend -r`' || echo 'zcrecvd + zcsend v1 (flat)' ;;
	rsync) echo 'rsync daemon' ;;
	rsync-fsync) echo 'rsync daemon, `--fsync`' ;;
	esac
}
dsname() {
	case $1 in
	64k) echo "$COUNT_64K x 64 KiB" ;;
	4k) echo "$COUNT_4K x 4 KiB" ;;
	doc) echo "$DOC_SRC" ;;
	esac
}
{
	echo "### zcrecvd trees: $(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs, loopback to $(fs_type "$DEST_RUN")${LOOP_SIZE:+ (loop image)} on $(findmnt -n -o SOURCE -T "$DEST_BASE" 2>/dev/null)"
	echo
	echo "Medians of $ROUNDS interleaved rounds, page cache dropped before each run; wall time until the data is durable."
	echo
	echo "| dataset | candidate | files/s | wall s | MB/s | recv CPU us/file | machine CPU us/file | ok |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' 'NR > 1 { print }' "$MEDIANS" | while IFS=$'\t' read -r ds c runs ok f e b w fps mbs ru su; do
		if [ "$ok" = 0 ]; then
			printf '| %s | %s | FAILED | | | | | 0/%s |\n' "$(dsname "$ds")" "$(label "$c")" "$runs"
		else
			printf '| %s | %s | %s | %s | %s | %s | %s | %s/%s |\n' "$(dsname "$ds")" "$(label "$c")" \
			    "$fps" "$w" "$mbs" "$ru" "$su" "$ok" "$runs"
		fi
	done
	echo
	echo "Targets (issue 9):"
	echo
	echo "| dataset | target | ratio | want | result |"
	echo "|---|---|---:|---|---|"
	awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$TARGETS"
	if [ -n "$LARGE_MED" ] && [ -s "$LARGE_MED" ]; then
		echo
		echo "Single file of $(human "$LARGE_BYTES") (bench/run.sh, medians of $LARGE_ROUNDS):"
		echo
		echo "| candidate | Gbit/s | recv us/MB | wall s | zero-copy % | verified |"
		echo "|---|---:|---:|---:|---:|---|"
		awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s |\n", $1, $4, $5, $7, $8, $9 }' "$LARGE_MED"
	fi
	echo
	echo "zc: \`zcsend -q -r DIR 127.0.0.1:PORT\` (version 1: \`zcsend -q FILE... 127.0.0.1:PORT\`) to zcrecvd, config: ${ZC_OPTS[*]:-default};"
	echo "rsync: \`rsync -a [--fsync] DIR/ rsync://127.0.0.1:PORT/bench/DIR/\` to \`rsync --daemon\`, then \`sync -f DEST\` (in the wall time)."
} >"$MD"

echo
cat "$MD"

# JSON.
{
	printf '{\n  "benchmark": "zcrecvd bench/tree.sh",\n'
	printf '  "command": "%s",\n' "$(printf '%s' "$CMDLINE" | json_escape)"
	printf '  "rounds": %s,\n  "elapsed_s": %s,\n  "zc_mode": "%s",\n' "$ROUNDS" "$ELAPSED" "$ZC_MODE"
	printf '  "datasets": {'
	sep=
	for ds in $DATASETS; do
		printf '%s"%s": {"files": %s, "entries": %s, "bytes": %s}' "$sep" "$ds" \
		    "${DS_FILES[$ds]}" "${DS_ENTRIES[$ds]}" "${DS_BYTES[$ds]}"
		sep=', '
	done
	printf '},\n  "machine": {\n'
	awk -F'\t' '{
		v = $2; gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v)
		printf "%s    \"%s\": \"%s\"", (NR > 1 ? ",\n" : ""), $1, v
	} END { print "" }' "$OUT/tree-machine-$STAMP.tsv"
	printf '  },\n'
	awk -F'\t' '
	NR == 1 { print "  \"runs\": ["; next }
	{
		gsub(/\\/, "\\\\", $17); gsub(/"/, "\\\"", $17)
		printf "%s    {\"round\": %d, \"dataset\": \"%s\", \"candidate\": \"%s\", \"ok\": %s, \"files\": %s, \"entries\": %s, \"bytes\": %s, \"wall_s\": %s, \"files_per_s\": %s, \"mb_per_s\": %s, \"recv_cpu_us\": %s, \"recv_us_per_file\": %s, \"sys_cpu_us\": %s, \"sys_us_per_file\": %s, \"verified\": \"%s\", \"tlog_ok\": %s, \"note\": \"%s\"}",
		    (NR > 2 ? ",\n" : ""), $1, $2, $3, ($4 == 1 ? "true" : "false"), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
	}
	END { print (NR > 1 ? "\n" : "") "  ]," }' "$RUNS"
	awk -F'\t' '
	function v(x) { return x == "NA" ? "null" : x }
	NR == 1 { print "  \"medians\": ["; next }
	{
		printf "%s    {\"dataset\": \"%s\", \"candidate\": \"%s\", \"runs\": %s, \"ok_runs\": %s, \"files\": %s, \"wall_s\": %s, \"files_per_s\": %s, \"mb_per_s\": %s, \"recv_us_per_file\": %s, \"sys_us_per_file\": %s}",
		    (NR > 2 ? ",\n" : ""), $1, $2, $3, $4, $5, v($8), v($9), v($10), v($11), v($12)
	}
	END { print (NR > 1 ? "\n" : "") "  ]," }' "$MEDIANS"
	awk -F'\t' '
	NR == 1 { print "  \"targets\": ["; next }
	{
		printf "%s    {\"dataset\": \"%s\", \"target\": \"%s\", \"ratio\": %s, \"want\": \"%s\", \"result\": \"%s\"}",
		    (NR > 2 ? ",\n" : ""), $1, $2, ($3 == "NA" ? "null" : $3), $4, $5
	}
	END { print (NR > 1 ? "\n" : "") "  ]," }' "$TARGETS"
	if [ -n "$LARGE_JSON" ] && [ -s "$LARGE_JSON" ]; then
		printf '  "large_file": {"size_bytes": %s, "rounds": %s, "results": "%s", "medians": ' \
		    "$LARGE_BYTES" "$LARGE_ROUNDS" "$(basename "$LARGE_JSON")"
		jq -c '.medians' "$LARGE_JSON" 2>/dev/null || echo null
		printf '  }\n'
	else
		printf '  "large_file": null\n'
	fi
	printf '}\n'
} >"$JSON"
jq -e . "$JSON" >/dev/null 2>&1 || msg "warning: $JSON does not parse"

echo
echo "runs:     $RUNS"
echo "medians:  $MEDIANS"
echo "markdown: $MD"
echo "json:     $JSON"
echo "logs:     $LOGDIR"
echo "elapsed:  ${ELAPSED} s"
