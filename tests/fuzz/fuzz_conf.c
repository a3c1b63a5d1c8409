/*
 * fuzz_conf.c -- libFuzzer target: the configuration parser.  Each input
 * is written to a file and loaded; a configuration that loads is dumped,
 * and the dump must load again and dump to the same text.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zcrecvd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	path[64], path2[64];

/* Write buf to p. */
static int
put(const char *p, const void *buf, size_t len)
{
	FILE	*fp;
	int	 ok;

	if ((fp = fopen(p, "w")) == NULL)
		return (-1);
	ok = fwrite(buf, 1, len, fp) == len;
	return (fclose(fp) == 0 && ok ? 0 : -1);
}

/* Dump c into a malloc'd string. */
static char *
dump(const struct conf *c)
{
	char	*s = NULL;
	size_t	 n = 0;
	FILE	*fp;

	if ((fp = open_memstream(&s, &n)) == NULL)
		abort();
	conf_dump(c, fp);
	fclose(fp);
	return (s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	*c, *c2;
	char		*d1, *d2;
	int		 nerr;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/fuzz_conf.%d", getpid());
		snprintf(path2, sizeof(path2), "/tmp/fuzz_conf2.%d", getpid());
		log_setlevel(LOG_LEVEL_ERR);	/* errors are expected */
	}
	if (put(path, data, size) == -1)
		return (0);
	if ((c = conf_load(path, &nerr)) == NULL)
		return (0);
	d1 = dump(c);
	if (put(path2, d1, strlen(d1)) == -1)
		abort();
	if ((c2 = conf_load(path2, &nerr)) == NULL)
		abort();	/* a dump must parse */
	d2 = dump(c2);
	if (strcmp(d1, d2) != 0)
		abort();	/* and dump to itself */
	free(d1);
	free(d2);
	conf_unref(c);
	conf_unref(c2);
	return (0);
}
