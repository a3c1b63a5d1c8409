/*
 * hostile.c -- a raw zcrecvd protocol client that misbehaves on purpose.
 *
 *	hostile [-a SECONDS] [-b ADDR] [-d DEST] [-g NAME] [-k KEYFILE]
 *	    [-p BYTES] [-t SECONDS] CASE HOST PORT [ARG...]
 *	hostile stop-on-staging DIR PID
 *	hostile pattern SIZE
 *	hostile check-pattern FILE...
 *
 * Each run connects once (hold: many times), plays one CASE and prints,
 * one line each, every record the receiver sends:
 *
 *	HELLO version N			ACCEPT offset N
 *	RESULT code NAME: message	ERROR code NAME: message
 *	CHALLENGE			AUTHOK verified|wrong|unchecked
 *	RECORD TYPE len N (anything else)	BAD cause (does not decode)
 *	EOF				RESET
 *	TIMEOUT (nothing for -t seconds, default 10, on any wait; -a
 *	seconds on a wait for flood-files' answers)
 *
 * and a few lines of its own: SENDFAIL error (the receiver stopped taking
 * bytes: closed or reset), SENDBLOCKED (it stopped reading for -t
 * seconds), RESET-SENT, IDLE, PAUSED, and DONE when the case has run.
 * Bytes of a message below 0x20 or 0x7f print as \xHH.
 *
 * Options:
 *	-a SECONDS	flood-files: every wait for an answer once the
 *			sending is over (default: -t)
 *	-b ADDR		connect from this local address (e.g. 127.0.0.2)
 *	-d DEST		destination name in FILE records (default: empty)
 *	-g NAME		after a file refused with RESULT (the connection
 *			stays usable), send a good 10-byte file NAME on the
 *			same connection
 *	-k KEYFILE	the destination's key: answer CHALLENGE properly
 *	-p BYTES	good: stop (SIGSTOP) after BYTES of payload
 *	-t SECONDS	every wait on the receiver (default 10)
 *
 * Payload is always the pattern "0123456789" repeated from file offset 0
 * ("hostile pattern SIZE" prints SIZE bytes of it), so a file that lands
 * can be checked.  Files are announced without a digest unless said.
 *
 * Cases (N: a decimal number, up to 2^64-1):
 *	garbage-at-hello	an HTTP request instead of HELLO
 *	garbage-after-hello	HELLO, then 64 random bytes (an impossible type)
 *	garbage-in-file		HELLO, FILE, ACCEPT, one DATA record, garbage
 *	truncated STATE		part of a record, then shut down the write side:
 *				hello (7 header bytes), hello-body (header, half
 *				the body), idle (9 bytes of a FILE header),
 *				idle-body (FILE header, half the body), file (5
 *				bytes of a DATA header after ACCEPT), payload
 *				(5000 of 65536 payload bytes), end (half an
 *				END), auth (half an AUTH after CHALLENGE)
 *	file-len N		HELLO, a FILE header of length N and min(N, 343)
 *				body bytes with name_len 255, dest_len 0
 *	data-len N		file of 2^30 bytes accepted, DATA header of
 *				length N; if N is legal, 64 KiB of payload, then
 *				shut down the write side
 *	file-size N		FILE announcing N bytes
 *	data-offset N		file of 65536 bytes accepted, DATA at offset N
 *	size-smaller		file of 10 bytes, DATA of 4096
 *	size-larger		file of 8192 bytes, DATA of 4096, END
 *	bad-digest		file of 4096 bytes with XXH3, END with a zero digest
 *	header STATE TYPE LEN [ARG [FLAGS]]
 *				any header in state hello, idle or file (after
 *				ACCEPT of a 65536-byte file), min(LEN, 512) zero
 *				body bytes, then shut down the write side
 *	reset-at STATE		play up to STATE, then close with a reset
 *				(SO_LINGER 0): hello (HELLO sent), idle (HELLO
 *				answered), file (ACCEPT), payload (1 MiB of an
 *				8 MiB file sent), end (65536-byte file and END
 *				sent, RESULT not read)
 *	name NAME		FILE with NAME (escapes: \xHH, \\, \n, \t); if
 *				accepted, 10 bytes and END
 *	good NAME [SIZE]	a proper file of SIZE bytes (default 10)
 *	idle SECONDS		HELLO, then wait up to SECONDS for the receiver
 *	silent SECONDS		connect, send nothing, wait up to SECONDS
 *	stall SECONDS		file of 65536 bytes accepted ("stall"), then
 *				nothing: wait up to SECONDS
 *	slowloris [SECONDS]	file of 1 MiB accepted, DATA header, then one
 *				payload byte a second for up to SECONDS (60)
 *	slow-header SECONDS	HELLO, then a FILE record one byte a second (for
 *				up to SECONDS)
 *	trickle RATE SECONDS	a file of RATE*SECONDS bytes (rounded down to
 *				4096) in one DATA record, RATE/10 bytes every
 *				100 ms, then END: steady progress
 *	flood-files N		N FILE records with the name "../x" without
 *				reading (a small send buffer), then shut down
 *				the write side and read (consecutive equal lines
 *				print once, "(xN)")
 *	hold N SECONDS		N connections, HELLO on each; print how each was
 *				answered ("HOLD held=.. denied=.. reset=..
 *				silent=.. other=.."), then READY, hold the
 *				accepted ones SECONDS, print CLOSED k
 *	auth-wrong		FILE; answer CHALLENGE with a random MAC
 *	auth-skip		FILE; answer CHALLENGE with DATA
 *	auth-unsolicited	AUTH record without CHALLENGE
 *	auth-stall SECONDS	FILE; after CHALLENGE wait up to SECONDS
 *	auth-replay		(-k) a good file, then on a second connection
 *				the first connection's AUTH record again
 *	auth-cross DEST2	(-k) a good file to -d DEST, then FILE to DEST2
 *				answered with the same key; if accepted, the 10
 *				bytes are sent (so a breach lands a file)
 *	hello N			HELLO proposing version N; print the answer
 *	entries KIND PATH ARG ...
 *				version 2 (HELLO version 2; the receiver's
 *				answer prints as "HELLO version 2 window W"):
 *				one ENTRY per triple, ids from 1, back to back
 *				within the window, printing "ENTRY #ID KIND size
 *				N PATH" for each and the receiver's records as
 *				they come ("ACCEPT #ID offset N", "RESULT #ID
 *				code NAME: message"), then "SENT N" and the
 *				RESULTs still owed.  PATH takes the escapes of
 *				name.  Mode 0640 (dirs 0750), mtime
 *				1600000000.123456789.  KIND ARG:
 *				  f SIZE	file, DATA records and END
 *				  w SIZE	file with WAIT: DATA and END
 *						only after its ACCEPT
 *				  i SIZE	inline file (SIZE <= 65536)
 *				  s SIZE	sparse file: DATA for the first
 *						and the last block only
 *				  e SIZE	file whose END names another id
 *				  d MODE	directory (octal, or - for 0750)
 *				  l TARGET	symlink to TARGET (escapes)
 *				  n COUNT	COUNT files PATH/dNN/fNNNNN
 *						(NN = i % 50) of (i * 1031) %
 *						9000 bytes, every third inline
 *				Payload is the pattern; -p pauses a file after
 *				BYTES of it, as for good.
 *	v2-file			HELLO version 2, then a FILE record
 *	stripe WHICH		version 4: a file of 3 MiB + 5000 bytes striped
 *				over two connections in chunks of 1 MiB, WHICH
 *				good or spoiled (see case_stripe); prints
 *				SESSION, JOINED as they come
 *	stream WHICH [SIZE]	version 3: a stream of SIZE bytes (5000), WHICH
 *				good, or spoiled: in-v2, no-wait, end,
 *				eos-size, after-tail, eos-file (see
 *				case_stream)
 *	check-pattern FILE...	(no connection) each FILE holds the payload
 *				pattern for its size; prints MISSING or
 *				DIFFERS lines, exit 1 if any
 *	stop-on-staging DIR PID	(no connection) watch DIR with inotify, print
 *				WATCHING; when a staging file is created there,
 *				SIGSTOP PID and print STOPPED NAME
 *
 * Exit: 0 when the case ran (whatever the receiver did), 2 on usage,
 * connection or local errors.
 */
#include "config.h"

#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zcproto.h"
#include "util.h"

#define H_CHUNK		(64U << 10)	/* payload send buffer */
#define H_RECORD	(1U << 20)	/* DATA record size for good files */
#define H_SMALL		10		/* size of the small files */
#define H_FILE_MAX	(ZC_FILE_LEN + ZC_NAME_MAX + ZC_DEST_MAX)
#define H_NAME_BUF	8192		/* longest name hostile sends */

enum rd {
	RD_REC,			/* a record, printed */
	RD_EOF,
	RD_RESET,
	RD_TIMEOUT,
	RD_BAD,
};

struct rec {
	struct zc_hdr	h;
	uint8_t		body[ZC_CTL_MAX];
};

static int		 opt_timeout = 10;
static int		 opt_answers;	/* -a; 0: opt_timeout */
static const char	*opt_bind;
static const char	*opt_dest = "";
static const char	*opt_good;
static struct zc_key	*opt_key;
static uint64_t		 opt_pause = UINT64_MAX;

static int		 flood_buffers;	/* flood: a small send buffer */
static int		 send_failed;	/* SENDFAIL/SENDBLOCKED printed */
static int		 collapse;	/* print equal lines once, counted */
static char		 last_line[8192];
static unsigned long	 last_count;
static uint8_t		 nonce_r[ZC_NONCE_LEN];	/* from CHALLENGE */
static uint8_t		 nonce_s[ZC_NONCE_LEN];	/* in our AUTH */
static int		 have_nonce_s;
static const char	*auth_dest;	/* destination name our AUTH was for */
static int		 v2;		/* the receiver answered version 2 */
static uint32_t		 window;	/* its window (version 2) */
static uint64_t		 in_flight;	/* entries sent without RESULT */
static uint64_t		 last_id;	/* id of the last ACCEPT or RESULT */
static int		 conn_over;	/* version 2: ERROR, EOF, reset, ... */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: hostile [-a seconds] [-b addr] [-d dest] "
	    "[-g name] [-k keyfile]\n"
	    "           [-p bytes] [-t seconds] case host port [arg ...]\n"
	    "       hostile stop-on-staging dir pid\n"
	    "       hostile pattern size\n"
	    "(see tests/hostile.c for the cases)\n");
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	 ap;

	fflush(stdout);
	fprintf(stderr, "hostile: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

/* A decimal number up to 2^64-1, or usage. */
static uint64_t
num(const char *s)
{
	unsigned long long	 v;
	char			*end;

	if (*s < '0' || *s > '9')
		usage();
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		usage();
	return (v);
}

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* --- output ------------------------------------------------------------- */

static void
flush_lines(void)
{
	if (last_count == 0)
		return;
	if (last_count > 1)
		printf("%s (x%lu)\n", last_line, last_count);
	else
		printf("%s\n", last_line);
	last_count = 0;
	fflush(stdout);
}

/* Print one line, or count it when it repeats the last one (collapse). */
static void __attribute__((format(printf, 1, 2)))
out(const char *fmt, ...)
{
	char	 line[sizeof(last_line)];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!collapse) {
		printf("%s\n", line);
		fflush(stdout);
		return;
	}
	if (last_count > 0 && strcmp(line, last_line) == 0) {
		last_count++;
		return;
	}
	flush_lines();
	memcpy(last_line, line, sizeof(last_line));
	last_count = 1;
}

/* A message from the receiver, with control bytes as \xHH. */
static void
vis_msg(const char *msg, char *buf, size_t len)
{
	const unsigned char	*s;
	size_t			 n = 0;

	for (s = (const unsigned char *)msg; *s != '\0' && n + 5 < len; s++) {
		if (*s < 0x20 || *s == 0x7f)
			n += snprintf(buf + n, len - n, "\\x%02x", *s);
		else
			buf[n++] = *s;
	}
	buf[n] = '\0';
}

/* --- connection --------------------------------------------------------- */

static void
set_timeouts(int fd)
{
	struct timeval	 tv = { .tv_sec = opt_timeout };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		die("setsockopt: %s", strerror(errno));
}

/*
 * flood-files' socket, before connect().  A small send buffer makes the
 * sender block soon after the receiver stops reading.  The receive buffer
 * stays the kernel's, autotuned: we do not read for seconds, so the
 * receiver's TCP backs off its timers, and the answers must resume when we
 * read, on the window update, not on its next timer.  A 4 KiB buffer let
 * the window we reopened stay below the receiver's segment size (half our
 * largest window), so nothing moved until a zero-window probe seconds
 * away; a large fixed one let the kernel drop in-window data it had no
 * memory for, and the receiver waited out a backed-off retransmission
 * timeout.
 */
static void
flood_socket(int fd)
{
	int	 sz = 4096;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) == -1)
		die("setsockopt: %s", strerror(errno));
}

/* Connect to host:port (from opt_bind if set); NULL errp: die on failure. */
static int
h_connect(const char *host, const char *port, int *errp)
{
	struct addrinfo	 hints, *res, *ai, *lres = NULL;
	int		 fd = -1, error, one = 1, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0)
		die("%s:%s: %s", host, port, gai_strerror(error));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1)
			continue;
		set_timeouts(fd);
		if (flood_buffers)
			flood_socket(fd);
		if (opt_bind != NULL) {
			hints.ai_family = ai->ai_family;
			hints.ai_flags = AI_NUMERICHOST;
			if ((error = getaddrinfo(opt_bind, "0", &hints,
			    &lres)) != 0)
				die("-b %s: %s", opt_bind, gai_strerror(error));
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
			if (bind(fd, lres->ai_addr, lres->ai_addrlen) == -1)
				die("bind %s: %s", opt_bind, strerror(errno));
			freeaddrinfo(lres);
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		if (errp != NULL) {
			*errp = saved;
			return (-1);
		}
		die("%s:%s: connection failed: %s", host, port,
		    strerror(saved));
	}
	return (fd);
}

/*
 * Send all of buf.  On failure print SENDFAIL (or SENDBLOCKED when the
 * receiver took nothing for opt_timeout seconds) once and return -1.
 */
static int
h_send(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	if (send_failed)
		return (-1);
	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			flush_lines();
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				out("SENDBLOCKED");
			else
				out("SENDFAIL %s", strerror(errno));
			flush_lines();
			send_failed = 1;
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}

static void
h_shutdown(int fd)
{
	if (shutdown(fd, SHUT_WR) == -1 && errno != ENOTCONN)
		die("shutdown: %s", strerror(errno));
}

/* Close with RST: SO_LINGER {1, 0}. */
static void
h_reset(int fd)
{
	struct linger	 l = { .l_onoff = 1, .l_linger = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) == -1)
		die("SO_LINGER: %s", strerror(errno));
	close(fd);
	out("RESET-SENT");
}

/*
 * Read exactly len bytes by deadline.  Returns len; 0 on EOF before the
 * first byte; -1 with errno ECONNRESET, ETIMEDOUT, or EPROTO (EOF inside).
 */
static ssize_t
recv_exact(int fd, uint8_t *p, size_t len, int64_t deadline)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	size_t		 got = 0;
	ssize_t		 n;
	int64_t		 left;
	int		 r;

	while (got < len) {
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		if ((r = poll(&pfd, 1, (int)left)) == -1) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (r == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		n = recv(fd, p + got, len - got, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno != ECONNRESET)
				die("recv: %s", strerror(errno));
			return (-1);
		}
		if (n == 0) {
			if (got == 0)
				return (0);
			errno = EPROTO;
			return (-1);
		}
		got += n;
	}
	return ((ssize_t)got);
}

/* Print a decoded record. */
static void
print_rec(const struct rec *r)
{
	struct zc_hello		 hello;
	struct zc_result	 res;
	struct zc_error		 err;
	uint64_t		 off, id;
	uint8_t			 mac[ZC_MAC_LEN];
	char			*cause = NULL, vis[UTIL_VIS_MAX];
	const char		*v;

	switch (r->h.type) {
	case ZC_T_HELLO:
		if (proto_hello_decode(r->body, r->h.len, &hello,
		    &cause) == 0) {
			if (hello.version >= ZC_PROTO_V2) {
				v2 = 1;
				window = hello.window;
				out("HELLO version %u window %u", hello.version,
				    hello.window);
			} else
				out("HELLO version %u", hello.version);
		}
		break;
	case ZC_T_ACCEPT:
		if (proto_accept_decode(r->body, r->h.len, &off, &id,
		    &cause) == 0) {
			last_id = id;
			if (v2)
				out("ACCEPT #%llu offset %llu",
				    (unsigned long long)id,
				    (unsigned long long)off);
			else
				out("ACCEPT offset %llu",
				    (unsigned long long)off);
		}
		break;
	case ZC_T_RESULT:
		if (proto_result_decode(r->body, r->h.len, &res, &cause) == 0) {
			vis_msg(res.msg, vis, sizeof(vis));
			last_id = res.id;
			if (v2) {
				out("RESULT #%llu code %s: %s",
				    (unsigned long long)res.id,
				    proto_code_name(res.code), vis);
				if (in_flight > 0)
					in_flight--;
			} else
				out("RESULT code %s: %s",
				    proto_code_name(res.code), vis);
		}
		break;
	case ZC_T_ERROR:
		if (proto_error_decode(r->body, r->h.len, &err, &cause) == 0) {
			vis_msg(err.msg, vis, sizeof(vis));
			out("ERROR code %s: %s", proto_code_name(err.code),
			    vis);
		}
		break;
	case ZC_T_CHALLENGE:
		memcpy(nonce_r, r->body, ZC_NONCE_LEN);
		out("CHALLENGE");
		break;
	case ZC_T_AUTHOK:
		v = "unchecked";
		if (opt_key != NULL && have_nonce_s) {
			auth_mac(opt_key, 1, nonce_s, nonce_r, auth_dest, mac);
			v = auth_equal(mac, r->body) ? "verified" : "wrong";
		}
		out("AUTHOK %s", v);
		break;
	default:
		out("RECORD %s len %u", proto_type_name(r->h.type), r->h.len);
		break;
	}
	if (cause != NULL) {
		out("BAD %s", cause);
		free(cause);
	}
}

/* Read and print one record, waiting up to secs (0: opt_timeout). */
static enum rd
h_read_quiet(int fd, struct rec *r, int secs, int print)
{
	uint8_t		 hbuf[ZC_HDR_LEN];
	char		*cause = NULL;
	int64_t		 deadline;
	ssize_t		 n;

	deadline = now_ms() + 1000LL * (secs > 0 ? secs : opt_timeout);
	memset(&r->h, 0, sizeof(r->h));
	n = recv_exact(fd, hbuf, sizeof(hbuf), deadline);
	if (n == 0) {
		if (print)
			out("EOF");
		return (RD_EOF);
	}
	if (n == -1)
		goto failed;
	if (proto_hdr_decode(hbuf, &r->h, &cause) == -1) {
		if (print)
			out("BAD %s", cause);
		free(cause);
		return (RD_BAD);
	}
	if (r->h.len > ZC_CTL_MAX) {
		if (print)
			out("BAD %s record of %u bytes",
			    proto_type_name(r->h.type), r->h.len);
		return (RD_BAD);
	}
	n = recv_exact(fd, r->body, r->h.len, deadline);
	if (n == 0 && r->h.len > 0) {
		errno = EPROTO;
		n = -1;
	}
	if (n == -1)
		goto failed;
	if (print)
		print_rec(r);
	return (RD_REC);

failed:
	if (errno == ECONNRESET) {
		if (print)
			out("RESET");
		return (RD_RESET);
	}
	if (errno == ETIMEDOUT) {
		if (print)
			out("TIMEOUT");
		return (RD_TIMEOUT);
	}
	if (print)
		out("BAD connection closed inside a record");
	return (RD_BAD);
}

static enum rd
h_read(int fd, struct rec *r)
{
	return (h_read_quiet(fd, r, 0, 1));
}

/* Read one record; true if it is of the type. */
static int
h_expect(int fd, struct rec *r, uint16_t type)
{
	return (h_read(fd, r) == RD_REC && r->h.type == type);
}

/* Print records until the receiver closes (or a wait times out). */
static void
h_drain(int fd)
{
	struct rec	 r;

	while (h_read(fd, &r) == RD_REC)
		;
}

/* --- records ------------------------------------------------------------ */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, v & 0xffffffffU);
}

/* A header with any type, flags, length and argument. */
static void
hdr(uint8_t *p, uint16_t type, uint16_t flags, uint32_t len, uint64_t arg)
{
	put16(p, type);
	put16(p + 2, flags);
	put32(p + 4, len);
	put64(p + 8, arg);
}

/*
 * A FILE record with raw name bytes (any length up to what fits) and
 * opt_dest; the header's length is the body's.  Returns the record length.
 */
static size_t
file_rec(uint8_t *p, size_t size, const char *name, size_t nlen,
    uint64_t fsize, uint32_t alg)
{
	size_t	 dlen = strlen(opt_dest), blen = ZC_FILE_LEN + nlen + dlen;

	if (nlen > UINT16_MAX || dlen > UINT16_MAX || size < ZC_HDR_LEN + blen)
		die("FILE record too long");
	hdr(p, ZC_T_FILE, 0, blen, 0);
	p += ZC_HDR_LEN;
	memset(p, 0, ZC_FILE_LEN);
	put64(p, fsize);
	put32(p + 8, 0644);
	put32(p + 12, alg);
	put16(p + 16, nlen);
	put16(p + 18, dlen);
	memcpy(p + ZC_FILE_LEN, name, nlen);
	memcpy(p + ZC_FILE_LEN + nlen, opt_dest, dlen);
	return (ZC_HDR_LEN + blen);
}

static int
send_hdr(int fd, uint16_t type, uint32_t len, uint64_t arg)
{
	uint8_t	 buf[ZC_HDR_LEN];

	hdr(buf, type, 0, len, arg);
	return (h_send(fd, buf, sizeof(buf)));
}

/* The payload pattern at file offset off. */
static void
pattern(uint8_t *p, size_t len, uint64_t off)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = '0' + (off + i) % 10;
}

/* len bytes of payload (no header) for file offset off. */
static int
send_bytes(int fd, uint64_t off, uint64_t len)
{
	static uint8_t	 buf[H_CHUNK];
	size_t		 n;

	while (len > 0) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		pattern(buf, n, off);
		if (h_send(fd, buf, n) == -1)
			return (-1);
		off += n;
		len -= n;
	}
	return (0);
}

/* A DATA record: header and payload. */
static int
send_data(int fd, uint64_t off, uint32_t len)
{
	if (send_hdr(fd, ZC_T_DATA, len, off) == -1)
		return (-1);
	return (send_bytes(fd, off, len));
}

/* END for entry id (0 in version 1). */
static int
send_end_id(int fd, uint32_t alg, uint64_t id)
{
	struct zc_end	 e;
	uint8_t		 buf[ZC_HDR_LEN + ZC_END_LEN];

	memset(&e, 0, sizeof(e));
	e.digest_alg = alg;
	e.id = id;
	return (h_send(fd, buf, proto_end_encode(buf, sizeof(buf), &e)));
}

static int
send_end(int fd, uint32_t alg)
{
	return (send_end_id(fd, alg, 0));
}

/* HELLO both ways; true when the receiver answered HELLO. */
static int
start(int fd)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN];
	struct rec	 r;
	enum rd		 rd;

	if (h_send(fd, buf, proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1,
	    0)) == -1) {
		h_drain(fd);
		return (0);
	}
	if ((rd = h_read(fd, &r)) == RD_REC && r.h.type == ZC_T_HELLO)
		return (1);
	if (rd == RD_REC)
		h_drain(fd);
	return (0);
}

/* Answer the CHALLENGE in nonce_r with a proper AUTH for opt_dest. */
static int
send_auth(int fd, const struct zc_key *key, const char *dname)
{
	uint8_t	 mac[ZC_MAC_LEN], buf[ZC_HDR_LEN + ZC_AUTH_LEN];

	auth_nonce(nonce_s);
	have_nonce_s = 1;
	auth_dest = dname;
	auth_mac(key, 0, nonce_r, nonce_s, dname, mac);
	return (h_send(fd, buf, proto_blob_encode(buf, sizeof(buf), ZC_T_AUTH,
	    nonce_s, ZC_NONCE_LEN, mac, ZC_MAC_LEN)));
}

static const char *
dest_name(void)
{
	return (*opt_dest != '\0' ? opt_dest : "default");
}

/*
 * Announce a file; a CHALLENGE is answered when -k was given.  Returns 1
 * on ACCEPT, 0 on a refusal that leaves the connection usable (RESULT),
 * -1 when the connection is over (or the CHALLENGE is left to the caller:
 * *challenged).
 */
static int
open_file(int fd, const char *name, size_t nlen, uint64_t size, uint32_t alg,
    int *challenged)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_FILE_LEN + H_NAME_BUF + ZC_DEST_MAX];
	struct rec	 r;

	if (challenged != NULL)
		*challenged = 0;
	if (h_send(fd, buf, file_rec(buf, sizeof(buf), name, nlen, size,
	    alg)) == -1)
		return (-1);
	if (h_read(fd, &r) != RD_REC)
		return (-1);
	if (r.h.type == ZC_T_CHALLENGE) {
		if (opt_key == NULL) {
			if (challenged != NULL)
				*challenged = 1;
			return (-1);
		}
		if (send_auth(fd, opt_key, dest_name()) == -1 ||
		    h_read(fd, &r) != RD_REC)
			return (-1);
		if (r.h.type == ZC_T_AUTHOK && h_read(fd, &r) != RD_REC)
			return (-1);
	}
	if (r.h.type == ZC_T_ACCEPT)
		return (1);
	if (r.h.type == ZC_T_RESULT)
		return (0);
	return (-1);
}

/*
 * Payload of an accepted file in DATA records of up to 1 MiB, then END
 * (for entry id in version 2).
 */
static int
send_file_body_id(int fd, uint64_t size, uint64_t id)
{
	uint64_t	 off = 0;
	uint32_t	 n;
	int		 paused = 0;

	while (off < size) {
		n = size - off < H_RECORD ? (uint32_t)(size - off) : H_RECORD;
		if (!paused && off + n > opt_pause) {
			/* Stop exactly after opt_pause bytes (block aligned). */
			n = (uint32_t)(opt_pause - off);
			if (n == 0) {
				out("PAUSED at %llu", (unsigned long long)off);
				raise(SIGSTOP);
				paused = 1;
				continue;
			}
		}
		if (send_data(fd, off, n) == -1)
			return (-1);
		off += n;
	}
	return (send_end_id(fd, ZC_DIGEST_NONE, id));
}

static int
send_file_body(int fd, uint64_t size)
{
	return (send_file_body_id(fd, size, 0));
}

/* A proper file of size bytes; true if it was accepted and answered. */
static int
good_file(int fd, const char *name, uint64_t size)
{
	struct rec	 r;

	if (open_file(fd, name, strlen(name), size, ZC_DIGEST_NONE,
	    NULL) != 1)
		return (0);
	if (send_file_body(fd, size) == -1)
		return (0);
	return (h_read(fd, &r) == RD_REC);
}

/* After a RESULT refusal: -g NAME on the same connection. */
static void
follow_up(int fd)
{
	if (opt_good != NULL)
		good_file(fd, opt_good, H_SMALL);
}

/* Decode NAME escapes: \xHH, \\, \n, \t.  Returns the length. */
static size_t
unescape(const char *s, char *out_buf, size_t size)
{
	size_t		 n = 0;
	unsigned int	 v;

	while (*s != '\0') {
		if (n + 1 >= size)
			die("name too long");
		if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &v) == 1
		    && s[2] != '\0' && s[3] != '\0') {
			out_buf[n++] = (char)v;
			s += 4;
		} else if (s[0] == '\\' && s[1] == '\\') {
			out_buf[n++] = '\\';
			s += 2;
		} else if (s[0] == '\\' && s[1] == 'n') {
			out_buf[n++] = '\n';
			s += 2;
		} else if (s[0] == '\\' && s[1] == 't') {
			out_buf[n++] = '\t';
			s += 2;
		} else
			out_buf[n++] = *s++;
	}
	out_buf[n] = '\0';
	return (n);
}

static void
random_bytes(uint8_t *p, size_t len)
{
	ssize_t	 n;
	int	 fd;

	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1)
		die("/dev/urandom: %s", strerror(errno));
	while (len > 0) {
		if ((n = read(fd, p, len)) <= 0)
			die("/dev/urandom: %s", strerror(errno));
		p += n;
		len -= n;
	}
	close(fd);
}

static void
send_garbage(int fd)
{
	uint8_t	 buf[64];

	random_bytes(buf, sizeof(buf));
	buf[0] = 0xff;		/* type 0xffxx: never a record type */
	h_send(fd, buf, sizeof(buf));
}

/* --- cases -------------------------------------------------------------- */

static void
case_truncated(int fd, const char *state)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	size_t		 len;
	int		 challenged;

	if (strcmp(state, "hello") == 0) {
		proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 0);
		h_send(fd, buf, 7);
	} else if (strcmp(state, "hello-body") == 0) {
		proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 0);
		h_send(fd, buf, ZC_HDR_LEN + ZC_HELLO_LEN / 2);
	} else if (strcmp(state, "idle") == 0 ||
	    strcmp(state, "idle-body") == 0) {
		if (!start(fd))
			return;
		len = file_rec(buf, sizeof(buf), "truncated", 9, 10, 0);
		h_send(fd, buf, state[4] == '\0' ? 9 :
		    ZC_HDR_LEN + (len - ZC_HDR_LEN) / 2);
	} else if (strcmp(state, "file") == 0) {
		if (!start(fd) || open_file(fd, "truncated-file", 14, 65536,
		    0, NULL) != 1)
			return;
		hdr(buf, ZC_T_DATA, 0, 4096, 0);
		h_send(fd, buf, 5);
	} else if (strcmp(state, "payload") == 0) {
		if (!start(fd) || open_file(fd, "truncated-payload", 17, 65536,
		    0, NULL) != 1)
			return;
		if (send_hdr(fd, ZC_T_DATA, 65536, 0) == -1 ||
		    send_bytes(fd, 0, 5000) == -1)
			return;
	} else if (strcmp(state, "end") == 0) {
		if (!start(fd) || open_file(fd, "truncated-end", 13, 4096, 0,
		    NULL) != 1 || send_data(fd, 0, 4096) == -1)
			return;
		memset(buf, 0, ZC_HDR_LEN + ZC_END_LEN);
		hdr(buf, ZC_T_END, 0, ZC_END_LEN, 0);
		h_send(fd, buf, ZC_HDR_LEN + ZC_END_LEN / 2);
	} else if (strcmp(state, "auth") == 0) {
		if (!start(fd))
			return;
		if (open_file(fd, "truncated-auth", 14, 10, 0,
		    &challenged) != -1 || !challenged)
			return;
		memset(buf, 0, sizeof(buf));
		hdr(buf, ZC_T_AUTH, 0, ZC_AUTH_LEN, 0);
		h_send(fd, buf, ZC_HDR_LEN + ZC_AUTH_LEN / 2);
	} else
		usage();
	h_shutdown(fd);
	h_drain(fd);
}

static void
case_file_len(int fd, uint64_t n)
{
	uint8_t	 buf[ZC_HDR_LEN + H_FILE_MAX];
	size_t	 body = n < H_FILE_MAX ? (size_t)n : H_FILE_MAX;

	if (n > UINT32_MAX)
		usage();
	if (!start(fd))
		return;
	memset(buf, 'x', sizeof(buf));
	hdr(buf, ZC_T_FILE, 0, (uint32_t)n, 0);
	if (body >= ZC_FILE_LEN) {
		memset(buf + ZC_HDR_LEN, 0, ZC_FILE_LEN);
		put64(buf + ZC_HDR_LEN, H_SMALL);
		put32(buf + ZC_HDR_LEN + 8, 0644);
		put16(buf + ZC_HDR_LEN + 16, ZC_NAME_MAX);
	}
	if (h_send(fd, buf, ZC_HDR_LEN + body) == -1) {
		h_drain(fd);
		return;
	}
	h_drain(fd);
}

static void
case_data_len(int fd, uint64_t n)
{
	if (n > UINT32_MAX)
		usage();
	if (!start(fd) || open_file(fd, "data-len", 8, ZC_DATA_MAX, 0,
	    NULL) != 1)
		return;
	if (send_hdr(fd, ZC_T_DATA, (uint32_t)n, 0) == 0 && n >= 1 &&
	    n <= ZC_DATA_MAX)
		send_bytes(fd, 0, H_CHUNK);
	if (n >= 1 && n <= ZC_DATA_MAX)
		h_shutdown(fd);
	h_drain(fd);
}

static void
case_file_size(int fd, uint64_t n)
{
	int	 r;

	if (!start(fd))
		return;
	r = open_file(fd, "file-size", 9, n, 0, NULL);
	if (r == 0)
		follow_up(fd);
	else if (r == 1) {
		/* Accepted an absurd size: show what happens next. */
		h_shutdown(fd);
		h_drain(fd);
	}
}

static void
case_data_offset(int fd, uint64_t n)
{
	if (!start(fd) || open_file(fd, "data-offset", 11, 65536, 0,
	    NULL) != 1)
		return;
	if (send_hdr(fd, ZC_T_DATA, 4096, n) == 0)
		send_bytes(fd, 0, 4096);
	h_drain(fd);
}

static void
case_size(int fd, int larger)
{
	struct rec	 r;

	if (!start(fd))
		return;
	if (!larger) {
		if (open_file(fd, "size-smaller", 12, 10, 0, NULL) != 1)
			return;
		send_data(fd, 0, 4096);
		h_drain(fd);
		return;
	}
	if (open_file(fd, "size-larger", 11, 8192, 0, NULL) != 1)
		return;
	if (send_data(fd, 0, 4096) == -1 || send_end(fd, 0) == -1) {
		h_drain(fd);
		return;
	}
	if (h_expect(fd, &r, ZC_T_RESULT))
		follow_up(fd);
}

static void
case_bad_digest(int fd)
{
	struct rec	 r;

	if (!start(fd) || open_file(fd, "bad-digest", 10, 4096,
	    ZC_DIGEST_XXH3_128, NULL) != 1)
		return;
	if (send_data(fd, 0, 4096) == -1 ||
	    send_end(fd, ZC_DIGEST_XXH3_128) == -1) {
		h_drain(fd);
		return;
	}
	if (h_expect(fd, &r, ZC_T_RESULT))
		follow_up(fd);
}

static void
case_header(int fd, int argc, char **argv)
{
	uint8_t		 buf[ZC_HDR_LEN + 512];
	const char	*state;
	uint64_t	 type, len, arg = 0, flags = 0;

	if (argc < 3 || argc > 5)
		usage();
	state = argv[0];
	type = num(argv[1]);
	len = num(argv[2]);
	if (argc > 3)
		arg = num(argv[3]);
	if (argc > 4)
		flags = num(argv[4]);
	if (type > UINT16_MAX || flags > UINT16_MAX || len > UINT32_MAX)
		usage();
	if (strcmp(state, "idle") == 0) {
		if (!start(fd))
			return;
	} else if (strcmp(state, "file") == 0) {
		if (!start(fd) || open_file(fd, "header", 6, 65536, 0,
		    NULL) != 1)
			return;
	} else if (strcmp(state, "hello") != 0)
		usage();
	memset(buf, 0, sizeof(buf));
	hdr(buf, (uint16_t)type, (uint16_t)flags, (uint32_t)len, arg);
	if (h_send(fd, buf, ZC_HDR_LEN + (len < 512 ? len : 512)) == 0)
		h_shutdown(fd);
	h_drain(fd);
}

static void
case_reset_at(int fd, const char *state)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN];

	if (strcmp(state, "hello") == 0) {
		if (h_send(fd, buf, proto_hello_encode(buf,
		    sizeof(buf), ZC_PROTO_V1, 0)) == -1)
			return;
	} else if (strcmp(state, "idle") == 0) {
		if (!start(fd))
			return;
	} else if (strcmp(state, "file") == 0) {
		if (!start(fd) || open_file(fd, "reset-file", 10, 65536, 0,
		    NULL) != 1)
			return;
	} else if (strcmp(state, "payload") == 0) {
		if (!start(fd) || open_file(fd, "reset-payload", 13, 8U << 20,
		    0, NULL) != 1)
			return;
		if (send_hdr(fd, ZC_T_DATA, 8U << 20, 0) == -1 ||
		    send_bytes(fd, 0, 1U << 20) == -1)
			return;
	} else if (strcmp(state, "end") == 0) {
		if (!start(fd) || open_file(fd, "reset-end", 9, 65536, 0,
		    NULL) != 1)
			return;
		if (send_data(fd, 0, 65536) == -1 || send_end(fd, 0) == -1)
			return;
	} else
		usage();
	h_reset(fd);
}

static void
case_name(int fd, const char *arg)
{
	char		 name[H_NAME_BUF];
	size_t		 nlen;
	struct rec	 r;
	int		 ok;

	nlen = unescape(arg, name, sizeof(name));
	if (!start(fd))
		return;
	ok = open_file(fd, name, nlen, H_SMALL, 0, NULL);
	if (ok == 0) {
		follow_up(fd);
		return;
	}
	if (ok == -1) {
		h_drain(fd);
		return;
	}
	/* Accepted: land it, so that the test can see where it went. */
	if (send_data(fd, 0, H_SMALL) == -1 || send_end(fd, 0) == -1) {
		h_drain(fd);
		return;
	}
	h_read(fd, &r);
}

/* Wait up to secs for the receiver, printing what it says until it closes. */
static void
wait_for_peer(int fd, int secs)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	struct rec	 r;
	int64_t		 t0 = now_ms(), deadline = t0 + 1000LL * secs, left;
	enum rd		 rd;
	int		 n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			out("TIMEOUT");
			return;
		}
		if ((n = poll(&pfd, 1, (int)left)) == -1) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (n == 0)
			continue;
		rd = h_read_quiet(fd, &r, secs, 1);
		if (rd != RD_REC) {
			fprintf(stderr, "hostile: receiver closed after "
			    "%.1f s\n", (now_ms() - t0) / 1000.0);
			return;
		}
	}
}

static void
case_idle(int fd, uint64_t secs, int hello)
{
	if (secs > 86400)
		usage();
	if (hello && !start(fd))
		return;
	out("IDLE");
	wait_for_peer(fd, (int)secs);
}

/* A file accepted, then silence. */
static void
case_stall(int fd, uint64_t secs)
{
	if (secs > 86400)
		usage();
	if (!start(fd) || open_file(fd, "stall", 5, 65536, 0, NULL) != 1)
		return;
	out("IDLE");
	wait_for_peer(fd, (int)secs);
}

static void
case_slowloris(int fd, uint64_t secs)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	uint64_t	 sent = 0, i;
	int		 n;

	if (secs > 86400)
		usage();
	if (!start(fd) || open_file(fd, "slowloris", 9, 1U << 20, 0,
	    NULL) != 1)
		return;
	if (send_hdr(fd, ZC_T_DATA, 1U << 20, 0) == -1) {
		h_drain(fd);
		return;
	}
	for (i = 0; i < secs; i++) {
		if ((n = poll(&pfd, 1, 1000)) == -1 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n > 0) {
			fprintf(stderr, "hostile: slowloris: %llu bytes "
			    "sent\n", (unsigned long long)sent);
			h_drain(fd);
			return;
		}
		if (send_bytes(fd, sent, 1) == -1) {
			h_drain(fd);
			return;
		}
		sent++;
	}
	fprintf(stderr, "hostile: slowloris: %llu bytes sent\n",
	    (unsigned long long)sent);
	out("TIMEOUT");
}

/* HELLO, then a FILE record one byte a second, for up to secs. */
static void
case_slow_header(int fd, uint64_t secs)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	uint8_t		 buf[ZC_HDR_LEN + ZC_FILE_LEN + 64];
	size_t		 len, sent = 0;
	uint64_t	 i;
	int		 n;

	if (secs > 86400)
		usage();
	if (!start(fd))
		return;
	len = file_rec(buf, sizeof(buf), "slow-header", 11, H_SMALL, 0);
	for (i = 0; i < secs && sent < len; i++) {
		if (h_send(fd, buf + sent, 1) == -1) {
			h_drain(fd);
			return;
		}
		sent++;
		if ((n = poll(&pfd, 1, 1000)) == -1 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n > 0) {
			fprintf(stderr, "hostile: slow-header: %zu bytes "
			    "sent\n", sent);
			h_drain(fd);
			return;
		}
	}
	fprintf(stderr, "hostile: slow-header: %zu bytes sent\n", sent);
	out("TIMEOUT");
}

static void
case_trickle(int fd, uint64_t rate, uint64_t secs)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	struct rec	 r;
	uint64_t	 size, sent = 0, step;
	int64_t		 next;
	int		 n;

	size = rate * secs / ZC_BLOCK * ZC_BLOCK;
	if (rate < 10 || secs > 3600 || size == 0 || size > ZC_DATA_MAX)
		usage();
	step = rate / 10;
	if (!start(fd) || open_file(fd, "trickle", 7, size, 0, NULL) != 1)
		return;
	if (send_hdr(fd, ZC_T_DATA, (uint32_t)size, 0) == -1) {
		h_drain(fd);
		return;
	}
	next = now_ms();
	while (sent < size) {
		next += 100;
		while ((n = poll(&pfd, 1, (int)(next > now_ms() ?
		    next - now_ms() : 0))) == -1 && errno == EINTR)
			;
		if (n > 0) {
			fprintf(stderr, "hostile: trickle: interrupted after "
			    "%llu of %llu bytes\n", (unsigned long long)sent,
			    (unsigned long long)size);
			h_drain(fd);
			return;
		}
		n = (int)(size - sent < step ? size - sent : step);
		if (send_bytes(fd, sent, (uint64_t)n) == -1) {
			h_drain(fd);
			return;
		}
		sent += (uint64_t)n;
	}
	if (send_end(fd, 0) == -1) {
		h_drain(fd);
		return;
	}
	h_read(fd, &r);
}

static void
case_flood(int fd, uint64_t n)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_FILE_LEN + 16];
	struct rec	 r;
	unsigned long	 sent = 0, answers = 0;
	size_t		 len;

	if (!start(fd))
		return;
	len = file_rec(buf, sizeof(buf), "../x", 4, H_SMALL, 0);
	collapse = 1;
	for (; sent < n; sent++)
		if (h_send(fd, buf, len) == -1)
			break;
	out("SENT %lu", sent);
	flush_lines();
	h_shutdown(fd);
	while (h_read_quiet(fd, &r, opt_answers, 1) == RD_REC)
		if (r.h.type == ZC_T_RESULT)
			answers++;
	flush_lines();
	collapse = 0;
	out("ANSWERS %lu", answers);
}

/* One connection of hold: its state. */
struct held {
	int	 fd;
	int	 state;		/* 0 waiting, 1 held, 2 done */
};

static void
case_hold(const char *host, const char *port, uint64_t n, uint64_t secs)
{
	struct rlimit	 rl;
	struct held	*h;
	struct pollfd	*pfd;
	struct rec	 r;
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN];
	struct zc_error	 e;
	char		*cause, denied_msg[ZC_MSG_MAX + 1] = "";
	unsigned long	 held = 0, denied = 0, reset = 0, silent = 0;
	unsigned long	 other = 0, failed = 0, closed = 0, i, waiting;
	int64_t		 deadline;
	int		 m, err;

	if (n == 0 || n > 100000 || secs > 86400)
		usage();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	h = xcalloc(n, sizeof(*h));
	pfd = xcalloc(n, sizeof(*pfd));
	proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 0);
	for (i = 0; i < n; i++) {
		if ((h[i].fd = h_connect(host, port, &err)) == -1) {
			fprintf(stderr, "hostile: connection %lu: %s\n", i,
			    strerror(err));
			failed++;
			h[i].state = 2;
			continue;
		}
		/* A refused connection may be closed already: no matter. */
		send(h[i].fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	/* The first record on each: HELLO (held) or ERROR (denied). */
	deadline = now_ms() + 1000LL * opt_timeout;
	for (;;) {
		waiting = 0;
		for (i = 0; i < n; i++) {
			pfd[i].fd = h[i].state == 0 ? h[i].fd : -1;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
			waiting += h[i].state == 0;
		}
		if (waiting == 0 || now_ms() >= deadline)
			break;
		if ((m = poll(pfd, n, (int)(deadline - now_ms()))) == -1 &&
		    errno != EINTR)
			die("poll: %s", strerror(errno));
		for (i = 0; m > 0 && i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			switch (h_read_quiet(h[i].fd, &r, 2, 0)) {
			case RD_REC:
				if (r.h.type == ZC_T_HELLO) {
					held++;
					h[i].state = 1;
					continue;
				}
				if (r.h.type == ZC_T_ERROR &&
				    proto_error_decode(r.body, r.h.len, &e,
				    &cause) == 0 && e.code == ZC_E_DENIED) {
					denied++;
					vis_msg(e.msg, denied_msg,
					    sizeof(denied_msg));
				} else
					other++;
				break;
			case RD_EOF:
			case RD_RESET:
				reset++;
				break;
			default:
				other++;
				break;
			}
			h[i].state = 2;
			close(h[i].fd);
		}
	}
	for (i = 0; i < n; i++)
		if (h[i].state == 0) {
			silent++;
			h[i].state = 2;
			close(h[i].fd);
		}
	out("HOLD held=%lu denied=%lu reset=%lu silent=%lu other=%lu "
	    "failed=%lu", held, denied, reset, silent, other, failed);
	if (denied > 0)
		out("DENIED-MSG %s", denied_msg);
	out("READY");
	/* Hold: count the held connections the receiver closes. */
	deadline = now_ms() + 1000LL * secs;
	while (now_ms() < deadline && closed < held) {
		for (i = 0; i < n; i++) {
			pfd[i].fd = h[i].state == 1 ? h[i].fd : -1;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		if ((m = poll(pfd, n, (int)(deadline - now_ms()))) == -1 &&
		    errno != EINTR)
			die("poll: %s", strerror(errno));
		for (i = 0; m > 0 && i < n; i++)
			if (pfd[i].revents != 0) {
				closed++;
				h[i].state = 2;
				close(h[i].fd);
			}
	}
	out("CLOSED %lu", closed);
	for (i = 0; i < n; i++)
		if (h[i].state == 1)
			close(h[i].fd);
	free(pfd);
	free(h);
}

/* Returns the connection to close (auth-replay makes a second one). */
static int
case_auth(int fd, const char *which, int argc, char **argv, const char *host,
    const char *port)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	uint8_t		 replay[ZC_HDR_LEN + ZC_AUTH_LEN];
	struct rec	 r;
	int		 challenged, ok;

	if (strcmp(which, "auth-unsolicited") == 0) {
		if (!start(fd))
			return (fd);
		random_bytes(buf + ZC_HDR_LEN, ZC_AUTH_LEN);
		hdr(buf, ZC_T_AUTH, 0, ZC_AUTH_LEN, 0);
		if (h_send(fd, buf, ZC_HDR_LEN + ZC_AUTH_LEN) == 0)
			h_drain(fd);
		return (fd);
	}
	if (strcmp(which, "auth-replay") == 0 ||
	    strcmp(which, "auth-cross") == 0) {
		if (opt_key == NULL)
			usage();
		if (!start(fd) || !good_file(fd, strcmp(which,
		    "auth-replay") == 0 ? "auth-replay" : "auth-cross", H_SMALL))
			return (fd);
		if (strcmp(which, "auth-cross") == 0) {
			/* Same key, another destination, same connection. */
			if (argc != 1)
				usage();
			opt_dest = argv[0];
			ok = open_file(fd, "auth-cross", 10, H_SMALL, 0, NULL);
			if (ok == 1) {
				/* Breached: land the file so it shows. */
				if (send_file_body(fd, H_SMALL) == 0)
					h_read(fd, &r);
			} else if (ok == -1)
				h_drain(fd);
			return (fd);
		}
		/* Replay the sender's AUTH on a fresh connection. */
		auth_mac(opt_key, 0, nonce_r, nonce_s, dest_name(),
		    buf);
		proto_blob_encode(replay, sizeof(replay), ZC_T_AUTH, nonce_s,
		    ZC_NONCE_LEN, buf, ZC_MAC_LEN);
		close(fd);
		out("RECONNECT");
		fd = h_connect(host, port, NULL);
		if (!start(fd))
			return (fd);
		if (h_send(fd, buf, file_rec(buf, sizeof(buf), "auth-replay2",
		    12, H_SMALL, 0)) == -1 || !h_expect(fd, &r, ZC_T_CHALLENGE))
			return (fd);
		if (h_send(fd, replay, sizeof(replay)) == -1) {
			h_drain(fd);
			return (fd);
		}
		if (h_read(fd, &r) == RD_REC && r.h.type == ZC_T_ACCEPT &&
		    send_file_body(fd, H_SMALL) == 0 && h_read(fd, &r) == RD_REC)
			return (fd);
		h_drain(fd);
		return (fd);
	}
	if (!start(fd))
		return (fd);
	if (open_file(fd, which, strlen(which), H_SMALL, 0, &challenged) != -1
	    || !challenged)
		return (fd);
	if (strcmp(which, "auth-wrong") == 0) {
		random_bytes(buf + ZC_HDR_LEN, ZC_AUTH_LEN);
		hdr(buf, ZC_T_AUTH, 0, ZC_AUTH_LEN, 0);
		if (h_send(fd, buf, ZC_HDR_LEN + ZC_AUTH_LEN) == -1) {
			h_drain(fd);
			return (fd);
		}
		/* RESULT denied, or a breach: then land the file. */
		if (h_read(fd, &r) == RD_REC && r.h.type == ZC_T_AUTHOK &&
		    h_read(fd, &r) == RD_REC && r.h.type == ZC_T_ACCEPT) {
			if (send_file_body(fd, H_SMALL) == 0)
				h_read(fd, &r);
			return (fd);
		}
		h_drain(fd);
	} else if (strcmp(which, "auth-skip") == 0) {
		if (send_data(fd, 0, H_SMALL) == 0)
			send_end(fd, 0);
		h_drain(fd);
	} else if (strcmp(which, "auth-stall") == 0) {
		if (argc != 1)
			usage();
		out("IDLE");
		wait_for_peer(fd, (int)num(argv[0]));
	} else
		usage();
	return (fd);
}

/* --- version 2 ------------------------------------------------------------ */

/* HELLO proposing version 2; true when the receiver answered version 2. */
static int
start2(int fd)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN];
	struct rec	 r;
	enum rd		 rd;

	if (h_send(fd, buf, proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V2,
	    0)) == -1) {
		h_drain(fd);
		return (0);
	}
	if ((rd = h_read(fd, &r)) == RD_REC && r.h.type == ZC_T_HELLO && v2 &&
	    window > 0)
		return (1);
	if (rd == RD_REC)
		h_drain(fd);
	return (0);
}

/* HELLO proposing any version: print the answer. */
static void
case_hello(int fd, uint64_t version)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN];
	struct rec	 r;

	if (version > UINT16_MAX)
		usage();
	if (h_send(fd, buf, proto_hello_encode(buf, sizeof(buf),
	    (uint16_t)version, 0)) == -1) {
		h_drain(fd);
		return;
	}
	if (h_read(fd, &r) == RD_REC && r.h.type == ZC_T_ERROR)
		h_drain(fd);
}

/* Read one record (waiting); note the end of the connection. */
static enum rd
read2(int fd, struct rec *r)
{
	enum rd	 rd;

	rd = h_read(fd, r);
	if (rd != RD_REC || r->h.type == ZC_T_ERROR)
		conn_over = 1;
	return (rd);
}

/* Read and print the records that are already there. */
static void
read_ready(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	struct rec	 r;

	while (!conn_over && poll(&pfd, 1, 0) > 0)
		read2(fd, &r);
}

/* Until fewer than window entries are without RESULT. */
static int
window_wait(int fd)
{
	struct rec	 r;

	read_ready(fd);
	while (!conn_over && in_flight >= window)
		read2(fd, &r);
	return (conn_over || send_failed ? -1 : 0);
}

/* One entry to send: see "entries" in the comment at the top. */
struct spec {
	char		 kind;
	char		 path[H_NAME_BUF];
	size_t		 plen;
	uint64_t	 size;
	uint32_t	 mode;
	char		 target[H_NAME_BUF];
	size_t		 tlen;
};

static int
send_entry(int fd, const struct zc_entry *e)
{
	static uint8_t	 buf[ZC_HDR_LEN + ZC_ENTRY_MAX];
	char		 vis[UTIL_VIS_MAX];
	char		 path[H_NAME_BUF];

	memcpy(path, e->path, e->path_len);
	path[e->path_len] = '\0';
	vis_msg(path, vis, sizeof(vis));
	out("ENTRY #%llu %s size %llu %s", (unsigned long long)e->id,
	    e->kind == ZC_K_DIR ? "dir" : e->kind == ZC_K_SYMLINK ? "symlink" :
	    "file", (unsigned long long)e->size, vis);
	in_flight++;
	return (h_send(fd, buf, proto_entry_encode(buf, sizeof(buf), e)));
}

/* WAIT entry id sent: true on its ACCEPT, false on its RESULT or the end. */
static int
wait_accept(int fd, uint64_t id)
{
	struct rec	 r;

	while (!conn_over && read2(fd, &r) == RD_REC) {
		if (r.h.type == ZC_T_ACCEPT && last_id == id)
			return (1);
		if (r.h.type == ZC_T_RESULT && last_id == id)
			return (0);
	}
	return (0);
}

/* Send one entry (and its payload); -1 when the connection is over. */
static int
play_spec(int fd, const struct spec *sp, uint64_t id)
{
	static uint8_t	 content[ZC_INLINE_MAX];
	struct zc_entry	 e;
	uint64_t	 end_id = id;

	if (window_wait(fd) == -1)
		return (-1);
	memset(&e, 0, sizeof(e));
	e.id = id;
	e.path = sp->path;
	e.path_len = (uint16_t)sp->plen;
	e.dest = opt_dest;
	e.dest_len = (uint16_t)strlen(opt_dest);
	e.mtime_sec = 1600000000;
	e.mtime_nsec = 123456789;
	e.mode = sp->mode;
	switch (sp->kind) {
	case 'd':
		e.kind = ZC_K_DIR;
		return (send_entry(fd, &e));
	case 'l':
		e.kind = ZC_K_SYMLINK;
		e.extra = (const uint8_t *)sp->target;
		e.extra_len = (uint32_t)sp->tlen;
		return (send_entry(fd, &e));
	case 'i':
		e.kind = ZC_K_FILE;
		e.flags = ZC_EF_INLINE;
		e.size = sp->size;
		pattern(content, (size_t)sp->size, 0);
		e.extra = content;
		e.extra_len = (uint32_t)sp->size;
		return (send_entry(fd, &e));
	case 's':
		/* Sparse: the first and the last block, nothing between. */
		e.kind = ZC_K_FILE;
		e.size = sp->size;
		if (send_entry(fd, &e) == -1 ||
		    send_data(fd, 0, ZC_BLOCK) == -1 ||
		    send_data(fd, sp->size - ZC_BLOCK, ZC_BLOCK) == -1)
			return (-1);
		return (send_end_id(fd, ZC_DIGEST_NONE, id));
	case 'e':
		end_id = id + 1000000;	/* END names another entry */
		/* FALLTHROUGH */
	case 'f':
	case 'w':
		e.kind = ZC_K_FILE;
		e.size = sp->size;
		e.flags = sp->kind == 'w' ? ZC_EF_WAIT : 0;
		if (send_entry(fd, &e) == -1)
			return (-1);
		if (sp->kind == 'w' && !wait_accept(fd, id))
			return (conn_over ? -1 : 0);
		return (send_file_body_id(fd, sp->size, end_id));
	}
	usage();
}

/* Parse KIND PATH ARG into sp ("n": size is the count). */
static void
parse_spec(struct spec *sp, const char *kind, const char *path,
    const char *arg)
{
	memset(sp, 0, sizeof(*sp));
	if (strlen(kind) != 1 || strchr("fiwdlsen", kind[0]) == NULL)
		usage();
	sp->kind = kind[0];
	sp->plen = unescape(path, sp->path, sizeof(sp->path));
	if (sp->plen > ZC_PATH_MAX)
		die("path longer than %u bytes", ZC_PATH_MAX);
	sp->mode = 0640;
	switch (sp->kind) {
	case 'd':
		sp->mode = strcmp(arg, "-") == 0 ? 0750 :
		    (uint32_t)strtoul(arg, NULL, 8);
		break;
	case 'l':
		sp->mode = 0777;
		sp->tlen = unescape(arg, sp->target, sizeof(sp->target));
		if (sp->tlen == 0 || sp->tlen > ZC_TARGET_MAX)
			usage();
		break;
	case 'i':
		sp->size = num(arg);
		if (sp->size > ZC_INLINE_MAX)
			usage();
		break;
	case 's':
		sp->size = num(arg);
		if (sp->size % ZC_BLOCK != 0 || sp->size < 3 * ZC_BLOCK)
			usage();
		break;
	default:
		sp->size = num(arg);
		break;
	}
}

/*
 * entries KIND PATH ARG ...: version 2, every entry back to back within
 * the window, then every RESULT.
 */
static void
case_entries(int fd, int argc, char **argv)
{
	struct spec	 sp, one;
	struct rec	 r;
	uint64_t	 id = 0, i, count;
	int		 k;

	if (argc == 0 || argc % 3 != 0)
		usage();
	if (!start2(fd))
		return;
	for (k = 0; k < argc && !conn_over && !send_failed; k += 3) {
		parse_spec(&sp, argv[k], argv[k + 1], argv[k + 2]);
		if (sp.kind != 'n') {
			if (play_spec(fd, &sp, ++id) == -1)
				break;
			continue;
		}
		/* n PREFIX COUNT: files PREFIX/dNN/fNNNNN, some inline. */
		count = sp.size;
		for (i = 0; i < count && !conn_over && !send_failed; i++) {
			memset(&one, 0, sizeof(one));
			one.mode = 0640;
			one.size = (i * 1031) % 9000;
			one.kind = i % 3 == 0 ? 'i' : 'f';
			one.plen = (size_t)snprintf(one.path, sizeof(one.path),
			    "%s/d%02llu/f%05llu", sp.path,
			    (unsigned long long)(i % 50),
			    (unsigned long long)i);
			if (play_spec(fd, &one, ++id) == -1)
				break;
		}
	}
	out("SENT %llu", (unsigned long long)id);
	while (!conn_over && in_flight > 0)
		read2(fd, &r);
	if (conn_over)
		h_drain(fd);
}

/* A FILE record on a version 2 connection (a protocol error). */
static void
case_v2_file(int fd)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_FILE_LEN + 64];

	if (!start2(fd))
		return;
	if (h_send(fd, buf, file_rec(buf, sizeof(buf), "v2-file", 7, H_SMALL,
	    0)) == 0 && send_data(fd, 0, H_SMALL) == 0)
		send_end(fd, 0);
	h_drain(fd);
}

/* --- version 3 ------------------------------------------------------------ */

/*
 * stream WHICH [SIZE]: a stream (ENTRY id 1, flags STREAM and WAIT,
 * size unknown) named "stream-WHICH-SIZE" of SIZE bytes of the pattern (default
 * 5000): after its ACCEPT, DATA records of 4096 bytes and the tail, then
 * EOS with the size, no digest.  WHICH spoils one thing:
 *	good		nothing
 *	in-v2		HELLO proposing version 2
 *	no-wait		STREAM without WAIT
 *	end		END instead of EOS
 *	eos-size	EOS one block larger than the bytes sent
 *	after-tail	one more block of DATA after the tail
 *	eos-file	a plain WAIT file of SIZE bytes, ended with EOS
 */
static void
case_stream(int fd, const char *which, uint64_t size)
{
	struct zc_entry	 e;
	struct zc_end	 end;
	struct rec	 r;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ENTRY_LEN + 128];
	char		 name[64];
	uint64_t	 off;
	uint32_t	 n;
	int		 version = ZC_PROTO_V3;

	if (strcmp(which, "in-v2") == 0)
		version = ZC_PROTO_V2;
	if (h_send(fd, buf, proto_hello_encode(buf, sizeof(buf), version,
	    0)) == -1 || !h_expect(fd, &r, ZC_T_HELLO)) {
		h_drain(fd);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.id = 1;
	e.kind = ZC_K_FILE;
	e.mode = 0640;
	e.size = ZC_SIZE_UNKNOWN;
	e.flags = ZC_EF_STREAM | ZC_EF_WAIT;
	if (strcmp(which, "no-wait") == 0)
		e.flags = ZC_EF_STREAM;
	else if (strcmp(which, "eos-file") == 0) {
		e.flags = ZC_EF_WAIT;
		e.size = size;
	}
	snprintf(name, sizeof(name), "stream-%s-%llu", which,
	    (unsigned long long)size);
	e.path = name;
	e.path_len = strlen(name);
	e.dest = opt_dest;
	e.dest_len = strlen(opt_dest);
	if (h_send(fd, buf, proto_entry_encode(buf, sizeof(buf), &e)) == -1 ||
	    !h_expect(fd, &r, ZC_T_ACCEPT)) {
		h_drain(fd);
		return;
	}
	for (off = 0; off < size; off += n) {
		n = size - off < ZC_BLOCK ? size - off : ZC_BLOCK;
		if (send_data(fd, off, n) == -1)
			break;
	}
	if (strcmp(which, "after-tail") == 0)
		send_data(fd, (off + ZC_BLOCK - 1) / ZC_BLOCK * ZC_BLOCK,
		    ZC_BLOCK);
	if (strcmp(which, "end") == 0)
		send_end_id(fd, 0, 1);
	else {
		memset(&end, 0, sizeof(end));
		end.id = 1;
		end.size = size + (strcmp(which, "eos-size") == 0 ? ZC_BLOCK :
		    0);
		h_send(fd, buf, proto_eos_encode(buf, sizeof(buf), &end));
	}
	if (h_read(fd, &r) == RD_REC && r.h.type == ZC_T_RESULT &&
	    strcmp(which, "good") == 0)
		return;
	h_drain(fd);
}

/* --- striping (version 4) ------------------------------------------------ */

#define S_CHUNK		(1U << 20)		/* chunk size of case_stripe */
#define S_SIZE		(3ULL * S_CHUNK + 5000)	/* its file: 4 chunks */

/*
 * Connect, HELLO proposing version (4 unless said), print the answer and
 * the SESSION that follows it (as "SESSION"), keep id and token in sess.
 * Returns the socket, or -1 (the answer was not HELLO 4 and SESSION).
 */
static int
stripe_conn(const char *host, const char *port, int version, uint8_t *sess)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_HELLO_LEN];
	struct rec	 r;
	int		 fd;

	send_failed = 0;
	fd = h_connect(host, port, NULL);
	if (h_send(fd, buf, proto_hello_encode(buf, sizeof(buf), version,
	    0)) == -1 || !h_expect(fd, &r, ZC_T_HELLO))
		return (-1);
	if (version < ZC_PROTO_V4)
		return (fd);
	if (h_read_quiet(fd, &r, 0, 0) != RD_REC ||
	    r.h.type != ZC_T_SESSION) {
		out("NO SESSION");
		return (-1);
	}
	out("SESSION");
	memcpy(sess, r.body, ZC_SESSION_LEN);
	return (fd);
}

/* Our side is done: shut it, print what the receiver still says. */
static void
stripe_drain(int fd)
{
	h_shutdown(fd);
	h_drain(fd);
}

/* JOIN with sess; print the answer ("JOINED", or the record). */
static int
stripe_join(int fd, const uint8_t *sess)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_JOIN_LEN];
	struct rec	 r;

	if (h_send(fd, buf, proto_blob_encode(buf, sizeof(buf), ZC_T_JOIN,
	    sess, ZC_JOIN_LEN, NULL, 0)) == -1)
		return (-1);
	if (h_read_quiet(fd, &r, 0, 0) == RD_REC &&
	    r.h.type == ZC_T_SESSION && memcmp(r.body, sess,
	    ZC_SESSION_ID_LEN) == 0) {
		out("JOINED");
		return (0);
	}
	if (r.h.type != 0)
		print_rec(&r);
	return (-1);
}

/* More ENTRY flags (RESUME) and the digest of case_stripe's entries. */
static uint16_t	 stripe_flags;
static uint8_t	 stripe_alg;

/* A striped ENTRY of case_stripe: id, S_SIZE bytes, chunk. */
static int
stripe_entry_id(int fd, uint64_t id, const char *name, uint32_t chunk)
{
	struct zc_entry	 e;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ENTRY_LEN + 128];

	memset(&e, 0, sizeof(e));
	e.id = id;
	e.kind = ZC_K_FILE;
	e.mode = 0640;
	e.size = S_SIZE;
	e.flags = ZC_EF_STRIPED | ZC_EF_WAIT | stripe_flags;
	e.digest_alg = stripe_alg;
	e.chunk = chunk;
	e.path = name;
	e.path_len = strlen(name);
	e.dest = opt_dest;
	e.dest_len = strlen(opt_dest);
	return (h_send(fd, buf, proto_entry_encode(buf, sizeof(buf), &e)));
}

/* The striped ENTRY of case_stripe: id 1. */
static int
stripe_entry(int fd, const char *name, uint32_t chunk)
{
	return (stripe_entry_id(fd, 1, name, chunk));
}

/* CHUNK(1, off, len), then datalen bytes of it as one DATA record. */
static int
stripe_chunk(int fd, uint64_t off, uint64_t len, uint64_t datalen)
{
	struct zc_chunk	 ch;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CHUNK_LEN];

	ch.id = 1;
	ch.offset = off;
	ch.length = len;
	if (h_send(fd, buf, proto_chunk_encode(buf, sizeof(buf), &ch)) == -1)
		return (-1);
	if (datalen == 0)
		return (0);
	if (send_hdr(fd, ZC_T_DATA, len, off) == -1)
		return (-1);
	return (send_bytes(fd, off, datalen));
}

/* Chunk i of the file of case_stripe, whole. */
static int
stripe_whole(int fd, uint64_t i)
{
	uint64_t	 off = i * S_CHUNK;

	send_failed = 0;
	return (stripe_chunk(fd, off, S_SIZE - off < S_CHUNK ? S_SIZE - off :
	    S_CHUNK, S_SIZE - off < S_CHUNK ? S_SIZE - off : S_CHUNK));
}

/* The first connection sends the chunks in todo (a bit each), END, reads. */
static void
stripe_finish(int a, unsigned int todo)
{
	struct rec	 r;
	uint64_t	 i;

	for (i = 0; i < 4; i++)
		if ((todo & (1U << i)) && stripe_whole(a, i) == -1)
			break;
	send_failed = 0;
	send_end_id(a, 0, 1);
	h_read(a, &r);
}

/*
 * case stripe WHICH: version 4, a file "stripe-WHICH" of S_SIZE bytes in 4
 * chunks of 1 MiB, announced on connection A (ENTRY STRIPED, WAIT), its
 * chunks on A and on B, joined to A's session; then END on A and its
 * RESULT.  WHICH spoils one thing (the receiver's answers print as they
 * come; "JOINED" for a JOIN answered with SESSION):
 *	good		chunks 0 and 2 on A, 1 and 3 on B
 *	wrong-token	B's JOIN with A's id and a wrong token; A sends all
 *	unknown		B's JOIN with an id no session has; A sends all
 *	foreign-join	B, a session of its own, JOINs with A's id and its
 *			own token; A sends all
 *	foreign-chunk	B, a session of its own, sends CHUNK for entry 1
 *			(A's), without JOIN; A sends all
 *	overlap		B sends chunk 1 twice; A sends the others
 *	offgrid		B sends a CHUNK at 4096; A sends all
 *	beyond		B sends a CHUNK at 4 MiB (past the end); A sends all
 *	badlen		B sends a CHUNK at 1 MiB of 1 MiB + 4096; A sends all
 *	data-outside	B's chunk 1 with DATA at 2 MiB; A sends the rest
 *	kill		B sends half of chunk 1, then closes; A the rest
 *	kill-end	B sends half of chunk 1, then closes; A waits for
 *			the RESULT, sends END for the failed file (as a
 *			sender that had not heard yet), then announces file 2
 *	stall		A sends END and nothing else (stall_timeout)
 *	end-joined	B sends END for entry 1; A sends all
 *	entry-joined	B sends an ENTRY; A sends all
 *	join-late	A sends JOIN after its ENTRY
 *	v3		HELLO 3, then the striped ENTRY
 *	chunk-size	ENTRY with a chunk of 12345 bytes
 *	max		B and C join (max_stripes 2 refuses C); A sends all
 *	many		A announces striped files 2, 3, ... until refused
 *			(ZC_STRIPED_MAX in flight); prints ACCEPTED N
 *	resume-v4	the ENTRY with RESUME (version 5) in version 4
 *	resume-nodigest	HELLO 5, the ENTRY with RESUME and no digest
 */
static void
case_stripe(const char *host, const char *port, const char *which)
{
	uint8_t		 sa[ZC_SESSION_LEN], sb[ZC_SESSION_LEN];
	uint8_t		 forged[ZC_SESSION_LEN];
	char		 name[64];
	struct rec	 r;
	uint64_t	 i;
	int		 a, b = -1, c, v = ZC_PROTO_V4;

	snprintf(name, sizeof(name), "stripe-%s", which);
	if (strcmp(which, "v3") == 0)
		v = ZC_PROTO_V3;
	if (strncmp(which, "resume-", 7) == 0) {
		stripe_flags = ZC_EF_RESUME;
		stripe_alg = strcmp(which, "resume-v4") == 0 ?
		    ZC_DIGEST_XXH3_128 : ZC_DIGEST_NONE;
		v = strcmp(which, "resume-v4") == 0 ? ZC_PROTO_V4 : ZC_PROTO_V5;
	}
	if ((a = stripe_conn(host, port, v, sa)) == -1)
		return;
	if (stripe_entry(a, name, strcmp(which, "chunk-size") == 0 ? 12345 :
	    S_CHUNK) == -1 || !h_expect(a, &r, ZC_T_ACCEPT)) {
		h_drain(a);
		return;
	}
	if (strcmp(which, "many") == 0) {
		/* Striped files 2 .. ZC_STRIPED_MAX + 1 beside the first. */
		for (i = 2; i <= ZC_STRIPED_MAX + 1; i++) {
			snprintf(name, sizeof(name), "stripe-many-%llu",
			    (unsigned long long)i);
			if (stripe_entry_id(a, i, name, S_CHUNK) == -1 ||
			    h_read_quiet(a, &r, 0, 0) != RD_REC)
				break;
			if (r.h.type != ZC_T_ACCEPT) {
				print_rec(&r);
				break;
			}
		}
		out("ACCEPTED %llu", (unsigned long long)i - 1);
		stripe_drain(a);
		return;
	}
	if (strcmp(which, "join-late") == 0) {
		stripe_join(a, sa);
		stripe_drain(a);
		return;
	}
	if (strcmp(which, "stall") == 0) {
		send_end_id(a, 0, 1);
		opt_timeout = 60;
		h_read(a, &r);
		return;
	}
	if ((b = stripe_conn(host, port, ZC_PROTO_V4, sb)) == -1)
		return;
	memcpy(forged, sa, sizeof(forged));
	if (strcmp(which, "wrong-token") == 0) {
		forged[ZC_SESSION_LEN - 1] ^= 1;
		stripe_join(b, forged);
		stripe_drain(b);
		stripe_finish(a, 0xf);
	} else if (strcmp(which, "unknown") == 0) {
		random_bytes(forged, ZC_SESSION_ID_LEN);
		stripe_join(b, forged);
		stripe_drain(b);
		stripe_finish(a, 0xf);
	} else if (strcmp(which, "foreign-join") == 0) {
		memcpy(forged + ZC_SESSION_ID_LEN, sb + ZC_SESSION_ID_LEN,
		    ZC_TOKEN_LEN);
		stripe_join(b, forged);
		stripe_drain(b);
		stripe_finish(a, 0xf);
	} else if (strcmp(which, "foreign-chunk") == 0) {
		stripe_whole(b, 1);
		stripe_drain(b);
		stripe_finish(a, 0xf);
	} else if (stripe_join(b, sa) == -1) {
		stripe_drain(b);
		return;
	} else if (strcmp(which, "good") == 0) {
		stripe_whole(a, 0);
		stripe_whole(b, 1);
		stripe_whole(a, 2);
		stripe_whole(b, 3);
		stripe_finish(a, 0);
	} else if (strcmp(which, "overlap") == 0) {
		/* On one connection, so that the order is certain. */
		stripe_whole(b, 1);
		stripe_whole(b, 1);
		stripe_drain(b);
		stripe_finish(a, 0xd);
	} else if (strcmp(which, "offgrid") == 0 ||
	    strcmp(which, "beyond") == 0 || strcmp(which, "badlen") == 0) {
		stripe_chunk(b, which[0] == 'o' ? ZC_BLOCK : which[1] == 'e' ?
		    4 * S_CHUNK : S_CHUNK, which[1] == 'a' ? S_CHUNK + ZC_BLOCK :
		    S_CHUNK, 0);
		stripe_drain(b);
		stripe_finish(a, 0xf);
	} else if (strcmp(which, "data-outside") == 0) {
		stripe_chunk(b, S_CHUNK, S_CHUNK, 0);
		send_data(b, 2 * S_CHUNK, ZC_BLOCK);
		stripe_drain(b);
		stripe_finish(a, 0xd);
	} else if (strcmp(which, "kill") == 0) {
		stripe_chunk(b, S_CHUNK, S_CHUNK, S_CHUNK / 2);
		h_reset(b);
		b = -1;
		stripe_finish(a, 0xd);
	} else if (strcmp(which, "kill-end") == 0) {
		stripe_chunk(b, S_CHUNK, S_CHUNK, S_CHUNK / 2);
		h_reset(b);
		b = -1;
		if (h_expect(a, &r, ZC_T_RESULT) && send_end_id(a, 0, 1) == 0 &&
		    stripe_entry_id(a, 2, "stripe-kill-end-2", S_CHUNK) == 0)
			h_read(a, &r);		/* ACCEPT #2: A goes on */
		stripe_drain(a);
	} else if (strcmp(which, "end-joined") == 0) {
		send_end_id(b, 0, 1);
		stripe_drain(b);
		stripe_finish(a, 0xf);
	} else if (strcmp(which, "entry-joined") == 0) {
		stripe_entry(b, "stripe-entry-joined-b", S_CHUNK);
		stripe_drain(b);
		stripe_finish(a, 0xf);
	} else if (strcmp(which, "max") == 0) {
		if ((c = stripe_conn(host, port, ZC_PROTO_V4, sb)) != -1) {
			stripe_join(c, sa);
			stripe_drain(c);
			close(c);
		}
		stripe_finish(a, 0xf);
	} else
		usage();
	if (b != -1)
		close(b);
	close(a);
}

/* Every file has the payload pattern for its size; print those that don't. */
static int
check_pattern(int argc, char **argv)
{
	static uint8_t	 buf[H_CHUNK], want[H_CHUNK];
	uint64_t	 off;
	ssize_t		 n;
	int		 i, fd, bad = 0;

	for (i = 0; i < argc; i++) {
		if ((fd = open(argv[i], O_RDONLY | O_CLOEXEC)) == -1) {
			out("MISSING %s", argv[i]);
			bad = 1;
			continue;
		}
		off = 0;
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			pattern(want, (size_t)n, off);
			if (memcmp(buf, want, (size_t)n) != 0) {
				out("DIFFERS %s", argv[i]);
				bad = 1;
				break;
			}
			off += (uint64_t)n;
		}
		if (n == -1)
			die("read %s: %s", argv[i], strerror(errno));
		close(fd);
	}
	return (bad);
}

/* Watch dir for a staging file; SIGSTOP pid the moment one appears. */
static int
stop_on_staging(const char *dir, const char *pidstr)
{
	char			 buf[4096] __attribute__((aligned(8)));
	const struct inotify_event *ev;
	struct pollfd		 pfd;
	uint64_t		 pid = num(pidstr);
	int64_t			 deadline;
	ssize_t			 n, off;
	int			 fd;

	if (pid == 0 || pid > INT_MAX)
		usage();
	if ((fd = inotify_init1(IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(fd, dir, IN_CREATE) == -1)
		die("inotify %s: %s", dir, strerror(errno));
	out("WATCHING");
	pfd.fd = fd;
	pfd.events = POLLIN;
	deadline = now_ms() + 3000LL * opt_timeout;
	while (now_ms() < deadline) {
		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			continue;
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			die("inotify read: %s", strerror(errno));
		for (off = 0; off < n; off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(buf + off);
			if (ev->len == 0 ||
			    strncmp(ev->name, ".zcrecvd.", 9) != 0)
				continue;
			if (kill((pid_t)pid, SIGSTOP) == -1)
				die("kill %llu: %s", (unsigned long long)pid,
				    strerror(errno));
			out("STOPPED %s", ev->name);
			return (0);
		}
	}
	out("TIMEOUT");
	return (0);
}

static int
print_pattern(const char *sizestr)
{
	static uint8_t	 buf[H_CHUNK];
	uint64_t	 size = num(sizestr), off = 0;
	size_t		 n;

	while (off < size) {
		n = size - off < sizeof(buf) ? size - off : sizeof(buf);
		pattern(buf, n, off);
		if (fwrite(buf, 1, n, stdout) != n)
			die("stdout: %s", strerror(errno));
		off += n;
	}
	return (fflush(stdout) == 0 ? 0 : 2);
}

int
main(int argc, char **argv)
{
	const char	*c, *host, *port;
	char		*cause = NULL;
	int		 ch, fd, nargs;

	log_init("hostile", LOG_LEVEL_WARN, 0);
	while ((ch = getopt(argc, argv, "+a:b:d:g:k:p:t:")) != -1) {
		switch (ch) {
		case 'a':
			if ((opt_answers = (int)num(optarg)) < 1 ||
			    opt_answers > 3600)
				usage();
			break;
		case 'b':
			opt_bind = optarg;
			break;
		case 'd':
			opt_dest = optarg;
			break;
		case 'g':
			opt_good = optarg;
			break;
		case 'k':
			auth_init();
			opt_key = xmalloc(sizeof(*opt_key));
			if (auth_key_load(optarg, opt_key, 0, &cause) == -1)
				die("%s", cause);
			break;
		case 'p':
			opt_pause = num(optarg) / ZC_BLOCK * ZC_BLOCK;
			break;
		case 't':
			if ((opt_timeout = (int)num(optarg)) < 1 ||
			    opt_timeout > 3600)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	c = argv[0];
	if (strcmp(c, "pattern") == 0) {
		if (argc != 2)
			usage();
		return (print_pattern(argv[1]));
	}
	if (strcmp(c, "check-pattern") == 0)
		return (check_pattern(argc - 1, argv + 1));
	if (strcmp(c, "stop-on-staging") == 0) {
		if (argc != 3)
			usage();
		return (stop_on_staging(argv[1], argv[2]));
	}
	if (argc < 3)
		usage();
	auth_init();
	host = argv[1];
	port = argv[2];
	nargs = argc - 3;
	argv += 3;

#define NARGS(lo, hi) do {					\
	if (nargs < (lo) || nargs > (hi))				\
		usage();						\
} while (0)
	if (strcmp(c, "hold") == 0) {
		NARGS(2, 2);
		case_hold(host, port, num(argv[0]), num(argv[1]));
		flush_lines();
		out("DONE");
		return (0);
	}
	flood_buffers = strcmp(c, "flood-files") == 0;
	fd = h_connect(host, port, NULL);
	if (strcmp(c, "garbage-at-hello") == 0) {
		static const char http[] = "GET / HTTP/1.1\r\nHost: zcrecvd\r\n"
		    "\r\n";

		NARGS(0, 0);
		if (h_send(fd, http, sizeof(http) - 1) == 0)
			h_shutdown(fd);
		h_drain(fd);
	} else if (strcmp(c, "garbage-after-hello") == 0) {
		NARGS(0, 0);
		if (start(fd)) {
			send_garbage(fd);
			h_drain(fd);
		}
	} else if (strcmp(c, "garbage-in-file") == 0) {
		NARGS(0, 0);
		if (start(fd) && open_file(fd, "garbage-in-file", 15, 8192, 0,
		    NULL) == 1 && send_data(fd, 0, 4096) == 0)
			send_garbage(fd);
		h_drain(fd);
	} else if (strcmp(c, "truncated") == 0) {
		NARGS(1, 1);
		case_truncated(fd, argv[0]);
	} else if (strcmp(c, "file-len") == 0) {
		NARGS(1, 1);
		case_file_len(fd, num(argv[0]));
	} else if (strcmp(c, "data-len") == 0) {
		NARGS(1, 1);
		case_data_len(fd, num(argv[0]));
	} else if (strcmp(c, "file-size") == 0) {
		NARGS(1, 1);
		case_file_size(fd, num(argv[0]));
	} else if (strcmp(c, "data-offset") == 0) {
		NARGS(1, 1);
		case_data_offset(fd, num(argv[0]));
	} else if (strcmp(c, "size-smaller") == 0) {
		NARGS(0, 0);
		case_size(fd, 0);
	} else if (strcmp(c, "size-larger") == 0) {
		NARGS(0, 0);
		case_size(fd, 1);
	} else if (strcmp(c, "bad-digest") == 0) {
		NARGS(0, 0);
		case_bad_digest(fd);
	} else if (strcmp(c, "header") == 0) {
		case_header(fd, nargs, argv);
	} else if (strcmp(c, "reset-at") == 0) {
		NARGS(1, 1);
		case_reset_at(fd, argv[0]);
		flush_lines();
		out("DONE");
		return (0);
	} else if (strcmp(c, "name") == 0) {
		NARGS(1, 1);
		case_name(fd, argv[0]);
	} else if (strcmp(c, "good") == 0) {
		NARGS(1, 2);
		if (start(fd))
			good_file(fd, argv[0], nargs == 2 ? num(argv[1]) :
			    H_SMALL);
	} else if (strcmp(c, "idle") == 0) {
		NARGS(1, 1);
		case_idle(fd, num(argv[0]), 1);
	} else if (strcmp(c, "silent") == 0) {
		NARGS(1, 1);
		case_idle(fd, num(argv[0]), 0);
	} else if (strcmp(c, "stall") == 0) {
		NARGS(1, 1);
		case_stall(fd, num(argv[0]));
	} else if (strcmp(c, "slowloris") == 0) {
		NARGS(0, 1);
		case_slowloris(fd, nargs == 1 ? num(argv[0]) : 60);
	} else if (strcmp(c, "slow-header") == 0) {
		NARGS(1, 1);
		case_slow_header(fd, num(argv[0]));
	} else if (strcmp(c, "trickle") == 0) {
		NARGS(2, 2);
		case_trickle(fd, num(argv[0]), num(argv[1]));
	} else if (strcmp(c, "flood-files") == 0) {
		NARGS(1, 1);
		case_flood(fd, num(argv[0]));
	} else if (strcmp(c, "hello") == 0) {
		NARGS(1, 1);
		case_hello(fd, num(argv[0]));
	} else if (strcmp(c, "entries") == 0) {
		case_entries(fd, nargs, argv);
	} else if (strcmp(c, "stream") == 0) {
		NARGS(1, 2);
		case_stream(fd, argv[0], nargs == 2 ? num(argv[1]) : 5000);
	} else if (strcmp(c, "stripe") == 0) {
		NARGS(1, 1);
		close(fd);
		case_stripe(host, port, argv[0]);
		flush_lines();
		out("DONE");
		return (0);
	} else if (strcmp(c, "v2-file") == 0) {
		NARGS(0, 0);
		case_v2_file(fd);
	} else if (strncmp(c, "auth-", 5) == 0) {
		fd = case_auth(fd, c, nargs, argv, host, port);
	} else
		usage();
	flush_lines();
	out("DONE");
	close(fd);
	if (opt_key != NULL) {
		explicit_bzero(opt_key, sizeof(*opt_key));
		free(opt_key);
	}
	return (0);
}
