/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sessions (session.c): the named sets of preserved pages every other
 * part of the driver works on, their list and the lock over them.
 *
 * Locking: one mutex, khop_lock, serialises every session state change,
 * the session list and the global folio indexes (the preserved frames of
 * frames.c; khop_in_named, khop_in_restored and khop_in_copies of
 * incoming.c). ioctls that touch user memory take the target's or the
 * caller's mmap_lock inside khop_lock; nothing takes khop_lock under an
 * mmap_lock. See "khopages locking" in main.c.
 */
#ifndef _KHOPAGES_SESSION_H
#define _KHOPAGES_SESSION_H

#include <linux/khopages.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>

#include "frames.h"
#include "table.h"
#include "validate.h"

struct file;
struct user_namespace;

enum khop_dir { KHOP_OUT, KHOP_IN };

/**
 * struct khop_session - a named set of preserved pages.
 * @node:     in khop_sessions.
 * @name:     session name.
 * @dir:      outgoing (created here) or incoming (received, or restored
 *            in place).
 * @state:    enum khopages_state.
 * @owner:    outgoing: the file that created it.
 * @owner_uid: the user it belongs to: its creator's effective uid, or
 *            for a received session the uid recorded in the handover.
 * @owner_ns: the user namespace @owner_uid belongs to (referenced).
 * @nr_attached: incoming: files that attached it with OPEN (each process
 *            restoring memory opens the session for itself).
 * @pids:     distinct pids (kvmalloc'ed).
 * @nr_pids:  entries in @pids.
 * @table:    outgoing: the table being written; incoming: the chunk list.
 * @held:     the first frame of each distinct folio of the session (one
 *            held, outgoing; one named by the table, incoming).
 * @large:    incoming: the orders of its large folios, pfn -> order
 *            (a folio not in it is a single page).
 * @isolated: outgoing: the folios it took off the LRU when handed over.
 * @ranges:   incoming: decoded ranges, sorted by pid then address.
 * @nr_ranges: entries in @ranges.
 * @info:     statistics as reported by STATS.
 * @taken:    incoming: every folio was restored from KHO.
 * @broken:   incoming: a frame turned out not to be what the table said;
 *            attaching it fails with EIO.
 * @luo:      its file is preserved in a Live Update session (outgoing) or
 *            was retrieved from one (incoming).
 * @luo_blob: outgoing, preserved: its description, whose address Live
 *            Update hands over (NULL otherwise).
 * @luo_blob_size: bytes allocated for @luo_blob.
 * @luo_desc: incoming: the address of the description it was read from,
 *            which names its file in Live Update.
 */
struct khop_session {
	struct list_head node;
	char name[KHOPAGES_NAME_MAX];
	enum khop_dir dir;
	u32 state;
	struct file *owner;
	kuid_t owner_uid;
	struct user_namespace *owner_ns;
	unsigned int nr_attached;
	u32 *pids;
	unsigned int nr_pids;
	struct khop_table table;
	struct khop_pfnset held;
	struct xarray large;
	struct khop_pfnset isolated;
	struct khop_range *ranges;
	unsigned int nr_ranges;
	struct khopages_session_info info;
	bool taken;
	bool broken;
	bool luo;
	void *luo_blob;
	size_t luo_blob_size;
	phys_addr_t luo_desc;
};

extern struct mutex khop_lock;
extern struct list_head khop_sessions;

struct khop_session *khop_session_find(const char *name, enum khop_dir dir);
struct khop_session *khop_session_alloc(const char *name, enum khop_dir dir);
void khop_session_free(struct khop_session *s);
int khop_session_add_pid(struct khop_session *s, pid_t pid);
void khop_session_fill_info(struct khop_session *s,
			    struct khopages_session_info *info);
void khop_session_set_owner(struct khop_session *s, kuid_t uid,
			    struct user_namespace *ns);
bool khop_session_allowed(const struct khop_session *s);
bool khop_name_valid(const char *name);

#endif /* _KHOPAGES_SESSION_H */
