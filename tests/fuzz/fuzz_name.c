/*
 * fuzz_name.c -- libFuzzer target: the file name and destination checks,
 * and the log escaper that prints names.  A name the check accepts must
 * be a plain base name: no '/', no NUL, no control byte, not . or .., at
 * most ZC_NAME_MAX bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "zcproto.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*cause = NULL, *name, vis[UTIL_VIS_MAX];
	size_t	 i;

	name = malloc(size + 1);
	if (name == NULL)
		return (0);
	memcpy(name, data, size);
	name[size] = '\0';
	if (proto_name_check(name, size, &cause) == 0) {
		if (size == 0 || size > ZC_NAME_MAX ||
		    (size == 1 && name[0] == '.') ||
		    (size == 2 && name[0] == '.' && name[1] == '.'))
			abort();
		for (i = 0; i < size; i++)
			if (name[i] == '/' || (unsigned char)name[i] < 0x20 ||
			    name[i] == 0x7f)
				abort();
	} else if (cause == NULL)
		abort();
	free(cause);
	cause = NULL;
	if (proto_dest_check(name, size, &cause) == -1 && cause == NULL)
		abort();
	free(cause);
	/* The escaped form holds no control byte. */
	util_vis(name, vis, sizeof(vis));
	for (i = 0; vis[i] != '\0'; i++)
		if ((unsigned char)vis[i] < 0x20 || vis[i] == 0x7f)
			abort();
	free(name);
	return (0);
}
