// SPDX-License-Identifier: GPL-2.0
/*
 * pagehold: hold a region of memory in one of three physical layouts,
 * hand it over through /dev/khopages, and after kexec map it back and
 * check it. Used by the handover tests and to measure metadata and time.
 *
 *   pagehold fill SESSION LAYOUT MIB DIR   (LAYOUT: contiguous|scattered|thp)
 *
 * scattered: no two pages physically adjacent (one physical run each).
 *   pagehold map SESSION DIR
 *
 * fill writes DIR/fill.txt (figures) and DIR/pfns (one frame per page, after
 * preserving, since pages in KHO scratch move first); map writes
 * DIR/map.txt and fails on any wrong byte or moved frame.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "khopages.h"

#define REGION_ADDR	0x600000000000UL
#define PAGE		4096UL

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "pagehold: %s\n", what);
	exit(1);
}

/* Every 64-bit word depends on its address: a moved or stale page shows. */
static uint64_t pattern(uint64_t addr)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29);
}

static void fill_page(char *p)
{
	uint64_t *w = (uint64_t *)p;
	size_t i;

	for (i = 0; i < PAGE / 8; i++)
		w[i] = pattern((uint64_t)(uintptr_t)&w[i]);
}

static size_t check_page(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i, bad = 0;

	for (i = 0; i < PAGE / 8; i++)
		bad += w[i] != pattern((uint64_t)(uintptr_t)&w[i]);
	return bad;
}

static int read_pfns(char *base, size_t pages, uint64_t *pfns)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t i;

	if (fd < 0)
		return -1;
	if (pread(fd, pfns, pages * 8, ((uintptr_t)base / PAGE) * 8) !=
	    (ssize_t)(pages * 8)) {
		close(fd);
		return -1;
	}
	close(fd);
	for (i = 0; i < pages; i++)
		pfns[i] = (pfns[i] >> 63) ? pfns[i] & ((1ULL << 55) - 1) : 0;
	return 0;
}

static char *map_region(size_t len)
{
	char *p = mmap((void *)REGION_ADDR, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		die("cannot map the region");
	return p;
}

/*
 * A child that takes 2 * @pages frames and gives every other one back, so
 * that the free lists hold single frames with a taken one on each side:
 * pages faulted in meanwhile land one per physical run. Returns its pid.
 */
static pid_t sieve_start(size_t pages)
{
	int fds[2];
	char c = 0;
	pid_t pid;

	if (pipe(fds))
		die("pipe failed");
	pid = fork();
	if (pid < 0)
		die("fork failed");
	if (!pid) {
		char *p = mmap(NULL, 2 * pages * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		size_t i;

		if (p == MAP_FAILED || madvise(p, 2 * pages * PAGE, MADV_NOHUGEPAGE))
			_exit(1);
		for (i = 0; i < 2 * pages; i++)
			p[i * PAGE] = 1;
		for (i = 0; i < 2 * pages; i += 2)
			madvise(p + i * PAGE, PAGE, MADV_DONTNEED);
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		die("the sieve process failed");
	close(fds[0]);
	return pid;
}

static void sieve_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Maximal runs of consecutive frames among @pfns (sorts a copy). */
static uint64_t phys_runs(const uint64_t *pfns, size_t pages)
{
	uint64_t *s = malloc(pages * sizeof(*s)), runs = 0;
	size_t i;

	if (!s)
		die("out of memory");
	memcpy(s, pfns, pages * sizeof(*s));
	qsort(s, pages, sizeof(*s), cmp_u64);
	for (i = 0; i < pages; i++)
		if (!i || s[i] != s[i - 1] + 1)
			runs++;
	free(s);
	return runs;
}

static void touch(char *base, size_t pages, const char *layout)
{
	size_t i;

	if (!strcmp(layout, "thp")) {
		if (madvise(base, pages * PAGE, MADV_HUGEPAGE))
			die("madvise(MADV_HUGEPAGE) failed");
	} else if (madvise(base, pages * PAGE, MADV_NOHUGEPAGE)) {
		die("madvise(MADV_NOHUGEPAGE) failed");
	}
	if (!strcmp(layout, "scattered")) {
		/*
		 * Fault pages in random order into a sieve of single free
		 * frames: no two pages are physically adjacent, and virtual
		 * order says nothing about physical order.
		 */
		size_t *order = malloc(pages * sizeof(*order));
		pid_t sieve = sieve_start(pages);

		if (!order)
			die("out of memory");
		for (i = 0; i < pages; i++)
			order[i] = i;
		srand(42);
		for (i = pages - 1; i > 0; i--) {
			size_t j = (size_t)rand() % (i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (i = 0; i < pages; i++)
			fill_page(base + order[i] * PAGE);
		free(order);
		sieve_stop(sieve);
		return;
	}
	for (i = 0; i < pages; i++)
		fill_page(base + i * PAGE);
}

static FILE *open_out(const char *dir, const char *name, const char *mode)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, mode);
	if (!f)
		die("cannot open an output file");
	return f;
}

static int do_fill(const char *session, const char *layout, size_t mib,
		   const char *dir)
{
	size_t pages = mib * 256, i;
	struct khopages_session_info info;
	struct khopages_preserve pr;
	double t0, t_preserve, t_commit;
	char *base = map_region(pages * PAGE);
	uint64_t *pfns = malloc(pages * 8);
	struct khop *k;
	FILE *f;

	if (!pfns)
		die("out of memory");
	touch(base, pages, layout);
	if (khop_open(&k))
		die(khop_open_error());
	if (khop_create(k, session))
		die(khop_error(k));
	t0 = now_ms();
	if (khop_preserve(k, getpid(), (uintptr_t)base, pages * PAGE, &pr))
		die(khop_error(k));
	t_preserve = now_ms() - t0;
	if (pr.nr_pages != pages)
		die("PRESERVE did not take every page");
	t0 = now_ms();
	if (khop_commit(k))
		die(khop_error(k));
	t_commit = now_ms() - t0;
	if (khop_stats(k, session, &info))
		die(khop_error(k));
	if (read_pfns(base, pages, pfns))
		die("cannot read /proc/self/pagemap");
	f = open_out(dir, "pfns", "w");
	fwrite(pfns, 8, pages, f);
	fclose(f);

	f = open_out(dir, "fill.txt", "w");
	fprintf(f, "layout %s\nmib %zu\npid %d\npages %" PRIu64 "\n", layout,
		mib, getpid(), (uint64_t)info.nr_pages);
	fprintf(f, "folios %" PRIu64 "\nfolios_order9 %" PRIu64 "\n",
		(uint64_t)info.nr_folios, (uint64_t)info.folios_by_order[9]);
	fprintf(f, "moved %" PRIu64 "\nmeta_bytes %" PRIu64 "\n",
		(uint64_t)info.nr_moved, (uint64_t)info.meta_bytes);
	fprintf(f, "meta_bytes_per_page %.4f\n",
		(double)info.meta_bytes / (double)info.nr_pages);
	fprintf(f, "preserve_ms %.1f\ncommit_ms %.1f\n", t_preserve, t_commit);
	fprintf(f, "phys_runs %" PRIu64 "\n", phys_runs(pfns, pages));
	fclose(f);
	for (i = 0; i < pages; i++)
		if (!pfns[i])
			die("a preserved page is not present");
	khop_close(k);
	return 0;
}

static int do_map(const char *session, const char *dir)
{
	struct khopages_map m;
	size_t pages, i, bad = 0, same = 0, mib;
	uint64_t *before, *after;
	double t0, t_map;
	char layout[32];
	struct khop *k;
	char *base;
	FILE *f;
	int pid;

	f = open_out(dir, "fill.txt", "r");
	if (fscanf(f, "layout %31s\nmib %zu\npid %d", layout, &mib, &pid) != 3)
		die("cannot read fill.txt");
	fclose(f);
	pages = mib * 256;
	before = malloc(pages * 8);
	after = malloc(pages * 8);
	if (!before || !after)
		die("out of memory");
	f = open_out(dir, "pfns", "r");
	if (fread(before, 8, pages, f) != pages)
		die("cannot read pfns");
	fclose(f);

	/* Attach first: it makes the preserved memory count, so mmap fits. */
	if (khop_open(&k))
		die(khop_open_error());
	if (khop_attach(k, session))
		die(khop_error(k));
	base = map_region(pages * PAGE);
	t0 = now_ms();
	if (khop_map(k, pid, REGION_ADDR, (uintptr_t)base, pages * PAGE, &m))
		die(khop_error(k));
	t_map = now_ms() - t0;
	if (m.nr_mapped != pages)
		die("MAP did not map every page from its frame");
	if (read_pfns(base, pages, after))
		die("cannot read /proc/self/pagemap");
	for (i = 0; i < pages; i++) {
		bad += check_page(base + i * PAGE);
		same += before[i] == after[i];
	}
	f = open_out(dir, "map.txt", "w");
	fprintf(f, "map_ms %.1f\nwords_wrong %zu\nsame_pfn %zu/%zu\n", t_map,
		bad, same, pages);
	fclose(f);
	printf("pagehold: %s %zu MiB: map %.1f ms, %zu words wrong, %zu/%zu frames unchanged\n",
	       layout, mib, t_map, bad, same, pages);
	if (bad || same != pages)
		die("the memory did not come back intact at the same frames");
	if (khop_finish(k, session, 0))
		die(khop_error(k));
	khop_close(k);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "fill"))
		return do_fill(argv[2], argv[3], strtoul(argv[4], NULL, 0), argv[5]);
	if (argc == 4 && !strcmp(argv[1], "map"))
		return do_map(argv[2], argv[3]);
	fprintf(stderr, "usage: pagehold fill SESSION contiguous|scattered|thp MIB DIR\n"
		"       pagehold map SESSION DIR\n");
	return 2;
}
