// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the handover table: what the writer encodes, that the
 * reader gives it back, and that the validator refuses corrupted tables;
 * and of the sets of frames the driver indexes its folios with.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <kunit/test.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "frames.h"
#include "incoming.h"
#include "table.h"
#include "validate.h"

#define BASE_PFN	0x100000ULL
#define BASE_VA		0x7f0000000000ULL

static bool accept_all(u64 pfn, unsigned int order)
{
	return true;
}

static bool refuse_high(u64 pfn, unsigned int order)
{
	return pfn < BASE_PFN + 0x10000;
}

struct table_case {
	struct khop_table t;
	u32 pids[2];
	struct khop_limits lim;
};

static void case_init(struct kunit *test, struct table_case *c)
{
	if (!kho_is_enabled())
		kunit_skip(test, "KHO is not enabled (boot with kho=on)");
	KUNIT_ASSERT_EQ(test, khop_table_init(&c->t), 0);
	c->pids[0] = 100;
	c->pids[1] = 200;
	c->lim.pids = c->pids;
	c->lim.nr_pids = 2;
	c->lim.pfn_ok = accept_all;
}

static void case_limits(struct table_case *c)
{
	c->lim.nr_words = c->t.nr_words;
	c->lim.nr_pages = c->t.nr_pages;
	c->lim.nr_refs = c->t.nr_refs;
}

static int case_validate(struct table_case *c, unsigned int *nr_ranges)
{
	struct khop_range *ranges = NULL;
	const char *why;
	int err;

	err = khop_validate_table(c->t.nr_chunks ? c->t.chunks[0] : NULL,
				  &c->lim, &ranges, nr_ranges, &why);
	kvfree(ranges);
	return err;
}

/* Scattered pages: two per PAIR word, plus the two words of the range. */
static void khop_test_scattered(struct kunit *test)
{
	struct table_case c;
	unsigned int i, nr;

	case_init(test, &c);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 100, BASE_VA), 0);
	for (i = 0; i < 1000; i++)
		KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA + i * PAGE_SIZE,
						     BASE_PFN + 2 * i, 0), 0);
	/* RANGE + address, the first page alone, 499 pairs, the last alone. */
	KUNIT_EXPECT_EQ(test, c.t.nr_words, 503ULL);
	KUNIT_EXPECT_EQ(test, c.t.nr_pages, 1000ULL);
	KUNIT_EXPECT_LE(test, c.t.nr_words * 8, 4ULL * 1000 + 16 + 8);
	case_limits(&c);
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, 1U);
	khop_table_free(&c.t);
}

/* Contiguous frames and huge pages collapse into one RUN word. */
static void khop_test_contiguous_and_huge(struct kunit *test)
{
	struct table_case c;
	unsigned int i;

	case_init(test, &c);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 100, BASE_VA), 0);
	for (i = 0; i < 4096; i++)
		KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA + i * PAGE_SIZE,
						     BASE_PFN + i, 0), 0);
	KUNIT_EXPECT_EQ(test, c.t.nr_words, 3ULL);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 200, BASE_VA), 0);
	for (i = 0; i < 64; i++)
		KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA + i * SZ_2M,
						     BASE_PFN + 0x200000 + i * 512,
						     9), 0);
	KUNIT_EXPECT_EQ(test, c.t.nr_words, 6ULL);
	KUNIT_EXPECT_EQ(test, c.t.nr_pages, 4096ULL + 64 * 512);
	/* Frames going down, as the page allocator often hands them out. */
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 100, BASE_VA + SZ_1G), 0);
	for (i = 0; i < 1000; i++)
		KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA + SZ_1G + i * PAGE_SIZE,
						     BASE_PFN + 0x50000 - i, 0), 0);
	KUNIT_EXPECT_EQ(test, c.t.nr_words, 9ULL);
	khop_table_free(&c.t);
}

/* What the reader decodes is exactly what was written, holes included. */
static void khop_test_round_trip(struct kunit *test)
{
	static const struct { u64 va; u64 pfn; unsigned int order; } in[] = {
		{ BASE_VA, BASE_PFN + 7, 0 },
		{ BASE_VA + 0x1000, BASE_PFN + 8, 0 },		/* extends run */
		{ BASE_VA + 0x5000, BASE_PFN + 3, 0 },		/* GAP word */
		{ BASE_VA + 0x200000, BASE_PFN + 0x400, 9 },	/* GAP, huge */
		{ BASE_VA + 0x400000, BASE_PFN + 0x600, 9 },	/* new RUN */
		{ BASE_VA + 0x400000000ULL, BASE_PFN + 1, 0 },	/* SKIP+RUN */
		{ BASE_VA + 0x400001000ULL, BASE_PFN + 0, 0 },	/* goes down */
		{ BASE_VA + 0x400002000ULL, BASE_PFN + 0x30, 0 },	/* new RUN */
		{ BASE_VA + 0x400003000ULL, BASE_PFN + 0x1000, 0 },	/* PAIR */
		{ BASE_VA + 0x400004000ULL, BASE_PFN + 0x900, 0 },	/* new RUN */
		{ BASE_VA + 0x400005000ULL, BASE_PFN + 0x800, 0 },	/* PAIR */
	};
	struct khop_reader r;
	struct khop_entry e;
	struct table_case c;
	unsigned int i = 0;
	bool new_range;

	case_init(test, &c);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 100, BASE_VA), 0);
	for (i = 0; i < ARRAY_SIZE(in); i++)
		KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, in[i].va, in[i].pfn,
						     in[i].order), 0);
	KUNIT_EXPECT_EQ(test, c.t.nr_words, 2ULL + 8);

	khop_reader_init(&r, c.t.chunks[0], c.t.nr_words);
	for (i = 0; khop_reader_next(&r, &e, &new_range) == 1; i++) {
		KUNIT_ASSERT_LT(test, i, (unsigned int)ARRAY_SIZE(in));
		KUNIT_EXPECT_EQ(test, new_range, i == 0);
		KUNIT_EXPECT_EQ(test, e.pid, 100);
		KUNIT_EXPECT_EQ(test, e.va, in[i].va);
		KUNIT_EXPECT_EQ(test, e.pfn, in[i].pfn);
		KUNIT_EXPECT_EQ(test, e.order, in[i].order);
	}
	KUNIT_EXPECT_EQ(test, i, (unsigned int)ARRAY_SIZE(in));
	khop_table_free(&c.t);
}

/* A table longer than one chunk reads back across the chain. */
static void khop_test_many_chunks(struct kunit *test)
{
	struct khop_reader r;
	struct khop_entry e;
	struct table_case c;
	unsigned int i, n = 6 * KHOPAGES_CHUNK_WORDS;
	bool new_range;

	case_init(test, &c);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 200, BASE_VA), 0);
	for (i = 0; i < n; i++)
		KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA + i * PAGE_SIZE,
						     BASE_PFN + 3 * i, 0), 0);
	KUNIT_EXPECT_GE(test, c.t.nr_chunks, 3U);
	KUNIT_EXPECT_EQ(test, (u64)c.t.nr_chunks,
			DIV_ROUND_UP(c.t.nr_words, KHOPAGES_CHUNK_WORDS));
	khop_reader_init(&r, c.t.chunks[0], c.t.nr_words);
	for (i = 0; khop_reader_next(&r, &e, &new_range) == 1; i++)
		if (e.pfn != BASE_PFN + 3 * i)
			break;
	KUNIT_EXPECT_EQ(test, i, n);
	case_limits(&c);
	KUNIT_EXPECT_EQ(test, case_validate(&c, &i), 0);
	khop_table_free(&c.t);
}

static void build_two_ranges(struct kunit *test, struct table_case *c)
{
	case_init(test, c);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c->t, 100, BASE_VA), 0);
	KUNIT_ASSERT_EQ(test, khop_table_add(&c->t, BASE_VA, BASE_PFN, 0), 0);
	KUNIT_ASSERT_EQ(test, khop_table_add(&c->t, BASE_VA + SZ_2M,
					     BASE_PFN + 512, 9), 0);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c->t, 200, BASE_VA), 0);
	KUNIT_ASSERT_EQ(test, khop_table_add(&c->t, BASE_VA, BASE_PFN + 5, 0), 0);
	case_limits(c);
}

/* Each corruption of a valid table is refused. */
static void khop_test_validator_refuses(struct kunit *test)
{
	struct khopages_chunk *chunk;
	struct table_case c;
	unsigned int nr;
	u64 saved;

	build_two_ranges(test, &c);
	chunk = c.t.chunks[0];
	KUNIT_ASSERT_EQ(test, case_validate(&c, &nr), 0);
	KUNIT_EXPECT_EQ(test, nr, 2U);

	c.lim.nr_pages++;
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	c.lim.nr_pages--;
	c.lim.nr_words++;
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	c.lim.nr_words--;
	c.lim.nr_refs--;
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	c.lim.nr_refs++;

	c.lim.nr_pids = 1;		/* pid 200 not listed */
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	c.lim.nr_pids = 2;

	c.lim.pfn_ok = refuse_high;	/* a frame outside preserved memory */
	saved = chunk->words[3];
	chunk->words[3] = (chunk->words[3] & ~GENMASK_ULL(39, 0)) |
			  (BASE_PFN + 0x20000);
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	chunk->words[3] = saved;
	c.lim.pfn_ok = accept_all;

	saved = chunk->words[3];	/* huge folio at an odd frame */
	chunk->words[3] = (chunk->words[3] & ~GENMASK_ULL(39, 0)) |
			  (BASE_PFN + 513);
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	chunk->words[3] = saved;

	saved = chunk->words[1];	/* user address out of range */
	chunk->words[1] = ~0ULL << 12;
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	chunk->words[1] = saved;

	saved = chunk->words[2];	/* a run going below frame 0 */
	chunk->words[2] = KHOPAGES_W_DESC | 3ULL << KHOPAGES_W_COUNT_SHIFT | 1;
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	chunk->words[2] = saved;

	saved = chunk->words[2];	/* a PAIR with no folio before it */
	chunk->words[2] = KHOPAGES_W_RANGE << KHOPAGES_W_KIND_SHIFT |
			  KHOPAGES_W_PAIR | 1;
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	chunk->words[2] = saved;

	saved = chunk->words[0];	/* folio before any range */
	chunk->words[0] = 0;
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	chunk->words[0] = saved;

	chunk->nr_words--;		/* truncated chain */
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);
	chunk->nr_words++;

	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), 0);
	khop_table_free(&c.t);
}

static void khop_test_overlap_and_chunk(struct kunit *test)
{
	struct khopages_chunk *chunk;
	struct table_case c;
	const char *why;
	unsigned int nr;

	case_init(test, &c);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 100, BASE_VA), 0);
	KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA, BASE_PFN, 0), 0);
	KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA + PAGE_SIZE,
					     BASE_PFN + 9, 0), 0);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 100, BASE_VA + PAGE_SIZE), 0);
	KUNIT_ASSERT_EQ(test, khop_table_add(&c.t, BASE_VA + PAGE_SIZE,
					     BASE_PFN + 20, 0), 0);
	case_limits(&c);
	KUNIT_EXPECT_EQ(test, case_validate(&c, &nr), -EINVAL);

	chunk = c.t.chunks[0];
	KUNIT_EXPECT_EQ(test, khop_validate_chunk(virt_to_phys(chunk), &why), 0);
	KUNIT_EXPECT_EQ(test, khop_validate_chunk(virt_to_phys(chunk) + 8, &why),
			-EINVAL);
	chunk->magic ^= 1;
	KUNIT_EXPECT_EQ(test, khop_validate_chunk(virt_to_phys(chunk), &why),
			-EINVAL);
	chunk->magic ^= 1;
	chunk->nr_words = KHOPAGES_CHUNK_WORDS + 1;
	KUNIT_EXPECT_EQ(test, khop_validate_chunk(virt_to_phys(chunk), &why),
			-EINVAL);
	chunk->nr_words = 0;
	chunk->next = virt_to_phys(chunk);	/* an empty chunk looping */
	KUNIT_EXPECT_EQ(test, khop_validate_chunk(virt_to_phys(chunk), &why),
			-EINVAL);
	chunk->next = 0;
	khop_table_free(&c.t);
}

static void khop_test_writer_refuses(struct kunit *test)
{
	struct table_case c;

	case_init(test, &c);
	KUNIT_ASSERT_EQ(test, khop_table_begin_range(&c.t, 100, BASE_VA + SZ_1M), 0);
	KUNIT_EXPECT_EQ(test, khop_table_add(&c.t, BASE_VA, BASE_PFN, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, khop_table_add(&c.t, BASE_VA + SZ_1M, 1ULL << 40, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, c.t.nr_words, 2ULL);
	khop_table_free(&c.t);
}

/* One root compatible property and what the format policy says of it. */
struct format_case {
	const char *compat;	/* NULL: no property */
	int len;
	bool readable;
	const char *shown;
};

#define FORMAT(str, ok, first)	{ str, sizeof(str), ok, first }

static const struct format_case format_cases[] = {
	FORMAT(KHOPAGES_COMPATIBLE, true, KHOPAGES_COMPATIBLE),
	FORMAT("khopages-v9\0" KHOPAGES_COMPATIBLE, true, "khopages-v9"),
	FORMAT("khopages-v9\0khopages-v8", false, "khopages-v9"),
	FORMAT("khopages-v9", false, "khopages-v9"),
	FORMAT("khopages-v0", false, "khopages-v0"),
	FORMAT(KHOPAGES_COMPATIBLE "x", false, KHOPAGES_COMPATIBLE "x"),
	FORMAT("khopages-v", false, "khopages-v"),
	FORMAT("", false, ""),
	{ KHOPAGES_COMPATIBLE, sizeof(KHOPAGES_COMPATIBLE) - 1, false, "(none)" },
	{ NULL, 0, false, "(none)" },
};

/* The handover format policy: which compatible lists this kernel reads. */
static void khop_test_format_policy(struct kunit *test)
{
	const struct format_case *fc;
	const char *shown;
	void *fdt;

	fdt = kunit_kzalloc(test, 1024, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fdt);
	for (fc = format_cases; fc < format_cases + ARRAY_SIZE(format_cases); fc++) {
		KUNIT_ASSERT_EQ(test, fdt_create_empty_tree(fdt, 1024), 0);
		if (fc->compat)
			KUNIT_ASSERT_EQ(test, fdt_setprop(fdt, 0, "compatible",
							  fc->compat, fc->len), 0);
		KUNIT_EXPECT_EQ_MSG(test, khop_in_readable(fdt, &shown),
				    fc->readable, "compatible '%s' (%d bytes)",
				    fc->compat ?: "(none)", fc->len);
		KUNIT_EXPECT_STREQ(test, shown, fc->shown);
	}
}

static struct kunit_case khop_table_cases[] = {
	KUNIT_CASE(khop_test_scattered),
	KUNIT_CASE(khop_test_contiguous_and_huge),
	KUNIT_CASE(khop_test_round_trip),
	KUNIT_CASE(khop_test_many_chunks),
	KUNIT_CASE(khop_test_validator_refuses),
	KUNIT_CASE(khop_test_overlap_and_chunk),
	KUNIT_CASE(khop_test_writer_refuses),
	KUNIT_CASE(khop_test_format_policy),
	{}
};

static struct kunit_suite khop_table_suite = {
	.name = "khopages_table",
	.test_cases = khop_table_cases,
};

/* Frames in three blocks, one far away, added out of order. */
static const unsigned long pfnset_frames[] = {
	0, 1, 63, 64, 32767, 32768, 40000, 65535, 1UL << 30,
};

/* A new set with every frame of pfnset_frames, added last one first. */
static void pfnset_fill(struct kunit *test, struct khop_pfnset *set)
{
	unsigned int i = ARRAY_SIZE(pfnset_frames);

	khop_pfnset_init(set);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(set, 0), ULONG_MAX);
	while (i-- > 0)
		KUNIT_ASSERT_EQ(test, khop_pfnset_add(set, pfnset_frames[i]), 1);
}

static void khop_test_pfnset_add_walk(struct kunit *test)
{
	const unsigned long *f = pfnset_frames;
	unsigned int i, n = ARRAY_SIZE(pfnset_frames);
	struct khop_pfnset set;
	unsigned long pfn;

	pfnset_fill(test, &set);
	for (i = 0; i < n; i++) {
		KUNIT_EXPECT_EQ(test, khop_pfnset_add(&set, f[i]), 0);
		KUNIT_EXPECT_TRUE(test, khop_pfnset_test(&set, f[i]));
	}
	KUNIT_EXPECT_FALSE(test, khop_pfnset_test(&set, 2));
	KUNIT_EXPECT_FALSE(test, khop_pfnset_test(&set, 1UL << 29));

	/* The walk gives each frame once, ascending. */
	i = 0;
	khop_pfnset_for_each(pfn, &set) {
		KUNIT_ASSERT_LT(test, i, n);
		KUNIT_EXPECT_EQ(test, pfn, f[i++]);
	}
	KUNIT_EXPECT_EQ(test, i, n);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&set, 40001), 65535UL);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&set, 65536), 1UL << 30);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&set, (1UL << 30) + 1), ULONG_MAX);
	khop_pfnset_destroy(&set);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&set, 0), ULONG_MAX);
	KUNIT_EXPECT_FALSE(test, khop_pfnset_test(&set, 1));
}

static void khop_test_pfnset_del(struct kunit *test)
{
	const unsigned long *f = pfnset_frames;
	unsigned int i, n = ARRAY_SIZE(pfnset_frames);
	struct khop_pfnset set;
	unsigned long pfn;

	pfnset_fill(test, &set);
	/* Taking frames out while walking: the walk goes on past them. */
	i = 0;
	khop_pfnset_for_each(pfn, &set) {
		if (i++ % 2)
			khop_pfnset_del(&set, pfn);
	}
	KUNIT_EXPECT_EQ(test, i, n);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ(test, khop_pfnset_test(&set, f[i]), i % 2 == 0);
	/* A whole block emptied is skipped; deleting an absent frame is harmless. */
	khop_pfnset_del(&set, 40000);
	khop_pfnset_del(&set, 65535);
	khop_pfnset_del(&set, 5UL << 20);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&set, 64), 32767UL);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&set, 32768), 1UL << 30);
	KUNIT_EXPECT_EQ(test, khop_pfnset_add(&set, 32768), 1);
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&set, 32768), 32768UL);
	khop_pfnset_destroy(&set);
}

/* A frame leaves a counted set with its last holder, not before. */
static void khop_test_counted(struct kunit *test)
{
	struct khop_counted c;

	/* On the stack: initialised at run time, so lockdep knows its lock. */
	khop_pfnset_init(&c.set);
	xa_init(&c.extra);

	KUNIT_EXPECT_FALSE(test, khop_counted_test(&c, 77));
	KUNIT_EXPECT_EQ(test, khop_counted_get(&c, 77), 1);
	KUNIT_EXPECT_EQ(test, khop_counted_get(&c, 77), 0);
	KUNIT_EXPECT_EQ(test, khop_counted_get(&c, 77), 0);
	KUNIT_EXPECT_EQ(test, khop_counted_get(&c, 1UL << 30), 1);
	KUNIT_EXPECT_TRUE(test, khop_counted_test(&c, 77));
	KUNIT_EXPECT_FALSE(test, khop_counted_put(&c, 77));
	KUNIT_EXPECT_FALSE(test, khop_counted_put(&c, 77));
	KUNIT_EXPECT_TRUE(test, khop_counted_test(&c, 77));
	KUNIT_EXPECT_TRUE(test, khop_counted_put(&c, 77));
	KUNIT_EXPECT_FALSE(test, khop_counted_test(&c, 77));
	KUNIT_EXPECT_TRUE(test, xa_empty(&c.extra));
	/* Held again after its last holder went: a first holder again. */
	KUNIT_EXPECT_EQ(test, khop_counted_get(&c, 77), 1);
	KUNIT_EXPECT_TRUE(test, khop_counted_put(&c, 77));
	KUNIT_EXPECT_TRUE(test, khop_counted_put(&c, 1UL << 30));
	KUNIT_EXPECT_EQ(test, khop_pfnset_next(&c.set, 0), ULONG_MAX);
	khop_pfnset_destroy(&c.set);
	xa_destroy(&c.extra);
}

static struct kunit_case khop_pfnset_cases[] = {
	KUNIT_CASE(khop_test_pfnset_add_walk),
	KUNIT_CASE(khop_test_pfnset_del),
	KUNIT_CASE(khop_test_counted),
	{}
};

static struct kunit_suite khop_pfnset_suite = {
	.name = "khopages_pfnset",
	.test_cases = khop_pfnset_cases,
};

kunit_test_suites(&khop_table_suite, &khop_pfnset_suite);
