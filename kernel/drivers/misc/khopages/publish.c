// SPDX-License-Identifier: GPL-2.0
/*
 * The description of a session handed over: a small FDT in preserved
 * memory, in the layout of include/linux/kho/abi/khopages.h, with the
 * session as its one node. Live Update hands its address to the next
 * kernel with the session's file (luo.c).
 */

/**
 * DOC: khopages handover counts and versions
 *
 * ``nr-folios`` counts a session's distinct folios, as STATS reports them;
 * ``nr-refs`` counts folio references, one per folio the table decodes to.
 * A folio recorded by two processes or two ranges of a session counts once
 * in ``nr-folios`` and twice in ``nr-refs``; a folio recorded by two
 * sessions counts in each of them. Addresses and counts are in units of
 * the base page size, which both kernels must share.
 *
 * The format is identified by the root ``compatible`` string list,
 * ``khopages-v1`` today. A kernel accepts a handover whose list contains
 * the string it reads (fdt_node_check_compatible()), whatever comes first,
 * and refuses anything else as a whole. Any change to the layout needs a
 * new string; a newer format that old readers read correctly lists the
 * older string after its own, and a kernel keeps the reader of the
 * previous format for a release. The policy, for admins, is "Handover
 * formats and kernel versions" in Documentation/admin-guide/mm/khopages.rst.
 * The ioctl interface evolves separately: %KHOPAGES_IOC_API reports its
 * commands and features, and each argument struct carries its size.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/fault-inject.h>
#include <linux/kexec_handover.h>
#include <linux/libfdt.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uidgid.h>

#include "publish.h"
#include "session.h"
#include "table.h"

#ifdef CONFIG_KHOPAGES_TEST_CORRUPT
/* fail_publish in debugfs: make describing a session fail, for the tests. */
static DECLARE_FAULT_ATTR(khop_fail_publish);

/**
 * khop_publish_fault_init() - create the fail_publish attribute.
 * @dir: the driver's debugfs directory.
 *
 * A fault-injection attribute (Documentation/fault-injection) that makes
 * describing a session fail, so a test can check that a Live Update
 * preserve that needed it fails and changes nothing.
 */
void khop_publish_fault_init(struct dentry *dir)
{
	fault_create_debugfs_attr("fail_publish", dir, &khop_fail_publish);
}

static bool khop_publish_should_fail(void)
{
	return should_fail(&khop_fail_publish, 1);
}
#else
static bool khop_publish_should_fail(void)
{
	return false;
}
#endif

static int khop_fdt_session(void *fdt, struct khop_session *s)
{
	u64 table = khop_table_phys(&s->table);
	/* In the CPU's byte order, as every integer of the handover. */
	u32 owner = from_kuid(&init_user_ns, s->owner_uid);
	int err;

	err = fdt_begin_node(fdt, s->name);
	err |= fdt_property(fdt, KHOPAGES_PROP_PIDS, s->pids,
			    s->nr_pids * sizeof(u32));
	err |= fdt_property(fdt, KHOPAGES_PROP_NR_PAGES, &s->table.nr_pages,
			    sizeof(u64));
	err |= fdt_property(fdt, KHOPAGES_PROP_NR_FOLIOS, &s->info.nr_folios,
			    sizeof(u64));
	err |= fdt_property(fdt, KHOPAGES_PROP_NR_REFS, &s->table.nr_refs,
			    sizeof(u64));
	err |= fdt_property(fdt, KHOPAGES_PROP_NR_WORDS, &s->table.nr_words,
			    sizeof(u64));
	err |= fdt_property(fdt, KHOPAGES_PROP_TABLE, &table, sizeof(table));
	err |= fdt_property(fdt, KHOPAGES_PROP_OWNER_UID, &owner, sizeof(owner));
	err |= fdt_end_node(fdt);
	return err;
}

/* A tree with the one session @s. */
static int khop_fdt_build(void *fdt, size_t size, struct khop_session *s)
{
	int err;

	err = fdt_create(fdt, size);
	err |= fdt_finish_reservemap(fdt);
	err |= fdt_begin_node(fdt, "");
	err |= fdt_property_string(fdt, "compatible", KHOPAGES_COMPATIBLE);
	err |= khop_fdt_session(fdt, s);
	err |= fdt_end_node(fdt);
	err |= fdt_finish(fdt);
	return err ? -ENOSPC : 0;
}

/**
 * khop_publish_session() - describe one session for a Live Update file.
 * @s: an outgoing session whose file Live Update preserves, handed over.
 * @size: set to the bytes allocated for the tree.
 *
 * The tree has @s as its only node, in preserved memory: Live Update
 * hands its address to the next kernel.
 * Free it with kho_unpreserve_free() if the file is unpreserved.
 *
 * Context: khop_lock held.
 * Return: the blob, or an ERR_PTR().
 */
void *khop_publish_session(struct khop_session *s, size_t *size)
{
	void *blob;
	int err;

	lockdep_assert_held(&khop_lock);
	*size = PAGE_ALIGN(512 + 256 + KHOPAGES_NAME_MAX +
			   s->nr_pids * sizeof(u32));
	if (khop_publish_should_fail())
		return ERR_PTR(-ENOSPC);
	blob = kho_alloc_preserve(*size);
	if (IS_ERR(blob))
		return blob;
	err = khop_fdt_build(blob, *size, s);
	if (err) {
		kho_unpreserve_free(blob);
		return ERR_PTR(err);
	}
	return blob;
}
