/* SPDX-License-Identifier: GPL-2.0 */
/* The test-only knobs (corrupt.c), built with CONFIG_KHOPAGES_TEST_CORRUPT. */
#ifndef _KHOPAGES_CORRUPT_H
#define _KHOPAGES_CORRUPT_H

struct dentry;

#ifdef CONFIG_KHOPAGES_TEST_CORRUPT
void khop_corrupt_init(struct dentry *dir);
#else
static inline void khop_corrupt_init(struct dentry *dir) { }
#endif

#endif /* _KHOPAGES_CORRUPT_H */
