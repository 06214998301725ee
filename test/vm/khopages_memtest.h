/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khopages_memtest: what its files share. khopages_memtest_fill.c is the
 * first kernel's part (the workload, PRESERVE, the khopages file handed
 * over in a Live Update session), khopages_memtest_verify.c the next
 * kernel's (the file retrieved, MAP, the checks, the session released);
 * khopages_memtest.c has the state both describe and main.
 */
#ifndef KHOPAGES_MEMTEST_H
#define KHOPAGES_MEMTEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "khopages.h"
#include "khopages_testlib.h"
#include "ktap.h"

#define SESSION		"memtest"
#define DESC_FILE	"memtest.desc"
#define DONE_FILE	"stage1.done"
/* The pid of the process that holds the Live Update session. */
#define HOLDER_FILE	"luo-holder.pid"

enum { PARENT, CHILD, NR_PROCS };
extern const char *const who_name[NR_PROCS];

enum { R_PLAIN, R_MPROT, R_THP, R_COW, R_SPARSE, NR_REGIONS };

/* Stage 2: pages of the plain region the parent rewrites while a child
 * still shares them (1 MiB, later unmapped again). */
#define COW_TEST_PAGES	256

struct pageinfo {
	uint64_t pfn;		/* frame at hand-over time (stage 2: recorded) */
	uint64_t pre_pfn;	/* stage 1: frame before PRESERVE */
	uint64_t seed;		/* pattern the page holds (stage 2: now) */
	bool present;		/* recorded page; else a hole (reads zero) */
	bool pfn_kept;		/* stage 2: must still be at @pfn */
	bool gone;		/* stage 2: unmapped on purpose */
};

struct region {
	char name[16];
	uint64_t start, len, seed;
	int madv;
	uint64_t ro_off, ro_len;
	struct pageinfo *pg[NR_PROCS];
	char *dst;		/* stage 2: where it is mapped now */
	bool at_orig;
};

/* One PRESERVE call of stage 1 (and the matching MAP of stage 2). */
struct range {
	int who, region;
	uint64_t off, len;
	uint64_t nr_pages, nr_folios, nr_moved;	/* as the driver reported */
};

#define MAX_RANGES	(NR_PROCS * NR_REGIONS * 2)

/* The regions, the PRESERVE calls and the processes: filled in by
 * stage 1, read back from its description by stage 2. */
extern struct region regions[NR_REGIONS];
extern struct range ranges[MAX_RANGES];
extern int nr_ranges;
extern pid_t pids[NR_PROCS];
/* Stats once the khopages file is preserved in Live Update session
 * SESSION (under KHOP_LUO_TOKEN_PAGES). */
extern struct khopages_session_info saved;

/* Helpers of both stages (khopages_memtest.c) */
/* A detail line for one bad page; the total is reported anyway. */
bool want_detail(void);
uint64_t region_pages(const struct region *r);
const char *madv_name(int madv);
int madv_parse(const char *s);
void alloc_pageinfo(struct region *r);
void free_pageinfo(void);
void add_range(int who, int region, uint64_t off, uint64_t len);
uint64_t range_present(const struct range *rg);
void print_info(const char *label, const struct khopages_session_info *in);
void expect_u64(const char *what, uint64_t got, uint64_t want);
/* The two stages: khopages_memtest_fill.c, khopages_memtest_verify.c. */
void do_fill(const char *dir);
void do_verify(const char *dir);

#endif /* KHOPAGES_MEMTEST_H */
