/*
 * xfer.c -- one file in flight, from its FILE record to its RESULT.
 *
 * An xfer owns what a file needs while it arrives: the staging file (land.c),
 * the sink that writes and hashes (sink.c), its statistics and, in the end,
 * its outcome, logged once.  Its life:
 *
 *	xfer_new	the FILE record is in: name, size, mode
 *	xfer_target	the destination is found, and allowed
 *	xfer_open	limits checked, staging file and sink ready
 *	xfer_place	a DATA record fits the file
 *	xfer_write...	payload goes to the sink (or xfer_splice)
 *	xfer_finish	all payload is in: size and digest checked
 *	xfer_commit	landed under its name, logged
 *	xfer_abort	or: failed with a code, staging file removed, logged
 *
 * A stream (version 3) starts without a size: f.size is its bound (the
 * size it announced, or max_file_size) until EOS, each DATA record is
 * checked against that bound and, every XFER_GRANT bytes, against the
 * free-space floor, before a byte of it is taken.
 *
 * Connections drive it and know nothing of its insides.  It is refcounted:
 * the connection holds one reference, and a mapping window whose pages are
 * under one of its queued writes holds another (zcrx.c).  The last
 * reference frees it from an event of its own, never inside a callback.
 */
#include "config.h"

#include <sys/statvfs.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "zcrecvd.h"

#define XFER_GRANT		(64ULL << 20)	/* a stream's free-space step */

static void	 xfer_end(struct xfer *, int, const char *, const uint8_t *);

/* A file announced by peer: nothing is open yet. */
struct xfer *
xfer_new(struct worker *w, const char *peer, const struct zc_file *f)
{
	struct xfer	*x;

	x = xcalloc(1, sizeof(*x));
	x->refs = 1;
	x->w = w;
	snprintf(x->peer, sizeof(x->peer), "%s", peer);
	x->f = *f;
	x->st.start_ns = util_now_ns();
	x->land.fd = -1;
	x->land.dirfd = -1;
	x->sink.fd = -1;
	x->sink.efd = -1;
	x->sink.pipe[0] = x->sink.pipe[1] = -1;
	x->pfd = -1;
	return (x);
}

/*
 * An ENTRY (version 2) announced by peer.  The path, destination and extra
 * bytes are copied: the record buffer is reused.  f.name holds the last
 * component, for the checks and messages that want a base name.
 */
struct xfer *
xfer_new_entry(struct worker *w, const char *peer, const struct zc_entry *e)
{
	struct zc_file	 f;
	struct xfer	*x;
	const char	*base;
	size_t		 n;

	memset(&f, 0, sizeof(f));
	f.size = e->size;
	f.mode = e->mode;
	f.digest_alg = e->digest_alg;
	f.dest_len = e->dest_len;
	memcpy(f.dest, e->dest, e->dest_len);	/* <= ZC_DEST_MAX */
	base = memrchr(e->path, '/', e->path_len);
	base = base == NULL ? e->path : base + 1;
	n = e->path_len - (base - e->path);
	f.name_len = n;
	memcpy(f.name, base, n < ZC_NAME_MAX ? n : ZC_NAME_MAX);
	x = xfer_new(w, peer, &f);
	x->v2 = 1;
	x->id = e->id;
	x->kind = e->kind;
	x->eflags = e->flags;
	x->mtime.tv_sec = e->mtime_sec;
	x->mtime.tv_nsec = e->mtime_nsec;
	x->path = xmalloc(e->path_len + 1);
	memcpy(x->path, e->path, e->path_len);
	x->path[e->path_len] = '\0';
	x->path_len = e->path_len;
	if (e->extra_len > 0) {
		x->extra = xmalloc(e->extra_len + 1);
		memcpy(x->extra, e->extra, e->extra_len);
		x->extra[e->extra_len] = '\0';	/* a symlink's target */
		x->extra_len = e->extra_len;
	}
	memcpy(x->sdigest, e->digest, ZC_DIGEST_LEN);
	x->chunk = e->chunk;
	if (e->flags & ZC_EF_STREAM) {
		x->stream = 1;
		x->expect = e->size;
		x->f.size = 0;		/* the bound, from xfer_admit */
	}
	return (x);
}

/* The name to log: the path of an entry, else the file name. */
const char *
xfer_name(const struct xfer *x)
{
	return (x->path != NULL ? x->path : x->f.name);
}

/* Take a reference. */
struct xfer *
xfer_ref(struct xfer *x)
{
	x->refs++;
	return (x);
}

/* Free an xfer, from its own event. */
static void
xfer_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer	*x = arg;

	if (x->ev_aio != NULL)
		event_free(x->ev_aio);
	if (x->ev_stripe != NULL)
		event_free(x->ev_stripe);
	if (x->ev_stripe_tm != NULL)
		event_free(x->ev_stripe_tm);
	sink_free_ring(&x->sink);	/* writes of a failed file go on */
	if (x->pfd != -1)
		close(x->pfd);
	if (x->stripe != NULL)
		stripe_unref(x->stripe);
	if (x->conf != NULL)
		conf_unref(x->conf);
	free((char *)x->st.stripes);
	free(x->path);
	free(x->extra);
	free(x->lcause);
	free(x);
}

/* Drop a reference; the last one aborts what is still open and frees. */
void
xfer_unref(struct xfer *x)
{
	struct timeval	 tv = { 0, 0 };

	if (--x->refs > 0)
		return;
	if (!x->ended)
		xfer_abort(x, PEER_GONE, "dropped");
	if (event_base_once(x->w->base, -1, EV_TIMEOUT, xfer_free_cb, x,
	    &tv) == -1)
		fatalx("event_base_once");
}

/*
 * Find where the file goes: the destination its FILE names in conf, if
 * the names are acceptable and the peer at sa may write there.  conf is
 * referenced from now on.  Returns -1 with *code and *cause.
 */
int
xfer_target(struct xfer *x, struct conf *conf, const struct sockaddr *sa,
    int *code, char **cause)
{
	struct dest	*d;

	*code = ZC_E_NAME;
	if (proto_dest_check(x->f.dest, x->f.dest_len, cause) == -1)
		return (-1);
	if (x->path != NULL ? proto_path_check(x->path, x->path_len,
	    cause) == -1 : proto_name_check(x->f.name, x->f.name_len,
	    cause) == -1)
		return (-1);
	if ((d = conf_find_dest(conf, x->f.dest)) == NULL) {
		*code = ZC_E_DEST;
		*cause = xasprintf("no destination '%s'", x->f.dest);
		return (-1);
	}
	if (x->path != NULL && land_path_ok(d, x->path, x->path_len, code,
	    cause) == -1)
		return (-1);
	if (!conf_allowed(d, sa)) {
		*code = ZC_E_DENIED;
		*cause = xasprintf("%s is not allowed to write to %s", x->peer,
		    d->name);
		return (-1);
	}
	x->conf = conf_ref(conf);
	x->dest = d;
	x->io = iomode_get(d->io);
	return (0);
}

/*
 * Bytes free on d's file system less what min_free keeps, for a file of
 * size more: statvfs() at most every DEST_SPACE_NS (a tree sends
 * thousands of files a second), less the bytes admitted since; read anew
 * when that says no, so only a fresh figure refuses a file.
 */
static int
xfer_space(struct dest *d, uint64_t size, uint64_t *avail, uint64_t *floor,
    char **cause)
{
	static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
	struct statvfs		 sv;
	uint64_t		 now = util_now_ns(), left;
	int			 fresh, ok = 0;

	pthread_mutex_lock(&lock);
	for (fresh = 0; fresh < 2 && !ok; fresh++) {
		if (fresh || d->space_ns == 0 ||
		    now - d->space_ns > DEST_SPACE_NS) {
			if (fstatvfs(d->dirfd, &sv) == -1) {
				pthread_mutex_unlock(&lock);
				*cause = xasprintf("statvfs %s: %s", d->path,
				    strerror(errno));
				return (-1);
			}
			d->space_ns = now;
			d->space_avail = (uint64_t)sv.f_bavail * sv.f_frsize;
			d->space_floor = d->min_free >= 0 ?
			    (uint64_t)d->min_free : (uint64_t)sv.f_blocks *
			    sv.f_frsize / 100 * (uint64_t)-d->min_free;
			d->space_taken = 0;
			fresh = 1;
		}
		left = d->space_avail > d->space_taken ?
		    d->space_avail - d->space_taken : 0;
		ok = left >= d->space_floor && size <= left - d->space_floor;
	}
	if (ok)
		d->space_taken += size;
	*avail = left;
	*floor = d->space_floor;
	pthread_mutex_unlock(&lock);
	return (ok ? 0 : 1);
}

/*
 * A stream is to carry n more bytes from next_off: is the free-space floor
 * still clear of them?  Space is taken (xfer_space) in steps of
 * XFER_GRANT, so that the check runs once per step, not per record; with
 * less room than a step, for the record alone.  n 0 (admission, size
 * unknown): there must be room for a page.  -1 with *code and *cause.
 */
static int
xfer_grant(struct xfer *x, uint64_t n, int *code, char **cause)
{
	uint64_t	 avail, floor, want, left, queued;
	int		 r;

	if (x->next_off + n <= x->granted && n > 0)
		return (0);
	left = x->f.size - x->next_off;
	want = n > XFER_GRANT ? n : XFER_GRANT;
	if (want > left)
		want = left;
	/*
	 * Bytes queued on the ring and not yet written are not in statvfs
	 * yet: they count against the room too.
	 */
	queued = x->open ? sink_queued_bytes(&x->sink) : 0;
	if ((r = xfer_space(x->dest, want + queued, &avail, &floor,
	    cause)) == 1 && want > n) {
		want = n > 0 ? n : left < ZC_BLOCK ? left : ZC_BLOCK;
		r = xfer_space(x->dest, want + queued, &avail, &floor, cause);
	}
	if (r == -1) {
		*code = ZC_E_IO;
		return (-1);
	}
	if (r == 1) {
		*code = ZC_E_NOSPACE;
		*cause = xasprintf("not enough space in %s: %llu bytes free, "
		    "%llu kept free, stream needs %llu more after %llu",
		    x->dest->name, (unsigned long long)avail,
		    (unsigned long long)floor, (unsigned long long)want,
		    (unsigned long long)x->next_off);
		return (-1);
	}
	x->granted = x->next_off + want;
	return (0);
}

/*
 * The limits of a stream (version 3), before any payload: its bound is
 * the size it announced, if any, else the destination's max_file_size;
 * there must be room for the first step (or all of an announced size).
 */
static int
xfer_admit_stream(struct xfer *x, int *code, char **cause)
{
	const struct dest	*d = x->dest;
	uint64_t		 bound = (uint64_t)INT64_MAX - ZC_DATA_MAX;

	*code = ZC_E_SIZE;
	if (x->expect != ZC_SIZE_UNKNOWN && x->expect > bound) {
		*cause = xasprintf("stream size out of range");
		return (-1);
	}
	if (d->max_file_size >= 0 && x->expect != ZC_SIZE_UNKNOWN &&
	    x->expect > (uint64_t)d->max_file_size) {
		*cause = xasprintf("stream of %llu bytes is over the limit "
		    "of %lld", (unsigned long long)x->expect,
		    (long long)d->max_file_size);
		return (-1);
	}
	if (x->expect != ZC_SIZE_UNKNOWN)
		bound = x->expect;
	else if (d->max_file_size >= 0)
		bound = d->max_file_size;
	x->f.size = bound;
	x->granted = 0;
	return (xfer_grant(x, x->expect != ZC_SIZE_UNKNOWN ? x->expect : 0,
	    code, cause));
}

/* Is the file's size within the limits? */
static int
xfer_admit_size(struct xfer *x, int *code, char **cause)
{
	struct dest	*d = x->dest;
	uint64_t	 size = x->f.size;

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
	return (0);
}

/*
 * Is there room for bytes more of the file above the destination's
 * free-space floor?  -1 with *code and *cause.
 */
int
xfer_room(struct xfer *x, uint64_t bytes, int *code, char **cause)
{
	struct dest	*d = x->dest;
	uint64_t	 avail, floor;
	int		 r;

	if ((r = xfer_space(d, bytes, &avail, &floor, cause)) == -1) {
		*code = ZC_E_IO;
		return (-1);
	}
	if (r == 1) {
		*code = ZC_E_NOSPACE;
		*cause = xasprintf("not enough space in %s: %llu bytes free, "
		    "%llu kept free, file needs %llu", d->name,
		    (unsigned long long)avail, (unsigned long long)floor,
		    (unsigned long long)bytes);
		return (-1);
	}
	return (0);
}

/*
 * May the file go to its destination?  Size and space limits, decided
 * before the sender is told to send any payload.
 */
static int
xfer_admit(struct xfer *x, int *code, char **cause)
{
	if (x->stream)
		return (xfer_admit_stream(x, code, cause));
	if (xfer_admit_size(x, code, cause) == -1)
		return (-1);
	return (xfer_room(x, x->f.size, code, cause));
}

/*
 * An entry that lands whole from the lander (inline file, directory,
 * symlink): only the limits are checked here; it counts as in flight
 * until it has landed.
 */
int
xfer_admit_entry(struct xfer *x, int *code, char **cause)
{
	if (x->kind == ZC_K_FILE && xfer_admit(x, code, cause) == -1)
		return (-1);
	if (x->kind == ZC_K_SYMLINK && !x->dest->allow_symlinks) {
		*code = ZC_E_DENIED;
		*cause = xasprintf("symlinks not allowed in %s "
		    "(allow_symlinks = no)", x->dest->name);
		return (-1);
	}
	/* The lander writes an inline file with pwrite(): log it so. */
	x->sink.kind = (x->io->flags & IO_NO_FILE) ? SINK_DISCARD : SINK_WRITE;
	x->open = 1;
	x->w->busy++;
	STAT_ADD(in_flight, 1);
	return (0);
}

/* libevent: a queued write is done: tell whoever holds its pages. */
static void
xfer_aio_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer	*x = arg;
	uint64_t	 n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_debug("%s: eventfd: %s", x->peer, strerror(errno));
	sink_reap(&x->sink);
	if (x->written != NULL)
		x->written(x->written_arg);
}

/* Watch the sink's queued writes, if it has a ring.  -1 with *cause. */
static int
xfer_watch(struct xfer *x, int *code, char **cause)
{
	if (x->sink.efd != -1 && ((x->ev_aio = event_new(x->w->base,
	    x->sink.efd, EV_READ | EV_PERSIST, xfer_aio_cb, x)) == NULL ||
	    event_add(x->ev_aio, NULL) == -1)) {
		*code = ZC_E_INTERNAL;
		*cause = xasprintf("cannot watch queued writes");
		return (-1);
	}
	return (0);
}

/*
 * Check the limits, create the staging file and open a sink of kind sk on
 * it.  On failure *code is the result for the peer and *cause the reason;
 * the caller then aborts the xfer.
 */
int
xfer_open(struct xfer *x, enum sink_kind sk, int *code, char **cause)
{
	const struct dest	*d = x->dest;

	if (xfer_admit(x, code, cause) == -1)
		return (-1);
	if (!(x->io->flags & IO_NO_FILE) &&
	    land_open(&x->land, d, xfer_name(x), code, cause) == -1)
		return (-1);
	if (sink_open(&x->sink, sk, x->land.fd, d->path, x->f.size, d->verify,
	    &x->w->pool, cause) == -1) {
		*code = sink_code(&x->sink);
		sink_close(&x->sink);
		land_abort(&x->land);
		return (-1);
	}
	if (xfer_watch(x, code, cause) == -1) {
		sink_close(&x->sink);
		land_abort(&x->land);
		return (-1);
	}
	x->open = 1;
	x->w->busy++;
	STAT_ADD(in_flight, 1);
	log_debug("%s: receiving %s (%llu bytes) into %s, io %s", x->peer,
	    x->f.name, (unsigned long long)x->f.size, d->path,
	    sink_name(sk));
	return (0);
}

/* libevent: a chunk of the striped file x is done, or the file failed. */
static void
xfer_stripe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer	*x = arg;
	uint64_t	 n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_debug("%s: eventfd: %s", x->peer, strerror(errno));
	if (x->stripe_cb != NULL)
		x->stripe_cb(x);
}

/*
 * libevent, every stall_timeout: a striped file none of whose chunks
 * moved since the last look fails (chunks that never come, a connection
 * of the session that stalls).
 */
static void
xfer_stripe_tm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer	*x = arg;
	uint64_t	 now = stripe_progress(x->stripe), have;
	int		 code;
	char		*msg = NULL, *why;

	if (now != x->stripe_mark || stripe_checking(x->stripe)) {
		x->stripe_mark = now;	/* (the keeper is re-checking) */
		return;
	}
	if (stripe_state(x->stripe, &have, &code, &msg) != 0) {
		free(msg);
		return;
	}
	why = xasprintf("striped file stalled: %llu of %llu chunks in, no "
	    "progress for %d s", (unsigned long long)have,
	    (unsigned long long)stripe_chunks(x->stripe),
	    x->conf->stall_timeout);
	stripe_fail(x->stripe, ZC_E_TIMEOUT, why);
	free(why);
}

/*
 * The striped file x is in flight: its owner watches the stripe's eventfd
 * (a chunk done, the file failed) and its stall timer.
 */
static void
xfer_stripe_watch(struct xfer *x)
{
	struct timeval	 tv = { x->conf->stall_timeout, 0 };

	if ((x->ev_stripe = event_new(x->w->base, stripe_efd(x->stripe),
	    EV_READ | EV_PERSIST, xfer_stripe_cb, x)) == NULL ||
	    (x->ev_stripe_tm = event_new(x->w->base, -1, EV_PERSIST,
	    xfer_stripe_tm_cb, x)) == NULL || event_add(x->ev_stripe,
	    NULL) == -1 || event_add(x->ev_stripe_tm, &tv) == -1)
		fatalx("%s: cannot watch a striped file", x->peer);
	x->sink.kind = (x->io->flags & IO_NO_FILE) ? SINK_DISCARD : SINK_WRITE;
	x->open = 1;
	x->w->busy++;
	STAT_ADD(in_flight, 1);
}

/*
 * A striped file (version 4) of the session sess: the limits checked and
 * its staging file created, as xfer_open, but no sink: its chunks come as
 * pieces (xfer_new_piece), each with a sink of its own on a descriptor of
 * its own, on any connection of the session; nw workers may carry them.
 * -1 with *code and *cause.
 */
int
xfer_open_striped(struct xfer *x, struct session *sess, int nw, int *code,
    char **cause)
{
	uint64_t	 n = proto_chunk_count(x->f.size, x->chunk);

	if (xfer_admit(x, code, cause) == -1)
		return (-1);
	if (n > ZC_CHUNKS_MAX) {
		*code = ZC_E_SIZE;
		*cause = xasprintf("%llu chunks of %u bytes: more than %u; "
		    "a larger chunk size is needed", (unsigned long long)n,
		    x->chunk, ZC_CHUNKS_MAX);
		return (-1);
	}
	if (!(x->io->flags & IO_NO_FILE) && land_open(&x->land, x->dest,
	    xfer_name(x), code, cause) == -1)
		return (-1);
	/*
	 * The file has its size before any chunk is written: chunks arrive
	 * in any order, and none of their writes need extend the file
	 * (extending O_DIRECT writes are serialised by ext4).
	 */
	if (x->land.fd != -1 && ftruncate(x->land.fd, x->f.size) == -1) {
		*code = errno == ENOSPC || errno == EDQUOT || errno == EFBIG ?
		    ZC_E_NOSPACE : ZC_E_IO;
		*cause = xasprintf("truncate: %s", strerror(errno));
		land_abort(&x->land);
		return (-1);
	}
	if ((x->stripe = stripe_new(sess, x, x->chunk, nw, cause)) == NULL) {
		*code = ZC_E_INTERNAL;
		land_abort(&x->land);
		return (-1);
	}
	xfer_stripe_watch(x);
	log_debug("%s: receiving %s (%llu bytes) striped in %llu chunks of "
	    "%u", x->peer, xfer_name(x), (unsigned long long)x->f.size,
	    (unsigned long long)n, x->chunk);
	return (0);
}

/*
 * A resumed file (version 5, ENTRY flags STRIPED and RESUME) from a sender
 * of identity ident: its size checked as for a striped file, but its
 * partial is opened (or made) and re-checked by the keeper, off the event
 * loop; the owner hears back through the stripe's eventfd (stripe_cb)
 * and only then answers ACCEPT with the chunks still needed.  -1 with
 * *code and *cause.
 */
int
xfer_open_resume(struct xfer *x, struct session *sess, int nw,
    const char *ident, int *code, char **cause)
{
	struct keep_key	 k;
	char		 name[LAND_NAME_BUF];

	/* Room is checked once the partial says what is missing. */
	if (xfer_admit_size(x, code, cause) == -1)
		return (-1);
	memset(&k, 0, sizeof(k));
	snprintf(k.ident, sizeof(k.ident), "%s", ident);
	snprintf(k.dest, sizeof(k.dest), "%s", x->dest->name);
	snprintf(k.path, sizeof(k.path), "%s", xfer_name(x));
	k.size = x->f.size;
	k.mtime_sec = x->mtime.tv_sec;
	k.mtime_nsec = x->mtime.tv_nsec;
	k.chunk = x->chunk;
	keep_name(&k, name, sizeof(name));
	if ((x->stripe = stripe_new(sess, x, x->chunk, nw, cause)) == NULL) {
		*code = ZC_E_INTERNAL;
		return (-1);
	}
	stripe_resume(x->stripe, &k, name, x->conf->resume_keep);
	xfer_stripe_watch(x);
	keep_check(x->stripe);
	x->st.resumed = 1;
	log_debug("%s: resuming %s (%llu bytes) in chunks of %u, partial %s",
	    x->peer, xfer_name(x), (unsigned long long)x->f.size, x->chunk,
	    name);
	return (0);
}

/*
 * One chunk of the striped file st, announced by CHUNK ch (chunk idx) on
 * a connection of peer: an xfer of its own, whose file is the chunk's
 * range of the staging file.  It takes the caller's reference to st.
 */
struct xfer *
xfer_new_piece(struct worker *w, const char *peer, struct stripe *st,
    const struct zc_chunk *ch, uint64_t idx)
{
	struct zc_file	 f;
	struct xfer	*x;
	struct conf	*conf;

	memset(&f, 0, sizeof(f));
	f.size = ch->offset + ch->length;
	f.name_len = snprintf(f.name, sizeof(f.name), "chunk %llu of entry "
	    "%llu", (unsigned long long)idx, (unsigned long long)ch->id);
	x = xfer_new(w, peer, &f);
	x->piece = 1;
	x->stripe = st;
	x->chunk_idx = idx;
	x->id = ch->id;
	x->next_off = ch->offset;
	x->dest = stripe_dest(st, &conf);
	x->conf = conf_ref(conf);
	x->io = iomode_get(x->dest->io);
	return (x);
}

/*
 * Open the piece's sink of kind sk on a descriptor of its own, hashing
 * from the chunk's offset.  -1 with *code and *cause.
 */
int
xfer_open_piece(struct xfer *x, enum sink_kind sk, int *code, char **cause)
{
	if (stripe_nofile(x->stripe))
		sk = SINK_DISCARD;
	else if ((x->pfd = stripe_open(x->stripe)) == -1) {
		*code = ZC_E_IO;
		*cause = xasprintf("open staging file: %s", strerror(errno));
		return (-1);
	}
	if (sink_open(&x->sink, sk, x->pfd, x->dest->path, x->f.size,
	    stripe_hashing(x->stripe), &x->w->pool, cause) == -1) {
		*code = sink_code(&x->sink);
		sink_close(&x->sink);
		return (-1);
	}
	sink_range(&x->sink, x->next_off, stripe_size(x->stripe));
	if (xfer_watch(x, code, cause) == -1) {
		sink_close(&x->sink);
		return (-1);
	}
	x->open = 1;
	x->w->busy++;
	return (0);
}

/*
 * All bytes of the piece are in and written: complete its digest and
 * give the chunk to its file.  -1 with *code and *cause.
 */
int
xfer_piece_finish(struct xfer *x, int *code, char **cause)
{
	uint8_t	 dg[ZC_DIGEST_LEN];

	if (x->next_off != x->f.size) {
		*code = ZC_E_SIZE;
		*cause = xasprintf("chunk ended short");
		return (-1);
	}
	if (sink_finish(&x->sink, dg, cause) == -1) {
		*code = sink_code(&x->sink);
		return (-1);
	}
	stripe_done(x->stripe, x->chunk_idx, sink_verifying(&x->sink) ? dg :
	    NULL, &x->st, x->w->id);
	xfer_end(x, ZC_OK, "chunk written", NULL);
	return (0);
}

/*
 * Every chunk of the striped file x is in, and its END (x->send): the
 * tree digest into dg, compared with the sender's; the file cut to its
 * size.  Returns 1 with dg set, 0 when not verifying, -1 with *code and
 * *cause.
 */
int
xfer_striped_finish(struct xfer *x, uint8_t *dg, int *code, char **cause)
{
	char		 hs[ZC_DIGEST_HEXLEN], hr[ZC_DIGEST_HEXLEN];
	struct xfer_stats sum;

	stripe_digest(x->stripe, dg, &sum);
	x->st.received = sum.received;
	x->st.zc_bytes = sum.zc_bytes;
	x->st.copied = sum.copied;
	x->st.spliced = sum.spliced;
	x->st.cpu_ns += sum.cpu_ns;
	x->next_off = x->f.size;
	if (x->land.fd != -1 && ftruncate(x->land.fd, x->f.size) == -1) {
		*code = errno == ENOSPC || errno == EDQUOT ? ZC_E_NOSPACE :
		    ZC_E_IO;
		*cause = xasprintf("truncate: %s", strerror(errno));
		return (-1);
	}
	if (!stripe_hashing(x->stripe))
		return (0);
	if (x->send.digest_alg == ZC_DIGEST_XXH3_128 &&
	    memcmp(dg, x->send.digest, ZC_DIGEST_LEN) != 0) {
		proto_digest_hex(x->send.digest, hs);
		proto_digest_hex(dg, hr);
		*code = ZC_E_DIGEST;
		*cause = xasprintf("digest mismatch: sender %s, receiver %s "
		    "(tree of %llu chunks)", hs, hr,
		    (unsigned long long)stripe_chunks(x->stripe));
		return (-1);
	}
	return (1);
}

/* Call fn(arg) when a queued write completes. */
void
xfer_on_written(struct xfer *x, void (*fn)(void *), void *arg)
{
	x->written = fn;
	x->written_arg = arg;
}

/*
 * Does a DATA record of len bytes at off fit a stream?  No gaps, nothing
 * after the short record that ends it; beyond its bound, or beyond the
 * free space, it is refused (not a protocol error) before a byte of the
 * record is taken.
 */
static int
xfer_place_stream(struct xfer *x, uint64_t off, uint64_t len, int *code,
    char **cause)
{
	*code = ZC_E_PROTO;
	if (off != x->next_off || x->tail) {
		*cause = xasprintf("DATA %llu@%llu does not fit the stream: "
		    "expected offset %llu%s", (unsigned long long)len,
		    (unsigned long long)off, (unsigned long long)x->next_off,
		    x->tail ? ", after its short last record" : "");
		return (-1);
	}
	if (len > x->f.size - off) {
		*code = ZC_E_SIZE;
		if (x->expect != ZC_SIZE_UNKNOWN)
			*cause = xasprintf("stream longer than the announced "
			    "%llu bytes", (unsigned long long)x->expect);
		else
			*cause = xasprintf("stream over the limit of %llu "
			    "bytes (max_file_size)",
			    (unsigned long long)x->f.size);
		return (-1);
	}
	if (xfer_grant(x, len, code, cause) == -1)
		return (-1);
	x->tail = len % ZC_BLOCK != 0;
	x->next_off = off + len;
	if (x->tail && x->open)		/* nothing may follow: the size */
		sink_resize(&x->sink, x->next_off);
	return (0);
}

/*
 * Does a DATA record of len bytes at off fit?  Offsets ascend without
 * gaps; bodies are block multiples except the one that ends the file.
 * -1 with *code (ZC_E_PROTO: the record breaks the rules) and *cause.
 */
int
xfer_place(struct xfer *x, uint64_t off, uint64_t len, int *code,
    char **cause)
{
	if (x->stream)
		return (xfer_place_stream(x, off, len, code, cause));
	*code = ZC_E_PROTO;
	if (x->v2 && off > x->next_off && off <= x->f.size) {
		/* A hole (version 2): zeros for the digest, nothing written. */
		if (x->open)
			sink_gap(&x->sink, x->next_off, off - x->next_off);
		x->next_off = off;
	}
	if (off != x->next_off || len > x->f.size - off ||
	    (len % ZC_BLOCK != 0 && off + len != x->f.size)) {
		*cause = xasprintf("DATA %llu@%llu does not fit: expected "
		    "offset %llu, file size %llu, block multiples except at "
		    "the end", (unsigned long long)len,
		    (unsigned long long)off, (unsigned long long)x->next_off,
		    (unsigned long long)x->f.size);
		return (-1);
	}
	x->next_off = off + len;
	return (0);
}

/* Write len bytes from buf at off.  -1 with *code and *cause. */
int
xfer_write(struct xfer *x, const void *buf, size_t len, uint64_t off,
    int *code, char **cause)
{
	if (sink_write(&x->sink, buf, len, off, cause) == -1) {
		*code = sink_code(&x->sink);
		return (-1);
	}
	return (0);
}

/*
 * Like xfer_write, but queue the write where it can be: returns 1 when
 * queued (buf stays until xfer_wait(*ticket)), 0 when written.
 */
int
xfer_write_async(struct xfer *x, const void *buf, size_t len, uint64_t off,
    int *ticket, int *code, char **cause)
{
	int	 r;

	if ((r = sink_write_async(&x->sink, buf, len, off, ticket,
	    cause)) == -1)
		*code = sink_code(&x->sink);
	return (r);
}

/*
 * Splice up to len bytes from socket sock to the file at off.  Returns
 * the bytes moved, 0 for none now, -1 with *code, *cause and errno.
 */
ssize_t
xfer_splice(struct xfer *x, int sock, size_t len, uint64_t off, int *code,
    char **cause)
{
	ssize_t	 n;
	int	 e;

	if ((n = sink_splice(&x->sink, sock, len, off, cause)) == -1) {
		e = errno;
		*code = sink_code(&x->sink);
		errno = e;
	}
	return (n);
}

/*
 * Settle the queued write of ticket: the event loop calls it once
 * xfer_written() says it will not wait.  -1 if it failed while the file
 * was still open (a failed file's writes count no more).
 */
int
xfer_wait(struct xfer *x, int ticket, int *code, char **cause)
{
	char	*why = NULL;

	if (x->sink.ring == NULL)
		return (0);	/* the sink has settled them all */
	if (sink_wait(&x->sink, ticket, &why) == -1 && x->open) {
		*code = sink_code(&x->sink);
		*cause = why;
		return (-1);
	}
	free(why);
	return (0);
}

/* Is the queued write of ticket done? */
int
xfer_written(struct xfer *x, int ticket)
{
	if (x->sink.ring == NULL)
		return (1);
	sink_reap(&x->sink);
	return (sink_done(&x->sink, ticket));
}

/* May the next bytes be written without waiting for the disk? */
int
xfer_ready(struct xfer *x)
{
	return (!x->open || sink_ready(&x->sink));
}

/* Are all the file's queued writes done (xfer_finish will not wait)? */
int
xfer_idle(struct xfer *x)
{
	return (!x->open || sink_idle(&x->sink));
}

/* Account n payload bytes taken off a socket by the given path. */
void
xfer_took(struct xfer *x, size_t n, enum rx_kind how)
{
	STAT_ADD(bytes, n);
	x->st.received += n;
	if (x->piece)
		stripe_took(x->stripe, n);
	switch (how) {
	case RX_MAP:
		STAT_ADD(zc_bytes, n);
		x->st.zc_bytes += n;
		break;
	case RX_SPLICE:
		STAT_ADD(spliced, n);
		x->st.spliced += n;
		break;
	default:
		STAT_ADD(copied, n);
		x->st.copied += n;
		break;
	}
}

/*
 * All payload is in (END): check the size, complete the digest into dg
 * and compare it with the sender's.  Returns 1 with dg set, 0 when not
 * verifying, -1 with *code and *cause.
 */
int
xfer_finish(struct xfer *x, const struct zc_end *e, uint8_t *dg, int *code,
    char **cause)
{
	char	 hs[ZC_DIGEST_HEXLEN], hr[ZC_DIGEST_HEXLEN];
	int	 hole = 0;

	if (x->stream) {
		/* The size is known now (EOS, checked by the caller). */
		x->f.size = x->next_off;
		sink_resize(&x->sink, x->next_off);
		if (x->expect != ZC_SIZE_UNKNOWN && x->expect != x->next_off) {
			*code = ZC_E_SIZE;
			*cause = xasprintf("stream ended after %llu of the "
			    "announced %llu bytes",
			    (unsigned long long)x->next_off,
			    (unsigned long long)x->expect);
			return (-1);
		}
	}
	if (x->v2 && x->next_off < x->f.size) {
		/* The file ends in a hole. */
		sink_gap(&x->sink, x->next_off, x->f.size - x->next_off);
		x->next_off = x->f.size;
		hole = 1;
	}
	if (x->next_off != x->f.size) {
		*code = ZC_E_SIZE;
		*cause = xasprintf("file ended after %llu of %llu bytes",
		    (unsigned long long)x->next_off,
		    (unsigned long long)x->f.size);
		return (-1);
	}
	if (sink_finish(&x->sink, dg, cause) == -1) {
		*code = ZC_E_IO;
		return (-1);
	}
	if (hole && x->land.fd != -1 && ftruncate(x->land.fd, x->f.size) ==
	    -1) {
		*code = errno == ENOSPC || errno == EDQUOT ? ZC_E_NOSPACE :
		    ZC_E_IO;
		*cause = xasprintf("truncate: %s", strerror(errno));
		return (-1);
	}
	if (!sink_verifying(&x->sink))
		return (0);
	if (e->digest_alg == ZC_DIGEST_XXH3_128 &&
	    memcmp(dg, e->digest, ZC_DIGEST_LEN) != 0) {
		proto_digest_hex(e->digest, hs);
		proto_digest_hex(dg, hr);
		*code = ZC_E_DIGEST;
		*cause = xasprintf("digest mismatch: sender %s, receiver %s",
		    hs, hr);
		return (-1);
	}
	return (1);
}

/* Land the file under its name and log it; dg may be NULL. */
int
xfer_commit(struct xfer *x, const uint8_t *dg, int *code, char **cause)
{
	if (!(x->io->flags & IO_NO_FILE) && land_commit(&x->land, x->dest,
	    x->f.mode, NULL, code, cause) == -1)
		return (-1);
	xfer_end(x, ZC_OK, "landed", dg);
	return (0);
}

/*
 * Version 2: hand the entry to the lander, which syncs, renames and fsyncs
 * it with others of its batch; xfer_landed() ends it.  dg (may be NULL) is
 * the digest of a file already received.
 */
void
xfer_land_async(struct xfer *x, const uint8_t *dg)
{
	if (dg != NULL) {
		memcpy(x->dg, dg, ZC_DIGEST_LEN);
		x->has_dg = 1;
	}
	x->queued = 1;
	lander_queue(x->w->lander, xfer_ref(x));
}

/* Back from the lander (event loop): log the outcome, answer, let go. */
void
xfer_landed(struct xfer *x)
{
	x->queued = 0;
	if (x->lcode == ZC_OK)
		xfer_end(x, ZC_OK, x->kind == ZC_K_FILE ? "landed" :
		    "created", x->has_dg ? x->dg : NULL);
	else
		xfer_end(x, x->lcode, x->lcause, NULL);
	if (x->conn != NULL && x->landed != NULL)
		x->landed(x);
	xfer_unref(x);
}

/*
 * The file failed with code (PEER_GONE: the peer left): remove the staging
 * file and log why.  A file that never opened and whose peer just left
 * is not worth a line: nothing was refused, nothing received.
 */
void
xfer_abort(struct xfer *x, int code, const char *msg)
{
	if (x->ended)
		return;
	if (!x->open && code == PEER_GONE) {
		x->ended = 1;
		return;
	}
	log_debug("%s: %s: %s", x->peer, x->f.name, msg);
	xfer_end(x, code, msg, NULL);
}

/* Name of the sink bytes go to now ("none" before xfer_open). */
const char *
xfer_sink_name(const struct xfer *x)
{
	if (x->stripe != NULL && !x->piece)
		return ("striped");
	return (x->open ? sink_name(x->sink.kind) : "none");
}

/*
 * A piece ends: its chunk is given to the file (xfer_piece_finish), or
 * the whole file fails with it.  Pieces are not logged: their file is.
 */
static void
xfer_end_piece(struct xfer *x, int code, const char *msg)
{
	char	*why;

	if (x->open) {
		STAT_ADD(loop_writes, x->sink.sync_writes);
		sink_close(&x->sink);
		if (x->ev_aio != NULL && x->sink.ring == NULL)
			event_del(x->ev_aio);
		x->w->busy--;
	}
	if (code != ZC_OK) {
		why = xasprintf("stripe connection %s: %s (chunk %llu)",
		    x->peer, msg, (unsigned long long)x->chunk_idx);
		stripe_fail(x->stripe, code == PEER_GONE ? ZC_E_IO : code, why);
		free(why);
	}
	x->open = 0;
	x->ended = 1;
}

/*
 * The striped file x ends: once landed, no chunk may find it any more;
 * failed, its chunks still on the way are thrown away (stripe_bury).  The
 * workers that carried its chunks go to the log.
 */
static void
xfer_end_striped(struct xfer *x, int code, const char *msg)
{
	if (code != ZC_OK) {
		stripe_fail(x->stripe, code, msg);
		stripe_bury(x->stripe);
	} else
		stripe_detach(x->stripe);
	if (x->ev_stripe != NULL)
		event_del(x->ev_stripe);
	if (x->ev_stripe_tm != NULL)
		event_del(x->ev_stripe_tm);
	x->stripe_cb = NULL;
	if (x->st.received == 0)
		x->st.received = stripe_progress(x->stripe);
	free((char *)x->st.stripes);
	x->st.stripes = stripe_workers(x->stripe);
}

/*
 * The file failed: its staging file goes, but a resumed file's partial
 * stays for the next attempt, unless its digest failed (then what it
 * holds cannot be trusted: the keeper removes it).
 */
static void
xfer_unstage(struct xfer *x, int code)
{
	if (x->stripe == NULL || !stripe_resumed(x->stripe)) {
		land_abort(&x->land);
		return;
	}
	land_release(&x->land);
	if (code == ZC_E_DIGEST)
		keep_drop(x->stripe);
}

/* Release what the file holds and log how it ended. */
static void
xfer_end(struct xfer *x, int code, const char *msg, const uint8_t *dg)
{
	const char	*dest;

	if (x->piece) {
		xfer_end_piece(x, code, msg);
		return;
	}
	if (x->stripe != NULL)
		xfer_end_striped(x, code, msg);
	if (x->stream)
		x->f.size = x->next_off;	/* not the bound: logged */
	dest = x->dest != NULL ? x->dest->name : x->f.dest[0] != '\0' ?
	    x->f.dest : "default";
	tlog_file(x->peer, dest, xfer_name(x), x->path != NULL ? x->path_len :
	    x->f.name_len < ZC_NAME_MAX ? x->f.name_len : ZC_NAME_MAX, &x->f,
	    &x->st, xfer_sink_name(x),
	    x->open ? x->io->name : "none", code, msg, dg);
	metrics_file(dest, code, x->st.received,
	    util_now_ns() - x->st.start_ns);
	if (x->open) {
		STAT_ADD(loop_writes, x->sink.sync_writes);
		sink_close(&x->sink);	/* keeps the ring while writes go on */
		if (x->ev_aio != NULL && x->sink.ring == NULL)
			event_del(x->ev_aio);	/* freed with the xfer */
		if (code != ZC_OK)
			xfer_unstage(x, code);
		x->w->busy--;
		STAT_SUB(in_flight, 1);
		if (code == ZC_OK)
			STAT_ADD(files_ok, 1);
		else
			STAT_ADD(files_failed, 1);
	}
	x->open = 0;
	x->ended = 1;
}
