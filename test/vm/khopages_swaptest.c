// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_swaptest: what reclaim and memory errors do to PRESERVE.
 *
 *   khopages_swaptest swap DIR     first kernel (swap must be on)
 *   khopages_swaptest verify DIR   next kernel, after `kexec -e`
 *   khopages_swaptest hwpoison     one kernel, CONFIG_MEMORY_FAILURE
 *
 * swap: a target process fills a region with an address-dependent
 * pattern; most of it is paged out before PRESERVE (so PRESERVE has to
 * swap it back in, which takes a while), and a thread keeps paging out the
 * rest with process_madvise(MADV_PAGEOUT) while PRESERVE runs. A page
 * taken by PRESERVE and then reclaimed stays in the swap cache (we hold
 * it) behind a swap entry. The khopages file is then handed over in Live
 * Update session "swaptest" (a holder keeps it open until the kexec, its
 * pid in DIR/holder.pid), and a marker is written over the whole region
 * with process_vm_writev(), which swaps such pages back in with a write
 * fault. Every handed-over byte must still be the byte of the time of
 * PRESERVE: the writes must land in copies. DIR/swaptest.desc describes
 * the region, DIR/stage1.done marks success.
 *
 * verify: retrieves the file from Live Update, maps the region back into
 * this process and compares every byte with the pattern (pages that hold
 * the marker were written after the hand-over); closing the file releases
 * the session.
 *
 * hwpoison: a target poisons one page of its region (MADV_HWPOISON) and
 * leaves one never touched. PRESERVE over the region must fail with EIO
 * and hold nothing; PRESERVE of the part before the poisoned page, hole
 * included, must work; ABORT must give everything back.
 *
 * Every check is a TAP case (test/lib/ktap.h): "ok N - what" or "not ok
 * N - what # why"; any failed one makes the program exit 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handover.h"
#include "khopages.h"
#include "khopages_testlib.h"
#include "ktap.h"

#define SESSION		"swaptest"
#define DESC_FILE	"swaptest.desc"
#define DONE_FILE	"stage1.done"
#define HOLDER_FILE	"holder.pid"
#define MARKER		0xa5

/* swap: the region, the part paged out before PRESERVE, and the part the
 * thread keeps paging out while PRESERVE runs (the first one it takes). */
#define SWAP_LEN	(96 * KT_MIB)
#define SWAP_HOT	(16 * KT_MIB)

/* hwpoison: a small region with a hole and a poisoned page. */
#define HWP_PAGES	64
#define HWP_HOLE	3
#define HWP_POISON	40

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pidfd_open(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

static long pageout(int pidfd, uint64_t start, uint64_t len)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)start, .iov_len = len };

	return syscall(SYS_process_madvise, pidfd, &iov, 1, MADV_PAGEOUT, 0);
}

/* Pages of [start, start + len) of @pid that are swap entries (bit 62). */
static uint64_t count_swapped(pid_t pid, uint64_t start, uint64_t len)
{
	uint64_t n = len / KT_PAGE, i, swapped = 0;
	uint64_t *pm = calloc(n, sizeof(*pm));

	if (!pm || kt_pagemap(pid, start, n, pm))
		ktap_bail("pagemap of %d: %s", pid, strerror(errno));
	for (i = 0; i < n; i++)
		swapped += (pm[i] >> 62) & 1;
	free(pm);
	return swapped;
}

/*
 * A child that maps @len bytes (order-0 pages), fills them with the
 * pattern for @seed except page @hole, poisons page @poison (both
 * ignored when >= the page count), reports the address and the result of
 * the poisoning through a pipe, then waits to be killed.
 */
struct target {
	pid_t pid;
	uint64_t start;
	int poison_err;
};

static volatile sig_atomic_t got_sigbus;

static void on_sigbus(int sig)
{
	(void)sig;
	got_sigbus = 1;
}

static void start_target(struct target *t, uint64_t len, uint64_t seed,
			 uint64_t hole, uint64_t poison)
{
	uint64_t msg[2];
	int fds[2];

	if (pipe(fds))
		ktap_bail("pipe: %s", strerror(errno));
	t->pid = fork();
	if (t->pid < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!t->pid) {
		struct sigaction sa = { .sa_handler = on_sigbus };
		uint64_t npages = len / KT_PAGE, i;
		char *p;

		close(fds[0]);
		p = kt_map_aligned(len, KT_HUGE);
		if (p == MAP_FAILED)
			_exit(2);
		madvise(p, len, MADV_NOHUGEPAGE);
		for (i = 0; i < npages; i++)
			if (i != hole)
				kt_fill(p + i * KT_PAGE, KT_PAGE, seed,
					(uintptr_t)p + i * KT_PAGE);
		msg[0] = (uintptr_t)p;
		msg[1] = 0;
		if (poison < npages) {
			/* The kernel tells the poisoner with SIGBUS. */
			sigaction(SIGBUS, &sa, NULL);
			if (madvise(p + poison * KT_PAGE, KT_PAGE, MADV_HWPOISON))
				msg[1] = errno;
		}
		if (kt_write_all(fds[1], msg, sizeof(msg)))
			_exit(3);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (kt_read_all(fds[0], msg, sizeof(msg)))
		ktap_bail("the target process died before it was ready");
	close(fds[0]);
	t->start = msg[0];
	t->poison_err = (int)msg[1];
}

struct pager {
	pthread_t thread;
	int pidfd;
	uint64_t start, len;
	volatile bool stop;
	unsigned long passes;
	long err;
};

static void *pager_main(void *arg)
{
	struct pager *pg = arg;

	while (!pg->stop) {
		if (pageout(pg->pidfd, pg->start, pg->len) < 0) {
			pg->err = errno;
			break;
		}
		pg->passes++;
	}
	return NULL;
}

/* Write the marker over the whole region, as a debugger would. */
static void write_marker(pid_t pid, uint64_t start, uint64_t len)
{
	static char buf[KT_MIB];
	struct iovec local = { .iov_base = buf, .iov_len = sizeof(buf) };
	uint64_t off;

	memset(buf, MARKER, sizeof(buf));
	for (off = 0; off < len; off += sizeof(buf)) {
		struct iovec remote = {
			.iov_base = (void *)(uintptr_t)(start + off),
			.iov_len = sizeof(buf),
		};
		ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);

		if (n != (ssize_t)sizeof(buf))
			ktap_bail("process_vm_writev at %#" PRIx64 ": %zd (%s)",
				  start + off, n, n < 0 ? strerror(errno) : "short");
	}
}

static void do_swap(const char *dir)
{
	uint64_t seed, npages = SWAP_LEN / KT_PAGE, swapped;
	struct khopages_preserve res;
	struct pager pg = { 0 };
	struct target t;
	struct khop *k;
	char path[512];
	double t0, t1;
	FILE *f;
	int ret;

	if (kt_meminfo_kb("SwapTotal") <= 0)
		ktap_bail("no swap: the guest script turns on swap on zram first");
	seed = (uint64_t)getpid() << 32 | (uint64_t)time(NULL);
	start_target(&t, SWAP_LEN, seed, UINT64_MAX, UINT64_MAX);
	ktap_diag("target %d: %" PRIu64 " MiB at %#" PRIx64, t.pid,
		  SWAP_LEN / KT_MIB, t.start);
	if (kt_freeze(t.pid))
		ktap_bail("cannot freeze the target: %s", strerror(errno));
	pg.pidfd = pidfd_open(t.pid);
	if (pg.pidfd < 0)
		ktap_bail("pidfd_open: %s", strerror(errno));

	/* Most of it out now: PRESERVE has to read it back, page by page. */
	if (pageout(pg.pidfd, t.start + SWAP_HOT, SWAP_LEN - SWAP_HOT) < 0)
		ktap_bail("MADV_PAGEOUT: %s", strerror(errno));
	swapped = count_swapped(t.pid, t.start, SWAP_LEN);
	ktap_diag("before PRESERVE: %" PRIu64 " of %" PRIu64 " pages swapped out",
		  swapped, npages);
	if (swapped < (SWAP_LEN - SWAP_HOT) / KT_PAGE / 2)
		ktap_bail("MADV_PAGEOUT swapped out only %" PRIu64 " pages", swapped);

	ret = khop_open(&k);
	if (ret)
		ktap_bail("%s", khop_open_error());
	if (khop_create(k, SESSION))
		ktap_bail("create: %s", khop_error(k));

	/* The hot part goes out again and again while PRESERVE runs. */
	pg.start = t.start;
	pg.len = SWAP_HOT;
	if (pthread_create(&pg.thread, NULL, pager_main, &pg))
		ktap_bail("pthread_create failed");
	t0 = now();
	memset(&res, 0, sizeof(res));
	ret = khop_preserve(k, t.pid, t.start, SWAP_LEN, &res);
	t1 = now();
	pg.stop = true;
	pthread_join(pg.thread, NULL);
	if (ret)
		ktap_bail("preserve: %s", khop_error(k));
	if (pg.err)
		ktap_bail("MADV_PAGEOUT in the thread: %s", strerror(pg.err));
	ktap_diag("PRESERVE: %" PRIu64 " pages, %" PRIu64 " folios, %.3f s; %lu pageout passes meanwhile",
		  (uint64_t)res.nr_pages, (uint64_t)res.nr_folios, t1 - t0,
		  pg.passes);
	ktap_check("PRESERVE takes every page, swapped out or not", res.nr_pages == npages,
		   "it took %" PRIu64 " of %" PRIu64, (uint64_t)res.nr_pages, npages);

	/* Once more, with everything held: all of it stays in swap cache. */
	if (pageout(pg.pidfd, t.start, SWAP_LEN) < 0)
		ktap_bail("MADV_PAGEOUT: %s", strerror(errno));
	swapped = count_swapped(t.pid, t.start, SWAP_LEN);
	ktap_diag("after PRESERVE and another pageout: %" PRIu64 " pages swapped out",
		  swapped);
	snprintf(path, sizeof(path), "%s/%s", dir, HOLDER_FILE);
	if (kt_hand_over(khop_fd(k), SESSION, path) < 0)
		ktap_bail("hand over: %s", kt_handover_error());
	ktap_pass("hand the khopages file over in Live Update session " SESSION);

	/* A debugger, a robust-futex walk, a TID clear: writes once handed over. */
	write_marker(t.pid, t.start, SWAP_LEN);
	ktap_diag("marker 0x%02x written over the region after the hand-over", MARKER);
	kt_kill_wait(t.pid);
	close(pg.pidfd);

	snprintf(path, sizeof(path), "%s/%s", dir, DESC_FILE);
	f = fopen(path, "w");
	if (!f)
		ktap_bail("%s: %s", path, strerror(errno));
	fprintf(f, "%d %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n", t.pid,
		t.start, SWAP_LEN, seed);
	if (fclose(f))
		ktap_bail("%s: %s", path, strerror(errno));
	khop_close(k);
	if (ktap_failed())
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, DONE_FILE);
	f = fopen(path, "w");
	if (!f || fclose(f))
		ktap_bail("%s: %s", path, strerror(errno));
	ktap_diag("stage 1 done");
}

static bool all_marker(const unsigned char *p)
{
	for (unsigned int i = 0; i < KT_PAGE; i++)
		if (p[i] != MARKER)
			return false;
	return true;
}

static void do_verify(const char *dir)
{
	uint64_t start, len, seed, i, bad = 0, marked = 0, zero = 0;
	struct khopages_session_info info;
	struct khopages_map m;
	struct khop *k;
	char path[512];
	int pid, fd;
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "%s/%s", dir, DESC_FILE);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%d %" SCNx64 " %" SCNx64 " %" SCNx64, &pid,
			 &start, &len, &seed) != 4)
		ktap_bail("cannot read %s", path);
	fclose(f);
	fd = kt_take_over(SESSION);
	if (fd < 0)
		ktap_bail("take over: %s", kt_handover_error());
	if (khop_from_fd(fd, &k))
		ktap_bail("the retrieved file: %s", khop_open_error());
	ktap_pass("retrieve the khopages file from Live Update session " SESSION);
	p = mmap((void *)(uintptr_t)start, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		ktap_bail("mmap at %#" PRIx64 ": %s", start, strerror(errno));
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(&m, 0, sizeof(m));
	if (khop_map(k, pid, start, start, len, &m))
		ktap_bail("map: %s", khop_error(k));
	ktap_pass("map the handed-over range");
	ktap_diag("MAP: %" PRIu64 " pages mapped", (uint64_t)m.nr_mapped);
	for (i = 0; i < len / KT_PAGE; i++) {
		const char *pg = p + i * KT_PAGE;
		unsigned int first = 0;

		if (!kt_page_bad_bytes(pg, seed, start + i * KT_PAGE, &first))
			continue;
		if (!bad)
			ktap_diag("first bad page at %#" PRIx64 ", byte %u: 0x%02x",
				  start + i * KT_PAGE, first,
				  (unsigned char)pg[first]);
		bad++;
		if (all_marker((const unsigned char *)pg))
			marked++;
		else if (!kt_page_nonzero_bytes(pg))
			zero++;
	}
	ktap_check("every handed-over page holds what it held at PRESERVE", !bad,
		   "%" PRIu64 " of %" PRIu64 " differ: %" PRIu64 " hold the marker written after"
		   " the hand-over, %" PRIu64 " are zero", bad, len / KT_PAGE, marked, zero);
	ktap_check("munmap of the mapped range", !munmap(p, len), "%s", strerror(errno));
	khop_close(k);
	/* Its last file closed, the session is released. */
	if (khop_open(&k))
		ktap_bail("%s", khop_open_error());
	ktap_check_err("stats after closing the retrieved file -> ENOENT",
		       khop_stats(k, SESSION, &info), -ENOENT);
	khop_close(k);
}

static void do_hwpoison(void)
{
	uint64_t len = HWP_PAGES * KT_PAGE, pfns[HWP_PAGES], pm[HWP_PAGES];
	struct khopages_session_info info;
	struct khopages_preserve res;
	uint64_t i, n = 0, orphans;
	struct target t;
	struct khop *k;
	int ret;

	start_target(&t, len, 0x5eed, HWP_HOLE, HWP_POISON);
	if (t.poison_err)
		ktap_bail("MADV_HWPOISON: %s (CONFIG_MEMORY_FAILURE? root?)",
			  strerror(t.poison_err));
	if (kt_pagemap(t.pid, t.start, HWP_PAGES, pm))
		ktap_bail("pagemap: %s", strerror(errno));
	for (i = 0; i < HWP_PAGES; i++)
		if (kt_pm_present(pm[i]))
			pfns[n++] = kt_pm_pfn(pm[i]);
	ktap_diag("target %d: %d pages at %#" PRIx64 ", page %d never touched, page %d poisoned; %" PRIu64 " present",
		  t.pid, HWP_PAGES, t.start, HWP_HOLE, HWP_POISON, n);
	if (kt_pm_present(pm[HWP_POISON]))
		ktap_bail("the poisoned page is still mapped");
	if (n != HWP_PAGES - 2)
		ktap_bail("expected %d present pages", HWP_PAGES - 2);
	if (kt_freeze(t.pid))
		ktap_bail("cannot freeze the target: %s", strerror(errno));

	ret = khop_open(&k);
	if (ret)
		ktap_bail("%s", khop_open_error());
	if (khop_create(k, "hwpoison"))
		ktap_bail("create: %s", khop_error(k));
	memset(&res, 0, sizeof(res));
	ret = khop_preserve(k, t.pid, t.start, len, &res);
	if (!ret)
		ktap_fail("PRESERVE over a poisoned page -> EIO", "it succeeded (%" PRIu64
			  " pages): the page would come back as zeroes", (uint64_t)res.nr_pages);
	else if (ktap_check_err("PRESERVE over a poisoned page -> EIO", ret, -EIO))
		ktap_diag("PRESERVE over the poisoned page: EIO (%s)", khop_error(k));
	if (khop_stats(k, "hwpoison", &info))
		ktap_fail("the failed PRESERVE left nothing in the session", "stats: %s",
			  khop_error(k));
	else
		ktap_check("the failed PRESERVE left nothing in the session",
			   !ret || (!info.nr_pages && !info.nr_folios && !info.nr_pids),
			   "%" PRIu64 " pages, %" PRIu64 " folios, %u pids",
			   (uint64_t)info.nr_pages, (uint64_t)info.nr_folios, info.nr_pids);

	/* Up to the poisoned page it works, and the hole stays a hole. */
	if (!ret) {
		ktap_skip("PRESERVE before the poisoned page skips the hole", "the range is taken");
	} else {
		memset(&res, 0, sizeof(res));
		ret = khop_preserve(k, t.pid, t.start, HWP_POISON * KT_PAGE, &res);
		if (ret)
			ktap_fail("PRESERVE before the poisoned page skips the hole", "%s",
				  khop_error(k));
		else
			ktap_check("PRESERVE before the poisoned page skips the hole",
				   res.nr_pages == HWP_POISON - 1, "it took %" PRIu64
				   " pages, expected %d (one hole)", (uint64_t)res.nr_pages,
				   HWP_POISON - 1);
	}
	ktap_check("abort", !khop_abort(k), "%s", khop_error(k));
	ktap_check("the session is gone after ABORT", khop_stats(k, "hwpoison", &info) != 0,
		   "it is still there");
	khop_close(k);

	/* Nothing may hold a page of the dead target. */
	kt_kill_wait(t.pid);
	kt_settle();
	orphans = kt_count_orphan_anon(pfns, n);
	ktap_check("no page of the target is held after ABORT and exit", !orphans,
		   "%" PRIu64 " pages of the dead target are still held", orphans);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "swap")) {
		ktap_start();
		do_swap(argv[2]);
	} else if (argc == 3 && !strcmp(argv[1], "verify")) {
		ktap_start();
		do_verify(argv[2]);
	} else if (argc == 2 && !strcmp(argv[1], "hwpoison")) {
		ktap_start();
		do_hwpoison();
	} else {
		fprintf(stderr, "usage: %s swap DIR | verify DIR | hwpoison\n", argv[0]);
		return 2;
	}
	return ktap_finish();
}
