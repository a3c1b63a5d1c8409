/*
 * peer.c -- zcsend's connection to the receiver, and the version 1
 * conversation.
 *
 * Connect and exchange HELLO, proposing version 2 (3 for a stream) and
 * connecting again with one less when the receiver answers ERROR version
 * (peer_open); then, in
 * version 1, per file, FILE and its answer (ACCEPT, a refusal, or
 * CHALLENGE and the key exchange), DATA records, END, and the RESULT.
 * Version 2 is pipeline.c's; it shares the sends, the key's MACs and the
 * judging of a RESULT (peer_judge()).  Control records go out one
 * send(MSG_EOR) each, so that none shares an skb with payload.  Whatever
 * the receiver answers instead of what the conversation expects is judged
 * by peer_verdict(), which turns it into the exit code and the message the
 * user sees.  Every wait on the receiver is bounded by the socket
 * timeouts, or in version 2 by poll().
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcsend.h"

/*
 * One send(): retried on EINTR; a send timeout is ETIMEDOUT.  In version 2
 * (pump set) a send that would block waits for the socket, reading what
 * the receiver says meanwhile, so that neither side waits on the other,
 * and calling side() when side_fd is readable (a stream reads its input
 * ahead); -1 with ECONNRESET when the pump found the connection ended.
 */
ssize_t
peer_send1(struct peer *p, const void *buf, size_t len, int flags)
{
	struct pollfd	 pfd[2];
	ssize_t		 n;
	int		 r;

	if (p->pump == NULL) {
		do
			n = send(p->fd, buf, len, flags | MSG_NOSIGNAL);
		while (n == -1 && errno == EINTR);
		if (n == -1 && errno == EAGAIN)
			errno = ETIMEDOUT;
		return (n);
	}
	for (;;) {
		n = send(p->fd, buf, len, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != -1 || (errno != EINTR && errno != EAGAIN))
			return (n);
		if (errno == EINTR)
			continue;
		pfd[0].fd = p->fd;
		pfd[0].events = POLLIN | POLLOUT;
		pfd[1].fd = p->side_fd;		/* ignored when -1 */
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		if ((r = poll(pfd, 2, p->timeout * 1000)) == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		if (r == -1 && errno != EINTR)
			return (-1);
		if (pfd[0].revents & POLLERR)
			source_reap(p, 0);
		if ((pfd[0].revents & (POLLIN | POLLHUP)) &&
		    p->pump(p->pump_arg) == -1) {
			errno = ECONNRESET;
			return (-1);
		}
		/* Meanwhile, read ahead (stream.c). */
		if (p->side_fd != -1 && (pfd[1].revents &
		    (POLLIN | POLLHUP | POLLERR)) &&
		    !(pfd[0].revents & POLLOUT) && p->side(p->side_arg) == -1)
			p->side_fd = -1;
	}
}

/* Send a control record whole, ending its skb.  0, or -1 with errno. */
int
peer_send(struct peer *p, const void *buf, size_t len)
{
	const uint8_t	*b = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = peer_send1(p, b, len, MSG_EOR)) == -1)
			return (-1);
		b += n;
		len -= n;
	}
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

/* Bound the wait for the next record to secs seconds. */
static void
peer_rcvtimeo(struct peer *p, uint64_t secs)
{
	struct timeval	 tv;

	tv.tv_sec = secs;
	tv.tv_usec = 0;
	setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Say what an ERROR record from the receiver says; returns ZS_CONNECT. */
static int
peer_error(struct peer *p, struct report *rp, const uint8_t *body,
    size_t len)
{
	struct zc_error	 e;
	char		*cause = NULL;

	if (proto_error_decode(body, len, &e, &cause) == -1) {
		sout_peerfail(rp, p->text, ZS_CONNECT, "protocol",
		    "malformed ERROR: %s", cause);
		free(cause);
		return (ZS_CONNECT);
	}
	return (sout_peerfail(rp, p->text, ZS_CONNECT, proto_code_name(e.code),
	    "receiver error (%s): %s", proto_code_name(e.code), e.msg));
}

/* Connect one address within timeout seconds; the socket, or -1 with errno. */
static int
peer_dial(const struct addrinfo *ai, int timeout)
{
	struct pollfd	 pfd;
	socklen_t	 len = sizeof(int);
	int		 fd, r, err = 0;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1)
		return (-1);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return (fd);
	if (errno == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if ((r = poll(&pfd, 1, timeout * 1000)) == 0)
			err = ETIMEDOUT;
		else if (r == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
		    &len) == -1)
			err = errno;
	} else
		err = errno;
	if (err == 0 || err == EISCONN)
		return (fd);
	close(fd);
	errno = err;
	return (-1);
}

/*
 * --limit-rate: the kernel paces the connection (TCP's own pacing, or the
 * fq qdisc where it is set up), so the stream is smooth, not bursts.
 */
static int
peer_pace(struct peer *p, struct report *rp)
{
	unsigned long	 rate = opt.limit_rate;

	if (setsockopt(p->fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate,
	    sizeof(rate)) == -1) {
		sout_peerfail(rp, p->text, ZS_CONNECT, "connect",
		    "cannot limit the rate (SO_MAX_PACING_RATE): %s",
		    strerror(errno));
		close(p->fd);
		p->fd = -1;
		return (-1);
	}
	log_debug("%s: paced at %lu bytes/s", p->text, rate);
	return (0);
}

/*
 * Connect, then bound every later wait with socket timeouts.  A failure
 * is told as that of the file of rp.
 */
int
peer_connect(struct peer *p, const char *host, const char *port,
    struct report *rp)
{
	struct addrinfo	 hints, *res, *ai;
	struct timeval	 tv = { p->timeout, 0 };
	int		 fd = -1, r, err = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		sout_peerfail(rp, p->text, ZS_CONNECT, "connect",
		    "connection failed: %s", gai_strerror(r));
		return (-1);
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
		if ((fd = peer_dial(ai, p->timeout)) == -1)
			err = errno;
	freeaddrinfo(res);
	if (fd == -1) {
		sout_peerfail(rp, p->text, ZS_CONNECT, "connect",
		    "connection failed: %s", strerror(err));
		return (-1);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		fatal("socket options");
	p->fd = fd;
	if (opt.limit_rate > 0 && peer_pace(p, rp) == -1)
		return (-1);
	switch (opt.io) {
	case ZS_IO_AUTO:
		judge_init(&p->judge, "ZCSEND_TEST_JUDGE");
		break;
	case ZS_IO_READ:
		judge_off(&p->judge);		/* JUDGE_COPY */
		break;
	default:
		judge_off(&p->judge);
		p->judge.pick = JUDGE_MAP;
		break;
	}
	p->zc = opt.zerocopy;
	if (p->zc && setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one,
	    sizeof(one)) == -1) {
		log_debug("SO_ZEROCOPY: %s: using plain send()",
		    strerror(errno));
		p->zc = 0;
	}
	return (0);
}

/*
 * Exchange HELLO records, proposing version; a failure is told as that of
 * the file of rp.  Returns 0, -1, or 1 without a word when the receiver
 * answers ERROR version (it speaks an older version only).
 */
int
peer_hello(struct peer *p, int version, struct report *rp)
{
	struct zc_hello	 hello;
	struct zc_error	 e;
	struct zc_hdr	 h;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	char		*cause = NULL;

	if (peer_send(p, buf, proto_hello_encode(buf, sizeof(buf), version,
	    0)) == -1) {
		sout_peerfail(rp, p->text, ZS_CONNECT, "connect",
		    "connection failed: %s", strerror(errno));
		return (-1);
	}
	if (peer_record(p, &h, buf, &cause) == -1)
		goto bad;
	if (h.type == ZC_T_ERROR) {
		if (version > ZC_PROTO_V1 && proto_error_decode(buf, h.len, &e,
		    &cause) == 0 && e.code == ZC_E_VERSION) {
			log_debug("%s: %s", p->text, sout_vis(e.msg));
			return (1);
		}
		free(cause);
		peer_error(p, rp, buf, h.len);
		return (-1);
	}
	if (h.type != ZC_T_HELLO) {
		cause = xasprintf("expected HELLO, got %s",
		    proto_type_name(h.type));
		goto bad;
	}
	if (proto_hello_decode(buf, h.len, &hello, &cause) == -1)
		goto bad;
	if (hello.version < ZC_PROTO_V1 || hello.version > version) {
		cause = xasprintf("receiver speaks protocol version %u, we "
		    "speak %u", hello.version, version);
		goto bad;
	}
	if (hello.version >= ZC_PROTO_V2 && (hello.window == 0 ||
	    hello.window > ZC_WINDOW_MAX)) {
		cause = xasprintf("receiver's window %u out of range 1-%u",
		    hello.window, ZC_WINDOW_MAX);
		goto bad;
	}
	p->version = hello.version;
	p->window = hello.window;
	if (hello.version >= ZC_PROTO_V4) {
		/* The session further connections may join (-P). */
		if (peer_record(p, &h, buf, &cause) == -1)
			goto bad;
		if (h.type != ZC_T_SESSION) {
			cause = xasprintf("expected SESSION, got %s",
			    proto_type_name(h.type));
			goto bad;
		}
		memcpy(p->sess, buf, ZC_SESSION_LEN);
	}
	return (0);
bad:
	sout_peerfail(rp, p->text, ZS_CONNECT, "connect",
	    "connection failed: %s", cause);
	free(cause);
	return (-1);
}

/*
 * Connect and agree on a version: propose p->propose (2, or 3 for a run
 * with a stream), and connect again proposing one less to a receiver that
 * answers ERROR version, down to 1.  A failure is told as that of the
 * file of rp.  Returns 0 or -1.
 */
int
peer_open(struct peer *p, struct report *rp)
{
	int	 r, v = p->propose != 0 ? p->propose : ZC_PROTO_V2;

	if (peer_connect(p, p->host, p->port, rp) == -1)
		return (-1);
	while ((r = peer_hello(p, v, rp)) == 1) {
		peer_close(p);
		v--;
		log_debug("%s: connecting again, proposing version %u",
		    p->text, v);
		if (peer_connect(p, p->host, p->port, rp) == -1)
			return (-1);
	}
	if (r != 0) {
		peer_close(p);
		return (-1);
	}
	log_debug("%s: protocol version %d, window %u", p->text, p->version,
	    p->window);
	return (0);
}

/*
 * Bind the connection (version 4, just opened) to the session of the
 * connection first: JOIN with its id and token, SESSION back.  Returns 0,
 * or -1 with *cause.
 */
int
peer_join(struct peer *p, const struct peer *first, char **cause)
{
	struct zc_error	 e;
	struct zc_hdr	 h;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];

	*cause = NULL;
	if (peer_send(p, buf, proto_blob_encode(buf, sizeof(buf), ZC_T_JOIN,
	    first->sess, ZC_SESSION_LEN, NULL, 0)) == -1) {
		*cause = xasprintf("send failed: %s", strerror(errno));
		return (-1);
	}
	if (peer_record(p, &h, buf, cause) == -1)
		return (-1);
	if (h.type == ZC_T_ERROR) {
		if (proto_error_decode(buf, h.len, &e, cause) == -1)
			return (-1);
		*cause = xasprintf("receiver error (%s): %s",
		    proto_code_name(e.code), sout_vis(e.msg));
		return (-1);
	}
	if (h.type != ZC_T_SESSION || memcmp(buf, first->sess,
	    ZC_SESSION_ID_LEN) != 0) {
		*cause = xasprintf("unexpected %s in answer to JOIN",
		    proto_type_name(h.type));
		return (-1);
	}
	return (0);
}

/*
 * Has the receiver said something on a connection that only sends (a
 * joined one, version 4)?  Whatever it says there ends it: 0 when it said
 * nothing, -1 with *cause.
 */
int
peer_heard(struct peer *p, char **cause)
{
	struct pollfd	 pfd;
	struct zc_error	 e;
	struct zc_hdr	 h;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];

	pfd.fd = p->fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) <= 0)
		return (0);
	/*
	 * POLLERR alone is a zero-copy completion on the error queue, not
	 * something the receiver said: reading would wait for nothing.
	 */
	if ((pfd.revents & POLLERR) && p->zc)
		source_reap_errq(p);
	if (!(pfd.revents & (POLLIN | POLLHUP)))
		return (0);
	if (peer_record(p, &h, buf, cause) == -1)
		return (-1);
	if (h.type == ZC_T_ERROR && proto_error_decode(buf, h.len, &e,
	    cause) == 0)
		*cause = xasprintf("receiver error (%s): %s",
		    proto_code_name(e.code), sout_vis(e.msg));
	else if (*cause == NULL)
		*cause = xasprintf("unexpected %s", proto_type_name(h.type));
	return (-1);
}

/*
 * Close the connection.  Zero-copy sends not completed by now never will
 * be; the mappings they were sent from go.
 */
void
peer_close(struct peer *p)
{
	if (p->fd == -1) {
		free(p->rbuf);
		p->rbuf = NULL;
		return;
	}
	if (p->zc)
		source_reap(p, 0);
	close(p->fd);
	p->fd = -1;
	p->zs.lost = p->zs.sent - p->zs.done;
	source_unmap_done(p, 1);
	free(p->rbuf);		/* as the mappings: their sends never end */
	p->rbuf = NULL;
}

/*
 * A landed file of size bytes, reported in rp: does what the receiver
 * landed match what was sent?  Of a sparse file, a receiver may count the
 * payload it received rather than the size; the digest covers the holes.
 * Returns an exit code.
 */
static int
peer_landed(struct report *rp, uint64_t size, const struct zc_result *r,
    const uint8_t *digest)
{
	if (r->bytes != size && !(rp->covered > rp->bytes &&
	    r->bytes == rp->bytes))
		return (sout_fail(rp, ZS_VERIFY, "verify", "verification "
		    "failed: receiver landed %llu of %llu bytes",
		    (unsigned long long)r->bytes, (unsigned long long)size));
	if (!opt.verify)
		return (ZS_OK);
	if (r->digest_alg != ZC_DIGEST_XXH3_128)
		return (sout_fail(rp, ZS_VERIFY, "verify", "verification "
		    "failed: landed, but the receiver did not compute a digest "
		    "(verify = none)"));
	if (memcmp(r->digest, digest, ZC_DIGEST_LEN) != 0)
		return (sout_fail(rp, ZS_VERIFY, "verify", "verification "
		    "failed: receiver's digest differs"));
	return (ZS_OK);
}

/*
 * The receiver's RESULT r for the file of size bytes reported in rp.  Only
 * "ok" after END (digest is then what was sent) whose bytes and digest
 * match gives ZS_OK; the reason of anything else is said on stderr.
 */
int
peer_judge(struct report *rp, uint64_t size, const struct zc_result *r,
    const uint8_t *digest)
{
	if (r->code == ZC_OK && digest != NULL)
		return (peer_landed(rp, size, r, digest));
	if (r->code == ZC_E_DIGEST)
		return (sout_fail(rp, ZS_VERIFY, "digest", "verification "
		    "failed: %s", r->msg));
	return (sout_fail(rp, ZS_REJECTED, proto_code_name(r->code),
	    "rejected by receiver (%s): %s", proto_code_name(r->code), r->msg));
}

/*
 * The receiver's verdict on file s: the RESULT or ERROR record it sent (or
 * whatever it sent instead of what the conversation expected) becomes the
 * exit code, and the reason is said on stderr (peer_judge).  *dead is set
 * when the connection cannot carry another file.
 */
static int
peer_verdict(struct peer *p, const struct source *s, const struct zc_hdr *h,
    const uint8_t *body, const uint8_t *digest, int *dead)
{
	struct zc_result	 r;
	char			*cause = NULL;

	*dead = 1;
	if (h->type == ZC_T_ERROR)
		return (peer_error(p, s->rp, body, h->len));
	if (h->type != ZC_T_RESULT)
		return (sout_fail(s->rp, ZS_CONNECT, "protocol", "unexpected %s "
		    "record", proto_type_name(h->type)));
	if (proto_result_decode(body, h->len, &r, &cause) == -1) {
		sout_fail(s->rp, ZS_CONNECT, "protocol", "no result from "
		    "receiver: %s", cause);
		free(cause);
		return (ZS_CONNECT);
	}
	*dead = 0;
	return (peer_judge(s->rp, s->size, &r, digest));
}

/*
 * Has the receiver said something while we stream (a failure)?  Returns 0
 * if not; else reads it, judges it and returns the exit code.
 */
static int
peer_check_early(struct peer *p, const struct source *s)
{
	struct pollfd	 pfd = { p->fd, POLLIN, 0 };
	struct zc_hdr	 h;
	uint8_t		 buf[ZC_CTL_MAX];
	char		*cause = NULL;
	int		 dead;

	if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
		return (0);
	if (peer_record(p, &h, buf, &cause) == -1) {
		sout_fail(s->rp, ZS_CONNECT, "connect", "%s", cause);
		free(cause);
		return (ZS_CONNECT);
	}
	return (peer_verdict(p, s, &h, buf, NULL, &dead));
}

/*
 * Answer the CHALLENGE nonce_r for destination dname: a fresh nonce_s and
 * mac_s.  -1 when we have no key.
 */
int
peer_prove_mac(const char *dname, const uint8_t *nonce_r, uint8_t *nonce_s,
    uint8_t *mac)
{
	if (opt.key == NULL)
		return (-1);
	auth_nonce(nonce_s);
	auth_mac(opt.key, 0, nonce_r, nonce_s, dname, mac);
	return (0);
}

/* Does the receiver's AUTHOK mac_r prove it knows the key?  0 if so. */
int
peer_prove_check(const char *dname, const uint8_t *nonce_s,
    const uint8_t *nonce_r, const uint8_t *mac_r)
{
	uint8_t	 mac[ZC_MAC_LEN];

	auth_mac(opt.key, 1, nonce_s, nonce_r, dname, mac);
	return (auth_equal(mac, mac_r) ? 0 : -1);
}

/*
 * The destination has a key: answer the CHALLENGE in buf with AUTH, check
 * the receiver's AUTHOK, and leave the record that follows in h and buf.
 * Returns -1 (and *dead) when the file cannot go.
 */
static int
peer_prove(struct peer *p, const struct source *s, const char *dest,
    uint8_t *buf, struct zc_hdr *h, int *dead)
{
	uint8_t		 nonce_r[ZC_NONCE_LEN], nonce_s[ZC_NONCE_LEN];
	uint8_t		 mac[ZC_MAC_LEN], rec[ZC_HDR_LEN + ZC_AUTH_LEN];
	const char	*dname = *dest != '\0' ? dest : "default";
	char		*cause = NULL;

	memcpy(nonce_r, buf, ZC_NONCE_LEN);
	if (peer_prove_mac(dname, nonce_r, nonce_s, mac) == -1) {
		sout_fail(s->rp, ZS_REJECTED, "denied", "rejected by receiver "
		    "(denied): destination %s requires a key (--key-file or "
		    "ZCSEND_KEY_FILE)", dname);
		goto fail;
	}
	if (peer_send(p, rec, proto_blob_encode(rec, sizeof(rec), ZC_T_AUTH,
	    nonce_s, ZC_NONCE_LEN, mac, ZC_MAC_LEN)) == -1 ||
	    peer_record(p, h, buf, &cause) == -1)
		goto readerr;
	if (h->type != ZC_T_AUTHOK) {
		peer_verdict(p, s, h, buf, NULL, dead);
		goto fail;
	}
	if (peer_prove_check(dname, nonce_s, nonce_r, buf) == -1) {
		sout_fail(s->rp, ZS_REJECTED, "denied", "the receiver could not "
		    "prove it knows the key of %s", dname);
		goto fail;
	}
	if (peer_record(p, h, buf, &cause) == -1)
		goto readerr;
	return (0);
readerr:
	sout_fail(s->rp, ZS_REJECTED, "connect", "%s", cause != NULL ? cause :
	    strerror(errno));
	free(cause);
fail:
	*dead = 1;	/* the receiver closes after a failed proof */
	return (-1);
}

/*
 * Announce file s; returns 0 with the offset to send from, or an exit code
 * (a key exchange that fails is a refusal).
 */
static int
peer_announce(struct peer *p, const struct source *s, const char *dest,
    uint64_t *offset, int *dead)
{
	struct zc_file	 f;
	struct zc_hdr	 h;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	uint64_t	 id;
	char		*cause = NULL;

	memset(&f, 0, sizeof(f));
	f.size = s->size;
	f.mode = s->mode & 0777;
	f.digest_alg = opt.verify ? ZC_DIGEST_XXH3_128 : ZC_DIGEST_NONE;
	snprintf(f.name, sizeof(f.name), "%s", s->name);
	snprintf(f.dest, sizeof(f.dest), "%s", dest);
	if (peer_send(p, buf, proto_file_encode(buf, sizeof(buf), &f)) == -1) {
		*dead = 1;
		return (sout_fail(s->rp, ZS_CONNECT, "connect", "send failed: %s",
		    strerror(errno)));
	}
	if (peer_record(p, &h, buf, &cause) == -1)
		goto bad;
	if (h.type == ZC_T_CHALLENGE &&
	    peer_prove(p, s, dest, buf, &h, dead) == -1)
		return (ZS_REJECTED);
	if (h.type != ZC_T_ACCEPT)
		return (peer_verdict(p, s, &h, buf, NULL, dead));
	if (proto_accept_decode(buf, h.len, offset, &id, &cause) == -1)
		goto bad;
	if (id != 0) {
		cause = xasprintf("ACCEPT for entry %llu in version 1",
		    (unsigned long long)id);
		goto bad;
	}
	if (*offset > f.size) {
		cause = xasprintf("unexpected %s record",
		    proto_type_name(h.type));
		goto bad;
	}
	s->rp->offset = *offset;
	sout_cover(s->rp, 0, *offset);
	return (0);
bad:
	sout_fail(s->rp, ZS_CONNECT, "connect", "%s", cause);
	free(cause);
	*dead = 1;
	return (ZS_CONNECT);
}

/* A send failed with err: the receiver may have said why before it closed. */
static int
peer_send_failed(struct peer *p, const struct source *s, int err)
{
	int	 r;

	if ((err == EPIPE || err == ECONNRESET) &&
	    (r = peer_check_early(p, s)) != 0)
		return (r);
	return (sout_fail(s->rp, ZS_CONNECT, "connect", "send failed: %s",
	    strerror(err)));
}

/*
 * Stream [off, size) of file s as DATA records, looking for an early
 * verdict between records.  Returns 0 or an exit code (the connection is
 * then unusable).
 */
static int
peer_stream(struct peer *p, struct source *s, uint64_t off)
{
	uint8_t		 hdr[ZC_HDR_LEN];
	uint64_t	 rec, n;
	int		 r = 0, err = 0;

	while (off < s->size && r == 0 && err == 0) {
		rec = s->size - off < DATA_RECORD ? s->size - off : DATA_RECORD;
		if (rec >= ZC_BLOCK)
			rec &= ~(uint64_t)(ZC_BLOCK - 1);
		proto_hdr_encode(hdr, ZC_T_DATA, rec, off);
		if (peer_send(p, hdr, sizeof(hdr)) == -1)
			err = errno;
		for (; rec > 0 && err == 0; off += n, rec -= n) {
			n = rec < SEND_CHUNK ? rec : SEND_CHUNK;
			if (source_send(s, p, off, n, n == rec) == -1)
				err = errno;
			else
				sout_cover(s->rp, n, n);
		}
		if (err == 0)
			r = peer_check_early(p, s);
	}
	if (err != 0)
		return (peer_send_failed(p, s, err));
	return (r);
}

/*
 * Wait for the RESULT of file s and take the verdict.  Returns an exit
 * code; *dead is set when the connection cannot carry another file.
 */
static int
peer_result(struct peer *p, const struct source *s, const uint8_t *digest,
    int *dead)
{
	struct zc_hdr	 h;
	uint8_t		 buf[ZC_CTL_MAX];
	char		*cause = NULL;
	int		 r;

	/* fsync of a large file may take a while on the receiver. */
	peer_rcvtimeo(p, p->timeout + s->size / RESULT_RATE);
	r = peer_record(p, &h, buf, &cause);
	peer_rcvtimeo(p, p->timeout);
	if (r == -1) {
		sout_fail(s->rp, ZS_CONNECT, "connect", "no result from "
		    "receiver: %s", cause);
		free(cause);
		*dead = 1;
		return (ZS_CONNECT);
	}
	if ((r = peer_verdict(p, s, &h, buf, digest, dead)) == ZS_OK)
		sout_landed(s->rp);
	return (r);
}

/*
 * Send the open file s to dest: announce it, stream it, end it and take
 * the verdict.  Returns an exit code; *dead is set when the connection is
 * unusable.
 */
int
peer_file(struct peer *p, struct source *s, const char *dest, int *dead)
{
	struct zc_end	 e;
	uint8_t		 buf[ZC_HDR_LEN + ZC_END_LEN];
	uint64_t	 offset = 0;
	int		 r;

	if ((r = peer_announce(p, s, dest, &offset, dead)) != ZS_OK)
		return (r);
	source_hash_begin(s, offset);
	if ((r = peer_stream(p, s, offset)) != ZS_OK) {
		*dead = 1;
		return (r);
	}
	source_digest(s, &e);
	if (e.digest_alg == ZC_DIGEST_XXH3_128)
		proto_digest_hex(e.digest, s->rp->digest);
	if (peer_send(p, buf, proto_end_encode(buf, sizeof(buf), &e)) == -1) {
		*dead = 1;
		return (sout_fail(s->rp, ZS_CONNECT, "connect", "send failed: "
		    "%s", strerror(errno)));
	}
	return (peer_result(p, s, e.digest, dead));
}
