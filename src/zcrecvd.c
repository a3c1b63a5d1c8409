/*
 * zcrecvd.c -- start-up, signals and the event loop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
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
struct conf		*cfg;

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: zcrecvd [-dhnTV] [-f file]\n");
	exit(1);
}

/* Open each destination directory and learn whether O_DIRECT works. */
static void
dest_open_all(struct conf *c)
{
	struct dest	*d;
	size_t		 i;

	for (i = 0; i < c->ndests; i++) {
		d = &c->dests[i];
		d->dirfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->dirfd == -1)
			fatal("%s: [%s] path %s", c->file, d->name, d->path);
		d->dio_ok = sink_probe_direct(d->dirfd);
		if (d->io == IO_DIRECT && !d->dio_ok)
			fatalx("%s: [%s] io = direct, but %s does not support "
			    "O_DIRECT", c->file, d->name, d->path);
		log_debug("destination %s: %s, O_DIRECT %s", d->name, d->path,
		    d->dio_ok ? "yes" : "no");
	}
}

/* Close the destination directories. */
static void
dest_close_all(struct conf *c)
{
	size_t	 i;

	for (i = 0; i < c->ndests; i++)
		if (c->dests[i].dirfd != -1)
			close(c->dests[i].dirfd);
}

/* SIGTERM, SIGINT: abort what is in flight and leave the loop. */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval	 tv = { 0, 100000 };

	log_info("%s: shutting down (%d connection%s)", strsignal(sig),
	    conn_count(), conn_count() == 1 ? "" : "s");
	listener_close();
	conn_shutdown_all();
	event_base_loopexit(ev_base, &tv);
}

int
main(int argc, char **argv)
{
	const char	*file = SYSCONFDIR "/zcrecvd.conf";
	struct event	*ev_term, *ev_int;
	char		*cause;
	int		 ch, check = 0, dump = 0, debug = 0, nerr;

	log_init("zcrecvd", LOG_LEVEL_INFO, getenv("JOURNAL_STREAM") != NULL);
	while ((ch = getopt(argc, argv, "df:hnTV")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'T':
			dump = 1;
			break;
		case 'V':
			printf("zcrecvd %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (debug)
		log_setlevel(LOG_LEVEL_DEBUG);

	if ((cfg = conf_load(file, &nerr)) == NULL)
		return (1);
	if (check || dump) {
		if (dump)
			conf_dump(cfg, stdout);
		else
			printf("configuration OK\n");
		conf_free(cfg);
		return (0);
	}

	signal(SIGPIPE, SIG_IGN);
	dest_open_all(cfg);
	if (cfg->transfer_log != NULL && tlog_open(cfg->transfer_log,
	    &cause) == -1)
		fatalx("transfer_log: %s", cause);
	if ((ev_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (listener_open(cfg) == -1)
		fatalx("cannot listen");
	ev_term = evsignal_new(ev_base, SIGTERM, signal_cb, NULL);
	ev_int = evsignal_new(ev_base, SIGINT, signal_cb, NULL);
	if (ev_term == NULL || ev_int == NULL)
		fatalx("evsignal_new");
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	log_info("zcrecvd %s ready", PACKAGE_VERSION);

	if (event_base_dispatch(ev_base) == -1)
		fatalx("event_base_dispatch");

	event_free(ev_term);
	event_free(ev_int);
	listener_close();
	event_base_free(ev_base);
	tlog_close();
	dest_close_all(cfg);
	conf_free(cfg);
	return (0);
}
