/*
 * sink.c -- put payload bytes into the staging file.
 *
 * A sink is opened per file.  Bytes arrive either as pointers (mapped pages
 * or a copy buffer: sink_write) or stay in the kernel (socket -> pipe ->
 * file: sink_splice).  The digest is computed here, on the bytes as they
 * pass, while they arrive in order; bytes we never see (splice) are hashed
 * at the end by reading the staging file back from the page cache.
 *
 * SINK_DIRECT writes with O_DIRECT straight from the mapped pages: no copy
 * at all.  A write that is not aligned for O_DIRECT cannot be issued as
 * such; the last partial block is padded in an aligned buffer and the file
 * truncated to size afterwards, and anything else unaligned (rare: a peer
 * whose segments are not page multiples) turns O_DIRECT off for the rest
 * of the file, so direct and buffered writes never share a block.
 *
 * For a file larger than a mapping window, whole-block O_DIRECT writes go
 * through an io_uring (sink_write_async): the disk writes one window while
 * the caller maps and hashes the next.  A queued write gets a ticket (one
 * of SINK_AIO_SLOTS); the caller keeps the buffer until sink_wait(ticket)
 * says the write is done; an eventfd tells when a write completes, so
 * pages are not held longer than the disk takes.  At most WORKER_AIO_MAX
 * writes per worker are queued (a bound on pinned pages); beyond that,
 * with no free ticket, for the tail, and without io_uring, writes are
 * synchronous.  An io_uring failure fails the write, never the daemon.
 * The file is not fallocated: ext4 cannot issue a write that extends the
 * file without waiting, but io_uring then hands it to its own worker
 * thread, which is what we want; preallocating 16 files at once measured
 * 10% slower on ext4 here.  Nor is a stream (protocol version 3): its
 * size is only a bound until its short last record comes or it ends
 * (sink_resize), and then its tail is padded and cut like a file's.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include "zcrecvd.h"

/* XXH3 with the library's runtime choice of SSE2, AVX2 or AVX-512. */
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#define SINK_PIPESZ		(1U << 20)
#define SINK_READBACK		(1U << 20)
#define SINK_RING_DEPTH		(2 * SINK_AIO_SLOTS)	/* slots + no-ops */
#define SINK_NOP		SINK_AIO_SLOTS	/* completion to ignore */
#define SINK_ASYNC_MIN		(2U << 20)	/* smaller files: no ring */

static void	 sink_async_close(struct sink *);

static const char *sink_names[] = {
	"direct", "write", "vmsplice", "splice", "copy", "discard"
};

/* Name of a sink kind for logs. */
const char *
sink_name(enum sink_kind kind)
{
	return (sink_names[kind]);
}

/* Result code for the last failure: a full disk is its own code. */
int
sink_code(const struct sink *s)
{
	return (s->err == ENOSPC || s->err == EDQUOT ? ZC_E_NOSPACE : ZC_E_IO);
}

/* Is the sink computing the digest? */
int
sink_verifying(const struct sink *s)
{
	return (s->hash != NULL);
}

/*
 * Bytes from now on go another way (io = auto giving up on mapping).
 * Queued writes stay queued; sink_finish waits for them.
 */
void
sink_switch(struct sink *s, enum sink_kind kind)
{
	s->kind = kind;
}

/* Turn O_DIRECT on or off on the staging file. */
static int
sink_set_direct(struct sink *s, int on, char **cause)
{
	int	 fl;

	if ((fl = fcntl(s->fd, F_GETFL)) == -1 ||
	    fcntl(s->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) == -1) {
		*cause = xasprintf("fcntl O_DIRECT: %s", strerror(errno));
		return (-1);
	}
	s->direct = on;
	return (0);
}

/* Make the pipe splice and vmsplice go through. */
static int
sink_pipe(struct sink *s, char **cause)
{
	int	 sz;

	if (s->pipe[0] != -1)
		return (0);
	if (pipe2(s->pipe, O_CLOEXEC) == -1) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		return (-1);
	}
	if ((sz = fcntl(s->pipe[1], F_SETPIPE_SZ, SINK_PIPESZ)) == -1)
		sz = fcntl(s->pipe[1], F_GETPIPE_SZ);
	s->pipesz = sz > 0 ? (size_t)sz : 65536;
	return (0);
}

/*
 * Query O_DIRECT alignment of an open file.  Returns 1 and the alignments
 * when the filesystem supports O_DIRECT with at most block alignment.
 */
static int
sink_dio_align(int fd, unsigned int *off_align, unsigned int *mem_align)
{
	struct statx	 stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == -1 ||
	    !(stx.stx_mask & STATX_DIOALIGN) || stx.stx_dio_offset_align == 0)
		return (0);
	if (stx.stx_dio_offset_align > ZC_BLOCK ||
	    stx.stx_dio_mem_align > ZC_BLOCK)
		return (0);
	*off_align = stx.stx_dio_offset_align;
	*mem_align = stx.stx_dio_mem_align;
	return (1);
}

/* Can files in this directory be written with O_DIRECT?  Probe once. */
int
sink_probe_direct(int dirfd)
{
	unsigned int	 a, m;
	int		 fd, ok;

	if ((fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
	    0600)) == -1)
		return (0);
	ok = sink_dio_align(fd, &a, &m) &&
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) != -1;
	close(fd);
	return (ok);
}

/*
 * Set up async writes: a ring, and an eventfd it signals on completions.
 * A failure leaves the sink writing synchronously.
 */
static void
sink_async_open(struct sink *s)
{
	int	 e;

	s->ring = xcalloc(1, sizeof(*s->ring));
	if ((e = io_uring_queue_init(SINK_RING_DEPTH, s->ring, 0)) < 0) {
		log_debug("io_uring: %s: synchronous writes", strerror(-e));
		free(s->ring);
		s->ring = NULL;
		return;
	}
	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (e = io_uring_register_eventfd(s->ring, s->efd)) < 0) {
		log_debug("io_uring eventfd: %s: synchronous writes",
		    strerror(s->efd == -1 ? errno : -e));
		sink_async_close(s);
	}
}

/* Wait for queued writes and tear the ring down. */
static void
sink_async_close(struct sink *s)
{
	char	*why = NULL;

	if (s->ring == NULL)
		return;
	if (sink_wait_all(s, &why) == -1)
		log_debug("%s", why);
	free(why);
	io_uring_queue_exit(s->ring);
	free(s->ring);
	s->ring = NULL;
	if (s->efd != -1)
		close(s->efd);
	s->efd = -1;
}

/*
 * Prepare a sink on the staging file fd (in directory path) for a file of
 * the given size.  verify says whether to compute the digest; aio_count
 * counts the queued writes of every sink of the worker (atomically: the
 * metrics read it from the main thread).
 */
int
sink_open(struct sink *s, enum sink_kind kind, int fd, const char *path,
    uint64_t size, int verify, int *aio_count, char **cause)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->fd = fd;
	s->efd = -1;
	s->aio_count = aio_count;
	s->size = size;
	s->pipe[0] = s->pipe[1] = -1;
	if (verify) {
		if ((s->hash = XXH3_createState()) == NULL)
			fatalx("XXH3_createState");
		XXH3_128bits_reset(s->hash);
	}
	if (kind == SINK_DIRECT) {
		if (!sink_dio_align(fd, &s->dio_align, &s->dio_mem)) {
			*cause = xasprintf("%s does not support O_DIRECT",
			    path);
			return (-1);
		}
		if (posix_memalign((void **)&s->pad, ZC_BLOCK, ZC_BLOCK) != 0)
			fatalx("posix_memalign");
		if (sink_set_direct(s, 1, cause) == -1)
			return (-1);
		if (size > SINK_ASYNC_MIN)
			sink_async_open(s);
	}
	if (kind == SINK_VMSPLICE || kind == SINK_SPLICE)
		return (sink_pipe(s, cause));
	return (0);
}

/* Feed bytes at off to the digest if they are the next ones. */
static void
sink_hash(struct sink *s, const void *buf, size_t len, uint64_t off)
{
	if (s->hash == NULL || off != s->hashed)
		return;
	XXH3_128bits_update(s->hash, buf, len);
	s->hashed += len;
}

/*
 * A gap of len zero bytes at off (a hole of a sparse file, version 2): the
 * digest takes the zeros; nothing is written.
 */
void
sink_gap(struct sink *s, uint64_t off, uint64_t len)
{
	static const uint8_t	 zero[ZC_BLOCK * 16];
	size_t			 n;

	if (s->hash == NULL || off != s->hashed)
		return;		/* read back at the end instead */
	while (len > 0) {
		n = len < sizeof(zero) ? len : sizeof(zero);
		XXH3_128bits_update(s->hash, zero, n);
		s->hashed += n;
		len -= n;
	}
}

/* pwrite all of it. */
static int
sink_pwrite(struct sink *s, const void *buf, size_t len, uint64_t off,
    char **cause)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = pwrite(s->fd, p, len, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->err = n == 0 ? EIO : errno;
			*cause = xasprintf("write: %s", n == 0 ? "no progress" :
			    strerror(errno));
			return (-1);
		}
		p += n;
		off += n;
		len -= n;
	}
	return (0);
}

/* Move everything in the pipe to the file at off. */
static int
sink_drain_pipe(struct sink *s, size_t len, uint64_t off, char **cause)
{
	loff_t	 o = off;
	ssize_t	 n;

	while (len > 0) {
		n = splice(s->pipe[0], NULL, s->fd, &o, len, SPLICE_F_MOVE);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->err = n == 0 ? EIO : errno;
			*cause = xasprintf("splice to file: %s", n == 0 ?
			    "no progress" : strerror(errno));
			return (-1);
		}
		len -= n;
	}
	return (0);
}

/* vmsplice the bytes into the pipe and splice them on to the file. */
static int
sink_vmsplice(struct sink *s, const void *buf, size_t len, uint64_t off,
    char **cause)
{
	struct iovec	 iov;
	size_t		 n;
	ssize_t		 r;

	while (len > 0) {
		iov.iov_base = (void *)buf;
		iov.iov_len = len < s->pipesz ? len : s->pipesz;
		r = vmsplice(s->pipe[1], &iov, 1, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			s->err = r == 0 ? EIO : errno;
			*cause = xasprintf("vmsplice: %s", r == 0 ?
			    "no progress" : strerror(errno));
			return (-1);
		}
		n = r;
		if (sink_drain_pipe(s, n, off, cause) == -1)
			return (-1);
		buf = (const uint8_t *)buf + n;
		off += n;
		len -= n;
	}
	return (0);
}

/*
 * The write that ends the file, aligned at its start: whole blocks as they
 * are, the last partial one padded in an aligned buffer (the file is
 * truncated to size at the end).
 */
static int
sink_direct_tail(struct sink *s, const uint8_t *buf, size_t len, uint64_t off,
    char **cause)
{
	size_t	 a = s->dio_align, whole = len / a * a, padded;

	if (whole > 0 && sink_pwrite(s, buf, whole, off, cause) == -1)
		return (-1);
	len -= whole;
	padded = (len + a - 1) / a * a;
	memcpy(s->pad, buf + whole, len);
	memset(s->pad + len, 0, padded - len);
	s->truncate = 1;
	return (sink_pwrite(s, s->pad, padded, off + whole, cause));
}

/* O_DIRECT write; falls back as described at the top of the file. */
static int
sink_direct(struct sink *s, const void *buf, size_t len, uint64_t off,
    char **cause)
{
	size_t	 a = s->dio_align;

	if (s->direct && off % a == 0 && (uintptr_t)buf % s->dio_mem == 0) {
		if (len % a == 0)
			return (sink_pwrite(s, buf, len, off, cause));
		if (off + len == s->size)
			return (sink_direct_tail(s, buf, len, off, cause));
	}
	if (s->direct) {
		log_debug("unaligned write %zu@%llu: O_DIRECT off", len,
		    (unsigned long long)off);
		if (sink_wait_all(s, cause) == -1 ||
		    sink_set_direct(s, 0, cause) == -1)
			return (-1);
	}
	return (sink_pwrite(s, buf, len, off, cause));
}

/* Write len bytes from buf at file offset off and hash them. */
int
sink_write(struct sink *s, const void *buf, size_t len, uint64_t off,
    char **cause)
{
	if (off + len > s->size) {
		*cause = xasprintf("write beyond announced size");
		return (-1);
	}
	sink_hash(s, buf, len, off);
	switch (s->kind) {
	case SINK_DIRECT:
		return (sink_direct(s, buf, len, off, cause));
	case SINK_VMSPLICE:
		return (sink_vmsplice(s, buf, len, off, cause));
	case SINK_DISCARD:
		return (0);
	default:
		return (sink_pwrite(s, buf, len, off, cause));
	}
}

/* A free ticket, or -1. */
static int
sink_free_slot(struct sink *s)
{
	int	 i;

	for (i = 0; i < SINK_AIO_SLOTS; i++)
		if (s->aio[i].len == 0)
			return (i);
	return (-1);
}

/*
 * Write len bytes from buf at off like sink_write, but queue the write when
 * it can go async.  Returns 1 when queued (buf must stay until
 * sink_wait(*ticket)), 0 when written already, -1 with *cause.
 */
int
sink_write_async(struct sink *s, const void *buf, size_t len, uint64_t off,
    int *ticket, char **cause)
{
	struct io_uring_sqe	*sqe;
	int			 e, slot;

	if (s->ring == NULL || !s->direct || off + len > s->size ||
	    *s->aio_count >= WORKER_AIO_MAX || off % s->dio_align != 0 ||
	    len % s->dio_align != 0 || (uintptr_t)buf % s->dio_mem != 0 ||
	    (slot = sink_free_slot(s)) == -1 ||
	    (sqe = io_uring_get_sqe(s->ring)) == NULL)
		return (sink_write(s, buf, len, off, cause) == -1 ? -1 : 0);
	io_uring_prep_write(sqe, s->fd, buf, len, off);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)slot);
	if ((e = io_uring_submit(s->ring)) != 1) {
		/*
		 * Not queued: the entry stays in the ring and goes with the
		 * next submit, so make it a no-op, and write here.
		 */
		log_debug("io_uring_submit: %s", e < 0 ? strerror(-e) :
		    "nothing submitted");
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, (void *)(uintptr_t)SINK_NOP);
		return (sink_write(s, buf, len, off, cause) == -1 ? -1 : 0);
	}
	sink_hash(s, buf, len, off);
	s->aio[slot].len = len;
	s->aio[slot].done = 0;
	__atomic_add_fetch(s->aio_count, 1, __ATOMIC_RELAXED);
	*ticket = slot;
	return (1);
}

/* Note a completion. */
static void
sink_complete(struct sink *s, struct io_uring_cqe *cqe)
{
	uintptr_t	 k = (uintptr_t)io_uring_cqe_get_data(cqe);

	if (k < SINK_AIO_SLOTS) {
		s->aio[k].res = cqe->res;
		s->aio[k].done = 1;
	} else if (k != SINK_NOP)
		fatalx("%s: bad completion", __func__);
	io_uring_cqe_seen(s->ring, cqe);
}

/* Note the writes that are done, without waiting. */
void
sink_reap(struct sink *s)
{
	struct io_uring_cqe	*cqe;

	if (s->ring == NULL)
		return;
	while (io_uring_peek_cqe(s->ring, &cqe) == 0)
		sink_complete(s, cqe);
}

/*
 * Is the write of ticket done (sink_wait will not wait)?  A ticket that
 * was waited for already (sink_wait_all) is done too.
 */
int
sink_done(struct sink *s, int ticket)
{
	return (s->aio[ticket].len == 0 || s->aio[ticket].done);
}

/*
 * Wait for the write of ticket, if any, and check how it went.  If the
 * ring cannot be waited on, the write counts as failed: its pages are
 * pinned by the kernel until it ends, so the caller may drop them.
 */
int
sink_wait(struct sink *s, int ticket, char **cause)
{
	struct io_uring_cqe	*cqe;
	struct sink_aio		*a = &s->aio[ticket];
	int			 e;

	while (a->len != 0 && !a->done) {
		if ((e = io_uring_wait_cqe(s->ring, &cqe)) == -EINTR)
			continue;
		if (e < 0) {
			a->res = e;
			a->done = 1;
			break;
		}
		sink_complete(s, cqe);
	}
	if (a->len == 0)
		return (0);
	e = a->res;
	__atomic_sub_fetch(s->aio_count, 1, __ATOMIC_RELAXED);
	if (e >= 0 && (size_t)e == a->len) {
		a->len = 0;
		return (0);
	}
	a->len = 0;
	s->err = e < 0 ? -e : EIO;
	*cause = xasprintf("write: %s", e < 0 ? strerror(-e) : "short write");
	return (-1);
}

/* Wait for every queued write; the first failure is returned. */
int
sink_wait_all(struct sink *s, char **cause)
{
	char	*why;
	int	 i, r = 0;

	for (i = 0; i < SINK_AIO_SLOTS; i++) {
		why = NULL;
		if (sink_wait(s, i, &why) == -1 && r == 0) {
			*cause = why;
			r = -1;
		} else
			free(why);
	}
	return (r);
}

/*
 * Splice up to len bytes from the socket through the pipe into the file at
 * off, without seeing them.  Returns the bytes moved, 0 when the socket has
 * nothing now (EAGAIN), or -1 with *cause (errno 0 for end of stream).
 */
ssize_t
sink_splice(struct sink *s, int sock, size_t len, uint64_t off, char **cause)
{
	ssize_t	 n;

	if (sink_pipe(s, cause) == -1)
		return (-1);
	if (s->direct && sink_set_direct(s, 0, cause) == -1)
		return (-1);
	if (len > s->pipesz)
		len = s->pipesz;
	n = splice(sock, NULL, s->pipe[1], NULL, len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (0);
		s->err = errno;
		*cause = xasprintf("splice from socket: %s", strerror(errno));
		return (-1);
	}
	if (n == 0) {
		errno = 0;
		*cause = xasprintf("connection closed");
		return (-1);
	}
	if (sink_drain_pipe(s, n, off, cause) == -1)
		return (-1);
	return (n);
}

/* Hash [s->hashed, size) by reading the staging file back. */
static int
sink_readback(struct sink *s, char **cause)
{
	uint8_t	*buf;
	ssize_t	 n;
	int	 fd;
	char	 path[64];

	/* A second descriptor, so O_DIRECT on s->fd does not matter. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fd);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = xasprintf("reopen for digest: %s", strerror(errno));
		return (-1);
	}
	buf = xmalloc(SINK_READBACK);
	while (s->hashed < s->size) {
		n = pread(fd, buf, SINK_READBACK, s->hashed);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->err = n == 0 ? EIO : errno;
			*cause = xasprintf("read back for digest: %s", n == 0 ?
			    "short file" : strerror(errno));
			break;
		}
		XXH3_128bits_update(s->hash, buf, n);
		s->hashed += n;
	}
	free(buf);
	close(fd);
	return (s->hashed == s->size ? 0 : -1);
}

/*
 * All payload is in: cut the padding, complete the digest into digest
 * (ZC_DIGEST_LEN bytes, canonical form).
 */
int
sink_finish(struct sink *s, uint8_t *digest, char **cause)
{
	XXH128_canonical_t	 canon;

	if (sink_wait_all(s, cause) == -1)
		return (-1);
	if (s->truncate && ftruncate(s->fd, s->size) == -1) {
		s->err = errno;
		*cause = xasprintf("truncate: %s", strerror(errno));
		return (-1);
	}
	if (s->hash == NULL)
		return (0);
	if (s->hashed < s->size && sink_readback(s, cause) == -1)
		return (-1);
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(s->hash));
	memcpy(digest, canon.digest, ZC_DIGEST_LEN);
	return (0);
}

/*
 * A stream's size is known now (its short last record has come, or it
 * ended): size was only a bound until here.  The tail is padded and cut,
 * and the digest read back, by this size.
 */
void
sink_resize(struct sink *s, uint64_t size)
{
	s->size = size;
}

/* Free what the sink holds (the file descriptor belongs to the landing). */
void
sink_close(struct sink *s)
{
	sink_async_close(s);
	if (s->pipe[0] != -1) {
		close(s->pipe[0]);
		close(s->pipe[1]);
	}
	s->pipe[0] = s->pipe[1] = -1;
	if (s->hash != NULL)
		XXH3_freeState(s->hash);
	s->hash = NULL;
	free(s->pad);
	s->pad = NULL;
}
