/* SPDX-License-Identifier: GPL-2.0 */
/* FILL_SHMEM (fill.c): shared memory handed over, moved into its object. */
#ifndef _KHOPAGES_FILL_H
#define _KHOPAGES_FILL_H

struct khopages_fill_shmem;

long khop_fill_shmem(struct khopages_fill_shmem *arg);

#endif /* _KHOPAGES_FILL_H */
