// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/khopages: hand the anonymous memory of checkpointed processes over
 * to the next kernel through KHO and map it back after kexec, zero-copy.
 *
 * This file is the user interface: argument checks, rights, and the
 * binding of sessions to open files. A file holds at most one session:
 * the outgoing one it created (handed over when Live Update preserves the
 * file, luo.c) or the incoming one it attaches: the file Live Update
 * retrieves, or one OPEN attached. Several files may attach the same
 * incoming session (each restored process maps its own memory); the last
 * one closed releases it.
 *
 * Rights are checked at every command against the caller's own
 * credentials (khop_session_allowed()), never against whoever opened the
 * file: a file inherited by a less privileged process gives it nothing.
 */

/**
 * DOC: khopages locking
 *
 * One mutex, khop_lock (session.c), serialises every command, the
 * session list, the global folio indexes and the Live Update callbacks
 * (which run under Live Update's own locks and take khop_lock inside
 * them; khopages never calls Live Update under khop_lock). It is
 * taken killably by commands, and never while user memory is read or
 * written: arguments are copied in before it is taken and results copied
 * out after it is dropped (LIST gathers its entries into a kernel buffer
 * first), so a caller whose buffer faults slowly (userfaultfd, FUSE)
 * stalls only itself. PRESERVE and EVACUATE take the target's mmap_lock
 * for reading, MAP the caller's for writing, inside khop_lock; nothing
 * takes khop_lock under an mmap_lock.
 *
 * Nothing runs at the kexec: a session is preserved through KHO only
 * while its file is in a Live Update session, and Live Update itself
 * fences the kexec (its freeze step) and refuses every change to a
 * preserved file.
 */

/**
 * DOC: handing over user pages from another subsystem
 *
 * khopages shows a pattern other built-in code can follow to carry user
 * pages across a kexec in place.
 *
 * Taking the pages:
 *
 * - Take plain references under the target's mmap_lock, after mm_access()
 *   with PTRACE_MODE_ATTACH_REALCREDS: get_user_pages_remote() with
 *   FOLL_DUMP (skips holes and the zero page instead of allocating memory
 *   for them) and FOLL_FORCE (reads VMAs without read permission too, as a
 *   core dump does; without it PROT_NONE pages look like holes and are
 *   lost). khopages first takes runs of present pages with a page-table
 *   walk of its own, which is cheaper, and leaves the rest to GUP. Never
 *   FOLL_PIN: pinning an anonymous page that is not exclusive (COW-shared
 *   after fork, or merged by KSM) makes GUP copy it first
 *   (gup_must_unshare()), which silently breaks the sharing, and
 *   FOLL_LONGTERM is only valid with FOLL_PIN.
 * - Keep the task frozen and the references until the kexec: they stop the
 *   folios from being freed or migrated. Once nothing changes any more,
 *   take them off the LRU (folio_isolate_lru(), here
 *   khopages_isolate_folio()) so that reclaim and compaction skip them,
 *   and put them back if the handover is withdrawn.
 * - KHO scratch is CMA and the next kernel boots in it. Check each folio
 *   with kho_scratch_overlap() (khop_scratch_overlap(), compat.h, for 7.2)
 *   and move only those that overlap. A
 *   FOLL_LONGTERM pin would move them but also unshare COW-shared ones:
 *   khopages takes every such folio of a lookup batch off the LRU, drops
 *   its references and migrates them in one migrate_pages() call to
 *   targets allocated as for a long-term pin (under memalloc_pin_save(),
 *   so not movable and never in CMA again). Migration updates the mappings
 *   of every process, so the sharing survives (khopages_collect_for_move()
 *   and khopages_move_folios() in mm/khopages_mm.c). Then take the
 *   references again.
 * - Record large folios whole when they sit entirely in the range at an
 *   aligned address; split the others with split_folio().
 * - Preserve nothing while taking: call kho_preserve_folio() only when
 *   the handover is decided (here: when Live Update preserves the file),
 *   once per folio even when several processes or handovers record it
 *   (an index from frame to users), and kho_unpreserve_folio() when the
 *   last user drops it. Memory preserved but named by no handover would
 *   stay reserved in the next kernel.
 *
 * Handing over:
 *
 * - Be a Live Update file handler (liveupdate_register_file_handler(), as
 *   mm/memfd_luo.c is): Live Update names the sessions, keeps them until
 *   the kexec, fences the kexec and gives the files back by token.
 *   preserve returns the physical address of a description in preserved
 *   memory; unpreserve undoes everything preserve did.
 * - Keep the table in preserved memory, never in slab: chunks (at most
 *   1 << MAX_PAGE_ORDER pages each) chained by physical address, or the
 *   KHO serialization blocks of include/linux/kho_block.h.
 * - Define the layout in a fixed-layout header under
 *   include/linux/kho/abi/ with a versioned compatible string, as
 *   include/linux/kho/abi/khopages.h and memfd.h do.
 *
 * Restoring and mapping:
 *
 * - In retrieve, prove each address preserved memory before reading it
 *   (kho_restore_folio()) and validate everything (FDT structure,
 *   compatible string, counts, alignment, frames in online memory
 *   outside scratch) before restoring any of the pages it names. Free
 *   the description once read.
 * - Restore each folio once with kho_restore_folio(): it comes back with
 *   one reference, not charged to a memory cgroup, not on an LRU and not
 *   mapped. Until then its memory is not even counted in MemTotal, so
 *   restore what a consumer claims before user space has to map room for
 *   it. A folio shared by several consumers needs an index that remembers
 *   whether it was restored. Preserved memory never restored stays
 *   reserved: give users a way to release it (restore it and folio_put()
 *   it).
 * - Map it as anonymous memory with the mmap_lock held for writing. Check
 *   first that there is room for every folio of a request (khopages_peek())
 *   so that a refused request maps nothing. Then anon_vma_prepare(),
 *   mem_cgroup_charge(), __folio_mark_uptodate(), the page tables, a check
 *   under the page-table lock that the PTEs (or the PMD) are empty, then
 *   map_anon_folio_pte_nopf() or, for a PMD-sized folio,
 *   map_anon_folio_pmd_nopf() with a page table deposited with
 *   pgtable_trans_huge_deposit(), and add_mm_counter(). These are not
 *   exported (anon_vma_prepare() is in mm/internal.h), so such code is
 *   built in and lives in mm/ or calls a helper there, as
 *   khopages_map_folio() in mm/khopages_mm.c does.
 * - A folio is anonymous memory of one fork hierarchy (one anon_vma tree).
 *   Mappings inherited through fork() may share it; an unrelated second
 *   mapping needs a copy.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kexec_handover.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "debugfs.h"
#include "fill.h"
#include "incoming.h"
#include "lifecycle.h"
#include "luo.h"
#include "map.h"
#include "outgoing.h"
#include "scratch.h"
#include "session.h"

#define CREATE_TRACE_POINTS
#include "khopages_trace.h"

static bool khop_may_checkpoint(void)
{
	return capable(CAP_CHECKPOINT_RESTORE) || capable(CAP_SYS_ADMIN);
}

/*
 * Take khop_lock for a command. Killable: a task stuck behind another
 * command can still be killed.
 */
static int khop_lock_cmd(void)
{
	return mutex_lock_killable(&khop_lock) ? -EINTR : 0;
}

/* Copy an argument struct whose first field is its size. */
static int khop_get_arg(void *karg, size_t ksize, void __user *uarg)
{
	u32 usize;
	int err;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < ksize || usize > PAGE_SIZE)
		return -EINVAL;
	err = copy_struct_from_user(karg, ksize, uarg, usize);
	if (err == -E2BIG)
		return -EINVAL;
	return err;
}

static int khop_put_arg(void __user *uarg, const void *karg, size_t ksize)
{
	return copy_to_user(uarg, karg, ksize) ? -EFAULT : 0;
}

static bool khop_range_ok(u64 start, u64 len)
{
	return len && PAGE_ALIGNED(start) && PAGE_ALIGNED(len) &&
	       start + len > start && start + len <= TASK_SIZE;
}

static int khop_get_name_arg(struct khopages_name_arg *arg, void __user *uarg,
			     u32 flags_ok)
{
	int err = khop_get_arg(arg, sizeof(*arg), uarg);

	if (err)
		return err;
	if ((arg->flags & ~flags_ok) || !khop_name_valid(arg->name))
		return -EINVAL;
	return 0;
}

static long khop_create(struct file *file, struct khopages_name_arg *arg)
{
	struct khop_session *s;
	int err;

	if (!khop_may_checkpoint())
		return -EPERM;
	if (!kho_is_enabled())
		return -EOPNOTSUPP;
	if (file->private_data)
		return -EBUSY;
	if (khop_session_find(arg->name, KHOP_OUT))
		return -EEXIST;
	s = khop_session_alloc(arg->name, KHOP_OUT);
	if (!s)
		return -ENOMEM;
	err = khop_table_init(&s->table);
	if (err) {
		khop_session_free(s);
		return err;
	}
	khop_session_set_owner(s, current_euid(), current_user_ns());
	s->state = KHOPAGES_STATE_OPEN;
	s->owner = file;
	file->private_data = s;
	list_add_tail(&s->node, &khop_sessions);
	return 0;
}

/*
 * The session bound to @file in direction @dir, if the caller has rights
 * over it: ERR_PTR(-ENOENT) when there is none, ERR_PTR(-EPERM) when the
 * caller may not use it (rights are checked at every call: a file may
 * have been inherited by a process with fewer rights).
 */
static struct khop_session *khop_own(struct file *file, enum khop_dir dir)
{
	struct khop_session *s = file->private_data;

	if (!s || s->dir != dir)
		return ERR_PTR(-ENOENT);
	if (!khop_session_allowed(s))
		return ERR_PTR(-EPERM);
	return s;
}

static long khop_preserve(struct file *file, struct khopages_preserve *arg)
{
	struct khop_session *s = khop_own(file, KHOP_OUT);

	if (IS_ERR(s))
		return PTR_ERR(s);
	if (s->state != KHOPAGES_STATE_OPEN)
		return -EBUSY;
	return khop_out_preserve(s, arg);
}

static int khop_check_preserve(struct khopages_preserve *arg,
			       void __user *uarg)
{
	int err = khop_get_arg(arg, sizeof(*arg), uarg);

	if (err)
		return err;
	if (arg->flags || arg->__pad || arg->pid <= 0 || arg->nr_pages ||
	    arg->nr_folios || arg->nr_moved ||
	    !khop_range_ok(arg->start, arg->len))
		return -EINVAL;
	return 0;
}

/* Needs no session: it holds nothing, it only moves pages. */
static int khop_check_evacuate(struct khopages_evacuate *arg,
			       void __user *uarg)
{
	int err = khop_get_arg(arg, sizeof(*arg), uarg);

	if (err)
		return err;
	if (arg->flags || arg->__pad || arg->pid <= 0 || arg->nr_moved ||
	    arg->nr_left || !khop_range_ok(arg->start, arg->len))
		return -EINVAL;
	if (!khop_may_checkpoint())
		return -EPERM;
	if (!kho_is_enabled())
		return -EOPNOTSUPP;
	return 0;
}

static long khop_abort(struct file *file, unsigned long uarg)
{
	struct khop_session *s = khop_own(file, KHOP_OUT);

	if (uarg)
		return -EINVAL;
	if (IS_ERR(s))
		return PTR_ERR(s);
	if (s->state != KHOPAGES_STATE_OPEN)
		return -EBUSY;	/* preserved: its Live Update session decides */
	khop_session_drop(s);
	return 0;
}

/*
 * OPEN on the file that holds outgoing session @s, never handed over
 * (``open``: not preserved, or its Live Update session was closed before
 * the kexec): the checkpoint is restored in place. The session becomes an
 * incoming one attached to this file, whose pages MAP copies. A folio that
 * cannot be recorded fails it with EIO: the session is dropped, its
 * memory given back.
 */
static int khop_take_back(struct file *file, struct khop_session *s)
{
	int err;

	if (!khop_session_allowed(s))
		return -EPERM;
	s->dir = KHOP_IN;
	s->state = KHOPAGES_STATE_CLAIMED;
	s->owner = NULL;
	err = khop_out_keep_local(s);
	khop_in_adopt(s);
	if (err)
		s->broken = true;
	err = khop_in_take(s);
	if (err) {
		file->private_data = NULL;
		khop_session_drop(s);
		return err;
	}
	s->nr_attached++;
	return 0;
}

static long khop_open_session(struct file *file,
			      struct khopages_name_arg *arg)
{
	struct khop_session *s = file->private_data;
	int err;

	if (!khop_may_checkpoint())
		return -EPERM;
	if (s && s->dir == KHOP_OUT && s->state == KHOPAGES_STATE_OPEN &&
	    !strcmp(s->name, arg->name))
		return khop_take_back(file, s);
	if (s)
		return -EBUSY;
	/* Received ones have a file already: this one attaches too. */
	s = khop_session_find(arg->name, KHOP_IN);
	if (!s || s->state == KHOPAGES_STATE_INCOMING)
		return -ENOENT;	/* its file not retrieved yet */
	if (!khop_session_allowed(s))
		return -EPERM;
	err = khop_in_take(s);
	if (err)
		return err;
	s->nr_attached++;
	file->private_data = s;
	return 0;
}

static int khop_check_map(struct khopages_map *arg, void __user *uarg)
{
	int err = khop_get_arg(arg, sizeof(*arg), uarg);

	if (err)
		return err;
	if (arg->flags || arg->__pad || arg->pid <= 0 || arg->nr_mapped ||
	    arg->nr_shared || arg->nr_copied ||
	    !khop_range_ok(arg->orig_va, arg->len) ||
	    !khop_range_ok(arg->dst_va, arg->len))
		return -EINVAL;
	return 0;
}

static long khop_map(struct file *file, struct khopages_map *arg)
{
	struct khop_session *s = khop_own(file, KHOP_IN);

	if (IS_ERR(s))
		return PTR_ERR(s);
	/* A process maps its own memory; only an administrator maps others'. */
	if (arg->pid != task_tgid_vnr(current) && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	return khop_map_session(s, arg);
}

static int khop_check_fill(struct khopages_fill_shmem *arg,
			   void __user *uarg)
{
	int err = khop_get_arg(arg, sizeof(*arg), uarg);

	if (err)
		return err;
	if (arg->flags || arg->nr_pages)
		return -EINVAL;
	return 0;
}

static int khop_check_stats(struct khopages_stats *arg, void __user *uarg)
{
	int err = khop_get_arg(arg, sizeof(*arg), uarg);

	if (err)
		return err;
	if (arg->flags || !khop_name_valid(arg->name))
		return -EINVAL;
	return 0;
}

/* What STATS and LIST report of a session. */
static void khop_info(struct khop_session *s,
		      struct khopages_session_info *info)
{
	khop_session_fill_info(s, info);
	if (s->dir == KHOP_IN)
		info->nr_released = khop_in_unmapped_pages(s);
}

static long khop_stats(struct khopages_stats *arg)
{
	struct khop_session *s;

	s = khop_session_find(arg->name, KHOP_IN) ?:
	    khop_session_find(arg->name, KHOP_OUT);
	if (!s)
		return -ENOENT;
	if (!khop_session_allowed(s))
		return -EPERM;
	khop_info(s, &arg->info);
	return 0;
}

/*
 * LIST, under khop_lock: the statistics of the sessions the caller may
 * see, at most @room of them, into a kernel buffer (copied out after the
 * lock is dropped). Returns how many the caller may see.
 */
static u32 khop_list_fill(struct khopages_session_info *buf, u32 room)
{
	struct khop_session *s;
	u32 n = 0;

	list_for_each_entry(s, &khop_sessions, node) {
		if (!khop_session_allowed(s))
			continue;
		if (n < room)
			khop_info(s, &buf[n]);
		n++;
	}
	return n;
}

static u32 khop_list_count(void)
{
	return khop_list_fill(NULL, 0);
}

static long khop_list(void __user *uarg)
{
	struct khopages_session_info *buf = NULL;
	struct khopages_list arg;
	size_t len;
	u8 __user *out;
	u32 room, n, i;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || arg.entry_size < KHOPAGES_SESSION_INFO_SIZE_V1 ||
	    arg.entry_size > PAGE_SIZE)
		return -EINVAL;
	err = khop_lock_cmd();
	if (err)
		return err;
	/* Room for what exists, whatever the caller claims to have. */
	room = min(arg.nr_sessions, khop_list_count());
	if (room) {
		buf = kvcalloc(room, sizeof(*buf), GFP_KERNEL);
		if (!buf) {
			mutex_unlock(&khop_lock);
			return -ENOMEM;
		}
	}
	n = khop_list_fill(buf, room);
	mutex_unlock(&khop_lock);

	/* No lock held: a slow or faulting user buffer stalls only us. */
	out = u64_to_user_ptr(arg.sessions);
	len = min_t(size_t, arg.entry_size, sizeof(*buf));
	for (i = 0; i < min(room, n) && !err; i++, out += arg.entry_size) {
		if (copy_to_user(out, &buf[i], len) ||
		    clear_user(out + len, arg.entry_size - len))
			err = -EFAULT;
	}
	kvfree(buf);
	if (err)
		return err;
	arg.nr_sessions = n;
	return khop_put_arg(uarg, &arg, sizeof(arg));
}

/*
 * Every behaviour KHOPAGES_IOC_API can promise, all of them implemented;
 * LUO only when Live Update took the file handler (liveupdate=on).
 */
#define KHOP_FEATURES	(KHOPAGES_FEATURE_LARGE_FOLIOS |		\
			 KHOPAGES_FEATURE_SAME_KERNEL |		\
			 KHOPAGES_FEATURE_OWNER)

static u64 khop_features(void)
{
	return KHOP_FEATURES | (khop_luo_enabled() ? KHOPAGES_FEATURE_LUO : 0);
}

#define KHOP_IOC_BIT(cmd)	BIT_ULL(_IOC_NR(cmd) - KHOPAGES_IOC_FIRST)
#define KHOP_IOCTLS	(KHOP_IOC_BIT(KHOPAGES_IOC_CREATE) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_PRESERVE) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_ABORT) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_OPEN) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_MAP) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_STATS) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_LIST) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_EVACUATE) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_API) |		\
			 KHOP_IOC_BIT(KHOPAGES_IOC_FILL_SHMEM))

/* Constant answers: no lock, no session. */
static long khop_api(void __user *uarg)
{
	struct khopages_api arg;
	u64 need;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || arg.ioctls)
		return -EINVAL;
	need = arg.features;
	arg.features = khop_features();
	arg.ioctls = KHOP_IOCTLS;
	err = khop_put_arg(uarg, &arg, sizeof(arg));
	if (err)
		return err;
	return need & ~arg.features ? -EOPNOTSUPP : 0;
}

/* The argument of every command that takes a struct, copied in. */
union khop_args {
	struct khopages_name_arg name;
	struct khopages_preserve preserve;
	struct khopages_evacuate evacuate;
	struct khopages_map map;
	struct khopages_stats stats;
	struct khopages_fill_shmem fill;
};

/* Copy in and check the argument of @cmd (no lock held). */
static int khop_get_cmd_arg(unsigned int cmd, union khop_args *a,
			    void __user *uarg)
{
	switch (cmd) {
	case KHOPAGES_IOC_CREATE:
	case KHOPAGES_IOC_OPEN:
		return khop_get_name_arg(&a->name, uarg, 0);
	case KHOPAGES_IOC_PRESERVE:
		return khop_check_preserve(&a->preserve, uarg);
	case KHOPAGES_IOC_EVACUATE:
		return khop_check_evacuate(&a->evacuate, uarg);
	case KHOPAGES_IOC_MAP:
		return khop_check_map(&a->map, uarg);
	case KHOPAGES_IOC_STATS:
		return khop_check_stats(&a->stats, uarg);
	case KHOPAGES_IOC_FILL_SHMEM:
		return khop_check_fill(&a->fill, uarg);
	default:
		return 0;
	}
}

/* Run @cmd under khop_lock; the argument is in @a, copied out later. */
static long khop_run_cmd(struct file *file, unsigned int cmd,
			 union khop_args *a, unsigned long uarg)
{
	switch (cmd) {
	case KHOPAGES_IOC_CREATE:
		return khop_create(file, &a->name);
	case KHOPAGES_IOC_PRESERVE:
		return khop_preserve(file, &a->preserve);
	case KHOPAGES_IOC_ABORT:
		return khop_abort(file, uarg);
	case KHOPAGES_IOC_OPEN:
		return khop_open_session(file, &a->name);
	case KHOPAGES_IOC_MAP:
		return khop_map(file, &a->map);
	case KHOPAGES_IOC_STATS:
		return khop_stats(&a->stats);
	case KHOPAGES_IOC_EVACUATE:
		return khop_scratch_evacuate(&a->evacuate);
	default:
		return -ENOTTY;
	}
}

static long khop_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	union khop_args a;
	size_t out_size;
	long ret, perr;

	switch (cmd) {
	case KHOPAGES_IOC_API:
		return khop_api(uarg);
	case KHOPAGES_IOC_LIST:
		return khop_list(uarg);
	case KHOPAGES_IOC_PRESERVE:
		out_size = sizeof(a.preserve);
		break;
	case KHOPAGES_IOC_EVACUATE:
		out_size = sizeof(a.evacuate);
		break;
	case KHOPAGES_IOC_MAP:
		out_size = sizeof(a.map);
		break;
	case KHOPAGES_IOC_STATS:
		out_size = sizeof(a.stats);
		break;
	case KHOPAGES_IOC_FILL_SHMEM:
		out_size = sizeof(a.fill);
		break;
	case KHOPAGES_IOC_CREATE:
	case KHOPAGES_IOC_ABORT:
	case KHOPAGES_IOC_OPEN:
		out_size = 0;
		break;
	default:
		return -ENOTTY;
	}
	/* User memory is read and written with no lock held. */
	ret = khop_get_cmd_arg(cmd, &a, uarg);
	if (ret)
		return ret;
	if (cmd == KHOPAGES_IOC_FILL_SHMEM) {
		/* No session: khop_lock is not needed. */
		ret = khop_fill_shmem(&a.fill);
	} else {
		ret = khop_lock_cmd();
		if (ret)
			return ret;
		ret = khop_run_cmd(file, cmd, &a, arg);
		mutex_unlock(&khop_lock);
	}
	if (!out_size)
		return ret;
	/* Only MAP reports on failure too. */
	if (ret && cmd != KHOPAGES_IOC_MAP)
		return ret;
	perr = khop_put_arg(uarg, &a, out_size);
	return ret ?: perr;
}

/* misc_open() leaves the miscdevice there: a new file has no session. */
static int khop_open(struct inode *inode, struct file *file)
{
	file->private_data = NULL;
	return 0;
}

/*
 * Closing the file of an outgoing session aborts it (Live Update holds the
 * file of a preserved one, so it is never closed while preserved). The
 * last file attached to an incoming session releases it.
 */
static int khop_release(struct inode *inode, struct file *file)
{
	struct khop_session *s;

	mutex_lock(&khop_lock);
	s = file->private_data;
	if (s && (s->dir == KHOP_OUT || !--s->nr_attached))
		khop_session_drop(s);
	mutex_unlock(&khop_lock);
	return 0;
}

static const struct file_operations khop_fops = {
	.owner = THIS_MODULE,
	.open = khop_open,
	.unlocked_ioctl = khop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = khop_release,
};

static struct miscdevice khop_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "khopages",
	.fops = &khop_fops,
	.mode = 0600,
};

static int __init khop_init(void)
{
	int err;

	err = misc_register(&khop_dev);
	if (err)
		return err;
	khop_debugfs_init();
	khop_luo_init(&khop_fops);
	return 0;
}
device_initcall(khop_init);
