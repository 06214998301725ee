/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private: the kernel's handover ABI header (property names, compatible
 * string), made includable from user space so the decoder and its tests
 * share the kernel's definitions instead of copying them.
 */
#ifndef LIBKHOPAGES_HANDOVER_ABI_H
#define LIBKHOPAGES_HANDOVER_ABI_H

#include <stdint.h>

/* Kernel-internal spellings the ABI header uses; BIT_ULL comes from
 * compat/linux/bits.h through its #include <linux/bits.h>. */
typedef uint32_t u32;
typedef uint64_t u64;
#ifndef __packed
#define __packed __attribute__((packed))
#endif

#include "../../kernel/include/linux/kho/abi/khopages.h"

#endif /* LIBKHOPAGES_HANDOVER_ABI_H */
