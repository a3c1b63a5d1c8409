/*
 * zcproto.h -- the zcrecvd wire protocol, shared by zcrecvd and zcsend.
 *
 * One TCP connection carries records.  Every record starts with a 16-byte
 * header, all integers big-endian:
 *
 *	u16 type	ZC_T_*
 *	u16 flags	must be 0
 *	u32 len		length of the body that follows the header
 *	u64 arg		ZC_T_DATA: file offset of the body; 0 for every other type
 *
 * The sender writes every control record (header and body) with one
 * send(MSG_EOR), so that it ends its own skb; a DATA record's header is such
 * a control record and its body (the payload) follows in page multiples from
 * page-aligned memory, so that the receiver can map the payload pages instead
 * of copying them.  DATA offsets are multiples of ZC_BLOCK; a DATA body is a
 * multiple of ZC_BLOCK except for the one that ends the file, which carries
 * the last partial block (the "tail").
 *
 * Conversation (S = zcsend, R = zcrecvd):
 *
 *	S: HELLO		R: HELLO (or ERROR, then close)
 *	then per file:
 *	S: FILE			R: ACCEPT (or RESULT with an error: next file)
 *	S: DATA...		(offsets ascending from ACCEPT's offset)
 *	S: END			R: RESULT (landed + digest, or an error)
 *	S closes the connection when it has no more files.
 *
 * Version 2 (R answers a HELLO proposing 2 with HELLO 2 and its window;
 * a version 1 R with ERROR version) sends a tree as ENTRY records:
 *
 *	S: HELLO(2)		R: HELLO(2, window)
 *	then per entry, without waiting (at most window without RESULT):
 *	S: ENTRY(id)		file: DATA... END(id) follow at once
 *				(flag WAIT: R answers ACCEPT(id) or RESULT
 *				first, as FILE in version 1; flag INLINE:
 *				the content is in the ENTRY, no DATA, END)
 *				dir, symlink: nothing follows
 *	R: RESULT(id), in any order, once the entry is durable (or failed)
 *
 * A refused entry's DATA and END are read and discarded by R.
 *
 * Version 3 is version 2 plus streams: an ENTRY with the flags STREAM and
 * WAIT has no size yet (its size field is ZC_SIZE_UNKNOWN, or the size the
 * stream must come to); its DATA records are followed by EOS(id), which
 * carries the final size and the digest, instead of END.
 *
 *	S: ENTRY(id, STREAM|WAIT)	R: ACCEPT(id) or RESULT(id)
 *	S: DATA... EOS(id, size)	R: RESULT(id)
 *
 * Version 4 is version 3 plus striping: one file over several connections.
 * R follows its HELLO(4) with SESSION (a session id and a secret token);
 * further connections send HELLO(4) and JOIN(id, token) instead of
 * entries, and R answers SESSION(id, zero token) or ERROR.  A file of the
 * first connection with the ENTRY flag STRIPED (and WAIT) announces a
 * chunk size; its payload then comes as CHUNK(id, offset, length), each
 * followed by the DATA records of that chunk, on any connection of the
 * session, and END(id) on the first connection carries the tree digest:
 * XXH3-128 over the XXH3-128 digests of the chunks, in chunk order.
 *
 *	S: ENTRY(id, STRIPED|WAIT, chunk)	R: ACCEPT(id) or RESULT(id)
 *	S (any connection): CHUNK(id, off, len) DATA...
 *	S (first connection): END(id, tree digest)	R: RESULT(id)
 *
 * Version 5 is version 4 plus resume: an ENTRY with STRIPED and RESUME
 * (and WAIT) names a file the receiver may hold a verified part of from an
 * earlier attempt; ACCEPT then carries a bitmap of the chunks it needs,
 * and only those come as CHUNKs.  END's tree digest covers every chunk.
 *
 * A receiver that fails while payload is in flight sends RESULT with the
 * error, reads and discards what the sender still sends, and closes.
 * ERROR ends the connection in either direction.
 *
 * See doc/PROTOCOL.md for the complete description.
 */
#ifndef ZCPROTO_H
#define ZCPROTO_H

#include <stddef.h>
#include <stdint.h>

#define ZC_PROTO_MAGIC		0x5a435250U	/* "ZCRP" */
#define ZC_PROTO_VERSION	5		/* the newest version spoken */
#define ZC_PROTO_V1		1		/* one file at a time */
#define ZC_PROTO_V2		2		/* trees, pipelined entries */
#define ZC_PROTO_V3		3		/* v2 and streams of unknown size */
#define ZC_PROTO_V4		4		/* v3 and striped files */
#define ZC_PROTO_V5		5		/* v4 and verified resume */

#define ZC_HDR_LEN		16
#define ZC_BLOCK		4096		/* payload alignment unit */
#define ZC_CTL_MAX		4096		/* largest control record body */
#define ZC_NAME_MAX		255		/* longest file name (NAME_MAX) */
#define ZC_DEST_MAX		64		/* longest destination name */
#define ZC_MSG_MAX		1024		/* longest human message */
#define ZC_DATA_MAX		(1U << 30)	/* largest DATA body */
#define ZC_DIGEST_LEN		16
#define ZC_PATH_MAX		4095		/* longest path in ENTRY (v2) */
#define ZC_TARGET_MAX		4095		/* longest symlink target */
#define ZC_INLINE_MAX		65536		/* largest inline content */
#define ZC_WINDOW_MAX		65536		/* largest window in HELLO */

#define ZC_DEFAULT_PORT		"7733"

enum zc_type {
	ZC_T_HELLO = 1,		/* both ways: magic and version */
	ZC_T_FILE = 2,		/* S->R: announce one file */
	ZC_T_ACCEPT = 3,	/* R->S: send payload from this offset */
	ZC_T_DATA = 4,		/* S->R: payload at file offset hdr.arg */
	ZC_T_END = 5,		/* S->R: all payload sent, sender's digest */
	ZC_T_RESULT = 6,	/* R->S: outcome of one file */
	ZC_T_ERROR = 7,		/* either way: fatal, connection closes */
	ZC_T_CHALLENGE = 8,	/* R->S: the destination has a key: nonce */
	ZC_T_AUTH = 9,		/* S->R: sender's nonce and MAC */
	ZC_T_AUTHOK = 10,	/* R->S: receiver's MAC, then ACCEPT follows */
	ZC_T_ENTRY = 11,	/* S->R (v2): one entry of a tree */
	ZC_T_EOS = 12,		/* S->R (v3): end of a stream: size, digest */
	ZC_T_SESSION = 13,	/* R->S (v4): session id and token; JOIN's
				   answer */
	ZC_T_JOIN = 14,		/* S->R (v4): bind to a session */
	ZC_T_CHUNK = 15,	/* S->R (v4): a chunk of a striped file */
};
#define ZC_T_MAX		ZC_T_CHUNK

/* Result and error codes carried in RESULT and ERROR. */
enum zc_code {
	ZC_OK = 0,		/* landed (and verified when digests agree) */
	ZC_E_PROTO = 1,		/* malformed or unexpected record */
	ZC_E_VERSION = 2,	/* unsupported protocol version */
	ZC_E_NAME = 3,		/* file name refused */
	ZC_E_EXISTS = 4,	/* a file of that name exists, overwrite = no */
	ZC_E_DEST = 5,		/* no such destination */
	ZC_E_IO = 6,		/* receiver could not write or land the file */
	ZC_E_DIGEST = 7,	/* digests differ */
	ZC_E_SIZE = 8,		/* size or length out of bounds */
	ZC_E_NOSPACE = 9,	/* destination full */
	ZC_E_DENIED = 10,	/* not allowed */
	ZC_E_TIMEOUT = 11,	/* peer too slow */
	ZC_E_INTERNAL = 12,	/* receiver bug or resource shortage */
	ZC_E_SHUTDOWN = 13,	/* receiver shutting down */
};
#define ZC_E_MAX		ZC_E_SHUTDOWN

enum zc_digest_alg {
	ZC_DIGEST_NONE = 0,
	ZC_DIGEST_XXH3_128 = 1,	/* XXH3-128, canonical (big-endian) form */
};

struct zc_hdr {
	uint16_t	type;
	uint16_t	flags;
	uint32_t	len;
	uint64_t	arg;
};

/*
 * HELLO body, 16 bytes: u32 magic, u16 version, u16 flags (0), u32 block,
 * u32 window (v2, receiver's HELLO only: entries in flight it allows; 0
 * otherwise).
 */
#define ZC_HELLO_LEN		16
struct zc_hello {
	uint32_t	magic;
	uint16_t	version;
	uint32_t	block;
	uint32_t	window;
};

/*
 * FILE body, 24 bytes + name + dest: u64 size, u32 mode, u32 digest alg,
 * u16 name_len, u16 dest_len, u32 0; then the name (no NUL), then the
 * destination name (empty: the default destination).
 */
#define ZC_FILE_LEN		24
struct zc_file {
	uint64_t	size;
	uint32_t	mode;
	uint32_t	digest_alg;
	uint16_t	name_len;	/* as sent; may exceed ZC_NAME_MAX */
	uint16_t	dest_len;	/* as sent; may exceed ZC_DEST_MAX */
	char		name[ZC_NAME_MAX + 1];	/* first ZC_NAME_MAX bytes */
	char		dest[ZC_DEST_MAX + 1];
};

/*
 * ENTRY body (v2), 64 bytes + path + dest + extra:
 *	u64 id, u64 size, u32 mode, u8 kind, u8 digest alg, u16 flags,
 *	i64 mtime seconds, u32 mtime nanoseconds, u16 path_len,
 *	u16 dest_len, u32 extra_len, u32 chunk (v4 STRIPED: the chunk
 *	size; else 0), digest[16] (inline: the
 *	sender's digest of the content; else zero); then the path (relative,
 *	'/'-separated, no NUL), the destination name, and extra: a symlink's
 *	target, or an inline file's content.
 */
#define ZC_ENTRY_LEN		64
#define ZC_ENTRY_MAX		(ZC_ENTRY_LEN + ZC_PATH_MAX + ZC_DEST_MAX + \
				    ZC_INLINE_MAX)
enum zc_kind {
	ZC_K_FILE = 0,		/* regular file */
	ZC_K_DIR = 1,		/* directory: after its contents */
	ZC_K_SYMLINK = 2,	/* symbolic link, target in extra */
};
#define ZC_K_MAX		ZC_K_SYMLINK
#define ZC_EF_WAIT		0x0001	/* R answers ACCEPT before DATA */
#define ZC_EF_INLINE		0x0002	/* content in extra; no DATA, END */
#define ZC_EF_STREAM		0x0004	/* v3: size unknown; EOS, not END */
#define ZC_EF_STRIPED		0x0008	/* v4: payload in CHUNKs, with WAIT */
#define ZC_EF_RESUME		0x0010	/* v5: with STRIPED: R keeps what
					   it has; ACCEPT says what it needs */
#define ZC_EF_ALL		(ZC_EF_WAIT | ZC_EF_INLINE | ZC_EF_STREAM | \
				    ZC_EF_STRIPED | ZC_EF_RESUME)
#define ZC_SIZE_UNKNOWN		UINT64_MAX	/* a stream's size, if not
						   announced */
struct zc_entry {
	uint64_t	 id;
	uint64_t	 size;
	uint32_t	 mode;
	uint8_t		 kind;
	uint8_t		 digest_alg;
	uint16_t	 flags;
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	uint16_t	 path_len;
	uint16_t	 dest_len;
	uint32_t	 extra_len;
	uint32_t	 chunk;		/* v4 STRIPED: chunk size; else 0 */
	uint8_t		 digest[ZC_DIGEST_LEN];
	const char	*path;		/* into the body, not NUL-terminated */
	const char	*dest;		/* likewise */
	const uint8_t	*extra;		/* likewise */
};

/*
 * Version 4, striping.  SESSION body (R->S), 32 bytes: session id[16],
 * token[16] (zero in the answer to JOIN).  JOIN body (S->R), 32 bytes:
 * session id[16], token[16].  CHUNK body (S->R), 24 bytes: u64 id (the
 * striped entry's), u64 offset (a multiple of the chunk size), u64 length
 * (the chunk size, or what is left of the file for the last chunk); the
 * chunk's DATA records follow, from offset, ascending, without gaps.
 */
#define ZC_SESSION_ID_LEN	16
#define ZC_TOKEN_LEN		16
#define ZC_SESSION_LEN		(ZC_SESSION_ID_LEN + ZC_TOKEN_LEN)
#define ZC_JOIN_LEN		ZC_SESSION_LEN
#define ZC_CHUNK_LEN		24
#define ZC_CHUNK_MIN		(1U << 20)	/* chunk size bounds, powers */
#define ZC_CHUNK_MAX		(1U << 28)	/* of two */
#define ZC_CHUNK_DEFAULT	(16U << 20)
#define ZC_CHUNKS_MAX		65536		/* chunks in one file */
#define ZC_STRIPED_MAX		16		/* striped files in flight (no
						   RESULT yet) per session */
struct zc_chunk {
	uint64_t	id;
	uint64_t	offset;
	uint64_t	length;
};

/*
 * ACCEPT body, 16 bytes: u64 offset to send from (0 today), u64 id (v2).
 * Version 5, for a RESUME entry of n chunks: then the need bitmap,
 * ceil(n / 8) bytes, bit k (byte k / 8, value 1 << k % 8) set when the
 * receiver needs chunk k; bits past n are zero.
 */
#define ZC_ACCEPT_LEN		16
#define ZC_RESUME_CHUNKS_MAX	16384		/* chunks of a RESUME entry */
#define ZC_NEED_MAX		(ZC_RESUME_CHUNKS_MAX / 8)	/* bitmap */

/*
 * END body, 32 bytes: u32 digest alg, u32 0, u64 id (v2; 0 in v1),
 * digest[16]
 */
#define ZC_END_LEN		32
struct zc_end {
	uint32_t	digest_alg;
	uint64_t	id;
	uint8_t		digest[ZC_DIGEST_LEN];
	uint64_t	size;		/* EOS only: the stream's final size */
};

/*
 * EOS body (v3), 40 bytes: END's 32 bytes (u32 digest alg, u32 0, u64 id,
 * digest[16]), then u64 size: the bytes the stream carried.
 */
#define ZC_EOS_LEN		40

/*
 * RESULT body, 40 bytes + message: u16 code, u16 msg_len, u32 digest alg,
 * u64 bytes landed, u64 id (v2; 0 in v1), digest[16]; then msg_len bytes
 * of message.
 */
#define ZC_RESULT_LEN		40
struct zc_result {
	uint16_t	code;
	uint32_t	digest_alg;
	uint64_t	bytes;
	uint64_t	id;
	uint8_t		digest[ZC_DIGEST_LEN];
	char		msg[ZC_MSG_MAX + 1];
};

/* ERROR body, 8 bytes + message: u16 code, u16 msg_len, u32 0; message. */
#define ZC_ERROR_LEN		8
struct zc_error {
	uint16_t	code;
	char		msg[ZC_MSG_MAX + 1];
};

/*
 * Key authentication, for a destination with a key_file.  After FILE:
 *	R: CHALLENGE (32-byte nonce_r)
 *	S: AUTH (32-byte nonce_s, then mac_s)
 *	R: AUTHOK (mac_r), then ACCEPT or RESULT as usual;
 *	   or RESULT "denied" "authentication failed", and the connection closes.
 * mac_s = HMAC-SHA256(key, "zcrecvd-v1 sender\0" nonce_r nonce_s dest "\0")
 * mac_r = HMAC-SHA256(key, "zcrecvd-v1 receiver\0" nonce_s nonce_r dest "\0")
 * dest is the destination's name ("default" for the default one).  A
 * connection authenticated for a destination is not challenged again for it.
 */
#define ZC_NONCE_LEN		32
#define ZC_MAC_LEN		32
#define ZC_CHALLENGE_LEN	ZC_NONCE_LEN
#define ZC_AUTH_LEN		(ZC_NONCE_LEN + ZC_MAC_LEN)
#define ZC_AUTHOK_LEN		ZC_MAC_LEN
#define ZC_KEY_MIN		16
#define ZC_KEY_MAX		1024

struct zc_key {
	uint8_t		key[ZC_KEY_MAX];
	size_t		len;
};

/* auth.c */
void		 auth_init(void);
void		 auth_nonce(uint8_t *);
void		 auth_mac(const struct zc_key *, int, const uint8_t *,
		     const uint8_t *, const char *, uint8_t *);
int		 auth_equal(const uint8_t *, const uint8_t *);
void		 auth_random(uint8_t *, size_t);
int		 auth_token_equal(const uint8_t *, const uint8_t *, size_t);
int		 auth_key_load(const char *, struct zc_key *, int, char **);

/* proto.c */
const char	*proto_type_name(unsigned int);
const char	*proto_code_name(unsigned int);
void		 proto_hdr_encode(uint8_t *, uint16_t, uint32_t, uint64_t);
int		 proto_hdr_decode(const uint8_t *, struct zc_hdr *, char **);
size_t		 proto_hello_encode(uint8_t *, size_t, uint16_t, uint32_t);
int		 proto_hello_decode(const uint8_t *, size_t, struct zc_hello *,
		     char **);
size_t		 proto_file_encode(uint8_t *, size_t, const struct zc_file *);
int		 proto_file_decode(const uint8_t *, size_t, struct zc_file *,
		     char **);
size_t		 proto_entry_encode(uint8_t *, size_t, const struct zc_entry *);
int		 proto_entry_decode(const uint8_t *, size_t, struct zc_entry *,
		     char **);
int		 proto_path_check(const char *, size_t, char **);
size_t		 proto_accept_encode(uint8_t *, size_t, uint64_t, uint64_t);
int		 proto_accept_decode(const uint8_t *, size_t, uint64_t *,
		     uint64_t *, char **);
size_t		 proto_need_len(uint64_t);
size_t		 proto_accept_need_encode(uint8_t *, size_t, uint64_t,
		     const uint8_t *, uint64_t);
int		 proto_accept_need_decode(const uint8_t *, size_t, uint64_t,
		     uint64_t *, uint8_t *, char **);
size_t		 proto_end_encode(uint8_t *, size_t, const struct zc_end *);
int		 proto_end_decode(const uint8_t *, size_t, struct zc_end *,
		     char **);
size_t		 proto_eos_encode(uint8_t *, size_t, const struct zc_end *);
int		 proto_eos_decode(const uint8_t *, size_t, struct zc_end *,
		     char **);
size_t		 proto_result_encode(uint8_t *, size_t,
		     const struct zc_result *);
int		 proto_result_decode(const uint8_t *, size_t,
		     struct zc_result *, char **);
size_t		 proto_error_encode(uint8_t *, size_t, uint16_t, const char *);
int		 proto_error_decode(const uint8_t *, size_t, struct zc_error *,
		     char **);
int		 proto_name_check(const char *, size_t, char **);
int		 proto_dest_check(const char *, size_t, char **);
void		 proto_digest_hex(const uint8_t *, char *);
size_t		 proto_chunk_encode(uint8_t *, size_t, const struct zc_chunk *);
int		 proto_chunk_decode(const uint8_t *, size_t, struct zc_chunk *,
		     char **);
int		 proto_chunk_size_ok(uint64_t);
uint64_t	 proto_chunk_count(uint64_t, uint32_t);
int		 proto_chunk_fits(uint64_t, uint32_t, const struct zc_chunk *,
		     uint64_t *, char **);
size_t		 proto_blob_encode(uint8_t *, size_t, uint16_t, const uint8_t *,
		     size_t, const uint8_t *, size_t);

#define ZC_DIGEST_HEXLEN	(ZC_DIGEST_LEN * 2 + 1)

#endif /* ZCPROTO_H */
