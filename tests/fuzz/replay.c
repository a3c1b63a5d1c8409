/*
 * replay.c -- run a fuzz target over files without libFuzzer, so that
 * make check (and its ASan build) replays the seed corpus and every input
 * that once crashed.  Usage: replay_X FILE|DIR...
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Feed one file to the target. */
static int
replay_file(const char *path)
{
	FILE	*fp;
	uint8_t	*buf;
	long	 len;

	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) != 0 ||
	    (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		perror(path);
		return (-1);
	}
	if ((buf = malloc(len + 1)) == NULL || (long)fread(buf, 1, len,
	    fp) != len) {
		perror(path);
		return (-1);
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return (0);
}

int
main(int argc, char **argv)
{
	struct dirent	*de;
	struct stat	 sb;
	DIR		*d;
	char		 path[4096];
	int		 i, n = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == -1) {
			perror(argv[i]);
			return (1);
		}
		if (!S_ISDIR(sb.st_mode)) {
			if (replay_file(argv[i]) == -1)
				return (1);
			n++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return (1);
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    de->d_name);
			if (replay_file(path) == -1)
				return (1);
			n++;
		}
		closedir(d);
	}
	printf("%s: %d inputs replayed\n", argv[0], n);
	return (n > 0 ? 0 : 1);
}
