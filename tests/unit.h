/*
 * unit.h -- the smallest test harness: CHECK() counts, main() reports.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

static int	unit_checks, unit_failures;

#define CHECK(cond) do {						\
	unit_checks++;							\
	if (!(cond)) {							\
		unit_failures++;					\
		fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
	}								\
} while (0)

/* Print the totals and give the exit status for the test driver. */
static inline int
unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks,
	    unit_failures);
	return (unit_failures == 0 ? 0 : 1);
}

#endif /* UNIT_H */
