// SPDX-License-Identifier: GPL-2.0
/*
 * The process a command acts on: its address space, reached only with
 * ptrace attach rights, and which of its mappings hold memory that can be
 * handed over. PRESERVE (outgoing.c) and EVACUATE (scratch.c) share it.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/err.h>
#include <linux/mm.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>

#include "target.h"

/**
 * khop_target_mm() - the address space of a process the caller may checkpoint.
 * @pid: the process, in the caller's pid namespace.
 *
 * Context: any; takes and drops a task reference.
 * Return: the mm, referenced (mmput() it), ERR_PTR(-ESRCH) when there is
 * no such process or it has no address space, ERR_PTR(-EPERM) without
 * ptrace attach rights on it.
 */
struct mm_struct *khop_target_mm(pid_t pid)
{
	struct task_struct *task;
	struct mm_struct *mm;

	task = find_get_task_by_vpid(pid);
	if (!task)
		return ERR_PTR(-ESRCH);
	mm = mm_access(task, PTRACE_MODE_ATTACH_REALCREDS);
	put_task_struct(task);
	if (!mm)
		return ERR_PTR(-ESRCH);		/* a kernel thread or exiting */
	if (IS_ERR(mm) && PTR_ERR(mm) == -EACCES)
		return ERR_PTR(-EPERM);
	return mm;
}

/**
 * khop_vma_handable() - is a VMA memory whose pages can be handed over?
 * @vma: the VMA.
 *
 * Return: true for private anonymous memory of ordinary pages.
 */
bool khop_vma_handable(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma) &&
	       !(vma->vm_flags & (VM_SHARED | VM_IO | VM_PFNMAP | VM_HUGETLB |
				  VM_MIXEDMAP));
}
