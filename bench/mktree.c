/*
 * mktree -- make a reproducible tree of many small files for bench/tree.sh.
 *
 *	mktree [-s SEED] [-t MTIME] DIR COUNT SIZE TOP SUB
 *
 * Creates DIR/dTT/dSS/fNNNNNNN.bin: TOP directories of SUB directories
 * each, COUNT files of SIZE bytes spread evenly over the TOP * SUB leaf
 * directories in order (file i goes to leaf i * leaves / COUNT).  File
 * names are unique across the tree, so the files can also be landed flat.
 * Content is a pseudo-random stream (splitmix64) seeded by SEED and the
 * file's number: the same arguments make the same bytes on every machine,
 * and no two files are alike.  Files get mode 0644, directories 0755, and
 * every entry the mtime MTIME (seconds since the epoch, default
 * 1700000000), directories last.  DIR must not exist.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: mktree [-s seed] [-t mtime] dir count size "
	    "top sub\n");
	exit(2);
}

static void __attribute__((noreturn))
die(const char *what, const char *path)
{
	fprintf(stderr, "mktree: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static unsigned long long
num(const char *s)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0')
		usage();
	return (v);
}

/* splitmix64: tiny, fast, and the same everywhere. */
static uint64_t
next(uint64_t *s)
{
	uint64_t	 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

/* Set a path's atime and mtime to t. */
static void
stamp(const char *path, time_t t)
{
	struct timespec	 ts[2] = { { t, 0 }, { t, 0 } };

	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == -1)
		die("utimensat", path);
}

static void
write_file(const char *path, uint64_t seed, uint64_t size, uint8_t *buf,
    size_t bufsz)
{
	uint64_t	 s = seed, left = size, w;
	size_t		 n, i;
	ssize_t		 k;
	int		 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644)) == -1)
		die("create", path);
	if (fchmod(fd, 0644) == -1)
		die("chmod", path);
	while (left > 0) {
		n = left < bufsz ? (size_t)left : bufsz;
		for (i = 0; i < n; i += 8) {
			w = next(&s);
			memcpy(buf + i, &w, n - i < 8 ? n - i : 8);
		}
		for (i = 0; i < n; i += (size_t)k)
			if ((k = write(fd, buf + i, n - i)) <= 0)
				die("write", path);
		left -= n;
	}
	if (close(fd) == -1)
		die("close", path);
}

int
main(int argc, char **argv)
{
	unsigned long long	 count, size, top, sub, leaves, i, leaf;
	uint64_t		 seed = 1;
	time_t			 mtime = 1700000000;
	char			 path[4096];
	uint8_t			*buf;
	size_t			 bufsz = 1 << 20;
	int			 ch;

	while ((ch = getopt(argc, argv, "s:t:")) != -1) {
		switch (ch) {
		case 's':
			seed = num(optarg);
			break;
		case 't':
			mtime = (time_t)num(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 5)
		usage();
	count = num(argv[1]);
	size = num(argv[2]);
	top = num(argv[3]);
	sub = num(argv[4]);
	if (count == 0 || top == 0 || sub == 0 || top > 1000 || sub > 1000 ||
	    count > 10000000)
		usage();
	leaves = top * sub;
	umask(022);
	if ((buf = malloc(bufsz)) == NULL)
		die("malloc", "");
	if (mkdir(argv[0], 0755) == -1)
		die("mkdir", argv[0]);
	for (i = 0; i < leaves; i++) {
		snprintf(path, sizeof(path), "%s/d%03llu", argv[0], i / sub);
		if (i % sub == 0 && mkdir(path, 0755) == -1)
			die("mkdir", path);
		snprintf(path, sizeof(path), "%s/d%03llu/d%03llu", argv[0],
		    i / sub, i % sub);
		if (mkdir(path, 0755) == -1)
			die("mkdir", path);
	}
	for (i = 0; i < count; i++) {
		leaf = i * leaves / count;
		snprintf(path, sizeof(path), "%s/d%03llu/d%03llu/f%07llu.bin",
		    argv[0], leaf / sub, leaf % sub, i);
		write_file(path, seed * 0x100000001b3ULL + i, size, buf, bufsz);
		stamp(path, mtime);
	}
	/* Directories after their contents, deepest first. */
	for (i = 0; i < leaves; i++) {
		snprintf(path, sizeof(path), "%s/d%03llu/d%03llu", argv[0],
		    i / sub, i % sub);
		stamp(path, mtime);
		if (i % sub == sub - 1) {
			snprintf(path, sizeof(path), "%s/d%03llu", argv[0],
			    i / sub);
			stamp(path, mtime);
		}
	}
	stamp(argv[0], mtime);
	free(buf);
	return (0);
}
