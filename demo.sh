#!/bin/bash
# demo.sh -- build zcrecvd, start it with an embedded default config, send
# a real file to it with zcsend over loopback, and print what happened.
# The same file is then sent again to a daemon with io = copy (what
# recv()+write() tools do) so the two costs can be compared.
#
#   ./demo.sh            # 1 GiB of random data
#   SIZE=256M ./demo.sh  # another size (head -c syntax)
#
# Run as root on Debian 12: installs its own build dependencies.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
size=${SIZE:-1G}

sh tools/deps.sh
# Always bring the build up to date (make does nothing when it is).
echo "demo: building..."
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p build-demo
[ -f build-demo/Makefile ] || (cd build-demo && "$top/configure" >/dev/null)
make -C build-demo -j"$(nproc)" zcrecvd zcsend >build-demo/build.log 2>&1 ||
	{ cat build-demo/build.log; exit 1; }
zcrecvd=$top/build-demo/zcrecvd
zcsend=$top/build-demo/zcsend

# The source lives in tmpfs (memory), the destination on a real disk
# filesystem, as for a real transfer.
src=$(mktemp -d /dev/shm/zcrecvd-demo.XXXXXX)
work=$(mktemp -d /var/tmp/zcrecvd-demo.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	case $src in /dev/shm/zcrecvd-demo.*) rm -rf "$src" ;; esac
	case $work in /var/tmp/zcrecvd-demo.*) rm -rf "$work" ;; esac
}
trap cleanup EXIT

# start IO: start a daemon with the embedded config, sets $pid and $port.
start() {
	rm -rf "$work/dest"
	mkdir -p "$work/dest"
	# The daemon drops root for nobody, as it would for its own user.
	chmod 755 "$work"
	chown nobody: "$work/dest"
	cat >"$work/zcrecvd.conf" <<CONF
# Embedded demo configuration: the shipped defaults, on a free port,
# running as nobody.
[server]
listen = 127.0.0.1:0
user = nobody
page_mss = auto
transfer_log = $work/transfers.json

[default]
path = $work/dest
io = $1
fsync = yes
overwrite = no
verify = xxh3
CONF
	: >"$work/daemon.log"
	"$zcrecvd" -f "$work/zcrecvd.conf" 2>>"$work/daemon.log" &
	pid=$!
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		    "$work/daemon.log")
		[ -n "$port" ] && return 0
		sleep 0.1
	done
	cat "$work/daemon.log"
	echo "demo: daemon did not start" >&2
	exit 1
}

stop() {
	kill "$pid"
	wait "$pid" || true
	pid=""
}

echo "demo: writing $size of random data to $src/payload.bin"
head -c "$size" /dev/urandom >"$src/payload.bin"

for io in auto copy; do
	start "$io"
	echo
	echo "=== zcrecvd (io = $io) on 127.0.0.1:$port -> $work/dest"
	"$zcsend" "$src/payload.bin" "127.0.0.1:$port"
	cmp "$src/payload.bin" "$work/dest/payload.bin"
	echo "bytes landed are identical to the bytes sent"
	echo "daemon: $(grep 'landed' "$work/daemon.log" | sed 's/^zcrecvd: //')"
	stop
done

echo
echo "=== transfer log ($work/transfers.json)"
cat "$work/transfers.json"
echo
printf '%-6s %12s %10s %14s %10s\n' io zero-copy% seconds "cpu us/MB" Gbit/s
sed -E 's/.*"bytes":([0-9]+).*"zc_pct":([0-9.]+),"seconds":([0-9.]+).*"cpu_us_per_mb":([0-9.]+),"io":"([a-z]+)".*/\5 \2 \3 \4 \1/' \
    "$work/transfers.json" |
	awk '{ printf "%-6s %12s %10.3f %14s %10.2f\n", $1, $2, $3, $4, $5 * 8 / $3 / 1e9 }'
