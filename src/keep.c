/*
 * keep.c -- resume partials (protocol version 5): their names, their
 * sidecars, and the thread that does their disk work.
 *
 * A file sent with the ENTRY flag RESUME is received into a partial named
 * after its key: the sender's identity (the destination's key when it has
 * one, else the sender's address), the destination, the path, the size,
 * the source mtime and the chunk size.  The name is
 *
 *	".zcrecvd." H(identity, dest, path) H(the whole key) ".resume"
 *
 * with H the first 8 bytes of BLAKE2b (libsodium's crypto_generichash),
 * in hex: the first half finds the partials of an older version of the
 * same file (source changed) to remove; nothing is trusted from the name.
 * Beside it, the sidecar (".chunks") lists the chunks whose bytes were
 * fdatasync'ed before the sidecar was written, and their digests; it is
 * written whole to ".chunks.new", fsync'ed and renamed over, so it is
 * either the old list or the new one.  It repeats the key in full and
 * ends with its own XXH3-128: a sidecar of another key, cut short or
 * garbled is discarded, never trusted.
 *
 *	0	8	magic "ZCKEEP01"
 *	8	4	chunk size
 *	12	4	n: chunks recorded
 *	16	8	size
 *	24	8	mtime seconds
 *	32	4	mtime nanoseconds
 *	36	2,2,2	identity, dest, path lengths; then 2 bytes zero
 *	44		identity, dest, path
 *		n x 20	u32 chunk index (ascending), XXH3-128 of the chunk
 *		16	XXH3-128 of all the above
 *
 * One thread, the keeper, does all the disk work of resume in the order
 * it was asked: open a partial and re-check the chunks its sidecar lists
 * (keep_check), make chunks durable and record them (keep_sync), remove a
 * partial (keep_drop), remove partials past resume_keep (keep_sweep).  No
 * event loop waits for any of it; they hear back through the stripe's
 * eventfd.  One thread, so that a sweep or a drop never races a check of
 * the same partial.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "zcrecvd.h"

#ifdef HAVE_XXH_X86DISPATCH_H
#include <xxh_x86dispatch.h>
#endif

#define KEEP_MAGIC		"ZCKEEP01"
#define KEEP_SIDECAR_MAX	(KEEP_SIDECAR_HDR + KEEP_IDENT_MAX + \
				    ZC_DEST_MAX + ZC_PATH_MAX + \
				    ZC_RESUME_CHUNKS_MAX * KEEP_SIDECAR_REC + \
				    ZC_DIGEST_LEN)
#define KEEP_CLAIM_NS		(10ULL * UTIL_NS_PER_SEC)	/* a check
					   waits this long for a partial in
					   use by a transfer still ending */

enum keep_kind { KEEP_CHECK, KEEP_SYNC, KEEP_DROP, KEEP_SWEEP };

struct keep_job {
	enum keep_kind		 kind;
	struct stripe		*st;		/* referenced */
	struct conf		*conf;		/* SWEEP: referenced */
	TAILQ_ENTRY(keep_job)	 entry;
};

/* A partial in use by a stripe, by name and directory. */
struct keep_claim {
	char			 name[LAND_NAME_BUF];
	LIST_ENTRY(keep_claim)	 entry;
};

static pthread_mutex_t			 keep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t			 keep_cond = PTHREAD_COND_INITIALIZER;
static TAILQ_HEAD(, keep_job)		 keep_jobs =
					    TAILQ_HEAD_INITIALIZER(keep_jobs);
static LIST_HEAD(, keep_claim)		 keep_claims =
					    LIST_HEAD_INITIALIZER(keep_claims);
static pthread_t			 keep_thread;
static int				 keep_running, keep_quit;

/* Hex of the first 8 bytes of BLAKE2b of buf. */
static void
keep_hash_hex(const uint8_t *buf, size_t len, char *hex)
{
	uint8_t	 h[crypto_generichash_BYTES_MIN];
	int	 i;

	crypto_generichash(h, sizeof(h), buf, len, NULL, 0);
	for (i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

/* The key's bytes as the sidecar holds them (without the digests). */
static size_t
keep_key_encode(const struct keep_key *k, uint8_t *p, uint32_t n)
{
	size_t	 il = strlen(k->ident), dl = strlen(k->dest);
	size_t	 pl = strlen(k->path);

	memcpy(p, KEEP_MAGIC, 8);
	util_put32(p + 8, k->chunk);
	util_put32(p + 12, n);
	util_put64(p + 16, k->size);
	util_put64(p + 24, (uint64_t)k->mtime_sec);
	util_put32(p + 32, k->mtime_nsec);
	util_put16(p + 36, il);
	util_put16(p + 38, dl);
	util_put16(p + 40, pl);
	util_put16(p + 42, 0);
	memcpy(p + KEEP_SIDECAR_HDR, k->ident, il);
	memcpy(p + KEEP_SIDECAR_HDR + il, k->dest, dl);
	memcpy(p + KEEP_SIDECAR_HDR + il + dl, k->path, pl);
	return (KEEP_SIDECAR_HDR + il + dl + pl);
}

/*
 * The partial's name for key k: the first half of the hex from identity,
 * destination and path, the second from the whole key.
 */
void
keep_name(const struct keep_key *k, char *buf, size_t len)
{
	uint8_t	 kb[KEEP_SIDECAR_HDR + KEEP_IDENT_MAX + ZC_DEST_MAX +
		    ZC_PATH_MAX + 3];
	char	 hex[LAND_KEEP_HEX + 1];
	size_t	 il = strlen(k->ident), dl = strlen(k->dest);
	size_t	 pl = strlen(k->path);

	/* identity, dest, path, each ended by a NUL: the first half */
	memcpy(kb, k->ident, il + 1);
	memcpy(kb + il + 1, k->dest, dl + 1);
	memcpy(kb + il + dl + 2, k->path, pl + 1);
	keep_hash_hex(kb, il + dl + pl + 3, hex);
	keep_hash_hex(kb, keep_key_encode(k, kb, 0), hex + 16);
	snprintf(buf, len, "%s%s%s", LAND_STAGING_PREFIX, hex,
	    LAND_KEEP_SUFFIX);
}

/* The identity of a sender that proved destination key key. */
void
keep_ident_key(const struct zc_key *key, char *buf, size_t len)
{
	crypto_generichash_state gs;
	uint8_t			 h[crypto_generichash_BYTES];
	char			 hex[2 * sizeof(h) + 1];
	size_t			 i;

	/* Not the key itself, nor what its MACs are made of: a digest. */
	crypto_generichash_init(&gs, NULL, 0, sizeof(h));
	crypto_generichash_update(&gs, (const uint8_t *)"zcrecvd-resume",
	    sizeof("zcrecvd-resume"));
	crypto_generichash_update(&gs, key->key, key->len);
	crypto_generichash_final(&gs, h, sizeof(h));
	sodium_memzero(&gs, sizeof(gs));
	for (i = 0; i < sizeof(h); i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(buf, len, "key:%s", hex);
}

/* The identity of a sender without a key: its address, without port. */
void
keep_ident_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 a[INET6_ADDRSTRLEN];
	const void *p = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (inet_ntop(sa->sa_family, p, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "addr:%s", a);
}

/*
 * A sidecar for key k of n chunks: the chunks with kept[i] set, with
 * their digests from dg (n x ZC_DIGEST_LEN).  Returns it (the caller
 * frees it), its length in *len.
 */
uint8_t *
keep_sidecar_build(const struct keep_key *k, uint64_t n, const uint8_t *kept,
    const uint8_t *dg, size_t *len)
{
	XXH128_canonical_t	 canon;
	uint8_t			*p = xmalloc(KEEP_SIDECAR_MAX);
	uint64_t		 i;
	uint32_t		 m = 0;
	size_t			 o;

	for (i = 0; i < n; i++)
		m += kept[i] != 0;
	o = keep_key_encode(k, p, m);
	for (i = 0; i < n; i++) {
		if (!kept[i])
			continue;
		util_put32(p + o, (uint32_t)i);
		memcpy(p + o + 4, dg + i * ZC_DIGEST_LEN, ZC_DIGEST_LEN);
		o += KEEP_SIDECAR_REC;
	}
	XXH128_canonicalFromHash(&canon, XXH3_128bits(p, o));
	memcpy(p + o, canon.digest, ZC_DIGEST_LEN);
	*len = o + ZC_DIGEST_LEN;
	return (p);
}

/* Does the sidecar's key, at p (len bytes of header and strings), say k? */
static int
keep_key_same(const uint8_t *p, size_t len, const struct keep_key *k)
{
	uint8_t	 want[KEEP_SIDECAR_HDR + KEEP_IDENT_MAX + ZC_DEST_MAX +
		    ZC_PATH_MAX];
	size_t	 n = keep_key_encode(k, want, util_get32(p + 12));

	return (n == len && memcmp(want, p, n) == 0);
}

/*
 * Parse a sidecar of len bytes, expected for key k: into kept (n bytes,
 * n the key's chunks) and dg (n x ZC_DIGEST_LEN) the chunks it records.
 * Returns how many, or -1 with *cause: anything but a whole sidecar of
 * this key, its records ascending and on the grid, is refused.
 */
int64_t
keep_sidecar_parse(const uint8_t *p, size_t len, const struct keep_key *k,
    uint8_t *kept, uint8_t *dg, char **cause)
{
	XXH128_canonical_t	 canon;
	uint64_t		 n = proto_chunk_count(k->size, k->chunk);
	uint32_t		 m, i, idx;
	int64_t			 last = -1;
	size_t			 o;

	if (len < KEEP_SIDECAR_HDR + ZC_DIGEST_LEN || len > KEEP_SIDECAR_MAX ||
	    memcmp(p, KEEP_MAGIC, 8) != 0) {
		*cause = xasprintf("not a sidecar (%zu bytes)", len);
		return (-1);
	}
	XXH128_canonicalFromHash(&canon, XXH3_128bits(p, len - ZC_DIGEST_LEN));
	if (memcmp(canon.digest, p + len - ZC_DIGEST_LEN, ZC_DIGEST_LEN) != 0) {
		*cause = xasprintf("sidecar checksum wrong");
		return (-1);
	}
	m = util_get32(p + 12);
	o = KEEP_SIDECAR_HDR + (size_t)util_get16(p + 36) + util_get16(p + 38) +
	    util_get16(p + 40);
	if (m > n || o + (size_t)m * KEEP_SIDECAR_REC + ZC_DIGEST_LEN != len ||
	    !keep_key_same(p, o, k)) {
		*cause = xasprintf("sidecar of another file or sender");
		return (-1);
	}
	memset(kept, 0, n);
	for (i = 0; i < m; i++, o += KEEP_SIDECAR_REC) {
		idx = util_get32(p + o);
		if ((int64_t)idx <= last || idx >= n) {
			*cause = xasprintf("sidecar chunk %u out of order",
			    idx);
			return (-1);
		}
		last = idx;
		kept[idx] = 1;
		memcpy(dg + (size_t)idx * ZC_DIGEST_LEN, p + o + 4,
		    ZC_DIGEST_LEN);
	}
	return (m);
}

/*
 * Write the sidecar name in dirfd for key k (n chunks, those kept, their
 * digests dg): whole to a temporary, fsync'ed, renamed over the old one.
 * -1 with *cause; the old sidecar then stays.
 */
int
keep_sidecar_write(int dirfd, const char *name, const struct keep_key *k,
    uint64_t n, const uint8_t *kept, const uint8_t *dg, char **cause)
{
	char	 tmp[LAND_NAME_BUF + 8];
	uint8_t	*p;
	size_t	 len, o = 0;
	ssize_t	 w;
	int	 fd;

	snprintf(tmp, sizeof(tmp), "%.*s%s", (int)(strlen(name) -
	    strlen(LAND_KEEP_SIDECAR)), name, LAND_KEEP_TEMP);
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		*cause = xasprintf("create %s: %s", tmp, strerror(errno));
		return (-1);
	}
	p = keep_sidecar_build(k, n, kept, dg, &len);
	while (o < len && ((w = write(fd, p + o, len - o)) > 0 ||
	    (w == -1 && errno == EINTR)))
		o += w > 0 ? (size_t)w : 0;
	free(p);
	if (o < len || fsync(fd) == -1) {
		*cause = xasprintf("write %s: %s", tmp, o < len && errno == 0 ?
		    "short write" : strerror(errno));
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return (-1);
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, name) == -1) {
		*cause = xasprintf("rename %s: %s", tmp, strerror(errno));
		unlinkat(dirfd, tmp, 0);
		return (-1);
	}
	return (0);
}

/*
 * Read and parse the sidecar name in dirfd for key k, as
 * keep_sidecar_parse.  0 when there is none; -1 with *cause when it is
 * not to be trusted.
 */
int64_t
keep_sidecar_read(int dirfd, const char *name, const struct keep_key *k,
    uint8_t *kept, uint8_t *dg, char **cause)
{
	struct stat	 sb;
	uint8_t		*p;
	ssize_t		 r;
	int64_t		 m;
	int		 fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return (0);
		*cause = xasprintf("open: %s", strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > KEEP_SIDECAR_MAX) {
		close(fd);
		*cause = xasprintf("not a sidecar");
		return (-1);
	}
	p = xmalloc(sb.st_size + 1);
	r = pread(fd, p, sb.st_size, 0);
	close(fd);
	if (r != sb.st_size) {
		free(p);
		*cause = xasprintf("read: %s", r == -1 ? strerror(errno) :
		    "short");
		return (-1);
	}
	m = keep_sidecar_parse(p, r, k, kept, dg, cause);
	free(p);
	return (m);
}

/* The claim on partial name, or NULL; keep_lock is held. */
static struct keep_claim *
keep_claim_find(const char *name)
{
	struct keep_claim	*kc;

	LIST_FOREACH(kc, &keep_claims, entry)
		if (strcmp(kc->name, name) == 0)
			break;
	return (kc);
}

/*
 * Claim partial name for one stripe: 0, or -1 when another holds it (a
 * transfer of the same file still ending).
 */
int
keep_claim(const char *name)
{
	struct keep_claim	*kc;

	pthread_mutex_lock(&keep_lock);
	if (keep_claim_find(name) != NULL) {
		pthread_mutex_unlock(&keep_lock);
		return (-1);
	}
	kc = xcalloc(1, sizeof(*kc));
	snprintf(kc->name, sizeof(kc->name), "%s", name);
	LIST_INSERT_HEAD(&keep_claims, kc, entry);
	pthread_mutex_unlock(&keep_lock);
	return (0);
}

/* Is partial name in use by a transfer (the sweep leaves it alone)? */
int
keep_claimed(const char *name)
{
	int	 held;

	pthread_mutex_lock(&keep_lock);
	held = keep_claim_find(name) != NULL;
	pthread_mutex_unlock(&keep_lock);
	return (held);
}

/* The stripe holding name is gone. */
void
keep_unclaim(const char *name)
{
	struct keep_claim	*kc;

	pthread_mutex_lock(&keep_lock);
	if ((kc = keep_claim_find(name)) != NULL) {
		LIST_REMOVE(kc, entry);
		free(kc);
	}
	pthread_mutex_unlock(&keep_lock);
}

/* Queue a job for the keeper; it takes the references given. */
static void
keep_queue(enum keep_kind kind, struct stripe *st, struct conf *conf)
{
	struct keep_job	*j = xcalloc(1, sizeof(*j));

	j->kind = kind;
	j->st = st;
	j->conf = conf;
	pthread_mutex_lock(&keep_lock);
	TAILQ_INSERT_TAIL(&keep_jobs, j, entry);
	pthread_cond_signal(&keep_cond);
	pthread_mutex_unlock(&keep_lock);
}

/* Do one job. */
static void
keep_run(struct keep_job *j)
{
	size_t	 i;

	switch (j->kind) {
	case KEEP_CHECK:
		stripe_keep_check(j->st);
		break;
	case KEEP_SYNC:
		stripe_keep_sync(j->st);
		break;
	case KEEP_DROP:
		stripe_keep_drop(j->st);
		break;
	case KEEP_SWEEP:
		for (i = 0; i < j->conf->ndests; i++)
			if (j->conf->dests[i].dirfd != -1)
				land_cleanup(&j->conf->dests[i],
				    j->conf->resume_keep, 0);
		conf_unref(j->conf);
		break;
	}
	if (j->st != NULL)
		stripe_unref(j->st);
	free(j);
}

/* The keeper thread: jobs in order, until told to quit with none left. */
static void *
keep_main(void *arg)
{
	struct keep_job	*j;

	pthread_mutex_lock(&keep_lock);
	for (;;) {
		while (TAILQ_EMPTY(&keep_jobs) && !keep_quit)
			pthread_cond_wait(&keep_cond, &keep_lock);
		if ((j = TAILQ_FIRST(&keep_jobs)) == NULL)
			break;
		TAILQ_REMOVE(&keep_jobs, j, entry);
		pthread_mutex_unlock(&keep_lock);
		keep_run(j);
		pthread_mutex_lock(&keep_lock);
	}
	pthread_mutex_unlock(&keep_lock);
	return (arg);
}

/*
 * Start the keeper (before the workers, after the privileges are
 * dropped).  Signals stay with the main thread.
 */
void
keep_start(void)
{
	int	 r;

	if ((r = util_thread(&keep_thread, keep_main, NULL)) != 0)
		fatalx("keeper: pthread_create: %s", strerror(r));
	keep_running = 1;
}

/* Finish the jobs queued and stop the keeper (after the workers). */
void
keep_stop(void)
{
	if (!keep_running)
		return;
	pthread_mutex_lock(&keep_lock);
	keep_quit = 1;
	pthread_cond_signal(&keep_cond);
	pthread_mutex_unlock(&keep_lock);
	pthread_join(keep_thread, NULL);
	keep_running = 0;
}

/*
 * Open the partial of the resumed stripe st and re-check what its
 * sidecar records (stripe_keep_check), then tell its owner.
 */
void
keep_check(struct stripe *st)
{
	keep_queue(KEEP_CHECK, stripe_ref(st), NULL);
}

/* Make the chunks of st written since the last time durable, record them. */
void
keep_sync(struct stripe *st)
{
	keep_queue(KEEP_SYNC, stripe_ref(st), NULL);
}

/* Remove the partial of st and its sidecar: they cannot be trusted. */
void
keep_drop(struct stripe *st)
{
	keep_queue(KEEP_DROP, stripe_ref(st), NULL);
}

/* Remove the partials past resume_keep in every destination of conf. */
void
keep_sweep(struct conf *conf)
{
	keep_queue(KEEP_SWEEP, NULL, conf);
}

/* Has the check of a claimed partial waited long enough? */
int
keep_claim_expired(uint64_t since)
{
	return (util_now_ns() - since > KEEP_CLAIM_NS);
}

/*
 * The keeper found the partial claimed: try again after the jobs queued
 * meanwhile, a little later (the transfer holding it is ending).
 */
void
keep_retry(struct stripe *st)
{
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	keep_check(st);
}
