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

/* One file's outcome, with the figures both lines show. */
struct tlog_rec {
	const char		*peer, *dest, *io, *io_config, *result, *msg;
	const char		*name;
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
	char		 buf[16384], ts[80];
	size_t		 o = 0;
	time_t		 now = time(NULL);
	struct tm	 tm;

	/* Not strftime(): glibc's calls tzset(), which rereads /etc/localtime. */
	gmtime_r(&now, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	util_addf(buf, sizeof(buf), &o, "{\"time\":\"%s\",\"peer\":", ts);
	util_json_str(buf, sizeof(buf), &o, r->peer);
	util_addf(buf, sizeof(buf), &o, ",\"dest\":");
	util_json_str(buf, sizeof(buf), &o, r->dest);
	util_addf(buf, sizeof(buf), &o, ",\"name\":");
	util_json_strn(buf, sizeof(buf), &o, r->name, r->nlen);
	util_addf(buf, sizeof(buf), &o, ",\"size\":%llu,\"bytes\":%llu,"
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
	util_json_str(buf, sizeof(buf), &o, r->msg);
	if (r->x->stripes != NULL)
		util_addf(buf, sizeof(buf), &o, ",\"stripes\":%s",
		    r->x->stripes);
	if (r->x->resumed)
		util_addf(buf, sizeof(buf), &o, ",\"skipped_bytes\":%llu",
		    (unsigned long long)r->x->skipped);
	util_addf(buf, sizeof(buf), &o, "}\n");
	if (write(tlog_fd, buf, o) != (ssize_t)o)
		log_warn("transfer log write");
}

/*
 * Record the outcome of one file: code ZC_OK (landed) or an error, with a
 * message.  digest may be NULL when none was computed.
 */
void
tlog_file(const char *peer, const char *dest, const char *name, size_t nlen,
    const struct zc_file *f, const struct xfer_stats *x, const char *io,
    const char *io_config, int code, const char *msg, const uint8_t *digest)
{
	struct tlog_rec	 r = { peer, dest, io, io_config, NULL, msg, name, f,
			    x, nlen, 0, 0, 0, 0, "" };
	char		 vname[UTIL_VIS_MAX];
	double		 mb = x->received / 1e6;

	r.result = code == PEER_GONE ? "aborted" : proto_code_name(code);
	r.secs = (double)(util_now_ns() - x->start_ns) / UTIL_NS_PER_SEC;
	r.gbps = r.secs > 0 ? x->received * 8 / r.secs / 1e9 : 0;
	r.pct = x->received > 0 ? 100.0 * x->zc_bytes / x->received : 0;
	r.cpu_mb = mb > 0 ? x->cpu_ns / 1000 / mb : 0;
	if (digest != NULL)
		proto_digest_hex(digest, r.hex);
	util_visn(name, r.nlen, vname, sizeof(vname));
	if (code == ZC_OK)
		log_info("landed %s from %s: %llu bytes in %.3f s, %.2f Gbit/s, "
		    "zero-copy %.2f%%, cpu %.0f us/MB, io %s%s%s%s%s", vname,
		    peer, (unsigned long long)x->received, r.secs, r.gbps,
		    r.pct, r.cpu_mb, io, digest != NULL ? ", xxh3 " : "",
		    r.hex, x->stripes != NULL ? ", stripes " : "",
		    x->stripes != NULL ? x->stripes : "");
	else if (tlog_quota())
		log_warnx("failed %s from %s: %s: %s", vname, peer, r.result,
		    msg);
	if (__atomic_load_n(&tlog_on, __ATOMIC_ACQUIRE))
		tlog_json(&r);
}
