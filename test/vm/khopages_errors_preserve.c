// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: PRESERVE and EVACUATE: their arguments, what they take
 * and move, and who may call them.
 */
#include "khopages_errors.h"

void t_preserve_bad_args(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k), ret, st;
	struct khopages_preserve base, p;
	struct khopages_session_info in;
	struct target t;
	pid_t gone;

	target_16m(&t);
	if (khop_create(k, "errpreserve"))
		ktap_bail("create: %s", khop_error(k));
	memset(&base, 0, sizeof(base));
	base.size = sizeof(base);
	base.pid = t.pid;
	base.start = t.r[0].addr;
	base.len = t.r[0].len;

	p = base; p.size = 0;
	ktap_check_err("preserve: size 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.size = sizeof(p) - 8;
	ktap_check_err("preserve: size too small -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.flags = 1;
	ktap_check_err("preserve: unknown flags -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.__pad = 1;
	ktap_check_err("preserve: non-zero padding -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.start += 8;
	ktap_check_err("preserve: unaligned start -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.len = KT_PAGE + 1;
	ktap_check_err("preserve: unaligned len -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.len = 0;
	ktap_check_err("preserve: len 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.start = 0xfffffffffffff000ULL; p.len = 2 * KT_PAGE;
	ktap_check_err("preserve: start+len wraps -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.len = 0xfffffffffffff000ULL;
	ktap_check_err("preserve: huge len wraps -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);

	/* A pid that surely does not exist: a child we just reaped. */
	gone = fork();
	if (gone < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!gone)
		_exit(0);
	waitpid(gone, &st, 0);
	p = base; p.pid = gone;
	ktap_check_err("preserve: no such pid -> ESRCH", rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -ESRCH);
	p = base; p.start = 0x10000; p.len = KT_PAGE;
	ktap_check_err("preserve: nothing mapped at start -> EFAULT",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EFAULT);

	ret = khop_stats(k, "errpreserve", &in);
	ktap_check("preserve: rejected calls took no page", !ret && in.nr_pages == 0 && in.nr_pids == 0,
		   "stats %s, %" PRIu64 " pages, %u pids", ktap_errname(ret), (uint64_t)in.nr_pages,
		   in.nr_pids);

	p = base;
	ret = rawio(fd, KHOPAGES_IOC_PRESERVE, &p);
	ktap_check("preserve: the valid call takes every page", !ret && p.nr_pages == t.r[0].nr_pages &&
		   p.nr_folios >= 1 && p.nr_folios <= p.nr_pages,
		   "%s, %" PRIu64 " pages, %" PRIu64 " folios (want %" PRIu64 " pages)",
		   ktap_errname(ret), (uint64_t)p.nr_pages, (uint64_t)p.nr_folios, t.r[0].nr_pages);
	khop_abort(k);
	khop_close(k);
	kt_kill_wait(t.pid);
}

/*
 * PRESERVE takes what a core dump would: written pages, also behind
 * PROT_NONE, and no page where the process has never written (a hole, or
 * the zero page it read there).
 */
void t_preserve_holes(void)
{
	struct khop *k = open_or_bail();
	struct khopages_preserve p;
	struct target t;
	int ret;

	memset(&t, 0, sizeof(t));
	target_add(&t, "sparse", 4 * KT_MIB, MADV_NOHUGEPAGE);
	target_add(&t, "sparsethp", 8 * KT_MIB, MADV_HUGEPAGE);
	t.r[0].sparse = t.r[1].sparse = true;
	ret = target_start(&t, true);
	if (ret)
		ktap_bail("start a target process: %s", strerror(-ret));
	if (khop_create(k, "errholes"))
		ktap_bail("create: %s", khop_error(k));
	for (int i = 0; i < t.nr; i++) {
		const struct tregion *r = &t.r[i];
		uint64_t want = 0, *e = malloc(r->nr_pages * 8), zero = 0;
		char what[80];

		if (!e || kt_pagemap(t.pid, r->addr, r->nr_pages, e))
			ktap_bail("read the target's page map");
		for (uint64_t off = 0; off < r->len; off += KT_PAGE)
			want += sparse_written(r, off);
		/* The reads did map something: the zero page, not nothing. */
		for (uint64_t n = 0; n < r->nr_pages; n++)
			zero += kt_pm_present(e[n]) && !sparse_written(r, n * KT_PAGE);
		free(e);
		snprintf(what, sizeof(what), "preserve: %s takes only the written pages", r->name);
		ret = khop_preserve(k, t.pid, r->addr, r->len, &p);
		ktap_check(what, !ret && p.nr_pages == want && zero,
			   "%s, %" PRIu64 " pages of %" PRIu64 " written (%" PRIu64
			   " zero-page reads mapped)", ret ? khop_error(k) : "ok",
			   ret ? 0 : (uint64_t)p.nr_pages, want, zero);
	}
	khop_abort(k);
	khop_close(k);
	kt_kill_wait(t.pid);
}

void t_evacuate_bad_args(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k);
	struct khopages_evacuate e, base;
	struct target t;

	target_16m(&t);
	memset(&base, 0, sizeof(base));
	base.size = sizeof(base);
	base.pid = t.pid;
	base.start = t.r[0].addr;
	base.len = t.r[0].len;

	e = base; e.size = 8;
	ktap_check_err("evacuate: size too small -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		       -EINVAL);
	e = base; e.flags = 1;
	ktap_check_err("evacuate: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		       -EINVAL);
	e = base; e.__pad = 1;
	ktap_check_err("evacuate: non-zero padding -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		       -EINVAL);
	e = base; e.nr_moved = 1;
	ktap_check_err("evacuate: non-zero output field -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_EVACUATE, &e), -EINVAL);
	e = base; e.pid = 0;
	ktap_check_err("evacuate: pid 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e), -EINVAL);
	e = base; e.start += 8;
	ktap_check_err("evacuate: unaligned start -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		       -EINVAL);
	e = base; e.len = 0;
	ktap_check_err("evacuate: len 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e), -EINVAL);
	e = base; e.len = 0xfffffffffffff000ULL;
	ktap_check_err("evacuate: huge len wraps -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		       -EINVAL);
	e = base; e.pid = 0x3fffffff;
	ktap_check_err("evacuate: no such pid -> ESRCH", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		       -ESRCH);
	/* Nothing handable there: skipped, not an error. */
	e = base; e.start = 0x10000; e.len = KT_PAGE;
	ktap_check_err("evacuate: nothing mapped in the range is fine",
		       rawio(fd, KHOPAGES_IOC_EVACUATE, &e), 0);
	khop_close(k);
	kt_kill_wait(t.pid);
}

/*
 * EVACUATE moves what lies in KHO scratch out of it, the bytes stay, and
 * PRESERVE afterwards has nothing left to move. The data region is filled
 * when the balloon before it has taken most free memory, so part of it
 * lands in scratch (CMA, used once the rest runs short); the balloon is
 * then unmapped, which leaves room outside scratch to move it to.
 */
void t_evacuate(void)
{
	long free_kb = kt_free_kb();
	uint64_t room = free_kb > 0 ? (uint64_t)free_kb * 1024 : 0;
	uint64_t data = 384 * KT_MIB, balloon;
	struct khopages_evacuate ev, again;
	struct khopages_preserve p;
	struct khop *k;
	struct target t;
	int ret;

	if (room < data + 640 * KT_MIB)
		ktap_bail("evacuate: only %ld kB free", free_kb);
	balloon = (room - data - 256 * KT_MIB) & ~(KT_MIB - 1);
	k = open_or_bail();
	memset(&t, 0, sizeof(t));
	target_add(&t, "balloon", balloon, MADV_NOHUGEPAGE);
	target_add(&t, "data", data, MADV_NOHUGEPAGE);
	t.r[0].balloon = true;
	ret = target_start(&t, true);
	if (ret)
		ktap_bail("start a target process: %s", strerror(-ret));

	ret = khop_evacuate(k, t.pid, t.r[1].addr, data, &ev);
	ktap_check("evacuate: moves the target's pages out of KHO scratch", !ret && ev.nr_moved > 0,
		   "%s, %" PRIu64 " moved, %" PRIu64 " left", ret ? khop_error(k) : "ok",
		   (uint64_t)ev.nr_moved, (uint64_t)ev.nr_left);
	ktap_check("evacuate: every byte is still there", target_bad_bytes(&t, 1) == 0,
		   "wrong bytes after the move");
	ret = khop_evacuate(k, t.pid, t.r[1].addr, data, &again);
	ktap_check("evacuate: a second call finds nothing more to move",
		   !ret && again.nr_moved <= ev.nr_left && again.nr_left <= ev.nr_left,
		   "%s, %" PRIu64 " moved, %" PRIu64 " left (first call left %" PRIu64 ")",
		   ret ? khop_error(k) : "ok", (uint64_t)again.nr_moved, (uint64_t)again.nr_left,
		   (uint64_t)ev.nr_left);
	if (khop_create(k, "errevacuate"))
		ktap_bail("create: %s", khop_error(k));
	ret = khop_preserve(k, t.pid, t.r[1].addr, data, &p);
	ktap_check("preserve after evacuate moves only what evacuate left",
		   !ret && p.nr_pages == data / KT_PAGE && p.nr_moved <= ev.nr_left,
		   "%s, %" PRIu64 " pages, %" PRIu64 " moved (evacuate left %" PRIu64 ")",
		   ret ? khop_error(k) : "ok", ret ? 0 : (uint64_t)p.nr_pages,
		   ret ? 0 : (uint64_t)p.nr_moved, (uint64_t)ev.nr_left);
	ktap_diag("evacuate: %" PRIu64 " of %" PRIu64 " pages moved, %" PRIu64
		  " left; preserve then moved %" PRIu64, (uint64_t)ev.nr_moved, data / KT_PAGE,
		  (uint64_t)ev.nr_left, ret ? 0 : (uint64_t)p.nr_moved);
	khop_abort(k);
	khop_close(k);
	kt_kill_wait(t.pid);
}

void t_permissions(void)
{
	struct khop *k = open_or_bail();
	int res[NR_RESULTS];
	struct khopages_session_info in;
	struct target t;
	void *args[2];
	int ret;

	if (run_dropped("create as uid 65534 without capabilities -> EPERM", false, drop_create,
			NULL, res))
		ktap_check_err("create as uid 65534 without capabilities -> EPERM", res[0], -EPERM);

	target_16m(&t);
	if (khop_create(k, "errperm"))
		ktap_bail("create: %s", khop_error(k));
	args[0] = k;
	args[1] = &t;
	if (run_dropped("preserve on root's session as uid 65534 -> EPERM", false, drop_preserve,
			args, res))
		ktap_check_err("preserve on root's session as uid 65534 -> EPERM", res[0], -EPERM);
	ret = khop_stats(k, "errperm", &in);
	ktap_check("the refused preserve took no page", !ret && in.nr_pages == 0,
		   "stats %s, %" PRIu64 " pages", ktap_errname(ret), (uint64_t)in.nr_pages);
	khop_abort(k);

	if (run_dropped("evacuate as uid 65534 without capabilities -> EPERM", false,
			drop_evacuate, &t, res))
		ktap_check_err("evacuate as uid 65534 without capabilities -> EPERM", res[0], -EPERM);
	if (run_dropped("evacuate root's process without CAP_SYS_PTRACE -> EPERM", true,
			drop_evacuate, &t, res))
		ktap_check_err("evacuate root's process without CAP_SYS_PTRACE -> EPERM", res[0],
			       -EPERM);

	if (run_dropped("ptrace rights", true, drop_ptrace, &t, res)) {
		ktap_check_err("create as uid 65534 with CAP_CHECKPOINT_RESTORE is allowed", res[0], 0);
		ktap_check_err("preserve root's process without CAP_SYS_PTRACE -> EPERM",
			       res[1], -EPERM);
		ktap_check_err("preserve a process of one's own uid is allowed", res[2], 0);
		ktap_check("  ... and takes all its pages", res[3] == (int)(4 * KT_MIB / KT_PAGE),
			   "%d pages", res[3]);
	}
	khop_close(k);
	kt_kill_wait(t.pid);
}
