/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * User-space stand-in for the kernel's <linux/bits.h>, which the handover
 * ABI header includes (handover_abi.h). Only this library's sources see it.
 */
#ifndef LIBKHOPAGES_COMPAT_LINUX_BITS_H
#define LIBKHOPAGES_COMPAT_LINUX_BITS_H

#define BIT_ULL(n)	(1ULL << (n))

#endif /* LIBKHOPAGES_COMPAT_LINUX_BITS_H */
