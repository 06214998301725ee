/* SPDX-License-Identifier: GPL-2.0 */
/* Outgoing sessions (outgoing.c): taking pages before the kexec. */
#ifndef _KHOPAGES_OUTGOING_H
#define _KHOPAGES_OUTGOING_H

struct khop_session;
struct khopages_preserve;

int khop_out_preserve(struct khop_session *s, struct khopages_preserve *arg);
int khop_out_hand_over(struct khop_session *s);
void khop_out_withdraw(struct khop_session *s);
void khop_out_release(struct khop_session *s);
int khop_out_keep_local(struct khop_session *s);

#endif /* _KHOPAGES_OUTGOING_H */
