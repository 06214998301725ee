// SPDX-License-Identifier: GPL-2.0
/*
 * khop_bench: the benchmark's guest workload (bench/run.sh).
 *
 *   khop_bench hold LAYOUT MIB DIR   hold MIB MiB of anonymous memory in a
 *                                    LAYOUT (contiguous|scattered|thp|
 *                                    shared) and wait to be checkpointed
 *   khop_bench memcpy MIB            time memcpy of MIB MiB (the yardstick)
 *   khop_bench ping PID FILE         send PID (a hold workload) SIGUSR1 and
 *                                    wait, polling every millisecond, until
 *                                    its answer FILE exists (a shell loop of
 *                                    sleeps would add its own tenths)
 *   khop_bench memlow DIR [MS]       until SIGTERM, poll free memory (buddy
 *                                    and per-CPU lists) every MS ms (20);
 *                                    then write DIR/memlow ("before K",
 *                                    "low K"): what a checkpoint running
 *                                    meanwhile took (DIR/memlow.ready when
 *                                    the first value is read)
 *
 * hold fills its region, writes DIR/info (pid, pages, physical runs, THP)
 * and DIR/ready, then waits for signals: SIGUSR1 writes DIR/alive.N (the
 * restored process runs again), SIGUSR2 checks one word at each end of
 * every page and writes DIR/verify.N ("ok" or "bad N"). It keeps no file
 * open, so CRIU dumps it anywhere.
 *
 * The layouts (test/lib/workload.c, shared with pagehold): scattered has a
 * helper process first take 2*MIB MiB and free every other page, so free
 * memory is a sieve of single frames; the region is then faulted in
 * random order into those holes, and the helper exits: the region's
 * frames are neither contiguous nor in virtual order. shared is one
 * MAP_SHARED anonymous region (shmem) that hold maps with two children it
 * forks after filling it: three processes, one object; the children only
 * wait (and die with their parent).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

#define PAGE	WL_PAGE
#define HPAGE	(2UL << 20)

static const char *dir;

static void die(const char *what)
{
	fprintf(stderr, "khop_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * Whole or not at all: the guest script waits for the file to appear and
 * reads it at once, so it is written aside and renamed into place.
 */
static void write_file(const char *name, const char *text)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fputs(text, f);
	if (fclose(f))
		die(tmp);
	if (rename(tmp, path))
		die(path);
}

static char *map_anon(size_t len, size_t align)
{
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		die("mmap");
	a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	return (char *)a;
}

/*
 * Runs of physically adjacent frames in the set of the region's frames
 * (whatever their virtual order), from /proc/self/pagemap (root only):
 * 1 for one physically contiguous block, the page count for a sieve; 0
 * when they cannot be read.
 */
static size_t phys_runs(char *base, size_t pages)
{
	uint64_t *pfn = malloc(pages * 8);
	size_t runs = 0;

	if (pfn && !wl_read_pfns(base, pages, pfn))
		runs = wl_phys_runs(pfn, pages);
	free(pfn);
	return runs;
}

static long thp_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The shared layout: one MAP_SHARED anonymous region, three processes. */
static char *hold_shared(size_t pages)
{
	char *base = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED)
		die("mmap MAP_SHARED");
	for (size_t i = 0; i < pages; i++)
		wl_fill_page(base + i * PAGE);
	for (int c = 0; c < 2; c++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (!pid) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(0);
			for (;;)
				pause();
		}
	}
	return base;
}

static int do_hold(const char *layout, size_t mib)
{
	size_t pages = mib * 256, i, bad;
	bool shared = !strcmp(layout, "shared");
	char *base = shared ? NULL : map_anon(pages * PAGE, HPAGE);
	char buf[512];
	unsigned int seq = 0;
	const char *why = NULL;
	sigset_t set;
	double t0 = wl_now_ms();

	if (shared)
		base = hold_shared(pages);
	else
		why = wl_fill_layout(base, pages, layout);
	if (why) {
		fprintf(stderr, "khop_bench: %s: %s\n", layout, why);
		return 2;
	}
	snprintf(buf, sizeof(buf),
		 "pid %d\npages %zu\nphys_runs %zu\nthp_kb %ld\nfill_ms %.0f\n",
		 getpid(), pages, phys_runs(base, pages), thp_kb(), wl_now_ms() - t0);
	write_file("info", buf);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	write_file("ready", "ready\n");
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		char name[64];

		if (sig < 0)
			continue;	/* EINTR: e.g. around a checkpoint */
		seq++;
		if (sig == SIGUSR1) {
			snprintf(name, sizeof(name), "alive.%u", seq);
			write_file(name, "alive\n");
			continue;
		}
		for (i = 0, bad = 0; i < pages; i++)
			bad += !wl_page_ends_ok(base + i * PAGE);
		snprintf(name, sizeof(name), "verify.%u", seq);
		snprintf(buf, sizeof(buf), "%s %zu thp_kb=%ld\n",
			 bad ? "bad" : "ok", bad, thp_kb());
		write_file(name, buf);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int do_memcpy(size_t mib)
{
	size_t len = mib << 20, i;
	char *src = map_anon(len, HPAGE), *dst = map_anon(len, HPAGE);
	double t[3], t0;

	/* 4 KiB pages on both sides: the cost of copying the data itself. */
	madvise(src, len, MADV_NOHUGEPAGE);
	madvise(dst, len, MADV_NOHUGEPAGE);
	for (i = 0; i < len; i += PAGE) {
		wl_fill_page(src + i);
		dst[i] = 0;
	}
	for (i = 0; i < 3; i++) {
		t0 = wl_now_ms();
		memcpy(dst, src, len);
		t[i] = wl_now_ms() - t0;
	}
	qsort(t, 3, sizeof(t[0]), cmp_double);
	if (memcmp(dst, src, PAGE))
		die("memcpy");
	printf("memcpy_ms %.1f\nmemcpy_min_ms %.1f\nmemcpy_max_ms %.1f\n",
	       t[1], t[0], t[2]);
	return 0;
}

static volatile sig_atomic_t memlow_stop;

static void memlow_on_term(int sig)
{
	(void)sig;
	memlow_stop = 1;
}

/*
 * Free memory as the buddy allocator and the per-CPU lists hold it, from
 * /proc/zoneinfo: MemFree alone misses the per-CPU lists, which take
 * freed pages in large batches and serve the next allocations.
 */
static long free_kib(int fd)
{
	static char buf[1 << 16];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pages = 0, v;
	char *p;

	if (n <= 0)
		die("read /proc/zoneinfo");
	buf[n] = 0;
	for (p = buf; p; p = strchr(p, '\n')) {
		p += *p == '\n';
		if (sscanf(p, " pages free %ld", &v) == 1 ||
		    sscanf(p, " count: %ld", &v) == 1)
			pages += v;
	}
	return pages * (long)(PAGE / 1024);
}

/* A poller without forks: a shell loop would miss a short peak. */
static int do_memlow(long ms)
{
	const struct timespec tick = { ms / 1000, (ms % 1000) * 1000 * 1000 };
	int fd = open("/proc/zoneinfo", O_RDONLY);
	long before, low, v;
	char text[128];

	if (fd < 0)
		die("/proc/zoneinfo");
	signal(SIGTERM, memlow_on_term);
	before = low = free_kib(fd);
	write_file("memlow.ready", "");
	while (!memlow_stop) {
		v = free_kib(fd);
		if (v < low)
			low = v;
		nanosleep(&tick, NULL);
	}
	v = free_kib(fd);
	if (v < low)
		low = v;
	snprintf(text, sizeof(text), "before %ld\nlow %ld\n", before, low);
	write_file("memlow", text);
	return 0;
}

static int do_ping(pid_t pid, const char *answer)
{
	const struct timespec tick = { 0, 1000 * 1000 };
	long waited;

	if (kill(pid, SIGUSR1))
		die("ping: kill");
	for (waited = 0; access(answer, F_OK); waited++) {
		if (waited == 600 * 1000) {
			fprintf(stderr, "khop_bench: ping: no %s after 600 s\n", answer);
			return 1;
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "hold")) {
		dir = argv[4];
		if (chdir("/"))
			die("chdir");
		return do_hold(argv[2], strtoul(argv[3], NULL, 0));
	}
	if (argc == 3 && !strcmp(argv[1], "memcpy"))
		return do_memcpy(strtoul(argv[2], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "ping"))
		return do_ping((pid_t)strtol(argv[2], NULL, 10), argv[3]);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "memlow")) {
		dir = argv[2];
		return do_memlow(argc == 4 ? strtol(argv[3], NULL, 10) : 20);
	}
	fprintf(stderr, "usage: khop_bench hold contiguous|scattered|thp|shared MIB DIR\n"
		"       khop_bench memcpy MIB\n"
		"       khop_bench ping PID FILE\n"
		"       khop_bench memlow DIR [MS]\n");
	return 2;
}
