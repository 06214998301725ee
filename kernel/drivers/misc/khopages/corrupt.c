// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only knobs in /sys/kernel/debug/khopages/:
 *
 * fail_publish/: a fault-injection attribute (Documentation/fault-injection,
 * kept by publish.c) that makes describing a session fail, so a test can
 * check that the Live Update preserve that needed it fails and changes
 * nothing.
 *
 * corrupt_handover: damage a handover on purpose, so tests can show that
 * the next kernel refuses it cleanly. Write one word after the session's
 * file went into a Live Update session; the first such session's
 * description (and table) is damaged:
 *
 *   old-format   root compatible becomes "khopages-v0", a format this
 *                kernel no longer reads
 *   newer-format root compatible becomes "khopages-v9", a newer format
 *                this kernel cannot read
 *   newer-compatible  root compatible becomes the list "khopages-v9",
 *                "khopages-v1": a newer format that says it can be read
 *                as this one
 *   counts       the first session announces one page more than it has
 *   chunk-magic  the first session's first table chunk loses its magic
 *   frame        the first folio points past the end of memory
 *   unpreserved  the first run of folios moves to frames of ordinary
 *                memory that KHO does not preserve (the table still
 *                looks valid)
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/debugfs.h>
#include <linux/gfp.h>
#include <linux/libfdt.h>
#include <linux/log2.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "corrupt.h"
#include "publish.h"
#include "session.h"

/* The first session handed over, and the tree that describes it. */
static struct khop_session *khop_first_preserved(void **fdt, size_t *size)
{
	struct khop_session *s;

	list_for_each_entry(s, &khop_sessions, node) {
		if (s->dir != KHOP_OUT || !s->table.nr_chunks)
			continue;
		if (s->state == KHOPAGES_STATE_PRESERVED && s->luo_blob) {
			*fdt = s->luo_blob;
			*size = s->luo_blob_size;
			return s;
		}
	}
	return NULL;
}

static int khop_corrupt_counts(void *fdt, struct khop_session *s)
{
	int node = fdt_subnode_offset(fdt, 0, s->name);
	u64 pages = s->table.nr_pages + 1;

	if (node < 0)
		return -ENOENT;
	return fdt_setprop_inplace(fdt, node, KHOPAGES_PROP_NR_PAGES, &pages,
				   sizeof(pages)) ? -EINVAL : 0;
}

/*
 * The first word of @s's table that names frames (a RUN or a GAP word),
 * and in *@next the word after it in the stream (NULL at its end).
 */
static u64 *khop_first_frame_word(struct khop_session *s, u64 **next)
{
	struct khopages_chunk *c = s->table.chunks[0];
	u32 i;

	for (i = 0; i < c->nr_words; i++) {
		u64 kind = c->words[i] >> KHOPAGES_W_KIND_SHIFT;

		if (kind == KHOPAGES_W_RANGE) {
			if (!(c->words[i] & KHOPAGES_W_PAIR))
				i++;	/* skip the range's address word */
			continue;
		}
		if (kind != KHOPAGES_W_RUN && kind != KHOPAGES_W_GAP)
			continue;
		*next = NULL;
		if (i + 1 < c->nr_words)
			*next = &c->words[i + 1];
		else if (s->table.nr_chunks > 1 && s->table.chunks[1]->nr_words)
			*next = &s->table.chunks[1]->words[0];
		return &c->words[i];
	}
	return NULL;
}

static void khop_set_pfn(u64 *word, u64 pfn)
{
	u64 pfn_mask = BIT_ULL(KHOPAGES_W_PFN_BITS) - 1;

	*word = (*word & ~pfn_mask) | pfn;
}

static int khop_corrupt_frame(struct khop_session *s, u64 pfn)
{
	u64 *next, *word = khop_first_frame_word(s, &next);

	if (!word)
		return -ENOENT;
	khop_set_pfn(word, pfn);
	return 0;
}

/*
 * Move the frames of the first RUN or GAP word to ordinary memory: pages
 * allocated here and never freed nor preserved, so the next kernel finds
 * them in use by nobody it knows of. The whole run moves, onto as many
 * fresh pages as it names: no frame of it then coincides with a frame
 * named elsewhere, so every count of the table stays right and only the
 * restore of the frames can tell. A PAIR word right after it names its
 * frames relative to the run's last folio: its first delta is adjusted so
 * that they stay where they were.
 */
static int khop_corrupt_unpreserved(struct khop_session *s)
{
	u64 delta_mask = BIT_ULL(KHOPAGES_W_DELTA_BITS) - 1;
	u64 *next, *word = khop_first_frame_word(s, &next);
	s64 old_last, new_last, d1;
	unsigned int order;
	unsigned long nr;
	struct page *page;
	u64 pfn;

	if (!word)
		return -ENOENT;
	order = (*word >> KHOPAGES_W_ORDER_SHIFT) &
		(BIT(KHOPAGES_W_ORDER_BITS) - 1);
	nr = 1;
	if (*word >> KHOPAGES_W_KIND_SHIFT == KHOPAGES_W_RUN)
		nr += (*word >> KHOPAGES_W_COUNT_SHIFT) &
		      (BIT(KHOPAGES_W_COUNT_BITS) - 1);
	if (order > MAX_PAGE_ORDER)
		return -EINVAL;
	/* A power of two of pages comes aligned to its size. */
	page = alloc_contig_pages(roundup_pow_of_two(nr << order), GFP_KERNEL,
				  numa_node_id(), NULL);
	if (!page)
		return -ENOMEM;
	pfn = page_to_pfn(page);
	/* A descending run names its highest folio first. */
	if (*word & KHOPAGES_W_DESC)
		pfn += (nr - 1) << order;
	old_last = *word & (BIT_ULL(KHOPAGES_W_PFN_BITS) - 1);
	new_last = pfn;
	if (*word & KHOPAGES_W_DESC) {
		old_last -= (nr - 1) << order;
		new_last -= (nr - 1) << order;
	} else {
		old_last += (nr - 1) << order;
		new_last += (nr - 1) << order;
	}
	khop_set_pfn(word, pfn);
	if (!next || *next >> KHOPAGES_W_KIND_SHIFT != KHOPAGES_W_RANGE ||
	    !(*next & KHOPAGES_W_PAIR))
		return 0;
	d1 = sign_extend64(*next >> KHOPAGES_W_DELTA_BITS,
			   KHOPAGES_W_DELTA_BITS - 1) + old_last - new_last;
	if (d1 < -(1LL << (KHOPAGES_W_DELTA_BITS - 1)) ||
	    d1 >= (1LL << (KHOPAGES_W_DELTA_BITS - 1)))
		return -ERANGE;
	*next &= ~(delta_mask << KHOPAGES_W_DELTA_BITS);
	*next |= ((u64)d1 & delta_mask) << KHOPAGES_W_DELTA_BITS;
	return 0;
}

/* A newer format that can also be read as this kernel's. */
#define KHOP_V9_AND_OURS	"khopages-v9\0" KHOPAGES_COMPATIBLE

/*
 * Replace the root compatible (a string list of @len bytes). The blob may
 * grow into the room allocated for it, which KHO registered.
 */
static int khop_corrupt_compatible(void *fdt, size_t size, const char *compat,
				   int len)
{
	if (fdt_open_into(fdt, fdt, size) ||
	    fdt_setprop(fdt, 0, "compatible", compat, len))
		return -EINVAL;
	return 0;
}

static int khop_corrupt_magic(struct khop_session *s)
{
	s->table.chunks[0]->magic ^= 0xff;
	return 0;
}

static ssize_t khop_corrupt_write(struct file *file, const char __user *ubuf,
				  size_t len, loff_t *ppos)
{
	struct khop_session *s;
	char how[32];
	size_t size = 0;
	void *fdt = NULL;
	int err;

	if (len >= sizeof(how) || copy_from_user(how, ubuf, len))
		return -EINVAL;
	how[len] = '\0';
	strim(how);

	mutex_lock(&khop_lock);
	s = khop_first_preserved(&fdt, &size);
	if (!s)
		err = -ENOENT;
	else if (!strcmp(how, "old-format"))
		err = khop_corrupt_compatible(fdt, size, "khopages-v0",
					      sizeof("khopages-v0"));
	else if (!strcmp(how, "newer-format"))
		err = khop_corrupt_compatible(fdt, size, "khopages-v9",
					      sizeof("khopages-v9"));
	else if (!strcmp(how, "newer-compatible"))
		err = khop_corrupt_compatible(fdt, size, KHOP_V9_AND_OURS,
					      sizeof(KHOP_V9_AND_OURS));
	else if (!strcmp(how, "counts"))
		err = khop_corrupt_counts(fdt, s);
	else if (!strcmp(how, "chunk-magic"))
		err = khop_corrupt_magic(s);
	else if (!strcmp(how, "frame"))
		err = khop_corrupt_frame(s, ALIGN(max_pfn + 1, 512));
	else if (!strcmp(how, "unpreserved"))
		err = khop_corrupt_unpreserved(s);
	else
		err = -EINVAL;
	mutex_unlock(&khop_lock);
	if (!err)
		pr_warn("handover deliberately corrupted (%s) for a test\n",
			how);
	return err ?: len;
}

static const struct file_operations khop_corrupt_fops = {
	.owner = THIS_MODULE,
	.write = khop_corrupt_write,
};

/**
 * khop_corrupt_init() - create the test-only knobs.
 * @dir: the driver's debugfs directory.
 */
void khop_corrupt_init(struct dentry *dir)
{
	debugfs_create_file("corrupt_handover", 0200, dir, NULL,
			    &khop_corrupt_fops);
	khop_publish_fault_init(dir);
}
