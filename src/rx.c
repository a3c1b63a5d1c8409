/*
 * rx.c -- the receive paths: how a connection takes payload off its socket.
 *
 * One interface, rx_take(), over four paths, one row each in rx_paths[]:
 *
 *	map	pages mapped out of the socket (zcrx.c) go to the file's sink;
 *		what the kernel cannot map is copied with recv()
 *	splice	socket -> pipe -> file: one copy, never seen here
 *	copy	recv() into RX_NBUF aligned buffers of RX_BOUNCE bytes,
 *		each written in one go when full (or at the end of the
 *		record): whole aligned blocks, so an O_DIRECT sink writes
 *		them as they are, and up to RX_NBUF writes in flight
 *	discard	recv(MSG_TRUNC): thrown away, while a failed connection
 *		drains what the peer still sends
 *
 * A take moves at most what is left of the current DATA record, so the
 * next record's header stays in the socket, and accounts what it moved to
 * the file (xfer_took).  The connection picks the path per file, from the
 * io mode, and may switch from map to splice in the middle of one.
 *
 * A take never waits for the disk.  When the file's write queue is full,
 * or the window or copy buffer the bytes would go to is still under a
 * queued write, it takes nothing and says so (busy): the connection stops
 * reading until a completion (rx_reap) frees what it needs.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zcrecvd.h"

typedef ssize_t (*rx_take_fn)(struct rx *, struct xfer *, uint64_t, uint64_t,
		    int *, char **);

static ssize_t	 rx_map(struct rx *, struct xfer *, uint64_t, uint64_t, int *,
		    char **);
static ssize_t	 rx_splice(struct rx *, struct xfer *, uint64_t, uint64_t,
		    int *, char **);
static ssize_t	 rx_copy(struct rx *, struct xfer *, uint64_t, uint64_t,
		    int *, char **);
static void	 rx_buf_alloc(struct rx *);
static ssize_t	 rx_recv(struct rx *, struct xfer *, uint64_t, uint64_t, int,
		    int *, char **);
static ssize_t	 rx_discard(struct rx *, struct xfer *, uint64_t, uint64_t,
		    int *, char **);

static const struct rx_path {
	const char	*name;
	rx_take_fn	 take;
	int		 mapped;	/* needs the socket mapping */
	int		 bounce;	/* needs the copy buffer */
} rx_paths[] = {
	[RX_MAP] = { "map", rx_map, 1, 1 },
	[RX_SPLICE] = { "splice", rx_splice, 0, 0 },
	[RX_COPY] = { "copy", rx_copy, 0, 1 },
	[RX_DISCARD] = { "discard", rx_discard, 0, 0 },
};

/* Name of a receive path for logs. */
const char *
rx_name(enum rx_kind kind)
{
	return (rx_paths[kind].name);
}

/* A receive error that means the peer is gone (0: end of stream). */
int
rx_lost(int e)
{
	return (e == 0 || e == ECONNRESET || e == EPIPE || e == ETIMEDOUT ||
	    e == ECONNABORTED);
}

/* Set up for socket fd; buffers come with the first file. */
void
rx_init(struct rx *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->kind = RX_COPY;
	zcrx_init(&r->zcrx, fd);
}

/*
 * Take payload the kind way from now on.  Fails (*cause) only when the
 * socket cannot be mapped; the caller then takes the copy path.
 */
int
rx_start(struct rx *r, enum rx_kind kind, char **cause)
{
	const struct rx_path	*p = &rx_paths[kind];

	/* Buffers come with the first file: idle peers cost little. */
	if (p->bounce)
		rx_buf_alloc(r);
	if (p->mapped && zcrx_mmap(&r->zcrx, cause) == -1)
		return (-1);
	r->kind = kind;
	r->burst_end = 0;
	r->burst = 0;
	return (0);
}

/*
 * Take up to left bytes of the record at file offset off for x.  Returns
 * the bytes taken, 0 when the socket has none now, or -1 with *code
 * (PEER_GONE, or the result code for the peer) and *cause.
 */
ssize_t
rx_take(struct rx *r, struct xfer *x, uint64_t off, uint64_t left, int *code,
    char **cause)
{
	r->empty = 0;
	r->busy = 0;
	return (rx_paths[r->kind].take(r, x, off, left, code, cause));
}

/*
 * The copy buffers' memory, allocated the first time one is needed: one
 * block in huge pages where the kernel has them (madvise mode), so that
 * filling it costs two page faults, not a thousand, and few TLB entries.
 * Memory is only taken as it is touched: a connection of small files uses
 * the first buffer only.
 */
static void
rx_buf_alloc(struct rx *r)
{
	uint8_t	*p;
	int	 i;

	if (r->buf[0].p != NULL)
		return;
	if (posix_memalign((void **)&p, RX_HUGE, RX_NBUF * RX_BOUNCE) != 0)
		fatalx("posix_memalign");
	if (madvise(p, RX_NBUF * RX_BOUNCE, MADV_HUGEPAGE) == -1)
		log_debug("MADV_HUGEPAGE: %s", strerror(errno));
	for (i = 0; i < RX_NBUF; i++)
		r->buf[i].p = p + (size_t)i * RX_BOUNCE;
}

/*
 * Give copy buffer i back if its write is done (force: the connection
 * goes; the kernel keeps the pages of a write that goes on).  -1 with
 * *code and *cause if the write failed.
 */
static int
rx_buf_release(struct rx *r, int i, int force, int *code, char **cause)
{
	struct rx_buf	*b = &r->buf[i];
	int		 ret = 0;

	if (b->x == NULL)
		return (0);
	if (xfer_written(b->x, b->ticket))
		ret = xfer_wait(b->x, b->ticket, code, cause);
	else if (!force)
		return (0);
	else
		xfer_on_written(b->x, NULL, NULL);	/* we are gone */
	xfer_unref(b->x);
	b->x = NULL;
	return (ret);
}

/* Give back every copy buffer whose write is done; the first failure counts. */
static int
rx_buf_reap(struct rx *r, int force, int *code, char **cause)
{
	char	*why;
	int	 i, ret = 0;

	for (i = 0; i < RX_NBUF; i++) {
		why = NULL;
		if (rx_buf_release(r, i, force, code, &why) == -1 && ret == 0) {
			*cause = why;
			ret = -1;
		} else
			free(why);
	}
	return (ret);
}

/*
 * May the connection take another path now?  Not while the copy buffer
 * holds bytes not yet handed to the sink: they go first, in order.
 */
int
rx_at_rest(const struct rx *r)
{
	return (r->buf[r->bcur].fill == 0);
}

/* Wake when want bytes are queued (at most a window). */
void
rx_lowat(struct rx *r, size_t want)
{
	zcrx_lowat(&r->zcrx, want);
}

/* Give back buffers whose writes are done (a write completed). */
int
rx_reap(struct rx *r, int *code, char **cause)
{
	char	*why = NULL;
	int	 ret;

	ret = zcrx_reap(&r->zcrx, code, cause);
	if (rx_buf_reap(r, 0, code, &why) == -1 && ret == 0) {
		*cause = why;
		return (-1);
	}
	free(why);
	return (ret);
}

/*
 * The file is over: give back the buffers whose writes are done; those of
 * a failed file still under a write follow when it ends (rx_reap), and
 * what a failed file left unwritten in one is dropped.
 */
void
rx_release(struct rx *r)
{
	char	*why = NULL;
	int	 code, i;

	zcrx_release_all(&r->zcrx);
	rx_buf_reap(r, 0, &code, &why);
	free(why);
	for (i = 0; i < RX_NBUF; i++)
		r->buf[i].fill = 0;
	r->burst_end = 0;
	r->burst = 0;
}

/* Free what the receive paths hold. */
void
rx_free(struct rx *r)
{
	char	*why = NULL;
	int	 code;

	int	 i;

	rx_buf_reap(r, 1, &code, &why);
	free(why);
	zcrx_free(&r->zcrx);
	free(r->buf[0].p);	/* the block of all of them */
	for (i = 0; i < RX_NBUF; i++)
		r->buf[i].p = NULL;
}

/*
 * Hand the filling buffer's bytes to x's sink; the next buffer fills while
 * a queued write of this one goes on.  Returns 0, or -1 with *code and
 * *cause.
 */
static int
rx_flush(struct rx *r, struct xfer *x, int *code, char **cause)
{
	struct rx_buf	*b = &r->buf[r->bcur];
	int		 q, ticket;

	if (b->fill == 0)
		return (0);
	q = xfer_write_async(x, b->p, b->fill, b->off, &ticket, code, cause);
	b->fill = 0;
	if (q == -1)
		return (-1);
	if (q == 1) {
		b->x = xfer_ref(x);
		b->ticket = ticket;
		r->bcur = (r->bcur + 1) % RX_NBUF;
	}
	return (0);
}

/*
 * recv() up to max bytes at file offset off into the filling buffer.  Its
 * bytes go to x when it is full, when the take got all it asked for (the
 * end of the record), or at once unless gather (the copied part of a
 * mapped file must reach the sink in order with the mapped pages).
 */
static ssize_t
rx_recv(struct rx *r, struct xfer *x, uint64_t off, uint64_t max, int gather,
    int *code, char **cause)
{
	struct rx_buf	*b = &r->buf[r->bcur];
	uint64_t	 want;
	ssize_t		 n;

	if (rx_buf_release(r, r->bcur, 0, code, cause) == -1)
		return (-1);
	if (b->x != NULL || !xfer_ready(x)) {
		r->busy = 1;
		return (0);
	}
	if (b->fill == 0)
		b->off = off;
	else if (b->off + b->fill != off)
		fatalx("%s: copy buffer at %llu + %zu, bytes at %llu", __func__,
		    (unsigned long long)b->off, b->fill,
		    (unsigned long long)off);
	want = max < RX_BOUNCE - b->fill ? max : RX_BOUNCE - b->fill;
	n = recv(r->fd, b->p + b->fill, want, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0) {
		*code = PEER_GONE;
		*cause = xstrdup(n == 0 ? "connection closed" :
		    strerror(errno));
		return (-1);
	}
	b->fill += n;
	xfer_took(x, n, RX_COPY);
	if ((!gather || b->fill == RX_BOUNCE || (uint64_t)n == max) &&
	    rx_flush(r, x, code, cause) == -1)
		return (-1);
	return (n);
}

/* The copy path: recv() into large buffers, written whole. */
static ssize_t
rx_copy(struct rx *r, struct xfer *x, uint64_t off, uint64_t max, int *code,
    char **cause)
{
	return (rx_recv(r, x, off, max, 1, code, cause));
}

/*
 * The length of the next burst when the kernel skipped skip bytes, after
 * one of last bytes (0: the first in a row): the skip rounded up to the
 * block, for the next try to map starts there.  Small skips in a row (no
 * page in reach fits the file's, as where segments are smaller than a
 * page) back off: each of those bursts is at least twice the last, so
 * that the tries cost little per byte.  None is longer than RX_BURST.
 */
size_t
rx_burst(size_t last, size_t skip)
{
	size_t	 len = (skip + ZC_BLOCK - 1) & ~(size_t)(ZC_BLOCK - 1);

	if (len < RX_BURST_TRY && len < 2 * last)
		len = 2 * last;
	return (len < RX_BURST ? len : RX_BURST);
}

/*
 * Map payload pages and write them; copy what cannot be mapped.
 *
 * Bytes the kernel cannot map start a burst of copied bytes, gathered
 * into one aligned buffer: copying just the skipped bytes would go on
 * mapping at file offsets that are not block multiples, where no O_DIRECT
 * write can go.  Mapping resumes at the aligned end of the burst, which is
 * as short as the skip allows (rx_burst).  A receiver that falls behind
 * meets the edge of the window, where the kernel may cut a segment off
 * the page grid; what follows is then off the grid too until the sender
 * catches up, and on local delivery, where the kernel copies the frags,
 * whole skbs are.  Each of those is copied as it comes, and mapping goes
 * on at the first page that fits.
 */
static ssize_t
rx_map(struct rx *r, struct xfer *x, uint64_t off, uint64_t left, int *code,
    char **cause)
{
	const uint8_t	*at;
	size_t		 want, mapped, skip, inq;
	int		 q, ticket;

	want = left & ~(uint64_t)(ZC_BLOCK - 1);
	if (want == 0)
		return (rx_recv(r, x, off, left, 0, code, cause)); /* tail */
	if (r->burst_end > off)
		return (rx_recv(r, x, off, r->burst_end - off < left ?
		    r->burst_end - off : left, 1, code, cause));
	if (!zcrx_ready(&r->zcrx) || !xfer_ready(x)) {
		r->busy = 1;
		return (0);
	}
	if (zcrx_map(&r->zcrx, want, &at, &mapped, &skip, &inq, code,
	    cause) == -1)
		return (-1);
	if (mapped > 0) {
		q = xfer_write_async(x, at, mapped, off, &ticket, code, cause);
		if (q == 1)
			zcrx_hold(&r->zcrx, mapped, x, ticket);
		else
			zcrx_drop(&r->zcrx, mapped);
		if (q == -1)
			return (-1);
		xfer_took(x, mapped, RX_MAP);
	}
	if (mapped == 0 && skip == 0 && inq > 0)
		skip = inq;	/* queued but neither mapped nor skipped */
	if (mapped > 0)
		r->burst = 0;
	if (skip > 0 && left > mapped) {
		r->burst = rx_burst(r->burst, skip);
		r->burst_end = off + mapped + r->burst;
		if (mapped > 0)
			return (mapped);	/* the burst is the next take */
		return (rx_recv(r, x, off, r->burst < left ? r->burst : left,
		    1, code, cause));
	}
	r->empty = inq == 0;
	return (mapped);
}

/* Splice payload from the socket to x's file. */
static ssize_t
rx_splice(struct rx *r, struct xfer *x, uint64_t off, uint64_t left,
    int *code, char **cause)
{
	ssize_t	 n;

	if (!xfer_ready(x)) {	/* the pipe's last bytes are not written */
		r->busy = 1;
		return (0);
	}
	n = xfer_splice(x, r->fd, left, off, code, cause);
	if (n == -1 && rx_lost(errno))
		*code = PEER_GONE;
	if (n > 0)
		xfer_took(x, n, RX_SPLICE);
	return (n);
}

/* Throw away up to max bytes (x is NULL: no file). */
static ssize_t
rx_discard(struct rx *r, struct xfer *x, uint64_t off, uint64_t max,
    int *code, char **cause)
{
	ssize_t	 n;

	if (max > RX_BOUNCE)
		max = RX_BOUNCE;
	n = recv(r->fd, NULL, max, MSG_DONTWAIT | MSG_TRUNC);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0) {
		*code = PEER_GONE;
		*cause = xstrdup(n == 0 ? "connection closed" :
		    strerror(errno));
		return (-1);
	}
	return (n);
}
