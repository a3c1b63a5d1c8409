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

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <net/if.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
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

/* A local address, its interface, and the MSS auto gives it. */
struct local_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 ifname[IFNAMSIZ];
	int			 mtu;
	int			 mss;
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
 * The largest k * 4096 + options the kernel takes as TCP_MAXSEG (28684:
 * it caps the value at 32767), or 0 if none.
 */
static int
listener_mss_max(int family)
{
	int	 fd, k, v, opt = listener_tcp_options();

	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	for (k = 32767 / ZC_BLOCK; k >= 1; k--) {
		v = k * ZC_BLOCK + opt;
		if (v <= 32767 && setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &v,
		    sizeof(v)) == 0)
			break;
	}
	close(fd);
	return (k >= 1 ? v : 0);
}

/*
 * The page-multiple MSS a link of mtu bytes carries (whole pages plus the
 * options, after the IP and TCP headers), at most max; 0 if not one page
 * fits (MTU 1500: nothing can be mapped there).
 */
static int
listener_mtu_mss(int family, int mtu, int max)
{
	int	 opt = listener_tcp_options(), v;

	v = mtu - (family == AF_INET6 ? 60 : 40) - opt;
	if (v < ZC_BLOCK)
		return (0);
	v = v / ZC_BLOCK * ZC_BLOCK + opt;
	return (v < max ? v : max);
}

/* Is sa the wildcard address of its family? */
static int
listener_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY));
	if (sa->sa_family == AF_INET6)
		return (IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr));
	return (0);
}

/* Do two addresses of one family name the same host (ports aside)? */
static int
listener_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return (0);
	if (a->sa_family == AF_INET)
		return (((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr);
	if (a->sa_family == AF_INET6)
		return (IN6_ARE_ADDR_EQUAL(
		    &((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr));
	return (0);
}

/* Set the port of an IPv4 or IPv6 address. */
static void
listener_set_port(struct sockaddr *sa, in_port_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = port;
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = port;
}

/* The port of an IPv4 or IPv6 address. */
static in_port_t
listener_get_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (((const struct sockaddr_in *)sa)->sin_port);
	return (((const struct sockaddr_in6 *)sa)->sin6_port);
}

/*
 * The local addresses of one family with their interface's name and MTU,
 * from getifaddrs(3); *n of them.  NULL if none or on error.
 */
static struct local_addr *
listener_local_addrs(int family, size_t *n)
{
	struct ifaddrs		*ifa, *i;
	struct local_addr	*la = NULL;
	struct ifreq		 ifr;
	int			 s;

	*n = 0;
	if (getifaddrs(&ifa) == -1) {
		log_warn("getifaddrs");
		return (NULL);
	}
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		freeifaddrs(ifa);
		return (NULL);
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family)
			continue;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->ifa_name);
		if (ioctl(s, SIOCGIFMTU, &ifr) == -1)
			continue;
		if ((la = reallocarray(la, *n + 1, sizeof(*la))) == NULL)
			fatal("reallocarray");
		memset(&la[*n], 0, sizeof(*la));
		memcpy(&la[*n].ss, i->ifa_addr, family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		la[*n].len = family == AF_INET6 ? sizeof(struct sockaddr_in6) :
		    sizeof(struct sockaddr_in);
		snprintf(la[*n].ifname, sizeof(la[*n].ifname), "%s",
		    i->ifa_name);
		la[*n].mtu = ifr.ifr_mtu;
		(*n)++;
	}
	close(s);
	freeifaddrs(ifa);
	return (la);
}

/*
 * The MSS auto gives a socket bound to sa: that of its interface's MTU
 * (capped at max), or max for the wildcard and addresses of no interface.
 * *mtu and ifname say where it came from (0: nowhere).
 */
static int
listener_auto_mss(const struct sockaddr *sa, int max, int *mtu, char *ifname,
    size_t ifnamelen)
{
	struct local_addr	*la;
	size_t			 n, i;
	int			 mss = max;

	*mtu = 0;
	if (listener_wildcard(sa))
		return (max);
	la = listener_local_addrs(sa->sa_family, &n);
	for (i = 0; i < n; i++) {
		if (!listener_same_host(sa, (struct sockaddr *)&la[i].ss))
			continue;
		mss = listener_mtu_mss(sa->sa_family, la[i].mtu, max);
		*mtu = la[i].mtu;
		snprintf(ifname, ifnamelen, "%s", la[i].ifname);
		break;
	}
	free(la);
	return (mss);
}

/* Set TCP_MAXSEG to mss (0: leave it).  Returns the value set, 0 if none. */
static int
listener_set_mss(int fd, int mss)
{
	if (mss <= 0)
		return (0);
	if (setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)) == -1) {
		log_warn("TCP_MAXSEG %d", mss);
		return (0);
	}
	return (mss);
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

/*
 * Watch a listening socket; log what it listens on, with why it has the
 * MSS it has (how) and a note.
 */
static void
listener_add(int fd, int mss, const char *how, const char *note)
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
	log_info("listening on %s%s%s:%s (page_mss %d%s)%s",
	    ss.ss_family == AF_INET6 ? "[" : "", host,
	    ss.ss_family == AF_INET6 ? "]" : "", port, mss, how, note);
}

/*
 * The value "page_mss" asks for on a socket bound to sa, and why, for the
 * log (how, howlen).
 */
static int
listener_want_mss(const struct sockaddr *sa, int page_mss, char *how,
    size_t howlen)
{
	char	 ifname[IFNAMSIZ];
	int	 max, mss, mtu;

	*how = '\0';
	if (page_mss == PAGE_MSS_OFF)
		return (0);
	if (page_mss != PAGE_MSS_AUTO)
		return (page_mss);
	if ((max = listener_mss_max(sa->sa_family)) == 0) {
		log_warnx("no page-multiple MSS accepted: payload will be "
		    "copied");
		return (0);
	}
	mss = listener_auto_mss(sa, max, &mtu, ifname, sizeof(ifname));
	if (mtu > 0 && mss < max)	/* the link limits it */
		snprintf(how, howlen, ", MTU %d on %s%s", mtu, ifname,
		    mss == 0 ? ": no page fits a segment" : "");
	return (mss);
}

/*
 * Take over a socket from socket activation: set the page-multiple MSS
 * (it applies to connections accepted from now on) and watch it.  A
 * wildcard socket gets the largest; per-interface sockets are for
 * listeners the daemon opens itself (listener_bind).
 */
int
listener_adopt(struct conf *c, int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 how[128];
	int			 fl, mss;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		log_warn("socket activation: fd %d", fd);
		return (-1);
	}
	mss = listener_want_mss((struct sockaddr *)&ss, c->page_mss, how,
	    sizeof(how));
	listener_add(fd, listener_set_mss(fd, mss), how, " (socket activation)");
	return (0);
}

/*
 * Open, bind and watch one listening socket for sa with TCP_MAXSEG mss
 * (0: none); reuseport lets the per-interface sockets share the wildcard's
 * port.  Returns the descriptor, or -1 (logged).
 */
static int
listener_socket(const struct sockaddr *sa, socklen_t salen, int mss,
    int reuseport, const char *text, const char *how)
{
	int	 fd, on = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_warn("%s: socket", text);
		return (-1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	mss = listener_set_mss(fd, mss);
	if (bind(fd, sa, salen) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("%s: bind", text);
		close(fd);
		return (-1);
	}
	listener_add(fd, mss, how, "");
	return (fd);
}

/*
 * Is the port of sa free?  A socket without SO_REUSEPORT cannot bind
 * where another listens, even one with it, so a second daemon on the port
 * is refused as without the per-interface sockets.  On success *port is
 * the port (the kernel's choice where sa asks for port 0).
 */
static int
listener_probe(const struct sockaddr *sa, socklen_t salen, const char *text,
    in_port_t *port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	int			 fd, on = 1, r = 0;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s: socket", text);
		return (-1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, sa, salen) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		log_warn("%s: bind", text);
		r = -1;
	} else
		*port = listener_get_port((struct sockaddr *)&ss);
	close(fd);
	return (r);
}

/*
 * Open the sockets for one address of a listen line.  With page_mss auto,
 * a connection should get the largest page multiple its link carries: the
 * MSS goes out in our SYN-ACK, before we know the peer, so it is chosen
 * per local address.  A specific address gets its interface's; the
 * wildcard gets the largest, plus one socket per local address whose
 * interface carries fewer pages (MTU 9000: 2, where the wildcard's 7
 * would make segments of 2 pages and 744 bytes that cannot be mapped
 * whole).  The kernel hands a connection to the socket bound to its
 * address before the wildcard.  Interfaces with no page per segment (MTU
 * 1500) need none: the connection copies (conn_file_start).
 */
static int
listener_bind(struct addrinfo *ai, int page_mss, const char *text)
{
	struct local_addr	*la = NULL;
	struct sockaddr_storage	 ss;
	size_t			 n = 0, i, extra = 0;
	char			 how[128];
	in_port_t		 port;
	int			 max, mss;

	mss = listener_want_mss(ai->ai_addr, page_mss, how, sizeof(how));
	if (page_mss == PAGE_MSS_AUTO && mss > 0 &&
	    listener_wildcard(ai->ai_addr)) {
		max = mss;
		la = listener_local_addrs(ai->ai_family, &n);
		for (i = 0; i < n; i++) {
			la[i].mss = listener_mtu_mss(ai->ai_family, la[i].mtu,
			    max);
			if (la[i].mss > 0 && la[i].mss < max)
				extra++;
		}
	}
	if (extra == 0) {
		free(la);
		return (listener_socket(ai->ai_addr, ai->ai_addrlen, mss, 0,
		    text, how) == -1 ? -1 : 0);
	}
	if (listener_probe(ai->ai_addr, ai->ai_addrlen, text, &port) == -1) {
		free(la);
		return (-1);
	}
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	listener_set_port((struct sockaddr *)&ss, port);
	if (listener_socket((struct sockaddr *)&ss, ai->ai_addrlen, mss, 1,
	    text, how) == -1) {
		free(la);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (la[i].mss == 0 || la[i].mss >= max)
			continue;
		listener_set_port((struct sockaddr *)&la[i].ss, port);
		snprintf(how, sizeof(how), ", MTU %d on %s", la[i].mtu,
		    la[i].ifname);
		/* The wildcard still serves an address that fails here. */
		listener_socket((struct sockaddr *)&la[i].ss, la[i].len,
		    la[i].mss, 1, text, how);
	}
	free(la);
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
