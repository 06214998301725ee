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
#include <linux/pgtable.h>
#include <linux/rmap.h>
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
