/*
 * lander.c -- files and entries land in batches, off the event loop.
 *
 * A worker hands every finished entry (a received file of either protocol
 * version, an inline file, a directory, a symlink) to its lander: two
 * threads of its own, a pipeline that keeps the order in which the sender
 * sent the entries.
 *
 * The preparer takes all that is queued as one batch and writes inline
 * files to staging files and sets every file's mode and mtime (step 1);
 * then it hands the batch on and takes the next.
 *
 * The committer takes every prepared batch there is and
 *
 *	2. makes their data durable: one syncfs() per file system whose
 *	   destination fsyncs, instead of one fsync per file, so a thousand
 *	   small files cost one journal commit, not a thousand;
 *	3. renames the files to their names, creates directories (mode and
 *	   mtime after their contents: the sender sends them last) and
 *	   symlinks;
 *	4. makes the names durable: one more syncfs() per file system, which
 *	   on a journaling file system commits every new name, directory and
 *	   symlink at once.  While more batches are prepared, step 2 of the
 *	   next turn does it: under a stream, one syncfs per turn, not two;
 *
 * and only then posts the entries back to the worker's event loop (an
 * eventfd), which answers each with its RESULT.  While the committer
 * waits for the disk the preparer goes on creating files, and batches
 * grow with the load: group commit.  The event loop never waits for any
 * of it.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "zcrecvd.h"

#define LANDER_NEW		0	/* prepared: data not yet durable */
#define LANDER_PLACED		1	/* renamed: name not yet durable */

struct lander {
	struct worker		*w;
	pthread_t		 preparer, committer;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 queued;	/* queue not empty, or stop */
	pthread_cond_t		 prepared;	/* ready not empty, or prep_done */
	struct xfer_list	 queue;		/* waiting for the preparer */
	struct xfer_list	 ready;		/* waiting for the committer */
	struct xfer_list	 done;		/* waiting for the loop */
	int			 stop;
	int			 prep_done;	/* the preparer has left */
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

/*
 * Does entry x need its file system synced: for its data (a file not yet
 * renamed) or for its name (an entry placed, LANDER_PLACED)?
 */
static int
lander_syncs(const struct xfer *x)
{
	return (x->lcode == ZC_OK && x->dest->fsync &&
	    !(x->io->flags & IO_NO_FILE) && (x->lstage == LANDER_PLACED ||
	    x->kind == ZC_K_FILE));
}

/* Does any entry of list need its file system synced? */
static int
lander_any_syncs(struct xfer_list *list)
{
	struct xfer	*x;

	TAILQ_FOREACH(x, list, lentry)
		if (lander_syncs(x))
			return (1);
	return (0);
}

/* Fail the entries of list that needed syncing on device dev: err. */
static void
lander_sync_failed(struct xfer_list *list, dev_t dev, int err)
{
	struct xfer	*x;
	struct stat	 sb;

	TAILQ_FOREACH(x, list, lentry)
		if (lander_syncs(x) && fstat(x->dest->dirfd, &sb) == 0 &&
		    sb.st_dev == dev)
			lander_fail(x, err == ENOSPC || err == EDQUOT ?
			    ZC_E_NOSPACE : ZC_E_IO, xasprintf("syncfs: %s",
			    strerror(err)));
}

/*
 * Steps 2 and 4: one syncfs per file system that holds an entry of the
 * list that needs it (lander_syncs): the data of files not yet renamed,
 * the names of entries placed.  On a journaling file system one commit
 * makes every new name durable at once, where an fsync per directory
 * would commit the journal once each.  If a syncfs fails, every entry
 * on that file system fails.
 */
#define LANDER_FS_MAX	16	/* file systems synced together */

/* syncfs each of fs[0, n) that entries of list need; fail them if it fails. */
static void
lander_syncfs(struct xfer_list *list, const dev_t *dev, const int *fd,
    size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (syncfs(fd[i]) == -1)
			lander_sync_failed(list, dev[i], errno);
}

static void
lander_sync(struct xfer_list *list)
{
	struct xfer		*x;
	const struct dest	*last = NULL;
	struct stat		 sb;
	dev_t			 dev[LANDER_FS_MAX];
	int			 fd[LANDER_FS_MAX];
	size_t			 n = 0, i;

	TAILQ_FOREACH(x, list, lentry) {
		if (!lander_syncs(x) || x->dest == last)
			continue;
		last = x->dest;
		if (fstat(x->dest->dirfd, &sb) == -1)
			continue;
		for (i = 0; i < n && dev[i] != sb.st_dev; i++)
			;
		if (i < n)
			continue;
		if (n == LANDER_FS_MAX) {
			lander_syncfs(list, dev, fd, n);
			n = 0;
		}
		dev[n] = sb.st_dev;
		fd[n++] = x->dest->dirfd;
	}
	lander_syncfs(list, dev, fd, n);
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

/*
 * Post the entries of list that are done (placed and synced, or failed)
 * to the event loop.  Entries not placed yet stay.
 */
static void
lander_post(struct lander *l, struct xfer_list *list)
{
	struct xfer	*x, *next;
	uint64_t	 one = 1;
	int		 n = 0;

	pthread_mutex_lock(&l->mtx);
	for (x = TAILQ_FIRST(list); x != NULL; x = next) {
		next = TAILQ_NEXT(x, lentry);
		if (x->lstage != LANDER_PLACED && x->lcode == ZC_OK)
			continue;
		TAILQ_REMOVE(list, x, lentry);
		TAILQ_INSERT_TAIL(&l->done, x, lentry);
		n++;
	}
	pthread_mutex_unlock(&l->mtx);
	if (n > 0 && write(l->efd, &one, sizeof(one)) == -1 &&
	    errno != EAGAIN)
		log_warn("lander: eventfd");
}

/* Preparer thread: step 1 of each batch, then on to the committer. */
static void *
lander_prepare_main(void *arg)
{
	struct lander		*l = arg;
	struct xfer_list	 batch;
	struct xfer		*x;

	pthread_mutex_lock(&l->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&l->queue) && !l->stop)
			pthread_cond_wait(&l->queued, &l->mtx);
		if (TAILQ_EMPTY(&l->queue))
			break;
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &l->queue, lentry);
		pthread_mutex_unlock(&l->mtx);
		TAILQ_FOREACH(x, &batch, lentry) {
			x->lcode = ZC_OK;
			x->lstage = LANDER_NEW;
			lander_prepare(x);
		}
		pthread_mutex_lock(&l->mtx);
		TAILQ_CONCAT(&l->ready, &batch, lentry);
		pthread_cond_signal(&l->prepared);
	}
	l->prep_done = 1;
	pthread_cond_signal(&l->prepared);
	pthread_mutex_unlock(&l->mtx);
	return (NULL);
}

/*
 * Committer thread.  Each turn takes every prepared entry and, with the
 * entries the turn before placed (work):
 *
 *	2. syncs: the new files' data and the names placed by the turn
 *	   before, with the same syncfs;
 *	   posts the entries whose names are now durable;
 *	3. places the new entries (renames, directories, symlinks);
 *	4. if nothing more is prepared, syncs once more and posts them;
 *	   else their names ride on the next turn's syncfs (unless none
 *	   needs one: fsync = no).
 */
static void *
lander_commit_main(void *arg)
{
	struct lander		*l = arg;
	struct xfer_list	 work;
	struct xfer		*x;
	int			 more;

	TAILQ_INIT(&work);
	pthread_mutex_lock(&l->mtx);
	for (;;) {
		while (TAILQ_EMPTY(&l->ready) && !l->prep_done)
			pthread_cond_wait(&l->prepared, &l->mtx);
		if (TAILQ_EMPTY(&l->ready))
			break;
		TAILQ_CONCAT(&work, &l->ready, lentry);
		pthread_mutex_unlock(&l->mtx);
		lander_sync(&work);
		lander_post(l, &work);
		TAILQ_FOREACH(x, &work, lentry) {
			lander_place(x);
			if (x->stripe != NULL && stripe_resumed(x->stripe))
				stripe_keep_settle(x->stripe);
			land_release(&x->land);
			x->lstage = LANDER_PLACED;
		}
		pthread_mutex_lock(&l->mtx);
		more = !TAILQ_EMPTY(&l->ready);
		pthread_mutex_unlock(&l->mtx);
		if (!more || !lander_any_syncs(&work)) {
			lander_sync(&work);
			lander_post(l, &work);
		}
		pthread_mutex_lock(&l->mtx);
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
	l->w->corked = 1;	/* the answers leave together (conn-io.c) */
	while ((x = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, x, lentry);
		xfer_landed(x);
	}
	l->w->uncork(l->w);
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
	int		 r;

	l = xcalloc(1, sizeof(*l));
	l->w = w;
	TAILQ_INIT(&l->queue);
	TAILQ_INIT(&l->ready);
	TAILQ_INIT(&l->done);
	pthread_mutex_init(&l->mtx, NULL);
	pthread_cond_init(&l->queued, NULL);
	pthread_cond_init(&l->prepared, NULL);
	if ((l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	if ((l->ev = event_new(w->base, l->efd, EV_READ | EV_PERSIST,
	    lander_done_cb, l)) == NULL || event_add(l->ev, NULL) == -1)
		fatalx("event_new");
	if ((r = util_thread(&l->preparer, lander_prepare_main, l)) == 0)
		r = util_thread(&l->committer, lander_commit_main, l);
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
	pthread_cond_signal(&l->queued);
	pthread_mutex_unlock(&l->mtx);
	pthread_join(l->preparer, NULL);
	pthread_join(l->committer, NULL);
	lander_done(l);
	event_free(l->ev);
	close(l->efd);
	pthread_mutex_destroy(&l->mtx);
	pthread_cond_destroy(&l->queued);
	pthread_cond_destroy(&l->prepared);
	free(l);
}

/* Queue x (with a reference for the lander) for the next batch. */
void
lander_queue(struct lander *l, struct xfer *x)
{
	pthread_mutex_lock(&l->mtx);
	TAILQ_INSERT_TAIL(&l->queue, x, lentry);
	pthread_cond_signal(&l->queued);
	pthread_mutex_unlock(&l->mtx);
}
