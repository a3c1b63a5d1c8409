/*
 * zcrecvd.h -- private header of the zcrecvd daemon, one section per file.
 */
#ifndef ZCRECVD_H
#define ZCRECVD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <xxhash.h>

#include "zcproto.h"
#include "util.h"

struct io_uring;

struct event_base;
struct event;
struct evbuffer;
struct evconnlistener;

/* Receive-and-write strategies, "io =" in the configuration. */
enum io_mode {
	IO_AUTO,	/* direct if the filesystem can, else write; splice
			   when the payload turns out not to be mappable */
	IO_DIRECT,	/* mapped pages -> O_DIRECT pwrite: no copy */
	IO_WRITE,	/* mapped pages -> pwrite into the page cache */
	IO_VMSPLICE,	/* mapped pages -> vmsplice -> splice to file */
	IO_SPLICE,	/* socket -> pipe -> file, no mapping */
	IO_COPY,	/* recv + pwrite, what other tools do */
	IO_DISCARD,	/* mapped pages dropped, no file: benchmarks only */
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
	char		*key_file;
	struct zc_key	*key;		/* NULL: no authentication */
	int		 line;		/* where its section began */

	int		 dirfd;		/* open directory, set by dest_open */
	int		 dio_ok;	/* filesystem supports O_DIRECT */
};

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
	int			 log_level;
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
const char	*conf_io_name(int);
int		 conf_allowed(const struct dest *, const struct sockaddr *);
int		 conf_open_dests(struct conf *, char **);
int		 conf_check_writable(const struct conf *, char **);

/* Process-wide counters, for STATUS= and the logs. */
struct stats {
	uint64_t	 conns;		/* open connections */
	uint64_t	 files_ok;
	uint64_t	 files_failed;
	uint64_t	 bytes;		/* payload received */
	uint64_t	 zc_bytes;	/* ... of which mapped */
	uint64_t	 in_flight;	/* files being received */
};
extern struct stats	 stats;
#define STAT_ADD(f, n)	__atomic_add_fetch(&stats.f, (n), __ATOMIC_RELAXED)
#define STAT_SUB(f, n)	__atomic_sub_fetch(&stats.f, (n), __ATOMIC_RELAXED)
#define STAT_GET(f)	__atomic_load_n(&stats.f, __ATOMIC_RELAXED)

/* worker.c: threads, each with its own event loop and connections. */
struct worker {
	int			 id;
	pthread_t		 thread;
	struct event_base	*base;
	int			 pipe[2];	/* main -> worker messages */
	struct event		*ev_pipe;
	struct conn		*conns;
	int			 draining;	/* finish transfers, then stop */
	int			 busy;		/* files in flight */
	int			 aio;		/* windows under a queued write */
};

#define WORKER_AIO_MAX		8	/* queued 2 MiB writes per worker */

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

/* Running statistics of one file. */
struct xfer {
	struct zc_file	 f;
	uint64_t	 start_ns;
	uint64_t	 cpu_ns;
	uint64_t	 received;	/* payload bytes taken off the socket */
	uint64_t	 zc_bytes;	/* ... of which arrived in mapped pages */
	uint64_t	 copied;	/* ... of which were copied (recv) */
	uint64_t	 spliced;	/* ... of which were spliced */
};

/* zcrx.c: the zero-copy receive engine of one connection. */
#define ZCRX_CHUNK		(2U << 20)	/* mapping size, 2 MiB */
#define ZCRX_BOUNCE		(1U << 20)	/* copy buffer for recv */

#define ZCRX_WINDOWS		4		/* mapped while one is written */

struct zcrx {
	int		 fd;
	uint8_t		*map;		/* ZCRX_WINDOWS x ZCRX_CHUNK, 2 MiB
					   aligned */
	void		*raw;		/* what mmap returned */
	size_t		 rawlen;
	int		 cur;		/* window the next map goes to */
	size_t		 held[ZCRX_WINDOWS];	/* mapped bytes under a write */
	int		 lowat;		/* current SO_RCVLOWAT */
};

void		 zcrx_init(struct zcrx *, int);
int		 zcrx_mmap(struct zcrx *, char **);
void		 zcrx_free(struct zcrx *);
void		 zcrx_lowat(struct zcrx *, size_t);
int		 zcrx_map(struct zcrx *, size_t, size_t *, size_t *, size_t *,
		     char **);
void		 zcrx_unmap(struct zcrx *, int, size_t);
#define zcrx_window(z, w)	((z)->map + (size_t)(w) * ZCRX_CHUNK)

/* sink.c: where payload bytes go. */
enum sink_kind {
	SINK_DIRECT, SINK_WRITE, SINK_VMSPLICE, SINK_SPLICE, SINK_COPY,
	SINK_DISCARD
};

struct sink {
	int		 kind;
	int		 fd;		/* staging file */
	int		 direct;	/* O_DIRECT set on fd */
	unsigned int	 dio_align;	/* file offset alignment */
	unsigned int	 dio_mem;	/* memory alignment */
	int		 pipe[2];	/* vmsplice and splice, else -1 */
	size_t		 pipesz;
	uint64_t	 size;		/* announced file size */
	int		 truncate;	/* tail was padded */
	int		 err;		/* errno of the last failure */
	uint8_t		*pad;		/* aligned tail buffer */

	XXH3_state_t	*hash;		/* NULL: not verifying */
	uint64_t	 hashed;	/* digest covers [0, hashed) */

	struct io_uring	*ring;		/* async O_DIRECT writes, or NULL */
	int		 efd;		/* eventfd: a queued write is done */
	int		*aio_count;	/* the worker's queued writes */
	struct sink_aio {
		size_t	 len;		/* bytes in flight; 0: slot free */
		int	 done;
		int	 res;		/* the write's result */
	}		 aio[ZCRX_WINDOWS];
};

int		 sink_probe_direct(int);
int		 sink_open(struct sink *, int, int, const struct dest *,
		     uint64_t, int, int *, char **);
int		 sink_write(struct sink *, const void *, size_t, uint64_t,
		     char **);
int		 sink_write_async(struct sink *, int, const void *, size_t,
		     uint64_t, char **);
int		 sink_wait(struct sink *, int, char **);
int		 sink_wait_all(struct sink *, char **);
void		 sink_reap(struct sink *);
int		 sink_done(struct sink *, int);
ssize_t		 sink_splice(struct sink *, int, size_t, uint64_t, char **);
int		 sink_finish(struct sink *, uint8_t *, char **);
void		 sink_close(struct sink *);
const char	*sink_name(int);

/* land.c: staging file and atomic landing. */
struct landing {
	int		 dirfd;
	int		 fd;
	char		 staging[40];
	char		 name[ZC_NAME_MAX + 1];
};

int		 land_open(struct landing *, const struct dest *, const char *,
		     int *, char **);
int		 land_commit(struct landing *, const struct dest *, uint32_t,
		     int *, char **);
void		 land_abort(struct landing *);
void		 land_cleanup(const struct dest *);

/* tlog.c: transfer log. */
int		 tlog_open(const char *, char **);
void		 tlog_close(void);
void		 tlog_flush(void);
void		 tlog_file(const char *, const char *, const struct xfer *,
		     const char *, const char *, int, const char *,
		     const uint8_t *);

/* conn.c: one sender connection. */
enum conn_state {
	CONN_HELLO,	/* waiting for the sender's HELLO */
	CONN_IDLE,	/* between files: waiting for FILE or EOF */
	CONN_AUTH,	/* FILE for a keyed destination: waiting for AUTH */
	CONN_FILE,	/* in a file: waiting for DATA or END */
	CONN_PAYLOAD,	/* inside a DATA record's body */
	CONN_DRAIN,	/* failed: discard input until EOF, then close */
	CONN_DEAD,	/* freed soon */
};

struct conn {
	int			 fd;
	int			 state;
	struct worker		*w;
	struct sockaddr_storage	 ss;		/* peer address */
	char			 peer[INET6_ADDRSTRLEN + 8];
	struct event		*ev_read;
	struct event		*ev_write;
	struct event		*ev_aio;	/* a queued write is done */
	struct evbuffer		*out;
	uint64_t		 cpu_ns;	/* all CPU spent on us */
	uint64_t		 cpu_mark;	/* thread CPU clock at last charge */

	uint8_t			 rbuf[ZC_HDR_LEN + ZC_CTL_MAX];
	size_t			 rhave;
	struct zc_hdr		 hdr;		/* current record */
	int			 hdr_ok;	/* hdr decoded */
	uint64_t		 rec_ns;	/* first byte of the record */
	uint64_t		 prog_mark;	/* bytes in at the last check */

	int			 mode;		/* current receive path */
	int			 switched;	/* auto switched to splice */
	struct zcrx		 zcrx;
	uint8_t			*bounce;	/* ZCRX_BOUNCE, aligned */

	struct conf		*conf;		/* newest config at file start */
	struct dest		*dest;		/* the file's destination */
	struct xfer		 x;
	struct landing		 land;
	struct sink		 sink;
	int			 in_file;
	uint8_t			 nonce[ZC_NONCE_LEN];	/* our challenge */
	char			 authed[ZC_DEST_MAX + 1];	/* proven for */
	uint64_t		 next_off;	/* expected DATA offset */
	uint64_t		 rec_left;	/* payload left in record */
	uint64_t		 rec_off;	/* file offset of next byte */

	struct conn		*next;
};

/* Receive paths of a connection. */
enum rx_mode { RX_MAP, RX_SPLICE, RX_COPY };

void		 conn_accept(struct worker *, int);
void		 conn_drain_all(struct worker *);
void		 conn_shutdown_all(struct worker *);
int		 conn_busy(struct worker *);

/* listener.c */
int		 listener_open(struct conf *);
int		 listener_adopt(struct conf *, int);
void		 listener_close(void);
void		 listener_conn_gone(const struct sockaddr_storage *);

/* zcrecvd.c: process-wide state. */
extern struct event_base	*ev_base;	/* the main thread's loop */
struct conf	*cfg_acquire(void);

#endif /* ZCRECVD_H */
