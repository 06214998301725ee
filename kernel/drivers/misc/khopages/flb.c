// SPDX-License-Identifier: GPL-2.0
/*
 * The list of sessions handed over together: the File-Lifecycle-Bound data
 * (FLB, kernel/liveupdate/luo_flb.c) of the khopages file handler.
 *
 * Before the kexec, the list is a page of preserved memory that Live
 * Update creates with the first khopages file preserved and drops with the
 * last one unpreserved; each preserved file adds its session's description
 * to it, and takes it out again if unpreserved.
 *
 * After the kexec, the first use of the list (at boot, or when Live Update
 * first retrieves or finishes a khopages file) reads every description in
 * it: each valid session is indexed and listed as ``incoming``, so that
 * every frame any session names is known before any one session is
 * retrieved or given back. A khopages file retrieved from Live Update
 * takes its session from the list; one that Live Update finishes without
 * retrieving it gives its session back at once, freeing what no other
 * session names. The list goes when Live Update has finished the last
 * khopages file.
 *
 * Context: Live Update calls the FLB callbacks under its own FLB locks;
 * they take khop_lock inside them. The rest runs under khop_lock and never
 * calls Live Update: the order is always FLB lock, then khop_lock.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/liveupdate.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "flb.h"
#include "incoming.h"
#include "lifecycle.h"
#include "session.h"

/* Before the kexec: the list Live Update preserves, or NULL. */
static struct khopages_handover_list *khop_flb_out;

/**
 * struct khop_received - the list a previous kernel handed over, as read.
 * @refused: why the list itself was refused (nothing in it is used), or
 *           NULL.
 * @nr:      entries in @desc and @why.
 * @desc:    the address of each description.
 * @why:     why each description was refused, or NULL for a session
 *           listed as incoming.
 */
struct khop_received {
	const char *refused;
	unsigned int nr;
	phys_addr_t desc[KHOPAGES_LIST_MAX];
	const char *why[KHOPAGES_LIST_MAX];
};

/* After the kexec: the list read, or NULL before it is read or once done. */
static struct khop_received *khop_flb_in;

/* What a list is when there is no memory to read it into. */
static struct khop_received khop_flb_no_memory = {
	.refused = "out of memory",
};

static int khop_flb_preserve(struct liveupdate_flb_op_args *args)
{
	struct khopages_handover_list *list = kho_alloc_preserve(KHOPAGES_LIST_SIZE);

	if (IS_ERR(list))
		return PTR_ERR(list);
	list->magic = KHOPAGES_LIST_MAGIC;
	mutex_lock(&khop_lock);
	khop_flb_out = list;
	mutex_unlock(&khop_lock);
	args->data = virt_to_phys(list);
	args->obj = list;
	return 0;
}

static void khop_flb_unpreserve(struct liveupdate_flb_op_args *args)
{
	mutex_lock(&khop_lock);
	khop_flb_out = NULL;
	mutex_unlock(&khop_lock);
	kho_unpreserve_free(args->obj);
}

/**
 * khop_flb_add() - list a session's description for the next kernel.
 * @desc: the description of a session whose file Live Update preserves.
 *
 * Context: khop_lock held, inside Live Update's preserve of the file (so
 * the list exists).
 * Return: 0, -ENOSPC when the list is full, or -ENODEV without a list.
 */
int khop_flb_add(phys_addr_t desc)
{
	struct khopages_handover_list *list = khop_flb_out;

	lockdep_assert_held(&khop_lock);
	if (!list)
		return -ENODEV;
	if (list->nr == KHOPAGES_LIST_MAX) {
		pr_err("cannot hand over more than %zu sessions at once\n",
		       KHOPAGES_LIST_MAX);
		return -ENOSPC;
	}
	list->desc[list->nr++] = desc;
	return 0;
}

/**
 * khop_flb_del() - take a description off the list again.
 * @desc: a description khop_flb_add() listed.
 *
 * Context: khop_lock held.
 */
void khop_flb_del(phys_addr_t desc)
{
	struct khopages_handover_list *list = khop_flb_out;
	u32 i;

	lockdep_assert_held(&khop_lock);
	for (i = 0; list && i < list->nr; i++) {
		if (list->desc[i] == desc) {
			list->desc[i] = list->desc[--list->nr];
			list->desc[list->nr] = 0;
			return;
		}
	}
}

/* Read every description of the list at @phys (nothing trusted). */
static void khop_flb_read(struct khop_received *in, phys_addr_t phys)
{
	const struct khopages_handover_list *list;
	struct khop_session *s;
	struct folio *folio;
	unsigned int i;

	in->refused = "it is not in preserved memory";
	folio = khop_in_blob(phys);
	if (!folio)
		return;
	list = folio_address(folio);
	in->refused = "it is not a list of khopages sessions";
	if (folio_size(folio) < KHOPAGES_LIST_SIZE ||
	    list->magic != KHOPAGES_LIST_MAGIC || list->nr > KHOPAGES_LIST_MAX)
		goto out;
	in->refused = NULL;
	in->nr = list->nr;
	for (i = 0; i < in->nr; i++) {
		in->desc[i] = list->desc[i];
		s = khop_in_receive(in->desc[i], &in->why[i]);
		if (IS_ERR(s)) {
			if (PTR_ERR(s) == -ENOMEM)
				in->why[i] = "out of memory";
			pr_err("session %u of %u refused: %s\n", i + 1, in->nr,
			       in->why[i]);
			continue;
		}
		s->luo_desc = in->desc[i];
		in->why[i] = NULL;
		pr_info("session %s: %llu pages in %llu folios from %u processes\n",
			s->name, s->info.nr_pages, s->info.nr_folios,
			s->nr_pids);
	}
out:
	folio_put(folio);
}

/*
 * The list is read whole here, once. This never fails (Live Update would
 * warn): a list that cannot be read refuses every file that needs it.
 */
static int khop_flb_retrieve(struct liveupdate_flb_op_args *args)
{
	struct khop_received *in = kvzalloc(sizeof(*in), GFP_KERNEL);

	mutex_lock(&khop_lock);
	if (in)
		khop_flb_read(in, args->data);
	else
		in = &khop_flb_no_memory;
	if (in->refused)
		pr_err("the list of handed-over sessions is refused: %s; their memory stays reserved until the next kexec or reboot\n",
		       in->refused);
	khop_flb_in = in;
	mutex_unlock(&khop_lock);
	args->obj = in;
	return 0;
}

/* The incoming session of description @desc, still waiting for its file. */
static struct khop_session *khop_flb_waiting(phys_addr_t desc)
{
	struct khop_session *s;

	list_for_each_entry(s, &khop_sessions, node)
		if (s->dir == KHOP_IN && s->state == KHOPAGES_STATE_INCOMING &&
		    s->luo_desc == desc)
			return s;
	return NULL;
}

/* Live Update finished the last khopages file: nothing waits any more. */
static void khop_flb_finish(struct liveupdate_flb_op_args *args)
{
	struct khop_received *in = args->obj;
	struct khop_session *s, *next;

	mutex_lock(&khop_lock);
	list_for_each_entry_safe(s, next, &khop_sessions, node) {
		if (s->dir != KHOP_IN || s->state != KHOPAGES_STATE_INCOMING)
			continue;
		pr_warn("session %s had no file in any Live Update session: its memory is freed\n",
			s->name);
		khop_session_drop(s);
	}
	khop_flb_in = NULL;
	mutex_unlock(&khop_lock);
	if (in != &khop_flb_no_memory)
		kvfree(in);
}

/**
 * khop_flb_take() - the session of a khopages file Live Update retrieves.
 * @desc: the file's serialized data: the address of its description.
 * @why:  set to the reason when there is none.
 *
 * Context: khop_lock held; khop_flb_read_now() ran first.
 * Return: the session, still ``incoming``, or an ERR_PTR(-EINVAL).
 */
struct khop_session *khop_flb_take(phys_addr_t desc, const char **why)
{
	struct khop_received *in = khop_flb_in;
	struct khop_session *s;
	unsigned int i;

	lockdep_assert_held(&khop_lock);
	*why = "the list of handed-over sessions is missing";
	if (!in)
		return ERR_PTR(-EINVAL);
	*why = in->refused;
	if (*why)
		return ERR_PTR(-EINVAL);
	s = khop_flb_waiting(desc);
	if (s)
		return s;
	*why = "its description is not in the list of handed-over sessions";
	for (i = 0; i < in->nr; i++)
		if (in->desc[i] == desc && in->why[i])
			*why = in->why[i];
	return ERR_PTR(-EINVAL);
}

/**
 * khop_flb_give_back() - a khopages file nobody retrieved is finished.
 * @desc: the file's serialized data.
 *
 * Its session is given back: the frames no other session names are
 * freed.
 *
 * Context: khop_lock held; khop_flb_read_now() ran first.
 */
void khop_flb_give_back(phys_addr_t desc)
{
	struct khop_session *s = khop_flb_waiting(desc);

	lockdep_assert_held(&khop_lock);
	if (!s) {
		pr_warn("a khopages file refused was never retrieved: its memory stays reserved until the next kexec or reboot\n");
		return;
	}
	pr_info("session %s was never retrieved from its Live Update session: its memory is freed\n",
		s->name);
	khop_session_drop(s);
}

static const struct liveupdate_flb_ops khop_flb_ops = {
	.preserve = khop_flb_preserve,
	.unpreserve = khop_flb_unpreserve,
	.retrieve = khop_flb_retrieve,
	.finish = khop_flb_finish,
	.owner = THIS_MODULE,
};

static struct liveupdate_flb khop_flb = {
	.ops = &khop_flb_ops,
	.compatible = KHOPAGES_LIST_COMPATIBLE,
};

/**
 * khop_flb_read_now() - make sure the list handed over has been read.
 *
 * Reads it on first use (Live Update calls back); a kernel that received
 * no list has nothing to read.
 *
 * Context: khop_lock not held.
 */
void khop_flb_read_now(void)
{
	void *obj;

	if (!liveupdate_flb_get_incoming(&khop_flb, &obj))
		liveupdate_flb_put_incoming(&khop_flb);
}

/**
 * khop_flb_init() - give the khopages file handler its list.
 * @fh: the file handler, registered with Live Update.
 *
 * Return: 0 or the error of registering the FLB.
 */
int khop_flb_init(struct liveupdate_file_handler *fh)
{
	return liveupdate_register_flb(fh, &khop_flb);
}
