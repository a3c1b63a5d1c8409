# tests/tree-lib.sh -- what the tree tests (e2e-tree*.sh) share; sourced
# after lib.sh.

# Skip unless the daemon has the tree options (protocol version 2).
need_tree_daemon() {
	printf '[server]\nlisten = 127.0.0.1:0\n[default]\npath = %s\nmax_path_depth = 32\nallow_symlinks = no\n' \
	    "$T/dest" >"$T/probe.conf"
	"$ZCRECVD" -n -f "$T/probe.conf" >/dev/null 2>&1 ||
	    skip "zcrecvd has no max_path_depth/allow_symlinks: no protocol version 2 here"
}

# Skip unless zcsend sends trees (-r).
need_tree_zcsend() {
	"$ZCSEND" --help 2>&1 | grep -Eq '(^|[[:space:],])-r([,[:space:]]|$)' ||
	    skip "zcsend has no -r: no trees to send yet"
}

# Staging files anywhere beneath DIR (prints them).
staging_anywhere() {
	find "$1" -name '.zcrecvd.*' -print
}

# tree_state DIR: every entry beneath DIR with its type, mode, size (files),
# mtime (seconds.nanoseconds, symlinks' own) and symlink target, sorted.
tree_state() {
	(cd "$1" && find . -mindepth 1 \( -type f -printf '%y %m %s %T@ %p\n' \
	    -o -type d -printf '%y %m - %T@ %p\n' \
	    -o -type l -printf '%y - - %T@ %p -> %l\n' \
	    -o -printf '%y ? ? ? %p\n' \)) | LC_ALL=C sort -k5
}
