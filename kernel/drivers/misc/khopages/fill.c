// SPDX-License-Identifier: GPL-2.0
/*
 * FILL_SHMEM: the shared memory of checkpointed processes (MAP_SHARED
 * anonymous mappings, memfds, SysV segments) crosses the kexec through
 * Live Update's memfd handler (mm/memfd_luo.c), which preserves a shmem
 * file's folios in place and gives a new memfd with the same folios back.
 * The restorer creates each object again with the identity it had (a
 * memfd's name, a segment's key, id and permissions, the object behind a
 * shared anonymous mapping), and this command moves the retrieved memfd's
 * folios into it (shmem_transfer_folios()): the pages stay on their frames.
 *
 * It needs no session and takes no khopages lock: shmem_transfer_folios()
 * takes the two inodes' locks.
 */
#define pr_fmt(fmt) "khopages: " fmt

#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/khopages.h>
#include <linux/shmem_fs.h>

#include "fill.h"

/**
 * khop_fill_shmem() - move the pages of one shmem file into another.
 * @arg: the command's argument, checked for size and flags; @arg->nr_pages
 *       is set on success.
 *
 * Return: 0 or a negative errno (see %KHOPAGES_IOC_FILL_SHMEM).
 */
long khop_fill_shmem(struct khopages_fill_shmem *arg)
{
	long moved;

	if (!capable(CAP_CHECKPOINT_RESTORE) && !capable(CAP_SYS_ADMIN))
		return -EPERM;

	CLASS(fd, dst)(arg->dst_fd);
	CLASS(fd, src)(arg->src_fd);
	if (fd_empty(dst) || fd_empty(src))
		return -EBADF;
	if (!(fd_file(dst)->f_mode & FMODE_WRITE) ||
	    (fd_file(src)->f_mode & (FMODE_READ | FMODE_WRITE)) !=
	    (FMODE_READ | FMODE_WRITE))
		return -EBADF;

	moved = shmem_transfer_folios(fd_file(dst), fd_file(src));
	if (moved < 0)
		return moved;
	arg->nr_pages = moved;
	return 0;
}
