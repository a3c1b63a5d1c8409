/*
 * test_conf.c -- the configuration parser: values, defaults, every kind of
 * error reported as file:line (all of them, not only the first), and
 * dump -> parse -> dump giving the same text.
 */
#include "config.h"

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
	    "write, vmsplice, splice, copy or discard)"));
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
	r = unit_done("test_conf");
	unlink(path);
	unlink(errpath);
	rmdir(dir);
	return (r);
}
