/*
 * zcrecvd.c -- start-up, signals, reload and shutdown.
 *
 * Start-up: read the configuration, open the destinations and the transfer
 * log, bind the listeners (or adopt socket-activated ones) and the metrics
 * socket, drop privileges, start the workers, then tell systemd READY=1.
 * The main thread keeps the listeners, the metrics server and the signals;
 * the workers do the rest.  The metrics server answers until the workers
 * have stopped, so that a scrape can watch a graceful shutdown drain.
 */
#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "zcrecvd.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR		"/etc"
#endif

struct event_base	*ev_base;
struct stats		 stats;

static struct conf	*cfg;		/* the configuration in force */
static pthread_mutex_t	 cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static const char	*cfg_file = SYSCONFDIR "/zcrecvd.conf";
static int		 debug;

static struct event	*ev_grace, *ev_poll, *ev_sweep;
static int		 stopping;

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: zcrecvd [-dhnTV] [-f file]\n");
	exit(1);
}

/* A reference to the configuration in force, for any thread. */
struct conf *
cfg_acquire(void)
{
	struct conf	*c;

	pthread_mutex_lock(&cfg_lock);
	c = conf_ref(cfg);
	pthread_mutex_unlock(&cfg_lock);
	return (c);
}

/* Put a new configuration in force; files in flight keep theirs. */
static void
cfg_replace(struct conf *c)
{
	struct conf	*old;

	pthread_mutex_lock(&cfg_lock);
	old = cfg;
	cfg = c;
	pthread_mutex_unlock(&cfg_lock);
	conf_unref(old);
}

/* Do two lists of listen addresses say the same? */
static int
reload_same_listen(const struct listen_addr *a, size_t na,
    const struct listen_addr *b, size_t nb)
{
	size_t	 i;

	if (na != nb)
		return (0);
	for (i = 0; i < na; i++)
		if (strcmp(a[i].text, b[i].text) != 0)
			return (0);
	return (1);
}

/* Settings a reload cannot change: say so rather than ignore silently. */
static void
reload_warn_fixed(const struct conf *old, const struct conf *new)
{
	if (!reload_same_listen(old->listen, old->nlisten, new->listen,
	    new->nlisten))
		log_warnx("reload: listen changed: restart to apply");
	if (!reload_same_listen(old->metrics_listen, old->nmetrics_listen,
	    new->metrics_listen, new->nmetrics_listen))
		log_warnx("reload: metrics_listen changed: restart to apply");
	if ((old->user == NULL) != (new->user == NULL) ||
	    (old->user != NULL && strcmp(old->user, new->user) != 0) ||
	    (old->group == NULL) != (new->group == NULL) ||
	    (old->group != NULL && strcmp(old->group, new->group) != 0))
		log_warnx("reload: user or group changed: restart to apply");
	if (old->workers != new->workers)
		log_warnx("reload: workers changed: restart to apply");
	if (old->page_mss != new->page_mss)
		log_warnx("reload: page_mss changed: restart to apply");
}

/*
 * SIGHUP: read the configuration again.  A bad one is reported, line by
 * line, and the running one stays in force.
 */
static void
reload(void)
{
	struct conf	*new, *old;
	char		*cause;
	int		 nerr;

	systemd_reloading();
	log_info("SIGHUP: reloading %s", cfg_file);
	if ((new = conf_load(cfg_file, &nerr)) == NULL) {
		log_errx("reload failed: keeping the running "
		    "configuration");
		goto out;
	}
	if (conf_open_dests(new, &cause) == -1 ||
	    conf_check_writable(new, &cause) == -1) {
		log_errx("reload failed: %s: keeping the running "
		    "configuration", cause);
		free(cause);
		conf_unref(new);
		goto out;
	}
	old = cfg_acquire();
	reload_warn_fixed(old, new);
	conf_unref(old);
	if (new->transfer_log != NULL &&
	    tlog_open(new->transfer_log, &cause) == -1) {
		log_errx("reload: transfer_log: %s", cause);
		free(cause);
	} else if (new->transfer_log == NULL)
		tlog_disable();
	cfg_replace(new);
	metrics_reload(new);
	/* Said at the more verbose of the old and the new level. */
	if (!debug && new->log_level > log_getlevel())
		log_setlevel(new->log_level);
	log_info("configuration reloaded");
	if (!debug)
		log_setlevel(new->log_level);
out:
	systemd_ready();
}

/* Grace period over: abort whatever is still in flight. */
static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	log_info("shutdown grace period over: aborting %llu transfer%s",
	    (unsigned long long)STAT_GET(in_flight),
	    STAT_GET(in_flight) == 1 ? "" : "s");
	worker_tell_all(WORKER_ABORT);
}

/* Leave the main loop once every worker has stopped. */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	if (worker_running() == 0)
		event_base_loopexit(ev_base, NULL);
}

/*
 * SIGTERM, SIGINT: stop accepting, let transfers in flight finish for up
 * to shutdown_grace seconds, then abort them (staging files removed).  A
 * second signal aborts at once.
 */
static void
shutdown_start(int sig)
{
	struct conf	*c;
	struct timeval	 tv = { 0, 100000 };

	if (stopping) {
		log_info("%s again: aborting now", strsignal(sig));
		worker_tell_all(WORKER_ABORT);
		return;
	}
	stopping = 1;
	systemd_stopping();
	c = cfg_acquire();
	log_info("%s: shutting down (%llu connection%s, %llu transfer%s in "
	    "flight, grace %d s)", strsignal(sig),
	    (unsigned long long)STAT_GET(conns),
	    STAT_GET(conns) == 1 ? "" : "s",
	    (unsigned long long)STAT_GET(in_flight),
	    STAT_GET(in_flight) == 1 ? "" : "s", c->shutdown_grace);
	listener_close();
	worker_tell_all(WORKER_DRAIN);
	ev_poll = event_new(ev_base, -1, EV_PERSIST, poll_cb, NULL);
	ev_grace = evtimer_new(ev_base, grace_cb, NULL);
	if (ev_poll == NULL || ev_grace == NULL)
		fatalx("event_new");
	event_add(ev_poll, &tv);
	tv.tv_sec = c->shutdown_grace;
	tv.tv_usec = 0;
	event_add(ev_grace, &tv);
	conf_unref(c);
}

/*
 * libevent: time to look for resume partials past resume_keep, on the
 * keeper's thread (keep_sweep); again in a quarter of resume_keep (at
 * least a second, at most an hour), as the newest config says.
 */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conf	*c = cfg_acquire();
	struct timeval	 tv = { c->resume_keep / 4, 0 };

	if (tv.tv_sec < 1)
		tv.tv_sec = 1;
	if (tv.tv_sec > 3600)
		tv.tv_sec = 3600;
	if (what != 0)
		keep_sweep(c);
	else
		conf_unref(c);
	evtimer_add(ev_sweep, &tv);
}

/* libevent: a signal. */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP)
		reload();
	else
		shutdown_start(sig);
}

/* Bind the listeners, or take them from socket activation. */
static void
open_listeners(struct conf *c)
{
	int	 n, i;

	if ((n = systemd_listen_fds()) > 0) {
		log_info("socket activation: %d socket%s; listen in %s not "
		    "used", n, n == 1 ? "" : "s", c->file);
		for (i = 0; i < n; i++)
			if (listener_adopt(c, 3 + i) == -1)
				fatalx("cannot use socket-activated socket");
		return;
	}
	if (listener_open(c) == -1)
		fatalx("cannot listen");
}

/* Parse the command line; returns 1 for -n, 2 for -T, else 0. */
static int
parse_options(int argc, char **argv)
{
	int	 ch, mode = 0;

	while ((ch = getopt(argc, argv, "df:hnTV")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			cfg_file = optarg;
			break;
		case 'n':
			mode = 1;
			break;
		case 'T':
			mode = 2;
			break;
		case 'V':
			printf("zcrecvd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	return (mode);
}

/*
 * Every file in flight holds two descriptors (staging file, directory),
 * and a version 2 connection may have many landing: take the hard limit
 * on open files, as servers do, rather than the soft 1024.
 */
static void
raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
}

/* Open what needs privileges, drop them, start the workers. */
static void
start(void)
{
	char	*cause;
	size_t	 i;

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (conf_open_dests(cfg, &cause) == -1)
		fatalx("%s: %s", cfg->file, cause);
	for (i = 0; i < cfg->ndests; i++)
		land_cleanup(&cfg->dests[i], cfg->resume_keep, 1);
	tlog_init();
	if (cfg->transfer_log != NULL && tlog_open(cfg->transfer_log,
	    &cause) == -1)
		fatalx("transfer_log: %s", cause);
	if ((ev_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	open_listeners(cfg);
	if (metrics_open(ev_base, cfg, &cause) == -1)
		fatalx("%s", cause);
	if (privs_drop(cfg, &cause) == -1 ||
	    conf_check_writable(cfg, &cause) == -1)
		fatalx("%s", cause);
	/*
	 * Threads start after the privileges are dropped: capabilities
	 * are per thread, and one started before would keep them all.
	 */
	keep_start();
	if (worker_start(cfg->workers, &cause) == -1)
		fatalx("%s", cause);
}

/* The workers are done: free everything, in reverse order. */
static void
stop(struct event **ev_sig, int nsig)
{
	int	 i;

	worker_join_all();
	systemd_stop_timers();
	for (i = 0; i < nsig; i++)
		event_free(ev_sig[i]);
	if (ev_grace != NULL)
		event_free(ev_grace);
	if (ev_poll != NULL)
		event_free(ev_poll);
	if (ev_sweep != NULL)
		event_free(ev_sweep);
	keep_stop();
	listener_close();
	metrics_close();
	event_base_free(ev_base);
	tlog_close();
	conf_unref(cfg);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct event	*ev_sig[sizeof(sigs) / sizeof(sigs[0])];
	int		 mode, nerr, i, nsig = sizeof(sigs) / sizeof(sigs[0]);

	log_init("zcrecvd", LOG_LEVEL_INFO, systemd_journal());
	auth_init();
	mode = parse_options(argc, argv);
	if (debug)
		log_setlevel(LOG_LEVEL_DEBUG);
	if ((cfg = conf_load(cfg_file, &nerr)) == NULL)
		return (1);
	if (mode != 0) {
		if (mode == 2)
			conf_dump(cfg, stdout);
		else
			printf("configuration OK\n");
		conf_unref(cfg);
		return (0);
	}
	if (!debug)
		log_setlevel(cfg->log_level);
	start();
	for (i = 0; i < nsig; i++) {
		ev_sig[i] = evsignal_new(ev_base, sigs[i], signal_cb, NULL);
		if (ev_sig[i] == NULL || evsignal_add(ev_sig[i], NULL) == -1)
			fatalx("evsignal_new");
	}
	systemd_start_timers(ev_base);
	if ((ev_sweep = evtimer_new(ev_base, sweep_cb, NULL)) == NULL)
		fatalx("evtimer_new");
	sweep_cb(-1, 0, NULL);
	log_info("zcrecvd %s ready, %d worker%s", PACKAGE_VERSION,
	    worker_count(), worker_count() == 1 ? "" : "s");
	systemd_ready();
	if (event_base_dispatch(ev_base) == -1)
		fatalx("event_base_dispatch");
	stop(ev_sig, nsig);
	log_info("stopped");
	return (0);
}
