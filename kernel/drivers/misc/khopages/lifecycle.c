// SPDX-License-Identifier: GPL-2.0
/*
 * The end of sessions, and of the outgoing side at kexec: dropping a
 * session (ABORT, FINISH, the last close of a retrieved one, a retrieve
 * that failed), and the seal when a kexec begins (the reboot notifier):
 * outgoing sessions nobody committed are aborted, received ones nobody
 * claimed are forwarded, and from then on no command may change the
 * handover.
 *
 * Sessions handed over through Live Update need none of the seal: Live
 * Update itself decides at the kexec which files go (luo.c).
 *
 * Context: khop_lock, see "khopages locking" in main.c.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/kexec.h>
#include <linux/lockdep.h>
#include <linux/notifier.h>
#include <linux/reboot.h>

#include "incoming.h"
#include "khopages_trace.h"
#include "lifecycle.h"
#include "outgoing.h"
#include "publish.h"
#include "session.h"

/*
 * Set by the reboot notifier once a kexec has begun: from then on the
 * handover is final and no command may change it.
 */
static bool khop_is_sealed;

/**
 * khop_session_drop() - forget a session and release what it holds.
 * @s: an outgoing or incoming session on the session list.
 *
 * One that is in the published subtree leaves it first: if the subtree
 * cannot be published without it, nothing changes and the error is
 * returned, so the next kernel is never told of pages that are no longer
 * preserved. An outgoing session's folios are released (unpreserved where
 * no other session holds them); an incoming one is finished.
 *
 * Context: khop_lock held.
 * Return: 0, or the error of republishing the subtree.
 */
int khop_session_drop(struct khop_session *s)
{
	bool published = khop_published(s);
	int err;

	lockdep_assert_held(&khop_lock);
	list_del_init(&s->node);
	if (published) {
		err = khop_publish();
		if (err) {
			list_add_tail(&s->node, &khop_sessions);
			return err;
		}
	}
	/* The file that created it (even after COMMIT) forgets it. */
	if (s->owner)
		s->owner->private_data = NULL;
	trace_khopages_release(s->name, s->state, s->info.nr_pages);
	if (s->dir == KHOP_OUT)
		khop_out_release(s);
	else
		khop_in_finish(s);
	khop_session_free(s);
	return 0;
}

/*
 * An outgoing session still open when the kexec begins was never
 * committed: its pages would stay reserved in the next kernel with nobody
 * to name them. Let them go.
 */
static void khop_abort_uncommitted(void)
{
	struct khop_session *s, *next;

	list_for_each_entry_safe(s, next, &khop_sessions, node) {
		if (s->dir != KHOP_OUT || s->state != KHOPAGES_STATE_OPEN)
			continue;
		pr_warn("session %s was not committed when the kexec began: aborted\n",
			s->name);
		khop_session_drop(s);
	}
}

/**
 * khop_seal() - make the handover final: a kexec has begun.
 *
 * Outgoing sessions nobody committed are aborted, received sessions nobody
 * claimed are forwarded, and from then on every command that would change
 * the handover fails with ESHUTDOWN. Called once by the reboot notifier
 * (and by the test knob, which then expects a kexec).
 */
void khop_seal(void)
{
	mutex_lock(&khop_lock);
	if (!khop_is_sealed) {
		khop_abort_uncommitted();
		khop_in_forward_unclaimed();
		khop_is_sealed = true;
	}
	mutex_unlock(&khop_lock);
}

/*
 * kexec: kernel_kexec() calls the reboot notifiers before it shuts the
 * devices down; KHO preservations made until the jump are handed over.
 * Any other restart drops them with the rest of memory.
 */
static int khop_reboot(struct notifier_block *nb, unsigned long action,
		       void *cmd)
{
	if (action == SYS_RESTART && kexec_in_progress)
		khop_seal();
	return NOTIFY_DONE;
}

static struct notifier_block khop_reboot_nb = {
	.notifier_call = khop_reboot,
};

/**
 * khop_sealed() - has a kexec begun?
 *
 * Context: khop_lock held.
 * Return: true once the handover is final: every command that would
 * change it must fail with ESHUTDOWN.
 */
bool khop_sealed(void)
{
	lockdep_assert_held(&khop_lock);
	return khop_is_sealed;
}

/**
 * khop_lifecycle_init() - seal the handover when a kexec begins.
 *
 * Return: 0 or the error of registering the reboot notifier.
 */
int khop_lifecycle_init(void)
{
	return register_reboot_notifier(&khop_reboot_nb);
}

/**
 * khop_lifecycle_exit() - undo khop_lifecycle_init(), for a failed init.
 */
void khop_lifecycle_exit(void)
{
	unregister_reboot_notifier(&khop_reboot_nb);
}
