/*
 * util.h -- logging and allocation helpers shared by zcrecvd and zcsend.
 */
#ifndef UTIL_H
#define UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_LEVEL_ERR		0
#define LOG_LEVEL_WARN		1
#define LOG_LEVEL_INFO		2
#define LOG_LEVEL_DEBUG		3

/* log.c */
void		 log_init(const char *, int, int);
void		 log_setlevel(int);
void		 log_setclear(void (*)(void));
int		 log_getlevel(void);
void		 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_errx(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_plain(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...) __attribute__((format(printf, 1, 2),
		     noreturn));
void		 fatalx(const char *, ...) __attribute__((format(printf, 1, 2),
		     noreturn));

/* util.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
char		*xstrdup(const char *);
char		*xasprintf(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
char		*xvasprintf(const char *, va_list)
		     __attribute__((format(printf, 1, 0)));
int		 util_parse_hostport(const char *, char **, char **, char **);
uint64_t	 util_now_ns(void);
uint64_t	 util_cpu_ns(int);
int		 util_thread(pthread_t *, void *(*)(void *), void *);
const char	*util_bytes(uint64_t, char *, size_t);
const char	*util_vis(const char *, char *, size_t);
const char	*util_visn(const char *, size_t, char *, size_t);
void		 util_json_strn(char *, size_t, size_t *, const char *,
		     size_t);
void		 util_json_str(char *, size_t, size_t *, const char *);
void		 util_addf(char *, size_t, size_t *, const char *, ...)
		     __attribute__((format(printf, 4, 5)));

/*
 * Big-endian integers in wire and on-disk records (proto.c, keep.c).
 */
static inline void
util_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static inline void
util_put32(uint8_t *p, uint32_t v)
{
	util_put16(p, v >> 16);
	util_put16(p + 2, v);
}

static inline void
util_put64(uint8_t *p, uint64_t v)
{
	util_put32(p, v >> 32);
	util_put32(p + 4, v);
}

static inline uint16_t
util_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
util_get32(const uint8_t *p)
{
	return (uint32_t)util_get16(p) << 16 | util_get16(p + 2);
}

static inline uint64_t
util_get64(const uint8_t *p)
{
	return (uint64_t)util_get32(p) << 32 | util_get32(p + 4);
}

/*
 * judge.c: map or copy, whichever costs less CPU per byte, measured in
 * trials both ways (zcrecvd's io = auto per connection; zcsend's --io auto
 * per connection).
 */
#define JUDGE_TRIAL		(8ULL << 20)	/* payload per path per trial */
#define JUDGE_AGAIN		(2ULL << 30)	/* payload before trying again */
#define JUDGE_WARM		(4ULL << 20)	/* not measured: the change */
enum { JUDGE_TRY_MAP, JUDGE_TRY_COPY, JUDGE_SETTLED, JUDGE_OFF };
enum { JUDGE_MAP, JUDGE_COPY };

struct judge {
	int			 phase;
	int			 pick;		/* JUDGE_MAP or _COPY: take now */
	uint64_t		 bytes;		/* payload in this phase */
	uint64_t		 cpu_ns;	/* ... and its CPU time */
	uint64_t		 left;		/* bytes the phase lasts */
	uint64_t		 warm;		/* ... not measured at first */
	uint64_t		 cost[2];	/* ns per MB, last trials */
	int			 rounds;	/* trials done */
	const char		*force_env;	/* tests: forces every pick */
};

void		 judge_init(struct judge *, const char *);
void		 judge_off(struct judge *);
int		 judge_account(struct judge *, uint64_t, uint64_t);

#define UTIL_VIS_MAX		(4 * 1024 + 1)	/* util_vis of a message */
#define UTIL_NS_PER_SEC		1000000000ULL
#define UTIL_US_PER_SEC		1000000ULL

#endif /* UTIL_H */
