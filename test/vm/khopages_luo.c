// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_luo: khopages files in Live Update sessions (/dev/liveupdate),
 * on one kernel, without a kexec: what LIVEUPDATE_SESSION_PRESERVE_FD
 * takes and refuses, the states a session goes through, that closing
 * the Live Update session gives the session back with its pages intact,
 * and that the file that built it can then restore it in place (OPEN of
 * its own name, MAP copying every page).
 *
 *   khopages_luo
 *
 * A workload child holds 8 MiB of touched private anonymous memory and is
 * frozen with ptrace, as CRIU freezes a tree; session "luo-test" preserves
 * it. Needs root, /dev/khopages and /dev/liveupdate (liveupdate=on).
 *
 * While it holds a Live Update session, khop_luo_list_held() and
 * `khopagesctl luo` (from $PATH, skipped when there is none) must name
 * this process as its holder.
 *
 * Every check is a TAP case (test/lib/ktap.h); the program exits 1 when
 * any case failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "khopages.h"
#include "khopages_testlib.h"
#include "ktap.h"

#define LIVEUPDATE	"/dev/liveupdate"
#define SESSION		"luo-test"
#define WORK_LEN	(8 * KT_MIB)

static pid_t work_pid;
static uint64_t work_va, work_seed;

/* The workload: 8 MiB written page by page, then asleep until killed. */
static void start_workload(void)
{
	int ready[2];
	uint64_t va;
	char *p;
	int ret;

	if (getrandom(&work_seed, sizeof(work_seed), 0) != sizeof(work_seed))
		ktap_bail("getrandom: %s", strerror(errno));
	if (pipe(ready))
		ktap_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	work_pid = fork();
	if (work_pid < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!work_pid) {
		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		p = mmap(NULL, WORK_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(1);
		kt_fill(p, WORK_LEN, work_seed, (uint64_t)(uintptr_t)p);
		va = (uint64_t)(uintptr_t)p;
		if (kt_write_all(ready[1], &va, sizeof(va)))
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (kt_read_all(ready[0], &work_va, sizeof(work_va)))
		ktap_bail("the workload died before it was ready");
	close(ready[0]);
	ret = kt_freeze(work_pid);
	if (ret)
		ktap_bail("ptrace-freeze the workload %d: %s", (int)work_pid, strerror(-ret));
	ktap_diag("workload: pid %d, 0x%" PRIx64 "+0x%" PRIx64, (int)work_pid, work_va,
		  (uint64_t)WORK_LEN);
}

/* Every byte of the workload's memory as it wrote it. */
static void check_workload(const char *what)
{
	static char buf[256 * 4096];
	uint64_t wrong = 0;
	int ret;

	for (uint64_t off = 0; off < WORK_LEN; off += sizeof(buf)) {
		ret = kt_read_mem(work_pid, work_va + off, buf, sizeof(buf));
		if (ret) {
			ktap_fail(what, "read /proc/%d/mem: %s", (int)work_pid, strerror(-ret));
			return;
		}
		for (uint64_t i = 0; i < sizeof(buf); i += KT_PAGE)
			wrong += kt_page_bad_bytes(buf + i, work_seed, work_va + off + i, NULL);
	}
	ktap_check(what, !wrong, "%" PRIu64 " bytes wrong", wrong);
}

/* A case: the session's state is @want. */
static void expect_state(struct khop *k, const char *what, uint32_t want)
{
	struct khopages_session_info in;
	int ret = khop_stats(k, SESSION, &in);

	if (ret)
		ktap_fail(what, "%s", khop_error(k));
	else
		ktap_check(what, in.state == want, "state %s, expected %s",
			   khop_state_name(in.state), khop_state_name(want));
}

static int new_luo_session(const char *name)
{
	int fd;

	if (khop_luo_create(name, &fd))
		ktap_bail("%s", khop_luo_error());
	return fd;
}

/* (h) The driver says it takes part in Live Update. */
static void t_api(struct khop *k)
{
	struct khopages_api api = { 0 };
	int ret = khop_api(k, KHOPAGES_FEATURE_LUO, &api);

	if (!ktap_check("API reports KHOPAGES_FEATURE_LUO",
			!ret && (api.features & KHOPAGES_FEATURE_LUO), "%s (features 0x%" PRIx64 ")",
			ret ? khop_error(k) : "bit clear", (uint64_t)api.features))
		ktap_bail("the driver has no Live Update handler: nothing more to test");
}

/* (a) A khopages file with no session is refused, and stays as it was. */
static void t_no_session(void)
{
	struct khop *k0;
	int sfd, ret;

	if (khop_open(&k0))
		ktap_bail("open: %s", khop_open_error());
	sfd = new_luo_session("luo-test-empty");
	ret = khop_luo_preserve_fd(sfd, khop_fd(k0), KHOP_LUO_TOKEN_PAGES);
	ktap_diag("PRESERVE_FD of a khopages file without a session: %s",
		  ret ? khop_luo_error() : "succeeded");
	ktap_check("PRESERVE_FD of a khopages file without a session fails (EINVAL or ENOENT)",
		   ret == -EINVAL || ret == -ENOENT, "%s", ret ? khop_errno_name(ret) : "it succeeded");
	ktap_check_err("the file still has no session: ABORT -> ENOENT", khop_abort(k0), -ENOENT);
	close(sfd);
	khop_close(k0);
}

/* (b) A session of the workload's pages goes into a Live Update session. */
static int t_preserve(struct khop *k)
{
	struct khopages_preserve res = { 0 };
	int sfd, ret;

	if (khop_create(k, SESSION))
		ktap_bail("create %s: %s", SESSION, khop_error(k));
	ret = khop_preserve(k, work_pid, work_va, WORK_LEN, &res);
	if (ret)
		ktap_bail("preserve the workload: %s", khop_error(k));
	ktap_check("PRESERVE the workload's 8 MiB: every page", res.nr_pages == WORK_LEN / KT_PAGE,
		   "%" PRIu64 " pages", (uint64_t)res.nr_pages);
	expect_state(k, "before PRESERVE_FD: state open", KHOPAGES_STATE_OPEN);
	sfd = new_luo_session("luo-test-1");
	ret = khop_luo_preserve_fd(sfd, khop_fd(k), KHOP_LUO_TOKEN_PAGES);
	if (!ktap_check("PRESERVE_FD of the khopages file into a Live Update session", !ret, "%s",
			khop_luo_error()))
		ktap_bail("the remaining cases need a preserved session");
	expect_state(k, "after PRESERVE_FD: state preserved", KHOPAGES_STATE_PRESERVED);
	return sfd;
}

/* (i) This process shows as the holder of Live Update session luo-test-1,
 * to the library's scan of /proc and to `khopagesctl luo`. */
static void t_held(int sfd)
{
	struct khop_luo_held *held;
	char line[512], want[128];
	size_t nr, found = 0;
	bool listed = false;
	FILE *p;
	int ret, st;

	ret = khop_luo_list_held(&held, &nr);
	if (ret) {
		ktap_fail("khop_luo_list_held finds luo-test-1 in this process", "%s",
			  khop_luo_error());
	} else {
		for (size_t i = 0; i < nr; i++)
			if (!strcmp(held[i].name, "luo-test-1") && held[i].pid == getpid() &&
			    held[i].fd == sfd)
				found++;
		ktap_check("khop_luo_list_held finds luo-test-1 in this process", found == 1,
			   "%zu entries, none for pid %d fd %d", nr, (int)getpid(), sfd);
		khop_luo_held_free(held);
	}

	snprintf(want, sizeof(want), "luo-test-1  pid %d (khopages_luo)  fd %d\n",
		 (int)getpid(), sfd);
	fflush(stdout);
	p = popen("khopagesctl luo 2>&1", "r");
	if (!p) {
		ktap_fail("khopagesctl luo lists luo-test-1 held by this process", "popen: %s",
			  strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), p)) {
		ktap_diag("khopagesctl luo: %.*s", (int)strcspn(line, "\n"), line);
		if (!strcmp(line, want))
			listed = true;
	}
	st = pclose(p);
	if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127)
		ktap_skip("khopagesctl luo lists luo-test-1 held by this process",
			  "no khopagesctl in $PATH");
	else
		ktap_check("khopagesctl luo lists luo-test-1 held by this process",
			   listed && st == 0, "exit status 0x%x, %s", st,
			   listed ? "line found" : "no line \"luo-test-1  pid PID (khopages_luo)  fd N\"");
}

/* (c) A preserved session refuses every change. */
static void t_busy(struct khop *k)
{
	ktap_check_err("PRESERVE while preserved -> EBUSY",
		       khop_preserve(k, work_pid, work_va, KT_PAGE, NULL), -EBUSY);
	ktap_check_err("ABORT while preserved -> EBUSY", khop_abort(k), -EBUSY);
	expect_state(k, "after the refused commands: still preserved", KHOPAGES_STATE_PRESERVED);
}

/* (d) One file, one Live Update session. */
static void t_second_session(struct khop *k)
{
	int sfd = new_luo_session("luo-test-2"), ret;

	ret = khop_luo_preserve_fd(sfd, khop_fd(k), KHOP_LUO_TOKEN_PAGES);
	ktap_diag("PRESERVE_FD into a second Live Update session: %s",
		  ret ? khop_luo_error() : "succeeded");
	ktap_check_err("PRESERVE_FD of the same file into a second Live Update session -> EBUSY",
		       ret, -EBUSY);
	close(sfd);
	expect_state(k, "closing the second Live Update session leaves it preserved",
		     KHOPAGES_STATE_PRESERVED);
}

/* (e) Closing the Live Update session before a kexec takes it back. */
static void t_close_takes_back(struct khop *k, int sfd)
{
	struct khopages_session_info in;
	int ret;

	close(sfd);
	expect_state(k, "closing the Live Update session: state open again", KHOPAGES_STATE_OPEN);
	ret = khop_stats(k, SESSION, &in);
	ktap_check("... with all its pages", !ret && in.nr_pages == WORK_LEN / KT_PAGE, "%s",
		   ret ? khop_error(k) : "pages missing");
	check_workload("the workload's memory is intact");
}

/* (g) An unprivileged process gets no rights from a file it inherited. */
static void t_unprivileged(struct khop *k)
{
	int sfd = new_luo_session("luo-test-unpriv"), st = 0;
	pid_t c;

	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		int fd = -1, ret = kt_drop_privileges(false);

		if (ret) {
			ktap_fail("unprivileged: become uid 65534", "%s", strerror(-ret));
			_exit(1);
		}
		ret = khop_luo_create("luo-test-nobody", &fd);
		ktap_diag("unprivileged: create a Live Update session: %s",
			  ret ? khop_luo_error() : "succeeded");
		ktap_check("unprivileged: /dev/liveupdate refuses it (EACCES or EPERM)",
			   ret == -EACCES || ret == -EPERM, "%s",
			   ret ? khop_errno_name(ret) : "it succeeded");
		if (!ret)
			close(fd);
		ret = khop_luo_preserve_fd(sfd, khop_fd(k), KHOP_LUO_TOKEN_PAGES);
		ktap_diag("unprivileged: PRESERVE_FD of the inherited khopages file: %s",
			  ret ? khop_luo_error() : "succeeded");
		ktap_check_err("unprivileged: PRESERVE_FD of an inherited khopages file -> EPERM",
			       ret, -EPERM);
		fflush(stdout);
		_exit(0);
	}
	ktap_check("unprivileged: the child ran to its end",
		   waitpid(c, &st, 0) == c && WIFEXITED(st) && !WEXITSTATUS(st),
		   "status 0x%x", st);
	expect_state(k, "after the unprivileged attempts: state open, unchanged",
		     KHOPAGES_STATE_OPEN);
	close(sfd);
}

/* (f) Preserved again, taken back again, then aborted: gone. */
static void t_again_then_abort(struct khop *k)
{
	struct khopages_session_info in;
	int sfd = new_luo_session("luo-test-3"), ret;

	ret = khop_luo_preserve_fd(sfd, khop_fd(k), KHOP_LUO_TOKEN_PAGES);
	ktap_check("PRESERVE_FD again into a new Live Update session", !ret, "%s",
		   khop_luo_error());
	expect_state(k, "preserved again: state preserved", KHOPAGES_STATE_PRESERVED);
	close(sfd);
	expect_state(k, "its Live Update session closed: state open", KHOPAGES_STATE_OPEN);
	ktap_check_err("ABORT once the Live Update session is closed", khop_abort(k), 0);
	ktap_check_err("stats after ABORT -> ENOENT", khop_stats(k, SESSION, &in), -ENOENT);
}

/* The state of session @name seen through @k, or 0 when it has none. */
static uint32_t state_of(struct khop *k, const char *name)
{
	struct khopages_session_info in;

	return khop_stats(k, name, &in) ? 0 : in.state;
}

/*
 * (i) The upgrade called off: its Live Update session closed, the file
 * that built the session OPENs it by name and restores it in place, MAP
 * copying every page, byte for byte.
 */
static void t_restore_in_place(void)
{
	static const char name[] = "luo-inplace";
	struct khopages_map res = { 0 };
	struct khopages_preserve pr;
	uint64_t wrong = 0, pages = WORK_LEN / KT_PAGE;
	struct khop *k, *other;
	int sfd, ret;
	void *base;
	char *dst;

	if (khop_open(&k) || khop_create(k, name) ||
	    khop_preserve(k, work_pid, work_va, WORK_LEN, &pr))
		ktap_bail("in place: set up session %s: %s", name, k ? khop_error(k) : khop_open_error());
	sfd = new_luo_session("luo-test-inplace");
	if (khop_luo_preserve_fd(sfd, khop_fd(k), KHOP_LUO_TOKEN_PAGES))
		ktap_bail("in place: %s", khop_luo_error());
	ktap_check_err("in place: OPEN of its own name while preserved -> EBUSY",
		       khop_attach(k, name), -EBUSY);
	close(sfd);
	ktap_check_err("in place: OPEN of another name on the file -> EBUSY",
		       khop_attach(k, "luo-other"), -EBUSY);
	ktap_check_err("in place: OPEN of its own name on its file takes it back",
		       khop_attach(k, name), 0);
	ktap_check("in place: state claimed", state_of(k, name) == KHOPAGES_STATE_CLAIMED,
		   "state %s", khop_state_name(state_of(k, name)));
	if (khop_open(&other))
		ktap_bail("open: %s", khop_open_error());
	ktap_check_err("in place: a second file opens it too", khop_attach(other, name), 0);
	khop_close(other);

	/* At the workload's offset in 2 MiB: a huge folio maps at its alignment. */
	base = kt_map_aligned(WORK_LEN + KT_HUGE, KT_HUGE);
	if (base == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	dst = (char *)base + (work_va & (KT_HUGE - 1));
	ret = khop_map(k, work_pid, work_va, (uint64_t)(uintptr_t)dst, WORK_LEN, &res);
	ktap_check("in place: MAP copies every page (the originals are live memory)",
		   !ret && res.nr_copied == pages && !res.nr_mapped, "%s; %" PRIu64
		   " copied, %" PRIu64 " mapped", ret ? khop_error(k) : "ok",
		   (uint64_t)res.nr_copied, (uint64_t)res.nr_mapped);
	for (uint64_t off = 0; !ret && off < WORK_LEN; off += KT_PAGE)
		wrong += kt_page_bad_bytes(dst + off, work_seed, work_va + off, NULL);
	ktap_check("in place: every byte of the copy is the workload's", !ret && !wrong,
		   "%" PRIu64 " bytes wrong", wrong);
	check_workload("in place: the workload's own memory is intact");
	khop_close(k);
	if (khop_open(&other))
		ktap_bail("open: %s", khop_open_error());
	ktap_check("in place: closing its last file releases the session",
		   !state_of(other, name), "state %s", khop_state_name(state_of(other, name)));
	ret = 0;
	for (uint64_t off = 0; off < WORK_LEN; off += KT_PAGE)
		ret |= kt_page_bad_bytes(dst + off, work_seed, work_va + off, NULL) != 0;
	ktap_check("in place: the copies stay mapped, intact, after the release", !ret,
		   "a page changed");
	khop_close(other);
	munmap(base, WORK_LEN + KT_HUGE);
}

int main(int argc, char **argv)
{
	struct khop *k;
	int sfd;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: khopages_luo\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	ktap_start();
	if (access(LIVEUPDATE, F_OK))
		ktap_bail("no %s (%s): this kernel has no Live Update; it needs"
			  " CONFIG_LIVEUPDATE and liveupdate=on (with kho=on)", LIVEUPDATE,
			  strerror(errno));
	if (khop_open(&k))
		ktap_bail("open: %s", khop_open_error());
	t_api(k);
	t_no_session();
	start_workload();
	sfd = t_preserve(k);
	t_held(sfd);
	t_busy(k);
	t_second_session(k);
	t_close_takes_back(k, sfd);
	t_unprivileged(k);
	t_again_then_abort(k);
	t_restore_in_place();
	kt_kill_wait(work_pid);
	khop_close(k);
	return ktap_finish();
}
