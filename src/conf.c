/*
 * conf.c -- configuration: parse with inih, fill defaults, cross-check, dump.
 *
 * The lifecycle follows OpenSSH: every option starts unset, the parser sets
 * what the file says, defaults fill the rest, then the whole is checked.
 * Every error is reported as "file:line: message" and parsing goes on, so
 * one run shows all of them.  inih's packaged build reports only the first
 * error line, so the reader handed to ini_parse_stream() counts lines and
 * judges each line's syntax itself.
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

#define UNSET			-2
#define CONF_SECTION_MAX	49	/* inih's section buffer holds 50 */

struct parse_state {
	FILE		*fp;
	const char	*file;
	struct conf	*conf;
	int		 line;		/* line last handed to inih */
	int		 bad_line;	/* inih must not judge this line */
	int		 section_line;	/* where the last [section] began */
	int		 skip_section;	/* its header was bad: ignore keys */
	int		 errors;
	unsigned int	 seen_server;	/* keys seen, one bit each */
};

static const char *io_names[] = {
	"auto", "direct", "write", "vmsplice", "splice", "copy", "discard"
};

/* Name of an io mode. */
const char *
conf_io_name(int io)
{
	return (io_names[io]);
}

static const char *log_levels[] = { "error", "warning", "info", "debug" };

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

/*
 * fgets() for inih that counts lines and checks the syntax inih would
 * otherwise report only once: a line must be blank, a comment, a
 * "[section]" or a "key = value".
 */
static char *
conf_reader(char *buf, int size, void *arg)
{
	struct parse_state	*ps = arg;
	char			*p, *end;
	int			 c;

	if (fgets(buf, size, ps->fp) == NULL)
		return (NULL);
	ps->line++;
	if ((end = strchr(buf, '\n')) == NULL && !feof(ps->fp)) {
		conf_error(ps, ps->line, "line longer than %d bytes", size - 2);
		while ((c = fgetc(ps->fp)) != EOF && c != '\n')
			;
		ps->bad_line = ps->line;
		buf[0] = '\0';
		return (buf);
	}
	for (p = buf; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#')
		return (buf);
	if (p != buf) {
		conf_error(ps, ps->line, "syntax error: line starts with "
		    "white space");
		ps->bad_line = ps->line;
		buf[0] = '\0';
		return (buf);
	}
	if (*p == '[') {
		ps->section_line = ps->line;
		ps->skip_section = 0;
		if ((end = strchr(p, ']')) != NULL && end - p - 1 > CONF_SECTION_MAX) {
			conf_error(ps, ps->line, "section name longer than %d "
			    "characters", CONF_SECTION_MAX);
			ps->skip_section = 1;
			ps->bad_line = ps->line;
			buf[0] = '\0';
		} else if (end == NULL) {
			conf_error(ps, ps->line, "syntax error: missing ]");
			ps->skip_section = 1;
			ps->bad_line = ps->line;
			buf[0] = '\0';
		}
		return (buf);
	}
	if (strpbrk(p, "=:") == NULL) {
		conf_error(ps, ps->line, "syntax error: expected key = value");
		ps->bad_line = ps->line;
		buf[0] = '\0';
	}
	return (buf);
}

/* Parse "yes"/"no". */
static int
conf_yesno(const char *v)
{
	if (strcmp(v, "yes") == 0)
		return (1);
	if (strcmp(v, "no") == 0)
		return (0);
	return (-1);
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

/* Mark a key seen in a section; complain about repeats. */
static int
conf_once(struct parse_state *ps, unsigned int *seen, unsigned int bit,
    const char *key)
{
	if (*seen & bit) {
		conf_error(ps, ps->line, "duplicate key '%s'", key);
		return (0);
	}
	*seen |= bit;
	return (1);
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

/* Parse one network of an allow list: any, ADDR or ADDR/PREFIX. */
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

/* allow = CIDR, ... (commas and/or spaces); "any" allows everything. */
static void
conf_allow(struct parse_state *ps, struct dest *d, const char *val)
{
	char	*copy, *p, *tok;

	copy = xstrdup(val);
	for (p = copy; (tok = strsep(&p, ", \t")) != NULL;) {
		if (*tok == '\0')
			continue;
		if (strcmp(tok, "any") == 0) {
			conf_allow(ps, d, "0.0.0.0/0, ::/0");
			continue;
		}
		d->allow = reallocarray(d->allow, d->nallow + 1,
		    sizeof(*d->allow));
		if (d->allow == NULL)
			fatal("reallocarray");
		if (conf_cidr(tok, &d->allow[d->nallow]) == -1) {
			conf_error(ps, ps->line, "allow: bad network '%s' "
			    "(expected ADDRESS, ADDRESS/PREFIX or any)", tok);
			continue;
		}
		d->nallow++;
	}
	free(copy);
	d->allow_set = 1;
}

/* One key of [server]. */
static void
conf_server_key(struct parse_state *ps, const char *key, const char *val)
{
	static const struct {
		const char	*key;
		long long	 min, max;
		size_t		 off;
	} nums[] = {
		{ "workers", 0, 64, offsetof(struct conf, workers) },
		{ "max_connections", 1, 1000000,
		    offsetof(struct conf, max_conns) },
		{ "max_connections_per_address", 1, 1000000,
		    offsetof(struct conf, max_conns_addr) },
		{ "idle_timeout", 1, 86400, offsetof(struct conf, idle_timeout) },
		{ "stall_timeout", 1, 86400,
		    offsetof(struct conf, stall_timeout) },
		{ "shutdown_grace", 0, 86400,
		    offsetof(struct conf, shutdown_grace) },
	};
	struct conf		*c = ps->conf;
	struct listen_addr	 la;
	char			*name;
	size_t			 i;
	long long		 n;
	int			 ok;

	if (strcmp(key, "listen") == 0) {
		memset(&la, 0, sizeof(la));
		if (util_parse_hostport(val, &la.host, &la.port,
		    &name) == -1 || name != NULL) {
			free(name);
			free(la.host);
			free(la.port);
			conf_error(ps, ps->line, "listen: bad value '%s' "
			    "(expected HOST:PORT, [IPV6]:PORT or *:PORT)", val);
			return;
		}
		la.text = xstrdup(val);
		la.line = ps->line;
		c->listen = reallocarray(c->listen, c->nlisten + 1,
		    sizeof(*c->listen));
		if (c->listen == NULL)
			fatal("reallocarray");
		c->listen[c->nlisten++] = la;
		return;
	}
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].key) != 0)
			continue;
		if (!conf_once(ps, &ps->seen_server, 1U << i, key))
			return;
		if (strcmp(key, "workers") == 0 && strcmp(val, "auto") == 0)
			n = 0;
		else
			n = conf_number(val, nums[i].min, nums[i].max, &ok);
		if (n == -1)
			conf_error(ps, ps->line, "%s: bad value '%s' (expected "
			    "%lld-%lld%s)", key, val, nums[i].min, nums[i].max,
			    i == 0 ? " or auto" : "");
		else
			*(int *)((char *)c + nums[i].off) = n;
		return;
	}
	if (strcmp(key, "page_mss") == 0) {
		if (!conf_once(ps, &ps->seen_server, 1U << 10, key))
			return;
		if (strcmp(val, "auto") == 0)
			c->page_mss = PAGE_MSS_AUTO;
		else if (strcmp(val, "off") == 0)
			c->page_mss = PAGE_MSS_OFF;
		else {
			n = conf_number(val, 88, 32767, &ok);
			if (!ok)
				conf_error(ps, ps->line, "page_mss: bad value "
				    "'%s' (expected auto, off or 88-32767)",
				    val);
			else
				c->page_mss = n;
		}
	} else if (strcmp(key, "transfer_log") == 0) {
		if (!conf_once(ps, &ps->seen_server, 1U << 11, key))
			return;
		if (val[0] != '/')
			conf_error(ps, ps->line, "transfer_log: '%s' is not "
			    "an absolute path", val);
		else
			c->transfer_log = xstrdup(val);
	} else if (strcmp(key, "user") == 0 || strcmp(key, "group") == 0) {
		if (!conf_once(ps, &ps->seen_server, key[0] == 'u' ?
		    1U << 12 : 1U << 13, key))
			return;
		if (*val == '\0' || strspn(val, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(val))
			conf_error(ps, ps->line, "%s: bad name '%s'", key, val);
		else if (key[0] == 'u')
			c->user = xstrdup(val);
		else
			c->group = xstrdup(val);
	} else if (strcmp(key, "log_level") == 0) {
		if (!conf_once(ps, &ps->seen_server, 1U << 14, key))
			return;
		for (i = 0; i < 4; i++)
			if (strcmp(val, log_levels[i]) == 0)
				break;
		if (i == 4)
			conf_error(ps, ps->line, "log_level: bad value '%s' "
			    "(expected error, warning, info or debug)", val);
		else
			c->log_level = i;
	} else
		conf_error(ps, ps->line, "unknown key '%s' in [server]", key);
}

/* One key of a destination section. */
static void
conf_dest_key(struct parse_state *ps, struct dest *d, const char *key,
    const char *val)
{
	static const char	*keys[] = {
		"path", "io", "fsync", "overwrite", "verify", "allow",
		"max_file_size", "min_free", "key_file", NULL
	};
	unsigned int		 i;
	int			 b;
	int64_t			 n;

	for (i = 0; keys[i] != NULL; i++)
		if (strcmp(key, keys[i]) == 0)
			break;
	if (keys[i] == NULL) {
		conf_error(ps, ps->line, "unknown key '%s' in [%s]", key,
		    d->name);
		return;
	}
	if (!conf_once(ps, &d->seen, 1U << i, key))
		return;
	switch (i) {
	case 0:
		if (val[0] != '/')
			conf_error(ps, ps->line, "path: '%s' is not an "
			    "absolute path", val);
		else {
			d->path = xstrdup(val);
			d->path_line = ps->line;
		}
		return;
	case 1:
		for (b = 0; b <= IO_LAST; b++)
			if (strcmp(val, io_names[b]) == 0)
				break;
		if (b > IO_LAST)
			conf_error(ps, ps->line, "io: bad value '%s' (expected "
			    "auto, direct, write, vmsplice, splice, copy or "
			    "discard)", val);
		else
			d->io = b;
		return;
	case 4:
		if (strcmp(val, "xxh3") == 0)
			d->verify = 1;
		else if (strcmp(val, "none") == 0)
			d->verify = 0;
		else
			conf_error(ps, ps->line, "verify: bad value '%s' "
			    "(expected xxh3 or none)", val);
		return;
	case 5:
		conf_allow(ps, d, val);
		return;
	case 6:
		if (strcmp(val, "none") == 0)
			n = -1;
		else if ((n = conf_size(val)) <= 0) {
			conf_error(ps, ps->line, "max_file_size: bad value "
			    "'%s' (expected none or a size like 500M, 2G)",
			    val);
			return;
		}
		d->max_file_size = n;
		return;
	case 8:
		if (val[0] != '/')
			conf_error(ps, ps->line, "key_file: '%s' is not an "
			    "absolute path", val);
		else {
			d->key_file = xstrdup(val);
			d->key_line = ps->line;
		}
		return;
	case 7:
		if ((n = conf_size_or_percent(val)) == INT64_MIN) {
			conf_error(ps, ps->line, "min_free: bad value '%s' "
			    "(expected a size like 10G or a percentage like "
			    "5%%)", val);
			return;
		}
		d->min_free = n;
		return;
	}
	if ((b = conf_yesno(val)) == -1) {
		conf_error(ps, ps->line, "%s: bad value '%s' (expected yes or "
		    "no)", key, val);
		return;
	}
	if (i == 2)
		d->fsync = b;
	else
		d->overwrite = b;
}

/* Find or add the destination of a section. */
static struct dest *
conf_dest(struct parse_state *ps, const char *name)
{
	struct conf	*c = ps->conf;
	struct dest	*d;
	size_t		 i;

	for (i = 0; i < c->ndests; i++)
		if (strcmp(c->dests[i].name, name) == 0)
			return (&c->dests[i]);
	c->dests = reallocarray(c->dests, c->ndests + 1, sizeof(*c->dests));
	if (c->dests == NULL)
		fatal("reallocarray");
	d = &c->dests[c->ndests++];
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	d->io = d->fsync = d->overwrite = d->verify = UNSET;
	d->max_file_size = d->min_free = UNSET;
	d->line = ps->section_line;
	d->dirfd = -1;
	return (d);
}

/* inih callback: route a key to its section. */
static int
conf_handler(void *arg, const char *section, const char *key, const char *val)
{
	struct parse_state	*ps = arg;
	char			*cause;

	if (ps->line == ps->bad_line || ps->skip_section)
		return (1);
	if (*section == '\0')
		conf_error(ps, ps->line, "key '%s' outside any section", key);
	else if (strcmp(section, "server") == 0)
		conf_server_key(ps, key, val);
	else if (proto_dest_check(section, strlen(section), &cause) == -1) {
		conf_error(ps, ps->line, "bad section name [%s]: %s", section,
		    cause);
		free(cause);
	} else
		conf_dest_key(ps, conf_dest(ps, section), key, val);
	return (1);
}

/* Fill in what the file left unset. */
static void
conf_defaults(struct conf *c)
{
	struct dest	*d;
	size_t		 i;

	if (c->nlisten == 0) {
		c->listen = xcalloc(1, sizeof(*c->listen));
		c->listen[0].text = xstrdup("127.0.0.1:" ZC_DEFAULT_PORT);
		c->listen[0].host = xstrdup("127.0.0.1");
		c->listen[0].port = xstrdup(ZC_DEFAULT_PORT);
		c->nlisten = 1;
	}
	if (c->workers == UNSET)
		c->workers = 0;
	if (c->max_conns == UNSET)
		c->max_conns = 1024;
	if (c->max_conns_addr == UNSET)
		c->max_conns_addr = 64;
	if (c->page_mss == UNSET)
		c->page_mss = PAGE_MSS_AUTO;
	if (c->idle_timeout == UNSET)
		c->idle_timeout = 300;
	if (c->stall_timeout == UNSET)
		c->stall_timeout = 30;
	if (c->shutdown_grace == UNSET)
		c->shutdown_grace = 30;
	if (c->log_level == UNSET)
		c->log_level = LOG_LEVEL_INFO;
	for (i = 0; i < c->ndests; i++) {
		d = &c->dests[i];
		if (d->io == UNSET)
			d->io = IO_AUTO;
		if (d->fsync == UNSET)
			d->fsync = 1;
		if (d->overwrite == UNSET)
			d->overwrite = 0;
		if (d->verify == UNSET)
			d->verify = 1;
		if (d->max_file_size == UNSET)
			d->max_file_size = -1;
		if (d->min_free == UNSET)
			d->min_free = -1;	/* 1% */
		if (!d->allow_set) {
			/* Loopback only until the administrator says. */
			d->allow = xcalloc(2, sizeof(*d->allow));
			conf_cidr("127.0.0.0/8", &d->allow[0]);
			conf_cidr("::1", &d->allow[1]);
			d->nallow = 2;
		}
	}
}

/* Read a destination's key now: at start-up that is before the drop. */
static void
conf_load_key(struct parse_state *ps, struct dest *d)
{
	char	*cause;

	d->key = xmalloc(sizeof(*d->key));
	if (auth_key_load(d->key_file, d->key, 1, &cause) == -1) {
		conf_error(ps, d->key_line, "key_file: %s", cause);
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
			conf_error(ps, d->path_line, "path: %s: %s", d->path,
			    strerror(errno));
		else if (!S_ISDIR(sb.st_mode))
			conf_error(ps, d->path_line, "path: %s: not a "
			    "directory", d->path);
		if (d->allow_set && d->nallow == 0)
			conf_error(ps, d->line, "[%s]: allow lists no network",
			    d->name);
		if (d->key_file != NULL)
			conf_load_key(ps, d);
	}
	if (c->group != NULL && c->user == NULL)
		conf_error(ps, 0, "group is set but user is not");
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
	c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	c->file = xstrdup(file);
	c->page_mss = c->idle_timeout = c->stall_timeout = UNSET;
	c->workers = c->max_conns = c->max_conns_addr = UNSET;
	c->shutdown_grace = c->log_level = UNSET;
	ps.conf = c;

	conf_check_perms(&ps);
	if (ini_parse_stream(conf_reader, &ps, conf_handler, &ps) < 0)
		conf_error(&ps, 0, "out of memory while parsing");
	if (ferror(ps.fp))
		conf_error(&ps, 0, "read error");
	fclose(ps.fp);
	conf_defaults(c);
	conf_check(&ps);
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

/* Free a configuration and close its directories. */
void
conf_free(struct conf *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nlisten; i++) {
		free(c->listen[i].text);
		free(c->listen[i].host);
		free(c->listen[i].port);
	}
	free(c->listen);
	for (i = 0; i < c->ndests; i++) {
		if (c->dests[i].dirfd != -1)
			close(c->dests[i].dirfd);
		free(c->dests[i].name);
		free(c->dests[i].path);
		free(c->dests[i].allow);
		free(c->dests[i].key_file);
		if (c->dests[i].key != NULL) {
			explicit_bzero(c->dests[i].key,
			    sizeof(*c->dests[i].key));
			free(c->dests[i].key);
		}
	}
	free(c->dests);
	free(c->transfer_log);
	free(c->user);
	free(c->group);
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
		if (d->io == IO_DIRECT && !d->dio_ok) {
			*cause = xasprintf("[%s] io = direct, but %s does not "
			    "support O_DIRECT", d->name, d->path);
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

/* Print a size the way conf_size reads it back. */
static void
conf_dump_size(FILE *fp, const char *key, int64_t n)
{
	static const char	 units[] = "KMGT";
	int			 u = -1;

	while (n >= 1024 && n % 1024 == 0 && u < 3) {
		n /= 1024;
		u++;
	}
	if (u < 0)
		fprintf(fp, "%s = %lld\n", key, (long long)n);
	else
		fprintf(fp, "%s = %lld%c\n", key, (long long)n, units[u]);
}

/* Print one destination section. */
static void
conf_dump_dest(const struct dest *d, FILE *fp)
{
	char	 addr[INET6_ADDRSTRLEN];
	size_t	 i;

	fprintf(fp, "\n[%s]\n", d->name);
	fprintf(fp, "path = %s\n", d->path);
	fprintf(fp, "io = %s\n", io_names[d->io]);
	fprintf(fp, "fsync = %s\n", d->fsync ? "yes" : "no");
	fprintf(fp, "overwrite = %s\n", d->overwrite ? "yes" : "no");
	fprintf(fp, "verify = %s\n", d->verify ? "xxh3" : "none");
	fprintf(fp, "allow =");
	for (i = 0; i < d->nallow; i++) {
		inet_ntop(d->allow[i].family, d->allow[i].addr, addr,
		    sizeof(addr));
		fprintf(fp, "%s %s/%d", i > 0 ? "," : "", addr,
		    d->allow[i].prefix);
	}
	fprintf(fp, "\n");
	if (d->max_file_size < 0)
		fprintf(fp, "max_file_size = none\n");
	else
		conf_dump_size(fp, "max_file_size", d->max_file_size);
	if (d->min_free < 0)
		fprintf(fp, "min_free = %lld%%\n", (long long)-d->min_free);
	else
		conf_dump_size(fp, "min_free", d->min_free);
	if (d->key_file != NULL)
		fprintf(fp, "key_file = %s\n", d->key_file);
}

/* Print the effective configuration in a form conf_load reads back. */
void
conf_dump(const struct conf *c, FILE *fp)
{
	size_t	i;

	fprintf(fp, "[server]\n");
	for (i = 0; i < c->nlisten; i++)
		fprintf(fp, "listen = %s\n", c->listen[i].text);
	if (c->user != NULL)
		fprintf(fp, "user = %s\n", c->user);
	if (c->group != NULL)
		fprintf(fp, "group = %s\n", c->group);
	if (c->workers == 0)
		fprintf(fp, "workers = auto\n");
	else
		fprintf(fp, "workers = %d\n", c->workers);
	fprintf(fp, "max_connections = %d\n", c->max_conns);
	fprintf(fp, "max_connections_per_address = %d\n", c->max_conns_addr);
	if (c->page_mss == PAGE_MSS_AUTO)
		fprintf(fp, "page_mss = auto\n");
	else if (c->page_mss == PAGE_MSS_OFF)
		fprintf(fp, "page_mss = off\n");
	else
		fprintf(fp, "page_mss = %d\n", c->page_mss);
	if (c->transfer_log != NULL)
		fprintf(fp, "transfer_log = %s\n", c->transfer_log);
	fprintf(fp, "idle_timeout = %d\n", c->idle_timeout);
	fprintf(fp, "stall_timeout = %d\n", c->stall_timeout);
	fprintf(fp, "shutdown_grace = %d\n", c->shutdown_grace);
	fprintf(fp, "log_level = %s\n", log_levels[c->log_level]);
	for (i = 0; i < c->ndests; i++)
		conf_dump_dest(&c->dests[i], fp);
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
	for (n = 0; n < d->nallow; n++) {
		if (d->allow[n].family != family)
			continue;
		bits = d->allow[n].prefix;
		for (i = 0; bits >= 8; i++, bits -= 8)
			if (a[i] != d->allow[n].addr[i])
				break;
		if (bits >= 8)
			continue;
		if (bits == 0 || ((a[i] ^ d->allow[n].addr[i]) &
		    (0xff << (8 - bits))) == 0)
			return (1);
	}
	return (0);
}
