/*
 * sdlisten.c -- stand in for systemd's notify socket in the integration
 * tests.
 *
 *	sdlisten PATH SECONDS
 *
 * Binds an AF_UNIX datagram socket at PATH (anything already there is
 * unlinked first) and prints every datagram it receives as one line on
 * stdout, newlines inside a datagram shown as " | ", flushing after each.
 * Exits 0 once SECONDS have passed in all, however many datagrams came, so
 * that it always ends.
 *
 * The socket is created mode 0777: the daemon under test sends from the
 * user it dropped to, and systemd's own notify socket accepts anyone too.
 * PATH exists only once the socket is bound, so a test can wait for it.
 *
 * Exit 0 at the deadline; 2 on usage errors or a failing system call.
 */
#define _POSIX_C_SOURCE 200809L

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SDLISTEN_MAX_SECONDS	86400
#define SDLISTEN_DGRAM_MAX	65536	/* larger than any notify message */

/* Print usage and exit 2. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sdlisten PATH SECONDS\n");
	exit(2);
}

/* Print what failed and exit 2. */
static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "sdlisten: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		die("clock_gettime");
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Bind a datagram socket at path, writable by anyone. */
static int
sd_bind(const char *path)
{
	struct sockaddr_un	sun;
	mode_t			old;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "sdlisten: %s: path too long\n", path);
		exit(2);
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	if (unlink(path) == -1 && errno != ENOENT)
		die(path);
	/* bind() creates the node; with umask 0 it is born mode 0777. */
	old = umask(0);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(path);
	umask(old);
	return (fd);
}

/* Print one datagram on one line. */
static void
sd_print(const char *buf, size_t len)
{
	size_t	i;

	/* A trailing newline ends the message rather than separating. */
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	for (i = 0; i < len; i++) {
		if (buf[i] == '\n')
			fputs(" | ", stdout);
		else if (buf[i] == '\0')
			putchar('?');
		else
			putchar(buf[i]);
	}
	putchar('\n');
	if (fflush(stdout) == EOF)
		die("stdout");
}

int
main(int argc, char **argv)
{
	static char	 buf[SDLISTEN_DGRAM_MAX];
	struct pollfd	 pfd;
	long long	 deadline, left;
	ssize_t		 n;
	char		*end;
	long		 secs;
	int		 r;

	if (argc != 3)
		usage();
	errno = 0;
	secs = strtol(argv[2], &end, 10);
	if (errno != 0 || end == argv[2] || *end != '\0' || secs < 0 ||
	    secs > SDLISTEN_MAX_SECONDS)
		usage();

	pfd.fd = sd_bind(argv[1]);
	pfd.events = POLLIN;
	deadline = now_ms() + secs * 1000LL;
	while ((left = deadline - now_ms()) > 0) {
		if ((r = poll(&pfd, 1, left > INT_MAX ? INT_MAX :
		    (int)left)) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (r == 0)
			continue;	/* the loop condition ends it */
		if ((n = recv(pfd.fd, buf, sizeof(buf), MSG_DONTWAIT)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("recv");
		}
		sd_print(buf, (size_t)n);
	}
	close(pfd.fd);
	return (0);
}
