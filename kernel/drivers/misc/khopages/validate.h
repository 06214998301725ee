/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Validation of an incoming table (validate.c): nothing a previous kernel
 * wrote is used before it is checked.
 */
#ifndef _KHOPAGES_VALIDATE_H
#define _KHOPAGES_VALIDATE_H

#include <linux/types.h>

#include "table.h"

struct mm_struct;

/**
 * struct khop_range - one preserved range of an incoming session.
 * @pid:    process.
 * @start:  first virtual address.
 * @end:    end of the span (exclusive), holes included.
 * @reader: reader positioned at the range's first folio.
 * @mapped: bitmap, one bit per page of the span, set once mapped.
 * @mapper: the address space that mapped pages of it first (mmgrab'ed):
 *          once it has exited, a retried restore may map the range again.
 */
struct khop_range {
	pid_t pid;
	u64 start;
	u64 end;
	struct khop_reader reader;
	unsigned long *mapped;
	struct mm_struct *mapper;
};

/**
 * struct khop_limits - what a valid table may contain.
 * @pids:      the session's pids.
 * @nr_pids:   entries in @pids.
 * @nr_words:  words announced in the FDT.
 * @nr_pages:  pages announced.
 * @nr_refs:   folio references announced.
 * @pfn_ok:    returns true when a folio at pfn/order may be preserved memory.
 */
struct khop_limits {
	const u32 *pids;
	unsigned int nr_pids;
	u64 nr_words;
	u64 nr_pages;
	u64 nr_refs;
	bool (*pfn_ok)(u64 pfn, unsigned int order);
};

int khop_validate_table(const struct khopages_chunk *first,
			const struct khop_limits *lim,
			struct khop_range **ranges, unsigned int *nr_ranges,
			const char **why);

#endif /* _KHOPAGES_VALIDATE_H */
