/*
 * zcrx.c -- TCP zero-copy receive: map payload pages out of the socket.
 *
 * Each connection owns a PROT_READ mapping of its socket, ZCRX_CHUNK bytes
 * aligned to 2 MiB.  getsockopt(TCP_ZEROCOPY_RECEIVE) with a length of at
 * most the bytes left in the current record, rounded down to pages, asks
 * the kernel to insert the payload pages there.  The kernel only maps whole
 * page-sized frags; what it cannot map it reports in recv_skip_hint and the
 * caller copies with recv().  No copybuf is used: with 0 < inq <= copybuf_len
 * the kernel copies all of inq, which can swallow the next record.
 *
 * The mapping has ZCRX_WINDOWS windows of ZCRX_CHUNK: while the pages of
 * one are being written to disk (an async O_DIRECT write holds them), the
 * next payload is mapped into the other.  TCP_ZEROCOPY_RECEIVE only
 * replaces what is mapped in the range it is given.
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
#include <string.h>
#include <unistd.h>

#include <linux/tcp.h>

#include "zcrecvd.h"

#define ZCRX_ALIGN		(2U << 20)

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
	uintptr_t	 p;

	if (z->map != NULL)
		return (0);
	z->rawlen = ZCRX_WINDOWS * ZCRX_CHUNK + ZCRX_ALIGN;
	z->raw = mmap(NULL, z->rawlen, PROT_READ, MAP_SHARED, z->fd, 0);
	if (z->raw == MAP_FAILED) {
		z->raw = NULL;
		*cause = xasprintf("mmap of socket: %s", strerror(errno));
		return (-1);
	}
	p = ((uintptr_t)z->raw + ZCRX_ALIGN - 1) & ~(uintptr_t)(ZCRX_ALIGN - 1);
	z->map = (uint8_t *)p;
	/* Give back the unaligned slack at both ends. */
	if (p > (uintptr_t)z->raw)
		munmap(z->raw, p - (uintptr_t)z->raw);
	if ((uint8_t *)z->raw + z->rawlen > z->map + ZCRX_WINDOWS * ZCRX_CHUNK)
		munmap(z->map + ZCRX_WINDOWS * ZCRX_CHUNK, (uint8_t *)z->raw +
		    z->rawlen - (z->map + ZCRX_WINDOWS * ZCRX_CHUNK));
	z->raw = z->map;
	z->rawlen = ZCRX_WINDOWS * ZCRX_CHUNK;
	return (0);
}

/* Drop the mapping. */
void
zcrx_free(struct zcrx *z)
{
	if (z->raw != NULL)
		munmap(z->raw, z->rawlen);
	z->raw = NULL;
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

/*
 * Map up to want bytes (a page multiple) into window z->cur.  On return
 * *mapped is the number of bytes now readable there and *skip the number
 * of bytes the caller must copy with recv() before mapping can go on.
 * Returns 0, or -1 with *cause; end of stream is -1 with errno 0.
 */
int
zcrx_map(struct zcrx *z, size_t want, size_t *mapped, size_t *skip,
    size_t *inq, char **cause)
{
	struct tcp_zerocopy_receive	 zc;
	socklen_t			 len = sizeof(zc);

	*mapped = *skip = *inq = 0;
	memset(&zc, 0, sizeof(zc));
	zc.address = (uintptr_t)zcrx_window(z, z->cur);
	zc.length = want > ZCRX_CHUNK ? ZCRX_CHUNK : want;
	zc.flags = TCP_RECEIVE_ZEROCOPY_FLAG_TLB_CLEAN_HINT;
	if (getsockopt(z->fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &zc,
	    &len) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (0);
		if (errno == EIO) {
			errno = 0;
			*cause = xasprintf("connection closed");
		} else
			*cause = xasprintf("TCP_ZEROCOPY_RECEIVE: %s",
			    strerror(errno));
		return (-1);
	}
	if (zc.err != 0) {
		errno = zc.err < 0 ? -zc.err : zc.err;
		*cause = xasprintf("socket error: %s", strerror(errno));
		return (-1);
	}
	*mapped = zc.length;
	*skip = zc.recv_skip_hint;
	*inq = zc.inq;
	return (0);
}

/*
 * Release pages mapped in window w.  Doing it now, rather than letting the
 * next TCP_ZEROCOPY_RECEIVE zap the range, frees the pages sooner and lets
 * us pass the TLB_CLEAN_HINT flag.
 */
void
zcrx_unmap(struct zcrx *z, int w, size_t len)
{
	if (len > 0 && madvise(zcrx_window(z, w), len, MADV_DONTNEED) == -1)
		log_warn("madvise");
}
