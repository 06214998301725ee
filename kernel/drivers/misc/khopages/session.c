// SPDX-License-Identifier: GPL-2.0
/*
 * Sessions: named sets of pages, outgoing (created here, handed over when
 * Live Update preserves their file) or incoming (received through Live
 * Update, or restored in place). All fields are protected by khop_lock.
 */

/**
 * DOC: khopages session lifecycle
 *
 * A session is a named set of pages, possibly from several processes; one
 * session usually holds one checkpointed process tree. It is bound to the
 * open file description that created or attached it, and one file holds
 * at most one session at a time. Processes that share the file (inherited
 * across fork(), or passed over a Unix socket) share its session.
 *
 * States (enum khopages_state), as STATS, LIST and debugfs report them:
 *
 * - ``open`` (1): outgoing, bound to its creator's file, taking pages;
 * - ``incoming`` (3): received through Live Update, its file not retrieved
 *   yet: bound to no file;
 * - ``preserved`` (5): outgoing, its file in a Live Update session: frozen,
 *   handed over by the next kexec;
 * - ``retrieved`` (6): received through Live Update, attached to the file
 *   Live Update gave back and to those that attached it with OPEN;
 * - ``claimed`` (4): an outgoing session never handed over, restored in
 *   place (OPEN of its own name on its own file) and attached to files.
 *
 * Before the kexec, CREATE makes an ``open`` session (names are unique
 * among outgoing sessions). Each PRESERVE is all or nothing; ranges of one
 * process may not overlap within a session, even where they hold no page.
 * The pages taken are write-protected in the process and marked
 * maybe-shared, as fork() does for the parent, so any later write (tasks
 * resumed after a failed dump, a debugger, a dying thread clearing its TID
 * word or walking its robust futex list) gets a copy and what is handed
 * over stays as it was at PRESERVE; a page pinned for DMA cannot be shared
 * this way and stays writable. Nothing is preserved through KHO yet: the
 * session only holds references. ABORT, or closing the file of an
 * ``open`` session, releases every folio and frees the table.
 *
 * ``LIVEUPDATE_SESSION_PRESERVE_FD`` of the session's file hands it over:
 * every folio and table chunk is preserved through KHO (once per folio,
 * whatever other sessions hold it), the folios are taken off the LRU so
 * that reclaim and compaction leave them alone, and the session is
 * described in a page of preserved memory; the processes may then be
 * killed. If that fails the session stays ``open`` and nothing is
 * preserved. Closing the Live Update session before the kexec undoes all
 * of it: the session is ``open`` again. A session still ``open`` at a
 * kexec has nothing preserved: it simply ends with this kernel.
 *
 * After the kexec, at boot, the driver reads the list of the sessions
 * handed over (flb.c), validates each session's description and table on
 * its own and lists the valid ones as ``incoming``, logging ``khopages:
 * session <name>: <pages> pages in <folios> folios from <n> processes``.
 * ``LIVEUPDATE_SESSION_RETRIEVE_FD``
 * then restores every folio of the session from KHO (kho_restore_folio())
 * and returns a khopages file attached to it. Until
 * then the memory is reserved and not even counted in MemTotal; from then
 * on it is memory in use held by the driver (MemTotal grows, MemFree does
 * not), so the restorer can mmap() room for it without tripping the
 * overcommit heuristic. Each restored process OPENs the session on its
 * own file and MAPs its own ranges. Until the session is released the
 * driver's reference on each restored frame keeps it from being migrated
 * or freed. The last close of a file attached to the session releases it:
 * mapped pages stay mapped (ordinary anonymous memory by then), the frames
 * nobody mapped and the table chunks are freed. A frame recorded by
 * several incoming sessions is released with the last of them.
 *
 * A refused session (a bad description or table, distinct folios not
 * matching ``nr-folios``, or out of memory while indexing) stays reserved
 * until the next kexec or reboot: nothing tells whose frames a bad one
 * names. A khopages file that Live Update
 * finishes without anybody retrieving it gives its session back: the
 * frames no other session names are freed (see "khopages and Live Update"
 * in luo.c).
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/user_namespace.h>

#include "session.h"

DEFINE_MUTEX(khop_lock);	/* sessions, their state, the folio indexes */
LIST_HEAD(khop_sessions);

/**
 * khop_name_valid() - is @name usable as a session (and FDT node) name?
 * @name: NUL-terminated within KHOPAGES_NAME_MAX bytes.
 *
 * Return: true for 1..63 characters of [A-Za-z0-9._-].
 */
bool khop_name_valid(const char *name)
{
	size_t i, len = strnlen(name, KHOPAGES_NAME_MAX);

	if (!len || len == KHOPAGES_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum(name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

/**
 * khop_session_find() - look a session up.
 * @name: its name.
 * @dir:  outgoing or incoming.
 *
 * Context: khop_lock held.
 * Return: the session or NULL.
 */
struct khop_session *khop_session_find(const char *name, enum khop_dir dir)
{
	struct khop_session *s;

	lockdep_assert_held(&khop_lock);
	list_for_each_entry(s, &khop_sessions, node)
		if (s->dir == dir && !strcmp(s->name, name))
			return s;
	return NULL;
}

/**
 * khop_session_alloc() - a new, unlisted session.
 * @name: valid name.
 * @dir:  outgoing or incoming.
 *
 * Return: the session or NULL without memory.
 */
struct khop_session *khop_session_alloc(const char *name, enum khop_dir dir)
{
	struct khop_session *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return NULL;
	strscpy(s->name, name);
	strscpy(s->info.name, name);
	s->dir = dir;
	/* Root's until told otherwise (a handover that names no owner). */
	s->owner_uid = GLOBAL_ROOT_UID;
	s->owner_ns = get_user_ns(&init_user_ns);
	INIT_LIST_HEAD(&s->node);
	xa_init(&s->large);
	khop_pfnset_init(&s->held);
	khop_pfnset_init(&s->isolated);
	return s;
}

/**
 * khop_session_free() - free the bookkeeping of a session.
 * @s: a session already released and taken off the list.
 *
 * Pages and preserved chunks are released by the direction's own code
 * before this; here only kernel-private memory goes.
 */
void khop_session_free(struct khop_session *s)
{
	unsigned int i;

	for (i = 0; i < s->nr_ranges; i++) {
		kvfree(s->ranges[i].mapped);
		if (s->ranges[i].mapper)
			mmdrop(s->ranges[i].mapper);
	}
	kvfree(s->ranges);
	kvfree(s->pids);
	kvfree(s->table.chunks);
	xa_destroy(&s->large);
	khop_pfnset_destroy(&s->held);
	khop_pfnset_destroy(&s->isolated);
	put_user_ns(s->owner_ns);
	kfree(s);
}

/**
 * khop_session_set_owner() - record who a session belongs to.
 * @s:   the session.
 * @uid: the owner.
 * @ns:  the user namespace the owner acts in; a reference is taken.
 */
void khop_session_set_owner(struct khop_session *s, kuid_t uid,
			    struct user_namespace *ns)
{
	put_user_ns(s->owner_ns);
	s->owner_uid = uid;
	s->owner_ns = get_user_ns(ns);
}

/**
 * khop_session_allowed() - may the current task use a session?
 * @s: the session.
 *
 * The checkpoint capability is needed in any case; on top of it the
 * caller must be the session's owner (same effective uid in the same user
 * namespace) or an administrator of the owner's user namespace. Rights
 * are the caller's own, never those of whoever opened the file it uses.
 *
 * Return: true when it may.
 */
bool khop_session_allowed(const struct khop_session *s)
{
	if (!capable(CAP_CHECKPOINT_RESTORE) && !capable(CAP_SYS_ADMIN))
		return false;
	if (uid_eq(current_euid(), s->owner_uid) &&
	    current_user_ns() == s->owner_ns)
		return true;
	return ns_capable(s->owner_ns, CAP_SYS_ADMIN);
}

/**
 * khop_session_add_pid() - remember that @pid has pages in @s.
 * @s:   the session.
 * @pid: the process.
 *
 * Return: 0 or -ENOMEM.
 */
int khop_session_add_pid(struct khop_session *s, pid_t pid)
{
	unsigned int i;
	u32 *p;

	for (i = 0; i < s->nr_pids; i++)
		if (s->pids[i] == (u32)pid)
			return 0;
	p = kvrealloc(s->pids, (s->nr_pids + 1) * sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p[s->nr_pids++] = pid;
	s->pids = p;
	s->info.nr_pids = s->nr_pids;
	return 0;
}

/**
 * khop_session_fill_info() - the statistics STATS and LIST report.
 * @s:    the session.
 * @info: filled.
 *
 * Context: khop_lock held.
 */
void khop_session_fill_info(struct khop_session *s,
			    struct khopages_session_info *info)
{
	lockdep_assert_held(&khop_lock);
	*info = s->info;
	info->state = s->state;
	info->nr_pids = s->nr_pids;
}
