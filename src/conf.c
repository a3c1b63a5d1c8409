/*
 * conf.c -- configuration: parse with inih, fill defaults, cross-check, dump.
 *
 * One table, conf_opts[], describes every option: its name, its section,
 * its type, bounds and default, and where it is stored.  The parser, the
 * defaults, the dump and conf_free() all walk it, as OpenSSH's servconf.c
 * keywords[] and tmux's options-table.c do, so a new option is one row.
 * What a type means (how to parse, print and free it) is a row of
 * conf_types[].
 *
 * The lifecycle follows OpenSSH: every option starts unset, the parser sets
 * what the file says, defaults fill the rest, then the whole is checked.
 * An option is unset while no line is recorded for it in its section; its
 * default is then parsed like a value from the file, so every default is
 * something the file could say and that -T prints back.  Every error is
 * reported as "file:line: message" and parsing goes on, so one run shows
 * all of them.  inih's packaged build reports only the first error line,
 * so the reader handed to ini_parse_stream() counts lines and judges each
 * line's syntax itself.
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>

#include <ini.h>

#include "zcrecvd.h"

#define CONF_SECTION_MAX	49	/* inih's section buffer holds 50 */

/* The words of the io option: the rows of the io mode table. */
static const char *
conf_io_word(int i)
{
	return (i >= 0 && i < iomode_count() ? iomode_name(i) : NULL);
}

/* A word that an option takes as a value. */
struct conf_word {
	const char	*name;
	int		 value;
};

static const struct conf_word conf_yesno[] = {
	{ "yes", 1 }, { "no", 0 }, { NULL, 0 }
};
static const struct conf_word conf_verify[] = {
	{ "xxh3", 1 }, { "none", 0 }, { NULL, 0 }
};
static const struct conf_word conf_log_levels[] = {
	{ "error", LOG_LEVEL_ERR }, { "warning", LOG_LEVEL_WARN },
	{ "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG }, { NULL, 0 }
};
static const struct conf_word conf_workers[] = {
	{ "auto", 0 }, { NULL, 0 }
};
static const struct conf_word conf_page_mss[] = {
	{ "auto", PAGE_MSS_AUTO }, { "off", PAGE_MSS_OFF }, { NULL, 0 }
};
static const struct conf_word conf_none[] = {
	{ "none", -1 }, { NULL, 0 }
};

/* Where an option is given. */
#define CONF_SERVER	1	/* [server] */
#define CONF_DEST	2	/* a destination section */

#define CONF_MULTI	0x1	/* may be repeated, each adding to a list */

enum conf_type {
	CONF_YESNO,		/* int: yes or no */
	CONF_ENUM,		/* int: one of the option's words */
	CONF_NUMBER,		/* int: min-max, or one of the words */
	CONF_SIZE,		/* int64_t: min-max bytes (K, M, G, T), or a
				   word */
	CONF_SIZE_PERCENT,	/* int64_t: bytes, or "N%" (0-99) kept as -N */
	CONF_PATH,		/* char *: an absolute path name */
	CONF_NAME,		/* char *: a user or group name */
	CONF_LISTEN,		/* struct listen_addr[]: HOST:PORT */
	CONF_CIDRS,		/* struct cidr[]: networks, or any */
};

/* One option: a row of conf_opts[]. */
struct conf_opt {
	const char		 *name;
	int			  scope;	/* CONF_SERVER or CONF_DEST */
	enum conf_type		  type;
	int			  flags;
	long long		  min;		/* bounds of numbers, sizes */
	long long		  max;
	const struct conf_word	 *words;	/* names of values, or ... */
	const char		*(*names)(int);	/* ... value i's name, NULL
						   past the last */
	const char		 *def;		/* default, as the file says
						   it; NULL: none */
	size_t			  off;		/* field in struct conf or
						   struct dest */
	size_t			  noff;		/* lists: the count field */
	const char		 *with;		/* dumped only when this option
						   is set */
	const char		 *what;		/* in errors, for the type's */
};

#define SERVER(f)	.scope = CONF_SERVER, .off = offsetof(struct conf, f)
#define DEST(f)		.scope = CONF_DEST, .off = offsetof(struct dest, f)
#define SERVER_LIST(f, n) SERVER(f), .noff = offsetof(struct conf, n)
#define DEST_LIST(f, n)	DEST(f), .noff = offsetof(struct dest, n)

/* Every option, in the order -T prints them. */
static const struct conf_opt conf_opts[] = {
	{ .name = "listen", .type = CONF_LISTEN, .flags = CONF_MULTI,
	  SERVER_LIST(listen, nlisten), .def = "127.0.0.1:" ZC_DEFAULT_PORT },
	{ .name = "user", .type = CONF_NAME, SERVER(user) },
	{ .name = "group", .type = CONF_NAME, SERVER(group) },
	{ .name = "workers", .type = CONF_NUMBER, SERVER(workers),
	  .min = 0, .max = 64, .words = conf_workers, .def = "auto" },
	{ .name = "max_connections", .type = CONF_NUMBER, SERVER(max_conns),
	  .min = 1, .max = 1000000, .def = "1024" },
	{ .name = "max_connections_per_address", .type = CONF_NUMBER,
	  SERVER(max_conns_addr), .min = 1, .max = 1000000, .def = "64" },
	{ .name = "page_mss", .type = CONF_NUMBER, SERVER(page_mss),
	  .min = 88, .max = 32767, .words = conf_page_mss, .def = "auto" },
	{ .name = "transfer_log", .type = CONF_PATH, SERVER(transfer_log) },
	{ .name = "idle_timeout", .type = CONF_NUMBER, SERVER(idle_timeout),
	  .min = 1, .max = 86400, .def = "300" },
	{ .name = "stall_timeout", .type = CONF_NUMBER, SERVER(stall_timeout),
	  .min = 1, .max = 86400, .def = "30" },
	{ .name = "shutdown_grace", .type = CONF_NUMBER,
	  SERVER(shutdown_grace), .min = 0, .max = 86400, .def = "30" },
	{ .name = "max_stripes", .type = CONF_NUMBER, SERVER(max_stripes),
	  .min = 1, .max = 64, .def = "8" },
	/* Seconds a resume partial (version 5) is kept untouched. */
	{ .name = "resume_keep", .type = CONF_NUMBER, SERVER(resume_keep),
	  .min = 1, .max = 30 * 86400, .def = "86400" },
	{ .name = "log_level", .type = CONF_ENUM, SERVER(log_level),
	  .words = conf_log_levels, .def = "info" },
	{ .name = "metrics_listen", .type = CONF_LISTEN,
	  SERVER_LIST(metrics_listen, nmetrics_listen) },
	/* Loopback only, like allow; said by -T only with metrics_listen. */
	{ .name = "metrics_allow", .type = CONF_CIDRS,
	  SERVER_LIST(metrics_allow, nmetrics_allow),
	  .def = "127.0.0.0/8, ::1", .with = "metrics_listen" },

	{ .name = "path", .type = CONF_PATH, DEST(path) },
	{ .name = "io", .type = CONF_ENUM, DEST(io), .names = conf_io_word,
	  .def = "auto" },
	{ .name = "fsync", .type = CONF_YESNO, DEST(fsync), .def = "yes" },
	{ .name = "overwrite", .type = CONF_YESNO, DEST(overwrite),
	  .def = "no" },
	{ .name = "verify", .type = CONF_ENUM, DEST(verify),
	  .words = conf_verify, .def = "xxh3" },
	/* Loopback only until the administrator says. */
	{ .name = "allow", .type = CONF_CIDRS, DEST_LIST(allow, nallow),
	  .def = "127.0.0.0/8, ::1" },
	{ .name = "max_file_size", .type = CONF_SIZE, DEST(max_file_size),
	  .min = 1, .max = INT64_MAX, .words = conf_none, .def = "none" },
	{ .name = "min_free", .type = CONF_SIZE_PERCENT, DEST(min_free),
	  .def = "1%" },
	/* Bytes per second read from each connection (conn.c). */
	{ .name = "max_rate", .type = CONF_SIZE, DEST(max_rate),
	  .min = 65536, .max = 1LL << 40, .words = conf_none, .def = "none",
	  .what = "bytes per second from 64K to 1T, like 100M" },
	/* Limits on the paths of a tree (protocol version 2). */
	{ .name = "max_path_depth", .type = CONF_NUMBER, DEST(max_path_depth),
	  .min = 1, .max = 1024, .def = "32" },
	{ .name = "max_path_length", .type = CONF_NUMBER,
	  DEST(max_path_length), .min = 1, .max = ZC_PATH_MAX, .def = "4095" },
	{ .name = "allow_symlinks", .type = CONF_YESNO, DEST(allow_symlinks),
	  .def = "no" },
	{ .name = "key_file", .type = CONF_PATH, DEST(key_file) },
};
#define CONF_NOPTS	(sizeof(conf_opts) / sizeof(conf_opts[0]))

struct parse_state {
	FILE		*fp;
	const char	*file;
	struct conf	*conf;
	int		 line;		/* line last handed to inih */
	int		 bad_line;	/* inih must not judge this line */
	int		 section_line;	/* where the last [section] began */
	int		 skip_section;	/* its header was bad: ignore keys */
	int		 errors;
	int		 server_lines[CONF_NOPTS];	/* per option: where
							   given, 0: unset */
	int		(*dest_lines)[CONF_NOPTS];	/* the same, for each
							   destination */
};

/* The section a key is in: what it sets, and where keys were given. */
struct conf_section {
	const char	*name;
	int		 scope;
	void		*base;		/* struct conf or struct dest */
	int		*lines;		/* indexed like conf_opts[] */
};

typedef void	 conf_parse_fn(struct parse_state *, const struct conf_opt *,
		     void *, const char *);
typedef void	 conf_dump_fn(const struct conf_opt *, const void *, FILE *);
typedef void	 conf_free_fn(const struct conf_opt *, void *);

static conf_parse_fn	 conf_parse_int, conf_parse_size;
static conf_parse_fn	 conf_parse_size_percent, conf_parse_path;
static conf_parse_fn	 conf_parse_name, conf_parse_listen, conf_parse_cidrs;
static conf_dump_fn	 conf_dump_int, conf_dump_size, conf_dump_string;
static conf_dump_fn	 conf_dump_listen, conf_dump_cidrs;
static conf_free_fn	 conf_free_string, conf_free_listen, conf_free_cidrs;

/* What each type of option is. */
static const struct conf_type_ops {
	conf_parse_fn		*parse;		/* reports a bad value */
	conf_dump_fn		*dump;		/* prints "name = value" */
	conf_free_fn		*free;		/* NULL: nothing allocated */
	const struct conf_word	*words;		/* if the option has none */
	int			 range;		/* takes a number min-max */
	const char		*what;		/* or this, said in errors */
} conf_types[] = {
	[CONF_YESNO] = { .parse = conf_parse_int, .dump = conf_dump_int,
	    .words = conf_yesno },
	[CONF_ENUM] = { .parse = conf_parse_int, .dump = conf_dump_int },
	[CONF_NUMBER] = { .parse = conf_parse_int, .dump = conf_dump_int,
	    .range = 1 },
	[CONF_SIZE] = { .parse = conf_parse_size, .dump = conf_dump_size,
	    .what = "a size like 500M, 2G" },
	[CONF_SIZE_PERCENT] = { .parse = conf_parse_size_percent,
	    .dump = conf_dump_size,
	    .what = "a size like 10G or a percentage like 5%" },
	[CONF_PATH] = { .parse = conf_parse_path, .dump = conf_dump_string,
	    .free = conf_free_string },
	[CONF_NAME] = { .parse = conf_parse_name, .dump = conf_dump_string,
	    .free = conf_free_string },
	[CONF_LISTEN] = { .parse = conf_parse_listen, .dump = conf_dump_listen,
	    .free = conf_free_listen,
	    .what = "HOST:PORT, [IPV6]:PORT or *:PORT" },
	[CONF_CIDRS] = { .parse = conf_parse_cidrs, .dump = conf_dump_cidrs,
	    .free = conf_free_cidrs, .what = "ADDRESS, ADDRESS/PREFIX or any" },
};

/* The field of an option in a struct conf or struct dest. */
#define CONF_FIELD(base, off, type)	((type *)((char *)(base) + (off)))
#define CONF_CFIELD(base, off, type)					\
	((const type *)((const char *)(base) + (off)))

/* Report one error at a line (0: the whole file) and count it. */
static void __attribute__((format(printf, 3, 4)))
conf_error(struct parse_state *ps, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		log_plain("%s:%d: %s", ps->file, line, msg);
	else
		log_plain("%s: %s", ps->file, msg);
	free(msg);
	ps->errors++;
}

/* Blank a line that has been reported, so that inih does not judge it. */
static char *
conf_reader_skip(struct parse_state *ps, char *buf)
{
	ps->bad_line = ps->line;
	buf[0] = '\0';
	return (buf);
}

/* Check a "[section]" line; after a bad one, its keys are ignored. */
static char *
conf_reader_section(struct parse_state *ps, const char *p, char *buf)
{
	const char	*end;

	ps->section_line = ps->line;
	ps->skip_section = 0;
	if ((end = strchr(p, ']')) == NULL)
		conf_error(ps, ps->line, "syntax error: missing ]");
	else if (end - p - 1 > CONF_SECTION_MAX)
		conf_error(ps, ps->line, "section name longer than %d "
		    "characters", CONF_SECTION_MAX);
	else
		return (buf);
	ps->skip_section = 1;
	return (conf_reader_skip(ps, buf));
}

/*
 * fgets() for inih that counts lines and checks the syntax inih would
 * otherwise report only once: a line must be blank, a comment, a
 * "[section]" or a "key = value".
 */
static char *
conf_reader(char *buf, int size, void *arg)
{
	struct parse_state	*ps = arg;
	char			*p;
	int			 c;

	if (fgets(buf, size, ps->fp) == NULL)
		return (NULL);
	ps->line++;
	if (strchr(buf, '\n') == NULL && !feof(ps->fp)) {
		conf_error(ps, ps->line, "line longer than %d bytes", size - 2);
		while ((c = fgetc(ps->fp)) != EOF && c != '\n')
			;
		return (conf_reader_skip(ps, buf));
	}
	for (p = buf; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#')
		return (buf);
	if (p != buf) {
		conf_error(ps, ps->line, "syntax error: line starts with "
		    "white space");
		return (conf_reader_skip(ps, buf));
	}
	if (*p == '[')
		return (conf_reader_section(ps, p, buf));
	if (strpbrk(p, "=:") == NULL) {
		conf_error(ps, ps->line, "syntax error: expected key = value");
		return (conf_reader_skip(ps, buf));
	}
	return (buf);
}

/* Parse a decimal integer in [min, max]; -1 (with *ok = 0) on error. */
static long long
conf_number(const char *v, long long min, long long max, int *ok)
{
	char		*end;
	long long	 n;

	errno = 0;
	n = strtoll(v, &end, 10);
	*ok = !(errno != 0 || end == v || *end != '\0' || n < min || n > max);
	return (*ok ? n : -1);
}

/*
 * Parse a size: bytes with an optional K, M, G or T (powers of 1024).
 * Returns -1 when malformed.
 */
static int64_t
conf_size(const char *v)
{
	char		*end;
	uint64_t	 n, mult = 1;

	errno = 0;
	if (*v < '0' || *v > '9')
		return (-1);
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return (-1);
	switch (*end) {
	case 'T': mult <<= 10;	/* FALLTHROUGH */
	case 'G': mult <<= 10;	/* FALLTHROUGH */
	case 'M': mult <<= 10;	/* FALLTHROUGH */
	case 'K': mult <<= 10;
		end++;
		break;
	}
	if (*end != '\0' || n > (uint64_t)INT64_MAX / mult)
		return (-1);
	return ((int64_t)(n * mult));
}

/* A size, or a percentage "N%" (0-99) returned as -N; INT64_MIN if bad. */
static int64_t
conf_size_or_percent(const char *v)
{
	char		 buf[8];
	size_t		 len = strlen(v);
	long long	 n;
	int		 ok;

	if (len > 1 && v[len - 1] == '%') {
		if (len > sizeof(buf))
			return (INT64_MIN);
		memcpy(buf, v, len - 1);
		buf[len - 1] = '\0';
		n = conf_number(buf, 0, 99, &ok);
		return (ok ? -n : INT64_MIN);
	}
	n = conf_size(v);
	return (n < 0 ? INT64_MIN : n);
}

/* Parse one network of an allow list: ADDR or ADDR/PREFIX. */
static int
conf_cidr(const char *v, struct cidr *c)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash;
	int		 ok;
	long long	 n;

	if (strlen(v) >= sizeof(buf))
		return (-1);
	strcpy(buf, v);
	memset(c, 0, sizeof(*c));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		c->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		c->prefix = 128;
	} else
		return (-1);
	if (slash != NULL) {
		n = conf_number(slash, 0, c->prefix, &ok);
		if (!ok)
			return (-1);
		c->prefix = n;
	}
	return (0);
}

/* The i-th word of an option and its value; NULL past the last. */
static const char *
conf_word(const struct conf_opt *o, int i, long long *value)
{
	const struct conf_word	*w;

	if (o->names != NULL) {
		*value = i;
		return (o->names(i));
	}
	if ((w = o->words) == NULL && (w = conf_types[o->type].words) == NULL)
		return (NULL);
	*value = w[i].value;
	return (w[i].name);
}

/* The value of a word of an option; -1 if it has no such word. */
static int
conf_word_value(const struct conf_opt *o, const char *val, long long *value)
{
	const char	*w;
	int		 i;

	for (i = 0; (w = conf_word(o, i, value)) != NULL; i++)
		if (strcmp(w, val) == 0)
			return (0);
	return (-1);
}

/* The word of an option for a value; NULL if none names it. */
static const char *
conf_word_name(const struct conf_opt *o, long long value)
{
	const char	*w;
	long long	 v;
	int		 i;

	for (i = 0; (w = conf_word(o, i, &v)) != NULL; i++)
		if (v == value)
			return (w);
	return (NULL);
}

/*
 * Describe the values of an option for errors, "a, b or c": first its
 * words, then its range or what its type takes, then the words that are
 * other names for a number of the range ("0-64 or auto").
 */
static void
conf_expect(const struct conf_opt *o, char *buf, size_t len)
{
	const struct conf_type_ops	*t = &conf_types[o->type];
	const char			*item[16], *w, *what;
	char				 range[48];
	long long			 v;
	size_t				 n = 0, k, off = 0;
	int				 i, alias, in;

	snprintf(range, sizeof(range), "%lld-%lld", o->min, o->max);
	for (alias = 0; alias <= 1; alias++) {
		for (i = 0; (w = conf_word(o, i, &v)) != NULL; i++) {
			in = t->range && v >= o->min && v <= o->max;
			if (in == alias && n < sizeof(item) / sizeof(*item) - 1)
				item[n++] = w;
		}
		what = o->what != NULL ? o->what : t->what;
		if (alias == 0 && (t->range || what != NULL))
			item[n++] = t->range ? range : what;
	}
	buf[0] = '\0';
	for (k = 0; k < n && off < len; k++)
		off += snprintf(buf + off, len - off, "%s%s", k == 0 ? "" :
		    k == n - 1 ? " or " : ", ", item[k]);
}

/* Report a value that an option does not take. */
static void
conf_bad_value(struct parse_state *ps, const struct conf_opt *o,
    const char *val)
{
	char	 expect[256];

	conf_expect(o, expect, sizeof(expect));
	conf_error(ps, ps->line, "%s: bad value '%s' (expected %s)", o->name,
	    val, expect);
}

/* CONF_YESNO, CONF_ENUM, CONF_NUMBER: a word, or a number in range. */
static void
conf_parse_int(struct parse_state *ps, const struct conf_opt *o, void *base,
    const char *val)
{
	long long	 n;
	int		 ok = 0;

	if (conf_word_value(o, val, &n) == -1) {
		if (conf_types[o->type].range)
			n = conf_number(val, o->min, o->max, &ok);
		if (!ok) {
			conf_bad_value(ps, o, val);
			return;
		}
	}
	*CONF_FIELD(base, o->off, int) = n;
}

/* CONF_SIZE: a word, or a size in the option's range. */
static void
conf_parse_size(struct parse_state *ps, const struct conf_opt *o, void *base,
    const char *val)
{
	long long	 n;

	if (conf_word_value(o, val, &n) == -1) {
		n = conf_size(val);
		if (n < o->min || n > o->max) {
			conf_bad_value(ps, o, val);
			return;
		}
	}
	*CONF_FIELD(base, o->off, int64_t) = n;
}

/* CONF_SIZE_PERCENT: a size, or "N%" kept as -N. */
static void
conf_parse_size_percent(struct parse_state *ps, const struct conf_opt *o,
    void *base, const char *val)
{
	int64_t	 n;

	if ((n = conf_size_or_percent(val)) == INT64_MIN)
		conf_bad_value(ps, o, val);
	else
		*CONF_FIELD(base, o->off, int64_t) = n;
}

/* CONF_PATH: an absolute path name. */
static void
conf_parse_path(struct parse_state *ps, const struct conf_opt *o, void *base,
    const char *val)
{
	if (val[0] != '/')
		conf_error(ps, ps->line, "%s: '%s' is not an absolute path",
		    o->name, val);
	else
		*CONF_FIELD(base, o->off, char *) = xstrdup(val);
}

/* CONF_NAME: a user or group name, of the characters useradd takes. */
static void
conf_parse_name(struct parse_state *ps, const struct conf_opt *o, void *base,
    const char *val)
{
	if (*val == '\0' || strspn(val, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(val))
		conf_error(ps, ps->line, "%s: bad name '%s'", o->name, val);
	else
		*CONF_FIELD(base, o->off, char *) = xstrdup(val);
}

/* CONF_LISTEN: add HOST:PORT, [IPV6]:PORT or *:PORT to the list. */
static void
conf_parse_listen(struct parse_state *ps, const struct conf_opt *o,
    void *base, const char *val)
{
	struct listen_addr	**list, la;
	size_t			 *n;
	char			 *name;

	memset(&la, 0, sizeof(la));
	if (util_parse_hostport(val, &la.host, &la.port, &name) == -1 ||
	    name != NULL) {
		free(name);
		free(la.host);
		free(la.port);
		conf_bad_value(ps, o, val);
		return;
	}
	la.text = xstrdup(val);
	la.line = ps->line;
	list = CONF_FIELD(base, o->off, struct listen_addr *);
	n = CONF_FIELD(base, o->noff, size_t);
	if ((*list = reallocarray(*list, *n + 1, sizeof(**list))) == NULL)
		fatal("reallocarray");
	(*list)[(*n)++] = la;
}

/* Add one network, or both of "any", to a CONF_CIDRS list. */
static void
conf_add_cidr(struct parse_state *ps, const struct conf_opt *o, void *base,
    const char *tok)
{
	struct cidr	**list, c;
	size_t		 *n;

	if (strcmp(tok, "any") == 0) {
		conf_parse_cidrs(ps, o, base, "0.0.0.0/0, ::/0");
		return;
	}
	if (conf_cidr(tok, &c) == -1) {
		conf_error(ps, ps->line, "%s: bad network '%s' (expected %s)",
		    o->name, tok, conf_types[o->type].what);
		return;
	}
	list = CONF_FIELD(base, o->off, struct cidr *);
	n = CONF_FIELD(base, o->noff, size_t);
	if ((*list = reallocarray(*list, *n + 1, sizeof(**list))) == NULL)
		fatal("reallocarray");
	(*list)[(*n)++] = c;
}

/* CONF_CIDRS: networks separated by commas and/or white space. */
static void
conf_parse_cidrs(struct parse_state *ps, const struct conf_opt *o,
    void *base, const char *val)
{
	char	*copy, *p, *tok;

	copy = xstrdup(val);
	for (p = copy; (tok = strsep(&p, ", \t")) != NULL;)
		if (*tok != '\0')
			conf_add_cidr(ps, o, base, tok);
	free(copy);
}

/* Print CONF_YESNO, CONF_ENUM and CONF_NUMBER: the word, or the number. */
static void
conf_dump_int(const struct conf_opt *o, const void *base, FILE *fp)
{
	int		 n = *CONF_CFIELD(base, o->off, int);
	const char	*w;

	if ((w = conf_word_name(o, n)) != NULL)
		fprintf(fp, "%s = %s\n", o->name, w);
	else
		fprintf(fp, "%s = %d\n", o->name, n);
}

/* Print a size the way conf_size reads it back, or its word or percent. */
static void
conf_dump_size(const struct conf_opt *o, const void *base, FILE *fp)
{
	static const char	 units[] = "KMGT";
	int64_t			 n = *CONF_CFIELD(base, o->off, int64_t);
	const char		*w;
	int			 u = -1;

	if ((w = conf_word_name(o, n)) != NULL) {
		fprintf(fp, "%s = %s\n", o->name, w);
		return;
	}
	if (n < 0) {
		fprintf(fp, "%s = %lld%%\n", o->name, (long long)-n);
		return;
	}
	while (n >= 1024 && n % 1024 == 0 && u < 3) {
		n /= 1024;
		u++;
	}
	if (u < 0)
		fprintf(fp, "%s = %lld\n", o->name, (long long)n);
	else
		fprintf(fp, "%s = %lld%c\n", o->name, (long long)n, units[u]);
}

/* Print a string option, if it is set. */
static void
conf_dump_string(const struct conf_opt *o, const void *base, FILE *fp)
{
	const char	*s = *CONF_CFIELD(base, o->off, char *);

	if (s != NULL)
		fprintf(fp, "%s = %s\n", o->name, s);
}

/* Print each address of a CONF_LISTEN list on its own line. */
static void
conf_dump_listen(const struct conf_opt *o, const void *base, FILE *fp)
{
	const struct listen_addr	*list;
	size_t				 i, n;

	list = *CONF_CFIELD(base, o->off, struct listen_addr *);
	n = *CONF_CFIELD(base, o->noff, size_t);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s = %s\n", o->name, list[i].text);
}

/* Print a CONF_CIDRS list on one line, every network with its prefix. */
static void
conf_dump_cidrs(const struct conf_opt *o, const void *base, FILE *fp)
{
	const struct cidr	*list;
	char			 addr[INET6_ADDRSTRLEN];
	size_t			 i, n;

	list = *CONF_CFIELD(base, o->off, struct cidr *);
	n = *CONF_CFIELD(base, o->noff, size_t);
	fprintf(fp, "%s =", o->name);
	for (i = 0; i < n; i++) {
		inet_ntop(list[i].family, list[i].addr, addr, sizeof(addr));
		fprintf(fp, "%s %s/%d", i > 0 ? "," : "", addr, list[i].prefix);
	}
	fprintf(fp, "\n");
}

/* Free a string option. */
static void
conf_free_string(const struct conf_opt *o, void *base)
{
	free(*CONF_FIELD(base, o->off, char *));
}

/* Free a CONF_LISTEN list. */
static void
conf_free_listen(const struct conf_opt *o, void *base)
{
	struct listen_addr	*list = *CONF_FIELD(base, o->off,
				    struct listen_addr *);
	size_t			 i, n = *CONF_FIELD(base, o->noff, size_t);

	for (i = 0; i < n; i++) {
		free(list[i].text);
		free(list[i].host);
		free(list[i].port);
	}
	free(list);
}

/* Free a CONF_CIDRS list. */
static void
conf_free_cidrs(const struct conf_opt *o, void *base)
{
	free(*CONF_FIELD(base, o->off, struct cidr *));
}

/* The option of a section called key; NULL if there is none. */
static const struct conf_opt *
conf_opt_find(int scope, const char *key)
{
	const struct conf_opt	*o;

	for (o = conf_opts; o < conf_opts + CONF_NOPTS; o++)
		if (o->scope == scope && strcmp(o->name, key) == 0)
			return (o);
	return (NULL);
}

/* The [server] section. */
static void
conf_section_server(struct parse_state *ps, struct conf_section *sec)
{
	sec->name = "server";
	sec->scope = CONF_SERVER;
	sec->base = ps->conf;
	sec->lines = ps->server_lines;
}

/* The section of destination i. */
static void
conf_section_dest(struct parse_state *ps, size_t i, struct conf_section *sec)
{
	sec->name = ps->conf->dests[i].name;
	sec->scope = CONF_DEST;
	sec->base = &ps->conf->dests[i];
	sec->lines = ps->dest_lines[i];
}

/* Find or add the destination of a section; its index. */
static size_t
conf_dest(struct parse_state *ps, const char *name)
{
	struct conf	*c = ps->conf;
	struct dest	*d;
	size_t		 i;

	for (i = 0; i < c->ndests; i++)
		if (strcmp(c->dests[i].name, name) == 0)
			return (i);
	c->dests = reallocarray(c->dests, c->ndests + 1, sizeof(*c->dests));
	ps->dest_lines = reallocarray(ps->dest_lines, c->ndests + 1,
	    sizeof(*ps->dest_lines));
	if (c->dests == NULL || ps->dest_lines == NULL)
		fatal("reallocarray");
	memset(ps->dest_lines[c->ndests], 0, sizeof(*ps->dest_lines));
	d = &c->dests[c->ndests];
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	d->line = ps->section_line;
	d->dirfd = -1;
	return (c->ndests++);
}

/* Set one key of a section: known, given once (unless a list), parsed. */
static void
conf_key(struct parse_state *ps, const struct conf_section *sec,
    const char *key, const char *val)
{
	const struct conf_opt	*o;
	int			*line;

	if ((o = conf_opt_find(sec->scope, key)) == NULL) {
		conf_error(ps, ps->line, "unknown key '%s' in [%s]", key,
		    sec->name);
		return;
	}
	line = &sec->lines[o - conf_opts];
	if (*line != 0 && (o->flags & CONF_MULTI) == 0) {
		conf_error(ps, ps->line, "duplicate key '%s'", key);
		return;
	}
	if (*line == 0)
		*line = ps->line;
	conf_types[o->type].parse(ps, o, sec->base, val);
}

/* inih callback: route a key to its section. */
static int
conf_handler(void *arg, const char *section, const char *key, const char *val)
{
	struct parse_state	*ps = arg;
	struct conf_section	 sec;
	char			*cause;

	if (ps->line == ps->bad_line || ps->skip_section)
		return (1);
	if (*section == '\0') {
		conf_error(ps, ps->line, "key '%s' outside any section", key);
		return (1);
	}
	if (strcmp(section, "server") == 0)
		conf_section_server(ps, &sec);
	else if (proto_dest_check(section, strlen(section), &cause) == -1) {
		conf_error(ps, ps->line, "bad section name [%s]: %s", section,
		    cause);
		free(cause);
		return (1);
	} else
		conf_section_dest(ps, conf_dest(ps, section), &sec);
	conf_key(ps, &sec, key, val);
	return (1);
}

/* Parse the default of every option of a section the file left unset. */
static void
conf_fill(struct parse_state *ps, const struct conf_section *sec)
{
	const struct conf_opt	*o;
	int			 errors = ps->errors;

	for (o = conf_opts; o < conf_opts + CONF_NOPTS; o++) {
		if (o->scope != sec->scope || o->def == NULL ||
		    sec->lines[o - conf_opts] != 0)
			continue;
		conf_types[o->type].parse(ps, o, sec->base, o->def);
		if (ps->errors != errors)
			fatalx("default of %s does not parse", o->name);
	}
}

/* Fill in what the file left unset, in every section. */
static void
conf_defaults(struct parse_state *ps)
{
	struct conf_section	 sec;
	size_t			 i;

	ps->line = 0;
	conf_section_server(ps, &sec);
	conf_fill(ps, &sec);
	for (i = 0; i < ps->conf->ndests; i++) {
		conf_section_dest(ps, i, &sec);
		conf_fill(ps, &sec);
	}
}

/* The line where destination i was given key; 0: not given. */
static int
conf_dest_line(struct parse_state *ps, size_t i, const char *key)
{
	return (ps->dest_lines[i][conf_opt_find(CONF_DEST, key) - conf_opts]);
}

/* The line where [server] was given key; 0: not given. */
static int
conf_server_line(struct parse_state *ps, const char *key)
{
	return (ps->server_lines[conf_opt_find(CONF_SERVER, key) - conf_opts]);
}

/* Read a destination's key now: at start-up that is before the drop. */
static void
conf_load_key(struct parse_state *ps, struct dest *d, int line)
{
	char	*cause;

	d->key = xmalloc(sizeof(*d->key));
	if (auth_key_load(d->key_file, d->key, 1, &cause) == -1) {
		conf_error(ps, line, "key_file: %s", cause);
		free(cause);
		free(d->key);
		d->key = NULL;
	}
}

/* Cross-checks that need the whole file. */
static void
conf_check(struct parse_state *ps)
{
	struct conf	*c = ps->conf;
	struct dest	*d;
	struct stat	 sb;
	size_t		 i;

	if (conf_find_dest(c, "default") == NULL)
		conf_error(ps, 0, "no [default] destination");
	for (i = 0; i < c->ndests; i++) {
		d = &c->dests[i];
		if (d->path == NULL) {
			conf_error(ps, d->line, "[%s]: path is required",
			    d->name);
			continue;
		}
		if (stat(d->path, &sb) == -1)
			conf_error(ps, conf_dest_line(ps, i, "path"), "path: "
			    "%s: %s", d->path, strerror(errno));
		else if (!S_ISDIR(sb.st_mode))
			conf_error(ps, conf_dest_line(ps, i, "path"), "path: "
			    "%s: not a directory", d->path);
		if (conf_dest_line(ps, i, "allow") != 0 && d->nallow == 0)
			conf_error(ps, d->line, "[%s]: allow lists no network",
			    d->name);
		if (d->key_file != NULL)
			conf_load_key(ps, d, conf_dest_line(ps, i, "key_file"));
	}
	if (c->group != NULL && c->user == NULL)
		conf_error(ps, 0, "group is set but user is not");
	if (c->nmetrics_allow == 0)
		conf_error(ps, conf_server_line(ps, "metrics_allow"),
		    "metrics_allow lists no network");
}

/* The file must not be writable by anyone but its owner. */
static void
conf_check_perms(struct parse_state *ps)
{
	struct stat	 sb;

	if (fstat(fileno(ps->fp), &sb) == -1)
		conf_error(ps, 0, "fstat: %s", strerror(errno));
	else if (sb.st_mode & (S_IWGRP | S_IWOTH))
		conf_error(ps, 0, "writable by group or others (mode %04o): "
		    "refusing it", (unsigned int)sb.st_mode & 07777);
}

/*
 * Load a configuration file.  On errors they have been logged, the count
 * is stored in *nerr and NULL is returned.  The result has one reference.
 */
struct conf *
conf_load(const char *file, int *nerr)
{
	struct parse_state	 ps;
	struct conf		*c;

	memset(&ps, 0, sizeof(ps));
	ps.file = file;
	*nerr = 0;
	if ((ps.fp = fopen(file, "r")) == NULL) {
		log_warnx("%s: %s", file, strerror(errno));
		*nerr = 1;
		return (NULL);
	}
	c = xcalloc(1, sizeof(*c));	/* every option unset */
	c->refs = 1;
	c->file = xstrdup(file);
	ps.conf = c;

	conf_check_perms(&ps);
	if (ini_parse_stream(conf_reader, &ps, conf_handler, &ps) < 0)
		conf_error(&ps, 0, "out of memory while parsing");
	if (ferror(ps.fp))
		conf_error(&ps, 0, "read error");
	fclose(ps.fp);
	conf_defaults(&ps);
	conf_check(&ps);
	free(ps.dest_lines);
	if (ps.errors > 0) {
		log_plain("%s: %d error%s", file, ps.errors,
		    ps.errors == 1 ? "" : "s");
		*nerr = ps.errors;
		conf_free(c);
		return (NULL);
	}
	return (c);
}

/* Take a reference. */
struct conf *
conf_ref(struct conf *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return (c);
}

/* Drop a reference; the last one frees. */
void
conf_unref(struct conf *c)
{
	if (c != NULL && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		conf_free(c);
}

/* Free what the options of one section allocated. */
static void
conf_free_section(void *base, int scope)
{
	const struct conf_opt	*o;

	for (o = conf_opts; o < conf_opts + CONF_NOPTS; o++)
		if (o->scope == scope && conf_types[o->type].free != NULL)
			conf_types[o->type].free(o, base);
}

/* Free a configuration and close its directories. */
void
conf_free(struct conf *c)
{
	struct dest	*d;
	size_t		 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ndests; i++) {
		d = &c->dests[i];
		if (d->dirfd != -1)
			close(d->dirfd);
		free(d->name);
		conf_free_section(d, CONF_DEST);
		if (d->key != NULL) {
			explicit_bzero(d->key, sizeof(*d->key));
			free(d->key);
		}
	}
	free(c->dests);
	conf_free_section(c, CONF_SERVER);
	free(c->file);
	free(c);
}

/* Open each destination directory and learn whether O_DIRECT works. */
int
conf_open_dests(struct conf *c, char **cause)
{
	struct dest	*d;
	size_t		 i;

	for (i = 0; i < c->ndests; i++) {
		d = &c->dests[i];
		d->dirfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->dirfd == -1) {
			*cause = xasprintf("[%s] path %s: %s", d->name, d->path,
			    strerror(errno));
			return (-1);
		}
		d->dio_ok = sink_probe_direct(d->dirfd);
		if ((d->io == IO_DIRECT || d->io == IO_COPY_DIRECT) &&
		    !d->dio_ok) {
			*cause = xasprintf("[%s] io = %s, but %s does not "
			    "support O_DIRECT", d->name, iomode_name(d->io),
			    d->path);
			return (-1);
		}
		log_debug("destination %s: %s, O_DIRECT %s", d->name, d->path,
		    d->dio_ok ? "yes" : "no");
	}
	return (0);
}

/*
 * Can the daemon, as it now runs, create files in every destination?
 * Checked after the privilege drop, so a mistake shows at start-up and
 * not with the first file.
 */
int
conf_check_writable(const struct conf *c, char **cause)
{
	const struct dest	*d;
	size_t			 i;

	for (i = 0; i < c->ndests; i++) {
		d = &c->dests[i];
		if (d->io == IO_DISCARD)
			continue;
		if (faccessat(d->dirfd, ".", W_OK | X_OK, AT_EACCESS) == -1) {
			*cause = xasprintf("[%s] path %s: not writable by uid "
			    "%u: %s", d->name, d->path,
			    (unsigned int)geteuid(), strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/* Has an option a value: a list with an entry, a string, anything else. */
static int
conf_opt_isset(const struct conf_opt *o, const void *base)
{
	if (o->noff != 0)
		return (*CONF_CFIELD(base, o->noff, size_t) > 0);
	if (conf_types[o->type].free == conf_free_string)
		return (*CONF_CFIELD(base, o->off, char *) != NULL);
	return (1);
}

/*
 * Print the options of one section.  An option that matters only with
 * another (its "with") is left out without it, so that a file without
 * that other option dumps as it did before the pair existed.
 */
static void
conf_dump_section(const void *base, int scope, FILE *fp)
{
	const struct conf_opt	*o;

	for (o = conf_opts; o < conf_opts + CONF_NOPTS; o++) {
		if (o->scope != scope)
			continue;
		if (o->with != NULL &&
		    !conf_opt_isset(conf_opt_find(scope, o->with), base))
			continue;
		conf_types[o->type].dump(o, base, fp);
	}
}

/* Print the effective configuration in a form conf_load reads back. */
void
conf_dump(const struct conf *c, FILE *fp)
{
	size_t	i;

	fprintf(fp, "[server]\n");
	conf_dump_section(c, CONF_SERVER, fp);
	for (i = 0; i < c->ndests; i++) {
		fprintf(fp, "\n[%s]\n", c->dests[i].name);
		conf_dump_section(&c->dests[i], CONF_DEST, fp);
	}
}

/* Find a destination by name; "" is the default. */
struct dest *
conf_find_dest(struct conf *c, const char *name)
{
	size_t	i;

	if (*name == '\0')
		name = "default";
	for (i = 0; i < c->ndests; i++)
		if (strcmp(c->dests[i].name, name) == 0)
			return (&c->dests[i]);
	return (NULL);
}

/* Does d's allow list admit the peer address sa? */
int
conf_allowed(const struct dest *d, const struct sockaddr *sa)
{
	return (conf_cidrs_match(d->allow, d->nallow, sa));
}

/* Is the peer address sa (AF_INET or AF_INET6) in one of n networks? */
int
conf_cidrs_match(const struct cidr *list, size_t nlist,
    const struct sockaddr *sa)
{
	const uint8_t	*a;
	uint8_t		 v4[4];
	int		 family = sa->sa_family, bits, i;
	size_t		 n;

	if (family == AF_INET)
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	else {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
			memcpy(v4, a + 12, 4);
			a = v4;
			family = AF_INET;
		}
	}
	for (n = 0; n < nlist; n++) {
		if (list[n].family != family)
			continue;
		bits = list[n].prefix;
		for (i = 0; bits >= 8; i++, bits -= 8)
			if (a[i] != list[n].addr[i])
				break;
		if (bits >= 8)
			continue;
		if (bits == 0 || ((a[i] ^ list[n].addr[i]) &
		    (0xff << (8 - bits))) == 0)
			return (1);
	}
	return (0);
}
