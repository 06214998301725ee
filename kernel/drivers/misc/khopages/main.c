// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/khopages: hand the anonymous memory of checkpointed processes over
 * to the next kernel through KHO and map it back after kexec, zero-copy.
 *
 * This file is the user interface: argument checks, rights, and the
 * binding of sessions to open files. A file holds at most one session:
 * the outgoing one it created (until COMMIT hands it to the kernel) or the
 * incoming one it opened. Several files may open the same incoming session
 * (each restored process maps its own memory); FINISH waits for the others
 * to close.
 *
 * Locking: khop_lock (session.c) serialises every command, and the
 * forwarding of unclaimed sessions at kexec (the reboot notifier).
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kexec.h>
#include <linux/kexec_handover.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/notifier.h>
#include <linux/reboot.h>
#include <linux/uaccess.h>

#include "khopages.h"

#define CREATE_TRACE_POINTS
#include "khopages_trace.h"

static bool khop_may_checkpoint(void)
{
	return capable(CAP_CHECKPOINT_RESTORE) || capable(CAP_SYS_ADMIN);
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

static long khop_create(struct file *file, void __user *uarg)
{
	struct khopages_name_arg arg;
	struct khop_session *s;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || !khop_name_valid(arg.name))
		return -EINVAL;
	if (!khop_may_checkpoint())
		return -EPERM;
	if (!kho_is_enabled())
		return -EOPNOTSUPP;
	if (file->private_data)
		return -EBUSY;
	if (khop_session_find(arg.name, KHOP_OUT))
		return -EEXIST;
	s = khop_session_alloc(arg.name, KHOP_OUT);
	if (!s)
		return -ENOMEM;
	err = khop_table_init(&s->table);
	if (err) {
		khop_session_free(s);
		return err;
	}
	s->state = KHOPAGES_STATE_OPEN;
	s->owner = file;
	file->private_data = s;
	list_add_tail(&s->node, &khop_sessions);
	return 0;
}

static struct khop_session *khop_own(struct file *file, enum khop_dir dir)
{
	struct khop_session *s = file->private_data;

	return s && s->dir == dir ? s : NULL;
}

static long khop_preserve(struct file *file, void __user *uarg)
{
	struct khopages_preserve arg;
	struct khop_session *s;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || arg.__pad || arg.pid <= 0 || arg.nr_pages ||
	    arg.nr_folios || arg.nr_moved || !khop_range_ok(arg.start, arg.len))
		return -EINVAL;
	/* Rights are the caller's, not those of whoever opened the file. */
	if (!khop_may_checkpoint())
		return -EPERM;
	s = khop_own(file, KHOP_OUT);
	if (!s)
		return -ENOENT;
	if (s->state != KHOPAGES_STATE_OPEN)
		return -EBUSY;
	err = khop_out_preserve(s, &arg);
	if (err)
		return err;
	return khop_put_arg(uarg, &arg, sizeof(arg));
}

/* Needs no session: it holds nothing, it only moves pages. */
static long khop_evacuate(void __user *uarg)
{
	struct khopages_evacuate arg;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || arg.__pad || arg.pid <= 0 || arg.nr_moved ||
	    arg.nr_left || !khop_range_ok(arg.start, arg.len))
		return -EINVAL;
	if (!khop_may_checkpoint())
		return -EPERM;
	if (!kho_is_enabled())
		return -EOPNOTSUPP;
	err = khop_scratch_evacuate(&arg);
	if (err)
		return err;
	return khop_put_arg(uarg, &arg, sizeof(arg));
}

static long khop_commit(struct file *file, unsigned long uarg)
{
	struct khop_session *s = khop_own(file, KHOP_OUT);
	int err;

	if (uarg)
		return -EINVAL;
	if (!s)
		return -ENOENT;
	if (s->state != KHOPAGES_STATE_OPEN)
		return -EBUSY;
	err = khop_out_commit(s);
	trace_khopages_commit(s->name, s->info.nr_pages, s->info.nr_folios,
			      s->info.meta_bytes, err);
	/*
	 * The kernel owns it now: closing the file no longer aborts it, and
	 * the file can only report EBUSY until it is closed.
	 */
	return err;
}

static void khop_drop(struct khop_session *s)
{
	/* The file that created it (even after COMMIT) forgets it. */
	if (s->owner)
		s->owner->private_data = NULL;
	list_del_init(&s->node);
	trace_khopages_release(s->name, s->state, s->info.nr_pages);
	if (s->dir == KHOP_OUT) {
		khop_out_release(s);
	} else {
		/* Out of the subtree before its pages stop being preserved. */
		if (s->forwarded && khop_publish())
			pr_warn("khopages: %s stays in the handover; the next kernel will refuse it\n",
				s->name);
		khop_in_finish(s);
	}
	khop_session_free(s);
}

static long khop_abort(struct file *file, unsigned long uarg)
{
	struct khop_session *s = khop_own(file, KHOP_OUT);

	if (uarg)
		return -EINVAL;
	if (!s)
		return -ENOENT;
	if (s->state != KHOPAGES_STATE_OPEN)
		return -EBUSY;	/* committed: FINISH_OUTGOING withdraws it */
	khop_drop(s);
	return 0;
}

/*
 * OPEN of a session committed in this very kernel (no kexec since): it is
 * no longer handed over and becomes an incoming session whose pages MAP
 * copies. Lets a checkpoint be restored in place, e.g. when the upgrade
 * is called off.
 */
static struct khop_session *khop_loopback(const char *name)
{
	struct khop_session *s = khop_session_find(name, KHOP_OUT);
	int err;

	if (!s || s->state != KHOPAGES_STATE_COMMITTED)
		return NULL;
	if (s->owner)
		s->owner->private_data = NULL;
	s->owner = NULL;
	err = khop_out_keep_local(s);
	s->dir = KHOP_IN;
	s->state = KHOPAGES_STATE_INCOMING;
	s->claimed = true;
	if (khop_publish())
		pr_warn("khopages: could not withdraw %s from the handover\n",
			name);
	khop_in_adopt(s);
	if (err)
		s->broken = true;	/* a folio is missing: OPEN gives EIO */
	return s;
}

static long khop_open_session(struct file *file, void __user *uarg)
{
	struct khopages_name_arg arg;
	struct khop_session *s;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || !khop_name_valid(arg.name))
		return -EINVAL;
	if (!khop_may_checkpoint())
		return -EPERM;
	if (file->private_data)
		return -EBUSY;
	s = khop_session_find(arg.name, KHOP_IN) ?: khop_loopback(arg.name);
	if (!s)
		return -ENOENT;
	/* Claimed here: no longer handed over again at the next kexec. */
	err = khop_in_unforward(s);
	if (err)
		return err;
	s->claimed = true;
	err = khop_in_take(s);
	if (err)
		return err;
	s->nr_attached++;
	s->state = KHOPAGES_STATE_CLAIMED;
	file->private_data = s;
	return 0;
}

static long khop_map(struct file *file, void __user *uarg)
{
	struct khopages_map arg;
	struct khop_session *s;
	int err, perr;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || arg.__pad || arg.pid <= 0 || arg.nr_mapped ||
	    arg.nr_shared || arg.nr_copied ||
	    !khop_range_ok(arg.orig_va, arg.len) ||
	    !khop_range_ok(arg.dst_va, arg.len))
		return -EINVAL;
	s = khop_own(file, KHOP_IN);
	if (!s)
		return -ENOENT;
	err = khop_in_map(s, &arg);
	/* Counters are reported even on failure: they say what was done. */
	perr = khop_put_arg(uarg, &arg, sizeof(arg));
	return err ?: perr;
}

static long khop_finish(struct file *file, void __user *uarg)
{
	struct khopages_name_arg arg;
	struct khop_session *s;
	unsigned int attached_here;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if ((arg.flags & ~KHOPAGES_FINISH_OUTGOING) ||
	    !khop_name_valid(arg.name))
		return -EINVAL;
	if (!khop_may_checkpoint())
		return -EPERM;
	if (arg.flags & KHOPAGES_FINISH_OUTGOING) {
		s = khop_session_find(arg.name, KHOP_OUT);
		if (s && s->state != KHOPAGES_STATE_COMMITTED)
			return -EBUSY;	/* its creator aborts it */
	} else {
		s = khop_session_find(arg.name, KHOP_IN);
		attached_here = file->private_data == s;
		if (s && s->nr_attached > attached_here)
			return -EBUSY;	/* another file still maps from it */
	}
	if (!s)
		return -ENOENT;
	if (file->private_data == s)
		file->private_data = NULL;
	khop_drop(s);
	return 0;
}

static long khop_stats(void __user *uarg)
{
	struct khopages_stats arg;
	struct khop_session *s;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || !khop_name_valid(arg.name))
		return -EINVAL;
	s = khop_session_find(arg.name, KHOP_IN) ?:
	    khop_session_find(arg.name, KHOP_OUT);
	if (!s)
		return -ENOENT;
	khop_session_fill_info(s, &arg.info);
	return khop_put_arg(uarg, &arg, sizeof(arg));
}

static long khop_list(void __user *uarg)
{
	struct khopages_session_info __user *out;
	struct khopages_session_info info;
	struct khopages_list arg;
	struct khop_session *s;
	u32 n = 0;
	int err;

	err = khop_get_arg(&arg, sizeof(arg), uarg);
	if (err)
		return err;
	if (arg.flags || arg.__pad)
		return -EINVAL;
	out = u64_to_user_ptr(arg.sessions);
	list_for_each_entry(s, &khop_sessions, node) {
		if (n < arg.nr_sessions) {
			khop_session_fill_info(s, &info);
			if (copy_to_user(&out[n], &info, sizeof(info)))
				return -EFAULT;
		}
		n++;
	}
	arg.nr_sessions = n;
	return khop_put_arg(uarg, &arg, sizeof(arg));
}

static long khop_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	long ret;

	mutex_lock(&khop_lock);
	switch (cmd) {
	case KHOPAGES_IOC_CREATE:
		ret = khop_create(file, uarg);
		break;
	case KHOPAGES_IOC_PRESERVE:
		ret = khop_preserve(file, uarg);
		break;
	case KHOPAGES_IOC_COMMIT:
		ret = khop_commit(file, arg);
		break;
	case KHOPAGES_IOC_ABORT:
		ret = khop_abort(file, arg);
		break;
	case KHOPAGES_IOC_OPEN:
		ret = khop_open_session(file, uarg);
		break;
	case KHOPAGES_IOC_MAP:
		ret = khop_map(file, uarg);
		break;
	case KHOPAGES_IOC_FINISH:
		ret = khop_finish(file, uarg);
		break;
	case KHOPAGES_IOC_STATS:
		ret = khop_stats(uarg);
		break;
	case KHOPAGES_IOC_LIST:
		ret = khop_list(uarg);
		break;
	case KHOPAGES_IOC_EVACUATE:
		ret = khop_evacuate(uarg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&khop_lock);
	return ret;
}

/* misc_open() leaves the miscdevice there: a new file has no session. */
static int khop_open(struct inode *inode, struct file *file)
{
	file->private_data = NULL;
	return 0;
}

/* Closing before COMMIT aborts; closing an opened session detaches it. */
static int khop_release(struct inode *inode, struct file *file)
{
	struct khop_session *s;

	mutex_lock(&khop_lock);
	s = file->private_data;
	if (s && s->dir == KHOP_OUT && s->state == KHOPAGES_STATE_OPEN)
		khop_drop(s);
	else if (s && s->dir == KHOP_OUT)
		s->owner = NULL;	/* committed: handed over at kexec */
	else if (s && !--s->nr_attached)
		s->state = KHOPAGES_STATE_INCOMING;
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

/*
 * kexec: sessions received at boot that nobody claimed go on to the next
 * kernel. kernel_kexec() calls the reboot notifiers before it shuts the
 * devices down; KHO preservations made until the jump are handed over.
 * Any other restart drops them with the rest of memory.
 */
static int khop_reboot(struct notifier_block *nb, unsigned long action,
		       void *cmd)
{
	if (action != SYS_RESTART || !kexec_in_progress)
		return NOTIFY_DONE;
	mutex_lock(&khop_lock);
	khop_in_forward_unclaimed();
	mutex_unlock(&khop_lock);
	return NOTIFY_DONE;
}

static struct notifier_block khop_reboot_nb = {
	.notifier_call = khop_reboot,
};

static int __init khop_init(void)
{
	int err;

	khop_in_load();
	err = register_reboot_notifier(&khop_reboot_nb);
	if (err)
		return err;
	err = misc_register(&khop_dev);
	if (err) {
		unregister_reboot_notifier(&khop_reboot_nb);
		return err;
	}
	khop_debugfs_init();
	return 0;
}
device_initcall(khop_init);
