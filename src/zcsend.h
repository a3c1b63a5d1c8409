/*
 * zcsend.h -- private header of zcsend, the zcrecvd client, sectioned per
 * source file:
 *
 *	zcsend.c	options and main: what to send, and the run over it
 *	walk.c		what a run sends: the operands and, with -r, the
 *			trees beneath them, as a list of items
 *	peer.c		the connection: version negotiation, the version 1
 *			conversation (one file at a time), and the verdicts
 *	pipeline.c	the version 2 conversation: entries back to back,
 *			at most a window of them without their RESULT
 *	source.c	a file being sent: mapping, digest, data ranges,
 *			zero-copy sends
 *	stream.c	standard input being sent (version 3): a ring of
 *			page-aligned buffers, read with a timeout
 *	sout.c		what the user sees: progress line, summary lines, the
 *			error line of a failed entry, JSON lines
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
#define SOURCE_RBUFS		4		/* buffers to read a file into */
#define DATA_RECORD		(16U << 20)	/* one DATA record */
#define RESULT_RATE		(100U << 20)	/* extra result wait: 1 s per */

/*
 * Version 2: a file at least this large waits for ACCEPT before its
 * payload (WAIT).  The wait idles the link for one round trip, which costs
 * under 1% of the time 16 MiB takes at 10 Gbit/s on a LAN (RTT 0.1 ms);
 * without it a refused file would cost its whole payload, sent for
 * nothing.  So at most 16 MiB is sent for nothing per refused file.
 */
#define WAIT_MIN		DATA_RECORD
#define ZS_WINDOW_MAX		4096		/* entries in flight, our cap */
#define ZS_BATCH		(256U << 10)	/* inline records, one send() */
#define ZS_INBUF		(64U << 10)	/* records from the receiver */

#define STREAM_BUF		(4U << 20)	/* one buffer, one DATA record */
#define STREAM_NBUF		4		/* buffers in the ring */

/* Command-line options; -v raises the log level to debug. */
struct opts {
	struct zc_key	*key;		/* --key-file */
	int		 zerocopy;
	int		 verify;
	int		 quiet;
	int		 json;		/* --json: JSON lines on stdout */
	int		 progress;	/* progress line on a terminal */
	int		 timeout;	/* seconds, every wait */
	int		 recursive;	/* -r: trees; needs version 2 */
	int		 links;		/* --links: send symlinks as symlinks */
	int		 dryrun;	/* -n: walk and list, connect to nothing */
	uint64_t	 limit_rate;	/* --limit-rate: bytes/s, 0: none */
	const char	*name;		/* --name: what "-" lands as */
	uint64_t	 size;		/* --size, or ZC_SIZE_UNKNOWN */
	int		 stripes;	/* -P: connections per file */
	uint32_t	 chunk;		/* --chunk-size, striping */
	int		 chunk_set;	/* ... given */
	int		 resume;	/* --resume: version 5 */
	int		 io;		/* --io: ZS_IO_AUTO, _MAP or _READ */
};
enum { ZS_IO_AUTO, ZS_IO_MAP, ZS_IO_READ };
#define ZS_RESUME_CHUNK		(4U << 20)	/* --resume's chunk size */
#define ZS_STRIPES_MAX		64

#define ZS_RATE_MIN		(64U << 10)	/* --limit-rate, bytes/s */
#define ZS_RATE_MAX		(1ULL << 40)
extern struct opts	 opt;

/* Zero-copy sends on a connection, for -v. */
struct zcstat {
	uint64_t	 sent;		/* zero-copy sends issued */
	uint64_t	 done;		/* ... completed */
	uint64_t	 copied;	/* completions the kernel had to copy */
	uint64_t	 fallback;	/* pieces sent plainly after ENOBUFS */
	uint64_t	 lost;		/* never to complete: connection closed */
	uint64_t	 mapped;	/* payload bytes sent from the mapping */
	uint64_t	 read;		/* ... read into a buffer and sent */
};

/*
 * The connection to the receiver.  In version 2 a send that would block
 * reads what the receiver says meanwhile, through pump.
 */
struct peer {
	int		 fd;		/* -1 when not connected */
	const char	*text;		/* HOST:PORT as given */
	const char	*host;
	const char	*port;
	int		 timeout;	/* seconds, every wait */
	int		 zc;		/* MSG_ZEROCOPY on */
	int		 version;	/* negotiated: ZC_PROTO_V1 .. _V3 */
	int		 propose;	/* the version proposed first */
	uint32_t	 window;	/* v2: entries in flight allowed */
	uint8_t		 sess[ZC_SESSION_LEN];	/* v4: id and token */
	int		 (*pump)(void *);	/* v2: read the receiver */
	void		*pump_arg;
	int		 side_fd;	/* readable: call side(), or -1 */
	int		(*side)(void *);	/* while a send would block;
						   -1: stop watching side_fd */
	void		*side_arg;
	struct zcstat	 zs;
	struct judge	 judge;		/* --io auto: map or read the file */
	uint8_t		*rbuf;		/* SOURCE_RBUFS x SEND_CHUNK, or NULL */
	uint64_t	 rseq[SOURCE_RBUFS];	/* a buffer's last send, + 1 */
	int		 rcur;		/* the buffer read into last */
};

#define ZS_MSG_MAX		(ZC_MSG_MAX + 256)

/* The outcome of one entry, as the user is told it (sout.c). */
struct report {
	const char	*path;		/* as given, or as found by the walk */
	const char	*name;		/* the name or path sent to the receiver */
	const char	*dest;		/* "default" when not given */
	int		 kind;		/* ZC_K_* */
	const char	*target;	/* a symlink's */
	uint64_t	 size;
	uint64_t	 offset;	/* the receiver had the bytes before */
	uint64_t	 bytes;		/* payload sent */
	uint64_t	 covered;	/* of size: sent, skipped holes, offset */
	uint64_t	 start;		/* ns */
	int		 code;		/* exit code, ZS_* */
	const char	*result;	/* "ok", the receiver's code, or ours */
	char		 msg[ZS_MSG_MAX];	/* why not "ok" */
	char		 digest[ZC_DIGEST_HEXLEN];	/* "" unless END went */
	int		 silent;	/* failures kept in msg, not said (a
					   stripe connection's set-up: its
					   caller says it) */
};

/*
 * One thing a run sends, from the command line or found by the walk, in
 * the order it goes out (walk.c).
 */
enum item_kind {
	ITEM_FILE = ZC_K_FILE,
	ITEM_DIR = ZC_K_DIR,
	ITEM_SYMLINK = ZC_K_SYMLINK,
	ITEM_SKIP,			/* not sent, with a warning */
	ITEM_FAIL,			/* not sent: a local failure */
};
struct item {
	char		*src;		/* the path as the user knows it */
	char		*path;		/* sent: base name, or relative path */
	const char	*base;		/* -r: path is opened beneath this
					   directory, symlinks refused; NULL:
					   src is opened as given */
	enum item_kind	 kind;
	int		 kindwas;	/* SKIP, FAIL: ZC_K_* for --json */
	uint32_t	 mode;
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	uint64_t	 size;
	dev_t		 dev;
	ino_t		 ino;
	char		*extra;		/* symlink target; why SKIP or FAIL */
	int		 stream;	/* "-": standard input, size unknown */
};

/* Everything a run sends. */
struct walk {
	struct item	*v;
	size_t		 n, cap;
	uint64_t	 bytes;		/* size of all the files */
	void		*inodes;	/* tsearch(3) tree of hard-linked files */
	char		**bases;	/* the strings item.base points to */
	size_t		 nbases;
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
	int			 fd;	/* v2: kept for SEEK_DATA and fstat */
	int64_t			 mtime_sec;	/* as opened, to see changes */
	uint32_t		 mtime_nsec;
	uint64_t		 hashed;	/* digest covers [0, hashed) */
	uint64_t		 seq;	/* v2: last zero-copy send, + 1 */
	uint64_t		 pushed;	/* of the last source_send() */
};

/* Standard input being sent (version 3). */
struct stream {
	int			 fd;
	uint8_t			*buf[STREAM_NBUF];	/* page-aligned */
	uint64_t		 seq[STREAM_NBUF];	/* its last send, + 1 */
	int			 cur;	/* the buffer being filled */
	size_t			 have;	/* bytes in it */
	int			 next;	/* the buffer read ahead into */
	size_t			 ahead;	/* bytes in it, while sending */
	uint64_t		 early;	/* bytes read ahead, for -v */
	int			 eof;
	uint64_t		 off;	/* bytes sent */
	const int		*stop;	/* the receiver answered */
	struct XXH3_state_s	*hs;	/* NULL with --no-verify */
};

/* walk.c */
void		 walk_init(struct walk *);
void		 walk_operand(struct walk *, const char *);
void		 walk_file(struct walk *, const char *);
void		 walk_stream(struct walk *, const char *);
void		 walk_free(struct walk *);
const char	*walk_kind_name(int);

/* peer.c */
int		 peer_connect(struct peer *, const char *, const char *,
		     struct report *);
int		 peer_hello(struct peer *, int, struct report *);
int		 peer_open(struct peer *, struct report *);
void		 peer_close(struct peer *);
int		 peer_join(struct peer *, const struct peer *, char **);
int		 peer_heard(struct peer *, char **);
ssize_t		 peer_send1(struct peer *, const void *, size_t, int);
int		 peer_send(struct peer *, const void *, size_t);
int		 peer_file(struct peer *, struct source *, const char *, int *);
int		 peer_judge(struct report *, uint64_t, const struct zc_result *,
		     const uint8_t *);
int		 peer_prove_mac(const char *, const uint8_t *, uint8_t *,
		     uint8_t *);
int		 peer_prove_check(const char *, const uint8_t *,
		     const uint8_t *, const uint8_t *);

/* pipeline.c */
struct pipeline;
struct pipeline	*pipeline_new(struct peer *, const char *, size_t);
void		 pipeline_item(struct pipeline *, struct walk *, size_t);
int		 pipeline_finish(struct pipeline *);
void		 pipeline_free(struct pipeline *);

/* spread.c: one file's chunks over the connections of a session (-P). */
struct spread;
struct spread	*spread_open(struct peer *, int);
int		 spread_count(const struct spread *);
uint32_t	 spread_chunk(uint64_t);
uint32_t	 spread_resume_chunk(uint64_t);
int		 spread_file(struct spread *, struct peer *, struct source *,
		     struct report *, uint64_t, uint32_t, const uint8_t *,
		     const int *, uint8_t *, char **);
void		 spread_stop(struct spread *);
void		 spread_close(struct spread *);

/* source.c */
int		 source_open(struct source *, struct report *);
void		 source_close(struct source *, struct peer *, uint64_t, int);
void		 source_hash_begin(struct source *, uint64_t);
void		 source_digest(struct source *, struct zc_end *);
int		 source_send(struct source *, struct peer *, uint64_t, size_t,
		     int);
int		 source_push(struct peer *, const uint8_t *, size_t, int, int);
const uint8_t	*source_bytes(struct peer *, int, const uint8_t *, uint64_t,
		     size_t, struct XXH3_state_s *);
uint64_t	 source_judging(const struct peer *);
void		 source_judge(struct peer *, size_t, uint64_t);
void		 source_reap(struct peer *, int);
void		 source_reap_errq(struct peer *);
int		 source_hash_guarded(struct XXH3_state_s *, const uint8_t *,
		     size_t);
void		 source_init(void);
int		 source_pad(struct peer *, uint64_t);
int		 source_entry(struct source *, struct report *,
		     const struct item *);
int		 source_read(struct source *, uint8_t *);
int		 source_map(struct source *);
int		 source_range(struct source *, uint64_t, uint64_t *, uint64_t *);
void		 source_hash_to(struct source *, uint64_t);
const char	*source_changed(struct source *);
void		 source_retire(struct source *, struct peer *);
void		 source_unmap_done(struct peer *, int);

/* stream.c */
void		 stream_open(struct stream *, int, int, const int *);
int		 stream_begin(struct stream *, int, const char **);
int		 stream_send(struct stream *, struct peer *, struct report *,
		     struct zc_end *, const char **);
void		 stream_close(struct stream *, struct peer *);

/* sout.c */
const char	*sout_vis(const char *);
void		 sout_start(int, uint64_t);
void		 sout_begin(struct report *, const char *, const char *,
		     uint64_t);
void		 sout_begin_item(struct report *, const struct item *,
		     const char *);
int		 sout_fail(struct report *, int, const char *, const char *,
		     ...) __attribute__((format(printf, 4, 5)));
int		 sout_peerfail(struct report *, const char *, int,
		     const char *, const char *, ...)
		     __attribute__((format(printf, 5, 6)));
void		 sout_landed(struct report *);
void		 sout_done(struct report *);
void		 sout_end(struct report *);
void		 sout_progress(const struct report *);
void		 sout_cover(struct report *, uint64_t, uint64_t);
void		 sout_skip(struct report *, const char *);
void		 sout_dry(struct report *);
void		 sout_clear(void);
void		 sout_summary(int);
void		 sout_zcstat(const struct zcstat *);

#endif /* ZCSEND_H */
