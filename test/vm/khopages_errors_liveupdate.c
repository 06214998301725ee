// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: Live Update preserves refused and withdrawn before the
 * kexec: a refused preserve changes nothing, a withdrawn one gives the
 * session back open, as it was; the sessions handed over stay preserved
 * and are not offered to another file. After the kexec: sessions not in
 * a Live Update session at the kexec did not come along.
 */
#include "khopages_errors.h"

#define WITHDRAWN		"errluo-withdrawn"
#define WITHDRAWN_HOLDER	"/tmp/errluo-withdrawn.holder"

/* @a and @b agree in every counter; their states may differ. */
static bool same_but_state(const struct khopages_session_info *a,
			   const struct khopages_session_info *b)
{
	struct khopages_session_info c = *a;

	c.state = b->state;
	return same_info(&c, b);
}

/*
 * A Live Update preserve refused (uid 65534 through inherited files)
 * changes nothing, and the same Live Update session then takes the file;
 * withdrawn (its holder ended) while this process still has the file,
 * the session is open again with every counter, its pages at their
 * frames and its process's memory intact. Returns the file, the session
 * open on it.
 */
static struct khop *t_withdraw(struct target *t)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info open_info, in;
	uint64_t n, m, same = 0, *pfns = preserve_target(k, WITHDRAWN, t, &n), *again;
	int res[NR_RESULTS], keep[2], luo, ret;
	void *args[2];

	khop_stats(k, WITHDRAWN, &open_info);
	luo = luo_session_or_bail(WITHDRAWN);
	args[0] = k;
	args[1] = &luo;
	if (run_dropped("Live Update preserve as uid 65534 -> EPERM", false, drop_luo_preserve,
			args, res))
		ktap_check_err("Live Update preserve as uid 65534 -> EPERM", res[0], -EPERM);
	ret = khop_stats(k, WITHDRAWN, &in);
	ktap_check("  ... the session stays open, every counter as before",
		   !ret && same_info(&in, &open_info), "%s, state %s", ktap_errname(ret),
		   khop_state_name(in.state));
	ret = khop_luo_preserve_fd(luo, khop_fd(k), KHOP_LUO_TOKEN_PAGES);
	ktap_check("  ... and the same Live Update session then takes the file", !ret, "%s",
		   khop_luo_error());
	if (ret)
		ktap_bail("the remaining cases need a preserved session");
	keep[0] = luo;
	keep[1] = khop_fd(k);
	if (kt_hold_fds(WITHDRAWN_HOLDER, keep, 2) < 0)
		ktap_bail("the holder of Live Update session " WITHDRAWN " did not start");
	close(luo);
	ret = khop_stats(k, WITHDRAWN, &in);
	ktap_check("preserved: every counter as before",
		   !ret && in.state == KHOPAGES_STATE_PRESERVED && same_but_state(&in, &open_info),
		   "%s, state %s", ktap_errname(ret), khop_state_name(in.state));

	if (kt_withdraw(WITHDRAWN_HOLDER))
		ktap_bail("withdraw " WITHDRAWN ": %s", kt_handover_error());
	ret = khop_stats(k, WITHDRAWN, &in);
	ktap_check("withdrawn while this process has the file: open again, every counter as before",
		   !ret && same_info(&in, &open_info), "%s, state %s", ktap_errname(ret),
		   khop_state_name(in.state));
	again = target_pfns(t, 0, &m);
	for (uint64_t i = 0; i < m && i < n; i++)
		same += again[i] == pfns[i];
	ktap_check("  ... every page of its process still at its frame", m == n && same == n,
		   "%" PRIu64 " of %" PRIu64 " pages present, %" PRIu64 " at their frame", m, n,
		   same);
	ktap_check("  ... and its process's memory intact", target_bad_bytes(t, 0) == 0,
		   "wrong bytes");
	free(again);
	free(pfns);
	return k;
}

/*
 * Before the kexec, after errtest and errdiscard were handed over: they
 * stay preserved and no other file may take them; a withdrawn session is
 * held open over the kexec, which must not carry it.
 */
void do_liveupdate(void)
{
	struct khop *late = open_or_bail(), *k;
	struct khopages_session_info in;
	struct target t;
	int fd;

	k = t_withdraw(&t);
	fd = khop_fd(k);
	if (kt_hold_fds("/tmp/" WITHDRAWN ".open", &fd, 1) < 0)
		ktap_bail("the holder of the open session " WITHDRAWN " did not start");
	ktap_diag(WITHDRAWN " stays open over the kexec, its file held, in no Live Update session");

	ktap_check_err("open of the handed-over errtest from another file -> ENOENT",
		       khop_attach(late, "errtest"), -ENOENT);
	ktap_check("  ... errtest and errdiscard are listed, preserved",
		   listed(late, "errtest", &in) && in.state == KHOPAGES_STATE_PRESERVED &&
		   listed(late, "errdiscard", &in) && in.state == KHOPAGES_STATE_PRESERVED,
		   "missing, or state %s", khop_state_name(in.state));
	kt_kill_wait(t.pid);
	khop_close(k);
	khop_close(late);
}

/* After the kexec: session @names[i] came along neither way. */
void do_absent(int nr, char **names)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info in;
	char what[128];
	int luo, ret;

	for (int i = 0; i < nr; i++) {
		snprintf(what, sizeof(what), "%s did not come along: stats -> ENOENT", names[i]);
		ktap_check_err(what, khop_stats(k, names[i], &in), -ENOENT);
		snprintf(what, sizeof(what), "%s: not listed", names[i]);
		ktap_check(what, !listed(k, names[i], &in), "listed, state %s",
			   khop_state_name(in.state));
		snprintf(what, sizeof(what), "%s: open -> ENOENT", names[i]);
		ktap_check_err(what, khop_attach(k, names[i]), -ENOENT);
		ret = khop_luo_retrieve(names[i], &luo);
		snprintf(what, sizeof(what), "%s: no Live Update session: retrieve -> ENOENT",
			 names[i]);
		ktap_check_err(what, ret, -ENOENT);
		if (!ret)
			close(luo);
	}
	khop_close(k);
}
