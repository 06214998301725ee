// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_memtest: stage 2, after the kexec: the khopages file retrieved
 * from Live Update, MAP into this process and a child, every byte and
 * frame checked, the memory used, Live Update's FINISH and every file
 * closed (which releases the session).
 */
#include "khopages_memtest.h"

/* ------------------------------------------------------------------ */
/* Stage 2                                                            */

static uint64_t distinct_frames;

static struct region *region_at(uint64_t va)
{
	for (int ri = 0; ri < NR_REGIONS; ri++)
		if (va >= regions[ri].start && va < regions[ri].start + regions[ri].len)
			return &regions[ri];
	return NULL;
}

static int who_of(int pid)
{
	for (int w = 0; w < NR_PROCS; w++)
		if (pids[w] == pid)
			return w;
	return -1;
}

static void load_description(const char *dir)
{
	char path[512], line[256], name[16], madv[16], luo_session[64];
	uint64_t a, b, c, d, e, f, g;
	int nregions = 0, pid, pid2, version = 0, ln = 0;
	bool end = false, luo = false;
	unsigned int u;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, DONE_FILE);
	if (access(path, F_OK))
		ktap_bail("%s is missing: stage 1 did not complete", path);
	snprintf(path, sizeof(path), "%s/%s", dir, DESC_FILE);
	fp = fopen(path, "r");
	if (!fp)
		ktap_bail("open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), fp)) {
		ln++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "version %d", &version) == 1 ||
		    sscanf(line, "distinct %" SCNu64, &distinct_frames) == 1 ||
		    !strncmp(line, "session ", 8))
			continue;
		if (sscanf(line, "pids %d %d", &pid, &pid2) == 2) {
			pids[PARENT] = pid;
			pids[CHILD] = pid2;
		} else if (sscanf(line, "luo %63s %" SCNx64, luo_session, &a) == 2) {
			if (strcmp(luo_session, SESSION) || a != KHOP_LUO_TOKEN_PAGES)
				ktap_bail("%s:%d: Live Update session %s token 0x%" PRIx64 ", expected"
					  " %s 0x%llx", path, ln, luo_session, a, SESSION,
					  (unsigned long long)KHOP_LUO_TOKEN_PAGES);
			luo = true;
		} else if (sscanf(line, "region %15s %" SCNx64 " %" SCNx64 " %" SCNx64 " %15s %"
				  SCNx64 " %" SCNx64, name, &a, &b, &c, madv, &d, &e) == 7) {
			struct region *r;

			if (nregions == NR_REGIONS || b % KT_PAGE || a % KT_PAGE)
				ktap_bail("%s:%d: bad region", path, ln);
			r = &regions[nregions++];
			snprintf(r->name, sizeof(r->name), "%s", name);
			r->start = a;
			r->len = b;
			r->seed = c;
			r->madv = madv_parse(madv);
			r->ro_off = d;
			r->ro_len = e;
			alloc_pageinfo(r);
		} else if (sscanf(line, "range %d %" SCNx64 " %" SCNx64 " %" SCNu64 " %" SCNu64
				  " %" SCNu64, &pid, &a, &b, &c, &d, &e) == 6) {
			struct region *r = region_at(a);
			int w = who_of(pid);

			if (!r || w < 0 || a + b > r->start + r->len || nr_ranges == MAX_RANGES)
				ktap_bail("%s:%d: bad range", path, ln);
			ranges[nr_ranges++] = (struct range){
				.who = w, .region = (int)(r - regions), .off = a - r->start,
				.len = b, .nr_pages = c, .nr_folios = d, .nr_moved = e,
			};
		} else if (sscanf(line, "page %d %" SCNx64 " %" SCNx64 " %" SCNx64,
				  &pid, &a, &b, &c) == 4) {
			struct region *r = region_at(a);
			int w = who_of(pid);
			struct pageinfo *pg;

			if (!r || w < 0)
				ktap_bail("%s:%d: page outside the regions", path, ln);
			pg = &r->pg[w][(a - r->start) / KT_PAGE];
			pg->present = true;
			pg->pfn_kept = true;
			pg->pfn = b;
			pg->seed = c;
		} else if (sscanf(line, "stats %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
				  &u, &a, &b, &c, &d) == 5) {
			saved.nr_pids = u;
			saved.nr_pages = a;
			saved.nr_folios = b;
			saved.meta_bytes = c;
			saved.nr_moved = d;
		} else if (sscanf(line, "order %" SCNu64 " %" SCNu64, &f, &g) == 2 &&
			   f < KHOPAGES_MAX_ORDERS) {
			saved.folios_by_order[f] = g;
		} else if (!strcmp(line, "end\n")) {
			end = true;
		} else {
			ktap_bail("%s:%d: cannot parse: %s", path, ln, line);
		}
	}
	fclose(fp);
	if (version != 1 || !end || nregions != NR_REGIONS || !nr_ranges || !distinct_frames)
		ktap_bail("%s: incomplete description", path);
	if (!luo)
		ktap_bail("%s: no Live Update session named", path);
	/* The description must agree with itself before it judges anything. */
	for (int k = 0; k < nr_ranges; k++)
		if (range_present(&ranges[k]) != ranges[k].nr_pages)
			ktap_bail("%s: range %d lists %" PRIu64 " pages but PRESERVE reported %" PRIu64,
				  path, k, range_present(&ranges[k]), ranges[k].nr_pages);
}

/* Where to map a region: its original address when free, else anywhere
 * congruent to it modulo 2 MiB (what MAP needs for huge folios). */
static void make_dst(struct region *r)
{
	void *want = (void *)(uintptr_t)r->start;
	char *p = mmap(want, r->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	r->at_orig = p == want;
	if (!r->at_orig) {
		uint64_t span = r->len + KT_HUGE, off;
		char *raw;

		if (p != MAP_FAILED)
			munmap(p, r->len);	/* a kernel that ignored the flag */
		raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED)
			ktap_bail("mmap %" PRIu64 " bytes: %s", span, strerror(errno));
		off = (r->start - (uint64_t)(uintptr_t)raw) & (KT_HUGE - 1);
		p = raw + off;
		if (off)
			munmap(raw, off);
		munmap(p + r->len, span - off - r->len);
	}
	if (r->madv && madvise(p, r->len, r->madv))
		ktap_bail("madvise %s: %s", r->name, strerror(errno));
	r->dst = p;
}

struct vres {
	uint64_t pages, bytes_wrong, pfn_checked, pfn_equal, holes, hole_bytes;
};

enum { V_CONTENT = 1, V_PFN = 2, V_HOLES = 4 };

/* Check pages [first, end) of @r as process @who sees it at r->dst. */
static void verify_pages(int who, struct region *r, uint64_t first, uint64_t end,
			 unsigned int what, struct vres *v)
{
	uint64_t n = end - first, *e = NULL;
	int ret;

	if (what & V_PFN) {
		e = malloc(n * 8);
		if (!e)
			ktap_bail("out of memory");
		ret = kt_pagemap(0, (uint64_t)(uintptr_t)r->dst + first * KT_PAGE, n, e);
		if (ret)
			ktap_bail("read /proc/self/pagemap: %s", strerror(-ret));
	}
	for (uint64_t i = first; i < end; i++) {
		struct pageinfo *pg = &r->pg[who][i];
		const char *p = r->dst + i * KT_PAGE;
		uint64_t va = r->start + i * KT_PAGE;
		unsigned int bad, off = 0;

		if (pg->gone)
			continue;
		if (!pg->present) {
			if (!(what & V_HOLES))
				continue;
			bad = kt_page_nonzero_bytes(p);
			v->holes++;
			v->hole_bytes += bad;
			if (bad && want_detail())
				ktap_diag("%s %s hole page %" PRIu64 " (orig va 0x%" PRIx64
					  "): %u non-zero bytes", who_name[who], r->name, i, va, bad);
			continue;
		}
		if (what & V_PFN && pg->pfn_kept) {
			uint64_t ent = e[i - first];

			v->pfn_checked++;
			if (kt_pm_present(ent) && kt_pm_pfn(ent) == pg->pfn)
				v->pfn_equal++;
			else if (want_detail())
				ktap_diag("%s %s page %" PRIu64 " (orig va 0x%" PRIx64 "): pfn %s0x%"
					  PRIx64 ", before kexec 0x%" PRIx64, who_name[who], r->name, i,
					  va, kt_pm_present(ent) ? "" : "(not present) ",
					  kt_pm_pfn(ent), pg->pfn);
		}
		if (what & V_CONTENT) {
			bad = kt_page_bad_bytes(p, pg->seed, va, &off);
			v->pages++;
			v->bytes_wrong += bad;
			if (bad && want_detail())
				ktap_diag("%s %s page %" PRIu64 " (orig va 0x%" PRIx64
					  ", now %p): %u bytes wrong, first at +%u",
					  who_name[who], r->name, i, va,
					  (const void *)p, bad, off);
		}
	}
	free(e);
}

static void verify_all(int who, unsigned int what, struct vres *v)
{
	for (int ri = 0; ri < NR_REGIONS; ri++)
		verify_pages(who, &regions[ri], 0, region_pages(&regions[ri]), what, v);
}

/*
 * Turn a verification into its three cases: every byte, every frame,
 * every hole. What it did not look at (@what, as given to verify_pages(),
 * or nothing of that kind in the range) is a SKIP. True when all was
 * right.
 */
static bool judge(const char *label, unsigned int what, const struct vres *v)
{
	char name[160];
	bool ok = true;

	ktap_diag("%s: %" PRIu64 " pages, %" PRIu64 " bytes wrong, PFNs equal %" PRIu64 "/%"
		  PRIu64 ", %" PRIu64 " holes (%" PRIu64 " non-zero bytes)", label, v->pages,
		  v->bytes_wrong, v->pfn_equal, v->pfn_checked, v->holes, v->hole_bytes);
	snprintf(name, sizeof(name), "%s: every byte as expected", label);
	if (!(what & V_CONTENT) || !v->pages)
		ktap_skip(name, "no page content checked here");
	else
		ok &= ktap_check(name, !v->bytes_wrong, "%" PRIu64 " bytes wrong of %" PRIu64
				 " pages", v->bytes_wrong, v->pages);
	snprintf(name, sizeof(name), "%s: every page at its pre-kexec frame", label);
	if (!(what & V_PFN) || !v->pfn_checked)
		ktap_skip(name, "no frame checked here");
	else
		ok &= ktap_check(name, v->pfn_equal == v->pfn_checked, "only %" PRIu64 " of %"
				 PRIu64, v->pfn_equal, v->pfn_checked);
	snprintf(name, sizeof(name), "%s: holes read as zero", label);
	if (!(what & V_HOLES) || !v->holes)
		ktap_skip(name, "no hole checked here");
	else
		ok &= ktap_check(name, !v->hole_bytes, "%" PRIu64 " non-zero bytes in %" PRIu64
				 " holes", v->hole_bytes, v->holes);
	return ok;
}

static void check_map_result(const char *label, const struct khopages_map *m,
			     uint64_t mapped, uint64_t shared)
{
	char what[160];

	snprintf(what, sizeof(what), "%s: nr_mapped", label);
	expect_u64(what, m->nr_mapped, mapped);
	snprintf(what, sizeof(what), "%s: nr_shared", label);
	expect_u64(what, m->nr_shared, shared);
	snprintf(what, sizeof(what), "%s: nr_copied", label);
	expect_u64(what, m->nr_copied, 0);
}

/* The incoming session must be exactly what was preserved, retrieved
 * through Live Update and already attached to the file. */
static void check_incoming_stats(struct khop *k)
{
	struct khopages_session_info in;

	if (khop_stats(k, SESSION, &in))
		ktap_bail("no incoming session %s: %s", SESSION, khop_error(k));
	print_info("incoming stats", &in);
	ktap_check("incoming stats: state retrieved", in.state == KHOPAGES_STATE_RETRIEVED,
		   "state %s", khop_state_name(in.state));
	expect_u64("incoming nr_pids", in.nr_pids, saved.nr_pids);
	expect_u64("incoming nr_pages", in.nr_pages, saved.nr_pages);
	expect_u64("incoming nr_folios", in.nr_folios, saved.nr_folios);
	expect_u64("incoming meta_bytes", in.meta_bytes, saved.meta_bytes);
	for (int o = 0; o < KHOPAGES_MAX_ORDERS; o++) {
		char what[64];

		snprintf(what, sizeof(what), "incoming folios of order %d", o);
		expect_u64(what, in.folios_by_order[o], saved.folios_by_order[o]);
	}
}

/* Report sent from the verifying child to the parent (its cases count
 * in the shared totals already, see ktap.h). */
struct child_report {
	struct vres v;
	uint64_t own, shared;
};

/*
 * The restored child: it inherited the parent's mappings (and the session
 * fd). Pages the old child shared with the old parent are already there
 * from the very frames; pages it had written itself are dropped from the
 * inherited mapping and mapped from their own preserved frames.
 */
static void __attribute__((noreturn))
restore_child(struct khop *k, int to_parent, int from_parent)
{
	/* The parent waits while this child reports: what fails meanwhile
	 * failed here. */
	unsigned int failed = ktap_failed(), mine;
	struct child_report rep;
	struct vres v2;
	char cmd;

	memset(&rep, 0, sizeof(rep));
	for (int kidx = 0; kidx < nr_ranges; kidx++) {
		const struct range *rg = &ranges[kidx];
		struct region *r = &regions[rg->region];
		uint64_t own = 0, shared = 0, dropped = 0;
		struct khopages_map m;
		char label[96];

		if (rg->who != CHILD)
			continue;
		for (uint64_t i = rg->off / KT_PAGE; i < (rg->off + rg->len) / KT_PAGE; i++) {
			const struct pageinfo *pc = &r->pg[CHILD][i], *pp = &r->pg[PARENT][i];

			if (!pc->present)
				continue;
			if (pp->present && pp->pfn == pc->pfn) {
				shared++;
				continue;
			}
			own++;
			/* MAP refuses a different page at dst (EEXIST). */
			if (madvise(r->dst + i * KT_PAGE, KT_PAGE, MADV_DONTNEED) && !dropped++)
				ktap_diag("child: madvise(MADV_DONTNEED) %s page %" PRIu64 ": %s",
					  r->name, i, strerror(errno));
		}
		if (own) {
			snprintf(label, sizeof(label), "child: %s+0x%" PRIx64 ": its own pages"
				 " dropped from the inherited mapping", r->name, rg->off);
			ktap_check(label, !dropped, "madvise(MADV_DONTNEED) failed on %" PRIu64
				   " pages", dropped);
		}
		memset(&m, 0, sizeof(m));
		snprintf(label, sizeof(label), "child: map %s+0x%" PRIx64, r->name, rg->off);
		if (!ktap_check(label, !khop_map(k, pids[CHILD], r->start + rg->off,
						 (uint64_t)(uintptr_t)r->dst + rg->off, rg->len, &m),
				"%s", khop_error(k)))
			continue;
		ktap_diag("%s -> %p: %" PRIu64 " mapped, %" PRIu64 " shared, %" PRIu64 " copied",
			  label, (void *)(r->dst + rg->off), (uint64_t)m.nr_mapped,
			  (uint64_t)m.nr_shared, (uint64_t)m.nr_copied);
		check_map_result(label, &m, own, shared);
		rep.own += own;
		rep.shared += shared;
	}
	verify_all(CHILD, V_CONTENT | V_PFN | V_HOLES, &rep.v);
	judge("child after MAP", V_CONTENT | V_PFN | V_HOLES, &rep.v);
	mine = ktap_failed() - failed;
	fflush(stdout);
	if (kt_write_all(to_parent, &rep, sizeof(rep)))
		_exit(1);

	/* The parent rewrites the first pages of the plain region: this
	 * child must keep the old content at the old frames. */
	if (kt_read_all(from_parent, &cmd, 1))
		_exit(1);
	failed = ktap_failed();
	memset(&v2, 0, sizeof(v2));
	verify_pages(CHILD, &regions[R_PLAIN], 0, COW_TEST_PAGES, V_CONTENT | V_PFN, &v2);
	judge("child after the parent wrote shared pages", V_CONTENT | V_PFN, &v2);
	mine += ktap_failed() - failed;
	fflush(stdout);
	_exit(mine ? 1 : 0);
}

static void check_child_exit(pid_t c, const char *what)
{
	int st;

	char name[96];

	snprintf(name, sizeof(name), "%s: exits with status 0", what);
	if (waitpid(c, &st, 0) != c)
		ktap_fail(name, "waitpid: %s", strerror(errno));
	else
		ktap_check(name, WIFEXITED(st) && !WEXITSTATUS(st), "%s %d",
			   WIFEXITED(st) ? "exited with" : "killed by signal",
			   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Own pagemap entries; this program cannot go on without them. */
static void self_pagemap(const void *p, uint64_t n, uint64_t *e)
{
	int ret = kt_pagemap(0, (uint64_t)(uintptr_t)p, n, e);

	if (ret)
		ktap_bail("read /proc/self/pagemap: %s", strerror(-ret));
}

/* Write to pages the child still shares: the parent must get copies. */
static void cow_test_parent(uint64_t seed)
{
	struct region *r = &regions[R_PLAIN];
	uint64_t before[COW_TEST_PAGES], after[COW_TEST_PAGES], same = 0;
	struct vres v = { 0 };

	self_pagemap(r->dst, COW_TEST_PAGES, before);
	for (uint64_t i = 0; i < COW_TEST_PAGES; i++) {
		kt_fill(r->dst + i * KT_PAGE, KT_PAGE, seed, r->start + i * KT_PAGE);
		r->pg[PARENT][i].seed = seed;
		r->pg[PARENT][i].pfn_kept = false;
	}
	self_pagemap(r->dst, COW_TEST_PAGES, after);
	for (uint64_t i = 0; i < COW_TEST_PAGES; i++)
		same += kt_pm_pfn(after[i]) == kt_pm_pfn(before[i]);
	ktap_check("COW: pages the parent writes leave the frame the child shares", !same,
		   "%" PRIu64 " of %d stayed", same, COW_TEST_PAGES);
	verify_pages(PARENT, r, 0, COW_TEST_PAGES, V_CONTENT, &v);
	judge("parent after writing shared pages", V_CONTENT, &v);
}

/* A second generation: fork again, the new child sees the parent's
 * current memory and its own writes stay its own. */
static void fork_again_test(void)
{
	struct region *thp = &regions[R_THP];
	struct vres v = { 0 };
	pid_t c;

	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		uint64_t seed = thp->seed ^ 0x5a5a5a5a5a5a5a5aULL, e;
		unsigned int off = 0, failed = ktap_failed();

		verify_pages(PARENT, &regions[R_PLAIN], 0, region_pages(&regions[R_PLAIN]),
			     V_CONTENT, &v);
		judge("second child: plain region", V_CONTENT, &v);
		kt_fill(thp->dst, KT_PAGE, seed, thp->start);
		ktap_check("second child: its own write to the THP region sticks",
			   !kt_page_bad_bytes(thp->dst, seed, thp->start, &off),
			   "wrong from +%u on", off);
		self_pagemap(thp->dst, 1, &e);
		ktap_check("second child: writing a shared THP page copies it",
			   kt_pm_pfn(e) != thp->pg[PARENT][0].pfn, "still at pfn 0x%" PRIx64,
			   kt_pm_pfn(e));
		fflush(stdout);
		_exit(ktap_failed() > failed ? 1 : 0);
	}
	check_child_exit(c, "second child");
	verify_pages(PARENT, thp, 0, region_pages(thp), V_CONTENT | V_PFN, &v);
	judge("parent THP region after the second child wrote to it", V_CONTENT | V_PFN, &v);
}

static void mprotect_test(void)
{
	struct region *r = &regions[R_MPROT];
	struct vres v = { 0 };
	int st;
	pid_t c;

	if (!ktap_check("mprotect(PROT_READ) of restored pages",
			!mprotect(r->dst + r->ro_off, r->ro_len, PROT_READ), "%s", strerror(errno)))
		return;
	verify_pages(PARENT, r, 0, region_pages(r), V_CONTENT | V_PFN, &v);
	judge("mprotect region after mprotect", V_CONTENT | V_PFN, &v);
	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		signal(SIGSEGV, SIG_DFL);
		*(volatile char *)(r->dst + r->ro_off) = 1;
		_exit(0);
	}
	ktap_check("a write to the read-only part of restored memory faults",
		   waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
		   "it did not");
}

static void mremap_test(void)
{
	struct region *r = &regions[R_THP];
	struct vres v = { 0 };
	char *to = kt_map_aligned(r->len, KT_HUGE);
	void *p;

	if (to == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	p = mremap(r->dst, r->len, r->len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (!ktap_check("mremap of the restored THP region", p == to, "%s", strerror(errno)))
		return;
	r->dst = to;
	verify_pages(PARENT, r, 0, region_pages(r), V_CONTENT | V_PFN, &v);
	judge("THP region after mremap", V_CONTENT | V_PFN, &v);
}

static void munmap_test(void)
{
	struct region *r = &regions[R_PLAIN];
	struct vres v = { 0 };

	if (!ktap_check("munmap of the first MiB of the restored plain region",
			!munmap(r->dst, COW_TEST_PAGES * KT_PAGE), "%s", strerror(errno)))
		return;
	for (uint64_t i = 0; i < COW_TEST_PAGES; i++)
		r->pg[PARENT][i].gone = true;
	verify_pages(PARENT, r, 0, region_pages(r), V_CONTENT | V_PFN, &v);
	judge("plain region after munmap of its first MiB", V_CONTENT | V_PFN, &v);
}

/* Once the session is released nobody may hold a reference on a mapped
 * page: a write to a page only this process maps reuses the frame instead
 * of copying. */
static void write_after_release_test(void)
{
	struct region *r = &regions[R_MPROT];
	uint64_t seed = r->seed ^ 0x0123456789abcdefULL, before, after;
	unsigned int off = 0;

	/* Drain per-CPU LRU batches: their references would force a copy. */
	kt_settle();
	self_pagemap(r->dst, 1, &before);
	kt_fill(r->dst, KT_PAGE, seed, r->start);
	r->pg[PARENT][0].seed = seed;
	ktap_check("a write after the release sticks",
		   !kt_page_bad_bytes(r->dst, seed, r->start, &off), "wrong from +%u on", off);
	self_pagemap(r->dst, 1, &after);
	ktap_check("a write after the release reuses the frame: nothing else holds it",
		   kt_pm_pfn(after) == kt_pm_pfn(before), "copied: pfn 0x%" PRIx64 " -> 0x%" PRIx64,
		   kt_pm_pfn(before), kt_pm_pfn(after));
}

/* The session and its khopages file from Live Update. Returns the handle
 * on the file; *luo_fd gets the Live Update session. */
static struct khop *retrieve_from_luo(int *luo_fd)
{
	struct khop *k;
	int fd;

	if (khop_luo_retrieve(SESSION, luo_fd))
		ktap_bail("%s", khop_luo_error());
	ktap_pass("retrieve Live Update session " SESSION);
	if (khop_luo_retrieve_fd(*luo_fd, KHOP_LUO_TOKEN_PAGES, &fd))
		ktap_bail("%s", khop_luo_error());
	ktap_pass("retrieve the khopages file from Live Update session " SESSION);
	if (khop_from_fd(fd, &k))
		ktap_bail("the retrieved file: %s", khop_open_error());
	return k;
}

/* LIST shows the retrieved session, and OPEN on another file attaches
 * that one too. */
static void check_retrieved_session(struct khop *k)
{
	struct khopages_session_info *infos, in;
	uint32_t state = 0;
	size_t nr, found = 0;
	struct khop *k2;
	int ret;

	if (ktap_check("list", !khop_list(k, &infos, &nr), "%s", khop_error(k))) {
		for (size_t i = 0; i < nr; i++)
			if (!strncmp(infos[i].name, SESSION, sizeof(infos[i].name))) {
				found++;
				state = infos[i].state;
			}
		free(infos);
		ktap_check("list: session " SESSION " once, retrieved",
			   found == 1 && state == KHOPAGES_STATE_RETRIEVED, "%zu times, state %s",
			   found, khop_state_name(state));
	}
	if (khop_open(&k2))
		ktap_bail("open: %s", khop_open_error());
	ret = khop_attach(k2, SESSION);
	ktap_check("OPEN " SESSION " on another file attaches it too", !ret, "%s",
		   khop_error(k2));
	ret = khop_stats(k2, SESSION, &in);
	ktap_check("stats through the other file: state retrieved",
		   !ret && in.state == KHOPAGES_STATE_RETRIEVED, "%s",
		   ret ? khop_error(k2) : khop_state_name(in.state));
	khop_close(k2);
	ret = khop_stats(k, SESSION, &in);
	ktap_check("closing the other file leaves the session retrieved",
		   !ret && in.state == KHOPAGES_STATE_RETRIEVED, "%s",
		   ret ? khop_error(k) : khop_state_name(in.state));
}

void do_verify(const char *dir)
{
	/* First thing: the preserved pages are not free in this kernel
	 * until we are done with them. */
	long memfree0 = kt_meminfo_kb("MemFree"), free0 = kt_free_kb(), memfree1, free1, want;
	uint64_t parent_pages = 0, own = 0, shared = 0, wseed;
	struct vres parent = { 0 }, holes = { 0 }, after = { 0 };
	struct khopages_session_info in;
	struct child_report rep;
	int to_child[2], from_child[2], at_orig = 0, ret, luo_fd;
	struct khop *k;
	pid_t c;
	char cmd = 'w';

	if (memfree0 < 0 || free0 < 0)
		ktap_bail("cannot read MemFree or /proc/zoneinfo");
	load_description(dir);
	ktap_diag("stage 1: parent pid %d, child pid %d, %" PRIu64 " pages in %d ranges, %"
		  PRIu64 " distinct frames; MemFree now %ld kB", (int)pids[PARENT],
		  (int)pids[CHILD], (uint64_t)saved.nr_pages, nr_ranges, distinct_frames, memfree0);

	k = retrieve_from_luo(&luo_fd);
	check_incoming_stats(k);
	check_retrieved_session(k);

	for (int ri = 0; ri < NR_REGIONS; ri++) {
		make_dst(&regions[ri]);
		at_orig += regions[ri].at_orig;
		ktap_diag("region %-8s 0x%" PRIx64 " -> %p%s", regions[ri].name, regions[ri].start,
			  (void *)regions[ri].dst, regions[ri].at_orig ? " (original address)" : "");
	}
	for (int kidx = 0; kidx < nr_ranges; kidx++) {
		const struct range *rg = &ranges[kidx];
		struct region *r = &regions[rg->region];
		struct khopages_map m;
		char label[96];

		if (rg->who != PARENT)
			continue;
		memset(&m, 0, sizeof(m));
		snprintf(label, sizeof(label), "map %s+0x%" PRIx64, r->name, rg->off);
		if (khop_map(k, pids[PARENT], r->start + rg->off,
			     (uint64_t)(uintptr_t)r->dst + rg->off, rg->len, &m))
			ktap_bail("%s: %s", label, khop_error(k));
		ktap_pass(label);
		ktap_diag("%s -> %p: %" PRIu64 " mapped, %" PRIu64 " shared, %" PRIu64 " copied",
			  label, (void *)(r->dst + rg->off), (uint64_t)m.nr_mapped,
			  (uint64_t)m.nr_shared, (uint64_t)m.nr_copied);
		check_map_result(label, &m, rg->nr_pages, 0);
		parent_pages += rg->nr_pages;
	}
	/* Holes later: reading one maps the zero page, which the child
	 * would inherit before its own MAP. */
	verify_all(PARENT, V_CONTENT | V_PFN, &parent);
	judge("parent after MAP", V_CONTENT | V_PFN, &parent);
	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];
		long kb = kt_anon_huge_kb(getpid(), (uint64_t)(uintptr_t)r->dst, r->len);

		if (r->madv == MADV_HUGEPAGE)
			ktap_diag("region %s after MAP: AnonHugePages %ld kB", r->name, kb);
	}

	if (pipe(to_child) || pipe(from_child))
		ktap_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		close(to_child[1]);
		close(from_child[0]);
		restore_child(k, from_child[1], to_child[0]);
	}
	/* Only the child keeps these ends: its death reads as EOF. */
	close(to_child[0]);
	close(from_child[1]);
	if (kt_read_all(from_child[0], &rep, sizeof(rep)))
		ktap_bail("the restoring child died");
	own = rep.own;
	shared = rep.shared;

	verify_all(PARENT, V_HOLES, &holes);
	judge("parent holes", V_HOLES, &holes);
	if (ktap_check("stats after all MAPs", !khop_stats(k, SESSION, &in), "%s", khop_error(k))) {
		print_info("stats after all MAPs", &in);
		expect_u64("stats nr_mapped", in.nr_mapped, parent_pages + own);
		expect_u64("stats nr_shared", in.nr_shared, shared);
		expect_u64("stats nr_copied", in.nr_copied, 0);
		expect_u64("stats nr_released (nothing left unmapped)", in.nr_released, 0);
	}

	if (getrandom(&wseed, sizeof(wseed), 0) != sizeof(wseed))
		ktap_bail("getrandom: %s", strerror(errno));
	cow_test_parent(wseed);
	ktap_check("the restoring child takes the next step", !kt_write_all(to_child[1], &cmd, 1),
		   "it is gone");
	check_child_exit(c, "restoring child");
	close(to_child[1]);
	close(from_child[0]);
	fork_again_test();
	mprotect_test();
	mremap_test();
	munmap_test();

	/* Live Update lets go of the file; the last file closed releases
	 * the session. The children have exited. */
	ret = khop_luo_finish(luo_fd);
	ktap_check("Live Update FINISH of session " SESSION, !ret, "%s", khop_luo_error());
	close(luo_fd);
	khop_close(k);
	if (khop_open(&k))
		ktap_bail("open: %s", khop_open_error());
	ret = khop_stats(k, SESSION, &in);
	ktap_check_err("stats after FINISH and closing every file -> ENOENT", ret, -ENOENT);
	verify_all(PARENT, V_CONTENT | V_PFN, &after);
	judge("parent after the session was released", V_CONTENT | V_PFN, &after);
	write_after_release_test();
	khop_close(k);

	for (int ri = 0; ri < NR_REGIONS; ri++) {
		struct region *r = &regions[ri];
		uint64_t skip = ri == R_PLAIN ? COW_TEST_PAGES * KT_PAGE : 0;

		munmap(r->dst + skip, r->len - skip);
	}
	free_pageinfo();
	/* Judged on free memory including the per-CPU free lists, which
	 * MemFree leaves out; MemFree is printed too. */
	want = free0 + (long)(distinct_frames * 4 * 9 / 10);
	free1 = kt_wait_free(want, 10000);
	memfree1 = kt_meminfo_kb("MemFree");
	ktap_diag("MemFree: before %ld kB, after %ld kB (%+ld kB); with per-CPU lists: before %ld"
		  " kB, after %ld kB (%+ld kB); preserved %" PRIu64 " kB", memfree0, memfree1,
		  memfree1 - memfree0, free0, free1, free1 - free0, distinct_frames * 4);
	ktap_check("free memory got at least 90% of the preserved pages back", free1 >= want,
		   "it rose by %ld kB of the %" PRIu64 " kB preserved: pages leaked",
		   free1 - free0, distinct_frames * 4);

	ktap_diag("memtest verify: %s: pages verified %" PRIu64 " (parent %" PRIu64 ", child %"
		  PRIu64 "), PFNs equal %" PRIu64 "/%" PRIu64 ", bytes wrong %" PRIu64
		  ", holes %" PRIu64 " zero, regions at original address %d/%d,"
		  " MemFree before %ld kB after %ld kB", ktap_failed() ? "FAILED" : "PASS",
		  parent.pages + rep.v.pages, parent.pages, rep.v.pages,
		  parent.pfn_equal + rep.v.pfn_equal, parent.pfn_checked + rep.v.pfn_checked,
		  parent.bytes_wrong + rep.v.bytes_wrong + after.bytes_wrong,
		  holes.holes + rep.v.holes, at_orig, NR_REGIONS, memfree0, memfree1);
}

