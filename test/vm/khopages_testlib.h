/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the khopages guest test programs (khopages_memtest,
 * khopages_errors): memory patterns, /proc page-frame introspection,
 * freezing a process with ptrace, dropping privileges, MemFree.
 */
#ifndef KHOPAGES_TESTLIB_H
#define KHOPAGES_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KT_PAGE		((uint64_t)4096)
#define KT_HUGE		((uint64_t)2 << 20)	/* PMD-sized THP on x86_64 */
#define KT_MIB		((uint64_t)1 << 20)

/* The 64-bit word expected at virtual address @va of a page filled with @seed.
 * It depends on both, so a page that lands at the wrong address, or a page
 * of another region or process, never matches. */
static inline uint64_t kt_pattern(uint64_t seed, uint64_t va)
{
	uint64_t x = (va + seed) * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29) ^ seed;
}

/* Fill @len bytes at @p with the pattern as if the memory sat at @va. */
void kt_fill(void *p, uint64_t len, uint64_t seed, uint64_t va);
/* Bytes of one page at @p that differ from the pattern for @va (0..4096);
 * *first_bad gets the offset of the first wrong byte when any. */
unsigned int kt_page_bad_bytes(const void *p, uint64_t seed, uint64_t va,
			       unsigned int *first_bad);
/* Non-zero bytes in one page. */
unsigned int kt_page_nonzero_bytes(const void *p);

/* mmap @len bytes of private anonymous memory at an address aligned to
 * @align (a power of two), read-write. MAP_FAILED on error. */
void *kt_map_aligned(uint64_t len, uint64_t align);

/* /proc/PID/pagemap (pid 0: self): @n raw entries from @va on. 0 or -errno. */
int kt_pagemap(pid_t pid, uint64_t va, uint64_t n, uint64_t *entries);
static inline bool kt_pm_present(uint64_t e) { return e >> 63; }
/* Bit 56: the page is mapped by this process only. */
static inline bool kt_pm_exclusive(uint64_t e) { return (e >> 56) & 1; }
static inline uint64_t kt_pm_pfn(uint64_t e) { return e & ((1ULL << 55) - 1); }

/* /proc/kpageflags of @pfn, or UINT64_MAX when it cannot be read. */
uint64_t kt_kpageflags(uint64_t pfn);
/* Folio that @pfn belongs to: first pfn and number of pages. 0 or -errno. */
int kt_folio_of(uint64_t pfn, uint64_t *head, uint64_t *nr_pages);
/* Of @n frames, how many are anonymous pages mapped by nobody: pages a
 * dead process left behind that someone still holds a reference on. */
uint64_t kt_count_orphan_anon(const uint64_t *pfns, uint64_t n);

/* Read @len bytes of process @pid at @va through /proc/PID/mem (a plain
 * page reference, unlike process_vm_readv's pin, which would unshare
 * COW-shared pages). 0 or -errno. */
int kt_read_mem(pid_t pid, uint64_t va, void *buf, uint64_t len);
/* Write @len bytes into process @pid at @va through /proc/PID/mem, as a
 * debugger would (copy-on-write applies). 0 or -errno. */
int kt_write_mem(pid_t pid, uint64_t va, const void *buf, uint64_t len);

/* Sum of AnonHugePages (kB) of the VMAs of @pid inside [start, start+len). */
long kt_anon_huge_kb(pid_t pid, uint64_t start, uint64_t len);
/* The bracketed mode of /sys/kernel/mm/transparent_hugepage/enabled
 * ("always", "madvise", "never"), or NULL without THP. */
const char *kt_thp_mode(void);

/* KHO scratch areas, as page frame ranges [first, last). */
struct kt_pfn_range {
	uint64_t first, last;
};
/* Up to @max areas from /sys/kernel/debug/kho/out/scratch_{phys,len}.
 * Returns how many, or -errno. */
int kt_scratch_ranges(struct kt_pfn_range *r, int max);
bool kt_in_ranges(const struct kt_pfn_range *r, int n, uint64_t pfn);

/* A field of /proc/meminfo in kB, or -1. */
long kt_meminfo_kb(const char *field);
/* Free memory in kB: MemFree plus the pages sitting on the per-CPU free
 * lists (/proc/zoneinfo "count:"), which MemFree does not show and which
 * can hold several MiB right after a process frees a lot. */
long kt_free_kb(void);
/* Let freed pages reach the allocator: drain per-CPU LRU batches, whose
 * references keep pages alive (compaction does lru_add_drain_all), and
 * wait a moment. Best effort. */
void kt_settle(void);
/* Wait (up to @ms) until kt_free_kb() >= @want_kb; returns the last value. */
long kt_wait_free(long want_kb, int ms);

/* Stop @pid in a ptrace-stop, as CRIU freezes a task (PTRACE_SEIZE +
 * PTRACE_INTERRUPT). 0 or -errno. */
int kt_freeze(pid_t pid);
int kt_thaw(pid_t pid);
/* SIGKILL @pid and wait until it is gone (tracee or child). */
void kt_kill_wait(pid_t pid);

/* Become uid/gid 65534 with no supplementary groups. With
 * @keep_ckpt_restore the process keeps CAP_CHECKPOINT_RESTORE (and only
 * it), else no capability at all. 0 or -errno. */
int kt_drop_privileges(bool keep_ckpt_restore);

/* A set of 64-bit keys (e.g. page frame numbers). */
struct kt_set {
	uint64_t *slot;
	uint64_t mask;
	uint64_t count;
};
int kt_set_init(struct kt_set *s, uint64_t max_items);
void kt_set_free(struct kt_set *s);
/* true when @key was not yet in the set (it is now). */
bool kt_set_add(struct kt_set *s, uint64_t key);
bool kt_set_has(const struct kt_set *s, uint64_t key);

/* Write all of @buf / read exactly @len bytes from a pipe. 0 or -1. */
int kt_write_all(int fd, const void *buf, size_t len);
int kt_read_all(int fd, void *buf, size_t len);


/* Cases and their results: test/lib/ktap.h. */

#endif /* KHOPAGES_TESTLIB_H */
