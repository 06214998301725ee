// SPDX-License-Identifier: GPL-2.0
/*
 * khopages files in Live Update sessions: the Live Update Orchestrator
 * (kernel/liveupdate/luo_*.c, /dev/liveupdate) carries the file of an
 * outgoing session across the kexec, the way mm/memfd_luo.c carries a
 * memfd, and gives it back as a file attached to the received session.
 *
 * preserve commits the session and describes it in one page of preserved
 * memory (a tree in the published subtree's layout, holding that session
 * only), whose address Live Update hands to the next kernel. unpreserve,
 * when the Live Update session is closed before the kexec, takes the
 * commit back. Nothing is left to do at the kexec itself: once preserved,
 * a session refuses every change, so there is no freeze step.
 *
 * retrieve validates the description as a session from the published
 * subtree is validated (nothing from the previous kernel is trusted),
 * restores the session's folios and returns a new khopages file attached
 * to it. Its last close releases the session. A failed retrieve is final
 * in Live Update, so it fails only for what cannot change: a description
 * or table that does not hold.
 *
 * Context: every callback runs under Live Update's own locks and takes
 * khop_lock inside them; khopages never calls Live Update under khop_lock.
 */

/**
 * DOC: khopages and Live Update
 *
 * The compatible string of a khopages file in a Live Update session is
 * "khopages-v2": its serialized data is the physical address of a tree
 * with the layout of the published subtree ("khopages-v1" nodes), holding
 * one session node.
 *
 * A file Live Update received but nobody retrieved before the Live Update
 * session was finished is not read: its pages stay reserved until the next
 * kexec or reboot, because another handed-over session may still name some
 * of its frames and this kernel has not read that one yet.
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

#include "incoming.h"
#include "khopages_trace.h"
#include "lifecycle.h"
#include "luo.h"
#include "outgoing.h"
#include "publish.h"
#include "session.h"

#define KHOP_LUO_COMPATIBLE	"khopages-v2"

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
	s->luo = true;
	err = khop_out_commit(s);
	if (err) {
		s->luo = false;
		goto trace;
	}
	blob = khop_publish_session(s, &s->luo_blob_size);
	if (IS_ERR(blob)) {
		err = PTR_ERR(blob);
		khop_out_uncommit(s);
		s->luo = false;
		goto trace;
	}
	s->state = KHOPAGES_STATE_PRESERVED;
	s->luo_blob = blob;
	args->serialized_data = virt_to_phys(blob);
	args->private_data = blob;
	pr_info("session %s preserved for Live Update: %llu pages in %llu folios\n",
		s->name, s->info.nr_pages, s->info.nr_folios);
trace:
	/* A commit all the same, into Live Update rather than the subtree. */
	trace_khopages_commit(s->name, s->info.nr_pages, s->info.nr_folios,
			      s->info.meta_bytes, err);
out:
	mutex_unlock(&khop_lock);
	return err;
}

static void khop_luo_unpreserve(struct liveupdate_file_op_args *args)
{
	struct khop_session *s;

	mutex_lock(&khop_lock);
	kho_unpreserve_free(args->private_data);
	s = args->file->private_data;
	if (s && s->luo && s->dir == KHOP_OUT) {
		khop_out_uncommit(s);
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

	mutex_lock(&khop_lock);
	s = khop_in_receive(args->serialized_data, &why);
	if (IS_ERR(s)) {
		err = PTR_ERR(s);
		pr_err("Live Update file refused: %s\n",
		       err == -ENOMEM ? "out of memory" : why);
		goto out;
	}
	s->claimed = true;
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
 * refused one left nothing behind. A file nobody retrieved keeps its
 * pages reserved: see "khopages and Live Update".
 */
static void khop_luo_finish(struct liveupdate_file_op_args *args)
{
	if (!args->retrieve_status)
		pr_warn("a khopages file was never retrieved from its Live Update session: its pages stay reserved until the next kexec or reboot\n");
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
	.compatible = KHOP_LUO_COMPATIBLE,
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
 * Without Live Update (liveupdate=on not given, or no KHO) the driver
 * works as before, through COMMIT and OPEN only.
 */
void khop_luo_init(const struct file_operations *fops)
{
	int err;

	khop_luo_fops = fops;
	err = liveupdate_register_file_handler(&khop_luo_handler);

	if (!err)
		khop_luo_registered = true;
	else if (err != -EOPNOTSUPP)
		pr_err("cannot register with Live Update (error %d)\n", err);
}
