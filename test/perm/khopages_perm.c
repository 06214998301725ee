// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_perm: who may use /dev/khopages, and the khopages files that go
 * through Live Update.
 *
 *   khopages_perm outgoing          cases on one kernel (no kexec needed)
 *   khopages_perm handover NAME FILE  hand session NAME (1 MiB of a helper)
 *                                   and NAME-user (of uid 65534) over to
 *                                   the next kernel through Live Update,
 *                                   holders keeping both; the range goes
 *                                   to FILE
 *   khopages_perm incoming NAME FILE  after kexec: retrieve both, cases on
 *                                   them
 *
 * Refused callers: uid 65534 without capabilities (CREATE, OPEN), uid 0
 * with every capability dropped, a caller without ptrace rights over the
 * target of PRESERVE (another uid; the same uid but not dumpable; root's
 * process), and root of a new user namespace (capabilities count in the
 * initial namespace only). A khopages file or a Live Update session
 * handed to a process with fewer rights gives it none: it cannot get
 * another user's session preserved in Live Update
 * (LIVEUPDATE_SESSION_PRESERVE_FD), aborted, taken back or extended, and
 * after the kexec it cannot MAP, OPEN or STAT another user's retrieved
 * session. Each refusal must be EPERM and change nothing: the sessions
 * LIST shows, and every counter STATS reports, are compared before and
 * after. Positive controls show that the same callers succeed once they
 * hold the capability, the ptrace right or the ownership, so an EPERM is
 * not an accident of the set-up.
 *
 * The device nodes belong to root (0600): callers open them before they
 * drop their credentials, as a privileged launcher passing the files
 * would.
 *
 * Each case prints "ok N - NAME" or "not ok N - NAME # details" (TAP,
 * test/lib/ktap.h), "# " lines are remarks; the plan and the totals come
 * last; exit status 1 when any failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handover.h"
#include "khopages.h"
#include "ktap.h"

#define PG		4096UL
#define TARGET_LEN	(1UL << 20)
#define NOBODY		65534
#define OTHER		65533
#define NR_RES		8
#define NOT_RUN		(-100000)

#define CAP(c)		(1ULL << (c))
#define ALL_CAPS	(~0ULL >> (63 - CAP_LAST_CAP))

static const char *ename(int ret)
{
	if (ret == NOT_RUN)
		return "not run";
	return ret ? khop_errno_name(ret) : "success";
}

static void expect(const char *name, int got, int want)
{
	ktap_check(name, got == want, "got %s, want %s", ename(got), ename(want));
}

/* ------------------------------------------------------------------ */
/* Snapshots: everything LIST and STATS say                             */

struct snap {
	size_t nr;
	struct khopages_session_info *s;
};

static void snap_take(struct snap *sn)
{
	struct khop *k;
	int ret;

	if (khop_open(&k))
		ktap_bail("open: %s", khop_open_error());
	ret = khop_list(k, &sn->s, &sn->nr);
	if (ret)
		ktap_bail("list: %s", khop_error(k));
	khop_close(k);
}

static const struct khopages_session_info *snap_find(const struct snap *sn,
						     const char *name)
{
	for (size_t i = 0; i < sn->nr; i++)
		if (!strcmp(sn->s[i].name, name))
			return &sn->s[i];
	return NULL;
}

/*
 * The refusal @what changed nothing: same sessions, same state, same
 * counters (whole session_info structs compared).
 */
static void snap_same(const char *what, struct snap *before)
{
	char name[256];
	struct snap now;
	bool same = true;

	snap_take(&now);
	snprintf(name, sizeof(name), "%s: sessions and their statistics unchanged", what);
	if (now.nr != before->nr) {
		ktap_fail(name, "%zu sessions before, %zu after", before->nr, now.nr);
		same = false;
	}
	for (size_t i = 0; same && i < now.nr; i++) {
		const struct khopages_session_info *b = snap_find(before, now.s[i].name);

		if (!b) {
			ktap_fail(name, "new session %s (state %s)", now.s[i].name,
			    khop_state_name(now.s[i].state));
			same = false;
		} else if (memcmp(b, &now.s[i], sizeof(*b))) {
			ktap_fail(name, "session %s changed: state %s -> %s, pages %llu -> %llu, "
			    "folios %llu -> %llu, pids %u -> %u", b->name,
			    khop_state_name(b->state), khop_state_name(now.s[i].state),
			    (unsigned long long)b->nr_pages,
			    (unsigned long long)now.s[i].nr_pages,
			    (unsigned long long)b->nr_folios,
			    (unsigned long long)now.s[i].nr_folios, b->nr_pids,
			    now.s[i].nr_pids);
			same = false;
		}
	}
	if (same)
		ktap_pass(name);
	free(now.s);
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */

static int cap_get(uint64_t *eff)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	return 0;
}

static int cap_set(uint64_t caps)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)caps;
	d[1].effective = d[1].permitted = (uint32_t)(caps >> 32);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/*
 * Become @uid/@gid (real, effective, saved; no supplementary groups)
 * holding exactly the capabilities @caps. Checked with capget.
 */
static int become(uid_t uid, gid_t gid, uint64_t caps)
{
	uint64_t eff;
	int ret;

	if (setgroups(0, NULL) || setresgid(gid, gid, gid))
		return -errno;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setresuid(uid, uid, uid))
		return -errno;
	ret = cap_set(caps);
	if (ret)
		return ret;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	ret = cap_get(&eff);
	if (ret)
		return ret;
	return eff == caps && getuid() == uid && geteuid() == uid ? 0 : -EPERM;
}

/* ------------------------------------------------------------------ */
/* Targets: processes with 1 MiB of anonymous memory                   */

struct target {
	pid_t pid;
	uint64_t addr;
};

/* A process of @uid with @dumpable, its memory faulted in. */
static struct target target_start(uid_t uid, bool dumpable)
{
	struct target t = { 0, 0 };
	int fds[2];
	char c;
	char *p;

	p = mmap(NULL, TARGET_LEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	if (pipe(fds))
		ktap_bail("pipe: %s", strerror(errno));
	t.addr = (uint64_t)(uintptr_t)p;
	fflush(stdout);
	t.pid = fork();
	if (t.pid < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!t.pid) {
		close(fds[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		memset(p, 0x5a, TARGET_LEN);
		if (uid && become(uid, uid, 0))
			_exit(1);
		/* A change of credentials makes a process non-dumpable. */
		prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0);
		if (write(fds[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		ktap_bail("target uid %u did not start", (unsigned int)uid);
	close(fds[0]);
	munmap(p, TARGET_LEN);
	return t;
}

static void target_stop(struct target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	t->pid = 0;
}

/* ------------------------------------------------------------------ */
/* Running a function with other credentials                           */

struct who {
	const char *desc;
	uid_t uid;
	uint64_t caps;
	bool userns;		/* root of a new user namespace */
};

static const struct who nobody = { "uid 65534 without capabilities", NOBODY, 0, false };
static const struct who root_nocaps = { "uid 0 without capabilities", 0, 0, false };
static const struct who nobody_ckpt = {
	"uid 65534 with CAP_CHECKPOINT_RESTORE", NOBODY, CAP(CAP_CHECKPOINT_RESTORE), false
};
static const struct who nobody_admin = {
	"uid 65534 with CAP_SYS_ADMIN", NOBODY, CAP(CAP_SYS_ADMIN), false
};
static const struct who root_ckpt = {
	"uid 0 with only CAP_CHECKPOINT_RESTORE", 0, CAP(CAP_CHECKPOINT_RESTORE), false
};
static const struct who userns_root = { "root of a new user namespace", 0, ALL_CAPS, true };
static const struct who other_ckpt = {
	"uid 65533 with CAP_CHECKPOINT_RESTORE", OTHER, CAP(CAP_CHECKPOINT_RESTORE), false
};

/* @fn gets a fresh file opened before the change of credentials, and an
 * inherited one (@shared, may be NULL); it fills res[]. */
typedef void (*as_fn)(struct khop *fresh, struct khop *shared, void *arg,
		      int *res);

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

/* Inside the namespace: uid 0 and every capability, there. */
static int userns_enter(int ready_fd, int go_fd)
{
	uint64_t eff;
	char c = 'u';

	if (unshare(CLONE_NEWUSER))
		return -errno;
	if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1 || c != 'g')
		return -EIO;
	if (cap_get(&eff))
		return -EIO;
	if (getuid() != 0 || geteuid() != 0 || (eff & ALL_CAPS) != ALL_CAPS)
		return -EPERM;
	return 0;
}

/* The parent maps uid and gid 0 of the child's namespace to 0 outside. */
static int userns_map(pid_t pid)
{
	char path[64];
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
	ret = write_file(path, "deny");
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	ret = ret ?: write_file(path, "0 0 1");
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	return ret ?: write_file(path, "0 0 1");
}

static bool run_as(const struct who *who, as_fn fn, struct khop *shared,
		   void *arg, int *res)
{
	int rfd[2], ufd[2], gfd[2], st;
	pid_t pid;
	bool ran;

	for (int i = 0; i < NR_RES; i++)
		res[i] = NOT_RUN;
	if (pipe(rfd) || pipe(ufd) || pipe(gfd))
		ktap_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!pid) {
		struct khop *fresh;
		int ret;

		close(rfd[0]);
		close(ufd[0]);
		close(gfd[1]);
		if (khop_open(&fresh))
			_exit(1);
		if (who->userns)
			ret = userns_enter(ufd[1], gfd[0]);
		else
			ret = become(who->uid, who->uid, who->caps);
		if (ret) {
			ktap_diag("%s: cannot set up the credentials: %s",
				  who->desc, khop_errno_name(ret));
			fflush(stdout);
			_exit(1);
		}
		fn(fresh, shared, arg, res);
		fflush(stdout);
		_exit(write(rfd[1], res, NR_RES * sizeof(int)) ==
		      (ssize_t)(NR_RES * sizeof(int)) ? 0 : 1);
	}
	close(rfd[1]);
	close(ufd[1]);
	close(gfd[0]);
	if (who->userns) {
		char c;

		if (read(ufd[0], &c, 1) == 1) {
			int ret = userns_map(pid);

			if (ret)
				ktap_diag("writing the id maps: %s", khop_errno_name(ret));
			c = ret ? 'x' : 'g';
			if (write(gfd[1], &c, 1) != 1)
				ktap_diag("cannot signal the namespaced child");
		}
	}
	ran = read(rfd[0], res, NR_RES * sizeof(int)) == (ssize_t)(NR_RES * sizeof(int));
	close(rfd[0]);
	close(ufd[0]);
	close(gfd[1]);
	waitpid(pid, &st, 0);
	if (!ran)
		ktap_fail(who->desc, "the child could not run the case");
	return ran;
}

/* ------------------------------------------------------------------ */
/* Outgoing cases                                                      */

static struct khop *open_or_bail(void)
{
	struct khop *k;

	if (khop_open(&k))
		ktap_bail("open: %s", khop_open_error());
	return k;
}

/* A new outgoing Live Update session of root's, for the children to inherit. */
static int luo_or_bail(const char *name)
{
	int fd;

	if (khop_luo_create(name, &fd))
		ktap_bail("%s", khop_luo_error());
	return fd;
}

static int state_of(struct khop *k, const char *session, uint32_t *state)
{
	struct khopages_session_info info;
	int ret = khop_stats(k, session, &info);

	*state = ret ? 0 : info.state;
	return ret;
}

static void expect_state(struct khop *k, const char *name, const char *session,
			 uint32_t want)
{
	uint32_t st;
	int ret = state_of(k, session, &st);

	ktap_check(name, !ret && st == want, "STATS %s, state %s, want %s", ename(ret),
		   ret ? "?" : khop_state_name(st), khop_state_name(want));
}

/* What root hands to the children it starts with fewer rights. */
struct root_files {
	struct khop *preserved;	/* perm-ref, in root's Live Update session */
	struct khop *open;	/* perm-open, open, with pages */
	int luo;		/* an empty outgoing Live Update session */
};

/*
 * CREATE and OPEN by name, and through root's files: PRESERVE_FD of
 * root's open session into a Live Update session, ABORT of root's
 * preserved session.
 */
static void as_name_cmds(struct khop *k, struct khop *shared, void *arg, int *res)
{
	const struct root_files *rf = arg;
	int fd;

	(void)shared;
	res[0] = khop_create(k, "perm-new");
	res[1] = khop_attach(k, "perm-open");
	res[2] = khop_luo_preserve_fd(rf->luo, khop_fd(rf->open), KHOP_LUO_TOKEN_PAGES);
	res[3] = khop_abort(rf->preserved);
	/* The node itself is root's. */
	fd = open(KHOPAGES_DEVICE, O_RDWR);
	res[4] = fd < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
}

static void as_create_abort(struct khop *k, struct khop *shared, void *arg,
			    int *res)
{
	(void)shared;
	res[0] = khop_create(k, arg);
	res[1] = res[0] ? NOT_RUN : khop_abort(k);
}

static void refused_name_cmds(const struct who *who, const struct root_files *rf,
			      bool may_open_node)
{
	char name[200];
	struct snap before;
	int res[NR_RES];

	snap_take(&before);
	if (run_as(who, as_name_cmds, NULL, (void *)rf, res)) {
		snprintf(name, sizeof(name), "%s: CREATE -> EPERM", who->desc);
		expect(name, res[0], -EPERM);
		snprintf(name, sizeof(name), "%s: OPEN -> EPERM", who->desc);
		expect(name, res[1], -EPERM);
		snprintf(name, sizeof(name),
			 "%s: PRESERVE_FD of root's open session into a Live Update session -> EPERM",
			 who->desc);
		expect(name, res[2], -EPERM);
		snprintf(name, sizeof(name), "%s: ABORT of root's preserved session -> EPERM",
			 who->desc);
		expect(name, res[3], -EPERM);
		if (!may_open_node) {
			snprintf(name, sizeof(name), "%s: open() of the node -> EACCES",
				 who->desc);
			expect(name, res[4], -EACCES);
		}
	}
	snap_same(who->desc, &before);
	free(before.s);
}

/* PRESERVE arguments for a caller that creates its own session. */
struct pres {
	struct target t;
	const char *session;
	int luo;		/* Live Update session to preserve it in, or -1 */
};

/* Own session (needs CAP_CHECKPOINT_RESTORE), then PRESERVE: res[0]
 * create, res[1] preserve, res[2] whether STATS changed (0 = no),
 * res[3] pages taken when it succeeded. */
static void as_preserve_own(struct khop *k, struct khop *shared, void *arg,
			    int *res)
{
	struct pres *p = arg;
	struct khopages_session_info a, b;
	struct khopages_preserve r;

	(void)shared;
	res[0] = khop_create(k, p->session);
	if (res[0])
		return;
	if (khop_stats(k, p->session, &a))
		return;
	res[1] = khop_preserve(k, p->t.pid, p->t.addr, TARGET_LEN, &r);
	if (khop_stats(k, p->session, &b))
		return;
	res[2] = memcmp(&a, &b, sizeof(a)) ? 1 : 0;
	res[3] = res[1] ? 0 : (int)r.nr_pages;
	khop_abort(k);
}

/* PRESERVE into a session of root's, through an inherited file. */
static void as_preserve_shared(struct khop *k, struct khop *shared, void *arg,
			       int *res)
{
	struct target *t = arg;
	struct khopages_preserve r;

	(void)k;
	res[0] = khop_preserve(shared, t->pid, t->addr, TARGET_LEN, &r);
	res[1] = res[0] ? 0 : (int)r.nr_pages;
}

static void check_preserve_refused(const char *what, const struct who *who,
				   struct target t, const char *session)
{
	struct pres p = { t, session, -1 };
	char name[256];
	struct snap before;
	int res[NR_RES];

	snap_take(&before);
	if (run_as(who, as_preserve_own, NULL, &p, res)) {
		snprintf(name, sizeof(name), "%s: CREATE of its own session", who->desc);
		expect(name, res[0], 0);
		snprintf(name, sizeof(name), "%s: PRESERVE %s -> EPERM", who->desc, what);
		expect(name, res[1], -EPERM);
		snprintf(name, sizeof(name), "%s: PRESERVE %s: STATS of the session unchanged",
			 who->desc, what);
		if (res[2] == 0)
			ktap_pass(name);
		else
			ktap_fail(name, "%s", res[2] == NOT_RUN ? "STATS failed" : "it changed");
	}
	snprintf(name, sizeof(name), "%s, PRESERVE %s", who->desc, what);
	snap_same(name, &before);
	free(before.s);
}

static void check_preserve_allowed(const char *what, const struct who *who,
				   struct target t, const char *session)
{
	struct pres p = { t, session, -1 };
	char name[256];
	int res[NR_RES];

	if (!run_as(who, as_preserve_own, NULL, &p, res))
		return;
	snprintf(name, sizeof(name), "control: %s: PRESERVE %s is allowed", who->desc, what);
	if (res[0] || res[1])
		ktap_fail(name, "create %s, preserve %s", ename(res[0]), ename(res[1]));
	else if (res[3] != (int)(TARGET_LEN / PG))
		ktap_fail(name, "%d pages taken, want %lu", res[3], TARGET_LEN / PG);
	else
		ktap_pass(name);
}

/*
 * Through root's files, inherited by a process with fewer rights:
 * PRESERVE_FD of the open session into a Live Update session, ABORT, and
 * OPEN of its own name (taking it back to restore it in place) are
 * refused (EPERM) and change nothing; so are PRESERVE and ABORT of the
 * preserved one.
 */
static void as_inherited(struct khop *k, struct khop *shared, void *arg, int *res)
{
	const struct root_files *rf = arg;
	struct khopages_preserve r;

	(void)k;
	(void)shared;
	res[0] = khop_luo_preserve_fd(rf->luo, khop_fd(rf->open), KHOP_LUO_TOKEN_PAGES);
	res[1] = khop_abort(rf->open);
	res[2] = khop_attach(rf->open, "perm-open");
	res[3] = khop_abort(rf->preserved);
	res[4] = khop_preserve(rf->preserved, getpid(), 0x10000, PG, &r);
}

static void check_inherited_files(const struct root_files *rf)
{
	static const char *const what[] = {
		"PRESERVE_FD of root's open perm-open into a Live Update session",
		"ABORT of root's open perm-open",
		"OPEN of its own name on root's open perm-open (restore in place)",
		"ABORT of root's preserved perm-ref",
		"PRESERVE into root's preserved perm-ref",
	};
	const struct who *whos[] = { &nobody, &nobody_ckpt };
	struct snap before;
	char name[256];
	int res[NR_RES];

	for (unsigned int i = 0; i < sizeof(whos) / sizeof(whos[0]); i++) {
		snap_take(&before);
		if (run_as(whos[i], as_inherited, NULL, (void *)rf, res)) {
			for (unsigned int j = 0; j < sizeof(what) / sizeof(what[0]); j++) {
				snprintf(name, sizeof(name), "%s, inherited files: %s -> EPERM",
					 whos[i]->desc, what[j]);
				expect(name, res[j], -EPERM);
			}
		}
		snprintf(name, sizeof(name), "%s, through root's inherited files", whos[i]->desc);
		snap_same(name, &before);
		free(before.s);
	}
}

/* Is @session in what LIST shows the caller? 1, 0, or a negative errno. */
static int lists(struct khop *k, const char *session)
{
	struct khopages_session_info *infos;
	size_t nr;
	int ret = khop_list(k, &infos, &nr), found = 0;

	if (ret)
		return ret;
	for (size_t i = 0; i < nr; i++)
		found |= !strcmp(infos[i].name, session);
	free(infos);
	return found;
}

/* What one may try on another user's session: by name, and with MAP
 * through a file attached to it (@shared, when there is one) of its own
 * pid's range at @addr (not recorded: without the rights check, ENOENT). */
struct foreign {
	const char *session;
	uint64_t addr;
};

static uint64_t map_room(uint64_t addr);

static void as_foreign(struct khop *k, struct khop *shared, void *arg, int *res)
{
	struct khopages_session_info info;
	const struct foreign *f = arg;
	struct khopages_map m;

	res[0] = khop_attach(k, f->session);
	res[1] = khop_stats(k, f->session, &info);
	res[2] = lists(k, f->session);
	if (shared) {
		uint64_t dst = map_room(f->addr);

		res[3] = dst ? khop_map(shared, getpid(), f->addr, dst, TARGET_LEN, &m) :
			       -ENOMEM;
	}
}

/*
 * @who on another user's @session: OPEN by name refused (@open_err:
 * EPERM for a retrieved session, ENOENT for one in a Live Update session
 * before the kexec, which only the next kernel opens), STATS -> EPERM,
 * LIST leaves it out, MAP through an inherited file of it -> EPERM.
 */
static void check_foreign_session(const struct who *who, const struct foreign *f,
				  struct khop *shared, int open_err, const char *desc)
{
	struct snap before;
	char name[256];
	int res[NR_RES];

	snap_take(&before);
	if (run_as(who, as_foreign, shared, (void *)f, res)) {
		snprintf(name, sizeof(name), "%s, %s: OPEN -> %s", who->desc, desc,
			 khop_errno_name(open_err));
		expect(name, res[0], open_err);
		snprintf(name, sizeof(name), "%s, %s: STATS -> EPERM", who->desc, desc);
		expect(name, res[1], -EPERM);
		snprintf(name, sizeof(name), "%s, %s: LIST leaves it out", who->desc, desc);
		expect(name, res[2], 0);
		if (shared) {
			snprintf(name, sizeof(name), "%s, %s: MAP through an inherited file -> EPERM",
				 who->desc, desc);
			expect(name, res[3], -EPERM);
		}
	}
	snprintf(name, sizeof(name), "%s, on %s", who->desc, desc);
	snap_same(name, &before);
	free(before.s);
}

/* The owner's own view of its session: STATS and LIST work. */
static void as_owner_view(struct khop *k, struct khop *shared, void *arg, int *res)
{
	struct khopages_session_info info;

	(void)shared;
	res[0] = khop_stats(k, arg, &info);
	res[1] = lists(k, arg);
}

/*
 * Create and fill a session as uid 65534 (its own process), and preserve
 * its file in the Live Update session root handed it: the session is its
 * own, so that is allowed. Live Update keeps the file once the caller
 * exits.
 */
static void as_preserve_own_luo(struct khop *k, struct khop *shared, void *arg, int *res)
{
	struct pres *p = arg;
	struct khopages_preserve r;

	(void)shared;
	res[0] = khop_create(k, p->session);
	res[1] = res[0] ? NOT_RUN : khop_preserve(k, p->t.pid, p->t.addr, TARGET_LEN, &r);
	res[2] = res[1] ? NOT_RUN : khop_luo_preserve_fd(p->luo, khop_fd(k),
							 KHOP_LUO_TOKEN_PAGES);
}

/*
 * uid 65534's perm-user, preserved in a Live Update session: another
 * holder of the checkpoint capability may not touch it; its owner and
 * root (the administrator) may see it. Closing the Live Update session
 * (the clean-up) takes the preserve back, and with its last file gone
 * the session goes.
 */
static int check_user_session(struct khop *root, struct target own_t)
{
	struct pres p = { own_t, "perm-user", luo_or_bail("perm-user") };
	struct foreign f = { "perm-user", 0 };
	struct khopages_session_info info;
	int res[NR_RES];

	if (run_as(&nobody_ckpt, as_preserve_own_luo, NULL, &p, res)) {
		expect("control: uid 65534 with CAP_CHECKPOINT_RESTORE: PRESERVE_FD of its own perm-user",
		       res[2], 0);
	}
	expect_state(root, "perm-user is preserved, its file kept by Live Update", "perm-user",
		     KHOPAGES_STATE_PRESERVED);
	check_foreign_session(&other_ckpt, &f, NULL, -ENOENT, "uid 65534's preserved perm-user");
	if (run_as(&nobody_ckpt, as_owner_view, NULL, "perm-user", res)) {
		expect("control: uid 65534 (owner): STATS of perm-user", res[0], 0);
		expect("control: uid 65534 (owner): LIST shows perm-user", res[1], 1);
	}
	expect("control: root (CAP_SYS_ADMIN): STATS of uid 65534's perm-user",
	       khop_stats(root, "perm-user", &info), 0);
	return p.luo;
}

/* No session of this program is left. */
static void nothing_left(void)
{
	const char *name = "no perm-* session left";
	struct snap now;
	bool left = false;

	snap_take(&now);
	for (size_t i = 0; i < now.nr; i++)
		if (!strncmp(now.s[i].name, "perm-", 5)) {
			ktap_fail(name, "%s (%s)", now.s[i].name, khop_state_name(now.s[i].state));
			left = true;
		}
	if (!left)
		ktap_pass(name);
	free(now.s);
}

static void t_outgoing(void)
{
	struct khop *ref = open_or_bail(), *open_s = open_or_bail();
	struct target root_t, other_t, own_t, own_nodump;
	struct foreign f = { "perm-ref", 0 };
	struct khopages_preserve r;
	struct root_files rf;
	struct snap before;
	int res[NR_RES], ret, luo_ref, luo_user;
	uint32_t st;

	/* perm-ref: preserved in a Live Update session; perm-open: open. */
	root_t = target_start(0, true);
	luo_ref = luo_or_bail("perm-ref");
	if (khop_create(ref, "perm-ref") ||
	    khop_preserve(ref, root_t.pid, root_t.addr, TARGET_LEN / 2, &r))
		ktap_bail("perm-ref: %s", khop_error(ref));
	if (khop_luo_preserve_fd(luo_ref, khop_fd(ref), KHOP_LUO_TOKEN_PAGES))
		ktap_bail("perm-ref: %s", khop_luo_error());
	if (khop_create(open_s, "perm-open") ||
	    khop_preserve(open_s, root_t.pid, root_t.addr + TARGET_LEN / 2,
			  TARGET_LEN / 4, &r))
		ktap_bail("perm-open: %s", khop_error(open_s));
	rf.preserved = ref;
	rf.open = open_s;
	rf.luo = luo_or_bail("perm-luo");

	/* --- CREATE, OPEN and a Live Update preserve need the capability */
	refused_name_cmds(&nobody, &rf, false);
	refused_name_cmds(&root_nocaps, &rf, true);
	refused_name_cmds(&userns_root, &rf, true);

	/* Controls: either capability is enough to create. */
	if (run_as(&nobody_ckpt, as_create_abort, NULL, "perm-ctl1", res)) {
		expect("control: uid 65534 with CAP_CHECKPOINT_RESTORE: CREATE", res[0], 0);
		expect("control: uid 65534 with CAP_CHECKPOINT_RESTORE: ABORT", res[1], 0);
	}
	if (run_as(&nobody_admin, as_create_abort, NULL, "perm-ctl2", res)) {
		expect("control: uid 65534 with CAP_SYS_ADMIN: CREATE", res[0], 0);
		expect("control: uid 65534 with CAP_SYS_ADMIN: ABORT", res[1], 0);
	}

	/* --- PRESERVE needs ptrace rights over the target */
	other_t = target_start(OTHER, true);
	own_t = target_start(NOBODY, true);
	own_nodump = target_start(NOBODY, false);
	check_preserve_refused("of uid 65533's process", &nobody_ckpt, other_t, "perm-p1");
	check_preserve_refused("of root's process", &nobody_ckpt, root_t, "perm-p2");
	check_preserve_refused("of its own uid's non-dumpable process", &nobody_ckpt,
			       own_nodump, "perm-p3");
	check_preserve_refused("of uid 65533's process", &root_ckpt, other_t, "perm-p4");
	check_preserve_allowed("of its own uid's dumpable process", &nobody_ckpt,
			       own_t, "perm-p5");
	/* The same target once dumpable: the refusal was about dumpability. */
	target_stop(&own_nodump);
	own_nodump = target_start(NOBODY, true);
	check_preserve_allowed("of the same uid, now dumpable", &nobody_ckpt,
			       own_nodump, "perm-p6");

	/* Through root's open session (inherited file): still no ptrace right. */
	snap_take(&before);
	if (run_as(&nobody, as_preserve_shared, open_s, &root_t, res))
		expect("uid 65534 without capabilities, root's session: PRESERVE of root's process -> EPERM",
		       res[0], -EPERM);
	snap_same("PRESERVE of root's process into root's session", &before);
	free(before.s);
	if (run_as(&nobody, as_preserve_shared, open_s, &other_t, res))
		expect("uid 65534 without capabilities, root's session: PRESERVE of uid 65533's process -> EPERM",
		       res[0], -EPERM);
	/* Its own process, but root's session: the file gives no rights. */
	snap_take(&before);
	if (run_as(&nobody, as_preserve_shared, open_s, &own_t, res))
		expect("uid 65534 without capabilities, root's session: PRESERVE of its own uid's process -> EPERM",
		       res[0], -EPERM);
	snap_same("PRESERVE of its own process into root's session", &before);
	free(before.s);

	/* --- a session belongs to its user, whoever holds its file */
	check_inherited_files(&rf);
	check_foreign_session(&nobody_ckpt, &f, NULL, -ENOENT, "root's preserved perm-ref");
	luo_user = check_user_session(ref, own_t);

	/* Userns root, on a session created before unshare. */
	if (run_as(&userns_root, as_preserve_shared, open_s, &other_t, res))
		expect("root of a new user namespace, root's session: PRESERVE of uid 65533's process -> EPERM",
		       res[0], -EPERM);

	target_stop(&own_t);
	target_stop(&own_nodump);
	target_stop(&other_t);

	/* --- clean-up: nothing of the test may stay */
	expect_state(open_s, "perm-open is still open", "perm-open", KHOPAGES_STATE_OPEN);
	ret = khop_abort(open_s);
	expect("root: ABORT perm-open", ret, 0);
	expect_state(ref, "perm-ref is still preserved", "perm-ref", KHOPAGES_STATE_PRESERVED);
	close(luo_ref);
	expect_state(ref, "closing its Live Update session: perm-ref is open again", "perm-ref",
		     KHOPAGES_STATE_OPEN);
	ret = khop_abort(ref);
	expect("root: ABORT perm-ref", ret, 0);
	close(luo_user);
	expect("closing its Live Update session releases uid 65534's perm-user (its last file)",
	       state_of(ref, "perm-user", &st), -ENOENT);
	close(rf.luo);
	khop_close(open_s);
	khop_close(ref);
	target_stop(&root_t);
	nothing_left();
}

/* ------------------------------------------------------------------ */
/* Hand sessions over to the next kernel                               */

#define HOLDER_PIDFILE	"/tmp/perm-holder.%s.pid"

static void do_handover(const char *session, const char *record)
{
	struct khop *k = open_or_bail();
	struct target t = target_start(0, true), own;
	struct khopages_preserve r;
	char user[KHOPAGES_NAME_MAX], path[128];
	struct pres p;
	int res[NR_RES];
	FILE *f;

	snprintf(path, sizeof(path), HOLDER_PIDFILE, session);
	if (khop_create(k, session) ||
	    khop_preserve(k, t.pid, t.addr, TARGET_LEN, &r))
		ktap_bail("%s: %s", session, khop_error(k));
	if (kt_hand_over(khop_fd(k), session, path) < 0)
		ktap_bail("%s: %s", session, kt_handover_error());
	ktap_diag("%s handed over: %llu pages of pid %d at %#llx", session,
		  (unsigned long long)r.nr_pages, (int)t.pid, (unsigned long long)t.addr);
	f = fopen(record, "w");
	if (!f || fprintf(f, "%d %llx\n", (int)t.pid, (unsigned long long)t.addr) < 0 ||
	    fclose(f))
		ktap_bail("cannot write %s", record);
	target_stop(&t);
	khop_close(k);

	/*
	 * A second one, of uid 65534, which preserves its own file in the
	 * Live Update session root gives it; a holder keeps that open. Its
	 * owner crosses the kexec.
	 */
	snprintf(user, sizeof(user), "%s-user", session);
	own = target_start(NOBODY, true);
	p.t = own;
	p.session = user;
	p.luo = luo_or_bail(user);
	if (!run_as(&nobody_ckpt, as_preserve_own_luo, NULL, &p, res) || res[2])
		ktap_bail("%s as uid 65534: create %s, preserve %s, PRESERVE_FD %s", user,
			  ename(res[0]), ename(res[1]), ename(res[2]));
	snprintf(path, sizeof(path), HOLDER_PIDFILE, user);
	if (kt_hold_fds(path, &p.luo, 1) < 0)
		ktap_bail("the holder of Live Update session %s did not start", user);
	close(p.luo);
	ktap_diag("%s handed over as uid 65534's", user);
	target_stop(&own);
}

/* ------------------------------------------------------------------ */
/* Incoming cases                                                      */

static void as_attach(struct khop *k, struct khop *shared, void *arg, int *res)
{
	(void)shared;
	res[0] = khop_attach(k, arg);
}

/* What the handing-over stage recorded: the range root's session holds. */
struct mapping {
	pid_t pid;
	uint64_t addr;
	const char *session;
};

/* Room for the range at an address congruent to it modulo 2 MiB. */
static uint64_t map_room(uint64_t addr)
{
	const uint64_t huge = 2UL << 20;
	char *p = mmap(NULL, TARGET_LEN + 2 * huge, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t base;

	if (p == MAP_FAILED)
		return 0;
	base = ((uint64_t)(uintptr_t)p + huge - 1) & ~(huge - 1);
	return base + (addr & (huge - 1));
}

/* MAP of the recorded range through @shared (or, without it, a file of
 * our own that opens the session first): res[0] OPEN, res[1] MAP, res[2]
 * pages mapped, res[3] pages that do not hold the target's bytes. */
static void as_map(struct khop *k, struct khop *shared, void *arg, int *res)
{
	const struct mapping *m = arg;
	struct khopages_map r;
	uint64_t dst = map_room(m->addr);

	memset(&r, 0, sizeof(r));
	if (!dst)
		return;
	if (!shared) {
		res[0] = khop_attach(k, m->session);
		if (res[0])
			return;
	}
	res[1] = khop_map(shared ? shared : k, m->pid, m->addr, dst, TARGET_LEN, &r);
	res[2] = (int)r.nr_mapped;
	if (res[1])
		return;
	res[3] = 0;
	for (uint64_t pg = 0; pg < TARGET_LEN / PG; pg++) {
		const unsigned char *b = (const unsigned char *)(uintptr_t)(dst + pg * PG);
		bool bad = false;

		for (size_t i = 0; i < PG && !bad; i++)
			bad = b[i] != 0x5a;
		res[3] += bad;
	}
}

static void t_map_rights(struct khop *k, const struct mapping *m)
{
	struct khopages_session_info info;
	struct snap before;
	int res[NR_RES], ret;
	char name[256];

	snap_take(&before);
	if (run_as(&nobody, as_map, k, (void *)m, res))
		expect("uid 65534 without capabilities, root's retrieved session through an inherited file: MAP -> EPERM",
		       res[1], -EPERM);
	if (run_as(&root_ckpt, as_map, NULL, (void *)m, res)) {
		expect("control: uid 0 with only CAP_CHECKPOINT_RESTORE: OPEN of root's session",
		       res[0], 0);
		expect("uid 0 with only CAP_CHECKPOINT_RESTORE: MAP of another pid's range -> EPERM",
		       res[1], -EPERM);
	}
	snprintf(name, sizeof(name), "refused MAPs of %s", m->session);
	snap_same(name, &before);
	free(before.s);

	/* Control: the administrator maps it, every page, every byte. */
	for (int i = 0; i < NR_RES; i++)
		res[i] = NOT_RUN;
	as_map(NULL, k, (void *)m, res);
	expect("control: root: MAP of the recorded range", res[1], 0);
	snprintf(name, sizeof(name), "control: root: MAP took all %lu pages", TARGET_LEN / PG);
	if (res[2] == (int)(TARGET_LEN / PG))
		ktap_pass(name);
	else
		ktap_fail(name, "%d pages mapped", res[2]);
	ktap_check("control: root: every mapped page holds the target's bytes", res[3] == 0,
		   "%s", res[3] == NOT_RUN ? "not mapped" : "some pages differ");
	ret = khop_stats(k, m->session, &info);
	if (ret || info.nr_mapped != TARGET_LEN / PG)
		ktap_fail("the session counts exactly the control's pages as mapped", "%s, %llu",
		    ename(ret), ret ? 0ULL : (unsigned long long)info.nr_mapped);
	else
		ktap_pass("the session counts exactly the control's pages as mapped");
}

/* After the kexec: the Live Update session @name and the file in it. */
static struct khop *take_over_or_bail(const char *name)
{
	struct khop *k;
	int fd = kt_take_over(name);

	if (fd < 0)
		ktap_bail("retrieve %s: %s", name, kt_handover_error());
	if (khop_from_fd(fd, &k))
		ktap_bail("retrieved %s: %s", name, khop_open_error());
	return k;
}

/* CREATE and OPEN by name, and STATS and MAP through the retrieved file. */
static void as_in_cmds(struct khop *k, struct khop *shared, void *arg, int *res)
{
	struct khopages_session_info info;
	const struct mapping *m = arg;
	struct khopages_map r;
	uint64_t dst = map_room(m->addr);

	res[0] = khop_create(k, "perm-new");
	res[1] = khop_attach(k, m->session);
	res[2] = khop_stats(k, m->session, &info);
	res[3] = dst ? khop_map(shared, getpid(), m->addr, dst, TARGET_LEN, &r) : -ENOMEM;
}

/*
 * After the kexec, the release of a retrieved session: the last close of
 * its files. @k is the last one.
 */
static void check_released(struct khop *k, const char *session, const char *name)
{
	struct khopages_session_info info;
	struct khop *o;

	khop_close(k);
	o = open_or_bail();
	expect(name, khop_stats(o, session, &info), -ENOENT);
	khop_close(o);
}

static void t_incoming(const char *session, const char *record)
{
	struct khopages_session_info info;
	const struct who *refused[] = { &nobody, &root_nocaps, &userns_root };
	struct mapping m = { 0, 0, session };
	char user[KHOPAGES_NAME_MAX];
	struct foreign f = { session, 0 }, fu = { NULL, 0 };
	struct khop *k, *ku;
	unsigned long long addr;
	struct snap before;
	char name[256];
	int res[NR_RES], ret, pid;
	FILE *fr;

	fr = fopen(record, "r");
	if (!fr || fscanf(fr, "%d %llx", &pid, &addr) != 2)
		ktap_bail("cannot read %s", record);
	fclose(fr);
	m.pid = pid;
	m.addr = addr;
	f.addr = addr;
	snprintf(user, sizeof(user), "%s-user", session);
	fu.session = user;
	fu.addr = addr;

	k = take_over_or_bail(session);
	ku = take_over_or_bail(user);
	ret = khop_stats(k, session, &info);
	if (ret || info.state != KHOPAGES_STATE_RETRIEVED || info.nr_pages != TARGET_LEN / PG)
		ktap_bail("retrieved session %s: %s, state %s, %llu pages", session, ename(ret),
			  ret ? "?" : khop_state_name(info.state),
			  ret ? 0ULL : (unsigned long long)info.nr_pages);
	for (unsigned int i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snap_take(&before);
		if (run_as(refused[i], as_in_cmds, k, &m, res)) {
			snprintf(name, sizeof(name), "%s: OPEN of retrieved %s -> EPERM",
				 refused[i]->desc, session);
			expect(name, res[1], -EPERM);
			snprintf(name, sizeof(name), "%s: STATS of retrieved %s -> EPERM",
				 refused[i]->desc, session);
			expect(name, res[2], -EPERM);
			snprintf(name, sizeof(name),
				 "%s: MAP through the inherited retrieved file of %s -> EPERM",
				 refused[i]->desc, session);
			expect(name, res[3], -EPERM);
			snprintf(name, sizeof(name), "%s: CREATE -> EPERM", refused[i]->desc);
			expect(name, res[0], -EPERM);
		}
		snprintf(name, sizeof(name), "%s, on retrieved %s", refused[i]->desc, session);
		snap_same(name, &before);
		free(before.s);
	}

	/* Another user with the capability: root's session is not theirs. */
	snprintf(name, sizeof(name), "root's retrieved %s", session);
	check_foreign_session(&nobody_ckpt, &f, k, -EPERM, name);
	/* The owner recorded in the handover: uid 65534's session. */
	snprintf(name, sizeof(name), "uid 65534's retrieved %s", user);
	check_foreign_session(&other_ckpt, &fu, ku, -EPERM, name);
	if (run_as(&nobody_ckpt, as_attach, NULL, user, res)) {
		snprintf(name, sizeof(name), "control: uid 65534 (owner): OPEN of retrieved %s",
			 user);
		expect(name, res[0], 0);
	}
	if (run_as(&nobody_ckpt, as_owner_view, NULL, user, res)) {
		snprintf(name, sizeof(name), "control: uid 65534 (owner): STATS of retrieved %s",
			 user);
		expect(name, res[0], 0);
		snprintf(name, sizeof(name), "control: uid 65534 (owner): LIST shows %s", user);
		expect(name, res[1], 1);
	}

	/* Control: root without CAP_SYS_ADMIN owns root's session. */
	if (run_as(&root_ckpt, as_attach, NULL, (void *)session, res))
		expect("control: uid 0 with only CAP_CHECKPOINT_RESTORE: OPEN", res[0], 0);
	ret = khop_stats(k, session, &info);
	snprintf(name, sizeof(name),
		 "after the control's file closed, %s is still retrieved, all its pages unmapped",
		 session);
	if (!ret && info.state == KHOPAGES_STATE_RETRIEVED && !info.nr_mapped &&
	    info.nr_released == TARGET_LEN / PG)
		ktap_pass(name);
	else
		ktap_fail(name, "%s, state %s, %llu mapped, %llu unmapped", ename(ret),
			  ret ? "?" : khop_state_name(info.state),
			  ret ? 0ULL : (unsigned long long)info.nr_mapped,
			  ret ? 0ULL : (unsigned long long)info.nr_released);

	t_map_rights(k, &m);

	check_released(k, session,
		       "root closes the last file of its retrieved session: the session is gone");
	expect("control: root (CAP_SYS_ADMIN): STATS of uid 65534's retrieved session",
	       khop_stats(ku, user, &info), 0);
	check_released(ku, user,
		       "root closes the last file of uid 65534's retrieved session: the session is gone");
	nothing_left();
}

int main(int argc, char **argv)
{
	bool outgoing = argc == 2 && !strcmp(argv[1], "outgoing");
	bool handover = argc == 4 && !strcmp(argv[1], "handover");
	bool incoming = argc == 4 && !strcmp(argv[1], "incoming");

	if (geteuid() != 0) {
		printf("khopages_perm must start as root\n");
		return 2;
	}
	if (!outgoing && !handover && !incoming) {
		fprintf(stderr,
			"usage: khopages_perm outgoing | handover NAME FILE | incoming NAME FILE\n");
		return 2;
	}
	ktap_start();
	if (outgoing)
		t_outgoing();
	else if (handover)
		do_handover(argv[2], argv[3]);
	else
		t_incoming(argv[2], argv[3]);
	return ktap_finish();
}
