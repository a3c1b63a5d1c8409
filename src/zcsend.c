/*
 * zcsend.c -- send files to zcrecvd.
 *
 * Each file is mapped and its payload sent with MSG_ZEROCOPY straight from
 * the page cache, in page multiples at page-aligned offsets, so that the
 * receiver can map the pages instead of copying them.  Control records go
 * out one send(MSG_EOR) each, so that none shares an skb with payload.
 * Completions of zero-copy sends are reaped from the error queue as we go;
 * ENOBUFS (too many in flight, or the locked-memory limit) is answered by
 * reaping and, failing that, by a plain send of that chunk.
 *
 * Exit 0 only when every file was landed by the receiver and verified.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/errqueue.h>

#include <xxhash.h>
/* XXH3 with the library's runtime choice of SSE2, AVX2 or AVX-512. */
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#include "zcproto.h"
#include "util.h"

#define ZS_OK			0
#define ZS_LOCAL		1
#define ZS_USAGE		2
#define ZS_CONNECT		3
#define ZS_REJECTED		4
#define ZS_VERIFY		5

#define SEND_CHUNK		(1U << 20)	/* one send() */
#define DATA_RECORD		(16U << 20)	/* one DATA record */
#define RESULT_RATE		(100U << 20)	/* extra result wait: 1 s per */

struct peer {
	int		 fd;
	const char	*text;		/* HOST:PORT as given */
	int		 timeout;	/* seconds, every wait */
	int		 zc;		/* MSG_ZEROCOPY on */
	uint64_t	 zc_sent;	/* zero-copy sends issued */
	uint64_t	 zc_done;	/* ... completed */
	uint64_t	 zc_copied;	/* completions the kernel had to copy */
	uint64_t	 zc_fallback;	/* chunks sent plainly after ENOBUFS */
};

struct opts {
	struct zc_key	*key;		/* --key-file */
	int		 zerocopy;
	int		 verify;
	int		 quiet;
	int		 verbose;
	int		 progress;
	int		 timeout;
};

static struct opts	opt = { NULL, 1, 1, 0, 0, 0, 30 };

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: zcsend [-hqVv] [--key-file file] [--no-verify] "
	    "[--no-zerocopy] [-t seconds] file ... host:port[/dest]\n");
	exit(ZS_USAGE);
}

/* Escape what the receiver says before it reaches a terminal. */
static const char *
vis(const char *msg)
{
	static char	 buf[UTIL_VIS_MAX];

	return (util_vis(msg, buf, sizeof(buf)));
}

/* Reap zero-copy completions; wait up to ms for the first one. */
static void
peer_reap(struct peer *p, int ms)
{
	struct sock_extended_err	*serr;
	struct cmsghdr			*cm;
	struct msghdr			 msg;
	struct pollfd			 pfd;
	char				 control[128];

	if (ms > 0 && p->zc_done < p->zc_sent) {
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
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		    cm = CMSG_NXTHDR(&msg, cm)) {
			if (!((cm->cmsg_level == SOL_IP &&
			    cm->cmsg_type == IP_RECVERR) ||
			    (cm->cmsg_level == SOL_IPV6 &&
			    cm->cmsg_type == IPV6_RECVERR)))
				continue;
			serr = (struct sock_extended_err *)CMSG_DATA(cm);
			if (serr->ee_origin != SO_EE_ORIGIN_ZEROCOPY ||
			    serr->ee_errno != 0)
				continue;
			p->zc_done += serr->ee_data - serr->ee_info + 1;
			if (serr->ee_code & SO_EE_CODE_ZEROCOPY_COPIED)
				p->zc_copied += serr->ee_data - serr->ee_info +
				    1;
		}
	}
}

/*
 * Send all of buf.  Payload goes with MSG_ZEROCOPY when on; eor ends the
 * skb after the last byte.  Returns 0, or -1 with errno.
 */
static int
peer_send(struct peer *p, const void *buf, size_t len, int zc, int eor)
{
	const uint8_t	*b = buf;
	ssize_t		 n;
	int		 flags, nobufs = 0;

	flags = (zc && p->zc ? MSG_ZEROCOPY : 0) | (eor ? MSG_EOR : 0) |
	    MSG_NOSIGNAL;
	while (len > 0) {
		n = send(p->fd, b, len, flags);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS && (flags & MSG_ZEROCOPY)) {
				peer_reap(p, 10);
				if (++nobufs >= 3) {
					flags &= ~MSG_ZEROCOPY;
					p->zc_fallback++;
				}
				continue;
			}
			if (errno == EAGAIN)
				errno = ETIMEDOUT;
			return (-1);
		}
		if (flags & MSG_ZEROCOPY)
			p->zc_sent++;
		b += n;
		len -= n;
	}
	if (p->zc)
		peer_reap(p, 0);
	return (0);
}

/* Read exactly len bytes; -1 with errno (0 for EOF). */
static int
peer_read(struct peer *p, void *buf, size_t len)
{
	uint8_t	*b = buf;
	ssize_t	 n;

	while (len > 0) {
		n = recv(p->fd, b, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			else if (errno == EAGAIN)
				errno = ETIMEDOUT;
			return (-1);
		}
		b += n;
		len -= n;
	}
	return (0);
}

/*
 * Read one record from the receiver into body (ZC_CTL_MAX bytes).
 * Returns 0, or -1 with a message in *cause.
 */
static int
peer_record(struct peer *p, struct zc_hdr *h, uint8_t *body, char **cause)
{
	uint8_t	 hdr[ZC_HDR_LEN];

	*cause = NULL;
	if (peer_read(p, hdr, sizeof(hdr)) == -1)
		goto readerr;
	if (proto_hdr_decode(hdr, h, cause) == -1)
		return (-1);
	if (h->len > ZC_CTL_MAX) {
		*cause = xasprintf("%s record too long",
		    proto_type_name(h->type));
		return (-1);
	}
	if (peer_read(p, body, h->len) == -1)
		goto readerr;
	return (0);
readerr:
	*cause = xasprintf("%s", errno == 0 ? "connection closed by receiver" :
	    strerror(errno));
	return (-1);
}

/* Print an ERROR record from the receiver. */
static void
peer_print_error(struct peer *p, const uint8_t *body, size_t len)
{
	struct zc_error	 e;
	char		*cause = NULL;

	if (proto_error_decode(body, len, &e, &cause) == -1) {
		fprintf(stderr, "zcsend: %s: malformed ERROR: %s\n", p->text,
		    cause);
		free(cause);
		return;
	}
	fprintf(stderr, "zcsend: %s: receiver error (%s): %s\n", p->text,
	    proto_code_name(e.code), vis(e.msg));
}

/* Connect with a timeout, then bound every later wait with socket timeouts. */
static int
peer_connect(struct peer *p, const char *host, const char *port)
{
	struct addrinfo	 hints, *res, *ai;
	struct pollfd	 pfd;
	struct timeval	 tv = { p->timeout, 0 };
	socklen_t	 len;
	int		 fd = -1, r, err = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "zcsend: %s: connection failed: %s\n", p->text,
		    gai_strerror(r));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if ((r = poll(&pfd, 1, p->timeout * 1000)) <= 0)
				errno = r == 0 ? ETIMEDOUT : errno;
			else {
				len = sizeof(err);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
				    &len);
				errno = err;
			}
		} else if (errno == EINPROGRESS)
			errno = 0;
		if (errno == 0 || (errno == EISCONN))
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		fprintf(stderr, "zcsend: %s: connection failed: %s\n", p->text,
		    strerror(err));
		return (-1);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		fatal("socket options");
	p->fd = fd;
	p->zc = opt.zerocopy;
	if (p->zc && setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one,
	    sizeof(one)) == -1) {
		if (opt.verbose)
			fprintf(stderr, "zcsend: SO_ZEROCOPY: %s: using plain "
			    "send()\n", strerror(errno));
		p->zc = 0;
	}
	return (0);
}

/* Exchange HELLO records. */
static int
peer_hello(struct peer *p)
{
	struct zc_hello	 hello;
	struct zc_hdr	 h;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	char		*cause = NULL;

	if (peer_send(p, buf, proto_hello_encode(buf, sizeof(buf)), 0,
	    1) == -1) {
		fprintf(stderr, "zcsend: %s: connection failed: %s\n", p->text,
		    strerror(errno));
		return (-1);
	}
	if (peer_record(p, &h, buf, &cause) == -1)
		goto bad;
	if (h.type == ZC_T_ERROR) {
		peer_print_error(p, buf, h.len);
		return (-1);
	}
	if (h.type != ZC_T_HELLO) {
		cause = xasprintf("expected HELLO, got %s",
		    proto_type_name(h.type));
		goto bad;
	}
	if (proto_hello_decode(buf, h.len, &hello, &cause) == -1)
		goto bad;
	if (hello.version != ZC_PROTO_VERSION) {
		cause = xasprintf("receiver speaks protocol version %u, we "
		    "speak %u", hello.version, ZC_PROTO_VERSION);
		goto bad;
	}
	return (0);
bad:
	fprintf(stderr, "zcsend: %s: connection failed: %s\n", p->text, cause);
	free(cause);
	return (-1);
}

/* Progress line on a terminal: bytes, rate, ETA. */
static void
progress(const char *name, uint64_t done, uint64_t size, uint64_t start,
    uint64_t *last, int final)
{
	uint64_t	 now = util_now_ns();
	double		 secs = (now - start) / 1e9, rate;
	char		 a[32], b[32];
	long		 eta;

	if (!opt.progress)
		return;
	if (final) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	if (now - *last < 250000000)
		return;
	*last = now;
	rate = secs > 0 ? done / secs : 0;
	eta = rate > 0 ? (long)((size - done) / rate) : 0;
	fprintf(stderr, "\r\033[K%s  %s / %s  %.2f Gbit/s  ETA %ld:%02ld",
	    name, util_bytes(done, a, sizeof(a)), util_bytes(size, b,
	    sizeof(b)), rate * 8 / 1e9, eta / 60, eta % 60);
}

/*
 * Has the receiver said something while we stream (a failure)?  Returns 0
 * if not; else reads it, prints it and returns the exit code.
 */
static int
peer_check_early(struct peer *p, const char *name)
{
	struct pollfd		 pfd = { p->fd, POLLIN, 0 };
	struct zc_result	 r;
	struct zc_hdr		 h;
	uint8_t			 buf[ZC_CTL_MAX];
	char			*cause = NULL;

	if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
		return (0);
	if (peer_record(p, &h, buf, &cause) == -1) {
		fprintf(stderr, "zcsend: %s: %s\n", name, cause);
		free(cause);
		return (ZS_CONNECT);
	}
	if (h.type == ZC_T_RESULT && proto_result_decode(buf, h.len, &r,
	    &cause) == 0) {
		fprintf(stderr, "zcsend: %s: rejected by receiver (%s): %s\n",
		    name, proto_code_name(r.code), vis(r.msg));
		return (r.code == ZC_E_DIGEST ? ZS_VERIFY : ZS_REJECTED);
	}
	if (h.type == ZC_T_ERROR)
		peer_print_error(p, buf, h.len);
	else
		fprintf(stderr, "zcsend: %s: unexpected %s record\n", name,
		    proto_type_name(h.type));
	free(cause);
	return (ZS_CONNECT);
}

/*
 * Stream [off, size) of the mapped file as DATA records, hashing as we go.
 * Returns 0 or an exit code (the connection is then unusable).
 */
static int
send_payload(struct peer *p, const char *name, const uint8_t *map,
    uint64_t off, uint64_t size, XXH3_state_t *hs)
{
	uint8_t		 hdr[ZC_HDR_LEN];
	uint64_t	 rec, n, start = util_now_ns(), last = 0;
	int		 r;

	while (off < size) {
		rec = size - off < DATA_RECORD ? size - off : DATA_RECORD;
		if (rec >= ZC_BLOCK)
			rec &= ~(uint64_t)(ZC_BLOCK - 1);
		proto_hdr_encode(hdr, ZC_T_DATA, rec, off);
		if (peer_send(p, hdr, sizeof(hdr), 0, 1) == -1)
			goto fail;
		while (rec > 0) {
			n = rec < SEND_CHUNK ? rec : SEND_CHUNK;
			if (hs != NULL)
				XXH3_128bits_update(hs, map + off, n);
			/* The tail is copied anyway: no zero-copy for it. */
			if (peer_send(p, map + off, n, n % ZC_BLOCK == 0,
			    n == rec) == -1)
				goto fail;
			off += n;
			rec -= n;
			progress(name, off, size, start, &last, 0);
		}
		if ((r = peer_check_early(p, name)) != 0) {
			progress(name, 0, 0, 0, NULL, 1);
			return (r);
		}
	}
	progress(name, 0, 0, 0, NULL, 1);
	return (0);
fail:
	progress(name, 0, 0, 0, NULL, 1);
	r = errno;
	/* The receiver may have said why before it closed. */
	if ((r == EPIPE || r == ECONNRESET) &&
	    (r = peer_check_early(p, name)) != 0)
		return (r);
	fprintf(stderr, "zcsend: %s: send failed: %s\n", name,
	    strerror(errno));
	return (ZS_CONNECT);
}

/*
 * Wait for the RESULT of a file and judge it.  Returns an exit code;
 * *dead is set when the connection cannot carry another file.
 */
static int
wait_result(struct peer *p, const char *name, uint64_t size, uint64_t start,
    const uint8_t *digest, int *dead)
{
	struct zc_result	 r;
	struct zc_hdr		 h;
	struct timeval		 tv;
	uint8_t			 buf[ZC_CTL_MAX];
	char			*cause = NULL, hex[ZC_DIGEST_HEXLEN];
	double			 secs;

	/* fsync of a large file may take a while on the receiver. */
	tv.tv_sec = p->timeout + size / RESULT_RATE;
	tv.tv_usec = 0;
	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (peer_record(p, &h, buf, &cause) == -1 || (h.type == ZC_T_RESULT &&
	    proto_result_decode(buf, h.len, &r, &cause) == -1)) {
		fprintf(stderr, "zcsend: %s: no result from receiver: %s\n",
		    name, cause);
		free(cause);
		*dead = 1;
		return (ZS_CONNECT);
	}
	tv.tv_sec = p->timeout;
	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (h.type != ZC_T_RESULT) {
		if (h.type == ZC_T_ERROR)
			peer_print_error(p, buf, h.len);
		else
			fprintf(stderr, "zcsend: %s: unexpected %s record\n",
			    name, proto_type_name(h.type));
		*dead = 1;
		return (ZS_CONNECT);
	}
	if (r.code == ZC_E_DIGEST) {
		fprintf(stderr, "zcsend: %s: verification failed: %s\n", name,
		    vis(r.msg));
		return (ZS_VERIFY);
	}
	if (r.code != ZC_OK) {
		fprintf(stderr, "zcsend: %s: rejected by receiver (%s): %s\n",
		    name, proto_code_name(r.code), vis(r.msg));
		return (ZS_REJECTED);
	}
	if (r.bytes != size) {
		fprintf(stderr, "zcsend: %s: verification failed: receiver "
		    "landed %llu of %llu bytes\n", name,
		    (unsigned long long)r.bytes, (unsigned long long)size);
		return (ZS_VERIFY);
	}
	secs = (util_now_ns() - start) / 1e9;
	if (opt.verify) {
		if (r.digest_alg != ZC_DIGEST_XXH3_128) {
			fprintf(stderr, "zcsend: %s: verification failed: "
			    "landed, but the receiver did not compute a "
			    "digest (verify = none)\n", name);
			return (ZS_VERIFY);
		}
		if (memcmp(r.digest, digest, ZC_DIGEST_LEN) != 0) {
			fprintf(stderr, "zcsend: %s: verification failed: "
			    "receiver's digest differs\n", name);
			return (ZS_VERIFY);
		}
	}
	proto_digest_hex(digest, hex);
	if (!opt.quiet)
		printf("%s: landed, %llu bytes in %.3f s, %.2f Gbit/s, %s%s%s\n",
		    name, (unsigned long long)size, secs,
		    secs > 0 ? size * 8 / secs / 1e9 : 0.0,
		    opt.verify ? "xxh3 " : "not verified", opt.verify ? hex :
		    "", opt.verify ? " verified" : "");
	fflush(stdout);
	return (ZS_OK);
}

/*
 * The destination has a key: answer the CHALLENGE in buf with AUTH, check
 * the receiver's AUTHOK, and leave the record that follows in h and buf.
 * Returns -1 (and *dead) when the file cannot go.
 */
static int
peer_prove(struct peer *p, const char *name, const char *dest, uint8_t *buf,
    struct zc_hdr *h, int *dead)
{
	uint8_t		 nonce_r[ZC_NONCE_LEN], nonce_s[ZC_NONCE_LEN];
	uint8_t		 mac[ZC_MAC_LEN], rec[ZC_HDR_LEN + ZC_AUTH_LEN];
	const char	*dname = *dest != '\0' ? dest : "default";
	char		*cause = NULL;

	*dead = 1;	/* the receiver closes after a failed proof */
	if (opt.key == NULL) {
		fprintf(stderr, "zcsend: %s: rejected by receiver (denied): "
		    "destination %s requires a key (--key-file)\n", name, dname);
		return (-1);
	}
	memcpy(nonce_r, buf, ZC_NONCE_LEN);
	auth_nonce(nonce_s);
	auth_mac(opt.key, 0, nonce_r, nonce_s, dname, mac);
	if (peer_send(p, rec, proto_blob_encode(rec, sizeof(rec), ZC_T_AUTH,
	    nonce_s, ZC_NONCE_LEN, mac, ZC_MAC_LEN), 0, 1) == -1 ||
	    peer_record(p, h, buf, &cause) == -1) {
		fprintf(stderr, "zcsend: %s: %s\n", name, cause != NULL ?
		    cause : strerror(errno));
		free(cause);
		return (-1);
	}
	if (h->type == ZC_T_AUTHOK) {
		auth_mac(opt.key, 1, nonce_s, nonce_r, dname, mac);
		if (!auth_equal(mac, buf)) {
			fprintf(stderr, "zcsend: %s: the receiver could not "
			    "prove it knows the key of %s\n", name, dname);
			return (-1);
		}
		if (peer_record(p, h, buf, &cause) == -1) {
			fprintf(stderr, "zcsend: %s: %s\n", name, cause);
			free(cause);
			return (-1);
		}
		*dead = 0;
		return (0);
	}
	if (h->type == ZC_T_RESULT) {
		struct zc_result r;

		if (proto_result_decode(buf, h->len, &r, &cause) == 0)
			fprintf(stderr, "zcsend: %s: rejected by receiver "
			    "(%s): %s\n", name, proto_code_name(r.code),
			    vis(r.msg));
		free(cause);
		return (-1);
	}
	fprintf(stderr, "zcsend: %s: unexpected %s record\n", name,
	    proto_type_name(h->type));
	return (-1);
}

/* Announce a file; returns 0 with the offset to send from, or a code. */
static int
send_announce(struct peer *p, const char *name, const char *dest,
    const struct stat *sb, uint64_t *offset, int *dead)
{
	struct zc_file		 f;
	struct zc_result	 r;
	struct zc_hdr		 h;
	uint8_t			 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	char			*cause = NULL;

	memset(&f, 0, sizeof(f));
	f.size = sb->st_size;
	f.mode = sb->st_mode & 0777;
	f.digest_alg = opt.verify ? ZC_DIGEST_XXH3_128 : ZC_DIGEST_NONE;
	snprintf(f.name, sizeof(f.name), "%s", name);
	snprintf(f.dest, sizeof(f.dest), "%s", dest);
	if (peer_send(p, buf, proto_file_encode(buf, sizeof(buf), &f), 0,
	    1) == -1) {
		fprintf(stderr, "zcsend: %s: send failed: %s\n", name,
		    strerror(errno));
		*dead = 1;
		return (ZS_CONNECT);
	}
	if (peer_record(p, &h, buf, &cause) == 0 &&
	    h.type == ZC_T_CHALLENGE &&
	    peer_prove(p, name, dest, buf, &h, dead) == -1)
		return (ZS_REJECTED);
	if (cause == NULL) {
		if (h.type == ZC_T_ACCEPT &&
		    proto_accept_decode(buf, h.len, offset, &cause) == 0 &&
		    *offset <= f.size)
			return (0);
		if (h.type == ZC_T_RESULT &&
		    proto_result_decode(buf, h.len, &r, &cause) == 0) {
			fprintf(stderr, "zcsend: %s: rejected by receiver "
			    "(%s): %s\n", name, proto_code_name(r.code),
			    vis(r.msg));
			return (ZS_REJECTED);
		}
		if (h.type == ZC_T_ERROR) {
			peer_print_error(p, buf, h.len);
			*dead = 1;
			return (ZS_CONNECT);
		}
		if (cause == NULL)
			cause = xasprintf("unexpected %s record",
			    proto_type_name(h.type));
	}
	fprintf(stderr, "zcsend: %s: %s\n", name, cause);
	free(cause);
	*dead = 1;
	return (ZS_CONNECT);
}

/*
 * Send one file.  Returns an exit code for it; *dead is set when the
 * connection is unusable afterwards.
 */
static int
send_file(struct peer *p, const char *path, const char *dest, int *dead)
{
	XXH128_canonical_t	 canon;
	XXH3_state_t		*hs = NULL;
	struct stat		 sb;
	const char		*name;
	uint8_t			 buf[ZC_HDR_LEN + ZC_END_LEN];
	uint8_t			*map = NULL;
	uint64_t		 offset = 0, start;
	struct zc_end		 e;
	int			 fd, r;

	name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1) {
		fprintf(stderr, "zcsend: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (ZS_LOCAL);
	}
	if (!S_ISREG(sb.st_mode) || *name == '\0' ||
	    strlen(name) > ZC_NAME_MAX) {
		fprintf(stderr, "zcsend: %s: %s\n", path, !S_ISREG(sb.st_mode) ?
		    "not a regular file" : "bad file name");
		close(fd);
		return (ZS_LOCAL);
	}
	if (sb.st_size > 0) {
		map = mmap(NULL, sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			fprintf(stderr, "zcsend: %s: mmap: %s\n", path,
			    strerror(errno));
			close(fd);
			return (ZS_LOCAL);
		}
		madvise(map, sb.st_size, MADV_SEQUENTIAL);
	}
	close(fd);

	start = util_now_ns();
	if ((r = send_announce(p, name, dest, &sb, &offset, dead)) != 0)
		goto out;
	memset(&e, 0, sizeof(e));
	if (opt.verify) {
		if ((hs = XXH3_createState()) == NULL)
			fatalx("XXH3_createState");
		XXH3_128bits_reset(hs);
		if (offset > 0)
			XXH3_128bits_update(hs, map, offset);
	}
	if ((r = send_payload(p, name, map, offset, sb.st_size, hs)) != 0) {
		*dead = 1;
		goto out;
	}
	if (hs != NULL) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(hs));
		memcpy(e.digest, canon.digest, ZC_DIGEST_LEN);
		e.digest_alg = ZC_DIGEST_XXH3_128;
	}
	if (peer_send(p, buf, proto_end_encode(buf, sizeof(buf), &e), 0,
	    1) == -1) {
		fprintf(stderr, "zcsend: %s: send failed: %s\n", name,
		    strerror(errno));
		*dead = 1;
		r = ZS_CONNECT;
		goto out;
	}
	r = wait_result(p, name, sb.st_size, start, e.digest, dead);
out:
	if (hs != NULL)
		XXH3_freeState(hs);
	if (map != NULL) {
		/* Let the kernel finish with the pages we lent it. */
		while (p->zc && !*dead && p->zc_done < p->zc_sent &&
		    util_now_ns() - start < (uint64_t)p->timeout * 1000000000)
			peer_reap(p, 100);
		munmap(map, sb.st_size);
	}
	return (r);
}

/* Parse options; returns the index of the first operand. */
static int
parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "no-zerocopy", no_argument, NULL, 'Z' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char	*end, *cause;
	long	 n;
	int	 ch;

	while ((ch = getopt_long(argc, argv, "hqt:vV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'K':
			opt.key = xmalloc(sizeof(*opt.key));
			if (auth_key_load(optarg, opt.key, 0, &cause) == -1) {
				fprintf(stderr, "zcsend: %s\n", cause);
				exit(ZS_USAGE);
			}
			break;
		case 'N':
			opt.verify = 0;
			break;
		case 'Z':
			opt.zerocopy = 0;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 't':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || n < 1 || n > 86400) {
				fprintf(stderr, "zcsend: bad timeout '%s' "
				    "(1-86400 seconds)\n", optarg);
				exit(ZS_USAGE);
			}
			opt.timeout = n;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		case 'V':
			printf("zcsend %s\n", PACKAGE_VERSION);
			exit(ZS_OK);
		default:
			usage();
		}
	}
	if (argc - optind < 2)
		usage();
	return (optind);
}

int
main(int argc, char **argv)
{
	struct peer	 p;
	char		*host, *port, *dest, *cause = NULL;
	int		 first, i, r, status = ZS_OK, dead;

	log_init("zcsend", LOG_LEVEL_INFO, 0);
	auth_init();
	first = parse_options(argc, argv);
	if (util_parse_hostport(argv[argc - 1], &host, &port, &dest) == -1 ||
	    host == NULL) {
		fprintf(stderr, "zcsend: %s: expected HOST:PORT[/DEST]\n",
		    argv[argc - 1]);
		status = ZS_USAGE;
		goto out;
	}
	if (dest != NULL && proto_dest_check(dest, strlen(dest), &cause) == -1) {
		fprintf(stderr, "zcsend: %s: %s\n", argv[argc - 1], cause);
		free(cause);
		status = ZS_USAGE;
		goto out;
	}
	opt.progress = !opt.quiet && isatty(STDERR_FILENO);

	memset(&p, 0, sizeof(p));
	p.fd = -1;
	p.text = argv[argc - 1];
	p.timeout = opt.timeout;
	for (i = first; i < argc - 1; i++) {
		if (p.fd == -1 && (peer_connect(&p, host, port) == -1 ||
		    peer_hello(&p) == -1)) {
			status = ZS_CONNECT;
			break;
		}
		dead = 0;
		r = send_file(&p, argv[i], dest != NULL ? dest : "", &dead);
		if (r > status)
			status = r;
		if (dead) {
			close(p.fd);
			p.fd = -1;
		}
	}
	if (opt.verbose && opt.zerocopy)
		fprintf(stderr, "zcsend: zero-copy: %llu sends, %llu completed, "
		    "%llu copied by the kernel, %llu chunks sent plainly\n",
		    (unsigned long long)p.zc_sent,
		    (unsigned long long)p.zc_done,
		    (unsigned long long)p.zc_copied,
		    (unsigned long long)p.zc_fallback);
	if (p.fd != -1)
		close(p.fd);
out:
	free(host);
	free(port);
	free(dest);
	if (opt.key != NULL) {
		explicit_bzero(opt.key, sizeof(*opt.key));
		free(opt.key);
	}
	return (status);
}
