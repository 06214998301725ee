/* SPDX-License-Identifier: GPL-2.0 */
/* The description of a session handed over (publish.c). */
#ifndef _KHOPAGES_PUBLISH_H
#define _KHOPAGES_PUBLISH_H

#include <linux/types.h>

struct dentry;
struct khop_session;

void *khop_publish_session(struct khop_session *s, size_t *size);

#ifdef CONFIG_KHOPAGES_TEST_CORRUPT
void khop_publish_fault_init(struct dentry *dir);
#else
static inline void khop_publish_fault_init(struct dentry *dir) { }
#endif

#endif /* _KHOPAGES_PUBLISH_H */
