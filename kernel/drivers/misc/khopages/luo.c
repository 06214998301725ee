// SPDX-License-Identifier: GPL-2.0
/*
 * khopages files in Live Update sessions: the Live Update Orchestrator
 * (kernel/liveupdate/luo_*.c, /dev/liveupdate) carries the file of an
 * outgoing session across the kexec, the way mm/memfd_luo.c carries a
 * memfd, and gives it back as a file attached to the received session.
 *
 * preserve hands the session over (its folios and table preserved
 * through KHO) and describes it in one page of preserved memory (a tree
 * holding that session only), whose address Live Update hands to the next
 * kernel. unpreserve, when the Live Update session is closed before the
 * kexec, takes all of it back. Nothing is left to do at the kexec itself:
 * once preserved, a session refuses every change, so there is no freeze
 * step.
 *
 * retrieve validates every word of the description (nothing from the
 * previous kernel is trusted), restores the session's folios and returns
 * a new khopages file attached to it. Its last close releases the
 * session. A failed retrieve is final in Live Update, so it fails only for
 * what cannot change: a description or table that does not hold.
 *
 * Context: every callback runs under Live Update's own locks and takes
 * khop_lock inside them; khopages never calls Live Update under khop_lock.
 */

/**
 * DOC: khopages and Live Update
 *
 * The compatible string of a khopages file in a Live Update session is
 * "khopages-v3": its serialized data is the physical address of a tree
 * in the layout of include/linux/kho/abi/khopages.h (root compatible
 * "khopages-v1"), holding one session node. The handler's File-Lifecycle-
 * Bound data ("khopages-list-v1", flb.c) lists every such tree handed
 * over, so that the next kernel knows all the frames handed over before
 * it gives any back.
 *
 * A file Live Update finishes without anybody retrieving it gives its
 * session back: the pages no other session names are freed. A file whose
 * description is refused keeps its pages reserved until the next kexec or
 * reboot: nothing tells whose frames a bad description names.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/anon_inodes.h>
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/liveupdate.h>

#include "flb.h"
#include "incoming.h"
#include "khopages_trace.h"
#include "lifecycle.h"
#include "luo.h"
#include "outgoing.h"
#include "publish.h"
#include "session.h"

static bool khop_luo_registered;

/* The operations of khopages files (main.c), to know and make them. */
static const struct file_operations *khop_luo_fops;

static bool khop_luo_can_preserve(struct liveupdate_file_handler *handler,
				  struct file *file)
{
	return file->f_op == khop_luo_fops;
}

/* The outgoing session of a file, checked as a command on it would be. */
static int khop_luo_session(struct file *file, struct khop_session **out)
{
	struct khop_session *s = file->private_data;

	if (!s)
		return -EINVAL;		/* CREATE first */
	if (s->dir != KHOP_OUT)
		return -EOPNOTSUPP;	/* received sessions are not handed on */
	if (!khop_session_allowed(s))
		return -EPERM;
	if (s->state != KHOPAGES_STATE_OPEN)
		return -EBUSY;
	*out = s;
	return 0;
}

static int khop_luo_preserve(struct liveupdate_file_op_args *args)
{
	struct khop_session *s;
	void *blob;
	int err;

	if (mutex_lock_killable(&khop_lock))
		return -EINTR;
	err = khop_luo_session(args->file, &s);
	if (err)
		goto out;
	err = khop_out_hand_over(s);
	if (err)
		goto trace;
	blob = khop_publish_session(s, &s->luo_blob_size);
	err = PTR_ERR_OR_ZERO(blob);
	if (!err) {
		err = khop_flb_add(virt_to_phys(blob));
		if (err)
			kho_unpreserve_free(blob);
	}
	if (err) {
		khop_out_withdraw(s);
		goto trace;
	}
	s->luo = true;
	s->state = KHOPAGES_STATE_PRESERVED;
	s->luo_blob = blob;
	args->serialized_data = virt_to_phys(blob);
	args->private_data = blob;
	pr_info("session %s preserved for Live Update: %llu pages in %llu folios\n",
		s->name, s->info.nr_pages, s->info.nr_folios);
trace:
	trace_khopages_hand_over(s->name, s->info.nr_pages,
				 s->info.nr_folios, s->info.meta_bytes, err);
out:
	mutex_unlock(&khop_lock);
	return err;
}

static void khop_luo_unpreserve(struct liveupdate_file_op_args *args)
{
	struct khop_session *s;

	mutex_lock(&khop_lock);
	khop_flb_del(args->serialized_data);
	kho_unpreserve_free(args->private_data);
	s = args->file->private_data;
	if (s && s->luo && s->dir == KHOP_OUT) {
		khop_out_withdraw(s);
		s->luo = false;
		s->luo_blob = NULL;
		pr_info("session %s is no longer preserved for Live Update\n",
			s->name);
	}
	mutex_unlock(&khop_lock);
}

static int khop_luo_retrieve(struct liveupdate_file_op_args *args)
{
	struct khop_session *s;
	struct file *file;
	const char *why = NULL;
	int err;

	khop_flb_read_now();
	mutex_lock(&khop_lock);
	s = khop_flb_take(args->serialized_data, &why);
	if (IS_ERR(s)) {
		err = PTR_ERR(s);
		pr_err("Live Update file refused: %s\n", why);
		goto out;
	}
	err = khop_in_take(s);
	if (!err) {
		/* A file of /dev/khopages on which OPEN attached @s. */
		file = anon_inode_getfile("[khopages]", khop_luo_fops, s,
					  O_RDWR);
		err = PTR_ERR_OR_ZERO(file);
	}
	if (err) {
		pr_err("session %s cannot be retrieved (error %d)\n",
		       s->name, err);
		khop_session_drop(s);
		goto out;
	}
	s->nr_attached++;
	s->state = KHOPAGES_STATE_RETRIEVED;
	args->file = file;
out:
	mutex_unlock(&khop_lock);
	return err;
}

/*
 * A retrieved file owns its session (its last close releases it), and a
 * refused one left nothing behind. A file nobody retrieved gives its
 * session back: see "khopages and Live Update".
 */
static void khop_luo_finish(struct liveupdate_file_op_args *args)
{
	if (args->retrieve_status)
		return;
	khop_flb_read_now();
	mutex_lock(&khop_lock);
	khop_flb_give_back(args->serialized_data);
	mutex_unlock(&khop_lock);
}

static const struct liveupdate_file_ops khop_luo_ops = {
	.can_preserve = khop_luo_can_preserve,
	.preserve = khop_luo_preserve,
	.unpreserve = khop_luo_unpreserve,
	.retrieve = khop_luo_retrieve,
	.finish = khop_luo_finish,
	.owner = THIS_MODULE,
};

static struct liveupdate_file_handler khop_luo_handler = {
	.ops = &khop_luo_ops,
	.compatible = KHOPAGES_LUO_COMPATIBLE,
};

/**
 * khop_luo_enabled() - can khopages files go into Live Update sessions?
 *
 * Return: true once the file handler is registered (the kernel runs with
 * liveupdate=on).
 */
bool khop_luo_enabled(void)
{
	return khop_luo_registered;
}

/**
 * khop_luo_init() - register the khopages file handler with Live Update.
 * @fops: the file operations of khopages files: only such files are
 *        preserved, and a retrieved session comes back as one.
 *
 * Without Live Update (liveupdate=on not given, or no KHO) nothing can
 * be handed over: sessions can still be created, preserved and restored
 * in place.
 */
void khop_luo_init(const struct file_operations *fops)
{
	int err;

	khop_luo_fops = fops;
	err = liveupdate_register_file_handler(&khop_luo_handler);
	if (err) {
		if (err != -EOPNOTSUPP)
			pr_err("cannot register with Live Update (error %d)\n",
			       err);
		return;
	}
	err = khop_flb_init(&khop_luo_handler);
	if (err) {
		pr_err("cannot register the list of sessions with Live Update (error %d)\n",
		       err);
		liveupdate_unregister_file_handler(&khop_luo_handler);
		return;
	}
	khop_luo_registered = true;
	/* What the previous kernel handed over is listed from boot on. */
	khop_flb_read_now();
}
