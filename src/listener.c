/*
 * listener.c -- listening sockets.
 *
 * For the receiver to map payload pages, every segment must carry whole
 * pages.  Without NIC header split that needs an MSS that is a page
 * multiple, which the daemon forces with TCP_MAXSEG on the listening socket
 * (accepted sockets inherit it; the MSS option in our SYN-ACK carries it to
 * the sender).  With TCP timestamps on, 12 bytes of options come out of
 * each segment, so the value is k * 4096 + 12.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tcp.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "zcrecvd.h"

#define LISTEN_BACKLOG		128

struct listener {
	struct evconnlistener	*evl;
	struct event		*ev_resume;
	SLIST_ENTRY(listener)	 entry;
};

static SLIST_HEAD(, listener)	listeners = SLIST_HEAD_INITIALIZER(listeners);

/*
 * Open connections per client address, for max_connections_per_address.
 * Touched by the main thread at accept and by workers when they free a
 * connection, hence the lock.  A list: it holds at most max_connections
 * entries and is walked once per connection.
 */
struct addr_count {
	struct sockaddr_storage	 addr;	/* port zeroed */
	int			 n;
	LIST_ENTRY(addr_count)	 entry;
};
static LIST_HEAD(, addr_count)	addr_counts = LIST_HEAD_INITIALIZER(addr_counts);
static pthread_mutex_t		 addr_lock = PTHREAD_MUTEX_INITIALIZER;

/* The address of sa without its port, for counting. */
static void
listener_addr_key(const struct sockaddr *sa, struct sockaddr_storage *key)
{
	memset(key, 0, sizeof(*key));
	key->ss_family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)key)->sin_addr =
		    ((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)key)->sin6_addr =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr;
}

/*
 * Count one more connection from sa if under the limit.  Returns the new
 * count, or 0 if the limit is reached.
 */
static int
listener_addr_take(const struct sockaddr *sa, int limit)
{
	struct sockaddr_storage	 key;
	struct addr_count	*a;
	int			 n = 0;

	listener_addr_key(sa, &key);
	pthread_mutex_lock(&addr_lock);
	LIST_FOREACH(a, &addr_counts, entry)
		if (memcmp(&a->addr, &key, sizeof(key)) == 0)
			break;
	if (a == NULL) {
		a = xcalloc(1, sizeof(*a));
		a->addr = key;
		LIST_INSERT_HEAD(&addr_counts, a, entry);
	}
	if (a->n < limit)
		n = ++a->n;
	pthread_mutex_unlock(&addr_lock);
	return (n);
}

/* A connection from this address is gone. */
void
listener_conn_gone(const struct sockaddr_storage *ss)
{
	struct sockaddr_storage	 key;
	struct addr_count	*a;

	listener_addr_key((const struct sockaddr *)ss, &key);
	pthread_mutex_lock(&addr_lock);
	LIST_FOREACH(a, &addr_counts, entry) {
		if (memcmp(&a->addr, &key, sizeof(key)) != 0)
			continue;
		if (--a->n == 0) {
			LIST_REMOVE(a, entry);
			free(a);
		}
		break;
	}
	pthread_mutex_unlock(&addr_lock);
}

/* Refuse a connection with an ERROR record the peer can read. */
static void
listener_refuse(int fd, const char *msg)
{
	uint8_t	 buf[ZC_HDR_LEN + ZC_ERROR_LEN + ZC_MSG_MAX];
	size_t	 len;

	len = proto_error_encode(buf, sizeof(buf), ZC_E_DENIED, msg);
	if (send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_debug("refusal not sent: %s", strerror(errno));
	shutdown(fd, SHUT_WR);
	/*
	 * Closing with unread input (the peer's HELLO) makes the kernel send
	 * a reset, which can overtake our ERROR: discard what has arrived.
	 */
	while (recv(fd, NULL, 65536, MSG_DONTWAIT | MSG_TRUNC) > 0)
		;
	close(fd);
}

/* Bytes of TCP options in every segment: 12 with timestamps, else 0. */
static int
listener_tcp_options(void)
{
	FILE	*fp;
	int	 ts = 1;

	if ((fp = fopen("/proc/sys/net/ipv4/tcp_timestamps", "r")) != NULL) {
		if (fscanf(fp, "%d", &ts) != 1)
			ts = 1;
		fclose(fp);
	}
	return (ts ? 12 : 0);
}

/*
 * Set the page-multiple MSS.  auto: the largest k * 4096 + options the
 * kernel accepts.  Returns the value set, 0 for none.
 */
static int
listener_page_mss(int fd, int page_mss)
{
	int	 k, v, opt;

	if (page_mss == PAGE_MSS_OFF)
		return (0);
	if (page_mss != PAGE_MSS_AUTO) {
		if (setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &page_mss,
		    sizeof(page_mss)) == -1) {
			log_warn("TCP_MAXSEG %d", page_mss);
			return (0);
		}
		return (page_mss);
	}
	opt = listener_tcp_options();
	for (k = 32767 / ZC_BLOCK; k >= 1; k--) {
		v = k * ZC_BLOCK + opt;
		if (v <= 32767 && setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v,
		    sizeof(v)) == 0)
			return (v);
	}
	log_warnx("no page-multiple MSS accepted: payload will be copied");
	return (0);
}

/* libevent: a connection was accepted; check the limits, hand it over. */
static void
listener_accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct conf	*c = cfg_acquire();
	int		 total = c->max_conns, per = c->max_conns_addr;

	conf_unref(c);
	if (STAT_GET(conns) >= (uint64_t)total) {
		log_warnx("refused a connection: %d connection%s open "
		    "(max_connections)", total, total == 1 ? "" : "s");
		STAT_ADD(refused_max, 1);
		listener_refuse(fd, "too many connections");
		return;
	}
	if (listener_addr_take(sa, per) == 0) {
		log_warnx("refused a connection: %d connection%s open from "
		    "that address (max_connections_per_address)", per,
		    per == 1 ? "" : "s");
		STAT_ADD(refused_addr, 1);
		listener_refuse(fd, "too many connections from your address");
		return;
	}
	STAT_ADD(conns, 1);
	worker_hand(fd);
}

/* libevent: time to accept again after running out of descriptors. */
static void
listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	evconnlistener_enable(l->evl);
}

/* libevent: accept failed.  Out of descriptors: back off for a second. */
static void
listener_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { 1, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		log_warnx("accept: %s: pausing for 1 s", strerror(err));
		evconnlistener_disable(evl);
		evtimer_add(l->ev_resume, &tv);
		return;
	}
	log_warnx("accept: %s", strerror(err));
}

/* Watch a listening socket; log what it listens on. */
static void
listener_add(int fd, int mss, const char *how)
{
	struct listener		*l;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 host[NI_MAXHOST], port[NI_MAXSERV];

	l = xcalloc(1, sizeof(*l));
	l->evl = evconnlistener_new(ev_base, listener_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	l->ev_resume = evtimer_new(ev_base, listener_resume_cb, l);
	if (l->evl == NULL || l->ev_resume == NULL)
		fatalx("evconnlistener_new");
	evconnlistener_set_error_cb(l->evl, listener_error_cb);
	SLIST_INSERT_HEAD(&listeners, l, entry);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(host, sizeof(host), "fd %d", fd);
		snprintf(port, sizeof(port), "?");
	}
	log_info("listening on %s%s%s:%s (page_mss %d)%s",
	    ss.ss_family == AF_INET6 ? "[" : "", host,
	    ss.ss_family == AF_INET6 ? "]" : "", port, mss, how);
}

/*
 * Take over a socket from socket activation: set the page-multiple MSS
 * (it applies to connections accepted from now on) and watch it.
 */
int
listener_adopt(struct conf *c, int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_warn("socket activation: fd %d", fd);
		return (-1);
	}
	listener_add(fd, listener_page_mss(fd, c->page_mss),
	    " (socket activation)");
	return (0);
}

/* Open one socket for one address. */
static int
listener_bind(struct addrinfo *ai, int page_mss, const char *text)
{
	int			 fd, on = 1, mss;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		log_warn("%s: socket", text);
		return (-1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	mss = listener_page_mss(fd, page_mss);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("%s: bind", text);
		close(fd);
		return (-1);
	}
	listener_add(fd, mss, "");
	return (0);
}

/* Open every configured listener; -1 if any address cannot be bound. */
int
listener_open(struct conf *c)
{
	struct addrinfo	 hints, *res, *ai;
	size_t		 i;
	int		 r;

	for (i = 0; i < c->nlisten; i++) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		r = getaddrinfo(c->listen[i].host, c->listen[i].port, &hints,
		    &res);
		if (r != 0) {
			log_warnx("%s:%d: listen %s: %s", c->file,
			    c->listen[i].line, c->listen[i].text,
			    gai_strerror(r));
			return (-1);
		}
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (listener_bind(ai, c->page_mss,
			    c->listen[i].text) == -1) {
				freeaddrinfo(res);
				return (-1);
			}
		}
		freeaddrinfo(res);
	}
	return (0);
}

/* Stop accepting and free the listeners. */
void
listener_close(void)
{
	struct listener	*l;

	while ((l = SLIST_FIRST(&listeners)) != NULL) {
		SLIST_REMOVE_HEAD(&listeners, entry);
		evconnlistener_free(l->evl);
		event_free(l->ev_resume);
		free(l);
	}
}
