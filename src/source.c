/*
 * source.c -- a file being sent: mapped, hashed and pushed into the socket.
 *
 * The mapping is the send buffer: payload goes out with MSG_ZEROCOPY
 * straight from the page cache, in page multiples at page-aligned offsets,
 * so that the receiver can map the pages instead of copying them.  A short
 * send is resumed at exactly the byte where it stopped, which keeps the
 * stream on the page grid (the kernel stops a zero-copy send at a segment
 * boundary).  Completions are reaped from the error queue as we go; ENOBUFS
 * (too many in flight, or the locked-memory limit) is answered by reaping
 * and, failing that, by a plain send of that piece, which the receiver will
 * have to copy.  The mapping stays until the kernel is done with its pages.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <linux/errqueue.h>

#include <xxhash.h>
/* XXH3 with the library's runtime choice of SSE2, AVX2 or AVX-512. */
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#include "zcsend.h"

/* Why a file is not one to send, or NULL. */
static const char *
source_unfit(const struct stat *sb, const char *name)
{
	if (S_ISDIR(sb->st_mode))
		return ("is a directory, not a regular file");
	if (!S_ISREG(sb->st_mode))
		return ("not a regular file");
	if (*name == '\0')
		return ("bad file name: empty");
	if (strlen(name) > ZC_NAME_MAX)
		return ("bad file name: longer than 255 bytes");
	return (NULL);
}

/* Open and map the file of report rp; ZS_OK, or ZS_LOCAL after saying why. */
int
source_open(struct source *s, struct report *rp)
{
	struct stat	 sb;
	const char	*why;
	int		 fd;

	memset(s, 0, sizeof(*s));
	s->rp = rp;
	s->path = rp->path;
	s->name = rp->name;
	if ((fd = open(s->path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1) {
		sout_fail(rp, ZS_LOCAL, "local", "%s", strerror(errno));
		if (fd != -1)
			close(fd);
		return (ZS_LOCAL);
	}
	if ((why = source_unfit(&sb, s->name)) != NULL) {
		close(fd);
		return (sout_fail(rp, ZS_LOCAL, "local", "%s", why));
	}
	s->size = rp->size = sb.st_size;
	s->mode = sb.st_mode;
	if (s->size > 0) {
		s->map = mmap(NULL, s->size, PROT_READ, MAP_SHARED, fd, 0);
		if (s->map == MAP_FAILED) {
			s->map = NULL;
			sout_fail(rp, ZS_LOCAL, "local", "mmap: %s",
			    strerror(errno));
			close(fd);
			return (ZS_LOCAL);
		}
		madvise((void *)s->map, s->size, MADV_SEQUENTIAL);
	}
	close(fd);
	return (ZS_OK);
}

/*
 * Done with the file.  Unless the connection is dead, first let the kernel
 * finish with the pages we lent it, for at most the timeout since start.
 */
void
source_close(struct source *s, struct peer *p, uint64_t start, int dead)
{
	if (s->hs != NULL)
		XXH3_freeState(s->hs);
	s->hs = NULL;
	if (s->map == NULL)
		return;
	while (p->zc && !dead && p->zs.done < p->zs.sent &&
	    util_now_ns() - start < (uint64_t)p->timeout * 1000000000)
		source_reap(p, 100);
	munmap((void *)s->map, s->size);
	s->map = NULL;
}

/* Start the digest, over the bytes before offset when the send resumes. */
void
source_hash_begin(struct source *s, uint64_t offset)
{
	if (!opt.verify)
		return;
	if ((s->hs = XXH3_createState()) == NULL)
		fatalx("XXH3_createState");
	XXH3_128bits_reset(s->hs);
	if (offset > 0)
		XXH3_128bits_update(s->hs, s->map, offset);
}

/* Fill an END record with the digest of what was sent. */
void
source_digest(struct source *s, struct zc_end *e)
{
	XXH128_canonical_t	 canon;

	memset(e, 0, sizeof(*e));
	if (s->hs == NULL)
		return;
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(s->hs));
	memcpy(e->digest, canon.digest, ZC_DIGEST_LEN);
	e->digest_alg = ZC_DIGEST_XXH3_128;
}

/* Count the completions in one error-queue message. */
static void
source_reap_msg(struct peer *p, struct msghdr *msg)
{
	struct sock_extended_err	*serr;
	struct cmsghdr			*cm;
	uint64_t			 n;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (!((cm->cmsg_level == SOL_IP &&
		    cm->cmsg_type == IP_RECVERR) ||
		    (cm->cmsg_level == SOL_IPV6 &&
		    cm->cmsg_type == IPV6_RECVERR)))
			continue;
		serr = (struct sock_extended_err *)CMSG_DATA(cm);
		if (serr->ee_origin != SO_EE_ORIGIN_ZEROCOPY ||
		    serr->ee_errno != 0)
			continue;
		n = serr->ee_data - serr->ee_info + 1;
		p->zs.done += n;
		if (serr->ee_code & SO_EE_CODE_ZEROCOPY_COPIED)
			p->zs.copied += n;
	}
}

/* Reap zero-copy completions; wait up to ms for the first one. */
void
source_reap(struct peer *p, int ms)
{
	struct msghdr	 msg;
	struct pollfd	 pfd;
	char		 control[128];

	if (ms > 0 && p->zs.done < p->zs.sent) {
		pfd.fd = p->fd;
		pfd.events = 0;
		if (poll(&pfd, 1, ms) <= 0)
			return;
	}
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(p->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) == -1)
			return;
		source_reap_msg(p, &msg);
	}
}

/*
 * Send all of buf, with MSG_ZEROCOPY if zc (and the connection allows it);
 * eor ends the skb after the last byte.  Returns 0, or -1 with errno.
 */
static int
source_push(struct peer *p, const uint8_t *b, size_t len, int zc, int eor)
{
	ssize_t	 n;
	int	 flags, nobufs = 0;

	flags = (zc && p->zc ? MSG_ZEROCOPY : 0) | (eor ? MSG_EOR : 0);
	while (len > 0) {
		if ((n = peer_send1(p, b, len, flags)) == -1) {
			if (errno != ENOBUFS || !(flags & MSG_ZEROCOPY))
				return (-1);
			source_reap(p, 10);
			if (++nobufs >= 3) {
				flags &= ~MSG_ZEROCOPY;
				p->zs.fallback++;
			}
			continue;
		}
		if (flags & MSG_ZEROCOPY)
			p->zs.sent++;
		b += n;
		len -= n;
	}
	if (p->zc)
		source_reap(p, 0);
	return (0);
}

/*
 * Hash and send len bytes of the file from off.  Only whole pages go with
 * MSG_ZEROCOPY: the tail is copied by the receiver anyway.  Returns 0, or
 * -1 with errno.
 */
int
source_send(struct source *s, struct peer *p, uint64_t off, size_t len,
    int eor)
{
	if (s->hs != NULL)
		XXH3_128bits_update(s->hs, s->map + off, len);
	return (source_push(p, s->map + off, len, len % ZC_BLOCK == 0, eor));
}
