// SPDX-License-Identifier: GPL-2.0
/*
 * Incoming sessions: read and validate the description of a session Live
 * Update hands over with its file; restore the preserved folios when the
 * file is retrieved (map.c installs them); when the session's last file
 * is closed, give back what nobody mapped. Sessions restored in place
 * (never handed over) become incoming sessions too.
 *
 * A folio can be restored from KHO once. khop_in_named counts the incoming
 * sessions that name each folio, and khop_in_restored has those restored
 * (then the driver holds one reference until the last of those sessions
 * finishes). Sets of frames (frames.c), not trees keyed by frame: a
 * session's folios are indexed in whatever order its frames come.
 *
 * A restored folio that is anonymous memory has been mapped once (the anon
 * mapping stays set while the driver holds it): a second, unrelated mapping
 * then gets a copy, as one folio is anonymous memory of one fork hierarchy
 * only.
 *
 * khop_in_copies remembers, per page of such a folio, the first copy MAP
 * made of it, with a reference so its frame cannot be reused meanwhile: a
 * child that inherited that copy from its restored parent keeps sharing
 * it instead of getting a copy of its own.
 *
 * Context: everything here runs under khop_lock.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/libfdt.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>

#include "compat.h"
#include "frames.h"
#include "incoming.h"
#include "khopages_trace.h"
#include "session.h"
#include "table.h"
#include "validate.h"

/* Long walks over a session's folios let others run this often. */
#define KHOP_IN_PAUSE		1024

static struct khop_counted khop_in_named = {
	.set = KHOP_PFNSET_INIT(khop_in_named.set),
	.extra = XARRAY_INIT(khop_in_named.extra, 0),
};

static struct khop_pfnset khop_in_restored =
	KHOP_PFNSET_INIT(khop_in_restored);
static DEFINE_XARRAY(khop_in_copies);

/* Folios in khop_in_restored: none, so none was mapped. */
static unsigned long khop_in_nr_restored;

/* The order of a folio of @s (only large ones are recorded). */
static unsigned int khop_in_order(struct khop_session *s, unsigned long pfn)
{
	return xa_to_value(xa_load(&s->large, pfn));
}

static bool khop_in_pfn_ok(u64 pfn, unsigned int order)
{
	u64 last = pfn + (1ULL << order) - 1;

	return pfn_valid(pfn) && pfn_valid(last) && pfn_to_online_page(pfn) &&
	       !khop_scratch_overlap(PFN_PHYS(pfn), PAGE_SIZE << order);
}

static const void *khop_prop(const void *fdt, int node, const char *name,
			     int len)
{
	int got;
	const void *p = fdt_getprop(fdt, node, name, &got);

	return p && got == len ? p : NULL;
}

/* Frames of KHO memory that are not what the table says: never freed. */
static u64 khop_in_nr_kept;

/* Why a folio KHO gave back is not a table chunk, or NULL if it is one. */
static const char *khop_in_not_chunk(struct folio *folio)
{
	const struct khopages_chunk *c = folio_address(folio);

	if (folio_order(folio) != get_order(KHOPAGES_CHUNK_SIZE))
		return "a table chunk is preserved as another size";
	if (c->magic != KHOPAGES_CHUNK_MAGIC)
		return "table chunk has a bad magic";
	return NULL;
}

/*
 * Restore the @nr_chunks table chunks from @phys on, each before any word
 * of it is read: a chunk is read only once KHO has proven it preserved, as
 * a folio of a chunk's size. The chain is followed in the restored copies.
 * Every chunk restored as a proper chunk is in s->table.chunks (freed with
 * the session); a folio that comes back with another size or without the
 * chunk magic is not ours and is left alone, allocated for good.
 */
static int khop_in_take_chunks(struct khop_session *s, phys_addr_t phys,
			       u64 nr_chunks, const char **why)
{
	const unsigned int order = get_order(KHOPAGES_CHUNK_SIZE);
	struct khopages_chunk *c;
	struct khop_pfnset seen;
	struct folio *folio;
	u64 i;
	int err = 0;

	s->table.chunks = kvmalloc_array(nr_chunks, sizeof(*s->table.chunks),
					 GFP_KERNEL | __GFP_NOWARN);
	if (nr_chunks && !s->table.chunks)
		return -ENOMEM;
	khop_pfnset_init(&seen);
	for (i = 0; i < nr_chunks; i++) {
		*why = "a table chunk is not in preserved memory";
		err = -EINVAL;
		if (!phys || !IS_ALIGNED(phys, KHOPAGES_CHUNK_SIZE) ||
		    !khop_in_pfn_ok(PHYS_PFN(phys), order))
			break;
		/* Restoring a chunk twice is a bug KHO warns about. */
		err = khop_pfnset_add(&seen, PHYS_PFN(phys));
		if (err <= 0) {
			*why = "table chunks form a loop";
			err = err ?: -EINVAL;
			break;
		}
		err = -EINVAL;
		folio = kho_restore_folio(phys);
		if (!folio)
			break;
		c = folio_address(folio);
		*why = khop_in_not_chunk(folio);
		if (*why) {
			khop_in_nr_kept += folio_nr_pages(folio);
			break;
		}
		s->table.chunks[s->table.nr_chunks++] = c;
		phys = c->next;
		err = 0;
		if (i % KHOP_IN_PAUSE == KHOP_IN_PAUSE - 1)
			cond_resched();
	}
	khop_pfnset_destroy(&seen);
	return err;
}

/**
 * khop_in_copy_of() - the first copy MAP made of a received page.
 * @pfn: the page's frame.
 *
 * Context: khop_lock held.
 * Return: the copy's page, or NULL when none was made (or remembered).
 */
struct page *khop_in_copy_of(unsigned long pfn)
{
	struct folio *copy = xa_load(&khop_in_copies, pfn);

	return copy ? &copy->page : NULL;
}

/**
 * khop_in_remember_copy() - remember the first copy MAP made of a page.
 * @pfn:  the received page's frame.
 * @copy: its copy, mapped in the caller; a reference is taken.
 *
 * A child that inherits the copy from its restored parent then keeps
 * sharing it. Only the first copy is kept; without memory for it the
 * child just gets a copy of its own.
 *
 * Context: khop_lock held.
 */
void khop_in_remember_copy(unsigned long pfn, struct folio *copy)
{
	if (xa_load(&khop_in_copies, pfn))
		return;
	folio_get(copy);
	if (xa_err(xa_store(&khop_in_copies, pfn, copy, GFP_KERNEL)))
		folio_put(copy);
}

static void khop_in_forget_copies(unsigned long pfn, unsigned long nr)
{
	struct folio *copy;
	unsigned long i;

	if (xa_empty(&khop_in_copies))
		return;		/* the usual case: nothing was copied */
	for (i = 0; i < nr; i++) {
		copy = xa_erase(&khop_in_copies, pfn + i);
		if (copy)
			folio_put(copy);
	}
}

/* Was the folio at @pfn, restored from KHO or not, ever mapped? */
static bool khop_in_was_mapped(bool restored, unsigned long pfn)
{
	return restored && folio_test_anon(pfn_folio(pfn));
}

/**
 * khop_in_restore() - restore one folio of a session from KHO.
 * @s:     the incoming session that names it.
 * @pfn:   its first frame.
 * @order: the order the table records.
 *
 * Does nothing for a folio restored already. Its bit in khop_in_restored
 * has room already (indexing the session made it), so this cannot fail
 * for memory. The signature is the one khop_in_each_folio() calls.
 *
 * Context: khop_lock held.
 * Return: 0, -ENOENT when the frame is not preserved memory, or -EINVAL
 * when the folio came back with another order than the table recorded.
 */
int khop_in_restore(struct khop_session *s, unsigned long pfn,
		    unsigned int order)
{
	struct folio *folio;

	if (khop_pfnset_test(&khop_in_restored, pfn))
		return folio_order(pfn_folio(pfn)) == order ? 0 : -EINVAL;
	folio = kho_restore_folio(PFN_PHYS(pfn));
	if (!folio)
		return -ENOENT;
	/* Cannot fail: khop_in_name() made the room. */
	if (khop_pfnset_add(&khop_in_restored, pfn) < 0) {
		khop_in_nr_kept += folio_nr_pages(folio);
		return -ENOMEM;
	}
	khop_in_nr_restored++;
	if (folio_order(folio) == order)
		return 0;
	/*
	 * Preserved, but not as the folio the table names: maybe memory of
	 * another KHO user. A reference nobody drops keeps it allocated for
	 * good, so giving the session back cannot free it.
	 */
	folio_get(folio);
	khop_in_nr_kept += folio_nr_pages(folio);
	return -EINVAL;
}

/*
 * Session @s stops naming the folio at @pfn. When no other session names
 * it any more it is given back: the driver's reference is dropped (a
 * mapping keeps its own), or it is restored and freed; pages given back
 * that were never mapped count as released.
 *
 * Only a folio KHO restores with the very order the table records is
 * freed: nothing tells which KHO user preserved a frame, so a frame that
 * comes back as another folio may belong to another user (a memfd of LUO,
 * say) and stays allocated. A broken session restores nothing more: what
 * it did not restore stays reserved.
 */
static int khop_in_release(struct khop_session *s, unsigned long pfn,
			   unsigned int order)
{
	struct folio *folio = NULL;
	bool restored;

	if (!khop_counted_put(&khop_in_named, pfn))
		return 0;
	restored = khop_pfnset_test(&khop_in_restored, pfn);
	khop_in_forget_copies(pfn, 1UL << order);
	if (!khop_in_was_mapped(restored, pfn))
		s->info.nr_released += 1UL << order;
	if (restored) {
		khop_pfnset_del(&khop_in_restored, pfn);
		khop_in_nr_restored--;
		folio = pfn_folio(pfn);
	} else if (s->broken) {
		khop_in_nr_kept += 1UL << order;
	} else {
		folio = kho_restore_folio(PFN_PHYS(pfn));
		if (folio && folio_order(folio) != order) {
			khop_in_nr_kept += folio_nr_pages(folio);
			folio = NULL;
		}
	}
	if (folio)
		folio_put(folio);
	return 0;
}

/*
 * Call @fn for every folio of @s in frame order, stopping at the first
 * non-zero return (its frame in *@at).
 */
static int khop_in_each_folio(struct khop_session *s,
			      int (*fn)(struct khop_session *s,
					unsigned long pfn, unsigned int order),
			      unsigned long *at)
{
	unsigned long pfn, n = 0;
	int err;

	khop_pfnset_for_each(pfn, &s->held) {
		*at = pfn;
		err = fn(s, pfn, khop_in_order(s, pfn));
		if (err)
			return err;
		if (++n % KHOP_IN_PAUSE == 0)
			cond_resched();
	}
	return 0;
}

/*
 * One more incoming session names the folio at @pfn. Room for its bit in
 * khop_in_restored is made now, so restoring it later cannot fail.
 */
static int khop_in_name(unsigned long pfn)
{
	int err;

	err = khop_pfnset_add(&khop_in_restored, pfn);
	if (err < 0)
		return err;
	if (err)
		khop_pfnset_del(&khop_in_restored, pfn);
	err = khop_counted_get(&khop_in_named, pfn);
	return err < 0 ? err : 0;
}

/*
 * Index one table entry in the session and, for a folio new to it, in the
 * global sets. Returns 1 for a new folio, 0 for one named again, or
 * -ENOMEM (then nothing changed).
 */
static int khop_in_index_one(struct khop_session *s,
			     const struct khop_entry *e)
{
	int err;

	err = khop_pfnset_add(&s->held, e->pfn);
	if (err <= 0)
		return err;	/* 0: named again (a page shared by tasks) */
	err = e->order ? xa_err(xa_store(&s->large, e->pfn,
					 xa_mk_value(e->order), GFP_KERNEL)) : 0;
	if (!err)
		err = khop_in_name(e->pfn);
	if (err) {
		xa_erase(&s->large, e->pfn);
		khop_pfnset_del(&s->held, e->pfn);
		return err;
	}
	return 1;
}

/* Count the distinct folios of a session, here and in the global sets. */
static int khop_in_index_folios(struct khop_session *s)
{
	struct khop_reader r;
	struct khop_entry e;
	unsigned long n = 0;
	bool new_range;
	int ret;

	khop_reader_init(&r, s->table.nr_chunks ? s->table.chunks[0] : NULL,
			 s->table.nr_words);
	while ((ret = khop_reader_next(&r, &e, &new_range)) > 0) {
		s->info.nr_pages += 1UL << e.order;
		ret = khop_in_index_one(s, &e);
		if (ret < 0)
			break;
		if (ret) {
			s->info.nr_folios++;
			s->info.folios_by_order[min_t(unsigned int, e.order,
						      KHOPAGES_MAX_ORDERS - 1)]++;
		}
		if (++n % KHOP_IN_PAUSE == 0)
			cond_resched();
	}
	return ret;
}

/*
 * A session refused gives back nothing it names: nothing tells
 * which KHO user preserved a frame, and a bad table may name frames of
 * another one (a memfd preserved by LUO, say), which freeing would corrupt.
 * Those frames stay reserved until the next kexec or reboot. Only the session's own
 * bookkeeping and its table chunks (proven chunks when restored) go.
 */
static void khop_in_refuse(struct khop_session *s, u64 nr_pages)
{
	unsigned long pfn;
	unsigned int i;

	khop_pfnset_for_each(pfn, &s->held)
		khop_counted_put(&khop_in_named, pfn);
	khop_pfnset_destroy(&s->held);
	xa_destroy(&s->large);
	for (i = 0; i < s->table.nr_chunks; i++)
		folio_put(virt_to_folio(s->table.chunks[i]));
	s->table.nr_chunks = 0;
	pr_warn("session %s: the %llu pages it announces stay reserved\n",
		s->name, nr_pages);
}

static int khop_in_session(const void *fdt, int node, const char **why)
{
	const char *name = fdt_get_name(fdt, node, NULL);
	const u64 *nr_pages, *nr_folios, *nr_refs, *nr_words, *table;
	struct khop_limits lim = { .pfn_ok = khop_in_pfn_ok };
	struct khop_session *s;
	const u32 *pids, *owner;
	int len, olen, err;

	if (!name || !khop_name_valid(name) || khop_session_find(name, KHOP_IN)) {
		*why = "bad or duplicate session name";
		return -EINVAL;
	}
	pids = fdt_getprop(fdt, node, KHOPAGES_PROP_PIDS, &len);
	nr_pages = khop_prop(fdt, node, KHOPAGES_PROP_NR_PAGES, sizeof(u64));
	nr_folios = khop_prop(fdt, node, KHOPAGES_PROP_NR_FOLIOS, sizeof(u64));
	nr_refs = khop_prop(fdt, node, KHOPAGES_PROP_NR_REFS, sizeof(u64));
	nr_words = khop_prop(fdt, node, KHOPAGES_PROP_NR_WORDS, sizeof(u64));
	table = khop_prop(fdt, node, KHOPAGES_PROP_TABLE, sizeof(u64));
	if (!pids || len < 0 || len % sizeof(u32) || !nr_pages || !nr_folios ||
	    !nr_refs || !nr_words || !table || (!len && *nr_words)) {
		*why = "missing or malformed session property";
		return -EINVAL;
	}
	if (!*table != !*nr_words) {
		*why = "table address and word count disagree";
		return -EINVAL;
	}
	/* Distinct folios are frames of this machine; so is the table. */
	if (*nr_folios > *nr_refs || *nr_folios > max_pfn ||
	    DIV_ROUND_UP(*nr_words, KHOPAGES_CHUNK_WORDS) >
	    max_pfn >> get_order(KHOPAGES_CHUNK_SIZE)) {
		*why = "session counts exceed this machine's memory";
		return -EINVAL;
	}

	owner = fdt_getprop(fdt, node, KHOPAGES_PROP_OWNER_UID, &olen);
	if (owner && (olen != sizeof(u32) ||
		      !uid_valid(make_kuid(&init_user_ns, *owner)))) {
		*why = "malformed owner-uid";
		return -EINVAL;
	}

	s = khop_session_alloc(name, KHOP_IN);
	if (!s)
		return -ENOMEM;
	/* Without the property (an older writer) the session is root's. */
	if (owner)
		khop_session_set_owner(s, make_kuid(&init_user_ns, *owner),
				       &init_user_ns);
	s->pids = len ? kvmemdup(pids, len, GFP_KERNEL) : NULL;
	if (len && !s->pids) {
		err = -ENOMEM;
		goto fail;
	}
	s->nr_pids = len / sizeof(u32);
	lim.pids = s->pids;
	lim.nr_pids = s->nr_pids;
	lim.nr_words = *nr_words;
	lim.nr_pages = *nr_pages;
	lim.nr_refs = *nr_refs;
	/* Not a word is read before KHO gave the chunk back. */
	err = khop_in_take_chunks(s, *table,
				  DIV_ROUND_UP(*nr_words, KHOPAGES_CHUNK_WORDS),
				  why);
	if (err)
		goto fail;
	err = khop_validate_table(s->table.nr_chunks ? s->table.chunks[0] : NULL,
				  &lim, &s->ranges, &s->nr_ranges, why);
	if (err)
		goto fail;
	s->table.nr_words = *nr_words;
	s->table.nr_pages = *nr_pages;
	s->table.nr_refs = *nr_refs;
	err = khop_in_index_folios(s);
	if (err)
		goto fail;
	if (s->info.nr_folios != *nr_folios) {
		*why = "table counts do not match the session";
		err = -EINVAL;
		goto fail;
	}
	s->state = KHOPAGES_STATE_INCOMING;
	s->info.meta_bytes = (u64)s->table.nr_chunks * KHOPAGES_CHUNK_SIZE;
	list_add_tail(&s->node, &khop_sessions);
	return 0;
fail:
	khop_in_refuse(s, *nr_pages);
	khop_session_free(s);
	return err;
}

/**
 * khop_in_readable() - is a handover in a format this kernel reads?
 * @fdt:    the handover, a valid FDT.
 * @compat: set to the first string of its root ``compatible`` list, or to
 *          "(none)" when that property is missing or not a string list.
 *
 * The policy ("Handover formats and kernel versions" in
 * Documentation/admin-guide/mm/khopages.rst): the list must contain
 * %KHOPAGES_COMPATIBLE, first (the same format) or after the string of a
 * newer format that can also be read as this one.
 *
 * Return: true when this kernel reads it.
 */
bool khop_in_readable(const void *fdt, const char **compat)
{
	const char *p;
	int len;

	p = fdt_getprop(fdt, 0, "compatible", &len);
	if (!p || len < 1 || p[len - 1]) {
		*compat = "(none)";
		return false;
	}
	*compat = p;
	return !fdt_node_check_compatible(fdt, 0, KHOPAGES_COMPATIBLE);
}

/*
 * A handover in a format this kernel does not read (the policy: "Handover
 * formats" in Documentation/admin-guide/mm/khopages.rst). Nothing in it
 * can be read safely but the session nodes' names and their "nr-pages",
 * which every format keeps, and those only to tell the admin what stays
 * reserved: no frame of it is given back here, for the reason given at
 * khop_in_refuse(). This kernel does not hand it on, so the next kexec or
 * reboot returns its memory.
 */
static void khop_in_refuse_format(const void *fdt, const char *compat)
{
	u64 pages = 0;
	int node, n = 0;

	pr_err("handover refused: format '%s', this kernel reads '%s'\n",
	       compat, KHOPAGES_COMPATIBLE);
	fdt_for_each_subnode(node, fdt, 0) {
		const u64 *nr = khop_prop(fdt, node, KHOPAGES_PROP_NR_PAGES,
					  sizeof(u64));

		n++;
		if (nr && pages + *nr >= pages)
			pages += *nr;
	}
	pr_err("the %d session(s) of that handover (%llu pages announced) stay reserved until the next kexec or reboot\n",
	       n, pages);
}

/*
 * The checks every received tree passes before a session node of it is
 * read: a whole FDT inside the @size bytes that hold it, in a format this
 * kernel reads. Returns 0, or -EINVAL with @why set.
 */
static int khop_in_check_tree(const void *fdt, size_t size, const char **why)
{
	const char *compat;

	*why = "not a valid FDT";
	if (fdt_check_header(fdt) || fdt_totalsize(fdt) > size)
		return -EINVAL;
	*why = "a format this kernel does not read";
	if (!khop_in_readable(fdt, &compat)) {
		khop_in_refuse_format(fdt, compat);
		return -EINVAL;
	}
	return 0;
}

/**
 * khop_in_blob() - restore a block of metadata the previous kernel handed
 * over.
 * @phys: its address, as the previous kernel gave it.
 *
 * Nothing of it is read here: KHO first proves it is preserved memory, a
 * folio of online memory outside scratch.
 *
 * Return: its folio (free it with folio_put()), or NULL.
 */
struct folio *khop_in_blob(phys_addr_t phys)
{
	struct folio *folio;

	if (!PAGE_ALIGNED(phys) || !khop_in_pfn_ok(PHYS_PFN(phys), 0))
		return NULL;
	folio = kho_restore_folio(phys);
	if (folio && !khop_in_pfn_ok(PHYS_PFN(phys), folio_order(folio))) {
		/* Not ours to free: maybe another KHO user's memory. */
		khop_in_nr_kept += folio_nr_pages(folio);
		return NULL;
	}
	return folio;
}

/**
 * khop_in_receive() - read the description of one session handed over.
 * @phys: the address the previous kernel gave Live Update for the file:
 *        a tree with one session node.
 * @why:  set to the reason when the session is refused.
 *
 * Nothing is read before KHO proves the address is preserved memory, and
 * every word of the session is validated before it is used. Its folios
 * are indexed, not restored: the session is listed as ``incoming`` until
 * its file is retrieved. The tree is freed once read.
 *
 * Context: khop_lock held.
 * Return: the incoming session, listed, or an ERR_PTR(): -EINVAL with
 * @why set, or -ENOMEM.
 */
struct khop_session *khop_in_receive(phys_addr_t phys, const char **why)
{
	struct khop_session *s = ERR_PTR(-EINVAL);
	struct folio *folio;
	const char *name;
	const void *fdt;
	int node, err;

	lockdep_assert_held(&khop_lock);
	*why = "its description is not in preserved memory";
	folio = khop_in_blob(phys);
	if (!folio)
		return s;
	fdt = folio_address(folio);
	if (khop_in_check_tree(fdt, folio_size(folio), why))
		goto out;
	*why = "its description does not hold exactly one session";
	node = fdt_first_subnode(fdt, 0);
	if (node < 0 || fdt_next_subnode(fdt, node) >= 0)
		goto out;
	err = khop_in_session(fdt, node, why);
	if (err) {
		s = ERR_PTR(err);
		goto out;
	}
	name = fdt_get_name(fdt, node, NULL);
	s = khop_session_find(name, KHOP_IN);
	s->luo = true;
out:
	folio_put(folio);
	return s;
}

static bool khop_any_pfn(u64 pfn, unsigned int order)
{
	return true;
}

/**
 * khop_in_adopt() - offer a session kept in this kernel for restore.
 * @s: a session khop_out_keep_local() turned into an incoming one.
 *
 * Same-kernel restore (no kexec happened): its folios are live memory
 * that the dumped processes may still map, so MAP copies them instead of
 * installing them.
 *
 * Context: khop_lock held.
 * Return: 0, or -ENOMEM (the session is then broken: dropping it frees it).
 */
int khop_in_adopt(struct khop_session *s)
{
	struct khop_limits lim = {
		.pids = s->pids, .nr_pids = s->nr_pids,
		.nr_words = s->table.nr_words, .nr_pages = s->table.nr_pages,
		.nr_refs = s->table.nr_refs, .pfn_ok = khop_any_pfn,
	};
	unsigned long pfn;
	const char *why;
	bool named;
	int err = 0;

	khop_pfnset_for_each(pfn, &s->held) {
		named = khop_counted_test(&khop_in_named, pfn);
		err = khop_in_name(pfn);
		if (err)
			break;
		/* The driver keeps one reference per folio, not one per session. */
		if (named)
			folio_put(pfn_folio(pfn));
		/* Live anon memory: restored and mapped (room made by the name). */
		if (khop_pfnset_add(&khop_in_restored, pfn) > 0)
			khop_in_nr_restored++;
	}
	/* Out of memory: the folios not named yet leave the session now. */
	for (; err && pfn != ULONG_MAX; pfn = khop_pfnset_next(&s->held, pfn + 1)) {
		khop_pfnset_del(&s->held, pfn);
		xa_erase(&s->large, pfn);
		folio_put(pfn_folio(pfn));
	}
	if (!err)
		err = khop_validate_table(s->table.nr_chunks ? s->table.chunks[0] :
					  NULL, &lim, &s->ranges, &s->nr_ranges,
					  &why);
	s->taken = true;
	s->broken = err != 0;
	if (err && err != -ENOMEM)
		pr_err("session %s cannot be restored here: %s\n",
		       s->name, why);
	return err;
}

/**
 * khop_in_unmapped_pages() - pages of a session no process has mapped.
 * @s: an incoming session.
 *
 * Context: khop_lock held.
 * Return: what closing its last file would free now.
 */
u64 khop_in_unmapped_pages(struct khop_session *s)
{
	unsigned long pfn;
	bool restored;
	unsigned int o;
	u64 n = 0;

	/* Nothing restored yet, so nothing was mapped. */
	if (!khop_in_nr_restored) {
		for (o = 0; o < KHOPAGES_MAX_ORDERS; o++)
			n += s->info.folios_by_order[o] << o;
		return n;
	}
	khop_pfnset_for_each(pfn, &s->held) {
		/* An opened session had every folio restored. */
		restored = s->taken || khop_pfnset_test(&khop_in_restored, pfn);
		if (!khop_in_was_mapped(restored, pfn))
			n += 1UL << khop_in_order(s, pfn);
	}
	return n;
}

/**
 * khop_in_take() - restore every folio of a session from KHO.
 * @s: an incoming session being retrieved or restored in place.
 *
 * Until then its memory is reserved and invisible to the page allocator's
 * accounting (not even in MemTotal), so a restorer could not even mmap
 * room for it under the overcommit heuristic. From here on it is ordinary
 * memory held by the driver until mapped, or until the session's last
 * file is closed.
 *
 * Context: khop_lock held.
 * Return: 0, or -EIO when a recorded folio is not preserved memory.
 */
int khop_in_take(struct khop_session *s)
{
	unsigned long pfn;
	int err;

	if (s->broken)
		return -EIO;
	if (s->taken)
		return 0;
	err = khop_in_each_folio(s, khop_in_restore, &pfn);
	if (err == -ENOENT)
		pr_err("session %s: frame %#lx is not preserved memory\n",
		       s->name, pfn);
	else if (err)
		pr_err("session %s: folio %#lx has order %u, expected %u\n",
		       s->name, pfn, folio_order(pfn_folio(pfn)),
		       khop_in_order(s, pfn));
	if (err) {
		s->broken = true;
		return -EIO;
	}
	s->taken = true;
	return 0;
}

/**
 * khop_in_finish() - release what an incoming session still holds.
 * @s: the session, off the session list (or never listed).
 *
 * Folios no other incoming session names are given back: the driver's
 * reference on restored ones is dropped (a mapping keeps its own), and
 * those never restored are restored and freed. The table chunks are freed.
 *
 * Context: khop_lock held.
 */
void khop_in_finish(struct khop_session *s)
{
	u64 kept = khop_in_nr_kept;
	unsigned long pfn;
	unsigned int i;

	khop_in_each_folio(s, khop_in_release, &pfn);
	if (khop_in_nr_kept != kept)
		pr_warn("session %s: %llu pages not proven its own stay reserved\n",
			s->name, khop_in_nr_kept - kept);
	khop_pfnset_destroy(&s->held);
	xa_destroy(&s->large);
	for (i = 0; i < s->table.nr_chunks; i++)
		folio_put(virt_to_folio(s->table.chunks[i]));
	s->table.nr_chunks = 0;
	trace_khopages_finish(s->name, s->info.nr_mapped, s->info.nr_released);
}
