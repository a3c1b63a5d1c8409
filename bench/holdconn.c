/*
 * holdconn -- open many idle connections to zcrecvd and hold them, to
 * measure what an idle connection costs the daemon (bench/scale.sh).
 *
 *	holdconn [-n] [-t SECONDS] HOST PORT COUNT
 *
 * Opens COUNT TCP connections to HOST:PORT (an IPv4 address); on each
 * sends a HELLO record (the 16-byte header and 16-byte body of
 * zcproto.h) and waits for the receiver's HELLO, so every connection is a
 * real, idle protocol session (-n: plain TCP connections, no HELLO).
 * Prints "holding N connections" on stdout and keeps them until SIGTERM or
 * SIGINT, or until SECONDS (default 600) pass; then closes them and prints
 * "closed".  Exit 0 if all COUNT were established, 1
 * otherwise (the count held is still printed).
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zcproto.h"

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: holdconn [-n] [-t SECONDS] HOST PORT COUNT\n");
	exit(2);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* HELLO as proto_hello_encode() writes it; kept here so that the benchmark
 * also builds outside the tree (bench/run.sh compiles it with cc). */
static size_t
hello(uint8_t *p)
{
	memset(p, 0, ZC_HDR_LEN + ZC_HELLO_LEN);
	put16(p, ZC_T_HELLO);
	put32(p + 4, ZC_HELLO_LEN);
	put32(p + ZC_HDR_LEN, ZC_PROTO_MAGIC);
	put16(p + ZC_HDR_LEN + 4, ZC_PROTO_V1);
	put32(p + ZC_HDR_LEN + 8, ZC_BLOCK);
	return (ZC_HDR_LEN + ZC_HELLO_LEN);
}

/* Read exactly len bytes (the socket has SO_RCVTIMEO). */
static int
readn(int fd, uint8_t *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = recv(fd, p, len, 0);
		if (n == 0)
			return (-1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 sin;
	struct sigaction	 sa;
	struct rlimit		 rl;
	struct timeval		 tv;
	uint8_t			 msg[ZC_HDR_LEN + ZC_HELLO_LEN];
	uint8_t			 reply[ZC_HDR_LEN + ZC_HELLO_LEN];
	size_t			 msglen;
	long			 seconds = 600, count, held = 0, i;
	time_t			 deadline;
	int			*fds;
	int			 c, do_hello = 1;

	while ((c = getopt(argc, argv, "nt:")) != -1) {
		switch (c) {
		case 'n':
			do_hello = 0;
			break;
		case 't':
			seconds = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 3 || seconds <= 0)
		usage();
	count = strtol(argv[2], NULL, 10);
	if (count <= 0 || count > 1000000)
		usage();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)strtoul(argv[1], NULL, 10));
	if (inet_pton(AF_INET, argv[0], &sin.sin_addr) != 1)
		usage();

	rl.rlim_cur = rl.rlim_max = (rlim_t)count + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)count + 16) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if ((fds = calloc((size_t)count, sizeof *fds)) == NULL) {
		perror("holdconn: calloc");
		return (1);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	deadline = time(NULL) + seconds;

	msglen = hello(msg);
	tv.tv_sec = 10;
	tv.tv_usec = 0;
	for (i = 0; i < count && !stop; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd == -1) {
			perror("holdconn: socket");
			break;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
			fprintf(stderr, "holdconn: connection %ld: connect: "
			    "%s\n", i + 1, strerror(errno));
			close(fd);
			break;
		}
		if (do_hello) {
			if (send(fd, msg, msglen, 0) != (ssize_t)msglen ||
			    readn(fd, reply, sizeof reply) == -1) {
				fprintf(stderr, "holdconn: connection %ld: "
				    "no HELLO reply\n", i + 1);
				close(fd);
				break;
			}
			if (reply[0] != 0 || reply[1] != ZC_T_HELLO) {
				fprintf(stderr, "holdconn: connection %ld: "
				    "refused (record type %u)\n", i + 1,
				    (unsigned)reply[1]);
				close(fd);
				break;
			}
		}
		fds[held++] = fd;
	}
	printf("holding %ld connections\n", held);
	fflush(stdout);

	while (!stop && time(NULL) < deadline)
		poll(NULL, 0, 200);
	for (i = 0; i < held; i++)
		close(fds[i]);
	printf("closed\n");
	return (held == count ? 0 : 1);
}
