/*
 * sout.c -- what zcsend shows its user: one progress line for the whole
 * run on a terminal, one summary line per landed entry on standard output,
 * one error line per failed entry and one warning per skipped one on
 * standard error, or with --json one JSON object per entry and a summary
 * object on standard output; and the zero-copy counters with -v.  With
 * entries in flight together, the line counts the bytes each has covered
 * (sent, or skipped as holes) as they go, and all of a finished one's.  Lines go through log.c, as the daemon's do,
 * and log.c erases the progress line before it writes one.
 */
#include "config.h"

#include <sys/ioctl.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zcsend.h"

#define SOUT_PROGRESS_NS	250000000	/* redraw at most 4 times a second */
#define SOUT_JSON_MAX		65536		/* a path escaped, and the rest */

/* The whole run, for the progress line and the summary. */
static struct {
	int			 files;		/* entries given or found */
	int			 done;		/* finished, either way */
	int			 ok;
	int			 skipped;
	uint64_t		 total;		/* bytes of all files */
	uint64_t		 covered;	/* of total: done or sent */
	uint64_t		 sent;		/* payload sent */
	uint64_t		 start;		/* ns */
	uint64_t		 last;		/* ns, progress line last drawn */
	int			 shown;		/* progress line on the terminal */
	const struct report	*cur;		/* the file being sent */
} run;

/* Escape what the receiver says before it reaches a terminal. */
const char *
sout_vis(const char *msg)
{
	static char	 buf[UTIL_VIS_MAX];

	return (util_vis(msg, buf, sizeof(buf)));
}

/* Start the run: files files of total bytes together. */
void
sout_start(int files, uint64_t total)
{
	memset(&run, 0, sizeof(run));
	run.files = files;
	run.total = total;
	run.start = util_now_ns();
	if (opt.progress)
		log_setclear(sout_clear);
}

/* Erase the progress line, before other output or at the end. */
void
sout_clear(void)
{
	if (!run.shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	run.shown = 0;
}

/* Seconds left, rounded up, as M:SS, or H:MM:SS from an hour on. */
static const char *
sout_eta(double secs, char *buf, size_t len)
{
	unsigned long	 s = secs > 0 && secs < 1e9 ? (unsigned long)secs : 0;

	if (s < secs)
		s++;
	if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
	return (buf);
}

/* Columns of the terminal on stderr; 0 when unknown. */
static size_t
sout_columns(void)
{
	struct winsize	 ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == -1)
		return (0);
	return (ws.ws_col);
}

/*
 * Draw the progress line of the whole run: the file being sent, files
 * done of all, bytes done of all, rate and ETA.  The name is cut to keep
 * the line within the terminal, which an erase could not undo otherwise.
 */
static void
sout_draw(void)
{
	char		 tail[160], a[32], b[32], e[32], name[UTIL_VIS_MAX];
	uint64_t	 now = util_now_ns(), done, sent;
	double		 secs, rate;
	size_t		 cols, n, t;

	if (!opt.progress || run.cur == NULL || (run.last != 0 &&
	    now - run.last < SOUT_PROGRESS_NS))
		return;
	run.last = now;
	cols = sout_columns();
	done = run.covered;
	sent = run.sent;
	secs = (now - run.start) / 1e9;
	rate = secs > 0 ? sent / secs : 0;
	t = snprintf(tail, sizeof(tail), "  %d/%d files  %s / %s  %.2f Gbit/s"
	    "  ETA %s", run.done, run.files, util_bytes(done, a, sizeof(a)),
	    util_bytes(run.total, b, sizeof(b)), rate * 8 / 1e9, sout_eta(
	    rate > 0 && run.total > done ? (run.total - done) / rate : 0, e,
	    sizeof(e)));
	util_vis(run.cur->name, name, sizeof(name));
	n = strlen(name);
	if (cols > 0 && n + t >= cols) {
		n = cols > t + 1 ? cols - t - 1 : 0;
		while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
			n--;	/* not in the middle of a UTF-8 character */
		if (t >= cols)
			tail[t = cols - 1] = '\0';
	}
	fprintf(stderr, "\r\033[K%.*s%s", (int)n, name, tail);
	fflush(stderr);
	run.shown = 1;
}

/*
 * Redraw the progress line after payload of r went out, if it is time to
 * (so the line first shows with a rate).
 */
void
sout_progress(const struct report *r)
{
	run.cur = r;
	sout_draw();
}

/*
 * Payload of r went out: sent bytes, covering covered bytes of the file
 * (more than sent when holes are skipped, or the receiver had a part).
 */
void
sout_cover(struct report *r, uint64_t sent, uint64_t covered)
{
	r->bytes += sent;
	r->covered += covered;
	run.sent += sent;
	run.covered += covered;
	sout_progress(r);
}

/* Start the report of the file at path of size bytes, for dest. */
void
sout_begin(struct report *r, const char *path, const char *dest,
    uint64_t size)
{
	const char	*slash = strrchr(path, '/');

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->name = slash != NULL ? slash + 1 : path;
	r->dest = *dest != '\0' ? dest : "default";
	r->size = size;
	r->start = util_now_ns();
	r->code = ZS_OK;
	r->result = "ok";
}

/* Start the report of item it, for dest. */
void
sout_begin_item(struct report *r, const struct item *it, const char *dest)
{
	sout_begin(r, it->src, dest, it->size);
	r->name = it->path;
	r->kind = it->kind <= ITEM_SYMLINK ? (int)it->kind : it->kindwas;
	if (it->kind == ITEM_SYMLINK)
		r->target = it->extra;
}

/* Entry r is not sent, and that is no failure: a warning. */
void
sout_skip(struct report *r, const char *why)
{
	char	 vn[UTIL_VIS_MAX], vm[UTIL_VIS_MAX];

	r->result = "skipped";
	snprintf(r->msg, sizeof(r->msg), "%s", why);
	log_warnx("%s: %s", util_vis(r->path, vn, sizeof(vn)),
	    util_vis(why, vm, sizeof(vm)));
}

/* What entry r would be (-n): one line on standard output. */
void
sout_dry(struct report *r)
{
	char	 vt[UTIL_VIS_MAX];

	r->result = "dry-run";
	if (opt.quiet || opt.json)
		return;
	if (r->kind == ZC_K_DIR)
		printf("%s: directory\n", sout_vis(r->name));
	else if (r->kind == ZC_K_SYMLINK)
		printf("%s: symlink to %s\n", sout_vis(r->name),
		    util_vis(r->target, vt, sizeof(vt)));
	else if (strcmp(r->path, "-") == 0 && opt.size == ZC_SIZE_UNKNOWN)
		printf("%s: standard input, size unknown\n",
		    sout_vis(r->name));
	else if (strcmp(r->path, "-") == 0)
		printf("%s: standard input, %llu bytes\n", sout_vis(r->name),
		    (unsigned long long)r->size);
	else
		printf("%s: file, %llu bytes\n", sout_vis(r->name),
		    (unsigned long long)r->size);
	fflush(stdout);
}

/*
 * File r failed with exit code, result and message: say so in one line,
 * "NAME: MESSAGE", or "HOST:PORT: NAME not sent: MESSAGE" when peer (the
 * connection failed, or the receiver ended it) is not NULL.  A local
 * failure names the path as given.  The first message is kept for --json;
 * the largest code wins.  Returns code.
 */
static int __attribute__((format(printf, 5, 0)))
sout_vfail(struct report *r, const char *peer, int code, const char *result,
    const char *fmt, va_list ap)
{
	char	 msg[ZS_MSG_MAX], vn[UTIL_VIS_MAX], vm[UTIL_VIS_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (r->code == ZS_OK) {
		memcpy(r->msg, msg, sizeof(r->msg));
		r->result = result;
	}
	if (code > r->code)
		r->code = code;
	if (r->silent)
		return (code);
	util_vis(code == ZS_LOCAL ? r->path : r->name, vn, sizeof(vn));
	util_vis(msg, vm, sizeof(vm));
	if (peer != NULL)
		log_errx("%s: %s not sent: %s", peer, vn, vm);
	else
		log_errx("%s: %s", vn, vm);
	return (code);
}

/* File r failed: "NAME: MESSAGE" (sout_vfail). */
int
sout_fail(struct report *r, int code, const char *result, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	code = sout_vfail(r, NULL, code, result, fmt, ap);
	va_end(ap);
	return (code);
}

/* File r failed with the connection to peer (sout_vfail). */
int
sout_peerfail(struct report *r, const char *peer, int code,
    const char *result, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	code = sout_vfail(r, peer, code, result, fmt, ap);
	va_end(ap);
	return (code);
}

/* The summary line of an entry that landed (verified, unless not). */
void
sout_landed(struct report *r)
{
	double	 secs = (util_now_ns() - r->start) / 1e9;
	char	 vt[UTIL_VIS_MAX];

	if (opt.quiet || opt.json)
		return;
	sout_clear();
	if (r->kind == ZC_K_DIR)
		printf("%s: landed, directory\n", sout_vis(r->name));
	else if (r->kind == ZC_K_SYMLINK)
		printf("%s: landed, symlink to %s\n", sout_vis(r->name),
		    util_vis(r->target, vt, sizeof(vt)));
	else
		printf("%s: landed, %llu bytes in %.3f s, %.2f Gbit/s, "
		    "%s%s%s\n", sout_vis(r->name), (unsigned long long)r->size,
		    secs, secs > 0 ? r->size * 8 / secs / 1e9 : 0.0,
		    opt.verify ? "xxh3 " : "not verified", opt.verify ?
		    r->digest : "", opt.verify ? " verified" : "");
	fflush(stdout);
}

/* Write one JSON line to stdout. */
static void
sout_json(const char *buf, size_t len)
{
	sout_clear();
	fwrite(buf, 1, len, stdout);
	fflush(stdout);
}

/* The JSON object of file r (--json). */
static void
sout_json_file(const struct report *r)
{
	static char	 buf[SOUT_JSON_MAX];
	size_t		 o = 0;
	double		 secs = (util_now_ns() - r->start) / 1e9;

	util_addf(buf, sizeof(buf), &o, "{\"type\":\"%s\",\"name\":",
	    walk_kind_name(r->kind));
	util_json_str(buf, sizeof(buf), &o, r->name);
	util_addf(buf, sizeof(buf), &o, ",\"path\":");
	util_json_str(buf, sizeof(buf), &o, r->path);
	util_addf(buf, sizeof(buf), &o, ",\"dest\":");
	util_json_str(buf, sizeof(buf), &o, r->dest);
	util_addf(buf, sizeof(buf), &o, ",\"size\":%llu,\"bytes\":%llu,"
	    "\"seconds\":%.6f,\"gbps\":%.2f,\"result\":",
	    (unsigned long long)r->size, (unsigned long long)r->bytes, secs,
	    secs > 0 ? r->bytes * 8 / secs / 1e9 : 0.0);
	util_json_str(buf, sizeof(buf), &o, r->result);
	util_addf(buf, sizeof(buf), &o, ",\"message\":");
	util_json_str(buf, sizeof(buf), &o, r->code == ZS_OK &&
	    strcmp(r->result, "skipped") != 0 ? "" : r->msg);
	util_addf(buf, sizeof(buf), &o, ",\"digest\":\"%s%s\",\"exit\":%d}\n",
	    r->digest[0] != '\0' ? "xxh3:" : "", r->digest, r->code);
	sout_json(buf, o);
}

/*
 * Entry r is over, landed or not: count it.  Its JSON line may come later
 * (sout_end), after those of the entries before it.
 */
void
sout_done(struct report *r)
{
	if (r->result == NULL)		/* the run stopped before it */
		return;
	run.done++;
	if (strcmp(r->result, "skipped") == 0)
		run.skipped++;
	else if (r->code == ZS_OK)
		run.ok++;
	if (r->size > r->covered)
		run.covered += r->size - r->covered;
	r->covered = r->size;
}

/* Entry r is done with: its JSON line. */
void
sout_end(struct report *r)
{
	if (run.cur == r)
		run.cur = NULL;
	if (r->result != NULL && opt.json)
		sout_json_file(r);
}

/* The run is over with exit code status: erase the line; JSON summary. */
void
sout_summary(int status)
{
	char	 buf[256];
	size_t	 o = 0;

	sout_clear();
	if (!opt.json)
		return;
	util_addf(buf, sizeof(buf), &o, "{\"type\":\"summary\",\"files\":%d,"
	    "\"ok\":%d,\"failed\":%d,\"skipped\":%d,\"bytes\":%llu,"
	    "\"seconds\":%.6f,\"exit\":%d}\n", run.done, run.ok,
	    run.done - run.ok - run.skipped, run.skipped,
	    (unsigned long long)run.sent, (util_now_ns() - run.start) / 1e9,
	    status);
	sout_json(buf, o);
}

/* Report the zero-copy counters, and where payload came from (-v). */
void
sout_zcstat(const struct zcstat *zs)
{
	if (opt.zerocopy)
		log_debug("zero-copy: %llu sends, %llu completed, %llu copied "
		    "by the kernel, %llu chunks sent plainly",
		    (unsigned long long)zs->sent,
		    (unsigned long long)zs->done,
		    (unsigned long long)zs->copied,
		    (unsigned long long)zs->fallback);
	log_debug("payload: %llu bytes sent from mappings, %llu read",
	    (unsigned long long)zs->mapped, (unsigned long long)zs->read);
}
