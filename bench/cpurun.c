/*
 * cpurun -- run a command and record the CPU time it used.
 *
 *	cpurun -o FILE [-t SECONDS] -- COMMAND [ARG...]
 *
 * Runs COMMAND as a child, forwards SIGTERM, SIGINT and SIGHUP to it, waits
 * for it with wait4() and writes one line to FILE:
 *
 *	USER_US SYS_US STATUS
 *
 * USER_US and SYS_US are the child's user and system CPU time in
 * microseconds, including every descendant it waited for (rusage of the
 * child); STATUS is its exit code, or 128 + the signal that ended it.
 * GNU time prints the same numbers rounded to 10 ms; the benchmark wants
 * them exact.  With -t, the child gets SIGTERM after SECONDS and SIGKILL
 * 10 s later.  cpurun exits with STATUS.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t	child_pid;
static volatile sig_atomic_t	alarmed;

static void
forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static void
on_alarm(int sig)
{
	(void)sig;
	if (child_pid > 0)
		kill((pid_t)child_pid, alarmed++ ? SIGKILL : SIGTERM);
	alarm(10);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cpurun -o FILE [-t SECONDS] -- COMMAND [ARG...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	struct rusage		 ru;
	const char		*out = NULL;
	FILE			*fp;
	unsigned		 timeout = 0;
	pid_t			 pid;
	int			 c, status, code;

	while ((c = getopt(argc, argv, "+o:t:")) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (out == NULL || argc < 1)
		usage();

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);

	pid = fork();
	if (pid == -1) {
		perror("cpurun: fork");
		return (1);
	}
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "cpurun: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	if (timeout > 0)
		alarm(timeout);

	while (wait4(pid, &status, 0, &ru) == -1) {
		if (errno != EINTR) {
			perror("cpurun: wait4");
			return (1);
		}
	}
	child_pid = 0;
	alarm(0);
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = 1;

	if ((fp = fopen(out, "w")) == NULL) {
		fprintf(stderr, "cpurun: %s: %s\n", out, strerror(errno));
		return (1);
	}
	fprintf(fp, "%lld %lld %d\n",
	    (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
	    (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
	    code);
	if (fclose(fp) != 0) {
		fprintf(stderr, "cpurun: %s: %s\n", out, strerror(errno));
		return (1);
	}
	return (code);
}
