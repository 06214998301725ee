// SPDX-License-Identifier: GPL-2.0
/*
 * MAP: install the received folios of a session into the caller's address
 * space as ordinary anonymous memory, on the frames they had.
 *
 * A MAP call runs in two passes over the session's ranges for the caller's
 * pid: the first refuses whatever can be refused (nothing recorded, a large
 * folio cut by the range, another page mapped there already) before
 * anything changes; the second maps each folio, keeps a frame inherited
 * from a restored parent shared, and copies a folio that another,
 * unrelated process mapped already (a folio is anonymous memory of one
 * fork hierarchy only). Order-0 folios at consecutive addresses are
 * batched, so one page table lock covers up to KHOP_MAP_BATCH of them.
 * The mm helpers that map folios live in mm/khopages_mm.c.
 *
 * Which folios are restored, and the first copy made of a page, are the
 * incoming side's (incoming.c); this file asks it.
 *
 * Context: everything here runs under khop_lock, with the caller's
 * mmap_lock held for writing.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/bitmap.h>
#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/khopages.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "incoming.h"
#include "khopages_trace.h"
#include "map.h"
#include "session.h"

/* Long walks let others run this often. */
#define KHOP_MAP_PAUSE		1024
/* Order-0 folios mapped under one page table lock at most. */
#define KHOP_MAP_BATCH		64
/* log2 of the bits of the filter of a batch's frames: 16 per folio. */
#define KHOP_BATCH_HASH_BITS	10

static struct khop_range *khop_map_next_range(struct khop_session *s,
					      struct khop_range *from,
					      pid_t pid, u64 start, u64 end)
{
	struct khop_range *r = from ? from + 1 : s->ranges;

	for (; r < s->ranges + s->nr_ranges; r++)
		if (r->pid == pid && r->start < end && r->end > start)
			return r;
	return NULL;
}

/*
 * Visit the folios of @r inside [start, end); stop on a non-zero return.
 * The validator saw the same folios inside the range; a folio outside it
 * (its bitmap) would mean the table changed, and ends the walk.
 */
static int khop_map_walk(struct khop_range *r, u64 start, u64 end,
			 int (*fn)(struct khop_range *r, struct khop_entry *e,
				   void *arg), void *arg)
{
	struct khop_reader rd = r->reader;
	struct khop_entry e;
	bool new_range, first = true;
	unsigned long n = 0;
	int ret;

	while ((ret = khop_reader_next(&rd, &e, &new_range)) > 0) {
		if (new_range && !first)
			break;
		first = false;
		if (e.va < r->start || e.va >= r->end ||
		    (PAGE_SIZE << e.order) > r->end - e.va) {
			pr_err_ratelimited("folio at %#llx outside its range\n",
					   e.va);
			return -EIO;
		}
		if (++n % KHOP_MAP_PAUSE == 0)
			cond_resched();
		if (e.va + (PAGE_SIZE << e.order) <= start)
			continue;
		if (e.va >= end)
			break;
		ret = fn(r, &e, arg);
		if (ret)
			return ret;
	}
	return ret < 0 ? ret : 0;
}

/**
 * struct khop_map_ctx - one MAP call.
 * @s:       the session.
 * @vma:     the caller's destination VMA.
 * @arg:     the call's arguments and counters.
 * @start:   first original address asked for.
 * @end:     end of the original addresses asked for.
 * @base:    first address of @present: the start of what the session
 *           recorded in [@start, @end), so its size is bounded by what was
 *           preserved, not by the caller's length.
 * @present: one bit per page from @base: pass 1 found the very frame (or
 *           its first copy) mapped there already, inherited from a parent.
 * @batch:   order-0 folios waiting to be mapped at consecutive addresses
 *           of one page table, so its lock is taken once for all of them.
 * @nr_batch: folios in @batch.
 * @batch_va: original address of ``batch[0]``.
 * @batch_range: the range @batch's folios belong to.
 * @batch_max: the highest folio in @batch.
 * @batch_seen: a bit per hash of the frames in @batch (a Bloom filter):
 *           a folio whose bit is clear is certainly not in @batch.
 */
struct khop_map_ctx {
	struct khop_session *s;
	struct vm_area_struct *vma;
	struct khopages_map *arg;
	u64 start;
	u64 end;
	u64 base;
	unsigned long *present;
	struct folio **batch;
	unsigned int nr_batch;
	u64 batch_va;
	struct khop_range *batch_range;
	struct folio *batch_max;
	DECLARE_BITMAP(batch_seen, 1 << KHOP_BATCH_HASH_BITS);
};

static bool khop_map_bits(struct khop_range *r, struct khop_entry *e,
			  bool set)
{
	unsigned long first = (e->va - r->start) >> PAGE_SHIFT;
	unsigned long nr = 1UL << e->order;

	if (set) {
		bitmap_set(r->mapped, first, nr);
		return true;
	}
	return find_next_bit(r->mapped, first + nr, first) < first + nr;
}

static void khop_map_mark_span(struct khop_range *r, u64 va, unsigned long nr)
{
	bitmap_set(r->mapped, (va - r->start) >> PAGE_SHIFT, nr);
	if (!r->mapper) {
		mmgrab(current->mm);
		r->mapper = current->mm;
	}
}

static void khop_map_mark_mapped(struct khop_range *r, struct khop_entry *e)
{
	khop_map_mark_span(r, e->va, 1UL << e->order);
}

/* Pass 1: everything that can be refused is refused before any change. */
static int khop_map_check(struct khop_range *r, struct khop_entry *e,
			  void *arg)
{
	struct khop_map_ctx *c = arg;
	u64 addr = c->arg->dst_va + (e->va - c->start);
	struct page *found;

	if (e->va < c->start || e->va + (PAGE_SIZE << e->order) > c->end)
		return -EINVAL;	/* a large folio must be mapped whole */
	if (!IS_ALIGNED(addr, PAGE_SIZE << e->order))
		return -EINVAL;
	if (khop_map_bits(r, e, false))
		return -EALREADY;
	found = khopages_peek(c->vma, addr, e->order);
	if (IS_ERR_OR_NULL(found))
		return PTR_ERR_OR_ZERO(found);
	/*
	 * Inherited from a restored parent (the frame itself or the copy MAP
	 * gave the parent), or something else.
	 */
	if (found != pfn_to_page(e->pfn) && found != khop_in_copy_of(e->pfn))
		return -EEXIST;
	__set_bit((e->va - c->base) >> PAGE_SHIFT, c->present);
	return 0;
}

static int khop_map_copy(struct khop_map_ctx *c, struct folio *src, u64 addr)
{
	unsigned long i;
	int err;

	for (i = 0; i < folio_nr_pages(src); i++) {
		u64 a = addr + i * PAGE_SIZE;
		struct folio *dst = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, 0,
						    c->vma, a);

		if (!dst)
			return -ENOMEM;
		/* A handed-over frame may have gone bad: fail, do not crash. */
		if (copy_mc_highpage(&dst->page, folio_page(src, i))) {
			folio_put(dst);
			pr_err_ratelimited("frame %#lx cannot be read (memory error): not copied\n",
					   folio_pfn(src) + i);
			return -EIO;
		}
		err = khopages_map_folio(c->vma, a, dst);
		if (err) {
			folio_put(dst);
			return err;
		}
		khop_in_remember_copy(folio_pfn(src) + i, dst);
	}
	return 0;
}

/* Map the batched folios; those that could not be mapped are put back. */
static int khop_map_flush(struct khop_map_ctx *c)
{
	u64 addr = c->arg->dst_va + (c->batch_va - c->start);
	unsigned int i, done = 0;
	int err;

	if (!c->nr_batch)
		return 0;
	err = khopages_map_folios(c->vma, addr, c->batch, c->nr_batch, &done);
	for (i = done; i < c->nr_batch; i++)
		folio_put(c->batch[i]);
	if (done) {
		c->arg->nr_mapped += done;
		khop_map_mark_span(c->batch_range, c->batch_va, done);
	}
	c->nr_batch = 0;
	bitmap_zero(c->batch_seen, 1 << KHOP_BATCH_HASH_BITS);
	return err;
}

/* Can the order-0 folio for @va join the batch? Flush it first if not. */
static int khop_map_batch_room(struct khop_map_ctx *c, struct khop_range *r,
			       u64 va)
{
	u64 next = c->batch_va + (u64)c->nr_batch * PAGE_SIZE;
	u64 addr = c->arg->dst_va + (va - c->start);

	if (!c->nr_batch)
		return 0;
	if (va == next && r == c->batch_range &&
	    c->nr_batch < KHOP_MAP_BATCH && !IS_ALIGNED(addr, PMD_SIZE))
		return 0;
	return khop_map_flush(c);
}

/*
 * Is @folio waiting in the batch already (one frame named twice, e.g. a
 * KSM page)? Then the batch is mapped first and the folio gets a copy.
 * Contiguous frames ascend, so most folios are above every batched one;
 * scattered ones are mostly ruled out by the batch's filter. Only the rest
 * is looked for in the batch.
 */
static bool khop_map_batched(struct khop_map_ctx *c, struct folio *folio)
{
	unsigned int i;

	if (!c->nr_batch || folio > c->batch_max ||
	    !test_bit(hash_long(folio_pfn(folio), KHOP_BATCH_HASH_BITS),
		      c->batch_seen))
		return false;
	for (i = 0; i < c->nr_batch; i++)
		if (c->batch[i] == folio)
			return true;
	return false;
}

/* Pass 2: map, share or copy one folio. */
static int khop_map_one(struct khop_range *r, struct khop_entry *e,
			void *arg)
{
	struct khop_map_ctx *c = arg;
	u64 addr = c->arg->dst_va + (e->va - c->start);
	u64 nr = 1ULL << e->order;
	struct folio *folio;
	int err;

	if (test_bit((e->va - c->base) >> PAGE_SHIFT, c->present)) {
		/* Inherited from a restored parent: the same frame, keep it. */
		c->arg->nr_shared += nr;
		khop_map_mark_mapped(r, e);
		return 0;
	}
	/* An opened session had every folio restored at OPEN. */
	if (!c->s->taken && khop_in_restore(c->s, e->pfn, e->order)) {
		c->s->broken = true;
		return -EIO;
	}
	folio = pfn_folio(e->pfn);
	if (!folio_test_anon(folio) && !e->order &&
	    !khop_map_batched(c, folio)) {
		err = khop_map_batch_room(c, r, e->va);
		if (err)
			return err;
		folio_get(folio);	/* becomes the mapping's reference */
		if (!c->nr_batch) {
			c->batch_va = e->va;
			c->batch_range = r;
			c->batch_max = folio;
		}
		c->batch_max = max(c->batch_max, folio);
		__set_bit(hash_long(folio_pfn(folio), KHOP_BATCH_HASH_BITS),
			  c->batch_seen);
		c->batch[c->nr_batch++] = folio;
		return 0;
	}
	err = khop_map_flush(c);
	if (err)
		return err;
	if (folio_test_anon(folio)) {
		/* Mapped once already: anon memory of another hierarchy. */
		err = khop_map_copy(c, folio, addr);
		if (!err)
			c->arg->nr_copied += nr;
	} else {
		folio_get(folio);	/* becomes the mapping's reference */
		err = khopages_map_folio(c->vma, addr, folio);
		if (err)
			folio_put(folio);
		else
			c->arg->nr_mapped += nr;
	}
	if (!err)
		khop_map_mark_mapped(r, e);
	return err;
}

/*
 * A restore that failed after mapping (its tasks killed) may be retried:
 * once the process that mapped pages of @r has exited, they count as not
 * mapped again. The frames were mapped before, so the retry gets copies.
 */
static void khop_map_forget_dead_mapper(struct khop_range *r,
					struct mm_struct *mm)
{
	if (!r->mapper || r->mapper == mm || atomic_read(&r->mapper->mm_users))
		return;
	bitmap_zero(r->mapped, (r->end - r->start) >> PAGE_SHIFT);
	mmdrop(r->mapper);
	r->mapper = NULL;
}

static int khop_map_alloc_bits(struct khop_range *r)
{
	if (!r->mapped)
		r->mapped = kvcalloc(BITS_TO_LONGS((r->end - r->start) >>
						   PAGE_SHIFT),
				     sizeof(long), GFP_KERNEL | __GFP_NOWARN);
	return r->mapped ? 0 : -ENOMEM;
}

/*
 * The bitmap of pages pass 1 found mapped already: one bit per page of
 * the part of [@c->start, @c->end) the caller's pid has ranges in.
 */
static unsigned long *khop_map_alloc_present(struct khop_session *s,
					     struct khop_map_ctx *c)
{
	pid_t pid = c->arg->pid;
	struct khop_range *r;
	u64 lo = c->end, hi = c->start;

	for (r = khop_map_next_range(s, NULL, pid, c->start, c->end); r;
	     r = khop_map_next_range(s, r, pid, c->start, c->end)) {
		lo = min(lo, max(r->start, c->start));
		hi = max(hi, min(r->end, c->end));
	}
	c->base = lo;
	return kvcalloc(BITS_TO_LONGS((hi - lo) >> PAGE_SHIFT), sizeof(long),
			GFP_KERNEL);
}

/**
 * khop_map_session() - MAP: install recorded folios into the caller.
 * @s:   the incoming session the caller opened.
 * @arg: checked arguments; the counters are filled in.
 *
 * Everything that can be refused (nothing recorded, a large folio cut by
 * the range, a different page already mapped, pages mapped before) is
 * refused before anything is mapped. Running out of memory half way
 * leaves the pages mapped so far in place (reported in @arg).
 *
 * Context: khop_lock held.
 * Return: 0 or a negative errno as documented in the UAPI header.
 */
int khop_map_session(struct khop_session *s, struct khopages_map *arg)
{
	struct khop_map_ctx c = {
		.s = s, .arg = arg, .start = arg->orig_va,
		.end = arg->orig_va + arg->len,
	};
	struct mm_struct *mm = current->mm;
	struct khop_range *r;
	int err;

	err = mmap_write_lock_killable(mm);
	if (err)
		return err;
	c.vma = vma_lookup(mm, arg->dst_va);
	if (!c.vma || !vma_is_anonymous(c.vma) ||
	    (c.vma->vm_flags & (VM_SHARED | VM_HUGETLB | VM_PFNMAP | VM_IO)) ||
	    arg->dst_va + arg->len > c.vma->vm_end) {
		err = -EFAULT;
		goto out;
	}
	vma_start_write(c.vma);
	r = khop_map_next_range(s, NULL, arg->pid, c.start, c.end);
	if (!r) {
		err = -ENOENT;
		goto out;
	}
	c.present = khop_map_alloc_present(s, &c);
	c.batch = kmalloc_array(KHOP_MAP_BATCH, sizeof(*c.batch), GFP_KERNEL);
	if (!c.present || !c.batch) {
		err = -ENOMEM;
		goto out;
	}
	for (; r && !err; r = khop_map_next_range(s, r, arg->pid, c.start, c.end)) {
		err = khop_map_alloc_bits(r);
		if (err)
			break;
		khop_map_forget_dead_mapper(r, mm);
		err = khop_map_walk(r, c.start, c.end, khop_map_check, &c);
	}
	r = khop_map_next_range(s, NULL, arg->pid, c.start, c.end);
	for (; r && !err; r = khop_map_next_range(s, r, arg->pid, c.start, c.end)) {
		err = khop_map_walk(r, c.start, c.end, khop_map_one, &c);
		/* What was batched is mapped even after an error: as so far. */
		err = khop_map_flush(&c) ?: err;
	}
out:
	mmap_write_unlock(mm);
	kfree(c.batch);
	kvfree(c.present);
	s->info.nr_mapped += arg->nr_mapped;
	s->info.nr_shared += arg->nr_shared;
	s->info.nr_copied += arg->nr_copied;
	trace_khopages_map(s->name, arg->pid, arg->orig_va, arg->dst_va,
			   arg->len, arg->nr_mapped, arg->nr_shared,
			   arg->nr_copied, err);
	return err;
}
