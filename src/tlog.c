/*
 * tlog.c -- the transfer log: one JSON object per file and line, and the
 * same facts as one human line on stderr.
 *
 * Worker threads write lines while the main thread, on SIGHUP, reopens the
 * log, switches to another file or goes without one.  Were the descriptor
 * closed under a worker, its number could be reused at once by a staging
 * file or a socket, and the worker's line written into that.  So the log
 * has one descriptor number, tlog_fd, for the daemon's whole life: taken at
 * start-up before the workers start, closed after they are joined, and in
 * between only what is behind it changes, with dup3(), which swaps the
 * open file atomically.  A line is written whole to the old file or to the
 * new one.  With no transfer log, /dev/null is behind tlog_fd and tlog_on
 * is 0, so that workers do not even format the line; one that saw tlog_on
 * just before it dropped writes its line to the old file or to /dev/null.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zcrecvd.h"

static int	tlog_fd = -1;	/* set before the workers start */
static int	tlog_null = -1;	/* /dev/null, to put behind tlog_fd */
static int	tlog_on;	/* atomic: a transfer log is behind tlog_fd */

/* Take the transfer log's descriptor, with nothing behind it yet. */
void
tlog_init(void)
{
	if ((tlog_null = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		fatal("/dev/null");
	if ((tlog_fd = fcntl(tlog_null, F_DUPFD_CLOEXEC, 0)) == -1)
		fatal("fcntl");
}

/*
 * Open (append) the transfer log and put it behind tlog_fd: at start-up,
 * and on every reload, which makes log rotation work.  On failure the log
 * in use, if any, stays.
 */
int
tlog_open(const char *path, char **cause)
{
	int	 fd;

	if (tlog_fd == -1)
		fatalx("%s: tlog_init not called", __func__);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	if (dup3(fd, tlog_fd, O_CLOEXEC) == -1) {
		*cause = xasprintf("%s: dup3: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	__atomic_store_n(&tlog_on, 1, __ATOMIC_RELEASE);
	return (0);
}

/* Go without a transfer log (a reload removed transfer_log). */
void
tlog_disable(void)
{
	if (!__atomic_exchange_n(&tlog_on, 0, __ATOMIC_ACQ_REL))
		return;
	/* On failure the old file stays open behind tlog_fd, unused. */
	if (dup3(tlog_null, tlog_fd, O_CLOEXEC) == -1)
		log_warn("transfer log: dup3");
}

/* Close the transfer log, once the workers are joined. */
void
tlog_close(void)
{
	__atomic_store_n(&tlog_on, 0, __ATOMIC_RELEASE);
	if (tlog_fd != -1)
		close(tlog_fd);
	if (tlog_null != -1)
		close(tlog_null);
	tlog_fd = tlog_null = -1;
}

/*
 * "failed" lines in the daemon log are limited to TLOG_FAIL_BURST a second
 * per worker thread: refusing a file costs a client one small record, and
 * must not let it flood the journal.  The transfer log still has every
 * file; the count of lines left out is logged by tlog_flush() or with the
 * next line that is let through.
 */
#define TLOG_FAIL_BURST		20

static _Thread_local uint64_t	tlog_sec;
static _Thread_local unsigned	tlog_n, tlog_dropped;

/* Report the "failed" lines left out, if any. */
void
tlog_flush(void)
{
	if (tlog_dropped > 0)
		log_warnx("%u more failed files not logged here (too many a "
		    "second; the transfer log has them)", tlog_dropped);
	tlog_dropped = 0;
}

/* May one more "failed" line be logged now? */
static int
tlog_quota(void)
{
	uint64_t	 sec = util_now_ns() / UTIL_NS_PER_SEC;

	if (sec != tlog_sec) {
		tlog_flush();
		tlog_sec = sec;
		tlog_n = 0;
	}
	if (tlog_n < TLOG_FAIL_BURST) {
		tlog_n++;
		return (1);
	}
	tlog_dropped++;
	return (0);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
tlog_utf8_len(const unsigned char *s, size_t n)
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
static void
tlog_json_strn(char *buf, size_t size, size_t *off, const char *s, size_t n)
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
		else if ((k = tlog_utf8_len(u + i, n - i)) == 0)
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
static void
tlog_json_str(char *buf, size_t size, size_t *off, const char *s)
{
	tlog_json_strn(buf, size, off, s, strlen(s));
}

/* Append printf output to buf. */
static void __attribute__((format(printf, 4, 5)))
tlog_add(char *buf, size_t size, size_t *off, const char *fmt, ...)
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

/* One file's outcome, with the figures both lines show. */
struct tlog_rec {
	const char		*peer, *dest, *io, *io_config, *result, *msg;
	const struct zc_file	*f;
	const struct xfer_stats	*x;
	size_t			 nlen;		/* of the name, as logged */
	double			 secs, gbps, pct, cpu_mb;
	char			 hex[ZC_DIGEST_HEXLEN];	/* "" without digest */
};

/* Write the JSON line of r to the transfer log. */
static void
tlog_json(const struct tlog_rec *r)
{
	char		 buf[16384], ts[32];
	size_t		 o = 0;
	time_t		 now = time(NULL);
	struct tm	 tm;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	tlog_add(buf, sizeof(buf), &o, "{\"time\":\"%s\",\"peer\":", ts);
	tlog_json_str(buf, sizeof(buf), &o, r->peer);
	tlog_add(buf, sizeof(buf), &o, ",\"dest\":");
	tlog_json_str(buf, sizeof(buf), &o, r->dest);
	tlog_add(buf, sizeof(buf), &o, ",\"name\":");
	tlog_json_strn(buf, sizeof(buf), &o, r->f->name, r->nlen);
	tlog_add(buf, sizeof(buf), &o, ",\"size\":%llu,\"bytes\":%llu,"
	    "\"zc_bytes\":%llu,\"copied_bytes\":%llu,\"spliced_bytes\":%llu,"
	    "\"zc_pct\":%.2f,\"seconds\":%.6f,\"cpu_us\":%llu,"
	    "\"cpu_us_per_mb\":%.1f,\"io\":\"%s\",\"io_config\":\"%s\","
	    "\"digest\":\"%s%s\",\"result\":\"%s\",\"message\":",
	    (unsigned long long)r->f->size, (unsigned long long)r->x->received,
	    (unsigned long long)r->x->zc_bytes,
	    (unsigned long long)r->x->copied,
	    (unsigned long long)r->x->spliced, r->pct, r->secs,
	    (unsigned long long)(r->x->cpu_ns / 1000), r->cpu_mb, r->io,
	    r->io_config, r->hex[0] != '\0' ? "xxh3:" : "", r->hex, r->result);
	tlog_json_str(buf, sizeof(buf), &o, r->msg);
	tlog_add(buf, sizeof(buf), &o, "}\n");
	if (write(tlog_fd, buf, o) != (ssize_t)o)
		log_warn("transfer log write");
}

/*
 * Record the outcome of one file: code ZC_OK (landed) or an error, with a
 * message.  digest may be NULL when none was computed.
 */
void
tlog_file(const char *peer, const char *dest, const struct zc_file *f,
    const struct xfer_stats *x, const char *io, const char *io_config,
    int code, const char *msg, const uint8_t *digest)
{
	struct tlog_rec	 r = { peer, dest, io, io_config, NULL, msg, f, x,
			    0, 0, 0, 0, 0, "" };
	char		 vname[UTIL_VIS_MAX];
	double		 mb = x->received / 1e6;

	r.result = code == PEER_GONE ? "aborted" : proto_code_name(code);
	r.secs = (double)(util_now_ns() - x->start_ns) / UTIL_NS_PER_SEC;
	r.gbps = r.secs > 0 ? x->received * 8 / r.secs / 1e9 : 0;
	r.pct = x->received > 0 ? 100.0 * x->zc_bytes / x->received : 0;
	r.cpu_mb = mb > 0 ? x->cpu_ns / 1000 / mb : 0;
	if (digest != NULL)
		proto_digest_hex(digest, r.hex);
	r.nlen = f->name_len < ZC_NAME_MAX ? f->name_len : ZC_NAME_MAX;
	util_visn(f->name, r.nlen, vname, sizeof(vname));
	if (code == ZC_OK)
		log_info("landed %s from %s: %llu bytes in %.3f s, %.2f Gbit/s, "
		    "zero-copy %.2f%%, cpu %.0f us/MB, io %s%s%s", vname,
		    peer, (unsigned long long)x->received, r.secs, r.gbps,
		    r.pct, r.cpu_mb, io, digest != NULL ? ", xxh3 " : "",
		    r.hex);
	else if (tlog_quota())
		log_warnx("failed %s from %s: %s: %s", vname, peer, r.result,
		    msg);
	if (__atomic_load_n(&tlog_on, __ATOMIC_ACQUIRE))
		tlog_json(&r);
}
