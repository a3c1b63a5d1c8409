/*
 * conn-io.c -- a sender connection's socket: its events and timeouts, the
 * queue of records to send, CPU accounting, accept, close and free.
 *
 * The state machine (conn.c) decides; this file does the waiting.  Each
 * read event is armed with the timeout that fits the state; output goes
 * through an evbuffer and reading stops while the peer does not read it.
 * Connections are freed from an event of their own, never inside their
 * callbacks.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/sockios.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "zcrecvd.h"

#define CONN_OUT_MAX		(64U << 10)	/* stop reading above this */
#define CONN_PENDING_MAX	(16U << 20)	/* inline bytes not landed */
#define CONN_FDS_MAX		128		/* descriptors of files landing */
#define CONN_DRAIN_MAX		(256ULL << 20)	/* discard at most this */
#define CONN_PROGRESS_MIN	(64U << 10)	/* payload per stall_timeout
						   that is not a stall */

/*
 * Is the worker busy: files in flight, or joined connections (version 4)
 * that wait for more chunks of a striped file?
 */
int
conn_io_busy(struct worker *w)
{
	struct conn	*c;

	if (w->busy > 0)
		return (1);
	TAILQ_FOREACH(c, &w->conns, entry)
		if (c->state != CONN_DEAD && !conn_quiet(c))
			return (1);
	return (0);
}

/*
 * Arm the read event with the timeout that fits the state.  A record that
 * has begun must be complete within stall_timeout of its first byte, so a
 * sender cannot hold a connection by trickling a header; between records
 * the connection may be idle for idle_timeout (between files) or
 * stall_timeout (inside one).  Payload is judged on progress at the timeout
 * (conn_timeout), since SO_RCVLOWAT holds back wake-ups.
 */
void
conn_io_arm(struct conn *c)
{
	struct timeval	 tv = { 0, 0 };
	uint64_t	 limit, spent;

	if (evbuffer_get_length(c->out) > CONN_OUT_MAX || c->state == CONN_DEAD)
		return;		/* conn_io_write_cb resumes reading */
	if (c->disk_wait || c->rate_wait) {
		/*
		 * We stopped reading: no peer timeout while we wait for our
		 * disk (a completion resumes) or for max_rate (ev_rate).
		 */
		event_del(c->ev_read);
		return;
	}
	if (c->pending > CONN_PENDING_MAX || c->parked_fds > CONN_FDS_MAX) {
		event_del(c->ev_read);
		return;		/* conn_answered resumes reading */
	}
	if (c->state != CONN_PAYLOAD && c->state != CONN_DRAIN &&
	    c->rhave > 0) {
		limit = (uint64_t)c->conf->stall_timeout * UTIL_NS_PER_SEC;
		spent = util_now_ns() - c->rec_ns;
		if (spent > limit)
			spent = limit;
		tv.tv_sec = (limit - spent) / UTIL_NS_PER_SEC;
		tv.tv_usec = (limit - spent) % UTIL_NS_PER_SEC / 1000;
	} else if (c->state == CONN_IDLE)
		tv.tv_sec = c->conf->idle_timeout;
	else
		tv.tv_sec = c->conf->stall_timeout;
	event_add(c->ev_read, &tv);
}

/* Write out what is queued; stop reading while the peer does not read. */
void
conn_io_flush(struct conn *c)
{
	struct timeval	 tv = { c->conf->stall_timeout, 0 };
	size_t		 left;

	while ((left = evbuffer_get_length(c->out)) > 0) {
		if (evbuffer_write(c->out, c->fd) <= 0)
			break;
	}
	if (left > 0 && errno != EAGAIN && errno != EINTR) {
		log_debug("%s: write: %s", c->peer, strerror(errno));
		evbuffer_drain(c->out, left);
		left = 0;
	}
	if (left > 0) {
		event_add(c->ev_write, &tv);
		if (left > CONN_OUT_MAX)
			event_del(c->ev_read);
		return;
	}
	event_del(c->ev_write);
	if (c->state == CONN_DRAIN)
		shutdown(c->fd, SHUT_WR);
}

/*
 * Queue a record for the peer.  While the worker is corked (answering a
 * landed batch), records wait, so that a batch's RESULTs leave in one
 * write, not one segment each.
 */
void
conn_io_send(struct conn *c, const uint8_t *buf, size_t len)
{
	if (evbuffer_add(c->out, buf, len) == -1)
		fatalx("evbuffer_add");
	if (!c->w->corked) {
		conn_io_flush(c);
		return;
	}
	if (!c->in_cork) {
		c->in_cork = 1;
		TAILQ_INSERT_TAIL(&c->w->cork, c, cork_entry);
	}
}

/* Write out what w held while w->corked. */
void
conn_io_uncork(struct worker *w)
{
	struct conn	*c;

	w->corked = 0;
	while ((c = TAILQ_FIRST(&w->cork)) != NULL) {
		TAILQ_REMOVE(&w->cork, c, cork_entry);
		c->in_cork = 0;
		if (c->state != CONN_DEAD)
			conn_io_flush(c);
	}
}

/* Send a RESULT: code, message, bytes received, digest (or NULL). */
void
conn_io_result(struct conn *c, int code, const char *msg, uint64_t bytes,
    const uint8_t *digest, uint64_t id)
{
	struct zc_result	 r;
	uint8_t			 buf[ZC_HDR_LEN + ZC_RESULT_LEN + ZC_MSG_MAX];

	memset(&r, 0, sizeof(r));
	r.code = code;
	r.bytes = bytes;
	r.id = id;
	if (digest != NULL) {
		r.digest_alg = ZC_DIGEST_XXH3_128;
		memcpy(r.digest, digest, ZC_DIGEST_LEN);
	}
	snprintf(r.msg, sizeof(r.msg), "%s", msg);
	conn_io_send(c, buf, proto_result_encode(buf, sizeof(buf), &r));
}

/*
 * Charge the CPU time since the last mark to the connection and, inside a
 * file, to the file.  Called on entry to and exit from every callback and
 * when a file starts or ends, so a file that comes and goes within one
 * callback is charged exactly its share.
 */
void
conn_io_cpu(struct conn *c)
{
	uint64_t	 now = util_cpu_ns(0);

	c->cpu_ns += now - c->cpu_mark;
	if (conn_in_file(c) && c->cur != NULL)
		c->cur->st.cpu_ns += now - c->cpu_mark;
	c->cpu_mark = now;
}

/* Payload bytes that reached us: taken, and queued in the socket. */
uint64_t
conn_io_arrived(struct conn *c)
{
	int	 inq;

	if (ioctl(c->fd, SIOCINQ, &inq) == -1 || inq < 0)
		inq = 0;
	return (c->cur->st.received + (uint64_t)inq);
}

/* Discard input after a failure, within a byte and time budget. */
void
conn_io_discard(struct conn *c)
{
	ssize_t	 n;
	char	*cause = NULL;
	int	 code;

	while ((n = rx_take(&c->rx, NULL, 0, CONN_DRAIN_MAX, &code,
	    &cause)) > 0) {
		c->drained += n;
		if (c->drained > CONN_DRAIN_MAX)
			break;
	}
	free(cause);
	if (n == -1)
		conn_io_close(c);
	else if (c->drained > CONN_DRAIN_MAX || util_now_ns() - c->drain_ns >
	    (uint64_t)c->conf->stall_timeout * UTIL_NS_PER_SEC) {
		log_debug("%s: closing after draining %llu bytes", c->peer,
		    (unsigned long long)c->drained);
		conn_io_close(c);
	}
}

/*
 * Inside a payload record, is a timeout only the sign of a slow sender?
 * SO_RCVLOWAT keeps a slow but steady sender from waking us, so look at
 * what arrived since the last look: CONN_PROGRESS_MIN bytes (or the rest
 * of the record) is progress; a byte a second must not hold a file open.
 */
int
conn_io_progressed(struct conn *c)
{
	uint64_t	 now = conn_io_arrived(c);

	if (now - c->prog_mark < CONN_PROGRESS_MIN &&
	    now - c->cur->st.received < c->rec_left)
		return (0);
	c->prog_mark = now;
	return (1);
}

/* libevent: the socket is readable or the wait timed out. */
static void
conn_io_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	c->cpu_mark = util_cpu_ns(0);
	if (what & EV_TIMEOUT)
		conn_timeout(c);
	else
		conn_input(c);
	conn_io_cpu(c);
}

/* libevent: max_rate lets the connection read again. */
static void
conn_io_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	c->cpu_mark = util_cpu_ns(0);
	conn_rate_resume(c);
	if (c->state != CONN_DEAD)
		conn_io_cpu(c);
}

/* libevent: the socket is writable again, or the peer stopped reading. */
static void
conn_io_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	c->cpu_mark = util_cpu_ns(0);
	if (what & EV_TIMEOUT) {
		log_info("%s: peer does not read, closing", c->peer);
		conn_fail(c, conn_in_file(c) ? ZC_E_TIMEOUT : PEER_GONE,
		    "peer does not read", CONN_CLOSE);
		return;
	}
	conn_io_flush(c);
	if (evbuffer_get_length(c->out) <= CONN_OUT_MAX && c->state != CONN_DEAD)
		conn_io_arm(c);
	conn_io_cpu(c);
}

/* Free a connection, from its own event. */
static void
conn_io_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct worker	*w = c->w;

	TAILQ_REMOVE(&w->conns, c, entry);
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_rate);
	evbuffer_free(c->out);
	rx_free(&c->rx);
	close(c->fd);
	listener_conn_gone(&c->ss);
	STAT_SUB(conns, 1);
	conf_unref(c->conf);
	free(c);
	if (w->draining && !conn_io_busy(w))
		event_base_loopexit(w->base, NULL);
}

/* Stop all I/O on a connection and free it soon. */
void
conn_io_close(struct conn *c)
{
	struct timeval	 tv = { 0, 0 };
	struct xfer	*x;

	if (c->state == CONN_DEAD)
		return;
	if (c->cur != NULL) {
		conn_fail(c, PEER_GONE, "connection closed", CONN_CLOSE);
		return;
	}
	/* Entries still landing are logged, but no one hears of them. */
	while ((x = TAILQ_FIRST(&c->xfers)) != NULL) {
		TAILQ_REMOVE(&c->xfers, x, entry);
		x->conn = NULL;
		xfer_on_written(x, NULL, NULL);
		xfer_unref(x);
	}
	c->inflight = 0;
	if (c->sess != NULL)
		session_leave(c->sess, !c->joined);
	c->sess = NULL;
	tlog_flush();
	conn_set_state(c, CONN_DEAD);
	c->disk_wait = c->end_wait = c->rate_wait = 0;
	event_del(c->ev_read);
	event_del(c->ev_write);
	evtimer_del(c->ev_rate);
	if (evbuffer_get_length(c->out) > 0)
		evbuffer_write(c->out, c->fd);	/* last words, best effort */
	if (event_base_once(c->w->base, -1, EV_TIMEOUT, conn_io_free_cb, c,
	    &tv) == -1)
		fatalx("event_base_once");
}

/* Format a socket address as "a.b.c.d:port" or "[v6]:port". */
static void
conn_io_peer_name(struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else
		snprintf(buf, len, "unknown");
}

/* A socket handed over by the main thread. */
void
conn_io_accept(struct worker *w, int fd)
{
	struct conn	*c;
	socklen_t	 len;

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->w = w;
	c->conf = cfg_acquire();
	TAILQ_INIT(&c->xfers);
	len = sizeof(c->ss);
	if (getpeername(fd, (struct sockaddr *)&c->ss, &len) == -1)
		c->ss.ss_family = AF_UNSPEC;
	conn_io_peer_name((struct sockaddr *)&c->ss, c->peer, sizeof(c->peer));
	rx_init(&c->rx, fd);
	judge_init(&c->judge, "ZCRECVD_TEST_JUDGE");
	c->ev_read = event_new(w->base, fd, EV_READ | EV_PERSIST,
	    conn_io_read_cb, c);
	c->ev_write = event_new(w->base, fd, EV_WRITE | EV_PERSIST,
	    conn_io_write_cb, c);
	c->ev_rate = evtimer_new(w->base, conn_io_rate_cb, c);
	if ((c->out = evbuffer_new()) == NULL || c->ev_read == NULL ||
	    c->ev_write == NULL || c->ev_rate == NULL)
		fatalx("out of memory for a connection");
	c->state = CONN_HELLO;
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	log_debug("%s: connected (worker %d)", c->peer, w->id);
	conn_io_arm(c);
	if (w->draining)
		conn_io_close(c);
}

/* Shutting down: close what is idle, let files in flight finish. */
void
conn_io_drain_all(struct worker *w)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &w->conns, entry)
		if (c->state == CONN_HELLO || c->state == CONN_AUTH ||
		    (c->state == CONN_IDLE && conn_quiet(c)))
			conn_io_close(c);
}

/* The grace period is over: abort every transfer, tell the peers, close. */
void
conn_io_shutdown_all(struct worker *w)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &w->conns, entry) {
		if (c->state == CONN_DEAD)
			continue;
		c->cpu_mark = util_cpu_ns(0);
		conn_fail(c, conn_in_file(c) ? ZC_E_SHUTDOWN : PEER_GONE,
		    "receiver shutting down", CONN_CLOSE);
	}
}
