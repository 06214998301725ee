// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: ABORT, closing the fd, and a Live Update preserve
 * withdrawn with no file left: each gives the pages back.
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
	ktap_check_err("close: closing the fd of an open session drops it",
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

#define PRESERVED_HOLDER	"/tmp/errpreserved.holder"

/*
 * A session preserved in a Live Update session refuses every change and,
 * its owner dead, alone holds the pages; withdrawn (its holder ended)
 * with no khopages file left, it is gone and every page comes back.
 */
void t_preserved_releases(void)
{
	struct khop *k = open_or_bail(), *other = open_or_bail();
	struct khopages_session_info in, preserved;
	struct khopages_preserve p;
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "errpreserved", &t, &n), held;
	int res[NR_RESULTS], ret, luo;
	long free_kb;

	if (kt_hand_over(khop_fd(k), "errpreserved", PRESERVED_HOLDER) < 0)
		ktap_bail("hand errpreserved over: %s", kt_handover_error());
	ret = khop_stats(k, "errpreserved", &preserved);
	ktap_check("stats after the Live Update preserve",
		   !ret && preserved.state == KHOPAGES_STATE_PRESERVED && preserved.nr_pages == n,
		   "%s, state %s, %" PRIu64 " pages", ktap_errname(ret),
		   khop_state_name(preserved.state), (uint64_t)preserved.nr_pages);
	luo = luo_session_or_bail("errpreserved-2");
	ktap_check_err("Live Update preserve of the file into a second session -> EBUSY",
		       khop_luo_preserve_fd(luo, khop_fd(k), KHOP_LUO_TOKEN_PAGES), -EBUSY);
	close(luo);
	ret = rawio(khop_fd(k), KHOPAGES_IOC_PRESERVE, &(struct khopages_preserve){
		.size = sizeof(p), .pid = t.pid, .start = t.r[0].addr, .len = KT_PAGE });
	ktap_check_err("preserve while preserved -> EBUSY", ret, -EBUSY);
	ktap_check_err("abort while preserved -> EBUSY", khop_abort(k), -EBUSY);
	ktap_check_err("open of a preserved session from another file -> ENOENT",
		       khop_attach(other, "errpreserved"), -ENOENT);

	/* Owner gone: the preserved session alone holds the pages. */
	kt_kill_wait(t.pid);
	kt_settle();
	held = kt_count_orphan_anon(pfns, n);
	ktap_check("the preserved session holds every page of the dead owner", held == n,
		   "%" PRIu64 " of %" PRIu64 " frames held", held, n);

	if (run_dropped("abort through the inherited file as uid 65534 -> EPERM", false, drop_abort,
			k, res))
		ktap_check_err("abort through the inherited file as uid 65534 -> EPERM", res[0],
			       -EPERM);
	ret = khop_stats(k, "errpreserved", &in);
	ktap_check("the session survived the refused calls, every counter as before",
		   !ret && same_info(&in, &preserved), "%s, state %s", ktap_errname(ret),
		   khop_state_name(in.state));

	/* The holder keeps the file: closing ours changes nothing. */
	khop_close(k);
	ret = khop_stats(other, "errpreserved", &in);
	ktap_check("closing this process's file leaves it preserved (the holder has it)",
		   !ret && same_info(&in, &preserved), "%s, state %s", ktap_errname(ret),
		   khop_state_name(in.state));

	kt_settle();
	free_kb = kt_free_kb();
	if (kt_withdraw(PRESERVED_HOLDER))
		ktap_bail("withdraw errpreserved: %s", kt_handover_error());
	ktap_check_err("withdrawn with no file left: the session is gone",
		       khop_stats(other, "errpreserved", &in), -ENOENT);
	check_released("withdraw", pfns, n, free_kb);
	ret = khop_create(other, "errpreserved");
	ktap_check_err("withdraw: the name can be used again", ret, 0);
	if (!ret)
		khop_abort(other);
	free(pfns);
	khop_close(other);
}
