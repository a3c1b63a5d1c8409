/*
 * auth.c -- pre-shared key challenge/response, shared by both programs.
 *
 * libsodium supplies HMAC-SHA256, the random nonces and the constant-time
 * comparison.  Both sides contribute a fresh 32-byte nonce; each side's
 * MAC covers its role, both nonces and the destination name, so a MAC can
 * be replayed neither to another connection, nor in the other direction,
 * nor for another destination.  The key proves who may write; it does not
 * encrypt anything (see zcrecvd(8), SECURITY).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "zcproto.h"
#include "util.h"

/* Once per process, before any other call here. */
void
auth_init(void)
{
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
}

/* A fresh random nonce. */
void
auth_nonce(uint8_t *nonce)
{
	randombytes_buf(nonce, ZC_NONCE_LEN);
}

/*
 * The MAC of one side: HMAC-SHA256(key, role || nonce_first ||
 * nonce_second || dest), role "zcrecvd-v1 sender" or "... receiver".
 */
void
auth_mac(const struct zc_key *k, int receiver, const uint8_t *first,
    const uint8_t *second, const char *dest, uint8_t *mac)
{
	crypto_auth_hmacsha256_state	 st;
	const char			*role = receiver ?
	    "zcrecvd-v1 receiver" : "zcrecvd-v1 sender";

	crypto_auth_hmacsha256_init(&st, k->key, k->len);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)role,
	    strlen(role) + 1);
	crypto_auth_hmacsha256_update(&st, first, ZC_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, second, ZC_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)dest,
	    strlen(dest) + 1);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

/* len fresh random bytes: session ids and tokens (version 4). */
void
auth_random(uint8_t *buf, size_t len)
{
	randombytes_buf(buf, len);
}

/* Compare two tokens of len bytes in constant time. */
int
auth_token_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	return (sodium_memcmp(a, b, len) == 0);
}

/* Compare two MACs in constant time. */
int
auth_equal(const uint8_t *a, const uint8_t *b)
{
	return (sodium_memcmp(a, b, ZC_MAC_LEN) == 0);
}

/*
 * Read a key file: no access for group or others, 16 to ZC_KEY_MAX bytes
 * once trailing white space is cut.  strict: refuse a file others can
 * read (the daemon); otherwise only warn (the client).
 */
int
auth_key_load(const char *path, struct zc_key *k, int strict, char **cause)
{
	struct stat	 sb;
	uint8_t		 buf[ZC_KEY_MAX + 2];
	ssize_t		 n;
	int		 fd;

	memset(k, 0, sizeof(*k));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &sb) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if (!S_ISREG(sb.st_mode) || (strict && (sb.st_mode & 077))) {
		*cause = xasprintf("%s: %s (mode %04o)", path,
		    S_ISREG(sb.st_mode) ? "readable or writable by group or "
		    "others" : "not a regular file",
		    (unsigned int)sb.st_mode & 07777);
		close(fd);
		return (-1);
	}
	if (sb.st_mode & 077)
		log_warnx("%s: key file readable by group or others", path);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n < ZC_KEY_MIN || n > ZC_KEY_MAX) {
		*cause = xasprintf("%s: key must be %d to %d bytes", path,
		    ZC_KEY_MIN, ZC_KEY_MAX);
		sodium_memzero(buf, sizeof(buf));
		return (-1);
	}
	memcpy(k->key, buf, n);
	k->len = n;
	sodium_memzero(buf, sizeof(buf));
	return (0);
}
