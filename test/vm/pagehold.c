// SPDX-License-Identifier: GPL-2.0
/*
 * pagehold: hold a region of memory in one of three physical layouts,
 * hand it over through /dev/khopages and Live Update, and after kexec map
 * it back and check it. Used by the handover tests and to measure metadata
 * and time.
 *
 *   pagehold fill SESSION LAYOUT MIB DIR   (LAYOUT: contiguous|scattered|thp)
 *   pagehold map SESSION DIR
 *   pagehold withdraw DIR
 *
 * scattered: no two pages physically adjacent (one physical run each).
 *
 * fill preserves the region in khopages session SESSION, puts the
 * session's file into a Live Update session of the same name, and leaves
 * both to a holder process (its pid in DIR/holder.pid) that lives until
 * the kexec. It writes DIR/fill.txt (figures) and DIR/pfns (one frame per
 * page, after preserving, since pages in KHO scratch move first).
 *
 * map retrieves the file from Live Update session SESSION and finishes
 * that session, maps the region back, writes DIR/map.txt and fails on any
 * wrong byte or moved frame; its exit closes the file, which releases the
 * khopages session.
 *
 * withdraw, before the kexec: ends the holder of DIR/holder.pid; Live
 * Update takes the preserve back and the khopages session is released.
 *
 * The layouts and the pattern are test/lib/workload.c's, which the
 * benchmark uses too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "khopages.h"
#include "handover.h"
#include "khopages_testlib.h"
#include "workload.h"

#define REGION_ADDR	0x600000000000UL
#define PAGE		WL_PAGE

static void die(const char *what)
{
	fprintf(stderr, "pagehold: %s\n", what);
	exit(1);
}

static char *map_region(size_t len)
{
	char *p = mmap((void *)REGION_ADDR, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		die("cannot map the region");
	return p;
}

static void holder_path(const char *dir, char *path, size_t size)
{
	snprintf(path, size, "%s/holder.pid", dir);
}

static FILE *open_out(const char *dir, const char *name, const char *mode)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, mode);
	if (!f)
		die("cannot open an output file");
	return f;
}

static int do_fill(const char *session, const char *layout, size_t mib,
		   const char *dir)
{
	size_t pages = mib * 256, i;
	struct khopages_session_info info;
	struct khopages_preserve pr;
	double t0, t_preserve, t_handover;
	char *base = map_region(pages * PAGE);
	uint64_t *pfns = malloc(pages * 8), runs;
	char holder[4096];
	const char *why;
	struct khop *k;
	FILE *f;

	if (!pfns)
		die("out of memory");
	why = wl_fill_layout(base, pages, layout);
	if (why)
		die(why);
	if (khop_open(&k))
		die(khop_open_error());
	if (khop_create(k, session))
		die(khop_error(k));
	t0 = wl_now_ms();
	if (khop_preserve(k, getpid(), (uintptr_t)base, pages * PAGE, &pr))
		die(khop_error(k));
	t_preserve = wl_now_ms() - t0;
	if (pr.nr_pages != pages)
		die("PRESERVE did not take every page");
	holder_path(dir, holder, sizeof(holder));
	t0 = wl_now_ms();
	if (kt_hand_over(khop_fd(k), session, holder) < 0)
		die(kt_handover_error());
	t_handover = wl_now_ms() - t0;
	if (khop_stats(k, session, &info))
		die(khop_error(k));
	if (wl_read_pfns(base, pages, pfns))
		die("cannot read /proc/self/pagemap");
	f = open_out(dir, "pfns", "w");
	fwrite(pfns, 8, pages, f);
	fclose(f);

	f = open_out(dir, "fill.txt", "w");
	fprintf(f, "layout %s\nmib %zu\npid %d\npages %" PRIu64 "\n", layout,
		mib, getpid(), (uint64_t)info.nr_pages);
	fprintf(f, "folios %" PRIu64 "\nfolios_order9 %" PRIu64 "\n",
		(uint64_t)info.nr_folios, (uint64_t)info.folios_by_order[9]);
	fprintf(f, "moved %" PRIu64 "\nmeta_bytes %" PRIu64 "\n",
		(uint64_t)info.nr_moved, (uint64_t)info.meta_bytes);
	fprintf(f, "meta_bytes_per_page %.4f\n",
		(double)info.meta_bytes / (double)info.nr_pages);
	fprintf(f, "preserve_ms %.1f\nhandover_ms %.1f\n", t_preserve, t_handover);
	runs = wl_phys_runs(pfns, pages);
	if (!runs)
		die("out of memory");
	fprintf(f, "phys_runs %" PRIu64 "\n", runs);
	fclose(f);
	for (i = 0; i < pages; i++)
		if (!pfns[i])
			die("a preserved page is not present");
	khop_close(k);
	return 0;
}

static int do_map(const char *session, const char *dir)
{
	struct khopages_map m;
	size_t pages, i, bad = 0, same = 0, mib;
	uint64_t *before, *after;
	double t0, t_map;
	char layout[32];
	struct khop *k;
	int pid, fd;
	char *base;
	FILE *f;

	f = open_out(dir, "fill.txt", "r");
	if (fscanf(f, "layout %31s\nmib %zu\npid %d", layout, &mib, &pid) != 3)
		die("cannot read fill.txt");
	fclose(f);
	pages = mib * 256;
	before = malloc(pages * 8);
	after = malloc(pages * 8);
	if (!before || !after)
		die("out of memory");
	f = open_out(dir, "pfns", "r");
	if (fread(before, 8, pages, f) != pages)
		die("cannot read pfns");
	fclose(f);

	/* Retrieve first: it makes the preserved memory count, so mmap fits. */
	fd = kt_take_over(session);
	if (fd < 0)
		die(kt_handover_error());
	if (khop_from_fd(fd, &k))
		die(khop_open_error());
	base = map_region(pages * PAGE);
	t0 = wl_now_ms();
	if (khop_map(k, pid, REGION_ADDR, (uintptr_t)base, pages * PAGE, &m))
		die(khop_error(k));
	t_map = wl_now_ms() - t0;
	if (m.nr_mapped != pages)
		die("MAP did not map every page from its frame");
	if (wl_read_pfns(base, pages, after))
		die("cannot read /proc/self/pagemap");
	for (i = 0; i < pages; i++) {
		bad += wl_page_bad_words(base + i * PAGE);
		same += before[i] == after[i];
	}
	f = open_out(dir, "map.txt", "w");
	fprintf(f, "map_ms %.1f\nwords_wrong %zu\nsame_pfn %zu/%zu\n", t_map,
		bad, same, pages);
	fclose(f);
	printf("pagehold: %s %zu MiB: map %.1f ms, %zu words wrong, %zu/%zu frames unchanged\n",
	       layout, mib, t_map, bad, same, pages);
	if (bad || same != pages)
		die("the memory did not come back intact at the same frames");
	khop_close(k);
	return 0;
}

static int do_withdraw(const char *dir)
{
	char holder[4096];

	holder_path(dir, holder, sizeof(holder));
	if (kt_withdraw(holder))
		die(kt_handover_error());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "fill"))
		return do_fill(argv[2], argv[3], strtoul(argv[4], NULL, 0), argv[5]);
	if (argc == 4 && !strcmp(argv[1], "map"))
		return do_map(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "withdraw"))
		return do_withdraw(argv[2]);
	fprintf(stderr, "usage: pagehold fill SESSION contiguous|scattered|thp MIB DIR\n"
		"       pagehold map SESSION DIR\n"
		"       pagehold withdraw DIR\n");
	return 2;
}
