#!/bin/bash
# bench/links.sh -- zcrecvd on the links and disks users have (issue 11).
#
#	bench/links.sh --zcrecvd PATH --zcsend PATH [options]	(or: make bench-links)
#
# Links: loopback (both ends in one network namespace), and a veth pair
# between two network namespaces with MTU 9000 or 1500 on both ends, the
# sender's TSO/GSO off (segments leave MSS-sized, as from a NIC without
# header split) and the receiver's GRO on.  Destinations: "fast", ext4 on a
# loop device backed by a file in tmpfs (the disk out of the picture);
# "disk", a directory on the real disk; "slow", the fast destination with
# the receiving process in a cgroup whose writes to the loop device are
# throttled (blkio.throttle.write_bps_device, or io.max on cgroup v2).
# Candidates interleave within each round (A B C A B C ...): zcrecvd with
# its default configuration and with each io mode, zcsend -P 1, 2 and 4
# (striping, issue 12), an older zcrecvd (--baseline), mbuffer, nc, socat
# and GridFTP (globus-url-copy -p 1 and 4 into an anonymous
# globus-gridftp-server); the disk's own limit without network
# (dd oflag=direct, fio io_uring).
# Per run: receiver process CPU (rusage: every thread, io_uring workers
# included), whole-machine CPU, wall time, Gbit/s, % zero-copy, and the
# landed file's XXH3-128 against the source's.  Medians per link,
# destination and candidate go to a table on stdout, a JSON file and a
# chart under the output directory, with the ratios against the targets of
# issues 11 and 12.  MB = 10^6 bytes, Gbit = 10^9 bits.  See bench/README.md.

. "$(dirname "$0")/lib.sh"

# name	scope	what
#   scope: net+dest = per link and destination, net = per link (lands
#   nothing), dest = per destination (no network)
CANDIDATE_TABLE='zc-auto	net+dest	zcrecvd, default config (no io or verify key)	<- zcsend
zc-base	net+dest	the --baseline zcrecvd, default config (only with --baseline)	<- its zcsend
zc-direct	net+dest	zcrecvd io=direct	<- zcsend
zc-write	net+dest	zcrecvd io=write	<- zcsend
zc-vmsplice	net+dest	zcrecvd io=vmsplice	<- zcsend
zc-splice	net+dest	zcrecvd io=splice	<- zcsend
zc-copy	net+dest	zcrecvd io=copy (recv + pwrite)	<- zcsend
zc-copy-direct	net+dest	zcrecvd io=copy-direct (recv into aligned buffers + O_DIRECT)	<- zcsend
zc-p1	net+dest	zcrecvd, default config, workers = 2	<- zcsend -P 1
zc-p2	net+dest	zcrecvd, default config, workers = 2	<- zcsend -P 2 (striped, 16 MiB chunks)
zc-p4	net+dest	zcrecvd, default config, workers = 2	<- zcsend -P 4 (striped, 16 MiB chunks)
zc-discard	net	zcrecvd io=discard verify=none (network only)	<- zcsend --no-verify
mbuffer	net+dest	mbuffer -q -I PORT -o FILE; sync FILE	<- mbuffer -q -i SRC -O ADDR:PORT
nc	net+dest	nc -l ADDR PORT >FILE; sync FILE	<- nc -N ADDR PORT <SRC
socat	net+dest	socat -u TCP-LISTEN:PORT,bind=ADDR CREATE:FILE; sync FILE	<- socat -u FILE:SRC TCP:ADDR:PORT
gridftp-p1	net+dest	globus-gridftp-server -aa -anonymous-user nobody -1 -p PORT -control-interface ADDR -data-interface ADDR; sync FILE	<- globus-url-copy -p 1 file://SRC ftp://ADDR:PORT/FILE
gridftp-p4	net+dest	the same	<- globus-url-copy -p 4 file://SRC ftp://ADDR:PORT/FILE
dd-direct	dest	dd if=SRC of=FILE bs=2M oflag=direct (the disk, no network)
fio-qd1	dest	fio rw=write bs=2M ioengine=io_uring iodepth=1 direct=1 (the disk)
fio-qd4	dest	fio rw=write bs=2M ioengine=io_uring iodepth=4 direct=1 (the disk)'
ALL_CANDIDATES=$(cut -f1 <<<"$CANDIDATE_TABLE" | paste -sd ' ')
ALL_LINKS="lo 9000 1500"
ALL_DESTS="fast disk slow"

SIZE=1G
ROUNDS=3
LINKS="lo 9000 1500"
DESTS="fast disk slow"
CANDIDATES=
SLOW_RATE=200
DEST_BASE=
BASELINE=
OUT=
TIMEOUT=
CMDLINE="$0 $*"

# The two namespaces (this invocation's own), the veth pair, addresses.
NS_R=zcbl-r-$$
NS_S=zcbl-s-$$
VETH_S=zcbl-vs
VETH_R=zcbl-vr
ADDR_S=10.99.11.1
ADDR_R=10.99.11.2
NS_MADE=()
LOOP=			# /dev/loopN of the fast destination (never removed: detached)
MNT=			# its mount point
CG=			# the slow destination's cgroup directory
CG_KIND=		# v1 (blkio) or v2 (io.max)
ACCT=			# cpuacct cgroup (v1) of the GridFTP server's process tree
HOSTS_MADE=()		# namespaces given an /etc/netns/NS/hosts
ETC_NETNS_MADE=0	# /etc/netns itself made here
GRIDFTP_NOTE=		# why the gridftp candidates were skipped
# The GridFTP server is in /usr/sbin.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac

usage() {
	cat <<EOF
usage: $PROG --zcrecvd PATH --zcsend PATH [options]
  --size SIZE         bytes per run, one file (default $SIZE; K M G T = 1024^n)
  --rounds N          rounds; medians are over them (default $ROUNDS)
  --links LIST        comma-separated, from: ${ALL_LINKS// /,} (default ${LINKS// /,})
                      lo: loopback in one namespace; 9000, 1500: a veth pair
                      between two namespaces with that MTU
  --dests LIST        comma-separated, from: ${ALL_DESTS// /,} (default ${DESTS// /,})
                      fast: ext4 on a loop device backed by tmpfs; disk: a
                      directory under --dest; slow: fast, write-throttled
  --candidates LIST   comma-separated subset (default: all; zc-base only with
                      --baseline), from: ${ALL_CANDIDATES// /,}
  --quick             --size 256M --rounds 1 --links 1500 --dests fast (options
                      after it still apply), a run of a few minutes
  --baseline PATH|DIR|REV  run an older zcrecvd as zc-base, interleaved with the
                      current one: a zcrecvd binary (with the current zcsend), a
                      build directory holding zcrecvd and zcsend, or a git
                      revision of this tree, built here (git archive, configure,
                      make)
  --slow-rate MB/S    write limit of the slow destination, 10^6 bytes per
                      second (default $SLOW_RATE)
  --dest DIR          the disk destination is a fresh directory under DIR
                      (default: the --out directory; not tmpfs)
  --out DIR           results directory (default ./bench/results)
  --timeout SECONDS   bound of every transfer (default 60 + 1 s per 16 MiB)
  --helpers DIR       prebuilt cpurun (else compiled with cc)
  --no-install        do not apt-get missing peers
  --list              print the candidates and what they run, and exit
EOF
	exit "${1:-2}"
}

list_candidates() {
	awk -F'\t' '{ printf "%-11s %-9s %s%s\n", $1, $2, $3, ($4 != "" ? "  " $4 : "") }' \
	    <<<"$CANDIDATE_TABLE"
	echo "(on the slow destination every receiving process, and its sync, runs in the throttled cgroup)"
}

# list_opt NAME VALUE ALLOWED: a comma-separated option, checked.
list_opt() {
	local name=$1 v=${2//,/ } allowed=$3 x
	[ -n "${v// /}" ] || die "$name: empty list"
	for x in $v; do
		[[ " $allowed " == *" $x "* ]] ||
		    die "$name: unknown '$x' (expected some of ${allowed// /,})"
	done
	echo "$v"
}

while [ $# -gt 0 ]; do
	case $1 in
	--zcrecvd) ZCRECVD=${2:?}; shift ;;
	--zcsend) ZCSEND=${2:?}; shift ;;
	--size) SIZE=${2:?}; shift ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--links) LINKS=$(list_opt --links "${2:?}" "$ALL_LINKS"); shift ;;
	--dests) DESTS=$(list_opt --dests "${2:?}" "$ALL_DESTS"); shift ;;
	--candidates) CANDIDATES=$(list_opt --candidates "${2:?}" "$ALL_CANDIDATES"); shift ;;
	--slow-rate) SLOW_RATE=${2:?}; shift ;;
	--dest) DEST_BASE=${2:?}; shift ;;
	--baseline) BASELINE=${2:?}; shift ;;
	--quick) SIZE=256M ROUNDS=1 LINKS=1500 DESTS=fast ;;
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
[ "$BYTES" -ge $((1024 * 1024)) ] || die "--size: at least 1M"
[ $((BYTES % 4096)) = 0 ] || die "--size: a multiple of 4096 (dd and fio write it with O_DIRECT)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds: expected a positive number"
[[ $SLOW_RATE =~ ^[1-9][0-9]*$ ]] || die "--slow-rate: expected MB/s, a positive number"
[ -z "$TIMEOUT" ] || [[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout: expected seconds"
# without LIST NAME...: LIST less those names.
without() {
	local list=$1 out='' x
	shift
	for x in $list; do
		[[ " $* " == *" $x "* ]] || out="$out $x"
	done
	echo "${out# }"
}
if [ -z "$CANDIDATES" ]; then
	CANDIDATES=$ALL_CANDIDATES
	[ -n "$BASELINE" ] || CANDIDATES=$(without "$CANDIDATES" zc-base)
fi
[[ " $CANDIDATES " != *" zc-base "* ]] || [ -n "$BASELINE" ] ||
    die "zc-base needs --baseline PATH|DIR|REV"
[ -n "$TIMEOUT" ] || TIMEOUT=$((60 + BYTES / (16 * 1024 * 1024)))
ZC_LIFETIME=$((TIMEOUT + 60))
OUT=${OUT:-$PWD/bench/results}
[ "$(id -u)" = 0 ] || die "run as root (network namespaces, loop devices, cgroups)"

# scope_of CANDIDATE -> net+dest, net or dest
scope_of() { awk -F'\t' -v c="$1" '$1 == c { print $2 }' <<<"$CANDIDATE_TABLE"; }
cands_of() {	# cands_of SCOPE: the chosen candidates of that scope, in order
	local c out=
	for c in $CANDIDATES; do
		[ "$(scope_of "$c")" = "$1" ] && out="$out $c"
	done
	echo "${out# }"
}
has() { [[ " $1 " == *" $2 "* ]]; }
VETH=0
for l in $LINKS; do [ "$l" = lo ] || VETH=1; done
FAST=0		# the loop device: for fast, and for slow which throttles it
if has "$DESTS" fast || has "$DESTS" slow; then FAST=1; fi

check_programs
check_root
need_packages fio:fio ethtool:ethtool mbuffer:mbuffer socat:socat \
    nc:netcat-openbsd xxh128sum:xxhash gnuplot:gnuplot-nox ip:iproute2 \
    losetup:mount mkfs.ext4:e2fsprogs nsenter:util-linux findmnt:util-linux \
    lsblk:util-linux timeout:coreutils pgrep:procps
# GridFTP is installed like the other peers; without it its candidates are
# skipped, and the summary says why.
if [[ " $CANDIDATES " == *" gridftp-"* ]]; then
	if ! install_packages globus-gridftp-server:globus-gridftp-server-progs \
	    globus-url-copy:globus-gass-copy-progs; then
		GRIDFTP_NOTE="gridftp candidates skipped: missing $MISSING_PKGS"
	elif ! id -u nobody >/dev/null 2>&1; then
		GRIDFTP_NOTE="gridftp candidates skipped: no user 'nobody' for the anonymous server"
	fi
	if [ -n "$GRIDFTP_NOTE" ]; then
		msg "$GRIDFTP_NOTE"
		CANDIDATES=$(without "$CANDIDATES" gridftp-p1 gridftp-p4)
	fi
fi
C_NETDEST=$(cands_of net+dest)
C_NET=$(cands_of net)
C_DEST=$(cands_of dest)
make_work
build_helpers
[ -z "$BASELINE" ] || baseline_resolve "$BASELINE"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEST_BASE=${DEST_BASE:-$OUT}
STAMP=$(date +%Y%m%d-%H%M%S)
RUNS=$OUT/links-runs-$STAMP.tsv
MEDIANS=$OUT/links-medians-$STAMP.tsv
TARGETS=$OUT/links-targets-$STAMP.tsv
MD=$OUT/links-$STAMP.md
FACTS=$OUT/links-machine-$STAMP.tsv
JSON=$OUT/links-$STAMP.json
PNG=$OUT/links-$STAMP.png
LOGDIR=$OUT/links-logs-$STAMP
mkdir -p "$LOGDIR"

# --- set-up and tear-down of the links ------------------------------------------

netns_teardown() {
	local ns
	for ns in "${NS_MADE[@]}"; do
		ip netns del "$ns" 2>/dev/null || msg "cannot delete network namespace $ns"
	done
	NS_MADE=()
}

# make_netns NAME: a fresh network namespace with lo up.
make_netns() {
	ip netns add "$1" || die "ip netns add $1 failed"
	NS_MADE+=("$1")
	ip -n "$1" link set lo up || die "$1: cannot bring lo up"
}

setup_netns() {
	at_cleanup netns_teardown
	make_netns "$NS_R"
	[ "$VETH" = 1 ] || return 0
	make_netns "$NS_S"
	ip link add "$VETH_S" netns "$NS_S" type veth peer name "$VETH_R" netns "$NS_R" ||
	    die "cannot create the veth pair $VETH_S/$VETH_R"
	ip -n "$NS_S" addr add "$ADDR_S/24" dev "$VETH_S"
	ip -n "$NS_R" addr add "$ADDR_R/24" dev "$VETH_R"
	ip -n "$NS_S" link set "$VETH_S" up
	ip -n "$NS_R" link set "$VETH_R" up
	# As from a NIC: MSS-sized segments leave the sender, the receiver
	# coalesces them.
	ip netns exec "$NS_S" ethtool -K "$VETH_S" tso off gso off >/dev/null ||
	    die "ethtool -K $VETH_S tso off gso off failed"
	ip netns exec "$NS_R" ethtool -K "$VETH_R" gro on >/dev/null ||
	    die "ethtool -K $VETH_R gro on failed"
}

# link_up NS DEV MTU: DEV in NS is up, with that MTU.
link_up() {
	ip -n "$1" -o link show dev "$2" 2>/dev/null |
	    grep -q "mtu $3 .*state UP"
}

# set_link LINK: the MTU on both ends; sets SEND_NS, RADDR.
set_link() {
	local t
	case $1 in
	lo) SEND_NS=$NS_R RADDR=127.0.0.1 ;;
	*)
		SEND_NS=$NS_S RADDR=$ADDR_R
		ip -n "$NS_S" link set "$VETH_S" mtu "$1" || die "cannot set MTU $1 on $VETH_S"
		ip -n "$NS_R" link set "$VETH_R" mtu "$1" || die "cannot set MTU $1 on $VETH_R"
		ip -n "$NS_S" tcp_metrics flush all 2>/dev/null || true
		ip -n "$NS_R" tcp_metrics flush all 2>/dev/null || true
		t=$(( $(date +%s) + 10 ))
		until link_up "$NS_S" "$VETH_S" "$1" && link_up "$NS_R" "$VETH_R" "$1"; do
			[ "$(date +%s)" -lt "$t" ] || die "the veth pair is not up with MTU $1"
			sleep 0.1
		done
		;;
	esac
}

loop_teardown() {
	local i
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
		for ((i = 0; i < 20; i++)); do
			umount "$MNT" 2>/dev/null && break
			sleep 0.25
		done
		mountpoint -q "$MNT" && { msg "$MNT busy: lazy unmount"; umount -l "$MNT"; }
	fi
	MNT=
	if [ -n "$LOOP" ]; then
		losetup -d "$LOOP" 2>/dev/null || msg "cannot detach $LOOP"
	fi
	LOOP=
}

# The fast destination: ext4 on a loop device backed by a sparse file in
# tmpfs, big enough for one landed file; "slow" lands in it too.
setup_loop() {
	local img=$WORK/fast.img sz
	sz=$((BYTES + BYTES / 4 + 512 * 1024 * 1024))
	[ "$(stat -f -c %T "$WORK")" = tmpfs ] || die "$WORK is not tmpfs: no fast destination"
	truncate -s "$sz" "$img"
	at_cleanup loop_teardown
	LOOP=$(losetup -f --show "$img") || die "losetup failed"
	case $LOOP in
	/dev/loop[0-9]*) ;;
	*) die "losetup gave '$LOOP'" ;;
	esac
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP" \
	    >"$LOGDIR/mkfs.log" 2>&1 || die "mkfs.ext4 $LOOP failed: $(head -c 300 "$LOGDIR/mkfs.log")"
	MNT=$WORK/mnt
	mkdir -p "$MNT"
	mount "$LOOP" "$MNT" || die "mount $LOOP failed"
	mkdir -m 755 "$MNT/fast" "$MNT/slow"
}

cgroup_teardown() {
	[ -n "$CG" ] && [ -d "$CG" ] || return 0
	rmdir "$CG" 2>/dev/null || msg "cannot remove cgroup $CG (processes left in it?)"
	CG=
}

# The slow destination's cgroup: writes of its processes to the loop
# device limited to SLOW_RATE MB/s.  cgroup v1 blkio if mounted, else the
# v2 io controller.
setup_cgroup() {
	local majmin bps=$((SLOW_RATE * 1000000)) root
	majmin=$(lsblk -dno MAJ:MIN "$LOOP" | tr -d ' ')
	[ -n "$majmin" ] || die "no MAJ:MIN for $LOOP"
	at_cleanup cgroup_teardown
	if [ -w /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device ]; then
		CG=/sys/fs/cgroup/blkio/zcbl-$$ CG_KIND=v1
		mkdir "$CG" || die "mkdir $CG failed"
		echo "$majmin $bps" >"$CG/blkio.throttle.write_bps_device" ||
		    die "cannot set $CG/blkio.throttle.write_bps_device"
	else
		root=$(findmnt -n -t cgroup2 -o TARGET | head -1)
		[ -n "$root" ] && grep -qw io "$root/cgroup.controllers" ||
		    die "no blkio (cgroup v1) or io (cgroup v2) controller: no slow destination"
		echo +io >"$root/cgroup.subtree_control" 2>/dev/null || true
		CG=$root/zcbl-$$ CG_KIND=v2
		mkdir "$CG" || die "mkdir $CG failed"
		echo "$majmin wbps=$bps" >"$CG/io.max" || die "cannot set $CG/io.max"
	fi
	CG_MAJMIN=$majmin
}

hosts_teardown() {
	local ns
	for ns in "${HOSTS_MADE[@]}"; do
		rm -f -- "/etc/netns/$ns/hosts"
		rmdir -- "/etc/netns/$ns" 2>/dev/null || msg "cannot remove /etc/netns/$ns"
	done
	HOSTS_MADE=()
	[ "$ETC_NETNS_MADE" = 0 ] || rmdir /etc/netns 2>/dev/null || true
	ETC_NETNS_MADE=0
}

# setup_hosts NS...: /etc/hosts plus names for the benchmark's addresses
# as /etc/netns/NS/hosts, which `ip netns exec NS` binds over /etc/hosts:
# the GridFTP server will not start unless its address resolves.
setup_hosts() {
	local ns d
	at_cleanup hosts_teardown
	if [ ! -d /etc/netns ]; then
		mkdir /etc/netns || die "cannot make /etc/netns"
		ETC_NETNS_MADE=1
	fi
	for ns in "$@"; do
		d=/etc/netns/$ns
		[ ! -e "$d" ] || die "$d exists already"
		mkdir -- "$d" || die "cannot make $d"
		HOSTS_MADE+=("$ns")
		{
			cat /etc/hosts
			printf '%s\tzcbl-send\n%s\tzcbl-recv\n' "$ADDR_S" "$ADDR_R"
		} >"$d/hosts" || die "cannot write $d/hosts"
	done
}

acct_teardown() {
	[ -n "$ACCT" ] && [ -d "$ACCT" ] || return 0
	rmdir "$ACCT" 2>/dev/null || msg "cannot remove cgroup $ACCT (processes left in it?)"
	ACCT=
}

# The GridFTP server forks a process per session, so its CPU is that of a
# process tree.  rusage (cpurun, as for every receiver) has the session
# process when the server reaped it, which it does before it exits; a
# cpuacct cgroup (v1, these machines), which counts every process that ran
# in it, reaped or not, checks that per run.
setup_acct() {
	[ -w /sys/fs/cgroup/cpuacct/cgroup.procs ] || {
		msg "no cgroup v1 cpuacct controller: the GridFTP server's CPU from rusage"
		return 0
	}
	at_cleanup acct_teardown
	ACCT=/sys/fs/cgroup/cpuacct/zcbl-acct-$$
	mkdir "$ACCT" || die "mkdir $ACCT failed"
}

# acct_read: the CPU of ACCT's processes so far, in ns.
acct_read() { cat "$ACCT/cpuacct.usage"; }

# set_dest DEST: where this run lands and what wraps its receiver.
#   DEST_DIR, ZC_PATH: the landing directory; CG_WRAP: the cgroup prefix;
#   RECV_WRAP: cgroup + receiver namespace (lib.sh's peers and zcrecvd).
set_dest() {
	CG_WRAP=()
	case $1 in
	fast) DEST_DIR=$MNT/fast ;;
	disk) DEST_DIR=$DEST_RUN ;;
	slow)
		DEST_DIR=$MNT/slow
		CG_WRAP=(sh -c 'echo $$ >"$0" && exec "$@"' "$CG/cgroup.procs")
		;;
	esac
	ZC_PATH=$DEST_DIR
	RECV_WRAP=("${CG_WRAP[@]}" ip netns exec "$NS_R")
}

# --- source data ----------------------------------------------------------------

need=$((BYTES + 64 * 1024 * 1024))
[ "$FAST" = 0 ] || need=$((need + BYTES + BYTES / 4 + 768 * 1024 * 1024))
have=$(df -P -B1 "$WORK" | awk 'NR == 2 { print $4 }')
[ "$have" -gt "$need" ] ||
    die "$WORK: $(human "$have") free, not enough for the source and the fast destination"

setup_netns
NET_EXEC=(nsenter "--net=/run/netns/$NS_R")
if [[ " $CANDIDATES " == *" gridftp-"* ]]; then
	if [ "$VETH" = 1 ]; then setup_hosts "$NS_R" "$NS_S"; else setup_hosts "$NS_R"; fi
	setup_acct
	# The anonymous session (user nobody) must reach the fast destination
	# under WORK (mktemp -d made it 0700): search, not read.
	chmod 711 "$WORK"
fi
if [ "$FAST" = 1 ]; then
	setup_loop
	if has "$DESTS" slow; then setup_cgroup; fi
fi
if has "$DESTS" disk; then
	make_dest "$DEST_BASE"
	have=$(df -P -B1 "$DEST_RUN" | awk 'NR == 2 { print $4 }')
	[ "$have" -gt $((BYTES + 256 * 1024 * 1024)) ] ||
	    die "$DEST_RUN: $(human "$have") free, need more than $(human "$BYTES")"
fi

msg "generating $(human "$BYTES") of random data in $WORK/data"
mkdir -p "$WORK/data"
SRC=$WORK/data/data.bin
head -c "$BYTES" /dev/urandom >"$SRC"
SRC_HASH=$(xxh128sum "$SRC" 2>/dev/null | awk '{ print $1 }')
[ -n "$SRC_HASH" ] || die "xxh128sum $SRC failed"

{
	machine_facts "${DEST_RUN:-$WORK}"
	printf 'links\t%s\n' "$LINKS"
	printf 'dests\t%s\n' "$DESTS"
	if [ "$VETH" = 1 ]; then
		printf 'veth\t%s (%s, %s) <-> %s (%s, %s)\n' "$VETH_S" "$NS_S" "$ADDR_S" \
		    "$VETH_R" "$NS_R" "$ADDR_R"
		printf 'sender_offloads\t%s\n' "$(ip netns exec "$NS_S" ethtool -k "$VETH_S" |
		    grep -E '^(tcp-segmentation-offload|generic-segmentation-offload):' | tr '\n' ' ')"
		printf 'receiver_offloads\t%s\n' "$(ip netns exec "$NS_R" ethtool -k "$VETH_R" |
		    grep -E '^generic-receive-offload:' | tr '\n' ' ')"
	fi
	if [ "$FAST" = 1 ]; then
		printf 'fast_dest\text4 on %s backed by %s (%s)\n' "$LOOP" "$WORK/fast.img" "$(human "$(stat -c %s "$WORK/fast.img")")"
	fi
	[ -z "$CG" ] || printf 'slow_dest\tfast destination, %s MB/s write limit on %s (cgroup %s: %s)\n' \
	    "$SLOW_RATE" "$CG_MAJMIN" "$CG_KIND" "$CG"
	printf 'pkg_fio\t%s\n' "$(dpkg-query -W -f '${Version}' fio 2>/dev/null || echo none)"
	for p in globus-gridftp-server-progs globus-gass-copy-progs; do
		printf 'pkg_%s\t%s\n' "$p" "$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo none)"
	done
	[ -z "$GRIDFTP_NOTE" ] || printf 'gridftp\t%s\n' "$GRIDFTP_NOTE"
	[ -z "$ACCT" ] || printf 'gridftp_cpu\tcgroup v1 cpuacct %s (the server process tree)\n' "$ACCT"
	[ ${#HOSTS_MADE[@]} = 0 ] || printf 'netns_hosts\t%s\n' "${HOSTS_MADE[*]/#//etc/netns/}"
	printf 'loadavg_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$FACTS"

# --- one run ----------------------------------------------------------------------

reset_run() {
	R_OK=1 R_WALL=0 R_RU=0 R_RS=0 R_SYS=0 R_ZC=NA R_VER=no R_NOTE='' R_SEND=0
	R_IOWQ=NA
}

# verify_landed FILE: the landed file's XXH3-128 against the source's; a
# mismatch fails the run, loudly.
verify_landed() {
	local f=$1 h
	if [ ! -f "$f" ]; then
		fail_run "$(basename "$f") missing"; R_VER=no; return
	fi
	h=$(xxh128sum "$f" 2>/dev/null | awk '{ print $1 }')
	if [ "$h" = "$SRC_HASH" ]; then
		R_VER=yes
	else
		R_VER=no
		fail_run "DIGEST MISMATCH: landed ${h:-?} != source $SRC_HASH"
		msg "  *** $CUR on link $LINK to $DEST landed different bytes ***"
	fi
}

# thread_cpu PID: "PROCESS_US IOWQ_US": the process's CPU so far (every
# thread, ended ones included) and that of its live io_uring workers
# (iou-wrk-*), from /proc.  A cross-check that rusage counts the workers.
thread_cpu() {
	local pid=$1 t all=0 wq=0 v comm
	v=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) || v=
	[ -n "$v" ] && all=$v
	for t in /proc/"$pid"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		case $comm in
		iou-wrk-*)
			v=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "$t/stat" 2>/dev/null) || v=0
			wq=$((wq + ${v:-0}))
			;;
		esac
	done
	echo "$((all * 1000000 / CLK_TCK)) $((wq * 1000000 / CLK_TCK))"
}

# run_zc IO [zcsend options]: zcrecvd in the receiver namespace (io key
# IO, or the default config for "default"), zcsend in the sender's.
run_zc() {
	local io=$1 keys=() rc=0 ok n b z c pcpu
	shift
	case $io in
	default) ;;
	stripe) keys=(server.workers=2) ;;
	discard) keys=(io=discard verify=none) ;;
	*) keys=(io="$io") ;;
	esac
	# The one key the default config needs here: the sender's address
	# (zcrecvd.conf(5): without allow, loopback clients only).
	[ "$LINK" = lo ] || keys+=(allow="$ADDR_S")
	if ! ZC_LISTEN=$RADDR:0 start_zcrecvd "$CUR" "${keys[@]}"; then
		fail_run "zcrecvd did not start"; return
	fi
	window_start
	send "$L.sender.cpu" timeout -k 5 "$TIMEOUT" ip netns exec "$SEND_NS" \
	    "$ZCSEND" -q -t 30 "$@" "$SRC" "$RADDR:$ZC_PORT" \
	    >"$L.sender.out" 2>"$L.sender.err" || rc=$?
	window_end
	add_send_cpu "$L.sender.cpu"
	read -r pcpu R_IOWQ < <(thread_cpu "$ZC_DPID")
	stop_zcrecvd
	cp "$ZC_LOG" "$L.daemon.log"; cp "$ZC_TLOG" "$L.tlog" 2>/dev/null || true
	[ "$rc" = 0 ] || fail_run "zcsend exit $rc: $(head -c 300 "$L.sender.err")"
	if [ "$ZC_U" = NA ]; then
		fail_run "no daemon CPU figure"
	else
		R_RU=$ZC_U R_RS=$ZC_S
		# rusage covers every thread that ever ran; /proc/PID/stat
		# before the stop must not exceed it (10 ms ticks: 20 ms slack).
		[ $((ZC_U + ZC_S + 20000)) -ge "$pcpu" ] ||
		    fail_run "rusage $((ZC_U + ZC_S)) us < /proc stat $pcpu us: threads missed"
	fi
	read -r ok n b z c < <(tlog_sum "$ZC_TLOG")
	[ "$ok" = 1 ] && [ "$b" = "$BYTES" ] ||
	    fail_run "transfer log: $ok of 1 files ok, $b bytes"
	R_ZC=$(awk -v z="$z" -v b="$b" 'BEGIN { printf "%.2f", (b > 0 ? 100 * z / b : 0) }')
	# Which workers carried the stripes (the transfer log's "stripes").
	if [ "$io" = stripe ] && [ "$CUR" != zc-p1 ]; then
		n=$(grep -o '"worker":' "$ZC_TLOG" 2>/dev/null | wc -l)
		R_NOTE="${R_NOTE:+$R_NOTE; }stripes on $n of 2 workers"
	fi
	if [ "$io" = discard ]; then
		[ "$R_OK" = 1 ] && R_VER=count || R_VER=no
	else
		verify_landed "$DEST_DIR/$(basename "$SRC")"
	fi
}

# run_stream mbuffer|nc|socat|gridftp [STREAMS]: the receiver in the
# receiver namespace (and the cgroup on slow), the sender in the sender's;
# durable after sync FILE.  gridftp: an anonymous globus-gridftp-server in
# the foreground for one session (-1; ../shared/DESIGN.md's -S would detach
# it from cpurun), landing in DEST_DIR/gridftp, which belongs to nobody
# (the session runs as the anonymous user); globus-url-copy -p STREAMS.
run_stream() {
	local kind=$1 streams=${2:-1} dst port rc=0 wrap=("${RECV_WRAP[@]}") a0=
	dst=$DEST_DIR/$(basename "$SRC")
	port=$(pick_port)
	case $kind in
	mbuffer) peer_recv_start mbuffer -q -I "$port" -o "$dst" ;;
	socat) peer_recv_start socat -u \
	    "TCP-LISTEN:$port,bind=$RADDR,reuseaddr" "CREATE:$dst" ;;
	nc) peer_recv_start sh -c 'exec nc -l "$1" "$2" >"$3"' sh "$RADDR" "$port" "$dst" ;;
	gridftp)
		dst=$DEST_DIR/gridftp/$(basename "$SRC")
		install -d -m 755 -o nobody "$DEST_DIR/gridftp" ||
		    { fail_run "cannot make $DEST_DIR/gridftp"; return; }
		if [ -n "$ACCT" ]; then
			a0=$(acct_read)
			RECV_WRAP=(sh -c 'echo $$ >"$0" && exec "$@"' "$ACCT/cgroup.procs" "${wrap[@]}")
		fi
		peer_recv_start globus-gridftp-server -aa -anonymous-user nobody -1 \
		    -p "$port" -control-interface "$RADDR" -data-interface "$RADDR"
		RECV_WRAP=("${wrap[@]}")
		;;
	esac
	if ! wait_listen "$port" 20 "$P_PID"; then
		fail_run "$kind receiver did not listen: $(head -c 300 "$L.recv$P_N.err")"
		end_pid "$P_PID"; untrack "$P_PID"; return
	fi
	window_start
	case $kind in
	mbuffer) send "$L.send.cpu" timeout -k 5 "$TIMEOUT" ip netns exec "$SEND_NS" \
	    mbuffer -q -i "$SRC" -O "$RADDR:$port" ;;
	socat) send "$L.send.cpu" timeout -k 5 "$TIMEOUT" ip netns exec "$SEND_NS" \
	    socat -u "FILE:$SRC" "TCP:$RADDR:$port" ;;
	nc) send "$L.send.cpu" timeout -k 5 "$TIMEOUT" ip netns exec "$SEND_NS" \
	    nc -N "$RADDR" "$port" <"$SRC" ;;
	gridftp) send "$L.send.cpu" timeout -k 5 "$TIMEOUT" ip netns exec "$SEND_NS" \
	    globus-url-copy -p "$streams" "file://$SRC" "ftp://$RADDR:$port$dst" ;;
	esac >"$L.send.out" 2>"$L.send.err" || rc=$?
	add_send_cpu "$L.send.cpu"
	[ "$rc" = 0 ] || fail_run "$kind sender exit $rc: $(head -c 300 "$L.send.err")"
	rc=0
	bounded_wait "$P_PID" || rc=$?
	[ "$rc" = 0 ] || fail_run "$kind receiver exit $rc: $(head -c 300 "$L.recv$P_N.err")"
	peer_sync "$dst"
	window_end
	add_cpu "$P_CPU"
	[ -z "$a0" ] || acct_check "$a0" "$P_CPU"
	verify_landed "$dst"
}

# acct_check BEFORE CPUFILE: the process tree's CPU since BEFORE (an
# acct_read) against the rusage in CPUFILE, which has the session process
# only if the server reaped it: a run whose rusage falls short fails.
acct_check() {
	local t ru=0 rs=0
	t=$(acct_read | awk -v a="$1" '{ split(a, x, " "); printf "%.0f\n", ($1 - x[1]) / 1000 }')
	[ ! -s "$2" ] || read -r ru rs _ <"$2"
	printf 'process tree (cgroup cpuacct) %s us, rusage (cpurun) %s us\n' \
	    "$t" "$((ru + rs))" >"$L.acct"
	[ $((ru + rs + 20000 + t / 20)) -ge "$t" ] ||
	    fail_run "rusage $((ru + rs)) us < the process tree's $t us: a process missed"
}

# run_disk dd|fio DEPTH: the disk's limit, no network (in the cgroup on slow).
# dd: the process's wall time and rusage.  fio: its own figures for the
# job (write runtime, the job's CPU): its start-up (~0.3 s of CPU, forking
# the job, shared memory, laying out the file) is not the disk's.
run_disk() {
	local kind=$1 depth=${2:-1} dst c=$L.disk.cpu rc=0 got f u s
	dst=$DEST_DIR/$(basename "$SRC")
	window_start
	case $kind in
	dd) "$H_CPURUN" -o "$c" -t "$TIMEOUT" -- "${CG_WRAP[@]}" dd if="$SRC" \
	    of="$dst" bs=2M oflag=direct status=none ;;
	fio) "$H_CPURUN" -o "$c" -t "$TIMEOUT" -- "${CG_WRAP[@]}" fio \
	    --name=links --filename="$dst" --rw=write --bs=2M --size="$BYTES" \
	    --ioengine=io_uring --iodepth="$depth" --direct=1 \
	    --output-format=json --output="$L.fio.json" ;;
	esac >"$L.disk.out" 2>"$L.disk.err" || rc=$?
	window_end
	[ "$rc" = 0 ] || { fail_run "$kind exit $rc: $(head -c 300 "$L.disk.err")"; return; }
	if [ "$kind" = dd ]; then
		add_cpu "$c"
		verify_landed "$dst"
		return
	fi
	# fio writes its own buffers: the size is the check.
	read -r f < <(awk '
	function val(   v) { v = $0; sub(/.*: */, "", v); sub(/,$/, "", v); return v + 0 }
	/"write" : \{/ { w = 1 }
	w && /"io_bytes"/ && io == "" { io = val() }
	w && /"runtime"/ && rt == "" { rt = val() }
	/"usr_cpu"/ && u == "" { u = val() }
	/"sys_cpu"/ && s == "" { s = val() }
	END { printf "%s,%s,%s,%s\n", io, rt, u, s }' "$L.fio.json" 2>/dev/null)
	IFS=, read -r got f u s <<<"$f"
	if [ "$got" != "$BYTES" ] || [ -z "$f" ] || [ "${f:-0}" = 0 ]; then
		fail_run "fio wrote ${got:-?} bytes in ${f:-?} ms"; return
	fi
	R_WALL=$(awk -v t="$f" 'BEGIN { printf "%.6f", t / 1000 }')
	R_RU=$(awk -v t="$f" -v p="$u" 'BEGIN { printf "%.0f", t * p * 10 }')
	R_RS=$(awk -v t="$f" -v p="$s" 'BEGIN { printf "%.0f", t * p * 10 }')
	got=$(stat -c %s "$dst" 2>/dev/null || echo 0)
	[ "$got" = "$BYTES" ] || fail_run "fio left $got bytes"
	[ "$R_OK" = 1 ] && R_VER=count || R_VER=no
}

run_candidate() {
	case $CUR in
	zc-auto) run_zc default ;;
	zc-direct|zc-write|zc-vmsplice|zc-splice|zc-copy|zc-copy-direct)
		run_zc "${CUR#zc-}" ;;
	zc-base) ZCRECVD=$BASE_ZCRECVD ZCSEND=$BASE_ZCSEND run_zc default ;;
	zc-p1|zc-p2|zc-p4) run_zc stripe -P "${CUR#zc-p}" ;;
	zc-discard) run_zc discard --no-verify ;;
	mbuffer|nc|socat) run_stream "$CUR" ;;
	gridftp-p1|gridftp-p4) run_stream gridftp "${CUR#gridftp-p}" ;;
	dd-direct) run_disk dd ;;
	fio-qd1) run_disk fio 1 ;;
	fio-qd4) run_disk fio 4 ;;
	esac
}

# one LINK DEST CANDIDATE: one run, one line of RUNS.
one() {
	local line
	LINK=$1 DEST=$2 CUR=$3
	L=$LOGDIR/r$round-$LINK-$DEST-$CUR
	P_N=0
	reset_run
	[ -z "$DEST_DIR" ] || empty_dir "$DEST_DIR"
	drop_caches
	run_candidate
	[ -z "$DEST_DIR" ] || empty_dir "$DEST_DIR"
	line=$(awk -v r="$round" -v l="$LINK" -v d="$DEST" -v c="$CUR" -v ok="$R_OK" \
	    -v b="$BYTES" -v w="$R_WALL" -v u="$R_RU" -v s="$R_RS" -v sy="$R_SYS" \
	    -v z="$R_ZC" -v v="$R_VER" -v se="$R_SEND" -v q="$R_IOWQ" -v n="$R_NOTE" 'BEGIN {
		mb = b / 1e6
		g = w > 0 ? b * 8 / w / 1e9 : 0
		printf "%d\t%s\t%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%d\t%d\t%.1f\t%d\t%.1f\t%s\t%s\t%.1f\t%s\t%s\n",
		    r, l, d, c, ok, b, w, g, u, s, (u + s) / mb, sy, sy / mb, z, v, se / mb, q, n
	}')
	printf '%s\n' "$line" >>"$RUNS"
	awk -F'\t' -v R="$ROUNDS" '{
		printf "round %d/%d %-4s %-4s %-11s %s %6.2f Gbit/s %7.1f us/MB recv %7.1f us/MB system %6.2f s zc %6s%% verified %s%s\n",
		    $1, R, $2, $3, $4, ($5 == 1 ? "ok  " : "FAIL"), $8, $11, $13, $7, $14, $15, ($18 != "" ? " (" $18 ")" : "")
	}' <<<"$line" >&2
}

# --- the rounds -------------------------------------------------------------------------

nruns=$(( ($(wc -w <<<"$C_NETDEST") * $(wc -w <<<"$DESTS") + $(wc -w <<<"$C_NET")) * $(wc -w <<<"$LINKS") + $(wc -w <<<"$C_DEST") * $(wc -w <<<"$DESTS") ))
[ "$nruns" -gt 0 ] || die "nothing to run"
msg "$nruns runs x $ROUNDS rounds of $(human "$BYTES"): links ${LINKS// /,}, destinations ${DESTS// /,}"
msg "results: $OUT (links-*-$STAMP.*)"
printf 'round\tlink\tdest\tcandidate\tok\tbytes\twall_s\tgbps\trecv_user_us\trecv_sys_us\trecv_us_per_mb\tsys_cpu_us\tsys_us_per_mb\tzc_pct\tverified\tsend_us_per_mb\tiowq_us\tnote\n' >"$RUNS"
START=$(date +%s)
for ((round = 1; round <= ROUNDS; round++)); do
	for link in $LINKS; do
		set_link "$link"
		for dest in $DESTS; do
			set_dest "$dest"
			for c in $C_NETDEST; do one "$link" "$dest" "$c"; done
		done
		DEST_DIR=
		RECV_WRAP=(ip netns exec "$NS_R") CG_WRAP=()
		for c in $C_NET; do one "$link" - "$c"; done
	done
	for dest in $DESTS; do
		set_dest "$dest"
		for c in $C_DEST; do one - "$dest" "$c"; done
	done
done
ELAPSED=$(( $(date +%s) - START ))
printf 'loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$FACTS"

# --- medians, table, targets, JSON, chart ----------------------------------------------

awk -F'\t' -v links="$LINKS - " -v dests="$DESTS - " -v order="$CANDIDATES" "$AWK_MEDIAN"'
NR == 1 { next }
{
	k = $2 SUBSEP $3 SUBSEP $4
	runs[k]++; v[k] = $15
	if ($5 != 1) { fails[k]++; next }
	ok[k]++
	g[k] = g[k] " " $8; rc[k] = rc[k] " " $11; sc[k] = sc[k] " " $13
	w[k] = w[k] " " $7; if ($14 != "NA") z[k] = z[k] " " $14
}
END {
	printf "link\tdest\tcandidate\truns\tok\tgbps\trecv_us_per_mb\tsys_us_per_mb\twall_s\tzc_pct\tverified\n"
	nl = split(links, L, " "); nd = split(dests, D, " "); nc = split(order, C, " ")
	for (i = 1; i <= nl; i++) for (j = 1; j <= nd; j++) for (m = 1; m <= nc; m++) {
		k = L[i] SUBSEP D[j] SUBSEP C[m]
		if (!(k in runs)) continue
		if (ok[k] == 0) {
			printf "%s\t%s\t%s\t%d\t0\tNA\tNA\tNA\tNA\tNA\tno\n", L[i], D[j], C[m], runs[k]
			continue
		}
		printf "%s\t%s\t%s\t%d\t%d\t%.3f\t%.1f\t%.1f\t%.3f\t%s\t%s\n", L[i], D[j], C[m],
		    runs[k], ok[k], median(g[k]), median(rc[k]), median(sc[k]), median(w[k]),
		    (z[k] == "" ? "NA" : sprintf("%.2f", median(z[k]))),
		    (fails[k] ? v[k] " (" ok[k] "/" runs[k] ")" : v[k])
	}
}' "$RUNS" >"$MEDIANS"

# Ratios against the targets of issue 11, per link; issue 12's striping
# targets (-P 2 and -P 4 against -P 1, every link and destination measured;
# zcsend -P 4 against GridFTP -p 4, fast destination); zc-auto against the
# --baseline (information, no target).
awk -F'\t' -v links="$LINKS" -v dests="$DESTS" -v cands=" $CANDIDATES " \
    -v gnote="$GRIDFTP_NOTE" '
NR == 1 { next }
$5 > 0 { g[$1, $2, $3] = $6; c[$1, $2, $3] = $7 }
function r(name, val, op, lim, why,   met) {
	if (why != "") { printf "%s\tNA\t%s %s\t%s\n", name, op, lim, why; return }
	met = (op == "<=") ? (val <= lim + 1e-9) : (val >= lim - 1e-9)
	printf "%s\t%.3f\t%s %s\t%s\n", name, val, op, lim, met ? "met" : "MISSED"
}
BEGIN { print "target\tratio\twant\tresult" }
END {
	n = split(links, L, " ")
	for (i = 1; i <= n; i++) {
		l = L[i]
		if (index(cands, " zc-auto ")) {  # issue 11
			a = (l SUBSEP "fast" SUBSEP "zc-auto") in g; b = (l SUBSEP "fast" SUBSEP "mbuffer") in g
			why = (a && b) ? "" : "not measured"
			r(l ": fast: zc-auto / mbuffer receiver CPU per MB", why ? 0 : c[l, "fast", "zc-auto"] / c[l, "fast", "mbuffer"], "<=", 0.8, why)
			r(l ": fast: zc-auto / mbuffer Gbit/s", why ? 0 : g[l, "fast", "zc-auto"] / g[l, "fast", "mbuffer"], ">=", 1.2, why)
			best = 0; bn = ""
			if ((l, "disk", "mbuffer") in g && g[l, "disk", "mbuffer"] > best) { best = g[l, "disk", "mbuffer"]; bn = "mbuffer" }
			if (("-", "disk", "dd-direct") in g && g["-", "disk", "dd-direct"] > best) { best = g["-", "disk", "dd-direct"]; bn = "dd-direct" }
			if (("-", "disk", "fio-qd1") in g && g["-", "disk", "fio-qd1"] > best) { best = g["-", "disk", "fio-qd1"]; bn = "fio-qd1" }
			if (("-", "disk", "fio-qd4") in g && g["-", "disk", "fio-qd4"] > best) { best = g["-", "disk", "fio-qd4"]; bn = "fio-qd4" }
			why = ((l, "disk", "zc-auto") in g && best > 0) ? "" : "not measured"
			r(l ": disk: zc-auto Gbit/s / best of dd, fio, mbuffer" (bn != "" ? " (" bn ")" : ""), why ? 0 : g[l, "disk", "zc-auto"] / best, ">=", 0.95, why)
			why = ((l, "slow", "zc-auto") in g && (l, "fast", "zc-auto") in g) ? "" : "not measured"
			r(l ": zc-auto receiver CPU per MB, slow / fast", why ? 0 : c[l, "slow", "zc-auto"] / c[l, "fast", "zc-auto"], "<=", 1.25, why)
			# io = auto against the cheapest fixed io mode measured
			best = 0; bn = ""; asked = 0
			nf = split("zc-direct zc-write zc-vmsplice zc-splice zc-copy zc-copy-direct", F, " ")
			for (f = 1; f <= nf; f++) {
				if (index(cands, " " F[f] " ")) asked = 1
				if ((l, "fast", F[f]) in c && c[l, "fast", F[f]] > 0 && (bn == "" || c[l, "fast", F[f]] < best)) { best = c[l, "fast", F[f]]; bn = F[f] }
			}
			if (asked) {
				why = ((l, "fast", "zc-auto") in g && bn != "") ? "" : "not measured"
				r(l ": fast: zc-auto / best fixed io mode receiver CPU per MB" (bn != "" ? " (" bn ")" : ""), why ? 0 : c[l, "fast", "zc-auto"] / best, "<=", 1.05, why)
			}
		}
		nd = split(dests, D, " ")
		for (j = 1; j <= nd; j++) {
			d = D[j]
			split("zc-p2 zc-p4", P, " ")
			for (p = 1; p <= 2; p++) {
				if (index(cands, " " P[p] " ") == 0 || index(cands, " zc-p1 ") == 0) continue
				why = ((l, d, P[p]) in g && (l, d, "zc-p1") in g) ? "" : "not measured"
				r(l ": " d ": " P[p] " / zc-p1 Gbit/s", why ? 0 : g[l, d, P[p]] / g[l, d, "zc-p1"], ">=", 0.95, why)
			}
		}
		if (index(cands, " zc-p4 ") && (index(cands, " gridftp-p4 ") || gnote != "")) {
			why = gnote != "" ? "gridftp skipped" : ((l, "fast", "zc-p4") in g && (l, "fast", "gridftp-p4") in g) ? "" : "not measured"
			r(l ": fast: zc-p4 / gridftp-p4 Gbit/s", why ? 0 : g[l, "fast", "zc-p4"] / g[l, "fast", "gridftp-p4"], ">=", 1.2, why)
			r(l ": fast: zc-p4 / gridftp-p4 receiver CPU per MB", why ? 0 : c[l, "fast", "zc-p4"] / c[l, "fast", "gridftp-p4"], "<=", 0.8, why)
		}
		for (j = 1; j <= nd; j++) {
			d = D[j]
			if (!((l, d, "zc-base") in g) || !((l, d, "zc-auto") in g)) continue
			printf "%s: %s: zc-auto / zc-base Gbit/s (after / before)\t%.3f\t-\tinfo\n", l, d, g[l, d, "zc-auto"] / g[l, d, "zc-base"]
			printf "%s: %s: zc-auto / zc-base receiver CPU per MB\t%.3f\t-\tinfo\n", l, d, c[l, d, "zc-auto"] / c[l, d, "zc-base"]
		}
	}
}' "$MEDIANS" >"$TARGETS"

# The table, one block per link.
echo
echo "zcrecvd links benchmark: $(human "$BYTES") per run, medians of $ROUNDS interleaved rounds ($(date -u +%Y-%m-%d))"
echo "$(uname -r), $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
if has "$DESTS" fast; then
	echo "fast: ext4 on a loop device backed by a file in tmpfs"
fi
if has "$DESTS" disk; then
	echo "disk: $(fs_type "$DEST_RUN" | head -1) on $(findmnt -n -o SOURCE -T "$DEST_RUN" | head -1) ($DEST_RUN)"
fi
if has "$DESTS" slow; then
	echo "slow: the fast destination, the receiving process's writes throttled to $SLOW_RATE MB/s (cgroup $CG_KIND)"
fi
awk -F'\t' '
NR == 1 { next }
$1 != last {
	last = $1
	printf "\nlink %s\n", ($1 == "lo" ? "lo (loopback, one namespace)" : ($1 == "-" ? "- (no network: the destination alone)" : $1 " (veth, MTU " $1 ", sender TSO/GSO off, receiver GRO on)"))
	printf "  %-5s %-11s %8s %11s %11s %8s %7s  %s\n", "dest", "candidate", "Gbit/s", "recv us/MB", "sys us/MB", "wall s", "zc %", "verified"
}
{
	if ($5 == 0) { printf "  %-5s %-11s %8s %11s %11s %8s %7s  %s\n", $2, $3, "FAILED", "-", "-", "-", "-", "no (0/" $4 ")"; next }
	printf "  %-5s %-11s %8.2f %11.1f %11.1f %8.2f %7s  %s\n", $2, $3, $6, $7, $8, $9, ($10 == "NA" ? "-" : $10), $11
}' "$MEDIANS"
echo
echo "recv us/MB: CPU (user+sys, every thread and io_uring worker, rusage) of the receiving process per 10^6 bytes; peers: + sync(1)"
[[ " $C_NETDEST " != *" gridftp-"* ]] ||
    echo "  gridftp-*: the server's process tree (a process per session, reaped: checked against a cpuacct cgroup)"
echo "sys us/MB: whole-machine non-idle CPU over the transfer per 10^6 bytes (sender, softirq, anything else running included)"
[ -z "$GRIDFTP_NOTE" ] || echo "note: $GRIDFTP_NOTE"
[ -z "${BASE_DESC:-}" ] || echo "zc-base: $BASE_DESC"
echo
echo "targets (issues 11 and 12; zc-base: before/after, information):"
awk -F'\t' 'NR > 1 { printf "  %-62s %7s  %s  %s\n", $1, $2, ($3 == "-" ? "(no target)" : "(want " $3 ")"), $4 }' "$TARGETS"

# Markdown: the medians as a matrix (link x destination against the
# networked candidates), the network-only and disk-only rows, the targets.
markdown() {
	echo "$(human "$BYTES") per run, medians of $ROUNDS interleaved rounds, $(date -u +%Y-%m-%d);"
	echo "$(uname -r), $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo "Each cell: Gbit/s / receiver CPU us per MB (10^6 bytes); zc %: zcrecvd's default config, bytes mapped."
	echo
	awk -F'\t' -v order="$C_NETDEST" '
	NR == 1 { next }
	$3 != "-" && $1 != "-" && $2 != "-" {
		k = $1 " " $2
		if (!(k in seen)) { seen[k] = 1; rows[++n] = k; L[n] = $1; D[n] = $2 }
		cell[k, $3] = ($5 == 0) ? "FAILED" : sprintf("%.2f / %.0f", $6, $7)
		if ($3 == "zc-auto" && $5 > 0) zc[k] = ($10 == "NA" ? "-" : sprintf("%.0f%%", $10))
	}
	END {
		nc = split(order, C, " ")
		if (n == 0 || nc == 0) exit
		printf "| link | dest |"
		for (m = 1; m <= nc; m++) printf " %s |", C[m]
		print " zc % |"
		printf "|---|---|"
		for (m = 1; m <= nc; m++) printf "---:|"
		print "---:|"
		for (i = 1; i <= n; i++) {
			printf "| %s | %s |", L[i], D[i]
			for (m = 1; m <= nc; m++) printf " %s |", ((rows[i], C[m]) in cell ? cell[rows[i], C[m]] : "")
			printf " %s |\n", (rows[i] in zc ? zc[rows[i]] : "")
		}
	}' "$MEDIANS"
	echo
	awk -F'\t' '
	NR == 1 { next }
	$1 == "-" || $2 == "-" {
		if (!h++) { print "| without network or without disk | Gbit/s | receiver us/MB |"; print "|---|---:|---:|" }
		what = ($1 == "-") ? $3 " to " $2 : $3 " over " $1
		if ($5 == 0) printf "| %s | FAILED | |\n", what
		else printf "| %s | %.2f | %.0f |\n", what, $6, $7
	}' "$MEDIANS"
	echo
	[ -z "$GRIDFTP_NOTE" ] || { echo "Note: $GRIDFTP_NOTE."; echo; }
	[ -z "${BASE_DESC:-}" ] || { echo "zc-base: $BASE_DESC."; echo; }
	echo "| target (issues 11, 12) | ratio | want | |"
	echo "|---|---:|---|---|"
	awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$TARGETS"
}
markdown >"$MD"

# JSON.
{
	printf '{\n  "benchmark": "zcrecvd bench/links.sh",\n'
	printf '  "command": "%s",\n' "$(printf '%s' "$CMDLINE" | json_escape)"
	printf '  "size_bytes": %s,\n  "rounds": %s,\n  "slow_rate_mb_s": %s,\n' "$BYTES" "$ROUNDS" "$SLOW_RATE"
	printf '  "links": [%s],\n' "$(printf '"%s",' $LINKS | sed 's/,$//')"
	printf '  "dests": [%s],\n' "$(printf '"%s",' $DESTS | sed 's/,$//')"
	printf '  "candidates": [%s],\n' "$(printf '"%s",' $CANDIDATES | sed 's/,$//')"
	printf '  "elapsed_s": %s,\n  "units": {"mb": 1000000, "gbit": 1000000000},\n' "$ELAPSED"
	printf '  "machine": {\n'
	awk -F'\t' '{
		v = $2; gsub(/\\/, "\\\\", v); gsub(/"/, "\\\"", v)
		printf "%s    \"%s\": \"%s\"", (NR > 1 ? ",\n" : ""), $1, v
	} END { print "" }' "$FACTS"
	printf '  },\n'
	awk -F'\t' '
	function v(x) { return (x == "NA" || x == "") ? "null" : x }
	NR == 1 { print "  \"runs\": ["; next }
	{
		gsub(/\\/, "\\\\", $18); gsub(/"/, "\\\"", $18)
		printf "%s    {\"round\": %d, \"link\": \"%s\", \"dest\": \"%s\", \"candidate\": \"%s\", \"ok\": %s, \"bytes\": %s, \"wall_s\": %s, \"gbps\": %s, \"recv_user_us\": %s, \"recv_sys_us\": %s, \"recv_us_per_mb\": %s, \"sys_cpu_us\": %s, \"sys_us_per_mb\": %s, \"zc_pct\": %s, \"verified\": \"%s\", \"send_us_per_mb\": %s, \"iowq_us\": %s, \"note\": \"%s\"}",
		    (NR > 2 ? ",\n" : ""), $1, $2, $3, $4, ($5 == 1 ? "true" : "false"), $6, $7, $8, $9, $10, $11, $12, $13, v($14), $15, $16, v($17), $18
	}
	END { print "\n  ]," }' "$RUNS"
	awk -F'\t' '
	function v(x) { return (x == "NA" || x == "") ? "null" : x }
	NR == 1 { print "  \"medians\": ["; next }
	{
		printf "%s    {\"link\": \"%s\", \"dest\": \"%s\", \"candidate\": \"%s\", \"runs\": %d, \"ok_runs\": %d, \"gbps\": %s, \"recv_us_per_mb\": %s, \"sys_us_per_mb\": %s, \"wall_s\": %s, \"zc_pct\": %s, \"verified\": \"%s\"}",
		    (NR > 2 ? ",\n" : ""), $1, $2, $3, $4, $5, v($6), v($7), v($8), v($9), v($10), $11
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

# Chart: per destination, receiver CPU per MB (left) and Gbit/s (right) of
# each networked candidate, one bar per link.
chart() {
	local dest dat plots=() i nl
	nl=$(wc -w <<<"$LINKS")
	for dest in $DESTS; do
		dat=$OUT/links-chart-$STAMP-$dest.dat
		awk -F'\t' -v dest="$dest" -v links="$LINKS" -v order="$C_NETDEST" '
		NR == 1 { next }
		$2 == dest && $5 > 0 { c[$1, $3] = $7; g[$1, $3] = $6 }
		END {
			nl = split(links, L, " "); nc = split(order, C, " ")
			for (m = 1; m <= nc; m++) {
				printf "%s", C[m]
				for (i = 1; i <= nl; i++) printf "\t%s", ((L[i], C[m]) in c ? c[L[i], C[m]] : "NaN")
				for (i = 1; i <= nl; i++) printf "\t%s", ((L[i], C[m]) in g ? g[L[i], C[m]] : "NaN")
				printf "\n"
			}
		}' "$MEDIANS" >"$dat"
		plots+=("$dest" "$dat")
	done
	[ ${#plots[@]} -gt 0 ] || return 0
	{
		cat <<EOF
set terminal pngcairo size 1400,$((380 * ${#plots[@]} / 2 + 80)) font "sans,9"
set output "$PNG"
set datafile separator "\t"
set datafile missing "NaN"
set multiplot layout $((${#plots[@]} / 2)),2 title "zcrecvd links: $(human "$BYTES"), medians of $ROUNDS rounds ($(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%d))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -30 nomirror
set key top left
set yrange [0:*]
EOF
		for ((i = 0; i < ${#plots[@]}; i += 2)); do
			printf 'set title "%s: receiver CPU us per MB (lower is better)"\n' "${plots[i]}"
			printf 'plot for [i=2:%d] "%s" using i:xtic(1) title word("%s", i - 1) lc (i - 1)\n' \
			    "$((nl + 1))" "${plots[i+1]}" "$LINKS"
			printf 'set title "%s: Gbit/s, wall clock to durable file (higher is better)"\n' "${plots[i]}"
			printf 'plot for [i=%d:%d] "%s" using i:xtic(1) title word("%s", i - %d) lc (i - %d)\n' \
			    "$((nl + 2))" "$((2 * nl + 1))" "${plots[i+1]}" "$LINKS" "$((nl + 1))" "$((nl + 1))"
		done
		echo "unset multiplot"
	} >"$OUT/links-chart-$STAMP.gp"
	gnuplot "$OUT/links-chart-$STAMP.gp" 2>"$LOGDIR/gnuplot.err" ||
	    msg "gnuplot failed: $(head -c 300 "$LOGDIR/gnuplot.err")"
}
command -v gnuplot >/dev/null 2>&1 && chart

echo
echo "runs:    $RUNS"
echo "medians: $MEDIANS"
echo "targets: $TARGETS"
echo "table:   $MD"
echo "json:    $JSON"
[ -s "$PNG" ] && echo "chart:   $PNG"
echo "logs:    $LOGDIR"
echo "elapsed: ${ELAPSED} s"
