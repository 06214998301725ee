// SPDX-License-Identifier: GPL-2.0
/*
 * Validation of a table received from the previous kernel. Nothing in it
 * is trusted: every chunk, word, frame and address is checked before the
 * session is offered, and the ranges it describes are indexed for MAP.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/memblock.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "table.h"
#include "validate.h"

/* Long walks over a table let others run this often. */
#define KHOP_VALIDATE_PAUSE	1024

static bool khop_pid_listed(const struct khop_limits *lim, pid_t pid)
{
	unsigned int i;

	for (i = 0; i < lim->nr_pids; i++)
		if (lim->pids[i] == (u32)pid)
			return true;
	return false;
}

static int khop_range_cmp(const void *a, const void *b)
{
	const struct khop_range *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static int khop_push_range(struct khop_range **ranges, unsigned int *nr,
			   unsigned int *max, const struct khop_reader *at,
			   const struct khop_entry *e)
{
	struct khop_range *r;

	if (*nr == *max) {
		unsigned int m = *max ? *max * 2 : 16;
		void *p = kvrealloc(*ranges, m * sizeof(**ranges),
				    GFP_KERNEL | __GFP_NOWARN);

		if (!p)
			return -ENOMEM;
		*ranges = p;
		*max = m;
	}
	r = &(*ranges)[(*nr)++];
	memset(r, 0, sizeof(*r));
	r->pid = e->pid;
	r->start = e->va;
	r->end = e->va;
	r->reader = *at;
	return 0;
}

/*
 * Bounds on the announced counts, checked before any word is read. They
 * follow from how table.c writes: a range costs two words and holds at
 * least one folio (a RANGE word is written only with its first folio), a
 * folio costs at most two words (SKIP and RUN; a PAIR holds two in one),
 * so there are at most four words per folio reference; a reference holds
 * one page up to a PMD's worth. Pages are counted per reference, so a
 * folio shared by many processes counts many times: the pages, unlike the
 * words, are not bounded by the memory that exists.
 */
static int khop_check_counts(const struct khop_limits *lim, const char **why)
{
	if (lim->nr_refs > lim->nr_pages ||
	    lim->nr_pages >> HPAGE_PMD_ORDER > lim->nr_refs ||
	    lim->nr_refs > U64_MAX / 4 || lim->nr_words > 4 * lim->nr_refs) {
		*why = "table counts are inconsistent";
		return -EINVAL;
	}
	/* The chunks are memory of this machine. */
	if (DIV_ROUND_UP(lim->nr_words, KHOPAGES_CHUNK_WORDS) >
	    max_pfn >> get_order(KHOPAGES_CHUNK_SIZE)) {
		*why = "table is larger than memory";
		return -EINVAL;
	}
	return 0;
}

/*
 * The writer fills a chunk before it starts the next one, so a table of
 * @nr_words words has exactly DIV_ROUND_UP(@nr_words, KHOPAGES_CHUNK_WORDS)
 * chunks, all full but the last, and the last ends the chain. A chain that
 * loops never ends, so counting catches it.
 */
static int khop_check_chain(const struct khopages_chunk *c, u64 nr_words,
			    const char **why)
{
	u64 n = DIV_ROUND_UP(nr_words, KHOPAGES_CHUNK_WORDS), i;
	u64 want;

	for (i = 0; i < n; i++) {
		want = i + 1 < n ? KHOPAGES_CHUNK_WORDS :
				   nr_words - i * KHOPAGES_CHUNK_WORDS;
		if (c->magic != KHOPAGES_CHUNK_MAGIC || c->nr_words != want) {
			*why = "table chunks do not hold the announced words";
			return -EINVAL;
		}
		if (i + 1 == n)
			break;
		if (khop_validate_chunk(c->next, why))
			return -EINVAL;
		c = phys_to_virt(c->next);
		if (i % KHOP_VALIDATE_PAUSE == KHOP_VALIDATE_PAUSE - 1)
			cond_resched();
	}
	if (c->next) {
		*why = "table chain goes on after its last chunk";
		return -EINVAL;
	}
	return 0;
}

/**
 * khop_validate_table() - check a received table and index its ranges.
 * @first:     first chunk, validated with khop_validate_chunk(); NULL when
 *             the session announces no words.
 * @lim:       what the session's FDT node announced.
 * @ranges:    out: kvmalloc'ed ranges sorted by pid and address.
 * @nr_ranges: out: number of ranges.
 * @why:       out: reason of a refusal.
 *
 * The counts are checked first, then the chain of chunks (its length
 * follows from @lim->nr_words), then every word. An accepted table gives
 * folios that each lie inside the range they are returned in: the reader
 * moves only up within a range and never leaves user space.
 *
 * Context: may sleep; the time taken is bounded by the announced words.
 * Return: 0, -EINVAL for an invalid table, -ENOMEM.
 */
int khop_validate_table(const struct khopages_chunk *first,
			const struct khop_limits *lim,
			struct khop_range **ranges, unsigned int *nr_ranges,
			const char **why)
{
	struct khop_range *out = NULL;
	unsigned int nr = 0, max = 0, i;
	u64 pages = 0, refs = 0;
	struct khop_reader r, at;
	struct khop_entry e;
	bool new_range;
	int ret;

	*why = NULL;
	if (!first != !lim->nr_words) {
		*why = "table address and word count disagree";
		return -EINVAL;
	}
	ret = khop_check_counts(lim, why);
	if (!ret && first)
		ret = khop_check_chain(first, lim->nr_words, why);
	if (ret)
		return ret;
	khop_reader_init(&r, first, lim->nr_words);
	for (;;) {
		at = r;
		ret = khop_reader_next(&r, &e, &new_range);
		if (ret <= 0)
			break;
		if (new_range) {
			if (!khop_pid_listed(lim, e.pid)) {
				*why = "table names a pid the session does not list";
				ret = -EINVAL;
				break;
			}
			/* Replaying from here re-reads this RANGE word. */
			ret = khop_push_range(&out, &nr, &max, &at, &e);
			if (ret)
				break;
		}
		/* MAP maps a folio by one PMD at most. */
		if (e.order > HPAGE_PMD_ORDER) {
			*why = "table has a folio larger than a PMD";
			ret = -EINVAL;
			break;
		}
		if (!IS_ALIGNED(e.pfn, 1UL << e.order) ||
		    !IS_ALIGNED(e.va, PAGE_SIZE << e.order)) {
			*why = "table has a misaligned or oversized folio";
			ret = -EINVAL;
			break;
		}
		if (e.va >= KHOP_VA_LIMIT ||
		    e.va + (PAGE_SIZE << e.order) > KHOP_VA_LIMIT) {
			*why = "table has an address outside user space";
			ret = -EINVAL;
			break;
		}
		if (!lim->pfn_ok(e.pfn, e.order)) {
			*why = "table has a frame outside preserved memory";
			ret = -EINVAL;
			break;
		}
		out[nr - 1].end = e.va + (PAGE_SIZE << e.order);
		pages += 1ULL << e.order;
		if (++refs > lim->nr_refs || pages > lim->nr_pages) {
			*why = "table counts do not match the session";
			ret = -EINVAL;
			break;
		}
		if (refs % KHOP_VALIDATE_PAUSE == 0)
			cond_resched();
	}
	if (ret < 0) {
		*why = *why ?: "table stream is malformed";
		goto fail;
	}
	if (r.left || pages != lim->nr_pages || refs != lim->nr_refs) {
		*why = "table counts do not match the session";
		ret = -EINVAL;
		goto fail;
	}
	sort(out, nr, sizeof(*out), khop_range_cmp, NULL);
	for (i = 1; i < nr; i++) {
		if (out[i].pid == out[i - 1].pid &&
		    out[i].start < out[i - 1].end) {
			*why = "table has overlapping ranges";
			ret = -EINVAL;
			goto fail;
		}
	}
	*ranges = out;
	*nr_ranges = nr;
	return 0;
fail:
	kvfree(out);
	return ret;
}
