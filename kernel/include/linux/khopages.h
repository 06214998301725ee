/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khopages: memory-management helpers the driver needs from mm/ (they use
 * mm-internal functions), and the driver's user ABI.
 */
#ifndef _LINUX_KHOPAGES_H
#define _LINUX_KHOPAGES_H

#include <uapi/linux/khopages.h>

struct folio;
struct list_head;
struct mm_struct;
struct page;
struct vm_area_struct;

struct page *khopages_peek(struct vm_area_struct *vma, unsigned long addr,
			   unsigned int order);
int khopages_map_folio(struct vm_area_struct *vma, unsigned long addr,
		       struct folio *folio);
int khopages_map_folios(struct vm_area_struct *vma, unsigned long addr,
			struct folio **folios, unsigned int nr,
			unsigned int *done);
unsigned int khopages_isolate_folios(struct folio **folios, unsigned int nr,
				     unsigned long *isolated);
void khopages_putback_folio(struct folio *folio);
bool khopages_collect_for_move(struct folio *folio, struct list_head *list);
int khopages_move_folios(struct list_head *list);
unsigned long khopages_grab_pages(struct mm_struct *mm, unsigned long *start,
				  unsigned long end, struct page **pages);
unsigned long khopages_take_pages(struct mm_struct *mm, unsigned long *start,
				  unsigned long end, struct page **pages);

#endif /* _LINUX_KHOPAGES_H */
