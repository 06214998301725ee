// SPDX-License-Identifier: GPL-2.0
/*
 * The handover table: a stream of 64-bit words in a chain of chunks,
 * preserved through KHO when the session is handed over (format in
 * include/linux/kho/abi/khopages.h). The writer packs physically
 * contiguous folios, in either direction, into one RUN word, two
 * scattered pages into one PAIR word and a hole before a single folio into
 * a GAP word: a scattered page costs 4 bytes, a huge page or a contiguous
 * run 8 bytes in all. The reader walks the words back into (pid, va, pfn,
 * order) entries.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/bits.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "compat.h"
#include "table.h"

#define W_KIND(w)	((w) >> KHOPAGES_W_KIND_SHIFT)
#define W_PFN(w)	((w) & GENMASK_ULL(KHOPAGES_W_PFN_BITS - 1, 0))
#define W_ORDER(w)	(((w) >> KHOPAGES_W_ORDER_SHIFT) & \
			 GENMASK_ULL(KHOPAGES_W_ORDER_BITS - 1, 0))
#define W_COUNT(w)	(((w) >> KHOPAGES_W_COUNT_SHIFT) & \
			 GENMASK_ULL(KHOPAGES_W_COUNT_BITS - 1, 0))
#define W_COUNT_MAX	BIT_ULL(KHOPAGES_W_COUNT_BITS)

static u64 khop_word(u64 kind, u64 pfn, unsigned int order, u64 count)
{
	return kind << KHOPAGES_W_KIND_SHIFT |
	       count << KHOPAGES_W_COUNT_SHIFT |
	       (u64)order << KHOPAGES_W_ORDER_SHIFT | pfn;
}

/**
 * khop_table_init() - prepare an empty table for writing.
 * @t: the table.
 *
 * Return: 0 or -ENOMEM.
 */
int khop_table_init(struct khop_table *t)
{
	memset(t, 0, sizeof(*t));
	t->max_chunks = 16;
	t->chunks = kvmalloc_array(t->max_chunks, sizeof(*t->chunks),
				   GFP_KERNEL);
	return t->chunks ? 0 : -ENOMEM;
}

/**
 * khop_table_free() - free every chunk of a table not handed over.
 * @t: the table; it is empty afterwards.
 */
void khop_table_free(struct khop_table *t)
{
	while (t->nr_chunks)
		khop_table_drop_chunk(t);
	kvfree(t->chunks);
	memset(t, 0, sizeof(*t));
}

/**
 * khop_table_drop_chunk() - free the last chunk of a table not handed over.
 * @t: the table, with at least one chunk.
 *
 * The caller fixes the words and the chain of what is left.
 */
void khop_table_drop_chunk(struct khop_table *t)
{
	folio_put(virt_to_folio(t->chunks[--t->nr_chunks]));
}

/**
 * khop_table_preserve() - preserve every chunk of a table through KHO.
 * @t: the table of a session being handed over.
 *
 * Return: 0, or a negative errno with no chunk preserved.
 */
int khop_table_preserve(struct khop_table *t)
{
	unsigned int i;
	int err;

	for (i = 0; i < t->nr_chunks; i++) {
		err = kho_preserve_folio(virt_to_folio(t->chunks[i]));
		if (err) {
			while (i--)
				kho_unpreserve_folio(virt_to_folio(t->chunks[i]));
			return err;
		}
	}
	return 0;
}

/**
 * khop_table_unpreserve() - undo khop_table_preserve().
 * @t: the table of a session no longer handed over.
 */
void khop_table_unpreserve(struct khop_table *t)
{
	unsigned int i;

	for (i = 0; i < t->nr_chunks; i++)
		kho_unpreserve_folio(virt_to_folio(t->chunks[i]));
}

/*
 * A chunk is 16 KiB, order 2. Under fragmentation (every free frame
 * single, as after a scattered workload) GFP_KERNEL would call the OOM
 * killer for it, which then kills the very tasks being checkpointed.
 * Fail with ENOMEM instead: the dump fails and the tasks run on.
 */
static struct khopages_chunk *khop_chunk_alloc(void)
{
	struct folio *folio;

	folio = folio_alloc(GFP_KERNEL | __GFP_ZERO | __GFP_NORETRY |
			    __GFP_NOWARN, get_order(KHOPAGES_CHUNK_SIZE));
	if (!folio) {
		pr_warn_ratelimited("no free 16 KiB block for a table chunk\n");
		return ERR_PTR(-ENOMEM);
	}
	return folio_address(folio);
}

static int khop_table_new_chunk(struct khop_table *t)
{
	struct khopages_chunk *c;

	if (t->nr_chunks == t->max_chunks) {
		unsigned int max = t->max_chunks * 2;
		void *p = kvrealloc(t->chunks, max * sizeof(*t->chunks),
				    GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		t->chunks = p;
		t->max_chunks = max;
	}
	c = khop_chunk_alloc();
	if (IS_ERR(c))
		return PTR_ERR(c);
	c->magic = KHOPAGES_CHUNK_MAGIC;
	if (t->nr_chunks)
		t->chunks[t->nr_chunks - 1]->next = virt_to_phys(c);
	t->chunks[t->nr_chunks++] = c;
	return 0;
}

static int khop_table_put(struct khop_table *t, u64 word, u64 **slot)
{
	struct khopages_chunk *c;
	int err;

	if (!t->nr_chunks ||
	    t->chunks[t->nr_chunks - 1]->nr_words == KHOPAGES_CHUNK_WORDS) {
		err = khop_table_new_chunk(t);
		if (err)
			return err;
	}
	c = t->chunks[t->nr_chunks - 1];
	c->words[c->nr_words] = word;
	if (slot)
		*slot = &c->words[c->nr_words];
	c->nr_words++;
	t->nr_words++;
	return 0;
}

/**
 * khop_table_begin_range() - start the folios of one range of a process.
 * @t:   the table.
 * @pid: the process.
 * @va:  page-aligned address of the range's first page.
 *
 * Return: 0 or -ENOMEM.
 */
int khop_table_begin_range(struct khop_table *t, pid_t pid, u64 va)
{
	int err;

	err = khop_table_put(t, khop_word(KHOPAGES_W_RANGE, (u32)pid, 0, 0),
			     NULL);
	if (!err)
		err = khop_table_put(t, va, NULL);
	if (err)
		return err;
	t->cursor = va;
	t->run = NULL;
	t->have_last = false;
	t->have_base = false;
	return 0;
}

/* Can the folio at @pfn continue the last RUN, up or down? */
static bool khop_run_extends(struct khop_table *t, u64 pfn, unsigned int order)
{
	u64 nr = 1ULL << order;
	bool single, desc;

	if (!t->run || W_ORDER(*t->run) != order ||
	    W_COUNT(*t->run) + 1 >= W_COUNT_MAX)
		return false;
	single = !W_COUNT(*t->run);
	desc = *t->run & KHOPAGES_W_DESC;
	if ((single || !desc) && pfn == t->run_last + nr)
		return true;
	if ((single || desc) && pfn + nr == t->run_last) {
		*t->run |= KHOPAGES_W_DESC;
		return true;
	}
	return false;
}

static bool khop_delta_fits(s64 d)
{
	return d >= -(1LL << (KHOPAGES_W_DELTA_BITS - 1)) &&
	       d < (1LL << (KHOPAGES_W_DELTA_BITS - 1));
}

/*
 * Two scattered order-0 pages in a row share one word: the single-page RUN
 * word just written becomes a PAIR word holding both as frame deltas.
 */
static bool khop_make_pair(struct khop_table *t, u64 pfn, unsigned int order)
{
	s64 d1 = (s64)t->run_last - (s64)t->base;
	s64 d2 = (s64)pfn - (s64)t->run_last;
	u64 mask = BIT_ULL(KHOPAGES_W_DELTA_BITS) - 1;

	if (order || !t->run || !t->have_base || W_COUNT(*t->run) ||
	    W_ORDER(*t->run) || !khop_delta_fits(d1) || !khop_delta_fits(d2))
		return false;
	*t->run = KHOPAGES_W_RANGE << KHOPAGES_W_KIND_SHIFT | KHOPAGES_W_PAIR |
		  ((u64)d1 & mask) << KHOPAGES_W_DELTA_BITS | ((u64)d2 & mask);
	t->run = NULL;
	return true;
}

/**
 * khop_table_add() - append one folio of the current range.
 * @t:     the table.
 * @va:    the folio's address, at or after the previous folio's end.
 * @pfn:   its first frame.
 * @order: its order.
 *
 * Return: 0, -EINVAL for an address before the cursor or an unencodable
 * frame, or -ENOMEM.
 */
int khop_table_add(struct khop_table *t, u64 va, u64 pfn, unsigned int order)
{
	u64 nr = 1ULL << order, gap;
	int err;

	if (va < t->cursor || pfn >= BIT_ULL(KHOPAGES_W_PFN_BITS) ||
	    order >= BIT(KHOPAGES_W_ORDER_BITS))
		return -EINVAL;
	gap = (va - t->cursor) >> PAGE_SHIFT;

	if (!gap && khop_run_extends(t, pfn, order)) {
		*t->run += 1ULL << KHOPAGES_W_COUNT_SHIFT;
	} else if (!gap && khop_make_pair(t, pfn, order)) {
		t->have_base = false;
	} else if (gap && gap < W_COUNT_MAX) {
		err = khop_table_put(t, khop_word(KHOPAGES_W_GAP, pfn, order,
						  gap), NULL);
		if (err)
			return err;
		t->run = NULL;
	} else {
		if (gap) {
			err = khop_table_put(t, KHOPAGES_W_SKIP <<
					     KHOPAGES_W_KIND_SHIFT | gap, NULL);
			if (err)
				return err;
		}
		err = khop_table_put(t, khop_word(KHOPAGES_W_RUN, pfn, order, 0),
				     &t->run);
		if (err)
			return err;
		t->base = t->run_last;
		t->have_base = t->have_last;
	}
	t->run_last = pfn;
	t->have_last = true;
	t->cursor = va + (nr << PAGE_SHIFT);
	t->nr_pages += nr;
	t->nr_refs++;
	return 0;
}

/**
 * khop_table_meta_bytes() - handover bytes the table costs.
 * @t: the table.
 *
 * Return: bytes of the chunks in use (headers, words and unused tail).
 */
u64 khop_table_meta_bytes(const struct khop_table *t)
{
	return (u64)t->nr_chunks * KHOPAGES_CHUNK_SIZE;
}

/**
 * khop_table_phys() - physical address of the first chunk.
 * @t: the table.
 *
 * Return: the address, or 0 for an empty table.
 */
phys_addr_t khop_table_phys(const struct khop_table *t)
{
	return t->nr_chunks ? virt_to_phys(t->chunks[0]) : 0;
}

/**
 * khop_validate_chunk() - check that @phys may be a table chunk.
 * @phys: address read from the handover.
 * @why:  set to a reason when it may not.
 *
 * The chunk must lie in ordinary RAM outside KHO scratch, where only
 * preserved memory can be, and carry the chunk magic.
 *
 * Return: 0 or -EINVAL.
 */
int khop_validate_chunk(phys_addr_t phys, const char **why)
{
	const struct khopages_chunk *c;

	if (!phys || !IS_ALIGNED(phys, KHOPAGES_CHUNK_SIZE)) {
		*why = "table chunk address is not chunk aligned";
		return -EINVAL;
	}
	if (!pfn_valid(PHYS_PFN(phys)) || !pfn_to_online_page(PHYS_PFN(phys)) ||
	    khop_scratch_overlap(phys, KHOPAGES_CHUNK_SIZE)) {
		*why = "table chunk is not in preserved memory";
		return -EINVAL;
	}
	c = phys_to_virt(phys);
	if (c->magic != KHOPAGES_CHUNK_MAGIC) {
		*why = "table chunk has a bad magic";
		return -EINVAL;
	}
	if (c->nr_words > KHOPAGES_CHUNK_WORDS || (!c->nr_words && c->next)) {
		*why = "table chunk has a bad word count";
		return -EINVAL;
	}
	return 0;
}

/**
 * khop_reader_init() - start reading a table.
 * @r:        the reader.
 * @first:    first chunk (already validated), or NULL for an empty table.
 * @nr_words: words the table holds.
 */
void khop_reader_init(struct khop_reader *r, const struct khopages_chunk *first,
		      u64 nr_words)
{
	memset(r, 0, sizeof(*r));
	r->chunk = first;
	r->left = first ? nr_words : 0;
	r->pid = -1;
}

/* Next raw word: 1, 0 at the end of the table, or -EINVAL. */
static int khop_reader_word(struct khop_reader *r, u64 *w)
{
	const char *why;

	if (!r->left)
		return 0;
	while (r->idx == r->chunk->nr_words) {
		if (!r->chunk->next || khop_validate_chunk(r->chunk->next, &why))
			return -EINVAL;
		r->chunk = phys_to_virt(r->chunk->next);
		r->idx = 0;
	}
	*w = r->chunk->words[r->idx++];
	r->left--;
	return 1;
}

static s64 khop_delta(u64 w, unsigned int shift)
{
	return sign_extend64(w >> shift, KHOPAGES_W_DELTA_BITS - 1);
}

/* Unpack a PAIR word relative to the previous folio's frame. */
static int khop_reader_pair(struct khop_reader *r, u64 w)
{
	s64 a, b;

	if (!r->have_last || (w & BIT_ULL(60)))
		return -EINVAL;
	a = (s64)r->last_pfn + khop_delta(w, KHOPAGES_W_DELTA_BITS);
	b = a + khop_delta(w, 0);
	if (a < 0 || b < 0 || a >= (s64)BIT_ULL(KHOPAGES_W_PFN_BITS) ||
	    b >= (s64)BIT_ULL(KHOPAGES_W_PFN_BITS))
		return -EINVAL;
	r->pair[0] = a;
	r->pair[1] = b;
	r->pair_left = 2;
	return 0;
}

/*
 * Move the cursor past a hole of @pages pages. The cursor never leaves
 * user space, so it only moves up and cannot wrap: every folio of a range
 * starts at or after the end of the one before it.
 */
static int khop_reader_skip(struct khop_reader *r, u64 pages)
{
	if (pages > (KHOP_VA_LIMIT - r->cursor) >> PAGE_SHIFT)
		return -EINVAL;
	r->cursor += pages << PAGE_SHIFT;
	return 0;
}

/**
 * khop_reader_next() - decode the next folio.
 * @r:         the reader.
 * @e:         filled with the folio.
 * @new_range: set when @e is the first folio after a RANGE word.
 *
 * Folios come out in address order within a range: each one starts at or
 * after the end of the one before it and ends below %KHOP_VA_LIMIT.
 *
 * Return: 1 with @e filled, 0 at the end, -EINVAL for a malformed stream
 * (a folio before any range, a range without its address or at a bad one,
 * a hole or folio beyond user space, a broken chain).
 */
int khop_reader_next(struct khop_reader *r, struct khop_entry *e,
		     bool *new_range)
{
	u64 w, va;
	int ret;

	*new_range = false;
	while (!r->run_left && !r->pair_left) {
		ret = khop_reader_word(r, &w);
		if (ret <= 0)
			return ret;
		switch (W_KIND(w)) {
		case KHOPAGES_W_RANGE:
			if (w & KHOPAGES_W_PAIR) {
				if (khop_reader_pair(r, w))
					return -EINVAL;
				break;
			}
			if (khop_reader_word(r, &va) != 1 ||
			    !PAGE_ALIGNED(va) || va >= KHOP_VA_LIMIT)
				return -EINVAL;
			r->pid = (pid_t)(u32)w;
			r->cursor = va;
			r->have_last = false;
			*new_range = true;
			break;
		case KHOPAGES_W_SKIP:
			if (khop_reader_skip(r, w & GENMASK_ULL(KHOPAGES_W_SKIP_BITS - 1, 0)))
				return -EINVAL;
			break;
		case KHOPAGES_W_GAP:
			if ((w & KHOPAGES_W_DESC) || khop_reader_skip(r, W_COUNT(w)))
				return -EINVAL;
			r->run_left = 1;
			r->run_pfn = W_PFN(w);
			r->run_order = W_ORDER(w);
			r->run_desc = false;
			break;
		default:
			r->run_left = W_COUNT(w) + 1;
			r->run_pfn = W_PFN(w);
			r->run_order = W_ORDER(w);
			r->run_desc = w & KHOPAGES_W_DESC;
			/* A run going down must not go below frame 0. */
			if (r->run_desc &&
			    (r->run_left - 1) << r->run_order > r->run_pfn)
				return -EINVAL;
			break;
		}
		if (r->pid < 0)
			return -EINVAL;
	}
	e->pid = r->pid;
	e->va = r->cursor;
	e->order = r->pair_left ? 0 : r->run_order;
	/* The folio must end inside user space: no later one can wrap. */
	if ((PAGE_SIZE << e->order) > KHOP_VA_LIMIT - r->cursor)
		return -EINVAL;
	if (r->pair_left) {
		e->pfn = r->pair[2 - r->pair_left--];
		r->cursor += PAGE_SIZE;
		r->last_pfn = e->pfn;
		return 1;
	}
	e->pfn = r->run_pfn;
	r->last_pfn = e->pfn;
	r->have_last = true;
	r->run_left--;
	if (r->run_desc)
		r->run_pfn -= 1ULL << r->run_order;
	else
		r->run_pfn += 1ULL << r->run_order;
	r->cursor += PAGE_SIZE << r->run_order;
	return 1;
}
