/*
 * conn.c -- one sender connection: the protocol state machine.
 *
 * conn_grammar[] below is the conversation of zcproto.h as a table: in
 * which state which record is taken and by what.  Control records are read
 * with recv() into rbuf, never further than the record's end, so the
 * payload that follows a DATA header stays in the socket for the receive
 * path (rx.c) to map.  The file a connection is in is an xfer (xfer.c),
 * which owns the staging file, the sink and the outcome; the connection
 * only drives it.  The state changes through conn_set_state(), which
 * checks the transition; every failure goes through conn_fail().
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

#define CONN_BUDGET		32		/* loop turns per event */
#define CONN_OUT_MAX		(64U << 10)	/* stop reading above this */
#define CONN_DRAIN_MAX		(256ULL << 20)	/* discard at most this */
#define CONN_PROGRESS_MIN	(64U << 10)	/* payload per stall_timeout
						   that is not a stall */
#define CONN_ANY		CONN_NSTATES	/* a rule for every state */

static void	conn_hello(struct conn *, const uint8_t *, size_t);
static void	conn_file(struct conn *, const uint8_t *, size_t);
static void	conn_auth(struct conn *, const uint8_t *, size_t);
static void	conn_data(struct conn *, const uint8_t *, size_t);
static void	conn_end(struct conn *, const uint8_t *, size_t);
static void	conn_peer_error(struct conn *, const uint8_t *, size_t);
static void	conn_written(void *);
static void	conn_close(struct conn *);

/* The grammar: the record each state takes, and who takes it. */
static const struct conn_rule {
	int		 state;		/* enum conn_state or CONN_ANY */
	int		 type;		/* ZC_T_* */
	int		 payload;	/* the body stays in the socket */
	void		(*fn)(struct conn *, const uint8_t *, size_t);
} conn_grammar[] = {
	{ CONN_HELLO,	ZC_T_HELLO,	0, conn_hello },
	{ CONN_IDLE,	ZC_T_FILE,	0, conn_file },
	{ CONN_AUTH,	ZC_T_AUTH,	0, conn_auth },
	{ CONN_FILE,	ZC_T_DATA,	1, conn_data },
	{ CONN_FILE,	ZC_T_END,	0, conn_end },
	{ CONN_ANY,	ZC_T_ERROR,	0, conn_peer_error },
};

static const struct {
	const char	*name;
	const char	*unexpected;	/* where an unexpected record was */
	unsigned int	 next;		/* states it may change to */
} conn_states[CONN_NSTATES] = {
#define S(s)	(1U << (s))
	[CONN_HELLO] = { "hello", "before HELLO",
	    S(CONN_IDLE) | S(CONN_DRAIN) | S(CONN_DEAD) },
	[CONN_IDLE] = { "idle", "outside a file",
	    S(CONN_FILE) | S(CONN_AUTH) | S(CONN_DRAIN) | S(CONN_DEAD) },
	[CONN_AUTH] = { "auth", "instead of AUTH",
	    S(CONN_IDLE) | S(CONN_DRAIN) | S(CONN_DEAD) },
	[CONN_FILE] = { "file", "inside a file",
	    S(CONN_PAYLOAD) | S(CONN_IDLE) | S(CONN_DRAIN) | S(CONN_DEAD) },
	[CONN_PAYLOAD] = { "payload", "inside a DATA record",
	    S(CONN_FILE) | S(CONN_IDLE) | S(CONN_DRAIN) | S(CONN_DEAD) },
	[CONN_DRAIN] = { "drain", "while draining", S(CONN_DEAD) },
	[CONN_DEAD] = { "dead", "after close", 0 },
#undef S
};

/* Files in flight on this worker. */
int
conn_busy(struct worker *w)
{
	return (w->busy);
}

/* Is the connection inside a file (ACCEPT sent, RESULT not yet)? */
static int
conn_in_file(const struct conn *c)
{
	return (c->state == CONN_FILE || c->state == CONN_PAYLOAD);
}

/* Change state, asserting that the transition is legal. */
static void
conn_set_state(struct conn *c, enum conn_state state)
{
	if (c->state == state)
		return;
	if (!(conn_states[c->state].next & (1U << state)))
		fatalx("%s: illegal state change %s -> %s", c->peer,
		    conn_states[c->state].name, conn_states[state].name);
	log_debug("%s: %s -> %s", c->peer, conn_states[c->state].name,
	    conn_states[state].name);
	c->state = state;
	if (conn_in_file(c) != (c->cur != NULL && c->cur->open))
		fatalx("%s: state %s with%s a file open", c->peer,
		    conn_states[state].name, conn_in_file(c) ? "out" : "");
}

/*
 * Arm the read event with the timeout that fits the state.  A record that
 * has begun must be complete within stall_timeout of its first byte, so a
 * sender cannot hold a connection by trickling a header; between records
 * the connection may be idle for idle_timeout (between files) or
 * stall_timeout (inside one).  Payload is judged on progress at the timeout
 * (conn_timeout), since SO_RCVLOWAT holds back wake-ups.
 */
static void
conn_arm(struct conn *c)
{
	struct timeval	 tv = { 0, 0 };
	uint64_t	 limit, spent;

	if (evbuffer_get_length(c->out) > CONN_OUT_MAX || c->state == CONN_DEAD)
		return;		/* conn_write_cb resumes reading */
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
static void
conn_flush(struct conn *c)
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

/* Queue a record for the peer. */
static void
conn_send(struct conn *c, const uint8_t *buf, size_t len)
{
	if (evbuffer_add(c->out, buf, len) == -1)
		fatalx("evbuffer_add");
	conn_flush(c);
}

/* Send a RESULT: code, message, bytes received, digest (or NULL). */
static void
conn_send_result(struct conn *c, int code, const char *msg, uint64_t bytes,
    const uint8_t *digest)
{
	struct zc_result	 r;
	uint8_t			 buf[ZC_HDR_LEN + ZC_RESULT_LEN + ZC_MSG_MAX];

	memset(&r, 0, sizeof(r));
	r.code = code;
	r.bytes = bytes;
	if (digest != NULL) {
		r.digest_alg = ZC_DIGEST_XXH3_128;
		memcpy(r.digest, digest, ZC_DIGEST_LEN);
	}
	snprintf(r.msg, sizeof(r.msg), "%s", msg);
	conn_send(c, buf, proto_result_encode(buf, sizeof(buf), &r));
}

/*
 * Charge the CPU time since the last mark to the connection and, inside a
 * file, to the file.  Called on entry to and exit from every callback and
 * when a file starts or ends, so a file that comes and goes within one
 * callback is charged exactly its share.
 */
static void
conn_cpu(struct conn *c)
{
	uint64_t	 now = util_cpu_ns(0);

	c->cpu_ns += now - c->cpu_mark;
	if (conn_in_file(c) && c->cur != NULL)
		c->cur->st.cpu_ns += now - c->cpu_mark;
	c->cpu_mark = now;
}

/* The current file is over: give its pages back and let it go. */
static void
conn_detach(struct conn *c)
{
	rx_release(&c->rx);
	TAILQ_REMOVE(&c->xfers, c->cur, entry);
	xfer_unref(c->cur);
	c->cur = NULL;
}

/* Between files: wait for the next one (or close when shutting down). */
static void
conn_next(struct conn *c)
{
	conn_set_state(c, CONN_IDLE);
	conn_arm(c);
	if (c->w->draining)
		conn_close(c);
}

/* Start discarding input: the peer learns of the failure, then EOF. */
static void
conn_drain(struct conn *c)
{
	conn_set_state(c, CONN_DRAIN);
	c->rec_left = 0;
	c->drain_ns = util_now_ns();
	c->drained = 0;
	rx_start(&c->rx, RX_DISCARD, NULL);
	rx_lowat(&c->rx, 1);
	conn_flush(c);
	conn_arm(c);
}

/*
 * The one way to fail: the file in flight, if any, ends with code (and is
 * logged), the peer is told (ERROR for a broken conversation, RESULT for
 * a failed file, nothing when it is gone), and then the connection takes
 * the next file, drains what the peer still sends, or closes.
 */
static void
conn_fail(struct conn *c, int code, const char *msg, enum conn_then then)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_ERROR_LEN + ZC_MSG_MAX];
	uint64_t	 bytes = 0;

	if (c->cur != NULL) {
		bytes = c->cur->st.received;
		conn_cpu(c);
		rx_release(&c->rx);
		xfer_abort(c->cur, code, msg);
		conn_detach(c);
	}
	if (code == ZC_E_PROTO || code == ZC_E_VERSION)
		conn_send(c, buf, proto_error_encode(buf, sizeof(buf), code,
		    msg));
	else if (code != PEER_GONE)
		conn_send_result(c, code, msg, bytes, NULL);
	if (then == CONN_NEXT)
		conn_next(c);
	else if (then == CONN_DRAIN_IN)
		conn_drain(c);
	else
		conn_close(c);
}

/* A protocol violation ends the connection (and the file, if any). */
static void
conn_protocol_error(struct conn *c, const char *msg)
{
	log_warnx("%s: protocol error: %s", c->peer, msg);
	conn_fail(c, ZC_E_PROTO, msg, CONN_DRAIN_IN);
}

/* ERROR from the sender: it gives up on the connection. */
static void
conn_peer_error(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_error	 e;
	char		*cause, vmsg[UTIL_VIS_MAX];

	if (proto_error_decode(body, len, &e, &cause) == 0)
		log_warnx("%s: peer reports error: %s: %s", c->peer,
		    proto_code_name(e.code), util_vis(e.msg, vmsg,
		    sizeof(vmsg)));
	else
		free(cause);
	conn_fail(c, PEER_GONE, "sender reported an error", CONN_CLOSE);
}

/* HELLO from the sender: check it and answer with ours. */
static void
conn_hello(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_hello	 h;
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN];
	char		*cause, *msg;

	if (proto_hello_decode(body, len, &h, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	if (h.version != ZC_PROTO_VERSION) {
		log_warnx("%s: unsupported protocol version %u", c->peer,
		    h.version);
		msg = xasprintf("unsupported protocol version %u (this "
		    "receiver speaks %u)", h.version, ZC_PROTO_VERSION);
		conn_fail(c, ZC_E_VERSION, msg, CONN_DRAIN_IN);
		free(msg);
		return;
	}
	conn_send(c, buf, proto_hello_encode(buf, sizeof(buf)));
	conn_set_state(c, CONN_IDLE);
	conn_arm(c);
}

/*
 * Where may the announced file go?  The newest configuration decides.
 * Returns the destination, or NULL with *code and *cause.
 */
static struct dest *
conn_dest(struct conn *c, const struct zc_file *f, int *code, char **cause)
{
	struct dest	*d;

	conf_unref(c->conf);
	c->conf = cfg_acquire();
	if (c->w->draining) {
		*code = ZC_E_SHUTDOWN;
		*cause = xstrdup("receiver shutting down");
		return (NULL);
	}
	*code = ZC_E_NAME;
	if (proto_dest_check(f->dest, f->dest_len, cause) == -1 ||
	    proto_name_check(f->name, f->name_len, cause) == -1)
		return (NULL);
	if ((d = conf_find_dest(c->conf, f->dest)) == NULL) {
		*code = ZC_E_DEST;
		*cause = xasprintf("no destination '%s'", f->dest);
		return (NULL);
	}
	if (!conf_allowed(d, (struct sockaddr *)&c->ss)) {
		*code = ZC_E_DENIED;
		*cause = xasprintf("%s is not allowed to write to %s", c->peer,
		    d->name);
		return (NULL);
	}
	return (d);
}

/* The file may go to its destination: open it, pick the path, ACCEPT. */
static void
conn_file_start(struct conn *c)
{
	struct xfer	*x = c->cur;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ACCEPT_LEN];
	char		*cause = NULL;
	enum rx_kind	 rk;
	enum sink_kind	 sk;
	int		 code;

	iomode_choose(x->dest->io, x->dest->dio_ok, c->switched, &rk, &sk);
	if (xfer_open(x, sk, &code, &cause) == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	if (rx_start(&c->rx, rk, &cause) == -1) {
		log_warnx("%s: %s: receiving with recv()", c->peer, cause);
		free(cause);
		rx_start(&c->rx, RX_COPY, NULL);
	}
	conn_cpu(c);		/* what came before was not this file's */
	conn_send(c, buf, proto_accept_encode(buf, sizeof(buf), 0));
	conn_set_state(c, CONN_FILE);
	conn_arm(c);
}

/* FILE: check name and destination, authenticate if needed, start. */
static void
conn_file(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_file	 f;
	struct dest	*d;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CHALLENGE_LEN];
	char		*cause = NULL;
	int		 code;

	if (proto_file_decode(body, len, &f, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	c->cur = xfer_new(c->w, c->peer, &f);
	TAILQ_INSERT_TAIL(&c->xfers, c->cur, entry);
	if ((d = conn_dest(c, &f, &code, &cause)) == NULL) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	xfer_target(c->cur, c->conf, d);
	xfer_on_written(c->cur, conn_written, c);
	if (d->key != NULL && strcmp(c->authed, d->name) != 0) {
		/* Prove the key first; conn_auth() goes on from there. */
		auth_nonce(c->nonce);
		conn_send(c, buf, proto_blob_encode(buf, sizeof(buf),
		    ZC_T_CHALLENGE, c->nonce, ZC_NONCE_LEN, NULL, 0));
		conn_set_state(c, CONN_AUTH);
		conn_arm(c);
		return;
	}
	conn_file_start(c);
}

/* AUTH: check the sender's MAC, prove ours, go on with the file. */
static void
conn_auth(struct conn *c, const uint8_t *body, size_t len)
{
	const struct dest	*d = c->cur->dest;
	uint8_t			 mac[ZC_MAC_LEN];
	uint8_t			 buf[ZC_HDR_LEN + ZC_AUTHOK_LEN];

	auth_mac(d->key, 0, c->nonce, body, d->name, mac);
	if (!auth_equal(mac, body + ZC_NONCE_LEN)) {
		log_warnx("%s: authentication failed for destination %s",
		    c->peer, d->name);
		conn_fail(c, ZC_E_DENIED, "authentication failed",
		    CONN_DRAIN_IN);
		return;
	}
	snprintf(c->authed, sizeof(c->authed), "%s", d->name);
	auth_mac(d->key, 1, body, c->nonce, d->name, mac);
	conn_send(c, buf, proto_blob_encode(buf, sizeof(buf), ZC_T_AUTHOK,
	    mac, ZC_MAC_LEN, NULL, 0));
	log_debug("%s: authenticated for %s", c->peer, d->name);
	conn_set_state(c, CONN_IDLE);
	conn_file_start(c);
}

/*
 * A queued write of the file is done: give its window's pages back now,
 * so that a sender that stops does not leave them pinned.
 */
static void
conn_written(void *arg)
{
	struct conn	*c = arg;
	char		*cause = NULL;
	int		 code;

	c->cpu_mark = util_cpu_ns(0);
	if (rx_reap(&c->rx, &code, &cause) == -1)
		conn_fail(c, code, cause, CONN_DRAIN_IN);
	free(cause);
	if (c->state != CONN_DEAD)
		conn_cpu(c);
}

/* DATA header: check where the payload goes, then take it. */
static void
conn_data(struct conn *c, const uint8_t *body, size_t len)
{
	char	*msg;

	if (xfer_place(c->cur, c->hdr.arg, c->hdr.len, &msg) == -1) {
		conn_protocol_error(c, msg);
		free(msg);
		return;
	}
	c->rec_off = c->hdr.arg;
	c->rec_left = c->hdr.len;
	conn_set_state(c, CONN_PAYLOAD);
}

/* END: finish the file, compare digests, land it, answer. */
static void
conn_end(struct conn *c, const uint8_t *body, size_t len)
{
	struct xfer	*x = c->cur;
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	char		*cause = NULL;
	int		 code, r;

	if (proto_end_decode(body, len, &e, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	conn_cpu(c);
	if ((r = xfer_finish(x, &e, dg, &code, &cause)) == -1 ||
	    xfer_commit(x, r == 1 ? dg : NULL, &code, &cause) == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	conn_send_result(c, ZC_OK, "landed", x->st.received, r == 1 ? dg :
	    NULL);
	conn_detach(c);
	conn_next(c);
}

/* The rule for a record of type in the current state, or NULL. */
static const struct conn_rule *
conn_rule(struct conn *c, int type)
{
	size_t	 i;

	for (i = 0; i < sizeof(conn_grammar) / sizeof(conn_grammar[0]); i++)
		if (conn_grammar[i].type == type &&
		    (conn_grammar[i].state == (int)c->state ||
		    conn_grammar[i].state == CONN_ANY))
			return (&conn_grammar[i]);
	return (NULL);
}

/*
 * A record header is in: decode it and find its rule.  Returns 1 when the
 * body is to be read, 0 when the record was dealt with, -1 on an error.
 */
static int
conn_header(struct conn *c)
{
	char	*cause;

	c->rhave = 0;
	if (proto_hdr_decode(c->rbuf, &c->hdr, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return (-1);
	}
	if ((c->rule = conn_rule(c, c->hdr.type)) == NULL) {
		cause = xasprintf("unexpected %s record %s",
		    proto_type_name(c->hdr.type),
		    conn_states[c->state].unexpected);
		conn_protocol_error(c, cause);
		free(cause);
		return (-1);
	}
	if (c->rule->payload) {
		c->rule->fn(c, NULL, 0);	/* the body is payload */
		c->rule = NULL;
		return (0);
	}
	c->rhave = ZC_HDR_LEN;
	return (1);
}

/* The peer closed (n == 0) or reset the connection. */
static void
conn_eof(struct conn *c, ssize_t n)
{
	const char	*why = n == 0 ? "connection closed" : strerror(errno);

	if (n == 0 && c->rhave > 0) {
		why = "connection closed inside a record";
		if (!conn_in_file(c))
			log_warnx("%s: protocol error: %s", c->peer, why);
	}
	log_debug("%s: %s", c->peer, why);
	conn_fail(c, PEER_GONE, why, CONN_CLOSE);
}

/*
 * Read a control record, never past its end, and hand it to its rule.
 * Returns 1 when there may be more to do, 0 when the socket is empty or
 * the connection cannot go on reading records.
 */
static int
conn_record(struct conn *c)
{
	const struct conn_rule	*rule;
	size_t			 need;
	ssize_t			 n;

	need = ZC_HDR_LEN + (c->rule != NULL ? c->hdr.len : 0);
	n = recv(c->fd, c->rbuf + c->rhave, need - c->rhave, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0) {
		conn_eof(c, n);
		return (0);
	}
	if (c->rhave == 0)
		c->rec_ns = util_now_ns();
	c->rhave += n;
	if (c->rhave < need)
		return (1);
	if (c->rule == NULL) {
		if (conn_header(c) != 1)
			return (c->state == CONN_PAYLOAD);
		if (c->hdr.len > 0)
			return (1);
	}
	rule = c->rule;
	c->rhave = 0;
	c->rule = NULL;
	rule->fn(c, c->rbuf + ZC_HDR_LEN, c->hdr.len);
	return (c->state != CONN_DEAD && c->state != CONN_DRAIN);
}

/* io = auto: payload that does not map goes to splice from now on. */
static void
conn_maybe_switch(struct conn *c)
{
	struct xfer	*x = c->cur;

	if (c->rx.kind != RX_MAP || !xfer_should_switch(x))
		return;
	log_info("%s: payload is not mappable (%llu bytes copied, %llu "
	    "mapped): switching to splice", c->peer,
	    (unsigned long long)x->st.copied,
	    (unsigned long long)x->st.zc_bytes);
	c->switched = 1;
	rx_start(&c->rx, RX_SPLICE, NULL);
	xfer_switch(x);
}

/* Payload bytes that reached us: taken, and queued in the socket. */
static uint64_t
conn_arrived(struct conn *c)
{
	int	 inq;

	if (ioctl(c->fd, SIOCINQ, &inq) == -1 || inq < 0)
		inq = 0;
	return (c->cur->st.received + (uint64_t)inq);
}

/*
 * Take a DATA record's payload, at most CONN_BUDGET steps per event.
 * Returns 1 when the record is complete, 0 to wait for more, -1 when the
 * file failed.
 */
static int
conn_payload(struct conn *c)
{
	ssize_t	 n = 0;
	char	*cause = NULL;
	int	 budget, code;

	for (budget = 0; c->rec_left > 0 && budget < CONN_BUDGET; budget++) {
		n = rx_take(&c->rx, c->cur, c->rec_off, c->rec_left, &code,
		    &cause);
		if (n <= 0)
			break;
		c->rec_left -= n;
		c->rec_off += n;
		conn_maybe_switch(c);
		if (c->rx.empty)
			break;
	}
	if (n == -1) {
		conn_fail(c, code, cause, code == PEER_GONE ? CONN_CLOSE :
		    CONN_DRAIN_IN);
		free(cause);
		return (-1);
	}
	if (c->rec_left > 0) {
		rx_lowat(&c->rx, c->rec_left);
		c->prog_mark = conn_arrived(c);
		return (0);
	}
	rx_lowat(&c->rx, 1);
	conn_set_state(c, CONN_FILE);
	return (1);
}

/* Discard input after a failure, within a byte and time budget. */
static void
conn_discard(struct conn *c)
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
		conn_close(c);
	else if (c->drained > CONN_DRAIN_MAX || util_now_ns() - c->drain_ns >
	    (uint64_t)c->conf->stall_timeout * UTIL_NS_PER_SEC) {
		log_debug("%s: closing after draining %llu bytes", c->peer,
		    (unsigned long long)c->drained);
		conn_close(c);
	}
}

/* Input is ready: run the state machine within the budget. */
static void
conn_input(struct conn *c)
{
	int	 turns, r = 1;

	for (turns = 0; r > 0 && turns < CONN_BUDGET; turns++) {
		if (c->state == CONN_PAYLOAD)
			r = conn_payload(c);
		else if (c->state == CONN_DRAIN) {
			conn_discard(c);
			r = 0;
		} else if (c->state == CONN_DEAD)
			r = 0;
		else
			r = conn_record(c);
	}
	if (c->state != CONN_DEAD)
		conn_arm(c);
}

/*
 * Inside a payload record, is a timeout only the sign of a slow sender?
 * SO_RCVLOWAT keeps a slow but steady sender from waking us, so look at
 * what arrived since the last look: CONN_PROGRESS_MIN bytes (or the rest
 * of the record) is progress; a byte a second must not hold a file open.
 */
static int
conn_progressed(struct conn *c)
{
	uint64_t	 now = conn_arrived(c);

	if (now - c->prog_mark < CONN_PROGRESS_MIN &&
	    now - c->cur->st.received < c->rec_left)
		return (0);
	c->prog_mark = now;
	return (1);
}

/* A wait on the peer took too long. */
static void
conn_timeout(struct conn *c)
{
	if (c->state == CONN_PAYLOAD && conn_progressed(c)) {
		conn_arm(c);
		return;
	}
	if (conn_in_file(c)) {
		conn_fail(c, ZC_E_TIMEOUT, "sender stalled", CONN_CLOSE);
		return;
	}
	if (c->rhave > 0 && (c->state == CONN_IDLE || c->state == CONN_AUTH))
		log_info("%s: record not complete within %d s, closing",
		    c->peer, c->conf->stall_timeout);
	else if (c->state == CONN_IDLE)
		log_info("%s: idle for %d s, closing", c->peer,
		    c->conf->idle_timeout);
	else if (c->state == CONN_AUTH)
		log_info("%s: no AUTH within %d s, closing", c->peer,
		    c->conf->stall_timeout);
	else if (c->state == CONN_HELLO)
		log_info("%s: no HELLO within %d s, closing", c->peer,
		    c->conf->stall_timeout);
	conn_close(c);
}

/* libevent: the socket is readable or the wait timed out. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	c->cpu_mark = util_cpu_ns(0);
	if (what & EV_TIMEOUT)
		conn_timeout(c);
	else
		conn_input(c);
	conn_cpu(c);
}

/* libevent: the socket is writable again, or the peer stopped reading. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	c->cpu_mark = util_cpu_ns(0);
	if (what & EV_TIMEOUT) {
		log_info("%s: peer does not read, closing", c->peer);
		conn_fail(c, conn_in_file(c) ? ZC_E_TIMEOUT : PEER_GONE,
		    "peer does not read", CONN_CLOSE);
		return;
	}
	conn_flush(c);
	if (evbuffer_get_length(c->out) <= CONN_OUT_MAX && c->state != CONN_DEAD)
		conn_arm(c);
	conn_cpu(c);
}

/* Free a connection, from its own event. */
static void
conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct worker	*w = c->w;

	TAILQ_REMOVE(&w->conns, c, entry);
	event_free(c->ev_read);
	event_free(c->ev_write);
	evbuffer_free(c->out);
	rx_free(&c->rx);
	close(c->fd);
	listener_conn_gone(&c->ss);
	STAT_SUB(conns, 1);
	conf_unref(c->conf);
	free(c);
	if (w->draining && w->busy == 0)
		event_base_loopexit(w->base, NULL);
}

/* Stop all I/O on a connection and free it soon. */
static void
conn_close(struct conn *c)
{
	struct timeval	 tv = { 0, 0 };

	if (c->state == CONN_DEAD)
		return;
	if (c->cur != NULL) {
		conn_fail(c, PEER_GONE, "connection closed", CONN_CLOSE);
		return;
	}
	tlog_flush();
	conn_set_state(c, CONN_DEAD);
	event_del(c->ev_read);
	event_del(c->ev_write);
	if (evbuffer_get_length(c->out) > 0)
		evbuffer_write(c->out, c->fd);	/* last words, best effort */
	if (event_base_once(c->w->base, -1, EV_TIMEOUT, conn_free_cb, c,
	    &tv) == -1)
		fatalx("event_base_once");
}

/* Format a socket address as "a.b.c.d:port" or "[v6]:port". */
static void
conn_peer_name(struct sockaddr *sa, char *buf, size_t len)
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
conn_accept(struct worker *w, int fd)
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
	conn_peer_name((struct sockaddr *)&c->ss, c->peer, sizeof(c->peer));
	rx_init(&c->rx, fd);
	c->ev_read = event_new(w->base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	c->ev_write = event_new(w->base, fd, EV_WRITE | EV_PERSIST,
	    conn_write_cb, c);
	if ((c->out = evbuffer_new()) == NULL || c->ev_read == NULL ||
	    c->ev_write == NULL)
		fatalx("out of memory for a connection");
	c->state = CONN_HELLO;
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	log_debug("%s: connected (worker %d)", c->peer, w->id);
	conn_arm(c);
	if (w->draining)
		conn_close(c);
}

/* Shutting down: close what is idle, let files in flight finish. */
void
conn_drain_all(struct worker *w)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &w->conns, entry)
		if (c->state == CONN_HELLO || c->state == CONN_IDLE ||
		    c->state == CONN_AUTH)
			conn_close(c);
}

/* The grace period is over: abort every transfer, tell the peers, close. */
void
conn_shutdown_all(struct worker *w)
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
