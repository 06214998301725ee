// SPDX-License-Identifier: GPL-2.0
/*
 * mm helpers for khopages (drivers/misc/khopages): install a folio handed
 * over by the previous kernel as ordinary anonymous memory, and keep held
 * folios away from reclaim. They live in mm/ because they need
 * mm/internal.h.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/khopages.h>
#include <linux/swap.h>	/* before leafops.h: 7.2's swapops.h needs it */
#include <linux/leafops.h>
#include <linux/memcontrol.h>
#include <linux/migrate.h>
#include <linux/mmu_notifier.h>
#include <linux/pagewalk.h>
#include <linux/pgtable.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <asm/pgalloc.h>
#include <asm/tlbflush.h>

#include "internal.h"
#include "swap.h"

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

/*
 * Lock the page table holding the @nr PTEs from @addr (allocating it if
 * needed) and check they are all empty. Returns the first PTE, locked in
 * *@ptl, or an ERR_PTR.
 */
static pte_t *khopages_lock_empty_ptes(struct mm_struct *mm, pmd_t *pmd,
				       unsigned long addr, unsigned int nr,
				       spinlock_t **ptl)
{
	unsigned int i;
	pte_t *pte;

	if (pmd_trans_huge(*pmd))
		return ERR_PTR(-EEXIST);
	if (pte_alloc(mm, pmd))
		return ERR_PTR(-ENOMEM);
	pte = pte_offset_map_lock(mm, pmd, addr, ptl);
	if (!pte)
		return ERR_PTR(-EAGAIN);
	for (i = 0; i < nr; i++) {
		if (!pte_none(ptep_get(pte + i))) {
			pte_unmap_unlock(pte, *ptl);
			return ERR_PTR(-EEXIST);
		}
	}
	return pte;
}

static int khopages_map_ptes(struct vm_area_struct *vma, unsigned long addr,
			     pmd_t *pmd, struct folio *folio)
{
	unsigned int nr = folio_nr_pages(folio);
	struct mm_struct *mm = vma->vm_mm;
	spinlock_t *ptl;	/* page table lock */
	pte_t *pte;

	/* All PTEs of one folio must sit in one page table. */
	if (nr > PTRS_PER_PTE || !IS_ALIGNED(addr, PAGE_SIZE * nr) ||
	    addr < vma->vm_start || addr + PAGE_SIZE * nr > vma->vm_end ||
	    (addr & PMD_MASK) != ((addr + PAGE_SIZE * nr - 1) & PMD_MASK))
		return -EINVAL;
	pte = khopages_lock_empty_ptes(mm, pmd, addr, nr, &ptl);
	if (IS_ERR(pte))
		return PTR_ERR(pte);
	map_anon_folio_pte_nopf(folio, pte, vma, addr, false);
	add_mm_counter(mm, MM_ANONPAGES, nr);
	pte_unmap_unlock(pte, ptl);
	return 0;
}

/**
 * khopages_peek() - what is mapped where a folio is to go.
 * @vma:   destination VMA.
 * @addr:  address, aligned to the folio's size.
 * @order: folio order.
 *
 * One walk of the page tables answers both questions MAP asks before it
 * changes anything: is a page mapped at @addr already (inherited from a
 * restored parent), and if not, is there room for the whole folio? A huge
 * page needs an empty PMD (no page table under it); a smaller folio needs
 * all its PTEs empty.
 *
 * Context: mmap_lock held.
 * Return: the page mapped at @addr (no reference taken), NULL when there
 * is room, or ERR_PTR(-EEXIST) when something else is in the way.
 */
struct page *khopages_peek(struct vm_area_struct *vma, unsigned long addr,
			   unsigned int order)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned int i, nr = 1U << order;
	spinlock_t *ptl;	/* page table lock */
	struct page *page = NULL;
	pmd_t *pmd, pmdval;
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;
	pte_t *pte;
	pte_t entry;

	pgd = pgd_offset(mm, addr);
	if (pgd_none(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d))
		return NULL;
	pud = pud_offset(p4d, addr);
	if (pud_none(*pud))
		return NULL;
	if (!pud_present(*pud) || pud_leaf(*pud))
		return ERR_PTR(-EEXIST);
	pmd = pmd_offset(pud, addr);
	pmdval = pmdp_get_lockless(pmd);
	if (pmd_none(pmdval))
		return NULL;
	if (pmd_trans_huge(pmdval)) {
		ptl = pmd_trans_huge_lock(pmd, vma);
		if (!ptl)
			return ERR_PTR(-EEXIST);
		pmdval = pmdp_get(pmd);
		if (pmd_present(pmdval) && !is_huge_zero_pmd(pmdval))
			page = pmd_page(pmdval) +
			       ((addr & ~HPAGE_PMD_MASK) >> PAGE_SHIFT);
		else
			page = ERR_PTR(-EEXIST);
		spin_unlock(ptl);
		return page;
	}
	pte = pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!pte)
		return ERR_PTR(-EEXIST);
	entry = ptep_get(pte);
	if (pte_present(entry)) {
		page = vm_normal_page(vma, addr, entry) ?: ERR_PTR(-EEXIST);
	} else if (!pte_none(entry) || order == HPAGE_PMD_ORDER) {
		/* a swap entry; or a huge page would need the PMD empty */
		page = ERR_PTR(-EEXIST);
	} else {
		for (i = 1; i < nr && !page; i++)
			if (!pte_none(ptep_get(pte + i)))
				page = ERR_PTR(-EEXIST);
	}
	pte_unmap_unlock(pte, ptl);
	return page;
}

/* The PMD for @addr, with the levels above it allocated as needed. */
static pmd_t *khopages_pmd_alloc(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud;

	p4d = p4d_alloc(mm, pgd, addr);
	if (!p4d)
		return NULL;
	pud = pud_alloc(mm, p4d, addr);
	if (!pud)
		return NULL;
	return pmd_alloc(mm, pud, addr);
}

/* What a fault gives a new anon folio before it is mapped. */
static int khopages_prepare_folio(struct mm_struct *mm, struct folio *folio)
{
	if (!folio_memcg(folio) && mem_cgroup_charge(folio, mm, GFP_KERNEL))
		return -ENOMEM;
	__folio_mark_uptodate(folio);
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
 * misaligned address or a folio larger than a PMD maps; -ENOMEM.
 */
int khopages_map_folio(struct vm_area_struct *vma, unsigned long addr,
		       struct folio *folio)
{
	struct mm_struct *mm = vma->vm_mm;
	pmd_t *pmd;

	mmap_assert_write_locked(mm);
	/* Checked before the folio is charged: nothing to undo. */
	if (folio_order(folio) > HPAGE_PMD_ORDER)
		return -EINVAL;
	if (anon_vma_prepare(vma) || khopages_prepare_folio(mm, folio))
		return -ENOMEM;
	/*
	 * A folio restored from KHO is a plain compound page: mark it as an
	 * anon large folio so freeing it takes it off the deferred split list.
	 */
	if (folio_test_large(folio))
		folio_set_large_rmappable(folio);

	pmd = khopages_pmd_alloc(mm, addr);
	if (!pmd)
		return -ENOMEM;
	if (folio_order(folio) == HPAGE_PMD_ORDER)
		return khopages_map_pmd(vma, addr, pmd, folio);
	return khopages_map_ptes(vma, addr, pmd, folio);
}

/**
 * khopages_map_folios() - map order-0 folios at consecutive addresses.
 * @vma:    private anonymous VMA of the current process.
 * @addr:   where the first one goes.
 * @folios: unmapped order-0 folios; each caller's reference becomes the
 *          mapping's for those mapped.
 * @nr:     how many; they must all fall into one page table.
 * @done:   set to how many of them were mapped (the first *@done).
 *
 * As khopages_map_folio() for each, but the page table is walked and
 * locked once for all of them, which is most of the cost of mapping one.
 *
 * Context: mmap_lock held for writing.
 * Return: 0 when all were mapped; -EEXIST when something is mapped in the
 * way (none mapped); -EINVAL for a bad span; -ENOMEM (the folios charged
 * before memory ran out are mapped).
 */
int khopages_map_folios(struct vm_area_struct *vma, unsigned long addr,
			struct folio **folios, unsigned int nr,
			unsigned int *done)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned long end = addr + (unsigned long)nr * PAGE_SIZE;
	spinlock_t *ptl;	/* page table lock */
	unsigned int i, ready;
	int err = 0;
	pmd_t *pmd;
	pte_t *pte;

	mmap_assert_write_locked(mm);
	*done = 0;
	if (!nr)
		return 0;
	if (addr < vma->vm_start || end > vma->vm_end ||
	    (addr & PMD_MASK) != ((end - 1) & PMD_MASK))
		return -EINVAL;
	for (i = 0; i < nr; i++)
		if (folio_test_large(folios[i]))
			return -EINVAL;
	if (anon_vma_prepare(vma))
		return -ENOMEM;
	for (ready = 0; ready < nr; ready++) {
		err = khopages_prepare_folio(mm, folios[ready]);
		if (err)
			break;
	}
	if (!ready)
		return err;
	pmd = khopages_pmd_alloc(mm, addr);
	if (!pmd)
		return -ENOMEM;
	pte = khopages_lock_empty_ptes(mm, pmd, addr, ready, &ptl);
	if (IS_ERR(pte))
		return PTR_ERR(pte);
	for (i = 0; i < ready; i++)
		map_anon_folio_pte_nopf(folios[i], pte + i, vma,
					addr + i * PAGE_SIZE, false);
	add_mm_counter(mm, MM_ANONPAGES, ready);
	pte_unmap_unlock(pte, ptl);
	*done = ready;
	return err;
}

/**
 * khopages_isolate_folios() - take held folios off the LRU.
 * @folios:   folios the caller holds a reference on.
 * @nr:       how many.
 * @isolated: bitmap of @nr bits; bit i is set when ``folios[i]`` was taken
 *            off (put it back with khopages_putback_folio()).
 *
 * Off the LRU, reclaim and compaction leave them alone until kexec. As
 * folio_isolate_lru() for each, but the LRU lock is taken once for the
 * folios of one lruvec in a row, not once per folio.
 *
 * Return: how many were taken off.
 */
unsigned int khopages_isolate_folios(struct folio **folios, unsigned int nr,
				     unsigned long *isolated)
{
	struct lruvec *lruvec = NULL;
	unsigned int i, n = 0;

	bitmap_zero(isolated, nr);
	for (i = 0; i < nr; i++) {
		struct folio *folio = folios[i];

		if (!folio_test_clear_lru(folio))
			continue;
		folio_get(folio);
		lruvec = folio_lruvec_relock_irq(folio, lruvec);
		lruvec_del_folio(lruvec, folio);
		__set_bit(i, isolated);
		n++;
	}
	if (lruvec)
		lruvec_unlock_irq(lruvec);
	return n;
}

/**
 * khopages_putback_folio() - return an isolated folio to the LRU.
 * @folio: a folio isolated by khopages_isolate_folios().
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

/* Where a walk taking pages stands: the run of pages taken so far. */
struct khopages_grab {
	unsigned long start;	/* address of pages[0] */
	unsigned long next;	/* the address after the last one looked at */
	struct page **pages;
	unsigned long nr;
	bool share;		/* write-protect what is taken, as fork() */
};

/*
 * Nothing to take here: never touched, only read (the zero page), or a
 * marker without data (a guard region, uffd-wp on an empty entry). A
 * poison marker reads as a memory error: it is not a hole.
 */
static bool khopages_pte_hole(pte_t entry)
{
	softleaf_t leaf;

	if (pte_none(entry))
		return true;
	if (pte_present(entry))
		return is_zero_pfn(pte_pfn(entry));
	leaf = softleaf_from_pte(entry);
	return softleaf_is_marker(leaf) && !softleaf_is_poison_marker(leaf);
}

/* A hole before the run skips ahead; after it, or outside a VMA, ends it. */
static int khopages_grab_hole(unsigned long addr, unsigned long next,
			      int depth, struct mm_walk *walk)
{
	struct khopages_grab *g = walk->private;

	if (depth < 0 || g->nr || addr != g->next)
		return 1;
	g->start = next;
	g->next = next;
	return 0;
}

/*
 * Write-protect a present anonymous PMD and mark its page maybe-shared,
 * as fork() does; pmdp_invalidate() flushes the TLB. A folio maybe
 * pinned for DMA keeps its PMD as it is (see khopages_share_pte()).
 */
static void khopages_share_pmd(struct vm_area_struct *vma, unsigned long addr,
			       pmd_t *pmd)
{
	unsigned long haddr = addr & HPAGE_PMD_MASK;
	pmd_t entry = pmdp_get(pmd);
	struct page *page = pmd_page(entry);
	struct folio *folio = page_folio(page);
	bool exclusive;

	if (!folio_test_anon(folio))
		return;
	exclusive = PageAnonExclusive(page);
	if (!exclusive && !pmd_write(entry))
		return;
	flush_cache_range(vma, haddr, haddr + HPAGE_PMD_SIZE);
	entry = pmdp_invalidate(vma, haddr, pmd);
	if (exclusive && folio_try_share_anon_rmap_pmd(folio, page)) {
		set_pmd_at(vma->vm_mm, haddr, pmd, entry);
		return;
	}
	set_pmd_at(vma->vm_mm, haddr, pmd, pmd_wrprotect(entry));
}

/* Take the pages of a huge PMD in [addr, end). Context: its lock held. */
static int khopages_grab_huge(struct khopages_grab *g,
			      struct vm_area_struct *vma, pmd_t *pmd,
			      unsigned long addr, unsigned long end)
{
	pmd_t entry = pmdp_get(pmd);
	unsigned long i, n = (end - addr) >> PAGE_SHIFT;
	struct page *page;

	if (!pmd_present(entry))
		return 1;
	if (is_huge_zero_pmd(entry)) {
		if (g->nr)
			return 1;
		g->start = end;
		g->next = end;
		return 0;
	}
	page = pmd_page(entry) + ((addr & ~HPAGE_PMD_MASK) >> PAGE_SHIFT);
	/* One reference per page, as GUP takes them. */
	folio_ref_add(page_folio(page), n);
	if (g->share)
		khopages_share_pmd(vma, addr, pmd);
	for (i = 0; i < n; i++)
		g->pages[g->nr++] = page + i;
	g->next = end;
	return 0;
}

/*
 * Write-protect one present anonymous PTE and mark its page maybe-shared,
 * as KSM does: the PTE is cleared first, so GUP-fast sees it change and
 * backs off (see __folio_try_share_anon_rmap()). The caller flushes the
 * TLB once for the whole page table, under its lock: a write through a
 * stale TLB entry before that (only a task that is not frozen could do
 * one) is a write before PRESERVE returned. Afterwards a write copies the
 * page, because we hold a reference too. A page maybe pinned for DMA
 * cannot be marked shared: it keeps its PTE, writable and exclusive, as
 * fork() leaves the parent's (the device may write it anyway). Returns
 * true when the PTE changed.
 */
static bool khopages_share_pte(struct vm_area_struct *vma, unsigned long addr,
			       pte_t *ptep, struct page *page)
{
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio = page_folio(page);
	pte_t entry = ptep_get(ptep);
	bool exclusive;

	if (!folio_test_anon(folio))
		return false;
	exclusive = PageAnonExclusive(page);
	if (!exclusive && !pte_write(entry))
		return false;
	entry = ptep_get_and_clear(mm, addr, ptep);
	if (exclusive && folio_try_share_anon_rmap_pte(folio, page)) {
		set_pte_at(mm, addr, ptep, entry);
		return false;
	}
	set_pte_at(mm, addr, ptep, pte_wrprotect(entry));
	return true;
}

/*
 * The page of a swap PTE whose folio is still in memory, up to date, in
 * the swap cache: reclaim unmapped it but could not free it (often
 * because we hold it already). A reference is taken. The swap entry is
 * marked shared, as fork() does for the parent, so do_swap_page() maps
 * the folio read-only and not exclusive: a write copies it, as our
 * reference keeps it from being reused.
 *
 * Returns NULL for any other entry, and when the data is only on the swap
 * device, still being read, or not yet anonymous memory (readahead): GUP
 * brings those in.
 *
 * Context: the page table lock held; with the swap entry in the PTE it
 * keeps the swap device in place (as for mincore), and the entry keeps
 * the folio in the swap cache once we hold it.
 */
static struct page *khopages_swapcache_page(struct mm_struct *mm,
					    unsigned long addr, pte_t *ptep)
{
	pte_t pte = ptep_get(ptep);
	softleaf_t entry = softleaf_from_pte(pte);
	struct folio *folio;

	if (!softleaf_is_swap(entry))
		return NULL;
	folio = swap_cache_get_folio(entry);
	if (!folio)
		return NULL;
	if (!folio_test_anon(folio) || !folio_test_uptodate(folio)) {
		folio_put(folio);
		return NULL;
	}
	if (pte_swp_exclusive(pte))
		set_pte_at(mm, addr, ptep, pte_swp_clear_exclusive(pte));
	return folio_file_page(folio, swp_offset(entry));
}

static int khopages_grab_pmd_entry(pmd_t *pmd, unsigned long addr,
				   unsigned long end, struct mm_walk *walk)
{
	struct khopages_grab *g = walk->private;
	struct vm_area_struct *vma = walk->vma;
	spinlock_t *ptl;	/* page table lock */
	pte_t *start_pte, *pte;
	unsigned long start = addr;
	bool changed = false;
	int ret;

	if (addr != g->next)
		return 1;	/* the walk skipped something: end the run */
	ptl = pmd_trans_huge_lock(pmd, vma);
	if (ptl) {
		if (pmd_is_migration_entry(pmdp_get(pmd))) {
			/* GUP would not wait for it (FOLL_DUMP): wait here. */
			spin_unlock(ptl);
			pmd_migration_entry_wait(walk->mm, pmd);
			walk->action = ACTION_AGAIN;
			return 0;
		}
		ret = khopages_grab_huge(g, vma, pmd, addr, end);
		spin_unlock(ptl);
		return ret;
	}
	start_pte = pte_offset_map_lock(walk->mm, pmd, addr, &ptl);
	if (!start_pte)
		return 1;
	if (g->share)
		flush_cache_range(vma, start, end);
	for (pte = start_pte; addr < end; pte++, addr += PAGE_SIZE) {
		pte_t entry = ptep_get(pte);
		struct page *page;

		if (khopages_pte_hole(entry)) {
			if (g->nr)
				break;
			g->start = addr + PAGE_SIZE;
			continue;
		}
		if (pte_present(entry)) {
			page = vm_normal_page(vma, addr, entry);
			if (!page)
				break;
			folio_get(page_folio(page));
			if (g->share)
				changed |= khopages_share_pte(vma, addr, pte,
							      page);
		} else {
			/* Swapped out or migrating: GUP, unless cached. */
			page = g->share ?
			       khopages_swapcache_page(walk->mm, addr, pte) :
			       NULL;
			if (!page)
				break;
		}
		g->pages[g->nr++] = page;
	}
	/* One flush for the page table, still under its lock. */
	if (changed)
		flush_tlb_range(vma, start, addr);
	pte_unmap_unlock(start_pte, ptl);
	g->next = addr;
	return addr < end;
}

static const struct mm_walk_ops khopages_grab_ops = {
	.pmd_entry	= khopages_grab_pmd_entry,
	.pte_hole	= khopages_grab_hole,
	.walk_lock	= PGWALK_RDLOCK,
};

/**
 * khopages_grab_pages() - take the pages mapped in a range, as GUP would.
 * @mm:    the address space, its mmap_lock held for read.
 * @start: in: first address to look at; out: address of ``pages[0]``.
 * @end:   end of the range (exclusive).
 * @pages: room for one entry per page of the range.
 *
 * get_user_pages_remote() with FOLL_DUMP for the easy case, in one walk of
 * the page tables taking each page table lock once: leading holes (never
 * touched, the zero page, markers without data) are skipped, then a
 * reference is taken on each page of the run of present pages that
 * follows. The run ends at the first entry that is not a present normal
 * page; the caller hands what is there (a swap, migration or poison entry)
 * to GUP, which knows them all. A huge page being migrated is waited for.
 * The mappings are left as they are.
 *
 * Return: the number of pages taken, from *@start on. 0 with *@start ==
 * @end when the whole range is holes.
 */
unsigned long khopages_grab_pages(struct mm_struct *mm, unsigned long *start,
				  unsigned long end, struct page **pages)
{
	struct khopages_grab g = {
		.start = *start, .next = *start, .pages = pages,
	};

	walk_page_range(mm, *start, end, &khopages_grab_ops, &g);
	*start = g.start;
	return g.nr;
}

/**
 * khopages_take_pages() - take the pages of a range and make later writes
 *                         copy them.
 * @mm:    the address space, its mmap_lock held for read.
 * @start: in: first address to look at; out: address of ``pages[0]``.
 * @end:   end of the range (exclusive).
 * @pages: room for one entry per page of the range.
 *
 * As khopages_grab_pages(), and under the same page table lock as each
 * page is taken, its mapping is made what fork() makes the parent's: a
 * present private anonymous page is write-protected and marked
 * maybe-shared. A page whose PTE is a swap entry while its folio is still
 * in the swap cache is taken too, and the entry loses its exclusive mark.
 * With our reference on each, a later write (the owner resumed after a
 * failed dump, a dying thread clearing its TID word, ptrace or
 * process_vm_writev(), after a swap-in or not) gets a copy, and the page
 * keeps the content it has now. A page maybe pinned for DMA stays
 * writable. Any other entry ends the run, for GUP to bring the page in;
 * the caller then calls this again to take it.
 *
 * Return: the number of pages taken, from *@start on. 0 with *@start ==
 * @end when the whole range is holes.
 */
unsigned long khopages_take_pages(struct mm_struct *mm, unsigned long *start,
				  unsigned long end, struct page **pages)
{
	struct khopages_grab g = {
		.start = *start, .next = *start, .pages = pages, .share = true,
	};
	struct mmu_notifier_range range;

	mmu_notifier_range_init(&range, MMU_NOTIFY_PROTECTION_VMA, 0, mm,
				*start, end);
	mmu_notifier_invalidate_range_start(&range);
	walk_page_range(mm, *start, end, &khopages_grab_ops, &g);
	mmu_notifier_invalidate_range_end(&range);
	*start = g.start;
	return g.nr;
}
