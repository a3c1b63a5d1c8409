/*
 * judge.c -- io = auto: map or copy, whichever costs this connection less.
 *
 * Mapping payload pages out of the socket saves a copy, but pays for page
 * table updates, TLB shootdowns and hashing pages no cache has seen; on a
 * virtual machine that can cost more than recv() into a warm buffer (on
 * this project's VMs, 2-3x more at MTU 9000).  Which wins depends on the
 * link, the machine and the sender, so auto does not assume: it takes
 * JUDGE_TRIAL bytes each way (after JUDGE_WARM more, for the change-over:
 * faulting buffers in, mapping windows), measuring the worker's CPU per
 * byte, takes
 * the cheaper path, and tries both again after JUDGE_AGAIN bytes, so a
 * connection can switch either way.  Only payload of files large enough
 * to be mapped counts (the caller's business).
 *
 * The caller feeds judge_account() the bytes and CPU time of the path in
 * use and follows j->pick, at a point where it can (conn.c).
 *
 * For the tests only, ZCRECVD_TEST_JUDGE=map or =copy in the environment
 * makes every round end with that pick, whatever it measured, so that a
 * test can make one file change paths both ways.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "zcrecvd.h"

/* Start a phase taking path pick for len bytes. */
static void
judge_phase(struct judge *j, int phase, enum rx_kind pick, uint64_t len)
{
	j->phase = phase;
	j->pick = pick;
	j->bytes = j->cpu_ns = 0;
	j->left = len;
	j->warm = phase == JUDGE_SETTLED ? 0 : JUDGE_WARM;
}

static pthread_once_t	 judge_once = PTHREAD_ONCE_INIT;
static int		 judge_force = -1;

/* Read ZCRECVD_TEST_JUDGE, once. */
static void
judge_read_env(void)
{
	const char	*s = getenv("ZCRECVD_TEST_JUDGE");

	if (s != NULL && strcmp(s, "map") == 0)
		judge_force = RX_MAP;
	else if (s != NULL && strcmp(s, "copy") == 0)
		judge_force = RX_COPY;
}

/* The pick ZCRECVD_TEST_JUDGE forces, or -1. */
static int
judge_forced(void)
{
	pthread_once(&judge_once, judge_read_env);
	return (judge_force);
}

/* Set up: map first. */
void
judge_init(struct judge *j)
{
	memset(j, 0, sizeof(*j));
	judge_phase(j, JUDGE_TRY_MAP, RX_MAP, JUDGE_TRIAL);
}

/* The socket cannot be mapped at all: copy for good. */
void
judge_off(struct judge *j)
{
	j->phase = JUDGE_OFF;
	j->pick = RX_COPY;
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
		judge_phase(j, JUDGE_TRY_COPY, RX_COPY, JUDGE_TRIAL);
		break;
	case JUDGE_TRY_COPY:
		j->cost[JUDGE_COPY] = cost;
		judge_phase(j, JUDGE_SETTLED, judge_forced() != -1 ?
		    (enum rx_kind)judge_forced() : j->cost[JUDGE_MAP] <
		    j->cost[JUDGE_COPY] ? RX_MAP : RX_COPY, JUDGE_AGAIN);
		j->rounds++;
		return (1);
	default:	/* settled long enough: try both again */
		judge_phase(j, JUDGE_TRY_MAP, RX_MAP, JUDGE_TRIAL);
		break;
	}
	return (0);
}
