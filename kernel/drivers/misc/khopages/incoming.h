/* SPDX-License-Identifier: GPL-2.0 */
/* Incoming sessions (incoming.c): what the previous kernel handed over. */
#ifndef _KHOPAGES_INCOMING_H
#define _KHOPAGES_INCOMING_H

#include <linux/types.h>

struct folio;
struct khop_session;

struct folio *khop_in_blob(phys_addr_t phys);
struct khop_session *khop_in_receive(phys_addr_t phys, const char **why);
bool khop_in_readable(const void *fdt, const char **compat);
int khop_in_take(struct khop_session *s);
int khop_in_adopt(struct khop_session *s);
int khop_in_restore(struct khop_session *s, unsigned long pfn,
		    unsigned int order);
struct page *khop_in_copy_of(unsigned long pfn);
void khop_in_remember_copy(unsigned long pfn, struct folio *copy);
u64 khop_in_unmapped_pages(struct khop_session *s);
void khop_in_finish(struct khop_session *s);

#endif /* _KHOPAGES_INCOMING_H */
