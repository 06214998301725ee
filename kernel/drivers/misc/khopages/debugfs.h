/* SPDX-License-Identifier: GPL-2.0 */
/* The debugfs view of the sessions (debugfs.c). */
#ifndef _KHOPAGES_DEBUGFS_H
#define _KHOPAGES_DEBUGFS_H

void khop_debugfs_init(void);

#endif /* _KHOPAGES_DEBUGFS_H */
