/*
 * spread.c -- one file over several connections (zcsend -P, protocol
 * version 4).
 *
 * The run's connection (the first) tells the others its session id and
 * token; each of the N-1 others sends JOIN with them, and gets a thread
 * of its own.  A file larger than one chunk is then announced on the
 * first connection (pipeline.c: ENTRY STRIPED) and, once accepted, its
 * chunks are handed out dynamically: every connection, the first one
 * included (on the main thread, which reads the receiver's answers as it
 * sends), takes the next chunk number from one shared counter, sends
 * CHUNK and the chunk's DATA records, hashes the chunk as it goes, and
 * takes the next.  The digest of the file is the tree of PROTOCOL.md:
 * XXH3-128 over the chunk digests in chunk order, the same the receiver
 * computes, so it does not matter which connection carried what.
 *
 * A connection that fails (send error, ERROR from the receiver) fails the
 * file: the others stop taking chunks and the caller closes the first
 * connection, so the receiver removes the staging file.  Nothing is
 * retried; the next file starts afresh on new connections.
 *
 * The threads touch nothing but their own connection and the job under
 * the lock: they do not log progress (the main thread does) and reap
 * their own zero-copy completions (source_reap_errq).  The mapping of the
 * file stays until every thread is done with the job.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#include "zcsend.h"

/* One file's chunks, being sent. */
struct spread_job {
	const uint8_t	*map;
	int		 fd;		/* the file's, to read from */
	uint64_t	 size;
	uint32_t	 chunk;
	uint64_t	 nchunks;
	uint64_t	 id;		/* the entry's */
	const uint8_t	*need;		/* resume: bitmap of the chunks the
					   receiver needs; NULL: all */
	uint8_t		*dg;		/* ZC_DIGEST_LEN per chunk */
	uint64_t	 next;		/* atomic: the next chunk to take */
	uint64_t	 sent;		/* atomic: payload bytes sent */
	int		 failed;	/* atomic: stop taking chunks */
	char		*err;		/* under lock: the first failure */
	int		 busy;		/* threads on the job */
};

/* A connection joined to the session, and its thread. */
struct spread_conn {
	struct spread	*sp;
	struct peer	 p;
	int		 n;		/* 2 .. N, for messages */
	pthread_t	 thread;
	int		 dead;		/* failed: no more chunks here */
};

struct spread {
	struct peer		*first;		/* counts the others' payload */
	pthread_mutex_t		 lock;
	pthread_cond_t		 go;		/* a job, or quit */
	pthread_cond_t		 done;		/* busy came to 0 */
	struct spread_conn	*c;
	int			 n;		/* joined connections */
	uint64_t		 gen;		/* jobs given */
	int			 quit;
	struct spread_job	 job;
};

/* The chunk size for a file of size bytes: -P's, or more for a huge one. */
uint32_t
spread_chunk(uint64_t size)
{
	uint32_t	 c = opt.chunk;

	while (c < ZC_CHUNK_MAX && proto_chunk_count(size, c) > ZC_CHUNKS_MAX)
		c <<= 1;
	return (c);
}

/*
 * The chunk size of a resumed file of size bytes: --chunk-size if given,
 * else ZS_RESUME_CHUNK (small enough that a broken transfer loses little,
 * large enough that making chunks durable costs little), or more for a
 * file of more than ZC_RESUME_CHUNKS_MAX of them.
 */
uint32_t
spread_resume_chunk(uint64_t size)
{
	uint32_t	 c = opt.chunk_set ? opt.chunk : ZS_RESUME_CHUNK;

	while (c < ZC_CHUNK_MAX && proto_chunk_count(size, c) >
	    ZC_RESUME_CHUNKS_MAX)
		c <<= 1;
	return (c);
}

/* The file fails with the message (the first one is kept). */
static void __attribute__((format(printf, 2, 3)))
spread_fail(struct spread *sp, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&sp->lock);
	if (sp->job.err == NULL)
		sp->job.err = msg;
	else
		free(msg);
	pthread_mutex_unlock(&sp->lock);
	__atomic_store_n(&sp->job.failed, 1, __ATOMIC_RELEASE);
}

/*
 * Send len bytes from b on a joined connection, MSG_ZEROCOPY for whole
 * pages: as source_push, with this connection's completions only.
 */
static int
spread_push(struct peer *p, const uint8_t *b, size_t len, int zc, int eor)
{
	ssize_t	 n;
	int	 flags, nobufs = 0;

	flags = (zc && p->zc ? MSG_ZEROCOPY : 0) | (eor ? MSG_EOR : 0);
	while (len > 0) {
		if ((n = peer_send1(p, b, len, flags)) == -1) {
			if (errno != ENOBUFS || !(flags & MSG_ZEROCOPY))
				return (-1);
			source_reap_errq(p);
			if (++nobufs >= 3)
				flags &= ~MSG_ZEROCOPY;
			continue;
		}
		if (flags & MSG_ZEROCOPY)
			p->zs.sent++;
		b += n;
		len -= n;
	}
	if (p->zc)
		source_reap_errq(p);
	return (0);
}

/*
 * Chunk i, [off, end), the receiver has already (resume): not sent, only
 * hashed for the tree digest, which covers every chunk.  0, or -1 with
 * errno (EFAULT: the file was cut short).
 */
static int
spread_hash_only(struct spread_job *j, XXH3_state_t *hs, uint64_t i,
    uint64_t off, uint64_t end)
{
	XXH128_canonical_t	 canon;
	int			 r = 0;

	if (hs == NULL)
		return (0);
	if (source_hash_guarded(hs, j->map + off, end - off) == -1)
		r = -1;
	XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(hs));
	memcpy(j->dg + i * ZC_DIGEST_LEN, canon.digest, ZC_DIGEST_LEN);
	XXH3_freeState(hs);
	return (r);
}

/*
 * Send chunk i of the job on p: CHUNK, then its DATA records (page
 * multiples, the tail on its own), hashing it on the way into its slot
 * of j->dg.  main: p is the first connection, on the main thread.  0, or
 * -1 with errno.
 */
static int
spread_send(struct spread_job *j, struct peer *p, uint64_t i, int main)
{
	XXH128_canonical_t	 canon;
	XXH3_state_t		*hs = NULL;
	struct zc_chunk		 ch;
	uint8_t			 buf[ZC_HDR_LEN + ZC_CHUNK_LEN];
	const uint8_t		*b;
	uint64_t		 off, end, rec, n, cpu0;
	int			 r = 0, zc;

	ch.id = j->id;
	ch.offset = off = i * j->chunk;
	ch.length = j->size - off < j->chunk ? j->size - off : j->chunk;
	end = off + ch.length;
	if (opt.verify) {
		if ((hs = XXH3_createState()) == NULL)
			fatalx("XXH3_createState");
		XXH3_128bits_reset(hs);
	}
	if (j->need != NULL && !(j->need[i / 8] & (1U << (i % 8))))
		return (spread_hash_only(j, hs, i, off, end));
	if (peer_send(p, buf, proto_chunk_encode(buf, sizeof(buf), &ch)) == -1)
		r = -1;
	while (r == 0 && off < end) {
		rec = end - off < DATA_RECORD ? end - off : DATA_RECORD;
		if (rec >= ZC_BLOCK)
			rec &= ~(uint64_t)(ZC_BLOCK - 1);
		proto_hdr_encode(buf, ZC_T_DATA, rec, off);
		if ((r = peer_send(p, buf, ZC_HDR_LEN)) == -1)
			break;
		for (; rec > 0 && r == 0; off += n, rec -= n) {
			n = rec < SEND_CHUNK ? rec : SEND_CHUNK;
			cpu0 = source_judging(p);
			if ((b = source_bytes(p, j->fd, j->map, off, n,
			    hs)) == NULL) {
				r = -1;
				break;
			}
			zc = n % ZC_BLOCK == 0;
			r = main ? source_push(p, b, n, zc, n == rec) :
			    spread_push(p, b, n, zc, n == rec);
			if (r == 0) {
				__atomic_add_fetch(&j->sent, n,
				    __ATOMIC_RELAXED);
				source_judge(p, n, cpu0);
			}
		}
	}
	if (hs != NULL) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(hs));
		memcpy(j->dg + i * ZC_DIGEST_LEN, canon.digest, ZC_DIGEST_LEN);
		XXH3_freeState(hs);
	}
	return (r);
}

/* The next chunk of the job, or -1 when none is left (or it failed). */
static int64_t
spread_take(struct spread_job *j)
{
	uint64_t	 i;

	if (__atomic_load_n(&j->failed, __ATOMIC_ACQUIRE))
		return (-1);
	i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
	return (i < j->nchunks ? (int64_t)i : -1);
}

/* A joined connection's share of the job: chunks until none is left. */
static void
spread_work(struct spread_conn *c)
{
	struct spread_job	*j = &c->sp->job;
	int64_t			 i;
	char			*cause = NULL;
	int			 err;

	while (!c->dead && (i = spread_take(j)) != -1) {
		if (spread_send(j, &c->p, i, 0) == -1) {
			err = errno;
			c->dead = 1;
			if (err == EFAULT)
				cause = xstrdup("the file was cut short while "
				    "it was read");
			else if (peer_heard(&c->p, &cause) == 0)
				cause = xstrdup(strerror(err));
		} else if (peer_heard(&c->p, &cause) == -1)
			c->dead = 1;
		if (c->dead) {
			spread_fail(c->sp, "stripe connection %d: %s", c->n,
			    cause);
			free(cause);
		}
	}
}

/* Thread body of a joined connection: take jobs until told to quit. */
static void *
spread_main(void *arg)
{
	struct spread_conn	*c = arg;
	struct spread		*sp = c->sp;
	uint64_t		 seen = 0;

	for (;;) {
		pthread_mutex_lock(&sp->lock);
		while (!sp->quit && seen == sp->gen)
			pthread_cond_wait(&sp->go, &sp->lock);
		if (sp->quit) {
			pthread_mutex_unlock(&sp->lock);
			break;
		}
		seen = sp->gen;
		pthread_mutex_unlock(&sp->lock);
		spread_work(c);
		pthread_mutex_lock(&sp->lock);
		if (--sp->job.busy == 0)
			pthread_cond_signal(&sp->done);
		pthread_mutex_unlock(&sp->lock);
	}
	return (NULL);
}

/*
 * Connect and JOIN connection c to the session of first.  -1 with *cause
 * (the caller goes on with fewer connections).
 */
static int
spread_join(struct spread_conn *c, struct peer *first, char **cause)
{
	struct report	 rp;
	char		 what[64];

	memset(&rp, 0, sizeof(rp));
	snprintf(what, sizeof(what), "stripe connection %d", c->n);
	rp.name = rp.path = what;
	rp.silent = 1;
	c->p.fd = -1;
	c->p.text = first->text;
	c->p.host = first->host;
	c->p.port = first->port;
	c->p.timeout = first->timeout;
	c->p.side_fd = -1;
	if (peer_connect(&c->p, c->p.host, c->p.port, &rp) == -1 ||
	    peer_hello(&c->p, first->version, &rp) != 0) {
		peer_close(&c->p);
		*cause = xstrdup(rp.msg[0] != '\0' ? rp.msg : "no connection");
		return (-1);
	}
	if (c->p.version != first->version) {
		peer_close(&c->p);
		*cause = xasprintf("receiver speaks protocol version %d",
		    c->p.version);
		return (-1);
	}
	if (peer_join(&c->p, first, cause) == -1) {
		peer_close(&c->p);
		return (-1);
	}
	return (0);
}

/*
 * Open n-1 connections joined to the session of first (connected in
 * version 4 or 5), each with its thread.  Those the receiver refuses are
 * left out, with a warning; NULL when none could join (the files go over
 * the first connection alone), unless resuming: a resumed file goes in
 * chunks even over the first connection alone (n 1).
 */
struct spread *
spread_open(struct peer *first, int n)
{
	struct spread	*sp = xcalloc(1, sizeof(*sp));
	char		*cause = NULL;
	int		 i;

	sp->first = first;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->go, NULL);
	pthread_cond_init(&sp->done, NULL);
	sp->c = xcalloc(n, sizeof(*sp->c));
	for (i = 0; i < n - 1; i++) {
		sp->c[sp->n].sp = sp;
		sp->c[sp->n].n = sp->n + 2;
		if (spread_join(&sp->c[sp->n], first, &cause) == -1) {
			log_warnx("%s: stripe connection %d: %s; striping "
			    "over %d connection%s", first->text, sp->n + 2,
			    sout_vis(cause), sp->n + 1, sp->n ? "s" : "");
			free(cause);
			break;
		}
		sp->n++;
	}
	for (i = 0; i < sp->n; i++)
		if (pthread_create(&sp->c[i].thread, NULL, spread_main,
		    &sp->c[i]) != 0)
			fatalx("pthread_create");
	log_debug("%s: striping over %d connections", first->text, sp->n + 1);
	if (sp->n == 0 && !opt.resume) {
		spread_close(sp);
		return (NULL);
	}
	return (sp);
}

/* Connections that carry chunks, the first included. */
int
spread_count(const struct spread *sp)
{
	return (sp->n + 1);
}

/*
 * Send the chunks of the accepted striped file s (entry id, chunks of
 * chunk bytes; resumed: only those need says) over every connection, p
 * (the first) included, and put its tree digest into dg.  *stop says the receiver has answered meanwhile
 * (read on the first connection as it sends).  Returns 0, or -1 with *why.
 */
int
spread_file(struct spread *sp, struct peer *p, struct source *s,
    struct report *rp, uint64_t id, uint32_t chunk, const uint8_t *need,
    const int *stop, uint8_t *dg, char **why)
{
	struct spread_job	*j = &sp->job;
	XXH128_canonical_t	 canon;
	uint64_t		 shown = 0, now;
	int64_t			 i;
	int			 r = 0;

	memset(j, 0, sizeof(*j));
	j->map = s->map;
	j->fd = s->fd;
	j->size = s->size;
	j->chunk = chunk;
	j->nchunks = proto_chunk_count(s->size, chunk);
	j->id = id;
	j->need = need;
	j->dg = xcalloc(j->nchunks + 1, ZC_DIGEST_LEN);
	pthread_mutex_lock(&sp->lock);
	j->busy = sp->n;
	sp->gen++;
	pthread_cond_broadcast(&sp->go);
	pthread_mutex_unlock(&sp->lock);
	while ((i = spread_take(j)) != -1) {
		if (p->pump != NULL)	/* has the receiver failed it? */
			p->pump(p->pump_arg);
		if (*stop) {
			spread_fail(sp, "the receiver answered");
			break;
		}
		if (spread_send(j, p, i, 1) == -1) {
			spread_fail(sp, "%s", errno == EFAULT ? "the file was "
			    "cut short while it was read" : strerror(errno));
			break;
		}
		now = __atomic_load_n(&j->sent, __ATOMIC_RELAXED);
		sout_cover(rp, now - shown, now - shown);
		shown = now;
	}
	pthread_mutex_lock(&sp->lock);
	while (j->busy > 0)
		pthread_cond_wait(&sp->done, &sp->lock);
	pthread_mutex_unlock(&sp->lock);
	now = __atomic_load_n(&j->sent, __ATOMIC_RELAXED);
	sout_cover(rp, now - shown, now - shown);
	if (j->failed) {
		*why = j->err != NULL ? j->err : xstrdup("failed");
		j->err = NULL;
		r = -1;
	} else if (opt.verify) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits(j->dg,
		    j->nchunks * ZC_DIGEST_LEN));
		memcpy(dg, canon.digest, ZC_DIGEST_LEN);
	}
	free(j->dg);
	j->dg = NULL;
	return (r);
}

/*
 * The first connection ended while a file is being sent: the others take
 * no more chunks (spread_file returns, and the caller closes).
 */
void
spread_stop(struct spread *sp)
{
	if (sp != NULL)
		spread_fail(sp, "the connection ended");
}

/* Stop the threads and close the joined connections. */
void
spread_close(struct spread *sp)
{
	int	 i;

	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->quit = 1;
	pthread_cond_broadcast(&sp->go);
	pthread_mutex_unlock(&sp->lock);
	for (i = 0; i < sp->n; i++) {
		pthread_join(sp->c[i].thread, NULL);
		sp->first->zs.mapped += sp->c[i].p.zs.mapped;
		sp->first->zs.read += sp->c[i].p.zs.read;
		peer_close(&sp->c[i].p);
	}
	pthread_cond_destroy(&sp->go);
	pthread_cond_destroy(&sp->done);
	pthread_mutex_destroy(&sp->lock);
	free(sp->c);
	free(sp);
}
