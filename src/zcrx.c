/*
 * zcrx.c -- TCP zero-copy receive: map payload pages out of the socket.
 *
 * Each connection owns a PROT_READ mapping of its socket, ZCRX_WINDOWS
 * windows of ZCRX_CHUNK bytes aligned to 2 MiB.  getsockopt(
 * TCP_ZEROCOPY_RECEIVE) with a length of at most the bytes left in the
 * current record, rounded down to pages, asks the kernel to insert the
 * payload pages there.  The kernel only maps whole page-sized frags; what
 * it cannot map it reports in recv_skip_hint and the caller copies with
 * recv().  No copybuf is used: with 0 < inq <= copybuf_len the kernel
 * copies all of inq, which can swallow the next record.
 *
 * This file is the one owner of the windows.  While the pages of one are
 * under a queued write, the next payload is mapped into the next window; a
 * window under a write remembers it (the xfer, referenced, and the write's
 * ticket) and is given back (MADV_DONTNEED) once that write is done: when
 * its completion is reaped (zcrx_reap), when the window comes round again
 * (zcrx_map), or when the file ends (zcrx_release_all).  Nothing here
 * waits for the disk: a window whose write is not done stays held, and the
 * caller does not map until zcrx_ready() (it stops reading instead).  When
 * the connection goes, zcrx_free lets go of windows still under a write:
 * the kernel keeps their pages until the write ends.
 *
 * SO_RCVLOWAT is kept at no more than the bytes the peer still owes in the
 * current record: the peer waits for a reply after each record, so a higher
 * mark would leave both ends waiting.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tcp.h>

#include "zcrecvd.h"

#define ZCRX_ALIGN		(2U << 20)
#define zcrx_window(z, w)	((z)->map + (size_t)(w) * ZCRX_CHUNK)

static void	 zcrx_unmap(struct zcrx *, int, size_t);

/* Set up for socket fd; nothing is mapped until zcrx_mmap. */
void
zcrx_init(struct zcrx *z, int fd)
{
	memset(z, 0, sizeof(*z));
	z->fd = fd;
	z->lowat = 1;
}

/* Map the 2 MiB aligned read-only windows of the socket, once. */
int
zcrx_mmap(struct zcrx *z, char **cause)
{
	uint8_t		*raw, *end;
	size_t		 rawlen = ZCRX_WINDOWS * ZCRX_CHUNK + ZCRX_ALIGN;
	uintptr_t	 p;

	if (z->map != NULL)
		return (0);
	raw = mmap(NULL, rawlen, PROT_READ, MAP_SHARED, z->fd, 0);
	if (raw == MAP_FAILED) {
		*cause = xasprintf("mmap of socket: %s", strerror(errno));
		return (-1);
	}
	p = ((uintptr_t)raw + ZCRX_ALIGN - 1) & ~(uintptr_t)(ZCRX_ALIGN - 1);
	z->map = (uint8_t *)p;
	z->maplen = ZCRX_WINDOWS * ZCRX_CHUNK;
	/* Give back the unaligned slack at both ends. */
	if (z->map > raw)
		munmap(raw, z->map - raw);
	end = z->map + z->maplen;
	if (raw + rawlen > end)
		munmap(end, raw + rawlen - end);
	return (0);
}

/*
 * Drop the mapping.  Windows still under a write are let go: their writes
 * are a failed file's, and the kernel holds the pages until they end.
 */
void
zcrx_free(struct zcrx *z)
{
	struct zcrx_win	*win;
	int		 w;

	zcrx_release_all(z);
	for (w = 0; w < ZCRX_WINDOWS; w++) {
		win = &z->win[w];
		if (win->x == NULL)
			continue;
		xfer_on_written(win->x, NULL, NULL);	/* we are gone */
		zcrx_unmap(z, w, win->len);
		xfer_unref(win->x);
		memset(win, 0, sizeof(*win));
	}
	if (z->map != NULL)
		munmap(z->map, z->maplen);
	z->map = NULL;
}

/*
 * Set SO_RCVLOWAT to min(want, chunk): wake only when that much is queued.
 * A failure only costs wake-ups, so it is not an error.
 */
void
zcrx_lowat(struct zcrx *z, size_t want)
{
	int	 v;

	if (want > ZCRX_CHUNK)
		want = ZCRX_CHUNK;
	if (want == 0)
		want = 1;
	v = want;
	if (v == z->lowat)
		return;
	if (setsockopt(z->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == -1)
		log_debug("SO_RCVLOWAT %d: %s", v, strerror(errno));
	z->lowat = v;
}

/* Give back the pages of window w. */
static void
zcrx_unmap(struct zcrx *z, int w, size_t len)
{
	/*
	 * Doing it now, rather than letting the next TCP_ZEROCOPY_RECEIVE
	 * zap the range, frees the pages sooner and lets us pass the
	 * TLB_CLEAN_HINT flag.
	 */
	if (len > 0 && madvise(zcrx_window(z, w), len, MADV_DONTNEED) == -1)
		log_warn("madvise");
}

/*
 * Release window w if its write is done: give the pages back.  Returns -1
 * with *code and *cause if the write failed.
 */
static int
zcrx_release(struct zcrx *z, int w, int *code, char **cause)
{
	struct zcrx_win	*win = &z->win[w];
	int		 r = 0;

	if (win->x == NULL || !xfer_written(win->x, win->ticket))
		return (0);
	r = xfer_wait(win->x, win->ticket, code, cause);
	zcrx_unmap(z, w, win->len);
	xfer_unref(win->x);
	memset(win, 0, sizeof(*win));
	return (r);
}

/* Release every window whose write is done; the first failure counts. */
int
zcrx_reap(struct zcrx *z, int *code, char **cause)
{
	char	*why;
	int	 w, r = 0;

	for (w = 0; w < ZCRX_WINDOWS; w++) {
		why = NULL;
		if (zcrx_release(z, w, code, &why) == -1 && r == 0) {
			*cause = why;
			r = -1;
		} else
			free(why);
	}
	return (r);
}

/*
 * The file is over: release every window whose write is done; failures
 * are the file's own business by now (sink_finish or the abort saw them).
 * A failed file's writes may still go on: their windows are released when
 * they end (zcrx_reap), or at zcrx_free.
 */
void
zcrx_release_all(struct zcrx *z)
{
	char	*why;
	int	 w, code;

	for (w = 0; w < ZCRX_WINDOWS; w++) {
		why = NULL;
		zcrx_release(z, w, &code, &why);
		free(why);
	}
}

/* May the next payload be mapped now (its window is free)? */
int
zcrx_ready(struct zcrx *z)
{
	struct zcrx_win	*win = &z->win[z->cur];

	return (win->x == NULL || xfer_written(win->x, win->ticket));
}

/*
 * Map up to want bytes (a page multiple) into the current window, after
 * the write its last pages were under, if any.  On return *at is the
 * window, *mapped the number of bytes now readable there and *skip the
 * number of bytes the caller must copy with recv() before mapping can go
 * on.  Returns 0, or -1 with *code (PEER_GONE at the end of the stream)
 * and *cause.
 */
int
zcrx_map(struct zcrx *z, size_t want, const uint8_t **at, size_t *mapped,
    size_t *skip, size_t *inq, int *code, char **cause)
{
	struct tcp_zerocopy_receive	 zc;
	socklen_t			 len = sizeof(zc);
	int				 e;

	*mapped = *skip = *inq = 0;
	if (zcrx_release(z, z->cur, code, cause) == -1)
		return (-1);
	if (z->win[z->cur].x != NULL)
		fatalx("%s: window %d still under a write", __func__, z->cur);
	*at = zcrx_window(z, z->cur);
	memset(&zc, 0, sizeof(zc));
	zc.address = (uintptr_t)*at;
	zc.length = want > ZCRX_CHUNK ? ZCRX_CHUNK : want;
	zc.flags = TCP_RECEIVE_ZEROCOPY_FLAG_TLB_CLEAN_HINT;
	if (getsockopt(z->fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &zc,
	    &len) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (0);
		if (errno == EIO) {	/* with nothing queued: the end */
			*code = PEER_GONE;
			*cause = xasprintf("connection closed");
		} else {
			*code = rx_lost(errno) ? PEER_GONE : ZC_E_IO;
			*cause = xasprintf("TCP_ZEROCOPY_RECEIVE: %s",
			    strerror(errno));
		}
		return (-1);
	}
	if (zc.err != 0) {
		e = zc.err < 0 ? -zc.err : zc.err;
		*code = rx_lost(e) ? PEER_GONE : ZC_E_IO;
		*cause = xasprintf("socket error: %s", strerror(e));
		return (-1);
	}
	*mapped = zc.length;
	*skip = zc.recv_skip_hint;
	*inq = zc.inq;
	return (0);
}

/* The len bytes just mapped are under x's queued write ticket. */
void
zcrx_hold(struct zcrx *z, size_t len, struct xfer *x, int ticket)
{
	struct zcrx_win	*win = &z->win[z->cur];

	win->len = len;
	win->x = xfer_ref(x);
	win->ticket = ticket;
	z->cur = (z->cur + 1) % ZCRX_WINDOWS;
}

/* The len bytes just mapped were written already: give them back. */
void
zcrx_drop(struct zcrx *z, size_t len)
{
	zcrx_unmap(z, z->cur, len);
}
