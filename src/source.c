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
 *
 * In version 2 a file found by the walk is opened beneath its base
 * directory without following any symlink, and must still be what the walk
 * saw; its data ranges (SEEK_DATA, SEEK_HOLE) are all that is sent, the
 * holes hashed as zeros; and a mapping whose pages the kernel still holds
 * is retired, to be unmapped once the completions say so, instead of
 * holding up the next entry.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/errqueue.h>
#include <linux/openat2.h>

#include <xxhash.h>
/* XXH3 with the library's runtime choice of SSE2, AVX2 or AVX-512. */
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#include "zcsend.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22	/* Linux 5.14 */
#endif
#define SOURCE_POPULATE_MAX	(8 << 20)	/* map at once up to this */
#define SOURCE_JUDGE_MIN	SOURCE_POPULATE_MAX	/* judge larger files */

/* A mapping the kernel may still send from (version 2). */
struct retired {
	const uint8_t	*map;
	uint64_t	 size;
	uint64_t	 seq;		/* done once this many sends completed */
	struct retired	*next;
};
static struct retired	*retired;

/* Zeros, to hash the holes of a sparse file. */
static const uint8_t	 zeros[64 * 1024];

/*
 * A file cut short under its mapping faults: SIGBUS while hashing.  Per
 * thread: spread.c's threads hash the chunks they send (the signal is
 * delivered to the thread that faulted).
 */
static _Thread_local sigjmp_buf			 source_jmp;
static _Thread_local volatile sig_atomic_t	 source_guarded;

/* SIGBUS: a guarded read of a mapping fails; any other is fatal. */
static void
source_sigbus(int sig)
{
	if (source_guarded)
		siglongjmp(source_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Hash len bytes of a mapping at p into hs, guarded: 0, or -1 with errno
 * EFAULT when the file was cut short under the mapping.
 */
int
source_hash_guarded(struct XXH3_state_s *hs, const uint8_t *p, size_t len)
{
	if (sigsetjmp(source_jmp, 1) != 0) {
		source_guarded = 0;
		errno = EFAULT;
		return (-1);
	}
	source_guarded = 1;
	XXH3_128bits_update(hs, p, len);
	source_guarded = 0;
	return (0);
}

/* Catch the SIGBUS of a file truncated while it is read. */
void
source_init(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = source_sigbus;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) == -1)
		fatal("sigaction");
}

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
	s->fd = -1;
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
	s->fd = fd;		/* to read from, when reading is cheaper */
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
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	if (s->map == NULL)
		return;
	while (p->zc && !dead && p->zs.done + p->zs.lost < p->zs.sent &&
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
	s->hashed = offset;
}

/* Hash zeros up to off: a hole the walk over the data skipped. */
void
source_hash_to(struct source *s, uint64_t off)
{
	uint64_t	 n;

	for (; s->hs != NULL && s->hashed < off; s->hashed += n) {
		n = off - s->hashed < sizeof(zeros) ? off - s->hashed :
		    sizeof(zeros);
		XXH3_128bits_update(s->hs, zeros, n);
	}
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

/*
 * Count the zero-copy completions the kernel has reported on p, without
 * waiting; touches nothing but p (spread.c's threads call it).
 */
void
source_reap_errq(struct peer *p)
{
	struct msghdr	 msg;
	char		 control[128];

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		if (recvmsg(p->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) == -1)
			break;
		source_reap_msg(p, &msg);
	}
}

/* Reap zero-copy completions; wait up to ms for the first one. */
void
source_reap(struct peer *p, int ms)
{
	struct pollfd	 pfd;

	if (ms > 0 && p->zs.done < p->zs.sent) {
		pfd.fd = p->fd;
		pfd.events = 0;
		if (poll(&pfd, 1, ms) <= 0)
			return;
	}
	source_reap_errq(p);
	if (retired != NULL)
		source_unmap_done(p, 0);
}

/*
 * Send all of buf, with MSG_ZEROCOPY if zc (and the connection allows it);
 * eor ends the skb after the last byte.  Returns 0, or -1 with errno.
 */
static int
source_push1(struct peer *p, const uint8_t *b, size_t len, int zc, int eor,
    uint64_t *pushed)
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
		*pushed += n;
	}
	if (p->zc)
		source_reap(p, 0);
	return (0);
}

/*
 * Send all of buf from memory the caller keeps until the kernel reports
 * the sends done (stream.c's buffers); as source_push1.
 */
int
source_push(struct peer *p, const uint8_t *b, size_t len, int zc, int eor)
{
	uint64_t	 pushed = 0;

	return (source_push1(p, b, len, zc, eor, &pushed));
}

/*
 * Wait, up to the timeout, until the kernel is done with the zero-copy
 * sends before seq (sends from a buffer to be filled again).  Completions
 * only: safe on a stripe connection's thread.  0, or -1 with errno.
 */
static int
source_wait_sent(struct peer *p, uint64_t seq)
{
	struct pollfd	 pfd;
	uint64_t	 end = util_now_ns() + (uint64_t)p->timeout *
			     UTIL_NS_PER_SEC;

	while (p->zc && p->zs.done + p->zs.lost < seq) {
		if (util_now_ns() >= end) {
			errno = ETIMEDOUT;
			return (-1);
		}
		pfd.fd = p->fd;
		pfd.events = 0;
		(void)poll(&pfd, 1, 100);	/* POLLERR: completions */
		source_reap_errq(p);
	}
	return (0);
}

/*
 * Read len bytes of the file on fd at off into the next of p's buffers,
 * once the kernel is done with what was sent from it before.  The bytes
 * still go with MSG_ZEROCOPY, from page-aligned memory: a plain send()
 * would put them into the socket's own pages at whatever offset the record
 * header left, and a receiver on the same host (loopback, veth) could not
 * map them.  NULL with errno, EFAULT when the file was cut short.
 */
static uint8_t *
source_read_into(struct peer *p, int fd, uint64_t off, size_t len)
{
	uint8_t	*b;
	ssize_t	 n;
	size_t	 got;

	if (p->rbuf == NULL) {
		if (posix_memalign((void **)&p->rbuf, ZC_BLOCK,
		    SOURCE_RBUFS * SEND_CHUNK) != 0)
			fatalx("posix_memalign");
		memset(p->rseq, 0, sizeof(p->rseq));
	} else		/* every send from the last one is issued by now */
		p->rseq[p->rcur] = p->zs.sent;
	p->rcur = (p->rcur + 1) % SOURCE_RBUFS;
	if (source_wait_sent(p, p->rseq[p->rcur]) == -1)
		return (NULL);
	b = p->rbuf + (size_t)p->rcur * SEND_CHUNK;
	for (got = 0; got < len; got += n) {
		if ((n = pread(fd, b + got, len - got, off + got)) == -1 &&
		    errno == EINTR)
			n = 0;
		else if (n <= 0) {
			if (n == 0)
				errno = EFAULT;		/* cut short */
			return (NULL);
		}
	}
	return (b);
}

/*
 * Where len (at most SEND_CHUNK) bytes of a file at off go out from,
 * hashed into hs (if any) on the way: the file's mapping, or one of p's
 * buffers, read with pread(), as p's judge picks (source_judge).  Either
 * way whole pages then go with MSG_ZEROCOPY.  Returns the bytes, or NULL
 * with errno, EFAULT when the file was cut short.
 */
const uint8_t *
source_bytes(struct peer *p, int fd, const uint8_t *map, uint64_t off,
    size_t len, struct XXH3_state_s *hs)
{
	uint8_t	*b;

	if (p->judge.pick == JUDGE_MAP || fd == -1 || len > SEND_CHUNK) {
		if (hs != NULL && source_hash_guarded(hs, map + off, len) == -1)
			return (NULL);
		p->zs.mapped += len;
		return (map + off);
	}
	if ((b = source_read_into(p, fd, off, len)) == NULL)
		return (NULL);
	/* Hashed while the bytes are in the cache. */
	if (hs != NULL)
		XXH3_128bits_update(hs, b, len);
	p->zs.read += len;
	return (b);
}

/*
 * --io auto: tell p's judge what len bytes of payload cost the thread
 * since cpu0 (util_cpu_ns(0), taken before source_bytes when
 * source_judging), and say what it picks when a round of trials ends.
 */
void
source_judge(struct peer *p, size_t len, uint64_t cpu0)
{
	struct judge	*j = &p->judge;

	if (j->phase == JUDGE_OFF)
		return;
	if (judge_account(j, len, j->phase == JUDGE_SETTLED ? 0 :
	    util_cpu_ns(0) - cpu0))
		log_debug("%s: map %llu us/MB, read %llu us/MB: %s", p->text,
		    (unsigned long long)j->cost[JUDGE_MAP] / 1000,
		    (unsigned long long)j->cost[JUDGE_COPY] / 1000,
		    j->pick == JUDGE_MAP ? "mapping" : "reading");
}

/* The CPU clock to pass source_judge, or 0 when it needs none. */
uint64_t
source_judging(const struct peer *p)
{
	return (p->judge.phase == JUDGE_TRY_MAP ||
	    p->judge.phase == JUDGE_TRY_COPY ? util_cpu_ns(0) : 0);
}

/*
 * Hash and send len bytes of the file from off.  Returns 0, or -1 with
 * errno, EFAULT when the file was cut short under the mapping;
 * s->pushed says how much went.  Only the payload of files of
 * SOURCE_JUDGE_MIN bytes or more is judged: smaller ones are mapped at
 * once (source_map) and their sends are few.
 */
int
source_send(struct source *s, struct peer *p, uint64_t off, size_t len,
    int eor)
{
	const uint8_t	*b;
	int		 judged = s->size >= SOURCE_JUDGE_MIN;
	uint64_t	 cpu0 = judged ? source_judging(p) : 0;

	s->pushed = 0;
	if (s->hs != NULL)
		source_hash_to(s, off);
	if ((b = source_bytes(p, judged ? s->fd : -1, s->map, off, len,
	    s->hs)) == NULL)
		return (-1);
	if (s->hs != NULL)
		s->hashed = off + len;
	/* Only whole pages go with MSG_ZEROCOPY: the receiver copies a tail. */
	if (source_push1(p, b, len, len % ZC_BLOCK == 0, eor,
	    &s->pushed) == -1)
		return (-1);
	s->seq = p->zs.sent;
	if (judged)
		source_judge(p, len, cpu0);
	return (0);
}

/*
 * Send len zeros plainly: the rest of a DATA record whose file was cut
 * short, so that the stream keeps its place.  0, or -1 with errno.
 */
int
source_pad(struct peer *p, uint64_t len)
{
	uint64_t	 pushed = 0;
	size_t		 n;

	for (; len > 0; len -= n) {
		n = len < sizeof(zeros) ? len : sizeof(zeros);
		if (source_push1(p, zeros, n, 0, n == len, &pushed) == -1)
			return (-1);
	}
	return (0);
}

/* The directory items of base are opened beneath; one kept open. */
static int
source_basefd(const char *base)
{
	static const char	*cur;
	static int		 fd = -1;

	if (base == cur && fd != -1)
		return (fd);
	if (fd != -1)
		close(fd);
	cur = NULL;
	if ((fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	cur = base;
	return (fd);
}

/*
 * Open the file of a -r item beneath its base directory, following no
 * symlink on the way (openat2 RESOLVE_NO_SYMLINKS; where that is missing
 * or filtered, at least not the last component).  Non-blocking, in case it has become
 * a fifo since the walk.
 */
static int
source_beneath(const struct item *it)
{
	struct open_how	 how;
	int		 dfd, fd;

	if ((dfd = source_basefd(it->base)) == -1)
		return (-1);
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
	fd = syscall(SYS_openat2, dfd, it->path, &how, sizeof(how));
	/* No openat2, or a seccomp filter (containers) that refuses it. */
	if (fd == -1 && (errno == ENOSYS || errno == EPERM))
		fd = openat(dfd, it->path, how.flags);
	return (fd);
}

/* Why the file a -r item opened as (sb) is not the one the walk saw. */
static const char *
source_moved(const struct item *it, const struct stat *sb)
{
	if (!S_ISREG(sb->st_mode) || sb->st_dev != it->dev ||
	    sb->st_ino != it->ino)
		return ("replaced since the walk; not sent");
	if ((uint64_t)sb->st_size != it->size ||
	    sb->st_mtim.tv_sec != it->mtime_sec ||
	    sb->st_mtim.tv_nsec != it->mtime_nsec)
		return ("changed since the walk; not sent");
	return (NULL);
}

/*
 * Open the file of item it for version 2 (or 1, then source_map() maps
 * it), keeping the descriptor; ZS_OK, or ZS_LOCAL after saying why.
 */
int
source_entry(struct source *s, struct report *rp, const struct item *it)
{
	struct stat	 sb;
	const char	*why;
	int		 fd;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->rp = rp;
	s->path = rp->path;
	s->name = rp->name;
	fd = it->base == NULL ? open(s->path, O_RDONLY | O_CLOEXEC) :
	    source_beneath(it);
	if (fd == -1) {
		if (it->base != NULL && errno == ENOENT)
			why = "vanished since the walk; not sent";
		else if (it->base != NULL && (errno == ELOOP ||
		    errno == EXDEV))
			why = "a symbolic link since the walk; not sent";
		else
			why = strerror(errno);
		return (sout_fail(rp, ZS_LOCAL, "local", "%s", why));
	}
	if (fstat(fd, &sb) == -1) {
		sout_fail(rp, ZS_LOCAL, "local", "%s", strerror(errno));
		close(fd);
		return (ZS_LOCAL);
	}
	why = it->base == NULL ? source_unfit(&sb, s->name) :
	    source_moved(it, &sb);
	if (why != NULL) {
		close(fd);
		return (sout_fail(rp, ZS_LOCAL, "local", "%s", why));
	}
	s->fd = fd;
	s->size = rp->size = sb.st_size;
	s->mode = sb.st_mode;
	s->mtime_sec = sb.st_mtim.tv_sec;
	s->mtime_nsec = sb.st_mtim.tv_nsec;
	return (ZS_OK);
}

/* Map the open file of s; ZS_OK, or ZS_LOCAL after saying why. */
int
source_map(struct source *s)
{
	if (s->size == 0)
		return (ZS_OK);
	s->map = mmap(NULL, s->size, PROT_READ, MAP_SHARED, s->fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return (sout_fail(s->rp, ZS_LOCAL, "local", "mmap: %s",
		    strerror(errno)));
	}
	/*
	 * A small file's pages are mapped in one call, not a fault per
	 * page (faults are dear on virtual machines); a large one's are
	 * read ahead and mapped as the sending reaches them.
	 */
	if (s->size > SOURCE_POPULATE_MAX || madvise((void *)s->map, s->size,
	    MADV_POPULATE_READ) == -1)
		madvise((void *)s->map, s->size, MADV_SEQUENTIAL);
	return (ZS_OK);
}

/* Why the open file of s is no longer what it was when opened, or NULL. */
const char *
source_changed(struct source *s)
{
	struct stat	 sb;

	if (fstat(s->fd, &sb) == -1)
		return (strerror(errno));
	if ((uint64_t)sb.st_size != s->size ||
	    sb.st_mtim.tv_sec != s->mtime_sec ||
	    sb.st_mtim.tv_nsec != s->mtime_nsec)
		return ("changed while it was read");
	return (NULL);
}

/*
 * Read the whole small file of s into buf (ZC_INLINE_MAX bytes); ZS_OK, or
 * ZS_LOCAL after saying why (it changed: shorter, longer, newer).
 */
int
source_read(struct source *s, uint8_t *buf)
{
	const char	*why = NULL;
	uint64_t	 got = 0;
	ssize_t		 n;

	while (got < s->size && why == NULL) {
		if ((n = pread(s->fd, buf + got, s->size - got, got)) == -1) {
			if (errno != EINTR)
				why = strerror(errno);
		} else if (n == 0)
			why = "changed while it was read";
		else
			got += n;
	}
	if (why == NULL)
		why = source_changed(s);	/* grown, or rewritten */
	if (why != NULL)
		return (sout_fail(s->rp, ZS_LOCAL, "local", "%s", why));
	return (ZS_OK);
}

/*
 * The next data range of s at or after off (a multiple of ZC_BLOCK), made
 * whole blocks outward and cut to [off, size): *a, *b.  Returns 0, or -1
 * when only a hole is left.  A file system that cannot tell holes has
 * data everywhere.
 */
int
source_range(struct source *s, uint64_t off, uint64_t *a, uint64_t *b)
{
	off_t	 d, h;

	if (off >= s->size)
		return (-1);
	if ((d = lseek(s->fd, off, SEEK_DATA)) == -1) {
		if (errno == ENXIO)
			return (-1);
		*a = off;
		*b = s->size;
		return (0);
	}
	if ((uint64_t)d >= s->size)
		return (-1);
	if ((h = lseek(s->fd, d, SEEK_HOLE)) == -1 || (uint64_t)h > s->size)
		h = s->size;
	*a = (uint64_t)d & ~(uint64_t)(ZC_BLOCK - 1);
	if (*a < off)
		*a = off;
	*b = ((uint64_t)h + ZC_BLOCK - 1) & ~(uint64_t)(ZC_BLOCK - 1);
	if (*b > s->size)
		*b = s->size;
	return (0);
}

/*
 * Done with the file of s (version 2): close it, and unmap it now or, if
 * the kernel may still send from its pages, once it is done.
 */
void
source_retire(struct source *s, struct peer *p)
{
	struct retired	*r;

	if (s->hs != NULL)
		XXH3_freeState(s->hs);
	s->hs = NULL;
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	if (s->map == NULL)
		return;
	if (p->fd == -1 || !p->zc || p->zs.done + p->zs.lost >= s->seq)
		munmap((void *)s->map, s->size);
	else {
		r = xmalloc(sizeof(*r));
		r->map = s->map;
		r->size = s->size;
		r->seq = s->seq;
		r->next = retired;
		retired = r;
	}
	s->map = NULL;
}

/* Unmap the retired mappings the kernel is done with; all of them if all. */
void
source_unmap_done(struct peer *p, int all)
{
	struct retired	**rp, *r;

	for (rp = &retired; (r = *rp) != NULL;) {
		if (all || p->zs.done + p->zs.lost >= r->seq) {
			munmap((void *)r->map, r->size);
			*rp = r->next;
			free(r);
		} else
			rp = &r->next;
	}
}
