/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory workloads shared by pagehold (test/vm) and the benchmark's
 * khop_bench (bench): a region filled with an address-dependent pattern
 * in one of three physical layouts, and what tells them apart.
 *
 *   contiguous  pages faulted in virtual order, no huge pages
 *   scattered   no two pages physically adjacent, and their physical
 *               order unrelated to their virtual order
 *   thp         MADV_HUGEPAGE: huge pages where the kernel has them
 */
#ifndef KHOP_WORKLOAD_H
#define KHOP_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#define WL_PAGE		4096UL

/* Every 64-bit word depends on its address: a moved or stale page shows. */
static inline uint64_t wl_pattern(uint64_t addr)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29);
}

/* Fill one page at @p with the pattern of its own addresses. */
void wl_fill_page(char *p);
/* Words of the page at @p that do not hold their pattern. */
size_t wl_page_bad_words(const char *p);
/* Its first and last word hold their pattern (a quick look). */
int wl_page_ends_ok(const char *p);

/*
 * madvise @pages pages at @base for @layout ("contiguous", "scattered",
 * "thp") and fill them in that layout. NULL on success, else what failed
 * (errno tells more where a call failed).
 */
const char *wl_fill_layout(char *base, size_t pages, const char *layout);

/* Frames of @pages pages from @base on, 0 for a page not present, from
 * /proc/self/pagemap (root only). 0 or -1. */
int wl_read_pfns(const char *base, size_t pages, uint64_t *pfns);
/* Maximal runs of consecutive frames among @pfns, whatever their order:
 * 1 for one physically contiguous block, @pages for a sieve. 0 when out
 * of memory. */
uint64_t wl_phys_runs(const uint64_t *pfns, size_t pages);

/* CLOCK_MONOTONIC in milliseconds. */
double wl_now_ms(void);

#endif /* KHOP_WORKLOAD_H */
