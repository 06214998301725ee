/* SPDX-License-Identifier: GPL-2.0 */
/* The end of sessions (lifecycle.c). */
#ifndef _KHOPAGES_LIFECYCLE_H
#define _KHOPAGES_LIFECYCLE_H

struct khop_session;

void khop_session_drop(struct khop_session *s);

#endif /* _KHOPAGES_LIFECYCLE_H */
