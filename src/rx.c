/*
 * rx.c -- the receive paths: how a connection takes payload off its socket.
 *
 * One interface, rx_take(), over four paths, one row each in rx_paths[]:
 *
 *	map	pages mapped out of the socket (zcrx.c) go to the file's sink;
 *		what the kernel cannot map is copied with recv()
 *	splice	socket -> pipe -> file: one copy, never seen here
 *	copy	recv() into an aligned buffer, then the sink
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

	/* Per-file buffers come with the first file: idle peers cost little. */
	if (p->bounce && r->bounce == NULL &&
	    posix_memalign((void **)&r->bounce, ZC_BLOCK, RX_BOUNCE) != 0)
		fatalx("posix_memalign");
	if (p->mapped && zcrx_mmap(&r->zcrx, cause) == -1)
		return (-1);
	r->kind = kind;
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
 * Give the copy buffer back if its write is done (force: the connection
 * goes; the kernel keeps the pages of a write that goes on).  -1 with
 * *code and *cause if the write failed.
 */
static int
rx_bounce_release(struct rx *r, int force, int *code, char **cause)
{
	int	 ret = 0;

	if (r->bx == NULL)
		return (0);
	if (xfer_written(r->bx, r->bticket))
		ret = xfer_wait(r->bx, r->bticket, code, cause);
	else if (!force)
		return (0);
	else
		xfer_on_written(r->bx, NULL, NULL);	/* we are gone */
	xfer_unref(r->bx);
	r->bx = NULL;
	return (ret);
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
	if (rx_bounce_release(r, 0, code, &why) == -1 && ret == 0) {
		*cause = why;
		return (-1);
	}
	free(why);
	return (ret);
}

/*
 * The file is over: give back the buffers whose writes are done; those of
 * a failed file still under a write follow when it ends (rx_reap).
 */
void
rx_release(struct rx *r)
{
	char	*why = NULL;
	int	 code;

	zcrx_release_all(&r->zcrx);
	rx_bounce_release(r, 0, &code, &why);
	free(why);
}

/* Free what the receive paths hold. */
void
rx_free(struct rx *r)
{
	char	*why = NULL;
	int	 code;

	rx_bounce_release(r, 1, &code, &why);
	free(why);
	zcrx_free(&r->zcrx);
	free(r->bounce);
	r->bounce = NULL;
}

/* recv() up to max bytes into the copy buffer and hand them to x. */
static ssize_t
rx_copy(struct rx *r, struct xfer *x, uint64_t off, uint64_t max, int *code,
    char **cause)
{
	ssize_t	 n;
	int	 q, ticket;

	if (rx_bounce_release(r, 0, code, cause) == -1)
		return (-1);
	if (r->bx != NULL || !xfer_ready(x)) {
		r->busy = 1;
		return (0);
	}
	if (max > RX_BOUNCE)
		max = RX_BOUNCE;
	n = recv(r->fd, r->bounce, max, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0) {
		*code = PEER_GONE;
		*cause = xstrdup(n == 0 ? "connection closed" :
		    strerror(errno));
		return (-1);
	}
	if ((q = xfer_write_async(x, r->bounce, n, off, &ticket, code,
	    cause)) == -1)
		return (-1);
	if (q == 1) {
		r->bx = xfer_ref(x);
		r->bticket = ticket;
	}
	xfer_took(x, n, RX_COPY);
	return (n);
}

/* Map payload pages and write them; copy what cannot be mapped. */
static ssize_t
rx_map(struct rx *r, struct xfer *x, uint64_t off, uint64_t left, int *code,
    char **cause)
{
	const uint8_t	*at;
	size_t		 want, mapped, skip, inq;
	ssize_t		 n;
	int		 q, ticket;

	want = left & ~(uint64_t)(ZC_BLOCK - 1);
	if (want == 0)
		return (rx_copy(r, x, off, left, code, cause));	/* the tail */
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
	if (skip > 0 && left > mapped) {
		n = rx_copy(r, x, off + mapped, skip < left - mapped ? skip :
		    left - mapped, code, cause);
		return (n == -1 ? -1 : (ssize_t)mapped + n);
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
