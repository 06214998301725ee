/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * One way for the test programs to report, in the TAP format the
 * kernel's selftests print:
 *
 *   TAP version 13
 *   ok 1 - name
 *   not ok 2 - name # why it failed
 *   ok 3 - name # SKIP why it did not run
 *   # a remark
 *   1..3
 *   # 1 passed, 1 failed, 1 skipped
 *
 * The plan (1..N) comes last: the programs do not know their number of
 * cases in advance. The counters live in memory shared across fork(), so
 * a child's cases continue the parent's numbering and count in its totals
 * (parent and child must not report at the same time).
 * ktap_finish() returns the exit status: 0 when nothing failed, else 1.
 */
#ifndef KTAP_H
#define KTAP_H

#include <stdbool.h>

#define KTAP_FMT(a, b) __attribute__((format(printf, a, b)))

/* "TAP version 13"; once, before the first case. */
void ktap_start(void);

/* A case that passed, failed (with the reason), or did not run. An
 * empty reason adds no "# " part (when "# " lines above say why). */
void ktap_pass(const char *name);
void ktap_fail(const char *name, const char *why_fmt, ...) KTAP_FMT(2, 3);
void ktap_skip(const char *name, const char *why_fmt, ...) KTAP_FMT(2, 3);
/* @name passes when @good, else fails with the reason. Returns @good. */
bool ktap_check(const char *name, bool good, const char *why_fmt, ...) KTAP_FMT(3, 4);
/* Passes when @got == @want (0 or a negative errno each), else fails
 * naming both errno names. Returns whether it passed. */
bool ktap_check_err(const char *name, int got, int want);

/* A "# " remark line, for details that are no case of their own. */
void ktap_diag(const char *fmt, ...) KTAP_FMT(1, 2);

/* A case that failed and makes going on pointless: report it as failed,
 * then "Bail out!", the totals, and exit(1). */
void ktap_bail(const char *fmt, ...) KTAP_FMT(1, 2) __attribute__((noreturn));

/* Cases so far, in all processes. */
unsigned int ktap_passed(void);
unsigned int ktap_failed(void);

/* The plan and the totals; the exit status (0: nothing failed). */
int ktap_finish(void);

/* "EINVAL" for -EINVAL or EINVAL; "success" for 0. */
const char *ktap_errname(int err);

#endif /* KTAP_H */
