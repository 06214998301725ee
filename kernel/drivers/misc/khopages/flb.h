/* SPDX-License-Identifier: GPL-2.0 */
/* The list of sessions handed over together (flb.c). */
#ifndef _KHOPAGES_FLB_H
#define _KHOPAGES_FLB_H

#include <linux/types.h>

struct khop_session;
struct liveupdate_file_handler;

int khop_flb_add(phys_addr_t desc);
void khop_flb_del(phys_addr_t desc);
struct khop_session *khop_flb_take(phys_addr_t desc, const char **why);
void khop_flb_give_back(phys_addr_t desc);
void khop_flb_read_now(void);
int khop_flb_init(struct liveupdate_file_handler *fh);

#endif /* _KHOPAGES_FLB_H */
