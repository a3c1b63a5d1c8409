/*
 * worker.c -- worker threads, one event loop each.
 *
 * The main thread owns the listeners, signals and systemd; it hands each
 * accepted socket to a worker through that worker's pipe, round robin.
 * A worker owns its connections entirely: their events live on its own
 * event_base, so no libevent object is shared between threads.  Messages
 * on the pipe are ints: a socket to adopt, or WORKER_DRAIN (finish what is
 * in flight, take no new files, then stop) or WORKER_ABORT (abort and
 * stop).  No worker waits for a disk: a connection whose writes are queued
 * full stops reading until one is done (conn.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "zcrecvd.h"

static struct worker	*workers;
static int		 nworkers;
static unsigned int	 next_worker;
static int		 running;	/* atomic: loops still going */

/* Number of workers. */
int
worker_count(void)
{
	return (nworkers);
}

/* Number of workers whose loop still runs. */
int
worker_running(void)
{
	return (__atomic_load_n(&running, __ATOMIC_ACQUIRE));
}

/* Messages from the main thread. */
static void
worker_msg_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	struct timeval	 tv = { 0, 100000 };
	int		 msg[64];
	ssize_t		 n, i;

	n = read(fd, msg, sizeof(msg));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		fatal("worker %d: read", w->id);
	for (i = 0; i < n / (ssize_t)sizeof(int); i++) {
		if (msg[i] >= 0)
			conn_io_accept(w, msg[i]);
		else if (msg[i] == WORKER_DRAIN) {
			w->draining = 1;
			conn_io_drain_all(w);
			if (!conn_io_busy(w))
				event_base_loopexit(w->base, &tv);
		} else if (msg[i] == WORKER_ABORT) {
			conn_io_shutdown_all(w);
			event_base_loopexit(w->base, &tv);
		}
	}
}

/* Thread body: run the loop until told to stop. */
static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	int		 i;

	w->lander = lander_start(w);
	if (event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY) == -1)
		fatalx("worker %d: event loop failed", w->id);
	/* Close what is left (connections draining after a failure). */
	conn_io_shutdown_all(w);
	for (i = 0; !TAILQ_EMPTY(&w->conns) && i < 100; i++)
		event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	lander_stop(w->lander);		/* lands and logs what is queued */
	w->lander = NULL;
	for (i = 0; i < 10; i++)	/* free what that let go */
		event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	sink_pool_free(&w->pool);
	log_debug("worker %d stopped", w->id);
	__atomic_sub_fetch(&running, 1, __ATOMIC_RELEASE);
	return (NULL);
}

/*
 * Start n workers (0: one per online CPU).  Signals stay with the main
 * thread: the workers start with them blocked.
 */
int
worker_start(int n, char **cause)
{
	struct worker	*w;
	int		 i, r;

	if (n <= 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) <= 0)
		n = 1;
	workers = xcalloc(n, sizeof(*workers));
	for (i = 0; i < n; i++) {
		w = &workers[i];
		w->id = i;
		TAILQ_INIT(&w->conns);
		TAILQ_INIT(&w->cork);
		w->uncork = conn_io_uncork;
		if ((w->base = event_base_new()) == NULL)
			fatalx("event_base_new");
		if (pipe2(w->pipe, O_CLOEXEC) == -1 ||
		    fcntl(w->pipe[0], F_SETFL, O_NONBLOCK) == -1)
			fatal("pipe");
		w->ev_pipe = event_new(w->base, w->pipe[0], EV_READ |
		    EV_PERSIST, worker_msg_cb, w);
		if (w->ev_pipe == NULL || event_add(w->ev_pipe, NULL) == -1)
			fatalx("event_new");
		__atomic_add_fetch(&running, 1, __ATOMIC_RELEASE);
		if ((r = util_thread(&w->thread, worker_main, w)) != 0) {
			*cause = xasprintf("pthread_create: %s", strerror(r));
			return (-1);
		}
		nworkers++;
	}
	metrics_workers(workers, nworkers);
	log_debug("%d worker%s", n, n == 1 ? "" : "s");
	return (0);
}

/* Send one message to a worker. */
static void
worker_send(struct worker *w, int msg)
{
	ssize_t	 n;

	do
		n = write(w->pipe[1], &msg, sizeof(msg));
	while (n == -1 && errno == EINTR);
	if (n != sizeof(msg))
		fatal("worker %d: write", w->id);
}

/* Give an accepted socket to the next worker. */
void
worker_hand(int fd)
{
	worker_send(&workers[next_worker++ % nworkers], fd);
}

/* Tell every worker WORKER_DRAIN or WORKER_ABORT. */
void
worker_tell_all(int msg)
{
	int	 i;

	for (i = 0; i < nworkers; i++)
		worker_send(&workers[i], msg);
}

/* Wait for the workers to stop and free them. */
void
worker_join_all(void)
{
	int	 i;

	metrics_workers(NULL, 0);
	for (i = 0; i < nworkers; i++) {
		pthread_join(workers[i].thread, NULL);
		event_free(workers[i].ev_pipe);
		event_base_free(workers[i].base);
		close(workers[i].pipe[0]);
		close(workers[i].pipe[1]);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}
