// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_memtest: stage 1, before the kexec: the workload, its checks,
 * PRESERVE, the khopages file preserved in a Live Update session and its
 * holder, and the description stage 2 reads.
 */
#include "handover.h"
#include "khopages_memtest.h"

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

static uint64_t child_seed;

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
	const char *during = when == SNAP_POST ? "during PRESERVE" : "after PRESERVE_FD";
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
							  " after PRESERVE_FD",
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
	fprintf(f, "# luo SESSION TOKEN: the khopages file is in this Live Update session\n"
		   "luo %s 0x%llx\n", SESSION, (unsigned long long)KHOP_LUO_TOKEN_PAGES);
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

/* After the file went into the Live Update session. */
static void check_stats_preserved(struct khop *k, const struct expect *x,
				  uint64_t sum_pages, uint64_t sum_folios, uint64_t sum_moved)
{
	struct khopages_session_info in;
	uint64_t budget;
	int ret = khop_stats(k, SESSION, &in);

	if (ret)
		ktap_bail("stats after PRESERVE_FD: %s", khop_error(k));
	print_info("stats after preserve_fd", &in);
	saved = in;
	ktap_check("stats after PRESERVE_FD: state preserved",
		   in.state == KHOPAGES_STATE_PRESERVED, "state %s", khop_state_name(in.state));
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
 * A write to the owners' memory after PRESERVE_FD (a resumed task, a
 * dying thread clearing its TID word) must give the writer a copy: the
 * frames handed over keep what was preserved, which stage 2 checks byte by
 * byte.
 */
static void scribble_after_preserve_fd(void)
{
	static const char mark[] = "written after PRESERVE_FD";
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
			snprintf(what, sizeof(what), "write after PRESERVE_FD to %s %.15s at 0x%"
				 PRIx64, who_name[w], r->name, va);
			if (!ktap_check(what, !ret, "%s", strerror(-ret)))
				continue;
			writes++;
			snprintf(what, sizeof(what), "write after PRESERVE_FD to %s %.15s: visible",
				 who_name[w], r->name);
			ktap_check(what, !kt_read_mem(pids[w], va, back, sizeof(back)) &&
				   !memcmp(back, mark, sizeof(mark)), "not what was written");
			present = !kt_pagemap(pids[w], va, 1, &e) && kt_pm_present(e);
			snprintf(what, sizeof(what), "write after PRESERVE_FD to %s %.15s: went to"
				 " a copy, not the handed-over frame", who_name[w], r->name);
			if (ktap_check(what, present && kt_pm_pfn(e) != r->pg[w][i].pfn, "%s 0x%" PRIx64,
				       present ? "it went into the handed-over frame" :
				       "the page is not present after the write", r->pg[w][i].pfn))
				copied++;
		}
	}
	ktap_diag("writes after PRESERVE_FD to pages mapped once: %u, copied away from their"
		  " handed-over frame: %u", writes, copied);
	ktap_check("some page is mapped by one process alone, to write to", exclusive,
		   "none in any region");
}

/* Live Update session SESSION takes the khopages file: the khopages
 * session is preserved. Returns the Live Update session's fd. */
static int preserve_in_luo(struct khop *k)
{
	int luo_fd;

	if (khop_luo_create(SESSION, &luo_fd))
		ktap_bail("%s", khop_luo_error());
	ktap_pass("create Live Update session " SESSION);
	if (khop_luo_preserve_fd(luo_fd, khop_fd(k), KHOP_LUO_TOKEN_PAGES))
		ktap_bail("%s", khop_luo_error());
	ktap_pass("preserve the khopages file in Live Update session " SESSION);
	return luo_fd;
}

/*
 * A preserved session takes no more pages, cannot be aborted, and its file
 * goes into no second Live Update session.
 */
static void check_busy_while_preserved(struct khop *k)
{
	const struct region *r = &regions[R_PLAIN];
	int other;

	ktap_check_err("PRESERVE while in a Live Update session -> EBUSY",
		       khop_preserve(k, pids[PARENT], r->start, KT_PAGE, NULL), -EBUSY);
	ktap_check_err("ABORT while in a Live Update session -> EBUSY", khop_abort(k), -EBUSY);
	if (khop_luo_create(SESSION "-again", &other))
		ktap_bail("%s", khop_luo_error());
	ktap_check_err("PRESERVE_FD of the preserved file into a second Live Update session"
		       " -> EBUSY", khop_luo_preserve_fd(other, khop_fd(k), KHOP_LUO_TOKEN_PAGES),
		       -EBUSY);
	close(other);
}

/*
 * Closing the last fd of an outgoing Live Update session takes
 * back what it preserves, so a process must keep it open until `kexec -e`.
 * Returns the holder's pid once DIR/luo-holder.pid names it, or -1.
 */
static pid_t start_holder(const char *dir, int luo_fd, int khop_fd)
{
	int keep[] = { luo_fd, khop_fd };
	char path[512];
	pid_t h;

	snprintf(path, sizeof(path), "%s/%s", dir, HOLDER_FILE);
	h = kt_hold_fds(path, keep, 2);
	if (!ktap_check("a holder keeps the Live Update session open, its pid in " HOLDER_FILE,
			h > 0, "it exited before it was ready"))
		return -1;
	ktap_diag("holder of Live Update session %s: pid %d", SESSION, (int)h);
	return h;
}

void do_fill(const char *dir)
{
	struct kt_pfn_range scratch[64];
	int nr_scratch, pipefd[2], ret, luo_fd;
	uint64_t base_seed, changed, moved_pages, distinct;
	uint64_t sum_pages = 0, sum_folios = 0, sum_moved = 0;
	struct setup_msg *sh;
	struct khopages_session_info in;
	struct expect x;
	struct khop *k;
	const char *thp;
	char path[512], b, marker[256];
	pid_t p, holder_pid;

	if (mkdir(dir, 0755) && errno != EEXIST)
		ktap_bail("mkdir %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", dir, DONE_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", dir, DESC_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", dir, HOLDER_FILE);
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
	if (khop_api(k, KHOPAGES_FEATURE_LUO, NULL))
		ktap_bail("%s (the driver needs Live Update: liveupdate=on)", khop_error(k));
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
	if (ktap_check("stats before PRESERVE_FD", !ret, "%s", khop_error(k))) {
		ktap_check("stats before PRESERVE_FD: state open", in.state == KHOPAGES_STATE_OPEN,
			   "state %s", khop_state_name(in.state));
		expect_u64("stats before PRESERVE_FD: nr_pages", in.nr_pages, sum_pages);
		expect_u64("stats before PRESERVE_FD: nr_folios", in.nr_folios, sum_folios);
	}

	snapshot(SNAP_POST, &changed);
	check_frames_after_preserve(scratch, nr_scratch, &moved_pages);
	ktap_diag("frames after PRESERVE: %" PRIu64 " page mappings changed, %" PRIu64
		  " distinct pages moved out of KHO scratch", changed, moved_pages);
	expect_u64("pages that left KHO scratch (pagemap)", moved_pages, sum_moved);
	check_remote_content("after PRESERVE");

	luo_fd = preserve_in_luo(k);
	check_stats_preserved(k, &x, sum_pages, sum_folios, sum_moved);
	check_busy_while_preserved(k);

	/* Held pages must stay put: compaction may not move them. */
	kt_settle();
	snapshot(SNAP_HOLD, &changed);
	ktap_check("no preserved page moved after PRESERVE_FD and compaction", !changed,
		   "%" PRIu64 " page mappings moved", changed);

	distinct = count_distinct_frames();
	write_description(dir, distinct);

	scribble_after_preserve_fd();

	/* Once preserved, the owners may die; the session keeps the pages. */
	kill(pids[CHILD], SIGKILL);
	kill(pids[PARENT], SIGKILL);
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
	/* The holder from now on: this process closes its fds. */
	holder_pid = start_holder(dir, luo_fd, khop_fd(k));
	close(luo_fd);
	khop_close(k);
	if (khop_open(&k))
		ktap_bail("reopen: %s", khop_open_error());
	ret = khop_stats(k, SESSION, &in);
	if (ret)
		ktap_fail("the session outlives its owners and the fd, unchanged",
			  "stats: %s", khop_error(k));
	else
		ktap_check("the session outlives its owners and the fd, unchanged",
			   in.state == KHOPAGES_STATE_PRESERVED && in.nr_pages == saved.nr_pages &&
			   in.nr_folios == saved.nr_folios, "state %s, %" PRIu64 " pages, %" PRIu64
			   " folios", khop_state_name(in.state), (uint64_t)in.nr_pages,
			   (uint64_t)in.nr_folios);
	khop_close(k);

	if (ktap_failed()) {
		ktap_diag("memtest fill: %u checks FAILED", ktap_failed());
		if (holder_pid > 0) {
			/* No stage 2 follows: let the Live Update session go. */
			kt_kill_wait(holder_pid);
			snprintf(path, sizeof(path), "%s/%s", dir, HOLDER_FILE);
			unlink(path);
		}
		return;
	}
	snprintf(marker, sizeof(marker), "session %s preserved in Live Update session %s"
		 " (holder pid %d): %" PRIu64 " pages, %" PRIu64 " folios, %" PRIu64
		 " distinct frames (%" PRIu64 " kB)\n", SESSION, SESSION, (int)holder_pid,
		 (uint64_t)saved.nr_pages, (uint64_t)saved.nr_folios, distinct, distinct * 4);
	write_marker(dir, marker);
	ktap_diag("memtest fill: PASS: %s", marker);
	free_pageinfo();
}

