/*
 * walk.c -- what a run sends: the operands and, with -r, the trees beneath
 * them, as one list of items in the order they go out.
 *
 * A tree is walked with fts(3), physically: a symbolic link is never
 * followed, not even one named on the command line.  Names are sorted
 * (strcmp), and a directory comes after everything beneath it, so that the
 * receiver sets its mtime last.  Each entry's path is relative to the
 * operand's parent, as with rsync -r: "zcsend -r /a/photos" sends
 * photos/..., while an operand that ends in a slash, or is "." or "..",
 * sends what is in it ("zcsend -r /a/photos/" sends the files of photos
 * straight into the destination).  Entries are judged here, once: kinds
 * the protocol cannot carry become SKIP items (a warning), paths it cannot
 * carry FAIL items.  Nothing is opened until the item is sent: source.c
 * then opens it beneath item.base without following symlinks and checks
 * that it is still what the walk saw.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fts.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcsend.h"

/* A hard-linked file already in the list: its device, inode and path. */
struct walk_inode {
	dev_t		 dev;
	ino_t		 ino;
	const char	*path;
};

/* Name of an entry kind, as --json and the messages say it. */
const char *
walk_kind_name(int kind)
{
	switch (kind) {
	case ZC_K_DIR:
		return ("dir");
	case ZC_K_SYMLINK:
		return ("symlink");
	default:
		return ("file");
	}
}

/* Start an empty list. */
void
walk_init(struct walk *w)
{
	memset(w, 0, sizeof(*w));
}

/* Append an item of kind for src, sent as path (taken); returns it. */
static struct item *
walk_add(struct walk *w, enum item_kind kind, const char *src, char *path)
{
	struct item	*it;

	if (w->n == w->cap) {
		w->cap = w->cap == 0 ? 64 : w->cap * 2;
		if ((w->v = reallocarray(w->v, w->cap, sizeof(*w->v))) == NULL)
			fatal("reallocarray");
	}
	it = &w->v[w->n++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->kindwas = kind <= ITEM_SYMLINK ? (int)kind : ZC_K_FILE;
	it->src = xstrdup(src);
	it->path = path;
	return (it);
}

/* Make item it a SKIP or FAIL item, kind ITEM_SKIP or ITEM_FAIL, saying why. */
static void
walk_reject(struct item *it, enum item_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
walk_reject(struct item *it, enum item_kind kind, const char *fmt, ...)
{
	va_list	 ap;

	if (it->kind <= ITEM_SYMLINK)
		it->kindwas = it->kind;
	it->kind = kind;
	free(it->extra);
	va_start(ap, fmt);
	it->extra = xvasprintf(fmt, ap);
	va_end(ap);
}

/*
 * A plain operand (no -r): a file sent by its base name, opened as given
 * when it is sent (a symlink there is followed, as it always was).
 */
void
walk_file(struct walk *w, const char *arg)
{
	struct stat	 sb;
	struct item	*it;
	const char	*slash = strrchr(arg, '/');

	it = walk_add(w, ITEM_FILE, arg, xstrdup(slash != NULL ? slash + 1 :
	    arg));
	if (stat(arg, &sb) == 0 && S_ISREG(sb.st_mode)) {
		it->size = sb.st_size;
		w->bytes += it->size;
	}
}

/*
 * The operand "-": standard input, sent as a stream named name (--name).
 * Its size is unknown, or the --size it must come to.
 */
void
walk_stream(struct walk *w, const char *name)
{
	struct item	*it;

	it = walk_add(w, ITEM_FILE, "-", xstrdup(name));
	it->stream = 1;
	it->mode = 0666;
	if (opt.size != ZC_SIZE_UNKNOWN) {
		it->size = opt.size;
		w->bytes += it->size;
	}
}

/* Why path cannot be sent, or NULL: the protocol's limits. */
static const char *
walk_path_unfit(const char *path)
{
	const char	*p, *slash;

	if (strlen(path) > ZC_PATH_MAX)
		return ("path longer than 4095 bytes");
	for (p = path; p != NULL; p = slash != NULL ? slash + 1 : NULL) {
		slash = strchr(p, '/');
		if ((slash != NULL ? (size_t)(slash - p) : strlen(p)) >
		    ZC_NAME_MAX)
			return ("path component longer than 255 bytes");
	}
	return (NULL);
}

/* Order of the hard-link table: device, then inode. */
static int
walk_inode_cmp(const void *a, const void *b)
{
	const struct walk_inode	*x = a, *y = b;

	if (x->dev != y->dev)
		return (x->dev < y->dev ? -1 : 1);
	if (x->ino != y->ino)
		return (x->ino < y->ino ? -1 : 1);
	return (0);
}

/*
 * A file with more than one link: the path sent first for its inode, or
 * NULL if this is the first (then remembered under path).
 */
static const char *
walk_hardlink(struct walk *w, const struct stat *sb, const char *path)
{
	struct walk_inode	*wi, **found;

	wi = xmalloc(sizeof(*wi));
	wi->dev = sb->st_dev;
	wi->ino = sb->st_ino;
	wi->path = path;
	if ((found = tsearch(wi, &w->inodes, walk_inode_cmp)) == NULL)
		fatal("tsearch");
	if (*found == wi)
		return (NULL);
	free(wi);
	return ((*found)->path);
}

/* Fill what an item sends from its stat. */
static void
walk_stat(struct item *it, const struct stat *sb)
{
	it->mode = sb->st_mode & 0777;
	it->mtime_sec = sb->st_mtim.tv_sec;
	it->mtime_nsec = sb->st_mtim.tv_nsec;
	it->dev = sb->st_dev;
	it->ino = sb->st_ino;
}

/* A regular file found by the walk. */
static void
walk_regular(struct walk *w, struct item *it, const struct stat *sb)
{
	const char	*first;

	walk_stat(it, sb);
	it->size = sb->st_size;
	if (sb->st_nlink > 1 && (first = walk_hardlink(w, sb, it->path)) !=
	    NULL) {
		walk_reject(it, ITEM_SKIP, "skipped: a hard link to %s, which "
		    "is sent", first);
		return;
	}
	w->bytes += it->size;
}

/* A symbolic link found by the walk: sent with --links, else skipped. */
static void
walk_symlink(struct item *it, const FTSENT *e)
{
	char	 target[ZC_TARGET_MAX + 2];
	ssize_t	 n;

	walk_stat(it, e->fts_statp);
	if (!opt.links) {
		walk_reject(it, ITEM_SKIP, "skipped: a symbolic link (--links "
		    "sends it as one)");
		return;
	}
	if ((n = readlink(e->fts_accpath, target, sizeof(target))) == -1) {
		walk_reject(it, ITEM_FAIL, "readlink: %s", strerror(errno));
		return;
	}
	if (n == 0 || (size_t)n > ZC_TARGET_MAX) {
		walk_reject(it, ITEM_FAIL, "symbolic link target %s",
		    n == 0 ? "empty" : "longer than 4095 bytes");
		return;
	}
	it->extra = xasprintf("%.*s", (int)n, target);
}

/* What a kind of file that is never sent is called, for its warning. */
static const char *
walk_other_name(mode_t mode)
{
	if (S_ISCHR(mode))
		return ("a character device");
	if (S_ISBLK(mode))
		return ("a block device");
	if (S_ISFIFO(mode))
		return ("a fifo");
	if (S_ISSOCK(mode))
		return ("a socket");
	return ("not a regular file, directory or symbolic link");
}

/*
 * The path sent for entry e of the tree rooted at the operand: relative to
 * the root (rootlen bytes of fts_path), after prefix when there is one.
 * NULL for the root itself when its contents are sent.
 */
static char *
walk_relpath(const FTSENT *e, size_t rootlen, const char *prefix)
{
	const char	*rel = e->fts_path + rootlen;

	if (e->fts_level == FTS_ROOTLEVEL)
		rel = "";
	while (*rel == '/')
		rel++;
	if (*prefix == '\0')
		return (*rel == '\0' ? NULL : xstrdup(rel));
	if (*rel == '\0')
		return (xstrdup(prefix));
	return (xasprintf("%s/%s", prefix, rel));
}

/* Judge one entry of fts and append it (or not) to the list. */
static void
walk_entry(struct walk *w, FTS *fts, FTSENT *e, size_t rootlen,
    const char *prefix, const char *base)
{
	struct item	*it;
	const char	*why;
	char		*path;

	if (e->fts_info == FTS_D) {
		/* Judged now, so that nothing beneath a bad path is walked. */
		if ((path = walk_relpath(e, rootlen, prefix)) == NULL)
			return;
		if ((why = walk_path_unfit(path)) != NULL) {
			it = walk_add(w, ITEM_FAIL, e->fts_path, path);
			it->kindwas = ZC_K_DIR;
			it->extra = xasprintf("%s; nothing beneath it is sent",
			    why);
			fts_set(fts, e, FTS_SKIP);
		} else
			free(path);
		return;
	}
	if ((path = walk_relpath(e, rootlen, prefix)) == NULL)
		return;		/* the root whose contents are sent */
	it = walk_add(w, ITEM_FILE, e->fts_path, path);
	it->base = base;
	switch (e->fts_info) {
	case FTS_DP:
		it->kind = it->kindwas = ITEM_DIR;
		walk_stat(it, e->fts_statp);
		return;
	case FTS_F:
		walk_regular(w, it, e->fts_statp);
		break;
	case FTS_SL:
	case FTS_SLNONE:
		it->kind = it->kindwas = ITEM_SYMLINK;
		walk_symlink(it, e);
		break;
	case FTS_DNR:
		it->kind = ITEM_DIR;
		walk_reject(it, ITEM_FAIL, "cannot read the directory: %s",
		    strerror(e->fts_errno));
		return;
	case FTS_DC:
		it->kind = ITEM_DIR;
		walk_reject(it, ITEM_FAIL, "a directory cycle");
		return;
	case FTS_NS:
	case FTS_ERR:
		walk_reject(it, ITEM_FAIL, "%s", strerror(e->fts_errno));
		return;
	default:
		walk_reject(it, ITEM_SKIP, "skipped: %s",
		    walk_other_name(e->fts_statp->st_mode));
		return;
	}
	if (it->kind <= ITEM_SYMLINK && (why = walk_path_unfit(path)) != NULL)
		walk_reject(it, ITEM_FAIL, "%s", why);
}

/* Order of a directory's entries: by name, as bytes. */
static int
walk_cmp(const FTSENT **a, const FTSENT **b)
{
	return (strcmp((*a)->fts_name, (*b)->fts_name));
}

/*
 * Split the operand arg into the directory its entries are opened beneath
 * (kept in w->bases) and the prefix of their paths: its last component,
 * or "" when its contents are sent (a trailing slash, ".", "..", "/").
 */
static const char *
walk_root(struct walk *w, const char *arg, char **prefix)
{
	size_t		 n = strlen(arg);
	const char	*last;
	char		*base;
	size_t		 i;

	while (n > 1 && arg[n - 1] == '/')
		n--;
	for (last = arg + n; last > arg && last[-1] != '/'; last--)
		;
	if (n < strlen(arg) || (arg + n - last == 1 && *last == '.') ||
	    (arg + n - last == 2 && memcmp(last, "..", 2) == 0) ||
	    (n == 1 && *arg == '/')) {
		*prefix = xstrdup("");
		base = xstrdup(arg);
	} else {
		*prefix = xasprintf("%.*s", (int)(arg + n - last), last);
		if (last == arg)
			base = xstrdup(".");
		else
			base = xasprintf("%.*s", last - arg > 1 ?
			    (int)(last - arg - 1) : 1, arg);
	}
	for (i = 0; i < w->nbases; i++)
		if (strcmp(w->bases[i], base) == 0) {
			free(base);
			return (w->bases[i]);
		}
	if ((w->bases = reallocarray(w->bases, w->nbases + 1,
	    sizeof(*w->bases))) == NULL)
		fatal("reallocarray");
	w->bases[w->nbases++] = base;
	return (base);
}

/* With -r: the operand arg and, if it is a directory, all beneath it. */
void
walk_operand(struct walk *w, const char *arg)
{
	char		*argv[2] = { (char *)arg, NULL }, *prefix;
	const char	*base;
	struct item	*it;
	FTS		*fts;
	FTSENT		*e;
	size_t		 rootlen = 0;

	base = walk_root(w, arg, &prefix);
	if ((fts = fts_open(argv, FTS_PHYSICAL, walk_cmp)) == NULL) {
		it = walk_add(w, ITEM_FAIL, arg, xstrdup(arg));
		it->extra = xstrdup(strerror(errno));
		free(prefix);
		return;
	}
	while ((e = fts_read(fts)) != NULL) {
		if (e->fts_level == FTS_ROOTLEVEL) {
			rootlen = e->fts_pathlen;
			while (rootlen > 1 && e->fts_path[rootlen - 1] == '/')
				rootlen--;
		}
		walk_entry(w, fts, e, rootlen, prefix, base);
	}
	if (errno != 0) {
		it = walk_add(w, ITEM_FAIL, arg, xstrdup(arg));
		it->extra = xasprintf("walk: %s", strerror(errno));
	}
	fts_close(fts);
	free(prefix);
}

/* Free a hard-link table entry. */
static void
walk_inode_free(void *p)
{
	free(p);
}

/* Free the list. */
void
walk_free(struct walk *w)
{
	size_t	 i;

	for (i = 0; i < w->n; i++) {
		free(w->v[i].src);
		free(w->v[i].path);
		free(w->v[i].extra);
	}
	free(w->v);
	tdestroy(w->inodes, walk_inode_free);
	for (i = 0; i < w->nbases; i++)
		free(w->bases[i]);
	free(w->bases);
	memset(w, 0, sizeof(*w));
}
