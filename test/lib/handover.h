/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Handing a khopages session over to the next kernel the way criu does,
 * for the guest test programs: the khopages file goes into a Live Update
 * session of the same name, and a holder process keeps both open until
 * `kexec -e`; after the kexec the file comes back from /dev/liveupdate.
 */
#ifndef KHOP_TEST_HANDOVER_H
#define KHOP_TEST_HANDOVER_H

#include <sys/types.h>

/* Most fds a holder keeps. */
#define KT_HOLD_MAX	8

/*
 * Start a holder: a process in a session of its own, in /, with nothing
 * open but the @nr fds of @keep (at most KT_HOLD_MAX), its pid written
 * (whole, then renamed) to @pidfile, asleep until it is killed. Returns
 * its pid once the file names it, or -1.
 */
pid_t kt_hold_fds(const char *pidfile, const int *keep, int nr);

/*
 * Before the kexec: Live Update session @name takes the khopages file
 * @fd under KHOP_LUO_TOKEN_PAGES (the khopages session is then
 * preserved), and a holder keeps the Live Update session and @fd open,
 * its pid in @pidfile. Returns the holder's pid, or -1 with the reason in
 * kt_handover_error().
 */
pid_t kt_hand_over(int fd, const char *name, const char *pidfile);

/*
 * Before the kexec: end the holder named by @pidfile (and remove the
 * file). Live Update then takes the preserve back: the khopages session
 * is open again if another file still has it, else it is released.
 * 0, or -1 with the reason in kt_handover_error().
 */
int kt_withdraw(const char *pidfile);

/*
 * After the kexec: retrieve Live Update session @name, the khopages file
 * in it, and finish the Live Update session. Returns the file (attached
 * to the received session, which its last close releases), or -1 with
 * the reason in kt_handover_error().
 */
int kt_take_over(const char *name);

/* Why the last call above failed (per process). */
const char *kt_handover_error(void);

#endif /* KHOP_TEST_HANDOVER_H */
