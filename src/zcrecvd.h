/*
 * zcrecvd.h -- private header of the zcrecvd daemon, one section per file.
 */
#ifndef ZCRECVD_H
#define ZCRECVD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>

#include <xxhash.h>

#include "zcproto.h"
#include "util.h"

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
};

#define PAGE_MSS_AUTO		-1
#define PAGE_MSS_OFF		0

/* One destination directory ("[default]" for now). */
struct dest {
	char		*name;
	char		*path;
	int		 io;
	int		 fsync;
	int		 overwrite;
	int		 verify;
	int		 line;		/* where it was defined */

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
	char			*file;
	struct listen_addr	*listen;
	size_t			 nlisten;
	int			 page_mss;
	char			*transfer_log;
	int			 idle_timeout;
	int			 stall_timeout;
	struct dest		*dests;
	size_t			 ndests;
};

/* conf.c */
struct conf	*conf_load(const char *, int *);
void		 conf_free(struct conf *);
void		 conf_dump(const struct conf *, FILE *);
struct dest	*conf_find_dest(struct conf *, const char *);
const char	*conf_io_name(int);

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

struct zcrx {
	int		 fd;
	uint8_t		*map;		/* ZCRX_CHUNK, 2 MiB aligned */
	void		*raw;		/* what mmap returned */
	size_t		 rawlen;
	int		 lowat;		/* current SO_RCVLOWAT */
};

void		 zcrx_init(struct zcrx *, int);
int		 zcrx_mmap(struct zcrx *, char **);
void		 zcrx_free(struct zcrx *);
void		 zcrx_lowat(struct zcrx *, size_t);
int		 zcrx_map(struct zcrx *, size_t, size_t *, size_t *, size_t *,
		     char **);
void		 zcrx_unmap(struct zcrx *, size_t);

/* sink.c: where payload bytes go. */
enum sink_kind {
	SINK_DIRECT, SINK_WRITE, SINK_VMSPLICE, SINK_SPLICE, SINK_COPY
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
	uint8_t		*pad;		/* aligned tail buffer */

	XXH3_state_t	*hash;		/* NULL: not verifying */
	uint64_t	 hashed;	/* digest covers [0, hashed) */
};

int		 sink_probe_direct(int);
int		 sink_open(struct sink *, int, int, const struct dest *,
		     uint64_t, int, char **);
int		 sink_write(struct sink *, const void *, size_t, uint64_t,
		     char **);
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

/* tlog.c: transfer log. */
int		 tlog_open(const char *, char **);
void		 tlog_close(void);
void		 tlog_file(const char *, const char *, const struct xfer *,
		     const char *, const char *, int, const char *,
		     const uint8_t *);

/* conn.c: one sender connection. */
enum conn_state {
	CONN_HELLO,	/* waiting for the sender's HELLO */
	CONN_IDLE,	/* between files: waiting for FILE or EOF */
	CONN_FILE,	/* in a file: waiting for DATA or END */
	CONN_PAYLOAD,	/* inside a DATA record's body */
	CONN_DRAIN,	/* failed: discard input until EOF, then close */
	CONN_DEAD,	/* freed soon */
};

struct conn {
	int			 fd;
	int			 state;
	char			 peer[INET6_ADDRSTRLEN + 8];
	struct event		*ev_read;
	struct event		*ev_write;
	struct evbuffer		*out;
	uint64_t		 cpu_ns;	/* all CPU spent on us */
	uint64_t		 cpu_mark;	/* thread CPU clock at last charge */

	uint8_t			 rbuf[ZC_HDR_LEN + ZC_CTL_MAX];
	size_t			 rhave;
	struct zc_hdr		 hdr;		/* current record */
	int			 hdr_ok;	/* hdr decoded */

	int			 mode;		/* current receive path */
	int			 switched;	/* auto switched to splice */
	struct zcrx		 zcrx;
	uint8_t			*bounce;	/* ZCRX_BOUNCE, aligned */

	struct dest		*dest;
	struct xfer		 x;
	struct landing		 land;
	struct sink		 sink;
	int			 in_file;
	uint64_t		 next_off;	/* expected DATA offset */
	uint64_t		 rec_left;	/* payload left in record */
	uint64_t		 rec_off;	/* file offset of next byte */

	struct conn		*next;
};

/* Receive paths of a connection. */
enum rx_mode { RX_MAP, RX_SPLICE, RX_COPY };

void		 conn_accept(int, struct sockaddr *, socklen_t);
void		 conn_shutdown_all(void);
int		 conn_count(void);

/* listener.c */
int		 listener_open(struct conf *);
void		 listener_close(void);

/* zcrecvd.c: process-wide state. */
extern struct event_base	*ev_base;
extern struct conf		*cfg;

#endif /* ZCRECVD_H */
