// SPDX-License-Identifier: GPL-2.0
/*
 * Sets of frames, for both directions of the handover.
 *
 * A plain set (struct khop_pfnset) keeps frame numbers as sparse bitmaps:
 * one page of bits per
 * KHOP_PFNSET_BITS frames (128 MiB of memory), found through a small
 * xarray. Adding, testing or removing a frame touches one bit of a page
 * the index finds in a step or two; an xarray keyed by the frame itself
 * would walk a tree of one node per 64 frames and allocate those nodes,
 * which is what made scattered memory costly to take. Iteration goes in
 * frame order.
 *
 * The bitmaps come from the page allocator, not slab, and stay until the
 * set is destroyed: a set never holds more than one bit per frame of RAM.
 *
 * A counted set (struct khop_counted) also counts the holders of each
 * frame, for folios that several sessions name. Outgoing, the counted set
 * of frames preserved for the next kernel calls kho_preserve_folio() once
 * per folio, whichever sessions hold it, and kho_unpreserve_folio() when
 * the last one lets go (khop_frames_preserve()). Incoming, one counts the
 * received sessions that name a folio (incoming.c).
 *
 * Context: callers serialise all access to a set (khop_lock); the bit
 * operations are the non-atomic ones.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/bitmap.h>
#include <linux/gfp.h>
#include <linux/kexec_handover.h>
#include <linux/mm.h>
#include <linux/sched.h>

#include "frames.h"

#define KHOP_PFNSET_BITS	(PAGE_SIZE * BITS_PER_BYTE)

/* The bitmap covering block @idx, or NULL; remembered for the next call. */
static unsigned long *khop_pfnset_block(struct khop_pfnset *set,
					unsigned long idx)
{
	unsigned long *bits;

	if (set->last && set->last_idx == idx)
		return set->last;
	bits = xa_load(&set->blocks, idx);
	if (bits) {
		set->last = bits;
		set->last_idx = idx;
	}
	return bits;
}

/**
 * khop_pfnset_init() - start an empty set.
 * @set: the set.
 */
void khop_pfnset_init(struct khop_pfnset *set)
{
	xa_init(&set->blocks);
	set->last = NULL;
	set->last_idx = 0;
}

/**
 * khop_pfnset_add() - put a frame into a set.
 * @set: the set.
 * @pfn: the frame.
 *
 * Context: may sleep (allocates a bitmap page for a new block).
 * Return: 1 if @pfn was not in the set, 0 if it was, -ENOMEM.
 */
int khop_pfnset_add(struct khop_pfnset *set, unsigned long pfn)
{
	unsigned long idx = pfn / KHOP_PFNSET_BITS;
	unsigned long *bits = khop_pfnset_block(set, idx);
	int err;

	if (!bits) {
		bits = (unsigned long *)get_zeroed_page(GFP_KERNEL);
		if (!bits)
			return -ENOMEM;
		err = xa_err(xa_store(&set->blocks, idx, bits, GFP_KERNEL));
		if (err) {
			free_page((unsigned long)bits);
			return err;
		}
		set->last = bits;
		set->last_idx = idx;
	}
	return !__test_and_set_bit(pfn % KHOP_PFNSET_BITS, bits);
}

/**
 * khop_pfnset_del() - take a frame out of a set.
 * @set: the set.
 * @pfn: the frame; nothing happens if it is not in the set.
 */
void khop_pfnset_del(struct khop_pfnset *set, unsigned long pfn)
{
	unsigned long *bits = khop_pfnset_block(set, pfn / KHOP_PFNSET_BITS);

	if (bits)
		__clear_bit(pfn % KHOP_PFNSET_BITS, bits);
}

/**
 * khop_pfnset_test() - is a frame in a set?
 * @set: the set.
 * @pfn: the frame.
 *
 * Return: true if it is.
 */
bool khop_pfnset_test(struct khop_pfnset *set, unsigned long pfn)
{
	unsigned long *bits = khop_pfnset_block(set, pfn / KHOP_PFNSET_BITS);

	return bits && test_bit(pfn % KHOP_PFNSET_BITS, bits);
}

/**
 * khop_pfnset_next() - the first frame of a set at or after @pfn.
 * @set: the set.
 * @pfn: where to start.
 *
 * khop_pfnset_for_each() walks a whole set with it; frames may be taken
 * out meanwhile.
 *
 * Return: that frame, or ULONG_MAX when there is none.
 */
unsigned long khop_pfnset_next(struct khop_pfnset *set, unsigned long pfn)
{
	unsigned long idx = pfn / KHOP_PFNSET_BITS, bit;
	unsigned long *bits;

	if (pfn == ULONG_MAX)
		return ULONG_MAX;
	/* Most calls continue in the block the last one ended in. */
	bits = khop_pfnset_block(set, idx);
	if (bits) {
		bit = find_next_bit(bits, KHOP_PFNSET_BITS,
				    pfn % KHOP_PFNSET_BITS);
		if (bit < KHOP_PFNSET_BITS)
			return idx * KHOP_PFNSET_BITS + bit;
	}
	/* Then the next blocks that exist. */
	xa_for_each_start(&set->blocks, idx, bits, idx + 1) {
		bit = find_first_bit(bits, KHOP_PFNSET_BITS);
		if (bit < KHOP_PFNSET_BITS) {
			set->last = bits;
			set->last_idx = idx;
			return idx * KHOP_PFNSET_BITS + bit;
		}
	}
	return ULONG_MAX;
}

/**
 * khop_pfnset_destroy() - empty a set and free its bitmaps.
 * @set: the set; it can be used again afterwards.
 */
void khop_pfnset_destroy(struct khop_pfnset *set)
{
	unsigned long idx;
	unsigned long *bits;

	xa_for_each(&set->blocks, idx, bits) {
		free_page((unsigned long)bits);
		cond_resched();
	}
	xa_destroy(&set->blocks);
	set->last = NULL;
	set->last_idx = 0;
}

/**
 * khop_counted_get() - one more holder of a frame.
 * @c:   the counted set.
 * @pfn: the frame.
 *
 * Context: may sleep (allocates).
 * Return: 1 for the frame's first holder, 0 for a further one, or -ENOMEM
 * (then nothing changed).
 */
int khop_counted_get(struct khop_counted *c, unsigned long pfn)
{
	unsigned long extra;
	int first;

	first = khop_pfnset_add(&c->set, pfn);
	if (first)
		return first;
	extra = xa_to_value(xa_load(&c->extra, pfn));
	return xa_err(xa_store(&c->extra, pfn, xa_mk_value(extra + 1),
			       GFP_KERNEL));
}

/**
 * khop_counted_put() - one holder fewer of a frame.
 * @c:   the counted set.
 * @pfn: a frame held with khop_counted_get().
 *
 * Return: true when that was its last holder (it left the set).
 */
bool khop_counted_put(struct khop_counted *c, unsigned long pfn)
{
	unsigned long extra = xa_to_value(xa_load(&c->extra, pfn));

	if (extra > 1) {
		/* Replaces a value: allocates nothing, cannot fail. */
		xa_store(&c->extra, pfn, xa_mk_value(extra - 1), GFP_KERNEL);
		return false;
	}
	if (extra) {
		xa_erase(&c->extra, pfn);
		return false;
	}
	khop_pfnset_del(&c->set, pfn);
	return true;
}

/*
 * Folios preserved for the next kernel, counted by holder: the outgoing
 * sessions handed over.
 */
static struct khop_counted khop_preserved = {
	.set = KHOP_PFNSET_INIT(khop_preserved.set),
	.extra = XARRAY_INIT(khop_preserved.extra, 0),
};

/**
 * khop_frames_preserve() - hand a folio over at the next kexec.
 * @folio: a folio the caller holds a reference on.
 *
 * Counted: the folio stays preserved until each caller has dropped it
 * again with khop_frames_unpreserve().
 *
 * Context: khop_lock held.
 * Return: 0 or a negative errno (then nothing changed).
 */
int khop_frames_preserve(struct folio *folio)
{
	unsigned long pfn = folio_pfn(folio);
	int first, err;

	first = khop_counted_get(&khop_preserved, pfn);
	if (first <= 0)
		return first;
	err = kho_preserve_folio(folio);
	if (err)
		khop_counted_put(&khop_preserved, pfn);
	return err;
}

/**
 * khop_frames_unpreserve() - one holder stops handing a folio over.
 * @folio: a folio preserved with khop_frames_preserve().
 *
 * The folio is unpreserved when no holder is left.
 *
 * Context: khop_lock held.
 */
void khop_frames_unpreserve(struct folio *folio)
{
	if (khop_counted_put(&khop_preserved, folio_pfn(folio)))
		kho_unpreserve_folio(folio);
}
