/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sets of frames (frames.c): plain sets, counted sets, and the counted
 * set of frames preserved for the next kernel.
 */
#ifndef _KHOPAGES_FRAMES_H
#define _KHOPAGES_FRAMES_H

#include <linux/limits.h>
#include <linux/types.h>
#include <linux/xarray.h>

struct folio;

/**
 * struct khop_pfnset - a set of frame numbers, as sparse bitmaps.
 * @blocks:   block index -> a page of bits for that block's frames.
 * @last:     bitmap of the block used last (NULL: none).
 * @last_idx: its index.
 */
struct khop_pfnset {
	struct xarray blocks;
	unsigned long *last;
	unsigned long last_idx;
};

#define KHOP_PFNSET_INIT(name)	{ .blocks = XARRAY_INIT((name).blocks, 0) }

void khop_pfnset_init(struct khop_pfnset *set);
int khop_pfnset_add(struct khop_pfnset *set, unsigned long pfn);
void khop_pfnset_del(struct khop_pfnset *set, unsigned long pfn);
bool khop_pfnset_test(struct khop_pfnset *set, unsigned long pfn);
unsigned long khop_pfnset_next(struct khop_pfnset *set, unsigned long pfn);
void khop_pfnset_destroy(struct khop_pfnset *set);

/* One step of khop_pfnset_for_each(): the frame at or after *@from. */
static inline bool khop_pfnset_step(struct khop_pfnset *set,
				    unsigned long *from, unsigned long *pfn)
{
	*pfn = khop_pfnset_next(set, *from);
	*from = *pfn + 1;
	return *pfn != ULONG_MAX;
}

/**
 * khop_pfnset_for_each() - every frame of a set, in frame order.
 * @pfn: unsigned long cursor: each frame in turn.
 * @set: the set; frames may be taken out of it meanwhile.
 */
#define khop_pfnset_for_each(pfn, set)					\
	for (unsigned long __khop_from = 0;				\
	     khop_pfnset_step(set, &__khop_from, &(pfn));)

/**
 * struct khop_counted - a set of frames, each with a count of holders.
 * @set:   every frame held at all.
 * @extra: frame -> holders beyond the first (only frames held twice or
 *         more are in it: a page shared across sessions).
 */
struct khop_counted {
	struct khop_pfnset set;
	struct xarray extra;
};

int khop_counted_get(struct khop_counted *c, unsigned long pfn);
bool khop_counted_put(struct khop_counted *c, unsigned long pfn);

/**
 * khop_counted_test() - is a frame held at all?
 * @c:   the counted set.
 * @pfn: the frame.
 *
 * Return: true if it has a holder.
 */
static inline bool khop_counted_test(struct khop_counted *c,
				     unsigned long pfn)
{
	return khop_pfnset_test(&c->set, pfn);
}

int khop_frames_preserve(struct folio *folio);
void khop_frames_unpreserve(struct folio *folio);

#endif /* _KHOPAGES_FRAMES_H */
