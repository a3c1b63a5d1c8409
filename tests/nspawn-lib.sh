# tests/nspawn-lib.sh -- what the tests that boot a Debian container with
# systemd-nspawn share; sourced after lib.sh.
#
#   nspawn_overlay ROOT	mount a throw-away overlay of the cached ROOT
#			(tools/nspawn-root.sh) at $CT; skips if it cannot
#   nspawn_boot		boot $CT (skips if systemd-nspawn cannot run here)
#			and wait until its systemd is running; sets NSPID
#			and CPID
#   in_ct CMD...		run CMD in the booted container
#   nspawn_poweroff	power the container off, insist on a clean exit
#
# On exit the container is stopped and the overlay unmounted; on failure
# the journal of the zcrecvd units is saved in $T/daemon.journal.log and
# the last lines of the container's console are shown.

NSPID=			# systemd-nspawn
CPID=			# the container's pid 1, as the host sees it
CT=$T/root		# the container's root: an overlay on the cached root

# --- cleanup --------------------------------------------------------------

# Stop the container (TERM makes nspawn shut it down cleanly; KILL after
# 20 s) and unmount the overlay.  If it stays mounted, $T is kept rather
# than removed through the mount.
nspawn_cleanup() {
	local rc=$1 i
	set +e
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$CPID" ] &&
	    alive "$CPID"; then
		in_ct journalctl -u zcrecvd.service -u zcrecvd.socket \
		    --no-pager -o short-monotonic >"$T/daemon.journal.log" 2>&1
	fi
	if [ -n "$NSPID" ] && alive "$NSPID"; then
		kill -TERM "$NSPID"
		for ((i = 0; i < 100; i++)); do
			alive "$NSPID" || break
			sleep 0.2
		done
		alive "$NSPID" && kill -KILL "$NSPID"
	fi
	if [ -n "$CPID" ] && alive "$CPID" &&
	    [ "$(cat "/proc/$CPID/comm" 2>/dev/null)" = systemd ]; then
		kill -KILL "$CPID"
	fi
	[ -z "$NSPID" ] || wait "$NSPID" 2>/dev/null
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -s "$T/nspawn.log" ]; then
		echo "--- last lines of the container's console:" >&2
		tail -n 30 "$T/nspawn.log" >&2
	fi
	if mountpoint -q "$CT"; then
		umount "$CT" 2>/dev/null || umount -l "$CT"
	fi
	if mountpoint -q "$CT"; then
		echo "# $CT is still mounted: keeping $T" >&2
		KEEP_TMP=1
	fi
}

_nspawn_exit() {
	local rc=$?
	nspawn_cleanup "$rc"
	(exit "$rc")
	_cleanup
}
trap _nspawn_exit EXIT

# --- helpers --------------------------------------------------------------

# in_ct CMD...: run CMD in the container (all of its namespaces) with a
# clean environment, for at most ${TMO:-30} seconds.
in_ct() {
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 \
	    timeout "${TMO:-30}" nsenter -t "$CPID" -a "$@"
}

# A TCP port nothing listens on, outside the ephemeral range that the other
# tests' port-0 listeners and all clients draw from.
free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 10000))
		[ "$p" -ne "${PORT:-0}" ] || continue
		[ -n "$(ss -Hltn "sport = :$p")" ] || { echo "$p"; return 0; }
	done
	hard_error "no free port in 20000-29999"
}

# unit_state UNIT: its ActiveState.
unit_state() {
	in_ct systemctl show -p ActiveState --value "$1"
}

# want_state UNIT STATE: wait up to 10 s for UNIT to reach STATE.
want_state() {
	local i s=
	for ((i = 0; i < 50; i++)); do
		s=$(unit_state "$1") || true
		[ "$s" != "$2" ] || return 0
		sleep 0.2
	done
	in_ct systemctl status --no-pager "$1" >&2 || true
	fail "$1 is '$s', not '$2', after 10 s"
}

# --- the container --------------------------------------------------------

# nspawn_overlay ROOT: mount an overlay of the cached root ROOT at $CT, so
# that whatever the test writes goes to $T/upper and the cache stays clean.
nspawn_overlay() {
	[ -f "$1/usr/lib/systemd/systemd" ] ||
	    fail "$1 is not a root with systemd"
	mkdir "$T/upper" "$T/work" "$CT"
	mount -t overlay overlay \
	    -o "lowerdir=$1,upperdir=$T/upper,workdir=$T/work" "$CT" ||
	    skip "cannot mount an overlay file system here"
}

# nspawn_boot: boot $CT and wait up to 120 s for its systemd to be running
# (or degraded: the failed units are listed).
nspawn_boot() {
	local out start i p state=
	note "probe: can systemd-nspawn run here?"
	if ! out=$(timeout 60 systemd-nspawn --register=no --keep-unit -q \
	    -D "$CT" /bin/true </dev/null 2>&1); then
		skip "systemd-nspawn cannot run here: $(printf '%s' "$out" | tail -n 3)"
	fi

	note "booting the container"
	start=$SECONDS
	systemd-nspawn --register=no --keep-unit --console=read-only -D "$CT" -b \
	    </dev/null >"$T/nspawn.log" 2>&1 &
	NSPID=$!
	# Its pid 1 is nspawn's child once that has executed systemd.
	for ((i = 0; i < 150; i++)); do
		alive "$NSPID" || fail "systemd-nspawn exited at boot"
		for p in $(pgrep -P "$NSPID" || true); do
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" != systemd ] || CPID=$p
		done
		[ -z "$CPID" ] || break
		sleep 0.2
	done
	[ -n "$CPID" ] || fail "no systemd in the container after 30 s"
	for ((i = 0; i < 240; i++)); do
		state=$(TMO=10 in_ct systemctl is-system-running 2>/dev/null) || true
		case $state in
		running|degraded) break ;;
		esac
		alive "$NSPID" || fail "the container stopped while booting"
		sleep 0.5
	done
	case $state in
	running) ;;
	degraded)
		note "container degraded; failed units:"
		in_ct systemctl --failed --no-pager --plain >&2 || true
		;;
	*) fail "container not up after 120 s (state '$state')" ;;
	esac
	note "container pid $CPID up after $((SECONDS - start)) s"
}

# nspawn_poweroff: systemctl poweroff; the container must be gone within
# 30 s and systemd-nspawn exit 0.
nspawn_poweroff() {
	local i rc=0
	note "powering the container off"
	TMO=10 in_ct systemctl poweroff || true
	for ((i = 0; i < 150; i++)); do
		alive "$NSPID" || break
		sleep 0.2
	done
	alive "$NSPID" && fail "the container did not power off within 30 s"
	wait "$NSPID" || rc=$?
	NSPID=
	CPID=
	[ "$rc" -eq 0 ] ||
	    fail "systemd-nspawn exited with status $rc after poweroff"
}
