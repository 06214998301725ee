// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: a session handed over to the next kernel in a Live
 * Update session, and the cases on it there: retrieving it, OPEN from a
 * second file, rights, MAP, the last close; and closing a retrieved
 * session unmapped gives its memory back.
 */
#include "khopages_errors.h"

/* ------------------------------------------------------------------ */
/* A session for the next kernel, and what it holds                   */

struct records {
	char session[KHOPAGES_NAME_MAX];
	pid_t pid;
	struct target t;	/* regions as they were in the old process */
	uint64_t *pfn[3];	/* per region, per page */
};

static void write_records(const char *file, const struct records *rec)
{
	FILE *f = fopen(file, "w");

	if (!f)
		ktap_bail("create %s: %s", file, strerror(errno));
	fprintf(f, "# khopages_errors: handed-over session, one frame per page\n"
		   "session %s\npid %d\n", rec->session, (int)rec->pid);
	for (int i = 0; i < rec->t.nr; i++) {
		const struct tregion *r = &rec->t.r[i];

		fprintf(f, "region %s 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %d\n", r->name,
			r->addr, r->len, r->seed, r->large ? 1 : 0);
		for (uint64_t p = 0; p < r->nr_pages; p++)
			fprintf(f, "page %d %" PRIu64 " 0x%" PRIx64 "\n", i, p, rec->pfn[i][p]);
	}
	fprintf(f, "end\n");
	if (fflush(f) || fsync(fileno(f)) || fclose(f))
		ktap_bail("write %s: %s", file, strerror(errno));
}

static void read_records(const char *file, struct records *rec)
{
	char line[256], name[16];
	uint64_t a, b, c, p;
	int large, ri, pid;
	bool end = false;
	FILE *f = fopen(file, "r");

	memset(rec, 0, sizeof(*rec));
	if (!f)
		ktap_bail("open %s: %s (did stage 1 hand the session over?)", file,
			  strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		if (sscanf(line, "session %63s", rec->session) == 1)
			continue;
		if (sscanf(line, "pid %d", &pid) == 1) {
			rec->pid = pid;
		} else if (sscanf(line, "region %15s %" SCNx64 " %" SCNx64 " %" SCNx64 " %d", name,
				  &a, &b, &c, &large) == 5 && rec->t.nr < 3) {
			struct tregion *r = &rec->t.r[rec->t.nr];

			snprintf(r->name, sizeof(r->name), "%s", name);
			r->addr = a;
			r->len = b;
			r->seed = c;
			r->large = large;
			r->nr_pages = b / KT_PAGE;
			rec->pfn[rec->t.nr] = calloc(r->nr_pages, 8);
			if (!rec->pfn[rec->t.nr])
				ktap_bail("out of memory");
			rec->t.nr++;
		} else if (sscanf(line, "page %d %" SCNu64 " %" SCNx64, &ri, &p, &a) == 3 &&
			   ri >= 0 && ri < rec->t.nr && p < rec->t.r[ri].nr_pages) {
			rec->pfn[ri][p] = a;
		} else if (!strcmp(line, "end\n")) {
			end = true;
		} else {
			ktap_bail("%s: cannot parse: %s", file, line);
		}
	}
	fclose(f);
	if (!end || !rec->pid || !rec->t.nr)
		ktap_bail("%s: incomplete", file);
}

static int find_region(const struct records *rec, const char *name)
{
	for (int i = 0; i < rec->t.nr; i++)
		if (!strcmp(rec->t.r[i].name, name))
			return i;
	return -1;
}

static uint64_t total_pages(const struct records *rec)
{
	uint64_t n = 0;

	for (int i = 0; i < rec->t.nr; i++)
		n += rec->t.r[i].nr_pages;
	return n;
}

void do_handover(const char *name, const char *file, const char *pidfile, uint64_t mib)
{
	struct records rec;
	struct khopages_session_info in;
	struct khop *k = open_or_bail(), *other;
	uint64_t f, n;
	int ret;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.session, sizeof(rec.session), "%s", name);
	target_add(&rec.t, "small", 64 * KT_PAGE, MADV_NOHUGEPAGE);
	target_add(&rec.t, "thp", KT_HUGE, MADV_HUGEPAGE);
	if (mib)
		target_add(&rec.t, "plain", mib * KT_MIB, MADV_NOHUGEPAGE);
	ret = target_start(&rec.t, true);
	if (ret)
		ktap_bail("start the target: %s", strerror(-ret));
	rec.pid = rec.t.pid;
	if (khop_create(k, name))
		ktap_bail("create %s: %s", name, khop_error(k));
	for (int i = 0; i < rec.t.nr; i++) {
		struct tregion *r = &rec.t.r[i];
		struct khopages_preserve p;
		char what[64];

		if (khop_preserve(k, rec.pid, r->addr, r->len, &p))
			ktap_bail("preserve %s: %s", r->name, khop_error(k));
		snprintf(what, sizeof(what), "handover: preserve %s takes all %" PRIu64 " pages",
			 r->name, r->nr_pages);
		ktap_check(what, p.nr_pages == r->nr_pages, "%" PRIu64 " pages", (uint64_t)p.nr_pages);
		/* Frames after PRESERVE: it may have moved pages out of scratch. */
		rec.pfn[i] = target_pfns(&rec.t, i, &n);
		if (n != r->nr_pages)
			ktap_bail("%s has %" PRIu64 " of %" PRIu64 " pages", r->name, n, r->nr_pages);
		f = kt_kpageflags(rec.pfn[i][0]);
		r->large = f != UINT64_MAX && (f & (1ULL << 22 /* KPF_THP */));
	}
	if (kt_hand_over(khop_fd(k), name, pidfile) < 0)
		ktap_bail("hand %s over: %s", name, kt_handover_error());
	ret = khop_stats(k, name, &in);
	ktap_check("handover: stats", !ret && in.state == KHOPAGES_STATE_PRESERVED &&
		   in.nr_pages == total_pages(&rec) && in.nr_pids == 1,
		   "%s, state %s, %" PRIu64 " pages, %u pids", ktap_errname(ret),
		   khop_state_name(in.state), (uint64_t)in.nr_pages, in.nr_pids);
	write_records(file, &rec);
	kt_kill_wait(rec.pid);
	/* The holder keeps the file until the kexec: ours may go. */
	khop_close(k);
	other = open_or_bail();
	ret = khop_stats(other, name, &in);
	ktap_check("handover: still preserved once this process closed its file",
		   !ret && in.state == KHOPAGES_STATE_PRESERVED, "%s, state %s", ktap_errname(ret),
		   khop_state_name(in.state));
	khop_close(other);
	ktap_diag("handover %s: %" PRIu64 " pages of pid %d%s, records in %s, holder in %s", name,
		  total_pages(&rec), (int)rec.pid,
		  rec.t.r[1].large ? ", with a THP" : ", no THP", file, pidfile);
}

/* ------------------------------------------------------------------ */
/* Incoming cases (after kexec)                                       */

static char *map_anon(uint64_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	return p;
}

/* Content and frames of region @ri as mapped at @dst. */
static void check_mapped(const char *name, const struct records *rec, int ri, const char *dst)
{
	const struct tregion *r = &rec->t.r[ri];
	uint64_t *e = malloc(r->nr_pages * 8), bad = 0, same = 0;
	char what[128];

	if (!e || kt_pagemap(0, (uint64_t)(uintptr_t)dst, r->nr_pages, e))
		ktap_bail("read /proc/self/pagemap");
	for (uint64_t p = 0; p < r->nr_pages; p++) {
		same += kt_pm_present(e[p]) && kt_pm_pfn(e[p]) == rec->pfn[ri][p];
		bad += kt_page_bad_bytes(dst + p * KT_PAGE, r->seed, r->addr + p * KT_PAGE, NULL);
	}
	free(e);
	snprintf(what, sizeof(what), "%s: every byte as before kexec", name);
	ktap_check(what, bad == 0, "%" PRIu64 " bytes wrong", bad);
	snprintf(what, sizeof(what), "%s: every page at its pre-kexec frame", name);
	ktap_check(what, same == r->nr_pages, "%" PRIu64 "/%" PRIu64 " PFNs equal", same, r->nr_pages);
}

/* STATS of @name through @k as one case: retrieved, all pages, @mapped mapped. */
static void check_retrieved(const char *what, struct khop *k, const char *name,
			    const struct records *rec, uint64_t mapped)
{
	struct khopages_session_info in;
	int ret = khop_stats(k, name, &in);

	ktap_check(what, !ret && in.state == KHOPAGES_STATE_RETRIEVED &&
		   in.nr_pages == total_pages(rec) && in.nr_pids == 1 && in.nr_mapped == mapped,
		   "%s, state %s, %" PRIu64 " pages, %u pids, %" PRIu64 " mapped",
		   ktap_errname(ret), khop_state_name(in.state), (uint64_t)in.nr_pages,
		   in.nr_pids, (uint64_t)in.nr_mapped);
}

/* Retrieve Live Update session @name and its khopages file, step by step. */
static struct khop *retrieve(const char *name, struct khop *fresh)
{
	struct khopages_session_info in;
	struct khop *k;
	int luo, fd, ret;

	ret = khop_stats(fresh, name, &in);
	ktap_check("incoming: stats before the retrieve: state incoming",
		   !ret && in.state == KHOPAGES_STATE_INCOMING, "%s, state %s",
		   ktap_errname(ret), khop_state_name(in.state));
	ktap_check_err("incoming: open before the retrieve -> ENOENT",
		       khop_attach(fresh, name), -ENOENT);
	ktap_check("incoming: listed as incoming before the retrieve",
		   listed(fresh, name, &in) && in.state == KHOPAGES_STATE_INCOMING,
		   "state %s", khop_state_name(in.state));
	if (khop_luo_retrieve(name, &luo))
		ktap_bail("%s", khop_luo_error());
	ret = khop_stats(fresh, name, &in);
	ktap_check("incoming: still incoming before its file is retrieved",
		   !ret && in.state == KHOPAGES_STATE_INCOMING, "%s, state %s",
		   ktap_errname(ret), khop_state_name(in.state));
	if (khop_luo_retrieve_fd(luo, KHOP_LUO_TOKEN_PAGES, &fd))
		ktap_bail("%s", khop_luo_error());
	if (khop_from_fd(fd, &k))
		ktap_bail("%s", khop_open_error());
	if (khop_luo_finish(luo))
		ktap_bail("%s", khop_luo_error());
	close(luo);
	ret = khop_luo_retrieve(name, &luo);
	ktap_check_err("incoming: its Live Update session, finished and closed, is gone: "
		       "retrieve -> ENOENT", ret, -ENOENT);
	if (!ret)
		close(luo);
	return k;
}

void do_incoming(const char *name, const char *file)
{
	struct records rec;
	struct khop *k1, *k2, *fresh;
	struct khopages_session_info in, before;
	struct khopages_map base, m;
	struct drop_map dm;
	int fd, luo, res[NR_RESULTS], ret, si, ti;
	const struct tregion *small, *thp;
	char *dst, *dst2, *pair, *thp_dst;
	uint64_t e[64], present = 0;

	read_records(file, &rec);
	si = find_region(&rec, "small");
	ti = find_region(&rec, "thp");
	if (si < 0 || ti < 0)
		ktap_bail("%s lacks the small or thp range", file);
	small = &rec.t.r[si];
	thp = &rec.t.r[ti];
	fresh = open_or_bail();
	k1 = retrieve(name, fresh);
	fd = khop_fd(k1);
	check_retrieved("incoming: stats of the retrieved session", k1, name, &rec, 0);
	khop_stats(k1, name, &before);

	dst = map_anon(small->len, MAP_PRIVATE);
	memset(&base, 0, sizeof(base));
	base.size = sizeof(base);
	base.pid = rec.pid;
	base.orig_va = small->addr;
	base.dst_va = (uint64_t)(uintptr_t)dst;
	base.len = small->len;

	/* Rights: the caller's own, whatever file it uses. */
	if (run_dropped("open as uid 65534 -> EPERM", false, drop_open, (void *)name, res))
		ktap_check_err("open as uid 65534 -> EPERM", res[0], -EPERM);
	if (run_dropped("stats as uid 65534 -> EPERM", false, drop_stats, (void *)name, res))
		ktap_check_err("stats as uid 65534 -> EPERM", res[0], -EPERM);
	dm.root = k1;
	dm.m = base;
	if (run_dropped("map through the inherited retrieved file as uid 65534 -> EPERM", false,
			drop_map, &dm, res))
		ktap_check_err("map through the inherited retrieved file as uid 65534 -> EPERM",
			       res[0], -EPERM);
	ret = khop_stats(k1, name, &in);
	ktap_check("incoming: the refused calls changed nothing", !ret && same_info(&in, &before),
		   "%s, state %s, %" PRIu64 " mapped", ktap_errname(ret), khop_state_name(in.state),
		   (uint64_t)in.nr_mapped);

	/* Each restored process opens the session for itself. */
	k2 = open_or_bail();
	ktap_check_err("open from a second file", khop_attach(k2, name), 0);
	check_retrieved("  ... the session stays retrieved", k2, name, &rec, 0);
	ktap_check_err("open on the retrieved file itself -> EBUSY", khop_attach(k1, name), -EBUSY);
	ktap_check_err("open twice on one file -> EBUSY", khop_attach(k2, name), -EBUSY);
	ktap_check_err("create on a file that holds a retrieved session -> EBUSY",
		       khop_create(k1, "errother"), -EBUSY);
	luo = luo_session_or_bail("errretrieved");
	ktap_check_err("Live Update preserve of a retrieved file -> EOPNOTSUPP",
		       khop_luo_preserve_fd(luo, fd, KHOP_LUO_TOKEN_PAGES), -EOPNOTSUPP);
	close(luo);
	ret = khop_stats(k1, name, &in);
	ktap_check("  ... and changes nothing", !ret && same_info(&in, &before), "%s, state %s",
		   ktap_errname(ret), khop_state_name(in.state));

	/* Argument errors, straight to the driver. */
	m = base; m.size = 0;
	ktap_check_err("map: size 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.flags = 1;
	ktap_check_err("map: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.__pad = 1;
	ktap_check_err("map: non-zero padding -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.len = 0;
	ktap_check_err("map: len 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.len = KT_PAGE + 8;
	ktap_check_err("map: unaligned len -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.orig_va += 8;
	ktap_check_err("map: unaligned orig_va -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.dst_va += 8;
	ktap_check_err("map: unaligned dst -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.dst_va = 0xfffffffffffff000ULL; m.len = 2 * KT_PAGE;
	ktap_check_err("map: dst+len wraps -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);

	/* Destinations that are not one private anonymous VMA. */
	dst2 = map_anon(small->len, MAP_PRIVATE);
	munmap(dst2, small->len);
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	ktap_check_err("map: unmapped dst -> EFAULT", rawio(fd, KHOPAGES_IOC_MAP, &m), -EFAULT);
	dst2 = map_anon(small->len, MAP_SHARED);
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	ktap_check_err("map: shared (non-anonymous) dst -> EFAULT", rawio(fd, KHOPAGES_IOC_MAP, &m),
		       -EFAULT);
	munmap(dst2, small->len);
	/* Two VMAs: same memory, different protections on each half. */
	pair = map_anon(small->len, MAP_PRIVATE);
	if (mprotect(pair + small->len / 2, small->len / 2, PROT_READ))
		ktap_bail("mprotect: %s", strerror(errno));
	m = base; m.dst_va = (uint64_t)(uintptr_t)pair;
	ktap_check_err("map: dst across two VMAs -> EFAULT", rawio(fd, KHOPAGES_IOC_MAP, &m), -EFAULT);
	munmap(pair, small->len);

	/* Ranges the session does not hold. */
	m = base; m.pid = rec.pid + 1;
	ktap_check_err("map: pid not in the session -> ENOENT",
		       rawio(fd, KHOPAGES_IOC_MAP, &m), -ENOENT);
	m = base; m.orig_va = 0x10000;
	ktap_check_err("map: range not recorded -> ENOENT", rawio(fd, KHOPAGES_IOC_MAP, &m), -ENOENT);

	/* Another page already at the last page of dst: refused whole. */
	dst2 = map_anon(small->len, MAP_PRIVATE);
	dst2[small->len - KT_PAGE] = 1;
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	ktap_check_err("map: another page at dst -> EEXIST", rawio(fd, KHOPAGES_IOC_MAP, &m), -EEXIST);
	if (kt_pagemap(0, (uint64_t)(uintptr_t)dst2, 64, e))
		ktap_bail("read pagemap");
	for (int i = 0; i < 63; i++)
		present += kt_pm_present(e[i]);
	ktap_check("map: the refused MAP mapped nothing", present == 0, "%" PRIu64 " pages mapped",
		   present);
	munmap(dst2, small->len);

	if (thp->large) {
		/* A huge folio needs dst congruent to orig_va modulo its size. */
		char *area = kt_map_aligned(2 * KT_HUGE, KT_HUGE);

		if (area == MAP_FAILED)
			ktap_bail("mmap: %s", strerror(errno));
		m = base;
		m.orig_va = thp->addr;
		m.len = thp->len;
		m.dst_va = (uint64_t)(uintptr_t)area + KT_PAGE;
		ktap_check_err("map: THP range at a dst not congruent modulo 2 MiB -> EINVAL",
			       rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
		munmap(area, 2 * KT_HUGE);
	} else {
		ktap_skip("map: THP range at a dst not congruent modulo 2 MiB", "no THP before kexec");
	}
	ret = khop_stats(k1, name, &in);
	ktap_check("map: no refused MAP left anything mapped", !ret && in.nr_mapped == 0,
		   "%s, %" PRIu64 " mapped", ktap_errname(ret), (uint64_t)in.nr_mapped);

	/* The real thing, then doing it again, through either file. */
	m = base;
	ret = rawio(fd, KHOPAGES_IOC_MAP, &m);
	ktap_check("map: the small range", !ret && m.nr_mapped == small->nr_pages && !m.nr_shared &&
		   !m.nr_copied, "%s, %" PRIu64 " mapped, %" PRIu64 " shared, %" PRIu64 " copied",
		   ktap_errname(ret), (uint64_t)m.nr_mapped, (uint64_t)m.nr_shared,
		   (uint64_t)m.nr_copied);
	check_mapped("map: small range", &rec, si, dst);
	m = base;
	ktap_check_err("map the same range again at the same dst -> EALREADY",
		       rawio(fd, KHOPAGES_IOC_MAP, &m), -EALREADY);
	dst2 = map_anon(small->len, MAP_PRIVATE);
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	ktap_check_err("map the same range again elsewhere -> EALREADY",
		       rawio(fd, KHOPAGES_IOC_MAP, &m), -EALREADY);
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	ktap_check_err("map the same range again through the second file -> EALREADY",
		       rawio(khop_fd(k2), KHOPAGES_IOC_MAP, &m), -EALREADY);

	thp_dst = kt_map_aligned(thp->len, KT_HUGE);
	if (thp_dst == MAP_FAILED || madvise(thp_dst, thp->len, MADV_HUGEPAGE))
		ktap_bail("mmap: %s", strerror(errno));
	ret = khop_map(k2, rec.pid, thp->addr, (uint64_t)(uintptr_t)thp_dst, thp->len, &m);
	ktap_check("map: the THP range through the second file", !ret && m.nr_mapped == thp->nr_pages,
		   "%s, %" PRIu64 " mapped", ret ? khop_error(k2) : "ok", (uint64_t)m.nr_mapped);
	check_mapped("map: THP range", &rec, ti, thp_dst);

	/* The session lives while a file is attached; the last close ends it. */
	khop_close(k1);
	check_retrieved("closing the retrieved file while a second is attached keeps the session",
			k2, name, &rec, total_pages(&rec));
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	ktap_check_err("  ... MAP through the second file still knows what was mapped -> EALREADY",
		       rawio(khop_fd(k2), KHOPAGES_IOC_MAP, &m), -EALREADY);
	munmap(dst2, small->len);
	khop_close(k2);
	ktap_check_err("the last close releases the session: stats -> ENOENT",
		       khop_stats(fresh, name, &in), -ENOENT);
	ktap_check_err("open after the last close -> ENOENT", khop_attach(fresh, name), -ENOENT);
	check_mapped("after the last close: small range", &rec, si, dst);
	check_mapped("after the last close: THP range", &rec, ti, thp_dst);
	khop_close(fresh);
}

/* Retrieving a session and closing its file unmapped gives its memory back. */
void do_discard(const char *name, const char *file)
{
	struct records rec;
	struct khopages_session_info in;
	struct khop *fresh = open_or_bail(), *k;
	long before, want, now;
	int fd, ret;

	read_records(file, &rec);
	fd = kt_take_over(name);
	if (fd < 0)
		ktap_bail("take %s over: %s", name, kt_handover_error());
	if (khop_from_fd(fd, &k))
		ktap_bail("%s", khop_open_error());
	ret = khop_stats(k, name, &in);
	ktap_check("discard: the session arrived, retrieved",
		   !ret && in.state == KHOPAGES_STATE_RETRIEVED && in.nr_pages == total_pages(&rec),
		   "%s, state %s, %" PRIu64 " pages", ktap_errname(ret), khop_state_name(in.state),
		   (uint64_t)in.nr_pages);
	kt_settle();
	before = kt_free_kb();
	khop_close(k);
	ktap_check_err("discard: closing its only file releases it: stats -> ENOENT",
		       khop_stats(fresh, name, &in), -ENOENT);
	fd = kt_take_over(name);
	ktap_check("discard: taking it over again -> ENOENT",
		   fd < 0 && strstr(kt_handover_error(), "ENOENT"), "%s",
		   fd < 0 ? kt_handover_error() : "it succeeded");
	if (fd >= 0)
		close(fd);
	want = before + (long)(total_pages(&rec) * 4 * 3 / 4);
	now = kt_wait_free(want, 5000);
	ktap_check("discard: free memory got the preserved pages back", now >= want,
		   "free memory rose by %ld kB, expected at least %ld kB of %" PRIu64 " kB",
		   now - before, want - before, total_pages(&rec) * 4);
	khop_close(fresh);
}
