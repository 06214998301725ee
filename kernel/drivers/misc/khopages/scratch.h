/* SPDX-License-Identifier: GPL-2.0 */
/* KHO scratch (scratch.c): moving folios out of where the next kernel boots. */
#ifndef _KHOPAGES_SCRATCH_H
#define _KHOPAGES_SCRATCH_H

#include <linux/types.h>

struct folio;
struct page;
struct khopages_evacuate;

bool khop_in_scratch(struct folio *folio);
long khop_move_batch(struct page **pages, long got);
int khop_scratch_evacuate(struct khopages_evacuate *arg);

#endif /* _KHOPAGES_SCRATCH_H */
