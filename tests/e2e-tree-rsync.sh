#!/bin/bash
# Fidelity against a tool we did not write: real trees (/usr/share/doc, the
# mixed tree, and /usr/include) sent with zcsend -r --links to a
# destination with allow_symlinks = yes, then compared with the source by
# rsync: `rsync -a -n -c --itemize-changes SRC/ DEST/TOP/` (checksums,
# modes, mtimes of files, directories and symlinks, symlink targets,
# owners) must list nothing.  The tree's top directory name is part of
# the landed path (zcsend -r /usr/share/doc lands doc/...).  The daemon
# runs as root here so that owners compare too.
. "$(dirname "$0")/lib.sh"
heavy
. "$(dirname "$0")/tree-lib.sh"

need_tree_daemon
need_tree_zcsend
command -v rsync >/dev/null 2>&1 || skip "rsync is not installed (tools/deps.sh installs it)"
umask 022
need_space $((1024 * 1024 * 1024))

SERVER_EXTRA="user = root"
DEFAULT_EXTRA="allow_symlinks = yes"
ALLOW_LOG='^zcrecvd: (running as root|127\.0\.0\.1:[0-9]+: payload is not mappable)'
start_daemon

for src in /usr/share/doc /usr/include; do
	[ -d "$src" ] || { note "$src: not here, skipped"; continue; }
	top=$(basename "$src")
	rc=0
	"$ZCSEND" -q -r --links "$src" "127.0.0.1:$PORT" >"$T/send.out" \
	    2>"$T/send.err" || rc=$?
	prefix "zcsend $src: " "$T/send.err" >&2
	[ "$rc" -eq 0 ] || fail "zcsend -r --links $src exited $rc"
	[ -d "$T/dest/$top" ] || fail "$src did not land as $top/"
	rsync -a -n -c --itemize-changes "$src/" "$T/dest/$top/" >"$T/rsync.out" \
	    2>"$T/rsync.err" || fail "rsync -n $src/ failed: $(head -c 500 "$T/rsync.err")"
	if [ -s "$T/rsync.out" ]; then
		head -n 40 "$T/rsync.out" | prefix "rsync $src: " >&2
		fail "$src: rsync -a -n -c lists $(wc -l <"$T/rsync.out") differences"
	fi
	[ -z "$(staging_anywhere "$T/dest")" ] || fail "staging files left: $(staging_anywhere "$T/dest" | head)"
	note "$src: $(find "$src" | wc -l) entries landed; rsync -a -n -c --itemize-changes lists nothing"
done

stop_daemon
# Landed lines name the files, and /usr/include has AddressSanitizer.h:
# drop them (always allowed) before lib.sh looks for sanitizer reports.
sed -i '/^zcrecvd: landed /d' "$T"/daemon.*.log
check_daemon_log
echo "PASS: $TEST_NAME"
