/*
 * zcsend.c -- send files to zcrecvd: options, and one connection that
 * carries the files in turn (a new one after the receiver drops it).
 *
 * The conversation is in peer.c, the file being sent (mapping, digest,
 * MSG_ZEROCOPY sends) in source.c, the user's output in sout.c.  Exit 0
 * only when every file was landed by the receiver and verified; otherwise
 * the largest of the files' exit codes (zcsend.h).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcsend.h"

struct opts	 opt = { NULL, 1, 1, 0, 0, 30 };

/* Say how to call us, and exit. */
static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: zcsend [-hqVv] [--key-file file] [--no-verify] "
	    "[--no-zerocopy] [-t seconds] file ... host:port[/dest]\n");
	exit(ZS_USAGE);
}

/* Load the --key-file key, or exit. */
static void
zcsend_key(const char *path)
{
	char	*cause;

	opt.key = xmalloc(sizeof(*opt.key));
	if (auth_key_load(path, opt.key, 0, &cause) == -1) {
		log_errx("%s", cause);
		exit(ZS_USAGE);
	}
}

/* The -t seconds, or exit. */
static int
zcsend_timeout(const char *s)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 86400) {
		log_errx("bad timeout '%s' (1-86400 seconds)", s);
		exit(ZS_USAGE);
	}
	return (n);
}

/* Parse options; returns the index of the first operand. */
static int
zcsend_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "no-zerocopy", no_argument, NULL, 'Z' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	while ((ch = getopt_long(argc, argv, "hqt:vV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'K':
			zcsend_key(optarg);
			break;
		case 'N':
			opt.verify = 0;
			break;
		case 'Z':
			opt.zerocopy = 0;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 't':
			opt.timeout = zcsend_timeout(optarg);
			break;
		case 'v':
			log_setlevel(LOG_LEVEL_DEBUG);
			break;
		case 'V':
			printf("zcsend %s\n", PACKAGE_VERSION);
			exit(ZS_OK);
		default:
			usage();
		}
	}
	if (argc - optind < 2)
		usage();
	return (optind);
}

/* Split HOST:PORT[/DEST]; ZS_OK, or ZS_USAGE after saying why. */
static int
zcsend_target(const char *s, char **host, char **port, char **dest)
{
	char	*cause = NULL;

	if (util_parse_hostport(s, host, port, dest) == -1 || *host == NULL) {
		log_errx("%s: expected HOST:PORT[/DEST]", s);
		return (ZS_USAGE);
	}
	if (*dest != NULL && proto_dest_check(*dest, strlen(*dest),
	    &cause) == -1) {
		log_errx("%s: %s", s, cause);
		free(cause);
		return (ZS_USAGE);
	}
	return (ZS_OK);
}

/*
 * Send the files, connecting again after the receiver drops a connection;
 * stop when a connection cannot be made.  Returns the largest exit code.
 */
static int
zcsend_files(struct peer *p, char **files, int n, const char *host,
    const char *port, const char *dest)
{
	int	 i, r, status = ZS_OK, dead;

	for (i = 0; i < n; i++) {
		if (p->fd == -1 && (peer_connect(p, host, port) == -1 ||
		    peer_hello(p) == -1))
			return (status > ZS_CONNECT ? status : ZS_CONNECT);
		dead = 0;
		r = peer_file(p, files[i], dest, &dead);
		if (r > status)
			status = r;
		if (dead) {
			close(p->fd);
			p->fd = -1;
		}
	}
	return (status);
}

/* Send the files named on the command line; exit with their worst code. */
int
main(int argc, char **argv)
{
	struct peer	 p;
	char		*host = NULL, *port = NULL, *dest = NULL;
	int		 first, status;

	log_init("zcsend", LOG_LEVEL_INFO, 0);
	auth_init();
	first = zcsend_options(argc, argv);
	if ((status = zcsend_target(argv[argc - 1], &host, &port,
	    &dest)) != ZS_OK)
		goto out;
	opt.progress = !opt.quiet && isatty(STDERR_FILENO);

	memset(&p, 0, sizeof(p));
	p.fd = -1;
	p.text = argv[argc - 1];
	p.timeout = opt.timeout;
	status = zcsend_files(&p, argv + first, argc - 1 - first, host, port,
	    dest != NULL ? dest : "");
	if (opt.zerocopy)
		sout_zcstat(&p.zs);
	if (p.fd != -1)
		close(p.fd);
out:
	free(host);
	free(port);
	free(dest);
	if (opt.key != NULL) {
		explicit_bzero(opt.key, sizeof(*opt.key));
		free(opt.key);
	}
	return (status);
}
