/* SPDX-License-Identifier: ISC */
/*
 * peak CMD [ARG...]: run CMD (its output to /dev/null) and print "status
 * seconds peak_rss_kb".  The peak is the child's own ru_maxrss from
 * wait4(2); Linux carries a process's high-water mark across exec, so the
 * child starts from this small program's few hundred kilobytes, not from a
 * Python interpreter's 9 MB as with subprocess.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	pid_t pid;
	int st, fd;

	if (argc < 2) {
		fprintf(stderr, "usage: peak command [argument ...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) < 0) {
		perror("peak: fork");
		return 1;
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0) {
		perror("peak: wait4");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%d %.4f %ld\n", WIFEXITED(st) ? WEXITSTATUS(st) :
	    128 + WTERMSIG(st), (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, ru.ru_maxrss);
	return 0;
}
