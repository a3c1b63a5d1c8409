/*
 * test_xfer.c -- a file in flight, without sockets: the staging file and
 * its landing (land.c), the sink and its digest (sink.c), an xfer from its
 * FILE record to its RESULT and every way it refuses or fails (xfer.c),
 * and the io mode table (iomode.c).  The source is a buffer of
 * pseudo-random bytes; files go to a temporary directory on a real disk
 * where there is one, so that O_DIRECT and io_uring are tried too.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <linux/magic.h>
#include <xxhash.h>

#include "zcrecvd.h"
#include "unit.h"

/*
 * Stub: the process-wide counters are defined in zcrecvd.c, which holds
 * main() and is not linked into unit tests; xfer.c counts into them.
 */
struct stats		 stats;

#define MIB		(1U << 20)
#define REC		MIB		/* DATA record body */
#define SRC_SIZE	(8 * MIB)	/* the fake sender's bytes */
#define MAX_TICKETS	64

static char		 tmp[256];	/* everything goes under here */
static char		 confpath[300];
static uint8_t		*src;		/* ZC_BLOCK aligned */
static int		 dio;		/* tmp can do O_DIRECT */
static struct conf	*conf;
static struct worker	 w;		/* xfer uses base, pool, busy */
static struct sockaddr_in lo;		/* the peer: 127.0.0.1 */
static mode_t		 mask;		/* the umask */
static int		 nwritten;	/* xfer_on_written callbacks */
static void		*written_arg;	/* ... last one's argument */

/* The subdirectories, one per destination, and one for raw sinks. */
static const char	*subdirs[] = {
	"dest", "small", "discard", "over", "full", "noverify", "sink",
	"direct"
};
#define NSUBDIRS	(sizeof(subdirs) / sizeof(subdirs[0]))

/* XXH3-128 of buf in canonical form, as the sender computes it. */
static void
digest_of(const uint8_t *buf, size_t len, uint8_t *dg)
{
	XXH128_canonical_t	 c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
	memcpy(dg, c.digest, ZC_DIGEST_LEN);
}

/* The path of name in subdirectory sub. */
static const char *
path_of(const char *sub, const char *name)
{
	static char	 p[1024];

	snprintf(p, sizeof(p), "%s/%s%s%s", tmp, sub, name[0] ? "/" : "",
	    name);
	return (p);
}

/* Entries in subdirectory sub; *staging says how many are staging files. */
static int
dir_count(const char *sub, int *staging)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0, ns = 0;

	if ((d = opendir(path_of(sub, ""))) == NULL)
		fatal("opendir %s", sub);
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

/* Is subdirectory sub empty? */
static int
dir_empty(const char *sub)
{
	return (dir_count(sub, NULL) == 0);
}

/* Does sub/name hold exactly the len bytes at buf? */
static int
file_is(const char *sub, const char *name, const uint8_t *buf, size_t len)
{
	struct stat	 sb;
	uint8_t		*got;
	ssize_t		 n;
	int		 fd, ok;

	if ((fd = open(path_of(sub, name), O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	if (fstat(fd, &sb) == -1 || (uint64_t)sb.st_size != len) {
		close(fd);
		return (0);
	}
	got = xmalloc(len + 1);
	n = pread(fd, got, len + 1, 0);
	ok = n == (ssize_t)len && memcmp(got, buf, len) == 0;
	free(got);
	close(fd);
	return (ok);
}

/* Permission bits of sub/name, or -1. */
static int
file_mode(const char *sub, const char *name)
{
	struct stat	 sb;

	if (stat(path_of(sub, name), &sb) == -1)
		return (-1);
	return (sb.st_mode & 07777);
}

/* Create sub/name with a few bytes in it. */
static void
make_file(const char *sub, const char *name)
{
	int	 fd;

	if ((fd = open(path_of(sub, name), O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644)) == -1 || write(fd, "old\n", 4) != 4)
		fatal("%s", path_of(sub, name));
	close(fd);
}

/* Remove sub/name; 0 if it was there. */
static int
remove_file(const char *sub, const char *name)
{
	return (unlink(path_of(sub, name)));
}

/* The temporary directory: $TMPDIR, else /tmp unless that is a tmpfs. */
static const char *
tmp_base(void)
{
	struct statfs	 sf;
	const char	*t;

	if ((t = getenv("TMPDIR")) != NULL && *t != '\0')
		return (t);
	if (statfs("/tmp", &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		return ("/var/tmp");
	return ("/tmp");
}

/* Write the configuration: one destination per subdirectory. */
static void
write_conf(void)
{
	FILE	*fp;

	if ((fp = fopen(confpath, "w")) == NULL ||
	    fchmod(fileno(fp), 0600) == -1)
		fatal("%s", confpath);
	fprintf(fp, "[server]\nlisten = 127.0.0.1:0\n\n"
	    "[default]\npath = %s/dest\nio = write\nverify = xxh3\n"
	    "fsync = yes\noverwrite = no\nmin_free = 0\n\n"
	    "[small]\npath = %s/small\nio = write\nmax_file_size = 1M\n"
	    "min_free = 0\n\n"
	    "[discard]\npath = %s/discard\nio = discard\nmin_free = 0\n\n"
	    "[over]\npath = %s/over\nio = write\noverwrite = yes\n"
	    "min_free = 0\n\n"
	    "[full]\npath = %s/full\nio = write\nmin_free = 1000000T\n\n"
	    "[noverify]\npath = %s/noverify\nio = write\nverify = none\n"
	    "fsync = no\nmin_free = 0\n\n", tmp, tmp, tmp, tmp, tmp, tmp);
	if (dio)
		fprintf(fp, "[direct]\npath = %s/direct\nio = direct\n"
		    "min_free = 0\n", tmp);
	if (fclose(fp) != 0)
		fatal("%s", confpath);
}

/* The fake sender's bytes: xorshift64, the same on every run. */
static void
fill_source(void)
{
	uint64_t	 r = 0x9e3779b97f4a7c15ULL;
	size_t		 i;

	if (posix_memalign((void **)&src, ZC_BLOCK, SRC_SIZE) != 0)
		fatalx("posix_memalign");
	for (i = 0; i < SRC_SIZE; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		src[i] = r >> 32;
	}
}

/* Make the directories, the source bytes, the config and the worker. */
static void
setup(void)
{
	char		*cause = NULL;
	size_t		 i;
	int		 fd, nerr;

	snprintf(tmp, sizeof(tmp), "%s/test_xfer.XXXXXX", tmp_base());
	if (mkdtemp(tmp) == NULL)
		fatal("mkdtemp %s", tmp);
	for (i = 0; i < NSUBDIRS; i++)
		if (mkdir(path_of(subdirs[i], ""), 0700) == -1)
			fatal("mkdir %s", subdirs[i]);
	if ((fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s", tmp);
	dio = sink_probe_direct(fd);
	close(fd);
	if (!dio)
		printf("test_xfer: %s cannot do O_DIRECT: direct cases "
		    "skipped\n", tmp);
	fill_source();
	snprintf(confpath, sizeof(confpath), "%s/zcrecvd.conf", tmp);
	write_conf();
	if ((conf = conf_load(confpath, &nerr)) == NULL)
		fatalx("%s: %d errors", confpath, nerr);
	if (conf_open_dests(conf, &cause) == -1)
		fatalx("%s", cause);

	if ((w.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	lo.sin_family = AF_INET;
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	mask = umask(0);
	umask(mask);
}

/* Remove everything setup() made. */
static void
teardown(void)
{
	struct dirent	*de;
	DIR		*d;
	size_t		 i;

	sink_pool_free(&w.pool);
	for (i = 0; i < NSUBDIRS; i++) {
		if ((d = opendir(path_of(subdirs[i], ""))) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' || land_is_staging(de->d_name))
				unlink(path_of(subdirs[i], de->d_name));
		closedir(d);
		rmdir(path_of(subdirs[i], ""));
	}
	unlink(confpath);
	rmdir(tmp);
	conf_unref(conf);
	event_base_free(w.base);
	free(src);
}

/* Let the loop run what is due: xfers freed after their last unref. */
static void
run_loop(void)
{
	event_base_loop(w.base, EVLOOP_NONBLOCK);
}

/* land_is_staging: the exact form and nothing else. */
static void
test_land_names(void)
{
	CHECK(land_is_staging(".zcrecvd.0123456789abcdef.part"));
	CHECK(land_is_staging(".zcrecvd.ffffffffffffffff.part"));
	CHECK(!land_is_staging(".zcrecvd.0123456789abcde.part"));
	CHECK(!land_is_staging(".zcrecvd.0123456789abcdef0.part"));
	CHECK(!land_is_staging(".zcrecvd.0123456789ABCDEF.part"));
	CHECK(!land_is_staging(".zcrecvd.0123456789abcdeg.part"));
	CHECK(!land_is_staging(".zcrecvX.0123456789abcdef.part"));
	CHECK(!land_is_staging("xzcrecvd.0123456789abcdef.part"));
	CHECK(!land_is_staging(".zcrecvd.0123456789abcdef.parT"));
	CHECK(!land_is_staging(".zcrecvd.0123456789abcdef.prt"));
	CHECK(!land_is_staging(".zcrecvd.0123456789abcdef.part/"));
	CHECK(!land_is_staging(""));
	CHECK(!land_is_staging("file.part"));
}

/* land_open and land_commit: staged under a staging name, then landed. */
static void
test_land_commit(void)
{
	struct dest	*d = conf_find_dest(conf, "");
	struct landing	 l;
	char		 staging[LAND_STAGING_LEN], *cause = NULL;
	mode_t		 old;
	int		 code = 0, ns;

	CHECK(land_open(&l, d, "landed", &code, &cause) == 0);
	CHECK(l.fd != -1 && land_is_staging(l.staging));
	CHECK(dir_count("dest", &ns) == 1 && ns == 1);
	CHECK(write(l.fd, src, 5000) == 5000);
	memcpy(staging, l.staging, sizeof(staging));
	old = umask(027);
	land_read_umask();	/* zcrecvd reads it once */
	CHECK(land_commit(&l, d, 04764, NULL, &code, &cause) == 0);
	umask(old);
	land_read_umask();
	CHECK(l.fd == -1);
	CHECK(file_is("dest", "landed", src, 5000));
	CHECK(file_mode("dest", "landed") == 0740);
	CHECK(faccessat(d->dirfd, staging, F_OK, 0) == -1 && errno == ENOENT);
	CHECK(dir_count("dest", &ns) == 1 && ns == 0);
	free(cause);
}

/* land_open refuses an existing name; land_abort removes the staging file. */
static void
test_land_refuse(void)
{
	struct dest	*d = conf_find_dest(conf, "");
	struct landing	 l;
	char		*cause = NULL;
	int		 code = 0, ns;

	CHECK(land_open(&l, d, "landed", &code, &cause) == -1);
	CHECK(code == ZC_E_EXISTS && cause != NULL && l.fd == -1);
	free(cause);
	cause = NULL;
	CHECK(dir_count("dest", &ns) == 1 && ns == 0);
	CHECK(file_is("dest", "landed", src, 5000));
	CHECK(remove_file("dest", "landed") == 0);

	/* A symlink, even dangling, is an existing name. */
	CHECK(symlink("nowhere", path_of("dest", "link")) == 0);
	code = 0;
	CHECK(land_open(&l, d, "link", &code, &cause) == -1);
	CHECK(code == ZC_E_EXISTS && dir_count("dest", NULL) == 1);
	free(cause);
	cause = NULL;
	CHECK(remove_file("dest", "link") == 0);

	CHECK(land_open(&l, d, "aborted", &code, &cause) == 0);
	CHECK(write(l.fd, src, 100) == 100);
	CHECK(dir_count("dest", &ns) == 1 && ns == 1);
	land_abort(&l);
	CHECK(l.fd == -1 && l.staging[0] == '\0');
	CHECK(dir_empty("dest"));
	land_abort(&l);		/* twice is harmless */
	free(cause);
}

/* overwrite = yes: the landing replaces what has the name. */
static void
test_land_overwrite(void)
{
	struct dest	*d = conf_find_dest(conf, "over");
	struct landing	 l;
	char		*cause = NULL;
	int		 code = 0;

	make_file("over", "f");
	CHECK(land_open(&l, d, "f", &code, &cause) == 0);
	CHECK(write(l.fd, src, 3000) == 3000);
	CHECK(land_commit(&l, d, 0600, NULL, &code, &cause) == 0);
	CHECK(file_is("over", "f", src, 3000));
	CHECK(dir_count("over", NULL) == 1);
	CHECK(remove_file("over", "f") == 0);
	free(cause);
}

/* Open a raw sink file in the sink directory. */
static int
sink_file(const char *name)
{
	int	 fd;

	if ((fd = open(path_of("sink", name), O_RDWR | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1)
		fatal("%s", name);
	return (fd);
}

/* SINK_WRITE, blocks out of order: the digest is still the whole file's. */
static void
test_sink_write(void)
{
	struct sink	 s;
	struct sink_pool pool = { 0 };
	uint8_t		 dg[ZC_DIGEST_LEN], want[ZC_DIGEST_LEN];
	char		*cause = NULL;
	const uint64_t	 size = MIB + 777, blk = 65536;
	uint64_t	 off, len;
	int		 fd, i, nblk = (size + blk - 1) / blk;

	fd = sink_file("write.bin");
	CHECK(sink_open(&s, SINK_WRITE, fd, tmp, size, 1, &pool, &cause) == 0);
	CHECK(sink_verifying(&s));
	/* 7 is prime to 17 blocks: each block once, most out of order. */
	CHECK(nblk == 17);
	for (i = 0; i < nblk; i++) {
		off = (uint64_t)(i * 7 % nblk) * blk;
		len = size - off < blk ? size - off : blk;
		CHECK(sink_write(&s, src + off, len, off, &cause) == 0);
	}
	CHECK(s.hashed < size);		/* the read-back path is tried */
	CHECK(sink_write(&s, src, 10, size - 5, &cause) == -1);
	CHECK(cause != NULL);
	free(cause);
	cause = NULL;
	CHECK(sink_write(&s, src, 1, size, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(sink_finish(&s, dg, &cause) == 0);
	digest_of(src, size, want);
	CHECK(memcmp(dg, want, sizeof(dg)) == 0);
	CHECK(file_is("sink", "write.bin", src, size));
	sink_close(&s);
	sink_pool_free(&pool);
	close(fd);
	CHECK(remove_file("sink", "write.bin") == 0);
	free(cause);
}

/* SINK_WRITE in order, and without verifying: no digest at all. */
static void
test_sink_noverify(void)
{
	struct sink	 s;
	struct sink_pool pool = { 0 };
	uint8_t		 dg[ZC_DIGEST_LEN], zero[ZC_DIGEST_LEN];
	char		*cause = NULL;
	int		 fd;

	fd = sink_file("plain.bin");
	CHECK(sink_open(&s, SINK_WRITE, fd, tmp, 10000, 0, &pool, &cause) == 0);
	CHECK(!sink_verifying(&s));
	CHECK(sink_write(&s, src, 8192, 0, &cause) == 0);
	CHECK(sink_write(&s, src + 8192, 10000 - 8192, 8192, &cause) == 0);
	memset(dg, 0, sizeof(dg));
	memset(zero, 0, sizeof(zero));
	CHECK(sink_finish(&s, dg, &cause) == 0);
	CHECK(memcmp(dg, zero, sizeof(dg)) == 0);
	CHECK(file_is("sink", "plain.bin", src, 10000));
	sink_close(&s);
	sink_pool_free(&pool);
	close(fd);
	CHECK(remove_file("sink", "plain.bin") == 0);
	free(cause);
}

/* Wait for the tickets of sink s; 0 if all went well. */
static int
sink_wait_tickets(struct sink *s, const int *t, int nt)
{
	char	*cause = NULL;
	int	 i, r = 0;

	for (i = 0; i < nt; i++) {
		if (sink_wait(s, t[i], &cause) == -1) {
			fprintf(stderr, "sink_wait %d: %s\n", t[i], cause);
			r = -1;
		}
		free(cause);
		cause = NULL;
	}
	return (r);
}

/*
 * Rings come from the worker's pool and go back to it when idle: the next
 * file gets the same ring, with no completion of the last owner's left to
 * see, and writes through it as well; the pool keeps SINK_POOL_MAX.
 */
static void
test_sink_pool(void)
{
	struct sink	 s, many[SINK_POOL_MAX + 1];
	struct sink_pool pool = { 0 };
	struct io_uring	*ring;
	uint8_t		 dg[ZC_DIGEST_LEN], want[ZC_DIGEST_LEN];
	char		*cause = NULL;
	int		 fd, i, t = -1, round;

	fd = sink_file("pool.bin");
	for (round = 0; round < 2; round++) {
		CHECK(sink_open(&s, SINK_WRITE, fd, tmp, 3 * 4096, 1, &pool,
		    &cause) == 0);
		CHECK(s.ring != NULL && s.efd != -1 && pool.nfree == 0);
		if (round == 0)
			ring = s.ring;
		else
			CHECK(s.ring == ring);	/* the same, reused */
		CHECK(sink_write_async(&s, src, 2 * 4096, 0, &t, &cause) == 1);
		CHECK(sink_write(&s, src + 2 * 4096, 4096, 2 * 4096,
		    &cause) == 0);
		CHECK(sink_wait_tickets(&s, &t, 1) == 0);
		CHECK(sink_finish(&s, dg, &cause) == 0);
		digest_of(src, 3 * 4096, want);
		CHECK(memcmp(dg, want, sizeof(dg)) == 0);
		CHECK(file_is("sink", "pool.bin", src, 3 * 4096));
		sink_close(&s);
		CHECK(s.ring == NULL && pool.nfree == 1 && pool.aio == 0);
		CHECK(ftruncate(fd, 0) == 0);
	}
	for (i = 0; i < SINK_POOL_MAX + 1; i++)
		CHECK(sink_open(&many[i], SINK_WRITE, fd, tmp, 4096, 0, &pool,
		    &cause) == 0 && many[i].ring != NULL);
	CHECK(pool.nfree == 0);
	for (i = 0; i < SINK_POOL_MAX + 1; i++)
		sink_close(&many[i]);
	CHECK(pool.nfree == SINK_POOL_MAX);
	CHECK(sink_open(&s, SINK_WRITE, fd, tmp, 0, 0, &pool, &cause) == 0);
	CHECK(s.ring == NULL);		/* an empty file needs none */
	sink_close(&s);
	sink_pool_free(&pool);
	CHECK(pool.nfree == 0);
	close(fd);
	CHECK(remove_file("sink", "pool.bin") == 0);
	free(cause);
}

/* Writes queued from the sink's own buffer (the padded tail). */
static int
own_queued(const struct sink *s)
{
	int	 i, n = 0;

	for (i = 0; i < SINK_AIO_SLOTS; i++)
		n += s->aio[i].len != 0 && s->aio[i].own;
	return (n);
}

/* Are the nt tickets all different? */
static int
tickets_distinct(const int *t, int nt)
{
	int	 i, j;

	for (i = 0; i < nt; i++)
		for (j = i + 1; j < nt; j++)
			if (t[i] == t[j])
				return (0);
	return (1);
}

/* SINK_DIRECT, async where it can: size and bytes exact after the tail. */
static void
test_sink_direct(void)
{
	struct sink	 s;
	struct sink_pool pool = { 0 };
	uint8_t		 dg[ZC_DIGEST_LEN], want[ZC_DIGEST_LEN];
	char		*cause = NULL;
	const uint64_t	 size = 3 * MIB + 100;
	uint64_t	 off, n;
	int		 fd, r, t[MAX_TICKETS], nt = 0;

	if (!dio)
		return;
	fd = sink_file("direct.bin");
	CHECK(sink_open(&s, SINK_DIRECT, fd, tmp, size, 1, &pool, &cause) == 0);
	CHECK(s.direct && s.dio_align > 0 && s.dio_align <= ZC_BLOCK);
	for (off = 0; off < size; off += n) {
		n = size - off < REC ? size - off : REC;
		r = sink_write_async(&s, src + off, n, off, &t[nt], &cause);
		CHECK(r == 0 || r == 1);
		if (r == 1) {
			CHECK(t[nt] >= 0 && t[nt] < SINK_AIO_SLOTS);
			nt++;
		}
		if (off + n == size)
			CHECK(r == 0);	/* a tail is never queued */
	}
	if (s.ring == NULL)
		printf("test_xfer: no io_uring: async writes not tried\n");
	else	/* and the padded tail, queued from the sink's buffer */
		CHECK(nt == 3 && pool.aio == 4 && tickets_distinct(t, nt) &&
		    own_queued(&s) == 1 && s.truncate);
	CHECK(sink_wait_tickets(&s, t, nt) == 0);
	CHECK(pool.aio == own_queued(&s));
	CHECK(sink_finish(&s, dg, &cause) == 0);
	CHECK(pool.aio == 0 && sink_idle(&s));
	digest_of(src, size, want);
	CHECK(memcmp(dg, want, sizeof(dg)) == 0);
	CHECK(file_is("sink", "direct.bin", src, size));
	sink_close(&s);
	sink_pool_free(&pool);
	close(fd);
	CHECK(remove_file("sink", "direct.bin") == 0);
	free(cause);
}

/* SINK_DIRECT given an unaligned write mid-file: buffered from then on. */
static void
test_sink_direct_unaligned(void)
{
	struct sink	 s;
	struct sink_pool pool = { 0 };
	uint8_t		 dg[ZC_DIGEST_LEN], want[ZC_DIGEST_LEN];
	char		*cause = NULL;
	const uint64_t	 size = 3 * ZC_BLOCK + 10;
	int		 fd;

	if (!dio)
		return;
	fd = sink_file("unaligned.bin");
	CHECK(sink_open(&s, SINK_DIRECT, fd, tmp, size, 1, &pool, &cause) == 0);
	CHECK(sink_write(&s, src, ZC_BLOCK, 0, &cause) == 0 && s.direct);
	CHECK(sink_write(&s, src + ZC_BLOCK, 1000, ZC_BLOCK, &cause) == 0);
	CHECK(!s.direct);
	CHECK(sink_write(&s, src + ZC_BLOCK + 1000, size - ZC_BLOCK - 1000,
	    ZC_BLOCK + 1000, &cause) == 0);
	CHECK(sink_finish(&s, dg, &cause) == 0);
	digest_of(src, size, want);
	CHECK(memcmp(dg, want, sizeof(dg)) == 0);
	CHECK(file_is("sink", "unaligned.bin", src, size));
	sink_close(&s);
	sink_pool_free(&pool);
	close(fd);
	CHECK(remove_file("sink", "unaligned.bin") == 0);
	free(cause);
}

/* A FILE record for name of size bytes to destination dest. */
static void
file_rec(struct zc_file *f, const char *dest, const char *name, uint64_t size)
{
	memset(f, 0, sizeof(*f));
	f->size = size;
	f->mode = 0644;
	f->digest_alg = ZC_DIGEST_XXH3_128;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->name_len = strlen(f->name);
	snprintf(f->dest, sizeof(f->dest), "%s", dest);
	f->dest_len = strlen(f->dest);
}

/* An xfer whose destination was found; NULL (checked) if it was not. */
static struct xfer *
start(const char *dest, const char *name, uint64_t size)
{
	struct zc_file	 f;
	struct xfer	*x;
	char		*cause = NULL;
	int		 code = 0, r;

	file_rec(&f, dest, name, size);
	x = xfer_new(&w, "127.0.0.1:9", &f);
	r = xfer_target(x, conf, (struct sockaddr *)&lo, &code, &cause);
	CHECK(r == 0 && x->dest != NULL && x->io != NULL);
	if (r == -1) {
		fprintf(stderr, "xfer_target: %s\n", cause);
		free(cause);
		xfer_unref(x);
		return (NULL);
	}
	return (x);
}

/* Start an xfer and open it with sink sk; NULL (checked) on failure. */
static struct xfer *
start_open(const char *dest, const char *name, uint64_t size,
    enum sink_kind sk)
{
	struct xfer	*x;
	char		*cause = NULL;
	int		 code = 0, r;

	if ((x = start(dest, name, size)) == NULL)
		return (NULL);
	r = xfer_open(x, sk, &code, &cause);
	CHECK(r == 0);
	if (r == -1) {
		fprintf(stderr, "xfer_open: %s\n", cause);
		free(cause);
		xfer_abort(x, code, "open failed");
		xfer_unref(x);
		return (NULL);
	}
	return (x);
}

/*
 * Feed bytes [from, to) of the source to x in records of REC bytes (the
 * last one short), as the connection does; queued writes leave their
 * tickets in t.  Returns the number of tickets, -1 on failure.
 */
static int
feed(struct xfer *x, uint64_t from, uint64_t to, int async, int *t)
{
	uint64_t	 off, n;
	char		*cause = NULL;
	int		 code = 0, nt = 0, r;

	for (off = from; off < to; off += n) {
		n = to - off < REC ? to - off : REC;
		if (xfer_place(x, off, n, &code, &cause) == -1)
			goto fail;
		if (async && nt < MAX_TICKETS)
			r = xfer_write_async(x, src + off, n, off, &t[nt],
			    &code, &cause);
		else
			r = xfer_write(x, src + off, n, off, &code, &cause);
		if (r == -1)
			goto fail;
		nt += r;
		xfer_took(x, n, RX_MAP);
	}
	return (nt);
fail:
	fprintf(stderr, "feed %llu: %s\n", (unsigned long long)off, cause);
	free(cause);
	return (-1);
}

/* Run the worker's loop until the writes of t are done; 0 after 10 s. */
static int
await_written(struct xfer *x, const int *t, int nt)
{
	uint64_t	 deadline = util_now_ns() + 10 * UTIL_NS_PER_SEC;
	int		 i, done;

	for (;;) {
		for (i = done = 0; i < nt; i++)
			done += xfer_written(x, t[i]);
		if (done == nt)
			return (1);
		if (util_now_ns() > deadline)
			return (0);
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/*
 * Run the worker's loop until the completion callback has run; 0 after
 * 10 s.  (await_written can see the writes done, reaped by xfer_written,
 * before the loop has read the eventfd that calls it.)
 */
static int
await_callback(void)
{
	uint64_t	 deadline = util_now_ns() + 10 * UTIL_NS_PER_SEC;

	while (nwritten == 0) {
		if (util_now_ns() > deadline)
			return (0);
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	return (1);
}

/* xfer_on_written: count the calls. */
static void
written_cb(void *arg)
{
	written_arg = arg;
	nwritten++;
}

/* Wait for the queued writes of x the way a connection does. */
static void
wait_queued(struct xfer *x, const int *t, int nt)
{
	char	*cause = NULL;
	int	 code = 0, i;

	if (nt == 0) {
		if (x->sink.ring == NULL)
			printf("test_xfer: no io_uring: async writes not "
			    "tried\n");
		return;
	}
	CHECK(tickets_distinct(t, nt) && w.pool.aio == nt + own_queued(&x->sink));
	CHECK(await_written(x, t, nt));
	CHECK(await_callback() && written_arg == &w);
	for (i = 0; i < nt; i++) {
		CHECK(xfer_wait(x, t[i], &code, &cause) == 0);
		free(cause);
		cause = NULL;
	}
	CHECK(w.pool.aio == own_queued(&x->sink));
}

/*
 * SINK_DIRECT with a ring, given an unaligned write mid-file while direct
 * writes are queued: O_DIRECT goes off without waiting for them (they end
 * on a block boundary), and the unaligned write and the rest are queued
 * as buffered writes; nothing synchronous, and the file is exact.
 */
static void
test_sink_direct_unaligned_async(void)
{
	struct sink	 s;
	struct sink_pool pool = { 0 };
	uint8_t		 dg[ZC_DIGEST_LEN], want[ZC_DIGEST_LEN];
	char		*cause = NULL;
	const uint64_t	 size = 3 * MIB + 1000;
	int		 fd, t[MAX_TICKETS], nt = 0;

	if (!dio)
		return;
	fd = sink_file("unaligned-async.bin");
	CHECK(sink_open(&s, SINK_DIRECT, fd, tmp, size, 1, &pool, &cause) == 0);
	if (s.ring == NULL) {
		printf("test_xfer: no io_uring: async unaligned not tried\n");
		goto out;
	}
	CHECK(sink_write_async(&s, src, MIB, 0, &t[nt++], &cause) == 1);
	CHECK(s.direct);
	CHECK(sink_write_async(&s, src + MIB, 1000, MIB, &t[nt++], &cause) ==
	    1);
	CHECK(!s.direct);
	CHECK(sink_write_async(&s, src + MIB + 1000, 2 * MIB, MIB + 1000,
	    &t[nt++], &cause) == 1);
	CHECK(s.sync_writes == 0 && pool.aio == 3);
	CHECK(sink_wait_tickets(&s, t, nt) == 0);
	CHECK(sink_idle(&s) && pool.aio == 0);
	CHECK(sink_finish(&s, dg, &cause) == 0);
	digest_of(src, size, want);
	CHECK(memcmp(dg, want, sizeof(dg)) == 0);
	CHECK(file_is("sink", "unaligned-async.bin", src, size));
out:
	sink_close(&s);
	sink_pool_free(&pool);
	close(fd);
	CHECK(remove_file("sink", "unaligned-async.bin") == 0);
	free(cause);
}

/*
 * SINK_SPLICE with a ring: the pipe -> file half of each splice is queued
 * (one at a time: sink_ready says no while it is in flight), nothing is
 * written synchronously, and the digest read back at the end is right.
 */
static void
test_sink_splice_async(void)
{
	struct sink	 s;
	struct sink_pool pool = { 0 };
	uint8_t		 dg[ZC_DIGEST_LEN], want[ZC_DIGEST_LEN];
	char		*cause = NULL;
	const uint64_t	 size = 3 * MIB + 1000;
	const size_t	 chunk = 64 << 10;
	uint64_t	 off = 0;
	ssize_t		 n;
	int		 fd, sv[2], queued = 0, busy = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fd = sink_file("splice.bin");
	CHECK(sink_open(&s, SINK_SPLICE, fd, tmp, size, 1, &pool, &cause) == 0);
	if (s.ring == NULL)
		printf("test_xfer: no io_uring: async splice not tried\n");
	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		CHECK(write(sv[0], src + off, n) == n);
		if (!sink_ready(&s)) {
			busy++;
			CHECK(s.pipe_slot != -1);
			CHECK(sink_wait(&s, s.pipe_slot, &cause) == 0);
		}
		CHECK(sink_ready(&s));
		if ((n = sink_splice(&s, sv[1], n, off, &cause)) <= 0) {
			fprintf(stderr, "sink_splice: %s\n", cause);
			CHECK(0);
			break;
		}
		queued += s.pipe_slot != -1;
		off += n;
	}
	if (s.ring != NULL)
		CHECK(queued > 0 && s.sync_writes == 0);
	printf("test_xfer: splice: %d queued, %d waits for the pipe\n", queued,
	    busy);
	CHECK(sink_wait_all(&s, &cause) == 0);
	CHECK(sink_idle(&s) && pool.aio == 0 && s.pipe_slot == -1);
	CHECK(sink_finish(&s, dg, &cause) == 0);
	digest_of(src, size, want);
	CHECK(memcmp(dg, want, sizeof(dg)) == 0);
	CHECK(file_is("sink", "splice.bin", src, size));
	sink_close(&s);
	sink_pool_free(&pool);
	close(fd);
	close(sv[0]);
	close(sv[1]);
	CHECK(remove_file("sink", "splice.bin") == 0);
	free(cause);
}

/*
 * The queue bound: a file may queue while the worker is under
 * WORKER_AIO_MAX, and SINK_AIO_FAIR writes whatever the others hold; past
 * that sink_ready() says no, and nothing waits.  A full queue never makes
 * a write synchronous.
 */
static void
test_sink_ready(void)
{
	struct sink	 s;
	struct sink_pool pool = { 0 };
	char		*cause = NULL;
	const uint64_t	 size = 16 * MIB;
	int		 fd, t[MAX_TICKETS], i, n;

	if (!dio)
		return;
	fd = sink_file("ready.bin");
	CHECK(sink_open(&s, SINK_DIRECT, fd, tmp, size, 1, &pool, &cause) == 0);
	if (s.ring == NULL) {
		printf("test_xfer: no io_uring: queue bound not tried\n");
		goto out;
	}
	pool.aio = WORKER_AIO_MAX;		/* others hold the worker's share */
	for (n = 0; sink_ready(&s) && n < MAX_TICKETS; n++)
		CHECK(sink_write_async(&s, src, MIB, (uint64_t)n * MIB, &t[n],
		    &cause) == 1);
	CHECK(n == SINK_AIO_FAIR && pool.aio == WORKER_AIO_MAX + n);
	CHECK(s.sync_writes == 0);
	for (i = 0; i < n; i++)
		CHECK(sink_wait(&s, t[i], &cause) == 0);
	CHECK(pool.aio == WORKER_AIO_MAX && sink_idle(&s) && sink_ready(&s));
	pool.aio = 0;			/* alone: up to the slots */
	for (n = 0; sink_ready(&s) && n < MAX_TICKETS; n++)
		CHECK(sink_write_async(&s, src, MIB, (uint64_t)n * MIB, &t[n],
		    &cause) == 1);
	CHECK(n == (SINK_AIO_SLOTS < WORKER_AIO_MAX ? SINK_AIO_SLOTS :
	    WORKER_AIO_MAX));
	CHECK(s.sync_writes == 0);
	for (i = 0; i < n; i++)
		CHECK(sink_wait(&s, t[i], &cause) == 0);
	CHECK(pool.aio == 0);
out:
	sink_close(&s);
	sink_pool_free(&pool);
	close(fd);
	CHECK(remove_file("sink", "ready.bin") == 0);
	free(cause);
}

/* An END record with the digest of the first size source bytes. */
static void
end_rec(struct zc_end *e, uint64_t size)
{
	memset(e, 0, sizeof(*e));
	e->digest_alg = ZC_DIGEST_XXH3_128;
	digest_of(src, size, e->digest);
}

/* A whole file through an xfer with sink sk into destination dest. */
static void
lifecycle(const char *dest, const char *sub, enum sink_kind sk,
    uint64_t size, int async, int verify)
{
	struct xfer	*x;
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	uint64_t	 ok = STAT_GET(files_ok);
	char		*cause = NULL;
	int		 code = 0, ns, t[MAX_TICKETS], nt;

	if ((x = start_open(dest, "life.bin", size, sk)) == NULL)
		return;
	CHECK(w.busy == 1 && STAT_GET(in_flight) == 1);
	CHECK(strcmp(xfer_sink_name(x), sink_name(sk)) == 0);
	CHECK(dir_count(sub, &ns) == 1 && ns == 1);
	nwritten = 0;
	xfer_on_written(x, written_cb, &w);
	CHECK((nt = feed(x, 0, size, async, t)) >= 0);
	if (async && sk != SINK_VMSPLICE) {
		CHECK(nt > 0);		/* every file has a ring */
		wait_queued(x, t, nt > 0 ? nt : 0);
	} else
		CHECK(nt == 0);
	end_rec(&e, size);
	memset(dg, 0, sizeof(dg));
	CHECK(xfer_finish(x, &e, dg, &code, &cause) == verify);
	if (verify)
		CHECK(memcmp(dg, e.digest, sizeof(dg)) == 0);
	CHECK(xfer_commit(x, verify ? dg : NULL, &code, &cause) == 0);
	CHECK(w.busy == 0 && STAT_GET(in_flight) == 0);
	CHECK(STAT_GET(files_ok) == ok + 1);
	CHECK(x->ended && !x->open);
	xfer_unref(x);
	run_loop();
	CHECK(file_is(sub, "life.bin", src, size));
	CHECK(file_mode(sub, "life.bin") == (int)(0644 & ~mask));
	CHECK(dir_count(sub, &ns) == 1 && ns == 0);
	CHECK(remove_file(sub, "life.bin") == 0);
	free(cause);
}

/* The lifecycle with each sink that writes a file. */
static void
test_xfer_lifecycle(void)
{
	lifecycle("", "dest", SINK_WRITE, 3 * MIB + 1234, 0, 1);
	lifecycle("", "dest", SINK_WRITE, 2 * MIB, 1, 1);
	lifecycle("", "dest", SINK_VMSPLICE, MIB + 4096 + 1, 0, 1);
	lifecycle("noverify", "noverify", SINK_COPY, MIB + 17, 0, 0);
	if (dio) {
		lifecycle("direct", "direct", SINK_DIRECT, 5 * MIB + 1234, 1,
		    1);
		lifecycle("direct", "direct", SINK_DIRECT, 100, 0, 1);
	}
}

/*
 * O_DIRECT, async, and a last record longer than a block but not a block
 * multiple: its whole blocks go as they are, the rest padded; O_DIRECT
 * stays on, and the file is exact once truncated to size.
 */
static void
test_xfer_direct_tail(void)
{
	struct xfer	*x;
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	const uint64_t	 size = 3 * MIB + 5000;
	char		*cause = NULL;
	int		 code = 0, i, nt, t[MAX_TICKETS];

	if (!dio || (x = start_open("direct", "tail.bin", size,
	    SINK_DIRECT)) == NULL)
		return;
	CHECK((nt = feed(x, 0, size, 1, t)) >= 0);
	/* With a ring, the tail's whole blocks are queued as a fourth write
	   and the padded rest from the sink's buffer: nothing synchronous. */
	CHECK(nt == (x->sink.ring != NULL ? 4 : 0));
	CHECK(x->sink.ring == NULL || (own_queued(&x->sink) == 1 &&
	    x->sink.sync_writes == 0));
	CHECK(x->sink.direct && x->sink.truncate);
	for (i = 0; i < nt; i++)
		CHECK(xfer_wait(x, t[i], &code, &cause) == 0);
	CHECK(w.pool.aio == own_queued(&x->sink));
	end_rec(&e, size);
	CHECK(xfer_finish(x, &e, dg, &code, &cause) == 1);
	CHECK(memcmp(dg, e.digest, sizeof(dg)) == 0);
	CHECK(xfer_commit(x, dg, &code, &cause) == 0);
	xfer_unref(x);
	run_loop();
	CHECK(file_is("direct", "tail.bin", src, size));
	CHECK(dir_count("direct", NULL) == 1);
	CHECK(remove_file("direct", "tail.bin") == 0);
	free(cause);
}

/* Fail x with the code and cause of the step that failed; all is gone. */
static void
fail_and_check(struct xfer *x, const char *sub, int code, char *cause)
{
	uint64_t	 failed = STAT_GET(files_failed);

	xfer_abort(x, code, cause != NULL ? cause : "failed");
	free(cause);
	CHECK(x->ended && !x->open);
	CHECK(w.busy == 0 && STAT_GET(in_flight) == 0);
	CHECK(STAT_GET(files_failed) == failed + 1);
	xfer_unref(x);
	run_loop();
	CHECK(dir_empty(sub));
}

/* A digest that does not match: ZC_E_DIGEST, and nothing lands. */
static void
test_xfer_digest(void)
{
	struct xfer	*x;
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	const uint64_t	 size = 2 * MIB + 5;
	char		*cause = NULL;
	int		 code = 0;

	if ((x = start_open("", "bad.bin", size, SINK_WRITE)) == NULL)
		return;
	CHECK(feed(x, 0, size, 0, NULL) == 0);
	end_rec(&e, size);
	e.digest[7] ^= 0x40;
	CHECK(xfer_finish(x, &e, dg, &code, &cause) == -1);
	CHECK(code == ZC_E_DIGEST && cause != NULL);
	CHECK(cause != NULL && strstr(cause, "digest mismatch") != NULL);
	fail_and_check(x, "dest", code, cause);
}

/* END before all DATA: ZC_E_SIZE, and nothing lands. */
static void
test_xfer_short(void)
{
	struct xfer	*x;
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	const uint64_t	 size = 2 * MIB + 5;
	char		*cause = NULL;
	int		 code = 0;

	if ((x = start_open("", "short.bin", size, SINK_WRITE)) == NULL)
		return;
	CHECK(feed(x, 0, MIB, 0, NULL) == 0);
	end_rec(&e, size);
	CHECK(xfer_finish(x, &e, dg, &code, &cause) == -1);
	CHECK(code == ZC_E_SIZE && cause != NULL);
	fail_and_check(x, "dest", code, cause);
}

/* Does xfer_place refuse len@off?  Its cause is freed. */
static int
place_refused(struct xfer *x, uint64_t off, uint64_t len)
{
	char	*cause = NULL;
	int	 r, code = 0;

	r = xfer_place(x, off, len, &code, &cause);
	if (r == -1 && (cause == NULL || code != ZC_E_PROTO))
		return (0);	/* a refusal must say why, as a protocol error */
	free(cause);
	return (r == -1);
}

/* DATA records that do not fit: unaligned, a gap, past the end. */
static void
test_xfer_place(void)
{
	struct xfer	*x;
	char		*cause = NULL;
	int		 code = 0;
	const uint64_t	 size = 5 * ZC_BLOCK + 10;

	if ((x = start_open("", "place.bin", size, SINK_WRITE)) == NULL)
		return;
	CHECK(place_refused(x, 100, ZC_BLOCK));		/* unaligned */
	CHECK(place_refused(x, 0, 1000));		/* short, not last */
	CHECK(place_refused(x, ZC_BLOCK, ZC_BLOCK));	/* a gap */
	CHECK(place_refused(x, 0, size + 1));		/* past the end */
	CHECK(xfer_place(x, 0, ZC_BLOCK, &code, &cause) == 0);
	CHECK(place_refused(x, 0, ZC_BLOCK));		/* again */
	CHECK(place_refused(x, 3 * ZC_BLOCK, ZC_BLOCK));	/* a gap */
	CHECK(place_refused(x, ZC_BLOCK, 5 * ZC_BLOCK));	/* past end */
	CHECK(place_refused(x, ZC_BLOCK, 4 * ZC_BLOCK + 11));
	CHECK(place_refused(x, ZC_BLOCK, UINT64_MAX - 100));	/* wraps */
	CHECK(x->next_off == ZC_BLOCK);
	CHECK(xfer_place(x, ZC_BLOCK, 4 * ZC_BLOCK + 10, &code, &cause) == 0);
	CHECK(x->next_off == size);
	CHECK(place_refused(x, size, ZC_BLOCK));	/* after the end */
	free(cause);
	fail_and_check(x, "dest", ZC_E_PROTO, NULL);
}

/*
 * A stream (version 3) into dest, opened with sink sk: expect is its
 * announced size or ZC_SIZE_UNKNOWN.  NULL (checked) on failure.
 */
static struct xfer *
stream_open(const char *dest, uint64_t expect, enum sink_kind sk)
{
	struct zc_entry	 e;
	struct xfer	*x;
	char		*cause = NULL;
	int		 code = 0, r;

	memset(&e, 0, sizeof(e));
	e.id = 7;
	e.size = expect;
	e.mode = 0644;
	e.kind = ZC_K_FILE;
	e.digest_alg = ZC_DIGEST_XXH3_128;
	e.flags = ZC_EF_STREAM | ZC_EF_WAIT;
	e.path = "stream.bin";
	e.path_len = strlen(e.path);
	e.dest = dest;
	e.dest_len = strlen(dest);
	x = xfer_new_entry(&w, "127.0.0.1:9", &e);
	CHECK(x->stream && x->expect == expect);
	if ((r = xfer_target(x, conf, (struct sockaddr *)&lo, &code,
	    &cause)) == 0)
		r = xfer_open(x, sk, &code, &cause);
	CHECK(r == 0);
	if (r == -1) {
		fprintf(stderr, "stream: %s\n", cause);
		free(cause);
		xfer_abort(x, code, "open failed");
		xfer_unref(x);
		return (NULL);
	}
	return (x);
}

/*
 * Does xfer_place refuse len@off with code (ZC_OK: take it)?  Its cause
 * is freed.
 */
static int
place_code(struct xfer *x, uint64_t off, uint64_t len, int want)
{
	char	*cause = NULL;
	int	 r, code = 0;

	r = xfer_place(x, off, len, &code, &cause);
	if (r == -1 && cause == NULL)
		return (0);
	free(cause);
	if (want == ZC_OK)
		return (r == 0);
	return (r == -1 && code == want);
}

/* The staging file of x holds the first size source bytes, no more. */
static int
staged_is(struct xfer *x, uint64_t size)
{
	struct stat	 sb;
	uint8_t		*buf;
	char		 path[64];
	int		 fd, ok;

	/* A descriptor of our own: the staging file is open write-only. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", x->land.fd);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	buf = xmalloc(size + 1);
	ok = fstat(fd, &sb) == 0 && (uint64_t)sb.st_size == size &&
	    pread(fd, buf, size + 1, 0) == (ssize_t)size &&
	    memcmp(buf, src, size) == 0;
	free(buf);
	close(fd);
	return (ok);
}

/*
 * Streams: the size comes at the end (O_DIRECT tail padded and cut, the
 * digest of what came); nothing after the short record; no gaps; past
 * the announced size or max_file_size refused with ZC_E_SIZE (not a
 * protocol error); ending short of the announced size is ZC_E_SIZE.
 */
static void
test_xfer_stream(void)
{
	struct xfer	*x;
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	const uint64_t	 size = 3 * MIB + 5000;
	enum sink_kind	 sk = dio ? SINK_DIRECT : SINK_WRITE;
	const char	*dest = dio ? "direct" : "", *sub = dio ? "direct" :
			    "dest";
	char		*cause = NULL;
	int		 code = 0, i, nt, t[MAX_TICKETS];

	/* Unknown size: lands whole, with the size EOS gives. */
	if ((x = stream_open(dest, ZC_SIZE_UNKNOWN, sk)) == NULL)
		return;
	CHECK((nt = feed(x, 0, size, 1, t)) >= 0);
	for (i = 0; i < nt; i++)
		CHECK(xfer_wait(x, t[i], &code, &cause) == 0);
	CHECK(x->tail && x->next_off == size);
	CHECK(place_code(x, size, ZC_BLOCK, ZC_E_PROTO));  /* after tail */
	end_rec(&e, size);
	e.size = size;
	CHECK(xfer_finish(x, &e, dg, &code, &cause) == 1);
	CHECK(memcmp(dg, e.digest, sizeof(dg)) == 0);
	CHECK(x->f.size == size && staged_is(x, size));
	fail_and_check(x, sub, ZC_E_SHUTDOWN, NULL);

	/* Placement: no gap, no unaligned offset. */
	if ((x = stream_open(dest, ZC_SIZE_UNKNOWN, sk)) == NULL)
		return;
	CHECK(place_code(x, ZC_BLOCK, ZC_BLOCK, ZC_E_PROTO));
	CHECK(place_code(x, 0, ZC_BLOCK, ZC_OK) && x->next_off == ZC_BLOCK);
	CHECK(place_code(x, 3 * ZC_BLOCK, ZC_BLOCK, ZC_E_PROTO));
	CHECK(place_code(x, ZC_BLOCK, UINT64_MAX - ZC_BLOCK, ZC_E_SIZE));
	fail_and_check(x, sub, ZC_E_SIZE, NULL);

	/* Announced 2 MiB: a record past it is ZC_E_SIZE, not protocol. */
	if ((x = stream_open(dest, 2 * MIB, sk)) == NULL)
		return;
	CHECK(feed(x, 0, 2 * MIB - ZC_BLOCK, 0, NULL) == 0);
	CHECK(place_code(x, 2 * MIB - ZC_BLOCK, 2 * ZC_BLOCK, ZC_E_SIZE));
	fail_and_check(x, sub, ZC_E_SIZE, NULL);

	/* Announced 2 MiB, ended after 1 MiB: ZC_E_SIZE at the end. */
	if ((x = stream_open(dest, 2 * MIB, sk)) == NULL)
		return;
	CHECK(feed(x, 0, MIB, 0, NULL) == 0);
	end_rec(&e, MIB);
	e.size = MIB;
	CHECK(xfer_finish(x, &e, dg, &code, &cause) == -1 &&
	    code == ZC_E_SIZE && strstr(cause, "ended after 1048576 of the "
	    "announced 2097152") != NULL);
	fail_and_check(x, sub, code, cause);

	/* max_file_size = 1M ([small]): the bound without a size. */
	if ((x = stream_open("small", ZC_SIZE_UNKNOWN, SINK_WRITE)) == NULL)
		return;
	CHECK(x->f.size == MIB);
	CHECK(feed(x, 0, MIB - ZC_BLOCK, 0, NULL) == 0);
	CHECK(place_code(x, MIB - ZC_BLOCK, ZC_BLOCK, ZC_OK));
	CHECK(place_code(x, MIB, 1, ZC_E_SIZE));
	fail_and_check(x, "small", ZC_E_SIZE, NULL);
	/* ... and an announced size over it is refused up front. */
	{
		struct zc_entry	 en;

		memset(&en, 0, sizeof(en));
		en.id = 8;
		en.size = MIB + 1;
		en.kind = ZC_K_FILE;
		en.flags = ZC_EF_STREAM | ZC_EF_WAIT;
		en.path = "big.bin";
		en.path_len = 7;
		en.dest = "small";
		en.dest_len = 5;
		x = xfer_new_entry(&w, "127.0.0.1:9", &en);
		CHECK(xfer_target(x, conf, (struct sockaddr *)&lo, &code,
		    &cause) == 0);
		CHECK(xfer_open(x, SINK_WRITE, &code, &cause) == -1 &&
		    code == ZC_E_SIZE);
		xfer_abort(x, code, cause);
		free(cause);
		cause = NULL;
		xfer_unref(x);
		run_loop();
		CHECK(dir_empty("small"));
	}
}

/* Does xfer_target refuse the file with code?  Nothing is created. */
static int
target_refused(const char *dest, const char *name,
    const struct sockaddr *sa, int want)
{
	struct zc_file	 f;
	struct xfer	*x;
	char		*cause = NULL;
	int		 code = 0, r;

	file_rec(&f, dest, name, 1000);
	x = xfer_new(&w, "127.0.0.1:9", &f);
	r = xfer_target(x, conf, sa, &code, &cause) == -1 && code == want &&
	    cause != NULL && x->dest == NULL && x->conf == NULL;
	free(cause);
	xfer_unref(x);
	run_loop();
	return (r && dir_empty("dest"));
}

/* Names and destinations xfer_target refuses. */
static void
test_xfer_target(void)
{
	const struct sockaddr	*sa = (struct sockaddr *)&lo;
	struct sockaddr_in	 far = lo;

	CHECK(target_refused("", "a/b", sa, ZC_E_NAME));
	CHECK(target_refused("", "/etc/passwd", sa, ZC_E_NAME));
	CHECK(target_refused("", "..", sa, ZC_E_NAME));
	CHECK(target_refused("", ".", sa, ZC_E_NAME));
	CHECK(target_refused("", "", sa, ZC_E_NAME));
	CHECK(target_refused("", "../x", sa, ZC_E_NAME));
	CHECK(target_refused("nosuch", "a", sa, ZC_E_DEST));
	CHECK(target_refused("../dest", "a", sa, ZC_E_NAME));
	far.sin_addr.s_addr = htonl(0x0a000001);	/* 10.0.0.1 */
	CHECK(target_refused("", "a", (struct sockaddr *)&far, ZC_E_DENIED));
	CHECK(w.busy == 0);
}

/* Does xfer_open refuse the file with code?  The xfer is gone after. */
static int
open_refused(const char *dest, const char *name, uint64_t size, int want)
{
	struct xfer	*x;
	char		*cause = NULL;
	int		 code = 0, r;

	if ((x = start(dest, name, size)) == NULL)
		return (0);
	r = xfer_open(x, SINK_WRITE, &code, &cause) == -1 && code == want &&
	    cause != NULL && !x->open && w.busy == 0;
	xfer_abort(x, code, cause != NULL ? cause : "refused");
	free(cause);
	xfer_unref(x);
	run_loop();
	return (r);
}

/* Files xfer_open refuses: too big, no space, an existing name. */
static void
test_xfer_open(void)
{
	struct xfer	*x;

	CHECK(open_refused("small", "big", MIB + 1, ZC_E_SIZE));
	CHECK(dir_empty("small"));
	CHECK(open_refused("", "huge", UINT64_MAX - 5, ZC_E_SIZE));
	CHECK(dir_empty("dest"));
	CHECK(open_refused("full", "f", 1, ZC_E_NOSPACE));
	CHECK(dir_empty("full"));
	make_file("dest", "exists");
	CHECK(open_refused("", "exists", 1000, ZC_E_EXISTS));
	CHECK(dir_count("dest", NULL) == 1);
	CHECK(remove_file("dest", "exists") == 0);

	/* At the limit is not over it. */
	if ((x = start_open("small", "limit", MIB, SINK_WRITE)) != NULL)
		fail_and_check(x, "small", ZC_E_PROTO, NULL);
}

/* The peer leaves mid-file: the last reference removes the staging file. */
static void
test_xfer_dropped(void)
{
	struct xfer	*x;
	uint64_t	 failed = STAT_GET(files_failed);
	int		 ns;

	if ((x = start_open("", "dropped.bin", 3 * MIB, SINK_WRITE)) == NULL)
		return;
	CHECK(feed(x, 0, MIB, 0, NULL) == 0);
	CHECK(dir_count("dest", &ns) == 1 && ns == 1);
	xfer_ref(x);
	xfer_unref(x);
	CHECK(!x->ended && w.busy == 1);	/* a reference is left */
	xfer_unref(x);
	CHECK(w.busy == 0 && STAT_GET(files_failed) == failed + 1);
	run_loop();
	CHECK(dir_empty("dest"));
}

/* io = discard: bytes are hashed and dropped, nothing lands. */
static void
test_xfer_discard(void)
{
	struct xfer	*x;
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	const uint64_t	 size = 3 * MIB + 3;
	char		*cause = NULL;
	int		 code = 0;

	if ((x = start("discard", "gone.bin", size)) == NULL)
		return;
	CHECK(x->io->flags & IO_NO_FILE);
	CHECK(x->io->sink == SINK_DISCARD);
	CHECK(xfer_open(x, x->io->sink, &code, &cause) == 0);
	CHECK(dir_empty("discard"));
	CHECK(feed(x, 0, size, 0, NULL) == 0);
	end_rec(&e, size);
	CHECK(xfer_finish(x, &e, dg, &code, &cause) == 1);
	CHECK(memcmp(dg, e.digest, sizeof(dg)) == 0);
	CHECK(xfer_commit(x, dg, &code, &cause) == 0);
	CHECK(w.busy == 0);
	xfer_unref(x);
	run_loop();
	CHECK(dir_empty("discard"));
	free(cause);
}

/* iomode_find and iomode_name are inverse, for every row. */
static void
test_iomode_names(void)
{
	int	 i;

	CHECK(iomode_count() == IO_LAST + 1);
	for (i = 0; i < iomode_count(); i++) {
		CHECK(iomode_find(iomode_name(i)) == i);
		CHECK(iomode_get(i)->name == iomode_name(i));
	}
	CHECK(iomode_find("auto") == IO_AUTO);
	CHECK(iomode_find("discard") == IO_DISCARD);
	CHECK(iomode_find("nope") == -1);
	CHECK(iomode_find("") == -1);
	CHECK(iomode_find("Direct") == -1);
	CHECK(iomode_find("direct ") == -1);
}

/*
 * rx_burst: a skip is copied up to the next block; small skips in a row
 * back off, each burst at least twice the last; a long skip is copied as
 * it is however many came before; none is longer than RX_BURST.
 */
static void
test_rx_burst(void)
{
	size_t	 b = 0;
	int	 i;

	CHECK(rx_burst(0, 1) == ZC_BLOCK);
	CHECK(rx_burst(0, 1024) == ZC_BLOCK);
	CHECK(rx_burst(0, ZC_BLOCK) == ZC_BLOCK);
	CHECK(rx_burst(0, ZC_BLOCK + 1) == 2 * ZC_BLOCK);
	CHECK(rx_burst(ZC_BLOCK, 1448) == 2 * ZC_BLOCK);
	CHECK(rx_burst(2 * ZC_BLOCK, 3 * ZC_BLOCK) == 4 * ZC_BLOCK);
	/* Off the grid after the window's edge: skb by skb, no more. */
	CHECK(rx_burst(ZC_BLOCK, 54272) == 14 * ZC_BLOCK);
	CHECK(rx_burst(14 * ZC_BLOCK, 54272) == 14 * ZC_BLOCK);
	CHECK(rx_burst(RX_BURST, RX_BURST_TRY) == RX_BURST_TRY);
	CHECK(rx_burst(0, 4 * RX_BURST) == RX_BURST);
	CHECK(rx_burst(RX_BURST, 1) == RX_BURST);
	/* Segments smaller than a page: the longest burst in a few tries. */
	for (i = 0; i < 7; i++)
		b = rx_burst(b, 1448);
	CHECK(b == RX_BURST);
	CHECK(RX_BURST % ZC_BLOCK == 0 && RX_BURST_TRY % ZC_BLOCK == 0);
}

/* Does iomode_choose give rx and sink for io, dio_ok, switched, size? */
static int
chooses_size(int io, int dio_ok, int switched, uint64_t size,
    enum rx_kind rx, enum sink_kind sink)
{
	enum rx_kind	 r = RX_DISCARD;
	enum sink_kind	 s = SINK_DISCARD;

	iomode_choose(io, dio_ok, switched, size, &r, &s);
	return (r == rx && s == sink);
}

/* The same for a file large enough to be mapped. */
static int
chooses(int io, int dio_ok, int switched, enum rx_kind rx,
    enum sink_kind sink)
{
	return (chooses_size(io, dio_ok, switched, IO_COPY_BELOW, rx, sink));
}

/*
 * iomode_choose: auto decides (a file under IO_COPY_BELOW is copied),
 * every other row is what its name says, whatever the size.
 */
static void
test_iomode_choose(void)
{
	int	 i, d, sw;

	CHECK(chooses(IO_AUTO, 1, 0, RX_MAP, SINK_DIRECT));
	CHECK(chooses(IO_AUTO, 0, 0, RX_MAP, SINK_WRITE));
	/* Given up on mapping: copied, in whole buffers, O_DIRECT still. */
	CHECK(chooses(IO_AUTO, 0, 1, RX_COPY, SINK_WRITE));
	CHECK(chooses(IO_AUTO, 1, 1, RX_COPY, SINK_DIRECT));
	for (d = 0; d < 2; d++) {
		for (sw = 0; sw < 2; sw++) {
			CHECK(chooses_size(IO_AUTO, d, sw, 0, RX_COPY,
			    SINK_COPY));
			CHECK(chooses_size(IO_AUTO, d, sw, IO_COPY_BELOW - 1,
			    RX_COPY, SINK_COPY));
			CHECK(chooses_size(IO_DIRECT, d, sw, 1, RX_MAP,
			    SINK_DIRECT));
			CHECK(chooses_size(IO_WRITE, d, sw, 1, RX_MAP,
			    SINK_WRITE));
			CHECK(chooses(IO_DIRECT, d, sw, RX_MAP, SINK_DIRECT));
			CHECK(chooses(IO_WRITE, d, sw, RX_MAP, SINK_WRITE));
			CHECK(chooses(IO_VMSPLICE, d, sw, RX_MAP,
			    SINK_VMSPLICE));
			CHECK(chooses(IO_SPLICE, d, sw, RX_SPLICE,
			    SINK_SPLICE));
			CHECK(chooses(IO_COPY, d, sw, RX_COPY, SINK_COPY));
			CHECK(chooses(IO_COPY_DIRECT, d, sw, RX_COPY,
			    SINK_DIRECT));
			CHECK(chooses(IO_DISCARD, d, sw, RX_MAP,
			    SINK_DISCARD));
		}
	}
	/* Every row but auto writes with the sink of its own name. */
	for (i = IO_AUTO + 1; i < iomode_count(); i++)
		CHECK(i == IO_COPY_DIRECT ?
		    iomode_get(i)->sink == SINK_DIRECT :
		    strcmp(sink_name(iomode_get(i)->sink), iomode_name(i)) == 0);
	for (i = 0; i < iomode_count(); i++)
		CHECK(!!(iomode_get(i)->flags & IO_NO_FILE) ==
		    (i == IO_DISCARD));
}

/* Feed the judge n bytes of its path at us_per_mb microseconds per MB. */
static int
judge_feed(struct judge *j, uint64_t n, uint64_t us_per_mb)
{
	uint64_t	 step = 1 << 20, done = 0;
	int		 ended = 0;

	for (; done < n; done += step)
		ended |= judge_account(j, step, step * us_per_mb / 1000);
	return (ended);
}

/*
 * judge: maps first, then copies, each for a trial after a warm-up that
 * does not count, takes the cheaper, keeps it for JUDGE_AGAIN and tries
 * again, so that a connection can go either way; off means copy for good.
 */
static void
test_judge(void)
{
	struct judge	 j;
	uint64_t	 t = JUDGE_WARM + JUDGE_TRIAL;

	judge_init(&j, NULL);
	CHECK(j.pick == JUDGE_MAP && j.phase == JUDGE_TRY_MAP);
	/* The warm-up is not measured: a dear change-over does not count. */
	CHECK(judge_feed(&j, JUDGE_WARM, 100000) == 0);
	CHECK(judge_feed(&j, JUDGE_TRIAL - (1 << 20), 800) == 0);
	CHECK(j.pick == JUDGE_MAP);
	CHECK(judge_feed(&j, 1 << 20, 800) == 0);
	CHECK(j.pick == JUDGE_COPY && j.phase == JUDGE_TRY_COPY);
	CHECK(j.cost[JUDGE_MAP] / 1000 >= 780 &&
	    j.cost[JUDGE_MAP] / 1000 <= 820);
	CHECK(judge_feed(&j, t, 300) == 1);	/* copy is cheaper */
	CHECK(j.pick == JUDGE_COPY && j.phase == JUDGE_SETTLED && j.rounds == 1);
	CHECK(judge_feed(&j, JUDGE_AGAIN - (1 << 20), 300) == 0);
	CHECK(j.pick == JUDGE_COPY);
	CHECK(judge_feed(&j, 1 << 20, 300) == 0);	/* again: map first */
	CHECK(j.pick == JUDGE_MAP && j.phase == JUDGE_TRY_MAP);
	CHECK(judge_feed(&j, t, 200) == 0);	/* now mapping is cheaper */
	CHECK(j.pick == JUDGE_COPY);
	CHECK(judge_feed(&j, t, 300) == 1);
	CHECK(j.pick == JUDGE_MAP && j.phase == JUDGE_SETTLED && j.rounds == 2);
	judge_off(&j);
	CHECK(j.pick == JUDGE_COPY && judge_feed(&j, 2 * JUDGE_AGAIN, 1) == 0);
	CHECK(j.pick == JUDGE_COPY && j.phase == JUDGE_OFF);
	/* The tests' variable forces the pick, whatever was measured. */
	setenv("ZC_TEST_JUDGE_UNIT", "map", 1);
	judge_init(&j, "ZC_TEST_JUDGE_UNIT");
	CHECK(judge_feed(&j, t, 900) == 0 && judge_feed(&j, t, 100) == 1);
	CHECK(j.pick == JUDGE_MAP && j.phase == JUDGE_SETTLED);
	setenv("ZC_TEST_JUDGE_UNIT", "copy", 1);
	judge_init(&j, "ZC_TEST_JUDGE_UNIT");
	CHECK(judge_feed(&j, t, 100) == 0 && judge_feed(&j, t, 900) == 1);
	CHECK(j.pick == JUDGE_COPY);
	unsetenv("ZC_TEST_JUDGE_UNIT");
}

/*
 * One striped file (version 4) of dest: 5 chunks filled out of order by
 * pieces (queued writes where the sink has a ring), its tree digest, its
 * landing; a chunk sent twice; a piece that fails fails the file.
 */
static void
stripe_case(const char *dest, const char *sub, enum sink_kind sk)
{
	struct session	*s, *j;
	struct xfer	*x, *p;
	struct stripe	*st;
	struct zc_chunk	 ch;
	uint8_t		 id[ZC_SESSION_ID_LEN], tok[ZC_TOKEN_LEN];
	uint8_t		 dg[ZC_DIGEST_LEN], want[ZC_DIGEST_LEN];
	uint8_t		 cat[5 * ZC_DIGEST_LEN];
	uint64_t	 idx, have, size = 4 * MIB + 5000, k, e;
	char		*cause = NULL;
	int		 code = 0, staging, nt, n, t[MAX_TICKETS], i;
	/* The ends first: a chunk must not cut the file at its own end. */
	static const uint64_t order[] = { 4, 3, 2, 0, 1 };

	s = session_new();
	session_ids(s, id, tok);
	CHECK((j = session_join(id, tok, 8, &cause)) != NULL);
	if ((x = start(dest, "striped", size)) == NULL)
		return;
	x->id = 5;
	x->v2 = 1;
	x->chunk = MIB;
	CHECK(xfer_open_striped(x, s, 1, &code, &cause) == 0);
	for (i = 0; i < 5; i++) {
		k = order[i];
		ch.id = 5;
		ch.offset = k * MIB;
		ch.length = size - ch.offset < MIB ? size - ch.offset : MIB;
		digest_of(src + ch.offset, ch.length, cat + k * ZC_DIGEST_LEN);
		CHECK((st = stripe_find(i % 2 ? s : j, 5)) != NULL);
		if (st == NULL)
			return;
		CHECK(stripe_claim(st, &ch, &idx, &cause) == 0 && idx == k);
		p = xfer_new_piece(&w, "127.0.0.1:9", st, &ch, idx);
		CHECK(xfer_open_piece(p, sk, &code, &cause) == 0);
		/*
		 * A whole chunk ends in a block of its own, as a receiver
		 * reading under max_rate may take it: not the file's tail.
		 */
		e = ch.offset + ch.length - (ch.length % ZC_BLOCK == 0 ?
		    ZC_BLOCK : 0);
		nt = feed(p, ch.offset, e, 1, t);
		if (nt >= 0 && (n = feed(p, e, ch.offset + ch.length, 1,
		    t + nt)) >= 0)
			nt += n;
		else
			nt = -1;
		CHECK(nt >= 0 && await_written(p, t, nt > 0 ? nt : 0));
		for (; nt > 0; nt--)
			CHECK(xfer_wait(p, t[nt - 1], &code, &cause) == 0);
		CHECK(xfer_piece_finish(p, &code, &cause) == 0);
		xfer_unref(p);
	}
	CHECK((st = stripe_find(s, 5)) != NULL);
	ch.offset = MIB;
	ch.length = MIB;
	CHECK(stripe_claim(st, &ch, &idx, &cause) == -1 && cause != NULL);
	free(cause);
	cause = NULL;
	stripe_unref(st);
	CHECK(stripe_find(s, 6) == NULL);
	CHECK(stripe_state(x->stripe, &have, &code, &cause) == 1 && have == 5);
	digest_of(cat, sizeof(cat), want);
	x->ended_in = 1;
	x->send.digest_alg = ZC_DIGEST_XXH3_128;
	memcpy(x->send.digest, want, ZC_DIGEST_LEN);
	CHECK(xfer_striped_finish(x, dg, &code, &cause) == 1 &&
	    memcmp(dg, want, ZC_DIGEST_LEN) == 0);
	CHECK(xfer_commit(x, dg, &code, &cause) == 0);
	CHECK(file_is(sub, "striped", src, size));
	CHECK(stripe_find(s, 5) == NULL);	/* landed: gone */
	xfer_unref(x);

	/* A piece that fails fails the file; later chunks are thrown away. */
	if ((x = start(dest, "striped-fail", size)) == NULL)
		return;
	x->id = 6;
	x->v2 = 1;
	x->chunk = MIB;
	CHECK(xfer_open_striped(x, s, 1, &code, &cause) == 0);
	CHECK((st = stripe_find(j, 6)) != NULL);
	ch.id = 6;
	ch.offset = 0;
	ch.length = MIB;
	CHECK(stripe_claim(st, &ch, &idx, &cause) == 0);
	p = xfer_new_piece(&w, "127.0.0.1:9", st, &ch, idx);
	CHECK(xfer_open_piece(p, sk, &code, &cause) == 0);
	CHECK(feed(p, 0, MIB / 2, 0, t) == 0);
	xfer_abort(p, PEER_GONE, "connection closed");
	xfer_unref(p);
	CHECK(stripe_state(x->stripe, &have, &code, &cause) == -1 &&
	    code == ZC_E_IO && strstr(cause, "stripe connection") != NULL);
	xfer_abort(x, code, cause);
	free(cause);
	cause = NULL;
	xfer_unref(x);
	run_loop();
	CHECK(dir_count(sub, &staging) >= 1 && staging == 0);
	CHECK((st = stripe_find(s, 6)) != NULL);	/* buried */
	ch.offset = MIB;
	CHECK(st != NULL && stripe_claim(st, &ch, &idx, &cause) == 1);
	if (st != NULL)
		stripe_unref(st);
	session_leave(j, 0);
	session_leave(s, 1);
	CHECK(session_join(id, tok, 8, &cause) == NULL && cause != NULL);
	free(cause);
	run_loop();
	unlink(path_of(sub, "striped"));
}

/* Sessions: JOIN with a wrong token, over the limit, after the close. */
static void
test_stripe(void)
{
	struct session	*s, *j;
	uint8_t		 id[ZC_SESSION_ID_LEN], tok[ZC_TOKEN_LEN];
	uint8_t		 bad[ZC_TOKEN_LEN];
	char		*cause = NULL;

	auth_init();
	s = session_new();
	session_ids(s, id, tok);
	memcpy(bad, tok, sizeof(bad));
	bad[ZC_TOKEN_LEN - 1] ^= 1;
	CHECK(session_join(id, bad, 8, &cause) == NULL && cause != NULL);
	free(cause);
	cause = NULL;
	CHECK((j = session_join(id, tok, 2, &cause)) != NULL);
	CHECK(session_join(id, tok, 2, &cause) == NULL &&
	    strstr(cause, "max_stripes") != NULL);
	free(cause);
	cause = NULL;
	session_leave(j, 0);
	session_leave(s, 1);
	CHECK(session_join(id, tok, 8, &cause) == NULL);
	free(cause);

	stripe_case("", "dest", SINK_WRITE);
	if (dio)
		stripe_case("direct", "direct", SINK_DIRECT);
}

int
main(void)
{
	log_init("test_xfer", LOG_LEVEL_WARN, 0);
	setup();
	test_land_names();
	test_land_commit();
	test_land_refuse();
	test_land_overwrite();
	test_sink_write();
	test_sink_noverify();
	test_sink_pool();
	test_sink_direct();
	test_sink_direct_unaligned();
	test_sink_ready();
	test_sink_direct_unaligned_async();
	test_sink_splice_async();
	test_xfer_lifecycle();
	test_xfer_direct_tail();
	test_xfer_digest();
	test_xfer_short();
	test_xfer_place();
	test_xfer_stream();
	test_xfer_target();
	test_xfer_open();
	test_xfer_dropped();
	test_xfer_discard();
	test_iomode_names();
	test_iomode_choose();
	test_rx_burst();
	test_judge();
	test_stripe();
	teardown();
	return (unit_done("test_xfer"));
}
