/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private to libkhopages' sources: what khopages.c shares with luo.c.
 */
#ifndef LIBKHOPAGES_INTERNAL_H
#define LIBKHOPAGES_INTERNAL_H

#include <stddef.h>

#include "khopages.h"

/* Room for one message line. */
#define KHOP_MSG_MAX	384
/* Room for a name as khop_show_name() may quote it. */
#define KHOP_NAME_BUF	(KHOPAGES_NAME_MAX * 4 + 8)

/* A session name as it may safely appear in a one-line message: the name
 * itself when khop_valid_name(), else quoted with bytes outside printable
 * ASCII escaped, in @buf. */
const char *khop_show_name(char *buf, size_t size, const char *name);

#endif /* LIBKHOPAGES_INTERNAL_H */
