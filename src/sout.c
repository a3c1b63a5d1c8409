/*
 * sout.c -- what zcsend shows its user besides errors: a progress line on
 * a terminal, one summary line per landed file on standard output, and the
 * zero-copy counters with -v.  Errors go through log.c, as the daemon's do.
 */
#include "config.h"

#include <stdio.h>

#include "zcsend.h"

#define SOUT_PROGRESS_NS	250000000	/* redraw at most 4 times a second */

/* Escape what the receiver says before it reaches a terminal. */
const char *
sout_vis(const char *msg)
{
	static char	 buf[UTIL_VIS_MAX];

	return (util_vis(msg, buf, sizeof(buf)));
}

/* Start the progress line of a file of size bytes. */
void
sout_progress_start(struct progress *pg, const char *name, uint64_t size)
{
	pg->name = name;
	pg->size = size;
	pg->start = util_now_ns();
	pg->last = 0;
}

/* Redraw the progress line on a terminal: bytes, rate, ETA. */
void
sout_progress(struct progress *pg, uint64_t done)
{
	uint64_t	 now = util_now_ns();
	double		 secs = (now - pg->start) / 1e9, rate;
	char		 a[32], b[32];
	long		 eta;

	if (!opt.progress || now - pg->last < SOUT_PROGRESS_NS)
		return;
	pg->last = now;
	rate = secs > 0 ? done / secs : 0;
	eta = rate > 0 ? (long)((pg->size - done) / rate) : 0;
	fprintf(stderr, "\r\033[K%s  %s / %s  %.2f Gbit/s  ETA %ld:%02ld",
	    pg->name, util_bytes(done, a, sizeof(a)), util_bytes(pg->size, b,
	    sizeof(b)), rate * 8 / 1e9, eta / 60, eta % 60);
}

/* Erase the progress line. */
void
sout_progress_end(void)
{
	if (opt.progress)
		fprintf(stderr, "\r\033[K");
}

/* The summary line of a file that landed (and was verified, unless not). */
void
sout_landed(const char *name, uint64_t size, double secs,
    const uint8_t *digest)
{
	char	 hex[ZC_DIGEST_HEXLEN];

	proto_digest_hex(digest, hex);
	if (!opt.quiet)
		printf("%s: landed, %llu bytes in %.3f s, %.2f Gbit/s, %s%s%s\n",
		    name, (unsigned long long)size, secs,
		    secs > 0 ? size * 8 / secs / 1e9 : 0.0,
		    opt.verify ? "xxh3 " : "not verified", opt.verify ? hex :
		    "", opt.verify ? " verified" : "");
	fflush(stdout);
}

/* Report the zero-copy counters (-v). */
void
sout_zcstat(const struct zcstat *zs)
{
	log_debug("zero-copy: %llu sends, %llu completed, %llu copied by the "
	    "kernel, %llu chunks sent plainly", (unsigned long long)zs->sent,
	    (unsigned long long)zs->done, (unsigned long long)zs->copied,
	    (unsigned long long)zs->fallback);
}
