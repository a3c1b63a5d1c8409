/*
 * conn.c -- one sender connection: the protocol state machine.
 *
 * Control records are read with recv() into rbuf, never further than the
 * record's end, so the payload that follows a DATA header stays in the
 * socket to be mapped.  The state only changes through conn_set_state(),
 * which checks the transition.  An error after start-up ends the one
 * connection (or only the one file) it happened on, with a result to the
 * peer where possible.  Connections are freed from an event of their own,
 * never inside their callbacks.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/sockios.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "zcrecvd.h"

#define CONN_BUDGET		32		/* loop turns per event */
#define CONN_OUT_MAX		(64U << 10)	/* stop reading above this */
#define CONN_SWITCH_MIN		(1U << 20)	/* copied before auto gives up
						   mapping */
#define CONN_DRAIN_MAX		(256ULL << 20)	/* discard at most this */
#define CONN_PROGRESS_MIN	(64U << 10)	/* payload per stall_timeout
						   that is not a stall */

static const char *state_names[] = {
	"hello", "idle", "auth", "file", "payload", "drain", "dead"
};

static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(evutil_socket_t, short, void *);
static void	conn_close(struct conn *);
static void	conn_file_start(struct conn *, struct dest *);

/* Files in flight on this worker. */
int
conn_busy(struct worker *w)
{
	return (w->busy);
}

/* Change state, asserting that the transition is legal. */
static void
conn_set_state(struct conn *c, int state)
{
	static const unsigned int legal[] = {
		[CONN_HELLO] = 1 << CONN_IDLE | 1 << CONN_DRAIN |
		    1 << CONN_DEAD,
		[CONN_IDLE] = 1 << CONN_FILE | 1 << CONN_AUTH | 1 << CONN_DRAIN |
		    1 << CONN_DEAD,
		[CONN_AUTH] = 1 << CONN_IDLE | 1 << CONN_DRAIN | 1 << CONN_DEAD,
		[CONN_FILE] = 1 << CONN_PAYLOAD | 1 << CONN_IDLE |
		    1 << CONN_DRAIN | 1 << CONN_DEAD,
		[CONN_PAYLOAD] = 1 << CONN_FILE | 1 << CONN_DRAIN |
		    1 << CONN_DEAD,
		[CONN_DRAIN] = 1 << CONN_DEAD,
		[CONN_DEAD] = 0,
	};

	if (!(legal[c->state] & (1U << state)))
		fatalx("%s: illegal state change %s -> %s", c->peer,
		    state_names[c->state], state_names[state]);
	log_debug("%s: %s -> %s", c->peer, state_names[c->state],
	    state_names[state]);
	c->state = state;
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
	struct timeval	 tv;
	uint64_t	 limit, spent;

	if (evbuffer_get_length(c->out) > CONN_OUT_MAX)
		return;		/* conn_write_cb resumes reading */
	if (c->state == CONN_DEAD)
		return;
	tv.tv_usec = 0;
	if (c->state != CONN_PAYLOAD && c->state != CONN_DRAIN &&
	    c->rhave > 0) {
		limit = (uint64_t)c->conf->stall_timeout * 1000000000;
		spent = util_now_ns() - c->rec_ns;
		if (spent > limit)
			spent = limit;
		tv.tv_sec = (limit - spent) / 1000000000;
		tv.tv_usec = (limit - spent) % 1000000000 / 1000;
	} else if (c->state == CONN_IDLE)
		tv.tv_sec = c->conf->idle_timeout;
	else
		tv.tv_sec = c->conf->stall_timeout;
	event_add(c->ev_read, &tv);
}

/* Payload bytes that reached us: taken, and queued in the socket. */
static uint64_t
conn_arrived(struct conn *c)
{
	int	 inq;

	if (ioctl(c->fd, SIOCINQ, &inq) == -1 || inq < 0)
		inq = 0;
	return (c->x.received + (uint64_t)inq);
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

/* Send a RESULT for the current file. */
static void
conn_send_result(struct conn *c, int code, const char *msg,
    const uint8_t *digest)
{
	struct zc_result	 r;
	uint8_t			 buf[ZC_HDR_LEN + ZC_RESULT_LEN + ZC_MSG_MAX];

	memset(&r, 0, sizeof(r));
	r.code = code;
	r.bytes = c->x.received;
	if (digest != NULL) {
		r.digest_alg = ZC_DIGEST_XXH3_128;
		memcpy(r.digest, digest, ZC_DIGEST_LEN);
	}
	snprintf(r.msg, sizeof(r.msg), "%s", msg);
	conn_send(c, buf, proto_result_encode(buf, sizeof(buf), &r));
}

/* Start discarding input: the peer learns of the failure, then EOF. */
static void
conn_drain(struct conn *c)
{
	conn_set_state(c, CONN_DRAIN);
	c->rec_left = 0;
	c->x.start_ns = util_now_ns();	/* drain deadline starts now */
	c->x.received = 0;
	zcrx_lowat(&c->zcrx, 1);
	conn_flush(c);
	conn_arm(c);
}

/* Send ERROR and drain: the connection cannot go on. */
static void
conn_error(struct conn *c, int code, const char *msg)
{
	uint8_t	 buf[ZC_HDR_LEN + ZC_ERROR_LEN + ZC_MSG_MAX];

	conn_send(c, buf, proto_error_encode(buf, sizeof(buf), code, msg));
	conn_drain(c);
}

/*
 * Charge the CPU time since the last mark to the connection and, while a
 * file is in flight, to the file.  Called on entry to and exit from every
 * callback and when a file starts or ends, so a file that comes and goes
 * within one callback is charged exactly its share.
 */
static void
conn_cpu(struct conn *c)
{
	uint64_t	 now = util_cpu_ns(0);

	c->cpu_ns += now - c->cpu_mark;
	if (c->in_file)
		c->x.cpu_ns += now - c->cpu_mark;
	c->cpu_mark = now;
}

/* Result code for a failed write: a full disk is its own code. */
static int
conn_io_code(struct conn *c)
{
	return (c->sink.err == ENOSPC || c->sink.err == EDQUOT ?
	    ZC_E_NOSPACE : ZC_E_IO);
}

/*
 * Give back window w's mapped pages, after its queued write, if any, is
 * done.  Returns -1 with *cause if that write failed.
 */
static int
conn_window_release(struct conn *c, int w, char **cause)
{
	int	 r;

	r = sink_wait(&c->sink, w, cause);
	zcrx_unmap(&c->zcrx, w, c->zcrx.held[w]);
	c->zcrx.held[w] = 0;
	return (r);
}

/* Release what a file in flight holds and log how it ended. */
static void
conn_file_end(struct conn *c, int code, const char *msg, const uint8_t *dg)
{
	const char	*io = sink_name(c->sink.kind);
	char		*why = NULL;
	int		 w;

	conn_cpu(c);
	if (c->ev_aio != NULL)
		event_free(c->ev_aio);
	c->ev_aio = NULL;
	sink_close(&c->sink);		/* waits for queued writes */
	for (w = 0; w < ZCRX_WINDOWS; w++)
		conn_window_release(c, w, &why);	/* nothing left to fail */
	c->zcrx.cur = 0;
	if (code != ZC_OK)
		land_abort(&c->land);
	tlog_file(c->peer, c->dest->name, &c->x, io, conf_io_name(c->dest->io),
	    code, msg, dg);
	c->in_file = 0;
	c->w->busy--;
	STAT_SUB(in_flight, 1);
	if (code == ZC_OK)
		STAT_ADD(files_ok, 1);
	else
		STAT_ADD(files_failed, 1);
}

/*
 * The current file failed while its payload may still be coming: tell the
 * peer with a RESULT (or ERROR for a protocol violation) and drain.  With
 * code -1 the peer is gone and the connection just closes.
 */
static void
conn_file_fail(struct conn *c, int code, const char *msg)
{
	log_debug("%s: %s: %s", c->peer, c->x.f.name, msg);
	conn_file_end(c, code, msg, NULL);
	if (code == -1)
		conn_close(c);
	else if (code == ZC_E_PROTO)
		conn_error(c, code, msg);
	else {
		conn_send_result(c, code, msg, NULL);
		conn_drain(c);
	}
}

/* Outside any file: a protocol violation ends the connection. */
static void
conn_protocol_error(struct conn *c, const char *msg)
{
	log_warnx("%s: protocol error: %s", c->peer, msg);
	if (c->in_file)
		conn_file_fail(c, ZC_E_PROTO, msg);
	else
		conn_error(c, ZC_E_PROTO, msg);
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
		conn_error(c, ZC_E_VERSION, msg);
		free(msg);
		return;
	}
	conn_send(c, buf, proto_hello_encode(buf, sizeof(buf)));
	conn_set_state(c, CONN_IDLE);
	conn_arm(c);
}

/* Pick sink and receive path for a file going to d. */
static void
conn_choose_io(struct conn *c, const struct dest *d, int *sink)
{
	switch (d->io) {
	case IO_AUTO:
		if (c->switched) {
			*sink = SINK_SPLICE;
			c->mode = RX_SPLICE;
		} else {
			*sink = d->dio_ok ? SINK_DIRECT : SINK_WRITE;
			c->mode = RX_MAP;
		}
		break;
	case IO_DIRECT:
		*sink = SINK_DIRECT;
		c->mode = RX_MAP;
		break;
	case IO_WRITE:
		*sink = SINK_WRITE;
		c->mode = RX_MAP;
		break;
	case IO_VMSPLICE:
		*sink = SINK_VMSPLICE;
		c->mode = RX_MAP;
		break;
	case IO_SPLICE:
		*sink = SINK_SPLICE;
		c->mode = RX_SPLICE;
		break;
	case IO_DISCARD:
		*sink = SINK_DISCARD;
		c->mode = RX_MAP;
		break;
	default:
		*sink = SINK_COPY;
		c->mode = RX_COPY;
		break;
	}
}

/* Refuse one file without ending the connection. */
static void
conn_refuse(struct conn *c, int code, const char *msg)
{
	tlog_file(c->peer, c->x.f.dest[0] != '\0' ? c->x.f.dest : "default",
	    &c->x, "none", "none", code, msg, NULL);
	conn_send_result(c, code, msg, NULL);
}

/*
 * May this file go to d?  Size and space limits, decided before the
 * sender is told to send any payload (access was checked before).
 */
static int
conn_admit(struct conn *c, const struct dest *d, int *code, char **cause)
{
	struct statvfs	 sv;
	uint64_t	 avail, floor, size = c->x.f.size;

	*code = ZC_E_SIZE;
	if (size > (uint64_t)INT64_MAX - ZC_DATA_MAX) {
		*cause = xasprintf("file size out of range");
		return (-1);
	}
	if (d->max_file_size >= 0 && size > (uint64_t)d->max_file_size) {
		*cause = xasprintf("file of %llu bytes is over the limit of "
		    "%lld", (unsigned long long)size,
		    (long long)d->max_file_size);
		return (-1);
	}
	if (fstatvfs(d->dirfd, &sv) == -1) {
		*code = ZC_E_IO;
		*cause = xasprintf("statvfs %s: %s", d->path, strerror(errno));
		return (-1);
	}
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	floor = d->min_free >= 0 ? (uint64_t)d->min_free :
	    (uint64_t)sv.f_blocks * sv.f_frsize / 100 * (uint64_t)-d->min_free;
	if (avail < floor || size > avail - floor) {
		*code = ZC_E_NOSPACE;
		*cause = xasprintf("not enough space in %s: %llu bytes free, "
		    "%llu kept free, file needs %llu", d->name,
		    (unsigned long long)avail, (unsigned long long)floor,
		    (unsigned long long)size);
		return (-1);
	}
	return (0);
}

/* Use the newest configuration from this file on. */
static void
conn_refresh_conf(struct conn *c)
{
	struct conf	*cur = cfg_acquire();

	conf_unref(c->conf);
	c->conf = cur;
}

/* FILE: check name and destination, open staging file, ACCEPT. */
static void
conn_file(struct conn *c, const uint8_t *body, size_t len)
{
	struct xfer	*x = &c->x;
	struct dest	*d;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CHALLENGE_LEN];
	char		*cause = NULL;

	memset(x, 0, sizeof(*x));
	if (proto_file_decode(body, len, &x->f, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	x->start_ns = util_now_ns();
	conn_refresh_conf(c);
	if (c->w->draining) {
		conn_refuse(c, ZC_E_SHUTDOWN, "receiver shutting down");
		return;
	}
	if (proto_dest_check(x->f.dest, x->f.dest_len, &cause) == -1 ||
	    proto_name_check(x->f.name, x->f.name_len, &cause) == -1) {
		conn_refuse(c, ZC_E_NAME, cause);
		free(cause);
		return;
	}
	if ((d = conf_find_dest(c->conf, x->f.dest)) == NULL) {
		cause = xasprintf("no destination '%s'", x->f.dest);
		conn_refuse(c, ZC_E_DEST, cause);
		free(cause);
		return;
	}
	if (!conf_allowed(d, (struct sockaddr *)&c->ss)) {
		cause = xasprintf("%s is not allowed to write to %s", c->peer,
		    d->name);
		conn_refuse(c, ZC_E_DENIED, cause);
		free(cause);
		return;
	}
	c->dest = d;
	if (d->key != NULL && strcmp(c->authed, d->name) != 0) {
		/* Prove the key first; conn_auth() goes on from there. */
		auth_nonce(c->nonce);
		conn_send(c, buf, proto_blob_encode(buf, sizeof(buf),
		    ZC_T_CHALLENGE, c->nonce, ZC_NONCE_LEN, NULL, 0));
		conn_set_state(c, CONN_AUTH);
		conn_arm(c);
		return;
	}
	conn_file_start(c, d);
}

/* AUTH: check the sender's MAC, prove ours, go on with the file. */
static void
conn_auth(struct conn *c, const uint8_t *body, size_t len)
{
	const struct dest	*d = c->dest;
	uint8_t			 mac[ZC_MAC_LEN];
	uint8_t			 buf[ZC_HDR_LEN + ZC_AUTHOK_LEN];

	auth_mac(d->key, 0, c->nonce, body, d->name, mac);
	if (!auth_equal(mac, body + ZC_NONCE_LEN)) {
		log_warnx("%s: authentication failed for destination %s",
		    c->peer, d->name);
		conn_refuse(c, ZC_E_DENIED, "authentication failed");
		conn_drain(c);
		return;
	}
	snprintf(c->authed, sizeof(c->authed), "%s", d->name);
	auth_mac(d->key, 1, body, c->nonce, d->name, mac);
	conn_send(c, buf, proto_blob_encode(buf, sizeof(buf), ZC_T_AUTHOK,
	    mac, ZC_MAC_LEN, NULL, 0));
	log_debug("%s: authenticated for %s", c->peer, d->name);
	conn_set_state(c, CONN_IDLE);
	conn_file_start(c, c->dest);
}

/*
 * libevent: a queued write is done.  Give its window's pages back now, so
 * that a sender that stops does not leave them pinned.
 */
static void
conn_aio_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	uint64_t	 n;
	char		*cause = NULL, *why;
	int		 w;

	c->cpu_mark = util_cpu_ns(0);
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_debug("%s: eventfd: %s", c->peer, strerror(errno));
	sink_reap(&c->sink);
	for (w = 0; w < ZCRX_WINDOWS; w++) {
		if (c->zcrx.held[w] == 0 || !sink_done(&c->sink, w))
			continue;
		why = NULL;
		if (conn_window_release(c, w, &why) == -1 && cause == NULL)
			cause = why;
		else
			free(why);
	}
	if (cause != NULL) {
		conn_file_fail(c, conn_io_code(c), cause);
		free(cause);
	}
	conn_cpu(c);
}

/* The file may go to d: check limits, open the staging file, ACCEPT. */
static void
conn_file_start(struct conn *c, struct dest *d)
{
	struct xfer	*x = &c->x;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ACCEPT_LEN];
	char		*cause = NULL;
	int		 code, sink;

	memset(&c->land, 0, sizeof(c->land));
	c->land.fd = -1;	/* io = discard lands nothing */
	if (conn_admit(c, d, &code, &cause) == -1 || (d->io != IO_DISCARD &&
	    land_open(&c->land, d, x->f.name, &code, &cause) == -1)) {
		conn_refuse(c, code, cause);
		free(cause);
		conn_arm(c);
		return;
	}
	/* Per-file buffers come with the first file: idle peers cost little. */
	if (c->bounce == NULL && posix_memalign((void **)&c->bounce, ZC_BLOCK,
	    ZCRX_BOUNCE) != 0)
		fatalx("posix_memalign");
	conn_choose_io(c, d, &sink);
	if (c->mode == RX_MAP && zcrx_mmap(&c->zcrx, &cause) == -1) {
		log_warnx("%s: %s: receiving with recv()", c->peer, cause);
		free(cause);
		c->mode = RX_COPY;
	}
	if (sink_open(&c->sink, sink, c->land.fd, d, x->f.size, d->verify,
	    &c->w->aio, &cause) == -1) {
		code = conn_io_code(c);
		sink_close(&c->sink);
		land_abort(&c->land);
		conn_refuse(c, code, cause);
		free(cause);
		conn_arm(c);
		return;
	}
	if (c->sink.efd != -1) {
		c->ev_aio = event_new(c->w->base, c->sink.efd,
		    EV_READ | EV_PERSIST, conn_aio_cb, c);
		if (c->ev_aio == NULL || event_add(c->ev_aio, NULL) == -1)
			fatalx("%s: event", __func__);
	}
	conn_cpu(c);		/* what came before was not this file's */
	c->in_file = 1;
	c->w->busy++;
	STAT_ADD(in_flight, 1);
	c->next_off = 0;
	log_debug("%s: receiving %s (%llu bytes) into %s, io %s", c->peer,
	    x->f.name, (unsigned long long)x->f.size, d->path,
	    sink_name(sink));
	conn_send(c, buf, proto_accept_encode(buf, sizeof(buf), 0));
	conn_set_state(c, CONN_FILE);
	conn_arm(c);
}

/* DATA header: check the offset and length, then take the payload. */
static void
conn_data(struct conn *c)
{
	uint64_t	 off = c->hdr.arg, len = c->hdr.len;
	char		*msg;

	if (off != c->next_off || off + len > c->x.f.size ||
	    (len % ZC_BLOCK != 0 && off + len != c->x.f.size)) {
		msg = xasprintf("DATA %llu@%llu does not fit: expected offset "
		    "%llu, file size %llu, block multiples except at the end",
		    (unsigned long long)len, (unsigned long long)off,
		    (unsigned long long)c->next_off,
		    (unsigned long long)c->x.f.size);
		conn_protocol_error(c, msg);
		free(msg);
		return;
	}
	c->rec_off = off;
	c->rec_left = len;
	c->next_off = off + len;
	conn_set_state(c, CONN_PAYLOAD);
}

/* END: finish the file, compare digests, land it, answer. */
static void
conn_end(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_end	 e;
	uint8_t		 dg[ZC_DIGEST_LEN];
	char		*cause = NULL, hs[ZC_DIGEST_HEXLEN], hr[ZC_DIGEST_HEXLEN];
	int		 code = ZC_E_IO, verify = c->sink.hash != NULL;

	if (proto_end_decode(body, len, &e, &cause) == -1) {
		conn_protocol_error(c, cause);
		free(cause);
		return;
	}
	conn_set_state(c, CONN_IDLE);
	if (c->next_off != c->x.f.size) {
		code = ZC_E_SIZE;
		cause = xasprintf("file ended after %llu of %llu bytes",
		    (unsigned long long)c->next_off,
		    (unsigned long long)c->x.f.size);
	} else if (sink_finish(&c->sink, dg, &cause) == -1)
		code = ZC_E_IO;
	else if (verify && e.digest_alg == ZC_DIGEST_XXH3_128 &&
	    memcmp(dg, e.digest, ZC_DIGEST_LEN) != 0) {
		proto_digest_hex(e.digest, hs);
		proto_digest_hex(dg, hr);
		code = ZC_E_DIGEST;
		cause = xasprintf("digest mismatch: sender %s, receiver %s",
		    hs, hr);
	} else if (c->dest->io == IO_DISCARD || land_commit(&c->land, c->dest,
	    c->x.f.mode, &code, &cause) == 0) {
		conn_send_result(c, ZC_OK, "landed", verify ? dg : NULL);
		conn_file_end(c, ZC_OK, "landed", verify ? dg : NULL);
		conn_arm(c);
		if (c->w->draining)
			conn_close(c);
		return;
	}
	conn_send_result(c, code, cause, NULL);
	conn_file_end(c, code, cause, NULL);
	free(cause);
	conn_arm(c);
	if (c->w->draining)
		conn_close(c);
}

/* Dispatch a complete control record by state. */
static void
conn_dispatch(struct conn *c, const uint8_t *body, size_t len)
{
	struct zc_error	 e;
	char		*cause, *msg, vmsg[UTIL_VIS_MAX];
	int		 type = c->hdr.type;

	if (type == ZC_T_ERROR) {
		if (proto_error_decode(body, len, &e, &cause) == 0) {
			log_warnx("%s: peer reports error: %s: %s", c->peer,
			    proto_code_name(e.code),
			    util_vis(e.msg, vmsg, sizeof(vmsg)));
		} else
			free(cause);
		if (c->in_file)
			conn_file_end(c, -1, "sender reported an error", NULL);
		conn_close(c);
		return;
	}
	if (c->state == CONN_HELLO && type == ZC_T_HELLO)
		conn_hello(c, body, len);
	else if (c->state == CONN_IDLE && type == ZC_T_FILE)
		conn_file(c, body, len);
	else if (c->state == CONN_FILE && type == ZC_T_END)
		conn_end(c, body, len);
	else if (c->state == CONN_AUTH && type == ZC_T_AUTH)
		conn_auth(c, body, len);
	else {
		msg = xasprintf("unexpected %s record %s", proto_type_name(type),
		    c->state == CONN_HELLO ? "before HELLO" :
		    c->state == CONN_IDLE ? "outside a file" :
		    c->state == CONN_AUTH ? "instead of AUTH" : "inside a file");
		conn_protocol_error(c, msg);
		free(msg);
	}
}

/* The peer closed (or reset) the connection. */
static void
conn_eof(struct conn *c, const char *why)
{
	if (c->in_file) {
		log_debug("%s: %s during %s", c->peer, why, c->x.f.name);
		conn_file_end(c, -1, why, NULL);
	} else
		log_debug("%s: %s", c->peer, why);
	conn_close(c);
}

/*
 * Read a control record, never past its end.  Returns 1 when there may be
 * more to do, 0 when the socket is empty or the connection went away.
 */
static int
conn_record(struct conn *c)
{
	size_t	 need;
	ssize_t	 n;
	char	*cause;

	need = ZC_HDR_LEN + (c->hdr_ok ? c->hdr.len : 0);
	n = recv(c->fd, c->rbuf + c->rhave, need - c->rhave, MSG_DONTWAIT);
	if (n == 0) {
		if (c->rhave > 0 && !c->in_file)
			log_warnx("%s: protocol error: connection closed "
			    "inside a record", c->peer);
		conn_eof(c, c->rhave > 0 ? "connection closed inside a record" :
		    "connection closed");
		return (0);
	}
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return (0);
		conn_eof(c, strerror(errno));
		return (0);
	}
	if (c->rhave == 0)
		c->rec_ns = util_now_ns();
	c->rhave += n;
	if (c->rhave < need)
		return (1);
	if (!c->hdr_ok) {
		if (proto_hdr_decode(c->rbuf, &c->hdr, &cause) == -1) {
			c->rhave = 0;
			conn_protocol_error(c, cause);
			free(cause);
			return (0);
		}
		c->hdr_ok = 1;
		if (c->hdr.type == ZC_T_DATA) {
			c->rhave = c->hdr_ok = 0;
			if (c->state != CONN_FILE) {
				conn_protocol_error(c, "unexpected DATA record "
				    "outside a file");
				return (0);
			}
			conn_data(c);
			return (c->state == CONN_PAYLOAD);
		}
		if (c->hdr.len > 0)
			return (1);
	}
	c->rhave = c->hdr_ok = 0;
	conn_dispatch(c, c->rbuf + ZC_HDR_LEN, c->hdr.len);
	return (c->state != CONN_DEAD && c->state != CONN_DRAIN);
}

/* A receive error that means the peer is gone (0: end of file). */
static int
conn_lost(int e)
{
	return (e == 0 || e == ECONNRESET || e == EPIPE || e == ETIMEDOUT ||
	    e == ECONNABORTED);
}

/* Account payload bytes that reached the sink. */
static void
conn_took(struct conn *c, size_t n, uint64_t *counter)
{
	STAT_ADD(bytes, n);
	if (counter == &c->x.zc_bytes)
		STAT_ADD(zc_bytes, n);
	c->x.received += n;
	*counter += n;
	c->rec_left -= n;
	c->rec_off += n;
}

/*
 * io = auto: a connection whose payload keeps arriving in pages the kernel
 * cannot map (plain send(), sendfile, odd MSS) goes to the splice path,
 * which costs one copy, instead of paying for both mapping and copying.
 */
static void
conn_maybe_switch(struct conn *c)
{
	if (c->dest->io != IO_AUTO || c->x.copied < CONN_SWITCH_MIN ||
	    c->x.copied <= c->x.zc_bytes)
		return;
	log_info("%s: payload is not mappable (%llu bytes copied, %llu "
	    "mapped): switching to splice", c->peer,
	    (unsigned long long)c->x.copied, (unsigned long long)c->x.zc_bytes);
	c->switched = 1;
	c->mode = RX_SPLICE;
	c->sink.kind = SINK_SPLICE;
}

/* recv() up to max payload bytes into the bounce buffer and sink them. */
static int
conn_rx_recv(struct conn *c, size_t max)
{
	ssize_t	 n;
	char	*cause;

	if (max > c->rec_left)
		max = c->rec_left;
	if (max > ZCRX_BOUNCE)
		max = ZCRX_BOUNCE;
	n = recv(c->fd, c->bounce, max, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0) {
		conn_file_fail(c, -1, n == 0 ? "connection closed" :
		    strerror(errno));
		return (-1);
	}
	if (sink_write(&c->sink, c->bounce, n, c->rec_off, &cause) == -1) {
		conn_file_fail(c, conn_io_code(c), cause);
		free(cause);
		return (-1);
	}
	conn_took(c, n, &c->x.copied);
	return (1);
}

/* Map payload pages and write them; copy what cannot be mapped. */
static int
conn_rx_map(struct conn *c)
{
	size_t	 want, mapped = 0, skip, inq;
	char	*cause;
	int	 r, w = c->zcrx.cur;

	want = c->rec_left & ~(uint64_t)(ZC_BLOCK - 1);
	if (want == 0)
		return (conn_rx_recv(c, c->rec_left));	/* the tail */
	/* The window's pages may still be under a write. */
	if (c->zcrx.held[w] > 0) {
		if (conn_window_release(c, w, &cause) == -1) {
			conn_file_fail(c, conn_io_code(c), cause);
			free(cause);
			return (-1);
		}
	}
	if (zcrx_map(&c->zcrx, want, &mapped, &skip, &inq, &cause) == -1) {
		conn_file_fail(c, conn_lost(errno) ? -1 : ZC_E_IO, cause);
		free(cause);
		return (-1);
	}
	if (mapped > 0) {
		r = sink_write_async(&c->sink, w, zcrx_window(&c->zcrx, w),
		    mapped, c->rec_off, &cause);
		if (r == 1) {
			c->zcrx.held[w] = mapped;
			c->zcrx.cur = (w + 1) % ZCRX_WINDOWS;
		} else
			zcrx_unmap(&c->zcrx, w, mapped);
		if (r == -1) {
			conn_file_fail(c, conn_io_code(c), cause);
			free(cause);
			return (-1);
		}
		conn_took(c, mapped, &c->x.zc_bytes);
	}
	if (mapped == 0 && skip == 0 && inq > 0)
		skip = inq;	/* queued but neither mapped nor skipped */
	if (skip > 0 && c->rec_left > 0) {
		if ((r = conn_rx_recv(c, skip)) != 1)
			return (r);
		conn_maybe_switch(c);
		return (1);
	}
	return (mapped > 0 && inq > 0);
}

/* Splice payload from the socket to the file. */
static int
conn_rx_splice(struct conn *c)
{
	ssize_t	 n;
	char	*cause;

	n = sink_splice(&c->sink, c->fd, c->rec_left, c->rec_off, &cause);
	if (n == -1) {
		conn_file_fail(c, conn_lost(errno) ? -1 : conn_io_code(c),
		    cause);
		free(cause);
		return (-1);
	}
	if (n == 0)
		return (0);
	conn_took(c, n, &c->x.spliced);
	return (1);
}

/*
 * Take a DATA record's payload, at most CONN_BUDGET steps per event.
 * Returns 1 when the record is complete, 0 to wait for more, -1 when the
 * file failed.
 */
static int
conn_payload(struct conn *c)
{
	int	 budget, r = 1;

	for (budget = 0; c->rec_left > 0 && budget < CONN_BUDGET; budget++) {
		if (c->mode == RX_MAP)
			r = conn_rx_map(c);
		else if (c->mode == RX_SPLICE)
			r = conn_rx_splice(c);
		else
			r = conn_rx_recv(c, c->rec_left);
		if (r != 1)
			break;
	}
	if (r == -1)
		return (-1);
	if (c->rec_left > 0) {
		zcrx_lowat(&c->zcrx, c->rec_left);
		c->prog_mark = conn_arrived(c);
		return (0);
	}
	zcrx_lowat(&c->zcrx, 1);
	conn_set_state(c, CONN_FILE);
	return (1);
}

/* Discard input after a failure, within a byte and time budget. */
static void
conn_discard(struct conn *c)
{
	ssize_t	 n;

	for (;;) {
		n = recv(c->fd, NULL, ZCRX_BOUNCE, MSG_DONTWAIT | MSG_TRUNC);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->x.received += n;
		if (c->x.received > CONN_DRAIN_MAX)
			break;
	}
	if (c->x.received > CONN_DRAIN_MAX || util_now_ns() - c->x.start_ns >
	    (uint64_t)c->conf->stall_timeout * 1000000000) {
		log_debug("%s: closing after draining %llu bytes", c->peer,
		    (unsigned long long)c->x.received);
		conn_close(c);
	}
}

/* Input is ready: run the state machine within the budget. */
static void
conn_input(struct conn *c)
{
	int	 turns, r = 1;

	for (turns = 0; r > 0 && turns < CONN_BUDGET; turns++) {
		switch (c->state) {
		case CONN_PAYLOAD:
			r = conn_payload(c);
			break;
		case CONN_DRAIN:
			conn_discard(c);
			r = 0;
			break;
		case CONN_DEAD:
			r = 0;
			break;
		default:
			r = conn_record(c);
			break;
		}
	}
	if (c->state != CONN_DEAD)
		conn_arm(c);
}

/*
 * A wait on the peer took too long.  Inside a payload record, the wait is
 * only a stall when less than CONN_PROGRESS_MIN bytes (or the rest of the
 * record) arrived since the last look: SO_RCVLOWAT keeps a slow but steady
 * sender from waking us, and a byte a second must not hold a file open.
 */
static void
conn_timeout(struct conn *c)
{
	uint64_t	 now;

	if (c->state == CONN_PAYLOAD) {
		now = conn_arrived(c);
		if (now - c->prog_mark >= CONN_PROGRESS_MIN ||
		    now - c->x.received >= c->rec_left) {
			c->prog_mark = now;
			conn_arm(c);
			return;
		}
	}
	if (c->rhave > 0 && (c->state == CONN_IDLE ||
	    c->state == CONN_AUTH)) {
		log_info("%s: record not complete within %d s, closing",
		    c->peer, c->conf->stall_timeout);
		conn_close(c);
		return;
	}
	switch (c->state) {
	case CONN_IDLE:
		log_info("%s: idle for %d s, closing", c->peer,
		    c->conf->idle_timeout);
		conn_close(c);
		break;
	case CONN_FILE:
	case CONN_PAYLOAD:
		conn_file_end(c, ZC_E_TIMEOUT, "sender stalled", NULL);
		conn_send_result(c, ZC_E_TIMEOUT, "sender stalled", NULL);
		conn_close(c);
		break;
	case CONN_DRAIN:
		conn_close(c);
		break;
	case CONN_AUTH:
		log_info("%s: no AUTH within %d s, closing", c->peer,
		    c->conf->stall_timeout);
		conn_close(c);
		break;
	default:
		log_info("%s: no HELLO within %d s, closing", c->peer,
		    c->conf->stall_timeout);
		conn_close(c);
		break;
	}
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
		if (c->in_file)
			conn_file_end(c, ZC_E_TIMEOUT, "peer does not read",
			    NULL);
		conn_close(c);
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
	struct conn	*c = arg, **pp;
	struct worker	*w = c->w;

	for (pp = &w->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	event_free(c->ev_read);
	event_free(c->ev_write);
	evbuffer_free(c->out);
	zcrx_free(&c->zcrx);
	close(c->fd);
	listener_conn_gone(&c->ss);
	STAT_SUB(conns, 1);
	conf_unref(c->conf);
	free(c->bounce);
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
	if (c->in_file)
		conn_file_end(c, -1, "connection closed", NULL);
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
	len = sizeof(c->ss);
	if (getpeername(fd, (struct sockaddr *)&c->ss, &len) == -1)
		c->ss.ss_family = AF_UNSPEC;
	conn_peer_name((struct sockaddr *)&c->ss, c->peer, sizeof(c->peer));
	zcrx_init(&c->zcrx, fd);
	c->ev_read = event_new(w->base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	c->ev_write = event_new(w->base, fd, EV_WRITE | EV_PERSIST,
	    conn_write_cb, c);
	if ((c->out = evbuffer_new()) == NULL || c->ev_read == NULL ||
	    c->ev_write == NULL)
		fatalx("out of memory for a connection");
	c->state = CONN_HELLO;
	c->next = w->conns;
	w->conns = c;
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

	for (c = w->conns; c != NULL; c = c->next)
		if (c->state == CONN_HELLO || c->state == CONN_IDLE ||
		    c->state == CONN_AUTH)
			conn_close(c);
}

/* The grace period is over: abort every transfer, tell the peers, close. */
void
conn_shutdown_all(struct worker *w)
{
	struct conn	*c;

	for (c = w->conns; c != NULL; c = c->next) {
		if (c->state == CONN_DEAD)
			continue;
		c->cpu_mark = util_cpu_ns(0);
		if (c->in_file) {
			conn_file_end(c, ZC_E_SHUTDOWN, "receiver shutting down",
			    NULL);
			conn_send_result(c, ZC_E_SHUTDOWN,
			    "receiver shutting down", NULL);
		}
		conn_close(c);
	}
}
