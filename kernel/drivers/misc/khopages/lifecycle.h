/* SPDX-License-Identifier: GPL-2.0 */
/* The end of sessions, and of the outgoing side at kexec (lifecycle.c). */
#ifndef _KHOPAGES_LIFECYCLE_H
#define _KHOPAGES_LIFECYCLE_H

#include <linux/types.h>

struct khop_session;

int khop_session_drop(struct khop_session *s);
void khop_seal(void);
bool khop_sealed(void);
int khop_lifecycle_init(void);
void khop_lifecycle_exit(void);

#endif /* _KHOPAGES_LIFECYCLE_H */
