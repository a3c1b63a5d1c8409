#!/bin/bash
# Trees with zcsend -r: a tree with nesting, empty directories (nested
# too), modes and mtimes (nanoseconds; files and directories, the top one
# included), names with spaces and UTF-8, 0-byte files, sizes around the
# page, sparse files (a hole inside, a hole at the end), symlinks
# (relative, absolute, dangling, to a directory) lands byte for byte:
#   1. without --links: the symlinks are skipped (a warning), everything
#      else lands; exit 0;
#   2. with --links to a destination with allow_symlinks = no (the
#      default): the symlinks are refused (exit 4), everything else lands;
#   3. with --links to a destination with allow_symlinks = yes: the
#      symlinks land as symlinks with their targets and mtimes (never
#      followed: the one to a directory is not descended into);
#   4. the same tree again into 1.'s destination: every file exists,
#      nothing is replaced (overwrite = no), exit 4.
# Sparse files land with their size and their holes (allocated blocks
# well below the size, as du shows).  No staging file is left anywhere.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tree-lib.sh"

need_tree_daemon
need_tree_zcsend
# The daemon gives a landed file the sender's mode less its umask.
umask 022

S=$T/src/tree
mkdir -p "$S/a/b/c" "$S/a/b/empty-nested/deeper" "$S/emptydir" \
    "$S/naïve café" "$S/sub dir/x y" "$S/日本語"
mkfile "$S/a/b/c/deep.txt" 1234
mkfile "$S/a/exec.sh" 300
mkfile "$S/name with spaces.txt" 5000
mkfile "$S/naïve café/日本語 ファイル.txt" 777
mkfile "$S/日本語/ファイル" 4096
mkfile "$S/sub dir/x y/z w" 65537
: >"$S/zero"
: >"$S/sub dir/zero too"
for n in 1 4095 4096 4097 65536 65537 1048577; do
	mkfile "$S/size-$n" "$n"
done
mkfile "$S/big.bin" $((3 * 1024 * 1024 + 123))
# Sparse: 64 MiB with data at 0, at 32 MiB and in the last 100 bytes;
# 16 MiB with data in the first block only (ends in a hole).
head -c 4096 /dev/urandom | dd of="$S/sparse.img" conv=notrunc status=none
head -c $((1024 * 1024)) /dev/urandom |
    dd of="$S/sparse.img" bs=1M seek=32 conv=notrunc status=none
truncate -s $((64 * 1024 * 1024 - 100)) "$S/sparse.img"
head -c 100 /dev/urandom >>"$S/sparse.img"
head -c 4096 /dev/urandom >"$S/sparse-end.img"
truncate -s $((16 * 1024 * 1024)) "$S/sparse-end.img"
# Symlinks: relative, absolute, dangling, to a directory (not followed).
ln -s a/exec.sh "$S/rel-link"
ln -s /etc/hostname "$S/abs-link"
ln -s "nowhere/at all" "$S/a/dangling link"
ln -s a "$S/dirlink"
# Modes.
chmod 600 "$S/a/b/c/deep.txt"
chmod 755 "$S/a/exec.sh"
chmod 640 "$S/sub dir/zero too" "$S/size-4097"
chmod 711 "$S/a/b"
chmod 750 "$S/a/b/empty-nested" "$S/sub dir"
chmod 700 "$S/emptydir" "$S/a/b/empty-nested/deeper"
chmod 755 "$S"
# Mtimes with nanoseconds, directories last (deepest first), the links'
# own too.
t=1000000000
while IFS= read -r -d '' p; do
	t=$((t + 86399))
	touch -h -d "@$t.$((t % 1000000000))" "$p"
done < <(find "$S" -mindepth 1 \( -type f -o -type l \) -print0 | sort -z)
while IFS= read -r -d '' p; do
	t=$((t + 86399))
	touch -d "@$t.123456789" "$p"
done < <(find "$S" -type d -print0 | sort -rz)
SRC_STATE=$(tree_state "$S")
SRC_NOLINKS=$(grep -v '^l ' <<<"$SRC_STATE")
LINKS=(rel-link abs-link 'a/dangling link' dirlink)

mkdir "$T/nolinks" "$T/links"
chown "$DAEMON_USER:" "$T/nolinks" "$T/links"
DEFAULT_EXTRA="
[nolinks]
path = $T/nolinks

[links]
path = $T/links
allow_symlinks = yes"
ALLOW_LOG='^zcrecvd: (failed .* from 127\.0\.0\.1:[0-9]+: (denied|exists): |127\.0\.0\.1:[0-9]+: payload is not mappable)'
start_daemon

# send_tree RC DEST ZCSEND-ARGS...: zcsend -r ARGS $S to DEST; exit RC.
send_tree() {
	local want=$1 dest=$2 rc=0
	shift 2
	"$ZCSEND" -r "$@" "$S" "127.0.0.1:$PORT/$dest" >"$T/send.out" \
	    2>"$T/send.err" || rc=$?
	prefix 'zcsend stdout: ' "$T/send.out" >&2
	prefix 'zcsend stderr: ' "$T/send.err" >&2
	[ "$rc" -eq "$want" ] || fail "zcsend -r $* to $dest exited $rc, expected $want"
}

# same_tree DIR STATE: DIR/tree has the source's entries (STATE), the
# same bytes in every file, the top directory's mode and mtime.
same_tree() {
	local d=$1/tree want=$2 got f
	[ -d "$d" ] || fail "$d was not created"
	got=$(tree_state "$d")
	if [ "$got" != "$want" ]; then
		diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2 || true
		fail "$d: the landed tree differs from the source (see above: < source, > landed)"
	fi
	[ "$(stat -c '%a %.9Y' "$d")" = "$(stat -c '%a %.9Y' "$S")" ] ||
	    fail "$d: top directory $(stat -c '%a %.9Y' "$d"), source $(stat -c '%a %.9Y' "$S")"
	while IFS= read -r -d '' f; do
		cmp -- "$S/$f" "$d/$f" >&2 || fail "$d/$f differs from the source"
	done < <(cd "$S" && find . -type f -print0)
	[ -z "$(staging_anywhere "$1")" ] || fail "staging files left: $(staging_anywhere "$1")"
}

# sparse_kept DIR: the sparse files landed with their holes.
sparse_kept() {
	local f size alloc
	for f in sparse.img sparse-end.img; do
		size=$(stat -c %s "$1/tree/$f")
		alloc=$(du -B1 "$1/tree/$f" | cut -f1)
		note "$f: $size bytes, $alloc allocated (du)"
		[ "$size" -eq "$(stat -c %s "$S/$f")" ] || fail "$f: size $size"
		[ "$alloc" -le $((4 * 1024 * 1024)) ] ||
		    fail "$1/tree/$f: $alloc bytes allocated for at most 1.1 MiB of data: holes filled"
	done
}

# 1. Without --links: the symlinks are skipped with a warning.
send_tree 0 default
same_tree "$T/dest" "$SRC_NOLINKS"
sparse_kept "$T/dest"
for l in "${LINKS[@]}"; do
	grep -qF -- "$l" "$T/send.err" ||
	    fail "zcsend said nothing about skipping the symlink '$l'"
done
note "1. without --links: ok"

# 2. --links, allow_symlinks = no: refused, the rest lands.
send_tree 4 nolinks --links
same_tree "$T/nolinks" "$SRC_NOLINKS"
for l in "${LINKS[@]}"; do
	line=$(wait_xfer "tree/$l")
	[ "$(field "$line" result)" = denied ] || fail "tree/$l: $line"
done
note "2. --links to allow_symlinks = no: ok"

# 3. --links, allow_symlinks = yes: symlinks as they are.
send_tree 0 links --links
same_tree "$T/links" "$SRC_STATE"
sparse_kept "$T/links"
for l in "${LINKS[@]}"; do
	[ -L "$T/links/tree/$l" ] || fail "links/tree/$l is not a symlink"
	[ "$(readlink "$T/links/tree/$l")" = "$(readlink "$S/$l")" ] ||
	    fail "links/tree/$l -> $(readlink "$T/links/tree/$l")"
done
note "3. --links to allow_symlinks = yes: ok"

# 4. Again into 1.'s destination: nothing replaced.
before=$(tree_state "$T/dest")
send_tree 4 default
[ "$(tree_state "$T/dest")" = "$before" ] || fail "a second run changed the destination"
same_tree "$T/dest" "$SRC_NOLINKS"
note "4. again: ok"

check_xfer_log
stop_daemon
check_daemon_log
echo "PASS: $TEST_NAME"
