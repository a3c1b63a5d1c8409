/*
 * test_proto.c -- record encode/decode, including every malformed length,
 * the file name and destination checks, and address parsing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "zcproto.h"
#include "util.h"
#include "unit.h"

/* Build a raw header. */
static void
raw_hdr(uint8_t *p, uint16_t type, uint16_t flags, uint32_t len, uint64_t arg)
{
	proto_hdr_encode(p, type, len, arg);
	p[2] = flags >> 8;
	p[3] = flags;
}

/* Decode a header; 0 if accepted. */
static int
hdr_ok(uint16_t type, uint16_t flags, uint32_t len, uint64_t arg)
{
	uint8_t		 buf[ZC_HDR_LEN];
	struct zc_hdr	 h;
	char		*cause = NULL;
	int		 r;

	raw_hdr(buf, type, flags, len, arg);
	r = proto_hdr_decode(buf, &h, &cause);
	if (r == 0)
		r = !(h.type == type && h.len == len && h.arg == arg);
	else
		r = cause == NULL ? 2 : -1;	/* failures must say why */
	free(cause);
	return (r);
}

/* Header bounds: each type's minimum and maximum, one either side. */
static void
test_header(void)
{
	static const struct {
		uint16_t type;
		uint32_t min, max;
	} t[] = {
		{ ZC_T_HELLO, ZC_HELLO_LEN, ZC_HELLO_LEN },
		{ ZC_T_FILE, ZC_FILE_LEN + 1, ZC_FILE_LEN + ZC_NAME_MAX +
		    ZC_DEST_MAX },
		{ ZC_T_ACCEPT, ZC_ACCEPT_LEN, ZC_ACCEPT_LEN + ZC_NEED_MAX },
		{ ZC_T_DATA, 1, ZC_DATA_MAX },
		{ ZC_T_END, ZC_END_LEN, ZC_END_LEN },
		{ ZC_T_RESULT, ZC_RESULT_LEN, ZC_RESULT_LEN + ZC_MSG_MAX },
		{ ZC_T_ERROR, ZC_ERROR_LEN, ZC_ERROR_LEN + ZC_MSG_MAX },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK(hdr_ok(t[i].type, 0, t[i].min, 0) == 0);
		CHECK(hdr_ok(t[i].type, 0, t[i].max, 0) == 0);
		CHECK(hdr_ok(t[i].type, 0, t[i].min - 1, 0) == -1);
		CHECK(hdr_ok(t[i].type, 0, t[i].max + 1, 0) == -1);
		CHECK(hdr_ok(t[i].type, 0, UINT32_MAX, 0) == -1);
		CHECK(hdr_ok(t[i].type, 0, 0, 0) == -1);
		CHECK(hdr_ok(t[i].type, 1, t[i].min, 0) == -1);
		CHECK(hdr_ok(t[i].type, 0x8000, t[i].min, 0) == -1);
		if (t[i].type != ZC_T_DATA) {
			CHECK(hdr_ok(t[i].type, 0, t[i].min, 1) == -1);
			CHECK(hdr_ok(t[i].type, 0, t[i].min, UINT64_MAX) == -1);
		}
	}
	/* Unknown types. */
	CHECK(hdr_ok(0, 0, 16, 0) == -1);
	CHECK(hdr_ok(ZC_T_MAX + 1, 0, 16, 0) == -1);
	CHECK(hdr_ok(0xffff, 0, 16, 0) == -1);
	/* DATA offsets must be block aligned, any size. */
	CHECK(hdr_ok(ZC_T_DATA, 0, ZC_BLOCK, 0) == 0);
	CHECK(hdr_ok(ZC_T_DATA, 0, ZC_BLOCK, ZC_BLOCK * 12345ULL) == 0);
	CHECK(hdr_ok(ZC_T_DATA, 0, ZC_BLOCK, 1ULL << 62) == 0);
	CHECK(hdr_ok(ZC_T_DATA, 0, ZC_BLOCK, 1) == -1);
	CHECK(hdr_ok(ZC_T_DATA, 0, ZC_BLOCK, ZC_BLOCK - 1) == -1);
	CHECK(hdr_ok(ZC_T_DATA, 0, ZC_BLOCK, UINT64_MAX) == -1);
	/* Names for messages. */
	CHECK(strcmp(proto_type_name(ZC_T_FILE), "FILE") == 0);
	CHECK(strcmp(proto_type_name(999), "unknown") == 0);
	CHECK(strcmp(proto_code_name(ZC_E_EXISTS), "exists") == 0);
	CHECK(strcmp(proto_code_name(ZC_E_SHUTDOWN), "shutdown") == 0);
	CHECK(strcmp(proto_code_name(999), "unknown") == 0);
}

/* HELLO round trip and each corruption. */
static void
test_hello(void)
{
	uint8_t		 buf[64], *b = buf + ZC_HDR_LEN;
	struct zc_hello	 h;
	struct zc_hdr	 hdr;
	char		*cause = NULL;

	CHECK(proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 0) ==
	    ZC_HDR_LEN + ZC_HELLO_LEN);
	CHECK(proto_hdr_decode(buf, &hdr, &cause) == 0);
	CHECK(hdr.type == ZC_T_HELLO && hdr.len == ZC_HELLO_LEN);
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN, &h, &cause) == 0);
	CHECK(h.magic == ZC_PROTO_MAGIC && h.version == ZC_PROTO_V1 &&
	    h.block == ZC_BLOCK);
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN - 1, &h, &cause) == -1);
	free(cause);
	cause = NULL;
	b[5] = 99;	/* version is returned, not judged */
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN, &h, &cause) == 0 &&
	    h.version == 99);
	b[0] ^= 0xff;	/* magic */
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN, &h, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "magic") != NULL);
	free(cause);
	cause = NULL;
	proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 0);
	b[10] = 0x20;	/* block size 8192 */
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN, &h, &cause) == -1);
	free(cause);
	cause = NULL;
	proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 0);
	b[15] = 1;	/* reserved */
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN, &h, &cause) == -1);
	free(cause);
}

/* FILE round trip, and lengths that do not add up. */
static void
test_file(void)
{
	uint8_t		 buf[ZC_HDR_LEN + ZC_CTL_MAX], *b = buf + ZC_HDR_LEN;
	struct zc_file	 f, g;
	struct zc_hdr	 h;
	char		*cause = NULL;
	size_t		 n;

	memset(&f, 0, sizeof(f));
	f.size = 123456789012ULL;
	f.mode = 0640;
	f.digest_alg = ZC_DIGEST_XXH3_128;
	strcpy(f.name, "data.bin");
	strcpy(f.dest, "backups");
	n = proto_file_encode(buf, sizeof(buf), &f);
	CHECK(n == ZC_HDR_LEN + ZC_FILE_LEN + 8 + 7);
	CHECK(proto_hdr_decode(buf, &h, &cause) == 0 && h.len == n - ZC_HDR_LEN);
	CHECK(proto_file_decode(b, h.len, &g, &cause) == 0);
	CHECK(g.size == f.size && g.mode == f.mode &&
	    g.digest_alg == f.digest_alg && strcmp(g.name, f.name) == 0 &&
	    strcmp(g.dest, f.dest) == 0);
	/* Body one byte short or long for the lengths inside. */
	CHECK(proto_file_decode(b, h.len - 1, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_file_decode(b, h.len + 1, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_file_decode(b, ZC_FILE_LEN - 1, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	/* name_len 0, 256, 0xffff; dest_len 65. */
	b[16] = 0; b[17] = 0;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	b[16] = 1; b[17] = 0;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	b[16] = 0xff; b[17] = 0xff;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	b[16] = 0; b[17] = 8; b[18] = 0; b[19] = 65;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	b[19] = 7;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == 0 &&
	    g.name_len == 8 && g.dest_len == 7);
	CHECK(proto_file_decode(b, h.len, &g, &cause) == 0);
	/* NUL inside the name: a well-formed record, a refused name. */
	b[ZC_FILE_LEN + 2] = '\0';
	CHECK(proto_file_decode(b, h.len, &g, &cause) == 0 &&
	    g.name_len == 8);
	CHECK(proto_name_check(g.name, g.name_len, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "NUL") != NULL);
	free(cause);
	cause = NULL;
	b[ZC_FILE_LEN + 2] = 't';
	/* unknown digest, reserved bits. */
	b[15] = 2;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	b[15] = 1;
	b[23] = 1;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == -1);
	free(cause);
	cause = NULL;
	b[23] = 0;
	CHECK(proto_file_decode(b, h.len, &g, &cause) == 0);
	/* A 256-byte name is a well-formed record with a refused name. */
	memset(b + ZC_FILE_LEN, 'n', 300);
	b[16] = 1; b[17] = 0; b[18] = 0; b[19] = 0;
	CHECK(proto_file_decode(b, ZC_FILE_LEN + 256, &g, &cause) == 0);
	CHECK(g.name_len == 256 && strlen(g.name) == ZC_NAME_MAX);
	CHECK(proto_name_check(g.name, g.name_len, &cause) == -1);
	free(cause);
	cause = NULL;
	/* Longest legal name and destination. */
	memset(f.name, 'n', ZC_NAME_MAX);
	f.name[ZC_NAME_MAX] = '\0';
	memset(f.dest, 'd', ZC_DEST_MAX);
	f.dest[ZC_DEST_MAX] = '\0';
	n = proto_file_encode(buf, sizeof(buf), &f);
	CHECK(proto_hdr_decode(buf, &h, &cause) == 0);
	CHECK(proto_file_decode(b, h.len, &g, &cause) == 0 &&
	    strlen(g.name) == ZC_NAME_MAX && strlen(g.dest) == ZC_DEST_MAX);
}

/* ACCEPT, END, RESULT and ERROR. */
static void
test_replies(void)
{
	uint8_t			 buf[ZC_HDR_LEN + ZC_CTL_MAX];
	uint8_t			*b = buf + ZC_HDR_LEN;
	struct zc_result	 r, r2;
	struct zc_error		 e;
	struct zc_end		 end, end2;
	struct zc_hdr		 h;
	uint64_t		 off, id;
	char			*cause = NULL, msg[ZC_MSG_MAX + 100];
	size_t			 n;

	proto_accept_encode(buf, sizeof(buf), 8192, 0);
	CHECK(proto_accept_decode(b, ZC_ACCEPT_LEN, &off, &id, &cause) == 0 &&
	    off == 8192 && id == 0);
	proto_accept_encode(buf, sizeof(buf), 4096, 77);
	CHECK(proto_accept_decode(b, ZC_ACCEPT_LEN, &off, &id, &cause) == 0 &&
	    off == 4096 && id == 77);
	proto_accept_encode(buf, sizeof(buf), 100, 0);
	CHECK(proto_accept_decode(b, ZC_ACCEPT_LEN, &off, &id, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_accept_decode(b, ZC_ACCEPT_LEN + 1, &off, &id, &cause) ==
	    -1);
	free(cause);
	cause = NULL;

	memset(&end, 0, sizeof(end));
	end.id = 0x0102030405060708ULL;
	end.digest_alg = ZC_DIGEST_XXH3_128;
	memset(end.digest, 0xab, sizeof(end.digest));
	CHECK(proto_end_encode(buf, sizeof(buf), &end) == ZC_HDR_LEN +
	    ZC_END_LEN);
	CHECK(proto_end_decode(b, ZC_END_LEN, &end2, &cause) == 0 &&
	    memcmp(&end, &end2, sizeof(end)) == 0);
	CHECK(proto_end_decode(b, ZC_END_LEN - 1, &end2, &cause) == -1);
	free(cause);
	cause = NULL;
	b[3] = 7;
	CHECK(proto_end_decode(b, ZC_END_LEN, &end2, &cause) == -1);
	free(cause);
	cause = NULL;

	memset(&r, 0, sizeof(r));
	r.code = ZC_E_EXISTS;
	r.bytes = 42;
	r.id = 9;
	strcpy(r.msg, "f exists");
	n = proto_result_encode(buf, sizeof(buf), &r);
	CHECK(proto_hdr_decode(buf, &h, &cause) == 0 && h.len == n - ZC_HDR_LEN);
	CHECK(proto_result_decode(b, h.len, &r2, &cause) == 0 &&
	    r2.code == r.code && r2.bytes == 42 && r2.id == 9 &&
	    strcmp(r2.msg, r.msg) == 0);
	CHECK(proto_result_decode(b, h.len + 1, &r2, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_result_decode(b, h.len - 1, &r2, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_result_decode(b, ZC_RESULT_LEN - 1, &r2, &cause) == -1);
	free(cause);
	cause = NULL;
	/* Messages are cut at ZC_MSG_MAX. */
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	n = proto_error_encode(buf, sizeof(buf), ZC_E_VERSION, msg);
	CHECK(n == ZC_HDR_LEN + ZC_ERROR_LEN + ZC_MSG_MAX);
	CHECK(proto_hdr_decode(buf, &h, &cause) == 0);
	CHECK(proto_error_decode(b, h.len, &e, &cause) == 0 &&
	    e.code == ZC_E_VERSION && strlen(e.msg) == ZC_MSG_MAX);
	CHECK(proto_error_decode(b, h.len - 1, &e, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_error_decode(b, ZC_ERROR_LEN - 1, &e, &cause) == -1);
	free(cause);
}

/* Returns 0 when the name is accepted. */
static int
name_ok(const char *name, size_t len)
{
	char	*cause = NULL;
	int	 r;

	r = proto_name_check(name, len, &cause);
	if (r == -1 && cause == NULL)
		r = -2;
	free(cause);
	return (r);
}

#define NAME_OK(s)	name_ok(s, sizeof(s) - 1)

/* The name sanitiser. */
/* Version 2: HELLO's window, ENTRY and its shapes, paths. */
static void
test_v2(void)
{
	uint8_t			 buf[ZC_HDR_LEN + ZC_ENTRY_MAX];
	uint8_t			*b = buf + ZC_HDR_LEN, content[5] = "hello";
	struct zc_entry		 e, e2;
	struct zc_hello		 h;
	struct zc_hdr		 hdr;
	char			*cause = NULL;
	size_t			 n;
	static const char	*bad[] = { "/x", "a//b", "a/", "a/../../x",
	    "./a", "a/.", "..", "a/.zcrecvd.0000000000000000.part",
	    "a/b\001c", "" };
	size_t			 i;

	proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V2, 256);
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN, &h, &cause) == 0 &&
	    h.version == ZC_PROTO_V2 && h.window == 256);
	proto_hello_encode(buf, sizeof(buf), ZC_PROTO_V1, 256);
	CHECK(proto_hello_decode(b, ZC_HELLO_LEN, &h, &cause) == -1);
	free(cause);
	cause = NULL;

	memset(&e, 0, sizeof(e));
	e.id = 1234567;
	e.size = sizeof(content);
	e.mode = 0640;
	e.kind = ZC_K_FILE;
	e.digest_alg = ZC_DIGEST_XXH3_128;
	e.flags = ZC_EF_INLINE;
	e.mtime_sec = -5;	/* before 1970 */
	e.mtime_nsec = 999999999;
	e.path = "d\xc3\xa9j\xc3\xa0 vu/a b.txt";
	e.path_len = strlen(e.path);
	e.dest = "photos";
	e.dest_len = 6;
	e.extra = content;
	e.extra_len = sizeof(content);
	memset(e.digest, 0x5a, sizeof(e.digest));
	n = proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(n == (size_t)ZC_HDR_LEN + ZC_ENTRY_LEN + e.path_len + 6 + 5);
	CHECK(proto_hdr_decode(buf, &hdr, &cause) == 0 &&
	    hdr.type == ZC_T_ENTRY && hdr.len == n - ZC_HDR_LEN);
	CHECK(proto_entry_decode(b, hdr.len, &e2, &cause) == 0);
	CHECK(e2.id == e.id && e2.size == 5 && e2.mode == 0640 &&
	    e2.kind == ZC_K_FILE && e2.flags == ZC_EF_INLINE &&
	    e2.mtime_sec == -5 && e2.mtime_nsec == 999999999 &&
	    e2.path_len == e.path_len && memcmp(e2.path, e.path,
	    e.path_len) == 0 && e2.dest_len == 6 &&
	    memcmp(e2.dest, "photos", 6) == 0 && e2.extra_len == 5 &&
	    memcmp(e2.extra, "hello", 5) == 0 &&
	    memcmp(e2.digest, e.digest, ZC_DIGEST_LEN) == 0);
	CHECK(proto_path_check(e2.path, e2.path_len, &cause) == 0);
	CHECK(proto_entry_decode(b, hdr.len - 1, &e2, &cause) == -1);
	free(cause);
	cause = NULL;
	b[ZC_ENTRY_LEN - 20] = 1;	/* reserved */
	CHECK(proto_entry_decode(b, hdr.len, &e2, &cause) == -1);
	free(cause);
	cause = NULL;

	/* Shapes that do not hold together. */
	e.size = 6;		/* inline length differs */
	proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(proto_entry_decode(b, hdr.len, &e2, &cause) == -1 &&
	    strstr(cause, "inline") != NULL);
	free(cause);
	cause = NULL;
	e.size = 5;
	e.flags = ZC_EF_INLINE | ZC_EF_WAIT;
	proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(proto_entry_decode(b, hdr.len, &e2, &cause) == -1);
	free(cause);
	cause = NULL;
	e.flags = 0x80;
	proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(proto_entry_decode(b, hdr.len, &e2, &cause) == -1);
	free(cause);
	cause = NULL;
	e.flags = 0;
	e.kind = ZC_K_DIR;	/* a directory with content */
	proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(proto_entry_decode(b, hdr.len, &e2, &cause) == -1);
	free(cause);
	cause = NULL;
	e.kind = ZC_K_SYMLINK;
	e.size = 0;
	e.digest_alg = 0;
	n = proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(proto_entry_decode(b, n - ZC_HDR_LEN, &e2, &cause) == 0 &&
	    e2.kind == ZC_K_SYMLINK && e2.extra_len == 5);
	e.kind = 3;
	n = proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(proto_entry_decode(b, n - ZC_HDR_LEN, &e2, &cause) == -1);
	free(cause);
	cause = NULL;
	e.kind = ZC_K_DIR;
	e.extra = NULL;
	e.extra_len = 0;
	e.mtime_nsec = 1000000000;
	n = proto_entry_encode(buf, sizeof(buf), &e);
	CHECK(proto_entry_decode(b, n - ZC_HDR_LEN, &e2, &cause) == -1);
	free(cause);
	cause = NULL;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(proto_path_check(bad[i], strlen(bad[i]), &cause) == -1);
		free(cause);
		cause = NULL;
	}
	CHECK(proto_path_check("a\0b", 3, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_path_check("a/b/c", 5, &cause) == 0);
	CHECK(proto_path_check("..a/b..", 7, &cause) == 0);
}

/* Version 3: the STREAM flag's shape, and EOS. */
static void
test_v3(void)
{
	uint8_t			 buf[ZC_HDR_LEN + ZC_ENTRY_MAX];
	uint8_t			*b = buf + ZC_HDR_LEN;
	struct zc_entry		 e, e2;
	struct zc_end		 end, end2;
	struct zc_hdr		 hdr;
	char			*cause = NULL;
	size_t			 n;
	static const struct {
		uint8_t		 kind;
		uint16_t	 flags;
		uint64_t	 size;
		uint32_t	 extra;
		int		 ok;
	} shapes[] = {
		{ ZC_K_FILE, ZC_EF_STREAM | ZC_EF_WAIT, ZC_SIZE_UNKNOWN, 0, 1 },
		{ ZC_K_FILE, ZC_EF_STREAM | ZC_EF_WAIT, 0, 0, 1 },
		{ ZC_K_FILE, ZC_EF_STREAM | ZC_EF_WAIT, 12345, 0, 1 },
		{ ZC_K_FILE, ZC_EF_STREAM, ZC_SIZE_UNKNOWN, 0, 0 },
		{ ZC_K_FILE, ZC_EF_STREAM | ZC_EF_WAIT | ZC_EF_INLINE, 3, 3,
		    0 },
		{ ZC_K_FILE, ZC_EF_STREAM | ZC_EF_INLINE, 3, 3, 0 },
		{ ZC_K_DIR, ZC_EF_STREAM | ZC_EF_WAIT, 0, 0, 0 },
		{ ZC_K_SYMLINK, ZC_EF_STREAM | ZC_EF_WAIT, 0, 3, 0 },
		{ ZC_K_FILE, ZC_EF_STRIPED << 1 | ZC_EF_WAIT, 0, 0, 0 },
	};
	size_t			 i;

	CHECK(ZC_PROTO_V3 == 3);
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.id = i + 1;
		e.kind = shapes[i].kind;
		e.flags = shapes[i].flags;
		e.size = shapes[i].size;
		e.path = "s";
		e.path_len = 1;
		e.dest = "";
		e.extra = (const uint8_t *)"abc";
		e.extra_len = shapes[i].extra;
		n = proto_entry_encode(buf, sizeof(buf), &e);
		CHECK(proto_entry_decode(b, n - ZC_HDR_LEN, &e2, &cause) ==
		    (shapes[i].ok ? 0 : -1));
		if (shapes[i].ok)
			CHECK(e2.flags == e.flags && e2.size == e.size);
		else
			CHECK(cause != NULL);
		free(cause);
		cause = NULL;
	}

	/* EOS: END's fields and the size; exactly 40 bytes. */
	memset(&end, 0, sizeof(end));
	end.id = 42;
	end.digest_alg = ZC_DIGEST_XXH3_128;
	memset(end.digest, 0xcd, sizeof(end.digest));
	end.size = 0x0102030405060708ULL;
	CHECK(proto_eos_encode(buf, sizeof(buf), &end) == ZC_HDR_LEN +
	    ZC_EOS_LEN);
	CHECK(proto_hdr_decode(buf, &hdr, &cause) == 0 &&
	    hdr.type == ZC_T_EOS && hdr.len == ZC_EOS_LEN);
	memset(&end2, 0, sizeof(end2));
	CHECK(proto_eos_decode(b, ZC_EOS_LEN, &end2, &cause) == 0 &&
	    end2.id == 42 && end2.size == end.size &&
	    end2.digest_alg == ZC_DIGEST_XXH3_128 &&
	    memcmp(end2.digest, end.digest, ZC_DIGEST_LEN) == 0);
	CHECK(proto_eos_decode(b, ZC_EOS_LEN - 1, &end2, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_end_decode(b, ZC_EOS_LEN, &end2, &cause) == -1);
	free(cause);
	cause = NULL;
	b[5] = 1;		/* reserved */
	CHECK(proto_eos_decode(b, ZC_EOS_LEN, &end2, &cause) == -1);
	free(cause);
	cause = NULL;
	b[5] = 0;
	b[3] = 2;		/* unknown digest */
	CHECK(proto_eos_decode(b, ZC_EOS_LEN, &end2, &cause) == -1);
	free(cause);
	cause = NULL;
	/* Its header: exactly 40 bytes, no argument. */
	CHECK(hdr_ok(ZC_T_EOS, 0, ZC_EOS_LEN, 0) == 0);
	CHECK(hdr_ok(ZC_T_EOS, 0, ZC_EOS_LEN - 1, 0) == -1);
	CHECK(hdr_ok(ZC_T_EOS, 0, ZC_EOS_LEN + 1, 0) == -1);
	CHECK(hdr_ok(ZC_T_EOS, 0, ZC_EOS_LEN, 40) == -1);
	CHECK(hdr_ok(ZC_T_MAX + 1, 0, ZC_EOS_LEN, 0) == -1);
}

/*
 * Version 4, striping: SESSION, JOIN and CHUNK lengths, CHUNK round trip
 * and its place on the chunk grid, chunk sizes, and the STRIPED flag.
 */
static void
test_v4(void)
{
	uint8_t			 buf[ZC_HDR_LEN + ZC_ENTRY_LEN + 64];
	uint8_t			*b = buf + ZC_HDR_LEN;
	struct zc_chunk		 ch, ch2;
	struct zc_entry		 e, e2;
	char			*cause = NULL;
	uint64_t		 idx;
	size_t			 i, n;
	const uint64_t		 M = 1ULL << 20, size = 3 * M + 5000;
	static const struct {
		uint64_t	 off, len;
		int		 ok;
		uint64_t	 idx;
	} grid[] = {
		{ 0, 1ULL << 20, 1, 0 },
		{ 1ULL << 20, 1ULL << 20, 1, 1 },
		{ 3ULL << 20, 5000, 1, 3 },
		{ 3ULL << 20, 4096, 0, 0 },		/* short of the end */
		{ 3ULL << 20, 1ULL << 20, 0, 0 },	/* past the end */
		{ 4096, 1ULL << 20, 0, 0 },		/* off the grid */
		{ 4ULL << 20, 1, 0, 0 },		/* beyond the file */
		{ 1ULL << 20, (1ULL << 20) + 4096, 0, 0 },	/* overlaps */
		{ 1ULL << 20, 0, 0, 0 },
		{ UINT64_MAX - 4095, 4096, 0, 0 },
	};
	static const struct {
		uint16_t	 flags;
		int		 kind;
		uint32_t	 chunk;
		int		 ok;
	} shapes[] = {
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_FILE, 1U << 20, 1 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_FILE, 16U << 20, 1 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_FILE, 256U << 20, 1 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_FILE, 512U << 20, 0 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_FILE, 1U << 19, 0 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_FILE, 3U << 20, 0 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_FILE, 0, 0 },
		{ ZC_EF_STRIPED, ZC_K_FILE, 1U << 20, 0 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT | ZC_EF_STREAM, ZC_K_FILE,
		    1U << 20, 0 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT, ZC_K_DIR, 1U << 20, 0 },
		{ ZC_EF_WAIT, ZC_K_FILE, 1U << 20, 0 },	/* chunk, no flag */
	};

	CHECK(ZC_PROTO_VERSION == ZC_PROTO_V5);
	CHECK(hdr_ok(ZC_T_SESSION, 0, ZC_SESSION_LEN, 0) == 0);
	CHECK(hdr_ok(ZC_T_SESSION, 0, ZC_SESSION_LEN - 1, 0) == -1);
	CHECK(hdr_ok(ZC_T_JOIN, 0, ZC_JOIN_LEN, 0) == 0);
	CHECK(hdr_ok(ZC_T_JOIN, 0, ZC_JOIN_LEN + 1, 0) == -1);
	CHECK(hdr_ok(ZC_T_CHUNK, 0, ZC_CHUNK_LEN, 0) == 0);
	CHECK(hdr_ok(ZC_T_CHUNK, 0, ZC_CHUNK_LEN, 4096) == -1);
	CHECK(hdr_ok(ZC_T_CHUNK, 0, 0, 0) == -1);
	CHECK(strcmp(proto_type_name(ZC_T_CHUNK), "CHUNK") == 0);

	ch.id = 7;
	ch.offset = 5 * M;
	ch.length = 12345;
	CHECK(proto_chunk_encode(buf, sizeof(buf), &ch) ==
	    ZC_HDR_LEN + ZC_CHUNK_LEN);
	CHECK(proto_chunk_decode(b, ZC_CHUNK_LEN, &ch2, &cause) == 0);
	CHECK(ch2.id == 7 && ch2.offset == 5 * M && ch2.length == 12345);
	CHECK(proto_chunk_decode(b, ZC_CHUNK_LEN - 1, &ch2, &cause) == -1);
	CHECK(cause != NULL);
	free(cause);
	cause = NULL;

	for (i = 0; i < sizeof(grid) / sizeof(grid[0]); i++) {
		ch.offset = grid[i].off;
		ch.length = grid[i].len;
		CHECK(proto_chunk_fits(size, 1U << 20, &ch, &idx, &cause) ==
		    (grid[i].ok ? 0 : -1));
		if (grid[i].ok)
			CHECK(idx == grid[i].idx);
		else
			CHECK(cause != NULL);
		free(cause);
		cause = NULL;
	}
	CHECK(proto_chunk_count(0, 1U << 20) == 0);
	CHECK(proto_chunk_count(1, 1U << 20) == 1);
	CHECK(proto_chunk_count(M, 1U << 20) == 1);
	CHECK(proto_chunk_count(M + 1, 1U << 20) == 2);
	CHECK(proto_chunk_size_ok(ZC_CHUNK_DEFAULT));
	CHECK(!proto_chunk_size_ok(ZC_CHUNK_MIN / 2));
	CHECK(!proto_chunk_size_ok((uint64_t)ZC_CHUNK_MAX * 2));
	CHECK(!proto_chunk_size_ok(ZC_CHUNK_MIN + ZC_BLOCK));

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.id = i + 1;
		e.kind = shapes[i].kind;
		e.flags = shapes[i].flags;
		e.size = shapes[i].kind == ZC_K_FILE ? 5 * M : 0;
		e.chunk = shapes[i].chunk;
		e.path = "s";
		e.path_len = 1;
		e.dest = "";
		n = proto_entry_encode(buf, sizeof(buf), &e);
		CHECK(proto_entry_decode(b, n - ZC_HDR_LEN, &e2, &cause) ==
		    (shapes[i].ok ? 0 : -1));
		if (shapes[i].ok)
			CHECK(e2.flags == e.flags && e2.chunk == e.chunk);
		else
			CHECK(cause != NULL);
		free(cause);
		cause = NULL;
	}
}

/*
 * Version 5: the shape of a RESUME entry (striped, with a digest, at most
 * ZC_RESUME_CHUNKS_MAX chunks), and ACCEPT's need bitmap: exactly the
 * length of the file's chunks, nothing set past the last.
 */
static void
test_v5(void)
{
	static const struct {
		uint16_t	 flags;
		uint8_t		 alg;
		uint64_t	 size;
		uint32_t	 chunk;
		int		 ok;
	} shapes[] = {
		{ ZC_EF_STRIPED | ZC_EF_WAIT | ZC_EF_RESUME, 1, 1ULL << 30,
		    4U << 20, 1 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT | ZC_EF_RESUME, 0, 1ULL << 30,
		    4U << 20, 0 },		/* no digest */
		{ ZC_EF_WAIT | ZC_EF_RESUME, 1, 1ULL << 30, 0, 0 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT | ZC_EF_RESUME, 1,
		    16384ULL << 20, 1U << 20, 1 },
		{ ZC_EF_STRIPED | ZC_EF_WAIT | ZC_EF_RESUME, 1,
		    (16384ULL << 20) + 1, 1U << 20, 0 },	/* chunks */
	};
	struct zc_entry	 e, e2;
	uint8_t		 buf[ZC_HDR_LEN + ZC_ACCEPT_LEN + ZC_NEED_MAX];
	uint8_t		 need[ZC_NEED_MAX], got[ZC_NEED_MAX];
	const uint8_t	*b = buf + ZC_HDR_LEN;
	uint64_t	 id;
	char		*cause = NULL;
	size_t		 i, n;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.id = i + 1;
		e.flags = shapes[i].flags;
		e.digest_alg = shapes[i].alg;
		e.size = shapes[i].size;
		e.chunk = shapes[i].chunk;
		e.path = "r";
		e.path_len = 1;
		e.dest = "";
		n = proto_entry_encode(buf, sizeof(buf), &e);
		CHECK(proto_entry_decode(b, n - ZC_HDR_LEN, &e2, &cause) ==
		    (shapes[i].ok ? 0 : -1));
		free(cause);
		cause = NULL;
	}
	CHECK(proto_need_len(0) == 0 && proto_need_len(1) == 1 &&
	    proto_need_len(8) == 1 && proto_need_len(9) == 2);
	memset(need, 0, sizeof(need));
	need[0] = 0x05;
	need[1] = 0x02;		/* chunks 0, 2, 9 of 10 */
	n = proto_accept_need_encode(buf, sizeof(buf), 42, need, 10);
	CHECK(n == ZC_HDR_LEN + ZC_ACCEPT_LEN + 2);
	CHECK(proto_accept_need_decode(b, n - ZC_HDR_LEN, 10, &id, got,
	    &cause) == 0 && id == 42 && memcmp(got, need, 2) == 0);
	/* Another length, or a chunk past the last: refused. */
	CHECK(proto_accept_need_decode(b, n - ZC_HDR_LEN, 17, &id, got,
	    &cause) == -1);
	free(cause);
	CHECK(proto_accept_need_decode(b, n - ZC_HDR_LEN - 1, 10, &id, got,
	    &cause) == -1);
	free(cause);
	CHECK(proto_accept_need_decode(b, ZC_ACCEPT_LEN, 10, &id, got,
	    &cause) == -1);
	free(cause);
	buf[ZC_HDR_LEN + ZC_ACCEPT_LEN + 1] = 0x04;	/* chunk 10 */
	CHECK(proto_accept_need_decode(b, n - ZC_HDR_LEN, 10, &id, got,
	    &cause) == -1);
	free(cause);
	CHECK(proto_accept_need_decode(b, ZC_ACCEPT_LEN + ZC_NEED_MAX + 1,
	    ZC_RESUME_CHUNKS_MAX + 8, &id, got, &cause) == -1);
	free(cause);
	/* A plain ACCEPT is not one with a bitmap, nor the reverse. */
	CHECK(proto_accept_decode(b, n - ZC_HDR_LEN, &id, &id, &cause) == -1);
	free(cause);
}

static void
test_names(void)
{
	char	 longname[ZC_NAME_MAX + 2];
	char	*cause = NULL;
	int	 c;

	CHECK(NAME_OK("a") == 0);
	CHECK(NAME_OK("data.bin") == 0);
	CHECK(NAME_OK("\xc3\xa9t\xc3\xa9.txt") == 0);
	CHECK(NAME_OK("a b") == 0);
	CHECK(NAME_OK("...") == 0);
	CHECK(NAME_OK("..a") == 0);
	CHECK(NAME_OK(".hidden") == 0);
	CHECK(NAME_OK("") == -1);
	CHECK(NAME_OK(".") == -1);
	CHECK(NAME_OK("..") == -1);
	CHECK(NAME_OK("/etc/passwd") == -1);
	CHECK(NAME_OK("../x") == -1);
	CHECK(NAME_OK("a/../../x") == -1);
	CHECK(NAME_OK("a/b") == -1);
	CHECK(NAME_OK("x/") == -1);
	CHECK(NAME_OK("a\0b") == -1);
	CHECK(NAME_OK("a\nb") == -1);
	CHECK(NAME_OK("a\rb") == -1);
	CHECK(NAME_OK("\x1b[2J") == -1);
	CHECK(NAME_OK("del\x7f") == -1);
	CHECK(NAME_OK(".zcrecvd.0123.part") == -1);
	CHECK(NAME_OK(".zcrecvd") == 0);
	for (c = 1; c < 0x20; c++) {
		char n[2] = { (char)c, '\0' };

		CHECK(name_ok(n, 1) == -1);
	}
	memset(longname, 'x', sizeof(longname));
	CHECK(name_ok(longname, ZC_NAME_MAX) == 0);
	CHECK(name_ok(longname, ZC_NAME_MAX + 1) == -1);

	CHECK(proto_dest_check("", 0, &cause) == 0);
	CHECK(proto_dest_check("backups-2.x_y", 13, &cause) == 0);
	CHECK(proto_dest_check(".x", 2, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_dest_check("a/b", 3, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(proto_dest_check(longname, ZC_DEST_MAX + 1, &cause) == -1);
	free(cause);
}

/* HOST:PORT[/DEST] parsing. */
static void
test_hostport(void)
{
	char	*h, *p, *n;

	CHECK(util_parse_hostport("127.0.0.1:7733", &h, &p, &n) == 0 &&
	    strcmp(h, "127.0.0.1") == 0 && strcmp(p, "7733") == 0 &&
	    n == NULL);
	free(h); free(p); free(n);
	CHECK(util_parse_hostport("[::1]:1/backups", &h, &p, &n) == 0 &&
	    strcmp(h, "::1") == 0 && strcmp(p, "1") == 0 &&
	    strcmp(n, "backups") == 0);
	free(h); free(p); free(n);
	CHECK(util_parse_hostport("*:7733", &h, &p, &n) == 0 && h == NULL);
	free(h); free(p); free(n);
	CHECK(util_parse_hostport("host.example:http", &h, &p, &n) == 0);
	free(h); free(p); free(n);
	CHECK(util_parse_hostport("nocolon", &h, &p, &n) == -1);
	CHECK(util_parse_hostport("::1:7733", &h, &p, &n) == -1);
	CHECK(util_parse_hostport("[::1]7733", &h, &p, &n) == -1);
	CHECK(util_parse_hostport(":7733", &h, &p, &n) == -1);
	CHECK(util_parse_hostport("host:", &h, &p, &n) == -1);
	CHECK(util_parse_hostport("host:/x", &h, &p, &n) == -1);
}

/* Digest formatting. */
static void
test_hex(void)
{
	uint8_t	 d[ZC_DIGEST_LEN];
	char	 hex[ZC_DIGEST_HEXLEN];
	int	 i;

	for (i = 0; i < ZC_DIGEST_LEN; i++)
		d[i] = i * 17;
	proto_digest_hex(d, hex);
	CHECK(strcmp(hex, "00112233445566778899aabbccddeeff") == 0);
}

int
main(void)
{
	test_header();
	test_hello();
	test_file();
	test_replies();
	test_v2();
	test_v3();
	test_v4();
	test_v5();
	test_names();
	test_hostport();
	test_hex();
	return (unit_done("test_proto"));
}
