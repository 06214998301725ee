// SPDX-License-Identifier: GPL-2.0
/*
 * Outgoing sessions: take the present anonymous pages of a frozen process
 * and record them in the table; when the session's file goes into a Live
 * Update session, preserve each folio once through KHO (and the table
 * chunks), and take it off the LRU.
 *
 * Pages are taken with plain references (a page-table walk of our own,
 * GUP with FOLL_GET for what it leaves), never FOLL_PIN: a pin of a
 * COW-shared page would copy it and break the sharing between parent and
 * child. The few pages that sit in KHO scratch (CMA, where the next kernel
 * boots) are migrated out first (scratch.c).
 * A held folio cannot be migrated or freed (our reference), and once handed
 * over it is also taken off the LRU so reclaim and compaction skip it.
 * Nothing is preserved before the hand-over: a session that is never
 * handed over (aborted, closed, or still open at a kexec) leaves KHO
 * untouched, so no kexec can carry pages that nobody names.
 *
 * Each page is write-protected in the process and marked maybe-shared, as
 * fork() does, under the page table lock it is taken under, so there is no
 * moment when we hold a page the process can still write: a later write
 * (the tasks resumed after a failed dump, a dying thread's kernel-side
 * clear of its TID word after CRIU kills it, ptrace, process_vm_writev),
 * also after reclaim swapped the page out and a fault brought it back,
 * copies the page and cannot change what is handed over. A page that
 * exists but cannot be read (a memory error, a failed swap-in) fails
 * PRESERVE: it must not come back as zeroes.
 *
 * Context: everything here runs under khop_lock.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/swap.h>

#include "frames.h"
#include "khopages_trace.h"
#include "outgoing.h"
#include "scratch.h"
#include "session.h"
#include "table.h"
#include "target.h"

#define KHOP_BATCH	512
#define KHOP_ISOLATE_BATCH	32	/* as reclaim's SWAP_CLUSTER_MAX */
#define KHOP_MOVE_TRIES	8

/* Where a PRESERVE call started, to undo it if it fails half way. */
struct khop_undo {
	struct khop_table table;
	u64 run_word;
	u32 last_chunk_words;
	unsigned long *pfns;
	unsigned int nr_pfns;
	unsigned int max_pfns;
	u64 last_moved;
	unsigned int move_tries;
};

/* Hold @folio for @s unless it does already. Returns 1 if new, 0 or -errno. */
static int khop_hold_new(struct khop_session *s, struct folio *folio,
			 struct khop_undo *undo)
{
	unsigned long pfn = folio_pfn(folio);
	int err;

	if (undo->nr_pfns == undo->max_pfns) {
		unsigned int m = undo->max_pfns ? undo->max_pfns * 2 : 64;
		void *p = kvrealloc(undo->pfns, m * sizeof(*undo->pfns),
				    GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		undo->pfns = p;
		undo->max_pfns = m;
	}
	err = khop_pfnset_add(&s->held, pfn);
	if (err <= 0)
		return err;	/* 0: named again (a page shared by tasks) */
	undo->pfns[undo->nr_pfns++] = pfn;
	s->info.nr_folios++;
	s->info.folios_by_order[min_t(unsigned int, folio_order(folio),
				      KHOPAGES_MAX_ORDERS - 1)]++;
	return 1;
}

/* Drop one session's hold on a folio (not handed over), and its reference. */
static void khop_unhold(struct khop_session *s, unsigned long pfn)
{
	khop_pfnset_del(&s->held, pfn);
	folio_put(pfn_folio(pfn));
}

static void khop_undo_begin(struct khop_session *s, struct khop_undo *undo)
{
	struct khop_table *t = &s->table;

	memset(undo, 0, sizeof(*undo));
	undo->last_moved = U64_MAX;
	undo->table = *t;
	undo->run_word = t->run ? *t->run : 0;
	if (t->nr_chunks)
		undo->last_chunk_words = t->chunks[t->nr_chunks - 1]->nr_words;
}

/* Put the table and the held folios back as they were before the call. */
static void khop_undo_apply(struct khop_session *s, struct khop_undo *undo)
{
	struct khop_table *t = &s->table;
	unsigned int i;

	for (i = 0; i < undo->nr_pfns; i++) {
		unsigned long pfn = undo->pfns[i];
		unsigned int order = folio_order(pfn_folio(pfn));

		s->info.nr_folios--;
		s->info.folios_by_order[min_t(unsigned int, order,
					      KHOPAGES_MAX_ORDERS - 1)]--;
		khop_unhold(s, pfn);
	}
	while (t->nr_chunks > undo->table.nr_chunks)
		khop_table_drop_chunk(t);
	if (t->nr_chunks) {
		t->chunks[t->nr_chunks - 1]->nr_words = undo->last_chunk_words;
		t->chunks[t->nr_chunks - 1]->next = 0;
	}
	t->nr_words = undo->table.nr_words;
	t->nr_pages = undo->table.nr_pages;
	t->nr_refs = undo->table.nr_refs;
	t->cursor = undo->table.cursor;
	t->run = undo->table.run;
	t->run_last = undo->table.run_last;
	t->have_last = undo->table.have_last;
	t->base = undo->table.base;
	t->have_base = undo->table.have_base;
	if (t->run)
		*t->run = undo->run_word;
}

/* Ranges of one process may not overlap: the next kernel would refuse. */
static int khop_check_overlap(struct khop_session *s, pid_t pid, u64 start,
			      u64 end)
{
	unsigned int i;

	for (i = 0; i < s->nr_ranges; i++)
		if (s->ranges[i].pid == pid && start < s->ranges[i].end &&
		    s->ranges[i].start < end)
			return -EEXIST;
	return 0;
}

static int khop_remember_span(struct khop_session *s, pid_t pid, u64 start,
			      u64 end)
{
	struct khop_range *r;

	r = kvrealloc(s->ranges, (s->nr_ranges + 1) * sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	s->ranges = r;
	r += s->nr_ranges++;
	memset(r, 0, sizeof(*r));
	r->pid = pid;
	r->start = start;
	r->end = end;
	return 0;
}

/* Every address must be private anonymous memory we can hand over. */
static int khop_check_vmas(struct mm_struct *mm, u64 start, u64 end)
{
	struct vm_area_struct *vma;
	u64 addr = start;

	while (addr < end) {
		vma = vma_lookup(mm, addr);
		if (!vma)
			return -EFAULT;
		if (!khop_vma_handable(vma))
			return -EINVAL;
		addr = vma->vm_end;
	}
	return 0;
}

/*
 * A large folio is recorded whole only when it lies entirely in the range
 * at an address aligned to its size; otherwise it is split first.
 */
static bool khop_folio_whole(struct folio *folio, struct page **pages,
			     long left, u64 va, u64 end)
{
	long i, nr = folio_nr_pages(folio);

	if (pages[0] != folio_page(folio, 0) || nr > left ||
	    !IS_ALIGNED(va, folio_size(folio)) || va + folio_size(folio) > end)
		return false;
	/* Mapped in order: no page of it replaced by another one. */
	for (i = 1; i < nr; i++)
		if (pages[i] != folio_page(folio, i))
			return false;
	return true;
}

static int khop_split(struct folio *folio)
{
	int err;

	folio_get(folio);
	folio_lock(folio);
	err = split_folio(folio);
	folio_unlock(folio);
	folio_put(folio);
	return err ? -EBUSY : 0;
}

/*
 * Bring the pages from @va to @stop into memory as a core dump reads them,
 * for the page table walk to take: GUP stops at the first hole. The walk
 * skipped the holes before @va already, so the entry at @va holds data
 * (swapped out, being migrated, or a memory error). GUP's references (in
 * @pages) keep them in memory until the walk is done. A page that cannot
 * be read (hardware poison, a swap-in I/O error) must not become a hole:
 * PRESERVE fails with -EIO.
 *
 * Return: how many pages were brought in (at least one), or an errno.
 */
static long khop_fault_in(struct mm_struct *mm, pid_t pid, unsigned long va,
			  unsigned long stop, struct page **pages)
{
	long got;

	got = get_user_pages_remote(mm, va, (stop - va) >> PAGE_SHIFT,
				    FOLL_DUMP | FOLL_FORCE | FOLL_HWPOISON,
				    pages, NULL);
	if (got > 0)
		return got;
	if (got < 0 && got != -EFAULT && got != -EHWPOISON)
		return got;
	pr_warn_ratelimited("pid %d: page at %#lx cannot be read (%s), not preserving it\n",
			    pid, va, got == -EHWPOISON ? "memory error" : "I/O error");
	return -EIO;
}

/*
 * Take one batch of pages starting at *addr. @pages has room for two
 * batches: the second half holds GUP's references while the first is
 * filled. Returns 0 when it made progress (*addr advanced), or an error.
 */
static int khop_preserve_batch(struct khop_session *s, struct mm_struct *mm,
			       pid_t pid, u64 *addr, u64 end,
			       struct page **pages, bool *range_started,
			       struct khopages_preserve *arg,
			       struct khop_undo *undo)
{
	unsigned long va = *addr, stop;
	long got, faulted, i = 0;
	int err = 0;

	/* Batches end on 2 MiB boundaries so aligned huge folios fit in one. */
	stop = min_t(u64, end, ALIGN(va + 1, HPAGE_PMD_SIZE));
	BUILD_BUG_ON(KHOP_BATCH < HPAGE_PMD_NR);
	/* Pages straight from the page tables, write-protected, holes skipped. */
	got = khopages_take_pages(mm, &va, stop, pages);
	if (!got && va < stop) {
		/* Swapped out or migrating: bring it in, then take it. */
		faulted = khop_fault_in(mm, pid, va, stop, pages + KHOP_BATCH);
		if (faulted < 0)
			return faulted;
		got = khopages_take_pages(mm, &va, stop, pages);
		release_pages(pages + KHOP_BATCH, faulted);
	}
	if (!got) {
		*addr = va;	/* holes up to there, or try again */
		return 0;
	}

	for (i = 0; i < got; i++) {
		struct folio *folio = page_folio(pages[i]);

		/* Once per folio: a huge page's other pages follow it. */
		if (i && folio == page_folio(pages[i - 1]))
			continue;
		if (khop_in_scratch(folio))
			break;
	}
	if (i < got) {
		long moved;

		/*
		 * Migration can fail for a moment (a page locked or briefly
		 * referenced elsewhere): try a batch a few times, then give up.
		 */
		if (undo->last_moved != va) {
			undo->last_moved = va;
			undo->move_tries = 0;
		} else if (++undo->move_tries >= KHOP_MOVE_TRIES) {
			release_pages(pages, got);
			return -EBUSY;
		}
		moved = khop_move_batch(pages, got);
		if (moved == -EBUSY) {
			cond_resched();
			return 0;
		}
		if (moved < 0)
			return moved;
		s->info.nr_moved += moved;
		arg->nr_moved += moved;
		return 0;	/* take the batch again, out of scratch now */
	}

	i = 0;
	while (i < got) {
		struct page *page = pages[i];
		struct folio *folio = page_folio(page);
		unsigned long fpages = folio_nr_pages(folio);
		u64 pva = va + i * PAGE_SIZE;
		long drop;

		if (!folio_test_anon(folio)) {
			err = -EINVAL;
			break;
		}
		if (folio_test_large(folio) &&
		    !khop_folio_whole(folio, pages + i, got - i, pva, end)) {
			release_pages(pages + i, got - i);
			got = i;
			err = khop_split(folio);
			break;
		}
		if (!*range_started) {
			err = khop_table_begin_range(&s->table, pid, pva);
			if (err)
				break;
			*range_started = true;
		}
		err = khop_table_add(&s->table, pva, folio_pfn(folio),
				     folio_order(folio));
		if (err)
			break;
		err = khop_hold_new(s, folio, undo);
		if (err < 0)
			break;
		arg->nr_folios += err;
		/*
		 * GUP took a reference per page, all on this folio: keep one
		 * per held folio, drop the others at once.
		 */
		drop = fpages - err;
		err = 0;
		if (drop)
			folio_put_refs(folio, drop);
		arg->nr_pages += fpages;
		s->info.nr_pages += fpages;
		i += fpages;
	}
	if (i < got)
		release_pages(pages + i, got - i);
	*addr = va + i * PAGE_SIZE;
	return err;
}

/**
 * khop_out_preserve() - PRESERVE: hold and record the pages of a range.
 * @s:   the caller's open outgoing session.
 * @arg: checked arguments; the counters are filled in.
 *
 * All or nothing: on error the session is as it was before the call.
 *
 * Context: khop_lock held.
 * Return: 0 or a negative errno as documented in the UAPI header.
 */
int khop_out_preserve(struct khop_session *s, struct khopages_preserve *arg)
{
	u64 addr = arg->start, end = arg->start + arg->len;
	bool range_started = false;
	struct khop_undo undo;
	struct mm_struct *mm;
	struct page **pages;
	int err;

	mm = khop_target_mm(arg->pid);
	if (IS_ERR(mm))
		return PTR_ERR(mm);
	err = khop_check_overlap(s, arg->pid, addr, end);
	if (err) {
		mmput(mm);
		return err;
	}

	/* A batch, and room for GUP's references (khop_preserve_batch()). */
	pages = kvmalloc_array(2 * KHOP_BATCH, sizeof(*pages), GFP_KERNEL);
	if (!pages) {
		mmput(mm);
		return -ENOMEM;
	}
	khop_undo_begin(s, &undo);
	err = mmap_read_lock_killable(mm);
	if (err)
		goto out;
	err = khop_check_vmas(mm, addr, end);
	while (!err && addr < end) {
		err = khop_preserve_batch(s, mm, arg->pid, &addr, end, pages,
					  &range_started, arg, &undo);
		if (!err && fatal_signal_pending(current))
			err = -EINTR;
	}
	mmap_read_unlock(mm);
	if (!err && arg->nr_pages)
		err = khop_session_add_pid(s, arg->pid);
	if (!err)
		err = khop_remember_span(s, arg->pid, arg->start, end);
out:
	if (err) {
		s->info.nr_pages -= arg->nr_pages;
		s->info.nr_moved -= arg->nr_moved;
		khop_undo_apply(s, &undo);
		arg->nr_pages = 0;
		arg->nr_folios = 0;
		arg->nr_moved = 0;
	}
	s->info.meta_bytes = khop_table_meta_bytes(&s->table);
	trace_khopages_preserve(s->name, arg->pid, arg->start, arg->len,
				arg->nr_pages, arg->nr_folios, err);
	kvfree(undo.pfns);
	kvfree(pages);
	mmput(mm);
	return err;
}

/*
 * Take a batch of held folios off the LRU at once and remember which. One
 * that could not be taken off (or remembered) stays on the LRU: our
 * reference alone keeps reclaim and migration from taking it.
 */
static void khop_isolate_batch(struct khop_session *s, struct folio **batch,
			       unsigned int nr)
{
	DECLARE_BITMAP(isolated, KHOP_ISOLATE_BATCH);
	unsigned int i;

	khopages_isolate_folios(batch, nr, isolated);
	for_each_set_bit(i, isolated, nr)
		if (khop_pfnset_add(&s->isolated, folio_pfn(batch[i])) < 0)
			khopages_putback_folio(batch[i]);
}

/* Stop preserving the first @nr folios of @s (in frame order). */
static void khop_unpreserve_first(struct khop_session *s, unsigned long nr)
{
	unsigned long pfn;

	khop_pfnset_for_each(pfn, &s->held) {
		if (!nr--)
			break;
		khop_frames_unpreserve(pfn_folio(pfn));
	}
}

/**
 * khop_out_hand_over() - preserve a session for the next kernel.
 * @s: the caller's open outgoing session, its file going into a Live
 *     Update session.
 *
 * Every folio is preserved through KHO (once, whatever other sessions
 * hold it), then the table chunks; then the folios are taken off the LRU:
 * nothing changes them any more, and reclaim and compaction should skip
 * them.
 *
 * Context: khop_lock held.
 * Return: 0, or a negative errno with nothing preserved.
 */
int khop_out_hand_over(struct khop_session *s)
{
	struct folio *batch[KHOP_ISOLATE_BATCH];
	unsigned long pfn, n = 0;
	unsigned int nr = 0;
	int err = 0;

	khop_pfnset_for_each(pfn, &s->held) {
		err = khop_frames_preserve(pfn_folio(pfn));
		if (err)
			break;
		if (++n % KHOP_BATCH == 0)
			cond_resched();
	}
	if (!err)
		err = khop_table_preserve(&s->table);
	if (err) {
		khop_unpreserve_first(s, n);
		return err;
	}
	lru_add_drain_all();
	n = 0;
	khop_pfnset_for_each(pfn, &s->held) {
		batch[nr++] = pfn_folio(pfn);
		if (nr < KHOP_ISOLATE_BATCH)
			continue;
		khop_isolate_batch(s, batch, nr);
		nr = 0;
		if (++n % (KHOP_BATCH / KHOP_ISOLATE_BATCH) == 0)
			cond_resched();
	}
	khop_isolate_batch(s, batch, nr);
	return 0;
}

/**
 * khop_out_withdraw() - take a hand-over back: the session is open again.
 * @s: an outgoing session khop_out_hand_over() preserved (its Live Update
 *     session was closed before the kexec).
 *
 * The folios go back on the LRU and stop being preserved (unless another
 * session still hands them over), and so do the table chunks. The holds
 * stay, so the session can be handed over again, aborted, or restored in
 * place.
 *
 * Context: khop_lock held.
 */
void khop_out_withdraw(struct khop_session *s)
{
	unsigned long pfn, n = 0;

	khop_pfnset_for_each(pfn, &s->isolated) {
		khopages_putback_folio(pfn_folio(pfn));
		if (++n % KHOP_BATCH == 0)
			cond_resched();
	}
	khop_pfnset_destroy(&s->isolated);
	khop_unpreserve_first(s, ULONG_MAX);
	khop_table_unpreserve(&s->table);
	s->state = KHOPAGES_STATE_OPEN;
}

/**
 * khop_out_release() - ABORT, or the close of a session never handed over.
 * @s: an open outgoing session, already off the session list.
 *
 * Drops every hold and frees the table. Nothing of it is preserved.
 *
 * Context: khop_lock held.
 */
void khop_out_release(struct khop_session *s)
{
	unsigned long pfn, n = 0;

	khop_pfnset_for_each(pfn, &s->held) {
		khop_unhold(s, pfn);
		if (++n % KHOP_BATCH == 0)
			cond_resched();
	}
	khop_pfnset_destroy(&s->held);
	khop_table_free(&s->table);
}

/**
 * khop_out_keep_local() - turn an open outgoing session into an incoming one.
 * @s: an open outgoing session (never handed over, or withdrawn).
 *
 * For a restore in this same kernel: the folios and the table stay. The
 * session keeps one reference per folio in @s->held, and the orders of
 * its large folios go into @s->large, as an incoming session's.
 *
 * Context: khop_lock held.
 * Return: 0, or -ENOMEM when a large folio could not be recorded (it is
 * dropped from the session, which must then be treated as broken).
 */
int khop_out_keep_local(struct khop_session *s)
{
	unsigned long pfn, n = 0;
	unsigned int order;
	int err = 0, e;

	khop_pfnset_for_each(pfn, &s->held) {
		order = folio_order(pfn_folio(pfn));
		e = order ? xa_err(xa_store(&s->large, pfn, xa_mk_value(order),
					    GFP_KERNEL)) : 0;
		if (e) {
			khop_unhold(s, pfn);
			err = e;
		}
		if (++n % KHOP_BATCH == 0)
			cond_resched();
	}
	/* These were the spans PRESERVE checked overlaps against. */
	kvfree(s->ranges);
	s->ranges = NULL;
	s->nr_ranges = 0;
	return err;
}
