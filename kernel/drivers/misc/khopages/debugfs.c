// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/khopages/sessions: every session with its statistics,
 * one block per session, for people (tools use the LIST/STATS ioctls).
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "corrupt.h"
#include "debugfs.h"
#include "session.h"

static const char *const khop_state_names[] = {
	[KHOPAGES_STATE_OPEN] = "open",
	[KHOPAGES_STATE_INCOMING] = "incoming",
	[KHOPAGES_STATE_CLAIMED] = "claimed",
	[KHOPAGES_STATE_PRESERVED] = "preserved",
	[KHOPAGES_STATE_RETRIEVED] = "retrieved",
};

static void khop_show_session(struct seq_file *m, struct khop_session *s)
{
	struct khopages_session_info info;
	unsigned int i;

	khop_session_fill_info(s, &info);
	seq_printf(m, "session %s\n", info.name);
	seq_printf(m, "  direction   %s\n", s->dir == KHOP_OUT ? "outgoing" : "incoming");
	seq_printf(m, "  state       %s\n", info.state < ARRAY_SIZE(khop_state_names) &&
		   khop_state_names[info.state] ? khop_state_names[info.state] : "?");
	seq_puts(m, "  pids       ");
	for (i = 0; i < s->nr_pids; i++)
		seq_printf(m, " %u", s->pids[i]);
	seq_putc(m, '\n');
	seq_printf(m, "  pages       %llu\n", info.nr_pages);
	seq_printf(m, "  folios      %llu\n", info.nr_folios);
	seq_printf(m, "  meta_bytes  %llu\n", info.meta_bytes);
	seq_printf(m, "  moved       %llu\n", info.nr_moved);
	seq_printf(m, "  mapped      %llu\n", info.nr_mapped);
	seq_printf(m, "  shared      %llu\n", info.nr_shared);
	seq_printf(m, "  copied      %llu\n", info.nr_copied);
	for (i = 0; i < KHOPAGES_MAX_ORDERS; i++)
		if (info.folios_by_order[i])
			seq_printf(m, "  order%-2u     %llu\n", i,
				   info.folios_by_order[i]);
}

static int khop_sessions_show(struct seq_file *m, void *unused)
{
	struct khop_session *s;

	mutex_lock(&khop_lock);
	list_for_each_entry(s, &khop_sessions, node)
		khop_show_session(m, s);
	mutex_unlock(&khop_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(khop_sessions);

/**
 * khop_debugfs_init() - create /sys/kernel/debug/khopages/sessions.
 *
 * debugfs failures are not fatal: the ioctls report the same figures.
 */
void khop_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("khopages", NULL);

	debugfs_create_file("sessions", 0400, dir, NULL, &khop_sessions_fops);
	khop_corrupt_init(dir);
}
