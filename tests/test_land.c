/*
 * test_land.c -- landing beneath a destination (land.c), without sockets:
 * paths judged against the destination's limits, parents created and
 * never reached through a symlink, files committed with their mode and
 * mtime, directories and symlinks as entries, and stale staging files
 * removed from the whole tree.  Every case runs in a destination
 * directory of its own under a temporary directory, beside an "outside"
 * directory that nothing may ever touch.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcrecvd.h"
#include "unit.h"

#define RACERS		8	/* threads landing in the same new parents */

static char		 tmp[256];		/* everything is under here */
static char		 outside[300];	/* never to be written */
static mode_t		 mask;			/* the umask */
static struct dest	 dest;			/* the case's destination */
static int		 ncase;

/* The path of rel beneath the current destination. */
static const char *
at(const char *rel)
{
	static char	 p[2][PATH_MAX + 64];
	static int	 i;

	i = !i;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dest.path, rel);
	return (p[i]);
}

/* Open descriptors of the process. */
static int
nfds(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		fatal("/proc/self/fd");
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return (n - 1);		/* less opendir's own */
}

/* Entries in directory path (not . and ..); staging: how many are ours. */
static int
count_in(const char *path, int *staging)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0, ns = 0;

	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		ns += land_is_staging(de->d_name);
	}
	closedir(d);
	if (staging != NULL)
		*staging = ns;
	return (n);
}

/* Remove path and everything beneath it, never following a symlink. */
static void
rm_tree(const char *path)
{
	struct dirent	*de;
	struct stat	 sb;
	char		 sub[PATH_MAX];
	DIR		*d;

	if (lstat(path, &sb) == -1)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	chmod(path, 0700);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_tree(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

/* A fresh destination for one case: fsync on, no overwrite, defaults. */
static void
new_dest(void)
{
	if (dest.dirfd != -1) {
		close(dest.dirfd);
		rm_tree(dest.path);
		free(dest.path);
	}
	memset(&dest, 0, sizeof(dest));
	dest.name = "default";
	dest.path = xasprintf("%s/dest%d", tmp, ++ncase);
	dest.fsync = 1;
	dest.max_path_depth = 32;
	dest.max_path_length = ZC_PATH_MAX;
	if (mkdir(dest.path, 0700) == -1 ||
	    (dest.dirfd = open(dest.path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal("%s", dest.path);
}

/* Create the file rel beneath the destination with a few bytes. */
static void
make_file(const char *rel)
{
	int	 fd;

	if ((fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1 || write(fd, "old\n", 4) != 4)
		fatal("%s", at(rel));
	close(fd);
}

/* Does rel hold exactly the len bytes of want? */
static int
file_is(const char *rel, const char *want, size_t len)
{
	char	 got[256];
	ssize_t	 n;
	int	 fd;

	if ((fd = open(at(rel), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, got, sizeof(got));
	close(fd);
	return (n == (ssize_t)len && memcmp(got, want, len) == 0);
}

/* Is rel of type fmt (S_IFDIR, ...) with permission bits perm (-1: any)? */
static int
is_a(const char *rel, mode_t fmt, int perm)
{
	struct stat	 sb;

	if (lstat(at(rel), &sb) == -1 || (sb.st_mode & S_IFMT) != fmt)
		return (0);
	return (perm == -1 || (int)(sb.st_mode & 07777) == perm);
}

/* Is the mtime of rel (not followed) ts? */
static int
mtime_is(const char *rel, const struct timespec *ts)
{
	struct stat	 sb;

	return (lstat(at(rel), &sb) == 0 && sb.st_mtim.tv_sec == ts->tv_sec &&
	    sb.st_mtim.tv_nsec == ts->tv_nsec);
}

/* Did a call fail with code and exactly the message want? */
static int
failed(int rv, int code, char *cause, int want_code, const char *want)
{
	int	 ok;

	ok = rv == -1 && code == want_code && cause != NULL &&
	    strcmp(cause, want) == 0;
	if (!ok)
		fprintf(stderr, "wanted %d \"%s\", got rv %d, %d \"%s\"\n",
		    want_code, want, rv, code, cause != NULL ? cause : "");
	free(cause);
	return (ok);
}

/*
 * Did call fail with want_code and the message want?  The call is made
 * before code and cause are read; cause is freed.
 */
#define FAILED(call, want_code, want)					\
	(last_rv = (call), last_ok = failed(last_rv, code, cause,	\
	    (want_code), (want)), cause = NULL, last_ok)
static int		 last_rv, last_ok;

/* Land content at rel in one go; 0 or -1 with code and cause. */
static int
land_file(const char *rel, const char *content, uint32_t mode,
    const struct timespec *mtime, int *code, char **cause)
{
	struct landing	 l;

	if (land_open(&l, &dest, rel, code, cause) == -1)
		return (-1);
	if (land_write(&l, content, strlen(content), 0, code, cause) == -1) {
		land_abort(&l);
		return (-1);
	}
	return (land_commit(&l, &dest, mode, mtime, code, cause));
}

/* Has nothing been made outside the destination? */
static int
outside_untouched(void)
{
	return (count_in(outside, NULL) == 0);
}

/* land_path_ok: the protocol's rules, then the destination's limits. */
static void
test_path_ok(void)
{
	char	*cause = NULL, deep[200], wide[200];
	int	 code = 0, i;

	new_dest();
	dest.max_path_depth = 4;
	dest.max_path_length = 20;
	CHECK(land_path_ok(&dest, "a", 1, &code, &cause) == 0);
	CHECK(land_path_ok(&dest, "a/b/c/d", 7, &code, &cause) == 0);
	CHECK(land_path_ok(&dest, "a/b/c/d/", 7, &code, &cause) == 0);
	CHECK(land_path_ok(&dest, "0123456789/123456789", 20, &code,
	    &cause) == 0);
	CHECK(FAILED(land_path_ok(&dest, "a/b/c/d/e", 9, &code, &cause),
	    ZC_E_NAME, "path has 5 components, more than "
	    "max_path_depth 4"));
	CHECK(FAILED(land_path_ok(&dest, "0123456789/1234567890", 21, &code,
	    &cause), ZC_E_NAME, "path has 21 bytes, more than "
	    "max_path_length 20"));
	CHECK(FAILED(land_path_ok(&dest, "a//b", 4, &code, &cause),
	    ZC_E_NAME, "path component 2 is empty"));
	CHECK(FAILED(land_path_ok(&dest, "a/../../x", 9, &code, &cause),
	    ZC_E_NAME, "path component 2: file name is . or .."));
	CHECK(FAILED(land_path_ok(&dest, "/x", 2, &code, &cause),
	    ZC_E_NAME, "absolute path"));
	CHECK(FAILED(land_path_ok(&dest, "a/", 2, &code, &cause),
	    ZC_E_NAME, "path component 2 is empty"));
	CHECK(FAILED(land_path_ok(&dest, "a/.zcrecvd.x", 12, &code, &cause),
	    ZC_E_NAME, "path component 2: file name uses the "
	    "reserved prefix .zcrecvd."));

	dest.max_path_depth = 32;
	dest.max_path_length = ZC_PATH_MAX;
	for (i = 0; i < 40; i++)
		memcpy(deep + 2 * i, "d/", 2);
	deep[79] = '\0';
	CHECK(FAILED(land_path_ok(&dest, deep, 79, &code, &cause),
	    ZC_E_NAME, "path has 40 components, more than "
	    "max_path_depth 32"));
	deep[2 * 32 - 1] = '\0';
	CHECK(land_path_ok(&dest, deep, 63, &code, &cause) == 0);
	memset(wide, 'w', sizeof(wide));
	CHECK(land_path_ok(&dest, wide, sizeof(wide), &code, &cause) == 0);
}

/* Nested paths: the parents are made (0700), the file lands with its mtime. */
static void
test_nested(void)
{
	struct timespec	 mt = { 1234567890, 123456789 };
	struct landing	 l;
	char		*cause = NULL;
	int		 code = 0, ns;

	new_dest();
	CHECK(land_open(&l, &dest, "a/b/c/file", &code, &cause) == 0);
	CHECK(l.fd != -1 && l.dirfd != -1 && land_is_staging(l.staging));
	CHECK(strcmp(l.name, "file") == 0 && strcmp(l.path, "a/b/c/file") == 0);
	CHECK(is_a("a", S_IFDIR, 0700 & ~mask));
	CHECK(is_a("a/b/c", S_IFDIR, 0700 & ~mask));
	CHECK(count_in(at("a/b/c"), &ns) == 1 && ns == 1);
	CHECK(land_write(&l, "hello ", 6, 0, &code, &cause) == 0);
	CHECK(land_write(&l, "tree\n", 5, 6, &code, &cause) == 0);
	CHECK(land_commit(&l, &dest, 0640, &mt, &code, &cause) == 0);
	CHECK(l.fd == -1 && l.dirfd == -1 && l.staging[0] == '\0');
	CHECK(file_is("a/b/c/file", "hello tree\n", 11));
	CHECK(is_a("a/b/c/file", S_IFREG, 0640 & ~mask));
	CHECK(mtime_is("a/b/c/file", &mt));
	CHECK(count_in(at("a/b/c"), &ns) == 1 && ns == 0);

	/* A second file in parents that exist now, and one beside them. */
	CHECK(land_file("a/b/c/two", "2", 0600, NULL, &code, &cause) == 0);
	CHECK(land_file("a/b/other/three", "3", 0600, NULL, &code,
	    &cause) == 0);
	CHECK(file_is("a/b/other/three", "3", 1));
	CHECK(count_in(at("a/b"), NULL) == 2);

	/* A version 1 name lands in the destination itself. */
	CHECK(land_file("plain", "v1", 0644, NULL, &code, &cause) == 0);
	CHECK(file_is("plain", "v1", 2));
	CHECK(count_in(dest.path, &ns) == 2 && ns == 0);
	free(cause);
}

/* land_finish and land_rename apart, as a batch does them. */
static void
test_split(void)
{
	struct timespec	 mt = { 1000000000, 0 };
	struct landing	 l[3];
	char		*cause = NULL, name[32];
	int		 code = 0, i, ns;

	new_dest();
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "batch/f%d", i);
		CHECK(land_open(&l[i], &dest, name, &code, &cause) == 0);
		CHECK(land_write(&l[i], "x", 1, 0, &code, &cause) == 0);
	}
	for (i = 0; i < 3; i++)
		CHECK(land_finish(&l[i], 0604, &mt, 1, &code, &cause) == 0);
	CHECK(count_in(at("batch"), &ns) == 3 && ns == 3);
	for (i = 0; i < 3; i++) {
		CHECK(land_rename(&l[i], &dest, &code, &cause) == 0);
		CHECK(l[i].staging[0] == '\0' && l[i].dirfd != -1);
	}
	CHECK(fsync(l[0].dirfd) == 0);
	for (i = 0; i < 3; i++)
		land_release(&l[i]);
	CHECK(l[0].dirfd == -1);
	CHECK(count_in(at("batch"), &ns) == 3 && ns == 0);
	CHECK(is_a("batch/f2", S_IFREG, 0604 & ~mask) &&
	    mtime_is("batch/f2", &mt));
	free(cause);
}

/*
 * A symlink in the destination on the way, pointing outside: the path is
 * refused, whatever lands, and nothing appears outside.
 */
static void
test_symlink_on_path(void)
{
	char	*cause = NULL;
	int	 code = 0;

	new_dest();
	dest.allow_symlinks = 1;
	CHECK(symlink(outside, at("link")) == 0);
	CHECK(mkdir(at("a"), 0700) == 0);
	CHECK(symlink(outside, at("a/inner")) == 0);
	CHECK(symlink("..", at("a/up")) == 0);

	CHECK(FAILED(land_file("link/f", "x", 0644, NULL, &code, &cause),
	    ZC_E_NAME, "link is a symlink"));
	CHECK(FAILED(land_file("link/new/f", "x", 0644, NULL, &code, &cause),
	    ZC_E_NAME, "link is a symlink"));
	CHECK(FAILED(land_file("a/inner/x/f", "x", 0644, NULL, &code,
	    &cause), ZC_E_NAME, "a/inner is a symlink"));
	CHECK(FAILED(land_file("a/up/f", "x", 0644, NULL, &code, &cause),
	    ZC_E_NAME, "a/up is a symlink"));
	CHECK(FAILED(land_dir(&dest, "link/sub", 0755, NULL, &code, &cause),
	    ZC_E_NAME, "link is a symlink"));
	CHECK(FAILED(land_symlink(&dest, "a/inner/s", "t", NULL, &code,
	    &cause), ZC_E_NAME, "a/inner is a symlink"));
	/* As the last component: a symlink is something that exists. */
	CHECK(FAILED(land_file("link", "x", 0644, NULL, &code, &cause),
	    ZC_E_EXISTS, "link exists"));
	CHECK(FAILED(land_dir(&dest, "a/inner", 0755, NULL, &code, &cause),
	    ZC_E_EXISTS, "a/inner exists and is a symlink"));
	dest.overwrite = 1;
	CHECK(FAILED(land_dir(&dest, "link", 0755, NULL, &code, &cause),
	    ZC_E_EXISTS, "link exists and is a symlink"));
	/* overwrite replaces the symlink itself, never what it points at. */
	CHECK(land_file("link", "new", 0644, NULL, &code, &cause) == 0);
	CHECK(is_a("link", S_IFREG, -1) && file_is("link", "new", 3));

	CHECK(outside_untouched());
	CHECK(count_in(at("a"), NULL) == 2);
	CHECK(count_in(dest.path, NULL) == 2);
}

/* A file, not a directory, where the path needs a directory. */
static void
test_not_dir(void)
{
	char	*cause = NULL;
	int	 code = 0;

	new_dest();
	make_file("file");
	CHECK(FAILED(land_file("file/f", "x", 0644, NULL, &code, &cause),
	    ZC_E_NAME, "file is not a directory"));
	CHECK(land_dir(&dest, "d/e", 0755, NULL, &code, &cause) == 0);
	make_file("d/e/fifo-ish");
	CHECK(FAILED(land_file("d/e/fifo-ish/g/h", "x", 0644, NULL, &code,
	    &cause), ZC_E_NAME, "d/e/fifo-ish is not a "
	    "directory"));
	CHECK(FAILED(land_dir(&dest, "file", 0755, NULL, &code, &cause),
	    ZC_E_EXISTS, "file exists and is not a directory"));
	CHECK(FAILED(land_symlink(&dest, "file/s", "t", NULL, &code, &cause),
	    ZC_E_DENIED, "symlinks not allowed "
	    "(allow_symlinks = no)"));
	dest.allow_symlinks = 1;
	CHECK(FAILED(land_symlink(&dest, "file/s", "t", NULL, &code, &cause),
	    ZC_E_NAME, "file is not a directory"));
	CHECK(count_in(dest.path, NULL) == 2 && count_in(at("d/e"), NULL) == 1);
	CHECK(file_is("file", "old\n", 4));
}

/* Existing names: refused unless overwrite, never over a directory. */
static void
test_exists(void)
{
	struct landing	 l;
	char		*cause = NULL;
	int		 code = 0, ns;

	new_dest();
	CHECK(land_file("x/y", "first", 0644, NULL, &code, &cause) == 0);
	CHECK(FAILED(land_file("x/y", "second", 0644, NULL, &code, &cause),
	    ZC_E_EXISTS, "x/y exists"));
	CHECK(FAILED(land_file("x", "second", 0644, NULL, &code, &cause),
	    ZC_E_EXISTS, "x exists"));

	/* The name appears while the file arrives: the rename refuses. */
	CHECK(land_open(&l, &dest, "x/late", &code, &cause) == 0);
	make_file("x/late");
	CHECK(FAILED(land_commit(&l, &dest, 0644, NULL, &code, &cause),
	    ZC_E_EXISTS, "rename to x/late: file exists"));
	CHECK(l.fd == -1 && l.dirfd == -1);
	CHECK(count_in(at("x"), &ns) == 2 && ns == 0);
	CHECK(file_is("x/late", "old\n", 4));

	dest.overwrite = 1;
	CHECK(land_file("x/y", "second", 0644, NULL, &code, &cause) == 0);
	CHECK(file_is("x/y", "second", 6));
	CHECK(FAILED(land_file("x", "third", 0644, NULL, &code, &cause),
	    ZC_E_EXISTS, "x is a directory"));
	CHECK(land_open(&l, &dest, "x/dir-late", &code, &cause) == 0);
	CHECK(mkdir(at("x/dir-late"), 0700) == 0);
	CHECK(land_finish(&l, 0644, NULL, 0, &code, &cause) == 0);
	CHECK(FAILED(land_rename(&l, &dest, &code, &cause),
	    ZC_E_EXISTS, "rename to x/dir-late: Is a directory"));
	CHECK(l.dirfd == -1 && count_in(at("x"), &ns) == 3 && ns == 0);
}

struct racer {
	int		 n;
	int		 rv;
	pthread_t	 t;
};

/* One racer: land its file beneath parents the others create too. */
static void *
race_one(void *arg)
{
	struct racer	*r = arg;
	char		 path[64], *cause = NULL;
	int		 code;

	snprintf(path, sizeof(path), "r/s/t/u/v/f%d", r->n);
	r->rv = land_file(path, "raced", 0644, NULL, &code, &cause);
	if (r->rv == -1)
		fprintf(stderr, "racer %d: %s\n", r->n, cause);
	free(cause);
	return (NULL);
}

/* Racing landings create the same parents: EEXIST is fine. */
static void
test_race(void)
{
	struct racer	 r[RACERS];
	int		 round, i, ok;

	for (round = 0; round < 10; round++) {
		new_dest();
		dest.fsync = 0;
		for (i = 0; i < RACERS; i++) {
			r[i].n = i;
			if (pthread_create(&r[i].t, NULL, race_one, &r[i]) != 0)
				fatalx("pthread_create");
		}
		ok = 1;
		for (i = 0; i < RACERS; i++) {
			pthread_join(r[i].t, NULL);
			ok &= r[i].rv == 0;
		}
		CHECK(ok && count_in(at("r/s/t/u/v"), NULL) == RACERS);
	}
}

/* Directories: made or accepted, with their mode and mtime kept. */
static void
test_dir(void)
{
	struct timespec	 mt = { 1500000000, 5 }, mt2 = { 1600000000, 0 };
	char		*cause = NULL;
	int		 code = 0;

	new_dest();
	CHECK(land_dir(&dest, "p/q/r", 0751, &mt, &code, &cause) == 0);
	CHECK(is_a("p/q/r", S_IFDIR, 0751 & ~mask) && mtime_is("p/q/r", &mt));
	CHECK(is_a("p/q", S_IFDIR, 0700 & ~mask));
	/* Set-id and sticky bits are not kept. */
	CHECK(land_dir(&dest, "p/q", 07755, &mt2, &code, &cause) == 0);
	CHECK(is_a("p/q", S_IFDIR, 0755 & ~mask) && mtime_is("p/q", &mt2));
	CHECK(mtime_is("p/q/r", &mt));
	/* An existing directory takes the entry's mode and mtime. */
	CHECK(land_file("p/q/r/f", "f", 0644, NULL, &code, &cause) == 0);
	CHECK(land_dir(&dest, "p/q/r", 0700, &mt2, &code, &cause) == 0);
	CHECK(is_a("p/q/r", S_IFDIR, 0700 & ~mask) && mtime_is("p/q/r", &mt2));
	CHECK(file_is("p/q/r/f", "f", 1));
	/* No mtime: left as it is. */
	CHECK(land_dir(&dest, "p", 0755, NULL, &code, &cause) == 0);
	CHECK(is_a("p", S_IFDIR, 0755 & ~mask));
	CHECK(land_dir(&dest, "empty", 0750, &mt, &code, &cause) == 0);
	CHECK(count_in(at("empty"), NULL) == 0 && mtime_is("empty", &mt));
	CHECK(outside_untouched());
}

/* Symlinks: refused by default; made as symlinks, never followed. */
static void
test_symlink(void)
{
	struct timespec	 mt = { 1400000000, 42 };
	char		 buf[256], *cause = NULL;
	ssize_t		 n;
	int		 code = 0, ns;

	new_dest();
	CHECK(FAILED(land_symlink(&dest, "l", "target", &mt, &code, &cause),
	    ZC_E_DENIED, "symlinks not allowed "
	    "(allow_symlinks = no)"));
	CHECK(count_in(dest.path, NULL) == 0);

	dest.allow_symlinks = 1;
	CHECK(land_symlink(&dest, "s/t/l", outside, &mt, &code, &cause) == 0);
	CHECK(is_a("s/t/l", S_IFLNK, -1) && mtime_is("s/t/l", &mt));
	n = readlink(at("s/t/l"), buf, sizeof(buf));
	CHECK(n == (ssize_t)strlen(outside) && memcmp(buf, outside, n) == 0);
	CHECK(land_symlink(&dest, "s/dangling", "../../nowhere/at/all", NULL,
	    &code, &cause) == 0);
	n = readlink(at("s/dangling"), buf, sizeof(buf));
	CHECK(n == 20 && memcmp(buf, "../../nowhere/at/all", 20) == 0);
	CHECK(count_in(at("s"), &ns) == 2 && ns == 0);
	CHECK(count_in(at("s/t"), &ns) == 1 && ns == 0);

	CHECK(FAILED(land_symlink(&dest, "s/t/l", "other", NULL, &code,
	    &cause), ZC_E_EXISTS, "s/t/l exists"));
	CHECK(FAILED(land_symlink(&dest, "s", "other", NULL, &code, &cause),
	    ZC_E_EXISTS, "s exists"));
	/* Through the symlink it made, nothing lands either. */
	CHECK(FAILED(land_file("s/t/l/f", "x", 0644, NULL, &code, &cause),
	    ZC_E_NAME, "s/t/l is a symlink"));
	dest.overwrite = 1;
	CHECK(land_symlink(&dest, "s/t/l", "other", NULL, &code, &cause) == 0);
	n = readlink(at("s/t/l"), buf, sizeof(buf));
	CHECK(n == 5 && memcmp(buf, "other", 5) == 0);
	CHECK(FAILED(land_symlink(&dest, "s", "other", NULL, &code, &cause),
	    ZC_E_EXISTS, "s is a directory"));
	CHECK(FAILED(land_symlink(&dest, "s/e", "", NULL, &code, &cause),
	    ZC_E_NAME, "symlink target empty"));
	CHECK(count_in(at("s/t"), &ns) == 1 && ns == 0);
	CHECK(outside_untouched());
}

/* Make an empty staging-named file (or symlink) at rel. */
static void
make_stale(const char *rel, int link)
{
	int	 fd;

	if (link) {
		if (symlink("x", at(rel)) == -1)
			fatal("%s", rel);
		return;
	}
	if ((fd = open(at(rel), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		fatal("%s", rel);
	close(fd);
}

/* land_cleanup: stale staging files anywhere beneath go, nothing else. */
static void
test_cleanup(void)
{
	char	 out[PATH_MAX + 64];
	int	 ns;

	new_dest();
	CHECK(mkdir(at("a"), 0700) == 0 && mkdir(at("a/b"), 0700) == 0 &&
	    mkdir(at("a/b/c"), 0700) == 0);
	make_stale(".zcrecvd.0123456789abcdef.part", 0);
	make_stale("a/.zcrecvd.1111111111111111.part", 0);
	make_stale("a/b/c/.zcrecvd.2222222222222222.part", 0);
	/* A symlink under a file's staging name is not ours, ... */
	make_stale("a/b/.zcrecvd.3333333333333333.part", 1);
	/* ... one under a symlink's is, and a file under that is not. */
	make_stale("a/b/.zcrecvd.7777777777777777.link", 1);
	make_stale("a/b/.zcrecvd.8888888888888888.link", 0);
	make_file("keep");
	make_file("a/b/c/keep");
	make_file("a/.zcrecvd.not-staging.part");
	CHECK(mkdir(at("a/.zcrecvd.4444444444444444.part"), 0700) == 0);
	/* Through a symlink, even to a staging file: left alone. */
	snprintf(out, sizeof(out), "%s/.zcrecvd.5555555555555555.part",
	    outside);
	make_stale("moved-out", 0);
	if (rename(at("moved-out"), out) == -1)
		fatal("%s", out);
	CHECK(symlink(outside, at("a/b/out")) == 0);
	/* Deeper than a path may go (a/b/c/d/x: 5 > 4): not looked at. */
	dest.max_path_depth = 4;
	CHECK(mkdir(at("a/b/c/d"), 0700) == 0);
	make_stale("a/b/c/d/.zcrecvd.6666666666666666.part", 0);

	land_cleanup(&dest, 86400, 1);
	CHECK(count_in(dest.path, &ns) == 2 && ns == 0);
	CHECK(count_in(at("a"), &ns) == 3 && ns == 1);
	CHECK(is_a("a/.zcrecvd.4444444444444444.part", S_IFDIR, -1));
	CHECK(count_in(at("a/b"), &ns) == 4 && ns == 1);
	CHECK(is_a("a/b/.zcrecvd.3333333333333333.part", S_IFLNK, -1));
	CHECK(is_a("a/b/.zcrecvd.8888888888888888.link", S_IFREG, -1));
	CHECK(count_in(at("a/b/c"), &ns) == 2 && ns == 0);
	CHECK(count_in(at("a/b/c/d"), &ns) == 1 && ns == 1);
	CHECK(access(out, F_OK) == 0);
	CHECK(unlink(out) == 0);
	dest.max_path_depth = 32;
	land_cleanup(&dest, 86400, 1);
	CHECK(count_in(at("a/b/c/d"), NULL) == 0);
}

/* A key for the sidecar tests: 10 chunks of 1 MiB, the last short. */
static void
keep_test_key(struct keep_key *k)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->ident, sizeof(k->ident), "addr:192.0.2.1");
	snprintf(k->dest, sizeof(k->dest), "default");
	snprintf(k->path, sizeof(k->path), "dir/file.bin");
	k->size = 9 * (1 << 20) + 5;
	k->mtime_sec = 1700000000;
	k->mtime_nsec = 123;
	k->chunk = 1 << 20;
}

/*
 * The sidecar: what keep_sidecar_build writes, keep_sidecar_parse reads
 * back for the same key only; anything cut, garbled, out of order or of
 * another key is refused, never trusted.
 */
static void
test_sidecar(void)
{
	struct keep_key	 k, o;
	struct zc_key	 zk;
	uint8_t		 kept[10], got[10], dg[10 * ZC_DIGEST_LEN];
	uint8_t		 dg2[10 * ZC_DIGEST_LEN], *p;
	char		*cause = NULL, n1[LAND_NAME_BUF], n2[LAND_NAME_BUF];
	char		 i1[KEEP_IDENT_MAX], i2[KEEP_IDENT_MAX];
	const char	*sfx;
	size_t		 len, i;

	keep_test_key(&k);
	memset(kept, 0, sizeof(kept));
	for (i = 0; i < sizeof(dg); i++)
		dg[i] = i * 7 + 1;
	kept[0] = kept[3] = kept[9] = 1;
	p = keep_sidecar_build(&k, 10, kept, dg, &len);
	CHECK(len == KEEP_SIDECAR_HDR + 14 + 7 + 12 + 3 * KEEP_SIDECAR_REC +
	    ZC_DIGEST_LEN);
	memset(dg2, 0, sizeof(dg2));
	CHECK(keep_sidecar_parse(p, len, &k, got, dg2, &cause) == 3);
	CHECK(memcmp(got, kept, sizeof(kept)) == 0);
	CHECK(memcmp(dg2 + 3 * ZC_DIGEST_LEN, dg + 3 * ZC_DIGEST_LEN,
	    ZC_DIGEST_LEN) == 0 && memcmp(dg2 + 9 * ZC_DIGEST_LEN,
	    dg + 9 * ZC_DIGEST_LEN, ZC_DIGEST_LEN) == 0);
	/* Every shorter length, and one byte changed anywhere: refused. */
	for (i = 0; i < len; i++) {
		CHECK(keep_sidecar_parse(p, i, &k, got, dg2, &cause) == -1);
		free(cause);
		cause = NULL;
		p[i] ^= 0x40;
		CHECK(keep_sidecar_parse(p, len, &k, got, dg2, &cause) == -1);
		free(cause);
		cause = NULL;
		p[i] ^= 0x40;
	}
	/* Another sender, size, mtime, path or chunk size: refused. */
	o = k;
	snprintf(o.ident, sizeof(o.ident), "addr:192.0.2.2");
	CHECK(keep_sidecar_parse(p, len, &o, got, dg2, &cause) == -1);
	free(cause);
	o = k;
	o.mtime_nsec++;
	CHECK(keep_sidecar_parse(p, len, &o, got, dg2, &cause) == -1);
	free(cause);
	o = k;
	o.size++;
	CHECK(keep_sidecar_parse(p, len, &o, got, dg2, &cause) == -1);
	free(cause);
	free(p);
	/* Garbage: refused. */
	p = malloc(4096);
	for (i = 0; i < 4096; i++)
		p[i] = i * 13;
	CHECK(keep_sidecar_parse(p, 4096, &k, got, dg2, &cause) == -1);
	free(cause);
	free(p);
	/* Identities: one per key, and never the key itself. */
	memset(&zk, 0, sizeof(zk));
	memcpy(zk.key, "0123456789abcdef", 16);
	zk.len = 16;
	keep_ident_key(&zk, i1, sizeof(i1));
	keep_ident_key(&zk, i2, sizeof(i2));
	CHECK(strcmp(i1, i2) == 0 && strlen(i1) == 4 + 64 &&
	    strncmp(i1, "key:", 4) == 0 && strstr(i1, "30313233") == NULL);
	zk.key[15] ^= 1;
	keep_ident_key(&zk, i2, sizeof(i2));
	CHECK(strcmp(i1, i2) != 0);
	/* Names: same key, same name; the first half is who and where. */
	keep_name(&k, n1, sizeof(n1));
	keep_name(&k, n2, sizeof(n2));
	CHECK(strcmp(n1, n2) == 0 && land_keep_form(n1, &sfx) &&
	    strcmp(sfx, LAND_KEEP_SUFFIX) == 0 && !land_is_staging(n1));
	o = k;
	o.size++;
	keep_name(&o, n2, sizeof(n2));
	CHECK(strncmp(n1, n2, 9 + 16) == 0 && strcmp(n1, n2) != 0);
	o = k;
	snprintf(o.ident, sizeof(o.ident), "addr:192.0.2.2");
	keep_name(&o, n2, sizeof(n2));
	CHECK(strncmp(n1, n2, 9 + 16) != 0);
}

/*
 * land_cleanup and resume partials: kept at start-up unless older than
 * resume_keep (then with their sidecar); a sidecar without its partial
 * and, at start-up, a sidecar's temporary go.
 */
static void
test_cleanup_keep(void)
{
	struct timespec	 old[2] = { { 1000, 0 }, { 1000, 0 } };
	const char	*a = ".zcrecvd.0123456789abcdef0123456789abcdef";
	const char	*b = ".zcrecvd.fedcba9876543210fedcba9876543210";
	const char	*z = ".zcrecvd.00000000000000000000000000000000";
	char		 n[128];
	int		 ns;

	new_dest();
	snprintf(n, sizeof(n), "%s.resume", a);
	make_file(n);
	snprintf(n, sizeof(n), "%s.chunks", a);
	make_file(n);
	snprintf(n, sizeof(n), "%s.chunks.new", a);
	make_file(n);
	snprintf(n, sizeof(n), "%s.resume", b);
	make_file(n);
	CHECK(utimensat(AT_FDCWD, at(n), old, 0) == 0);
	snprintf(n, sizeof(n), "%s.chunks", b);
	make_file(n);
	CHECK(utimensat(AT_FDCWD, at(n), old, 0) == 0);
	snprintf(n, sizeof(n), "%s.chunks", z);
	make_file(n);
	land_cleanup(&dest, 3600, 0);		/* running: temp stays */
	CHECK(count_in(dest.path, &ns) == 3);
	land_cleanup(&dest, 3600, 1);
	CHECK(count_in(dest.path, &ns) == 2);
	snprintf(n, sizeof(n), "%s.resume", a);
	CHECK(is_a(n, S_IFREG, -1));
	snprintf(n, sizeof(n), "%s.chunks", a);
	CHECK(is_a(n, S_IFREG, -1));
}

/*
 * A landing its owner zeroed holds nothing: aborting or releasing it
 * closes no descriptor (not 0), and a failed land_open leaves none open.
 */
static void
test_release(void)
{
	struct landing	 l;
	char		*cause = NULL;
	int		 code = 0, before;

	if (fcntl(0, F_GETFD) == -1 && open("/dev/null", O_RDONLY) != 0)
		fatal("/dev/null");
	memset(&l, 0, sizeof(l));
	l.fd = -1;
	land_abort(&l);
	land_release(&l);
	CHECK(fcntl(0, F_GETFD) != -1);

	new_dest();
	make_file("f");
	before = nfds();
	CHECK(land_open(&l, &dest, "f", &code, &cause) == -1);
	free(cause);
	CHECK(l.fd == -1 && l.dirfd == -1 && nfds() == before);
	land_abort(&l);
	CHECK(land_open(&l, &dest, "f/g/h", &code, &cause) == -1);
	free(cause);
	CHECK(nfds() == before);
	CHECK(land_open(&l, &dest, "g/h", &code, &cause) == 0);
	CHECK(nfds() == before + 2);
	land_abort(&l);
	land_abort(&l);
	CHECK(nfds() == before && count_in(at("g"), NULL) == 0);
}

/*
 * From now on, openat2() fails with ENOSYS, as under a seccomp filter
 * that does not know it (systemd's SystemCallFilter= may not).  No
 * architecture check: in a test, any syscall of that number may fail.
 */
static int
deny_openat2(void)
{
	struct sock_filter	 f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog	 prog = {
		.len = sizeof(f) / sizeof(f[0]), .filter = f
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1)
		return (-1);
	return (0);
}

/* Every case, each in destinations of its own. */
static void
test_all(void)
{
	test_path_ok();
	test_nested();
	test_split();
	test_symlink_on_path();
	test_not_dir();
	test_exists();
	test_race();
	test_dir();
	test_symlink();
	test_cleanup();
	test_sidecar();
	test_cleanup_keep();
	test_release();
}

int
main(void)
{
	const char	*t;
	int		 r;

	log_init("test_land", LOG_LEVEL_WARN, 0);
	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmp, sizeof(tmp), "%s/test_land.XXXXXX", t);
	if (mkdtemp(tmp) == NULL)
		fatal("mkdtemp %s", tmp);
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	if (mkdir(outside, 0700) == -1)
		fatal("%s", outside);
	mask = umask(0);
	umask(mask);
	dest.dirfd = -1;

	test_all();
	/* Again where openat2() is refused: land.c walks the paths itself. */
	if (deny_openat2() == -1)
		fatal("seccomp");
	CHECK(syscall(SYS_openat2, AT_FDCWD, ".", NULL, 0) == -1 &&
	    errno == ENOSYS);
	test_all();

	r = unit_done("test_land");
	close(dest.dirfd);
	free(dest.path);
	rm_tree(tmp);
	return (r);
}
