/* SPDX-License-Identifier: GPL-2.0 */
/* The process a command acts on (target.c). */
#ifndef _KHOPAGES_TARGET_H
#define _KHOPAGES_TARGET_H

#include <linux/types.h>

struct mm_struct;
struct vm_area_struct;

struct mm_struct *khop_target_mm(pid_t pid);
bool khop_vma_handable(struct vm_area_struct *vma);

#endif /* _KHOPAGES_TARGET_H */
