/*
 * fuzz_proto.c -- libFuzzer target: the record codec.
 *
 * The first 16 bytes are a record header, the rest its body.  Whatever
 * the header decoder accepts is handed to the body decoder for its type,
 * exactly as the daemon does; any body that decodes is encoded again and
 * must decode to the same thing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "zcproto.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Decode a FILE body; re-encode what decoded and compare. */
static void
fuzz_file(const uint8_t *b, size_t len)
{
	struct zc_file	 f, g;
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	struct zc_hdr	 h;
	char		*cause = NULL;
	size_t		 n;

	if (proto_file_decode(b, len, &f, &cause) == -1) {
		free(cause);
		return;
	}
	(void)proto_name_check(f.name, f.name_len, &cause);
	free(cause);
	cause = NULL;
	(void)proto_dest_check(f.dest, f.dest_len, &cause);
	free(cause);
	cause = NULL;
	if (f.name_len > ZC_NAME_MAX || f.dest_len > ZC_DEST_MAX ||
	    strlen(f.name) != f.name_len || strlen(f.dest) != f.dest_len ||
	    f.name_len == 0)
		return;		/* not something an encoder produces */
	n = proto_file_encode(buf, sizeof(buf), &f);
	if (proto_hdr_decode(buf, &h, &cause) == -1 ||
	    proto_file_decode(buf + ZC_HDR_LEN, n - ZC_HDR_LEN, &g,
	    &cause) == -1 || g.size != f.size || g.mode != f.mode ||
	    strcmp(g.name, f.name) != 0 || strcmp(g.dest, f.dest) != 0)
		abort();
}

/* ENTRY: decode; judge the path and destination as the daemon does. */
static void
fuzz_entry(const uint8_t *b, size_t len)
{
	struct zc_entry	 en;
	char		*cause = NULL;

	if (proto_entry_decode(b, len, &en, &cause) == 0) {
		if (proto_path_check(en.path, en.path_len, &cause) == -1) {
			free(cause);
			cause = NULL;
		}
		(void)proto_dest_check(en.dest, en.dest_len, &cause);
	}
	free(cause);
}

/*
 * CHUNK (version 4): decode; place it on the grid of a file whose size and
 * chunk size come from the chunk itself, as extremes a daemon may hold.
 */
static void
fuzz_chunk(const uint8_t *b, size_t len)
{
	struct zc_chunk	 ch;
	uint64_t	 idx;
	char		*cause = NULL;

	if (proto_chunk_decode(b, len, &ch, &cause) == 0) {
		if (proto_chunk_fits(ch.offset + ch.length, ZC_CHUNK_MIN, &ch,
		    &idx, &cause) == -1) {
			free(cause);
			cause = NULL;
		}
		(void)proto_chunk_fits(UINT64_MAX, ZC_CHUNK_MAX, &ch, &idx,
		    &cause);
	}
	free(cause);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zc_hdr		 h;
	struct zc_hello		 hello;
	struct zc_end		 end;
	struct zc_result	 r;
	struct zc_error		 e;
	uint64_t		 off, id;
	char			*cause = NULL;
	const uint8_t		*b = data + ZC_HDR_LEN;
	size_t			 len;

	if (size < ZC_HDR_LEN)
		return (0);
	if (proto_hdr_decode(data, &h, &cause) == -1) {
		free(cause);
		return (0);
	}
	/* The daemon reads exactly h.len body bytes, never more. */
	if (h.len > size - ZC_HDR_LEN || h.type == ZC_T_DATA)
		return (0);
	len = h.len;
	switch (h.type) {
	case ZC_T_HELLO:
		(void)proto_hello_decode(b, len, &hello, &cause);
		break;
	case ZC_T_FILE:
		fuzz_file(b, len);
		break;
	case ZC_T_ACCEPT:
		(void)proto_accept_decode(b, len, &off, &id, &cause);
		break;
	case ZC_T_END:
		(void)proto_end_decode(b, len, &end, &cause);
		break;
	case ZC_T_RESULT:
		(void)proto_result_decode(b, len, &r, &cause);
		break;
	case ZC_T_ERROR:
		(void)proto_error_decode(b, len, &e, &cause);
		break;
	case ZC_T_ENTRY:
		fuzz_entry(b, len);
		break;
	case ZC_T_CHUNK:
		fuzz_chunk(b, len);
		break;
	}
	free(cause);
	return (0);
}
