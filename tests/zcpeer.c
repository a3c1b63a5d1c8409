/*
 * zcpeer.c -- a raw zcrecvd protocol client for the integration tests.
 *
 *	zcpeer MODE HOST PORT [ARG]
 *
 * Modes send something a well-behaved zcsend never would and print, one
 * line each, every record the receiver answers with:
 *
 *	garbage		64 random bytes (the first made an impossible type)
 *	version		a HELLO with version 99
 *	magic		a HELLO with a bad magic number
 *	short		5 bytes of a HELLO header, then shut down the write side
 *	name NAME	a proper HELLO, then a FILE record (size 10, no digest)
 *			carrying NAME byte for byte; if the receiver accepts
 *			it, the 10 bytes "0123456789" and END follow, so that
 *			a wrongly accepted name really lands somewhere and
 *			the test can find it
 *	baddigest	a proper HELLO, a FILE record "bd" (size 10, digest
 *			XXH3-128); if accepted, the 10 bytes "0123456789"
 *			and an END whose XXH3-128 digest is all zeros, which
 *			the receiver must refuse as a digest mismatch
 *	idle SECONDS	a proper HELLO, then nothing: wait up to SECONDS
 *			(at least 5) for the receiver's HELLO; once it is
 *			printed, hold the connection open and idle for
 *			SECONDS (or until the receiver closes it, or zcpeer
 *			is killed)
 *	quiet [SECONDS]	send nothing at all; print what the receiver says of
 *			its own accord, waiting up to SECONDS (default 5)
 *			for each record (a connection refused at accept gets
 *			an ERROR and EOF; an accepted one sees TIMEOUT)
 *
 * Output lines: "HELLO version N", "ERROR code NAME: message",
 * "RESULT code NAME: message", "ACCEPT offset N", "RECORD TYPE len N" for
 * anything else, "IDLE" when idle mode starts idling, "EOF" when the
 * receiver closes, "RESET" when it resets the connection, "TIMEOUT" when it
 * says nothing for 5 seconds (or as said above), "BAD cause" for a record
 * that does not decode.  Control bytes in messages print as '?'.
 *
 * Exit 0 when at least one record, EOF or RESET was seen; 1 otherwise
 * (timeout, bad record); 2 on usage or connection errors.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcproto.h"
#include "util.h"

#define PEER_TIMEOUT	5		/* seconds, every wait on the receiver */
#define PEER_FILE_SIZE	10
#define PEER_FILE_DATA	"0123456789"
#define PEER_BAD_NAME	"bd"		/* file name in baddigest mode */

enum peer_read {
	PEER_RECORD,			/* a record was read and printed */
	PEER_CLOSED,			/* EOF or reset, printed */
	PEER_FAILED,			/* timeout or bad record, printed */
};

static int	peer_seen;		/* records, EOF or reset seen */

/* Print usage and exit 2. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: zcpeer garbage|version|magic|short|baddigest "
	    "HOST PORT\n"
	    "       zcpeer quiet HOST PORT [SECONDS]\n"
	    "       zcpeer name HOST PORT NAME\n"
	    "       zcpeer idle HOST PORT SECONDS\n");
	exit(2);
}

/* Connect to HOST:PORT with send and receive timeouts; exit 2 on failure. */
static int
peer_connect(const char *host, const char *port)
{
	struct addrinfo	 hints, *res, *ai;
	struct timeval	 tv = { .tv_sec = PEER_TIMEOUT };
	int		 fd = -1, error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "zcpeer: %s:%s: %s\n", host, port,
		    gai_strerror(error));
		exit(2);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) == -1)
			continue;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv)) == -1 || setsockopt(fd, SOL_SOCKET,
		    SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
			perror("zcpeer: setsockopt");
			exit(2);
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		fprintf(stderr, "zcpeer: %s:%s: connection failed: %s\n",
		    host, port, strerror(errno));
		exit(2);
	}
	freeaddrinfo(res);
	return (fd);
}

/* Wait up to secs for each read on fd. */
static void
peer_wait(int fd, long secs)
{
	struct timeval	 tv = { .tv_sec = secs };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		perror("zcpeer: setsockopt");
		exit(2);
	}
}

/* A number of seconds from the command line. */
static long
peer_secs(const char *s)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0 || n > 86400)
		usage();
	return (n);
}

/* Send all of a buffer; exit 2 if the receiver stops taking it. */
static void
peer_send(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			/* Say what the receiver said before it went away. */
			printf("SENDFAIL %s\n", strerror(errno));
			fflush(stdout);
			exit(peer_seen ? 0 : 2);
		}
		p += n;
		len -= n;
	}
}

/*
 * Read exactly len bytes.  Returns len, 0 on EOF before the first byte, -1
 * on EOF inside the buffer, a reset or a timeout (errno tells which:
 * ECONNRESET, EAGAIN, or 0 for a short read).
 */
static ssize_t
peer_recv(int fd, void *buf, size_t len)
{
	uint8_t	*p = buf;
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		if ((n = recv(fd, p + got, len - got, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0) {
			if (got == 0)
				return (0);
			errno = 0;
			return (-1);
		}
		got += n;
	}
	return (got);
}

/* Print a message from the receiver on one line. */
static void
peer_print_msg(const char *what, unsigned int code, const char *msg)
{
	const unsigned char	*s;

	printf("%s code %s: ", what, proto_code_name(code));
	for (s = (const unsigned char *)msg; *s != '\0'; s++)
		putchar(*s < 0x20 || *s == 0x7f ? '?' : *s);
	putchar('\n');
}

/* Print why a read failed and classify it. */
static enum peer_read
peer_read_failed(ssize_t n, const char *what)
{
	if (n == 0) {
		printf("EOF\n");
		peer_seen = 1;
		return (PEER_CLOSED);
	}
	if (errno == ECONNRESET || errno == EPIPE) {
		printf("RESET\n");
		peer_seen = 1;
		return (PEER_CLOSED);
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		printf("TIMEOUT\n");
		return (PEER_FAILED);
	}
	if (errno == 0)
		printf("BAD connection closed inside a %s\n", what);
	else
		printf("BAD %s: %s\n", what, strerror(errno));
	return (PEER_FAILED);
}

/* Decode and print one record body. */
static enum peer_read
peer_print(const struct zc_hdr *h, const uint8_t *body)
{
	struct zc_hello		 hello;
	struct zc_result	 result;
	struct zc_error		 error;
	uint64_t		 offset, id;
	char			*cause = NULL;
	int			 rc = 0;

	switch (h->type) {
	case ZC_T_HELLO:
		if ((rc = proto_hello_decode(body, h->len, &hello,
		    &cause)) == 0)
			printf("HELLO version %u\n", hello.version);
		break;
	case ZC_T_ACCEPT:
		if ((rc = proto_accept_decode(body, h->len, &offset, &id,
		    &cause)) == 0)
			printf("ACCEPT offset %llu\n",
			    (unsigned long long)offset);
		break;
	case ZC_T_RESULT:
		if ((rc = proto_result_decode(body, h->len, &result,
		    &cause)) == 0)
			peer_print_msg("RESULT", result.code, result.msg);
		break;
	case ZC_T_ERROR:
		if ((rc = proto_error_decode(body, h->len, &error,
		    &cause)) == 0)
			peer_print_msg("ERROR", error.code, error.msg);
		break;
	default:
		printf("RECORD %s len %u\n", proto_type_name(h->type),
		    h->len);
		break;
	}
	if (rc != 0) {
		printf("BAD %s\n", cause);
		free(cause);
		return (PEER_FAILED);
	}
	peer_seen = 1;
	return (PEER_RECORD);
}

/* Read, print and return the type of one record (0 if none was read). */
static enum peer_read
peer_read(int fd, uint16_t *type)
{
	uint8_t		 hbuf[ZC_HDR_LEN], *body;
	struct zc_hdr	 h;
	char		*cause = NULL;
	enum peer_read	 r;
	ssize_t		 n;

	*type = 0;
	if ((n = peer_recv(fd, hbuf, sizeof(hbuf))) != sizeof(hbuf))
		return (peer_read_failed(n, "record header"));
	if (proto_hdr_decode(hbuf, &h, &cause) != 0) {
		printf("BAD %s\n", cause);
		free(cause);
		return (PEER_FAILED);
	}
	/* A receiver sends control records only; refuse to buffer DATA. */
	if (h.len > ZC_CTL_MAX) {
		printf("BAD %s record of %u bytes\n", proto_type_name(h.type),
		    h.len);
		return (PEER_FAILED);
	}
	body = xmalloc(h.len);
	if ((n = peer_recv(fd, body, h.len)) != (ssize_t)h.len) {
		free(body);
		if (n == 0)
			errno = 0;	/* EOF at the start of the body */
		return (peer_read_failed(-1, "record body"));
	}
	r = peer_print(&h, body);
	free(body);
	*type = h.type;
	return (r);
}

/* Print records until the receiver closes, resets, times out or errs. */
static void
peer_drain(int fd)
{
	uint16_t	type;

	while (peer_read(fd, &type) == PEER_RECORD)
		;
}

/* Build a HELLO record by hand, with any magic and version. */
static size_t
peer_hello(uint8_t *p, uint32_t magic, uint16_t version)
{
	proto_hdr_encode(p, ZC_T_HELLO, ZC_HELLO_LEN, 0);
	p += ZC_HDR_LEN;
	memset(p, 0, ZC_HELLO_LEN);
	p[0] = magic >> 24;
	p[1] = magic >> 16;
	p[2] = magic >> 8;
	p[3] = magic;
	p[4] = version >> 8;
	p[5] = version;
	p[8] = ZC_BLOCK >> 24;
	p[9] = ZC_BLOCK >> 16;
	p[10] = ZC_BLOCK >> 8;
	p[11] = ZC_BLOCK & 0xff;
	return (ZC_HDR_LEN + ZC_HELLO_LEN);
}

/* Fill a buffer from /dev/urandom. */
static void
peer_random(uint8_t *p, size_t len)
{
	ssize_t	n;
	int	fd;

	if ((fd = open("/dev/urandom", O_RDONLY)) == -1) {
		perror("zcpeer: /dev/urandom");
		exit(2);
	}
	while (len > 0) {
		if ((n = read(fd, p, len)) <= 0) {
			perror("zcpeer: /dev/urandom");
			exit(2);
		}
		p += n;
		len -= n;
	}
	close(fd);
}

/*
 * Encode a FILE record for any name up to what fits in a header: names the
 * encoder accepts go through proto_file_encode(); longer ones (to test the
 * receiver's limit) are laid out by hand the same way.
 */
static size_t
peer_file(uint8_t *p, size_t size, const char *name, uint32_t alg)
{
	struct zc_file	 f;
	size_t		 nlen = strlen(name);

	memset(&f, 0, sizeof(f));
	f.size = PEER_FILE_SIZE;
	f.mode = 0644;
	f.digest_alg = alg;
	if (nlen <= ZC_NAME_MAX) {
		memcpy(f.name, name, nlen + 1);
		return (proto_file_encode(p, size, &f));
	}
	if (size < ZC_HDR_LEN + ZC_FILE_LEN + nlen || nlen > UINT16_MAX) {
		fprintf(stderr, "zcpeer: name too long\n");
		exit(2);
	}
	proto_hdr_encode(p, ZC_T_FILE, ZC_FILE_LEN + nlen, 0);
	p += ZC_HDR_LEN;
	memset(p, 0, ZC_FILE_LEN);
	p[7] = PEER_FILE_SIZE;
	p[10] = 0644 >> 8;
	p[11] = 0644 & 0xff;
	p[12] = alg >> 24;
	p[13] = alg >> 16;
	p[14] = alg >> 8;
	p[15] = alg & 0xff;
	p[16] = nlen >> 8;
	p[17] = nlen & 0xff;
	memcpy(p + ZC_FILE_LEN, name, nlen);
	return (ZC_HDR_LEN + ZC_FILE_LEN + nlen);
}

/*
 * HELLO, FILE NAME announcing digest algorithm alg, and the payload if the
 * receiver accepts it.  END carries alg and an all-zero digest: no digest
 * for ZC_DIGEST_NONE, a wrong one for ZC_DIGEST_XXH3_128.
 */
static void
peer_name(int fd, const char *name, uint32_t alg)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	struct zc_end	 end;
	uint16_t	 type;

	peer_send(fd, buf, proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1,
	    0));
	if (peer_read(fd, &type) != PEER_RECORD || type != ZC_T_HELLO)
		return;
	peer_send(fd, buf, peer_file(buf, sizeof(buf), name, alg));
	if (peer_read(fd, &type) != PEER_RECORD || type != ZC_T_ACCEPT)
		return;

	proto_hdr_encode(buf, ZC_T_DATA, PEER_FILE_SIZE, 0);
	peer_send(fd, buf, ZC_HDR_LEN);
	peer_send(fd, PEER_FILE_DATA, PEER_FILE_SIZE);
	memset(&end, 0, sizeof(end));
	end.digest_alg = alg;
	peer_send(fd, buf, proto_end_encode(buf, sizeof(buf), &end));
	peer_read(fd, &type);
}

/*
 * HELLO, then hold the connection without a word for up to secs seconds.
 * Whatever the receiver sends meanwhile is printed; its closing the
 * connection ends the wait early.
 */
static void
peer_idle(int fd, const char *secs)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	uint16_t	 type;
	long		 n, left;

	n = peer_secs(secs);
	peer_send(fd, buf, proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1,
	    0));
	/* A loaded machine may take its time to answer; say how long. */
	peer_wait(fd, n > PEER_TIMEOUT ? n : PEER_TIMEOUT);
	if (peer_read(fd, &type) != PEER_RECORD || type != ZC_T_HELLO)
		return;
	peer_wait(fd, PEER_TIMEOUT);
	printf("IDLE\n");
	for (left = n; left > 0; left--) {
		if (poll(&pfd, 1, 1000) == -1) {
			if (errno == EINTR)
				continue;
			perror("zcpeer: poll");
			exit(2);
		}
		if (pfd.revents != 0 && peer_read(fd, &type) != PEER_RECORD)
			return;
	}
}

int
main(int argc, char **argv)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	const char	*mode;
	long		 secs;
	int		 fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("zcpeer", LOG_LEVEL_WARN, 0);
	if (argc < 4)
		usage();
	mode = argv[1];
	if ((strcmp(mode, "name") == 0 || strcmp(mode, "idle") == 0) !=
	    (argc == 5) && strcmp(mode, "quiet") != 0)
		usage();
	if (argc > 5)
		usage();

	fd = peer_connect(argv[2], argv[3]);
	if (strcmp(mode, "garbage") == 0) {
		peer_random(buf, 64);
		buf[0] = 0xff;	/* never a valid record type */
		peer_send(fd, buf, 64);
		peer_drain(fd);
	} else if (strcmp(mode, "version") == 0) {
		peer_send(fd, buf, peer_hello(buf, ZC_PROTO_MAGIC, 99));
		peer_drain(fd);
	} else if (strcmp(mode, "magic") == 0) {
		peer_send(fd, buf, peer_hello(buf, 0xdeadbeefU,
		    ZC_PROTO_V1));
		peer_drain(fd);
	} else if (strcmp(mode, "short") == 0) {
		proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 0);
		peer_send(fd, buf, 5);
		if (shutdown(fd, SHUT_WR) == -1) {
			perror("zcpeer: shutdown");
			exit(2);
		}
		peer_drain(fd);
	} else if (strcmp(mode, "name") == 0)
		peer_name(fd, argv[4], ZC_DIGEST_NONE);
	else if (strcmp(mode, "idle") == 0)
		peer_idle(fd, argv[4]);
	else if (strcmp(mode, "quiet") == 0) {
		if (argc == 5 && (secs = peer_secs(argv[4])) > 0)
			peer_wait(fd, secs);
		peer_drain(fd);
	}
	else if (strcmp(mode, "baddigest") == 0)
		peer_name(fd, PEER_BAD_NAME, ZC_DIGEST_XXH3_128);
	else
		usage();
	close(fd);
	return (peer_seen ? 0 : 1);
}
