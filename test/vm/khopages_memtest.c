// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_memtest: the anonymous memory of a process tree across a real
 * kexec through Live Update and KHO, checked byte by byte and frame by
 * frame.
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
 * from /proc/PID/pagemap and /proc/kpageflags, hands the khopages file
 * over in Live Update session "memtest" (/dev/liveupdate; the session is
 * then preserved: PRESERVE and ABORT give EBUSY, PRESERVE_FD again is
 * refused), and kills them. A holder process keeps the Live Update session
 * and the file open until the kexec (its pid in DIR/luo-holder.pid).
 * DIR/memtest.desc describes the regions, the preserve calls, every page
 * and the session statistics; DIR/stage1.done marks success.
 *
 * verify: retrieves the Live Update session and the khopages file in it
 * (the session is then retrieved, and OPEN on another file attaches it
 * too), maps the parent's ranges into this process (at the original
 * addresses when free), checks every byte and that every page is at the
 * very frame it had before the kexec; forks a child that maps the old
 * child's ranges at the same places (shared pages must come back shared);
 * then exercises the memory (COW both ways, fork, mprotect, mremap,
 * munmap), finishes the Live Update session and closes every file, which
 * releases the khopages session, and checks that MemFree got the
 * preserved memory back once everything is unmapped.
 *
 * Every check is a TAP case, "ok N - what" or "not ok N - what # why"
 * (test/lib/ktap.h); details of bad pages are "# " lines; the program
 * exits 1 when any case failed.
 */
#include "khopages_memtest.h"

const char *const who_name[NR_PROCS] = { "parent", "child" };

struct region regions[NR_REGIONS];
struct range ranges[MAX_RANGES];
int nr_ranges;
pid_t pids[NR_PROCS];
struct khopages_session_info saved;

static unsigned int details_left = 24;	/* per-page detail lines printed */

/* A detail line for one bad page; the total is reported anyway. */
bool want_detail(void)
{
	if (!details_left)
		return false;
	if (!--details_left)
		ktap_diag("(further per-page failures not shown)");
	return details_left > 0;
}

uint64_t region_pages(const struct region *r)
{
	return r->len / KT_PAGE;
}

const char *madv_name(int madv)
{
	return madv == MADV_HUGEPAGE ? "hugepage" :
	       madv == MADV_NOHUGEPAGE ? "nohugepage" : "none";
}

int madv_parse(const char *s)
{
	return !strcmp(s, "hugepage") ? MADV_HUGEPAGE :
	       !strcmp(s, "nohugepage") ? MADV_NOHUGEPAGE : 0;
}

void alloc_pageinfo(struct region *r)
{
	for (int w = 0; w < NR_PROCS; w++) {
		r->pg[w] = calloc(region_pages(r), sizeof(struct pageinfo));
		if (!r->pg[w])
			ktap_bail("out of memory");
	}
}

void free_pageinfo(void)
{
	for (int r = 0; r < NR_REGIONS; r++)
		for (int w = 0; w < NR_PROCS; w++) {
			free(regions[r].pg[w]);
			regions[r].pg[w] = NULL;
		}
}

void add_range(int who, int region, uint64_t off, uint64_t len)
{
	if (nr_ranges == MAX_RANGES)
		ktap_bail("too many ranges");
	ranges[nr_ranges++] = (struct range){
		.who = who, .region = region, .off = off, .len = len,
	};
}

uint64_t range_present(const struct range *rg)
{
	const struct region *r = &regions[rg->region];
	uint64_t n = 0;

	for (uint64_t i = rg->off / KT_PAGE; i < (rg->off + rg->len) / KT_PAGE; i++)
		n += r->pg[rg->who][i].present;
	return n;
}

void print_info(const char *label, const struct khopages_session_info *in)
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

void expect_u64(const char *what, uint64_t got, uint64_t want)
{
	ktap_check(what, got == want, "%" PRIu64 ", expected %" PRIu64, got, want);
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

