/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khopages internals shared by the driver's files.
 *
 * Locking: one mutex, khop_lock, serialises every session state change,
 * the session list and the global folio indexes (khop_out_held and
 * khop_out_extra; khop_in_named, khop_in_extra and khop_in_restored).
 * ioctls that touch user memory take the target's or the caller's
 * mmap_lock inside khop_lock; nothing takes khop_lock under an
 * mmap_lock.
 */
#ifndef _KHOPAGES_INTERNAL_H
#define _KHOPAGES_INTERNAL_H

#include <linux/kho/abi/khopages.h>
#include <linux/khopages.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/xarray.h>

/* --- sets of frames (pfnset.c) */

/**
 * struct khop_pfnset - a set of frame numbers, as sparse bitmaps.
 * @blocks:   block index -> a page of bits for that block's frames.
 * @last:     bitmap of the block used last (NULL: none).
 * @last_idx: its index.
 */
struct khop_pfnset {
	struct xarray blocks;
	unsigned long *last;
	unsigned long last_idx;
};

#define KHOP_PFNSET_INIT(name)	{ .blocks = XARRAY_INIT((name).blocks, 0) }

void khop_pfnset_init(struct khop_pfnset *set);
int khop_pfnset_add(struct khop_pfnset *set, unsigned long pfn);
void khop_pfnset_del(struct khop_pfnset *set, unsigned long pfn);
bool khop_pfnset_test(struct khop_pfnset *set, unsigned long pfn);
unsigned long khop_pfnset_next(struct khop_pfnset *set, unsigned long pfn);
void khop_pfnset_destroy(struct khop_pfnset *set);

/* One step of khop_pfnset_for_each(): the frame at or after *@from. */
static inline bool khop_pfnset_step(struct khop_pfnset *set,
				    unsigned long *from, unsigned long *pfn)
{
	*pfn = khop_pfnset_next(set, *from);
	*from = *pfn + 1;
	return *pfn != ULONG_MAX;
}

/**
 * khop_pfnset_for_each() - every frame of a set, in frame order.
 * @pfn: unsigned long cursor: each frame in turn.
 * @set: the set; frames may be taken out of it meanwhile.
 */
#define khop_pfnset_for_each(pfn, set)					\
	for (unsigned long __khop_from = 0;				\
	     khop_pfnset_step(set, &__khop_from, &(pfn));)

/* --- the handover table (table.c) */

/* Highest user address any supported paging mode can have. */
#define KHOP_VA_LIMIT	BIT_ULL(57)

/**
 * struct khop_table - a table being written (outgoing) or read (incoming).
 * @chunks:     chunk addresses in order (kvmalloc'ed array, kernel-only).
 * @nr_chunks:  chunks in use.
 * @max_chunks: room in @chunks.
 * @nr_words:   words in the whole table.
 * @nr_pages:   pages described.
 * @nr_refs:    folio references (RUN counts plus GAP words).
 * @cursor:     writer: virtual address the next folio would continue at.
 * @run:        writer: last RUN word, to extend it; NULL when none.
 * @run_last:   writer: pfn of the last folio written in this range.
 * @have_last:  writer: a folio was written in this range.
 * @base:       writer: pfn of the folio before @run's first one.
 * @have_base:  writer: @base is valid (@run may become a PAIR word).
 */
struct khop_table {
	struct khopages_chunk **chunks;
	unsigned int nr_chunks;
	unsigned int max_chunks;
	u64 nr_words;
	u64 nr_pages;
	u64 nr_refs;
	u64 cursor;
	u64 *run;
	u64 run_last;
	bool have_last;
	u64 base;
	bool have_base;
};

/**
 * struct khop_entry - one folio of a decoded table.
 * @pid:   process the folio belonged to.
 * @va:    its virtual address there.
 * @pfn:   first frame.
 * @order: folio order.
 */
struct khop_entry {
	pid_t pid;
	u64 va;
	u64 pfn;
	unsigned int order;
};

/**
 * struct khop_reader - walks the words of a table, across chunks.
 * @chunk: current chunk; NULL at the end.
 * @idx:   next word in @chunk.
 * @left:  words still to read in the whole table.
 * @pid:   pid of the current range, or -1 before the first RANGE word.
 * @cursor: virtual address of the next folio.
 * @run_left: folios left in the current RUN word.
 * @run_pfn:  pfn of the next folio of that run.
 * @run_order: order of that run.
 * @run_desc: that run goes down in frames.
 * @last_pfn: frame of the last folio read in this range (PAIR base).
 * @have_last: @last_pfn is valid.
 * @pair:     frames of a PAIR word still to hand out.
 * @pair_left: how many of @pair are left.
 */
struct khop_reader {
	const struct khopages_chunk *chunk;
	u32 idx;
	u64 left;
	pid_t pid;
	u64 cursor;
	u64 run_left;
	u64 run_pfn;
	unsigned int run_order;
	bool run_desc;
	u64 last_pfn;
	bool have_last;
	u64 pair[2];
	unsigned int pair_left;
};

int khop_table_init(struct khop_table *t);
void khop_table_free(struct khop_table *t);
int khop_table_begin_range(struct khop_table *t, pid_t pid, u64 va);
int khop_table_add(struct khop_table *t, u64 va, u64 pfn, unsigned int order);
u64 khop_table_meta_bytes(const struct khop_table *t);
phys_addr_t khop_table_phys(const struct khop_table *t);

void khop_reader_init(struct khop_reader *r, const struct khopages_chunk *first,
		      u64 nr_words);
int khop_reader_next(struct khop_reader *r, struct khop_entry *e,
		     bool *new_range);

/* --- validation of an incoming table (validate.c) */

/**
 * struct khop_range - one preserved range of an incoming session.
 * @pid:    process.
 * @start:  first virtual address.
 * @end:    end of the span (exclusive), holes included.
 * @reader: reader positioned at the range's first folio.
 * @mapped: bitmap, one bit per page of the span, set once mapped.
 * @mapper: the address space that mapped pages of it first (mmgrab'ed):
 *          once it has exited, a retried restore may map the range again.
 */
struct khop_range {
	pid_t pid;
	u64 start;
	u64 end;
	struct khop_reader reader;
	unsigned long *mapped;
	struct mm_struct *mapper;
};

/**
 * struct khop_limits - what a valid table may contain.
 * @pids:      the session's pids.
 * @nr_pids:   entries in @pids.
 * @nr_words:  words announced in the FDT.
 * @nr_pages:  pages announced.
 * @nr_refs:   folio references announced.
 * @pfn_ok:    returns true when a folio at pfn/order may be preserved memory.
 */
struct khop_limits {
	const u32 *pids;
	unsigned int nr_pids;
	u64 nr_words;
	u64 nr_pages;
	u64 nr_refs;
	bool (*pfn_ok)(u64 pfn, unsigned int order);
};

int khop_validate_table(const struct khopages_chunk *first,
			const struct khop_limits *lim,
			struct khop_range **ranges, unsigned int *nr_ranges,
			const char **why);
int khop_validate_chunk(phys_addr_t phys, const char **why);

/* --- sessions (session.c) */

enum khop_dir { KHOP_OUT, KHOP_IN };

/**
 * struct khop_session - a named set of preserved pages.
 * @node:     in khop_sessions.
 * @name:     session name.
 * @dir:      outgoing (created here) or incoming (received at boot).
 * @state:    enum khopages_state.
 * @owner:    outgoing: the file that created it, until COMMIT.
 * @owner_uid: the user it belongs to: its creator's effective uid, or
 *            for a received session the uid recorded in the handover.
 * @owner_ns: the user namespace @owner_uid belongs to (referenced).
 * @nr_attached: incoming: files that attached it with OPEN (each process
 *            restoring memory opens the session for itself).
 * @pids:     distinct pids (kvmalloc'ed).
 * @nr_pids:  entries in @pids.
 * @table:    outgoing: the table being written; incoming: the chunk list.
 * @held:     the first frame of each distinct folio of the session (one
 *            held, outgoing; one named by the table, incoming).
 * @large:    incoming: the orders of its large folios, pfn -> order
 *            (a folio not in it is a single page).
 * @isolated: outgoing: the folios it took off the LRU at COMMIT.
 * @ranges:   incoming: decoded ranges, sorted by pid then address.
 * @nr_ranges: entries in @ranges.
 * @info:     statistics as reported by STATS.
 * @taken:    incoming: every folio was restored from KHO (at first OPEN).
 * @broken:   incoming: a frame turned out not to be what the table said;
 *            OPEN fails with EIO, only FINISH remains.
 * @claimed:  incoming: opened in this kernel (or committed here and
 *            opened again), so no longer handed over by the next kexec.
 * @forwarded: incoming, never opened: its folios and table were preserved
 *            again at kexec and it is in the published subtree, so the
 *            next kernel receives it unchanged.
 * @luo:      its file is preserved in a Live Update session (outgoing) or
 *            was retrieved from one (incoming); it is never in the
 *            published subtree.
 * @luo_blob: outgoing, preserved: its description, whose address Live
 *            Update hands over (NULL otherwise).
 * @luo_blob_size: bytes allocated for @luo_blob.
 */
struct khop_session {
	struct list_head node;
	char name[KHOPAGES_NAME_MAX];
	enum khop_dir dir;
	u32 state;
	struct file *owner;
	kuid_t owner_uid;
	struct user_namespace *owner_ns;
	unsigned int nr_attached;
	u32 *pids;
	unsigned int nr_pids;
	struct khop_table table;
	struct khop_pfnset held;
	struct xarray large;
	struct khop_pfnset isolated;
	struct khop_range *ranges;
	unsigned int nr_ranges;
	struct khopages_session_info info;
	bool taken;
	bool broken;
	bool claimed;
	bool forwarded;
	bool luo;
	void *luo_blob;
	size_t luo_blob_size;
};

extern struct mutex khop_lock;
extern struct list_head khop_sessions;

struct khop_session *khop_session_find(const char *name, enum khop_dir dir);
struct khop_session *khop_session_alloc(const char *name, enum khop_dir dir);
void khop_session_free(struct khop_session *s);
int khop_session_add_pid(struct khop_session *s, pid_t pid);
void khop_session_fill_info(struct khop_session *s,
			    struct khopages_session_info *info);
void khop_session_set_owner(struct khop_session *s, kuid_t uid,
			    struct user_namespace *ns);
bool khop_session_allowed(const struct khop_session *s);
bool khop_name_valid(const char *name);

/* --- outgoing (outgoing.c) and the published subtree (publish.c) */
int khop_out_preserve(struct khop_session *s, struct khopages_preserve *arg);
int khop_out_commit(struct khop_session *s);
void khop_out_release(struct khop_session *s);
int khop_out_keep_local(struct khop_session *s);
void khop_out_uncommit(struct khop_session *s);
struct mm_struct *khop_target_mm(pid_t pid);
bool khop_vma_handable(struct vm_area_struct *vma);
int khop_hold_preservation(struct folio *folio);
void khop_drop_preservation(struct folio *folio);
int khop_publish(void);
bool khop_published(const struct khop_session *s);
void *khop_published_blob(size_t *size);
void *khop_publish_session(struct khop_session *s, size_t *size);

/* --- KHO scratch (scratch.c) */
bool khop_in_scratch(struct folio *folio);
long khop_move_batch(struct page **pages, long got);
int khop_scratch_evacuate(struct khopages_evacuate *arg);

/* --- incoming (incoming.c) */
int khop_in_take(struct khop_session *s);
int khop_in_adopt(struct khop_session *s);
u64 khop_in_unmapped_pages(struct khop_session *s);
int khop_in_map(struct khop_session *s, struct khopages_map *arg);
void khop_in_finish(struct khop_session *s);
int khop_in_load(void);
bool khop_in_readable(const void *fdt, const char **compat);
int khop_in_unforward(struct khop_session *s);
void khop_in_forward_unclaimed(void);
struct khop_session *khop_in_receive(phys_addr_t phys, const char **why);

/* --- session files (main.c) and Live Update (luo.c) */
bool khop_is_session_file(const struct file *file);
struct file *khop_session_file(struct khop_session *s);
void khop_luo_init(void);
bool khop_luo_enabled(void);

/* --- the end of the outgoing side at kexec (main.c) */
void khop_seal(void);

/* --- views (debugfs.c) and the test-only knobs (corrupt.c) */
struct dentry;
void khop_debugfs_init(void);
#ifdef CONFIG_KHOPAGES_TEST_CORRUPT
void khop_corrupt_init(struct dentry *dir);
bool khop_publish_should_fail(void);
#else
static inline void khop_corrupt_init(struct dentry *dir) { }
static inline bool khop_publish_should_fail(void) { return false; }
#endif

#endif /* _KHOPAGES_INTERNAL_H */
