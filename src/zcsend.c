/*
 * zcsend.c -- send files and trees to zcrecvd: options, what to send (the
 * operands, walked with -r), and the run over it.
 *
 * The options are one table, which getopt's table, the short options and
 * --help are made from.  The list of what to send is made by walk.c, the
 * run over it (connections, version 1 or 2) by pipeline.c and peer.c, the
 * file being sent (mapping, digest, MSG_ZEROCOPY sends) in source.c, the
 * user's output in sout.c.  Exit 0 only when every entry was landed by the
 * receiver and verified; otherwise the largest of the entries' exit codes
 * (zcsend.h).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcsend.h"

struct opts	 opt = { NULL, 1, 1, 0, 0, 0, 30, 0, 0, 0, 0, NULL,
		    ZC_SIZE_UNKNOWN, 1, ZC_CHUNK_DEFAULT, 0, 0, ZS_IO_AUTO };

#define ZCSEND_USAGE	"usage: zcsend [-hnqrVv] [--chunk-size size] " \
			"[--io auto|map|read] [--json]\n" \
			"              [--key-file file] " \
			"[--limit-rate rate] [--links] [--name name]\n" \
			"              [--no-verify] [--no-zerocopy] " \
			"[-P count] [--resume] [--size bytes]\n" \
			"              [-t seconds] file ... host[:port][/dest]\n"

/* Option ids of the long options without a short one. */
enum {
	OPT_CHUNK_SIZE = 256,
	OPT_IO,
	OPT_JSON,
	OPT_KEY_FILE,
	OPT_LIMIT_RATE,
	OPT_LINKS,
	OPT_NAME,
	OPT_NO_VERIFY,
	OPT_NO_ZEROCOPY,
	OPT_RESUME,
	OPT_SIZE
};

/* One option: a row makes it known to getopt and to --help. */
struct zcsend_option {
	const char	*name;
	int		 ch;		/* the short option if < 256 */
	const char	*arg;		/* its argument's name, or NULL */
	const char	*help;		/* what it does, and the default */
};

static const struct zcsend_option zcsend_optab[] = {
	{ "chunk-size", OPT_CHUNK_SIZE, "size",
	    "with -P, chunk size, power of two, 1M-256M (default: 16M; "
	    "4M with --resume)" },
	{ "dry-run", 'n', NULL,
	    "list what would be sent; connect to nothing (default: off)" },
	{ "help", 'h', NULL, "show this help and exit" },
	{ "io", OPT_IO, "mode",
	    "files from their mapping (map), read into a buffer (read), or "
	    "whichever costs less CPU, measured (default: auto)" },
	{ "json", OPT_JSON, NULL,
	    "JSON lines on stdout instead of text (default: off)" },
	{ "key-file", OPT_KEY_FILE, "file",
	    "key for keyed destinations (default: $ZCSEND_KEY_FILE)" },
	{ "limit-rate", OPT_LIMIT_RATE, "rate",
	    "bytes per second, k M G suffixes (default: no limit)" },
	{ "links", OPT_LINKS, NULL,
	    "with -r, send symlinks as symlinks (default: skip them)" },
	{ "name", OPT_NAME, "name",
	    "what standard input (-) lands as (required with -)" },
	{ "no-verify", OPT_NO_VERIFY, NULL,
	    "skip the digests (default: XXH3-128 compared)" },
	{ "no-zerocopy", OPT_NO_ZEROCOPY, NULL,
	    "send with plain send() (default: MSG_ZEROCOPY)" },
	{ "parallel", 'P', "count",
	    "stripe large files over count connections, 1-64 "
	    "(default: 1)" },
	{ "quiet", 'q', NULL,
	    "only errors, no summary or progress (default: off)" },
	{ "recursive", 'r', NULL,
	    "send directories and all beneath them (default: off)" },
	{ "resume", OPT_RESUME, NULL,
	    "continue a broken transfer; the receiver keeps what it has "
	    "verified (default: off)" },
	{ "size", OPT_SIZE, "bytes",
	    "with -, the exact size the input must come to (default: any)" },
	{ "timeout", 't', "seconds",
	    "limit on every wait on the receiver (default: 30)" },
	{ "verbose", 'v', NULL,
	    "also zero-copy counters on stderr (default: off)" },
	{ "version", 'V', NULL, "print the version and exit" },
};
#define ZCSEND_NOPTS	(sizeof(zcsend_optab) / sizeof(zcsend_optab[0]))

/* Say how to call us, and exit 2. */
static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "%sTry 'zcsend --help' for more.\n", ZCSEND_USAGE);
	exit(ZS_USAGE);
}

/* Describe every option, the operands and the environment; exit 0. */
static __attribute__((noreturn)) void
zcsend_help(void)
{
	const struct zcsend_option	*o;
	char				 left[64];

	printf("%s\nSend files to a zcrecvd receiver.\n\n", ZCSEND_USAGE);
	for (o = zcsend_optab; o < zcsend_optab + ZCSEND_NOPTS; o++) {
		snprintf(left, sizeof(left), "%c%c%c --%s%s%s", o->ch < 256 ?
		    '-' : ' ', o->ch < 256 ? o->ch : ' ', o->ch < 256 ? ',' :
		    ' ', o->name, o->arg != NULL ? " " : "", o->arg != NULL ?
		    o->arg : "");
		printf("  %-22s %s\n", left, o->help);
	}
	printf("\n  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n"
	    "  %-22s %s\n",
	    "file ...", "regular files; each lands under its base name",
	    "", "with -r also directories: dir lands as dir/...,",
	    "", "dir/ (or . or ..) lands what is in it",
	    "-", "standard input, as a stream of unknown size (--name)",
	    "host[:port][/dest]", "receiver (port " ZC_DEFAULT_PORT
	    ") and destination (default)");
	printf("\nenvironment:\n  %-22s %s\n", "ZCSEND_KEY_FILE",
	    "key file when --key-file is not given");
	printf("\nexit: 0 all landed and verified, 1 local file, 2 usage, "
	    "3 connection,\n      4 rejected, 5 verification failed\n");
	exit(ZS_OK);
}

/* Load the key file at path (named by what), or exit 2. */
static void
zcsend_key(const char *path, const char *what)
{
	char	*cause;

	if (opt.key == NULL)
		opt.key = xmalloc(sizeof(*opt.key));
	if (auth_key_load(path, opt.key, 0, &cause) == -1) {
		log_errx("%s%s%s", what != NULL ? what : "", what != NULL ?
		    ": " : "", cause);
		exit(ZS_USAGE);
	}
}

/* The --io mode, or exit. */
static int
zcsend_io(const char *s)
{
	if (strcmp(s, "auto") == 0)
		return (ZS_IO_AUTO);
	if (strcmp(s, "map") == 0)
		return (ZS_IO_MAP);
	if (strcmp(s, "read") == 0)
		return (ZS_IO_READ);
	log_errx("bad io mode '%s' (auto, map or read)", s);
	exit(ZS_USAGE);
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

/*
 * The --limit-rate bytes per second: a number with an optional k, M or G
 * (powers of 1024), ZS_RATE_MIN to ZS_RATE_MAX; or exit.
 */
static uint64_t
zcsend_rate(const char *s)
{
	char			*end;
	unsigned long long	 n;
	int			 shift = 0;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift != 0)
		end++;
	if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' ||
	    n > ZS_RATE_MAX >> shift || n << shift < ZS_RATE_MIN) {
		log_errx("bad rate '%s' (bytes per second with an optional k, "
		    "M or G: 64k to 1024G)", s);
		exit(ZS_USAGE);
	}
	return ((uint64_t)n << shift);
}

/* The --size bytes, or exit. */
static uint64_t
zcsend_size(const char *s)
{
	char			*end;
	unsigned long long	 n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || *s < '0' || *s > '9' ||
	    n > (unsigned long long)INT64_MAX - ZC_DATA_MAX) {
		log_errx("bad size '%s' (a number of bytes)", s);
		exit(ZS_USAGE);
	}
	return (n);
}

/* The -P connections, or exit. */
static int
zcsend_parallel(const char *s)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > ZS_STRIPES_MAX) {
		log_errx("bad number of connections '%s' (1-%d)", s,
		    ZS_STRIPES_MAX);
		exit(ZS_USAGE);
	}
	return (n);
}

/*
 * The --chunk-size: a power of two of bytes with an optional k, M or G,
 * ZC_CHUNK_MIN to ZC_CHUNK_MAX; or exit.
 */
static uint32_t
zcsend_chunk(const char *s)
{
	char			*end;
	unsigned long long	 n;
	int			 shift = 0;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift != 0)
		end++;
	if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' ||
	    n > ZC_CHUNK_MAX >> shift || !proto_chunk_size_ok(n << shift)) {
		log_errx("bad chunk size '%s' (a power of two from 1M to "
		    "256M)", s);
		exit(ZS_USAGE);
	}
	return ((uint32_t)(n << shift));
}

/* getopt_long's tables, made from zcsend_optab. */
static void
zcsend_getopt_tables(struct option *lo, char *so)
{
	const struct zcsend_option	*o;

	for (o = zcsend_optab; o < zcsend_optab + ZCSEND_NOPTS; o++, lo++) {
		lo->name = o->name;
		lo->has_arg = o->arg != NULL ? required_argument : no_argument;
		lo->flag = NULL;
		lo->val = o->ch;
		if (o->ch < 256) {
			*so++ = o->ch;
			if (o->arg != NULL)
				*so++ = ':';
		}
	}
	memset(lo, 0, sizeof(*lo));
	*so = '\0';
}

/* Take one option. */
static void
zcsend_option(int ch)
{
	switch (ch) {
	case 'h':
		zcsend_help();
	case OPT_CHUNK_SIZE:
		opt.chunk = zcsend_chunk(optarg);
		opt.chunk_set = 1;
		break;
	case OPT_RESUME:
		opt.resume = 1;
		break;
	case 'P':
		opt.stripes = zcsend_parallel(optarg);
		break;
	case OPT_JSON:
		opt.json = 1;
		break;
	case OPT_KEY_FILE:
		zcsend_key(optarg, NULL);
		break;
	case OPT_LIMIT_RATE:
		opt.limit_rate = zcsend_rate(optarg);
		break;
	case OPT_LINKS:
		opt.links = 1;
		break;
	case 'n':
		opt.dryrun = 1;
		break;
	case 'r':
		opt.recursive = 1;
		break;
	case OPT_NAME:
		opt.name = optarg;
		break;
	case OPT_NO_VERIFY:
		opt.verify = 0;
		break;
	case OPT_SIZE:
		opt.size = zcsend_size(optarg);
		break;
	case OPT_NO_ZEROCOPY:
		opt.zerocopy = 0;
		break;
	case OPT_IO:
		opt.io = zcsend_io(optarg);
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

/*
 * Parse options, then take ZCSEND_KEY_FILE if no --key-file was given;
 * returns the index of the first operand.
 */
static int
zcsend_options(int argc, char **argv)
{
	struct option	 lo[ZCSEND_NOPTS + 1];
	char		 so[2 * ZCSEND_NOPTS + 1];
	const char	*env;
	int		 ch;

	zcsend_getopt_tables(lo, so);
	while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1)
		zcsend_option(ch);
	if (argc - optind < 2)
		usage();
	if (opt.resume && !opt.verify) {
		log_errx("--resume needs the digests: not with --no-verify");
		usage();
	}
	if (opt.key == NULL && (env = getenv("ZCSEND_KEY_FILE")) != NULL &&
	    *env != '\0')
		zcsend_key(env, "ZCSEND_KEY_FILE");
	return (optind);
}

/*
 * HOST[:PORT][/DEST] with ZC_DEFAULT_PORT put in where PORT is left out
 * ("host", "host/dest", "[v6]", "[v6]/dest"); anything else as it is, for
 * util_parse_hostport to take or refuse.
 */
static char *
zcsend_withport(const char *s)
{
	size_t		 n = strcspn(s, "/");
	const char	*end;

	if (s[0] == '[') {
		if ((end = memchr(s, ']', n)) == NULL || end + 1 != s + n)
			return (xstrdup(s));
	} else if (n == 0 || memchr(s, ':', n) != NULL)
		return (xstrdup(s));
	return (xasprintf("%.*s:%s%s", (int)n, s, ZC_DEFAULT_PORT, s + n));
}

/* Split HOST[:PORT][/DEST]; ZS_OK, or ZS_USAGE after saying why. */
static int
zcsend_target(const char *s, char **host, char **port, char **dest)
{
	char	*cause = NULL, *full = zcsend_withport(s);
	int	 r;

	r = util_parse_hostport(full, host, port, dest);
	free(full);
	if (r == -1 || *host == NULL) {
		log_errx("%s: expected HOST[:PORT][/DEST]", s);
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
 * Is "-" (standard input) among the n operands in args as it may be: once,
 * with --name, which must be a name the receiver could take?  --name and
 * --size mean nothing without it.  ZS_OK, or ZS_USAGE after saying why.
 */
static int
zcsend_stdin(char **args, int n)
{
	char	*cause = NULL;
	int	 i, dashes = 0;

	for (i = 0; i < n; i++)
		dashes += strcmp(args[i], "-") == 0;
	if (dashes > 1) {
		log_errx("standard input (-) can be sent only once");
		return (ZS_USAGE);
	}
	if (dashes == 0 && (opt.name != NULL || opt.size != ZC_SIZE_UNKNOWN)) {
		log_errx("--name and --size are for standard input (-)");
		return (ZS_USAGE);
	}
	if (dashes == 1 && opt.name == NULL) {
		log_errx("standard input (-) needs --name");
		return (ZS_USAGE);
	}
	if (dashes == 1 && proto_name_check(opt.name, strlen(opt.name),
	    &cause) == -1) {
		log_errx("--name %s: %s", sout_vis(opt.name), cause);
		free(cause);
		return (ZS_USAGE);
	}
	return (ZS_OK);
}

/* What the operands are: files, and with -r trees; "-" standard input. */
static void
zcsend_walk(struct walk *w, char **args, int n)
{
	int	 i;

	walk_init(w);
	for (i = 0; i < n; i++) {
		if (strcmp(args[i], "-") == 0)
			walk_stream(w, opt.name);
		else if (opt.recursive)
			walk_operand(w, args[i]);
		else
			walk_file(w, args[i]);
	}
}

/*
 * Send everything in w, connecting again after the receiver drops a
 * connection; when a connection cannot be made, what is left is not sent.
 * Returns the largest exit code.
 */
static int
zcsend_run(struct peer *p, struct walk *w, const char *dest)
{
	struct pipeline	*pl;
	size_t		 i;
	int		 status;

	sout_start(w->n, w->bytes);
	pl = pipeline_new(p, dest, w->n);
	for (i = 0; i < w->n; i++)
		pipeline_item(pl, w, i);
	status = pipeline_finish(pl);
	pipeline_free(pl);
	return (status);
}

/* Send the files named on the command line; exit with their worst code. */
int
main(int argc, char **argv)
{
	struct peer	 p;
	struct walk	 w;
	char		*host = NULL, *port = NULL, *dest = NULL;
	int		 first, status;

	log_init("zcsend", LOG_LEVEL_INFO, 0);
	auth_init();
	source_init();
	first = zcsend_options(argc, argv);
	if ((status = zcsend_target(argv[argc - 1], &host, &port,
	    &dest)) != ZS_OK)
		goto out;
	if ((status = zcsend_stdin(argv + first, argc - 1 - first)) != ZS_OK)
		goto out;
	opt.progress = !opt.quiet && !opt.json && isatty(STDERR_FILENO);

	memset(&p, 0, sizeof(p));
	p.fd = -1;
	p.side_fd = -1;
	p.text = argv[argc - 1];
	p.host = host;
	p.port = port;
	p.timeout = opt.timeout;
	/* Only a run that needs more than version 2 proposes more. */
	p.propose = opt.resume ? ZC_PROTO_V5 : opt.stripes > 1 ? ZC_PROTO_V4 :
	    opt.name != NULL ? ZC_PROTO_V3 : ZC_PROTO_V2;
	zcsend_walk(&w, argv + first, argc - 1 - first);
	status = zcsend_run(&p, &w, dest != NULL ? dest : "");
	sout_summary(status);
	if (!opt.dryrun)
		sout_zcstat(&p.zs);
	walk_free(&w);
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
