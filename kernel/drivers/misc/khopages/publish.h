/* SPDX-License-Identifier: GPL-2.0 */
/* The published subtree (publish.c) and one session's own description. */
#ifndef _KHOPAGES_PUBLISH_H
#define _KHOPAGES_PUBLISH_H

#include <linux/types.h>

struct dentry;
struct khop_session;

int khop_publish(void);
bool khop_published(const struct khop_session *s);
void *khop_published_blob(size_t *size);
void *khop_publish_session(struct khop_session *s, size_t *size);

#ifdef CONFIG_KHOPAGES_TEST_CORRUPT
void khop_publish_fault_init(struct dentry *dir);
#else
static inline void khop_publish_fault_init(struct dentry *dir) { }
#endif

#endif /* _KHOPAGES_PUBLISH_H */
