# bench/lib.sh -- sourced by bench/run.sh, scale.sh, tree.sh and links.sh.
#
# Temp dirs and cleanup, the helper programs, the peers' Debian packages,
# page-cache dropping, CPU accounting (/proc/stat and rusage via cpurun),
# zcrecvd start/stop, free ports and bounded waits, one run's results and
# the peers' receiving side, and the machine facts.
# Needs bash >= 5 ($EPOCHREALTIME), coreutils, awk, sed, grep.

if [ -z "${BASH_VERSION:-}" ] || [ "${BASH_VERSINFO[0]}" -lt 5 ]; then
	echo "bench: needs bash >= 5" >&2
	exit 2
fi
set -euo pipefail
unset JOURNAL_STREAM NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES \
    WATCHDOG_USEC WATCHDOG_PID
export LC_ALL=C

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=$(basename "$0")
ZCRECVD=${ZCRECVD:-}
ZCSEND=${ZCSEND:-}
HELPERS=${HELPERS:-}
INSTALL=1
WORK=			# scratch dir in tmpfs (source data, configs, logs)
DEST_RUN=		# the landing directory this invocation created
BG_PIDS=()		# background processes to end at exit
AT_CLEANUP=()		# functions run at exit, after BG_PIDS ended, before rm
NET_EXEC=()		# prefix that enters the receiver's network namespace
			# (port_listening reads that namespace's /proc/net)
RECV_WRAP=()		# prefix of every receiving process (namespace, cgroup)

msg() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { msg "$*"; exit 1; }

# --- sizes and numbers ----------------------------------------------------

# parse_size 4G -> bytes (K M G T = powers of 1024; plain number = bytes)
parse_size() {
	local v=$1 n m=1
	case $v in
	*[kK]) m=1024; n=${v%?} ;;
	*[mM]) m=$((1024 * 1024)); n=${v%?} ;;
	*[gG]) m=$((1024 * 1024 * 1024)); n=${v%?} ;;
	*[tT]) m=$((1024 * 1024 * 1024 * 1024)); n=${v%?} ;;
	*) n=$v ;;
	esac
	[[ $n =~ ^[0-9]+$ ]] || die "bad size '$v' (expected N, NK, NM, NG)"
	echo $((n * m))
}

# human 4294967296 -> 4G (for labels)
human() {
	awk -v b="$1" 'BEGIN {
		split("B K M G T", u, " "); i = 1
		while (b >= 1024 && b % 1024 == 0 && i < 5) { b /= 1024; i++ }
		printf "%d%s\n", b, (i == 1 ? "" : u[i])
	}'
}

now() { echo "$EPOCHREALTIME"; }

# Non-idle CPU time of the whole machine so far, in microseconds:
# user nice system irq softirq steal of the "cpu" line of /proc/stat
# (iowait and idle are not work; guest time is already inside user).
CLK_TCK=$(getconf CLK_TCK)
sys_cpu_us() {
	awk -v hz="$CLK_TCK" '$1 == "cpu" {
		printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1000000 / hz
		exit
	}' /proc/stat
}

# window_start / window_end: wall time and machine CPU of one transfer,
# added to R_WALL (seconds) and R_SYS (us).
window_start() { W_T0=$(now); W_S0=$(sys_cpu_us); }
window_end() {
	local t1 s1
	t1=$(now); s1=$(sys_cpu_us)
	R_WALL=$(awk -v a="$W_T0" -v b="$t1" -v w="$R_WALL" 'BEGIN { printf "%.6f", w + b - a }')
	R_SYS=$((R_SYS + s1 - W_S0))
}

# --- cleanup --------------------------------------------------------------

# A path we may rm -r: absolute, more than one component, created by us.
safe_rm_dir() {
	local d=$1
	case $d in
	/*/*) ;;
	*) msg "refusing to remove '$d'"; return 0 ;;
	esac
	[ -d "$d" ] || return 0
	rm -rf -- "$d"
}

# Empty a directory we created (the landing directory) without removing it.
empty_dir() {
	local d=$1
	case $d in
	/*/*) ;;
	*) die "refusing to empty '$d'" ;;
	esac
	[ -d "$d" ] || die "$d: not a directory"
	find "$d" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
}

# End one background process we started: TERM, then KILL after 5 s.
end_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# The invocation's own stderr, for what cleanup and the signal traps say:
# they can run while a command's stderr is redirected to a run's log.
exec {BENCH_ERR}>&2

cleanup() {
	local rc=$? pid f
	trap - EXIT INT TERM HUP
	exec 2>&"$BENCH_ERR"
	for pid in "${BG_PIDS[@]}"; do
		end_pid "$pid"
	done
	for f in "${AT_CLEANUP[@]}"; do
		"$f" || msg "cleanup: $f failed"
	done
	[ -n "$DEST_RUN" ] && safe_rm_dir "$DEST_RUN"
	[ -n "$WORK" ] && safe_rm_dir "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'msg interrupted 2>&"$BENCH_ERR"; exit 130' INT
trap 'msg terminated 2>&"$BENCH_ERR"; exit 143' TERM HUP

# at_cleanup FUNC: run FUNC at exit (also on Ctrl-C), after the background
# processes have ended and before the work directories are removed; in the
# reverse order of registration, so that what was set up last goes first.
at_cleanup() { AT_CLEANUP=("$1" "${AT_CLEANUP[@]}"); }

# Remember a background process for cleanup (and forget finished ones).
track() { BG_PIDS+=("$1"); }
untrack() {
	local p keep=()
	for p in "${BG_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
}

# bounded_wait PID: wait for a background child of this shell and return
# its exit status.  Every background process is started under cpurun -t
# SECONDS, which ends it (TERM, then KILL 10 s later) when the time is up,
# so the shell's own exact wait is bounded too.  (bash's wait -n forgets
# children that ended before it is called, so it cannot race a timer.)
bounded_wait() {
	local pid=$1 rc=0
	wait "$pid" || rc=$?
	untrack "$pid"
	return "$rc"
}

# --- set-up -----------------------------------------------------------------

make_work() {
	local base=/dev/shm
	[ -d "$base" ] && [ "$(stat -f -c %T "$base")" = tmpfs ] ||
	    base=${TMPDIR:-/tmp}
	WORK=$(mktemp -d "$base/zcbench.XXXXXX")
	mkdir -p "$WORK/bin" "$WORK/run"
}

# make_dest BASE: a fresh landing directory under BASE (never tmpfs).
make_dest() {
	local base=$1 fs
	[ -d "$base" ] || die "$base: no such directory"
	base=$(cd "$base" && pwd -P)
	fs=$(fs_type "$base")
	case $fs in
	tmpfs|ramfs) die "$base is $fs: the destination must be a disk filesystem" ;;
	esac
	DEST_RUN=$(mktemp -d "$base/zcbench-dest.XXXXXX")
	chmod 755 "$DEST_RUN"
}

# install_packages CMD:PACKAGE...: install from Debian packages those whose
# command is missing; 1 (MISSING_PKGS says which) if some are still missing.
install_packages() {
	local want=() pkg cmd
	MISSING_PKGS=
	while [ $# -gt 0 ]; do
		cmd=${1%%:*}; pkg=${1#*:}; shift
		command -v "$cmd" >/dev/null 2>&1 || want+=("$pkg")
	done
	[ ${#want[@]} -gt 0 ] || return 0
	MISSING_PKGS=${want[*]}
	if [ "$INSTALL" != 1 ] || [ "$(id -u)" != 0 ] ||
	    ! command -v apt-get >/dev/null 2>&1; then
		MISSING_PKGS="$MISSING_PKGS (install these Debian packages, or run as root without --no-install)"
		return 1
	fi
	msg "installing ${want[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${want[@]}" >&2 ||
	    { apt-get update -q >&2 && apt-get install -y -q "${want[@]}" >&2; } ||
	    { MISSING_PKGS="$MISSING_PKGS (apt-get install failed)"; return 1; }
	MISSING_PKGS=
}

# Install the peers and tools from Debian packages if a command is missing;
# die if that fails.
need_packages() {
	install_packages "$@" || die "missing: $MISSING_PKGS"
}

# The helper programs: from --helpers DIR (make bench builds them), else
# compiled here with cc from bench/*.c.
build_helpers() {
	local h src=$BENCH_SRC/.. cc=${CC:-cc}
	for h in cpurun recvloop holdconn; do
		if [ -n "$HELPERS" ] && [ -x "$HELPERS/$h" ]; then
			eval "H_${h^^}=\$HELPERS/\$h"
			continue
		fi
		command -v "$cc" >/dev/null 2>&1 || need_packages gcc:gcc
		command -v "$cc" >/dev/null 2>&1 || cc=gcc
		"$cc" -std=gnu11 -O2 -I"$src/src" -o "$WORK/bin/$h" \
		    "$BENCH_SRC/$h.c" || die "cannot compile $BENCH_SRC/$h.c"
		eval "H_${h^^}=\$WORK/bin/\$h"
	done
}

check_programs() {
	[ -n "$ZCRECVD" ] || die "--zcrecvd PATH is required (or run 'make bench')"
	[ -n "$ZCSEND" ] || die "--zcsend PATH is required (or run 'make bench')"
	[ -x "$ZCRECVD" ] || die "$ZCRECVD: not executable"
	[ -x "$ZCSEND" ] || die "$ZCSEND: not executable"
	ZCRECVD=$(cd "$(dirname "$ZCRECVD")" && pwd)/$(basename "$ZCRECVD")
	ZCSEND=$(cd "$(dirname "$ZCSEND")" && pwd)/$(basename "$ZCSEND")
}

# baseline_resolve ARG: the older zcrecvd (and zcsend) that a benchmark
# runs beside the new one.  ARG is an executable (an older zcrecvd, run
# with the current zcsend), a directory holding zcrecvd and zcsend (a build
# tree), or a git revision of this source tree, built here in WORK (after
# make_work) from `git archive REV` with autoreconf, configure and make.
# Sets BASE_ZCRECVD, BASE_ZCSEND, BASE_DIR (where both are, or empty) and
# BASE_DESC (for the machine facts).
baseline_resolve() {
	local arg=$1
	BASE_DIR=
	if [ -f "$arg" ]; then
		[ -x "$arg" ] || die "--baseline: $arg: not executable"
		BASE_ZCRECVD=$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")
		BASE_ZCSEND=$ZCSEND
		BASE_DESC="$BASE_ZCRECVD (zcrecvd; zcsend: the current one)"
	elif [ -d "$arg" ]; then
		BASE_DIR=$(cd "$arg" && pwd)
		[ -x "$BASE_DIR/zcrecvd" ] || die "--baseline: no zcrecvd in $arg"
		BASE_ZCRECVD=$BASE_DIR/zcrecvd
		BASE_ZCSEND=$BASE_DIR/zcsend
		[ -x "$BASE_ZCSEND" ] || BASE_ZCSEND=$ZCSEND
		BASE_DESC="$BASE_DIR"
	else
		baseline_build "$arg"
	fi
	"$BASE_ZCRECVD" -V >/dev/null 2>&1 || die "--baseline: $BASE_ZCRECVD -V failed"
}

# baseline_build REV: zcrecvd and zcsend of git revision REV of the tree
# this script is in, built in WORK/baseline (removed with WORK at exit).
baseline_build() {
	local rev=$1 top sha dir=$WORK/baseline log=$WORK/baseline/build.log
	top=$(cd "$BENCH_SRC/.." && pwd)
	command -v git >/dev/null 2>&1 || die "--baseline $rev: git is not installed"
	git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
	    die "--baseline $rev: $top is not a git checkout (give a zcrecvd binary or a build directory instead)"
	sha=$(git -C "$top" rev-parse --verify -q "$rev^{commit}") ||
	    die "--baseline: '$rev' is neither a file, a directory nor a git revision of $top"
	mkdir -p "$dir/src"
	git -C "$top" archive "$sha" | tar -x -C "$dir/src" ||
	    die "--baseline: git archive $sha failed"
	msg "building the baseline $rev (${sha:0:12}) in $dir"
	if ! (
		cd "$dir/src"
		autoreconf -fi
		mkdir build
		cd build
		../configure CC="${CC:-gcc}" CFLAGS='-O2 -g'
		make -j"$(nproc)" zcrecvd zcsend
	) >"$log" 2>&1; then
		tail -n 20 "$log" | sed 's/^/  | /' >&2
		die "--baseline: building $rev (${sha:0:12}) failed"
	fi
	BASE_DIR=$dir/src/build
	BASE_ZCRECVD=$BASE_DIR/zcrecvd
	BASE_ZCSEND=$BASE_DIR/zcsend
	BASE_DESC="$rev (${sha:0:12}, $(git -C "$top" log -1 --format=%cs "$sha"), built here)"
}

CAN_DROP=0
check_root() {
	if [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
		CAN_DROP=1
	else
		msg "warning: not root: the page cache is NOT dropped between runs"
	fi
}

drop_caches() {
	sync
	[ "$CAN_DROP" = 1 ] || return 0
	echo 3 >/proc/sys/vm/drop_caches
}

# --- ports and daemons -----------------------------------------------------

# Is TCP PORT listening (IPv4 or IPv6)?  /proc only: no connection is made
# (a test connection would eat nc's single accept).  In the network
# namespace NET_EXEC enters, if set (/proc/net is the reader's namespace's).
port_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	"${NET_EXEC[@]}" awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
	    END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# A TCP port nobody listens on (the kernel's ephemeral range is avoided).
pick_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		port_listening "$p" || { echo "$p"; return 0; }
	done
	die "no free port found"
}

# wait_listen PORT SECONDS [PID]: until PORT listens (and PID still lives).
wait_listen() {
	local port=$1 secs=$2 pid=${3:-} t
	t=$(( $(date +%s) + secs ))
	until port_listening "$port"; do
		[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$t" ] || return 1
		sleep 0.02
	done
}

# wait_line FILE REGEX SECONDS [PID]: until a line of FILE matches.
wait_line() {
	local f=$1 re=$2 secs=$3 pid=${4:-} t
	t=$(( $(date +%s) + secs ))
	until grep -Eq -- "$re" "$f" 2>/dev/null; do
		[ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$t" ] || return 1
		sleep 0.02
	done
}

# start_zcrecvd NAME [KEY=VALUE...]: a fresh daemon under cpurun (which
# ends it after ZC_LIFETIME seconds, default 600, whatever happens), config
# $WORK/run/NAME.conf, log NAME.log, transfer log NAME.tlog.  Keys go to
# [default] except server.KEY=VALUE which go to [server].  It listens on
# ZC_LISTEN (default 127.0.0.1:0), lands in ZC_PATH (default DEST_RUN) and
# runs behind RECV_WRAP (an exec chain: the daemon keeps the pid of
# cpurun's child).  Sets ZC_PORT, ZC_CPID (cpurun), ZC_DPID (the daemon),
# ZC_TLOG, ZC_LOG, ZC_CPU (rusage).
start_zcrecvd() {
	local name=$1 kv srv=() def=() conf
	shift
	for kv in "$@"; do
		case $kv in
		server.*) srv+=("${kv#server.}") ;;
		*) def+=("$kv") ;;
		esac
	done
	conf=$WORK/run/$name.conf
	ZC_LOG=$WORK/run/$name.log
	ZC_TLOG=$WORK/run/$name.tlog
	ZC_CPU=$WORK/run/$name.cpu
	rm -f "$ZC_LOG" "$ZC_TLOG" "$ZC_CPU"
	{
		echo "[server]"
		echo "listen = ${ZC_LISTEN:-127.0.0.1:0}"
		[ "$(id -u)" = 0 ] && echo "user = root"
		echo "transfer_log = $ZC_TLOG"
		[[ " ${srv[*]} " == *" workers="* ]] || echo "workers = auto"
		for kv in "${srv[@]}"; do echo "${kv%%=*} = ${kv#*=}"; done
		echo
		echo "[default]"
		echo "path = ${ZC_PATH:-$DEST_RUN}"
		echo "min_free = 0"
		for kv in "${def[@]}"; do echo "${kv%%=*} = ${kv#*=}"; done
	} >"$conf"
	chmod 600 "$conf"
	"$H_CPURUN" -o "$ZC_CPU" -t "${ZC_LIFETIME:-600}" -- \
	    "${RECV_WRAP[@]}" "$ZCRECVD" -f "$conf" 2>"$ZC_LOG" &
	ZC_CPID=$!
	track "$ZC_CPID"
	if ! wait_line "$ZC_LOG" 'ready' 20 "$ZC_CPID"; then
		sed 's/^/  | /' "$ZC_LOG" >&2
		end_pid "$ZC_CPID"; untrack "$ZC_CPID"
		return 1
	fi
	ZC_PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\) .*/\1/p' "$ZC_LOG" | head -1)
	ZC_DPID=$(pgrep -P "$ZC_CPID" | head -1)
	[ -n "$ZC_PORT" ] && [ -n "$ZC_DPID" ]
}

# --- one run's results (the caller's reset_run sets R_OK R_NOTE R_RU R_RS R_SEND) ---

fail_run() {
	local why
	why=$(printf '%s' "$*" | tr '\n\t' '  ')	# one TSV field
	R_OK=0
	R_NOTE="${R_NOTE:+$R_NOTE; }$why"
	msg "  $CUR: $why"
}
# add_cpu FILE: add a cpurun result to the receiver CPU.
add_cpu() {
	local u s rc
	if [ -s "$1" ]; then
		read -r u s rc <"$1"
		R_RU=$((R_RU + u)); R_RS=$((R_RS + s))
	else
		fail_run "no CPU figure ($1)"
	fi
}
# add_send_cpu FILE: add a cpurun result to the sender's CPU.
add_send_cpu() {
	local u s rc
	[ -s "$1" ] || return 0
	read -r u s rc <"$1"
	R_SEND=$((R_SEND + u + s))
}
# send CPUFILE CMD...: run a sender under cpurun (its CPU is recorded too).
send() {
	local c=$1
	shift
	"$H_CPURUN" -o "$c" -- "$@"
}

# peer_recv_start CMD...: start a receiver under cpurun (ended after
# TIMEOUT + 30 s whatever happens), behind RECV_WRAP; sets P_PID, P_CPU.
# Output and CPU go to $L.recvN.{out,err,cpu}.
P_N=0
peer_recv_start() {
	P_N=$((P_N + 1))
	P_CPU=$L.recv$P_N.cpu
	"$H_CPURUN" -o "$P_CPU" -t $((TIMEOUT + 30)) -- "${RECV_WRAP[@]}" "$@" >"$L.recv$P_N.out" 2>"$L.recv$P_N.err" </dev/null &
	P_PID=$!
	track "$P_PID"
}

# peer_sync FILE...: make the landed data durable, as zcrecvd's fsync does;
# the cost counts as the receiver's (and it runs where the receiver did:
# in the slow destination's cgroup, its writeback is throttled too).
peer_sync() {
	local c=$L.sync$P_N.cpu
	"$H_CPURUN" -o "$c" -t "$TIMEOUT" -- "${RECV_WRAP[@]}" sync "$@" || fail_run "sync failed"
	add_cpu "$c"
}

# An awk function: the median of the numbers in a space-separated list
# ("NA" for none).  Prepend it to an awk program.
AWK_MEDIAN='function median(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	if (n == 0) return "NA"
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
'

# rsyncd_conf FILE DIR LOG: an rsync daemon configuration with one
# writable module "bench" at DIR, logging to LOG.
rsyncd_conf() {
	{
		echo "use chroot = no"
		echo "max connections = 0"
		echo "log file = $3"
		echo "[bench]"
		echo "	path = $2"
		echo "	read only = no"
		if [ "$(id -u)" = 0 ]; then
			echo "	uid = root"
			echo "	gid = root"
		fi
	} >"$1"
}

# stop_zcrecvd: SIGTERM, bounded wait; sets ZC_U ZC_S, the user and system
# CPU us of the daemon's whole life (start-up and shut-down cost ~3 ms).
# Not in a subshell: it waits for a child of this shell.
stop_zcrecvd() {
	kill -TERM "$ZC_DPID" 2>/dev/null || true
	bounded_wait "$ZC_CPID" || true
	ZC_U=NA ZC_S=NA
	[ -s "$ZC_CPU" ] && read -r ZC_U ZC_S _ <"$ZC_CPU"
	return 0
}

# tlog_sum FILE: "FILES_OK FILES BYTES ZC_BYTES CPU_US" over a transfer log.
tlog_sum() {
	awk '
	function num(k,   m) {
		if (match($0, "\"" k "\":[0-9.]+")) {
			m = substr($0, RSTART, RLENGTH); sub(/.*:/, "", m); return m + 0
		}
		return 0
	}
	{ n++; if ($0 ~ /"result":"ok"/) ok++
	  b += num("bytes"); z += num("zc_bytes"); c += num("cpu_us") }
	END { printf "%d %d %.0f %.0f %.0f\n", ok, n, b, z, c }' "$1" 2>/dev/null ||
	    echo "0 0 0 0 0"
}

# fs_type DIR: ext4, xfs, tmpfs... (stat -f says "ext2/ext3" for ext4)
fs_type() {
	findmnt -n -o FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1"
}

# --- machine facts (key<TAB>value lines) ------------------------------------

machine_facts() {
	local dest=$1 cpu mem fs dev mtu v
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB\n", $2 / 1048576 }' /proc/meminfo)
	fs=$(fs_type "$dest")
	dev=$(findmnt -n -o SOURCE -T "$dest" 2>/dev/null || df --output=source "$dest" | tail -1)
	mtu=$(cat /sys/class/net/lo/mtu 2>/dev/null || echo unknown)
	printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf 'host\t%s\n' "$(uname -n)"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'os\t%s\n' "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
	printf 'cpu_model\t%s\n' "${cpu:-unknown}"
	printf 'cpus\t%s\n' "$(nproc)"
	printf 'memory\t%s\n' "$mem"
	printf 'dest_dir\t%s\n' "$dest"
	printf 'dest_fs\t%s\n' "$fs"
	printf 'dest_device\t%s\n' "$dev"
	printf 'dest_mount_options\t%s\n' "$(findmnt -n -o OPTIONS -T "$dest" 2>/dev/null || echo unknown)"
	printf 'lo_mtu\t%s\n' "$mtu"
	printf 'source_dir\t%s (%s)\n' "$WORK" "$(stat -f -c %T "$WORK")"
	printf 'zcrecvd\t%s\n' "$("$ZCRECVD" -V 2>&1 | head -1)"
	printf 'zcsend\t%s\n' "$("$ZCSEND" -V 2>&1 | head -1)"
	if [ -n "${BASE_DESC:-}" ]; then
		printf 'baseline\t%s\n' "$BASE_DESC"
		printf 'baseline_zcrecvd\t%s\n' "$("$BASE_ZCRECVD" -V 2>&1 | head -1)"
		printf 'baseline_zcsend\t%s\n' "$("$BASE_ZCSEND" -V 2>&1 | head -1)"
	fi
	for v in mbuffer socat netcat-openbsd rsync coreutils gnuplot-nox; do
		printf 'pkg_%s\t%s\n' "$v" \
		    "$(dpkg-query -W -f '${Version}' "$v" 2>/dev/null || echo none)"
	done
	printf 'clk_tck\t%s\n' "$CLK_TCK"
	printf 'page_cache_dropped\t%s\n' "$([ "$CAN_DROP" = 1 ] && echo yes || echo no)"
}

# json_str: escape stdin as a JSON string body.
json_escape() {
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g'
}
