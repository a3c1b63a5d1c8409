/*
 * test_conf.c -- the configuration parser: values, defaults, every kind of
 * error reported as file:line (all of them, not only the first), and
 * dump -> parse -> dump giving the same text.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcrecvd.h"
#include "unit.h"


static char	dir[] = "/tmp/test_conf.XXXXXX";
static char	path[256], errpath[256];
static char	errtext[8192];

/* Write a config file. */
static void
write_conf(const char *text)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fputs(text, fp);
	fclose(fp);
}

/* Load the config with stderr captured into errtext; returns conf or NULL. */
static struct conf *
load(const char *text, int *nerr)
{
	struct conf	*c;
	FILE		*fp;
	size_t		 n;
	int		 saved;

	write_conf(text);
	fflush(stderr);
	saved = dup(2);
	if (freopen(errpath, "w", stderr) == NULL)
		abort();
	c = conf_load(path, nerr);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fp = fopen(errpath, "r");
	n = fread(errtext, 1, sizeof(errtext) - 1, fp);
	errtext[n] = '\0';
	fclose(fp);
	return (c);
}

/* Does the captured stderr contain "path:LINE: what"? */
static int
has_error(int line, const char *what)
{
	char	 want[512];

	if (line > 0)
		snprintf(want, sizeof(want), "%s:%d: %s", path, line, what);
	else
		snprintf(want, sizeof(want), "%s: %s", path, what);
	if (strstr(errtext, want) == NULL) {
		fprintf(stderr, "missing \"%s\" in:\n%s", want, errtext);
		return (0);
	}
	return (1);
}

/* A good file, and the defaults. */
static void
test_good(void)
{
	struct conf	*c;
	char		 text[1024];
	int		 nerr;

	snprintf(text, sizeof(text),
	    "# comment\n"
	    "; another\n"
	    "[server]\n"
	    "listen = 127.0.0.1:7000\n"
	    "listen = [::1]:7001\n"
	    "page_mss = 8204\n"
	    "transfer_log = /var/log/zc.json\n"
	    "idle_timeout = 5\n"
	    "stall_timeout = 6\n"
	    "\n"
	    "[default]\n"
	    "path = %s\n"
	    "io = vmsplice\n"
	    "fsync = no\n"
	    "overwrite = yes\n"
	    "verify = none\n", dir);
	c = load(text, &nerr);
	CHECK(c != NULL && nerr == 0);
	if (c == NULL)
		return;
	CHECK(c->nlisten == 2);
	CHECK(strcmp(c->listen[0].host, "127.0.0.1") == 0);
	CHECK(strcmp(c->listen[1].host, "::1") == 0 &&
	    strcmp(c->listen[1].port, "7001") == 0);
	CHECK(c->page_mss == 8204);
	CHECK(strcmp(c->transfer_log, "/var/log/zc.json") == 0);
	CHECK(c->idle_timeout == 5 && c->stall_timeout == 6);
	CHECK(c->ndests == 1 && strcmp(c->dests[0].path, dir) == 0);
	CHECK(c->dests[0].io == IO_VMSPLICE && c->dests[0].fsync == 0 &&
	    c->dests[0].overwrite == 1 && c->dests[0].verify == 0);
	CHECK(conf_find_dest(c, "") == &c->dests[0]);
	CHECK(conf_find_dest(c, "default") == &c->dests[0]);
	CHECK(conf_find_dest(c, "other") == NULL);
	conf_free(c);

	snprintf(text, sizeof(text), "[default]\npath = %s\n", dir);
	c = load(text, &nerr);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(c->nlisten == 1 && strcmp(c->listen[0].text,
	    "127.0.0.1:7733") == 0);
	CHECK(c->page_mss == PAGE_MSS_AUTO && c->transfer_log == NULL);
	CHECK(c->idle_timeout == 300 && c->stall_timeout == 30);
	CHECK(c->dests[0].io == IO_AUTO && c->dests[0].fsync == 1 &&
	    c->dests[0].overwrite == 0 && c->dests[0].verify == 1);
	CHECK(c->dests[0].max_path_depth == 32 &&
	    c->dests[0].max_path_length == 4095 &&
	    c->dests[0].allow_symlinks == 0);
	conf_free(c);
}

/* Every error in one file is reported with its line, and counted. */
static void
test_errors(void)
{
	struct conf	*c;
	char		 text[2048];
	int		 nerr;

	snprintf(text, sizeof(text),
	    "[server]\n"				/* 1 */
	    "listen = nocolon\n"			/* 2 */
	    "page_mss = 50\n"				/* 3 */
	    "bogus = 1\n"				/* 4 */
	    "idle_timeout = 0\n"			/* 5 */
	    "stall_timeout = 10s\n"			/* 6 */
	    "transfer_log = relative.log\n"		/* 7 */
	    "[default]\n"				/* 8 */
	    "path = %s\n"				/* 9 */
	    "io = fast\n"				/* 10 */
	    "fsync = maybe\n"				/* 11 */
	    "overwrite = 1\n"				/* 12 */
	    "verify = md5\n"				/* 13 */
	    "path = %s\n"				/* 14 */
	    "[mystery]\n"				/* 15 */
	    "key = value\n"				/* 16 */
	    "no equals sign here\n"			/* 17 */
	    "[broken\n"					/* 18 */
	    "  indented = 1\n", dir, dir);		/* 19 */
	c = load(text, &nerr);
	CHECK(c == NULL);
	CHECK(nerr == 16);
	CHECK(has_error(2, "listen: bad value 'nocolon'"));
	CHECK(has_error(3, "page_mss: bad value '50'"));
	CHECK(has_error(4, "unknown key 'bogus' in [server]"));
	CHECK(has_error(5, "idle_timeout: bad value '0'"));
	CHECK(has_error(6, "stall_timeout: bad value '10s'"));
	CHECK(has_error(7, "transfer_log: 'relative.log' is not an absolute"));
	CHECK(has_error(10, "io: bad value 'fast' (expected auto, direct, "
	    "write, vmsplice, splice, copy, copy-direct or discard)"));
	CHECK(has_error(11, "fsync: bad value 'maybe' (expected yes or no)"));
	CHECK(has_error(12, "overwrite: bad value '1'"));
	CHECK(has_error(13, "verify: bad value 'md5'"));
	CHECK(has_error(14, "duplicate key 'path'"));
	CHECK(has_error(15, "[mystery]: path is required"));
	CHECK(has_error(16, "unknown key 'key' in [mystery]"));
	CHECK(has_error(17, "syntax error: expected key = value"));
	CHECK(has_error(18, "syntax error: missing ]"));
	CHECK(has_error(19, "syntax error: line starts with white space"));
	CHECK(has_error(0, "16 errors"));
}

/* Path problems, and a missing file. */
static void
test_paths(void)
{
	char	 text[512];
	int	 nerr;

	CHECK(load("[server]\nlisten = *:1\n", &nerr) == NULL && nerr == 1);
	CHECK(has_error(0, "no [default] destination"));
	CHECK(load("[default]\npath = relative/dir\n", &nerr) == NULL);
	CHECK(has_error(2, "path: 'relative/dir' is not an absolute path"));
	CHECK(load("[default]\npath = /nonexistent/zc\n", &nerr) == NULL);
	CHECK(has_error(2, "path: /nonexistent/zc: No such file or directory"));
	snprintf(text, sizeof(text), "[default]\npath = %s\n", path);
	CHECK(load(text, &nerr) == NULL);
	snprintf(text, sizeof(text), "path: %s: not a directory", path);
	CHECK(has_error(2, text));
	CHECK(load("key = 1\n[default]\npath = /tmp\n", &nerr) == NULL);
	CHECK(has_error(1, "key 'key' outside any section"));
	CHECK(conf_load("/nonexistent/zcrecvd.conf", &nerr) == NULL &&
	    nerr == 1);
}

/* Dump, parse the dump, dump again: same text. */
static void
test_dump(void)
{
	struct conf	*c, *c2;
	char		 text[1024], d1[2048], d2[2048];
	FILE		*fp;
	int		 nerr;
	size_t		 n;

	snprintf(text, sizeof(text),
	    "[server]\nlisten = *:7000\nlisten = [::]:7001\npage_mss = off\n"
	    "[default]\npath = %s\nio = splice\nverify = none\n", dir);
	c = load(text, &nerr);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	fp = fmemopen(d1, sizeof(d1), "w");
	conf_dump(c, fp);
	n = ftell(fp);
	fclose(fp);
	d1[n] = '\0';
	c2 = load(d1, &nerr);
	CHECK(c2 != NULL);
	if (c2 == NULL) {
		conf_free(c);
		return;
	}
	fp = fmemopen(d2, sizeof(d2), "w");
	conf_dump(c2, fp);
	n = ftell(fp);
	fclose(fp);
	d2[n] = '\0';
	CHECK(strcmp(d1, d2) == 0);
	CHECK(strstr(d1, "listen = *:7000\n") != NULL);
	CHECK(strstr(d1, "page_mss = off\n") != NULL);
	CHECK(strstr(d1, "io = splice\n") != NULL);
	CHECK(strstr(d1, "verify = none\n") != NULL);
	conf_free(c);
	conf_free(c2);
}

/* Dump c into buf as a string. */
static void
dump_into(const struct conf *c, char *buf, size_t len)
{
	FILE	*fp;
	size_t	 n;

	if ((fp = fmemopen(buf, len, "w")) == NULL)
		fatal("fmemopen");
	conf_dump(c, fp);
	n = ftell(fp);
	fclose(fp);
	buf[n < len ? n : len - 1] = '\0';
}

/* Load text and dump it into buf; 0 if it loaded. */
static int
load_dump(const char *text, char *buf, size_t len)
{
	struct conf	*c;
	int		 nerr;

	if ((c = load(text, &nerr)) == NULL) {
		fprintf(stderr, "does not load:\n%s---\n%s", text, errtext);
		return (-1);
	}
	dump_into(c, buf, len);
	conf_free(c);
	return (0);
}

/* How many times needle is in haystack. */
static int
count_str(const char *haystack, const char *needle)
{
	int	 n = 0;

	while ((haystack = strstr(haystack, needle)) != NULL) {
		n++;
		haystack += strlen(needle);
	}
	return (n);
}

/* A configuration that sets every option away from its default. */
static void
full_conf(char *text, size_t len)
{
	char	 key[300];
	FILE	*fp;

	snprintf(key, sizeof(key), "%s/key", dir);
	if ((fp = fopen(key, "w")) == NULL)
		fatal("%s", key);
	fputs("0123456789abcdef0123456789abcdef\n", fp);
	fclose(fp);
	chmod(key, 0600);
	snprintf(text, len,
	    "[server]\n"
	    "listen = *:7000\n"
	    "listen = [::1]:7001\n"
	    "user = nobody\n"
	    "group = nogroup\n"
	    "workers = 3\n"
	    "max_connections = 10\n"
	    "max_connections_per_address = 2\n"
	    "page_mss = 8204\n"
	    "transfer_log = /var/log/zc.json\n"
	    "idle_timeout = 5\n"
	    "stall_timeout = 6\n"
	    "shutdown_grace = 0\n"
	    "log_level = debug\n"
	    "\n"
	    "[default]\n"
	    "path = %s\n"
	    "io = copy\n"
	    "fsync = no\n"
	    "overwrite = yes\n"
	    "verify = none\n"
	    "allow = 10.0.0.0/8, ::1\n"
	    "max_file_size = 3M\n"
	    "min_free = 5%%\n"
	    "max_path_depth = 8\n"
	    "max_path_length = 200\n"
	    "allow_symlinks = yes\n"
	    "key_file = %s\n", dir, key);
}

/*
 * Every option that has a default prints it in the dump of a minimal
 * file, and saying that default explicitly changes nothing: the default
 * goes through the same parser as the file.
 */
static void
test_defaults(void)
{
	char		 min[512], d0[4096], d1[4096], one[1024], *line, *p;
	const char	*section = "";
	int		 keys = 0;

	snprintf(min, sizeof(min), "[default]\npath = %s\n", dir);
	if (load_dump(min, d0, sizeof(d0)) == -1) {
		CHECK(0);
		return;
	}
	CHECK(strstr(d0, "user =") == NULL && strstr(d0, "group =") == NULL);
	CHECK(strstr(d0, "transfer_log =") == NULL);
	CHECK(strstr(d0, "key_file =") == NULL);
	p = strdup(d0);
	for (line = strtok(p, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		if (line[0] == '[')
			section = line;
		if (strstr(line, " = ") == NULL ||
		    strncmp(line, "path ", 5) == 0)
			continue;
		snprintf(one, sizeof(one), "[server]\n%s\n[default]\npath = "
		    "%s\n%s\n", strcmp(section, "[server]") == 0 ? line : "",
		    dir, strcmp(section, "[default]") == 0 ? line : "");
		keys++;
		CHECK(load_dump(one, d1, sizeof(d1)) == 0);
		if (strcmp(d0, d1) != 0)
			fprintf(stderr, "'%s' changes the dump:\n%s", line, d1);
		CHECK(strcmp(d0, d1) == 0);
	}
	free(p);
	CHECK(keys >= 16);
}

/* Every option prints in the dump when set, and the dump reads back. */
static void
test_dump_every(void)
{
	static const char	*keys[] = {
		"listen", "user", "group", "workers", "max_connections",
		"max_connections_per_address", "page_mss", "transfer_log",
		"idle_timeout", "stall_timeout", "shutdown_grace",
		"log_level", "path", "io", "fsync", "overwrite", "verify",
		"allow", "max_file_size", "min_free", "max_path_depth",
		"max_path_length", "allow_symlinks", "key_file", NULL
	};
	char			 text[2048], d1[4096], d2[4096], want[64];
	int			 i;

	full_conf(text, sizeof(text));
	if (load_dump(text, d1, sizeof(d1)) == -1 ||
	    load_dump(d1, d2, sizeof(d2)) == -1) {
		CHECK(0);
		return;
	}
	CHECK(strcmp(d1, d2) == 0);
	for (i = 0; keys[i] != NULL; i++) {
		snprintf(want, sizeof(want), "\n%s = ", keys[i]);
		if (strstr(d1, want) == NULL)
			fprintf(stderr, "dump lacks %s:\n%s", keys[i], d1);
		CHECK(strstr(d1, want) != NULL);
	}
	CHECK(count_str(d1, "\nlisten = ") == 2);
	CHECK(strstr(d1, "allow = 10.0.0.0/8, ::1/128\n") != NULL);
	CHECK(strstr(d1, "min_free = 5%\n") != NULL);
	CHECK(strstr(d1, "max_path_depth = 8\n") != NULL);
	CHECK(strstr(d1, "max_path_length = 200\n") != NULL);
	CHECK(strstr(d1, "allow_symlinks = yes\n") != NULL);
}

/*
 * Each option given twice in a section is one error, "duplicate key",
 * on the second line; except listen, which adds an address.
 */
static void
test_duplicates(void)
{
	struct conf	*c;
	char		 base[2048], text[4096], what[64], *at, *eol;
	int		 nerr, line, dups = 0;
	size_t		 len;

	full_conf(base, sizeof(base));
	for (at = base, line = 1; (eol = strchr(at, '\n')) != NULL;
	    at = eol + 1, line++) {
		if (*at == '[' || *at == '\n')
			continue;
		len = strcspn(at, " ");
		snprintf(text, sizeof(text), "%.*s%.*s%s",
		    (int)(eol + 1 - base), base, (int)(eol + 1 - at), at,
		    eol + 1);
		c = load(text, &nerr);
		if (strncmp(at, "listen ", 7) == 0) {
			CHECK(c != NULL && c->nlisten == 3);
			conf_free(c);
			continue;
		}
		snprintf(what, sizeof(what), "duplicate key '%.*s'", (int)len,
		    at);
		CHECK(c == NULL && nerr == 1);
		CHECK(has_error(line + 1, what));
		CHECK(count_str(errtext, "duplicate key") == 1);
		dups++;
	}
	CHECK(dups == 23);
}

/* Values at and just past the bounds of each bounded option. */
static const struct {
	int		 dest;		/* in [default], else [server] */
	const char	*key;
	const char	*v[4];		/* low, high: taken; under, over: not */
	const char	*expect;
} bounds[] = {
	{ 0, "workers", { "0", "64", "-1", "65" }, "0-64 or auto" },
	{ 0, "max_connections", { "1", "1000000", "0", "1000001" },
	    "1-1000000" },
	{ 0, "max_connections_per_address", { "1", "1000000", "0",
	    "1000001" }, "1-1000000" },
	{ 0, "page_mss", { "88", "32767", "87", "32768" },
	    "auto, off or 88-32767" },
	{ 0, "idle_timeout", { "1", "86400", "0", "86401" }, "1-86400" },
	{ 0, "stall_timeout", { "1", "86400", "0", "86401" }, "1-86400" },
	{ 0, "shutdown_grace", { "0", "86400", "-1", "86401" }, "0-86400" },
	{ 1, "max_file_size", { "1", "8388607T", "0", "8388608T" },
	    "none or a size like 500M, 2G" },
	{ 1, "min_free", { "0%", "99%", "-1%", "100%" },
	    "a size like 10G or a percentage like 5%" },
	{ 1, "max_path_depth", { "1", "1024", "0", "1025" }, "1-1024" },
	{ 1, "max_path_length", { "1", "4095", "0", "4096" }, "1-4095" },
};
#define NBOUNDS	(sizeof(bounds) / sizeof(bounds[0]))

/* A file giving each option of bounds[] its value v[col]; lines in line[]. */
static void
bounds_conf(char *text, size_t len, int col, int *line)
{
	size_t	 i, off;
	int	 n = 1, dest = 0;

	off = snprintf(text, len, "[server]\n");
	for (i = 0; i < NBOUNDS; i++) {
		if (bounds[i].dest && !dest) {
			off += snprintf(text + off, len - off, "[default]\n"
			    "path = %s\n", dir);
			n += 2;
			dest = 1;
		}
		off += snprintf(text + off, len - off, "%s = %s\n",
		    bounds[i].key, bounds[i].v[col]);
		line[i] = ++n;
	}
}

/* Values at an option's bounds load; one past them is an error. */
static void
test_bounds(void)
{
	char	 text[2048], d[4096], what[256];
	int	 line[NBOUNDS], col, nerr;
	size_t	 i;

	for (col = 0; col < 2; col++) {
		bounds_conf(text, sizeof(text), col, line);
		CHECK(load_dump(text, d, sizeof(d)) == 0);
	}
	CHECK(strstr(d, "max_file_size = 8388607T\n") != NULL);
	CHECK(strstr(d, "page_mss = 32767\n") != NULL);
	CHECK(strstr(d, "max_path_depth = 1024\n") != NULL);
	CHECK(strstr(d, "max_path_length = 4095\n") != NULL);
	for (col = 2; col < 4; col++) {
		bounds_conf(text, sizeof(text), col, line);
		CHECK(load(text, &nerr) == NULL && nerr == (int)NBOUNDS);
		for (i = 0; i < NBOUNDS; i++) {
			snprintf(what, sizeof(what), "%s: bad value '%s' "
			    "(expected %s)", bounds[i].key, bounds[i].v[col],
			    bounds[i].expect);
			CHECK(has_error(line[i], what));
		}
	}
	snprintf(text, sizeof(text), "[default]\npath = %s\n"
	    "allow = 10.0.0.0/33, ::/129\n", dir);
	CHECK(load(text, &nerr) == NULL && nerr == 3);
	CHECK(has_error(3, "allow: bad network '10.0.0.0/33' (expected "
	    "ADDRESS, ADDRESS/PREFIX or any)"));
	CHECK(has_error(3, "allow: bad network '::/129'"));
	CHECK(has_error(1, "[default]: allow lists no network"));

	snprintf(text, sizeof(text), "[default]\npath = %s\n"
	    "allow_symlinks = 1\nmax_path_depth = 32x\n"
	    "max_path_length = 4k\n", dir);
	CHECK(load(text, &nerr) == NULL && nerr == 3);
	CHECK(has_error(3, "allow_symlinks: bad value '1' (expected yes or "
	    "no)"));
	CHECK(has_error(4, "max_path_depth: bad value '32x' (expected "
	    "1-1024)"));
	CHECK(has_error(5, "max_path_length: bad value '4k' (expected "
	    "1-4095)"));
}

int
main(void)
{
	int	 r;

	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(path, sizeof(path), "%s/zcrecvd.conf", dir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	test_good();
	test_errors();
	test_paths();
	test_dump();
	test_defaults();
	test_dump_every();
	test_duplicates();
	test_bounds();
	r = unit_done("test_conf");
	unlink(path);
	unlink(errpath);
	snprintf(path, sizeof(path), "%s/key", dir);
	unlink(path);
	rmdir(dir);
	return (r);
}
