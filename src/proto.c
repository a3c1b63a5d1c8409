/*
 * proto.c -- encode and decode zcrecvd protocol records.
 *
 * Every length is checked here before anything is read: the header decoder
 * bounds the body length by record type, and each body decoder checks that
 * its variable parts add up to exactly the body it was given.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zcproto.h"
#include "util.h"

/* Every record type: its name and the bounds of its body length. */
static const struct {
	const char	*name;
	uint32_t	 min, max;
} types[] = {
	[0] = { "none", 0, 0 },
	[ZC_T_HELLO] = { "HELLO", ZC_HELLO_LEN, ZC_HELLO_LEN },
	[ZC_T_FILE] = { "FILE", ZC_FILE_LEN + 1,
	    ZC_FILE_LEN + ZC_NAME_MAX + ZC_DEST_MAX },
	[ZC_T_ACCEPT] = { "ACCEPT", ZC_ACCEPT_LEN, ZC_ACCEPT_LEN + ZC_NEED_MAX },
	[ZC_T_DATA] = { "DATA", 1, ZC_DATA_MAX },
	[ZC_T_END] = { "END", ZC_END_LEN, ZC_END_LEN },
	[ZC_T_RESULT] = { "RESULT", ZC_RESULT_LEN, ZC_RESULT_LEN + ZC_MSG_MAX },
	[ZC_T_ERROR] = { "ERROR", ZC_ERROR_LEN, ZC_ERROR_LEN + ZC_MSG_MAX },
	[ZC_T_CHALLENGE] = { "CHALLENGE", ZC_CHALLENGE_LEN, ZC_CHALLENGE_LEN },
	[ZC_T_AUTH] = { "AUTH", ZC_AUTH_LEN, ZC_AUTH_LEN },
	[ZC_T_AUTHOK] = { "AUTHOK", ZC_AUTHOK_LEN, ZC_AUTHOK_LEN },
	[ZC_T_ENTRY] = { "ENTRY", ZC_ENTRY_LEN + 1, ZC_ENTRY_MAX },
	[ZC_T_EOS] = { "EOS", ZC_EOS_LEN, ZC_EOS_LEN },
	[ZC_T_SESSION] = { "SESSION", ZC_SESSION_LEN, ZC_SESSION_LEN },
	[ZC_T_JOIN] = { "JOIN", ZC_JOIN_LEN, ZC_JOIN_LEN },
	[ZC_T_CHUNK] = { "CHUNK", ZC_CHUNK_LEN, ZC_CHUNK_LEN },
};

static const char *code_names[] = {
	"ok", "protocol", "version", "name", "exists", "destination", "io",
	"digest", "size", "nospace", "denied", "timeout", "internal",
	"shutdown"
};

/* Return the name of a record type for messages. */
const char *
proto_type_name(unsigned int type)
{
	if (type > ZC_T_MAX)
		return ("unknown");
	return (types[type].name);
}

/* Return the short name of a result code (used in logs and JSON). */
const char *
proto_code_name(unsigned int code)
{
	if (code > ZC_E_MAX)
		return ("unknown");
	return (code_names[code]);
}

/* Write a record header. */
void
proto_hdr_encode(uint8_t *p, uint16_t type, uint32_t len, uint64_t arg)
{
	util_put16(p, type);
	util_put16(p + 2, 0);
	util_put32(p + 4, len);
	util_put64(p + 8, arg);
}

/*
 * Decode and bound a record header.  After this the body length is known to
 * be legal for the type, so the caller may read exactly that many bytes.
 */
int
proto_hdr_decode(const uint8_t *p, struct zc_hdr *h, char **cause)
{
	uint32_t	min, max;

	h->type = util_get16(p);
	h->flags = util_get16(p + 2);
	h->len = util_get32(p + 4);
	h->arg = util_get64(p + 8);

	if (h->type == 0 || h->type > ZC_T_MAX) {
		*cause = xasprintf("unknown record type %u", h->type);
		return (-1);
	}
	if (h->flags != 0) {
		*cause = xasprintf("%s record with flags %#x",
		    proto_type_name(h->type), h->flags);
		return (-1);
	}
	if (h->type != ZC_T_DATA && h->arg != 0) {
		*cause = xasprintf("%s record with nonzero argument",
		    proto_type_name(h->type));
		return (-1);
	}
	if (h->type == ZC_T_DATA && h->arg % ZC_BLOCK != 0) {
		*cause = xasprintf("DATA offset %llu not a multiple of %u",
		    (unsigned long long)h->arg, ZC_BLOCK);
		return (-1);
	}
	min = types[h->type].min;
	max = types[h->type].max;
	if (h->len < min || h->len > max) {
		*cause = xasprintf("%s record length %u out of range %u-%u",
		    proto_type_name(h->type), h->len, min, max);
		return (-1);
	}
	return (0);
}

/*
 * Encode a HELLO record for version (the window only in a receiver's
 * version 2 HELLO, else 0); returns the record length.
 */
size_t
proto_hello_encode(uint8_t *p, size_t size, uint16_t version,
    uint32_t window)
{
	if (size < ZC_HDR_LEN + ZC_HELLO_LEN)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_HELLO, ZC_HELLO_LEN, 0);
	p += ZC_HDR_LEN;
	util_put32(p, ZC_PROTO_MAGIC);
	util_put16(p + 4, version);
	util_put16(p + 6, 0);
	util_put32(p + 8, ZC_BLOCK);
	util_put32(p + 12, window);
	return (ZC_HDR_LEN + ZC_HELLO_LEN);
}

/*
 * Decode a HELLO body.  Magic and block size must match; the version is
 * returned for the caller to judge, so it can answer with ZC_E_VERSION.
 */
int
proto_hello_decode(const uint8_t *p, size_t len, struct zc_hello *hello,
    char **cause)
{
	if (len != ZC_HELLO_LEN) {
		*cause = xasprintf("HELLO length %zu", len);
		return (-1);
	}
	hello->magic = util_get32(p);
	hello->version = util_get16(p + 4);
	hello->block = util_get32(p + 8);
	hello->window = util_get32(p + 12);
	if (hello->magic != ZC_PROTO_MAGIC) {
		*cause = xasprintf("bad magic %#x: not a zcsend peer",
		    hello->magic);
		return (-1);
	}
	if (util_get16(p + 6) != 0 || (hello->version < ZC_PROTO_V2 &&
	    hello->window != 0)) {
		*cause = xasprintf("HELLO reserved fields not zero");
		return (-1);
	}
	if (hello->block != ZC_BLOCK) {
		*cause = xasprintf("block size %u, expected %u", hello->block,
		    ZC_BLOCK);
		return (-1);
	}
	return (0);
}

/* Encode a FILE record; returns the record length. */
size_t
proto_file_encode(uint8_t *p, size_t size, const struct zc_file *f)
{
	size_t	nlen = strlen(f->name), dlen = strlen(f->dest);
	size_t	blen = ZC_FILE_LEN + nlen + dlen;

	if (nlen > ZC_NAME_MAX || dlen > ZC_DEST_MAX ||
	    size < ZC_HDR_LEN + blen)
		fatalx("%s: name too long or buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_FILE, blen, 0);
	p += ZC_HDR_LEN;
	util_put64(p, f->size);
	util_put32(p + 8, f->mode);
	util_put32(p + 12, f->digest_alg);
	util_put16(p + 16, nlen);
	util_put16(p + 18, dlen);
	util_put32(p + 20, 0);
	memcpy(p + ZC_FILE_LEN, f->name, nlen);
	memcpy(p + ZC_FILE_LEN + nlen, f->dest, dlen);
	return (ZC_HDR_LEN + blen);
}

/*
 * Decode a FILE body.  The record is well-formed when its two lengths add
 * up to the body; the name and destination are only copied out here, not
 * judged (a name that is too long or holds a NUL is a refused file, not a
 * broken connection): proto_name_check() and proto_dest_check() do that
 * with name_len and dest_len, on at most the first ZC_NAME_MAX and
 * ZC_DEST_MAX bytes, which is all the judging needs.
 */
int
proto_file_decode(const uint8_t *p, size_t len, struct zc_file *f,
    char **cause)
{
	size_t	n;

	if (len < ZC_FILE_LEN) {
		*cause = xasprintf("FILE length %zu too short", len);
		return (-1);
	}
	f->size = util_get64(p);
	f->mode = util_get32(p + 8);
	f->digest_alg = util_get32(p + 12);
	f->name_len = util_get16(p + 16);
	f->dest_len = util_get16(p + 18);
	if (util_get32(p + 20) != 0) {
		*cause = xasprintf("FILE reserved field not zero");
		return (-1);
	}
	if ((size_t)ZC_FILE_LEN + f->name_len + f->dest_len != len) {
		*cause = xasprintf("FILE lengths %u+%u do not match record "
		    "length %zu", f->name_len, f->dest_len, len);
		return (-1);
	}
	if (f->digest_alg > ZC_DIGEST_XXH3_128) {
		*cause = xasprintf("unknown digest algorithm %u",
		    f->digest_alg);
		return (-1);
	}
	n = f->name_len < ZC_NAME_MAX ? f->name_len : ZC_NAME_MAX;
	memcpy(f->name, p + ZC_FILE_LEN, n);
	f->name[n] = '\0';
	n = f->dest_len < ZC_DEST_MAX ? f->dest_len : ZC_DEST_MAX;
	memcpy(f->dest, p + ZC_FILE_LEN + f->name_len, n);
	f->dest[n] = '\0';
	return (0);
}

/*
 * Encode an ENTRY record; returns the record length.  The lengths in e
 * must be within the protocol's limits (the caller's bug otherwise).
 */
size_t
proto_entry_encode(uint8_t *p, size_t size, const struct zc_entry *e)
{
	size_t	blen = ZC_ENTRY_LEN + e->path_len + e->dest_len + e->extra_len;

	if (e->path_len > ZC_PATH_MAX || e->dest_len > ZC_DEST_MAX ||
	    e->extra_len > ZC_INLINE_MAX || size < ZC_HDR_LEN + blen)
		fatalx("%s: entry too long or buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_ENTRY, blen, 0);
	p += ZC_HDR_LEN;
	util_put64(p, e->id);
	util_put64(p + 8, e->size);
	util_put32(p + 16, e->mode);
	p[20] = e->kind;
	p[21] = e->digest_alg;
	util_put16(p + 22, e->flags);
	util_put64(p + 24, (uint64_t)e->mtime_sec);
	util_put32(p + 32, e->mtime_nsec);
	util_put16(p + 36, e->path_len);
	util_put16(p + 38, e->dest_len);
	util_put32(p + 40, e->extra_len);
	util_put32(p + 44, e->chunk);
	memcpy(p + 48, e->digest, ZC_DIGEST_LEN);
	p += ZC_ENTRY_LEN;
	memcpy(p, e->path, e->path_len);
	memcpy(p + e->path_len, e->dest, e->dest_len);
	if (e->extra_len > 0)
		memcpy(p + e->path_len + e->dest_len, e->extra, e->extra_len);
	return (ZC_HDR_LEN + blen);
}

/* Is n a chunk size of version 4: a power of two within the bounds? */
int
proto_chunk_size_ok(uint64_t n)
{
	return (n >= ZC_CHUNK_MIN && n <= ZC_CHUNK_MAX && (n & (n - 1)) == 0);
}

/* The chunks of a striped file of size bytes: the last one may be short. */
uint64_t
proto_chunk_count(uint64_t size, uint32_t chunk)
{
	return (size / chunk + (size % chunk != 0));
}

/* What an entry of its kind and flags must look like, or NULL. */
static const char *
proto_entry_shape(const struct zc_entry *e)
{
	if (e->kind > ZC_K_MAX)
		return ("unknown entry kind");
	if (e->flags & ~ZC_EF_ALL)
		return ("unknown entry flags");
	if (e->digest_alg > ZC_DIGEST_XXH3_128)
		return ("unknown digest algorithm");
	if (e->mtime_nsec >= 1000000000U)
		return ("mtime nanoseconds out of range");
	if (e->path_len == 0 || e->path_len > ZC_PATH_MAX)
		return ("path length out of range");
	if (e->dest_len > ZC_DEST_MAX)
		return ("destination name too long");
	if (e->kind != ZC_K_FILE && (e->size != 0 ||
	    (e->flags & ~ZC_EF_WAIT) || e->digest_alg != ZC_DIGEST_NONE))
		return ("a directory or symlink with a size, a digest or "
		    "a flag but WAIT");
	if (e->kind == ZC_K_SYMLINK && (e->extra_len == 0 ||
	    e->extra_len > ZC_TARGET_MAX))
		return ("symlink target length out of range");
	if (e->kind == ZC_K_DIR && e->extra_len != 0)
		return ("a directory with extra bytes");
	if ((e->flags & ZC_EF_STREAM) && (e->kind != ZC_K_FILE ||
	    !(e->flags & ZC_EF_WAIT) || (e->flags & ZC_EF_INLINE)))
		return ("a stream that is not a file that waits");
	if ((e->flags & ZC_EF_STRIPED) && (e->kind != ZC_K_FILE ||
	    !(e->flags & ZC_EF_WAIT) || (e->flags & (ZC_EF_INLINE |
	    ZC_EF_STREAM))))
		return ("a striped entry that is not a file that waits");
	if ((e->flags & ZC_EF_STRIPED) && !proto_chunk_size_ok(e->chunk))
		return ("chunk size not a power of two from 1 MiB to 256 MiB");
	if ((e->flags & ZC_EF_RESUME) && (!(e->flags & ZC_EF_STRIPED) ||
	    e->digest_alg != ZC_DIGEST_XXH3_128))
		return ("a resumed entry that is not striped with a digest");
	if ((e->flags & ZC_EF_RESUME) && proto_chunk_count(e->size,
	    e->chunk) > ZC_RESUME_CHUNKS_MAX)
		return ("a resumed entry of more than 16384 chunks");
	if (e->kind == ZC_K_FILE && (e->flags & ZC_EF_INLINE)) {
		if (e->flags & ZC_EF_WAIT)
			return ("an inline file that waits");
		if (e->extra_len != e->size)
			return ("inline content length differs from size");
	} else if (e->kind == ZC_K_FILE && e->extra_len != 0)
		return ("extra bytes in a file that is not inline");
	return (NULL);
}

/*
 * Decode an ENTRY body.  The record is well-formed when its lengths add up
 * to the body and its kind, flags and lengths agree; path, dest and extra
 * then point into p.  The path is not judged here (proto_path_check()).
 */
int
proto_entry_decode(const uint8_t *p, size_t len, struct zc_entry *e,
    char **cause)
{
	const char	*why;

	if (len < ZC_ENTRY_LEN) {
		*cause = xasprintf("ENTRY length %zu too short", len);
		return (-1);
	}
	e->id = util_get64(p);
	e->size = util_get64(p + 8);
	e->mode = util_get32(p + 16);
	e->kind = p[20];
	e->digest_alg = p[21];
	e->flags = util_get16(p + 22);
	e->mtime_sec = (int64_t)util_get64(p + 24);
	e->mtime_nsec = util_get32(p + 32);
	e->path_len = util_get16(p + 36);
	e->dest_len = util_get16(p + 38);
	e->extra_len = util_get32(p + 40);
	e->chunk = util_get32(p + 44);
	if (e->chunk != 0 && !(e->flags & ZC_EF_STRIPED)) {
		*cause = xasprintf("ENTRY reserved field not zero");
		return (-1);
	}
	if (e->extra_len > ZC_INLINE_MAX || (size_t)ZC_ENTRY_LEN +
	    e->path_len + e->dest_len + e->extra_len != len) {
		*cause = xasprintf("ENTRY lengths %u+%u+%u do not match record "
		    "length %zu", e->path_len, e->dest_len, e->extra_len, len);
		return (-1);
	}
	if ((why = proto_entry_shape(e)) != NULL) {
		*cause = xasprintf("ENTRY %llu: %s",
		    (unsigned long long)e->id, why);
		return (-1);
	}
	memcpy(e->digest, p + 48, ZC_DIGEST_LEN);
	e->path = (const char *)p + ZC_ENTRY_LEN;
	e->dest = e->path + e->path_len;
	e->extra = (const uint8_t *)e->dest + e->dest_len;
	if (e->extra_len == 0)
		e->extra = NULL;
	return (0);
}

/* Encode an ACCEPT record (id 0 in version 1); returns the length. */
size_t
proto_accept_encode(uint8_t *p, size_t size, uint64_t offset, uint64_t id)
{
	if (size < ZC_HDR_LEN + ZC_ACCEPT_LEN)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_ACCEPT, ZC_ACCEPT_LEN, 0);
	util_put64(p + ZC_HDR_LEN, offset);
	util_put64(p + ZC_HDR_LEN + 8, id);
	return (ZC_HDR_LEN + ZC_ACCEPT_LEN);
}

/* Decode an ACCEPT body; the caller checks the id against its version. */
int
proto_accept_decode(const uint8_t *p, size_t len, uint64_t *offset,
    uint64_t *id, char **cause)
{
	if (len != ZC_ACCEPT_LEN) {
		*cause = xasprintf("malformed ACCEPT");
		return (-1);
	}
	*id = util_get64(p + 8);
	*offset = util_get64(p);
	if (*offset % ZC_BLOCK != 0) {
		*cause = xasprintf("ACCEPT offset %llu not block aligned",
		    (unsigned long long)*offset);
		return (-1);
	}
	return (0);
}

/* Bytes of the need bitmap of a file of n chunks (version 5). */
size_t
proto_need_len(uint64_t n)
{
	return (n / 8 + (n % 8 != 0));
}

/*
 * Encode an ACCEPT of version 5 for a RESUME entry of n chunks (at most
 * ZC_RESUME_CHUNKS_MAX): offset 0, id, the need bitmap; returns the length.
 */
size_t
proto_accept_need_encode(uint8_t *p, size_t size, uint64_t id,
    const uint8_t *need, uint64_t n)
{
	size_t	 nl = proto_need_len(n);

	if (n > ZC_RESUME_CHUNKS_MAX || size < ZC_HDR_LEN + ZC_ACCEPT_LEN + nl)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_ACCEPT, ZC_ACCEPT_LEN + nl, 0);
	util_put64(p + ZC_HDR_LEN, 0);
	util_put64(p + ZC_HDR_LEN + 8, id);
	memcpy(p + ZC_HDR_LEN + ZC_ACCEPT_LEN, need, nl);
	return (ZC_HDR_LEN + ZC_ACCEPT_LEN + nl);
}

/*
 * Decode the ACCEPT of a RESUME entry of n chunks: offset 0, the id into
 * *id, the bitmap into need (proto_need_len(n) bytes).  Its length must be
 * exactly that of n chunks and no bit past n may be set.
 */
int
proto_accept_need_decode(const uint8_t *p, size_t len, uint64_t n,
    uint64_t *id, uint8_t *need, char **cause)
{
	size_t	 nl = proto_need_len(n);

	if (n > ZC_RESUME_CHUNKS_MAX || len != ZC_ACCEPT_LEN + nl ||
	    util_get64(p) != 0) {
		*cause = xasprintf("malformed ACCEPT for a resumed file of "
		    "%llu chunks (length %zu)", (unsigned long long)n, len);
		return (-1);
	}
	*id = util_get64(p + 8);
	memcpy(need, p + ZC_ACCEPT_LEN, nl);
	if (n % 8 != 0 && (need[nl - 1] >> (n % 8)) != 0) {
		*cause = xasprintf("ACCEPT needs chunks past the last");
		return (-1);
	}
	return (0);
}

/* Encode an END record; returns the record length. */
size_t
proto_end_encode(uint8_t *p, size_t size, const struct zc_end *e)
{
	if (size < ZC_HDR_LEN + ZC_END_LEN)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_END, ZC_END_LEN, 0);
	p += ZC_HDR_LEN;
	util_put32(p, e->digest_alg);
	util_put32(p + 4, 0);
	util_put64(p + 8, e->id);
	memcpy(p + 16, e->digest, ZC_DIGEST_LEN);
	return (ZC_HDR_LEN + ZC_END_LEN);
}

/* Encode an EOS record (version 3): END's fields and the final size. */
size_t
proto_eos_encode(uint8_t *p, size_t size, const struct zc_end *e)
{
	if (size < ZC_HDR_LEN + ZC_EOS_LEN)
		fatalx("%s: buffer too small", __func__);
	proto_end_encode(p, size, e);
	proto_hdr_encode(p, ZC_T_EOS, ZC_EOS_LEN, 0);
	util_put64(p + ZC_HDR_LEN + ZC_END_LEN, e->size);
	return (ZC_HDR_LEN + ZC_EOS_LEN);
}

/* Decode an EOS body; the caller checks id and size against the stream. */
int
proto_eos_decode(const uint8_t *p, size_t len, struct zc_end *e,
    char **cause)
{
	if (len != ZC_EOS_LEN ||
	    proto_end_decode(p, ZC_END_LEN, e, cause) == -1) {
		if (len != ZC_EOS_LEN)
			*cause = xasprintf("malformed EOS");
		return (-1);
	}
	e->size = util_get64(p + ZC_END_LEN);
	return (0);
}

/* Decode an END body; the caller checks the id against its version. */
int
proto_end_decode(const uint8_t *p, size_t len, struct zc_end *e, char **cause)
{
	e->size = 0;
	if (len != ZC_END_LEN || util_get32(p + 4) != 0) {
		*cause = xasprintf("malformed END");
		return (-1);
	}
	e->id = util_get64(p + 8);
	e->digest_alg = util_get32(p);
	if (e->digest_alg > ZC_DIGEST_XXH3_128) {
		*cause = xasprintf("unknown digest algorithm %u",
		    e->digest_alg);
		return (-1);
	}
	memcpy(e->digest, p + 16, ZC_DIGEST_LEN);
	return (0);
}

/* Encode a RESULT record; the message is cut at ZC_MSG_MAX. */
size_t
proto_result_encode(uint8_t *p, size_t size, const struct zc_result *r)
{
	size_t	mlen = strnlen(r->msg, ZC_MSG_MAX);

	if (size < ZC_HDR_LEN + ZC_RESULT_LEN + mlen)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_RESULT, ZC_RESULT_LEN + mlen, 0);
	p += ZC_HDR_LEN;
	util_put16(p, r->code);
	util_put16(p + 2, mlen);
	util_put32(p + 4, r->digest_alg);
	util_put64(p + 8, r->bytes);
	util_put64(p + 16, r->id);
	memcpy(p + 24, r->digest, ZC_DIGEST_LEN);
	memcpy(p + ZC_RESULT_LEN, r->msg, mlen);
	return (ZC_HDR_LEN + ZC_RESULT_LEN + mlen);
}

/* Decode a RESULT body. */
int
proto_result_decode(const uint8_t *p, size_t len, struct zc_result *r,
    char **cause)
{
	uint16_t	mlen;

	if (len < ZC_RESULT_LEN) {
		*cause = xasprintf("RESULT length %zu too short", len);
		return (-1);
	}
	r->code = util_get16(p);
	mlen = util_get16(p + 2);
	r->digest_alg = util_get32(p + 4);
	r->bytes = util_get64(p + 8);
	if (mlen > ZC_MSG_MAX || (size_t)ZC_RESULT_LEN + mlen != len) {
		*cause = xasprintf("RESULT message length %u does not match "
		    "record length %zu", mlen, len);
		return (-1);
	}
	r->id = util_get64(p + 16);
	if (r->digest_alg > ZC_DIGEST_XXH3_128) {
		*cause = xasprintf("malformed RESULT");
		return (-1);
	}
	memcpy(r->digest, p + 24, ZC_DIGEST_LEN);
	memcpy(r->msg, p + ZC_RESULT_LEN, mlen);
	r->msg[mlen] = '\0';
	return (0);
}

/* Encode an ERROR record; the message is cut at ZC_MSG_MAX. */
size_t
proto_error_encode(uint8_t *p, size_t size, uint16_t code, const char *msg)
{
	size_t	mlen = strnlen(msg, ZC_MSG_MAX);

	if (size < ZC_HDR_LEN + ZC_ERROR_LEN + mlen)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_ERROR, ZC_ERROR_LEN + mlen, 0);
	p += ZC_HDR_LEN;
	util_put16(p, code);
	util_put16(p + 2, mlen);
	util_put32(p + 4, 0);
	memcpy(p + ZC_ERROR_LEN, msg, mlen);
	return (ZC_HDR_LEN + ZC_ERROR_LEN + mlen);
}

/* Decode an ERROR body. */
int
proto_error_decode(const uint8_t *p, size_t len, struct zc_error *e,
    char **cause)
{
	uint16_t	mlen;

	if (len < ZC_ERROR_LEN) {
		*cause = xasprintf("ERROR length %zu too short", len);
		return (-1);
	}
	e->code = util_get16(p);
	mlen = util_get16(p + 2);
	if (mlen > ZC_MSG_MAX || (size_t)ZC_ERROR_LEN + mlen != len ||
	    util_get32(p + 4) != 0) {
		*cause = xasprintf("malformed ERROR");
		return (-1);
	}
	memcpy(e->msg, p + ZC_ERROR_LEN, mlen);
	e->msg[mlen] = '\0';
	return (0);
}

/*
 * Judge a file name from the network.  Only a plain base name is legal: the
 * receiver resolves it in the destination directory and nowhere else.
 */
int
proto_name_check(const char *name, size_t len, char **cause)
{
	size_t	i;

	if (len == 0) {
		*cause = xasprintf("empty file name");
		return (-1);
	}
	if (len > ZC_NAME_MAX) {
		*cause = xasprintf("file name longer than %u bytes",
		    ZC_NAME_MAX);
		return (-1);
	}
	if (name[0] == '/') {
		*cause = xasprintf("absolute file name");
		return (-1);
	}
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.')) {
		*cause = xasprintf("file name is . or ..");
		return (-1);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (c == '\0') {
			*cause = xasprintf("file name contains NUL");
			return (-1);
		}
		if (c == '/') {
			*cause = xasprintf("file name contains /");
			return (-1);
		}
		if (c < 0x20 || c == 0x7f) {
			*cause = xasprintf("file name contains control "
			    "character %#x", c);
			return (-1);
		}
	}
	if (len >= 9 && memcmp(name, ".zcrecvd.", 9) == 0) {
		*cause = xasprintf("file name uses the reserved prefix "
		    ".zcrecvd.");
		return (-1);
	}
	return (0);
}

/*
 * Judge a path from an ENTRY (version 2): relative, '/'-separated, every
 * component a name proto_name_check() accepts (so no empty component, no
 * "." or "..", no control character, no staging prefix), at most
 * ZC_PATH_MAX bytes.  The receiver's own depth and length limits come on
 * top of this.
 */
int
proto_path_check(const char *path, size_t len, char **cause)
{
	const char	*p = path, *end = path + len, *slash;
	char		*why;
	int		 n;

	if (len == 0) {
		*cause = xasprintf("empty path");
		return (-1);
	}
	if (len > ZC_PATH_MAX) {
		*cause = xasprintf("path longer than %u bytes", ZC_PATH_MAX);
		return (-1);
	}
	if (path[0] == '/') {
		*cause = xasprintf("absolute path");
		return (-1);
	}
	for (n = 1;; n++) {
		if ((slash = memchr(p, '/', end - p)) == NULL)
			slash = end;
		if (slash == p) {
			*cause = xasprintf("path component %d is empty", n);
			return (-1);
		}
		if (proto_name_check(p, slash - p, &why) == -1) {
			*cause = xasprintf("path component %d: %s", n, why);
			free(why);
			return (-1);
		}
		if (slash == end)
			return (0);
		p = slash + 1;
	}
}

/* Judge a destination name: empty (default) or [A-Za-z0-9_.-]. */
int
proto_dest_check(const char *dest, size_t len, char **cause)
{
	size_t	i;

	if (len > ZC_DEST_MAX) {
		*cause = xasprintf("destination name longer than %u bytes",
		    ZC_DEST_MAX);
		return (-1);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = dest[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    (c == '.' && i > 0))
			continue;
		*cause = xasprintf("destination name contains %s",
		    c < 0x20 || c >= 0x7f ? "a control or non-ASCII byte" :
		    "a character other than A-Z a-z 0-9 _ - .");
		return (-1);
	}
	return (0);
}

/*
 * Encode a record whose body is fixed-size opaque bytes (CHALLENGE, AUTH,
 * AUTHOK): a, then b (may be NULL).  Returns the record length.
 */
size_t
proto_blob_encode(uint8_t *p, size_t size, uint16_t type, const uint8_t *a,
    size_t alen, const uint8_t *b, size_t blen)
{
	if (size < ZC_HDR_LEN + alen + blen)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, type, alen + blen, 0);
	memcpy(p + ZC_HDR_LEN, a, alen);
	if (b != NULL)
		memcpy(p + ZC_HDR_LEN + alen, b, blen);
	return (ZC_HDR_LEN + alen + blen);
}

/* Format a digest as 32 lowercase hex digits. */
void
proto_digest_hex(const uint8_t *d, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int		  i;

	for (i = 0; i < ZC_DIGEST_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[2 * ZC_DIGEST_LEN] = '\0';
}

/* Encode a CHUNK record (version 4); returns the record length. */
size_t
proto_chunk_encode(uint8_t *p, size_t size, const struct zc_chunk *ch)
{
	if (size < ZC_HDR_LEN + ZC_CHUNK_LEN)
		fatalx("%s: buffer too small", __func__);
	proto_hdr_encode(p, ZC_T_CHUNK, ZC_CHUNK_LEN, 0);
	util_put64(p + ZC_HDR_LEN, ch->id);
	util_put64(p + ZC_HDR_LEN + 8, ch->offset);
	util_put64(p + ZC_HDR_LEN + 16, ch->length);
	return (ZC_HDR_LEN + ZC_CHUNK_LEN);
}

/* Decode a CHUNK body; where it lies is judged by proto_chunk_fits(). */
int
proto_chunk_decode(const uint8_t *p, size_t len, struct zc_chunk *ch,
    char **cause)
{
	if (len != ZC_CHUNK_LEN) {
		*cause = xasprintf("malformed CHUNK");
		return (-1);
	}
	ch->id = util_get64(p);
	ch->offset = util_get64(p + 8);
	ch->length = util_get64(p + 16);
	return (0);
}

/*
 * Does chunk ch lie on the grid of a file of size bytes in chunks of
 * chunk bytes: its offset a multiple of chunk within the file, its length
 * exactly the chunk's (less at the end)?  Sets *idx, the chunk's number.
 */
int
proto_chunk_fits(uint64_t size, uint32_t chunk, const struct zc_chunk *ch,
    uint64_t *idx, char **cause)
{
	uint64_t	 want;

	if (chunk == 0 || ch->offset % chunk != 0 || ch->offset >= size) {
		*cause = xasprintf("CHUNK at %llu is not on the grid of %u-byte "
		    "chunks of a %llu-byte file",
		    (unsigned long long)ch->offset, chunk,
		    (unsigned long long)size);
		return (-1);
	}
	want = size - ch->offset < chunk ? size - ch->offset : chunk;
	if (ch->length != want) {
		*cause = xasprintf("CHUNK at %llu of %llu bytes: the chunk "
		    "there has %llu", (unsigned long long)ch->offset,
		    (unsigned long long)ch->length, (unsigned long long)want);
		return (-1);
	}
	*idx = ch->offset / chunk;
	return (0);
}
