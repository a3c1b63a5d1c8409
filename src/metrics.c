/*
 * metrics.c -- Prometheus metrics: the counters and the HTTP server.
 *
 * Workers count; the main thread answers GET /metrics on metrics_listen
 * with libevent's HTTP server, in the text exposition format 0.0.4.
 *
 * Counters touched per payload chunk or per connection are the atomics of
 * struct stats (zcrecvd.h): no lock on the hot path.  Counters by
 * destination and result are touched once per file, from xfer_end, so they
 * live in a small table under a lock.  The table is keyed by destination
 * name, not position, so that a reload that adds, drops or reorders
 * destinations keeps each one's counts; its names come from the
 * configuration (metrics_reload), and a file for any other name counts
 * under "(other)", which no destination can be called: a peer cannot grow
 * the table.  Destination names are [A-Za-z0-9_.-] (proto_dest_check), so
 * label values need no escaping.
 *
 * The socket is bound before the privilege drop, like the listeners, so
 * that a low port works.  metrics_allow is read from the configuration in
 * force at each request; metrics_listen needs a restart.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "zcrecvd.h"

#define METRICS_PATH		"/metrics"
#define METRICS_TYPE		"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_OTHER		"(other)"	/* not a destination name */
#define METRICS_DESTS_MAX	256		/* names kept, at most */
#define METRICS_ABORTED		(ZC_E_MAX + 1)	/* result: the peer left */
#define METRICS_RESULTS		(ZC_E_MAX + 2)
#define METRICS_TIMEOUT		10		/* seconds, any HTTP wait */
#define METRICS_HEADERS_MAX	8192		/* request line and headers */
#define METRICS_BODY_MAX	1024		/* a GET has none */
#define METRICS_BACKLOG		16
#ifndef HTTP_FORBIDDEN
#define HTTP_FORBIDDEN		403		/* libevent 2.1 names none */
#endif

/* Files and their bytes, by result, for one destination. */
struct metrics_dest {
	char		 name[ZC_DEST_MAX + 1];
	uint64_t	 files[METRICS_RESULTS];
	uint64_t	 bytes[METRICS_RESULTS];
};

/* Upper bounds of the duration histogram, seconds. */
static const double	 metrics_bounds[] = {
	0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600
};
#define METRICS_NBOUNDS	(sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

/* Under metrics_lock: per destination, and the histogram of landed files. */
static pthread_mutex_t		 metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_dest	*metrics_dests;
static size_t			 metrics_ndests;
static struct metrics_dest	 metrics_other = { .name = METRICS_OTHER };
static uint64_t			 metrics_hist[METRICS_NBOUNDS + 1];
static uint64_t			 metrics_hist_ns;	/* sum */

/* Main thread only: the server. */
struct metrics_sock {
	struct evconnlistener	*evl;	/* owned by the evhttp */
	SLIST_ENTRY(metrics_sock) entry;
};
static SLIST_HEAD(, metrics_sock) metrics_socks =
    SLIST_HEAD_INITIALIZER(metrics_socks);
static struct evhttp		*metrics_http;
static struct event		*metrics_ev_resume;
static struct conf		*metrics_conf;	/* metrics_allow in force */

/* The workers, for their queued writes. */
static struct worker		*metrics_workers_p;
static int			 metrics_nworkers;

/* The row of a result code: a protocol code, or aborted. */
static int
metrics_result(int code)
{
	if (code == PEER_GONE)
		return (METRICS_ABORTED);
	if (code < 0 || code > ZC_E_MAX)
		return (ZC_E_INTERNAL);
	return (code);
}

/* The name of a result row, as labels say it. */
static const char *
metrics_result_name(int r)
{
	return (r == METRICS_ABORTED ? "aborted" : proto_code_name(r));
}

/* The counters of a destination name, or (other); metrics_lock held. */
static struct metrics_dest *
metrics_dest_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < metrics_ndests; i++)
		if (strcmp(metrics_dests[i].name, name) == 0)
			return (&metrics_dests[i]);
	return (&metrics_other);
}

/*
 * A file ended with code (PEER_GONE: the peer left) after bytes of
 * payload and ns nanoseconds.  Once per file, from any worker.
 */
void
metrics_file(const char *dest, int code, uint64_t bytes, uint64_t ns)
{
	struct metrics_dest	*d;
	size_t			 b;
	int			 r = metrics_result(code);

	pthread_mutex_lock(&metrics_lock);
	d = metrics_dest_find(dest);
	d->files[r]++;
	d->bytes[r] += bytes;
	if (code == ZC_OK) {
		for (b = 0; b < METRICS_NBOUNDS; b++)
			if ((double)ns / UTIL_NS_PER_SEC <= metrics_bounds[b])
				break;
		metrics_hist[b]++;
		metrics_hist_ns += ns;
	}
	pthread_mutex_unlock(&metrics_lock);
}

/* Count by the destinations of c from now on; the old names stay. */
static void
metrics_add_dests(const struct conf *c)
{
	size_t	 i;

	pthread_mutex_lock(&metrics_lock);
	for (i = 0; i < c->ndests; i++) {
		if (metrics_dest_find(c->dests[i].name) != &metrics_other)
			continue;
		if (metrics_ndests == METRICS_DESTS_MAX) {
			log_warnx("metrics: more than %d destinations: [%s] "
			    "counts as %s", METRICS_DESTS_MAX,
			    c->dests[i].name, METRICS_OTHER);
			continue;
		}
		metrics_dests = reallocarray(metrics_dests, metrics_ndests + 1,
		    sizeof(*metrics_dests));
		if (metrics_dests == NULL)
			fatal("reallocarray");
		memset(&metrics_dests[metrics_ndests], 0,
		    sizeof(*metrics_dests));
		snprintf(metrics_dests[metrics_ndests++].name,
		    sizeof(metrics_dests->name), "%s", c->dests[i].name);
	}
	pthread_mutex_unlock(&metrics_lock);
}

/* A configuration is in force: its destinations and metrics_allow. */
void
metrics_reload(struct conf *c)
{
	metrics_add_dests(c);
	if (metrics_conf != NULL)
		conf_unref(metrics_conf);
	metrics_conf = conf_ref(c);
}

/* The workers whose queued writes the gauge sums (NULL: none now). */
void
metrics_workers(struct worker *w, int n)
{
	metrics_workers_p = w;
	metrics_nworkers = n;
}

/* The # HELP and # TYPE lines of a metric. */
static void
metrics_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A metric of one value without labels. */
static void
metrics_one(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Build info and the gauges of what is open now. */
static void
metrics_put_process(struct evbuffer *b)
{
	uint64_t	 queued = 0;
	int		 i;

	for (i = 0; i < metrics_nworkers; i++)
		queued += __atomic_load_n(&metrics_workers_p[i].pool.aio,
		    __ATOMIC_RELAXED);
	metrics_head(b, "zcrecvd_build_info", "gauge",
	    "The version of zcrecvd running, as a label; always 1.");
	evbuffer_add_printf(b, "zcrecvd_build_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	metrics_one(b, "zcrecvd_connections", "gauge",
	    "Sender connections open.", STAT_GET(conns));
	metrics_one(b, "zcrecvd_files_in_flight", "gauge",
	    "Files being received.", STAT_GET(in_flight));
	metrics_one(b, "zcrecvd_queued_writes", "gauge",
	    "Writes queued on io_uring and not yet done, all workers.",
	    queued);
}

/* Counters kept as atomics: payload by path, refused connections. */
static void
metrics_put_atomics(struct evbuffer *b)
{
	const char	*m = "zcrecvd_payload_bytes_total";
	const char	*r = "zcrecvd_connections_refused_total";

	metrics_head(b, m, "counter", "Payload bytes taken off sockets, by "
	    "receive path.");
	evbuffer_add_printf(b, "%s{path=\"mapped\"} %llu\n%s{path=\"copied\"} "
	    "%llu\n%s{path=\"spliced\"} %llu\n",
	    m, (unsigned long long)STAT_GET(zc_bytes),
	    m, (unsigned long long)STAT_GET(copied),
	    m, (unsigned long long)STAT_GET(spliced));
	metrics_head(b, "zcrecvd_read_pauses_total", "counter", "Times a "
	    "connection stopped reading: its disk writes were queued full "
	    "(disk) or its destination's max_rate was reached (rate).");
	evbuffer_add_printf(b, "zcrecvd_read_pauses_total{reason=\"disk\"} "
	    "%llu\nzcrecvd_read_pauses_total{reason=\"rate\"} %llu\n",
	    (unsigned long long)STAT_GET(disk_pauses),
	    (unsigned long long)STAT_GET(rate_pauses));
	metrics_one(b, "zcrecvd_loop_writes_total", "counter", "Synchronous "
	    "file writes made by a worker's event loop (unqueueable "
	    "writes, or no io_uring).", STAT_GET(loop_writes));
	metrics_head(b, r, "counter", "Connections refused at accept, by the "
	    "limit reached.");
	evbuffer_add_printf(b, "%s{reason=\"max_connections\"} %llu\n"
	    "%s{reason=\"max_connections_per_address\"} %llu\n",
	    r, (unsigned long long)STAT_GET(refused_max),
	    r, (unsigned long long)STAT_GET(refused_addr));
}

/*
 * One counter by destination and result, from d[0..n) and the (other)
 * row; metrics_lock held.  A result is shown once it happened, and ok
 * always, so that every destination has a series from the start.
 */
static void
metrics_put_by_dest(struct evbuffer *b, const char *name, int bytes)
{
	const struct metrics_dest	*d;
	const uint64_t			*v;
	size_t				 i;
	int				 r;

	for (i = 0; i <= metrics_ndests; i++) {
		d = i < metrics_ndests ? &metrics_dests[i] : &metrics_other;
		v = bytes ? d->bytes : d->files;
		for (r = 0; r < METRICS_RESULTS; r++) {
			if (d->files[r] == 0 &&
			    (r != ZC_OK || d == &metrics_other))
				continue;
			evbuffer_add_printf(b, "%s{dest=\"%s\",result=\"%s\"} "
			    "%llu\n", name, d->name, metrics_result_name(r),
			    (unsigned long long)v[r]);
		}
	}
}

/* The histogram of landed files' durations; metrics_lock held. */
static void
metrics_put_hist(struct evbuffer *b)
{
	const char	*h = "zcrecvd_transfer_duration_seconds";
	uint64_t	 n = 0;
	size_t		 i;

	metrics_head(b, h, "histogram", "Time from a file's FILE record to "
	    "its landing, of landed files.");
	for (i = 0; i < METRICS_NBOUNDS; i++) {
		n += metrics_hist[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h,
		    metrics_bounds[i], (unsigned long long)n);
	}
	n += metrics_hist[METRICS_NBOUNDS];
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n"
	    "%s_count %llu\n", h, (unsigned long long)n, h,
	    (double)metrics_hist_ns / UTIL_NS_PER_SEC, h,
	    (unsigned long long)n);
}

/* Counters kept under the lock: by destination, and the histogram. */
static void
metrics_put_files(struct evbuffer *b)
{
	pthread_mutex_lock(&metrics_lock);
	metrics_head(b, "zcrecvd_files_total", "counter", "Files that ended, "
	    "by destination and result (ok, a result code, or aborted).");
	metrics_put_by_dest(b, "zcrecvd_files_total", 0);
	metrics_head(b, "zcrecvd_received_bytes_total", "counter", "Payload "
	    "bytes of files that ended, by destination and result.");
	metrics_put_by_dest(b, "zcrecvd_received_bytes_total", 1);
	metrics_put_hist(b);
	pthread_mutex_unlock(&metrics_lock);
}

/* Is the peer of a request in metrics_allow? */
static int
metrics_allowed(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	const struct sockaddr		*sa;
	const struct conf		*c = metrics_conf;

	if ((evcon = evhttp_request_get_connection(req)) == NULL ||
	    (sa = evhttp_connection_get_addr(evcon)) == NULL ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return (0);
	return (conf_cidrs_match(c->metrics_allow, c->nmetrics_allow, sa));
}

/* libevent: a request.  Errors close the connection (evhttp_send_error). */
static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	const char		*path;
	struct evbuffer		*b;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);

	if (!metrics_allowed(req)) {
		log_debug("metrics: refused a request from a peer not in "
		    "metrics_allow");
		evhttp_send_error(req, HTTP_FORBIDDEN, NULL);
		return;
	}
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL || strcmp(path, METRICS_PATH) != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		evhttp_send_error(req, HTTP_BADMETHOD, NULL);
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	metrics_put_process(b);
	metrics_put_atomics(b);
	metrics_put_files(b);
	evhttp_add_header(out, "Content-Type", METRICS_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* libevent: time to accept again after running out of descriptors. */
static void
metrics_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_sock	*s;

	SLIST_FOREACH(s, &metrics_socks, entry)
		evconnlistener_enable(s->evl);
}

/* libevent: accept failed.  Out of descriptors: back off for a second. */
static void
metrics_error_cb(struct evconnlistener *evl, void *arg)
{
	struct timeval	 tv = { 1, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	log_warnx("metrics: accept: %s%s", strerror(err),
	    err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM ? ": pausing for 1 s" : "");
	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		evconnlistener_disable(evl);
		evtimer_add(metrics_ev_resume, &tv);
	}
}

/* Serve on a bound, listening socket; log where. */
static void
metrics_add(int fd)
{
	struct evhttp_bound_socket	*bound;
	struct metrics_sock		*s;
	struct sockaddr_storage		 ss;
	socklen_t			 sslen = sizeof(ss);
	char				 host[NI_MAXHOST], port[NI_MAXSERV];

	if ((bound = evhttp_accept_socket_with_handle(metrics_http,
	    fd)) == NULL)
		fatalx("evhttp_accept_socket");
	s = xcalloc(1, sizeof(*s));
	s->evl = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(s->evl, metrics_error_cb);
	SLIST_INSERT_HEAD(&metrics_socks, s, entry);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(host, sizeof(host), "fd %d", fd);
		snprintf(port, sizeof(port), "?");
	}
	log_info("serving metrics on %s%s%s:%s", ss.ss_family == AF_INET6 ?
	    "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port);
}

/* Bind and listen on one address; -1 with *cause. */
static int
metrics_bind(struct addrinfo *ai, const char *where, char **cause)
{
	int	 fd, on = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		*cause = xasprintf("%s: socket: %s", where, strerror(errno));
		return (-1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, METRICS_BACKLOG) == -1) {
		*cause = xasprintf("%s: bind: %s", where, strerror(errno));
		close(fd);
		return (-1);
	}
	metrics_add(fd);
	return (0);
}

/* Bind every address of metrics_listen; -1 with *cause. */
static int
metrics_bind_all(const struct conf *c, char **cause)
{
	const struct listen_addr	*la = &c->metrics_listen[0];
	struct addrinfo			 hints, *res, *ai;
	char				*where;
	int				 r;

	where = xasprintf("%s:%d: metrics_listen %s", c->file, la->line,
	    la->text);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(la->host, la->port, &hints, &res)) != 0) {
		*cause = xasprintf("%s: %s", where, gai_strerror(r));
		free(where);
		return (-1);
	}
	for (ai = res, r = 0; ai != NULL && r == 0; ai = ai->ai_next)
		r = metrics_bind(ai, where, cause);
	freeaddrinfo(res);
	free(where);
	return (r);
}

/*
 * Start counting by c's destinations and, if metrics_listen is set,
 * serve metrics on base.  At start-up, before the privilege drop.
 */
int
metrics_open(struct event_base *base, struct conf *c, char **cause)
{
	metrics_reload(c);
	if (c->nmetrics_listen == 0)
		return (0);
	if ((metrics_http = evhttp_new(base)) == NULL ||
	    (metrics_ev_resume = evtimer_new(base, metrics_resume_cb,
	    NULL)) == NULL)
		fatalx("evhttp_new");
	evhttp_set_timeout(metrics_http, METRICS_TIMEOUT);
	evhttp_set_max_headers_size(metrics_http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(metrics_http, METRICS_BODY_MAX);
	/* Every method libevent knows reaches us, to be answered 405. */
	evhttp_set_allowed_methods(metrics_http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(metrics_http, metrics_request_cb, NULL);
	return (metrics_bind_all(c, cause));
}

/* Stop serving: close the sockets and any open HTTP connection. */
void
metrics_close(void)
{
	struct metrics_sock	*s;

	while ((s = SLIST_FIRST(&metrics_socks)) != NULL) {
		SLIST_REMOVE_HEAD(&metrics_socks, entry);
		free(s);
	}
	if (metrics_http != NULL)
		evhttp_free(metrics_http);	/* and its sockets */
	if (metrics_ev_resume != NULL)
		event_free(metrics_ev_resume);
	metrics_http = NULL;
	metrics_ev_resume = NULL;
	if (metrics_conf != NULL)
		conf_unref(metrics_conf);
	metrics_conf = NULL;
	pthread_mutex_lock(&metrics_lock);
	free(metrics_dests);
	metrics_dests = NULL;
	metrics_ndests = 0;
	pthread_mutex_unlock(&metrics_lock);
}
