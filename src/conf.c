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

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "zcrecvd.h"

#define UNSET			-2

struct parse_state {
	FILE		*fp;
	const char	*file;
	struct conf	*conf;
	int		 line;		/* line last handed to inih */
	int		 bad_line;	/* inih must not judge this line */
	int		 errors;
	unsigned int	 seen_server;	/* keys seen, one bit each */
	unsigned int	 seen_dest;
	int		 dest_line;
};

static const char *io_names[] = {
	"auto", "direct", "write", "vmsplice", "splice", "copy"
};

/* Name of an io mode. */
const char *
conf_io_name(int io)
{
	return (io_names[io]);
}

/* Report one error at a line and count it. */
static void __attribute__((format(printf, 3, 4)))
conf_error(struct parse_state *ps, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		fprintf(stderr, "%s:%d: %s\n", ps->file, line, msg);
	else
		fprintf(stderr, "%s: %s\n", ps->file, msg);
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
		if (strchr(p, ']') == NULL) {
			conf_error(ps, ps->line, "syntax error: missing ]");
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

/* One key of [server]. */
static void
conf_server_key(struct parse_state *ps, const char *key, const char *val)
{
	struct conf		*c = ps->conf;
	struct listen_addr	 la;
	char			*name;
	int			 ok;
	long long		 n;

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
	} else if (strcmp(key, "page_mss") == 0) {
		if (!conf_once(ps, &ps->seen_server, 1, key))
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
		if (!conf_once(ps, &ps->seen_server, 2, key))
			return;
		if (val[0] != '/')
			conf_error(ps, ps->line, "transfer_log: '%s' is not "
			    "an absolute path", val);
		else
			c->transfer_log = xstrdup(val);
	} else if (strcmp(key, "idle_timeout") == 0 ||
	    strcmp(key, "stall_timeout") == 0) {
		int idle = key[0] == 'i';

		if (!conf_once(ps, &ps->seen_server, idle ? 4 : 8, key))
			return;
		n = conf_number(val, 1, 86400, &ok);
		if (!ok)
			conf_error(ps, ps->line, "%s: bad value '%s' "
			    "(expected seconds, 1-86400)", key, val);
		else if (idle)
			c->idle_timeout = n;
		else
			c->stall_timeout = n;
	} else
		conf_error(ps, ps->line, "unknown key '%s' in [server]", key);
}

/* One key of a destination section. */
static void
conf_dest_key(struct parse_state *ps, struct dest *d, const char *key,
    const char *val)
{
	static const char	*keys[] = {
		"path", "io", "fsync", "overwrite", "verify", NULL
	};
	unsigned int		 i;
	int			 b;

	for (i = 0; keys[i] != NULL; i++)
		if (strcmp(key, keys[i]) == 0)
			break;
	if (keys[i] == NULL) {
		conf_error(ps, ps->line, "unknown key '%s' in [%s]", key,
		    d->name);
		return;
	}
	if (!conf_once(ps, &ps->seen_dest, 1U << i, key))
		return;
	switch (i) {
	case 0:
		if (val[0] != '/')
			conf_error(ps, ps->line, "path: '%s' is not an "
			    "absolute path", val);
		else {
			d->path = xstrdup(val);
			d->line = ps->line;
		}
		return;
	case 1:
		for (b = 0; b <= IO_COPY; b++)
			if (strcmp(val, io_names[b]) == 0)
				break;
		if (b > IO_COPY)
			conf_error(ps, ps->line, "io: bad value '%s' (expected "
			    "auto, direct, write, vmsplice, splice or copy)",
			    val);
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

/* inih callback: route a key to its section. */
static int
conf_handler(void *arg, const char *section, const char *key, const char *val)
{
	struct parse_state	*ps = arg;

	if (ps->line == ps->bad_line)
		return (1);
	if (*section == '\0')
		conf_error(ps, ps->line, "key '%s' outside any section", key);
	else if (strcmp(section, "server") == 0)
		conf_server_key(ps, key, val);
	else if (strcmp(section, "default") == 0) {
		if (ps->dest_line == 0)
			ps->dest_line = ps->line;
		conf_dest_key(ps, &ps->conf->dests[0], key, val);
	} else
		conf_error(ps, ps->line, "unknown section [%s]", section);
	return (1);
}

/* Fill in what the file left unset. */
static void
conf_defaults(struct conf *c)
{
	struct dest	*d = &c->dests[0];

	if (c->nlisten == 0) {
		c->listen = xcalloc(1, sizeof(*c->listen));
		c->listen[0].text = xstrdup("127.0.0.1:" ZC_DEFAULT_PORT);
		c->listen[0].host = xstrdup("127.0.0.1");
		c->listen[0].port = xstrdup(ZC_DEFAULT_PORT);
		c->nlisten = 1;
	}
	if (c->page_mss == UNSET)
		c->page_mss = PAGE_MSS_AUTO;
	if (c->idle_timeout == UNSET)
		c->idle_timeout = 300;
	if (c->stall_timeout == UNSET)
		c->stall_timeout = 30;
	if (d->io == UNSET)
		d->io = IO_AUTO;
	if (d->fsync == UNSET)
		d->fsync = 1;
	if (d->overwrite == UNSET)
		d->overwrite = 0;
	if (d->verify == UNSET)
		d->verify = 1;
}

/* Cross-checks that need the whole file. */
static void
conf_check(struct parse_state *ps)
{
	struct dest	*d = &ps->conf->dests[0];
	struct stat	 sb;

	if (d->path == NULL) {
		conf_error(ps, 0, "[default] path is required");
		return;
	}
	if (stat(d->path, &sb) == -1)
		conf_error(ps, d->line, "path: %s: %s", d->path,
		    strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		conf_error(ps, d->line, "path: %s: not a directory", d->path);
}

/*
 * Load a configuration file.  On errors they have been printed, the count
 * is stored in *nerr and NULL is returned.
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
		fprintf(stderr, "zcrecvd: %s: %s\n", file, strerror(errno));
		*nerr = 1;
		return (NULL);
	}
	c = xcalloc(1, sizeof(*c));
	c->file = xstrdup(file);
	c->page_mss = c->idle_timeout = c->stall_timeout = UNSET;
	c->dests = xcalloc(1, sizeof(*c->dests));
	c->ndests = 1;
	c->dests[0].name = xstrdup("default");
	c->dests[0].io = c->dests[0].fsync = UNSET;
	c->dests[0].overwrite = c->dests[0].verify = UNSET;
	c->dests[0].dirfd = -1;
	ps.conf = c;

	if (ini_parse_stream(conf_reader, &ps, conf_handler, &ps) < 0)
		conf_error(&ps, 0, "out of memory while parsing");
	if (ferror(ps.fp))
		conf_error(&ps, 0, "read error");
	fclose(ps.fp);
	conf_defaults(c);
	conf_check(&ps);
	if (ps.errors > 0) {
		fprintf(stderr, "%s: %d error%s\n", file, ps.errors,
		    ps.errors == 1 ? "" : "s");
		*nerr = ps.errors;
		conf_free(c);
		return (NULL);
	}
	return (c);
}

/* Free a configuration. */
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
		free(c->dests[i].name);
		free(c->dests[i].path);
	}
	free(c->dests);
	free(c->transfer_log);
	free(c->file);
	free(c);
}

/* Print the effective configuration in a form conf_load reads back. */
void
conf_dump(const struct conf *c, FILE *fp)
{
	size_t	i;

	fprintf(fp, "[server]\n");
	for (i = 0; i < c->nlisten; i++)
		fprintf(fp, "listen = %s\n", c->listen[i].text);
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
	for (i = 0; i < c->ndests; i++) {
		const struct dest *d = &c->dests[i];

		fprintf(fp, "\n[%s]\n", d->name);
		fprintf(fp, "path = %s\n", d->path);
		fprintf(fp, "io = %s\n", io_names[d->io]);
		fprintf(fp, "fsync = %s\n", d->fsync ? "yes" : "no");
		fprintf(fp, "overwrite = %s\n", d->overwrite ? "yes" : "no");
		fprintf(fp, "verify = %s\n", d->verify ? "xxh3" : "none");
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
