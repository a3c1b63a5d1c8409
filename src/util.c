/*
 * util.c -- allocation, address parsing, clocks and number formatting
 * shared by zcrecvd and zcsend.  Allocation failure is fatal.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* malloc or die. */
void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		fatal("malloc %zu", size);
	return (p);
}

/* calloc or die. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		fatal("calloc %zu*%zu", n, size);
	return (p);
}

/* strdup or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return (p);
}

/* vasprintf or die. */
char *
xvasprintf(const char *fmt, va_list ap)
{
	char	*p;

	if (vasprintf(&p, fmt, ap) == -1)
		fatal("vasprintf");
	return (p);
}

/* asprintf or die. */
char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return (p);
}

/*
 * Split "HOST:PORT", "[V6]:PORT" or either followed by "/NAME" into its
 * parts (newly allocated; *name may be NULL when absent).  "*" as HOST
 * means any address and is returned as NULL.
 */
int
util_parse_hostport(const char *s, char **host, char **port, char **name)
{
	const char	*p, *colon, *slash;
	char		*h;

	*host = *port = *name = NULL;
	if ((slash = strchr(s, '/')) == NULL)
		slash = s + strlen(s);
	if (s[0] == '[') {
		if ((p = memchr(s, ']', slash - s)) == NULL || p[1] != ':')
			return (-1);
		h = strndup(s + 1, p - s - 1);
		colon = p + 1;
	} else {
		if ((colon = memrchr(s, ':', slash - s)) == NULL)
			return (-1);
		if (memchr(s, ':', colon - s) != NULL)
			return (-1);	/* bare IPv6 needs brackets */
		h = strndup(s, colon - s);
	}
	if (h == NULL)
		fatal("strndup");
	if (*h == '\0' || colon + 1 == slash) {
		free(h);
		return (-1);
	}
	if (strcmp(h, "*") == 0) {
		free(h);
		h = NULL;
	}
	*host = h;
	if ((*port = strndup(colon + 1, slash - colon - 1)) == NULL)
		fatal("strndup");
	if (*slash == '/')
		*name = xstrdup(slash + 1);
	return (0);
}

/* Monotonic clock in nanoseconds. */
uint64_t
util_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * UTIL_NS_PER_SEC + ts.tv_nsec);
}

/* CPU time of this thread (or process when whole) in nanoseconds. */
uint64_t
util_cpu_ns(int whole)
{
	struct timespec	ts;

	clock_gettime(whole ? CLOCK_PROCESS_CPUTIME_ID :
	    CLOCK_THREAD_CPUTIME_ID, &ts);
	return ((uint64_t)ts.tv_sec * UTIL_NS_PER_SEC + ts.tv_nsec);
}

/* Format a byte count with a binary unit ("1.5 GiB"). */
const char *
util_bytes(uint64_t n, char *buf, size_t len)
{
	static const char	*units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double			 v = n;
	int			 u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return (buf);
}

/*
 * Make an untrusted string (a name or message from the network) safe for
 * a log line or a terminal: backslash and every control byte are escaped
 * as \\, \n, \t or \xHH.  The result is cut to fit buf.
 */
const char *
util_vis(const char *s, char *buf, size_t len)
{
	return (util_visn(s, strlen(s), buf, len));
}

/* util_vis of the n bytes at s, which may hold NULs (shown as \x00). */
const char *
util_visn(const char *s, size_t n, char *buf, size_t len)
{
	size_t	 i, o = 0;

	for (i = 0; i < n && o + 5 < len; i++) {
		unsigned char c = s[i];

		if (c == '\\') {
			buf[o++] = '\\';
			buf[o++] = '\\';
		} else if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c == '\t') {
			buf[o++] = '\\';
			buf[o++] = 't';
		} else if (c < 0x20 || c == 0x7f)
			o += snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = c;
	}
	buf[o] = '\0';
	return (buf);
}
