/*
 * zcsend.h -- private header of zcsend, the zcrecvd client, sectioned per
 * source file:
 *
 *	zcsend.c	options and main: one connection, the files in turn
 *	peer.c		the conversation with the receiver, and its verdicts
 *	source.c	a file being sent: mapping, digest, zero-copy sends
 *	sout.c		what the user sees: progress line, summary lines
 *
 * Errors go through log.c, as the daemon's do: "zcsend: ..." on stderr.
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

struct XXH3_state_s;

/* A file being sent: mapped read-only, hashed as it goes out. */
struct source {
	const char		*path;	/* as given */
	const char		*name;	/* its base name, sent to the receiver */
	const uint8_t		*map;	/* NULL for an empty file */
	uint64_t		 size;
	uint32_t		 mode;
	struct XXH3_state_s	*hs;	/* digest state; NULL with --no-verify */
};

/* A progress line in the making. */
struct progress {
	const char	*name;
	uint64_t	 size;
	uint64_t	 start;		/* ns */
	uint64_t	 last;		/* ns, last shown */
};

/* peer.c */
int		 peer_connect(struct peer *, const char *, const char *);
int		 peer_hello(struct peer *);
ssize_t		 peer_send1(struct peer *, const void *, size_t, int);
int		 peer_file(struct peer *, const char *, const char *, int *);

/* source.c */
int		 source_open(struct source *, const char *);
void		 source_close(struct source *, struct peer *, uint64_t, int);
void		 source_hash_begin(struct source *, uint64_t);
void		 source_digest(struct source *, struct zc_end *);
int		 source_send(struct source *, struct peer *, uint64_t, size_t,
		     int);
void		 source_reap(struct peer *, int);

/* sout.c */
const char	*sout_vis(const char *);
void		 sout_progress_start(struct progress *, const char *,
		     uint64_t);
void		 sout_progress(struct progress *, uint64_t);
void		 sout_progress_end(void);
void		 sout_landed(const char *, uint64_t, double, const uint8_t *);
void		 sout_zcstat(const struct zcstat *);

#endif /* ZCSEND_H */
