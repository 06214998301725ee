// SPDX-License-Identifier: GPL-2.0
/*
 * The published subtree: one KHO subtree "khopages" listing every committed
 * session, and every session received at boot that nobody has opened yet
 * (forwarded unchanged). It is rebuilt whole whenever the set changes (a
 * commit, an abort of a committed session, an OPEN or FINISH of a
 * forwarded one), so the next kernel always finds a consistent tree; the
 * blob lives in preserved memory, never in slab.
 *
 * The new tree is built aside and copied over the published blob when it
 * fits, so the subtree stays registered with KHO all along; only a tree
 * that outgrows the blob moves to a larger one (registered anew, and the
 * old one put back if that fails). Either way a failure leaves the
 * previous tree published and is returned: callers change what the tree
 * names only after it no longer names it.
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
/* fail_publish in debugfs: make republishing fail, for the tests. */
static DECLARE_FAULT_ATTR(khop_fail_publish);

/**
 * khop_publish_fault_init() - create the fail_publish attribute.
 * @dir: the driver's debugfs directory.
 *
 * A fault-injection attribute (Documentation/fault-injection) that makes
 * republishing the subtree fail, so a test can check that the command
 * that needed it fails and changes nothing.
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

static void *khop_blob;
static size_t khop_blob_size;	/* bytes allocated, as registered */

/**
 * khop_published_blob() - the subtree as published now.
 * @size: set to the bytes allocated for it (the FDT may grow up to that).
 *
 * Context: khop_lock held.
 * Return: the FDT blob, or NULL when nothing is committed.
 */
void *khop_published_blob(size_t *size)
{
	*size = khop_blob_size;
	return khop_blob;
}

/**
 * khop_published() - is a session in the published subtree?
 * @s: the session.
 *
 * Context: khop_lock held.
 * Return: true for a committed outgoing session and for a forwarded
 * incoming one.
 */
bool khop_published(const struct khop_session *s)
{
	return (s->dir == KHOP_OUT && s->state == KHOPAGES_STATE_COMMITTED &&
		!s->luo) || s->forwarded;
}

static size_t khop_fdt_size(void)
{
	struct khop_session *s;
	size_t size = 512;

	list_for_each_entry(s, &khop_sessions, node)
		if (khop_published(s))
			size += 256 + KHOPAGES_NAME_MAX + s->nr_pids * sizeof(u32);
	return PAGE_ALIGN(size);
}

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

/* A tree of @only, or of every published session when @only is NULL. */
static int khop_fdt_build(void *fdt, size_t size, struct khop_session *only)
{
	struct khop_session *s;
	int err;

	err = fdt_create(fdt, size);
	err |= fdt_finish_reservemap(fdt);
	err |= fdt_begin_node(fdt, "");
	err |= fdt_property_string(fdt, "compatible", KHOPAGES_COMPATIBLE);
	if (only)
		err |= khop_fdt_session(fdt, only);
	list_for_each_entry(s, &khop_sessions, node)
		if (!only && khop_published(s))
			err |= khop_fdt_session(fdt, s);
	err |= fdt_end_node(fdt);
	err |= fdt_finish(fdt);
	return err ? -ENOSPC : 0;
}

/* Build the tree aside and copy it over the published blob. */
static int khop_publish_in_place(void)
{
	void *fdt = kvzalloc(khop_blob_size, GFP_KERNEL);
	int err;

	if (!fdt)
		return -ENOMEM;
	err = khop_fdt_build(fdt, khop_blob_size, NULL);
	if (!err)
		memcpy(khop_blob, fdt, khop_blob_size);
	kvfree(fdt);
	return err;
}

/* Publish in a new, larger blob; the old one stays on failure. */
static int khop_publish_moved(size_t size)
{
	void *blob;
	int err;

	blob = kho_alloc_preserve(size);
	if (IS_ERR(blob))
		return PTR_ERR(blob);
	err = khop_fdt_build(blob, size, NULL);
	if (err)
		goto fail;
	if (khop_blob)
		kho_remove_subtree(khop_blob);
	err = kho_add_subtree(KHOPAGES_FDT_NAME, blob, size);
	if (err) {
		/* The node just removed makes room for the old one again. */
		if (khop_blob && kho_add_subtree(KHOPAGES_FDT_NAME, khop_blob,
						 khop_blob_size))
			pr_err("lost the published subtree\n");
		goto fail;
	}
	if (khop_blob)
		kho_unpreserve_free(khop_blob);
	khop_blob = blob;
	khop_blob_size = size;
	return 0;
fail:
	kho_unpreserve_free(blob);
	return err;
}

/**
 * khop_publish() - (re)publish the subtree of sessions handed over.
 *
 * With no committed or forwarded session the subtree is withdrawn.
 *
 * Context: khop_lock held.
 * Return: 0 or a negative errno; the previous subtree stays on error.
 */
int khop_publish(void)
{
	struct khop_session *s;
	bool any = false;
	size_t size;

	lockdep_assert_held(&khop_lock);
	list_for_each_entry(s, &khop_sessions, node)
		any |= khop_published(s);
	if (!any) {
		if (khop_blob) {
			kho_remove_subtree(khop_blob);
			kho_unpreserve_free(khop_blob);
			khop_blob = NULL;
			khop_blob_size = 0;
		}
		return 0;
	}
	if (khop_publish_should_fail())
		return -ENOSPC;
	size = khop_fdt_size();
	if (khop_blob && size <= khop_blob_size)
		return khop_publish_in_place();
	return khop_publish_moved(size);
}

/**
 * khop_publish_session() - describe one session for a Live Update file.
 * @s: a committed outgoing session whose file Live Update preserves.
 * @size: set to the bytes allocated for the tree.
 *
 * The tree has the published subtree's layout with @s as its only node,
 * in preserved memory: Live Update hands its address to the next kernel.
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
