// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_repro: minimal reproducers of what khopages_fuzz found.
 *
 *   khopages_repro thp-handover FILE hand session "repro-thp" (one 2 MiB
 *                                    THP of this process) over through
 *                                    Live Update, a holder keeping it;
 *                                    FILE gets pid and address
 *   khopages_repro thp-map FILE      after kexec: retrieve it, MAP the THP
 *                                    into a new VMA (PMD), check the data,
 *                                    munmap, close the retrieved file (its
 *                                    last close releases the session); the
 *                                    kernel then freed a folio that was
 *                                    still on the THP deferred-split list
 *                                    (see dmesg)
 *   khopages_repro withdraw-shared [N]
 *                                    N sessions (1 or 2, default 2) preserve
 *                                    the same 16 MiB, each is preserved in
 *                                    a Live Update session, the Live Update
 *                                    sessions are closed (the preserve
 *                                    taken back, the sessions open again)
 *                                    and then the files (aborting them):
 *                                    every page must come back (N=1 is the
 *                                    control)
 *
 * Each check is a TAP case (test/lib/ktap.h); a call that fails ends the
 * program ("Bail out!"). Exit status 0 when the calls behaved as
 * documented, 1 otherwise: thp-handover when the range is not one THP (no
 * reproducer), thp-map when the data differs or the session outlives its
 * file, withdraw-shared when the memory does not come back. The kernel's
 * own reports are for the guest script to find in dmesg.
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handover.h"
#include "khopages.h"
#include "ktap.h"

#define MIB		(1UL << 20)
#define HUGE		(2 * MIB)
#define SHARED_LEN	(16 * MIB)
#define THP_HOLDER	"/tmp/khopages_repro.repro-thp.pid"

static void __attribute__((noreturn)) die(const char *what, struct khop *k)
{
	ktap_bail("%s: %s", what, k ? khop_error(k) : strerror(errno));
}

static uint64_t word(uint64_t va)
{
	return va * 0x9e3779b97f4a7c15ULL ^ 0x5eed;
}

/* Anonymous memory of @len at an address aligned to 2 MiB. */
static char *map_aligned(size_t len, int advice)
{
	char *p = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		die("mmap", NULL);
	a = ((uintptr_t)p + HUGE - 1) & ~(HUGE - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + HUGE - a);
	if (madvise((void *)a, len, advice))
		die("madvise", NULL);
	return (char *)a;
}

static long anon_huge_kb(void)
{
	char line[256];
	long kb = 0, v;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &v) == 1)
			kb = v;
	if (f)
		fclose(f);
	return kb;
}

static void thp_handover(const char *file)
{
	char *p = map_aligned(HUGE, MADV_HUGEPAGE);
	struct khopages_preserve r;
	struct khop *k;
	FILE *f;

	for (uint64_t i = 0; i < HUGE / 8; i++)
		((uint64_t *)p)[i] = word((uint64_t)(uintptr_t)p + i * 8);
	ktap_diag("AnonHugePages of this process: %ld kB", anon_huge_kb());
	if (khop_open(&k))
		die("open", NULL);
	if (khop_create(k, "repro-thp") ||
	    khop_preserve(k, getpid(), (uintptr_t)p, HUGE, &r))
		die("repro-thp", k);
	if (kt_hand_over(khop_fd(k), "repro-thp", THP_HOLDER) < 0)
		ktap_bail("hand over repro-thp: %s", kt_handover_error());
	khop_close(k);
	ktap_pass("hand repro-thp over through Live Update");
	ktap_diag("handed over repro-thp: pid %d %p: %llu pages in %llu folios",
		  getpid(), p, (unsigned long long)r.nr_pages,
		  (unsigned long long)r.nr_folios);
	f = fopen(file, "w");
	if (!f || fprintf(f, "%d %" PRIxPTR "\n", getpid(), (uintptr_t)p) < 0 ||
	    fclose(f))
		die("write the record", NULL);
	ktap_check("repro-thp is one THP", r.nr_folios == 1, "%llu folios: no reproducer",
		   (unsigned long long)r.nr_folios);
}

static void thp_map(const char *file)
{
	struct khopages_session_info info;
	struct khopages_map m;
	uintptr_t orig;
	struct khop *k;
	uint64_t bad = 0;
	char *dst;
	FILE *f;
	int pid, fd;

	f = fopen(file, "r");
	if (!f || fscanf(f, "%d %" SCNxPTR, &pid, &orig) != 2)
		die("read the record", NULL);
	fclose(f);
	dst = map_aligned(HUGE, MADV_NOHUGEPAGE);
	fd = kt_take_over("repro-thp");
	if (fd < 0)
		ktap_bail("retrieve repro-thp: %s", kt_handover_error());
	if (khop_from_fd(fd, &k))
		ktap_bail("retrieved repro-thp: %s", khop_open_error());
	if (khop_map(k, pid, orig, (uintptr_t)dst, HUGE, &m))
		die("MAP", k);
	ktap_pass("retrieve and MAP repro-thp");
	ktap_diag("MAP: %llu pages mapped, %llu shared, %llu copied",
		  (unsigned long long)m.nr_mapped, (unsigned long long)m.nr_shared,
		  (unsigned long long)m.nr_copied);
	for (uint64_t i = 0; i < HUGE / 8; i++)
		bad += ((uint64_t *)dst)[i] != word(orig + i * 8);
	ktap_check("the THP holds its data", !bad, "%" PRIu64 " of %lu words wrong", bad, HUGE / 8);
	ktap_diag("AnonHugePages %ld kB", anon_huge_kb());
	/* The mapping goes first, the driver's reference last. */
	munmap(dst, HUGE);
	khop_close(k);
	if (khop_open(&k))
		die("open", NULL);
	ktap_check_err("munmap, then the last close of the retrieved file releases repro-thp",
		       khop_stats(k, "repro-thp", &info), -ENOENT);
	khop_close(k);
}

static void settle(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
	fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			perror("compact_memory");
		close(fd);
	}
	/* Shrinking the slab caches also empties KASAN's quarantine. */
	if (system("for f in /sys/kernel/slab/*/shrink; do echo 1 >$f; done 2>/dev/null"))
		ktap_diag("could not shrink the slab caches");
	sleep(1);
}

/* MemFree plus the pages on the per-CPU free lists (as free_kib does). */
static long mem_free_kb(void)
{
	char line[256];
	long kb = -1, v, pcp = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemFree: %ld kB", &v) == 1)
			kb = v;
	if (f)
		fclose(f);
	f = fopen("/proc/zoneinfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &v) == 1)
			pcp += v;
	if (f)
		fclose(f);
	return kb + pcp * 4;
}

static void withdraw_shared(int n)
{
	static const char *const names[2] = { "repro-wd-a", "repro-wd-b" };
	struct khop *k[2];
	int fds[2], luo[2], pid, st;
	long before, after;
	char *p, c;

	settle();
	before = mem_free_kb();
	p = map_aligned(SHARED_LEN, MADV_NOHUGEPAGE);
	if (pipe(fds))
		die("pipe", NULL);
	pid = fork();
	if (!pid) {
		memset(p, 0x5a, SHARED_LEN);
		if (write(fds[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	munmap(p, SHARED_LEN);
	if (read(fds[0], &c, 1) != 1)
		die("holder", NULL);
	for (int i = 0; i < n; i++) {
		struct khopages_preserve r;

		if (khop_open(&k[i]))
			die("open", NULL);
		if (khop_create(k[i], names[i]) ||
		    khop_preserve(k[i], pid, (uintptr_t)p, SHARED_LEN, &r))
			die(names[i], k[i]);
		if (khop_luo_create(names[i], &luo[i]) ||
		    khop_luo_preserve_fd(luo[i], khop_fd(k[i]), KHOP_LUO_TOKEN_PAGES))
			ktap_bail("%s", khop_luo_error());
		ktap_diag("%s: preserved in Live Update, %llu pages, %llu folios", names[i],
			  (unsigned long long)r.nr_pages,
			  (unsigned long long)r.nr_folios);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	/* Every preserve taken back, then every session aborted by its close. */
	for (int i = 0; i < n; i++)
		close(luo[i]);
	for (int i = 0; i < n; i++) {
		struct khopages_session_info info;

		if (khop_stats(k[i], names[i], &info))
			die(names[i], k[i]);
		ktap_check("closing its Live Update session: the session is open again",
			   info.state == KHOPAGES_STATE_OPEN, "%s is %s", names[i],
			   khop_state_name(info.state));
		khop_close(k[i]);
	}
	settle();
	after = mem_free_kb();
	ktap_diag("%d session(s): MemFree before %ld kB, after %ld kB: %ld kB not back (the range"
		  " is %lu kB)", n, before, after, before - after, SHARED_LEN / 1024);
	ktap_check("the pages the withdrawn sessions shared came back",
		   before - after <= (long)(SHARED_LEN / 1024) / 2, "%ld kB did not",
		   before - after);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "thp-handover")) {
		ktap_start();
		thp_handover(argv[2]);
	} else if (argc == 3 && !strcmp(argv[1], "thp-map")) {
		ktap_start();
		thp_map(argv[2]);
	} else if (argc >= 2 && argc <= 3 && !strcmp(argv[1], "withdraw-shared")) {
		int n = argc == 3 ? atoi(argv[2]) : 2;

		if (n < 1 || n > 2)
			return 2;
		ktap_start();
		withdraw_shared(n);
	} else {
		fprintf(stderr,
			"usage: khopages_repro thp-handover FILE | thp-map FILE | withdraw-shared [1|2]\n");
		return 2;
	}
	return ktap_finish();
}
