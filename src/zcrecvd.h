/*
 * zcrecvd.h -- private header of the zcrecvd daemon, one section per file.
 */
#ifndef ZCRECVD_H
#define ZCRECVD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <xxhash.h>

#include "zcproto.h"
#include "util.h"

struct io_uring;

struct event_base;
struct event;
struct evbuffer;
struct evconnlistener;

/* Receive-and-write strategies, "io =": the rows of iomode.c's table. */
enum io_mode {
	IO_AUTO, IO_DIRECT, IO_WRITE, IO_VMSPLICE, IO_SPLICE, IO_COPY,
	IO_COPY_DIRECT, IO_DISCARD
};
#define IO_LAST		IO_DISCARD

#define PAGE_MSS_AUTO		-1
#define PAGE_MSS_OFF		0

/* One network in an allow list. */
struct cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];
	int		 prefix;	/* bits */
};

/* One destination directory: [default] or a named section. */
struct dest {
	char		*name;
	char		*path;
	int		 io;
	int		 fsync;
	int		 overwrite;
	int		 verify;
	struct cidr	*allow;
	size_t		 nallow;
	int64_t		 max_file_size;	/* bytes, -1: no limit */
	int64_t		 min_free;	/* bytes, or -percent (-1..-99) */
	int64_t		 max_rate;	/* bytes/s per connection, -1: none */
	char		*key_file;
	struct zc_key	*key;		/* NULL: no authentication */
	int		 max_path_depth;	/* components in a v2 path */
	int		 max_path_length;	/* bytes in a v2 path */
	int		 allow_symlinks;	/* v2 SYMLINK entries */
	int		 line;		/* where its section began */

	int		 dirfd;		/* open directory, set by dest_open */
	int		 dio_ok;	/* filesystem supports O_DIRECT */

	/* xfer.c: the free space, read at most every DEST_SPACE_NS */
	uint64_t	 space_ns;	/* when read; 0: never */
	uint64_t	 space_avail;	/* bytes free then */
	uint64_t	 space_floor;	/* bytes min_free keeps free */
	uint64_t	 space_taken;	/* bytes admitted since */
};

#define DEST_SPACE_NS	(50 * 1000 * 1000)	/* 50 ms */

struct listen_addr {
	char		*text;		/* as written */
	char		*host;		/* NULL: any */
	char		*port;
	int		 line;
};

struct conf {
	int			 refs;		/* atomic */
	char			*file;
	struct listen_addr	*listen;
	size_t			 nlisten;
	char			*user;
	char			*group;
	int			 workers;
	int			 max_conns;
	int			 max_conns_addr;
	int			 page_mss;
	char			*transfer_log;
	int			 idle_timeout;
	int			 stall_timeout;
	int			 shutdown_grace;
	int			 max_stripes;	/* connections per session */
	int			 resume_keep;	/* seconds a resume partial
						   is kept */
	int			 log_level;
	struct listen_addr	*metrics_listen;	/* at most one */
	size_t			 nmetrics_listen;
	struct cidr		*metrics_allow;
	size_t			 nmetrics_allow;
	struct dest		*dests;
	size_t			 ndests;
};

/* conf.c */
struct conf	*conf_load(const char *, int *);
struct conf	*conf_ref(struct conf *);
void		 conf_unref(struct conf *);
void		 conf_free(struct conf *);
void		 conf_dump(const struct conf *, FILE *);
struct dest	*conf_find_dest(struct conf *, const char *);
int		 conf_allowed(const struct dest *, const struct sockaddr *);
int		 conf_cidrs_match(const struct cidr *, size_t,
		     const struct sockaddr *);
int		 conf_open_dests(struct conf *, char **);
int		 conf_check_writable(const struct conf *, char **);

/* Process-wide counters, for STATUS=, the logs and the metrics. */
struct stats {
	uint64_t	 conns;		/* open connections */
	uint64_t	 files_ok;
	uint64_t	 files_failed;
	uint64_t	 bytes;		/* payload received */
	uint64_t	 zc_bytes;	/* ... of which mapped */
	uint64_t	 copied;	/* ... of which copied (recv) */
	uint64_t	 spliced;	/* ... of which spliced */
	uint64_t	 in_flight;	/* files being received */
	uint64_t	 refused_max;	/* connections over max_connections */
	uint64_t	 refused_addr;	/* ... over the per-address limit */
	uint64_t	 disk_pauses;	/* reading stopped for the disk */
	uint64_t	 rate_pauses;	/* reading stopped for max_rate */
	uint64_t	 loop_writes;	/* synchronous file writes made by
					   an event loop */
};
extern struct stats	 stats;
#define STAT_ADD(f, n)	__atomic_add_fetch(&stats.f, (n), __ATOMIC_RELAXED)
#define STAT_SUB(f, n)	__atomic_sub_fetch(&stats.f, (n), __ATOMIC_RELAXED)
#define STAT_GET(f)	__atomic_load_n(&stats.f, __ATOMIC_RELAXED)

/* worker.c: threads, each with its own event loop and connections. */
TAILQ_HEAD(conn_list, conn);

/*
 * A worker's sinks take their io_uring from its pool and give it back when
 * no write of theirs is in flight: setting a ring up and tearing it down
 * costs 170 us of CPU here (more than a small file), so a worker keeps a
 * few.  aio counts the writes queued by every sink of the worker
 * (atomically: the metrics read it from the main thread).
 */
#define SINK_POOL_MAX		32

struct sink_ring {
	struct io_uring		*ring;
	int			 efd;		/* registered eventfd */
};

struct sink_pool {
	int			 aio;
	int			 nfree;
	struct sink_ring	 free[SINK_POOL_MAX];
};

void		 sink_pool_free(struct sink_pool *);

struct worker {
	int			 id;
	pthread_t		 thread;
	struct event_base	*base;
	int			 pipe[2];	/* main -> worker messages */
	struct event		*ev_pipe;
	struct conn_list	 conns;
	int			 draining;	/* finish transfers, then stop */
	int			 busy;		/* files in flight */
	struct sink_pool	 pool;		/* io_uring rings to reuse, and
						   the queued writes (aio) */
	struct lander		*lander;	/* lands v2 entries in batches */
	int			 corked;	/* records wait for uncork() */
	struct conn_list	 cork;		/* connections with records held */
	void			(*uncork)(struct worker *);
						/* conn_io_uncork */
};

#define WORKER_AIO_MAX		8	/* queued 2 MiB writes per worker,
					   beyond each file's fair share */

#define WORKER_DRAIN		-2	/* message: stop taking files */
#define WORKER_ABORT		-3	/* message: abort and stop */

int		 worker_start(int, char **);
void		 worker_hand(int);
void		 worker_tell_all(int);
void		 worker_join_all(void);
int		 worker_count(void);
int		 worker_running(void);

/* systemd.c: every sd_* call of the daemon. */
int		 systemd_listen_fds(void);
void		 systemd_ready(void);
void		 systemd_reloading(void);
void		 systemd_stopping(void);
void		 systemd_start_timers(struct event_base *);
void		 systemd_stop_timers(void);
int		 systemd_journal(void);

/* privs.c */
int		 privs_drop(const struct conf *, char **);

/* iomode.c: the receive-and-write strategies of "io =", one row each. */
enum rx_kind {
	RX_MAP,		/* TCP_ZEROCOPY_RECEIVE into mapped windows */
	RX_SPLICE,	/* socket -> pipe -> file, never seen */
	RX_COPY,	/* recv() into a buffer */
	RX_DISCARD,	/* recv(MSG_TRUNC): thrown away (draining) */
};

enum sink_kind {
	SINK_DIRECT, SINK_WRITE, SINK_VMSPLICE, SINK_SPLICE, SINK_COPY,
	SINK_DISCARD
};

#define IO_PREFER_DIRECT	0x1	/* sink direct where the filesystem
					   can, else the row's sink */
#define IO_SWITCH		0x2	/* unmappable payload: copy */
#define IO_NO_FILE		0x4	/* nothing is written or landed */
#define IO_SMALL_COPY		0x8	/* a file under IO_COPY_BELOW: copy */

/*
 * Below this size, mapping a file's payload costs more than copying it:
 * the windows, O_DIRECT set-up and page unmapping (TLB shootdowns) are
 * paid per file.  Measured on the doc tree of bench/tree.sh and on sets
 * of 256 KiB, 1, 4 and 16 MiB files (receiver CPU: copy 0.3-0.5x at
 * 256 KiB, even at 1 MiB, 1.5x at 4 MiB).
 */
#define IO_COPY_BELOW		(1024 * 1024)

struct iomode {
	const char	*name;		/* "io =" value */
	enum rx_kind	 rx;		/* receive path */
	enum sink_kind	 sink;
	int		 flags;		/* IO_* */
};

const struct iomode	*iomode_get(int);
int			 iomode_find(const char *);
const char		*iomode_name(int);
void			 iomode_choose(int, int, int, uint64_t,
			     enum rx_kind *, enum sink_kind *);
int			 iomode_count(void);

/* Named code for "the peer is gone": no RESULT can reach it. */
#define PEER_GONE		(-1)

/* tlog.c: transfer log. */
struct xfer_stats {
	uint64_t	 start_ns;
	uint64_t	 cpu_ns;
	uint64_t	 received;	/* payload bytes taken off the socket */
	uint64_t	 zc_bytes;	/* ... of which arrived in mapped pages */
	uint64_t	 copied;	/* ... of which were copied (recv) */
	uint64_t	 spliced;	/* ... of which were spliced */
	const char	*stripes;	/* striped: JSON array of workers */
	int		 resumed;	/* a RESUME entry (version 5) */
	uint64_t	 skipped;	/* ... bytes its partial held */
};

void		 tlog_init(void);
int		 tlog_open(const char *, char **);
void		 tlog_disable(void);
void		 tlog_close(void);
void		 tlog_flush(void);
void		 tlog_file(const char *, const char *, const char *, size_t,
		     const struct zc_file *,
		     const struct xfer_stats *, const char *, const char *, int,
		     const char *, const uint8_t *);

/* sink.c: where payload bytes go. */
#define SINK_AIO_SLOTS		8	/* queued writes per file, at most */
#define SINK_AIO_FAIR		2	/* ... that WORKER_AIO_MAX never
					   denies it */

struct sink {
	enum sink_kind	 kind;
	int		 fd;		/* staging file */
	int		 direct;	/* O_DIRECT set on fd */
	unsigned int	 dio_align;	/* file offset alignment */
	unsigned int	 dio_mem;	/* memory alignment */
	int		 pipe[2];	/* vmsplice and splice, else -1 */
	size_t		 pipesz;
	uint64_t	 size;		/* announced file size (stream: bound);
					   a chunk's: where the chunk ends */
	uint64_t	 end;		/* where the file ends: a write that
					   ends here is the tail (padded) */
	int		 truncate;	/* tail was padded */
	int		 err;		/* errno of the last failure */
	uint8_t		*pad;		/* aligned tail buffer */

	XXH3_state_t	*hash;		/* NULL: not verifying */
	uint64_t	 hashed;	/* digest covers [0, hashed) */

	struct io_uring	*ring;		/* async O_DIRECT writes, or NULL */
	int		 efd;		/* eventfd: a queued write is done */
	struct sink_pool *pool;		/* the worker's rings, queued writes */
	int		 queued;	/* slots taken here */
	int		 aerr;		/* errno of a failed write of the
					   sink's own (tail, pipe) */
	int		 pipe_slot;	/* pipe -> file splice queued, or -1 */
	uint64_t	 sync_writes;	/* writes made synchronously */
	struct sink_aio {
		size_t	 len;		/* bytes in flight; 0: slot free */
		int	 done;
		int	 res;		/* the write's result */
		int	 own;		/* from the sink's own buffer (the
					   padded tail): nobody holds it */
	}		 aio[SINK_AIO_SLOTS];
};

int		 sink_probe_direct(int);
int		 sink_open(struct sink *, enum sink_kind, int, const char *,
		     uint64_t, int, struct sink_pool *, char **);
void		 sink_range(struct sink *, uint64_t, uint64_t);
int		 sink_verifying(const struct sink *);
int		 sink_write(struct sink *, const void *, size_t, uint64_t,
		     char **);
int		 sink_write_async(struct sink *, const void *, size_t,
		     uint64_t, int *, char **);
int		 sink_ready(struct sink *);
int		 sink_idle(struct sink *);
int		 sink_wait(struct sink *, int, char **);
int		 sink_wait_all(struct sink *, char **);
void		 sink_reap(struct sink *);
int		 sink_done(struct sink *, int);
ssize_t		 sink_splice(struct sink *, int, size_t, uint64_t, char **);
int		 sink_finish(struct sink *, uint8_t *, char **);
uint64_t	 sink_queued_bytes(const struct sink *);
void		 sink_resize(struct sink *, uint64_t);
void		 sink_gap(struct sink *, uint64_t, uint64_t);
void		 sink_close(struct sink *);
void		 sink_free_ring(struct sink *);
int		 sink_code(const struct sink *);
const char	*sink_name(enum sink_kind);

/* land.c: staging file and atomic landing. */
#define LAND_STAGING_PREFIX	".zcrecvd."
#define LAND_STAGING_SUFFIX	".part"
#define LAND_STAGING_HEX	16	/* random hex digits between them */
#define LAND_STAGING_LEN	(sizeof(LAND_STAGING_PREFIX) - 1 + \
				 LAND_STAGING_HEX + sizeof(LAND_STAGING_SUFFIX))

/* A resume partial (keep.c): ".zcrecvd." 32 hex ".resume", sidecar
 * ".chunks" (written as ".chunks.new" first). */
#define LAND_KEEP_HEX		32
#define LAND_KEEP_SUFFIX	".resume"
#define LAND_KEEP_SIDECAR	".chunks"
#define LAND_KEEP_TEMP		".chunks.new"
#define LAND_NAME_BUF		64	/* any staging or partial name */

struct landing {
	int		 dirfd;		/* parent directory, owned; -1: none */
	int		 fd;		/* staging file; -1: closed */
	char		 staging[LAND_NAME_BUF];
	char		 name[ZC_NAME_MAX + 1];	/* last component of path */
	char		 path[ZC_PATH_MAX + 1];	/* beneath the destination */
};

/*
 * A path from the network, judged: proto_path_check() and the
 * destination's max_path_depth and max_path_length (ZC_E_NAME).
 */
int		 land_path_ok(const struct dest *, const char *, size_t,
		     int *, char **);
/*
 * Create the staging file for path (a base name in version 1) in its
 * parent directory, resolved beneath the destination without following
 * any symlink and created (mode 0700) where missing.
 */
void		 land_read_umask(void);
int		 land_open(struct landing *, const struct dest *, const char *,
		     int *, char **);
int		 land_write(struct landing *, const void *, size_t, uint64_t,
		     int *, char **);
/* Mode, mtime (NULL: leave it), fsync when sync, close the file. */
int		 land_finish(struct landing *, uint32_t,
		     const struct timespec *, int, int *, char **);
/* Rename to its name (no replacing unless the destination overwrites). */
int		 land_rename(struct landing *, const struct dest *, int *,
		     char **);
/* land_finish, land_rename, fsync the directory: one file, durable. */
int		 land_commit(struct landing *, const struct dest *, uint32_t,
		     const struct timespec *, int *, char **);
void		 land_abort(struct landing *);
void		 land_release(struct landing *);
int		 land_dir(const struct dest *, const char *, uint32_t,
		     const struct timespec *, int *, char **);
int		 land_symlink(const struct dest *, const char *, const char *,
		     const struct timespec *, int *, char **);
void		 land_cleanup(const struct dest *, int, int);
int		 land_is_staging(const char *);
int		 land_keep_open(struct landing *, const struct dest *,
		     const char *, const char *, int *, int *, char **);
int		 land_keep_form(const char *, const char **);

/*
 * keep.c: resume partials (version 5).  A partial is kept under a name
 * derived from its key; its sidecar records the chunks made durable and
 * their digests.  One thread of its own does every disk operation of
 * resume (open and re-check a partial, make chunks durable, remove,
 * expire), so that no event loop waits for them.
 */
#define KEEP_IDENT_MAX		80
struct stripe;
struct keep_key {
	char		 ident[KEEP_IDENT_MAX];	/* "key:HEX" or "addr:IP" */
	char		 dest[ZC_DEST_MAX + 1];
	char		 path[ZC_PATH_MAX + 1];
	uint64_t	 size;
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	uint32_t	 chunk;
};
#define KEEP_SIDECAR_HDR	44
#define KEEP_SIDECAR_REC	20	/* u32 chunk, digest */

void		 keep_name(const struct keep_key *, char *, size_t);
void		 keep_ident_key(const struct zc_key *, char *, size_t);
void		 keep_ident_addr(const struct sockaddr *, char *, size_t);
uint8_t		*keep_sidecar_build(const struct keep_key *, uint64_t,
		     const uint8_t *, const uint8_t *, size_t *);
int64_t		 keep_sidecar_parse(const uint8_t *, size_t,
		     const struct keep_key *, uint8_t *, uint8_t *, char **);
int		 keep_sidecar_write(int, const char *, const struct keep_key *,
		     uint64_t, const uint8_t *, const uint8_t *, char **);
int64_t		 keep_sidecar_read(int, const char *, const struct keep_key *,
		     uint8_t *, uint8_t *, char **);
int		 keep_claim(const char *);
int		 keep_claimed(const char *);
void		 keep_unclaim(const char *);
void		 keep_start(void);
void		 keep_stop(void);
void		 keep_check(struct stripe *);
void		 keep_sync(struct stripe *);
void		 keep_drop(struct stripe *);
void		 keep_sweep(struct conf *);
int		 keep_claim_expired(uint64_t);
void		 keep_retry(struct stripe *);

/*
 * session.c: striping (version 4).  A session binds connections; a
 * stripe is a striped file, shared by its owner xfer and chunk xfers on
 * connections of any worker.
 */
struct session;
struct stripe;
struct xfer;
struct session	*session_new(void);
void		 session_ids(const struct session *, uint8_t *, uint8_t *);
struct session	*session_join(const uint8_t *, const uint8_t *, int, char **);
void		 session_leave(struct session *, int);
int		 session_closed(struct session *);
int		 session_striping(struct session *);
struct stripe	*stripe_new(struct session *, struct xfer *, uint32_t, int,
		     char **);
struct stripe	*stripe_find(struct session *, uint64_t);
void		 stripe_detach(struct stripe *);
void		 stripe_bury(struct stripe *);
int		 stripe_buried(struct stripe *);
struct stripe	*stripe_ref(struct stripe *);
void		 stripe_unref(struct stripe *);
int		 stripe_efd(const struct stripe *);
uint64_t	 stripe_size(const struct stripe *);
struct dest	*stripe_dest(const struct stripe *, struct conf **);
int		 stripe_hashing(const struct stripe *);
int		 stripe_nofile(const struct stripe *);
uint64_t	 stripe_progress(const struct stripe *);
void		 stripe_took(struct stripe *, uint64_t);
int		 stripe_claim(struct stripe *, const struct zc_chunk *,
		     uint64_t *, char **);
int		 stripe_open(const struct stripe *);
void		 stripe_done(struct stripe *, uint64_t, const uint8_t *,
		     const struct xfer_stats *, int);
void		 stripe_fail(struct stripe *, int, const char *);
int		 stripe_state(struct stripe *, uint64_t *, int *, char **);
uint64_t	 stripe_chunks(const struct stripe *);
void		 stripe_digest(struct stripe *, uint8_t *, struct xfer_stats *);
char		*stripe_workers(struct stripe *);
void		 stripe_resume(struct stripe *, const struct keep_key *,
		     const char *, int);
int		 stripe_resumed(const struct stripe *);
int		 stripe_checking(struct stripe *);
int		 stripe_resume_ready(struct stripe *, struct landing *,
		     uint8_t *, uint64_t *, int *, char **);
void		 stripe_keep_check(struct stripe *);
void		 stripe_keep_sync(struct stripe *);
void		 stripe_keep_drop(struct stripe *);
void		 stripe_keep_settle(struct stripe *);

/*
 * xfer.c: one file in flight, from its FILE record to its RESULT.  It owns
 * the staging file, the sink, the digest and the outcome; connections
 * drive it.  Refcounted: whoever holds a pointer across events (the
 * connection, a mapping window under a queued write) holds a reference.
 */
struct xfer {
	int			 refs;
	struct worker		*w;
	char			 peer[INET6_ADDRSTRLEN + 8];
	struct zc_file		 f;
	struct xfer_stats	 st;
	struct conf		*conf;		/* referenced */
	struct dest		*dest;		/* NULL until xfer_open */
	const struct iomode	*io;
	int			 open;		/* staging file and sink exist */
	int			 ended;		/* outcome logged */
	uint64_t		 next_off;	/* expected DATA offset */
	struct landing		 land;
	struct sink		 sink;
	struct event		*ev_aio;	/* a queued write is done */
	void			(*written)(void *);	/* ... then call this */
	void			*written_arg;
	TAILQ_ENTRY(xfer)	 entry;		/* on the connection's list */

	/* Version 2 entries. */
	uint64_t		 id;
	int			 v2;
	int			 kind;		/* ZC_K_* */
	uint16_t		 eflags;	/* ZC_EF_* */
	struct timespec		 mtime;
	char			*path;		/* NUL-terminated copy */
	size_t			 path_len;	/* as sent */
	uint8_t			*extra;		/* inline content, target */
	size_t			 extra_len;
	uint8_t			 sdigest[ZC_DIGEST_LEN];	/* inline */
	int			 skip;		/* refused: discard payload */

	/* Version 3 streams: f.size is the bound until EOS gives the size. */
	int			 stream;
	uint64_t		 expect;	/* announced, or ZC_SIZE_UNKNOWN */
	uint64_t		 granted;	/* space checked up to here */
	int			 tail;		/* the short last DATA came */
	int			 parked_fds;	/* descriptors held while queued */

	/*
	 * Version 4 striping.  The owner (the striped entry, on the
	 * session's first connection) and each piece (one chunk, on any
	 * connection of the session) hold the stripe.
	 */
	struct stripe		*stripe;
	uint32_t		 chunk;		/* announced chunk size */
	int			 piece;		/* a chunk, not a file */
	uint64_t		 chunk_idx;
	int			 ended_in;	/* owner: END came */
	struct zc_end		 send;		/* ... the sender's END */
	struct event		*ev_stripe;	/* owner: a chunk is done */
	struct event		*ev_stripe_tm;	/* owner: stall check */
	uint64_t		 stripe_mark;	/* progress at the last check */
	void			(*stripe_cb)(struct xfer *);
	int			 pfd;		/* piece: its own descriptor */

	struct conn		*conn;		/* to answer; NULL: gone */
	void			(*landed)(struct xfer *);	/* answer */

	/* Handed to the lander: it owns the landing until done. */
	int			 queued;
	int			 lstage;	/* lander.c: LANDER_NEW, _PLACED */
	int			 lcode;		/* outcome */
	char			*lcause;
	uint8_t			 dg[ZC_DIGEST_LEN];
	int			 has_dg;
	TAILQ_ENTRY(xfer)	 lentry;	/* on the lander's lists */
};
TAILQ_HEAD(xfer_list, xfer);

struct xfer	*xfer_new(struct worker *, const char *, const struct zc_file *);
struct xfer	*xfer_new_entry(struct worker *, const char *,
		     const struct zc_entry *);
int		 xfer_admit_entry(struct xfer *, int *, char **);
void		 xfer_land_async(struct xfer *, const uint8_t *);
void		 xfer_landed(struct xfer *);
const char	*xfer_name(const struct xfer *);
struct xfer	*xfer_ref(struct xfer *);
void		 xfer_unref(struct xfer *);
int		 xfer_target(struct xfer *, struct conf *,
		     const struct sockaddr *, int *, char **);
int		 xfer_open(struct xfer *, enum sink_kind, int *, char **);
int		 xfer_open_striped(struct xfer *, struct session *, int, int *,
		     char **);
int		 xfer_open_resume(struct xfer *, struct session *, int,
		     const char *, int *, char **);
int		 xfer_room(struct xfer *, uint64_t, int *, char **);
struct xfer	*xfer_new_piece(struct worker *, const char *, struct stripe *,
		     const struct zc_chunk *, uint64_t);
int		 xfer_open_piece(struct xfer *, enum sink_kind, int *, char **);
int		 xfer_piece_finish(struct xfer *, int *, char **);
int		 xfer_striped_finish(struct xfer *, uint8_t *, int *, char **);
int		 xfer_place(struct xfer *, uint64_t, uint64_t, int *, char **);
int		 xfer_write(struct xfer *, const void *, size_t, uint64_t,
		     int *, char **);
int		 xfer_write_async(struct xfer *, const void *, size_t, uint64_t,
		     int *, int *, char **);
ssize_t		 xfer_splice(struct xfer *, int, size_t, uint64_t, int *,
		     char **);
int		 xfer_wait(struct xfer *, int, int *, char **);
int		 xfer_written(struct xfer *, int);
int		 xfer_ready(struct xfer *);
int		 xfer_idle(struct xfer *);
void		 xfer_on_written(struct xfer *, void (*)(void *), void *);
void		 xfer_took(struct xfer *, size_t, enum rx_kind);
int		 xfer_finish(struct xfer *, const struct zc_end *, uint8_t *,
		     int *, char **);
int		 xfer_commit(struct xfer *, const uint8_t *, int *, char **);
void		 xfer_abort(struct xfer *, int, const char *);
const char	*xfer_sink_name(const struct xfer *);

/*
 * zcrx.c: the zero-copy receive engine of one connection, and the one
 * owner of its mapping windows.  A window whose pages are under a queued
 * write remembers the write (its xfer, referenced, and the ticket) and is
 * given back only when that write is done.
 */
#define ZCRX_CHUNK		(2U << 20)	/* mapping size, 2 MiB */
#define ZCRX_WINDOWS		4		/* mapped while one is written */

struct zcrx {
	int		 fd;
	uint8_t		*map;		/* ZCRX_WINDOWS x ZCRX_CHUNK, 2 MiB
					   aligned */
	size_t		 maplen;
	int		 cur;		/* window the next map goes to */
	int		 lowat;		/* current SO_RCVLOWAT */
	struct zcrx_win {
		size_t		 len;	/* mapped bytes under a write */
		struct xfer	*x;	/* whose write, referenced */
		int		 ticket;
	}		 win[ZCRX_WINDOWS];
};

void		 zcrx_init(struct zcrx *, int);
int		 zcrx_mmap(struct zcrx *, char **);
void		 zcrx_free(struct zcrx *);
void		 zcrx_lowat(struct zcrx *, size_t);
int		 zcrx_map(struct zcrx *, size_t, const uint8_t **, size_t *,
		     size_t *, size_t *, int *, char **);
void		 zcrx_hold(struct zcrx *, size_t, struct xfer *, int);
void		 zcrx_drop(struct zcrx *, size_t);
int		 zcrx_reap(struct zcrx *, int *, char **);
void		 zcrx_release_all(struct zcrx *);
int		 zcrx_ready(struct zcrx *);

/* rx.c: the receive paths of a connection behind one interface. */
#define RX_BOUNCE		(1U << 20)	/* one copy buffer */
#define RX_NBUF			4		/* copy buffers: one fills while
						   the others are written */
#define RX_HUGE			(2U << 20)	/* their alignment: huge pages */
#define RX_BURST		(256U << 10)	/* map: the longest copy after
						   skips in a row */
#define RX_BURST_TRY		(16U << 10)	/* map: a skip this long is
						   copied as it is, not more */

/* A copy buffer: filled by recv(), then written in one go. */
struct rx_buf {
	uint8_t			*p;		/* RX_BOUNCE, aligned; NULL
						   until one is needed */
	size_t			 fill;		/* bytes in, not yet written */
	uint64_t		 off;		/* file offset of p[0] */
	struct xfer		*x;		/* under x's queued */
	int			 ticket;	/* ... write ticket */
};

struct rx {
	int			 fd;
	enum rx_kind		 kind;
	struct zcrx		 zcrx;
	struct rx_buf		 buf[RX_NBUF];
	int			 bcur;		/* the buffer filling */
	uint64_t		 burst_end;	/* map: copy up to here */
	size_t			 burst;		/* map: the last burst in a
						   row, 0 after a mapping */
	int			 empty;		/* the last take left nothing
						   queued */
	int			 busy;		/* the last take found the
						   disk queue full: took
						   nothing */
};

void		 rx_init(struct rx *, int);
int		 rx_start(struct rx *, enum rx_kind, char **);
ssize_t		 rx_take(struct rx *, struct xfer *, uint64_t, uint64_t, int *,
		     char **);
void		 rx_lowat(struct rx *, size_t);
int		 rx_reap(struct rx *, int *, char **);
void		 rx_release(struct rx *);
void		 rx_free(struct rx *);
const char	*rx_name(enum rx_kind);
size_t		 rx_burst(size_t, size_t);
int		 rx_lost(int);
int		 rx_at_rest(const struct rx *);

/* conn.c: one sender connection. */
enum conn_state {
	CONN_HELLO,	/* waiting for the sender's HELLO */
	CONN_IDLE,	/* between files: waiting for FILE or EOF */
	CONN_AUTH,	/* FILE for a keyed destination: waiting for AUTH */
	CONN_FILE,	/* in a file: waiting for DATA or END */
	CONN_PAYLOAD,	/* inside a DATA record's body */
	/* (v2: a refused file's DATA and END pass through FILE, PAYLOAD) */
	CONN_DRAIN,	/* failed: discard input until EOF, then close */
	CONN_DEAD,	/* freed soon */
};
#define CONN_NSTATES		(CONN_DEAD + 1)

/* What a failure leaves of the connection (conn_fail). */
enum conn_then {
	CONN_NEXT,	/* the file failed: take the next one */
	CONN_DRAIN_IN,	/* discard what the peer still sends, then close */
	CONN_CLOSE,	/* close now */
};

#define CONN_GONE_IDS		32	/* failed striped entries remembered */

struct conn {
	int			 fd;
	enum conn_state		 state;
	uint64_t		 gone[CONN_GONE_IDS];	/* striped entries
						   answered before their END
						   came, + 1: it is dropped */
	int			 ngone;		/* next slot of gone */
	struct worker		*w;
	struct sockaddr_storage	 ss;		/* peer address */
	char			 peer[INET6_ADDRSTRLEN + 8];
	struct event		*ev_read;
	struct event		*ev_write;
	struct evbuffer		*out;
	uint64_t		 cpu_ns;	/* all CPU spent on us */
	uint64_t		 cpu_mark;	/* thread CPU clock at last charge */

	uint8_t			 rbuf[ZC_HDR_LEN + ZC_ENTRY_MAX];
	size_t			 rhave;
	struct zc_hdr		 hdr;		/* current record */
	const struct conn_rule	*rule;		/* its rule, once hdr is in */
	uint64_t		 rec_ns;	/* first byte of the record */
	uint64_t		 prog_mark;	/* bytes in at the last check */
	uint64_t		 drain_ns;	/* draining since */
	uint64_t		 drained;	/* bytes thrown away */

	struct rx		 rx;
	struct judge		 judge;		/* io = auto: map or copy */
	uint64_t		 judge_cpu;	/* cpu_ns judged so far */

	struct conf		*conf;		/* newest config at file start */
	struct xfer_list	 xfers;		/* files in flight here */
	struct xfer		*cur;		/* the one DATA goes to */
	int			 version;	/* agreed in HELLO */
	struct session		*sess;		/* v4: its session */
	int			 joined;	/* ... bound by JOIN */
	int			 used;		/* an ENTRY or CHUNK came */
	uint32_t		 inflight;	/* v2 entries without RESULT */
	uint64_t		 pending;	/* their bytes held in memory */
	int			 parked_fds;	/* their open descriptors */
	uint8_t			 nonce[ZC_NONCE_LEN];	/* our challenge */
	char			 authed[ZC_DEST_MAX + 1];	/* proven for */
	uint64_t		 rec_left;	/* payload left in record */
	uint64_t		 rec_off;	/* file offset of next byte */

	/*
	 * Not reading, and not timing the peer, while we wait for our own
	 * disk (disk_wait: a completion resumes; end_wait: END waits for
	 * the file's last writes) or for max_rate (rate_wait: ev_rate).
	 */
	int			 disk_wait;
	int			 end_wait;
	struct zc_end		 end;		/* the END that waits */
	int			 rate_wait;
	struct event		*ev_rate;
	int64_t			 tokens;	/* max_rate bucket, bytes */
	uint64_t		 tokens_ns;	/* ... last filled */

	TAILQ_ENTRY(conn)	 entry;
	int			 in_cork;	/* on w->cork */
	TAILQ_ENTRY(conn)	 cork_entry;
};

int		 conn_in_file(const struct conn *);
int		 conn_quiet(struct conn *);
void		 conn_set_state(struct conn *, enum conn_state);
void		 conn_fail(struct conn *, int, const char *, enum conn_then);
void		 conn_input(struct conn *);
void		 conn_timeout(struct conn *);
void		 conn_rate_resume(struct conn *);

/*
 * lander.c: lands received files and version 2 entries in batches on a
 * thread of its own, so that the event loop never waits for fsync, rename
 * or mkdir: sync the files of a batch, rename them, fsync each directory
 * once, answer.
 */
struct lander;
struct lander	*lander_start(struct worker *);
void		 lander_stop(struct lander *);
void		 lander_queue(struct lander *, struct xfer *);

/* conn-io.c: a connection's socket, events and output. */
void		 conn_io_accept(struct worker *, int);
void		 conn_io_arm(struct conn *);
void		 conn_io_flush(struct conn *);
void		 conn_io_send(struct conn *, const uint8_t *, size_t);
void		 conn_io_uncork(struct worker *);
void		 conn_io_result(struct conn *, int, const char *, uint64_t,
		     const uint8_t *, uint64_t);
void		 conn_io_cpu(struct conn *);
uint64_t	 conn_io_arrived(struct conn *);
int		 conn_io_progressed(struct conn *);
void		 conn_io_discard(struct conn *);
void		 conn_io_close(struct conn *);
void		 conn_io_drain_all(struct worker *);
void		 conn_io_shutdown_all(struct worker *);
int		 conn_io_busy(struct worker *);

/* listener.c */
int		 listener_open(struct conf *);
int		 listener_adopt(struct conf *, int);
void		 listener_close(void);
void		 listener_conn_gone(const struct sockaddr_storage *);

/* metrics.c: Prometheus metrics, served by the main thread. */
int		 metrics_open(struct event_base *, struct conf *, char **);
void		 metrics_reload(struct conf *);
void		 metrics_workers(struct worker *, int);
void		 metrics_file(const char *, int, uint64_t, uint64_t);
void		 metrics_close(void);

/* zcrecvd.c: process-wide state. */
extern struct event_base	*ev_base;	/* the main thread's loop */
struct conf	*cfg_acquire(void);

#endif /* ZCRECVD_H */
