/*
 * recvloop -- the plain recv() receiver: the baseline of the network-only
 * comparison (the kernel's tools/testing/selftests/net/tcp_mmap.c compares
 * its zero-copy receive against the same loop).
 *
 *	recvloop [-b BUFSIZE] [-t SECONDS] [-p PORT]
 *
 * Listens on 127.0.0.1:PORT (default 0: the kernel picks one) and prints
 * "listening on 127.0.0.1:PORT" on stdout; accepts one connection, recv()s
 * into a BUFSIZE buffer (default 1 MiB) until EOF, and prints
 * "received BYTES bytes".  Every wait is bounded by SECONDS (default 60):
 * the accept, and each recv().  Exit 0 on EOF, 1 on error or timeout.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void
usage(void)
{
	fprintf(stderr, "usage: recvloop [-b BUFSIZE] [-t SECONDS] [-p PORT]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 sin;
	struct pollfd		 pfd;
	struct timeval		 tv;
	socklen_t		 len;
	size_t			 bufsize = 1 << 20;
	unsigned long long	 total = 0;
	long			 timeout = 60;
	unsigned		 port = 0;
	char			*buf;
	ssize_t			 n;
	int			 c, s, fd, one = 1;

	while ((c = getopt(argc, argv, "b:p:t:")) != -1) {
		switch (c) {
		case 'b':
			bufsize = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			timeout = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || bufsize == 0 || timeout <= 0 || port > 65535)
		usage();
	if ((buf = malloc(bufsize)) == NULL) {
		perror("recvloop: malloc");
		return (1);
	}

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		perror("recvloop: socket");
		return (1);
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (bind(s, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(s, 1) == -1) {
		perror("recvloop: bind/listen");
		return (1);
	}
	len = sizeof sin;
	if (getsockname(s, (struct sockaddr *)&sin, &len) == -1) {
		perror("recvloop: getsockname");
		return (1);
	}
	printf("listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
	fflush(stdout);

	pfd.fd = s;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, (int)(timeout * 1000)) != 1) {
		fprintf(stderr, "recvloop: no connection in %ld s\n", timeout);
		return (1);
	}
	if ((fd = accept(s, NULL, NULL)) == -1) {
		perror("recvloop: accept");
		return (1);
	}
	close(s);
	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

	for (;;) {
		n = recv(fd, buf, bufsize, 0);
		if (n > 0) {
			total += (unsigned long long)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			fprintf(stderr, "recvloop: no data in %ld s\n",
			    timeout);
		else
			perror("recvloop: recv");
		printf("received %llu bytes (incomplete)\n", total);
		return (1);
	}
	close(fd);
	printf("received %llu bytes\n", total);
	return (0);
}
