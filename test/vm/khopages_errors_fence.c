// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: the fence: a failed republish fails COMMIT and FINISH;
 * a sealed handover refuses every changing command.
 */
#include "khopages_errors.h"

/* ------------------------------------------------------------------ */
/* The fence: a failed republish fails the call; a sealed handover      */

#define KNOBS	"/sys/kernel/debug/khopages/"

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		ret = -errno;
	close(fd);
	return ret;
}

/* The next @times republishes fail (fault injection), or none with 0. */
static void fail_publish(unsigned int times)
{
	char n[16];

	snprintf(n, sizeof(n), "%u", times);
	if (write_text(KNOBS "fail_publish/probability", times ? "100" : "0") ||
	    write_text(KNOBS "fail_publish/times", n))
		ktap_bail("cannot set " KNOBS "fail_publish (a kernel without the test knobs?)");
}

static int fdt_names(const struct khop_fdt_session *s, void *name)
{
	return !strcmp(s->name, name);
}

/* Does the published subtree name @name? 1, 0, or -1 when unreadable. */
static int published(const char *name)
{
	static char blob[1 << 16];
	int fd = open("/sys/kernel/debug/kho/out/sub_fdts/khopages", O_RDONLY);
	const char *why;
	ssize_t len;
	int found;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;	/* nothing published */
	len = read(fd, blob, sizeof(blob));
	close(fd);
	if (len <= 0)
		return -1;
	found = khop_fdt_sessions(blob, (size_t)len, fdt_names, (void *)name, &why);
	return found < 0 ? -1 : found;
}

static bool same_info(const struct khopages_session_info *a,
		      const struct khopages_session_info *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* A failed republish fails COMMIT and FINISH, and changes nothing. */
static void t_publish_fails(void)
{
	struct khopages_session_info before, after;
	struct khop *k = open_or_bail(), *f = open_or_bail();
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "fence-pub", &t, &n);
	int ret;

	free(pfns);
	khop_stats(k, "fence-pub", &before);
	fail_publish(1);
	ktap_check_err("commit while the handover cannot be published -> ENOSPC",
		       khop_commit(k), -ENOSPC);
	ret = khop_stats(k, "fence-pub", &after);
	ktap_check("  ... the session stays open, every counter as before",
		   !ret && same_info(&before, &after), "%s, state %s", ktap_errname(ret),
		   khop_state_name(after.state));
	ktap_check("  ... and is not published", published("fence-pub") == 0, "it is");
	fail_publish(0);
	ktap_check_err("commit once publishing works again", khop_commit(k), 0);
	ktap_check("  ... now it is published", published("fence-pub") == 1, "it is not");

	khop_stats(k, "fence-pub", &before);
	fail_publish(1);
	ktap_check_err("finish (outgoing) while the handover cannot be republished -> ENOSPC",
		       khop_finish(f, "fence-pub", KHOPAGES_FINISH_OUTGOING), -ENOSPC);
	ret = khop_stats(k, "fence-pub", &after);
	ktap_check("  ... the session stays committed, every counter as before",
		   !ret && same_info(&before, &after), "%s, state %s", ktap_errname(ret),
		   khop_state_name(after.state));
	ktap_check("  ... and stays published", published("fence-pub") == 1, "it does not");
	fail_publish(0);
	ktap_check_err("finish (outgoing) once publishing works again",
		       khop_finish(f, "fence-pub", KHOPAGES_FINISH_OUTGOING), 0);
	ktap_check("  ... now it is not published", published("fence-pub") == 0, "it is");
	khop_close(f);
	khop_close(k);
	kt_kill_wait(t.pid);
}

/*
 * Once a kexec has begun (the seal knob does what the reboot notifier
 * does), every command that would change the handover fails with
 * ESHUTDOWN; LIST and STATS still work; an open session was aborted and
 * its process keeps its memory; the committed ones stay for the kexec
 * that follows (the next stage checks them byte by byte).
 */
void do_fence(void)
{
	struct khop *open_s = open_or_bail(), *late = open_or_bail();
	struct khopages_session_info in;
	struct khopages_preserve p;
	struct khopages_evacuate e;
	struct khopages_map m;
	struct target t;
	uint64_t n, *pfns;
	int fd;

	t_publish_fails();

	pfns = preserve_target(open_s, "fence-open", &t, &n);
	free(pfns);
	if (write_text(KNOBS "seal", "1"))
		ktap_bail("cannot write " KNOBS "seal (a kernel without the test knobs?)");
	fd = khop_fd(late);
	ktap_check_err("sealed: create -> ESHUTDOWN", khop_create(late, "fence-late"), -ESHUTDOWN);
	ktap_check_err("sealed: preserve -> ESHUTDOWN",
		       khop_preserve(open_s, t.pid, t.r[0].addr, KT_PAGE, &p), -ESHUTDOWN);
	ktap_check_err("sealed: commit -> ESHUTDOWN", khop_commit(open_s), -ESHUTDOWN);
	ktap_check_err("sealed: abort -> ESHUTDOWN", khop_abort(open_s), -ESHUTDOWN);
	ktap_check_err("sealed: open -> ESHUTDOWN", khop_attach(late, "errtest"), -ESHUTDOWN);
	ktap_check_err("sealed: finish (outgoing) -> ESHUTDOWN",
		       khop_finish(late, "errdiscard", KHOPAGES_FINISH_OUTGOING), -ESHUTDOWN);
	ktap_check_err("sealed: evacuate -> ESHUTDOWN",
		       khop_evacuate(late, t.pid, t.r[0].addr, t.r[0].len, &e), -ESHUTDOWN);
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.pid = t.pid;
	m.orig_va = m.dst_va = t.r[0].addr;
	m.len = KT_PAGE;
	ktap_check_err("sealed: map -> ESHUTDOWN", rawio(fd, KHOPAGES_IOC_MAP, &m), -ESHUTDOWN);
	ktap_check_err("sealed: stats still works", khop_stats(late, "errtest", &in), 0);
	ktap_check("  ... errtest is still committed", in.state == KHOPAGES_STATE_COMMITTED,
		   "state %s", khop_state_name(in.state));
	ktap_check("sealed: list still works, and the open session was aborted",
		   !listed(late, "fence-open", &in) && listed(late, "errdiscard", &in),
		   "fence-open listed or errdiscard missing");
	ktap_check("  ... its process keeps its memory", target_bad_bytes(&t, 0) == 0,
		   "wrong bytes");
	kt_kill_wait(t.pid);
	khop_close(late);
	khop_close(open_s);
}
