/*
 * log.c -- OpenBSD-style logging to stderr.
 *
 * Under systemd (JOURNAL_STREAM set, or forced) each line carries an
 * sd-daemon "<N>" priority prefix so the journal keeps the level; on a
 * terminal lines are prefixed with the program name.  log_warn appends
 * strerror(errno) and leaves errno as it found it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util.h"

static const char	*log_procname = "zcrecvd";
static int		 log_level = LOG_LEVEL_INFO;	/* atomic: reload sets it */
static int		 log_prefix;	/* sd-daemon <N> priority prefixes */
static void		(*log_clear)(void);	/* zcsend: erase its progress line */

/* Set the program name, level and whether to use sd-daemon prefixes. */
void
log_init(const char *name, int level, int sd_prefix)
{
	log_procname = name;
	log_setlevel(level);
	log_prefix = sd_prefix;
}

/* Change the level (on config reload, -d), while workers log. */
void
log_setlevel(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

/*
 * Have fn called before every line is written: zcsend erases its progress
 * line with it, so that a message never lands in the middle of that line.
 */
void
log_setclear(void (*fn)(void))
{
	log_clear = fn;
}

/* Current level. */
int
log_getlevel(void)
{
	return (__atomic_load_n(&log_level, __ATOMIC_RELAXED));
}

/*
 * Write one line at a syslog priority, optionally with an errno text, in a
 * single stdio call so that lines from worker threads never interleave.
 */
static void __attribute__((format(printf, 3, 0)))
vlog(int pri, const char *errstr, const char *fmt, va_list ap)
{
	char	 msg[8192], line[8300];	/* zcsend: a receiver's message, escaped */
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_prefix)
		snprintf(line, sizeof(line), "<%d>%s%s%s\n", pri, msg,
		    errstr != NULL ? ": " : "", errstr != NULL ? errstr : "");
	else
		snprintf(line, sizeof(line), "%s: %s%s%s\n", log_procname, msg,
		    errstr != NULL ? ": " : "", errstr != NULL ? errstr : "");
	if (log_clear != NULL)
		log_clear();
	fputs(line, stderr);
	fflush(stderr);
	errno = saved;
}

/*
 * An error without the program name, for messages that carry their own
 * "file:line:" (configuration errors, as compilers print them).  Shown
 * at every log level: a rejected configuration must never go unseen.
 */
void
log_plain(const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[2048];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_clear != NULL)
		log_clear();
	if (log_prefix)
		fprintf(stderr, "<%d>%s\n", LOG_ERR, msg);
	else
		fprintf(stderr, "%s\n", msg);
	fflush(stderr);
}

/* Warning with strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	if (log_getlevel() < LOG_LEVEL_WARN)
		return;
	va_start(ap, fmt);
	vlog(LOG_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Error without errno: shown at every log level. */
void
log_errx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, NULL, fmt, ap);
	va_end(ap);
}

/* Warning without errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	if (log_getlevel() < LOG_LEVEL_WARN)
		return;
	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

/* Informational message. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (log_getlevel() < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

/* Debug message, only with -d or log level debug. */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_getlevel() < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

/* Fatal error with strerror(errno): exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vlog(LOG_CRIT, saved != 0 ? strerror(saved) : NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Fatal error without errno: exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
