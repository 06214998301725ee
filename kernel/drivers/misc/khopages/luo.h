/* SPDX-License-Identifier: GPL-2.0 */
/* khopages files in Live Update sessions (luo.c). */
#ifndef _KHOPAGES_LUO_H
#define _KHOPAGES_LUO_H

#include <linux/types.h>

struct file_operations;

void khop_luo_init(const struct file_operations *fops);
bool khop_luo_enabled(void);

#endif /* _KHOPAGES_LUO_H */
