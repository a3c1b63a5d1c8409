/*
 * systemd.c -- every sd-daemon call of the daemon, and nothing else.
 *
 * Socket activation (sd_listen_fds), and the notify protocol: READY=1 once
 * the listeners exist and privileges are dropped, STATUS= kept current,
 * WATCHDOG=1 when the unit has WatchdogSec=, RELOADING=1 around SIGHUP and
 * STOPPING=1 at the end.  Without NOTIFY_SOCKET every call is a no-op.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "zcrecvd.h"

#define STATUS_INTERVAL		2	/* seconds between STATUS= updates */

static struct event	*ev_status;
static struct event	*ev_watchdog;
static uint64_t		 last_bytes, last_ns;

/* Is stderr connected to the journal (so log lines want <N> prefixes)? */
int
systemd_journal(void)
{
	return (getenv("JOURNAL_STREAM") != NULL);
}

/*
 * Sockets passed by socket activation: check each is a listening stream
 * socket and return how many there are (fds from SD_LISTEN_FDS_START).
 */
int
systemd_listen_fds(void)
{
	int	 n, i;

	if ((n = sd_listen_fds(1)) <= 0)
		return (0);
	for (i = 0; i < n; i++)
		if (sd_is_socket(SD_LISTEN_FDS_START + i, AF_UNSPEC,
		    SOCK_STREAM, 1) <= 0)
			fatalx("socket activation: fd %d is not a listening "
			    "stream socket", SD_LISTEN_FDS_START + i);
	return (n);
}

/* Describe the service in one STATUS= line. */
static void
systemd_status(const char *prefix)
{
	uint64_t	 now = util_now_ns(), bytes = STAT_GET(bytes);
	uint64_t	 zc = STAT_GET(zc_bytes);
	double		 gbps = 0;

	if (last_ns != 0 && now > last_ns)
		gbps = (bytes - last_bytes) * 8.0 / (now - last_ns);
	last_ns = now;
	last_bytes = bytes;
	sd_notifyf(0, "%sSTATUS=%llu connections, %llu files landed, "
	    "%llu failed, %.2f Gbit/s, %.1f%% zero-copy", prefix,
	    (unsigned long long)STAT_GET(conns),
	    (unsigned long long)STAT_GET(files_ok),
	    (unsigned long long)STAT_GET(files_failed), gbps,
	    bytes > 0 ? 100.0 * zc / bytes : 0.0);
}

/* Listeners exist and privileges are dropped: tell systemd. */
void
systemd_ready(void)
{
	systemd_status("READY=1\n");
}

/* SIGHUP: the configuration is being read again. */
void
systemd_reloading(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * UTIL_US_PER_SEC + ts.tv_nsec / 1000);
}

/* SIGTERM: on the way out. */
void
systemd_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

/* Timer: refresh STATUS=. */
static void
systemd_status_cb(evutil_socket_t fd, short what, void *arg)
{
	systemd_status("");
}

/* Timer: keep the watchdog fed. */
static void
systemd_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

/* Start the STATUS= refresh and, with WatchdogSec=, the watchdog. */
void
systemd_start_timers(struct event_base *base)
{
	struct timeval	 tv = { STATUS_INTERVAL, 0 };
	uint64_t	 usec;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	ev_status = event_new(base, -1, EV_PERSIST, systemd_status_cb, NULL);
	if (ev_status == NULL)
		fatalx("event_new");
	event_add(ev_status, &tv);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		/* Twice per period, as sd_watchdog_enabled(3) advises. */
		tv.tv_sec = usec / 2 / UTIL_US_PER_SEC;
		tv.tv_usec = usec / 2 % UTIL_US_PER_SEC;
		ev_watchdog = event_new(base, -1, EV_PERSIST,
		    systemd_watchdog_cb, NULL);
		if (ev_watchdog == NULL)
			fatalx("event_new");
		event_add(ev_watchdog, &tv);
		sd_notify(0, "WATCHDOG=1");
		log_debug("watchdog every %llu us",
		    (unsigned long long)usec / 2);
	}
}

/* Stop the timers. */
void
systemd_stop_timers(void)
{
	if (ev_status != NULL)
		event_free(ev_status);
	if (ev_watchdog != NULL)
		event_free(ev_watchdog);
	ev_status = ev_watchdog = NULL;
}
