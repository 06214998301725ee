// SPDX-License-Identifier: GPL-2.0
/*
 * mm helpers for khopages (drivers/misc/khopages): install a folio handed
 * over by the previous kernel as ordinary anonymous memory, and keep held
 * folios away from reclaim. They live in mm/ because they need
 * mm/internal.h.
 */
#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/khopages.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/swap.h>
#include <linux/pgtable.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <asm/pgalloc.h>

#include "internal.h"

static int khopages_map_pmd(struct vm_area_struct *vma, unsigned long addr,
			    pmd_t *pmd, struct folio *folio)
{
	struct mm_struct *mm = vma->vm_mm;
	pgtable_t pgtable;
	spinlock_t *ptl;	/* page table lock */

	if (!IS_ALIGNED(addr, HPAGE_PMD_SIZE) || addr < vma->vm_start ||
	    addr + HPAGE_PMD_SIZE > vma->vm_end)
		return -EINVAL;
	/* A PMD mapping keeps a page table aside for a later split. */
	pgtable = pte_alloc_one(mm);
	if (!pgtable)
		return -ENOMEM;
	ptl = pmd_lock(mm, pmd);
	if (!pmd_none(*pmd)) {
		spin_unlock(ptl);
		pte_free(mm, pgtable);
		return -EEXIST;
	}
	pgtable_trans_huge_deposit(mm, pmd, pgtable);
	map_anon_folio_pmd_nopf(folio, pmd, vma, addr);
	add_mm_counter(mm, MM_ANONPAGES, HPAGE_PMD_NR);
	mm_inc_nr_ptes(mm);
	spin_unlock(ptl);
	return 0;
}

static int khopages_map_ptes(struct vm_area_struct *vma, unsigned long addr,
			     pmd_t *pmd, struct folio *folio)
{
	unsigned int i, nr = folio_nr_pages(folio);
	struct mm_struct *mm = vma->vm_mm;
	spinlock_t *ptl;	/* page table lock */
	pte_t *pte;

	/* All PTEs of one folio must sit in one page table. */
	if (!IS_ALIGNED(addr, PAGE_SIZE * nr) ||
	    addr + PAGE_SIZE * nr > vma->vm_end)
		return -EINVAL;
	if (pmd_trans_huge(*pmd))
		return -EEXIST;
	if (pte_alloc(mm, pmd))
		return -ENOMEM;
	pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!pte)
		return -EAGAIN;
	for (i = 0; i < nr; i++) {
		if (!pte_none(ptep_get(pte + i))) {
			pte_unmap_unlock(pte, ptl);
			return -EEXIST;
		}
	}
	map_anon_folio_pte_nopf(folio, pte, vma, addr, false);
	add_mm_counter(mm, MM_ANONPAGES, nr);
	pte_unmap_unlock(pte, ptl);
	return 0;
}

/**
 * khopages_check_room() - is there room to map a folio at @addr?
 * @vma:   destination VMA.
 * @addr:  address, aligned to the folio's size.
 * @order: folio order.
 *
 * A huge page needs an empty PMD (no page table under it); a smaller folio
 * needs all its PTEs empty.
 *
 * Context: mmap_lock held.
 * Return: 0 or -EEXIST.
 */
int khopages_check_room(struct vm_area_struct *vma, unsigned long addr,
			unsigned int order)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned int i, nr = 1U << order;
	spinlock_t *ptl;	/* page table lock */
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;
	pte_t *pte;
	int err = 0;

	pgd = pgd_offset(mm, addr);
	if (pgd_none(*pgd))
		return 0;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d))
		return 0;
	pud = pud_offset(p4d, addr);
	if (pud_none(*pud))
		return 0;
	if (!pud_present(*pud) || pud_leaf(*pud))
		return -EEXIST;
	pmd = pmd_offset(pud, addr);
	if (pmd_none(pmdp_get_lockless(pmd)))
		return 0;
	if (order == HPAGE_PMD_ORDER || pmd_trans_huge(pmdp_get_lockless(pmd)))
		return -EEXIST;
	pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!pte)
		return -EEXIST;
	for (i = 0; i < nr && !err; i++)
		if (!pte_none(ptep_get(pte + i)))
			err = -EEXIST;
	pte_unmap_unlock(pte, ptl);
	return err;
}

/**
 * khopages_map_folio() - map a whole folio as new anonymous memory.
 * @vma:   private anonymous VMA of the current process.
 * @addr:  where; aligned to the folio's size.
 * @folio: an unmapped folio (restored from KHO, or a fresh copy); the
 *         caller's reference becomes the mapping's on success.
 *
 * The folio gets what a fault would give it: anon rmap (exclusive), memcg
 * charge, LRU, mm counters; a PMD-sized folio is mapped by a PMD.
 *
 * Context: mmap_lock held for writing, so no fault races with us.
 * Return: 0; -EEXIST when something is mapped there; -EINVAL for a
 * misaligned address; -ENOMEM.
 */
int khopages_map_folio(struct vm_area_struct *vma, unsigned long addr,
		       struct folio *folio)
{
	struct mm_struct *mm = vma->vm_mm;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;
	pmd_t *pmd;

	mmap_assert_write_locked(mm);
	if (anon_vma_prepare(vma))
		return -ENOMEM;
	if (!folio_memcg(folio) && mem_cgroup_charge(folio, mm, GFP_KERNEL))
		return -ENOMEM;
	__folio_mark_uptodate(folio);
	/*
	 * A folio restored from KHO is a plain compound page: mark it as an
	 * anon large folio so freeing it takes it off the deferred split list.
	 */
	if (folio_test_large(folio))
		folio_set_large_rmappable(folio);

	pgd = pgd_offset(mm, addr);
	p4d = p4d_alloc(mm, pgd, addr);
	if (!p4d)
		return -ENOMEM;
	pud = pud_alloc(mm, p4d, addr);
	if (!pud)
		return -ENOMEM;
	pmd = pmd_alloc(mm, pud, addr);
	if (!pmd)
		return -ENOMEM;
	if (folio_order(folio) == HPAGE_PMD_ORDER)
		return khopages_map_pmd(vma, addr, pmd, folio);
	return khopages_map_ptes(vma, addr, pmd, folio);
}

/**
 * khopages_isolate_folio() - take a held folio off the LRU.
 * @folio: a folio the caller holds a reference on.
 *
 * Off the LRU, reclaim and compaction leave it alone until kexec.
 *
 * Return: true if the folio was isolated (put it back with
 * khopages_putback_folio()).
 */
bool khopages_isolate_folio(struct folio *folio)
{
	return folio_isolate_lru(folio);
}

/**
 * khopages_putback_folio() - return an isolated folio to the LRU.
 * @folio: a folio isolated by khopages_isolate_folio().
 */
void khopages_putback_folio(struct folio *folio)
{
	folio_putback_lru(folio);
}

/**
 * khopages_collect_for_move() - isolate a folio that must leave KHO scratch.
 * @folio: a folio the caller holds a reference on.
 * @list:  where collected folios go, for khopages_move_folios().
 *
 * Return: true when the folio was isolated and added to @list.
 */
bool khopages_collect_for_move(struct folio *folio, struct list_head *list)
{
	if (!folio_isolate_lru(folio)) {
		/* It may still sit in a per-CPU LRU batch. */
		lru_add_drain_all();
		if (!folio_isolate_lru(folio))
			return false;
	}
	list_add_tail(&folio->lru, list);
	node_stat_mod_folio(folio, NR_ISOLATED_ANON + folio_is_file_lru(folio),
			    folio_nr_pages(folio));
	return true;
}

/**
 * khopages_move_folios() - migrate collected folios out of KHO scratch.
 * @list: folios from khopages_collect_for_move(); the caller has dropped
 *        every other reference it held on them.
 *
 * Scratch is CMA: targets are allocated as for a long-term pin, never
 * movable, so they cannot land in scratch again. Mappings in every process that shares a
 * folio are updated, so COW sharing survives the move.
 *
 * Return: 0 when all moved, -EBUSY otherwise (the rest is put back).
 */
int khopages_move_folios(struct list_head *list)
{
	struct migration_target_control mtc = {
		.nid = NUMA_NO_NODE,
		.gfp_mask = GFP_USER | __GFP_NOWARN,
		.reason = MR_LONGTERM_PIN,
	};
	unsigned int pin_flags;
	int err = 0;

	/* As for a long-term pin: huge targets must not be movable (CMA) either. */
	pin_flags = memalloc_pin_save();
	if (!list_empty(list) &&
	    migrate_pages(list, alloc_migration_target, NULL,
			  (unsigned long)&mtc, MIGRATE_SYNC, MR_LONGTERM_PIN,
			  NULL))
		err = -EBUSY;
	memalloc_pin_restore(pin_flags);
	putback_movable_pages(list);
	return err;
}
