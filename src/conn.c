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
 *
 * A connection never waits for the disk.  When its file's write queue is
 * full (rx.c says busy) or END finds writes still queued, it stops reading
 * (disk_wait) and a completion of its writes (conn_written) goes on where
 * it stopped; the sender meets a closed TCP window meanwhile.  A
 * destination's max_rate stops reading the same way, until a timer
 * (rate_wait).  No peer timeout runs while we ourselves stopped reading:
 * a slow or stalled disk is not a stalled peer, and the peer's own
 * timeouts, not ours, decide how long it waits for us.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "zcrecvd.h"

#define CONN_BUDGET		32		/* loop turns per event */
#define CONN_ANY		CONN_NSTATES	/* a rule for every state */
#define CONN_WINDOW		1024		/* v2 entries in flight */
#define CONN_BURST_MAX		(2U << 20)	/* max_rate bucket, at most */

/* Versions a rule holds for (c->version is 0 before HELLO). */
#define V0			0x1
#define V1			0x2
#define V2			0x4
#define V3			0x8
#define V4			0x10
#define V5			0x20
#define V234			(V2 | V3 | V4 | V5)
#define V34			(V3 | V4 | V5)
#define V45			(V4 | V5)

static void	conn_hello(struct conn *, const uint8_t *, size_t);
static void	conn_file(struct conn *, const uint8_t *, size_t);
static void	conn_entry(struct conn *, const uint8_t *, size_t);
static void	conn_auth(struct conn *, const uint8_t *, size_t);
static void	conn_data(struct conn *, const uint8_t *, size_t);
static void	conn_end(struct conn *, const uint8_t *, size_t);
static void	conn_eos(struct conn *, const uint8_t *, size_t);
static void	conn_finish(struct conn *, const struct zc_end *);
static void	conn_peer_error(struct conn *, const uint8_t *, size_t);
static void	conn_written(void *);
static void	conn_end_go(struct conn *, const struct zc_end *);
static void	conn_rate_stop(struct conn *);
static void	conn_join(struct conn *, const uint8_t *, size_t);
static void	conn_chunk(struct conn *, const uint8_t *, size_t);
static void	conn_stripe_end(struct conn *, const uint8_t *, size_t);
static void	conn_stripe_check(struct xfer *);
static void	conn_resume_ready(struct xfer *);
static void	conn_stripe_fail(struct conn *, struct xfer *, int,
		    const char *);
static void	conn_piece_go(struct conn *);
static void	conn_piece_end(struct conn *);

/* The grammar: the record each state takes, and who takes it. */
static const struct conn_rule {
	int		 state;		/* enum conn_state or CONN_ANY */
	int		 type;		/* ZC_T_* */
	int		 versions;	/* V0, V1, V2 */
	int		 payload;	/* the body stays in the socket */
	void		(*fn)(struct conn *, const uint8_t *, size_t);
} conn_grammar[] = {
	{ CONN_HELLO,	ZC_T_HELLO,	V0,		0, conn_hello },
	{ CONN_IDLE,	ZC_T_FILE,	V1,		0, conn_file },
	{ CONN_IDLE,	ZC_T_ENTRY,	V234,		0, conn_entry },
	{ CONN_IDLE,	ZC_T_JOIN,	V45,		0, conn_join },
	{ CONN_IDLE,	ZC_T_CHUNK,	V45,		0, conn_chunk },
	{ CONN_IDLE,	ZC_T_END,	V45,		0, conn_stripe_end },
	{ CONN_AUTH,	ZC_T_AUTH,	V1 | V234,	0, conn_auth },
	{ CONN_FILE,	ZC_T_DATA,	V1 | V234,	1, conn_data },
	{ CONN_FILE,	ZC_T_END,	V1 | V234,	0, conn_end },
	{ CONN_FILE,	ZC_T_EOS,	V34,		0, conn_eos },
	{ CONN_ANY,	ZC_T_ERROR,	V0 | V1 | V234,	0, conn_peer_error },
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

/*
 * Has the connection nothing in flight: no entry without its RESULT and,
 * joined to a session (version 4), no striped file of the session still
 * waiting for chunks?  A draining worker closes such connections.
 */
int
conn_quiet(struct conn *c)
{
	return (c->inflight == 0 && !(c->joined && c->sess != NULL &&
	    session_striping(c->sess)));
}

/* Is the connection inside a file (ACCEPT sent, RESULT not yet)? */
int
conn_in_file(const struct conn *c)
{
	return (c->state == CONN_FILE || c->state == CONN_PAYLOAD);
}

/* Change state, asserting that the transition is legal. */
void
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
	if (conn_in_file(c) != (c->cur != NULL && (c->cur->open ||
	    c->cur->skip)))
		fatalx("%s: state %s with%s a file open", c->peer,
		    conn_states[state].name, conn_in_file(c) ? "out" : "");
}

/*
 * The current file is over: give back the pages of its writes (done by
 * now: finishing or aborting waited for them) and let it go.
 */
static void
conn_detach(struct conn *c)
{
	rx_release(&c->rx);
	TAILQ_REMOVE(&c->xfers, c->cur, entry);
	xfer_unref(c->cur);
	c->cur = NULL;
}

/* Descriptors a parked entry holds until it has landed. */
static int
conn_fds(const struct xfer *x)
{
	return ((x->land.fd != -1) + (x->land.dirfd != -1));
}

/*
 * Version 2: the current entry is received and goes to the lander; it
 * stays on the list, with its reference, until conn_answered().
 */
static void
conn_park(struct conn *c)
{
	rx_release(&c->rx);
	c->pending += c->cur->extra_len;
	c->cur->parked_fds = conn_fds(c->cur);
	c->parked_fds += c->cur->parked_fds;
	xfer_land_async(c->cur, NULL);
	c->cur = NULL;
}

/*
 * Between files: wait for the next one (or close when shutting down and
 * every entry has its answer).
 */
static void
conn_next(struct conn *c)
{
	conn_set_state(c, CONN_IDLE);
	conn_io_arm(c);
	if (c->w->draining && conn_quiet(c))
		conn_io_close(c);
}

/*
 * The answered entry x leaves c: what it held is given back, and a
 * draining connection with nothing left in flight closes.
 */
static void
conn_forget(struct conn *c, struct xfer *x)
{
	c->inflight--;
	c->pending -= x->extra_len;
	c->parked_fds -= x->parked_fds;
	TAILQ_REMOVE(&c->xfers, x, entry);
	x->conn = NULL;
	xfer_unref(x);
	if (c->state == CONN_DEAD)
		return;
	if (c->w->draining && c->inflight == 0 && c->state == CONN_IDLE)
		conn_io_close(c);
	else
		conn_io_arm(c);
}

/*
 * An entry of ours has landed, or failed to (xfer_landed): answer it.
 * The few microseconds of answering are not charged to the connection:
 * reading the thread's CPU clock twice per entry would cost as much.
 */
static void
conn_answered(struct xfer *x)
{
	struct conn	*c = x->conn;

	conn_io_result(c, x->lcode, x->lcode == ZC_OK ? (x->kind ==
	    ZC_K_FILE ? "landed" : "created") : x->lcause, x->lcode == ZC_OK ?
	    x->f.size : x->st.received, x->has_dg && x->lcode == ZC_OK ?
	    x->dg : NULL, x->id);
	conn_forget(c, x);
}

/*
 * A refused version 2 file that is neither WAIT nor INLINE: its DATA and
 * END are on the way, and are read and thrown away.
 */
static int
conn_should_skip(const struct conn *c, const struct xfer *x,
    enum conn_then then)
{
	return (x->v2 && x->kind == ZC_K_FILE && then == CONN_NEXT &&
	    c->state == CONN_IDLE && !(x->eflags & (ZC_EF_WAIT |
	    ZC_EF_INLINE)));
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
	conn_io_flush(c);
	conn_io_arm(c);
}

/*
 * The one way to fail: the file in flight, if any, ends with code (and is
 * logged), the peer is told (ERROR for a broken conversation, RESULT for
 * a failed file, nothing when it is gone), and then the connection takes
 * the next file, drains what the peer still sends, or closes.
 */
void
conn_fail(struct conn *c, int code, const char *msg, enum conn_then then)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_ERROR_LEN + ZC_MSG_MAX];
	uint64_t	 bytes = 0, id = 0;
	int		 skip = 0, answer = 0, piece;

	c->disk_wait = c->end_wait = 0;
	conn_rate_stop(c);
	/*
	 * A chunk of a striped file fails the whole file, which its first
	 * connection answers: here the failure is ERROR, and it ends the
	 * connection, as any failure with payload in flight does.
	 */
	piece = c->cur != NULL && c->cur->piece;
	if (piece && then == CONN_NEXT)
		then = CONN_DRAIN_IN;
	if (c->cur != NULL) {
		bytes = c->cur->st.received;
		id = c->cur->id;
		answer = c->cur->v2 && !c->cur->skip;
		conn_io_cpu(c);
		xfer_abort(c->cur, code, msg);
		if ((skip = conn_should_skip(c, c->cur, then)) == 0)
			conn_detach(c);
	}
	if (code == ZC_E_PROTO || code == ZC_E_VERSION || (piece &&
	    code != PEER_GONE))
		conn_io_send(c, buf, proto_error_encode(buf, sizeof(buf), code,
		    msg));
	else if (code != PEER_GONE)
		conn_io_result(c, code, msg, bytes, NULL, id);
	if (answer)
		c->inflight--;
	if (skip) {
		c->cur->skip = 1;
		rx_start(&c->rx, RX_DISCARD, NULL);
		conn_set_state(c, CONN_FILE);
		conn_io_arm(c);
		return;
	}
	if (then == CONN_NEXT)
		conn_next(c);
	else if (then == CONN_DRAIN_IN)
		conn_drain(c);
	else
		conn_io_close(c);
}

/* A protocol violation ends the connection (and the file, if any). */
static void
conn_protocol_error(struct conn *c, const char *msg)
{
	log_warnx("%s: protocol error: %s", c->peer, msg);
	conn_fail(c, ZC_E_PROTO, msg, CONN_DRAIN_IN);
}

/*
 * Refuse what the connection asked for with ERROR code (not a protocol
 * error: a JOIN, a CHUNK from an address not allowed), then close.
 */
static void
conn_refuse(struct conn *c, int code, const char *msg)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_ERROR_LEN + ZC_MSG_MAX];

	log_warnx("%s: refused: %s", c->peer, msg);
	conn_io_send(c, buf, proto_error_encode(buf, sizeof(buf), code, msg));
	conn_fail(c, PEER_GONE, msg, CONN_DRAIN_IN);
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
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN + ZC_HDR_LEN +
			    ZC_SESSION_LEN];
	uint8_t		 ids[ZC_SESSION_LEN];
	char		*cause, *msg;
	size_t		 n;

	if (proto_hello_decode(body, len, &h, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	if (h.version < ZC_PROTO_V1 || h.version > ZC_PROTO_V5) {
		log_warnx("%s: unsupported protocol version %u", c->peer,
		    h.version);
		msg = xasprintf("unsupported protocol version %u (this "
		    "receiver speaks %u to %u)", h.version, ZC_PROTO_V1,
		    ZC_PROTO_V5);
		conn_fail(c, ZC_E_VERSION, msg, CONN_DRAIN_IN);
		free(msg);
		return;
	}
	if (h.window != 0) {
		conn_protocol_error(c, "sender's HELLO with a window");
		return;
	}
	c->version = h.version;
	n = proto_hello_encode(buf, sizeof(buf), c->version,
	    c->version >= ZC_PROTO_V2 ? CONN_WINDOW : 0);
	if (c->version >= ZC_PROTO_V4) {
		/* Its session, which further connections may JOIN. */
		c->sess = session_new();
		session_ids(c->sess, ids, ids + ZC_SESSION_ID_LEN);
		n += proto_blob_encode(buf + n, sizeof(buf) - n, ZC_T_SESSION,
		    ids, ZC_SESSION_LEN, NULL, 0);
		explicit_bzero(ids, sizeof(ids));
	}
	conn_io_send(c, buf, n);
	conn_set_state(c, CONN_IDLE);
	conn_io_arm(c);
}

/*
 * Where may the file go?  The newest configuration decides.  Returns -1
 * with *code and *cause when nowhere.
 */
static int
conn_target(struct conn *c, int *code, char **cause)
{
	conf_unref(c->conf);
	c->conf = cfg_acquire();
	if (c->w->draining) {
		*code = ZC_E_SHUTDOWN;
		*cause = xstrdup("receiver shutting down");
		return (-1);
	}
	return (xfer_target(c->cur, c->conf, (struct sockaddr *)&c->ss, code,
	    cause));
}

/*
 * The keeper has checked the partial of the resumed file x (or failed
 * it): ACCEPT with the chunks still needed; from now on x is a striped
 * file like any other (conn_stripe_check), its kept chunks done already.
 */
static void
conn_resume_ready(struct xfer *x)
{
	struct conn	*c = x->conn;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ACCEPT_LEN + ZC_NEED_MAX];
	uint8_t		 need[ZC_NEED_MAX];
	uint64_t	 n = stripe_chunks(x->stripe);
	char		*msg = NULL;
	int		 code, r;

	if (c == NULL || x->ended)
		return;
	if ((r = stripe_resume_ready(x->stripe, &x->land, need,
	    &x->st.skipped, &code, &msg)) == 0)
		return;
	/* The partial's bytes are on the disk already: room for the rest. */
	if (r == 1 && xfer_room(x, x->f.size - x->st.skipped, &code,
	    &msg) == -1)
		r = -1;
	if (r == -1) {
		conn_stripe_fail(c, x, code, msg);
		free(msg);
		return;
	}
	conn_io_send(c, buf, proto_accept_need_encode(buf, sizeof(buf), x->id,
	    need, n));
	x->stripe_cb = conn_stripe_check;
	conn_stripe_check(x);
}

/*
 * A resumed file (version 5) may go to its destination: the keeper opens
 * its partial, and ACCEPT waits for it (conn_resume_ready); the
 * connection goes on meanwhile (the sender sends nothing more until
 * ACCEPT).  Its identity: the destination's key, if it has one (the
 * sender proved it), else the sender's address.  Where nothing is written
 * (io = discard) there is nothing to keep: every chunk is needed.
 */
static void
conn_resume_start(struct conn *c)
{
	struct xfer	*x = c->cur;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ACCEPT_LEN + ZC_NEED_MAX];
	uint8_t		 need[ZC_NEED_MAX];
	char		 ident[KEEP_IDENT_MAX], *cause = NULL;
	uint64_t	 n = proto_chunk_count(x->f.size, x->chunk), i;
	int		 code, r;

	if (x->dest->key != NULL)
		keep_ident_key(x->dest->key, ident, sizeof(ident));
	else
		keep_ident_addr((struct sockaddr *)&c->ss, ident,
		    sizeof(ident));
	if (x->io->flags & IO_NO_FILE)
		r = xfer_open_striped(x, c->sess, worker_count(), &code,
		    &cause);
	else
		r = xfer_open_resume(x, c->sess, worker_count(), ident, &code,
		    &cause);
	if (r == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	if (x->io->flags & IO_NO_FILE) {
		memset(need, 0, sizeof(need));
		for (i = 0; i < n; i++)
			need[i / 8] |= 1U << (i % 8);
		conn_io_send(c, buf, proto_accept_need_encode(buf,
		    sizeof(buf), x->id, need, n));
		x->stripe_cb = conn_stripe_check;
	} else
		x->stripe_cb = conn_resume_ready;
	c->cur = NULL;		/* on c->xfers, in flight, until its RESULT */
	conn_next(c);
}

/*
 * A striped file (version 4) may go to its destination: its staging file
 * is made, ACCEPT tells the sender to send its chunks, on any connection
 * of the session; the connection goes on at once (the file stays in
 * flight until its END and all its chunks are in: conn_stripe_check).
 */
static void
conn_stripe_start(struct conn *c)
{
	struct xfer	*x = c->cur;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ACCEPT_LEN];
	char		*cause = NULL;
	int		 code;

	if (xfer_open_striped(x, c->sess, worker_count(), &code,
	    &cause) == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	x->stripe_cb = conn_stripe_check;
	conn_io_send(c, buf, proto_accept_encode(buf, sizeof(buf), 0, x->id));
	c->cur = NULL;		/* on c->xfers, in flight, until its RESULT */
	conn_next(c);
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

	if (x->eflags & ZC_EF_RESUME) {
		conn_resume_start(c);
		return;
	}
	if (x->eflags & ZC_EF_STRIPED) {
		conn_stripe_start(c);
		return;
	}
	/* A stream of unknown size counts as large (ZC_SIZE_UNKNOWN). */
	iomode_choose(x->dest->io, x->dest->dio_ok, c->judge.pick == JUDGE_COPY,
	    x->stream ? x->expect : x->f.size, &rk, &sk);
	if (xfer_open(x, sk, &code, &cause) == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	if (rx_start(&c->rx, rk, &cause) == -1) {
		log_warnx("%s: %s: receiving with recv()", c->peer, cause);
		free(cause);
		rx_start(&c->rx, RX_COPY, NULL);
		judge_off(&c->judge);
	}
	conn_io_cpu(c);		/* what came before was not this file's */
	c->judge_cpu = c->cpu_ns;
	if (!x->v2 || (x->eflags & ZC_EF_WAIT))
		conn_io_send(c, buf, proto_accept_encode(buf, sizeof(buf), 0,
		    x->id));
	conn_set_state(c, CONN_FILE);
	conn_io_arm(c);
}

/*
 * An entry that needs no payload record (inline file, directory,
 * symlink): check its limits and hand it to the lander.
 */
static void
conn_entry_whole(struct conn *c)
{
	uint8_t	 buf[ZC_HDR_LEN + ZC_ACCEPT_LEN];
	char	*cause = NULL;
	int	 code;

	if (xfer_admit_entry(c->cur, &code, &cause) == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	if (c->cur->eflags & ZC_EF_WAIT)	/* a directory or symlink */
		conn_io_send(c, buf, proto_accept_encode(buf, sizeof(buf), 0,
		    c->cur->id));
	conn_park(c);
	conn_next(c);
}

/* The file or entry may go to its destination. */
static void
conn_entry_start(struct conn *c)
{
	struct xfer	*x = c->cur;

	if (x->kind == ZC_K_FILE && !(x->eflags & ZC_EF_INLINE))
		conn_file_start(c);
	else
		conn_entry_whole(c);
}

/*
 * The current file or entry is announced: find its destination,
 * authenticate if needed, start.  A version 2 entry may start the key
 * exchange only if it waits for the answer (WAIT; version 1 files
 * always do).
 */
static void
conn_admit(struct conn *c)
{
	struct xfer	*x = c->cur;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CHALLENGE_LEN];
	char		*cause = NULL;
	int		 code;

	if (conn_target(c, &code, &cause) == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	xfer_on_written(x, conn_written, c);
	if (x->dest->key != NULL && strcmp(c->authed, x->dest->name) != 0) {
		if (x->v2 && !(x->eflags & ZC_EF_WAIT)) {
			conn_fail(c, ZC_E_DENIED, "send a WAIT entry first to "
			    "authenticate", CONN_NEXT);
			return;
		}
		/* Prove the key first; conn_auth() goes on from there. */
		auth_nonce(c->nonce);
		conn_io_send(c, buf, proto_blob_encode(buf, sizeof(buf),
		    ZC_T_CHALLENGE, c->nonce, ZC_NONCE_LEN, NULL, 0));
		conn_set_state(c, CONN_AUTH);
		conn_io_arm(c);
		return;
	}
	conn_entry_start(c);
}

/* FILE: a file of version 1. */
static void
conn_file(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_file	 f;
	char		*cause = NULL;

	if (proto_file_decode(body, len, &f, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	c->cur = xfer_new(c->w, c->peer, &f);
	TAILQ_INSERT_TAIL(&c->xfers, c->cur, entry);
	conn_admit(c);
}

/* Striped files in flight on the connection (version 4). */
static int
conn_striped(const struct conn *c)
{
	const struct xfer	*x;
	int			 n = 0;

	TAILQ_FOREACH(x, &c->xfers, entry)
		n += x->stripe != NULL && !x->piece;
	return (n);
}

/*
 * ENTRY (version 2): as FILE, for any kind of entry, without waiting for
 * the ones before it to land.
 */
static void
conn_entry(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_entry	 e;
	char		*cause = NULL;

	if (proto_entry_decode(body, len, &e, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	if ((e.flags & ZC_EF_STREAM) && c->version < ZC_PROTO_V3) {
		conn_protocol_error(c, "a stream (ENTRY flag STREAM) before "
		    "version 3");
		return;
	}
	if ((e.flags & ZC_EF_RESUME) && c->version < ZC_PROTO_V5) {
		conn_protocol_error(c, "a resumed file (ENTRY flag RESUME) "
		    "before version 5");
		return;
	}
	if ((e.flags & ZC_EF_STRIPED) && c->version < ZC_PROTO_V4) {
		conn_protocol_error(c, "a striped file (ENTRY flag STRIPED) "
		    "before version 4");
		return;
	}
	if (c->joined) {
		conn_protocol_error(c, "ENTRY on a joined connection (chunks "
		    "only)");
		return;
	}
	if ((e.flags & ZC_EF_STRIPED) && conn_striped(c) >= ZC_STRIPED_MAX) {
		conn_protocol_error(c, "more striped files in flight than "
		    "ZC_STRIPED_MAX");
		return;
	}
	if (e.flags & ZC_EF_STRIPED) {
		struct stripe	*st;

		if ((st = stripe_find(c->sess, e.id)) != NULL) {
			int	 used = !stripe_buried(st);

			stripe_unref(st);
			if (used) {
				conn_protocol_error(c, "a striped entry's id "
				    "in use");
				return;
			}
		}
	}
	c->used = 1;
	if (c->inflight >= CONN_WINDOW) {
		conn_protocol_error(c, "more entries in flight than the "
		    "window");
		return;
	}
	c->cur = xfer_new_entry(c->w, c->peer, &e);
	c->cur->conn = c;
	c->cur->landed = conn_answered;
	c->inflight++;
	TAILQ_INSERT_TAIL(&c->xfers, c->cur, entry);
	conn_admit(c);
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
	conn_io_send(c, buf, proto_blob_encode(buf, sizeof(buf), ZC_T_AUTHOK,
	    mac, ZC_MAC_LEN, NULL, 0));
	log_debug("%s: authenticated for %s", c->peer, d->name);
	conn_set_state(c, CONN_IDLE);
	conn_entry_start(c);
}

/*
 * We stopped reading for the disk and a write completed: go on where we
 * stopped (END, once the file's writes are all done; else the payload,
 * which stops again if the queue is still full).
 */
static void
conn_disk_resume(struct conn *c)
{
	if (c->end_wait) {
		if (!xfer_idle(c->cur))
			return;
		c->end_wait = c->disk_wait = 0;
		conn_end_go(c, &c->end);
	} else
		c->disk_wait = 0;
	if (c->state != CONN_DEAD)
		conn_input(c);
}

/*
 * A queued write of the connection is done: give its window's pages back
 * now, so that a sender that stops does not leave them pinned, and go on
 * if we stopped reading for it.
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
	else if (c->disk_wait)
		conn_disk_resume(c);
	free(cause);
	if (c->state != CONN_DEAD)
		conn_io_cpu(c);
}

/* DATA header: check where the payload goes, then take it. */
static void
conn_data(struct conn *c, const uint8_t *body, size_t len)
{
	char	*msg;
	int	 code;

	if (xfer_place(c->cur, c->hdr.arg, c->hdr.len, &code, &msg) == -1) {
		if (code == ZC_E_PROTO)
			conn_protocol_error(c, msg);
		else	/* a stream crossed a limit */
			conn_fail(c, code, msg, CONN_DRAIN_IN);
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
	struct zc_end	 e;
	char		*cause = NULL;

	if (proto_end_decode(body, len, &e, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	if (e.id != c->cur->id) {
		conn_protocol_error(c, c->cur->v2 ? "END for another entry" :
		    "malformed END");
		return;
	}
	if (c->cur->stream) {
		conn_protocol_error(c, "END for a stream (EOS expected)");
		return;
	}
	conn_finish(c, &e);
}

/* EOS (version 3): a stream ended, at the size it says; as END. */
static void
conn_eos(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_end	 e;
	char		*cause = NULL;

	if (proto_eos_decode(body, len, &e, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	if (e.id != c->cur->id || !c->cur->stream) {
		conn_protocol_error(c, "EOS for another entry or not a stream");
		return;
	}
	if (e.size != c->cur->next_off) {
		cause = xasprintf("EOS says %llu bytes, the stream carried "
		    "%llu", (unsigned long long)e.size,
		    (unsigned long long)c->cur->next_off);
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	conn_finish(c, &e);
}

/*
 * All payload of the current file is in (END or EOS e): finish it,
 * compare digests, land it (version 1) or hand it to the lander, answer.
 */
static void
conn_finish(struct conn *c, const struct zc_end *end)
{
	struct xfer	*x = c->cur;
	struct zc_end	 e = *end;

	if (x->skip) {		/* refused and answered already */
		conn_detach(c);
		conn_next(c);
		return;
	}
	if (!xfer_idle(x)) {
		/* Writes still queued: finish once they are done. */
		c->end = e;
		c->end_wait = c->disk_wait = 1;
		STAT_ADD(disk_pauses, 1);
		return;
	}
	conn_end_go(c, &e);
}

/* All payload of the file is written: finish, land, answer. */
static void
conn_end_go(struct conn *c, const struct zc_end *ep)
{
	struct xfer	*x = c->cur;
	struct zc_end	 e = *ep;
	uint8_t		 dg[ZC_DIGEST_LEN];
	char		*cause = NULL;
	int		 code, r;

	if (x->piece) {
		conn_piece_go(c);
		return;
	}
	conn_io_cpu(c);
	if ((r = xfer_finish(x, &e, dg, &code, &cause)) == -1) {
		conn_fail(c, code, cause, CONN_NEXT);
		free(cause);
		return;
	}
	if (r == 1) {
		memcpy(x->dg, dg, ZC_DIGEST_LEN);
		x->has_dg = 1;
	}
	if (!x->v2) {
		/*
		 * Version 1 lands through the lander too, so that its fsync
		 * and rename do not hold up the loop; the sender waits for
		 * the RESULT (conn_answered) before its next FILE.
		 */
		x->conn = c;
		x->landed = conn_answered;
		c->inflight++;
	}
	conn_park(c);
	conn_next(c);
}

/* The rule for a record of type in the current state, or NULL. */
static const struct conn_rule *
conn_rule(struct conn *c, int type)
{
	size_t	 i;

	for (i = 0; i < sizeof(conn_grammar) / sizeof(conn_grammar[0]); i++)
		if (conn_grammar[i].type == type &&
		    (conn_grammar[i].versions & (1 << c->version)) &&
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
	return (c->state != CONN_DEAD && c->state != CONN_DRAIN &&
	    !c->disk_wait);
}

/*
 * io = auto: tell the judge what the taken bytes cost the connection on the
 * path in use, and take the path it picks (judge.c).  The sink stays: copied
 * bytes come in whole aligned buffers, fit for O_DIRECT like mapped pages.
 * Back to mapping only once the copy buffer is handed over, so that bytes
 * reach the sink in order.
 */
static void
conn_judge(struct conn *c, uint64_t taken)
{
	struct xfer	*x = c->cur;
	struct judge	*j = &c->judge;
	enum rx_kind	 rk;
	char		*cause = NULL;

	/* (A refused file's payload is discarded: it has no io mode.) */
	if ((c->rx.kind != RX_MAP && c->rx.kind != RX_COPY) || x->skip ||
	    x->io == NULL || !(x->io->flags & IO_SWITCH) ||
	    j->phase == JUDGE_OFF || (!x->stream && x->f.size < IO_COPY_BELOW))
		return;
	if (j->phase != JUDGE_SETTLED)	/* settled, only bytes count */
		conn_io_cpu(c);		/* this event's CPU so far */
	if (judge_account(j, taken, c->cpu_ns - c->judge_cpu))
		log_info("%s: map %llu us/MB, copy %llu us/MB: %s", c->peer,
		    (unsigned long long)j->cost[JUDGE_MAP] / 1000,
		    (unsigned long long)j->cost[JUDGE_COPY] / 1000,
		    j->pick == JUDGE_MAP ? "mapping" : "copying");
	c->judge_cpu = c->cpu_ns;
	rk = j->pick == JUDGE_MAP ? RX_MAP : RX_COPY;
	if (rk == c->rx.kind || (rk == RX_MAP && !rx_at_rest(&c->rx)))
		return;
	if (rx_start(&c->rx, rk, &cause) == -1) {
		log_warnx("%s: %s: receiving with recv()", c->peer, cause);
		free(cause);
		judge_off(j);
	}
}

/* Stop waiting for max_rate. */
static void
conn_rate_stop(struct conn *c)
{
	c->rate_wait = 0;
	if (c->ev_rate != NULL)
		evtimer_del(c->ev_rate);
}

/* The bucket of a connection reading at rate bytes per second. */
static int64_t
conn_burst(int64_t rate)
{
	int64_t	 b = rate / 8;

	if (b < 2 * ZC_BLOCK)
		b = 2 * ZC_BLOCK;
	return (b > CONN_BURST_MAX ? CONN_BURST_MAX : b);
}

/*
 * How much of the record may be read now under the destination's max_rate
 * (a token bucket of conn_burst bytes)?  Whole blocks, or the rest of the
 * record; 0 when the bucket is short of a block: then reading stops until
 * it holds half a bucket again (ev_rate).
 */
static uint64_t
conn_rate_allow(struct conn *c, int64_t rate)
{
	struct timeval	 tv;
	uint64_t	 now = util_now_ns(), dt, wait;
	int64_t		 burst = conn_burst(rate);

	if (c->tokens_ns == 0) {
		c->tokens = burst;
		c->tokens_ns = now;
	}
	dt = now - c->tokens_ns;
	c->tokens_ns = now;
	c->tokens += (int64_t)((double)dt * (double)rate / UTIL_NS_PER_SEC);
	if (c->tokens > burst)
		c->tokens = burst;
	if (c->tokens >= 0 && (uint64_t)c->tokens >= c->rec_left)
		return (c->rec_left);
	if (c->tokens >= ZC_BLOCK)
		return ((uint64_t)c->tokens & ~(uint64_t)(ZC_BLOCK - 1));
	wait = (uint64_t)((double)(burst / 2 - c->tokens) * UTIL_NS_PER_SEC /
	    (double)rate);
	tv.tv_sec = wait / UTIL_NS_PER_SEC;
	tv.tv_usec = wait % UTIL_NS_PER_SEC / 1000 + 1;
	c->rate_wait = 1;
	STAT_ADD(rate_pauses, 1);
	evtimer_add(c->ev_rate, &tv);
	return (0);
}

/* libevent: max_rate lets the connection read again. */
void
conn_rate_resume(struct conn *c)
{
	c->rate_wait = 0;
	conn_input(c);
}

/*
 * Take a DATA record's payload, at most CONN_BUDGET steps per event.
 * Returns 1 when the record is complete, 0 to wait for more (the peer, the
 * disk or max_rate), -1 when the file failed.
 */
static int
conn_payload(struct conn *c)
{
	ssize_t	 n = 0;
	uint64_t want, taken = 0;
	int64_t	 rate;
	char	*cause = NULL;
	int	 budget, code;

	rate = c->cur->dest != NULL && !c->cur->skip ? c->cur->dest->max_rate :
	    0;
	for (budget = 0; c->rec_left > 0 && budget < CONN_BUDGET; budget++) {
		want = c->rec_left;
		if (rate > 0 && (want = conn_rate_allow(c, rate)) == 0)
			return (0);
		n = rx_take(&c->rx, c->cur, c->rec_off, want, &code, &cause);
		if (n <= 0)
			break;
		if (rate > 0)
			c->tokens -= n;
		taken += n;
		c->rec_left -= n;
		c->rec_off += n;
		if (c->rx.empty)
			break;
	}
	if (n == -1) {
		conn_fail(c, code, cause, code == PEER_GONE ? CONN_CLOSE :
		    CONN_DRAIN_IN);
		free(cause);
		return (-1);
	}
	conn_judge(c, taken);
	if (c->rx.busy) {
		/* The disk queue is full: conn_written resumes. */
		c->disk_wait = 1;
		STAT_ADD(disk_pauses, 1);
		return (0);
	}
	if (c->rec_left > 0) {
		rx_lowat(&c->rx, c->rec_left);
		c->prog_mark = conn_io_arrived(c);
		return (0);
	}
	rx_lowat(&c->rx, 1);
	conn_set_state(c, CONN_FILE);
	if (c->cur->piece && c->cur->next_off == c->cur->f.size) {
		conn_piece_end(c);
		return (c->state != CONN_DEAD && c->state != CONN_DRAIN &&
		    !c->disk_wait);
	}
	return (1);
}

/*
 * JOIN (version 4): bind this connection to the session of the id, if
 * the token is right, the session open and under max_stripes.  It may
 * then carry chunks of that session's striped files, and nothing else;
 * its own session goes.  The answer is SESSION with the id and a zero
 * token; a refusal is ERROR denied, and the connection closes.
 */
static void
conn_join(struct conn *c, const uint8_t *body, size_t len)
{
	struct session	*s;
	uint8_t		 buf[ZC_HDR_LEN + ZC_SESSION_LEN];
	uint8_t		 zero[ZC_TOKEN_LEN];
	char		*cause = NULL, *msg;

	if (c->used || c->joined) {
		conn_protocol_error(c, "JOIN after the connection was used");
		return;
	}
	if ((s = session_join(body, body + ZC_SESSION_ID_LEN,
	    c->conf->max_stripes, &cause)) == NULL) {
		msg = xasprintf("JOIN refused: %s", cause);
		conn_refuse(c, ZC_E_DENIED, msg);
		free(msg);
		free(cause);
		return;
	}
	session_leave(c->sess, 1);
	c->sess = s;
	c->joined = c->used = 1;
	memset(zero, 0, sizeof(zero));
	conn_io_send(c, buf, proto_blob_encode(buf, sizeof(buf),
	    ZC_T_SESSION, body, ZC_SESSION_ID_LEN, zero, sizeof(zero)));
	log_debug("%s: joined a session (worker %d)", c->peer, c->w->id);
	conn_io_arm(c);
}

/* A chunk of a striped file that failed: its bytes are thrown away. */
static void
conn_piece_skip(struct conn *c)
{
	c->cur->skip = 1;
	rx_start(&c->rx, RX_DISCARD, NULL);
	conn_set_state(c, CONN_FILE);
	conn_io_arm(c);
}

/*
 * CHUNK (version 4): a chunk of a striped file of the session comes on
 * this connection, its DATA records next.  Its place is checked against
 * the file's size and chunk grid, and against the chunks taken already;
 * it gets an xfer of its own (a piece) with a sink on its own descriptor.
 */
static void
conn_chunk(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_chunk	 ch;
	struct stripe	*st;
	struct conf	*conf;
	uint64_t	 idx;
	enum rx_kind	 rk;
	enum sink_kind	 sk;
	char		*cause = NULL;
	int		 r, code;

	if (proto_chunk_decode(body, len, &ch, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	c->used = 1;
	if ((st = stripe_find(c->sess, ch.id)) == NULL) {
		cause = xasprintf("CHUNK for entry %llu, which is not a "
		    "striped file in flight in this session",
		    (unsigned long long)ch.id);
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	if (!conf_allowed(stripe_dest(st, &conf), (struct sockaddr *)&c->ss)) {
		stripe_unref(st);
		conn_refuse(c, ZC_E_DENIED, "not allowed to write to the "
		    "striped file's destination");
		return;
	}
	if ((r = stripe_claim(st, &ch, &idx, &cause)) == -1) {
		stripe_unref(st);
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	c->cur = xfer_new_piece(c->w, c->peer, st, &ch, idx);
	TAILQ_INSERT_TAIL(&c->xfers, c->cur, entry);
	xfer_on_written(c->cur, conn_written, c);
	if (r == 1) {
		conn_piece_skip(c);
		return;
	}
	/*
	 * Every chunk takes the path a file of the whole size would (a last
	 * chunk of a few bytes is no small file): one file, one kind of
	 * write; mapped or copied as the connection's judge picks.
	 */
	iomode_choose(c->cur->dest->io, c->cur->dest->dio_ok,
	    c->judge.pick == JUDGE_COPY, stripe_size(st), &rk, &sk);
	if (xfer_open_piece(c->cur, sk, &code, &cause) == -1) {
		conn_fail(c, code, cause, CONN_DRAIN_IN);
		free(cause);
		return;
	}
	if (rx_start(&c->rx, rk, &cause) == -1) {
		log_warnx("%s: %s: receiving with recv()", c->peer, cause);
		free(cause);
		rx_start(&c->rx, RX_COPY, NULL);
		judge_off(&c->judge);
	}
	conn_io_cpu(c);
	c->judge_cpu = c->cpu_ns;
	conn_set_state(c, CONN_FILE);
	conn_io_arm(c);
}

/*
 * The last DATA record of the current chunk is in: once its writes are
 * done, give it to its file (conn_piece_go).
 */
static void
conn_piece_end(struct conn *c)
{
	if (c->cur->skip) {
		conn_detach(c);
		conn_next(c);
		return;
	}
	if (!xfer_idle(c->cur)) {
		c->end_wait = c->disk_wait = 1;
		STAT_ADD(disk_pauses, 1);
		return;
	}
	conn_piece_go(c);
}

/* The chunk is written: its digest to the file, the next record. */
static void
conn_piece_go(struct conn *c)
{
	char	*cause = NULL;
	int	 code;

	conn_io_cpu(c);
	if (xfer_piece_finish(c->cur, &code, &cause) == -1) {
		conn_fail(c, code, cause, CONN_DRAIN_IN);
		free(cause);
		return;
	}
	conn_detach(c);
	conn_next(c);
}

/*
 * The striped file x is over, failed with code: answered on its first
 * connection, c, which goes on with its other entries.
 */
static void
conn_stripe_fail(struct conn *c, struct xfer *x, int code, const char *msg)
{
	/* Its END may be on the way already: it is dropped when it comes. */
	if (!x->ended_in) {
		c->gone[c->ngone] = x->id + 1;
		c->ngone = (c->ngone + 1) % CONN_GONE_IDS;
	}
	xfer_abort(x, code, msg);
	conn_io_result(c, code, msg, x->st.received, NULL, x->id);
	conn_forget(c, x);
}

/*
 * Every chunk of the striped file x is in, and its END: the tree digest
 * checked, it goes to the lander, which answers (conn_answered).
 */
static void
conn_stripe_land(struct conn *c, struct xfer *x)
{
	uint8_t	 dg[ZC_DIGEST_LEN];
	char	*cause = NULL;
	int	 code, r;

	if ((r = xfer_striped_finish(x, dg, &code, &cause)) == -1) {
		conn_stripe_fail(c, x, code, cause);
		free(cause);
		return;
	}
	if (r == 1) {
		memcpy(x->dg, dg, ZC_DIGEST_LEN);
		x->has_dg = 1;
	}
	x->stripe_cb = NULL;
	x->parked_fds = conn_fds(x);
	c->parked_fds += x->parked_fds;
	xfer_land_async(x, NULL);
}

/*
 * A chunk of the striped file x is done, or the file failed, or its END
 * came: land it when it is whole, answer it when it failed.
 */
static void
conn_stripe_check(struct xfer *x)
{
	struct conn	*c = x->conn;
	uint64_t	 have;
	char		*msg = NULL;
	int		 code, r;

	if (c == NULL || x->ended || x->queued)
		return;
	if (stripe_checking(x->stripe)) {	/* no ACCEPT yet */
		conn_resume_ready(x);
		return;
	}
	r = stripe_state(x->stripe, &have, &code, &msg);
	if (r == -1)
		conn_stripe_fail(c, x, code, msg);
	else if (r == 1 && x->ended_in)
		conn_stripe_land(c, x);
	free(msg);
}

/*
 * Is id that of a striped entry answered (failed) before its END came?
 * Then this is that END, sent before the sender heard: forget the id.
 */
static int
conn_stripe_gone(struct conn *c, uint64_t id)
{
	int	 i;

	for (i = 0; i < CONN_GONE_IDS; i++)
		if (c->gone[i] == id + 1) {
			c->gone[i] = 0;
			return (1);
		}
	return (0);
}

/*
 * END (version 4) between records: the sender has sent every chunk of
 * the striped entry it names, and this is its tree digest.  The file lands
 * once the chunks still on the way (on other connections) are in.
 */
static void
conn_stripe_end(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_end	 e;
	struct xfer	*x;
	char		*cause = NULL;

	if (proto_end_decode(body, len, &e, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	TAILQ_FOREACH(x, &c->xfers, entry)
		if (x->id == e.id && x->stripe != NULL && !x->piece &&
		    !x->ended_in && !x->queued && !x->ended)
			break;
	if (x == NULL && conn_stripe_gone(c, e.id))
		return;
	if (x == NULL) {
		conn_protocol_error(c, "END outside a file, for no striped "
		    "entry waiting for it");
		return;
	}
	x->send = e;
	x->ended_in = 1;
	conn_stripe_check(x);
}

/* Input is ready: run the state machine within the budget. */
void
conn_input(struct conn *c)
{
	int	 turns, r = 1;

	for (turns = 0; r > 0 && turns < CONN_BUDGET; turns++) {
		if (c->state == CONN_PAYLOAD)
			r = conn_payload(c);
		else if (c->state == CONN_DRAIN) {
			conn_io_discard(c);
			r = 0;
		} else if (c->state == CONN_DEAD)
			r = 0;
		else
			r = conn_record(c);
	}
	if (c->state != CONN_DEAD)
		conn_io_arm(c);
}

/* A wait on the peer took too long. */
void
conn_timeout(struct conn *c)
{
	if (c->state == CONN_PAYLOAD && conn_io_progressed(c)) {
		conn_io_arm(c);
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
	conn_io_close(c);
}

