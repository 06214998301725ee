// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_memtest: the anonymous memory of a process tree across a real
 * kexec through KHO, checked byte by byte and frame by frame.
 *
 *   khopages_memtest fill DIR     first kernel
 *   khopages_memtest verify DIR   next kernel, after `kexec -e`
 *
 * fill: a workload parent P builds five regions with address-dependent
 * patterns (plain, partly read-only, THP, copy-on-write, sparse) and forks
 * a child C that shares all of them copy-on-write and writes to part of the
 * COW region. This program plays CRIU's part: it freezes both with ptrace,
 * records every present page (pid, va -> pfn), preserves every range of
 * both in session "memtest", checks each counter against what it computed
 * from /proc/PID/pagemap and /proc/kpageflags, commits, and kills them.
 * DIR/memtest.desc describes the regions, the preserve calls, every page
 * and the session statistics; DIR/stage1.done marks success.
 *
 * verify: maps the parent's ranges into this process (at the original
 * addresses when free), checks every byte and that every page is at the
 * very frame it had before the kexec; forks a child that maps the old
 * child's ranges at the same places (shared pages must come back shared);
 * then exercises the memory (COW both ways, fork, mprotect, mremap,
 * munmap), finishes the session and checks that MemFree got the preserved
 * memory back once everything is unmapped.
 *
 * Every check is a TAP case, "ok N - what" or "not ok N - what # why"
 * (test/lib/ktap.h); details of bad pages are "# " lines; the program
 * exits 1 when any case failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "khopages.h"
#include "khopages_testlib.h"
#include "ktap.h"

#define SESSION		"memtest"
#define DESC_FILE	"memtest.desc"
#define DONE_FILE	"stage1.done"
#define HANDOVER_FDT	"/sys/kernel/debug/kho/in/sub_fdts/khopages"

enum { PARENT, CHILD, NR_PROCS };
static const char *const who_name[NR_PROCS] = { "parent", "child" };

enum { R_PLAIN, R_MPROT, R_THP, R_COW, R_SPARSE, NR_REGIONS };

static const struct region_spec {
	const char *name;
	uint64_t len;
	int madv;		/* 0, MADV_HUGEPAGE or MADV_NOHUGEPAGE */
	bool ro_half;		/* second half mprotect'ed PROT_READ */
} specs[NR_REGIONS] = {
	[R_PLAIN]  = { "plain",    32 * KT_MIB, 0,               false },
	[R_MPROT]  = { "mprotect",  4 * KT_MIB, 0,               true  },
	[R_THP]    = { "thp",       8 * KT_MIB, MADV_HUGEPAGE,   false },
	/* NOHUGEPAGE: order-0 folios, so COW and holes are per page even
	 * with THP=always. */
	[R_COW]    = { "cow",       8 * KT_MIB, MADV_NOHUGEPAGE, false },
	[R_SPARSE] = { "sparse",   16 * KT_MIB, MADV_NOHUGEPAGE, false },
};

/* Sparse region: every third page is written, then a block is dropped. */
#define SPARSE_DROP_FIRST	1024
#define SPARSE_DROP_END		1536
static bool sparse_present(uint64_t i)
{
	return i % 3 == 0 && !(i >= SPARSE_DROP_FIRST && i < SPARSE_DROP_END);
}

/* COW region: the child writes every other page of the second half. */
static bool cow_child_writes(uint64_t i, uint64_t n)
{
	return i >= n / 2 && i % 2 == 0;
}

/* Stage 2: pages of the plain region the parent rewrites while a child
 * still shares them (1 MiB, later unmapped again). */
#define COW_TEST_PAGES	256

struct pageinfo {
	uint64_t pfn;		/* frame at commit time (stage 2: recorded) */
	uint64_t pre_pfn;	/* stage 1: frame before PRESERVE */
	uint64_t seed;		/* pattern the page holds (stage 2: now) */
	bool present;		/* recorded page; else a hole (reads zero) */
	bool pfn_kept;		/* stage 2: must still be at @pfn */
	bool gone;		/* stage 2: unmapped on purpose */
};

struct region {
	char name[16];
	uint64_t start, len, seed;
	int madv;
	uint64_t ro_off, ro_len;
	struct pageinfo *pg[NR_PROCS];
	char *dst;		/* stage 2: where it is mapped now */
	bool at_orig;
};

/* One PRESERVE call of stage 1 (and the matching MAP of stage 2). */
struct range {
	int who, region;
	uint64_t off, len;
	uint64_t nr_pages, nr_folios, nr_moved;	/* as the driver reported */
};

#define MAX_RANGES	(NR_PROCS * NR_REGIONS * 2)

static struct region regions[NR_REGIONS];
static struct range ranges[MAX_RANGES];
static int nr_ranges;
static pid_t pids[NR_PROCS];
static uint64_t child_seed;
static struct khopages_session_info saved;	/* stats after COMMIT */

static unsigned int details_left = 24;	/* per-page detail lines printed */

/* A detail line for one bad page; the total is reported anyway. */
static bool want_detail(void)
{
	if (!details_left)
		return false;
	if (!--details_left)
		ktap_diag("(further per-page failures not shown)");
	return details_left > 0;
}

static uint64_t region_pages(const struct region *r)
{
	return r->len / KT_PAGE;
}

static const char *madv_name(int madv)
{
	return madv == MADV_HUGEPAGE ? "hugepage" :
	       madv == MADV_NOHUGEPAGE ? "nohugepage" : "none";
}

static int madv_parse(const char *s)
{
	return !strcmp(s, "hugepage") ? MADV_HUGEPAGE :
	       !strcmp(s, "nohugepage") ? MADV_NOHUGEPAGE : 0;
}

static void alloc_pageinfo(struct region *r)
{
	for (int w = 0; w < NR_PROCS; w++) {
		r->pg[w] = calloc(region_pages(r), sizeof(struct pageinfo));
		if (!r->pg[w])
			ktap_bail("out of memory");
	}
}

static void free_pageinfo(void)
{
	for (int r = 0; r < NR_REGIONS; r++)
		for (int w = 0; w < NR_PROCS; w++) {
			free(regions[r].pg[w]);
			regions[r].pg[w] = NULL;
		}
}

static void add_range(int who, int region, uint64_t off, uint64_t len)
{
	if (nr_ranges == MAX_RANGES)
		ktap_bail("too many ranges");
	ranges[nr_ranges++] = (struct range){
		.who = who, .region = region, .off = off, .len = len,
	};
}

static uint64_t range_present(const struct range *rg)
{
	const struct region *r = &regions[rg->region];
	uint64_t n = 0;

	for (uint64_t i = rg->off / KT_PAGE; i < (rg->off + rg->len) / KT_PAGE; i++)
		n += r->pg[rg->who][i].present;
	return n;
}

static void print_info(const char *label, const struct khopages_session_info *in)
{
	printf("# %s: state %s, %u pids, %" PRIu64 " pages, %" PRIu64 " folios,"
	       " %" PRIu64 " meta bytes, %" PRIu64 " moved, %" PRIu64 " mapped,"
	       " %" PRIu64 " shared, %" PRIu64 " copied, %" PRIu64 " released\n",
	       label, khop_state_name(in->state), in->nr_pids, (uint64_t)in->nr_pages,
	       (uint64_t)in->nr_folios, (uint64_t)in->meta_bytes,
	       (uint64_t)in->nr_moved, (uint64_t)in->nr_mapped,
	       (uint64_t)in->nr_shared, (uint64_t)in->nr_copied,
	       (uint64_t)in->nr_released);
	printf("# %s: folios by order:", label);
	for (int o = 0; o < KHOPAGES_MAX_ORDERS; o++)
		if (in->folios_by_order[o])
			printf(" %d:%" PRIu64, o, (uint64_t)in->folios_by_order[o]);
	printf("\n");
}

static void expect_u64(const char *what, uint64_t got, uint64_t want)
{
	ktap_check(what, got == want, "%" PRIu64 ", expected %" PRIu64, got, want);
}

/* ------------------------------------------------------------------ */
/* Stage 1: the workload                                              */

struct setup_msg {
	uint64_t start[NR_REGIONS];
	int32_t child;
	char error[160];
};

static void __attribute__((noreturn))
workload_fail(struct setup_msg *sh, const char *what)
{
	snprintf(sh->error, sizeof(sh->error), "%s: %s", what, strerror(errno));
	_exit(1);
}

/*
 * The workload parent: build the regions, fork the child, report both
 * ready through @ready_fd, then sit still until killed.
 */
static void __attribute__((noreturn))
workload(int ready_fd, struct setup_msg *sh)
{
	pid_t dumper = getppid();
	int cpipe[2];
	pid_t c;
	char b;

	/* Never outlive the dumper, whatever happens to it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != dumper)
		_exit(1);
	for (int ri = 0; ri < NR_REGIONS; ri++) {
		const struct region *r = &regions[ri];
		uint64_t n = region_pages(r);
		char *p;

		if (r->madv == MADV_HUGEPAGE)
			p = kt_map_aligned(r->len, KT_HUGE);
		else
			p = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			workload_fail(sh, "mmap");
		if (r->madv && madvise(p, r->len, r->madv))
			workload_fail(sh, "madvise");
		for (uint64_t i = 0; i < n; i++) {
			if (ri == R_SPARSE && i % 3)
				continue;
			kt_fill(p + i * KT_PAGE, KT_PAGE, r->seed,
				(uint64_t)(uintptr_t)p + i * KT_PAGE);
		}
		if (ri == R_SPARSE &&
		    madvise(p + SPARSE_DROP_FIRST * KT_PAGE,
			    (SPARSE_DROP_END - SPARSE_DROP_FIRST) * KT_PAGE,
			    MADV_DONTNEED))
			workload_fail(sh, "madvise(MADV_DONTNEED)");
		if (r->ro_len && mprotect(p + r->ro_off, r->ro_len, PROT_READ))
			workload_fail(sh, "mprotect");
		sh->start[ri] = (uint64_t)(uintptr_t)p;
	}

	if (pipe(cpipe))
		workload_fail(sh, "pipe");
	c = fork();
	if (c < 0)
		workload_fail(sh, "fork");
	if (!c) {
		/* The child: diverge from the parent in part of the COW
		 * region, leave everything else shared. */
		const struct region *r = &regions[R_COW];
		char *p = (char *)(uintptr_t)sh->start[R_COW];

		close(ready_fd);
		close(cpipe[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		for (uint64_t i = 0; i < region_pages(r); i++)
			if (cow_child_writes(i, region_pages(r)))
				kt_fill(p + i * KT_PAGE, KT_PAGE, child_seed,
					sh->start[R_COW] + i * KT_PAGE);
		if (write(cpipe[1], "c", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(cpipe[1]);	/* so that a dead child reads as EOF */
	if (read(cpipe[0], &b, 1) != 1) {
		errno = ECHILD;
		workload_fail(sh, "the child died before it was ready");
	}
	sh->child = c;
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* ------------------------------------------------------------------ */
/* Stage 1: looking at the frozen processes                           */

/* Record presence and frames of every region of both processes. */
enum snap { SNAP_PRE, SNAP_POST, SNAP_HOLD };

static void snapshot(enum snap when, uint64_t *changed)
{
	const char *during = when == SNAP_POST ? "during PRESERVE" : "after COMMIT";
	uint64_t flipped = 0;

	*changed = 0;
	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];
		uint64_t n = region_pages(r);
		uint64_t *e = malloc(n * 8);

		if (!e)
			ktap_bail("out of memory");
		for (int w = 0; w < NR_PROCS; w++) {
			int ret = kt_pagemap(pids[w], r->start, n, e);

			if (ret)
				ktap_bail("read /proc/%d/pagemap: %s", (int)pids[w],
				      strerror(-ret));
			for (uint64_t i = 0; i < n; i++) {
				struct pageinfo *pg = &r->pg[w][i];
				bool present = kt_pm_present(e[i]);
				uint64_t pfn = kt_pm_pfn(e[i]);

				if (present && !pfn)
					ktap_bail("/proc/%d/pagemap shows no page frame"
					      " numbers: run as root", (int)pids[w]);
				if (when == SNAP_PRE) {
					pg->present = present;
					pg->pre_pfn = pfn;
					pg->pfn = pfn;
					continue;
				}
				if (present != pg->present) {
					if (!flipped++ || want_detail())
						ktap_diag("%s %s page %" PRIu64 " (va 0x%" PRIx64
							  ") %s %s", who_name[w], r->name, i,
							  r->start + i * KT_PAGE,
							  present ? "appeared" : "vanished", during);
					continue;
				}
				if (!present)
					continue;
				if (pfn != pg->pfn) {
					(*changed)++;
					if (when == SNAP_HOLD && want_detail())
						ktap_diag("%s %s page %" PRIu64 " moved from pfn"
							  " 0x%" PRIx64 " to 0x%" PRIx64
							  " after COMMIT",
							  who_name[w], r->name, i, pg->pfn, pfn);
				}
				if (when == SNAP_POST)
					pg->pfn = pfn;
			}
		}
		free(e);
	}
	if (when != SNAP_PRE) {
		char what[96];

		snprintf(what, sizeof(what), "no page appeared or vanished %s", during);
		ktap_check(what, !flipped, "%" PRIu64 " pages did", flipped);
	}
}

/* The layout the workload built; anything else means the test itself is
 * broken, so stop. */
static void check_setup(void)
{
	unsigned int bad = 0;

	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];
		uint64_t n = region_pages(r);

		for (uint64_t i = 0; i < n; i++) {
			struct pageinfo *pp = &r->pg[PARENT][i], *pc = &r->pg[CHILD][i];
			bool want = ri != R_SPARSE || sparse_present(i);
			bool own = ri == R_COW && cow_child_writes(i, n);

			for (int w = 0; w < NR_PROCS; w++) {
				if (r->pg[w][i].present != want && bad++ < 8)
					ktap_diag("setup: %s %s page %" PRIu64 " is %s",
						  who_name[w], r->name, i,
						  want ? "missing" : "present");
			}
			pp->seed = pp->present ? r->seed : 0;
			pc->seed = pc->present ? (own ? child_seed : r->seed) : 0;
			if (!pp->present || !pc->present)
				continue;
			/* Shared copy-on-write exactly where the child did
			 * not write. */
			if ((pp->pre_pfn == pc->pre_pfn) == own && bad++ < 8)
				ktap_diag("setup: %s page %" PRIu64 " is %s between"
					  " parent and child", r->name, i,
					  own ? "still shared" : "not shared");
		}
	}
	if (bad)
		ktap_bail("setup: %u pages not as built; the test cannot go on", bad);
	ktap_pass("setup: every page present, absent and shared as the workload built it");
}

/* Read every present page of both processes through /proc/PID/mem and
 * compare it with its pattern. Returns the number of wrong bytes. */
static uint64_t check_remote_content(const char *when)
{
	const uint64_t batch = 256;
	char *buf = malloc(batch * KT_PAGE), what[96];
	uint64_t wrong = 0, pages = 0;

	if (!buf)
		ktap_bail("out of memory");
	for (int w = 0; w < NR_PROCS; w++) {
		for (int ri = 0; ri < NR_REGIONS; ri++) {
			struct region *r = &regions[ri];
			uint64_t n = region_pages(r), i = 0;

			while (i < n) {
				uint64_t run = 0;
				int ret;

				/* Only present pages: reading a hole would
				 * map the zero page there. */
				if (!r->pg[w][i].present) {
					i++;
					continue;
				}
				while (i + run < n && run < batch && r->pg[w][i + run].present)
					run++;
				ret = kt_read_mem(pids[w], r->start + i * KT_PAGE, buf,
						  run * KT_PAGE);
				if (ret)
					ktap_bail("read /proc/%d/mem: %s", (int)pids[w],
					      strerror(-ret));
				for (uint64_t j = 0; j < run; j++) {
					uint64_t va = r->start + (i + j) * KT_PAGE;
					unsigned int off = 0;
					unsigned int bad = kt_page_bad_bytes(buf + j * KT_PAGE,
									     r->pg[w][i + j].seed,
									     va, &off);

					pages++;
					wrong += bad;
					if (bad && want_detail())
						ktap_diag("%s: %s %s page at 0x%" PRIx64 ": %u bytes"
							  " wrong (first at +%u)", when, who_name[w],
							  r->name, va, bad, off);
				}
				i += run;
			}
		}
	}
	free(buf);
	ktap_diag("content %s: %" PRIu64 " pages, %" PRIu64 " bytes wrong", when, pages, wrong);
	snprintf(what, sizeof(what), "content %s: every byte of both processes", when);
	ktap_check(what, !wrong, "%" PRIu64 " bytes wrong", wrong);
	return wrong;
}

/*
 * What each PRESERVE must report, computed from the frames before any
 * PRESERVE: pages present in the range; folios not yet preserved by an
 * earlier call (a COW-shared folio counts once); pages sitting in KHO
 * scratch, which the driver moves out first (once each).
 */
struct expect {
	uint64_t pages[MAX_RANGES], folios[MAX_RANGES], moved[MAX_RANGES];
	uint64_t by_order[KHOPAGES_MAX_ORDERS];
	uint64_t total_folios, total_moved;
};

static void compute_expectations(struct expect *x, const struct kt_pfn_range *scratch,
				 int nr_scratch)
{
	struct kt_set folios, moved;

	memset(x, 0, sizeof(*x));
	if (kt_set_init(&folios, 1 << 16) || kt_set_init(&moved, 1 << 10))
		ktap_bail("out of memory");
	for (int k = 0; k < nr_ranges; k++) {
		const struct range *rg = &ranges[k];
		const struct region *r = &regions[rg->region];
		uint64_t head = 0, nr = 0;

		for (uint64_t i = rg->off / KT_PAGE; i < (rg->off + rg->len) / KT_PAGE; i++) {
			const struct pageinfo *pg = &r->pg[rg->who][i];
			int ret;

			if (!pg->present)
				continue;
			x->pages[k]++;
			if (!(pg->pre_pfn >= head && pg->pre_pfn < head + nr)) {
				ret = kt_folio_of(pg->pre_pfn, &head, &nr);
				if (ret)
					ktap_bail("/proc/kpageflags: folio of pfn 0x%" PRIx64 ": %s",
					      pg->pre_pfn, strerror(-ret));
				if (nr & (nr - 1))
					ktap_bail("folio at pfn 0x%" PRIx64 " has %" PRIu64 " pages",
					      head, nr);
				if (kt_set_add(&folios, head)) {
					x->folios[k]++;
					x->by_order[__builtin_ctzll(nr)]++;
				}
			}
			if (kt_in_ranges(scratch, nr_scratch, pg->pre_pfn) &&
			    kt_set_add(&moved, pg->pre_pfn))
				x->moved[k]++;
		}
	}
	x->total_folios = folios.count;
	x->total_moved = moved.count;
	kt_set_free(&folios);
	kt_set_free(&moved);
}

/* After PRESERVE: pages outside scratch kept their frame, pages inside
 * left it, and COW sharing between parent and child survived. */
static void check_frames_after_preserve(const struct kt_pfn_range *scratch, int nr_scratch,
					uint64_t *moved_pages)
{
	uint64_t moved_outside = 0, still_in = 0, unshared = 0;
	struct kt_set moved;

	if (kt_set_init(&moved, 1 << 10))
		ktap_bail("out of memory");
	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];

		for (uint64_t i = 0; i < region_pages(r); i++) {
			struct pageinfo *pp = &r->pg[PARENT][i], *pc = &r->pg[CHILD][i];

			for (int w = 0; w < NR_PROCS; w++) {
				struct pageinfo *pg = &r->pg[w][i];
				bool was_in = kt_in_ranges(scratch, nr_scratch, pg->pre_pfn);

				if (!pg->present)
					continue;
				if (pg->pfn != pg->pre_pfn)
					kt_set_add(&moved, pg->pre_pfn);
				if (!was_in && pg->pfn != pg->pre_pfn && (!moved_outside++ || want_detail()))
					ktap_diag("%s %s page %" PRIu64 " moved (pfn 0x%" PRIx64
						  " -> 0x%" PRIx64 ") although it was not in"
						  " KHO scratch",
						  who_name[w], r->name, i, pg->pre_pfn, pg->pfn);
				if (kt_in_ranges(scratch, nr_scratch, pg->pfn) &&
				    (!still_in++ || want_detail()))
					ktap_diag("%s %s page %" PRIu64 " is still in KHO scratch"
						  " (pfn 0x%" PRIx64 ")", who_name[w], r->name, i,
						  pg->pfn);
			}
			if (pp->present && pc->present && pp->pre_pfn == pc->pre_pfn &&
			    pp->pfn != pc->pfn && (!unshared++ || want_detail()))
				ktap_diag("%s page %" PRIu64 ": COW sharing broken by PRESERVE"
					  " (parent pfn 0x%" PRIx64 ", child pfn 0x%" PRIx64 ")",
					  r->name, i, pp->pfn, pc->pfn);
		}
	}
	ktap_check("PRESERVE moved no page that was outside KHO scratch", !moved_outside,
		   "%" PRIu64 " pages moved", moved_outside);
	ktap_check("no preserved page is left in KHO scratch", !still_in,
		   "%" PRIu64 " pages are", still_in);
	ktap_check("PRESERVE kept the COW sharing between parent and child", !unshared,
		   "%" PRIu64 " pages no longer shared", unshared);
	*moved_pages = moved.count;
	kt_set_free(&moved);
}

static void check_thp_backed(void)
{
	const struct region *r = &regions[R_THP];
	long kb = kt_anon_huge_kb(pids[PARENT], r->start, r->len);

	ktap_diag("thp region: AnonHugePages %ld kB of %" PRIu64 " kB", kb, r->len / 1024);
	if (kb <= 0)
		ktap_bail("THP: the MADV_HUGEPAGE region at 0x%" PRIx64 " has no huge pages"
			  " (AnonHugePages %ld kB): THP is unavailable, the test needs it",
			  r->start, kb);
	ktap_pass("the THP region is backed by huge pages");
}

static void write_description(const char *dir, uint64_t distinct_pages)
{
	char path[512], tmp[520];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, DESC_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		ktap_bail("create %s: %s", tmp, strerror(errno));
	fprintf(f, "# khopages_memtest description, written by 'fill' before kexec\n"
		   "# the 64-bit word at address va of a page with seed S is\n"
		   "#   x = (va + S) * 0x9e3779b97f4a7c15 mod 2^64; word = x ^ (x >> 29) ^ S\n"
		   "# pages of a region that are not listed are holes and read as zero\n"
		   "# region NAME START LEN SEED MADVISE RO_OFF RO_LEN\n"
		   "# range PID START LEN NR_PAGES NR_FOLIOS NR_MOVED  (one PRESERVE each)\n"
		   "# page PID VA PFN SEED\n"
		   "# stats NR_PIDS NR_PAGES NR_FOLIOS META_BYTES NR_MOVED; order ORDER FOLIOS\n");
	fprintf(f, "version 1\nsession %s\npids %d %d\ndistinct %" PRIu64 "\n", SESSION,
		(int)pids[PARENT], (int)pids[CHILD], distinct_pages);
	for (int ri = 0; ri < NR_REGIONS; ri++) {
		const struct region *r = &regions[ri];

		fprintf(f, "region %s 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %s 0x%" PRIx64
			" 0x%" PRIx64 "\n", r->name, r->start, r->len, r->seed,
			madv_name(r->madv), r->ro_off, r->ro_len);
	}
	for (int k = 0; k < nr_ranges; k++) {
		const struct range *rg = &ranges[k];

		fprintf(f, "range %d 0x%" PRIx64 " 0x%" PRIx64 " %" PRIu64 " %" PRIu64
			" %" PRIu64 "\n",
			(int)pids[rg->who], regions[rg->region].start + rg->off, rg->len,
			rg->nr_pages, rg->nr_folios, rg->nr_moved);
	}
	for (int w = 0; w < NR_PROCS; w++)
		for (int ri = 0; ri < NR_REGIONS; ri++) {
			const struct region *r = &regions[ri];

			for (uint64_t i = 0; i < region_pages(r); i++) {
				const struct pageinfo *pg = &r->pg[w][i];

				if (pg->present)
					fprintf(f, "page %d 0x%" PRIx64 " 0x%" PRIx64
						" 0x%" PRIx64 "\n", (int)pids[w],
						r->start + i * KT_PAGE, pg->pfn, pg->seed);
			}
		}
	fprintf(f, "stats %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
		saved.nr_pids, (uint64_t)saved.nr_pages, (uint64_t)saved.nr_folios,
		(uint64_t)saved.meta_bytes, (uint64_t)saved.nr_moved);
	for (int o = 0; o < KHOPAGES_MAX_ORDERS; o++)
		if (saved.folios_by_order[o])
			fprintf(f, "order %d %" PRIu64 "\n", o, (uint64_t)saved.folios_by_order[o]);
	fprintf(f, "end\n");
	if (fflush(f) || fsync(fileno(f)) || fclose(f))
		ktap_bail("write %s: %s", tmp, strerror(errno));
	if (rename(tmp, path))
		ktap_bail("rename %s: %s", tmp, strerror(errno));
}

static void write_marker(const char *dir, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, DONE_FILE);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fflush(f) || fsync(fileno(f)) || fclose(f))
		ktap_bail("write %s: %s", path, strerror(errno));
}

/* Distinct frames of all recorded pages: the memory the session holds. */
static uint64_t count_distinct_frames(void)
{
	struct kt_set s;
	uint64_t n;

	if (kt_set_init(&s, 1 << 16))
		ktap_bail("out of memory");
	for (int ri = 0; ri < NR_REGIONS; ri++)
		for (int w = 0; w < NR_PROCS; w++)
			for (uint64_t i = 0; i < region_pages(&regions[ri]); i++)
				if (regions[ri].pg[w][i].present)
					kt_set_add(&s, regions[ri].pg[w][i].pfn);
	n = s.count;
	kt_set_free(&s);
	return n;
}

static void check_stats_committed(struct khop *k, const struct expect *x,
				  uint64_t sum_pages, uint64_t sum_folios, uint64_t sum_moved)
{
	struct khopages_session_info in;
	uint64_t budget;
	int ret = khop_stats(k, SESSION, &in);

	if (ret)
		ktap_bail("stats after COMMIT: %s", khop_error(k));
	print_info("stats after commit", &in);
	saved = in;
	ktap_check("stats after COMMIT: state committed", in.state == KHOPAGES_STATE_COMMITTED,
		   "state %s", khop_state_name(in.state));
	expect_u64("stats nr_pids", in.nr_pids, NR_PROCS);
	expect_u64("stats nr_pages (sum of PRESERVE nr_pages)", in.nr_pages, sum_pages);
	expect_u64("stats nr_folios (sum of PRESERVE nr_folios)", in.nr_folios, sum_folios);
	expect_u64("stats nr_folios (distinct folios from kpageflags)", in.nr_folios,
		   x->total_folios);
	expect_u64("stats nr_moved", in.nr_moved, sum_moved);
	for (int o = 0; o < KHOPAGES_MAX_ORDERS; o++) {
		char what[64];

		snprintf(what, sizeof(what), "stats folios of order %d", o);
		expect_u64(what, in.folios_by_order[o], x->by_order[o]);
	}
	/* DESIGN.md budget: at most 8 bytes per page, plus a few words per
	 * range and the headers of the (16 KiB) table chunks. */
	budget = 8 * (in.nr_pages + 4 * (uint64_t)nr_ranges) + 2 * 16384;
	ktap_check("stats meta_bytes within the budget", in.meta_bytes && in.meta_bytes <= budget,
		   "%" PRIu64 " outside (0, %" PRIu64 "]", (uint64_t)in.meta_bytes, budget);
}

/*
 * A write to the owners' memory after COMMIT (a resumed task, a dying
 * thread clearing its TID word) must give the writer a copy: the frames
 * handed over keep what was preserved, which stage 2 checks byte by byte.
 */
static void scribble_after_commit(void)
{
	static const char mark[] = "written after COMMIT";
	unsigned int copied = 0, writes = 0, exclusive = 0;

	for (int w = 0; w < NR_PROCS; w++) {
		for (int ri = 0; ri < NR_REGIONS; ri++) {
			struct region *r = &regions[ri];
			uint64_t n = region_pages(r), i, e, va;
			char back[sizeof(mark)], what[128];
			bool present;
			int ret;

			/*
			 * A page mapped only here is the one a write would
			 * change in place; a COW-shared one is copied anyway.
			 */
			for (i = 0; i < n; i++)
				if (r->pg[w][i].present &&
				    !kt_pagemap(pids[w], r->start + i * KT_PAGE, 1, &e) &&
				    kt_pm_exclusive(e))
					break;
			if (i == n)
				continue;
			exclusive++;
			va = r->start + i * KT_PAGE;
			ret = kt_write_mem(pids[w], va, mark, sizeof(mark));
			snprintf(what, sizeof(what), "write after COMMIT to %s %.15s at 0x%" PRIx64,
				 who_name[w], r->name, va);
			if (!ktap_check(what, !ret, "%s", strerror(-ret)))
				continue;
			writes++;
			snprintf(what, sizeof(what), "write after COMMIT to %s %.15s: visible",
				 who_name[w], r->name);
			ktap_check(what, !kt_read_mem(pids[w], va, back, sizeof(back)) &&
				   !memcmp(back, mark, sizeof(mark)), "not what was written");
			present = !kt_pagemap(pids[w], va, 1, &e) && kt_pm_present(e);
			snprintf(what, sizeof(what),
				 "write after COMMIT to %s %.15s: went to a copy, not the handed-over frame",
				 who_name[w], r->name);
			if (ktap_check(what, present && kt_pm_pfn(e) != r->pg[w][i].pfn, "%s 0x%" PRIx64,
				       present ? "it went into the handed-over frame" :
				       "the page is not present after the write", r->pg[w][i].pfn))
				copied++;
		}
	}
	ktap_diag("writes after COMMIT to pages mapped once: %u, copied away from their"
		  " handed-over frame: %u", writes, copied);
	ktap_check("some page is mapped by one process alone, to write to", exclusive,
		   "none in any region");
}

static void do_fill(const char *dir)
{
	struct kt_pfn_range scratch[64];
	int nr_scratch, pipefd[2], ret;
	uint64_t base_seed, changed, moved_pages, distinct;
	uint64_t sum_pages = 0, sum_folios = 0, sum_moved = 0;
	struct setup_msg *sh;
	struct khopages_session_info in;
	struct expect x;
	struct khop *k;
	const char *thp;
	char path[512], b, marker[256];
	pid_t p;

	if (mkdir(dir, 0755) && errno != EEXIST)
		ktap_bail("mkdir %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", dir, DONE_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", dir, DESC_FILE);
	unlink(path);

	thp = kt_thp_mode();
	if (!thp || !strcmp(thp, "never"))
		ktap_bail("THP unavailable (/sys/kernel/mm/transparent_hugepage/enabled: %s)",
		      thp ? thp : "missing");
	nr_scratch = kt_scratch_ranges(scratch, 64);
	if (nr_scratch < 0)
		ktap_bail("cannot read the KHO scratch areas from /sys/kernel/debug/kho/out: %s",
		      strerror(-nr_scratch));

	/* Fresh seeds each run: stale pages of an earlier run never match. */
	if (getrandom(&base_seed, sizeof(base_seed), 0) != sizeof(base_seed))
		ktap_bail("getrandom: %s", strerror(errno));
	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];

		snprintf(r->name, sizeof(r->name), "%s", specs[ri].name);
		r->len = specs[ri].len;
		r->madv = specs[ri].madv;
		r->seed = base_seed + (uint64_t)(ri + 1) * 0x100000001b3ULL;
		if (specs[ri].ro_half) {
			r->ro_off = r->len / 2;
			r->ro_len = r->len / 2;
		}
		alloc_pageinfo(r);
	}
	child_seed = base_seed ^ 0xc0ffee0dd15ea5e5ULL;

	/* The child becomes ours when the parent is killed: reap it too. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		ktap_bail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || pipe(pipefd))
		ktap_bail("mmap/pipe: %s", strerror(errno));
	fflush(stdout);
	p = fork();
	if (p < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!p) {
		close(pipefd[0]);
		workload(pipefd[1], sh);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &b, 1) != 1)
		ktap_bail("workload failed: %s", sh->error[0] ? sh->error : "no reason given");
	close(pipefd[0]);
	pids[PARENT] = p;
	pids[CHILD] = sh->child;
	for (int ri = 0; ri < NR_REGIONS; ri++)
		regions[ri].start = sh->start[ri];
	ktap_diag("workload: parent pid %d, child pid %d", (int)pids[PARENT], (int)pids[CHILD]);
	for (int ri = 0; ri < NR_REGIONS; ri++)
		ktap_diag("region %-8s 0x%" PRIx64 " +0x%" PRIx64 " seed 0x%016" PRIx64,
			  regions[ri].name, regions[ri].start, regions[ri].len, regions[ri].seed);

	/* Frozen like CRIU freezes a tree: nothing changes from here on. */
	for (int w = 0; w < NR_PROCS; w++) {
		ret = kt_freeze(pids[w]);
		if (ret)
			ktap_bail("ptrace-freeze %s %d: %s", who_name[w], (int)pids[w], strerror(-ret));
	}
	check_thp_backed();
	snapshot(SNAP_PRE, &changed);
	check_setup();
	check_remote_content("before PRESERVE");

	for (int w = 0; w < NR_PROCS; w++)
		for (int ri = 0; ri < NR_REGIONS; ri++) {
			struct region *r = &regions[ri];

			/* One PRESERVE per VMA, as CRIU would issue them. */
			if (r->ro_len) {
				add_range(w, ri, 0, r->ro_off);
				add_range(w, ri, r->ro_off, r->ro_len);
			} else {
				add_range(w, ri, 0, r->len);
			}
		}
	compute_expectations(&x, scratch, nr_scratch);
	ktap_diag("expected: %" PRIu64 " distinct folios, %" PRIu64 " pages in KHO scratch",
		  x.total_folios, x.total_moved);

	if (khop_open(&k))
		ktap_bail("open: %s", khop_open_error());
	if (khop_create(k, SESSION))
		ktap_bail("create %s: %s", SESSION, khop_error(k));
	for (int i = 0; i < nr_ranges; i++) {
		struct range *rg = &ranges[i];
		struct region *r = &regions[rg->region];
		struct khopages_preserve res;
		char what[128];

		memset(&res, 0, sizeof(res));
		ret = khop_preserve(k, pids[rg->who], r->start + rg->off, rg->len, &res);
		if (ret) {
			const char *why = khop_error(k);

			khop_abort(k);
			ktap_bail("preserve %s %s 0x%" PRIx64 "+0x%" PRIx64 ": %s", who_name[rg->who],
				  r->name, r->start + rg->off, rg->len, why);
		}
		snprintf(what, sizeof(what), "preserve %s %s+0x%" PRIx64, who_name[rg->who],
			 r->name, rg->off);
		ktap_pass(what);
		rg->nr_pages = res.nr_pages;
		rg->nr_folios = res.nr_folios;
		rg->nr_moved = res.nr_moved;
		ktap_diag("preserve %-6s %-8s 0x%" PRIx64 "+0x%-8" PRIx64 ": %" PRIu64 " pages, %"
			  PRIu64 " new folios, %" PRIu64 " moved", who_name[rg->who], r->name,
			  r->start + rg->off, rg->len, rg->nr_pages, rg->nr_folios, rg->nr_moved);
		snprintf(what, sizeof(what), "preserve %s %s+0x%" PRIx64 ": nr_pages",
			 who_name[rg->who], r->name, rg->off);
		expect_u64(what, res.nr_pages, x.pages[i]);
		snprintf(what, sizeof(what), "preserve %s %s+0x%" PRIx64 ": nr_folios",
			 who_name[rg->who], r->name, rg->off);
		expect_u64(what, res.nr_folios, x.folios[i]);
		snprintf(what, sizeof(what), "preserve %s %s+0x%" PRIx64 ": nr_moved",
			 who_name[rg->who], r->name, rg->off);
		expect_u64(what, res.nr_moved, x.moved[i]);
		sum_pages += res.nr_pages;
		sum_folios += res.nr_folios;
		sum_moved += res.nr_moved;
	}

	ret = khop_stats(k, SESSION, &in);
	if (ktap_check("stats before COMMIT", !ret, "%s", khop_error(k))) {
		ktap_check("stats before COMMIT: state open", in.state == KHOPAGES_STATE_OPEN,
			   "state %s", khop_state_name(in.state));
		expect_u64("stats before COMMIT: nr_pages", in.nr_pages, sum_pages);
		expect_u64("stats before COMMIT: nr_folios", in.nr_folios, sum_folios);
	}

	snapshot(SNAP_POST, &changed);
	check_frames_after_preserve(scratch, nr_scratch, &moved_pages);
	ktap_diag("frames after PRESERVE: %" PRIu64 " page mappings changed, %" PRIu64
		  " distinct pages moved out of KHO scratch", changed, moved_pages);
	expect_u64("pages that left KHO scratch (pagemap)", moved_pages, sum_moved);
	check_remote_content("after PRESERVE");

	if (khop_commit(k))
		ktap_bail("commit: %s", khop_error(k));
	ktap_pass("commit");
	check_stats_committed(k, &x, sum_pages, sum_folios, sum_moved);

	/* Held pages must stay put: compaction may not move them. */
	kt_settle();
	snapshot(SNAP_HOLD, &changed);
	ktap_check("no preserved page moved after COMMIT and compaction", !changed,
		   "%" PRIu64 " page mappings moved", changed);

	distinct = count_distinct_frames();
	write_description(dir, distinct);

	scribble_after_commit();

	/* After COMMIT the owners may die; the session keeps the pages. */
	kill(pids[CHILD], SIGKILL);
	kill(pids[PARENT], SIGKILL);
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
	khop_close(k);
	if (khop_open(&k))
		ktap_bail("reopen: %s", khop_open_error());
	ret = khop_stats(k, SESSION, &in);
	if (ret)
		ktap_fail("the session outlives its owners and the fd, unchanged",
			  "stats: %s", khop_error(k));
	else
		ktap_check("the session outlives its owners and the fd, unchanged",
			   in.state == KHOPAGES_STATE_COMMITTED && in.nr_pages == saved.nr_pages &&
			   in.nr_folios == saved.nr_folios, "state %s, %" PRIu64 " pages, %" PRIu64
			   " folios", khop_state_name(in.state), (uint64_t)in.nr_pages,
			   (uint64_t)in.nr_folios);
	khop_close(k);

	if (ktap_failed()) {
		ktap_diag("memtest fill: %u checks FAILED", ktap_failed());
		return;
	}
	snprintf(marker, sizeof(marker), "session %s committed: %" PRIu64 " pages, %" PRIu64
		 " folios, %" PRIu64 " distinct frames (%" PRIu64 " kB)\n", SESSION,
		 (uint64_t)saved.nr_pages, (uint64_t)saved.nr_folios, distinct, distinct * 4);
	write_marker(dir, marker);
	ktap_diag("memtest fill: PASS: %s", marker);
	free_pageinfo();
}

/* ------------------------------------------------------------------ */
/* Stage 2                                                            */

static uint64_t distinct_frames;

static struct region *region_at(uint64_t va)
{
	for (int ri = 0; ri < NR_REGIONS; ri++)
		if (va >= regions[ri].start && va < regions[ri].start + regions[ri].len)
			return &regions[ri];
	return NULL;
}

static int who_of(int pid)
{
	for (int w = 0; w < NR_PROCS; w++)
		if (pids[w] == pid)
			return w;
	return -1;
}

static void load_description(const char *dir)
{
	char path[512], line[256], name[16], madv[16];
	uint64_t a, b, c, d, e, f, g;
	int nregions = 0, pid, pid2, version = 0, ln = 0;
	bool end = false;
	unsigned int u;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, DONE_FILE);
	if (access(path, F_OK))
		ktap_bail("%s is missing: stage 1 did not complete", path);
	snprintf(path, sizeof(path), "%s/%s", dir, DESC_FILE);
	fp = fopen(path, "r");
	if (!fp)
		ktap_bail("open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), fp)) {
		ln++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "version %d", &version) == 1 ||
		    sscanf(line, "distinct %" SCNu64, &distinct_frames) == 1 ||
		    !strncmp(line, "session ", 8))
			continue;
		if (sscanf(line, "pids %d %d", &pid, &pid2) == 2) {
			pids[PARENT] = pid;
			pids[CHILD] = pid2;
		} else if (sscanf(line, "region %15s %" SCNx64 " %" SCNx64 " %" SCNx64 " %15s %"
				  SCNx64 " %" SCNx64, name, &a, &b, &c, madv, &d, &e) == 7) {
			struct region *r;

			if (nregions == NR_REGIONS || b % KT_PAGE || a % KT_PAGE)
				ktap_bail("%s:%d: bad region", path, ln);
			r = &regions[nregions++];
			snprintf(r->name, sizeof(r->name), "%s", name);
			r->start = a;
			r->len = b;
			r->seed = c;
			r->madv = madv_parse(madv);
			r->ro_off = d;
			r->ro_len = e;
			alloc_pageinfo(r);
		} else if (sscanf(line, "range %d %" SCNx64 " %" SCNx64 " %" SCNu64 " %" SCNu64
				  " %" SCNu64, &pid, &a, &b, &c, &d, &e) == 6) {
			struct region *r = region_at(a);
			int w = who_of(pid);

			if (!r || w < 0 || a + b > r->start + r->len || nr_ranges == MAX_RANGES)
				ktap_bail("%s:%d: bad range", path, ln);
			ranges[nr_ranges++] = (struct range){
				.who = w, .region = (int)(r - regions), .off = a - r->start,
				.len = b, .nr_pages = c, .nr_folios = d, .nr_moved = e,
			};
		} else if (sscanf(line, "page %d %" SCNx64 " %" SCNx64 " %" SCNx64,
				  &pid, &a, &b, &c) == 4) {
			struct region *r = region_at(a);
			int w = who_of(pid);
			struct pageinfo *pg;

			if (!r || w < 0)
				ktap_bail("%s:%d: page outside the regions", path, ln);
			pg = &r->pg[w][(a - r->start) / KT_PAGE];
			pg->present = true;
			pg->pfn_kept = true;
			pg->pfn = b;
			pg->seed = c;
		} else if (sscanf(line, "stats %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
				  &u, &a, &b, &c, &d) == 5) {
			saved.nr_pids = u;
			saved.nr_pages = a;
			saved.nr_folios = b;
			saved.meta_bytes = c;
			saved.nr_moved = d;
		} else if (sscanf(line, "order %" SCNu64 " %" SCNu64, &f, &g) == 2 &&
			   f < KHOPAGES_MAX_ORDERS) {
			saved.folios_by_order[f] = g;
		} else if (!strcmp(line, "end\n")) {
			end = true;
		} else {
			ktap_bail("%s:%d: cannot parse: %s", path, ln, line);
		}
	}
	fclose(fp);
	if (version != 1 || !end || nregions != NR_REGIONS || !nr_ranges || !distinct_frames)
		ktap_bail("%s: incomplete description", path);
	/* The description must agree with itself before it judges anything. */
	for (int k = 0; k < nr_ranges; k++)
		if (range_present(&ranges[k]) != ranges[k].nr_pages)
			ktap_bail("%s: range %d lists %" PRIu64 " pages but PRESERVE reported %" PRIu64,
			      path, k, range_present(&ranges[k]), ranges[k].nr_pages);
}

/* Where to map a region: its original address when free, else anywhere
 * congruent to it modulo 2 MiB (what MAP needs for huge folios). */
static void make_dst(struct region *r)
{
	void *want = (void *)(uintptr_t)r->start;
	char *p = mmap(want, r->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	r->at_orig = p == want;
	if (!r->at_orig) {
		uint64_t span = r->len + KT_HUGE, off;
		char *raw;

		if (p != MAP_FAILED)
			munmap(p, r->len);	/* a kernel that ignored the flag */
		raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED)
			ktap_bail("mmap %" PRIu64 " bytes: %s", span, strerror(errno));
		off = (r->start - (uint64_t)(uintptr_t)raw) & (KT_HUGE - 1);
		p = raw + off;
		if (off)
			munmap(raw, off);
		munmap(p + r->len, span - off - r->len);
	}
	if (r->madv && madvise(p, r->len, r->madv))
		ktap_bail("madvise %s: %s", r->name, strerror(errno));
	r->dst = p;
}

struct vres {
	uint64_t pages, bytes_wrong, pfn_checked, pfn_equal, holes, hole_bytes;
};

enum { V_CONTENT = 1, V_PFN = 2, V_HOLES = 4 };

/* Check pages [first, end) of @r as process @who sees it at r->dst. */
static void verify_pages(int who, struct region *r, uint64_t first, uint64_t end,
			 unsigned int what, struct vres *v)
{
	uint64_t n = end - first, *e = NULL;
	int ret;

	if (what & V_PFN) {
		e = malloc(n * 8);
		if (!e)
			ktap_bail("out of memory");
		ret = kt_pagemap(0, (uint64_t)(uintptr_t)r->dst + first * KT_PAGE, n, e);
		if (ret)
			ktap_bail("read /proc/self/pagemap: %s", strerror(-ret));
	}
	for (uint64_t i = first; i < end; i++) {
		struct pageinfo *pg = &r->pg[who][i];
		const char *p = r->dst + i * KT_PAGE;
		uint64_t va = r->start + i * KT_PAGE;
		unsigned int bad, off = 0;

		if (pg->gone)
			continue;
		if (!pg->present) {
			if (!(what & V_HOLES))
				continue;
			bad = kt_page_nonzero_bytes(p);
			v->holes++;
			v->hole_bytes += bad;
			if (bad && want_detail())
				ktap_diag("%s %s hole page %" PRIu64 " (orig va 0x%" PRIx64
					  "): %u non-zero bytes", who_name[who], r->name, i, va, bad);
			continue;
		}
		if (what & V_PFN && pg->pfn_kept) {
			uint64_t ent = e[i - first];

			v->pfn_checked++;
			if (kt_pm_present(ent) && kt_pm_pfn(ent) == pg->pfn)
				v->pfn_equal++;
			else if (want_detail())
				ktap_diag("%s %s page %" PRIu64 " (orig va 0x%" PRIx64 "): pfn %s0x%"
					  PRIx64 ", before kexec 0x%" PRIx64, who_name[who], r->name, i,
					  va, kt_pm_present(ent) ? "" : "(not present) ",
					  kt_pm_pfn(ent), pg->pfn);
		}
		if (what & V_CONTENT) {
			bad = kt_page_bad_bytes(p, pg->seed, va, &off);
			v->pages++;
			v->bytes_wrong += bad;
			if (bad && want_detail())
				ktap_diag("%s %s page %" PRIu64 " (orig va 0x%" PRIx64
					  ", now %p): %u bytes wrong, first at +%u",
					  who_name[who], r->name, i, va,
					  (const void *)p, bad, off);
		}
	}
	free(e);
}

static void verify_all(int who, unsigned int what, struct vres *v)
{
	for (int ri = 0; ri < NR_REGIONS; ri++)
		verify_pages(who, &regions[ri], 0, region_pages(&regions[ri]), what, v);
}

/*
 * Turn a verification into cases, one for each thing it checked (@what,
 * as given to verify_pages()); true when all was right.
 */
static bool judge(const char *label, unsigned int what, const struct vres *v)
{
	char name[160];
	bool ok = true;

	ktap_diag("%s: %" PRIu64 " pages, %" PRIu64 " bytes wrong, PFNs equal %" PRIu64 "/%"
		  PRIu64 ", %" PRIu64 " holes (%" PRIu64 " non-zero bytes)", label, v->pages,
		  v->bytes_wrong, v->pfn_equal, v->pfn_checked, v->holes, v->hole_bytes);
	if (what & V_CONTENT) {
		snprintf(name, sizeof(name), "%s: every byte as expected", label);
		ok &= ktap_check(name, !v->bytes_wrong, "%" PRIu64 " bytes wrong of %" PRIu64
				 " pages", v->bytes_wrong, v->pages);
	}
	if (what & V_PFN) {
		snprintf(name, sizeof(name), "%s: every page at its pre-kexec frame", label);
		ok &= ktap_check(name, v->pfn_equal == v->pfn_checked, "only %" PRIu64 " of %"
				 PRIu64, v->pfn_equal, v->pfn_checked);
	}
	if (what & V_HOLES) {
		snprintf(name, sizeof(name), "%s: holes read as zero", label);
		ok &= ktap_check(name, !v->hole_bytes, "%" PRIu64 " non-zero bytes in %" PRIu64
				 " holes", v->hole_bytes, v->holes);
	}
	return ok;
}

static void check_map_result(const char *label, const struct khopages_map *m,
			     uint64_t mapped, uint64_t shared)
{
	char what[160];

	snprintf(what, sizeof(what), "%s: nr_mapped", label);
	expect_u64(what, m->nr_mapped, mapped);
	snprintf(what, sizeof(what), "%s: nr_shared", label);
	expect_u64(what, m->nr_shared, shared);
	snprintf(what, sizeof(what), "%s: nr_copied", label);
	expect_u64(what, m->nr_copied, 0);
}

static void check_handover_fdt_session(const struct khop_fdt_session *s, int *found)
{
	bool has[NR_PROCS] = { false, false };

	(*found)++;
	for (size_t i = 0; i < s->nr_pids; i++)
		for (int w = 0; w < NR_PROCS; w++)
			if (s->pids[i] == (uint32_t)pids[w])
				has[w] = true;
	ktap_check("handover FDT: the session lists both pids",
		   s->nr_pids == NR_PROCS && has[PARENT] && has[CHILD],
		   "%zu pids, expected %d and %d", s->nr_pids, (int)pids[PARENT], (int)pids[CHILD]);
	expect_u64("handover FDT nr-pages", s->nr_pages, saved.nr_pages);
	expect_u64("handover FDT nr-folios", s->nr_folios, saved.nr_folios);
}

static int fdt_session_cb(const struct khop_fdt_session *s, void *arg)
{
	if (!strcmp(s->name, SESSION))
		check_handover_fdt_session(s, arg);
	return 0;
}

/* What the previous kernel handed over, as the new kernel exposes it. */
static void check_handover_fdt(void)
{
	size_t cap = 1 << 16, len = 0;
	char *blob = malloc(cap);
	const char *why = NULL;
	int fd, found = 0;
	ssize_t n;

	fd = open(HANDOVER_FDT, O_RDONLY);
	if (!blob || fd < 0)
		ktap_bail("open %s: %s (no khopages handover?)", HANDOVER_FDT, strerror(errno));
	while ((n = read(fd, blob + len, cap - len)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			blob = realloc(blob, cap);
			if (!blob)
				ktap_bail("out of memory");
		}
	}
	close(fd);
	if (ktap_check("handover FDT decodes", !khop_fdt_sessions(blob, len, fdt_session_cb,
								  &found, &why),
		       "%s: %s", HANDOVER_FDT, why ? why : "invalid") &&
	    ktap_check("handover FDT: one session " SESSION, found == 1, "%d", found))
		ktap_diag("handover FDT: session %s with pids %d, %d, %" PRIu64 " pages", SESSION,
			  (int)pids[PARENT], (int)pids[CHILD], (uint64_t)saved.nr_pages);
	free(blob);
}

/* The incoming session must be exactly what was committed. */
static void check_incoming_stats(struct khop *k)
{
	struct khopages_session_info in;

	if (khop_stats(k, SESSION, &in))
		ktap_bail("no incoming session %s: %s", SESSION, khop_error(k));
	print_info("incoming stats", &in);
	ktap_check("incoming stats: state incoming", in.state == KHOPAGES_STATE_INCOMING,
		   "state %s", khop_state_name(in.state));
	expect_u64("incoming nr_pids", in.nr_pids, saved.nr_pids);
	expect_u64("incoming nr_pages", in.nr_pages, saved.nr_pages);
	expect_u64("incoming nr_folios", in.nr_folios, saved.nr_folios);
	expect_u64("incoming meta_bytes", in.meta_bytes, saved.meta_bytes);
	for (int o = 0; o < KHOPAGES_MAX_ORDERS; o++) {
		char what[64];

		snprintf(what, sizeof(what), "incoming folios of order %d", o);
		expect_u64(what, in.folios_by_order[o], saved.folios_by_order[o]);
	}
}

/* Report sent from the verifying child to the parent (its cases count
 * in the shared totals already, see ktap.h). */
struct child_report {
	struct vres v;
	uint64_t own, shared;
};

/*
 * The restored child: it inherited the parent's mappings (and the session
 * fd). Pages the old child shared with the old parent are already there
 * from the very frames; pages it had written itself are dropped from the
 * inherited mapping and mapped from their own preserved frames.
 */
static void __attribute__((noreturn))
restore_child(struct khop *k, int to_parent, int from_parent)
{
	/* The parent waits while this child reports: what fails meanwhile
	 * failed here. */
	unsigned int failed = ktap_failed(), mine;
	struct child_report rep;
	struct vres v2;
	char cmd;

	memset(&rep, 0, sizeof(rep));
	for (int kidx = 0; kidx < nr_ranges; kidx++) {
		const struct range *rg = &ranges[kidx];
		struct region *r = &regions[rg->region];
		uint64_t own = 0, shared = 0;
		struct khopages_map m;
		char label[96];

		if (rg->who != CHILD)
			continue;
		for (uint64_t i = rg->off / KT_PAGE; i < (rg->off + rg->len) / KT_PAGE; i++) {
			const struct pageinfo *pc = &r->pg[CHILD][i], *pp = &r->pg[PARENT][i];

			if (!pc->present)
				continue;
			if (pp->present && pp->pfn == pc->pfn) {
				shared++;
				continue;
			}
			own++;
			/* MAP refuses a different page at dst (EEXIST). */
			if (madvise(r->dst + i * KT_PAGE, KT_PAGE, MADV_DONTNEED))
				ktap_fail("child: madvise(MADV_DONTNEED)", "%s page %" PRIu64 ": %s",
					  r->name, i, strerror(errno));
		}
		memset(&m, 0, sizeof(m));
		snprintf(label, sizeof(label), "child: map %s+0x%" PRIx64, r->name, rg->off);
		if (!ktap_check(label, !khop_map(k, pids[CHILD], r->start + rg->off,
						 (uint64_t)(uintptr_t)r->dst + rg->off, rg->len, &m),
				"%s", khop_error(k)))
			continue;
		ktap_diag("%s -> %p: %" PRIu64 " mapped, %" PRIu64 " shared, %" PRIu64 " copied",
			  label, (void *)(r->dst + rg->off), (uint64_t)m.nr_mapped,
			  (uint64_t)m.nr_shared, (uint64_t)m.nr_copied);
		check_map_result(label, &m, own, shared);
		rep.own += own;
		rep.shared += shared;
	}
	verify_all(CHILD, V_CONTENT | V_PFN | V_HOLES, &rep.v);
	judge("child after MAP", V_CONTENT | V_PFN | V_HOLES, &rep.v);
	mine = ktap_failed() - failed;
	fflush(stdout);
	if (kt_write_all(to_parent, &rep, sizeof(rep)))
		_exit(1);

	/* The parent rewrites the first pages of the plain region: this
	 * child must keep the old content at the old frames. */
	if (kt_read_all(from_parent, &cmd, 1))
		_exit(1);
	failed = ktap_failed();
	memset(&v2, 0, sizeof(v2));
	verify_pages(CHILD, &regions[R_PLAIN], 0, COW_TEST_PAGES, V_CONTENT | V_PFN, &v2);
	judge("child after the parent wrote shared pages", V_CONTENT | V_PFN, &v2);
	mine += ktap_failed() - failed;
	fflush(stdout);
	_exit(mine ? 1 : 0);
}

static void check_child_exit(pid_t c, const char *what)
{
	int st;

	char name[96];

	snprintf(name, sizeof(name), "%s: exits with status 0", what);
	if (waitpid(c, &st, 0) != c)
		ktap_fail(name, "waitpid: %s", strerror(errno));
	else
		ktap_check(name, WIFEXITED(st) && !WEXITSTATUS(st), "%s %d",
			   WIFEXITED(st) ? "exited with" : "killed by signal",
			   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Own pagemap entries; this program cannot go on without them. */
static void self_pagemap(const void *p, uint64_t n, uint64_t *e)
{
	int ret = kt_pagemap(0, (uint64_t)(uintptr_t)p, n, e);

	if (ret)
		ktap_bail("read /proc/self/pagemap: %s", strerror(-ret));
}

/* Write to pages the child still shares: the parent must get copies. */
static void cow_test_parent(uint64_t seed)
{
	struct region *r = &regions[R_PLAIN];
	uint64_t before[COW_TEST_PAGES], after[COW_TEST_PAGES], same = 0;
	struct vres v = { 0 };

	self_pagemap(r->dst, COW_TEST_PAGES, before);
	for (uint64_t i = 0; i < COW_TEST_PAGES; i++) {
		kt_fill(r->dst + i * KT_PAGE, KT_PAGE, seed, r->start + i * KT_PAGE);
		r->pg[PARENT][i].seed = seed;
		r->pg[PARENT][i].pfn_kept = false;
	}
	self_pagemap(r->dst, COW_TEST_PAGES, after);
	for (uint64_t i = 0; i < COW_TEST_PAGES; i++)
		same += kt_pm_pfn(after[i]) == kt_pm_pfn(before[i]);
	ktap_check("COW: pages the parent writes leave the frame the child shares", !same,
		   "%" PRIu64 " of %d stayed", same, COW_TEST_PAGES);
	verify_pages(PARENT, r, 0, COW_TEST_PAGES, V_CONTENT, &v);
	judge("parent after writing shared pages", V_CONTENT, &v);
}

/* A second generation: fork again, the new child sees the parent's
 * current memory and its own writes stay its own. */
static void fork_again_test(void)
{
	struct region *thp = &regions[R_THP];
	struct vres v = { 0 };
	pid_t c;

	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		uint64_t seed = thp->seed ^ 0x5a5a5a5a5a5a5a5aULL, e;
		unsigned int off = 0, failed = ktap_failed();

		verify_pages(PARENT, &regions[R_PLAIN], 0, region_pages(&regions[R_PLAIN]),
			     V_CONTENT, &v);
		judge("second child: plain region", V_CONTENT, &v);
		kt_fill(thp->dst, KT_PAGE, seed, thp->start);
		ktap_check("second child: its own write to the THP region sticks",
			   !kt_page_bad_bytes(thp->dst, seed, thp->start, &off),
			   "wrong from +%u on", off);
		self_pagemap(thp->dst, 1, &e);
		ktap_check("second child: writing a shared THP page copies it",
			   kt_pm_pfn(e) != thp->pg[PARENT][0].pfn, "still at pfn 0x%" PRIx64,
			   kt_pm_pfn(e));
		fflush(stdout);
		_exit(ktap_failed() > failed ? 1 : 0);
	}
	check_child_exit(c, "second child");
	verify_pages(PARENT, thp, 0, region_pages(thp), V_CONTENT | V_PFN, &v);
	judge("parent THP region after the second child wrote to it", V_CONTENT | V_PFN, &v);
}

static void mprotect_test(void)
{
	struct region *r = &regions[R_MPROT];
	struct vres v = { 0 };
	int st;
	pid_t c;

	if (!ktap_check("mprotect(PROT_READ) of restored pages",
			!mprotect(r->dst + r->ro_off, r->ro_len, PROT_READ), "%s", strerror(errno)))
		return;
	verify_pages(PARENT, r, 0, region_pages(r), V_CONTENT | V_PFN, &v);
	judge("mprotect region after mprotect", V_CONTENT | V_PFN, &v);
	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		signal(SIGSEGV, SIG_DFL);
		*(volatile char *)(r->dst + r->ro_off) = 1;
		_exit(0);
	}
	ktap_check("a write to the read-only part of restored memory faults",
		   waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		   "it did not");
}

static void mremap_test(void)
{
	struct region *r = &regions[R_THP];
	struct vres v = { 0 };
	char *to = kt_map_aligned(r->len, KT_HUGE);
	void *p;

	if (to == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	p = mremap(r->dst, r->len, r->len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (!ktap_check("mremap of the restored THP region", p == to, "%s", strerror(errno)))
		return;
	r->dst = to;
	verify_pages(PARENT, r, 0, region_pages(r), V_CONTENT | V_PFN, &v);
	judge("THP region after mremap", V_CONTENT | V_PFN, &v);
}

static void munmap_test(void)
{
	struct region *r = &regions[R_PLAIN];
	struct vres v = { 0 };

	if (!ktap_check("munmap of the first MiB of the restored plain region",
			!munmap(r->dst, COW_TEST_PAGES * KT_PAGE), "%s", strerror(errno)))
		return;
	for (uint64_t i = 0; i < COW_TEST_PAGES; i++)
		r->pg[PARENT][i].gone = true;
	verify_pages(PARENT, r, 0, region_pages(r), V_CONTENT | V_PFN, &v);
	judge("plain region after munmap of its first MiB", V_CONTENT | V_PFN, &v);
}

/* After FINISH nobody may hold a reference on a mapped page: a write to
 * a page only this process maps reuses the frame instead of copying. */
static void write_after_finish_test(void)
{
	struct region *r = &regions[R_MPROT];
	uint64_t seed = r->seed ^ 0x0123456789abcdefULL, before, after;
	unsigned int off = 0;

	/* Drain per-CPU LRU batches: their references would force a copy. */
	kt_settle();
	self_pagemap(r->dst, 1, &before);
	kt_fill(r->dst, KT_PAGE, seed, r->start);
	r->pg[PARENT][0].seed = seed;
	ktap_check("a write after FINISH sticks", !kt_page_bad_bytes(r->dst, seed, r->start, &off),
		   "wrong from +%u on", off);
	self_pagemap(r->dst, 1, &after);
	ktap_check("a write after FINISH reuses the frame: nothing else holds it",
		   kt_pm_pfn(after) == kt_pm_pfn(before), "copied: pfn 0x%" PRIx64 " -> 0x%" PRIx64,
		   kt_pm_pfn(before), kt_pm_pfn(after));
}

static void do_verify(const char *dir)
{
	/* First thing: the preserved pages are not free in this kernel
	 * until we are done with them. */
	long memfree0 = kt_meminfo_kb("MemFree"), free0 = kt_free_kb(), memfree1, free1, want;
	uint64_t parent_pages = 0, own = 0, shared = 0, wseed;
	struct vres parent = { 0 }, holes = { 0 }, after = { 0 };
	struct khopages_session_info in;
	struct child_report rep;
	int to_child[2], from_child[2], at_orig = 0, ret;
	struct khop *k;
	pid_t c;
	char cmd = 'w';

	if (memfree0 < 0 || free0 < 0)
		ktap_bail("cannot read MemFree or /proc/zoneinfo");
	load_description(dir);
	ktap_diag("stage 1: parent pid %d, child pid %d, %" PRIu64 " pages in %d ranges, %"
		  PRIu64 " distinct frames; MemFree now %ld kB", (int)pids[PARENT],
		  (int)pids[CHILD], (uint64_t)saved.nr_pages, nr_ranges, distinct_frames, memfree0);

	if (khop_open(&k))
		ktap_bail("open: %s", khop_open_error());
	check_incoming_stats(k);
	check_handover_fdt();
	if (khop_attach(k, SESSION))
		ktap_bail("open session %s: %s", SESSION, khop_error(k));
	ktap_pass("open the incoming session");
	if (khop_stats(k, SESSION, &in))
		ktap_fail("stats after OPEN: state claimed", "%s", khop_error(k));
	else
		ktap_check("stats after OPEN: state claimed", in.state == KHOPAGES_STATE_CLAIMED,
			   "state %s", khop_state_name(in.state));

	for (int ri = 0; ri < NR_REGIONS; ri++) {
		make_dst(&regions[ri]);
		at_orig += regions[ri].at_orig;
		ktap_diag("region %-8s 0x%" PRIx64 " -> %p%s", regions[ri].name, regions[ri].start,
			  (void *)regions[ri].dst, regions[ri].at_orig ? " (original address)" : "");
	}
	for (int kidx = 0; kidx < nr_ranges; kidx++) {
		const struct range *rg = &ranges[kidx];
		struct region *r = &regions[rg->region];
		struct khopages_map m;
		char label[96];

		if (rg->who != PARENT)
			continue;
		memset(&m, 0, sizeof(m));
		snprintf(label, sizeof(label), "map %s+0x%" PRIx64, r->name, rg->off);
		if (khop_map(k, pids[PARENT], r->start + rg->off,
			     (uint64_t)(uintptr_t)r->dst + rg->off, rg->len, &m))
			ktap_bail("%s: %s", label, khop_error(k));
		ktap_pass(label);
		ktap_diag("%s -> %p: %" PRIu64 " mapped, %" PRIu64 " shared, %" PRIu64 " copied",
			  label, (void *)(r->dst + rg->off), (uint64_t)m.nr_mapped,
			  (uint64_t)m.nr_shared, (uint64_t)m.nr_copied);
		check_map_result(label, &m, rg->nr_pages, 0);
		parent_pages += rg->nr_pages;
	}
	/* Holes later: reading one maps the zero page, which the child
	 * would inherit before its own MAP. */
	verify_all(PARENT, V_CONTENT | V_PFN, &parent);
	judge("parent after MAP", V_CONTENT | V_PFN, &parent);
	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];
		long kb = kt_anon_huge_kb(getpid(), (uint64_t)(uintptr_t)r->dst, r->len);

		if (r->madv == MADV_HUGEPAGE)
			ktap_diag("region %s after MAP: AnonHugePages %ld kB", r->name, kb);
	}

	if (pipe(to_child) || pipe(from_child))
		ktap_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		close(to_child[1]);
		close(from_child[0]);
		restore_child(k, from_child[1], to_child[0]);
	}
	/* Only the child keeps these ends: its death reads as EOF. */
	close(to_child[0]);
	close(from_child[1]);
	if (kt_read_all(from_child[0], &rep, sizeof(rep)))
		ktap_bail("the restoring child died");
	own = rep.own;
	shared = rep.shared;

	verify_all(PARENT, V_HOLES, &holes);
	judge("parent holes", V_HOLES, &holes);
	if (ktap_check("stats after all MAPs", !khop_stats(k, SESSION, &in), "%s", khop_error(k))) {
		print_info("stats after all MAPs", &in);
		expect_u64("stats nr_mapped", in.nr_mapped, parent_pages + own);
		expect_u64("stats nr_shared", in.nr_shared, shared);
		expect_u64("stats nr_copied", in.nr_copied, 0);
		expect_u64("stats nr_released (nothing left unmapped)", in.nr_released, 0);
	}

	if (getrandom(&wseed, sizeof(wseed), 0) != sizeof(wseed))
		ktap_bail("getrandom: %s", strerror(errno));
	cow_test_parent(wseed);
	ktap_check("the restoring child takes the next step", !kt_write_all(to_child[1], &cmd, 1),
		   "it is gone");
	check_child_exit(c, "restoring child");
	close(to_child[1]);
	close(from_child[0]);
	fork_again_test();
	mprotect_test();
	mremap_test();
	munmap_test();

	ret = khop_finish(k, SESSION, 0);
	ktap_check("finish " SESSION, !ret, "%s", khop_error(k));
	ret = khop_stats(k, SESSION, &in);
	ktap_check_err("stats after FINISH -> ENOENT", ret, -ENOENT);
	verify_all(PARENT, V_CONTENT | V_PFN, &after);
	judge("parent after FINISH", V_CONTENT | V_PFN, &after);
	write_after_finish_test();
	khop_close(k);

	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];
		uint64_t skip = ri == R_PLAIN ? COW_TEST_PAGES * KT_PAGE : 0;

		munmap(r->dst + skip, r->len - skip);
	}
	free_pageinfo();
	/* Judged on free memory including the per-CPU free lists, which
	 * MemFree leaves out; MemFree is printed too. */
	want = free0 + (long)(distinct_frames * 4 * 9 / 10);
	free1 = kt_wait_free(want, 10000);
	memfree1 = kt_meminfo_kb("MemFree");
	ktap_diag("MemFree: before %ld kB, after %ld kB (%+ld kB); with per-CPU lists: before %ld"
		  " kB, after %ld kB (%+ld kB); preserved %" PRIu64 " kB", memfree0, memfree1,
		  memfree1 - memfree0, free0, free1, free1 - free0, distinct_frames * 4);
	ktap_check("free memory got at least 90% of the preserved pages back", free1 >= want,
		   "it rose by %ld kB of the %" PRIu64 " kB preserved: pages leaked",
		   free1 - free0, distinct_frames * 4);

	ktap_diag("memtest verify: %s: pages verified %" PRIu64 " (parent %" PRIu64 ", child %"
		  PRIu64 "), PFNs equal %" PRIu64 "/%" PRIu64 ", bytes wrong %" PRIu64
		  ", holes %" PRIu64 " zero, regions at original address %d/%d,"
		  " MemFree before %ld kB after %ld kB", ktap_failed() ? "FAILED" : "PASS",
		  parent.pages + rep.v.pages, parent.pages, rep.v.pages,
		  parent.pfn_equal + rep.v.pfn_equal, parent.pfn_checked + rep.v.pfn_checked,
		  parent.bytes_wrong + rep.v.bytes_wrong + after.bytes_wrong,
		  holes.holes + rep.v.holes, at_orig, NR_REGIONS, memfree0, memfree1);
}

static void usage(void)
{
	fprintf(stderr, "usage: khopages_memtest fill DIR   (before kexec)\n"
			"       khopages_memtest verify DIR (after kexec)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	/* A peer that died shows as a failed write, not as our death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc != 3 || (strcmp(argv[1], "fill") && strcmp(argv[1], "verify")))
		usage();
	ktap_start();
	if (!strcmp(argv[1], "fill"))
		do_fill(argv[2]);
	else
		do_verify(argv[2]);
	return ktap_finish();
}
