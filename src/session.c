/*
 * session.c -- striping (protocol version 4): sessions of connections, and
 * the striped files they share.
 *
 * Every connection of version 4 begins a session: an id and a secret token
 * of 16 random bytes each, sent to the sender in SESSION.  A further
 * connection that presents both in JOIN is bound to that session instead
 * of its own, up to max_stripes connections in all; it may then carry
 * chunks of the session's striped files, and nothing else.  The files are
 * admitted (names, destination, allow list, key, limits) on the session's
 * first connection alone, so a joined connection has no rights but to
 * fill the chunks of files admitted there.
 *
 * Connections of a session live on different workers, so sessions are
 * found in one table under one lock, and a striped file is a struct stripe
 * of its own, shared by its xfer on the first connection (the owner) and
 * the chunk xfers ("pieces", xfer.c) on any connection, refcounted, its
 * chunk map under a lock of its own.  The owner learns of a finished or
 * failed chunk through an eventfd watched by its worker's loop.
 *
 * The digest of a striped file is the tree of PROTOCOL.md: XXH3-128 over
 * the XXH3-128 digests of its chunks, in chunk order, which each
 * connection computes for the chunks it carries.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zcrecvd.h"

/* XXH3 with the library's runtime choice of SSE2, AVX2 or AVX-512. */
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#define STRIPE_BURIED_MAX	16	/* failed files a session keeps */

enum chunk_state {
	CHUNK_FREE,		/* no CHUNK for it yet */
	CHUNK_TAKEN,		/* its CHUNK came; its DATA are coming */
	CHUNK_DONE,		/* written, and hashed where verifying */
	CHUNK_KEPT,		/* resume: durable and in the sidecar */
};

struct session {
	int			 refs;		/* under sessions_lock */
	uint8_t			 id[ZC_SESSION_ID_LEN];
	uint8_t			 token[ZC_TOKEN_LEN];
	int			 closed;	/* its first connection left */
	int			 conns;		/* connections bound to it */
	LIST_ENTRY(session)	 entry;
	LIST_HEAD(, stripe)	 stripes;	/* files striped in it */
};

struct stripe {
	int			 refs;		/* atomic */
	pthread_mutex_t		 lock;		/* what follows the id */
	struct session		*sess;		/* while listed */
	LIST_ENTRY(stripe)	 entry;
	int			 listed;
	int			 buried;	/* failed; listed, held by the
						   session */
	uint64_t		 id;		/* the entry's, on the owner */

	/* Set once, read by every thread. */
	uint64_t		 size;
	uint32_t		 chunk;
	uint64_t		 nchunks;
	int			 hashing;	/* the destination verifies */
	int			 nofile;	/* io = discard */
	int			 dirfd;		/* the staging file's directory */
	char			 staging[LAND_NAME_BUF];
	struct conf		*conf;		/* referenced: dest lives on */
	struct dest		*dest;
	int			 efd;		/* tells the owner */

	/* Under lock. */
	uint8_t			*state;		/* enum chunk_state, each */
	uint8_t			*dg;		/* ZC_DIGEST_LEN, each */
	uint64_t		 ndone;
	int			 code;		/* ZC_OK, or why it failed */
	char			*msg;
	struct xfer_stats	 sum;		/* of the chunks done */
	int			 nw;		/* workers */
	uint64_t		*wbytes;	/* carried, per worker */
	uint64_t		*wchunks;

	uint64_t		 bytes;		/* atomic: received, for the
						   owner's stall timer */

	/*
	 * Resume (version 5): the partial, set up by the keeper's check
	 * (ready), then chunks made durable by its syncs, one at a time
	 * (keeplock, also held to remove the sidecar).
	 */
	int			 resume;
	struct keep_key		 key;
	char			 sidecar[LAND_NAME_BUF];
	int			 keep_secs;	/* resume_keep */
	int			 claimed;	/* keep_claim'ed its name */
	uint64_t		 claim_since;
	pthread_mutex_t		 keeplock;
	int			 keepfd;	/* the partial, for syncs */
	int			 ready;		/* under lock: checked */
	struct landing		 kland;		/* ... for the owner */
	uint64_t		 kept;		/* ... bytes kept */
	int			 sync_queued;	/* under lock */
	int			 dropped;	/* under keeplock */
	int			 settled;	/* under keeplock: landed */
};

static pthread_mutex_t		 sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, session)	 sessions = LIST_HEAD_INITIALIZER(sessions);

/* Drop a reference to s; the caller holds sessions_lock. */
static void
session_unref_locked(struct session *s)
{
	if (--s->refs > 0)
		return;
	if (!s->closed)
		LIST_REMOVE(s, entry);
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
}

/* A new session, for a connection that spoke version 4: it holds it. */
struct session *
session_new(void)
{
	struct session	*s = xcalloc(1, sizeof(*s));

	auth_random(s->id, sizeof(s->id));
	auth_random(s->token, sizeof(s->token));
	s->refs = 1;
	s->conns = 1;
	LIST_INIT(&s->stripes);
	pthread_mutex_lock(&sessions_lock);
	LIST_INSERT_HEAD(&sessions, s, entry);
	pthread_mutex_unlock(&sessions_lock);
	return (s);
}

/* The id and token of s, for SESSION. */
void
session_ids(const struct session *s, uint8_t *id, uint8_t *token)
{
	memcpy(id, s->id, ZC_SESSION_ID_LEN);
	memcpy(token, s->token, ZC_TOKEN_LEN);
}

/*
 * Bind a connection to the session of id, if token is its token, it is
 * still open, and it has fewer than max connections.  Returns it,
 * referenced, or NULL with *cause.  Every refusal says the same to the
 * peer but the limit, so that a guesser learns nothing of which sessions
 * exist.
 */
struct session *
session_join(const uint8_t *id, const uint8_t *token, int max, char **cause)
{
	struct session	*s;
	int		 ok;

	pthread_mutex_lock(&sessions_lock);
	LIST_FOREACH(s, &sessions, entry)
		if (memcmp(s->id, id, ZC_SESSION_ID_LEN) == 0)
			break;
	ok = s != NULL && auth_token_equal(s->token, token, ZC_TOKEN_LEN) &&
	    !s->closed;
	if (ok && s->conns >= max) {
		pthread_mutex_unlock(&sessions_lock);
		*cause = xasprintf("session has %d connections already "
		    "(max_stripes)", max);
		return (NULL);
	}
	if (!ok) {
		pthread_mutex_unlock(&sessions_lock);
		*cause = xstrdup("no such session, or wrong token");
		return (NULL);
	}
	s->conns++;
	s->refs++;
	pthread_mutex_unlock(&sessions_lock);
	return (s);
}

/*
 * A connection of s leaves.  When it is the first (owner), the session
 * closes: nobody may join it any more.
 */
void
session_leave(struct session *s, int owner)
{
	struct stripe	*st, *next, *dead = NULL;

	pthread_mutex_lock(&sessions_lock);
	s->conns--;
	if (owner && !s->closed) {
		LIST_REMOVE(s, entry);
		s->closed = 1;
		/* Nothing can find its files any more. */
		for (st = LIST_FIRST(&s->stripes); st != NULL; st = next) {
			next = LIST_NEXT(st, entry);
			LIST_REMOVE(st, entry);
			st->listed = 0;
			st->sess = NULL;
			if (st->buried) {
				st->sess = (struct session *)dead;
				dead = st;
			}
		}
	}
	session_unref_locked(s);
	pthread_mutex_unlock(&sessions_lock);
	for (st = dead; st != NULL; st = next) {
		next = (struct stripe *)st->sess;
		st->sess = NULL;
		stripe_unref(st);
	}
}

/*
 * Does the session have a striped file in flight (not failed)?  Its
 * joined connections are then kept through a graceful shutdown, for the
 * chunks still to come.
 */
int
session_striping(struct session *s)
{
	struct stripe	*st;
	int		 n = 0;

	pthread_mutex_lock(&sessions_lock);
	LIST_FOREACH(st, &s->stripes, entry)
		n += !st->buried;
	pthread_mutex_unlock(&sessions_lock);
	return (n > 0);
}

/* Is the session's first connection gone? */
int
session_closed(struct session *s)
{
	int	 closed;

	pthread_mutex_lock(&sessions_lock);
	closed = s->closed;
	pthread_mutex_unlock(&sessions_lock);
	return (closed);
}

/* Tell the owner that a chunk finished or the file failed. */
static void
stripe_notify(struct stripe *st)
{
	uint64_t	 one = 1;

	if (write(st->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_warn("stripe: eventfd");
}

/*
 * The striped file of xfer x (admitted, its staging file created) in
 * session s, in chunks of chunk bytes.  Returns it, held once by the
 * caller, or NULL with *cause: an id already striped in the session.
 */
struct stripe *
stripe_new(struct session *s, struct xfer *x, uint32_t chunk, int nw,
    char **cause)
{
	struct stripe	*st, *o, *old = NULL;

	pthread_mutex_lock(&sessions_lock);
	LIST_FOREACH(o, &s->stripes, entry)
		if (o->id == x->id)
			break;
	if (o != NULL && !o->buried) {
		pthread_mutex_unlock(&sessions_lock);
		*cause = xasprintf("entry %llu is striped already",
		    (unsigned long long)x->id);
		return (NULL);
	}
	if (o != NULL) {	/* a failed file's id, used again */
		LIST_REMOVE(o, entry);
		o->listed = 0;
		o->sess = NULL;
		old = o;
	}
	st = xcalloc(1, sizeof(*st));
	st->refs = 1;
	pthread_mutex_init(&st->lock, NULL);
	st->id = x->id;
	st->size = x->f.size;
	st->chunk = chunk;
	st->nchunks = proto_chunk_count(x->f.size, chunk);
	st->hashing = x->dest->verify;
	st->nofile = (x->io->flags & IO_NO_FILE) != 0;
	st->dirfd = -1;
	st->keepfd = -1;
	st->kland.fd = st->kland.dirfd = -1;
	pthread_mutex_init(&st->keeplock, NULL);
	if (!st->nofile && x->land.dirfd != -1 && (st->dirfd =
	    fcntl(x->land.dirfd, F_DUPFD_CLOEXEC, 0)) == -1)
		fatal("stripe: dup");
	memcpy(st->staging, x->land.staging, sizeof(st->staging));
	st->conf = conf_ref(x->conf);
	st->dest = x->dest;
	if ((st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("stripe: eventfd");
	st->state = xcalloc(st->nchunks + 1, 1);
	st->dg = xcalloc(st->nchunks + 1, ZC_DIGEST_LEN);
	st->nw = nw;
	st->wbytes = xcalloc(nw, sizeof(*st->wbytes));
	st->wchunks = xcalloc(nw, sizeof(*st->wchunks));
	st->sess = s;
	st->listed = 1;
	LIST_INSERT_HEAD(&s->stripes, st, entry);
	pthread_mutex_unlock(&sessions_lock);
	if (old != NULL)
		stripe_unref(old);
	return (st);
}

/* The striped file of session s with entry id, referenced; or NULL. */
struct stripe *
stripe_find(struct session *s, uint64_t id)
{
	struct stripe	*st;

	pthread_mutex_lock(&sessions_lock);
	LIST_FOREACH(st, &s->stripes, entry)
		if (st->id == id)
			break;
	if (st != NULL)
		__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sessions_lock);
	return (st);
}

/*
 * The file failed: it stays where chunks find it, held by its session,
 * so that chunks still on the way (sent before the sender heard) are
 * thrown away rather than taken for a protocol error; until the session
 * closes or the sender uses the id again.  A session keeps at most
 * STRIPE_BURIED_MAX of them (each holds two descriptors).
 */
void
stripe_bury(struct stripe *st)
{
	struct stripe	*o;
	int		 n = 0;

	pthread_mutex_lock(&sessions_lock);
	if (st->listed && !st->buried) {
		LIST_FOREACH(o, &st->sess->stripes, entry)
			n += o->buried;
		if (n < STRIPE_BURIED_MAX) {
			st->buried = 1;
			__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
		} else {	/* a session failing file after file */
			LIST_REMOVE(st, entry);
			st->listed = 0;
			st->sess = NULL;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
}

/* Is it a failed file, kept for its chunks still on the way? */
int
stripe_buried(struct stripe *st)
{
	int	 b;

	pthread_mutex_lock(&sessions_lock);
	b = st->buried;
	pthread_mutex_unlock(&sessions_lock);
	return (b);
}

/* The file has landed: no chunk can find it any more. */
void
stripe_detach(struct stripe *st)
{
	pthread_mutex_lock(&sessions_lock);
	if (st->listed)
		LIST_REMOVE(st, entry);
	st->listed = 0;
	st->sess = NULL;
	pthread_mutex_unlock(&sessions_lock);
}

/* Take a reference. */
struct stripe *
stripe_ref(struct stripe *st)
{
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
	return (st);
}

/* Drop a reference; the last one frees, on whichever thread it is. */
void
stripe_unref(struct stripe *st)
{
	if (__atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (st->listed)
		stripe_detach(st);
	if (st->dirfd != -1)
		close(st->dirfd);
	if (st->keepfd != -1)
		close(st->keepfd);
	land_release(&st->kland);
	if (st->claimed)
		keep_unclaim(st->staging);
	pthread_mutex_destroy(&st->keeplock);
	close(st->efd);
	conf_unref(st->conf);
	pthread_mutex_destroy(&st->lock);
	free(st->state);
	free(st->dg);
	free(st->wbytes);
	free(st->wchunks);
	free(st->msg);
	free(st);
}

/* Accessors for the chunk xfers and the owner. */
int
stripe_efd(const struct stripe *st)
{
	return (st->efd);
}

uint64_t
stripe_size(const struct stripe *st)
{
	return (st->size);
}

struct dest *
stripe_dest(const struct stripe *st, struct conf **conf)
{
	*conf = st->conf;
	return (st->dest);
}

int
stripe_hashing(const struct stripe *st)
{
	return (st->hashing);
}

int
stripe_nofile(const struct stripe *st)
{
	return (st->nofile);
}

/* Bytes received so far in all chunks (the owner's stall timer). */
uint64_t
stripe_progress(const struct stripe *st)
{
	return (__atomic_load_n(&st->bytes, __ATOMIC_RELAXED));
}

/* n more bytes of a chunk came off a socket. */
void
stripe_took(struct stripe *st, uint64_t n)
{
	__atomic_add_fetch(&st->bytes, n, __ATOMIC_RELAXED);
}

/*
 * CHUNK ch came for the file: is it on the grid, and not sent before?
 * Returns 0 with *idx (it is the connection's to fill now), 1 when the
 * file has failed already (its bytes are to be thrown away), -1 with
 * *cause (a protocol error).
 */
int
stripe_claim(struct stripe *st, const struct zc_chunk *ch, uint64_t *idx,
    char **cause)
{
	int	 r = 0;

	if (proto_chunk_fits(st->size, st->chunk, ch, idx, cause) == -1)
		return (-1);
	pthread_mutex_lock(&st->lock);
	if (st->code != ZC_OK)
		r = 1;
	else if (st->resume && st->ready < 2) {
		*cause = xasprintf("CHUNK for entry %llu before its ACCEPT",
		    (unsigned long long)st->id);
		r = -1;
	} else if (st->state[*idx] != CHUNK_FREE) {
		*cause = xasprintf("CHUNK at %llu of entry %llu sent twice",
		    (unsigned long long)ch->offset,
		    (unsigned long long)st->id);
		r = -1;
	} else
		st->state[*idx] = CHUNK_TAKEN;
	pthread_mutex_unlock(&st->lock);
	return (r);
}

/* A descriptor of the staging file for a chunk's sink, or -1 (errno). */
int
stripe_open(const struct stripe *st)
{
	return (openat(st->dirfd, st->staging, O_WRONLY | O_CLOEXEC |
	    O_NOFOLLOW));
}

/*
 * Chunk idx is written (dg: its digest, or NULL when not verifying), by a
 * connection of worker wid, with the statistics in ps.
 */
void
stripe_done(struct stripe *st, uint64_t idx, const uint8_t *dg,
    const struct xfer_stats *ps, int wid)
{
	int	 all, sync;

	pthread_mutex_lock(&st->lock);
	st->state[idx] = CHUNK_DONE;
	st->ndone++;
	if (dg != NULL)
		memcpy(st->dg + idx * ZC_DIGEST_LEN, dg, ZC_DIGEST_LEN);
	st->sum.received += ps->received;
	st->sum.zc_bytes += ps->zc_bytes;
	st->sum.copied += ps->copied;
	st->sum.spliced += ps->spliced;
	st->sum.cpu_ns += ps->cpu_ns;
	if (wid >= 0 && wid < st->nw) {
		st->wbytes[wid] += ps->received;
		st->wchunks[wid]++;
	}
	all = st->ndone == st->nchunks && st->code == ZC_OK;
	sync = st->resume && !st->sync_queued;
	st->sync_queued |= sync;
	pthread_mutex_unlock(&st->lock);
	if (sync)
		keep_sync(st);
	if (all)
		stripe_notify(st);
}

/* The file fails with code and msg (the first failure wins). */
void
stripe_fail(struct stripe *st, int code, const char *msg)
{
	int	 first;

	pthread_mutex_lock(&st->lock);
	if ((first = st->code == ZC_OK)) {
		st->code = code;
		st->msg = xstrdup(msg);
	}
	pthread_mutex_unlock(&st->lock);
	if (first)
		stripe_notify(st);
}

/*
 * Where is the file?  1: every chunk is in; 0: chunks are missing (*have
 * of them in); -1: failed, with *code and *msg (the caller frees it).
 */
int
stripe_state(struct stripe *st, uint64_t *have, int *code, char **msg)
{
	int	 r;

	pthread_mutex_lock(&st->lock);
	*have = st->ndone;
	if (st->code != ZC_OK) {
		*code = st->code;
		*msg = xstrdup(st->msg);
		r = -1;
	} else
		r = st->ndone == st->nchunks;
	pthread_mutex_unlock(&st->lock);
	return (r);
}

/* The chunks of the file, for messages. */
uint64_t
stripe_chunks(const struct stripe *st)
{
	return (st->nchunks);
}

/*
 * The tree digest of a complete file into dg: XXH3-128 over the chunk
 * digests in chunk order; with the statistics of all chunks in *sum.
 */
void
stripe_digest(struct stripe *st, uint8_t *dg, struct xfer_stats *sum)
{
	XXH128_canonical_t	 canon;

	pthread_mutex_lock(&st->lock);
	XXH128_canonicalFromHash(&canon, XXH3_128bits(st->dg, st->nchunks *
	    ZC_DIGEST_LEN));
	memcpy(dg, canon.digest, ZC_DIGEST_LEN);
	sum->received = st->sum.received;
	sum->zc_bytes = st->sum.zc_bytes;
	sum->copied = st->sum.copied;
	sum->spliced = st->sum.spliced;
	sum->cpu_ns = st->sum.cpu_ns;
	pthread_mutex_unlock(&st->lock);
}

/*
 * Which worker carried what, for the transfer log: a JSON array of
 * {"worker":N,"chunks":N,"carried":BYTES}, workers that carried nothing
 * left out.  The caller frees it.
 */
char *
stripe_workers(struct stripe *st)
{
	char	 buf[4096];
	size_t	 o = 0;
	int	 i, n = 0;

	util_addf(buf, sizeof(buf), &o, "[");
	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->nw; i++)
		if (st->wchunks[i] > 0)
			util_addf(buf, sizeof(buf), &o, "%s{\"worker\":%d,"
			    "\"chunks\":%llu,\"carried\":%llu}", n++ ? "," : "",
			    i, (unsigned long long)st->wchunks[i],
			    (unsigned long long)st->wbytes[i]);
	pthread_mutex_unlock(&st->lock);
	util_addf(buf, sizeof(buf), &o, "]");
	return (xstrdup(buf));
}

/*
 * The striped file st is resumable (version 5): its partial is the one
 * of key k, named name, kept keep seconds.  The keeper's check
 * (keep_check) opens it and says which chunks it holds.
 */
void
stripe_resume(struct stripe *st, const struct keep_key *k, const char *name,
    int keep)
{
	st->resume = 1;
	st->hashing = 1;	/* the sidecar and the tree need the digests,
				   whatever the destination's verify says */
	st->key = *k;
	st->keep_secs = keep;
	st->claim_since = util_now_ns();
	snprintf(st->staging, sizeof(st->staging), "%s", name);
	snprintf(st->sidecar, sizeof(st->sidecar), "%.*s%s",
	    (int)(strlen(name) - strlen(LAND_KEEP_SUFFIX)), name,
	    LAND_KEEP_SIDECAR);
}

/* Is it a resumed file? */
int
stripe_resumed(const struct stripe *st)
{
	return (st->resume);
}

/* Is the keeper still checking the partial of the resumed file st? */
int
stripe_checking(struct stripe *st)
{
	int	 r;

	pthread_mutex_lock(&st->lock);
	r = st->resume && st->ready < 2;
	pthread_mutex_unlock(&st->lock);
	return (r);
}

/*
 * Has the keeper's check of the resumed file st come back?  1: yes, with
 * the partial's landing moved to *l, the chunks still needed in need (the
 * bitmap of ACCEPT) and the bytes kept in *kept; 0: not yet; -1: the file
 * failed, with *code and *msg (the caller frees it).
 */
int
stripe_resume_ready(struct stripe *st, struct landing *l, uint8_t *need,
    uint64_t *kept, int *code, char **msg)
{
	uint64_t	 i;
	int		 r = 0;

	pthread_mutex_lock(&st->lock);
	if (st->code != ZC_OK) {
		*code = st->code;
		*msg = xstrdup(st->msg);
		r = -1;
	} else if (st->ready == 1) {
		st->ready = 2;
		*l = st->kland;
		st->kland.fd = st->kland.dirfd = -1;
		memset(need, 0, proto_need_len(st->nchunks));
		for (i = 0; i < st->nchunks; i++)
			if (st->state[i] == CHUNK_FREE)
				need[i / 8] |= 1U << (i % 8);
		*kept = st->kept;
		r = 1;
	}
	pthread_mutex_unlock(&st->lock);
	return (r);
}

/*
 * Remove, in dirfd, the partials (and sidecars) of older versions of the
 * file whose partial is name: the same first half of the name (identity,
 * destination, path), another second half (size, mtime, chunk size).
 */
static void
stripe_keep_forget(int dirfd, const char *name)
{
	struct dirent	*de;
	DIR		*dir;
	const char	*sfx;
	size_t		 pre = sizeof(LAND_STAGING_PREFIX) - 1;
	int		 fd, n = 0;

	if ((fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (!land_keep_form(de->d_name, &sfx) ||
		    strncmp(de->d_name, name, pre + LAND_KEEP_HEX / 2) != 0 ||
		    strncmp(de->d_name, name, pre + LAND_KEEP_HEX) == 0)
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0)
			n += strcmp(sfx, LAND_KEEP_SUFFIX) == 0;
	}
	closedir(dir);
	if (n > 0)
		log_info("removed %d resume partial%s of an older version",
		    n, n == 1 ? "" : "s");
}

/*
 * Hash what the partial fd holds of the chunks kept[] says were kept, in
 * the grid of st, and clear those whose digest is not the one recorded in
 * dg (damaged, or cut short).  Returns how many were damaged.
 */
static uint64_t
stripe_keep_recheck(struct stripe *st, int fd, uint8_t *kept,
    const uint8_t *dg)
{
	XXH128_canonical_t	 canon;
	XXH3_state_t		*hs;
	uint8_t			*buf = xmalloc(RX_BOUNCE);
	uint64_t		 i, off, end, bad = 0;
	ssize_t			 n = 0;

	if ((hs = XXH3_createState()) == NULL)
		fatalx("XXH3_createState");
	for (i = 0; i < st->nchunks; i++) {
		if (!kept[i])
			continue;
		XXH3_128bits_reset(hs);
		off = i * st->chunk;
		end = st->size - off < st->chunk ? st->size : off + st->chunk;
		for (; off < end; off += n) {
			n = pread(fd, buf, end - off < RX_BOUNCE ? end - off :
			    RX_BOUNCE, off);
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n <= 0)
				break;
			XXH3_128bits_update(hs, buf, n);
		}
		XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(hs));
		if (off < end || memcmp(canon.digest, dg + i * ZC_DIGEST_LEN,
		    ZC_DIGEST_LEN) != 0) {
			kept[i] = 0;
			bad++;
		}
	}
	XXH3_freeState(hs);
	free(buf);
	return (bad);
}

/*
 * Keeper: a partial not touched for resume_keep is not used: it is
 * emptied and its sidecar removed.  Returns 1 if it was.
 */
static int
stripe_keep_expire(struct stripe *st, struct landing *l)
{
	struct stat	 sb;

	if (fstat(l->fd, &sb) == -1 || sb.st_mtime > time(NULL) -
	    st->keep_secs)
		return (0);
	if (ftruncate(l->fd, 0) == -1)
		log_warn("%s: truncate expired partial", l->path);
	if (unlinkat(l->dirfd, st->sidecar, 0) == -1 && errno != ENOENT)
		log_warn("%s: remove sidecar", l->path);
	log_info("%s: resume partial older than resume_keep (%d s) removed",
	    l->path, st->keep_secs);
	return (1);
}

/*
 * Keeper: what the sidecar of the partial says it holds, re-checked
 * against the partial's bytes, into kept[] and dg.  A sidecar that is not
 * to be trusted is removed.  Returns the chunks kept.
 */
static uint64_t
stripe_keep_read(struct stripe *st, struct landing *l, uint8_t *kept,
    uint8_t *dg)
{
	char		*cause = NULL;
	int64_t		 m;
	uint64_t	 bad;

	m = keep_sidecar_read(l->dirfd, st->sidecar, &st->key, kept, dg,
	    &cause);
	if (m == -1) {
		log_warnx("%s: resume sidecar discarded: %s", l->path, cause);
		free(cause);
		memset(kept, 0, st->nchunks);
		if (unlinkat(l->dirfd, st->sidecar, 0) == -1 &&
		    errno != ENOENT)
			log_warn("%s: remove sidecar", l->path);
		return (0);
	}
	if (m == 0)
		return (0);
	if ((bad = stripe_keep_recheck(st, l->fd, kept, dg)) > 0)
		log_warnx("%s: %llu of %lld kept chunks damaged: sent again",
		    l->path, (unsigned long long)bad, (long long)m);
	return (m - bad);
}

/* Keeper: the check is done: the partial's chunks to the file. */
static void
stripe_keep_set(struct stripe *st, struct landing *l, const uint8_t *kept,
    const uint8_t *dg)
{
	uint64_t	 i, bytes = 0, n = 0;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->nchunks; i++) {
		if (!kept[i] || st->state[i] != CHUNK_FREE)
			continue;
		st->state[i] = CHUNK_KEPT;
		memcpy(st->dg + i * ZC_DIGEST_LEN, dg + i * ZC_DIGEST_LEN,
		    ZC_DIGEST_LEN);
		st->ndone++;
		n++;
		bytes += st->size - i * st->chunk < st->chunk ?
		    st->size - i * st->chunk : st->chunk;
	}
	st->kept = bytes;
	st->kland = *l;
	if ((st->dirfd = fcntl(l->dirfd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (st->keepfd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0)) == -1)
		fatal("stripe: dup");
	st->ready = 1;
	pthread_mutex_unlock(&st->lock);
	if (n > 0)
		log_info("%s: resuming: %llu of %llu chunks kept (%llu bytes)",
		    l->path, (unsigned long long)n,
		    (unsigned long long)st->nchunks, (unsigned long long)bytes);
}

/*
 * Keeper: open the partial of the resumed file st (made where missing),
 * remove those of older versions, and find which chunks it holds: those
 * its sidecar records whose bytes still hash to the digests recorded.
 * The owner hears through the eventfd (stripe_resume_ready).
 */
void
stripe_keep_check(struct stripe *st)
{
	struct landing	 l;
	uint8_t		*kept, *dg;
	char		*cause = NULL;
	int		 fresh, code;
	uint64_t	 have;
	char		*msg = NULL;

	if (stripe_state(st, &have, &code, &msg) == -1) {
		free(msg);	/* failed meanwhile: nothing to open */
		return;
	}
	if (!st->claimed && keep_claim(st->staging) == -1) {
		if (!keep_claim_expired(st->claim_since)) {
			keep_retry(st);
			return;
		}
		stripe_fail(st, ZC_E_EXISTS, "the partial of this file is in "
		    "use by another transfer");
		return;
	}
	st->claimed = 1;
	if (land_keep_open(&l, st->dest, st->key.path, st->staging, &fresh,
	    &code, &cause) == -1) {
		stripe_fail(st, code, cause);
		free(cause);
		return;
	}
	stripe_keep_forget(l.dirfd, st->staging);
	kept = xcalloc(st->nchunks + 1, 1);
	dg = xcalloc(st->nchunks + 1, ZC_DIGEST_LEN);
	if (!fresh && !stripe_keep_expire(st, &l))
		stripe_keep_read(st, &l, kept, dg);
	if (ftruncate(l.fd, st->size) == -1) {
		code = errno == ENOSPC || errno == EDQUOT || errno == EFBIG ?
		    ZC_E_NOSPACE : ZC_E_IO;
		cause = xasprintf("truncate: %s", strerror(errno));
		stripe_fail(st, code, cause);
		free(cause);
		land_release(&l);
	} else {
		stripe_keep_set(st, &l, kept, dg);
		stripe_notify(st);
	}
	free(kept);
	free(dg);
}

/*
 * Keeper: the chunks written since the last sync are made durable
 * (fdatasync of the partial), then recorded in the sidecar with those
 * recorded before; never a chunk whose bytes might not be on disk.
 */
void
stripe_keep_sync(struct stripe *st)
{
	uint8_t		*pick, *rec, *dg;
	char		*cause = NULL;
	uint64_t	 i, n;

	pick = xcalloc(st->nchunks + 1, 1);
	rec = xcalloc(st->nchunks + 1, 1);
	dg = xcalloc(st->nchunks + 1, ZC_DIGEST_LEN);
	pthread_mutex_lock(&st->keeplock);
	for (;;) {
		pthread_mutex_lock(&st->lock);
		for (i = n = 0; i < st->nchunks; i++) {
			pick[i] = st->state[i] == CHUNK_DONE;
			rec[i] = pick[i] || st->state[i] == CHUNK_KEPT;
			n += pick[i];
		}
		memcpy(dg, st->dg, st->nchunks * ZC_DIGEST_LEN);
		if (n == 0 || st->dropped || st->settled || st->keepfd == -1) {
			st->sync_queued = 0;
			pthread_mutex_unlock(&st->lock);
			break;
		}
		pthread_mutex_unlock(&st->lock);
		if (fdatasync(st->keepfd) == -1)
			cause = xasprintf("fdatasync: %s", strerror(errno));
		else
			keep_sidecar_write(st->dirfd, st->sidecar, &st->key,
			    st->nchunks, rec, dg, &cause);
		pthread_mutex_lock(&st->lock);
		for (i = 0; cause == NULL && i < st->nchunks; i++)
			if (pick[i] && st->state[i] == CHUNK_DONE)
				st->state[i] = CHUNK_KEPT;
		if (cause != NULL)
			st->sync_queued = 0;
		pthread_mutex_unlock(&st->lock);
		if (cause != NULL) {
			log_warnx("%s: resume sidecar: %s", st->key.path,
			    cause);
			free(cause);
			break;
		}
	}
	pthread_mutex_unlock(&st->keeplock);
	free(pick);
	free(rec);
	free(dg);
}

/* Keeper: the partial cannot be trusted (a digest failed): remove it. */
void
stripe_keep_drop(struct stripe *st)
{
	pthread_mutex_lock(&st->keeplock);
	st->dropped = 1;
	if (st->dirfd != -1 && !st->settled) {
		if (unlinkat(st->dirfd, st->staging, 0) == -1 &&
		    errno != ENOENT)
			log_warn("remove %s", st->staging);
		if (unlinkat(st->dirfd, st->sidecar, 0) == -1 &&
		    errno != ENOENT)
			log_warn("remove %s", st->sidecar);
	}
	pthread_mutex_unlock(&st->keeplock);
}

/*
 * Lander: the partial has landed under its name (or was removed when it
 * could not): its sidecar goes, and no sync writes one again.
 */
void
stripe_keep_settle(struct stripe *st)
{
	pthread_mutex_lock(&st->keeplock);
	st->settled = 1;
	if (st->dirfd != -1 && unlinkat(st->dirfd, st->sidecar, 0) == -1 &&
	    errno != ENOENT)
		log_warn("remove %s", st->sidecar);
	pthread_mutex_unlock(&st->keeplock);
}
