#!/bin/bash
# zcrecvd under a real systemd: boot a minimal Debian with systemd-nspawn,
# "make install" into it, and drive the installed units with systemctl.
#
#   - the installed units pass systemd-analyze verify, and systemd-sysusers
#     made user zcrecvd at boot from the installed sysusers.d file;
#   - systemctl start zcrecvd: active (Type=notify, so READY=1 arrived); the
#     daemon runs as zcrecvd, no capabilities, no_new_privs, under a seccomp
#     filter and in a user namespace of its own;
#   - zcsend on the host (the container shares its network) lands a file
#     in /var/lib/zcrecvd: same bytes, not world-readable, in the transfer
#     log in /var/log/zcrecvd, "landed" in the journal at priority info,
#     counted in STATUS=;
#   - systemctl reload re-reads the config (overwrite = yes takes effect);
#     every io mode works inside the sandbox; a broken config is refused
#     at warning priority and the unit stays active with the same pid;
#   - systemctl stop: inactive, exit status 0, no staging file left;
#   - zcrecvd.socket (on another port): the first connection starts the
#     service, which uses the passed socket and not "listen";
#   - the container powers off.
#
# The root file system is cached outside the clone by tools/nspawn-root.sh
# (the first run debootstraps it: a minute or more); each run boots a
# throw-away overlay of it.  Needs root; skips if systemd-nspawn cannot run
# here, and for sanitizer builds (the unit's system call filter refuses the
# sanitizers' own calls).
. "$(dirname "$0")/lib.sh"
heavy

[ "$(id -u)" -eq 0 ] || skip "needs root (mount, systemd-nspawn)"
[ -n "${SRCDIR:-}" ] && [ -n "${BUILDDIR:-}" ] ||
    hard_error "SRCDIR and BUILDDIR must be set"
if grep -qa -e __asan_init -e __ubsan_handle -e __tsan_init "$ZCRECVD"; then
	skip "sanitizer build: its runtime needs calls the unit's filter refuses"
fi
command -v ss >/dev/null || hard_error "ss (iproute2) is not installed"

. "$(dirname "$0")/nspawn-lib.sh"

UNIT=			# installed zcrecvd.service, path inside the container
BIN=			# the daemon, path inside the container
CONF=			# its configuration file, path inside the container

# --- helpers --------------------------------------------------------------

# journal [ARGS...]: the messages of zcrecvd's own processes, without
# timestamps.  Under systemd the lines have <N> priority prefixes, which
# journald strips, and may lack the "zcrecvd: " of plain stderr.
journal() {
	in_ct journalctl --no-pager -o cat _SYSTEMD_UNIT=zcrecvd.service "$@"
}

# want_journal REGEX [ARGS...]: wait up to 10 s for a line of the daemon
# matching REGEX (ARGS narrow the search, e.g. -p warning).
want_journal() {
	local re=$1 i
	shift
	for ((i = 0; i < 50; i++)); do
		# A here-string, not a pipe: with pipefail, grep -q exiting
		# early can fail the pipeline on SIGPIPE.
		grep -qE -- "$re" <<<"$(journal "$@")" && return 0
		sleep 0.2
	done
	journal >&2 || true
	fail "no journal line matching '$re' ($*) within 10 s"
}

# write_ct_config [DEFAULT-LINE...]: the container's zcrecvd.conf, on $PORT,
# with the shipped default destination and a transfer log.
write_ct_config() {
	local l
	{
		echo "[server]"
		echo "listen = 127.0.0.1:$PORT"
		echo "transfer_log = /var/log/zcrecvd/transfers.json"
		echo
		echo "[default]"
		echo "path = /var/lib/zcrecvd"
		for l in "$@"; do
			printf '%s\n' "$l"
		done
	} >"$CT$CONF.tmp"
	chmod 644 "$CT$CONF.tmp"
	mv -f "$CT$CONF.tmp" "$CT$CONF"
}

# reload_ct REGEX: systemctl reload, then wait for the daemon's line
# matching REGEX that ends this reload, and for the unit to be active again.
reload_ct() {
	local n i
	n=$(journal | grep -cE -- "$1" || true)
	in_ct systemctl reload zcrecvd || fail "systemctl reload zcrecvd failed"
	for ((i = 0; i < 50; i++)); do
		[ "$(journal | grep -cE -- "$1" || true)" -le "$n" ] || break
		sleep 0.2
	done
	[ "$(journal | grep -cE -- "$1" || true)" -gt "$n" ] ||
	    fail "no new journal line matching '$1' within 10 s of reload"
	want_state zcrecvd.service active
	[ "$(in_ct systemctl show -p MainPID --value zcrecvd)" = "$MAINPID" ] ||
	    fail "reload replaced the daemon (MainPID changed)"
}

# --- the container --------------------------------------------------------

# Debian packages that hold the shared libraries the daemon links with, so
# that the root has them whatever they are.
lib_packages() {
	local lib p
	ldd "$ZCRECVD" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
	while read -r lib; do
		# dpkg knows /lib/... or /usr/lib/..., whatever ldd says.
		for p in "$lib" "$(realpath "$lib")" "${lib#/usr}" "/usr$lib"; do
			dpkg-query -S "$p" 2>/dev/null && break
		done
	done |
	    sed -n 's/^\([a-z0-9][a-z0-9+.-]*\)\(:[a-z0-9]*\)\{0,1\}: .*/\1/p' |
	    sort -u
}

note "cached root file system (built on first use: a minute or more)"
start=$SECONDS
pkgs=$(lib_packages) || fail "cannot list the daemon's library packages"
note "library packages: $(echo $pkgs)"
# shellcheck disable=SC2086 # one word per package
CACHED=$(bash "$SRCDIR/tools/nspawn-root.sh" $pkgs) ||
    fail "tools/nspawn-root.sh failed"
note "root $CACHED ready after $((SECONDS - start)) s"
nspawn_overlay "$CACHED"

note "make install DESTDIR=$CT"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make -C "$BUILDDIR" install DESTDIR="$CT" >"$T/install.out" 2>&1 || {
	tail -n 30 "$T/install.out" >&2
	fail "make install into the container failed"
}

# What install wrote is exactly what is in the overlay's upper layer.
# systemd reads units and sysusers.d only from its own directories: a
# build whose directories are elsewhere (distcheck's prefix) gets copies
# in /etc.
installed() {
	find "$T/upper" -path "*/$1" -type f | head -n 1
}
f=$(installed systemd/system/zcrecvd.service)
[ -n "$f" ] || fail "make install put no zcrecvd.service in the unit directory"
UNIT=${f#"$T/upper"}
for u in zcrecvd.service zcrecvd.socket; do
	f=$(installed "systemd/system/$u")
	[ -n "$f" ] || fail "make install installed no $u"
	case ${f#"$T/upper"} in
	/usr/lib/systemd/system/*|/usr/local/lib/systemd/system/*) ;;
	/etc/systemd/system/*) ;;
	*) cp "$f" "$CT/etc/systemd/system/$u" ;;
	esac
done
f=$(installed sysusers.d/zcrecvd.conf)
[ -n "$f" ] || fail "make install installed no sysusers.d/zcrecvd.conf"
case ${f#"$T/upper"} in
/usr/lib/sysusers.d/*|/usr/local/lib/sysusers.d/*|/etc/sysusers.d/*) ;;
*) mkdir -p "$CT/etc/sysusers.d" && cp "$f" "$CT/etc/sysusers.d/" ;;
esac

exec_start=$(sed -n 's/^ExecStart=//p' "$CT$UNIT")
BIN=${exec_start%% *}
CONF=${exec_start##* -f }
note "unit $UNIT: ExecStart=$exec_start"
[ -n "$BIN" ] && [ -n "$CONF" ] && [ "$CONF" != "$exec_start" ] ||
    fail "cannot parse ExecStart=$exec_start"
[ -x "$CT$BIN" ] || fail "ExecStart names $BIN, which was not installed"
for f in "$BIN" "$CONF"; do
	case $f in
	/home/*|/root/*|/run/user/*|/tmp/*|/var/tmp/*)
		skip "installed under $f, which the unit's sandbox hides" ;;
	esac
done
# The cached root has the daemon's shared libraries.
out=$(chroot "$CT" "$BIN" -V 2>&1) ||
    fail "$BIN -V does not run in the container: $out"

PORT=$(free_port)
PORT2=$(free_port)
write_ct_config

nspawn_boot

# The installed units parse cleanly under this systemd (no unknown
# directives, ExecStart= exists).
out=$(in_ct systemd-analyze verify --man=no zcrecvd.service \
    zcrecvd.socket 2>&1) ||
    fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

# --- systemctl start ------------------------------------------------------

in_ct getent passwd zcrecvd >/dev/null ||
    fail "no user zcrecvd in the container: sysusers.d file not applied"
[ "$(unit_state zcrecvd.service)" = inactive ] ||
    fail "zcrecvd.service is $(unit_state zcrecvd.service) before start"
TMO=100 in_ct systemctl start zcrecvd || {
	in_ct systemctl status --no-pager zcrecvd >&2 || true
	fail "systemctl start zcrecvd failed"
}
[ "$(unit_state zcrecvd.service)" = active ] ||
    fail "zcrecvd.service is $(unit_state zcrecvd.service) after start"
[ "$(in_ct systemctl show -p Type --value zcrecvd)" = notify ] ||
    fail "zcrecvd.service is not Type=notify"
want_journal "^(zcrecvd: )?listening on 127\.0\.0\.1:$PORT "
MAINPID=$(in_ct systemctl show -p MainPID --value zcrecvd)
[ "${MAINPID:-0}" -gt 0 ] || fail "no MainPID"

# Unprivileged: user zcrecvd, no capability in any set, no_new_privs.
uid=$(in_ct id -u zcrecvd)
status=$(in_ct cat "/proc/$MAINPID/status")
s='[[:space:]]+'
grep -qE "^Uid:$s$uid$s$uid$s$uid$s$uid$" <<<"$status" ||
    fail "daemon does not run as zcrecvd (uid $uid): $(grep ^Uid: <<<"$status")"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	grep -qE "^$c:[[:space:]]+0+$" <<<"$status" ||
	    fail "daemon has capabilities: $(grep "^$c:" <<<"$status")"
done
grep -qE '^NoNewPrivs:[[:space:]]+1$' <<<"$status" ||
    fail "daemon runs without no_new_privs"
# The sandbox is really in force, so the transfers below prove it leaves
# the data path alone: a seccomp filter, and a user namespace of its own.
grep -qE '^Seccomp:[[:space:]]+2$' <<<"$status" ||
    fail "no seccomp filter on the daemon (SystemCallFilter= not applied)"
userns=$(in_ct readlink "/proc/$MAINPID/ns/user")
[ "$userns" != "$(in_ct readlink /proc/1/ns/user)" ] ||
    fail "daemon shares pid 1's user namespace (PrivateUsers= not applied)"
[ "$(in_ct stat -c '%U %a' /var/lib/zcrecvd)" = "zcrecvd 750" ] ||
    fail "/var/lib/zcrecvd is $(in_ct stat -c '%U %a' /var/lib/zcrecvd)"

# --- a file from the host -------------------------------------------------

XLOG=$CT/var/log/zcrecvd/transfers.json
SIZE=$((4 * 1024 * 1024 + 12345))
mkfile "$T/src/f.bin" "$SIZE"
send_ok "$T/src/f.bin"
landed=$CT/var/lib/zcrecvd/f.bin
same "$T/src/f.bin" "$landed"
hex=$(check_summary "$T/send.out" f.bin "$SIZE")
line=$(check_landed f.bin "$SIZE")
check_digest "$T/src/f.bin" "$hex" "$line"
note "landed with io $(field "$line" io), zero-copy $(field "$line" zc_pct)%"
[ "$(in_ct stat -c %U "/var/lib/zcrecvd/f.bin")" = zcrecvd ] ||
    fail "landed file not owned by zcrecvd"
mode=$(stat -c %a "$landed")
[ $((8#$mode & 8#027)) -eq 0 ] ||
    fail "landed file has mode $mode: UMask=0027 not applied"
want_journal '^(zcrecvd: )?landed f\.bin from 127\.0\.0\.1:[0-9]+: ' \
    -p info..info
# STATUS= counts it (the daemon refreshes it every few seconds).
for ((i = 0; i < 50; i++)); do
	st=$(in_ct systemctl show -p StatusText --value zcrecvd) || true
	case $st in
	*"1 files landed"*) break ;;
	esac
	sleep 0.2
done
case $st in
*"1 files landed"*) ;;
*) fail "StatusText does not count the landed file: '$st'" ;;
esac
[ -z "$(journal -p warning)" ] ||
    fail "daemon warnings: $(journal -p warning)"

# --- systemctl reload -----------------------------------------------------

note "reload: overwrite = yes"
mkfile "$T/src2.bin" "$SIZE"
cp "$T/src2.bin" "$T/src/f.bin"
rc=0
"$ZCSEND" -q "$T/src/f.bin" "127.0.0.1:$PORT" 2>"$T/send2.err" || rc=$?
[ "$rc" -eq 4 ] || fail "second f.bin before reload: zcsend exited $rc, not 4"
write_ct_config "overwrite = yes"
reload_ct '^(zcrecvd: )?configuration reloaded$'
send_ok "$T/src/f.bin"
same "$T/src2.bin" "$landed"

# The sandbox leaves every sink its system calls: O_DIRECT, mapped pages
# through vmsplice, splice through a pipe, plain writes, the re-read
# through /proc/self/fd that computes the digest after a splice, and the
# copy path's buffers in huge pages.
for io in direct write vmsplice splice copy copy-direct; do
	note "io = $io"
	write_ct_config "overwrite = yes" "io = $io"
	reload_ct '^(zcrecvd: )?configuration reloaded$'
	mkfile "$T/src/io-$io.bin" "$SIZE"
	send_ok "$T/src/io-$io.bin"
	same "$T/src/io-$io.bin" "$CT/var/lib/zcrecvd/io-$io.bin"
	line=$(check_landed "io-$io.bin" "$SIZE")
	want=$io
	[ "$io" != copy-direct ] || want=direct	# the sink's name
	[ "$(field "$line" io)" = "$want" ] ||
	    fail "io = $io: the transfer log says io $(field "$line" io)"
done
note "io = auto, plain sender"
write_ct_config "overwrite = yes"
reload_ct '^(zcrecvd: )?configuration reloaded$'
mkfile "$T/src/plain.bin" "$SIZE"
send_ok --no-zerocopy "$T/src/plain.bin"
same "$T/src/plain.bin" "$CT/var/lib/zcrecvd/plain.bin"
line=$(check_landed plain.bin "$SIZE")
# Not mappable: copied in whole buffers, so still O_DIRECT (ext4 here).
[ "$(field "$line" io)" = direct ] ||
    fail "plain sender: io $(field "$line" io), expected direct"
[ "$(field "$line" copied_bytes)" -ge $((SIZE * 99 / 100)) ] ||
    fail "plain sender: not copied: $line"
# The only warning so far: the refused second f.bin.
bad=$(journal -p warning |
    grep -vE '^(zcrecvd: )?failed f\.bin from [^ ]+: exists: ' || true)
[ -z "$bad" ] || fail "daemon warnings: $bad"

note "reload: a broken configuration is refused"
echo "no_such_key = 1" >>"$CT$CONF"
reload_ct '^(zcrecvd: )?reload failed'
want_journal 'reload failed' -p warning
mkfile "$T/src/g.bin" 8192
send_ok "$T/src/g.bin"
same "$T/src/g.bin" "$CT/var/lib/zcrecvd/g.bin"

# --- systemctl stop -------------------------------------------------------

write_ct_config
TMO=100 in_ct systemctl stop zcrecvd || fail "systemctl stop zcrecvd failed"
[ "$(unit_state zcrecvd.service)" = inactive ] ||
    fail "zcrecvd.service is $(unit_state zcrecvd.service) after stop"
res=$(in_ct systemctl show -p Result -p ExecMainStatus zcrecvd |
    sort | tr '\n' ' ')
[ "$res" = "ExecMainStatus=0 Result=success " ] ||
    fail "stop did not end cleanly: $res"
left=$(find "$CT/var/lib/zcrecvd" -maxdepth 1 -name '.zcrecvd.*')
[ -z "$left" ] || fail "staging files left: $left"
[ -z "$(ss -Hltn "sport = :$PORT")" ] || fail "port $PORT still listening"

# --- zcrecvd.socket -------------------------------------------------------

note "socket activation on 127.0.0.1:$PORT2"
mkdir -p "$CT/etc/systemd/system/zcrecvd.socket.d"
printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$PORT2" \
    >"$CT/etc/systemd/system/zcrecvd.socket.d/test.conf"
in_ct systemctl daemon-reload
in_ct systemctl start zcrecvd.socket ||
    fail "systemctl start zcrecvd.socket failed"
want_state zcrecvd.socket active
[ "$(unit_state zcrecvd.service)" = inactive ] ||
    fail "zcrecvd.service started with its socket, before any connection"
PORT1=$PORT
PORT=$PORT2
mkfile "$T/src/h.bin" "$SIZE"
send_ok "$T/src/h.bin"
same "$T/src/h.bin" "$CT/var/lib/zcrecvd/h.bin"
want_state zcrecvd.service active
want_journal '^(zcrecvd: )?socket activation: 1 socket'
[ -z "$(ss -Hltn "sport = :$PORT1")" ] ||
    fail "socket-activated daemon also listens on its config's port $PORT1"
TMO=100 in_ct systemctl stop zcrecvd.socket zcrecvd.service ||
    fail "systemctl stop zcrecvd.socket zcrecvd.service failed"
[ "$(unit_state zcrecvd.service)" = inactive ] ||
    fail "zcrecvd.service is $(unit_state zcrecvd.service) after stop"

# --- power off ------------------------------------------------------------

nspawn_poweroff
