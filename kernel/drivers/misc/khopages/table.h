/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The handover table (table.c): the words that map each preserved range's
 * virtual pages to frames, written into chunks of preserved memory before
 * the kexec and read back after it.
 */
#ifndef _KHOPAGES_TABLE_H
#define _KHOPAGES_TABLE_H

#include <linux/bits.h>
#include <linux/kho/abi/khopages.h>
#include <linux/types.h>

/* Highest user address any supported paging mode can have. */
#define KHOP_VA_LIMIT	BIT_ULL(57)

/**
 * struct khop_table - a table being written (outgoing) or read (incoming).
 * @chunks:     chunk addresses in order (kvmalloc'ed array, kernel-only).
 * @nr_chunks:  chunks in use.
 * @max_chunks: room in @chunks.
 * @nr_words:   words in the whole table.
 * @nr_pages:   pages described.
 * @nr_refs:    folio references (RUN counts plus GAP words).
 * @cursor:     writer: virtual address the next folio would continue at.
 * @run:        writer: last RUN word, to extend it; NULL when none.
 * @run_last:   writer: pfn of the last folio written in this range.
 * @have_last:  writer: a folio was written in this range.
 * @base:       writer: pfn of the folio before @run's first one.
 * @have_base:  writer: @base is valid (@run may become a PAIR word).
 */
struct khop_table {
	struct khopages_chunk **chunks;
	unsigned int nr_chunks;
	unsigned int max_chunks;
	u64 nr_words;
	u64 nr_pages;
	u64 nr_refs;
	u64 cursor;
	u64 *run;
	u64 run_last;
	bool have_last;
	u64 base;
	bool have_base;
};

/**
 * struct khop_entry - one folio of a decoded table.
 * @pid:   process the folio belonged to.
 * @va:    its virtual address there.
 * @pfn:   first frame.
 * @order: folio order.
 */
struct khop_entry {
	pid_t pid;
	u64 va;
	u64 pfn;
	unsigned int order;
};

/**
 * struct khop_reader - walks the words of a table, across chunks.
 * @chunk: current chunk; NULL at the end.
 * @idx:   next word in @chunk.
 * @left:  words still to read in the whole table.
 * @pid:   pid of the current range, or -1 before the first RANGE word.
 * @cursor: virtual address of the next folio.
 * @run_left: folios left in the current RUN word.
 * @run_pfn:  pfn of the next folio of that run.
 * @run_order: order of that run.
 * @run_desc: that run goes down in frames.
 * @last_pfn: frame of the last folio read in this range (PAIR base).
 * @have_last: @last_pfn is valid.
 * @pair:     frames of a PAIR word still to hand out.
 * @pair_left: how many of @pair are left.
 */
struct khop_reader {
	const struct khopages_chunk *chunk;
	u32 idx;
	u64 left;
	pid_t pid;
	u64 cursor;
	u64 run_left;
	u64 run_pfn;
	unsigned int run_order;
	bool run_desc;
	u64 last_pfn;
	bool have_last;
	u64 pair[2];
	unsigned int pair_left;
};

int khop_table_init(struct khop_table *t);
void khop_table_free(struct khop_table *t);
void khop_table_drop_chunk(struct khop_table *t);
int khop_table_preserve(struct khop_table *t);
void khop_table_unpreserve(struct khop_table *t);
int khop_table_begin_range(struct khop_table *t, pid_t pid, u64 va);
int khop_table_add(struct khop_table *t, u64 va, u64 pfn, unsigned int order);
u64 khop_table_meta_bytes(const struct khop_table *t);
phys_addr_t khop_table_phys(const struct khop_table *t);

void khop_reader_init(struct khop_reader *r, const struct khopages_chunk *first,
		      u64 nr_words);
int khop_reader_next(struct khop_reader *r, struct khop_entry *e,
		     bool *new_range);
int khop_validate_chunk(phys_addr_t phys, const char **why);

#endif /* _KHOPAGES_TABLE_H */
