/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khopages builds into Linux 7.2 and 7.3. This header is the one place
 * where the in-kernel interfaces they differ in are bridged; every other
 * file calls the khop_ names below and is the same for both. The Makefile
 * tells which kernel it is (KHOPAGES_* defines, set from the kernel
 * version there).
 */
#ifndef _KHOPAGES_COMPAT_H
#define _KHOPAGES_COMPAT_H

#include <linux/kexec_handover.h>
#include <linux/mm.h>
#include <linux/mmzone.h>

#ifdef KHOPAGES_KHO_SCRATCH_OVERLAP_PRIVATE
/*
 * Linux 7.2: kho_scratch_overlap() is private to KHO
 * (kernel/liveupdate/kexec_handover_internal.h) and built only with
 * CONFIG_KEXEC_HANDOVER_DEBUG; 7.3 made it public. Both kernels release
 * every scratch area as MIGRATE_CMA pageblocks (7.2: kho_init() on a
 * first boot, kho_scratch_migratetype() at memmap init after a KHO boot),
 * so 7.2 is asked about the pageblocks instead. Any other CMA area counts
 * as scratch too, which only moves a few more pages before a PRESERVE
 * and refuses a handed-over frame there: memory that must stay movable.
 */
static inline bool khop_scratch_overlap(phys_addr_t phys, size_t size)
{
	unsigned long pfn = pageblock_start_pfn(PHYS_PFN(phys));
	unsigned long end = PHYS_PFN(phys + size - 1);
	struct page *page;

	for (; pfn <= end; pfn += pageblock_nr_pages) {
		page = pfn_to_online_page(pfn);
		if (page && is_migrate_cma(get_pageblock_migratetype(page)))
			return true;
	}
	return false;
}
#else
static inline bool khop_scratch_overlap(phys_addr_t phys, size_t size)
{
	return kho_scratch_overlap(phys, size);
}
#endif

#endif /* _KHOPAGES_COMPAT_H */
