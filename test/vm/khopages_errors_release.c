// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: ABORT, closing the fd, COMMIT and FINISH of an outgoing
 * session: each gives the pages back.
 */
#include "khopages_errors.h"

void t_abort_releases(void)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info in;
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "errabort", &t, &n), e_present = 0, *e;
	long free_kb;
	int ret;

	ret = khop_stats(k, "errabort", &in);
	ktap_check("abort: stats of the open session", !ret && in.state == KHOPAGES_STATE_OPEN &&
		   in.nr_pages == n && in.nr_pids == 1, "%s, state %s, %" PRIu64 " pages, %u pids",
		   ktap_errname(ret), khop_state_name(in.state), (uint64_t)in.nr_pages, in.nr_pids);
	ktap_check_err("abort: ABORT succeeds", khop_abort(k), 0);
	ktap_check_err("abort: the session is gone", khop_stats(k, "errabort", &in), -ENOENT);
	ktap_check_err("abort: a second ABORT -> ENOENT", khop_abort(k), -ENOENT);
	ret = khop_create(k, "errabort");
	ktap_check_err("abort: the name and the fd can be used again", ret, 0);
	if (!ret)
		khop_abort(k);

	/* The process itself did not notice anything. */
	kt_thaw(t.pid);
	e = malloc(t.r[0].nr_pages * 8);
	if (!e || kt_pagemap(t.pid, t.r[0].addr, t.r[0].nr_pages, e))
		ktap_bail("read pagemap");
	for (uint64_t i = 0; i < t.r[0].nr_pages; i++)
		e_present += kt_pm_present(e[i]);
	free(e);
	ktap_check("abort: the target still has all its pages", e_present == t.r[0].nr_pages,
		   "%" PRIu64 " of %" PRIu64, e_present, t.r[0].nr_pages);
	ktap_check("abort: the target's memory is intact", target_bad_bytes(&t, 0) == 0, "bytes differ");

	kt_settle();
	free_kb = kt_free_kb();
	kt_kill_wait(t.pid);
	check_released("abort", pfns, n, free_kb);
	free(pfns);
	khop_close(k);
}

void t_close_releases(void)
{
	struct khop *k = open_or_bail(), *k2;
	struct khopages_session_info in;
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "errclose", &t, &n);
	long free_kb;
	int ret;

	khop_close(k);
	k2 = open_or_bail();
	ktap_check_err("close: closing the fd before COMMIT drops the session",
		       khop_stats(k2, "errclose", &in), -ENOENT);
	ret = khop_create(k2, "errclose");
	ktap_check_err("close: the name can be used again", ret, 0);
	if (!ret)
		khop_abort(k2);
	khop_close(k2);
	kt_settle();
	free_kb = kt_free_kb();
	kt_kill_wait(t.pid);
	check_released("close", pfns, n, free_kb);
	free(pfns);
}

void t_commit_finish_outgoing(void)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info in;
	struct khopages_preserve p;
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "errfinish", &t, &n), held;
	int res[NR_RESULTS], ret;
	long free_kb;

	ktap_check_err("commit", khop_commit(k), 0);
	ktap_check_err("commit twice -> EBUSY", khop_commit(k), -EBUSY);
	ret = rawio(khop_fd(k), KHOPAGES_IOC_PRESERVE, &(struct khopages_preserve){
		.size = sizeof(p), .pid = t.pid, .start = t.r[0].addr, .len = KT_PAGE });
	ktap_check_err("preserve after COMMIT -> EBUSY", ret, -EBUSY);
	ret = khop_stats(k, "errfinish", &in);
	ktap_check("stats after COMMIT", !ret && in.state == KHOPAGES_STATE_COMMITTED &&
		   in.nr_pages == n, "%s, state %s, %" PRIu64 " pages", ktap_errname(ret),
		   khop_state_name(in.state), (uint64_t)in.nr_pages);

	/* Owner gone: the committed session alone holds the pages. */
	kt_kill_wait(t.pid);
	kt_settle();
	held = kt_count_orphan_anon(pfns, n);
	ktap_check("after COMMIT the session holds every page of the dead owner", held == n,
		   "%" PRIu64 " of %" PRIu64 " frames held", held, n);

	if (run_dropped("finish outgoing as uid 65534 -> EPERM", false, drop_finish,
			(void *)"errfinish", res))
		ktap_check_err("finish outgoing as uid 65534 -> EPERM", res[0], -EPERM);
	ktap_check_err("finish without OUTGOING does not touch an outgoing session -> ENOENT",
		       khop_finish(k, "errfinish", 0), -ENOENT);
	ret = khop_stats(k, "errfinish", &in);
	ktap_check("the session survived the refused FINISH calls",
		   !ret && in.state == KHOPAGES_STATE_COMMITTED, "%s", ktap_errname(ret));

	free_kb = kt_free_kb();
	ktap_check_err("finish outgoing", khop_finish(k, "errfinish", KHOPAGES_FINISH_OUTGOING), 0);
	ktap_check_err("stats after FINISH -> ENOENT", khop_stats(k, "errfinish", &in), -ENOENT);
	ktap_check_err("finish outgoing twice -> ENOENT",
		       khop_finish(k, "errfinish", KHOPAGES_FINISH_OUTGOING), -ENOENT);
	check_released("finish outgoing", pfns, n, free_kb);
	free(pfns);
	khop_close(k);
}
