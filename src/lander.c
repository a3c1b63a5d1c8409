/*
 * lander.c -- files and entries land in batches, off the event loop.
 *
 * A worker hands every finished entry (a received file of either protocol
 * version, an inline file, a directory, a symlink) to its lander, a thread
 * of its own.  The lander
 * takes all that is queued as one batch and, in the entry order the
 * sender used:
 *
 *	1. writes inline files to staging files, sets modes and mtimes;
 *	2. makes the batch's data durable: one syncfs() per file system
 *	   whose destination fsyncs, instead of one fsync per file, so a
 *	   thousand small files cost one journal commit, not a thousand;
 *	3. renames the files to their names, creates directories (mode and
 *	   mtime after their contents: the sender sends them last) and
 *	   symlinks;
 *	4. makes the names durable: one more syncfs() per file system, which
 *	   on a journaling file system commits every new name, directory and
 *	   symlink of the batch at once;
 *
 * and only then posts the batch back to the worker's event loop (an
 * eventfd), which answers each entry with its RESULT.  While one batch
 * lands the next one gathers, so the batch grows with the load: group
 * commit.  The event loop never waits for any of it.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "zcrecvd.h"

struct lander {
	struct worker		*w;
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct xfer_list	 queue;		/* waiting for the thread */
	struct xfer_list	 done;		/* waiting for the loop */
	int			 stop;
	int			 efd;		/* done is not empty */
	struct event		*ev;
};

/* Fail entry x of the batch with code and cause (owned by x now). */
static void
lander_fail(struct xfer *x, int code, char *cause)
{
	x->lcode = code;
	free(x->lcause);
	x->lcause = cause;
	land_abort(&x->land);
}

/* Step 1: an inline file to its staging file; every file's mode, mtime. */
static void
lander_prepare(struct xfer *x)
{
	XXH128_canonical_t	 canon;
	char			*cause = NULL;
	int			 code;

	if (x->kind != ZC_K_FILE || (x->io->flags & IO_NO_FILE))
		return;
	if (x->eflags & ZC_EF_INLINE) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits(x->extra,
		    x->extra_len));
		if (x->f.digest_alg == ZC_DIGEST_XXH3_128 &&
		    memcmp(canon.digest, x->sdigest, ZC_DIGEST_LEN) != 0) {
			lander_fail(x, ZC_E_DIGEST, xasprintf("digest "
			    "mismatch in inline content"));
			return;
		}
		if (x->dest->verify) {
			memcpy(x->dg, canon.digest, ZC_DIGEST_LEN);
			x->has_dg = 1;
		}
		if (land_open(&x->land, x->dest, x->path, &code,
		    &cause) == -1 || land_write(&x->land, x->extra,
		    x->extra_len, 0, &code, &cause) == -1) {
			lander_fail(x, code, cause);
			return;
		}
		xfer_took(x, x->extra_len, RX_COPY);
	}
	/* Version 1 sends no mtime: the file keeps the time it was written. */
	if (land_finish(&x->land, x->f.mode, x->v2 ? &x->mtime : NULL, 0,
	    &code, &cause) == -1)
		lander_fail(x, code, cause);
}

/* Does entry x need the file system synced, in pass data or names? */
static int
lander_syncs(const struct xfer *x, int names)
{
	return (x->lcode == ZC_OK && x->dest->fsync &&
	    !(x->io->flags & IO_NO_FILE) && (names || x->kind == ZC_K_FILE));
}

/*
 * Steps 2 and 4: one syncfs per file system that holds an entry of the
 * batch: first for the files' data (names 0), then, after the renames,
 * for the names, directories and symlinks (names 1).  On a journaling
 * file system the second commits every new name of the batch at once,
 * where an fsync per directory would commit the journal once each.
 */
static void
lander_sync(struct xfer_list *batch, int names)
{
	struct xfer	*x, *y;
	struct stat	 sb, sb2;
	int		 seen, e;

	TAILQ_FOREACH(x, batch, lentry) {
		if (!lander_syncs(x, names) || fstat(x->dest->dirfd, &sb) == -1)
			continue;
		seen = 0;
		for (y = TAILQ_FIRST(batch); y != x && !seen;
		    y = TAILQ_NEXT(y, lentry))
			seen = lander_syncs(y, names) &&
			    fstat(y->dest->dirfd, &sb2) == 0 &&
			    sb2.st_dev == sb.st_dev;
		if (seen || syncfs(x->dest->dirfd) == 0)
			continue;
		/* Every entry on that file system fails. */
		e = errno;
		for (y = x; y != NULL; y = TAILQ_NEXT(y, lentry))
			if (lander_syncs(y, names) &&
			    fstat(y->dest->dirfd, &sb2) == 0 &&
			    sb2.st_dev == sb.st_dev)
				lander_fail(y, e == ENOSPC || e == EDQUOT ?
				    ZC_E_NOSPACE : ZC_E_IO,
				    xasprintf("syncfs: %s", strerror(e)));
	}
}

/* Step 3: the entry under its name. */
static void
lander_place(struct xfer *x)
{
	char	*cause = NULL;
	int	 code, r = 0;

	if (x->lcode != ZC_OK || (x->io->flags & IO_NO_FILE))
		return;
	switch (x->kind) {
	case ZC_K_FILE:
		r = land_rename(&x->land, x->dest, &code, &cause);
		break;
	case ZC_K_DIR:
		r = land_dir(x->dest, x->path, x->f.mode, &x->mtime, &code,
		    &cause);
		break;
	case ZC_K_SYMLINK:
		r = land_symlink(x->dest, x->path, (const char *)x->extra,
		    &x->mtime, &code, &cause);
		break;
	}
	if (r == -1)
		lander_fail(x, code, cause);
}

/* Land one batch, steps 1 to 4. */
static void
lander_batch(struct xfer_list *batch)
{
	struct xfer	*x;

	TAILQ_FOREACH(x, batch, lentry) {
		x->lcode = ZC_OK;
		lander_prepare(x);
	}
	lander_sync(batch, 0);
	TAILQ_FOREACH(x, batch, lentry) {
		lander_place(x);
		land_release(&x->land);
	}
	lander_sync(batch, 1);
}

/* Thread body: take what is queued, land it, post it back. */
static void *
lander_main(void *arg)
{
	struct lander		*l = arg;
	struct xfer_list	 batch;
	struct xfer		*x;
	uint64_t		 one = 1;

	pthread_mutex_lock(&l->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&l->queue) && !l->stop)
			pthread_cond_wait(&l->cond, &l->mtx);
		if (TAILQ_EMPTY(&l->queue))
			break;
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &l->queue, lentry);
		pthread_mutex_unlock(&l->mtx);
		lander_batch(&batch);
		pthread_mutex_lock(&l->mtx);
		while ((x = TAILQ_FIRST(&batch)) != NULL) {
			TAILQ_REMOVE(&batch, x, lentry);
			TAILQ_INSERT_TAIL(&l->done, x, lentry);
		}
		if (write(l->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			log_warn("lander: eventfd");
	}
	pthread_mutex_unlock(&l->mtx);
	return (NULL);
}

/* Event loop: answer what has landed. */
static void
lander_done(struct lander *l)
{
	struct xfer_list	 done;
	struct xfer		*x;

	pthread_mutex_lock(&l->mtx);
	TAILQ_INIT(&done);
	TAILQ_CONCAT(&done, &l->done, lentry);
	pthread_mutex_unlock(&l->mtx);
	while ((x = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, x, lentry);
		xfer_landed(x);
	}
}

/* libevent: the lander posted a batch. */
static void
lander_done_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	 n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("lander: eventfd");
	lander_done(arg);
}

/* Start w's lander. */
struct lander *
lander_start(struct worker *w)
{
	struct lander	*l;
	sigset_t	 all, old;
	int		 r;

	l = xcalloc(1, sizeof(*l));
	l->w = w;
	TAILQ_INIT(&l->queue);
	TAILQ_INIT(&l->done);
	pthread_mutex_init(&l->mtx, NULL);
	pthread_cond_init(&l->cond, NULL);
	if ((l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	if ((l->ev = event_new(w->base, l->efd, EV_READ | EV_PERSIST,
	    lander_done_cb, l)) == NULL || event_add(l->ev, NULL) == -1)
		fatalx("event_new");
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&l->thread, NULL, lander_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		fatalx("pthread_create: %s", strerror(r));
	return (l);
}

/* Land what is queued, answer it, and stop (from the worker's thread). */
void
lander_stop(struct lander *l)
{
	pthread_mutex_lock(&l->mtx);
	l->stop = 1;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mtx);
	pthread_join(l->thread, NULL);
	lander_done(l);
	event_free(l->ev);
	close(l->efd);
	pthread_mutex_destroy(&l->mtx);
	pthread_cond_destroy(&l->cond);
	free(l);
}

/* Queue x (with a reference for the lander) for the next batch. */
void
lander_queue(struct lander *l, struct xfer *x)
{
	pthread_mutex_lock(&l->mtx);
	TAILQ_INSERT_TAIL(&l->queue, x, lentry);
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mtx);
}
