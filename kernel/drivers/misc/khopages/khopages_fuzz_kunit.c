// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the validator against hostile tables: the concrete
 * attacks (a SKIP that wraps the cursor, a chunk chain that loops, counts
 * that would make the walk endless, a folio larger than a PMD), and a
 * fuzzer that mutates valid tables and checks that each mutant is either
 * refused or decodes into folios MAP can install safely.
 *
 * The fuzzer's frame check accepts exactly the frames of the original
 * table, so an accepted mutant maps preserved frames only. The format has
 * no checksum: a mutant that moves a range (a flipped bit of its address,
 * a longer hole) while keeping every count is valid and cannot be told
 * from the original. Those are counted, not failed; what fails is a folio
 * outside its range's bitmap, a frame not preserved, an order MAP cannot
 * map, overlapping ranges of one process, or a walk that does not end.
 *
 * khopages.fuzz_iterations= and khopages.fuzz_seed= on the kernel command
 * line set the number of mutants and the seed (printed, to reproduce).
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <kunit/test.h>
#include <linux/bsearch.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/ktime.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/prandom.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "table.h"
#include "validate.h"

static unsigned int fuzz_iterations = 5000;
module_param(fuzz_iterations, uint, 0444);
MODULE_PARM_DESC(fuzz_iterations, "mutated tables the KUnit table fuzzer tries");

static unsigned long long fuzz_seed = 0x6b686f70;
module_param(fuzz_seed, ullong, 0444);
MODULE_PARM_DESC(fuzz_seed, "seed of the KUnit table fuzzer");

#define FZ_PFN		0x100000ULL
#define FZ_VA		0x7f0000000000ULL
#define FZ_W(kind)	((u64)(kind) << KHOPAGES_W_KIND_SHIFT)

/* One folio as the writer was given it. */
struct fz_entry {
	pid_t pid;
	u64 va;
	u64 pfn;
	unsigned int order;
};

/**
 * struct fz_table - a valid table and what it holds.
 * @t:        the table, written by table.c into preserved chunks.
 * @ent:      its folios, sorted by pid and address.
 * @nr_ent:   entries in @ent.
 * @frames:   its frames with their orders, sorted by frame.
 * @pristine: a copy of each chunk, to undo a mutation.
 * @pids:     the processes the session lists.
 * @lim:      the counts the session announces.
 */
struct fz_table {
	struct khop_table t;
	struct fz_entry *ent;
	unsigned int nr_ent;
	struct fz_entry *frames;
	void **pristine;
	u32 pids[2];
	struct khop_limits lim;
};

/* The table whose frames pfn_ok accepts (the tests run one at a time). */
static struct fz_table *fz_cur;

static int fz_cmp_va(const void *a, const void *b)
{
	const struct fz_entry *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->va != y->va)
		return x->va < y->va ? -1 : 1;
	return 0;
}

static int fz_cmp_pfn(const void *a, const void *b)
{
	const struct fz_entry *x = a, *y = b;

	if (x->pfn != y->pfn)
		return x->pfn < y->pfn ? -1 : 1;
	return 0;
}

/* Exactly the frames of the original table, each with its order. */
static bool fz_pfn_ok(u64 pfn, unsigned int order)
{
	struct fz_entry key = { .pfn = pfn }, *f;

	f = bsearch(&key, fz_cur->frames, fz_cur->nr_ent, sizeof(key),
		    fz_cmp_pfn);
	return f && f->order == order;
}

static void fz_free(struct fz_table *ft)
{
	unsigned int i;

	if (ft->pristine)
		for (i = 0; i < ft->t.nr_chunks; i++)
			kfree(ft->pristine[i]);
	kfree(ft->pristine);
	kvfree(ft->ent);
	kvfree(ft->frames);
	khop_table_free(&ft->t);
}

static void fz_exit(struct kunit *test)
{
	struct fz_table *ft = test->priv;

	if (ft) {
		fz_free(&ft[0]);
		fz_free(&ft[1]);
		kfree(ft);
	}
	fz_cur = NULL;
}

static int fz_init(struct kunit *test)
{
	test->priv = NULL;
	if (!kho_is_enabled())
		return 0;
	test->priv = kzalloc(2 * sizeof(struct fz_table), GFP_KERNEL);
	return test->priv ? 0 : -ENOMEM;
}

static struct fz_table *fz_start(struct kunit *test, unsigned int max_ent)
{
	struct fz_table *ft = test->priv;

	if (!kho_is_enabled())
		kunit_skip(test, "KHO is not enabled (boot with kho=on)");
	ft += !!ft->ent;
	KUNIT_ASSERT_EQ(test, khop_table_init(&ft->t), 0);
	ft->ent = kvcalloc(max_ent, sizeof(*ft->ent), GFP_KERNEL);
	ft->frames = kvcalloc(max_ent, sizeof(*ft->frames), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ft->ent);
	KUNIT_ASSERT_NOT_NULL(test, ft->frames);
	ft->pids[0] = 100;
	ft->pids[1] = 200;
	ft->lim.pids = ft->pids;
	ft->lim.nr_pids = 2;
	ft->lim.pfn_ok = fz_pfn_ok;
	return ft;
}

static void fz_range(struct kunit *test, struct fz_table *ft, pid_t pid,
		     u64 va)
{
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&ft->t, pid, va), 0);
}

static void fz_add(struct kunit *test, struct fz_table *ft, pid_t pid,
		   u64 va, u64 pfn, unsigned int order)
{
	struct fz_entry *e = &ft->ent[ft->nr_ent++];

	KUNIT_ASSERT_EQ(test, khop_table_add(&ft->t, va, pfn, order), 0);
	e->pid = pid;
	e->va = va;
	e->pfn = pfn;
	e->order = order;
}

/* The table is complete: index it and keep a copy of its chunks. */
static void fz_seal(struct kunit *test, struct fz_table *ft)
{
	unsigned int i;

	memcpy(ft->frames, ft->ent, ft->nr_ent * sizeof(*ft->ent));
	sort(ft->ent, ft->nr_ent, sizeof(*ft->ent), fz_cmp_va, NULL);
	sort(ft->frames, ft->nr_ent, sizeof(*ft->frames), fz_cmp_pfn, NULL);
	ft->lim.nr_words = ft->t.nr_words;
	ft->lim.nr_pages = ft->t.nr_pages;
	ft->lim.nr_refs = ft->t.nr_refs;
	ft->pristine = kcalloc(ft->t.nr_chunks, sizeof(void *), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ft->pristine);
	for (i = 0; i < ft->t.nr_chunks; i++) {
		ft->pristine[i] = kmemdup(ft->t.chunks[i], KHOPAGES_CHUNK_SIZE,
					  GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, ft->pristine[i]);
	}
}

static void fz_reset(struct fz_table *ft)
{
	unsigned int i;

	for (i = 0; i < ft->t.nr_chunks; i++)
		memcpy(ft->t.chunks[i], ft->pristine[i], KHOPAGES_CHUNK_SIZE);
}

/* Every kind of word: runs up and down, pairs, gaps, skips, huge pages. */
static struct fz_table *fz_small(struct kunit *test)
{
	struct fz_table *ft = fz_start(test, 64);
	u64 va = FZ_VA, p = FZ_PFN;
	unsigned int i;

	fz_range(test, ft, 100, va);
	fz_add(test, ft, 100, va, p + 7, 0);
	fz_add(test, ft, 100, va + 0x1000, p + 8, 0);
	fz_add(test, ft, 100, va + 0x5000, p + 3, 0);
	fz_add(test, ft, 100, va + 0x200000, p + 0x400, 9);
	fz_add(test, ft, 100, va + 0x400000, p + 0x600, 9);
	fz_add(test, ft, 100, va + 0x400000000ULL, p + 1, 0);
	fz_add(test, ft, 100, va + 0x400001000ULL, p + 0, 0);
	fz_add(test, ft, 100, va + 0x400002000ULL, p + 0x30, 0);
	fz_add(test, ft, 100, va + 0x400003000ULL, p + 0x1000, 0);
	fz_add(test, ft, 100, va + 0x400004000ULL, p + 0x900, 0);
	fz_add(test, ft, 100, va + 0x400005000ULL, p + 0x800, 0);
	fz_add(test, ft, 100, va + 0x400008000ULL, p + 0x2004, 2);
	fz_range(test, ft, 200, va);
	for (i = 0; i < 10; i++)
		fz_add(test, ft, 200, va + i * PAGE_SIZE, p + 0x3000 - i, 0);
	fz_add(test, ft, 200, va + 0x20000, p + 7, 0);	/* shared frame */
	fz_add(test, ft, 200, va + SZ_2M, p + 0x4000, 9);
	fz_range(test, ft, 100, va + SZ_1T);
	for (i = 0; i < 20; i++)
		fz_add(test, ft, 100, va + SZ_1T + i * PAGE_SIZE,
		       p + 0x5000 + 5 * i, 0);
	fz_seal(test, ft);
	return ft;
}

/* Scattered pages over three chunks. */
static struct fz_table *fz_big(struct kunit *test)
{
	unsigned int i, n = 2 * KHOPAGES_CHUNK_WORDS * 2 + 200;
	struct fz_table *ft = fz_start(test, n + 1);

	fz_range(test, ft, 200, FZ_VA);
	for (i = 0; i < n; i++)
		fz_add(test, ft, 200, FZ_VA + i * PAGE_SIZE,
		       FZ_PFN + 0x10000 + 3 * i, 0);
	fz_seal(test, ft);
	KUNIT_ASSERT_EQ(test, ft->t.nr_chunks, 3U);
	return ft;
}

static int fz_validate(struct fz_table *ft, struct khop_range **ranges,
		       unsigned int *nr, const char **why)
{
	*ranges = NULL;
	*nr = 0;
	fz_cur = ft;
	return khop_validate_table(ft->t.nr_chunks ? ft->t.chunks[0] : NULL,
				   &ft->lim, ranges, nr, why);
}

/**
 * struct fz_verdict - what the walk of an accepted table found.
 * @bad:     why the table is unsafe, or NULL.
 * @altered: folios that are preserved frames at other places.
 */
struct fz_verdict {
	const char *bad;
	unsigned long altered;
};

/*
 * Walk every range of an accepted table as map.c's khop_map_walk()
 * does for MAP, and check each folio as khop_map_bits() would index the
 * range's bitmap, and against the original table.
 */
static void fz_check_walk(struct fz_table *ft, struct khop_range *ranges,
			  unsigned int nr, struct fz_verdict *v)
{
	struct fz_entry key, *orig;
	struct khop_reader rd;
	struct khop_entry e;
	bool new_range, first;
	u64 steps, nbits, bit;
	unsigned int i;
	int ret;

	for (i = 0; i < nr && !v->bad; i++) {
		struct khop_range *r = &ranges[i];

		if (i && r->pid == ranges[i - 1].pid &&
		    r->start < ranges[i - 1].end) {
			v->bad = "overlapping ranges accepted";
			return;
		}
		if (r->end <= r->start) {
			v->bad = "empty or inverted range accepted";
			return;
		}
		nbits = (r->end - r->start) >> PAGE_SHIFT;
		rd = r->reader;
		first = true;
		steps = 0;
		while ((ret = khop_reader_next(&rd, &e, &new_range)) > 0) {
			if (new_range && !first)
				break;
			first = false;
			if (++steps > ft->lim.nr_refs) {
				v->bad = "walk of a range does not end";
				return;
			}
			if (e.pid != r->pid || e.va < r->start ||
			    e.va >= r->end) {
				v->bad = "folio outside its range";
				return;
			}
			bit = (e.va - r->start) >> PAGE_SHIFT;
			if (bit + (1ULL << e.order) > nbits) {
				v->bad = "folio beyond its range's bitmap";
				return;
			}
			if (e.order > HPAGE_PMD_ORDER ||
			    !IS_ALIGNED(e.va, PAGE_SIZE << e.order) ||
			    e.va + (PAGE_SIZE << e.order) > KHOP_VA_LIMIT) {
				v->bad = "folio MAP cannot map";
				return;
			}
			if (!fz_pfn_ok(e.pfn, e.order)) {
				v->bad = "frame that is not preserved";
				return;
			}
			key.pid = e.pid;
			key.va = e.va;
			orig = bsearch(&key, ft->ent, ft->nr_ent, sizeof(key),
				       fz_cmp_va);
			if (!orig || orig->pfn != e.pfn || orig->order != e.order)
				v->altered++;
		}
		if (ret < 0)
			v->bad = "walk of an accepted range fails";
	}
}

static u64 fz_rand(struct rnd_state *rs)
{
	return (u64)prandom_u32_state(rs) << 32 | prandom_u32_state(rs);
}

static u32 fz_below(struct rnd_state *rs, u32 n)
{
	return prandom_u32_state(rs) % n;
}

/* A word slot of the table, chosen among the words in use. */
static u64 *fz_word(struct fz_table *ft, struct rnd_state *rs)
{
	u64 i = fz_rand(rs) % ft->t.nr_words;

	return &ft->t.chunks[i / KHOPAGES_CHUNK_WORDS]->words[i % KHOPAGES_CHUNK_WORDS];
}

/* An address a chunk's next may hold that is no memory to read. */
static u64 fz_bad_next(struct fz_table *ft, struct fz_table *other,
		       phys_addr_t spare, struct rnd_state *rs)
{
	struct khopages_chunk *c = ft->t.chunks[fz_below(rs, ft->t.nr_chunks)];

	switch (fz_below(rs, 8)) {
	case 0:
		return virt_to_phys(c);			/* a loop */
	case 1:
		return virt_to_phys(ft->t.chunks[0]);	/* back to the start */
	case 2:
		return 0;
	case 3:
		return virt_to_phys(c) + 8;		/* misaligned */
	case 4:
		return spare;				/* no magic */
	case 5:
		return virt_to_phys(other->t.chunks[0]);	/* another table */
	case 6:						/* beyond memory */
		return ((u64)max_pfn << PAGE_SHIFT) +
		       fz_below(rs, 1024) * (u64)KHOPAGES_CHUNK_SIZE;
	default:
		return fz_rand(rs) | BIT_ULL(62);
	}
}

static const char *fz_mutate(struct fz_table *ft, struct fz_table *other,
			     phys_addr_t spare, struct rnd_state *rs)
{
	struct khopages_chunk *c = ft->t.chunks[fz_below(rs, ft->t.nr_chunks)];
	u64 *w = fz_word(ft, rs), *w2;

	switch (fz_below(rs, 16)) {
	case 0:
		*w ^= BIT_ULL(fz_below(rs, 64));
		return "bit flip";
	case 1:
		*w ^= BIT_ULL(40 + fz_below(rs, 24));
		return "bit flip in a kind, order or count";
	case 2:
		w2 = fz_word(ft, rs);
		swap(*w, *w2);
		return "word swap";
	case 3:
		*w = fz_rand(rs);
		return "random word";
	case 4:
		*w = FZ_W(KHOPAGES_W_SKIP) |
		     (fz_below(rs, 2) ? (BIT_ULL(52) - 1 - fz_below(rs, 1024)) :
		      fz_rand(rs) & GENMASK_ULL(KHOPAGES_W_SKIP_BITS - 1, 0));
		return "huge skip";
	case 5:
		*w &= ~GENMASK_ULL(44, 40);
		*w |= (u64)(fz_below(rs, 2) ? 10 : fz_below(rs, 32)) << 40;
		return "order";
	case 6:
		switch (fz_below(rs, 6)) {
		case 0:
			ft->lim.nr_words += 1 + fz_below(rs, 3);
			break;
		case 1:
			ft->lim.nr_words -= 1 + fz_below(rs, 3);
			break;
		case 2:
			ft->lim.nr_words += KHOPAGES_CHUNK_WORDS;
			break;
		case 3:
			ft->lim.nr_words = U64_MAX - fz_below(rs, 8);
			break;
		case 4:
			ft->lim.nr_words = 4 * ft->lim.nr_refs;
			break;
		default:
			ft->lim.nr_words = fz_rand(rs) >> fz_below(rs, 64);
			break;
		}
		return "announced words";
	case 7:
		switch (fz_below(rs, 4)) {
		case 0:
			c->nr_words += fz_below(rs, 2) ? 1 : -1;
			break;
		case 1:
			c->nr_words = 0;
			break;
		case 2:
			c->nr_words = KHOPAGES_CHUNK_WORDS + fz_below(rs, 2);
			break;
		default:
			c->nr_words = prandom_u32_state(rs);
			break;
		}
		return "chunk words";
	case 8:
		if (fz_below(rs, 2))
			ft->lim.nr_refs += fz_below(rs, 2) ? 1 : -1;
		else
			ft->lim.nr_pages += fz_below(rs, 2) ? 1 : -1;
		return "announced pages or references";
	case 9:
		ft->lim.nr_refs = fz_rand(rs) >> fz_below(rs, 64);
		ft->lim.nr_pages = fz_rand(rs) >> fz_below(rs, 64);
		return "random counts";
	case 10:
		c->next = fz_bad_next(ft, other, spare, rs);
		return "chunk chain";
	case 11:
		c->magic ^= BIT(fz_below(rs, 32));
		return "chunk magic";
	case 12:
		w2 = fz_word(ft, rs);
		*w = FZ_W(KHOPAGES_W_RANGE) | ft->pids[fz_below(rs, 2)];
		*w2 = fz_below(rs, 2) ? (fz_rand(rs) >> fz_below(rs, 20)) & PAGE_MASK :
					KHOP_VA_LIMIT - PAGE_SIZE * fz_below(rs, 4);
		return "range";
	case 13:
		/* Frame deltas of a PAIR, the count of a RUN */
		*w += fz_below(rs, 2) ? 1 : BIT_ULL(KHOPAGES_W_DELTA_BITS);
		*w -= fz_below(rs, 2) ? BIT_ULL(KHOPAGES_W_COUNT_SHIFT) : 0;
		return "deltas or count";
	case 14:
		ft->lim.nr_pids = fz_below(rs, 2);
		return "listed pids";
	default:
		*w = FZ_W(KHOPAGES_W_GAP) | (u64)fz_below(rs, 65536) << 46 |
		     (u64)fz_below(rs, 10) << 40 | (*w & GENMASK_ULL(39, 0));
		return "gap";
	}
}

/* Mutants of two valid tables: each is refused or safe to map. */
static void khop_fuzz_tables(struct kunit *test)
{
	unsigned long refused = 0, same = 0, altered = 0, i;
	u64 max_ns = 0, t0, ns;
	struct fz_table *small, *big, *ft, *other;
	const char *what[3], *why;
	struct khop_limits lim;
	struct khop_range *ranges;
	struct fz_verdict v;
	struct rnd_state rs;
	struct page *spare;
	unsigned int nr, n, k;
	int ret;

	small = fz_small(test);
	big = fz_big(test);
	spare = alloc_pages(GFP_KERNEL | __GFP_ZERO,
			    get_order(KHOPAGES_CHUNK_SIZE));
	KUNIT_ASSERT_NOT_NULL(test, spare);
	prandom_seed_state(&rs, fuzz_seed);
	kunit_info(test, "%u mutants, seed %#llx (khopages.fuzz_seed=)\n",
		   fuzz_iterations, fuzz_seed);

	/* Both originals pass. */
	KUNIT_ASSERT_EQ(test, fz_validate(small, &ranges, &nr, &why), 0);
	kvfree(ranges);
	KUNIT_ASSERT_EQ(test, fz_validate(big, &ranges, &nr, &why), 0);
	kvfree(ranges);

	for (i = 0; i < fuzz_iterations; i++) {
		ft = i % 32 == 31 ? big : small;
		other = ft == big ? small : big;
		fz_reset(ft);
		lim = ft->lim;
		n = 1 + fz_below(&rs, 3);
		for (k = 0; k < n; k++)
			what[k] = fz_mutate(ft, other, page_to_phys(spare), &rs);

		t0 = ktime_get_ns();
		ret = fz_validate(ft, &ranges, &nr, &why);
		ns = ktime_get_ns() - t0;
		max_ns = max(max_ns, ns);
		memset(&v, 0, sizeof(v));
		if (!ret)
			fz_check_walk(ft, ranges, nr, &v);
		else
			refused++;
		if (!ret && !v.bad) {
			if (v.altered)
				altered++;
			else
				same++;
		}
		kvfree(ranges);
		ft->lim = lim;
		if (v.bad || (ret && ret != -EINVAL && ret != -ENOMEM) ||
		    ns > 10 * NSEC_PER_SEC) {
			KUNIT_FAIL(test, "mutant %lu of the %s table (seed %#llx): %s",
				   i, ft == big ? "big" : "small", fuzz_seed,
				   v.bad ?: "took too long or odd error");
			KUNIT_FAIL(test, "mutations: %s, %s, %s; validator %d in %llu ns",
				   what[0], n > 1 ? what[1] : "-",
				   n > 2 ? what[2] : "-", ret, ns);
			break;
		}
		if (i % 64 == 63)
			cond_resched();
	}
	fz_reset(small);
	fz_reset(big);
	__free_pages(spare, get_order(KHOPAGES_CHUNK_SIZE));
	kunit_info(test, "%lu refused, %lu accepted unchanged, %lu accepted moved (no checksum), slowest %llu us\n",
		   refused, same, altered, max_ns / NSEC_PER_USEC);
}

/* The table must be refused; if not, its walk tells what MAP would do. */
static const char *fz_expect_refused(struct kunit *test, struct fz_table *ft)
{
	struct khop_range *ranges;
	struct fz_verdict v = {};
	const char *why = NULL;
	unsigned int nr;
	int ret;

	ret = fz_validate(ft, &ranges, &nr, &why);
	if (!ret)
		fz_check_walk(ft, ranges, nr, &v);
	kvfree(ranges);
	KUNIT_EXPECT_EQ_MSG(test, ret, -EINVAL, "accepted; its walk: %s",
			    v.bad ?: "in bounds");
	if (ret)
		kunit_info(test, "refused: %s\n", why);
	return ret ? why : NULL;
}

/* B.1: a SKIP whose page count wraps the cursor below the range start. */
static void khop_attack_skip_wraps(struct kunit *test)
{
	struct fz_table *ft = fz_start(test, 4);
	struct khopages_chunk *c;

	fz_range(test, ft, 100, FZ_VA);
	fz_add(test, ft, 100, FZ_VA, FZ_PFN, 0);
	fz_add(test, ft, 100, FZ_VA + SZ_1G, FZ_PFN + 100, 0);
	fz_seal(test, ft);
	c = ft->t.chunks[0];
	/* RANGE, address, RUN, SKIP, RUN */
	KUNIT_ASSERT_EQ(test, c->words[3] >> KHOPAGES_W_KIND_SHIFT,
			KHOPAGES_W_SKIP);
	/* From FZ_VA + 4 KiB, 2^64 - 8 KiB further is FZ_VA - 4 KiB. */
	c->words[3] = FZ_W(KHOPAGES_W_SKIP) | (BIT_ULL(52) - 2);
	fz_expect_refused(test, ft);
}

/* B.2: a chain whose second chunk points at itself. */
static void khop_attack_chain_loop(struct kunit *test)
{
	struct fz_table *ft = fz_start(test, 3 * KHOPAGES_CHUNK_WORDS);
	unsigned int i, n = 2 * KHOPAGES_CHUNK_WORDS;
	struct khopages_chunk *c;
	struct khop_range *ranges;
	struct khop_reader r;
	struct khop_entry e;
	const char *why;
	bool new_range;

	fz_range(test, ft, 100, FZ_VA);
	for (i = 0; i < n; i++)
		fz_add(test, ft, 100, FZ_VA + i * PAGE_SIZE, FZ_PFN + 3 * i, 0);
	fz_seal(test, ft);
	KUNIT_ASSERT_EQ(test, ft->t.nr_chunks, 2U);
	/* The second chunk: full of empty SKIPs; only the first has folios. */
	c = ft->t.chunks[1];
	for (i = 0; i < KHOPAGES_CHUNK_WORDS; i++)
		c->words[i] = FZ_W(KHOPAGES_W_SKIP);
	c->nr_words = KHOPAGES_CHUNK_WORDS;
	ft->lim.nr_words = 2 * KHOPAGES_CHUNK_WORDS;
	ft->lim.nr_pages = 0;
	ft->lim.nr_refs = 0;
	khop_reader_init(&r, ft->t.chunks[0], ft->lim.nr_words);
	while (khop_reader_next(&r, &e, &new_range) > 0) {
		ft->lim.nr_pages++;
		ft->lim.nr_refs++;
	}
	/* As written, with a proper end, this table is valid. */
	KUNIT_EXPECT_EQ(test, fz_validate(ft, &ranges, &i, &why), 0);
	kvfree(ranges);
	/* The chain loops on its second chunk, for a third one and more. */
	c->next = virt_to_phys(c);
	ft->lim.nr_words = 3 * KHOPAGES_CHUNK_WORDS;
	fz_expect_refused(test, ft);
}

/* B.2: a loop announced with a word count that would never end. */
static void khop_attack_endless_count(struct kunit *test)
{
	struct fz_table *ft = fz_start(test, 4);
	struct khopages_chunk *c;

	fz_range(test, ft, 100, FZ_VA);
	fz_add(test, ft, 100, FZ_VA, FZ_PFN, 0);
	fz_seal(test, ft);
	c = ft->t.chunks[0];
	c->next = virt_to_phys(c);
	c->nr_words = KHOPAGES_CHUNK_WORDS;
	ft->lim.nr_words = U64_MAX;
	ft->lim.nr_refs = U64_MAX / 8;
	ft->lim.nr_pages = U64_MAX / 8;
	fz_expect_refused(test, ft);
	ft->lim.nr_refs = 1;
	ft->lim.nr_pages = 1;
	fz_expect_refused(test, ft);
}

/*
 * An order-10 folio, more than a page table maps. Single pages after it
 * keep the counts plausible, so the order itself must be refused.
 */
static void khop_attack_order_10(struct kunit *test)
{
	struct fz_table *ft = fz_start(test, 1100);
	const char *why;
	unsigned int i;

	fz_range(test, ft, 100, FZ_VA);
	fz_add(test, ft, 100, FZ_VA, FZ_PFN, 10);
	for (i = 0; i < 1023; i++)
		fz_add(test, ft, 100, FZ_VA + SZ_4M + i * PAGE_SIZE,
		       FZ_PFN + 0x1000 + 2 * i, 0);
	fz_seal(test, ft);
	why = fz_expect_refused(test, ft);
	KUNIT_EXPECT_TRUE(test, why && strstr(why, "PMD"));
}

static struct kunit_case khop_attack_cases[] = {
	KUNIT_CASE(khop_attack_skip_wraps),
	KUNIT_CASE(khop_attack_chain_loop),
	KUNIT_CASE(khop_attack_endless_count),
	KUNIT_CASE(khop_attack_order_10),
	{}
};

static struct kunit_suite khop_attack_suite = {
	.name = "khopages_attack",
	.init = fz_init,
	.exit = fz_exit,
	.test_cases = khop_attack_cases,
};

static struct kunit_case khop_fuzz_cases[] = {
	KUNIT_CASE_SLOW(khop_fuzz_tables),
	{}
};

static struct kunit_suite khop_fuzz_suite = {
	.name = "khopages_fuzz",
	.init = fz_init,
	.exit = fz_exit,
	.test_cases = khop_fuzz_cases,
};

kunit_test_suites(&khop_attack_suite, &khop_fuzz_suite);
