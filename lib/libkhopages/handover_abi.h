/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private: the kernel's handover ABI header (property names, compatible
 * string), made includable from user space so the decoder and its tests
 * share the kernel's definitions instead of copying them.
 */
#ifndef LIBKHOPAGES_HANDOVER_ABI_H
#define LIBKHOPAGES_HANDOVER_ABI_H

#include <stdint.h>

/* Kernel-internal spellings the ABI header uses. */
typedef uint32_t u32;
typedef uint64_t u64;
#ifndef __packed
#define __packed __attribute__((packed))
#endif
#ifndef BIT_ULL
#define BIT_ULL(n) (1ULL << (n))
#endif

#include "../../kernel/include/linux/kho/abi/khopages.h"

#endif /* LIBKHOPAGES_HANDOVER_ABI_H */
