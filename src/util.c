/*
 * util.c -- allocation, address parsing, clocks, number formatting and
 * JSON strings shared by zcrecvd and zcsend.  Allocation failure is fatal.
 */
#include "config.h"

#include <signal.h>
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

/*
 * Start a thread running fn(arg) with every signal blocked: signals stay
 * with the main thread.  0, or an errno value.
 */
int
util_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t	 all, old;
	int		 r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (r);
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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
util_utf8_len(const unsigned char *s, size_t n)
{
	size_t		 len, i;
	uint32_t	 cp;

	if (s[0] < 0x80)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);	/* overlong, out of range or a surrogate */
	return (len);
}

/*
 * Append the n bytes at s to buf as a JSON string: quoted, escaped, with
 * every byte that is not part of valid UTF-8 as U+FFFD, so the line stays
 * valid JSON whatever a peer sent.
 */
void
util_json_strn(char *buf, size_t size, size_t *off, const char *s, size_t n)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, k, o = *off;

	if (o + 1 < size)
		buf[o++] = '"';
	for (i = 0; i < n && o + 7 < size; i++) {
		unsigned char c = u[i];

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = c;
		} else if (c < 0x20 || c == 0x7f)
			o += snprintf(buf + o, size - o, "\\u%04x", c);
		else if (c < 0x80)
			buf[o++] = c;
		else if ((k = util_utf8_len(u + i, n - i)) == 0)
			o += snprintf(buf + o, size - o, "\\ufffd");
		else {
			memcpy(buf + o, u + i, k);
			o += k;
			i += k - 1;
		}
	}
	if (o + 1 < size)
		buf[o++] = '"';
	buf[o] = '\0';
	*off = o;
}

/* A NUL-terminated string as a JSON string. */
void
util_json_str(char *buf, size_t size, size_t *off, const char *s)
{
	util_json_strn(buf, size, off, s, strlen(s));
}

/* Append printf output to buf. */
void
util_addf(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (*off >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + n < size ? *off + n : size - 1;
}
