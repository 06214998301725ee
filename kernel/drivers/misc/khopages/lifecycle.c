// SPDX-License-Identifier: GPL-2.0
/*
 * The end of sessions: dropping one (ABORT, the close of an outgoing
 * session never handed over, the last close of a received one, a restore
 * or retrieve that failed) releases what it holds.
 *
 * Nothing happens at the kexec itself: Live Update decides which files
 * are handed over (luo.c), and a session that is not in a Live Update
 * session has nothing preserved (outgoing.c).
 *
 * Context: khop_lock, see "khopages locking" in main.c.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/fs.h>
#include <linux/lockdep.h>

#include "incoming.h"
#include "khopages_trace.h"
#include "lifecycle.h"
#include "outgoing.h"
#include "session.h"

/**
 * khop_session_drop() - forget a session and release what it holds.
 * @s: an outgoing session not handed over, or an incoming one, on the
 *     session list.
 *
 * An outgoing session's folios are released; an incoming one is finished
 * (what nobody mapped is given back).
 *
 * Context: khop_lock held.
 */
void khop_session_drop(struct khop_session *s)
{
	lockdep_assert_held(&khop_lock);
	list_del_init(&s->node);
	/* The file that created it forgets it. */
	if (s->owner)
		s->owner->private_data = NULL;
	trace_khopages_release(s->name, s->state, s->info.nr_pages);
	if (s->dir == KHOP_OUT)
		khop_out_release(s);
	else
		khop_in_finish(s);
	khop_session_free(s);
}
