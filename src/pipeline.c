/*
 * pipeline.c -- a run over its items, on one connection at a time.
 *
 * The connection is made when the first item is ready to go (a file that
 * cannot even be opened never connects), proposing version 2, and again
 * after the receiver ends one.  In version 1 each file goes as it always
 * did, FILE to RESULT (peer_file).  In version 2 entries go back to back,
 * at most a window of them without their RESULT, and each RESULT finds
 * its entry by id, in whatever order it comes:
 *
 *	- a file of up to ZC_INLINE_MAX bytes travels whole in its ENTRY
 *	  (INLINE); such records, directories and symlinks are gathered in
 *	  one buffer and sent together, since only payload needs the
 *	  zero-copy framing;
 *	- a larger file is an ENTRY, its data ranges as DATA records with
 *	  the zero-copy framing, and END; the first file of a connection
 *	  waits for ACCEPT (WAIT), so that a destination with a key can
 *	  CHALLENGE it, and so does a file of WAIT_MIN bytes or more (or any,
 *	  once the receiver has refused one), so that a refused file costs no
 *	  payload.
 *
 * While a send would block, what the receiver says is read (the peer's
 * pump), so that neither side waits for the other.  An entry in flight
 * has a struct pending, which owns its report; the connection ending ends
 * every entry in flight, as failed.  Entries end in any order, but are
 * counted and written as JSON in the order they were taken: an ended one
 * waits in the queue for those before it.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#include "zcsend.h"

/* Where an entry in flight is. */
enum pd_state {
	PD_NEW,			/* not sent yet */
	PD_WAIT,		/* WAIT sent: ACCEPT or RESULT comes first */
	PD_PAYLOAD,		/* its DATA records are going out */
	PD_OUT,			/* all sent: its RESULT comes */
};

/* One item being sent, and its outcome. */
struct pending {
	struct report	 rp;
	const struct item *it;
	uint64_t	 id;		/* 0 until it is sent */
	enum pd_state	 state;
	int		 answered;	/* judged before all of it was sent */
	int		 striped;	/* version 4: in chunks (-P) */
	int		 accepted;	/* WAIT: ACCEPT came */
	int		 changed;	/* failed here after it went */
	uint64_t	 offset;	/* ACCEPT's */
	int		 resume;	/* version 5: RESUME */
	uint64_t	 nchunks;	/* ... its chunks */
	uint8_t		*need;		/* ... ACCEPT's bitmap */
	uint8_t		 digest[ZC_DIGEST_LEN];	/* sent, or zeros */
	int		 ended;		/* waits for those before it */
	struct pending	*next;		/* in the order taken */
};

/* A run: the connection's state, and the entries in flight by id. */
struct pipeline {
	struct peer	*p;
	const char	*dest;		/* as sent: "" for the default */
	const char	*dname;		/* as a key knows it */
	struct pending	**byid;		/* [id - 1], while in flight */
	uint64_t	 nid;		/* ids given */
	uint64_t	 firstid;	/* the first on this connection */
	uint32_t	 window;
	uint32_t	 nfly;		/* sent, without RESULT */
	uint64_t	 flybytes;	/* their sizes */
	int		 gate;		/* this connection needs no WAIT */
	struct pending	*waiting;	/* the WAIT entry, until answered */
	int		 authing;	/* AUTH sent, AUTHOK due */
	uint8_t		 nonce_r[ZC_NONCE_LEN];
	uint8_t		 nonce_s[ZC_NONCE_LEN];
	char		*authfail;	/* why nothing can go: the key */
	int		 down;		/* no connection could be made */
	int		 dead;		/* the connection ended */
	int		 stop;		/* the run cannot go on at all */
	int		 refused;	/* a file was refused: WAIT for all */
	int		 pumping;
	int		 status;	/* largest exit code */
	struct pending	*head;		/* in the order taken, not written */
	struct pending	**tail;
	uint8_t		*out;		/* records not sent yet */
	size_t		 olen;
	uint8_t		*in;		/* bytes received, not a record yet */
	size_t		 ilen;
	uint8_t		*scratch;	/* an inline file's content */
	struct spread	*spread;	/* -P: the session's other connections */
	int		 spreading;	/* spread_file() runs: close after */
	int		 nstriped;	/* striped files in flight */
	int		 noted;		/* said that -P cannot stripe */
	int		 noted_resume;	/* ... that --resume cannot resume */
};

static int	pipeline_pump(void *);

/* Start a run of n items to dest over the connection p. */
struct pipeline *
pipeline_new(struct peer *p, const char *dest, size_t n)
{
	struct pipeline	*pl = xcalloc(1, sizeof(*pl));

	pl->p = p;
	pl->dest = dest;
	pl->dname = *dest != '\0' ? dest : "default";
	pl->byid = xcalloc(n + 1, sizeof(*pl->byid));
	pl->out = xmalloc(ZS_BATCH + ZC_HDR_LEN + ZC_ENTRY_MAX);
	pl->in = xmalloc(ZS_INBUF);
	pl->scratch = xmalloc(ZC_INLINE_MAX);
	pl->tail = &pl->head;
	return (pl);
}

/* The end of the run. */
void
pipeline_free(struct pipeline *pl)
{
	free(pl->byid);
	free(pl->out);
	free(pl->in);
	free(pl->scratch);
	free(pl->authfail);
	free(pl);
}

/* The entry of item it, not sent yet. */
static struct pending *
pipeline_pend(struct pipeline *pl, const struct item *it)
{
	struct pending	*pd = xcalloc(1, sizeof(*pd));

	pd->it = it;
	sout_begin_item(&pd->rp, it, pl->dest);
	*pl->tail = pd;
	pl->tail = &pd->next;
	return (pd);
}

/*
 * Entry pd is over, one way or the other: it leaves the window, and is
 * written (sout_end) once all before it are.
 */
static void
pipeline_end(struct pipeline *pl, struct pending *pd)
{
	if (pd->rp.code > pl->status)
		pl->status = pd->rp.code;
	if (pd->id != 0) {
		pl->byid[pd->id - 1] = NULL;
		pl->nfly--;
		pl->flybytes -= pd->rp.size;
		pl->nstriped -= pd->striped;
		pd->striped = 0;
	}
	if (pl->waiting == pd)
		pl->waiting = NULL;
	sout_done(&pd->rp);
	pd->ended = 1;
	while ((pd = pl->head) != NULL && pd->ended) {
		if ((pl->head = pd->next) == NULL)
			pl->tail = &pl->head;
		sout_end(&pd->rp);
		free(pd->need);
		free(pd);
	}
}

/*
 * The connection ended: every entry in flight fails with the message
 * (after the receiver's address if peer), unless it already has its
 * verdict; one whose sending is under way is ended by its sender.
 */
static void __attribute__((format(printf, 5, 6)))
pipeline_dead(struct pipeline *pl, int peer, int code, const char *result,
    const char *fmt, ...)
{
	struct pending	*pd;
	va_list		 ap;
	uint64_t	 id;
	char		*msg;

	if (pl->dead)
		return;
	pl->dead = 1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	for (id = pl->firstid; id <= pl->nid; id++) {
		if ((pd = pl->byid[id - 1]) == NULL)
			continue;
		if (pd->answered || pd->changed)
			;
		else if (peer)
			sout_peerfail(&pd->rp, pl->p->text, code, result, "%s",
			    msg);
		else
			sout_fail(&pd->rp, code, result, "%s", msg);
		if (pd->state == PD_OUT)
			pipeline_end(pl, pd);
		else
			pd->answered = 1;
	}
	free(msg);
	if (pl->spreading)	/* its threads stop; closed after */
		spread_stop(pl->spread);
	else {
		spread_close(pl->spread);
		pl->spread = NULL;
	}
	peer_close(pl->p);
	pl->p->pump = NULL;
	pl->gate = pl->authing = 0;
	pl->waiting = NULL;
	pl->ilen = pl->olen = 0;
}

/* A protocol error of the receiver's: the connection is over. */
#define pipeline_proto(pl, ...)	\
	pipeline_dead((pl), 0, ZS_CONNECT, "protocol", __VA_ARGS__)

/*
 * A send failed with err: the receiver may have said why before it
 * closed; read that first.  Returns -1.
 */
static int
pipeline_send_failed(struct pipeline *pl, int err)
{
	if (!pl->dead && (err == EPIPE || err == ECONNRESET))
		pipeline_pump(pl);
	if (!pl->dead)
		pipeline_dead(pl, 0, ZS_CONNECT, "connect", "send failed: %s",
		    strerror(err));
	return (-1);
}

/* Does a refusal with code come before the key exchange would? */
static int
pipeline_preauth(unsigned int code)
{
	return (code == ZC_E_NAME || code == ZC_E_DEST ||
	    code == ZC_E_DENIED || code == ZC_E_SHUTDOWN || code > ZC_E_MAX);
}

/* Judge the RESULT r of entry pd. */
static int
pipeline_result(struct pipeline *pl, struct pending *pd,
    const struct zc_result *r)
{
	int	 file = pd->it->kind == ITEM_FILE;

	if (r->code == ZC_OK && pd->state != PD_OUT) {
		pipeline_proto(pl, "RESULT ok for entry %llu before all of it "
		    "was sent", (unsigned long long)pd->id);
		return (-1);
	}
	if (r->code != ZC_OK && file)
		pl->refused = 1;
	if (pd->state == PD_WAIT && !pl->gate && !pipeline_preauth(r->code))
		pl->gate = 1;
	if (pd->state == PD_WAIT && pl->authing && r->code == ZC_E_DENIED) {
		pl->authing = 0;
		pl->authfail = xasprintf("rejected by receiver (denied): %s",
		    r->msg);
	}
	if (pd->changed)
		;	/* already failed, with the reason */
	else if (r->code == ZC_OK && !file)
		sout_landed(&pd->rp);
	else if (peer_judge(&pd->rp, pd->rp.size, r, pd->state == PD_OUT ?
	    pd->digest : NULL) == ZS_OK)
		sout_landed(&pd->rp);
	if (pd->state == PD_OUT)
		pipeline_end(pl, pd);
	else
		pd->answered = 1;	/* its sender ends it */
	return (0);
}

/* CHALLENGE for the WAIT entry: prove the key with AUTH. */
static int
pipeline_challenge(struct pipeline *pl, const uint8_t *body)
{
	uint8_t	 mac[ZC_MAC_LEN], rec[ZC_HDR_LEN + ZC_AUTH_LEN];

	memcpy(pl->nonce_r, body, ZC_NONCE_LEN);
	if (peer_prove_mac(pl->dname, pl->nonce_r, pl->nonce_s, mac) == -1) {
		pl->authfail = xasprintf("rejected by receiver (denied): "
		    "destination %s requires a key (--key-file or "
		    "ZCSEND_KEY_FILE)", pl->dname);
		sout_fail(&pl->waiting->rp, ZS_REJECTED, "denied", "%s",
		    pl->authfail);
		pl->waiting->answered = 1;
		pipeline_dead(pl, 0, ZS_REJECTED, "denied", "%s", pl->authfail);
		return (-1);
	}
	pl->authing = 1;
	if (peer_send(pl->p, rec, proto_blob_encode(rec, sizeof(rec),
	    ZC_T_AUTH, pl->nonce_s, ZC_NONCE_LEN, mac, ZC_MAC_LEN)) == -1)
		return (pipeline_send_failed(pl, errno));
	return (0);
}

/* AUTHOK: the receiver proves it knows the key too, or the run stops. */
static int
pipeline_authok(struct pipeline *pl, const uint8_t *body)
{
	pl->authing = 0;
	if (peer_prove_check(pl->dname, pl->nonce_s, pl->nonce_r, body) == 0) {
		pl->gate = 1;
		return (0);
	}
	pl->authfail = xasprintf("the receiver could not prove it knows the "
	    "key of %s", pl->dname);
	sout_fail(&pl->waiting->rp, ZS_REJECTED, "denied", "%s", pl->authfail);
	pl->waiting->answered = 1;
	pipeline_dead(pl, 0, ZS_REJECTED, "denied", "%s", pl->authfail);
	return (-1);
}

/*
 * ACCEPT (version 5) for the resumed entry pd: the chunks the receiver
 * needs; those it kept count as covered.
 */
static int
pipeline_accept_need(struct pipeline *pl, struct pending *pd,
    const uint8_t *body, size_t len)
{
	uint64_t	 id, i, kept = 0, chunk = spread_resume_chunk(pd->rp.size);
	char		*cause = NULL;

	pd->need = xcalloc(1, proto_need_len(pd->nchunks) + 1);
	if (proto_accept_need_decode(body, len, pd->nchunks, &id, pd->need,
	    &cause) == -1) {
		pipeline_proto(pl, "%s", cause);
		free(cause);
		return (-1);
	}
	if (id != pd->id) {
		pipeline_proto(pl, "unexpected ACCEPT for entry %llu",
		    (unsigned long long)id);
		return (-1);
	}
	for (i = 0; i < pd->nchunks; i++)
		if (!(pd->need[i / 8] & (1U << (i % 8))))
			kept += pd->rp.size - i * chunk < chunk ?
			    pd->rp.size - i * chunk : chunk;
	pd->accepted = 1;
	pd->rp.offset = kept;
	sout_cover(&pd->rp, 0, kept);
	if (kept > 0)
		log_info("%s: resuming: the receiver has %llu of %llu bytes",
		    sout_vis(pd->rp.path), (unsigned long long)kept,
		    (unsigned long long)pd->rp.size);
	pl->gate = 1;
	return (0);
}

/* ACCEPT for the WAIT entry: its payload may go. */
static int
pipeline_accept(struct pipeline *pl, const uint8_t *body, size_t len)
{
	struct pending	*pd = pl->waiting;
	uint64_t	 offset, id;
	char		*cause = NULL;

	if (pd != NULL && pd->resume && !pd->accepted && !pl->authing)
		return (pipeline_accept_need(pl, pd, body, len));
	if (proto_accept_decode(body, len, &offset, &id, &cause) == -1) {
		pipeline_proto(pl, "%s", cause);
		free(cause);
		return (-1);
	}
	pd = id > 0 && id <= pl->nid ? pl->byid[id - 1] : NULL;
	if (pd == NULL || pd != pl->waiting || pd->accepted || pl->authing ||
	    offset > pd->rp.size) {
		pipeline_proto(pl, "unexpected ACCEPT for entry %llu",
		    (unsigned long long)id);
		return (-1);
	}
	pd->accepted = 1;
	pd->offset = offset;
	pl->gate = 1;
	return (0);
}

/* One record from the receiver.  -1 when the connection ended. */
static int
pipeline_record(struct pipeline *pl, const struct zc_hdr *h,
    const uint8_t *body)
{
	struct zc_result	 r;
	struct zc_error		 e;
	struct pending		*pd;
	char			*cause = NULL;

	switch (h->type) {
	case ZC_T_RESULT:
		if (proto_result_decode(body, h->len, &r, &cause) == -1)
			break;
		pd = r.id > 0 && r.id <= pl->nid ? pl->byid[r.id - 1] : NULL;
		if (pd == NULL || pd->state == PD_NEW || pd->answered) {
			pipeline_proto(pl, "RESULT for entry %llu, which is "
			    "not in flight", (unsigned long long)r.id);
			return (-1);
		}
		return (pipeline_result(pl, pd, &r));
	case ZC_T_ACCEPT:
		return (pipeline_accept(pl, body, h->len));
	case ZC_T_CHALLENGE:
		if (pl->waiting == NULL || pl->authing || pl->gate)
			goto unexpected;
		return (pipeline_challenge(pl, body));
	case ZC_T_AUTHOK:
		if (!pl->authing || pl->waiting == NULL)
			goto unexpected;
		return (pipeline_authok(pl, body));
	case ZC_T_ERROR:
		if (proto_error_decode(body, h->len, &e, &cause) == -1)
			break;
		pipeline_dead(pl, 1, ZS_CONNECT, proto_code_name(e.code),
		    "receiver error (%s): %s", proto_code_name(e.code), e.msg);
		return (-1);
	default:
		goto unexpected;
	}
	pipeline_proto(pl, "malformed %s: %s", proto_type_name(h->type), cause);
	free(cause);
	return (-1);
unexpected:
	pipeline_proto(pl, "unexpected %s record", proto_type_name(h->type));
	return (-1);
}

/* Take the whole records received so far.  -1 when the connection ended. */
static int
pipeline_records(struct pipeline *pl)
{
	struct zc_hdr	 h;
	size_t		 off = 0;
	char		*cause = NULL;

	while (pl->ilen - off >= ZC_HDR_LEN) {
		if (proto_hdr_decode(pl->in + off, &h, &cause) == -1) {
			pipeline_proto(pl, "%s", cause);
			free(cause);
			return (-1);
		}
		if (h.len > ZC_CTL_MAX) {
			pipeline_proto(pl, "%s record too long",
			    proto_type_name(h.type));
			return (-1);
		}
		if (pl->ilen - off < ZC_HDR_LEN + h.len)
			break;
		if (pipeline_record(pl, &h, pl->in + off + ZC_HDR_LEN) == -1)
			return (-1);
		off += ZC_HDR_LEN + h.len;
	}
	memmove(pl->in, pl->in + off, pl->ilen - off);
	pl->ilen -= off;
	return (0);
}

/*
 * Read and take what the receiver has sent, without waiting (the peer's
 * pump).  -1 when the connection ended.
 */
static int
pipeline_pump(void *arg)
{
	struct pipeline	*pl = arg;
	ssize_t		 n;

	if (pl->pumping || pl->dead)
		return (pl->dead ? -1 : 0);
	pl->pumping = 1;
	while (!pl->dead) {
		n = recv(pl->p->fd, pl->in + pl->ilen, ZS_INBUF - pl->ilen,
		    MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			pipeline_dead(pl, 0, ZS_CONNECT, "connect", "no result "
			    "from receiver: %s", n == 0 ? "connection closed "
			    "by receiver" : strerror(errno));
			break;
		}
		pl->ilen += n;
		pipeline_records(pl);
	}
	pl->pumping = 0;
	return (pl->dead ? -1 : 0);
}

/*
 * Wait up to secs for the receiver to say something, and take it.  -1
 * when the connection ended (at the latest, by the timeout).
 */
static int
pipeline_read(struct pipeline *pl, uint64_t secs)
{
	struct pollfd	 pfd;
	uint64_t	 end = util_now_ns() + secs * UTIL_NS_PER_SEC, now;
	int		 r;

	while (!pl->dead) {
		if ((now = util_now_ns()) >= end) {
			pipeline_dead(pl, 0, ZS_CONNECT, "connect", "no result "
			    "from receiver: %s", strerror(ETIMEDOUT));
			break;
		}
		pfd.fd = pl->p->fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (end - now) / 1000000 + 1);
		if (r == -1 && errno != EINTR) {
			pipeline_dead(pl, 0, ZS_CONNECT, "connect", "poll: %s",
			    strerror(errno));
			break;
		}
		if (r <= 0)
			continue;
		if (pfd.revents & POLLERR)
			source_reap(pl->p, 0);
		return (pipeline_pump(pl));
	}
	return (-1);
}

/* How long the RESULTs in flight may take: fsync of large files. */
static uint64_t
pipeline_patience(struct pipeline *pl)
{
	return (pl->p->timeout + pl->flybytes / RESULT_RATE);
}

/* Send the records gathered.  -1 when the connection ended. */
static int
pipeline_flush(struct pipeline *pl)
{
	size_t	 n = pl->olen;

	if (pl->dead)
		return (-1);
	if (n == 0)
		return (0);
	if (peer_send(pl->p, pl->out, n) == -1)
		return (pipeline_send_failed(pl, errno));
	pl->olen = 0;
	return (0);
}

/*
 * Make room for one more entry: in the window, and in the buffer.  -1
 * when the connection ended meanwhile.
 */
static int
pipeline_room(struct pipeline *pl)
{
	while (!pl->dead && (pl->nfly >= pl->window || pl->olen >= ZS_BATCH)) {
		if (pipeline_flush(pl) == -1)
			break;
		if (pl->nfly >= pl->window)
			pipeline_read(pl, pipeline_patience(pl));
	}
	return (pl->dead ? -1 : 0);
}

/* Give entry pd its id and add its ENTRY record e to the buffer. */
static void
pipeline_queue(struct pipeline *pl, struct pending *pd, struct zc_entry *e)
{
	e->id = pd->id = ++pl->nid;
	pl->byid[pd->id - 1] = pd;
	pl->nfly++;
	pl->flybytes += pd->rp.size;
	e->path = pd->it->path;
	e->path_len = strlen(pd->it->path);
	e->dest = pl->dest;
	e->dest_len = strlen(pl->dest);
	pl->olen += proto_entry_encode(pl->out + pl->olen, ZS_BATCH +
	    ZC_HDR_LEN + ZC_ENTRY_MAX - pl->olen, e);
}

/* A directory or a symlink: one ENTRY. */
static void
pipeline_node(struct pipeline *pl, struct pending *pd)
{
	struct zc_entry	 e;

	memset(&e, 0, sizeof(e));
	e.kind = pd->it->kind;
	e.mode = pd->it->mode;
	e.mtime_sec = pd->it->mtime_sec;
	e.mtime_nsec = pd->it->mtime_nsec;
	if (pd->it->kind == ITEM_SYMLINK) {
		e.extra = (const uint8_t *)pd->it->extra;
		e.extra_len = strlen(pd->it->extra);
	}
	pd->state = PD_OUT;
	pipeline_queue(pl, pd, &e);
}

/* A small file, whole in its ENTRY (INLINE), with its digest. */
static void
pipeline_inline(struct pipeline *pl, struct pending *pd, struct source *s)
{
	XXH128_canonical_t	 canon;
	struct zc_entry		 e;

	if (source_read(s, pl->scratch) != ZS_OK) {
		source_retire(s, pl->p);
		pipeline_end(pl, pd);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.kind = ZC_K_FILE;
	e.flags = ZC_EF_INLINE;
	e.size = s->size;
	e.extra = pl->scratch;
	e.extra_len = s->size;
	e.mode = s->mode & 0777;
	e.mtime_sec = s->mtime_sec;
	e.mtime_nsec = s->mtime_nsec;
	if (opt.verify) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits(pl->scratch,
		    s->size));
		memcpy(pd->digest, canon.digest, ZC_DIGEST_LEN);
		memcpy(e.digest, pd->digest, ZC_DIGEST_LEN);
		e.digest_alg = ZC_DIGEST_XXH3_128;
		proto_digest_hex(pd->digest, pd->rp.digest);
	}
	source_retire(s, pl->p);
	pd->state = PD_OUT;
	pipeline_queue(pl, pd, &e);
	sout_cover(&pd->rp, s->size, s->size);
}

/*
 * DATA records for [a, b) of the file of s: page multiples from the
 * mapping, the tail on its own.  A record once begun is finished, so that
 * a receiver discarding a refused entry keeps its place.  Before each, the
 * file must not have changed (a mapping cut short by truncation would
 * fault); if it has, *why says so.  -1 to stop.
 */
static int
pipeline_data(struct pipeline *pl, struct pending *pd, struct source *s,
    uint64_t a, uint64_t b, const char **why)
{
	uint8_t		 hdr[ZC_HDR_LEN];
	uint64_t	 rec, n, off = a;

	while (off < b) {
		if (pd->answered || (*why = source_changed(s)) != NULL)
			return (-1);
		rec = b - off < DATA_RECORD ? b - off : DATA_RECORD;
		if (rec >= ZC_BLOCK)
			rec &= ~(uint64_t)(ZC_BLOCK - 1);
		proto_hdr_encode(hdr, ZC_T_DATA, rec, off);
		if (peer_send(pl->p, hdr, sizeof(hdr)) == -1)
			return (pipeline_send_failed(pl, errno));
		for (; rec > 0; off += n, rec -= n) {
			n = rec < SEND_CHUNK ? rec : SEND_CHUNK;
			if (source_send(s, pl->p, off, n, n == rec) == 0) {
				sout_cover(&pd->rp, n, n);
				continue;
			}
			if (errno != EFAULT)
				return (pipeline_send_failed(pl, errno));
			/* Cut short under the mapping: finish the record. */
			*why = "cut short while it was read";
			if (source_pad(pl->p, rec - s->pushed) == -1)
				return (pipeline_send_failed(pl, errno));
			return (-1);
		}
	}
	return (0);
}

/*
 * Send the payload of an accepted (or not WAIT) file: its data ranges,
 * holes hashed as zeros and skipped, then END.  A file that changed while
 * it was read gets a spoiled digest, so that a verifying receiver does not
 * land it.
 */
static void
pipeline_payload(struct pipeline *pl, struct pending *pd, struct source *s)
{
	struct zc_end	 e;
	uint8_t		 buf[ZC_HDR_LEN + ZC_END_LEN];
	uint64_t	 pos = pd->offset, a, b;
	const char	*why = NULL;
	int		 i;

	pd->state = PD_PAYLOAD;
	source_hash_begin(s, pos);
	sout_cover(&pd->rp, 0, pos);
	while (!pd->answered && source_range(s, pos, &a, &b) == 0) {
		sout_cover(&pd->rp, 0, a - pos);
		if (pipeline_data(pl, pd, s, a, b, &why) == -1)
			break;
		pos = b;
	}
	if (pl->dead)
		return;
	if (!pd->answered && why == NULL) {
		sout_cover(&pd->rp, 0, s->size - pos);
		source_hash_to(s, s->size);
		why = source_changed(s);
	}
	source_digest(s, &e);
	e.id = pd->id;
	memcpy(pd->digest, e.digest, ZC_DIGEST_LEN);
	if (why != NULL) {
		pd->changed = 1;
		sout_fail(&pd->rp, ZS_LOCAL, "local", "%s; %s", why,
		    opt.verify ? "sent with a wrong digest, so that the "
		    "receiver does not land it" : "the receiver may land it "
		    "as it was read");
		for (i = 0; i < ZC_DIGEST_LEN; i++)
			e.digest[i] ^= 0xff;
	} else if (e.digest_alg == ZC_DIGEST_XXH3_128 && !pd->answered)
		proto_digest_hex(e.digest, pd->rp.digest);
	if (peer_send(pl->p, buf, proto_end_encode(buf, sizeof(buf), &e)) ==
	    -1)
		pipeline_send_failed(pl, errno);
}

/*
 * A striped file (version 4, -P), accepted: its chunks over every
 * connection of the session, then END with the tree digest on the first.
 * A connection that fails fails the file, and the first connection is
 * closed, so that the receiver drops it; the next file connects again.
 */
static void
pipeline_striped(struct pipeline *pl, struct pending *pd, struct source *s,
    uint32_t chunk)
{
	struct zc_end	 e;
	uint8_t		 buf[ZC_HDR_LEN + ZC_END_LEN];
	const char	*changed;
	char		*why = NULL;
	int		 r;

	pd->state = PD_PAYLOAD;
	memset(&e, 0, sizeof(e));
	pl->spreading = 1;
	r = spread_file(pl->spread, pl->p, s, &pd->rp, pd->id, chunk,
	    pd->need, &pd->answered, e.digest, &why);
	pl->spreading = 0;
	if (pl->dead) {		/* the connection ended meanwhile */
		spread_close(pl->spread);
		pl->spread = NULL;
	}
	if (r == -1) {
		if (!pd->answered && !pl->dead) {
			pd->changed = 1;
			sout_peerfail(&pd->rp, pl->p->text, ZS_CONNECT,
			    "connect", "%s; the file is not landed", why);
			pipeline_dead(pl, 0, ZS_CONNECT, "connect", "closed: a "
			    "stripe connection failed");
		}
		free(why);
		return;
	}
	if ((changed = source_changed(s)) != NULL) {
		pd->changed = 1;
		sout_fail(&pd->rp, ZS_LOCAL, "local", "%s; sent with a wrong "
		    "digest, so that the receiver does not land it", changed);
		e.digest[0] ^= 0xff;
	}
	e.id = pd->id;
	e.digest_alg = opt.verify ? ZC_DIGEST_XXH3_128 : ZC_DIGEST_NONE;
	if (!opt.verify)
		memset(e.digest, 0, sizeof(e.digest));
	memcpy(pd->digest, e.digest, ZC_DIGEST_LEN);
	if (opt.verify && changed == NULL)
		proto_digest_hex(e.digest, pd->rp.digest);
	if (peer_send(pl->p, buf, proto_end_encode(buf, sizeof(buf), &e)) ==
	    -1)
		pipeline_send_failed(pl, errno);
}

/*
 * A file too large to go inline, or the first of a connection: ENTRY,
 * then (after ACCEPT, with wait) its payload and END.  With -P, over a
 * receiver of version 4, a file larger than one chunk is striped.
 */
static void
pipeline_file(struct pipeline *pl, struct pending *pd, struct source *s,
    int wait)
{
	struct zc_entry	 e;
	uint32_t	 chunk = spread_chunk(s->size);
	int		 striped = pl->spread != NULL && s->size > chunk;
	int		 resume = opt.resume && pl->spread != NULL &&
			    pl->p->version >= ZC_PROTO_V5 && s->size > 0;

	if (resume) {
		chunk = spread_resume_chunk(s->size);
		striped = 1;
	}

	if (source_map(s) != ZS_OK) {
		source_retire(s, pl->p);
		pipeline_end(pl, pd);
		return;
	}
	/* At most ZC_STRIPED_MAX of them wait for their RESULT. */
	while (striped && !pl->dead && pl->nstriped >= ZC_STRIPED_MAX)
		pipeline_read(pl, pipeline_patience(pl));
	if (pl->dead) {
		sout_peerfail(&pd->rp, pl->p->text, ZS_CONNECT, "connect",
		    "the connection ended");
		source_retire(s, pl->p);
		pipeline_end(pl, pd);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.kind = ZC_K_FILE;
	if (striped) {
		wait = 1;
		e.flags = ZC_EF_STRIPED | (resume ? ZC_EF_RESUME : 0);
		e.chunk = chunk;
		pd->striped = 1;
		pd->resume = resume;
		pd->nchunks = proto_chunk_count(s->size, chunk);
		pl->nstriped++;
	}
	e.flags |= wait ? ZC_EF_WAIT : 0;
	e.size = s->size;
	e.digest_alg = opt.verify ? ZC_DIGEST_XXH3_128 : ZC_DIGEST_NONE;
	e.mode = s->mode & 0777;
	e.mtime_sec = s->mtime_sec;
	e.mtime_nsec = s->mtime_nsec;
	pd->state = wait ? PD_WAIT : PD_PAYLOAD;
	pipeline_queue(pl, pd, &e);
	if (pipeline_flush(pl) == 0 && wait) {
		pl->waiting = pd;
		while (!pd->accepted && !pd->answered && !pl->dead)
			pipeline_read(pl, pipeline_patience(pl));
		pl->waiting = NULL;
	}
	if (!pl->dead && !pd->answered && striped)
		pipeline_striped(pl, pd, s, chunk);
	else if (!pl->dead && !pd->answered)
		pipeline_payload(pl, pd, s);
	source_retire(s, pl->p);
	if (pd->answered || pl->dead)
		pipeline_end(pl, pd);
	else
		pd->state = PD_OUT;
}

/*
 * Connect for entry pd, and agree on a version.  -1 when the run cannot
 * go on: no connection (pl->down, said as pd's failure), or version 1 for
 * -r (pl->stop, said once).
 */
static int
pipeline_connect(struct pipeline *pl, struct pending *pd)
{
	struct peer	*p = pl->p;

	p->pump = NULL;
	if (peer_open(p, &pd->rp) == -1) {
		pl->down = 1;
		return (-1);
	}
	if (p->version == ZC_PROTO_V1) {
		if (opt.resume && !pl->noted_resume) {
			log_warnx("%s: the receiver speaks protocol version "
			    "1; resume (--resume) needs version 5: sending "
			    "whole files", p->text);
			pl->noted_resume = 1;
		}
		if (opt.recursive) {
			log_errx("%s: the receiver speaks protocol version 1 "
			    "only; -r needs version 2 (a newer zcrecvd)",
			    p->text);
			pl->stop = 1;
			if (pl->status < ZS_USAGE)
				pl->status = ZS_USAGE;
			peer_close(p);
			return (-1);
		}
		return (0);
	}
	pl->window = p->window < ZS_WINDOW_MAX ? p->window : ZS_WINDOW_MAX;
	if (opt.resume && p->version >= ZC_PROTO_V5)
		pl->spread = spread_open(p, opt.stripes);
	else if (opt.resume && !pl->noted_resume) {
		log_warnx("%s: the receiver speaks protocol version %d; "
		    "resume (--resume) needs version 5: sending whole files",
		    p->text, p->version);
		pl->noted_resume = 1;
	}
	if (pl->spread != NULL)
		;
	else if (opt.stripes > 1 && p->version >= ZC_PROTO_V4)
		pl->spread = spread_open(p, opt.stripes);
	else if (opt.stripes > 1 && !pl->noted) {
		log_warnx("%s: the receiver speaks protocol version %d; "
		    "striping (-P) needs version 4: sending over one "
		    "connection", p->text, p->version);
		pl->noted = 1;
	}
	p->pump = pipeline_pump;
	p->pump_arg = pl;
	pl->dead = pl->gate = pl->authing = 0;
	pl->waiting = NULL;
	pl->ilen = pl->olen = 0;
	pl->firstid = pl->nid + 1;
	return (0);
}

/* A file in version 1: FILE, DATA, END, RESULT, as it always went. */
static void
pipeline_v1(struct pipeline *pl, struct pending *pd, struct source *s)
{
	int	 dead = 0;

	if (source_map(s) == ZS_OK)
		peer_file(pl->p, s, pl->dest, &dead);
	source_close(s, pl->p, pd->rp.start, dead);
	if (dead)
		peer_close(pl->p);
	pipeline_end(pl, pd);
}

/*
 * Items found by a walk come in an order that puts each directory after
 * its contents; a connection's first entry must be a file (WAIT), so if
 * item i is not one, bring the next file forward, which keeps that order.
 */
static void
pipeline_file_first(struct walk *w, size_t i)
{
	struct item	 it;
	size_t		 j;

	for (j = i; j < w->n && w->v[j].kind != ITEM_FILE; j++)
		;
	if (j == i || j == w->n)
		return;
	it = w->v[j];
	memmove(&w->v[i + 1], &w->v[i], (j - i) * sizeof(w->v[i]));
	w->v[i] = it;
}

/* Item pd that is not sent: skipped, failed here, or as things stand. */
static int
pipeline_unsent(struct pipeline *pl, struct pending *pd)
{
	const struct item	*it = pd->it;

	if (it->kind == ITEM_SKIP)
		sout_skip(&pd->rp, it->extra);
	else if (it->kind == ITEM_FAIL)
		sout_fail(&pd->rp, ZS_LOCAL, "local", "%s", it->extra);
	else if (opt.dryrun && it->kind != ITEM_FILE)
		sout_dry(&pd->rp);
	else if (opt.dryrun)
		return (0);
	else if (pl->authfail != NULL)
		sout_fail(&pd->rp, ZS_REJECTED, "denied", "%s", pl->authfail);
	else if (pl->down)
		sout_peerfail(&pd->rp, pl->p->text, ZS_CONNECT, "connect",
		    "no connection");
	else
		return (0);
	pipeline_end(pl, pd);
	return (1);
}

/*
 * Connected, in version 2 with room for one more entry; or version 1.
 * Tries a few connections, in case one ends while it waits for room.  -1
 * when pd cannot go (and is ended, or the run stops).
 */
static int
pipeline_ready(struct pipeline *pl, struct pending *pd)
{
	int	 tries;

	for (tries = 0; tries < 3; tries++) {
		if (pl->p->fd == -1 && pipeline_connect(pl, pd) == -1)
			return (-1);
		if (pl->p->version == ZC_PROTO_V1 || pipeline_room(pl) == 0)
			return (0);
	}
	sout_peerfail(&pd->rp, pl->p->text, ZS_CONNECT, "connect",
	    "the connection ended %d times", tries);
	return (-1);
}

/*
 * Standard input (version 3): ENTRY with STREAM and WAIT, then, once
 * accepted, DATA records as the input comes, and EOS with the size it
 * came to; announced only once the input has begun.  A receiver that
 * fails the stream ends it at once, and so do a failed or stalled input
 * (the connection is closed then, so that the receiver cannot land a
 * stream cut short).
 */
static void
pipeline_stream(struct pipeline *pl, struct pending *pd)
{
	struct stream	 st;
	struct zc_entry	 e;
	struct zc_end	 end;
	struct timespec	 now;
	uint8_t		 buf[ZC_HDR_LEN + ZC_EOS_LEN];
	const char	*why = NULL;
	int		 r;

	stream_open(&st, STDIN_FILENO, opt.verify, &pd->answered);
	if (stream_begin(&st, pl->p->timeout, &why) == -1) {
		sout_fail(&pd->rp, ZS_LOCAL, "local", "%s after 0 bytes; not "
		    "sent", why);
		stream_close(&st, pl->p);
		pipeline_end(pl, pd);
		return;
	}
	memset(&e, 0, sizeof(e));
	clock_gettime(CLOCK_REALTIME, &now);
	e.kind = ZC_K_FILE;
	e.flags = ZC_EF_WAIT | ZC_EF_STREAM;
	e.size = opt.size;
	e.digest_alg = opt.verify ? ZC_DIGEST_XXH3_128 : ZC_DIGEST_NONE;
	e.mode = pd->it->mode & 0777;
	e.mtime_sec = now.tv_sec;
	e.mtime_nsec = now.tv_nsec;
	pd->state = PD_WAIT;
	pipeline_queue(pl, pd, &e);
	if (pipeline_flush(pl) == 0) {
		pl->waiting = pd;
		while (!pd->accepted && !pd->answered && !pl->dead)
			pipeline_read(pl, pipeline_patience(pl));
		pl->waiting = NULL;
	}
	if (!pl->dead && !pd->answered) {
		pd->state = PD_PAYLOAD;
		r = stream_send(&st, pl->p, &pd->rp, &end, &why);
		if (r == -2)
			pipeline_send_failed(pl, errno);
		else if (r == -1) {
			pd->changed = 1;
			sout_fail(&pd->rp, ZS_LOCAL, "local", "%s after %llu "
			    "bytes; not sent", why,
			    (unsigned long long)st.off);
			pipeline_dead(pl, 0, ZS_CONNECT, "connect", "closed: "
			    "standard input failed");
		} else if (r == 0) {
			/* The size is known now: the verdict is judged by it. */
			pl->flybytes += end.size - pd->rp.size;
			pd->rp.size = end.size;
			end.id = pd->id;
			memcpy(pd->digest, end.digest, ZC_DIGEST_LEN);
			if (end.digest_alg == ZC_DIGEST_XXH3_128)
				proto_digest_hex(end.digest, pd->rp.digest);
			if (peer_send(pl->p, buf, proto_eos_encode(buf,
			    sizeof(buf), &end)) == -1)
				pipeline_send_failed(pl, errno);
		}
	}
	stream_close(&st, pl->p);
	if (pd->answered || pl->dead)
		pipeline_end(pl, pd);
	else
		pd->state = PD_OUT;
}

/* Item pd is standard input: it needs a version 3 receiver. */
static void
pipeline_item_stream(struct pipeline *pl, struct pending *pd)
{
	if (opt.dryrun)
		sout_dry(&pd->rp);
	else if (pipeline_ready(pl, pd) == -1) {
		if (pl->stop)
			pd->rp.result = NULL;
	} else if (pl->p->version < ZC_PROTO_V3)
		sout_fail(&pd->rp, ZS_REJECTED, "version", "the receiver "
		    "speaks protocol version %d; a stream from standard input "
		    "needs version 3 (a newer zcrecvd)", pl->p->version);
	else {
		pipeline_stream(pl, pd);
		return;
	}
	pipeline_end(pl, pd);
}

/* Send item i of the run (or say why not). */
void
pipeline_item(struct pipeline *pl, struct walk *w, size_t i)
{
	struct pending	*pd;
	struct source	 s;
	int		 wait;

	if (pl->stop)
		return;
	if (!pl->gate && !opt.dryrun && (w->v[i].kind == ITEM_DIR ||
	    w->v[i].kind == ITEM_SYMLINK))
		pipeline_file_first(w, i);
	pd = pipeline_pend(pl, &w->v[i]);
	if (pipeline_unsent(pl, pd))
		return;
	if (pd->it->stream) {
		pipeline_item_stream(pl, pd);
		return;
	}
	if (pd->it->kind == ITEM_FILE &&
	    source_entry(&s, &pd->rp, pd->it) != ZS_OK) {
		pipeline_end(pl, pd);
		return;
	}
	if (opt.dryrun) {
		source_close(&s, pl->p, 0, 1);
		sout_dry(&pd->rp);
		pipeline_end(pl, pd);
		return;
	}
	if (pipeline_ready(pl, pd) == -1) {
		if (pd->it->kind == ITEM_FILE)
			source_close(&s, pl->p, 0, 1);
		if (pl->stop)
			pd->rp.result = NULL;	/* not written: the run stops */
		pipeline_end(pl, pd);
		return;
	}
	if (pl->p->version == ZC_PROTO_V1)
		pipeline_v1(pl, pd, &s);
	else if (pd->it->kind != ITEM_FILE)
		pipeline_node(pl, pd);
	else {
		wait = !pl->gate || pl->refused || s.size >= WAIT_MIN;
		if (s.size <= ZC_INLINE_MAX && !wait)
			pipeline_inline(pl, pd, &s);
		else
			pipeline_file(pl, pd, &s, wait);
	}
}

/*
 * The last item went: wait for the RESULTs still due, and close.
 * Returns the run's exit code.
 */
int
pipeline_finish(struct pipeline *pl)
{
	struct peer	*p = pl->p;
	uint64_t	 end;

	if (p->fd != -1 && p->version >= ZC_PROTO_V2 &&
	    pipeline_flush(pl) == 0)
		while (!pl->dead && pl->nfly > 0)
			pipeline_read(pl, pipeline_patience(pl));
	/* For -v's counters: the last completions come soon. */
	end = util_now_ns() + UTIL_NS_PER_SEC;
	while (p->fd != -1 && p->zc && p->zs.done + p->zs.lost < p->zs.sent &&
	    util_now_ns() < end)
		source_reap(p, 100);
	spread_close(pl->spread);
	pl->spread = NULL;
	p->pump = NULL;
	peer_close(p);
	return (pl->status);
}
