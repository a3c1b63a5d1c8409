/*
 * zcsend.h -- private header of zcsend, the zcrecvd client, sectioned per
 * source file:
 *
 *	zcsend.c	options and main: one connection, the files in turn
 *	peer.c		the conversation with the receiver, and its verdicts
 *	source.c	a file being sent: mapping, digest, zero-copy sends
 *	sout.c		what the user sees: progress line, summary lines, the
 *			error line of a failed file, JSON lines
 *
 * Errors go through log.c, as the daemon's do: "zcsend: ..." on stderr;
 * those about one file go through sout_fail(), which also keeps them for
 * --json.
 */
#ifndef ZCSEND_H
#define ZCSEND_H

#include <sys/types.h>

#include <stdint.h>

#include "zcproto.h"
#include "util.h"

/* Exit codes, by severity: with several failures the largest one wins. */
#define ZS_OK			0
#define ZS_LOCAL		1	/* a local file cannot be sent */
#define ZS_USAGE		2
#define ZS_CONNECT		3	/* connection failed or broke */
#define ZS_REJECTED		4	/* the receiver refused the file */
#define ZS_VERIFY		5	/* what landed is not what was sent */

#define SEND_CHUNK		(1U << 20)	/* one send() */
#define DATA_RECORD		(16U << 20)	/* one DATA record */
#define RESULT_RATE		(100U << 20)	/* extra result wait: 1 s per */

/* Command-line options; -v raises the log level to debug. */
struct opts {
	struct zc_key	*key;		/* --key-file */
	int		 zerocopy;
	int		 verify;
	int		 quiet;
	int		 json;		/* --json: JSON lines on stdout */
	int		 progress;	/* progress line on a terminal */
	int		 timeout;	/* seconds, every wait */
};
extern struct opts	 opt;

/* Zero-copy sends on a connection, for -v. */
struct zcstat {
	uint64_t	 sent;		/* zero-copy sends issued */
	uint64_t	 done;		/* ... completed */
	uint64_t	 copied;	/* completions the kernel had to copy */
	uint64_t	 fallback;	/* pieces sent plainly after ENOBUFS */
};

/* The connection to the receiver. */
struct peer {
	int		 fd;		/* -1 when not connected */
	const char	*text;		/* HOST:PORT as given */
	int		 timeout;	/* seconds, every wait */
	int		 zc;		/* MSG_ZEROCOPY on */
	struct zcstat	 zs;
};

#define ZS_MSG_MAX		(ZC_MSG_MAX + 256)

/* The outcome of one file, as the user is told it (sout.c). */
struct report {
	const char	*path;		/* as given */
	const char	*name;		/* its base name, sent to the receiver */
	const char	*dest;		/* "default" when not given */
	uint64_t	 size;
	uint64_t	 offset;	/* the receiver had the bytes before */
	uint64_t	 bytes;		/* payload sent */
	uint64_t	 start;		/* ns */
	int		 code;		/* exit code, ZS_* */
	const char	*result;	/* "ok", the receiver's code, or ours */
	char		 msg[ZS_MSG_MAX];	/* why not "ok" */
	char		 digest[ZC_DIGEST_HEXLEN];	/* "" unless END went */
};

struct XXH3_state_s;

/* A file being sent: mapped read-only, hashed as it goes out. */
struct source {
	struct report		*rp;	/* path, name and outcome */
	const char		*path;	/* as given */
	const char		*name;	/* its base name, sent to the receiver */
	const uint8_t		*map;	/* NULL for an empty file */
	uint64_t		 size;
	uint32_t		 mode;
	struct XXH3_state_s	*hs;	/* digest state; NULL with --no-verify */
};

/* peer.c */
int		 peer_connect(struct peer *, const char *, const char *,
		     struct report *);
int		 peer_hello(struct peer *, struct report *);
ssize_t		 peer_send1(struct peer *, const void *, size_t, int);
int		 peer_file(struct peer *, struct source *, const char *, int *);

/* source.c */
int		 source_open(struct source *, struct report *);
void		 source_close(struct source *, struct peer *, uint64_t, int);
void		 source_hash_begin(struct source *, uint64_t);
void		 source_digest(struct source *, struct zc_end *);
int		 source_send(struct source *, struct peer *, uint64_t, size_t,
		     int);
void		 source_reap(struct peer *, int);

/* sout.c */
const char	*sout_vis(const char *);
void		 sout_start(int, uint64_t);
void		 sout_begin(struct report *, const char *, const char *,
		     uint64_t);
int		 sout_fail(struct report *, int, const char *, const char *,
		     ...) __attribute__((format(printf, 4, 5)));
int		 sout_peerfail(struct report *, const char *, int,
		     const char *, const char *, ...)
		     __attribute__((format(printf, 5, 6)));
void		 sout_landed(struct report *);
void		 sout_end(struct report *);
void		 sout_progress(const struct report *);
void		 sout_clear(void);
void		 sout_summary(int);
void		 sout_zcstat(const struct zcstat *);

#endif /* ZCSEND_H */
