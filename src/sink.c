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
 * truncated to size afterwards, and anything else unaligned (a peer whose
 * segments are not page multiples) turns O_DIRECT off for the rest of the
 * file, so direct and buffered writes never share a block.
 *
 * For a file larger than a mapping window, writes go through an io_uring
 * (sink_write_async): whole-block O_DIRECT writes straight from the
 * caller's buffer, buffered writes (write, copy) too, and the padded tail
 * from the sink's own aligned buffer.  The disk writes one window while the
 * caller maps and hashes the next.  A queued write gets a ticket (one of
 * SINK_AIO_SLOTS); the caller keeps the buffer until sink_done(ticket), and
 * an eventfd tells when a write completes.  The event loop never waits for
 * the disk: before it takes bytes off a socket it asks sink_ready(), and
 * when the queue is full it stops reading that connection until a
 * completion frees a slot (backpressure through TCP).  Writes per worker
 * are bounded (WORKER_AIO_MAX, a bound on pinned pages), but never below
 * SINK_AIO_FAIR per file, so that a slow disk holding every slot of the
 * worker cannot stall a file bound for a fast one.  Splice queues the pipe -> file
 * half on the ring (IORING_OP_SPLICE), one at a time: the pipe is busy
 * until it is done.  Every file but an empty one has a ring, taken
 * from its worker's pool and given back (sink_pool): setting one up costs
 * more than writing a small file.  Synchronous writes are left for the
 * vmsplice sink (a benchmark mode) and for a write the ring refused; they
 * are counted (sync_writes).  An io_uring failure fails the write, never the
 * daemon.  A failed file does not wait for its queued writes: the ring
 * stays with the xfer until they are done (sink_free_ring).
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

static void	 sink_async_close(struct sink *);
static void	 sink_ring_exit(struct io_uring *, int);
static int	 sink_own_failed(struct sink *, char **);

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
 * Set up async writes: a ring, and an eventfd it signals on completions,
 * from the worker's pool when it has one.  A failure leaves the sink
 * writing synchronously.
 */
static void
sink_async_open(struct sink *s)
{
	struct sink_pool	*p = s->pool;
	uint64_t		 n;
	int			 e;

	if (p->nfree > 0) {
		p->nfree--;
		s->ring = p->free[p->nfree].ring;
		s->efd = p->free[p->nfree].efd;
		/* A count left by the last owner would only wake us. */
		if (read(s->efd, &n, sizeof(n)) == -1 && errno != EAGAIN)
			log_debug("eventfd: %s", strerror(errno));
		return;
	}
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
		sink_ring_exit(s->ring, s->efd);
		s->ring = NULL;
		s->efd = -1;
	}
}

/* Tear a ring down: what it has queued goes on in the kernel. */
static void
sink_ring_exit(struct io_uring *ring, int efd)
{
	io_uring_queue_exit(ring);
	free(ring);
	if (efd != -1)
		close(efd);
}

/*
 * Let go of the ring without waiting.  One with no write in flight goes
 * back to the pool (its eventfd registered); one with writes queued is
 * torn down, and the kernel ends them, holding their pages and the file.
 */
static void
sink_async_close(struct sink *s)
{
	struct sink_pool	*p = s->pool;
	int			 busy;

	if (s->ring == NULL)
		return;
	busy = !sink_idle(s);
	if (s->queued > 0)
		__atomic_sub_fetch(&p->aio, s->queued, __ATOMIC_RELAXED);
	s->queued = 0;
	memset(s->aio, 0, sizeof(s->aio));
	if (!busy && s->efd != -1 && p->nfree < SINK_POOL_MAX) {
		p->free[p->nfree].ring = s->ring;
		p->free[p->nfree].efd = s->efd;
		p->nfree++;
	} else
		sink_ring_exit(s->ring, s->efd);
	s->ring = NULL;
	s->efd = -1;
}

/* Tear down the rings of a pool (its worker is done). */
void
sink_pool_free(struct sink_pool *p)
{
	while (p->nfree > 0) {
		p->nfree--;
		sink_ring_exit(p->free[p->nfree].ring, p->free[p->nfree].efd);
	}
}

/*
 * Prepare a sink on the staging file fd (in directory path) for a file of
 * the given size.  verify says whether to compute the digest; pool is the
 * worker's (rings, and the count of its queued writes).
 */
int
sink_open(struct sink *s, enum sink_kind kind, int fd, const char *path,
    uint64_t size, int verify, struct sink_pool *pool, char **cause)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->fd = fd;
	s->efd = -1;
	s->pool = pool;
	s->size = s->end = size;
	s->pipe[0] = s->pipe[1] = -1;
	s->pipe_slot = -1;
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
	}
	if ((kind == SINK_DIRECT || kind == SINK_WRITE || kind == SINK_COPY ||
	    kind == SINK_SPLICE) && size > 0)
		sink_async_open(s);
	if (kind == SINK_VMSPLICE || kind == SINK_SPLICE)
		return (sink_pipe(s, cause));
	return (0);
}

/*
 * The sink takes the bytes [off, size) of a file that ends at end (a
 * chunk of a striped file, version 4): its digest covers [off, size), and
 * only a write that ends at end is the file's tail, padded and cut.
 */
void
sink_range(struct sink *s, uint64_t off, uint64_t end)
{
	s->hashed = off;
	s->end = end;
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

	s->sync_writes++;
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

	s->sync_writes++;
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

/*
 * An unaligned write: O_DIRECT off for the rest of the file.  Queued
 * O_DIRECT writes need not be waited for: they cover whole blocks before
 * off (every direct write is aligned at both ends, and bytes arrive in
 * order), so no block is both written directly and through the cache.
 */
static int
sink_direct_off(struct sink *s, size_t len, uint64_t off, char **cause)
{
	log_debug("unaligned write %zu@%llu: O_DIRECT off", len,
	    (unsigned long long)off);
	return (sink_set_direct(s, 0, cause));
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
		if (off + len == s->end)
			return (sink_direct_tail(s, buf, len, off, cause));
	}
	if (s->direct && sink_direct_off(s, len, off, cause) == -1)
		return (-1);
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
 * Can a write be issued now without waiting for the disk?  Always without
 * a ring (the write is synchronous); with one, when a slot is free and the
 * worker's bound (or this file's fair share) allows one more.
 */
int
sink_ready(struct sink *s)
{
	if (s->ring == NULL)
		return (1);
	sink_reap(s);
	return (s->pipe_slot == -1 && sink_free_slot(s) != -1 &&
	    io_uring_sq_space_left(s->ring) > 0 &&
	    (s->queued < SINK_AIO_FAIR ||
	    __atomic_load_n(&s->pool->aio, __ATOMIC_RELAXED) < WORKER_AIO_MAX));
}

/* Are all queued writes done (sink_finish will not wait)? */
int
sink_idle(struct sink *s)
{
	int	 i;

	if (s->ring == NULL)
		return (1);
	sink_reap(s);
	for (i = 0; i < SINK_AIO_SLOTS; i++)
		if (s->aio[i].len != 0 && !s->aio[i].done)
			return (0);
	return (1);
}

/*
 * Queue a write of len bytes from buf (NULL: from the pipe, a splice) at
 * off in a free slot.  Returns the slot, or -1 when it could not be
 * submitted (nothing is then queued).
 */
static int
sink_queue(struct sink *s, const void *buf, size_t len, uint64_t off, int own)
{
	struct io_uring_sqe	*sqe;
	int			 e, slot;

	if ((slot = sink_free_slot(s)) == -1 ||
	    (sqe = io_uring_get_sqe(s->ring)) == NULL)
		return (-1);
	if (buf != NULL)
		io_uring_prep_write(sqe, s->fd, buf, len, off);
	else			/* from the pipe */
		io_uring_prep_splice(sqe, s->pipe[0], -1, s->fd, off, len,
		    SPLICE_F_MOVE);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)slot);
	if ((e = io_uring_submit(s->ring)) != 1) {
		/*
		 * Not queued: the entry stays in the ring and goes with the
		 * next submit, so make it a no-op.
		 */
		log_debug("io_uring_submit: %s", e < 0 ? strerror(-e) :
		    "nothing submitted");
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, (void *)(uintptr_t)SINK_NOP);
		return (-1);
	}
	s->aio[slot].len = len;
	s->aio[slot].done = 0;
	s->aio[slot].own = own;
	s->queued++;
	__atomic_add_fetch(&s->pool->aio, 1, __ATOMIC_RELAXED);
	return (slot);
}

/*
 * The aligned end of an O_DIRECT file, at most a block: padded in the
 * sink's own buffer and queued.  Returns 1 when queued, 0 when it was not.
 */
static int
sink_queue_tail(struct sink *s, const void *buf, size_t len, uint64_t off)
{
	size_t	 a = s->dio_align, padded;

	/* (An earlier tail would own the buffer: never, a file has one.) */
	if (s->kind != SINK_DIRECT || !s->direct || s->truncate ||
	    off % a != 0 || off + len != s->end || len > ZC_BLOCK)
		return (0);
	padded = (len + a - 1) / a * a;
	memcpy(s->pad, buf, len);
	memset(s->pad + len, 0, padded - len);
	if (sink_queue(s, s->pad, padded, off, 1) == -1)
		return (0);
	s->truncate = 1;
	return (1);
}

/*
 * The aligned end of an O_DIRECT file longer than a block: its whole blocks
 * queued from buf (*ticket), the rest padded and queued from the sink's own
 * buffer (or, should the ring refuse it, written here).  Returns 1 when
 * queued, 0 when it cannot be (fewer than two slots), -1 with *cause.
 */
static int
sink_queue_long_tail(struct sink *s, const uint8_t *buf, size_t len,
    uint64_t off, int *ticket, char **cause)
{
	size_t	 a = s->dio_align, whole;
	int	 i, nfree = 0, slot;

	if (s->kind != SINK_DIRECT || !s->direct || s->truncate ||
	    off % a != 0 || off + len != s->end ||
	    (uintptr_t)buf % s->dio_mem != 0)
		return (0);
	whole = len / a * a;
	/*
	 * Nothing to pad when it ends on a block: then it is an ordinary
	 * write (and nothing is cut: a chunk of a striped file, version 4,
	 * must not cut the file at its end).
	 */
	if (whole == 0 || whole == len || len - whole > ZC_BLOCK)
		return (0);
	for (i = 0; i < SINK_AIO_SLOTS; i++)
		nfree += s->aio[i].len == 0;
	if (nfree < 2 || io_uring_sq_space_left(s->ring) < 2 ||
	    (slot = sink_queue(s, buf, whole, off, 0)) == -1)
		return (0);
	*ticket = slot;
	if (!sink_queue_tail(s, buf + whole, len - whole, off + whole) &&
	    sink_direct_tail(s, buf + whole, len - whole, off + whole,
	    cause) == -1)
		return (-1);	/* the queued part is waited for by the caller */
	return (1);
}

/* Could this write go to the ring from the caller's buffer? */
static int
sink_queueable(const struct sink *s, const void *buf, size_t len,
    uint64_t off)
{
	if (s->kind == SINK_WRITE || s->kind == SINK_COPY ||
	    (s->kind == SINK_DIRECT && !s->direct))
		return (1);
	return (s->kind == SINK_DIRECT && s->direct && off % s->dio_align == 0 &&
	    len % s->dio_align == 0 && (uintptr_t)buf % s->dio_mem == 0);
}

/*
 * Write len bytes from buf at off like sink_write, but queue the write when
 * the sink has a ring.  Returns 1 when queued (buf must stay until
 * sink_done(*ticket)), 0 when written or queued from the sink's own buffer,
 * -1 with *cause.  The caller asked sink_ready() first: a full queue is
 * never met here, so nothing waits.
 */
int
sink_write_async(struct sink *s, const void *buf, size_t len, uint64_t off,
    int *ticket, char **cause)
{
	int	 r, slot;

	if (s->ring == NULL || off + len > s->size)
		return (sink_write(s, buf, len, off, cause) == -1 ? -1 : 0);
	if (sink_own_failed(s, cause) == -1)
		return (-1);
	if (sink_queue_tail(s, buf, len, off)) {
		sink_hash(s, buf, len, off);
		return (0);
	}
	if ((r = sink_queue_long_tail(s, buf, len, off, ticket, cause)) != 0) {
		if (r == 1)
			sink_hash(s, buf, len, off);
		return (r);
	}
	if (s->kind == SINK_DIRECT && s->direct &&
	    !sink_queueable(s, buf, len, off) &&
	    sink_direct_off(s, len, off, cause) == -1)
		return (-1);
	if (sink_queueable(s, buf, len, off)) {
		if ((slot = sink_queue(s, buf, len, off, 0)) == -1)
			return (sink_write(s, buf, len, off, cause) == -1 ?
			    -1 : 0);
		sink_hash(s, buf, len, off);
		*ticket = slot;
		return (1);
	}
	return (sink_write(s, buf, len, off, cause) == -1 ? -1 : 0);
}

/*
 * A write from the sink's own buffer (the padded tail, the pipe) is done:
 * nobody waits for its ticket, so free the slot now and keep a failure for
 * the next write or sink_finish.
 */
static void
sink_settle_own(struct sink *s, int k, int res)
{
	if ((res < 0 || (size_t)res != s->aio[k].len) && s->aerr == 0)
		s->aerr = res < 0 ? -res : EIO;
	if (k == s->pipe_slot)
		s->pipe_slot = -1;
	memset(&s->aio[k], 0, sizeof(s->aio[k]));
	s->queued--;
	__atomic_sub_fetch(&s->pool->aio, 1, __ATOMIC_RELAXED);
}

/* A failed write of the sink's own: -1 with *cause. */
static int
sink_own_failed(struct sink *s, char **cause)
{
	if (s->aerr == 0)
		return (0);
	s->err = s->aerr;
	*cause = xasprintf("write: %s", strerror(s->aerr));
	return (-1);
}

/* Note a completion. */
static void
sink_complete(struct sink *s, struct io_uring_cqe *cqe)
{
	uintptr_t	 k = (uintptr_t)io_uring_cqe_get_data(cqe);

	if (k < SINK_AIO_SLOTS && s->aio[k].own)
		sink_settle_own(s, k, cqe->res);
	else if (k < SINK_AIO_SLOTS) {
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
 * Wait for the write of ticket, if any, and check how it went; the event
 * loop calls it only once sink_done(ticket) says it will not wait.  If the
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
	if (a->own) {		/* the ring failed: count it failed */
		sink_settle_own(s, ticket, a->res);
		return (sink_own_failed(s, cause));
	}
	e = a->res;
	s->queued--;
	__atomic_sub_fetch(&s->pool->aio, 1, __ATOMIC_RELAXED);
	if (e >= 0 && (size_t)e == a->len) {
		a->len = 0;
		return (0);
	}
	a->len = 0;
	s->err = e < 0 ? -e : EIO;
	*cause = xasprintf("write: %s", e < 0 ? strerror(-e) : "short write");
	return (-1);
}

/*
 * Wait for every queued write; the first failure is returned.  The event
 * loop calls it only when sink_idle() (or for the rare unaligned write).
 */
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
	if (r == 0)
		r = sink_own_failed(s, cause);
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

	if (sink_own_failed(s, cause) == -1) {
		errno = s->err;
		return (-1);
	}
	if (s->pipe_slot != -1)
		fatalx("%s: the pipe is still being written", __func__);
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
	/* On to the file by the ring; the pipe is busy until it is done. */
	if (s->ring != NULL && (s->pipe_slot = sink_queue(s, NULL, n, off,
	    1)) != -1)
		return (n);
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
	if (s->truncate && ftruncate(s->fd, s->end) == -1) {
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

/* Bytes handed to the ring and not yet written (not yet in statvfs). */
uint64_t
sink_queued_bytes(const struct sink *s)
{
	uint64_t	 n = 0;
	int		 i;

	for (i = 0; i < SINK_AIO_SLOTS; i++)
		n += s->aio[i].len;
	return (n);
}

/*
 * A stream's size is known now (its short last record has come, or it
 * ended): size was only a bound until here.  The tail is padded and cut,
 * and the digest read back, by this size.
 */
void
sink_resize(struct sink *s, uint64_t size)
{
	s->size = s->end = size;
}

/*
 * Free what the sink holds (the file descriptor belongs to the landing),
 * except, while writes are still queued, the ring and the tail buffer:
 * sink_free_ring, once nobody waits for them.
 */
void
sink_close(struct sink *s)
{
	if (sink_idle(s)) {
		char	*why = NULL;

		if (sink_wait_all(s, &why) == -1)	/* settle, no wait */
			log_debug("%s", why);
		free(why);
		sink_free_ring(s);
	}
	if (s->pipe[0] != -1) {
		close(s->pipe[0]);
		close(s->pipe[1]);
	}
	s->pipe[0] = s->pipe[1] = -1;
	if (s->hash != NULL)
		XXH3_freeState(s->hash);
	s->hash = NULL;
}

/* Tear down the ring (queued writes go on in the kernel) and the pad. */
void
sink_free_ring(struct sink *s)
{
	sink_async_close(s);
	free(s->pad);
	s->pad = NULL;
}
