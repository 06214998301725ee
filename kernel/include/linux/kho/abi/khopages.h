/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_KHO_ABI_KHOPAGES_H
#define _LINUX_KHO_ABI_KHOPAGES_H

#include <linux/bits.h>
#include <linux/types.h>

/**
 * DOC: khopages handover ABI
 *
 * khopages hands the anonymous pages of checkpointed processes to the next
 * kernel as files of Live Update sessions. The serialized data of each
 * khopages file (Live Update compatible %KHOPAGES_LUO_COMPATIBLE) is the
 * physical address of its session's description: a flattened device tree
 * in one preserved page whose root has ``compatible = "khopages-v1"`` and
 * one child node, named after the session, with properties:
 *
 * - ``pids``: u32 array, the processes whose pages the session holds;
 * - ``nr-pages``, ``nr-folios``, ``nr-refs``, ``nr-words``: u64 counts of
 *   pages, distinct folios, folio references (a folio shared by two
 *   processes is referenced twice) and table words, all checked against
 *   the table by the next kernel;
 * - ``table``: u64 physical address of the first table chunk (0 if empty);
 * - ``owner-uid``: u32, optional: the uid (in the initial user namespace)
 *   of the user the session belongs to; only that user (or an
 *   administrator) may use it in the next kernel. Without it the
 *   session is root's.
 *
 * The File-Lifecycle-Bound data of the handler (Live Update compatible
 * %KHOPAGES_LIST_COMPATIBLE) lists every description handed over in one
 * preserved page, a &struct khopages_handover_list: the next kernel reads
 * them all before it retrieves, or gives back, any one session, since two
 * sessions may name the same folio.
 *
 * Integer properties are in the CPU's byte order, as KHO's own are.
 *
 * The table is a chain of preserved chunks of %KHOPAGES_CHUNK_SIZE bytes,
 * each a &struct khopages_chunk followed by 64-bit words. The words form
 * one stream across chunks. A word's top two bits give its kind:
 *
 * - %KHOPAGES_W_RANGE: bits 0-31 are a pid; the next word is the virtual
 *   address where that process's range starts (the cursor).
 * - %KHOPAGES_W_RANGE with %KHOPAGES_W_PAIR set: two order-0 folios at the
 *   cursor and the page after it. Bits 30-59 and 0-29 are two signed
 *   deltas: the first frame is the previous folio's frame (of the same
 *   range) plus the first delta, the second frame is the first plus the
 *   second delta. Scattered pages cost 4 bytes each this way.
 * - %KHOPAGES_W_RUN: @count folios of order @order, physically contiguous
 *   from @pfn upwards (or downwards when %KHOPAGES_W_DESC is set: the page
 *   allocator often hands out descending frames), mapped at the cursor and
 *   after; the cursor moves past them.
 * - %KHOPAGES_W_GAP: the cursor skips @count (1..65535) pages, then one
 *   folio of order @order at @pfn follows.
 * - %KHOPAGES_W_SKIP: the cursor skips bits 0-61 pages.
 *
 * In a RUN or GAP word, bits 0-39 are the pfn, bits 40-44 the folio order,
 * bit 45 the direction of a RUN (0 in a GAP word) and bits 46-61 a count
 * (RUN: folios minus one; GAP: pages skipped). A
 * physically scattered page costs half a word (4 bytes) when its frame is
 * within 2 TiB of the previous one, else one word; a contiguous run of up
 * to 65536 folios, or one huge page, costs one word.
 *
 * This layout is a contract between kernels: any change of it needs a new
 * compatible string. ``compatible`` is a string list: a newer format that
 * readers of this one read correctly lists ``khopages-v1`` after its own
 * string. Every format keeps one child node per session with
 * ``nr-pages``, so that a kernel refusing a format can say what stays
 * reserved.
 */

#define KHOPAGES_COMPATIBLE	"khopages-v1"
#define KHOPAGES_LUO_COMPATIBLE	"khopages-v3"
#define KHOPAGES_LIST_COMPATIBLE	"khopages-list-v1"

#define KHOPAGES_PROP_PIDS	"pids"
#define KHOPAGES_PROP_NR_PAGES	"nr-pages"
#define KHOPAGES_PROP_NR_FOLIOS	"nr-folios"
#define KHOPAGES_PROP_NR_REFS	"nr-refs"
#define KHOPAGES_PROP_NR_WORDS	"nr-words"
#define KHOPAGES_PROP_TABLE	"table"
#define KHOPAGES_PROP_OWNER_UID	"owner-uid"

#define KHOPAGES_CHUNK_SIZE	16384
#define KHOPAGES_CHUNK_MAGIC	0x4b485054U	/* "KHPT" */

/**
 * struct khopages_chunk - header of one table chunk.
 * @magic:    %KHOPAGES_CHUNK_MAGIC.
 * @nr_words: words used in this chunk.
 * @next:     physical address of the next chunk, 0 in the last one.
 * @words:    the table words.
 */
struct khopages_chunk {
	u32 magic;
	u32 nr_words;
	u64 next;
	u64 words[];
} __packed;

#define KHOPAGES_CHUNK_WORDS \
	((KHOPAGES_CHUNK_SIZE - sizeof(struct khopages_chunk)) / sizeof(u64))

#define KHOPAGES_W_KIND_SHIFT	62
#define KHOPAGES_W_RUN		0ULL
#define KHOPAGES_W_SKIP		1ULL
#define KHOPAGES_W_GAP		2ULL
#define KHOPAGES_W_RANGE	3ULL

#define KHOPAGES_W_PFN_BITS	40
#define KHOPAGES_W_ORDER_SHIFT	40
#define KHOPAGES_W_ORDER_BITS	5
#define KHOPAGES_W_DESC		BIT_ULL(45)
#define KHOPAGES_W_COUNT_SHIFT	46
#define KHOPAGES_W_COUNT_BITS	16
#define KHOPAGES_W_SKIP_BITS	62
#define KHOPAGES_W_PAIR		BIT_ULL(61)
#define KHOPAGES_W_DELTA_BITS	30

#define KHOPAGES_LIST_SIZE	4096
#define KHOPAGES_LIST_MAGIC	0x4b48504cU	/* "KHPL" */

/**
 * struct khopages_handover_list - the sessions handed over together.
 * @magic: %KHOPAGES_LIST_MAGIC.
 * @nr:    entries in @desc.
 * @desc:  the physical address of each session's description.
 *
 * One page of preserved memory, %KHOPAGES_LIST_SIZE bytes in all.
 */
struct khopages_handover_list {
	u32 magic;
	u32 nr;
	u64 desc[];
};

#define KHOPAGES_LIST_MAX \
	((KHOPAGES_LIST_SIZE - sizeof(struct khopages_handover_list)) / sizeof(u64))

#endif /* _LINUX_KHO_ABI_KHOPAGES_H */
