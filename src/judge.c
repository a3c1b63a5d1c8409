/*
 * judge.c -- map or copy, whichever costs this connection less.
 *
 * Mapping pages (the receiver's out of the socket, the sender's out of the
 * file) saves a copy, but pays for page table updates, TLB shootdowns and
 * hashing pages no cache has seen; on a virtual machine that can cost more
 * than copying into a warm buffer (on this project's VMs, 2-3x more for
 * the receiver at MTU 9000, 4x for the sender).  Which wins depends on the
 * link, the machine and the peer, so nobody assumes: the judge takes
 * JUDGE_TRIAL bytes each way (after JUDGE_WARM more, for the change-over:
 * faulting buffers in, mapping windows), measuring the thread's CPU per
 * byte, takes the cheaper path, and tries both again after JUDGE_AGAIN
 * bytes, so a connection can switch either way.  Which bytes count is the
 * caller's business (payload of files large enough to be mapped).
 *
 * The caller feeds judge_account() the bytes and CPU time of the path in
 * use and follows j->pick, at a point where it can (zcrecvd's conn.c,
 * zcsend's source.c).
 *
 * For the tests only, the environment variable named at judge_init
 * (ZCRECVD_TEST_JUDGE, ZCSEND_TEST_JUDGE) set to map or copy makes every
 * round end with that pick, whatever it measured, so that a test can make
 * one file change paths both ways.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Start a phase taking path pick for len bytes. */
static void
judge_phase(struct judge *j, int phase, int pick, uint64_t len)
{
	j->phase = phase;
	j->pick = pick;
	j->bytes = j->cpu_ns = 0;
	j->left = len;
	j->warm = phase == JUDGE_SETTLED ? 0 : JUDGE_WARM;
}

/* The pick the test variable forces, or -1. */
static int
judge_forced(const struct judge *j)
{
	const char	*s;

	if (j->force_env == NULL || (s = getenv(j->force_env)) == NULL)
		return (-1);
	if (strcmp(s, "map") == 0)
		return (JUDGE_MAP);
	if (strcmp(s, "copy") == 0)
		return (JUDGE_COPY);
	return (-1);
}

/* Set up: map first.  force_env names the tests' variable, or NULL. */
void
judge_init(struct judge *j, const char *force_env)
{
	memset(j, 0, sizeof(*j));
	j->force_env = force_env;
	judge_phase(j, JUDGE_TRY_MAP, JUDGE_MAP, JUDGE_TRIAL);
}

/* The socket cannot be mapped at all: copy for good. */
void
judge_off(struct judge *j)
{
	j->phase = JUDGE_OFF;
	j->pick = JUDGE_COPY;
}

/*
 * Account bytes of payload taken with CPU time cpu_ns on the path of
 * j->pick.  Returns 1 when a round of trials ended (j->cost is new).
 */
int
judge_account(struct judge *j, uint64_t bytes, uint64_t cpu_ns)
{
	uint64_t	 cost;

	if (j->phase == JUDGE_OFF)
		return (0);
	if (j->warm > 0) {	/* the change-over: buffers, windows */
		j->warm = bytes < j->warm ? j->warm - bytes : 0;
		return (0);
	}
	j->bytes += bytes;
	j->cpu_ns += cpu_ns;
	if (j->bytes < j->left)
		return (0);
	cost = j->cpu_ns * 1000 / (j->bytes / 1000 + 1);	/* ns per MB */
	switch (j->phase) {
	case JUDGE_TRY_MAP:
		j->cost[JUDGE_MAP] = cost;
		judge_phase(j, JUDGE_TRY_COPY, JUDGE_COPY, JUDGE_TRIAL);
		break;
	case JUDGE_TRY_COPY:
		j->cost[JUDGE_COPY] = cost;
		judge_phase(j, JUDGE_SETTLED, judge_forced(j) != -1 ?
		    judge_forced(j) : j->cost[JUDGE_MAP] <
		    j->cost[JUDGE_COPY] ? JUDGE_MAP : JUDGE_COPY, JUDGE_AGAIN);
		j->rounds++;
		return (1);
	default:	/* settled long enough: try both again */
		judge_phase(j, JUDGE_TRY_MAP, JUDGE_MAP, JUDGE_TRIAL);
		break;
	}
	return (0);
}
