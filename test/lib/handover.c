// SPDX-License-Identifier: GPL-2.0
/*
 * Handing a khopages session over through Live Update, for the guest test
 * programs (handover.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handover.h"
#include "khopages.h"

static char kt_why[512];

static int kt_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kt_why, sizeof(kt_why), fmt, ap);
	va_end(ap);
	return -1;
}

const char *kt_handover_error(void)
{
	return kt_why;
}

static void kt_end(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(pid, &st, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st))
			return;
	}
}

static int kt_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static void __attribute__((noreturn))
kt_holder(const char *pidfile, const int *keep, int nr, int ready_fd)
{
	int fds[KT_HOLD_MAX + 1], fd, n;
	unsigned int from = 0;
	char tmp[4096], line[32];

	memcpy(fds, keep, nr * sizeof(*fds));
	fds[nr] = ready_fd;
	qsort(fds, nr + 1, sizeof(*fds), kt_cmp_int);
	setsid();
	if (chdir("/"))
		_exit(1);
	for (int i = 0; i <= nr; i++) {
		if ((unsigned int)fds[i] > from && close_range(from, fds[i] - 1, 0))
			_exit(1);
		from = fds[i] + 1;
	}
	if (close_range(from, ~0U, 0))
		_exit(1);
	snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (fd < 0 || write(fd, line, n) != n || fsync(fd) || close(fd) || rename(tmp, pidfile))
		_exit(1);
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	close(ready_fd);
	for (;;)
		pause();
}

pid_t kt_hold_fds(const char *pidfile, const int *keep, int nr)
{
	int ready[2];
	bool ok;
	pid_t h;
	char b;

	if (nr < 0 || nr > KT_HOLD_MAX || pipe(ready))
		return -1;
	fflush(NULL);
	h = fork();
	if (h < 0) {
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	if (!h)
		kt_holder(pidfile, keep, nr, ready[1]);
	close(ready[1]);
	ok = read(ready[0], &b, 1) == 1;
	close(ready[0]);
	if (!ok) {
		kt_end(h);
		return -1;
	}
	return h;
}

pid_t kt_hand_over(int fd, const char *name, const char *pidfile)
{
	int keep[2], luo;
	pid_t h;

	if (khop_luo_create(name, &luo))
		return kt_fail("%s", khop_luo_error());
	if (khop_luo_preserve_fd(luo, fd, KHOP_LUO_TOKEN_PAGES)) {
		kt_fail("%s", khop_luo_error());
		close(luo);
		return -1;
	}
	keep[0] = luo;
	keep[1] = fd;
	h = kt_hold_fds(pidfile, keep, 2);
	close(luo);
	if (h < 0)
		return kt_fail("the holder of Live Update session %s did not start", name);
	return h;
}

int kt_withdraw(const char *pidfile)
{
	FILE *f = fopen(pidfile, "re");
	int pid = 0;

	if (!f)
		return kt_fail("%s: %s", pidfile, strerror(errno));
	if (fscanf(f, "%d", &pid) != 1 || pid <= 0) {
		fclose(f);
		return kt_fail("%s: no pid in it", pidfile);
	}
	fclose(f);
	if (kill(pid, SIGKILL) && errno != ESRCH)
		return kt_fail("kill holder %d: %s", pid, strerror(errno));
	/* Our child, or (a holder of an earlier program) someone else's. */
	if (waitpid(pid, NULL, 0) < 0)
		for (int i = 0; i < 1000 && !kill(pid, 0); i++)
			usleep(10000);
	unlink(pidfile);
	return 0;
}

int kt_take_over(const char *name)
{
	int luo, fd;

	if (khop_luo_retrieve(name, &luo))
		return kt_fail("%s", khop_luo_error());
	if (khop_luo_retrieve_fd(luo, KHOP_LUO_TOKEN_PAGES, &fd)) {
		kt_fail("%s", khop_luo_error());
		close(luo);
		return -1;
	}
	if (khop_luo_finish(luo)) {
		kt_fail("%s", khop_luo_error());
		close(fd);
		close(luo);
		return -1;
	}
	close(luo);
	return fd;
}
