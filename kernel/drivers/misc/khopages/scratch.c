// SPDX-License-Identifier: GPL-2.0
/*
 * KHO scratch: the next kernel boots in it, so no preserved folio may lie
 * there. PRESERVE moves each folio it finds in it, with the task frozen;
 * EVACUATE does the same for a process that still runs, ahead of its dump,
 * so that less of that work falls into the downtime.
 *
 * Context: khop_lock held, and the target's mmap_lock for reading.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/kexec_handover.h>
#include <linux/khopages.h>
#include <linux/list.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "compat.h"
#include "scratch.h"
#include "target.h"

/**
 * khop_in_scratch() - does a folio overlap KHO scratch?
 * @folio: the folio.
 *
 * Return: true when any of its pages is in scratch.
 */
bool khop_in_scratch(struct folio *folio)
{
	return khop_scratch_overlap(PFN_PHYS(folio_pfn(folio)), folio_size(folio));
}

/* Is @folio on @list already? */
static bool khop_listed(struct list_head *list, struct folio *folio)
{
	struct folio *f;

	list_for_each_entry(f, list, lru)
		if (f == folio)
			return true;
	return false;
}

/**
 * khop_move_batch() - migrate the folios of a batch that lie in scratch.
 * @pages: pages the caller holds a reference on each (dropped here).
 * @got:   entries in @pages.
 *
 * Every folio of the batch that overlaps scratch is moved, all at once.
 *
 * Return: pages moved, -EBUSY when a folio could not be isolated or
 * migrated (the others are put back where they were), or another errno.
 */
long khop_move_batch(struct page **pages, long got)
{
	LIST_HEAD(list);
	long i, moved = 0;
	int err = 0;

	for (i = 0; i < got; i++) {
		struct folio *folio = page_folio(pages[i]);

		if (!khop_in_scratch(folio))
			continue;
		/*
		 * Collected already (another page of a large folio)? Only a
		 * folio off the LRU can be, so the list is walked for those
		 * alone, not for each of the batch's order-0 folios.
		 */
		if (!folio_test_lru(folio) && khop_listed(&list, folio))
			continue;
		if (!khopages_collect_for_move(folio, &list)) {
			err = -EBUSY;
			break;
		}
		moved += folio_nr_pages(folio);
	}
	release_pages(pages, got);
	if (!err)
		err = khopages_move_folios(&list);
	else
		putback_movable_pages(&list);
	if (err)
		pr_warn_ratelimited("could not move %ld pages out of KHO scratch\n",
				    moved);
	return err ?: moved;
}

/* Pages of a batch in scratch; the references are dropped. */
static long khop_count_in_scratch(struct page **pages, long got)
{
	long i, in = 0;

	for (i = 0; i < got; i++)
		in += khop_in_scratch(page_folio(pages[i]));
	release_pages(pages, got);
	return in;
}

/* Move what lies in scratch of [addr, end), one VMA's part, 2 MiB at a time. */
static int khop_evacuate_span(struct mm_struct *mm, unsigned long addr,
			      unsigned long end, struct page **pages,
			      struct khopages_evacuate *arg)
{
	while (addr < end) {
		unsigned long va = addr;
		unsigned long stop = min(end, ALIGN(addr + 1, HPAGE_PMD_SIZE));
		long got, moved;

		got = khopages_grab_pages(mm, &va, stop, pages);
		if (!got) {
			/* Holes, or a page not in memory: nothing to move. */
			addr = va == stop ? stop : va + PAGE_SIZE;
			continue;
		}
		addr = va + got * PAGE_SIZE;
		moved = khop_move_batch(pages, got);
		if (moved >= 0) {
			arg->nr_moved += moved;
		} else if (moved == -EBUSY) {
			/* Some may have moved: count what is still there. */
			got = khopages_grab_pages(mm, &va, addr, pages);
			arg->nr_left += khop_count_in_scratch(pages, got);
		} else {
			return moved;
		}
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

/**
 * khop_scratch_evacuate() - EVACUATE: move a process's pages out of scratch.
 * @arg: checked arguments; the counters are filled in.
 *
 * Best effort: a folio that cannot be moved now (locked, or referenced
 * for a moment) is counted in @arg->nr_left and left where it is. VMAs
 * other than private anonymous memory are skipped, as are pages not in
 * memory. Nothing is held afterwards.
 *
 * Context: khop_lock held.
 * Return: 0 or a negative errno as documented in the UAPI header.
 */
int khop_scratch_evacuate(struct khopages_evacuate *arg)
{
	unsigned long end = arg->start + arg->len;
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	struct page **pages;
	int err;

	mm = khop_target_mm(arg->pid);
	if (IS_ERR(mm))
		return PTR_ERR(mm);
	pages = kvmalloc_array(HPAGE_PMD_NR, sizeof(*pages), GFP_KERNEL);
	if (!pages) {
		mmput(mm);
		return -ENOMEM;
	}
	err = mmap_read_lock_killable(mm);
	if (!err) {
		VMA_ITERATOR(vmi, mm, arg->start);

		for_each_vma_range(vmi, vma, end) {
			if (!khop_vma_handable(vma))
				continue;
			err = khop_evacuate_span(mm,
						 max(vma->vm_start, arg->start),
						 min(vma->vm_end, end), pages, arg);
			if (err)
				break;
		}
		mmap_read_unlock(mm);
	}
	kvfree(pages);
	mmput(mm);
	return err;
}
