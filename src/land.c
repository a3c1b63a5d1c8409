/*
 * land.c -- staging files and atomic landing, beneath a destination.
 *
 * A file is received into LAND_STAGING_PREFIX <16 hex digits>
 * LAND_STAGING_SUFFIX (".zcrecvd.<16 hex>.part") in the directory where
 * it lands, so the final rename never crosses directories or filesystems.
 * Landing is: set the mode and mtime, fsync the file (fsync = yes),
 * rename it to its name without replacing anything (renameat2
 * RENAME_NOREPLACE; overwrite = yes renames over), fsync the directory,
 * and only then answer the sender.  A failure at any step removes the
 * staging file; nothing ever appears half-written under its final name.
 * land_finish and land_rename are the two halves of land_commit, for a
 * caller that syncs many files before renaming them.
 *
 * Paths come from the network and were judged by land_path_ok() (a
 * version 1 name by proto_name_check(): a path of one component).  Every
 * directory on the way is opened beneath the destination with openat2()
 * and RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, one component at a time
 * where something is missing, so a symlink in the destination, whoever
 * made it, refuses the path instead of leading elsewhere.  Missing
 * directories are created mode 0700; their entries get their own mode
 * and mtime later (land_dir).  The last component is only ever used with
 * *at() calls in its parent that do not follow it.
 *
 * A landing owns its parent directory's descriptor from land_open to
 * land_release, so that a reload closing the destination's descriptor
 * does not pull it away.  A landing that land_open never filled (its path
 * empty, as its owner zeroed it) holds nothing, and land_abort and
 * land_release leave it alone.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zcrecvd.h"

#define LAND_RESOLVE	(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | \
			 RESOLVE_NO_MAGICLINKS)
#define LAND_TRIES	8	/* fresh staging names, mkdir/open races */

/*
 * A symlink is staged under a name of its own suffix, as long as a file's
 * staging name, so that land_cleanup removes only symlinks that
 * land_symlink made: one under a file's staging name is not ours.
 */
#define LAND_STAGING_LINK_SUFFIX	".link"

/*
 * openat2() answered ENOSYS: walk instead, as safely.  It does under
 * zcrecvd.service (seen in e2e-nspawn; systemd's RestrictSUIDSGID= is
 * known to refuse openat2 that way, as it cannot see the flags), in
 * some containers and on kernels before 5.6.
 */
static int	 land_no_openat2;

/*
 * A random 64-bit number for a staging name.  getrandom() is called once
 * per LAND_RANDOM_BATCH names, per thread: the names stay unpredictable
 * without a system call per file.
 */
#define LAND_RANDOM_BATCH	64

static int
land_random(uint64_t *r)
{
	static __thread uint64_t	pool[LAND_RANDOM_BATCH];
	static __thread size_t		left;

	if (left == 0) {
		if (getrandom(pool, sizeof(pool), 0) != sizeof(pool))
			return (-1);
		left = LAND_RANDOM_BATCH;
	}
	*r = pool[--left];
	explicit_bzero(&pool[left], sizeof(pool[left]));
	return (0);
}

/* Make a fresh staging name, with suffix. */
static int
land_staging_name(char *buf, size_t len, const char *suffix)
{
	uint64_t	 r;

	if (land_random(&r) == -1)
		return (-1);
	snprintf(buf, len, "%s%0*llx%s", LAND_STAGING_PREFIX, LAND_STAGING_HEX,
	    (unsigned long long)r, suffix);
	return (0);
}

/* Is name a staging name with suffix (of LAND_STAGING_SUFFIX's length)? */
static int
land_staging_form(const char *name, const char *suffix)
{
	size_t	 i, pre = sizeof(LAND_STAGING_PREFIX) - 1;

	if (strlen(name) != LAND_STAGING_LEN - 1 ||
	    strncmp(name, LAND_STAGING_PREFIX, pre) != 0 ||
	    strcmp(name + pre + LAND_STAGING_HEX, suffix) != 0)
		return (0);
	for (i = pre; i < pre + LAND_STAGING_HEX; i++)
		if (strchr("0123456789abcdef", name[i]) == NULL)
			return (0);
	return (1);
}

/*
 * The umask, which the mode of a landed file or directory honours.
 * umask() can only be read by setting it, so it is read once, before the
 * workers start (land_read_umask), not per file; nothing in zcrecvd sets
 * it.  While it is 0 here, only modes that do not depend on it (0600,
 * 0700) are used to create anything.
 */
static mode_t	 land_mask;

/* Read the umask (single-threaded: at start; tests after changing it). */
void
land_read_umask(void)
{
	land_mask = umask(0);
	umask(land_mask);
}

static mode_t
land_umask(void)
{
	static pthread_once_t	 once = PTHREAD_ONCE_INIT;

	pthread_once(&once, land_read_umask);
	return (land_mask);
}

/* Result code for an errno from writing or creating. */
static int
land_errcode(int err)
{
	return (err == ENOSPC || err == EDQUOT ? ZC_E_NOSPACE : ZC_E_IO);
}

/* The times for futimens/utimensat: mtime, access time left as it is. */
static void
land_times(struct timespec ts[2], const struct timespec *mtime)
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = *mtime;
}

/*
 * What openat2() with LAND_RESOLVE does, without it: a component at a
 * time, each opened with O_NOFOLLOW, never "..", never from "/".
 */
static int
land_openat_walk(int dirfd, const char *path, int flags)
{
	char	 buf[ZC_PATH_MAX + 1], *comp, *slash;
	int	 fd = dirfd, next, err;

	if (strlen(path) > ZC_PATH_MAX) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(buf, path);
	for (comp = buf;; comp = slash + 1) {
		if ((slash = strchr(comp, '/')) != NULL)
			*slash = '\0';
		if (*comp == '\0' || strcmp(comp, "..") == 0) {
			next = -1;
			errno = EXDEV;	/* as RESOLVE_BENEATH says it */
		} else
			next = openat(fd, comp, slash != NULL ? O_PATH |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC : flags |
			    O_NOFOLLOW | O_CLOEXEC);
		err = errno;
		if (fd != dirfd)
			close(fd);
		if (next == -1) {
			errno = err;
			return (-1);
		}
		if (slash == NULL)
			return (next);
		fd = next;
	}
}

/* openat2() of path beneath dirfd, never through a symlink. */
static int
land_openat2(int dirfd, const char *path, int flags)
{
	struct open_how	 how;
	int		 fd, tries = 0;

	if (__atomic_load_n(&land_no_openat2, __ATOMIC_RELAXED))
		return (land_openat_walk(dirfd, path, flags));
	memset(&how, 0, sizeof(how));
	how.flags = flags | O_CLOEXEC;
	how.resolve = LAND_RESOLVE;
	do {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd == -1 && errno == EAGAIN && ++tries < LAND_TRIES);
	if (fd == -1 && errno == ENOSYS) {
		if (!__atomic_exchange_n(&land_no_openat2, 1,
		    __ATOMIC_RELAXED))
			log_debug("openat2: %s: paths are resolved a "
			    "component at a time", strerror(ENOSYS));
		return (land_openat_walk(dirfd, path, flags));
	}
	return (fd);
}

/*
 * Judge path once more (the caller did; this costs little and keeps every
 * *at() call beneath the destination whatever the caller did) and find its
 * last component.
 */
static int
land_split(const char *path, const char **base, int *code, char **cause)
{
	const char	*slash;

	if (proto_path_check(path, strlen(path), cause) == -1) {
		*code = ZC_E_NAME;
		return (-1);
	}
	slash = strrchr(path, '/');
	*base = slash != NULL ? slash + 1 : path;
	return (0);
}

/*
 * Why name in dirfd (what "what" calls it) cannot be used as a directory:
 * a symlink or something else is there, or err says what went wrong.
 */
static void
land_why(int dirfd, const char *name, const char *what, int err, int *code,
    char **cause)
{
	struct stat	 sb;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(sb.st_mode)) {
		*code = ZC_E_NAME;
		*cause = xasprintf("%s is %s", what, S_ISLNK(sb.st_mode) ?
		    "a symlink" : "not a directory");
		return;
	}
	*code = err == ENAMETOOLONG || err == ELOOP || err == EXDEV ?
	    ZC_E_NAME : land_errcode(err);
	*cause = xasprintf("%s: %s", what, strerror(err));
}

/*
 * Open directory name in dirfd, creating it (mode 0700) if it is missing.
 * A directory made here is made durable by the caller: the lander syncs
 * the file system after each batch (only version 2 paths have parents).
 */
static int
land_step(int dirfd, const char *name, const char *what, int *code,
    char **cause)
{
	int	 fd, tries, err;

	for (tries = 0; tries < LAND_TRIES; tries++) {
		if ((fd = land_openat2(dirfd, name, O_RDONLY |
		    O_DIRECTORY)) != -1)
			return (fd);
		if (errno != ENOENT)
			break;
		if (mkdirat(dirfd, name, 0700) == -1) {
			if (errno == EEXIST)
				continue;	/* raced: open what is there */
			*code = land_errcode(errno);
			*cause = xasprintf("mkdir %s: %s", what,
			    strerror(errno));
			return (-1);
		}
	}
	err = errno;
	land_why(dirfd, name, what, err, code, cause);
	return (-1);
}

/*
 * Open the directory path[0, len) beneath the destination (len 0: the
 * destination itself) for landing in it.  Where the whole of it does not
 * open at once, walk it a component at a time from the destination,
 * creating what is missing and saying which component is in the way.
 */
static int
land_parent(const struct dest *d, const char *path, size_t len, int *code,
    char **cause)
{
	char	 dir[ZC_PATH_MAX + 1], *comp, *slash;
	int	 fd, next;

	if (len > ZC_PATH_MAX) {
		*code = ZC_E_NAME;
		*cause = xasprintf("path longer than %u bytes", ZC_PATH_MAX);
		return (-1);
	}
	if (len > 0) {
		memcpy(dir, path, len);
		dir[len] = '\0';
		if ((fd = land_openat2(d->dirfd, dir, O_RDONLY |
		    O_DIRECTORY)) != -1)
			return (fd);
	}
	if ((fd = fcntl(d->dirfd, F_DUPFD_CLOEXEC, 0)) == -1) {
		*code = ZC_E_INTERNAL;
		*cause = xasprintf("dup: %s", strerror(errno));
		return (-1);
	}
	if (len == 0)
		return (fd);
	for (comp = dir;; comp = slash + 1) {
		if ((slash = strchr(comp, '/')) != NULL)
			*slash = '\0';	/* dir is now the path so far */
		next = land_step(fd, comp, dir, code, cause);
		close(fd);
		if (next == -1)
			return (-1);
		fd = next;
		if (slash == NULL)
			return (fd);
		*slash = '/';
	}
}

/* Create the staging file in l->dirfd. */
static int
land_stage(struct landing *l, int *code, char **cause)
{
	int	 tries;

	for (tries = 0; tries < LAND_TRIES; tries++) {
		if (land_staging_name(l->staging, sizeof(l->staging),
		    LAND_STAGING_SUFFIX) == -1)
			break;	/* errno from getrandom */
		l->fd = openat(l->dirfd, l->staging, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (l->fd != -1 || errno != EEXIST)
			break;
	}
	if (l->fd == -1) {
		*code = land_errcode(errno);
		*cause = xasprintf("create staging file: %s", strerror(errno));
		l->staging[0] = '\0';
		return (-1);
	}
	return (0);
}

/*
 * A path from the network, judged: proto_path_check() and the
 * destination's limits.  On failure *code is ZC_E_NAME and *cause says
 * which rule the path breaks.
 */
int
land_path_ok(const struct dest *d, const char *path, size_t len, int *code,
    char **cause)
{
	size_t	 i, n = 1;

	if (proto_path_check(path, len, cause) == -1) {
		*code = ZC_E_NAME;
		return (-1);
	}
	for (i = 0; i < len; i++)
		n += path[i] == '/';
	if (n > (size_t)d->max_path_depth) {
		*code = ZC_E_NAME;
		*cause = xasprintf("path has %zu components, more than "
		    "max_path_depth %d", n, d->max_path_depth);
		return (-1);
	}
	if (len > (size_t)d->max_path_length) {
		*code = ZC_E_NAME;
		*cause = xasprintf("path has %zu bytes, more than "
		    "max_path_length %d", len, d->max_path_length);
		return (-1);
	}
	return (0);
}

/*
 * Create the staging file for path in its parent directory, beneath d,
 * creating missing directories.  On failure *code is the result code for
 * the sender and *cause the reason, and the landing holds nothing.
 */
static int	land_open_parent(struct landing *, const struct dest *,
		    const char *, int *, char **);

int
land_open(struct landing *l, const struct dest *d, const char *path,
    int *code, char **cause)
{
	if (land_open_parent(l, d, path, code, cause) == -1)
		return (-1);
	if (land_stage(l, code, cause) == -1) {
		land_release(l);
		return (-1);
	}
	return (0);
}

/*
 * The first half of land_open: the parent directory of path, opened (and
 * made) beneath d, and nothing in the way of its name.
 */
static int
land_open_parent(struct landing *l, const struct dest *d, const char *path,
    int *code, char **cause)
{
	struct stat	 sb;
	const char	*base;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->dirfd = -1;
	if (land_split(path, &base, code, cause) == -1)
		return (-1);
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->name, sizeof(l->name), "%s", base);
	if ((l->dirfd = land_parent(d, path, base - path - (base != path),
	    code, cause)) == -1)
		return (-1);
	if (fstatat(l->dirfd, l->name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!d->overwrite) {
			*code = ZC_E_EXISTS;
			*cause = xasprintf("%s exists", l->path);
			goto fail;
		}
		if (S_ISDIR(sb.st_mode)) {
			*code = ZC_E_EXISTS;
			*cause = xasprintf("%s is a directory", l->path);
			goto fail;
		}
	}
	return (0);
fail:
	land_release(l);
	return (-1);
}

/*
 * Open (creating it, mode 0600, where missing) the resume partial keep
 * for path beneath d, in path's parent directory, as land_open does a
 * staging file; *fresh says whether it was made now.  The partial is
 * never followed through a symlink and must be a regular file.  On
 * failure *code and *cause, and the landing holds nothing.
 */
int
land_keep_open(struct landing *l, const struct dest *d, const char *path,
    const char *keep, int *fresh, int *code, char **cause)
{
	struct stat	 sb;

	if (land_open_parent(l, d, path, code, cause) == -1)
		return (-1);
	snprintf(l->staging, sizeof(l->staging), "%s", keep);
	*fresh = 0;
	l->fd = openat(l->dirfd, keep, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (l->fd == -1 && errno == ENOENT) {
		*fresh = 1;
		l->fd = openat(l->dirfd, keep, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (l->fd == -1 || fstat(l->fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		*code = l->fd == -1 ? land_errcode(errno) : ZC_E_IO;
		*cause = xasprintf("open resume partial: %s", l->fd == -1 ?
		    strerror(errno) : "not a regular file");
		l->staging[0] = '\0';	/* not ours to remove */
		land_release(l);
		return (-1);
	}
	return (0);
}

/*
 * Is name a resume partial or one of its sidecars?  1 with *suffix
 * (LAND_KEEP_SUFFIX, _SIDECAR or _TEMP), else 0.
 */
int
land_keep_form(const char *name, const char **suffix)
{
	static const char *sfx[] = { LAND_KEEP_SUFFIX, LAND_KEEP_SIDECAR,
	    LAND_KEEP_TEMP };
	size_t		 i, pre = sizeof(LAND_STAGING_PREFIX) - 1;

	if (strncmp(name, LAND_STAGING_PREFIX, pre) != 0 ||
	    strlen(name) <= pre + LAND_KEEP_HEX)
		return (0);
	for (i = pre; i < pre + LAND_KEEP_HEX; i++)
		if (strchr("0123456789abcdef", name[i]) == NULL)
			return (0);
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
		if (strcmp(name + pre + LAND_KEEP_HEX, sfx[i]) == 0) {
			*suffix = sfx[i];
			return (1);
		}
	return (0);
}

/* Write all of buf at off in the staging file (content sent inline). */
int
land_write(struct landing *l, const void *buf, size_t len, uint64_t off,
    int *code, char **cause)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	if (off > INT64_MAX || len > INT64_MAX - off) {
		*code = ZC_E_SIZE;
		*cause = xasprintf("write beyond the largest file offset");
		return (-1);
	}
	while (len > 0) {
		n = pwrite(l->fd, p, len, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			*code = land_errcode(errno);
			*cause = xasprintf("write: %s", strerror(errno));
			return (-1);
		}
		p += n;
		len -= n;
		off += n;
	}
	return (0);
}

/*
 * Give the staging file the sender's permission bits (without set-id or
 * sticky bits, less the umask) and mtime (NULL: leave it), fsync it when
 * sync, close it.  On failure the staging file is gone.
 */
int
land_finish(struct landing *l, uint32_t mode, const struct timespec *mtime,
    int sync, int *code, char **cause)
{
	struct timespec	 ts[2];

	*code = ZC_E_IO;
	if (fchmod(l->fd, (mode & 0777) & ~land_umask()) == -1) {
		*cause = xasprintf("chmod: %s", strerror(errno));
		goto fail;
	}
	if (mtime != NULL) {
		land_times(ts, mtime);
		if (futimens(l->fd, ts) == -1) {
			*cause = xasprintf("set mtime: %s", strerror(errno));
			goto fail;
		}
	}
	if (sync && fsync(l->fd) == -1) {
		*code = land_errcode(errno);
		*cause = xasprintf("fsync: %s", strerror(errno));
		goto fail;
	}
	if (close(l->fd) == -1) {
		l->fd = -1;
		*cause = xasprintf("close: %s", strerror(errno));
		goto fail;
	}
	l->fd = -1;
	return (0);
fail:
	land_abort(l);
	return (-1);
}

/*
 * Rename the finished staging file to its name, replacing nothing unless
 * the destination overwrites.  The directory stays open for the caller to
 * fsync and release.  On failure the staging file is gone.
 */
int
land_rename(struct landing *l, const struct dest *d, int *code,
    char **cause)
{
	int	 err;

	if (renameat2(l->dirfd, l->staging, l->dirfd, l->name,
	    d->overwrite ? 0 : RENAME_NOREPLACE) == -1) {
		err = errno;
		*code = err == EEXIST || err == EISDIR ? ZC_E_EXISTS :
		    land_errcode(err);
		*cause = xasprintf("rename to %s: %s", l->path,
		    err == EEXIST ? "file exists" : strerror(err));
		land_abort(l);
		return (-1);
	}
	l->staging[0] = '\0';
	return (0);
}

/*
 * Land one file, durably when the destination syncs: land_finish,
 * land_rename, fsync the directory, land_release.  On failure the
 * landing is released and nothing is left under a staging name.
 */
int
land_commit(struct landing *l, const struct dest *d, uint32_t mode,
    const struct timespec *mtime, int *code, char **cause)
{
	if (land_finish(l, mode, mtime, d->fsync, code, cause) == -1 ||
	    land_rename(l, d, code, cause) == -1)
		return (-1);
	if (d->fsync && fsync(l->dirfd) == -1) {
		/* The name is in place but may not survive a crash. */
		*code = ZC_E_IO;
		*cause = xasprintf("fsync directory: %s", strerror(errno));
		land_release(l);
		return (-1);
	}
	land_release(l);
	return (0);
}

/* Throw the staging file away and release the landing; idempotent. */
void
land_abort(struct landing *l)
{
	if (l->path[0] == '\0')
		return;		/* never opened: holds nothing */
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	if (l->staging[0] != '\0' && l->dirfd != -1 &&
	    unlinkat(l->dirfd, l->staging, 0) == -1 && errno != ENOENT)
		log_warn("unlink %s", l->staging);
	l->staging[0] = '\0';
	land_release(l);
}

/*
 * Close what the landing holds (after land_rename, the directory).  A
 * staging file still there is left to land_cleanup: use land_abort.
 */
void
land_release(struct landing *l)
{
	if (l->path[0] == '\0')
		return;		/* never opened: holds nothing */
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	if (l->dirfd != -1)
		close(l->dirfd);
	l->dirfd = -1;
}

/*
 * The result for name in dirfd (called path) that is in the way of a
 * directory or a symlink: something that exists.
 */
static void
land_in_way(int dirfd, const char *name, const char *path, int *code,
    char **cause)
{
	struct stat	 sb;

	*code = ZC_E_EXISTS;
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(sb.st_mode))
		*cause = xasprintf("%s exists and is a symlink", path);
	else
		*cause = xasprintf("%s exists and is not a directory", path);
}

/*
 * Give directory fd the sender's mode (less the umask) and mtime (NULL:
 * leave it).  Durable once the lander has synced the batch.
 */
static int
land_dir_set(int fd, const char *path, uint32_t mode,
    const struct timespec *mtime, int *code, char **cause)
{
	struct timespec	 ts[2];

	*code = ZC_E_IO;
	if (fchmod(fd, (mode & 0777) & ~land_umask()) == -1) {
		*cause = xasprintf("chmod %s: %s", path, strerror(errno));
		return (-1);
	}
	if (mtime != NULL) {
		land_times(ts, mtime);
		if (futimens(fd, ts) == -1) {
			*cause = xasprintf("set mtime of %s: %s", path,
			    strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/*
 * Land a directory entry: create path beneath d (and its missing
 * parents, mode 0700) unless a directory is there already, then give it
 * its mode and mtime.  Anything else under that name is ZC_E_EXISTS.
 */
int
land_dir(const struct dest *d, const char *path, uint32_t mode,
    const struct timespec *mtime, int *code, char **cause)
{
	const char	*base;
	int		 pfd, fd, rv = -1;

	if (land_split(path, &base, code, cause) == -1 ||
	    (pfd = land_parent(d, path, base - path - (base != path), code,
	    cause)) == -1)
		return (-1);
	if (mkdirat(pfd, base, 0700) == -1 && errno != EEXIST) {
		*code = land_errcode(errno);
		*cause = xasprintf("mkdir %s: %s", path, strerror(errno));
		goto out;
	}
	if ((fd = land_openat2(pfd, base, O_RDONLY | O_DIRECTORY)) == -1) {
		if (errno == ELOOP || errno == ENOTDIR)
			land_in_way(pfd, base, path, code, cause);
		else {
			*code = ZC_E_IO;
			*cause = xasprintf("open %s: %s", path,
			    strerror(errno));
		}
		goto out;
	}
	rv = land_dir_set(fd, path, mode, mtime, code, cause);
	close(fd);
out:
	close(pfd);
	return (rv);
}

/* Make a symlink to target under a fresh staging name in pfd. */
static int
land_symlink_stage(int pfd, const char *target, char *staging, size_t len,
    int *code, char **cause)
{
	int	 tries;

	for (tries = 0; tries < LAND_TRIES; tries++) {
		if (land_staging_name(staging, len,
		    LAND_STAGING_LINK_SUFFIX) == -1)
			break;
		if (symlinkat(target, pfd, staging) == 0)
			return (0);
		if (errno != EEXIST)
			break;
	}
	*code = land_errcode(errno);
	*cause = xasprintf("create staging symlink: %s", strerror(errno));
	staging[0] = '\0';
	return (-1);
}

/* Give the staged symlink its mtime and rename it to its name. */
static int
land_symlink_place(const struct dest *d, int pfd, const char *staging,
    const char *base, const char *path, const struct timespec *mtime,
    int *code, char **cause)
{
	struct timespec	 ts[2];
	int		 err;

	if (mtime != NULL) {
		land_times(ts, mtime);
		if (utimensat(pfd, staging, ts, AT_SYMLINK_NOFOLLOW) == -1) {
			*code = ZC_E_IO;
			*cause = xasprintf("set mtime: %s", strerror(errno));
			return (-1);
		}
	}
	if (renameat2(pfd, staging, pfd, base, d->overwrite ? 0 :
	    RENAME_NOREPLACE) == -1) {
		err = errno;
		*code = err == EEXIST || err == EISDIR ? ZC_E_EXISTS :
		    land_errcode(err);
		*cause = xasprintf("rename to %s: %s", path,
		    err == EEXIST ? "file exists" : strerror(err));
		return (-1);
	}
	return (0);
}

/*
 * Land a symlink entry, if the destination allows symlinks: made under a
 * staging name, given its mtime, renamed to path (replacing nothing
 * unless the destination overwrites).  The target is neither followed
 * nor checked.
 */
int
land_symlink(const struct dest *d, const char *path, const char *target,
    const struct timespec *mtime, int *code, char **cause)
{
	char		 staging[LAND_STAGING_LEN];
	struct stat	 sb;
	const char	*base;
	size_t		 tlen = strlen(target);
	int		 pfd, rv = -1;

	if (!d->allow_symlinks) {
		*code = ZC_E_DENIED;
		*cause = xasprintf("symlinks not allowed "
		    "(allow_symlinks = no)");
		return (-1);
	}
	if (tlen == 0 || tlen > ZC_PATH_MAX) {
		*code = ZC_E_NAME;
		*cause = xasprintf("symlink target %s", tlen == 0 ? "empty" :
		    "too long");
		return (-1);
	}
	if (land_split(path, &base, code, cause) == -1 ||
	    (pfd = land_parent(d, path, base - path - (base != path), code,
	    cause)) == -1)
		return (-1);
	if (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!d->overwrite || S_ISDIR(sb.st_mode))) {
		*code = ZC_E_EXISTS;
		*cause = xasprintf(d->overwrite ? "%s is a directory" :
		    "%s exists", path);
		goto out;
	}
	if (land_symlink_stage(pfd, target, staging, sizeof(staging), code,
	    cause) == -1)
		goto out;
	if (land_symlink_place(d, pfd, staging, base, path, mtime, code,
	    cause) == -1) {
		if (unlinkat(pfd, staging, 0) == -1 && errno != ENOENT)
			log_warn("unlink %s", staging);
		goto out;
	}
	rv = 0;
out:
	close(pfd);
	return (rv);
}

/* Is name one of our staging names for files? */
int
land_is_staging(const char *name)
{
	return (land_staging_form(name, LAND_STAGING_SUFFIX));
}

/* Directories land_cleanup has still to scan: paths beneath the dest. */
struct land_scan {
	char	**path;		/* "." for the destination */
	int	 *depth;	/* components in path; 0 for "." */
	size_t	  n, size;
};

/* Queue directory path, depth components beneath the destination. */
static void
land_scan_push(struct land_scan *s, char *path, int depth)
{
	if (s->n == s->size) {
		s->size = s->size == 0 ? 16 : s->size * 2;
		s->path = reallocarray(s->path, s->size, sizeof(*s->path));
		s->depth = reallocarray(s->depth, s->size, sizeof(*s->depth));
		if (s->path == NULL || s->depth == NULL)
			fatal("reallocarray");
	}
	s->path[s->n] = path;
	s->depth[s->n++] = depth;
}

/* Is name in dir a directory (d_type when the filesystem gives it)? */
static int
land_is_dir(int dirfd, const struct dirent *de)
{
	struct stat	 sb;

	if (de->d_type != DT_UNKNOWN)
		return (de->d_type == DT_DIR);
	return (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(sb.st_mode));
}

/*
 * Is name in dirfd a stale staging file: a regular file under a file's
 * staging name, or a symlink under a symlink's?
 */
static int
land_is_stale(int dirfd, const char *name)
{
	struct stat	 sb;
	int		 file, link;

	file = land_staging_form(name, LAND_STAGING_SUFFIX);
	link = land_staging_form(name, LAND_STAGING_LINK_SUFFIX);
	if ((!file && !link) ||
	    fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return (0);
	return (file ? S_ISREG(sb.st_mode) : S_ISLNK(sb.st_mode));
}

/* The name of the partial or sidecar of stem name, with suffix. */
static void
land_keep_sibling(const char *name, const char *suffix, char *buf,
    size_t len)
{
	snprintf(buf, len, "%.*s%s", (int)(sizeof(LAND_STAGING_PREFIX) - 1 +
	    LAND_KEEP_HEX), name, suffix);
}

/*
 * Is name in dirfd a resume partial (or sidecar) to remove: one not
 * touched for keep seconds, a sidecar whose partial is gone, or (at
 * start-up) the temporary of a sidecar?  A partial goes with its sidecar.
 */
static int
land_keep_expired(int dirfd, const char *name, int keep, int startup)
{
	char		 other[LAND_NAME_BUF];
	const char	*sfx;
	struct stat	 sb;
	time_t		 now = time(NULL);

	if (!land_keep_form(name, &sfx) ||
	    fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(sb.st_mode))
		return (0);
	if (strcmp(sfx, LAND_KEEP_SIDECAR) == 0) {
		land_keep_sibling(name, LAND_KEEP_SUFFIX, other, sizeof(other));
		return (faccessat(dirfd, other, F_OK, AT_SYMLINK_NOFOLLOW) ==
		    -1 && errno == ENOENT);
	}
	if (strcmp(sfx, LAND_KEEP_TEMP) == 0 && startup)
		return (1);
	if (sb.st_mtime > now - keep)
		return (0);
	land_keep_sibling(name, LAND_KEEP_SUFFIX, other, sizeof(other));
	if (keep_claimed(other))
		return (0);	/* in use: its check or its chunks are due */
	if (strcmp(sfx, LAND_KEEP_SUFFIX) == 0) {
		land_keep_sibling(name, LAND_KEEP_SIDECAR, other,
		    sizeof(other));
		if (unlinkat(dirfd, other, 0) == -1 && errno != ENOENT)
			log_warn("remove %s", other);
	}
	return (1);
}

/*
 * Scan one directory: remove its stale staging files (regular files, and
 * symlinks that land_symlink had not renamed yet), queue its
 * subdirectories that may hold some.  Returns the number removed.
 */
static int
land_scan_dir(const struct dest *d, struct land_scan *s, const char *path,
    int depth, int keep, int startup, int *expired)
{
	struct dirent	*de;
	DIR		*dir;
	const char	*pre = depth == 0 ? "" : path;
	const char	*sep = depth == 0 ? "" : "/";
	size_t		 plen = depth == 0 ? 0 : strlen(path);
	int		 fd, n = 0;

	if ((fd = land_openat2(d->dirfd, path, O_RDONLY | O_DIRECTORY)) ==
	    -1 || (dir = fdopendir(fd)) == NULL) {
		if (depth == 0)
			log_warn("%s: cannot scan for stale staging files",
			    d->path);
		else
			log_debug("%s: cannot scan %s: %s", d->path, path,
			    strerror(errno));
		if (fd != -1)
			close(fd);
		return (0);
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (land_keep_expired(fd, de->d_name, keep, startup)) {
			if (unlinkat(fd, de->d_name, 0) == -1 &&
			    errno != ENOENT)
				log_warn("%s: remove expired %s%s%s", d->path,
				    pre, sep, de->d_name);
			else
				*expired += strstr(de->d_name,
				    LAND_KEEP_SUFFIX) != NULL;
			continue;
		}
		if (startup && land_is_stale(fd, de->d_name)) {
			if (unlinkat(fd, de->d_name, 0) == -1)
				log_warn("%s: remove stale %s%s%s", d->path,
				    pre, sep, de->d_name);
			else
				n++;
			continue;
		}
		/* A staging file lies at most max_path_depth - 1 down. */
		if (depth + 1 >= d->max_path_depth ||
		    plen + 1 + strlen(de->d_name) > ZC_PATH_MAX ||
		    !land_is_dir(fd, de))
			continue;
		land_scan_push(s, xasprintf("%s%s%s", pre, sep, de->d_name),
		    depth + 1);
	}
	closedir(dir);
	return (n);
}

/*
 * At start-up (startup): remove the staging files a previous run left
 * anywhere beneath the destination when it was killed.  Only names of the
 * exact staging forms, only regular files and symlinks; directories are
 * opened beneath the destination without following symlinks, as deep as a
 * path may go.  Resume partials (version 5) stay, unless untouched for
 * keep seconds (resume_keep); so does any staging file when not at
 * start-up (the periodic sweep of keep.c): it may be in use.
 */
void
land_cleanup(const struct dest *d, int keep, int startup)
{
	struct land_scan	 s;
	char			*path;
	int			 depth, n = 0, expired = 0;

	memset(&s, 0, sizeof(s));
	land_scan_push(&s, xstrdup("."), 0);
	while (s.n > 0) {
		path = s.path[--s.n];
		depth = s.depth[s.n];
		n += land_scan_dir(d, &s, path, depth, keep, startup,
		    &expired);
		free(path);
	}
	free(s.path);
	free(s.depth);
	if (n > 0)
		log_info("%s: removed %d stale staging file%s of an earlier "
		    "run", d->path, n, n == 1 ? "" : "s");
	if (expired > 0)
		log_info("%s: removed %d resume partial%s older than "
		    "resume_keep (%d s)", d->path, expired, expired == 1 ? "" :
		    "s", keep);
}
