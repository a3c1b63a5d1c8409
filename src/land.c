/*
 * land.c -- staging files and atomic landing.
 *
 * A file is received into LAND_STAGING_PREFIX <16 hex digits>
 * LAND_STAGING_SUFFIX (".zcrecvd.<16 hex>.part") in its destination
 * directory, so the final rename never crosses filesystems.  Landing is:
 * fsync the file (fsync = yes), rename it to its name without replacing
 * anything (renameat2 RENAME_NOREPLACE; overwrite = yes renames over),
 * fsync the directory, and only then answer the sender.  A failure at any
 * step removes the staging file; nothing ever appears half-written under
 * its final name.
 *
 * Names were checked by proto_name_check(): a plain base name, so every
 * *at() call here stays inside the destination directory and never
 * follows a symlink (a symlink under the final name is an existing file).
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zcrecvd.h"

/* Make a fresh staging name. */
static int
land_staging_name(char *buf, size_t len)
{
	uint64_t	 r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return (-1);
	snprintf(buf, len, "%s%0*llx%s", LAND_STAGING_PREFIX, LAND_STAGING_HEX,
	    (unsigned long long)r, LAND_STAGING_SUFFIX);
	return (0);
}

/*
 * Create the staging file for name in d.  On failure *code is the result
 * code for the sender and *cause the reason.
 */
int
land_open(struct landing *l, const struct dest *d, const char *name,
    int *code, char **cause)
{
	struct stat	 sb;
	int		 tries;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->dirfd = d->dirfd;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (!d->overwrite && fstatat(d->dirfd, name, &sb,
	    AT_SYMLINK_NOFOLLOW) == 0) {
		*code = ZC_E_EXISTS;
		*cause = xasprintf("%s exists", name);
		return (-1);
	}
	for (tries = 0; tries < 8; tries++) {
		if (land_staging_name(l->staging, sizeof(l->staging)) == -1)
			break;	/* errno from getrandom */
		l->fd = openat(d->dirfd, l->staging, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (l->fd != -1 || errno != EEXIST)
			break;
	}
	if (l->fd == -1) {
		*code = errno == ENOSPC || errno == EDQUOT ? ZC_E_NOSPACE :
		    ZC_E_IO;
		*cause = xasprintf("create staging file: %s", strerror(errno));
		l->staging[0] = '\0';
		return (-1);
	}
	return (0);
}

/*
 * Land the staging file under its name with the sender's permission bits
 * (without set-id or sticky bits, less the umask).
 */
int
land_commit(struct landing *l, const struct dest *d, uint32_t mode,
    const struct timespec *mtime, int *code, char **cause)
{
	mode_t	 mask;

	mask = umask(0);
	umask(mask);
	*code = ZC_E_IO;
	if (fchmod(l->fd, (mode & 0777) & ~mask) == -1) {
		*cause = xasprintf("chmod: %s", strerror(errno));
		goto fail;
	}
	if (d->fsync && fsync(l->fd) == -1) {
		*code = errno == ENOSPC || errno == EDQUOT ? ZC_E_NOSPACE :
		    ZC_E_IO;
		*cause = xasprintf("fsync: %s", strerror(errno));
		goto fail;
	}
	if (close(l->fd) == -1) {
		l->fd = -1;
		*cause = xasprintf("close: %s", strerror(errno));
		goto fail;
	}
	l->fd = -1;
	if (renameat2(l->dirfd, l->staging, l->dirfd, l->name,
	    d->overwrite ? 0 : RENAME_NOREPLACE) == -1) {
		if (errno == EEXIST)
			*code = ZC_E_EXISTS;
		*cause = xasprintf("rename to %s: %s", l->name,
		    errno == EEXIST ? "file exists" : strerror(errno));
		goto fail;
	}
	l->staging[0] = '\0';
	if (d->fsync && fsync(l->dirfd) == -1) {
		/* The name is in place but may not survive a crash. */
		*cause = xasprintf("fsync directory: %s", strerror(errno));
		return (-1);
	}
	return (0);
fail:
	land_abort(l);
	return (-1);
}

/* Throw the staging file away. */
void
land_abort(struct landing *l)
{
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	if (l->staging[0] != '\0' && unlinkat(l->dirfd, l->staging, 0) == -1 &&
	    errno != ENOENT)
		log_warn("unlink %s", l->staging);
	l->staging[0] = '\0';
}

/* Is name one of our staging names (land_staging_name)? */
int
land_is_staging(const char *name)
{
	size_t	 i, pre = sizeof(LAND_STAGING_PREFIX) - 1;

	if (strlen(name) != LAND_STAGING_LEN - 1 ||
	    strncmp(name, LAND_STAGING_PREFIX, pre) != 0 ||
	    strcmp(name + pre + LAND_STAGING_HEX, LAND_STAGING_SUFFIX) != 0)
		return (0);
	for (i = pre; i < pre + LAND_STAGING_HEX; i++)
		if (strchr("0123456789abcdef", name[i]) == NULL)
			return (0);
	return (1);
}

/*
 * At start-up: remove the staging files a previous run left behind when
 * it was killed.  Only names of the exact staging form, only regular
 * files.  (Resume would keep them; this version does not resume.)
 */
void
land_cleanup(const struct dest *d)
{
	struct dirent	*de;
	struct stat	 sb;
	DIR		*dir;
	int		 fd, n = 0;

	if ((fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (dir = fdopendir(fd)) == NULL) {
		log_warn("%s: cannot scan for stale staging files", d->path);
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (!land_is_staging(de->d_name) ||
		    fstatat(d->dirfd, de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(sb.st_mode))
			continue;
		if (unlinkat(d->dirfd, de->d_name, 0) == -1)
			log_warn("%s: remove stale %s", d->path, de->d_name);
		else
			n++;
	}
	closedir(dir);
	if (n > 0)
		log_info("%s: removed %d stale staging file%s of an earlier "
		    "run", d->path, n, n == 1 ? "" : "s");
}
