// SPDX-License-Identifier: GPL-2.0
/*
 * Memory workloads shared by pagehold and khop_bench (see workload.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

void wl_fill_page(char *p)
{
	uint64_t *w = (uint64_t *)p;

	for (size_t i = 0; i < WL_PAGE / 8; i++)
		w[i] = wl_pattern((uint64_t)(uintptr_t)&w[i]);
}

size_t wl_page_bad_words(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t bad = 0;

	for (size_t i = 0; i < WL_PAGE / 8; i++)
		bad += w[i] != wl_pattern((uint64_t)(uintptr_t)&w[i]);
	return bad;
}

int wl_page_ends_ok(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t last = WL_PAGE / 8 - 1;

	return w[0] == wl_pattern((uint64_t)(uintptr_t)&w[0]) &&
	       w[last] == wl_pattern((uint64_t)(uintptr_t)&w[last]);
}

/*
 * A child that takes 2 * @pages frames and gives every other one back, so
 * that the free lists hold single frames with a taken one on each side:
 * pages faulted in meanwhile land one per physical run. Its pid, or -1.
 */
static pid_t sieve_start(size_t pages)
{
	int fds[2];
	char c = 0;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!pid) {
		char *p = mmap(NULL, 2 * pages * WL_PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || madvise(p, 2 * pages * WL_PAGE, MADV_NOHUGEPAGE))
			_exit(1);
		for (size_t i = 0; i < 2 * pages; i++)
			p[i * WL_PAGE] = 1;
		for (size_t i = 0; i < 2 * pages; i += 2)
			madvise(p + i * WL_PAGE, WL_PAGE, MADV_DONTNEED);
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1) {
		close(fds[0]);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(fds[0]);
	return pid;
}

static void sieve_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * Fault the pages in random order (a fixed seed: the same order every
 * run) into a sieve of single free frames: no two pages are physically
 * adjacent, and virtual order says nothing about physical order.
 */
static const char *fill_scattered(char *base, size_t pages)
{
	size_t *order = malloc(pages * sizeof(*order));
	pid_t sieve;

	if (!order)
		return "out of memory";
	sieve = sieve_start(pages);
	if (sieve < 0) {
		free(order);
		return "the sieve process failed";
	}
	for (size_t i = 0; i < pages; i++)
		order[i] = i;
	srand(42);
	for (size_t i = pages - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < pages; i++)
		wl_fill_page(base + order[i] * WL_PAGE);
	free(order);
	sieve_stop(sieve);
	return NULL;
}

const char *wl_fill_layout(char *base, size_t pages, const char *layout)
{
	bool thp = !strcmp(layout, "thp");

	if (!thp && strcmp(layout, "contiguous") && strcmp(layout, "scattered"))
		return "unknown layout (contiguous, scattered or thp)";
	if (madvise(base, pages * WL_PAGE, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		return thp ? "madvise(MADV_HUGEPAGE) failed" : "madvise(MADV_NOHUGEPAGE) failed";
	if (!strcmp(layout, "scattered"))
		return fill_scattered(base, pages);
	for (size_t i = 0; i < pages; i++)
		wl_fill_page(base + i * WL_PAGE);
	return NULL;
}

int wl_read_pfns(const char *base, size_t pages, uint64_t *pfns)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, pfns, pages * 8, ((uintptr_t)base / WL_PAGE) * 8);
	close(fd);
	if (n != (ssize_t)(pages * 8))
		return -1;
	for (size_t i = 0; i < pages; i++)
		pfns[i] = (pfns[i] >> 63) ? pfns[i] & ((1ULL << 55) - 1) : 0;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

uint64_t wl_phys_runs(const uint64_t *pfns, size_t pages)
{
	uint64_t *s = malloc(pages * sizeof(*s)), runs = 0;

	if (!s)
		return 0;
	memcpy(s, pfns, pages * sizeof(*s));
	qsort(s, pages, sizeof(*s), cmp_u64);
	for (size_t i = 0; i < pages; i++)
		runs += !i || s[i] != s[i - 1] + 1;
	free(s);
	return runs;
}

double wl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
