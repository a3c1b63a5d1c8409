/*
 * stream.c -- standard input being sent: a stream of unknown length
 * (protocol version 3).
 *
 * The bytes are read into a ring of page-aligned buffers and go out from
 * there with the same framing as a file's mapping: DATA records of whole
 * pages, with MSG_ZEROCOPY, the tail in a short record of its own at the
 * end.  A buffer is sent when it is full, at the end of the input, or
 * when the producer pauses (its whole pages then; the partial page left
 * over moves to the front of the next buffer).  While a send waits for
 * the socket, the next buffer is read into (peer_send1's side_fd), so
 * that the producer goes on meanwhile.  A buffer is filled again only
 * after the kernel has reported the zero-copy sends from it done.  The
 * digest is taken as the bytes are read, in stream order.
 *
 * Every wait is bounded: the producer must deliver something within the
 * timeout, and while we wait for it the receiver is read (the peer's
 * pump), so that its failure ends the stream at once; exiting then closes
 * our end of the pipe, and the producer's next write fails.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#include "zcsend.h"

#define STREAM_PIPESZ		(1U << 20)	/* asked of a pipe on stdin */
#define STREAM_PAUSE_MS		500		/* idle producer: send pages */

/*
 * Set up reading fd into a ring of buffers; with verify, a digest.  The
 * stream stops when *stop becomes true (the receiver answered).
 */
void
stream_open(struct stream *st, int fd, int verify, const int *stop)
{
	int	 i;

	memset(st, 0, sizeof(*st));
	st->fd = fd;
	st->stop = stop;
	for (i = 0; i < STREAM_NBUF; i++)
		if (posix_memalign((void **)&st->buf[i], ZC_BLOCK,
		    STREAM_BUF) != 0)
			fatalx("posix_memalign");
	/* Fewer, larger reads from a pipe; nothing lost if refused. */
	(void)fcntl(fd, F_SETPIPE_SZ, STREAM_PIPESZ);
	if (verify) {
		if ((st->hs = XXH3_createState()) == NULL)
			fatalx("XXH3_createState");
		XXH3_128bits_reset(st->hs);
	}
}

/*
 * Done with the stream: let the kernel finish with the buffers (unless
 * the connection is gone, when it never will), free them, and close the
 * input, so that a producer still writing learns that nobody reads.
 */
void
stream_close(struct stream *st, struct peer *p)
{
	uint64_t	 end = util_now_ns() + (uint64_t)p->timeout *
			     UTIL_NS_PER_SEC;
	int		 i, fd;

	while (p->fd != -1 && p->zc && p->zs.done + p->zs.lost < p->zs.sent &&
	    util_now_ns() < end)
		source_reap(p, 100);
	if (p->fd == -1 || !p->zc || p->zs.done + p->zs.lost >= p->zs.sent)
		for (i = 0; i < STREAM_NBUF; i++)
			free(st->buf[i]);
	/* else the kernel may still read them: leak rather than reuse. */
	if (st->hs != NULL)
		XXH3_freeState(st->hs);
	st->hs = NULL;
	log_debug("standard input: %llu bytes sent, %llu of them read while "
	    "a send waited", (unsigned long long)st->off,
	    (unsigned long long)st->early);
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1) {
		dup2(fd, st->fd);	/* the producer's pipe is closed */
		close(fd);
	} else
		close(st->fd);
}

/*
 * Wait, up to the timeout, for the input to begin (or end): a producer may
 * think before its first byte (pg_basebackup's checkpoint), and the
 * receiver's stall timeout runs from the stream's announcement.  0, or -1
 * with *why.
 */
int
stream_begin(struct stream *st, int timeout, const char **why)
{
	struct pollfd	 pfd;
	uint64_t	 end = util_now_ns() + (uint64_t)timeout *
			     UTIL_NS_PER_SEC, now;
	int		 r;

	for (;;) {
		if ((now = util_now_ns()) >= end) {
			*why = "standard input stalled";
			return (-1);
		}
		pfd.fd = st->fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (end - now) / 1000000 + 1);
		if (r == -1 && errno != EINTR) {
			*why = strerror(errno);
			return (-1);
		}
		if (r > 0)
			return (0);
	}
}

/*
 * Wait until the kernel is done with buffer i (its zero-copy sends are
 * reported), at most the timeout.  0, or -1 with errno.
 */
static int
stream_reuse(struct stream *st, struct peer *p, int i)
{
	uint64_t	 end = util_now_ns() + (uint64_t)p->timeout *
			     UTIL_NS_PER_SEC;

	while (p->zc && p->zs.done + p->zs.lost < st->seq[i]) {
		if (util_now_ns() >= end) {
			errno = ETIMEDOUT;
			return (-1);
		}
		source_reap(p, 100);
	}
	return (0);
}

/*
 * Read more of the input into the current buffer: until it is full, the
 * input ends, or the producer pauses with whole pages buffered.  Returns
 * 0 when there is something to send (or the end), 1 when the receiver
 * said something that ends the stream (the pump took it), -1 with *why
 * when the input failed or stalled for the timeout.
 */
static int
stream_fill(struct stream *st, struct peer *p, const char **why)
{
	struct pollfd	 pfd[2];
	uint8_t		*b = st->buf[st->cur];
	uint64_t	 last = util_now_ns(), now;
	ssize_t		 n;
	int		 r, ms;

	while (st->have < STREAM_BUF && !st->eof) {
		pfd[0].fd = st->fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = p->fd;
		pfd[1].events = POLLIN;
		now = util_now_ns();
		if (now - last >= (uint64_t)p->timeout * UTIL_NS_PER_SEC) {
			*why = "standard input stalled";
			return (-1);
		}
		ms = (last + (uint64_t)p->timeout * UTIL_NS_PER_SEC - now) /
		    1000000 + 1;
		if (st->have >= ZC_BLOCK && ms > STREAM_PAUSE_MS)
			ms = STREAM_PAUSE_MS;
		if ((r = poll(pfd, 2, ms)) == -1 && errno != EINTR) {
			*why = strerror(errno);
			return (-1);
		}
		if (r == 0 && st->have >= ZC_BLOCK)
			return (0);	/* a pause: send the whole pages */
		if (r <= 0)
			continue;
		if ((pfd[1].revents & POLLERR))
			source_reap(p, 0);
		if ((pfd[1].revents & (POLLIN | POLLHUP)) &&
		    (p->pump(p->pump_arg) == -1 || *st->stop))
			return (1);
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(st->fd, b + st->have, STREAM_BUF - st->have);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1) {
			*why = strerror(errno);
			return (-1);
		}
		if (n == 0)
			st->eof = 1;
		/* Hashed while the bytes are in the cache, in stream order. */
		if (st->hs != NULL && n > 0)
			XXH3_128bits_update(st->hs, b + st->have, n);
		st->have += n;
		last = util_now_ns();
	}
	return (0);
}

/* One DATA record of len bytes from b at the stream's offset. */
static int
stream_record(struct stream *st, struct peer *p, struct report *rp,
    const uint8_t *b, size_t len)
{
	uint8_t		 hdr[ZC_HDR_LEN];
	size_t		 n, done;

	proto_hdr_encode(hdr, ZC_T_DATA, len, st->off);
	if (peer_send(p, hdr, sizeof(hdr)) == -1)
		return (-1);
	for (done = 0; done < len; done += n) {
		n = len - done < SEND_CHUNK ? len - done : SEND_CHUNK;
		if (source_push(p, b + done, n, n % ZC_BLOCK == 0,
		    done + n == len) == -1)
			return (-1);
		sout_cover(rp, n, n);
	}
	st->off += len;
	return (0);
}

/*
 * While a send would block: read more of the input into the next buffer,
 * so that the producer goes on meanwhile.  -1 to stop (that buffer is
 * full, the input ended or failed: stream_fill finds out again).
 */
static int
stream_ahead(void *arg)
{
	struct stream	*st = arg;
	uint8_t		*b = st->buf[st->next];
	ssize_t		 n;

	n = read(st->fd, b + st->ahead, STREAM_BUF - st->ahead);
	if (n == -1)
		return (errno == EINTR || errno == EAGAIN ? 0 : -1);
	if (n == 0) {
		st->eof = 1;
		return (-1);
	}
	if (st->hs != NULL)
		XXH3_128bits_update(st->hs, b + st->ahead, n);
	st->ahead += n;
	st->early += n;
	return (st->ahead < STREAM_BUF ? 0 : -1);
}

/*
 * Send the whole pages buffered as one DATA record, and at the end of the
 * input the tail as a short one of its own; else move what is left of a
 * partial page to the front of the next buffer, and read ahead into it
 * while the record goes.  0, or -1 with errno from the socket.
 */
static int
stream_flush(struct stream *st, struct peer *p, struct report *rp)
{
	uint8_t		*b = st->buf[st->cur];
	size_t		 len = st->have & ~(size_t)(ZC_BLOCK - 1);
	size_t		 rest = st->have - len;
	int		 r = 0;

	if (st->eof) {
		if (len > 0 && stream_record(st, p, rp, b, len) == -1)
			return (-1);
		return (rest > 0 ? stream_record(st, p, rp, b + len, rest) : 0);
	}
	st->next = (st->cur + 1) % STREAM_NBUF;
	if (stream_reuse(st, p, st->next) == -1)
		return (-1);
	memcpy(st->buf[st->next], b + len, rest);
	st->ahead = rest;
	if (len > 0) {
		p->side_fd = st->fd;
		p->side = stream_ahead;
		p->side_arg = st;
		r = stream_record(st, p, rp, b, len);
		p->side_fd = -1;
		st->seq[st->cur] = p->zs.sent;
	}
	st->cur = st->next;
	st->have = st->ahead;
	return (r);
}

/*
 * Send the whole input as DATA records at offsets from 0, and fill e (EOS)
 * with its size and digest.  Returns 0 at its end, 1 when the receiver
 * ended it (*st->stop set by the peer's pump, or the connection gone),
 * -1 with *why for a local failure (the input), -2 with errno for the
 * socket.
 */
int
stream_send(struct stream *st, struct peer *p, struct report *rp,
    struct zc_end *e, const char **why)
{
	XXH128_canonical_t	 canon;
	int			 r, last;

	do {
		if ((r = stream_fill(st, p, why)) != 0)
			return (r);
		if (*st->stop)
			return (1);
		/*
		 * The flush that finds the end sends all; one that reads
		 * ahead to the end leaves the rest to the next.
		 */
		last = st->eof;
		if (stream_flush(st, p, rp) == -1)
			return (*st->stop || p->fd == -1 ? 1 : -2);
	} while (!last);
	memset(e, 0, sizeof(*e));
	e->size = st->off;
	if (st->hs != NULL) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(st->hs));
		memcpy(e->digest, canon.digest, ZC_DIGEST_LEN);
		e->digest_alg = ZC_DIGEST_XXH3_128;
	}
	return (0);
}
