// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: the failure paths of /dev/khopages.
 *
 *   khopages_errors [outgoing]               cases on one kernel, no kexec
 *   khopages_errors commit NAME FILE [MIB]   commit session NAME for the next
 *                                            kernel (a small range, a THP and
 *                                            optionally MIB MiB more); FILE
 *                                            records pid, ranges and frames
 *   khopages_errors incoming NAME [FILE]     after kexec: cases on NAME
 *   khopages_errors discard NAME [FILE]      after kexec: FINISH NAME unopened
 *                                            and check its memory comes back
 * FILE defaults to NAME.records in the current directory.
 *
 * Each case prints "ok - NAME" or "not ok - NAME: details"; the last line
 * counts them; the exit status is 1 when any case failed.
 *
 * Argument errors are provoked with raw ioctls on khop_fd(), because the
 * library checks some arguments itself before the driver sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "khopages.h"
#include "khopages_testlib.h"

static unsigned int nr_ok, nr_not_ok;

static void ok(const char *name)
{
	printf("ok - %s\n", name);
	nr_ok++;
}

static void __attribute__((format(printf, 2, 3)))
not_ok(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("not ok - %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	nr_not_ok++;
}

static bool __attribute__((format(printf, 3, 4)))
check(const char *name, bool good, const char *fmt, ...)
{
	va_list ap;

	if (good) {
		ok(name);
		return true;
	}
	printf("not ok - %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	nr_not_ok++;
	return false;
}

/* @got and @want are 0 or a negative errno. */
static bool expect_ret(const char *name, int got, int want)
{
	return check(name, got == want, "got %s, expected %s", kt_errname(got),
		     kt_errname(want));
}

static void __attribute__((noreturn, format(printf, 1, 2)))
bail(const char *fmt, ...)
{
	va_list ap;

	printf("not ok - setup: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static int rawio(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static struct khopages_name_arg name_arg(const char *name, uint32_t flags)
{
	struct khopages_name_arg a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = flags;
	snprintf(a.name, sizeof(a.name), "%s", name);
	return a;
}

static struct khop *open_or_bail(void)
{
	struct khop *k;

	if (khop_open(&k))
		bail("open: %s", khop_open_error());
	return k;
}

static uint64_t random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		bail("getrandom: %s", strerror(errno));
	return v;
}

/* ------------------------------------------------------------------ */
/* Target processes: own some filled anonymous memory and wait.       */

struct tregion {
	char name[16];
	uint64_t len, addr, seed;
	int madv;
	bool large;	/* commit mode: backed by a large folio */
	bool sparse;	/* holes of both kinds between written pages */
	bool balloon;	/* filled, then unmapped before the target is ready */
	uint64_t nr_pages;
};

/*
 * A sparse region, per 4 pages: written, only read (the zero page; a huge
 * zero page with MADV_HUGEPAGE, per 2 MiB), never touched, written. Its
 * last quarter is then made PROT_NONE, which must not hide its pages.
 */
#define SPARSE_UNIT		(4 * KT_PAGE)
static bool sparse_written(const struct tregion *r, uint64_t off)
{
	if (r->madv == MADV_HUGEPAGE)
		return off / KT_HUGE % 2;	/* every other 2 MiB */
	return off % SPARSE_UNIT == 0 || off % SPARSE_UNIT == 3 * KT_PAGE;
}

static void sparse_touch(const struct tregion *r, char *p)
{
	uint64_t step = r->madv == MADV_HUGEPAGE ? KT_HUGE : KT_PAGE;

	for (uint64_t off = 0; off < r->len; off += step) {
		if (sparse_written(r, off))
			kt_fill(p + off, step, r->seed, (uint64_t)(uintptr_t)p + off);
		else if (r->madv == MADV_HUGEPAGE || off % SPARSE_UNIT == KT_PAGE)
			(void)*(volatile char *)(p + off);
	}
	if (mprotect(p + r->len / 4 * 3, r->len / 4, PROT_NONE))
		_exit(1);
}

struct target {
	pid_t pid;
	int nr;
	struct tregion r[3];
};

static void target_add(struct target *t, const char *name, uint64_t len, int madv)
{
	struct tregion *r = &t->r[t->nr++];

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->len = len;
	r->madv = madv;
	r->nr_pages = len / KT_PAGE;
}

/* Start the target; with @freeze it is stopped with ptrace, as a
 * checkpointer would stop it before PRESERVE. */
static int target_start(struct target *t, bool freeze)
{
	pid_t parent = getpid();
	uint64_t addr[3];
	int fds[2], ret;

	for (int i = 0; i < t->nr; i++)
		t->r[i].seed = random_u64();
	if (pipe(fds))
		return -errno;
	fflush(stdout);
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (!t->pid) {
		/*
		 * Drop inherited /dev/khopages files: a session belongs to
		 * its open file, which a child holding a copy keeps alive.
		 */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != fds[1])
				close(fd);
		for (int i = 0; i < t->nr; i++) {
			struct tregion *r = &t->r[i];
			char *p = r->madv == MADV_HUGEPAGE ? kt_map_aligned(r->len, KT_HUGE) :
				  mmap(NULL, r->len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			addr[i] = 0;
			if (p == MAP_FAILED || (r->madv && madvise(p, r->len, r->madv)))
				_exit(1);
			if (r->sparse)
				sparse_touch(r, p);
			else
				kt_fill(p, r->len, r->seed, (uint64_t)(uintptr_t)p);
			addr[i] = (uint64_t)(uintptr_t)p;
		}
		/* A balloon took most free memory before the regions after
		 * it were filled, so they reached into KHO scratch; without
		 * it there is room outside scratch again. */
		for (int i = 0; i < t->nr; i++)
			if (t->r[i].balloon && munmap((void *)(uintptr_t)addr[i], t->r[i].len))
				_exit(1);
		if (kt_write_all(fds[1], addr, t->nr * sizeof(addr[0])))
			_exit(1);
		/* Hold no file of the test (a khopages fd would keep its
		 * session alive, a pipe would hang a reader), and never
		 * outlive the process that started us. */
		close_range(3, ~0U, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ret = kt_read_all(fds[0], addr, t->nr * sizeof(addr[0]));
	close(fds[0]);
	if (ret) {
		kt_kill_wait(t->pid);
		return -ECHILD;
	}
	for (int i = 0; i < t->nr; i++)
		t->r[i].addr = addr[i];
	if (freeze) {
		ret = kt_freeze(t->pid);
		if (ret) {
			kt_kill_wait(t->pid);
			return ret;
		}
	}
	return 0;
}

static void target_16m(struct target *t)
{
	int ret;

	memset(t, 0, sizeof(*t));
	target_add(t, "data", 16 * KT_MIB, MADV_NOHUGEPAGE);
	ret = target_start(t, true);
	if (ret)
		bail("start a target process: %s", strerror(-ret));
}

/* Frames of the present pages of region @ri (malloc'ed), count in *n. */
static uint64_t *target_pfns(const struct target *t, int ri, uint64_t *n)
{
	const struct tregion *r = &t->r[ri];
	uint64_t *e = malloc(r->nr_pages * 8);

	*n = 0;
	if (!e || kt_pagemap(t->pid, r->addr, r->nr_pages, e))
		bail("read /proc/%d/pagemap", (int)t->pid);
	for (uint64_t i = 0; i < r->nr_pages; i++)
		if (kt_pm_present(e[i]))
			e[(*n)++] = kt_pm_pfn(e[i]);
	return e;
}

/* Wrong bytes in region @ri of the target, read through /proc/PID/mem. */
static uint64_t target_bad_bytes(const struct target *t, int ri)
{
	const struct tregion *r = &t->r[ri];
	char *buf = malloc(KT_MIB);
	uint64_t bad = 0;

	if (!buf)
		bail("out of memory");
	for (uint64_t off = 0; off < r->len; off += KT_MIB) {
		uint64_t chunk = r->len - off < KT_MIB ? r->len - off : KT_MIB;

		if (kt_read_mem(t->pid, r->addr + off, buf, chunk))
			bail("read /proc/%d/mem", (int)t->pid);
		for (uint64_t p = 0; p < chunk; p += KT_PAGE)
			bad += kt_page_bad_bytes(buf + p, r->seed, r->addr + off + p, NULL);
	}
	free(buf);
	return bad;
}

/* Poll until none of @pfns is an orphaned anonymous page any more. */
static uint64_t wait_orphans_gone(const uint64_t *pfns, uint64_t n)
{
	uint64_t left = kt_count_orphan_anon(pfns, n);

	for (int i = 0; left && i < 20; i++) {
		kt_settle();
		left = kt_count_orphan_anon(pfns, n);
	}
	return left;
}

/*
 * The pages of a dead target were released by the session: none of its
 * frames is still an anonymous page that nobody maps, and free memory
 * grew by (nearly) all of them.
 */
static void check_released(const char *name, const uint64_t *pfns, uint64_t n,
			   long free_before)
{
	char what[128];
	uint64_t left = wait_orphans_gone(pfns, n);
	long want = free_before + (long)(n * 4 * 3 / 4);
	long now = kt_wait_free(want, 3000);

	snprintf(what, sizeof(what), "%s: no frame of the target is still held", name);
	check(what, left == 0, "%" PRIu64 " of %" PRIu64
	      " frames are still unmapped anonymous pages", left, n);
	snprintf(what, sizeof(what), "%s: free memory got the pages back", name);
	check(what, now >= want, "free memory rose by %ld kB, expected at least %ld kB of %" PRIu64,
	      now - free_before, want - free_before, n * 4);
}

/* ------------------------------------------------------------------ */
/* Unprivileged helpers: fork, open the device while still root (the
 * node is root's), drop to uid 65534, run @fn, report its results.   */

#define NR_RESULTS	4
#define DROP_FAILED	INT_MIN

typedef void (*dropped_fn)(struct khop *fresh, void *arg, int *res);

static bool run_dropped(const char *name, bool keep_ckpt_restore, dropped_fn fn, void *arg,
			int *res)
{
	int fds[2], st, ret;
	pid_t c;

	for (int i = 0; i < NR_RESULTS; i++)
		res[i] = DROP_FAILED;
	if (pipe(fds))
		bail("pipe: %s", strerror(errno));
	fflush(stdout);
	c = fork();
	if (c < 0)
		bail("fork: %s", strerror(errno));
	if (!c) {
		struct khop *k;

		close(fds[0]);
		if (khop_open(&k))
			_exit(1);
		ret = kt_drop_privileges(keep_ckpt_restore);
		if (!ret)
			fn(k, arg, res);
		else
			printf("# dropping privileges failed: %s\n", kt_errname(ret));
		fflush(stdout);
		_exit(kt_write_all(fds[1], res, NR_RESULTS * sizeof(int)) ? 1 : 0);
	}
	close(fds[1]);
	ret = kt_read_all(fds[0], res, NR_RESULTS * sizeof(int));
	close(fds[0]);
	waitpid(c, &st, 0);
	if (ret || res[0] == DROP_FAILED) {
		not_ok(name, "the unprivileged child could not run");
		return false;
	}
	return true;
}

static void drop_create(struct khop *k, void *arg, int *res)
{
	(void)arg;
	res[0] = khop_create(k, "errperm-create");
}

static void drop_preserve(struct khop *k, void *arg, int *res)
{
	struct khop *root_session = ((void **)arg)[0];
	const struct target *t = ((void **)arg)[1];
	struct khopages_preserve p;

	(void)k;
	res[0] = khop_preserve(root_session, t->pid, t->r[0].addr, t->r[0].len, &p);
}

/* Holds CAP_CHECKPOINT_RESTORE but not CAP_SYS_PTRACE: may preserve its
 * own uid's dumpable process, not root's. */
static void drop_ptrace(struct khop *k, void *arg, int *res)
{
	const struct target *root_target = arg;
	struct khopages_preserve p;
	struct target own;

	res[0] = khop_create(k, "errperm-ptrace");
	res[1] = khop_preserve(k, root_target->pid, root_target->r[0].addr,
			       root_target->r[0].len, &p);
	/* Credentials changed: make the processes we fork traceable again. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	memset(&own, 0, sizeof(own));
	target_add(&own, "own", 4 * KT_MIB, MADV_NOHUGEPAGE);
	res[2] = target_start(&own, true);
	if (!res[2]) {
		memset(&p, 0, sizeof(p));
		res[2] = khop_preserve(k, own.pid, own.r[0].addr, own.r[0].len, &p);
		res[3] = res[2] ? -1 : (int)p.nr_pages;
		kt_kill_wait(own.pid);
	}
	khop_abort(k);
}

static void drop_evacuate(struct khop *k, void *arg, int *res)
{
	const struct target *t = arg;

	res[0] = khop_evacuate(k, t->pid, t->r[0].addr, t->r[0].len, NULL);
}

static void drop_finish(struct khop *k, void *arg, int *res)
{
	res[0] = khop_finish(k, arg, KHOPAGES_FINISH_OUTGOING);
}

static void drop_finish_incoming(struct khop *k, void *arg, int *res)
{
	res[0] = khop_finish(k, arg, 0);
}

static void drop_open(struct khop *k, void *arg, int *res)
{
	res[0] = khop_attach(k, arg);
}

/* ------------------------------------------------------------------ */
/* Outgoing cases                                                     */

static void t_library_helpers(void)
{
	char n63[KHOPAGES_NAME_MAX], n64[KHOPAGES_NAME_MAX + 1];
	bool states_ok = true;

	memset(n63, 'a', 63);
	n63[63] = 0;
	memset(n64, 'b', 64);
	n64[64] = 0;
	check("khop_valid_name: 63 characters", khop_valid_name(n63) == 1, "rejected");
	check("khop_valid_name: [A-Za-z0-9._-]", khop_valid_name("Ab9._-z") == 1, "rejected");
	check("khop_valid_name: empty", khop_valid_name("") == 0, "accepted");
	check("khop_valid_name: 64 characters", khop_valid_name(n64) == 0, "accepted");
	check("khop_valid_name: '/'", khop_valid_name("a/b") == 0, "accepted");
	check("khop_valid_name: space", khop_valid_name("a b") == 0, "accepted");
	for (uint32_t s = KHOPAGES_STATE_OPEN; s <= KHOPAGES_STATE_CLAIMED; s++)
		states_ok &= khop_state_name(s) && khop_state_name(s)[0];
	check("khop_state_name: every state has a name", states_ok, "an empty name");
}

static void t_unknown_ioctl(void)
{
	struct khop *k = open_or_bail();
	char buf[256] = { 0 };

	expect_ret("unknown command number -> ENOTTY",
		   rawio(khop_fd(k), _IOWR(KHOPAGES_IOC_MAGIC, 0x7f, char[256]), buf), -ENOTTY);
	expect_ret("foreign ioctl magic -> ENOTTY",
		   rawio(khop_fd(k), _IO('x', 0x40), NULL), -ENOTTY);
	khop_close(k);
}

static void t_create_bad_args(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k);
	struct khopages_name_arg a;
	struct khopages_session_info in;
	struct {
		struct khopages_name_arg a;
		uint64_t tail;
	} big;
	int ret;

	a = name_arg("errargs", 0);
	a.size = 0;
	expect_ret("create: size 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("errargs", 0);
	a.size = sizeof(a) - 1;
	expect_ret("create: size too small -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("errargs", 1);
	expect_ret("create: unknown flag bit 0 -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("errargs", 0x80000000u);
	expect_ret("create: unknown flag bit 31 -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("", 0);
	expect_ret("create: empty name -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("", 0);
	memset(a.name, 'n', sizeof(a.name));	/* no NUL within 64 bytes */
	expect_ret("create: name without NUL -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("err/slash", 0);
	expect_ret("create: name with '/' -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("err space", 0);
	expect_ret("create: name with ' ' -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("err\n", 0);
	expect_ret("create: name with a control character -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);

	/* Nothing of the rejected calls stayed behind. */
	expect_ret("create: rejected calls created nothing",
		   khop_stats(k, "errargs", &in), -ENOENT);
	ret = khop_create(k, "errargs");
	expect_ret("create: the fd is still free after rejected calls", ret, 0);
	if (!ret)
		khop_abort(k);

	/* Library checks report a message too. */
	ret = khop_create(k, "err/lib");
	check("khop_create(\"err/lib\") -> EINVAL with a message",
	      ret == -EINVAL && khop_error(k) && khop_error(k)[0],
	      "got %s, message \"%s\"", kt_errname(ret), khop_error(k) ? khop_error(k) : "(null)");

	/* A newer caller's larger struct: fine with a zero tail only. */
	memset(&big, 0, sizeof(big));
	big.a = name_arg("errbig", 0);
	big.a.size = sizeof(big);
	ret = rawio(fd, KHOPAGES_IOC_CREATE, &big);
	expect_ret("create: larger struct with a zero tail is accepted", ret, 0);
	if (!ret)
		expect_ret("abort after create", khop_abort(k), 0);
	big.tail = 1;
	ret = rawio(fd, KHOPAGES_IOC_CREATE, &big);
	check("create: larger struct with a non-zero tail -> EINVAL or E2BIG",
	      ret == -EINVAL || ret == -E2BIG, "got %s", kt_errname(ret));
	if (!ret)
		khop_abort(k);
	khop_close(k);
}

static void t_name_limits(void)
{
	struct khop *k = open_or_bail();
	char n63[KHOPAGES_NAME_MAX];
	int ret;

	memset(n63, 'x', 63);
	n63[63] = 0;
	ret = khop_create(k, n63);
	expect_ret("create: 63-character name is accepted", ret, 0);
	if (!ret)
		khop_abort(k);
	khop_close(k);
}

static void t_no_session(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k);
	char *page = mmap(NULL, KT_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct khopages_preserve p;
	struct khopages_map m;

	if (page == MAP_FAILED)
		bail("mmap: %s", strerror(errno));
	page[0] = 1;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.pid = getpid();
	p.start = (uint64_t)(uintptr_t)page;
	p.len = KT_PAGE;
	expect_ret("preserve without a session -> ENOENT",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -ENOENT);
	expect_ret("commit without a session -> ENOENT",
		   rawio(fd, KHOPAGES_IOC_COMMIT, NULL), -ENOENT);
	expect_ret("abort without a session -> ENOENT",
		   rawio(fd, KHOPAGES_IOC_ABORT, NULL), -ENOENT);
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.pid = 1;
	m.orig_va = 0x200000;
	m.dst_va = (uint64_t)(uintptr_t)page;
	m.len = KT_PAGE;
	expect_ret("map without an opened session -> ENOENT",
		   rawio(fd, KHOPAGES_IOC_MAP, &m), -ENOENT);
	munmap(page, KT_PAGE);
	khop_close(k);
}

static void t_busy_exists(void)
{
	struct khop *k1 = open_or_bail(), *k2 = open_or_bail();
	int ret;

	if (khop_create(k1, "errbusy"))
		bail("create errbusy: %s", khop_error(k1));
	expect_ret("create a second session on one fd -> EBUSY",
		   khop_create(k1, "errbusy2"), -EBUSY);
	expect_ret("create the same name again on one fd -> EBUSY",
		   khop_create(k1, "errbusy"), -EBUSY);
	expect_ret("create a name in use on another fd -> EEXIST",
		   khop_create(k2, "errbusy"), -EEXIST);
	ret = khop_create(k2, "errbusy");
	check("EEXIST leaves a message", ret && khop_error(k2) && khop_error(k2)[0], "no message");
	expect_ret("abort", khop_abort(k1), 0);
	ret = khop_create(k2, "errbusy");
	expect_ret("the name is free again after ABORT", ret, 0);
	if (!ret)
		khop_abort(k2);
	ret = khop_create(k1, "errbusy2");
	expect_ret("the fd takes a new session after ABORT", ret, 0);
	if (!ret)
		khop_abort(k1);
	khop_close(k1);
	khop_close(k2);
}

static void t_preserve_bad_args(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k), ret, st;
	struct khopages_preserve base, p;
	struct khopages_session_info in;
	struct target t;
	pid_t gone;

	target_16m(&t);
	if (khop_create(k, "errpreserve"))
		bail("create: %s", khop_error(k));
	memset(&base, 0, sizeof(base));
	base.size = sizeof(base);
	base.pid = t.pid;
	base.start = t.r[0].addr;
	base.len = t.r[0].len;

	p = base; p.size = 0;
	expect_ret("preserve: size 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.size = sizeof(p) - 8;
	expect_ret("preserve: size too small -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.flags = 1;
	expect_ret("preserve: unknown flags -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.__pad = 1;
	expect_ret("preserve: non-zero padding -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.start += 8;
	expect_ret("preserve: unaligned start -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.len = KT_PAGE + 1;
	expect_ret("preserve: unaligned len -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.len = 0;
	expect_ret("preserve: len 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.start = 0xfffffffffffff000ULL; p.len = 2 * KT_PAGE;
	expect_ret("preserve: start+len wraps -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);
	p = base; p.len = 0xfffffffffffff000ULL;
	expect_ret("preserve: huge len wraps -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EINVAL);

	/* A pid that surely does not exist: a child we just reaped. */
	gone = fork();
	if (gone < 0)
		bail("fork: %s", strerror(errno));
	if (!gone)
		_exit(0);
	waitpid(gone, &st, 0);
	p = base; p.pid = gone;
	expect_ret("preserve: no such pid -> ESRCH", rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -ESRCH);
	p = base; p.start = 0x10000; p.len = KT_PAGE;
	expect_ret("preserve: nothing mapped at start -> EFAULT",
		   rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -EFAULT);

	ret = khop_stats(k, "errpreserve", &in);
	check("preserve: rejected calls took no page", !ret && in.nr_pages == 0 && in.nr_pids == 0,
	      "stats %s, %" PRIu64 " pages, %u pids", kt_errname(ret), (uint64_t)in.nr_pages,
	      in.nr_pids);

	p = base;
	ret = rawio(fd, KHOPAGES_IOC_PRESERVE, &p);
	check("preserve: the valid call takes every page", !ret && p.nr_pages == t.r[0].nr_pages &&
	      p.nr_folios >= 1 && p.nr_folios <= p.nr_pages,
	      "%s, %" PRIu64 " pages, %" PRIu64 " folios (want %" PRIu64 " pages)",
	      kt_errname(ret), (uint64_t)p.nr_pages, (uint64_t)p.nr_folios, t.r[0].nr_pages);
	khop_abort(k);
	khop_close(k);
	kt_kill_wait(t.pid);
}

/*
 * PRESERVE takes what a core dump would: written pages, also behind
 * PROT_NONE, and no page where the process has never written (a hole, or
 * the zero page it read there).
 */
static void t_preserve_holes(void)
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
		bail("start a target process: %s", strerror(-ret));
	if (khop_create(k, "errholes"))
		bail("create: %s", khop_error(k));
	for (int i = 0; i < t.nr; i++) {
		const struct tregion *r = &t.r[i];
		uint64_t want = 0, *e = malloc(r->nr_pages * 8), zero = 0;
		char what[80];

		if (!e || kt_pagemap(t.pid, r->addr, r->nr_pages, e))
			bail("read the target's page map");
		for (uint64_t off = 0; off < r->len; off += KT_PAGE)
			want += sparse_written(r, off);
		/* The reads did map something: the zero page, not nothing. */
		for (uint64_t n = 0; n < r->nr_pages; n++)
			zero += kt_pm_present(e[n]) && !sparse_written(r, n * KT_PAGE);
		free(e);
		snprintf(what, sizeof(what), "preserve: %s takes only the written pages", r->name);
		ret = khop_preserve(k, t.pid, r->addr, r->len, &p);
		check(what, !ret && p.nr_pages == want && zero,
		      "%s, %" PRIu64 " pages of %" PRIu64 " written (%" PRIu64
		      " zero-page reads mapped)", ret ? khop_error(k) : "ok",
		      ret ? 0 : (uint64_t)p.nr_pages, want, zero);
	}
	khop_abort(k);
	khop_close(k);
	kt_kill_wait(t.pid);
}

static void t_evacuate_bad_args(void)
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
	expect_ret("evacuate: size too small -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		   -EINVAL);
	e = base; e.flags = 1;
	expect_ret("evacuate: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		   -EINVAL);
	e = base; e.__pad = 1;
	expect_ret("evacuate: non-zero padding -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		   -EINVAL);
	e = base; e.nr_moved = 1;
	expect_ret("evacuate: non-zero output field -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_EVACUATE, &e), -EINVAL);
	e = base; e.pid = 0;
	expect_ret("evacuate: pid 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e), -EINVAL);
	e = base; e.start += 8;
	expect_ret("evacuate: unaligned start -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		   -EINVAL);
	e = base; e.len = 0;
	expect_ret("evacuate: len 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e), -EINVAL);
	e = base; e.len = 0xfffffffffffff000ULL;
	expect_ret("evacuate: huge len wraps -> EINVAL", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		   -EINVAL);
	e = base; e.pid = 0x3fffffff;
	expect_ret("evacuate: no such pid -> ESRCH", rawio(fd, KHOPAGES_IOC_EVACUATE, &e),
		   -ESRCH);
	/* Nothing handable there: skipped, not an error. */
	e = base; e.start = 0x10000; e.len = KT_PAGE;
	expect_ret("evacuate: nothing mapped in the range is fine",
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
static void t_evacuate(void)
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
		bail("evacuate: only %ld kB free", free_kb);
	balloon = (room - data - 256 * KT_MIB) & ~(KT_MIB - 1);
	k = open_or_bail();
	memset(&t, 0, sizeof(t));
	target_add(&t, "balloon", balloon, MADV_NOHUGEPAGE);
	target_add(&t, "data", data, MADV_NOHUGEPAGE);
	t.r[0].balloon = true;
	ret = target_start(&t, true);
	if (ret)
		bail("start a target process: %s", strerror(-ret));

	ret = khop_evacuate(k, t.pid, t.r[1].addr, data, &ev);
	check("evacuate: moves the target's pages out of KHO scratch", !ret && ev.nr_moved > 0,
	      "%s, %" PRIu64 " moved, %" PRIu64 " left", ret ? khop_error(k) : "ok",
	      (uint64_t)ev.nr_moved, (uint64_t)ev.nr_left);
	check("evacuate: every byte is still there", target_bad_bytes(&t, 1) == 0,
	      "wrong bytes after the move");
	ret = khop_evacuate(k, t.pid, t.r[1].addr, data, &again);
	check("evacuate: a second call finds nothing more to move",
	      !ret && again.nr_moved <= ev.nr_left && again.nr_left <= ev.nr_left,
	      "%s, %" PRIu64 " moved, %" PRIu64 " left (first call left %" PRIu64 ")",
	      ret ? khop_error(k) : "ok", (uint64_t)again.nr_moved, (uint64_t)again.nr_left,
	      (uint64_t)ev.nr_left);
	if (khop_create(k, "errevacuate"))
		bail("create: %s", khop_error(k));
	ret = khop_preserve(k, t.pid, t.r[1].addr, data, &p);
	check("preserve after evacuate moves only what evacuate left",
	      !ret && p.nr_pages == data / KT_PAGE && p.nr_moved <= ev.nr_left,
	      "%s, %" PRIu64 " pages, %" PRIu64 " moved (evacuate left %" PRIu64 ")",
	      ret ? khop_error(k) : "ok", ret ? 0 : (uint64_t)p.nr_pages,
	      ret ? 0 : (uint64_t)p.nr_moved, (uint64_t)ev.nr_left);
	printf("# evacuate: %" PRIu64 " of %" PRIu64 " pages moved, %" PRIu64
	       " left; preserve then moved %" PRIu64 "\n", (uint64_t)ev.nr_moved, data / KT_PAGE,
	       (uint64_t)ev.nr_left, ret ? 0 : (uint64_t)p.nr_moved);
	khop_abort(k);
	khop_close(k);
	kt_kill_wait(t.pid);
}

static void t_permissions(void)
{
	struct khop *k = open_or_bail();
	int res[NR_RESULTS];
	struct khopages_session_info in;
	struct target t;
	void *args[2];
	int ret;

	if (run_dropped("create as uid 65534 without capabilities -> EPERM", false, drop_create,
			NULL, res))
		expect_ret("create as uid 65534 without capabilities -> EPERM", res[0], -EPERM);

	target_16m(&t);
	if (khop_create(k, "errperm"))
		bail("create: %s", khop_error(k));
	args[0] = k;
	args[1] = &t;
	if (run_dropped("preserve on root's session as uid 65534 -> EPERM", false, drop_preserve,
			args, res))
		expect_ret("preserve on root's session as uid 65534 -> EPERM", res[0], -EPERM);
	ret = khop_stats(k, "errperm", &in);
	check("the refused preserve took no page", !ret && in.nr_pages == 0,
	      "stats %s, %" PRIu64 " pages", kt_errname(ret), (uint64_t)in.nr_pages);
	khop_abort(k);

	if (run_dropped("evacuate as uid 65534 without capabilities -> EPERM", false,
			drop_evacuate, &t, res))
		expect_ret("evacuate as uid 65534 without capabilities -> EPERM", res[0], -EPERM);
	if (run_dropped("evacuate root's process without CAP_SYS_PTRACE -> EPERM", true,
			drop_evacuate, &t, res))
		expect_ret("evacuate root's process without CAP_SYS_PTRACE -> EPERM", res[0],
			   -EPERM);

	if (run_dropped("ptrace rights", true, drop_ptrace, &t, res)) {
		expect_ret("create as uid 65534 with CAP_CHECKPOINT_RESTORE is allowed", res[0], 0);
		expect_ret("preserve root's process without CAP_SYS_PTRACE -> EPERM",
			   res[1], -EPERM);
		expect_ret("preserve a process of one's own uid is allowed", res[2], 0);
		check("  ... and takes all its pages", res[3] == (int)(4 * KT_MIB / KT_PAGE),
		      "%d pages", res[3]);
	}
	khop_close(k);
	kt_kill_wait(t.pid);
}

static void t_unknown_names(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k), ret;
	struct khopages_name_arg a;
	struct khopages_session_info in;
	struct khopages_stats s;
	struct khopages_list l;

	ret = khop_attach(k, "errnosuch");
	expect_ret("open an unknown session -> ENOENT", ret, -ENOENT);
	check("khop_error() after a failure is not empty", khop_error(k) && khop_error(k)[0],
	      "empty");
	expect_ret("finish an unknown session -> ENOENT", khop_finish(k, "errnosuch", 0), -ENOENT);
	expect_ret("finish an unknown outgoing session -> ENOENT",
		   khop_finish(k, "errnosuch", KHOPAGES_FINISH_OUTGOING), -ENOENT);
	expect_ret("stats of an unknown session -> ENOENT",
		   khop_stats(k, "errnosuch", &in), -ENOENT);

	a = name_arg("errnosuch", 2);
	expect_ret("finish: unknown flag -> EINVAL", rawio(fd, KHOPAGES_IOC_FINISH, &a), -EINVAL);
	a = name_arg("errnosuch", 1);
	expect_ret("open: flags must be 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_OPEN, &a), -EINVAL);
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.flags = 1;
	snprintf(s.name, sizeof(s.name), "errnosuch");
	expect_ret("stats: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_STATS, &s), -EINVAL);
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.flags = 1;
	expect_ret("list: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	l.flags = 0;
	expect_ret("list: no entry size -> EINVAL", rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	l.entry_size = KHOPAGES_SESSION_INFO_SIZE_V1 - 8;
	expect_ret("list: entry size below the first version's -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	l.entry_size = 8192;
	expect_ret("list: entry size over a page -> EINVAL",
		   rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	khop_close(k);
}

/* A command run in a thread, so the caller can give up waiting for it. */
struct cmd_thread {
	pthread_t th;
	int fd;
	unsigned long cmd;
	void *arg;
	int ret;
	volatile bool done;
};

static void *cmd_thread_fn(void *p)
{
	struct cmd_thread *c = p;

	c->ret = rawio(c->fd, c->cmd, c->arg);
	c->done = true;
	return NULL;
}

static bool cmd_thread_wait(struct cmd_thread *c, int ms)
{
	for (int i = 0; i < ms / 10 && !c->done; i++)
		usleep(10000);
	return c->done;
}

/*
 * A LIST whose buffer faults forever (userfaultfd, nobody serving it)
 * blocks only its caller: other commands go on meanwhile.
 */
static void t_list_userfault(void)
{
	struct khop *k = open_or_bail(), *other = open_or_bail();
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_zeropage zero;
	struct khopages_stats st;
	struct khopages_list l;
	struct cmd_thread lt, stt;
	struct pollfd pfd;
	long uffd;
	char *buf;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl((int)uffd, UFFDIO_API, &api))
		bail("userfaultfd: %s", strerror(errno));
	buf = mmap(NULL, 2 * KT_PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		bail("mmap: %s", strerror(errno));
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uint64_t)(uintptr_t)buf;
	reg.range.len = 2 * KT_PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl((int)uffd, UFFDIO_REGISTER, &reg))
		bail("UFFDIO_REGISTER: %s", strerror(errno));
	if (khop_create(k, "errufd"))
		bail("create errufd: %s", khop_error(k));

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr_sessions = 4;
	l.entry_size = sizeof(struct khopages_session_info);
	l.sessions = (uint64_t)(uintptr_t)buf;
	memset(&lt, 0, sizeof(lt));
	lt.fd = khop_fd(k);
	lt.cmd = KHOPAGES_IOC_LIST;
	lt.arg = &l;
	if (pthread_create(&lt.th, NULL, cmd_thread_fn, &lt))
		bail("pthread_create");
	pfd.fd = (int)uffd;
	pfd.events = POLLIN;
	check("list into a userfaultfd buffer: the fault arrives",
	      poll(&pfd, 1, 5000) == 1, "no fault within 5 s");

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	snprintf(st.name, sizeof(st.name), "errufd");
	memset(&stt, 0, sizeof(stt));
	stt.fd = khop_fd(other);
	stt.cmd = KHOPAGES_IOC_STATS;
	stt.arg = &st;
	if (pthread_create(&stt.th, NULL, cmd_thread_fn, &stt))
		bail("pthread_create");
	check("  ... meanwhile STATS from another file completes",
	      cmd_thread_wait(&stt, 3000) && stt.ret == 0,
	      stt.done ? "it failed" : "it waited on the blocked LIST for 3 s");

	/* Serve the fault: the LIST completes too. */
	zero.range.start = (uint64_t)(uintptr_t)buf;
	zero.range.len = 2 * KT_PAGE;
	zero.mode = 0;
	ioctl((int)uffd, UFFDIO_ZEROPAGE, &zero);
	check("  ... and the LIST completes once the fault is served",
	      cmd_thread_wait(&lt, 5000) && lt.ret == 0, "%s",
	      lt.done ? kt_errname(lt.ret) : "still blocked");
	pthread_join(lt.th, NULL);
	pthread_join(stt.th, NULL);
	khop_abort(k);
	khop_close(other);
	khop_close(k);
	close((int)uffd);
	munmap(buf, 2 * KT_PAGE);
}

/*
 * LIST with a caller's entry larger than the kernel's (a newer header):
 * the entries are laid out at the caller's stride, each with the kernel's
 * fields and a zeroed tail.
 */
static void t_list_entry_size(void)
{
	enum { TAIL = 40, ROOM = 4 };
	const size_t ksize = sizeof(struct khopages_session_info);
	const size_t stride = ksize + TAIL;
	struct khop *k = open_or_bail();
	struct khopages_session_info info;
	struct khopages_list l;
	unsigned char *buf;
	bool tail_zero = true, found = false;

	if (khop_create(k, "errlist"))
		bail("create errlist: %s", khop_error(k));
	buf = malloc(stride * ROOM);
	if (!buf)
		bail("out of memory");
	memset(buf, 0xa5, stride * ROOM);
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr_sessions = ROOM;
	l.entry_size = stride;
	l.sessions = (uint64_t)(uintptr_t)buf;
	expect_ret("list: a larger entry size is accepted",
		   rawio(khop_fd(k), KHOPAGES_IOC_LIST, &l), 0);
	for (uint32_t i = 0; i < l.nr_sessions && i < ROOM; i++) {
		memcpy(&info, buf + i * stride, ksize);
		if (!strcmp(info.name, "errlist"))
			found = info.state == KHOPAGES_STATE_OPEN;
		for (size_t j = ksize; j < stride; j++)
			tail_zero &= buf[i * stride + j] == 0;
	}
	check("list: each entry at the caller's stride (errlist found, open)", found,
	      "not found at the caller's stride");
	check("list: the tail of each larger entry is zeroed", tail_zero, "not zeroed");
	free(buf);
	khop_abort(k);
	khop_close(k);
}

static bool listed(struct khop *k, const char *name, struct khopages_session_info *out)
{
	struct khopages_session_info *infos = NULL;
	size_t nr = 0;
	bool found = false;

	if (khop_list(k, &infos, &nr))
		return false;
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(infos[i].name, name)) {
			found = true;
			*out = infos[i];
		}
	free(infos);
	return found;
}

static void t_list(void)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info in;
	bool found;

	if (khop_create(k, "errlist"))
		bail("create: %s", khop_error(k));
	found = listed(k, "errlist", &in);
	check("list shows an open session", found && in.state == KHOPAGES_STATE_OPEN,
	      found ? "state %s" : "not listed%s", found ? khop_state_name(in.state) : "");
	khop_abort(k);
	check("list no longer shows it after ABORT", !listed(k, "errlist", &in), "still listed");
	khop_close(k);
}

/* Preserve the whole 16 MiB target in a new session @name on @k. */
static uint64_t *preserve_target(struct khop *k, const char *name, struct target *t,
				 uint64_t *n)
{
	struct khopages_preserve p;
	uint64_t *pfns;

	target_16m(t);
	if (khop_create(k, name))
		bail("create %s: %s", name, khop_error(k));
	if (khop_preserve(k, t->pid, t->r[0].addr, t->r[0].len, &p))
		bail("preserve: %s", khop_error(k));
	if (p.nr_pages != t->r[0].nr_pages)
		bail("preserve took %" PRIu64 " pages of %" PRIu64, (uint64_t)p.nr_pages,
		     t->r[0].nr_pages);
	pfns = target_pfns(t, 0, n);
	return pfns;
}

static void t_abort_releases(void)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info in;
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "errabort", &t, &n), e_present = 0, *e;
	long free_kb;
	int ret;

	ret = khop_stats(k, "errabort", &in);
	check("abort: stats of the open session", !ret && in.state == KHOPAGES_STATE_OPEN &&
	      in.nr_pages == n && in.nr_pids == 1, "%s, state %s, %" PRIu64 " pages, %u pids",
	      kt_errname(ret), khop_state_name(in.state), (uint64_t)in.nr_pages, in.nr_pids);
	expect_ret("abort: ABORT succeeds", khop_abort(k), 0);
	expect_ret("abort: the session is gone", khop_stats(k, "errabort", &in), -ENOENT);
	expect_ret("abort: a second ABORT -> ENOENT", khop_abort(k), -ENOENT);
	ret = khop_create(k, "errabort");
	expect_ret("abort: the name and the fd can be used again", ret, 0);
	if (!ret)
		khop_abort(k);

	/* The process itself did not notice anything. */
	kt_thaw(t.pid);
	e = malloc(t.r[0].nr_pages * 8);
	if (!e || kt_pagemap(t.pid, t.r[0].addr, t.r[0].nr_pages, e))
		bail("read pagemap");
	for (uint64_t i = 0; i < t.r[0].nr_pages; i++)
		e_present += kt_pm_present(e[i]);
	free(e);
	check("abort: the target still has all its pages", e_present == t.r[0].nr_pages,
	      "%" PRIu64 " of %" PRIu64, e_present, t.r[0].nr_pages);
	check("abort: the target's memory is intact", target_bad_bytes(&t, 0) == 0, "bytes differ");

	kt_settle();
	free_kb = kt_free_kb();
	kt_kill_wait(t.pid);
	check_released("abort", pfns, n, free_kb);
	free(pfns);
	khop_close(k);
}

static void t_close_releases(void)
{
	struct khop *k = open_or_bail(), *k2;
	struct khopages_session_info in;
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "errclose", &t, &n);
	long free_kb;
	int ret;

	khop_close(k);
	k2 = open_or_bail();
	expect_ret("close: closing the fd before COMMIT drops the session",
		   khop_stats(k2, "errclose", &in), -ENOENT);
	ret = khop_create(k2, "errclose");
	expect_ret("close: the name can be used again", ret, 0);
	if (!ret)
		khop_abort(k2);
	khop_close(k2);
	kt_settle();
	free_kb = kt_free_kb();
	kt_kill_wait(t.pid);
	check_released("close", pfns, n, free_kb);
	free(pfns);
}

static void t_commit_finish_outgoing(void)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info in;
	struct khopages_preserve p;
	struct target t;
	uint64_t n, *pfns = preserve_target(k, "errfinish", &t, &n), held;
	int res[NR_RESULTS], ret;
	long free_kb;

	expect_ret("commit", khop_commit(k), 0);
	expect_ret("commit twice -> EBUSY", khop_commit(k), -EBUSY);
	ret = rawio(khop_fd(k), KHOPAGES_IOC_PRESERVE, &(struct khopages_preserve){
		.size = sizeof(p), .pid = t.pid, .start = t.r[0].addr, .len = KT_PAGE });
	expect_ret("preserve after COMMIT -> EBUSY", ret, -EBUSY);
	ret = khop_stats(k, "errfinish", &in);
	check("stats after COMMIT", !ret && in.state == KHOPAGES_STATE_COMMITTED &&
	      in.nr_pages == n, "%s, state %s, %" PRIu64 " pages", kt_errname(ret),
	      khop_state_name(in.state), (uint64_t)in.nr_pages);

	/* Owner gone: the committed session alone holds the pages. */
	kt_kill_wait(t.pid);
	kt_settle();
	held = kt_count_orphan_anon(pfns, n);
	check("after COMMIT the session holds every page of the dead owner", held == n,
	      "%" PRIu64 " of %" PRIu64 " frames held", held, n);

	if (run_dropped("finish outgoing as uid 65534 -> EPERM", false, drop_finish,
			(void *)"errfinish", res))
		expect_ret("finish outgoing as uid 65534 -> EPERM", res[0], -EPERM);
	expect_ret("finish without OUTGOING does not touch an outgoing session -> ENOENT",
		   khop_finish(k, "errfinish", 0), -ENOENT);
	ret = khop_stats(k, "errfinish", &in);
	check("the session survived the refused FINISH calls",
	      !ret && in.state == KHOPAGES_STATE_COMMITTED, "%s", kt_errname(ret));

	free_kb = kt_free_kb();
	expect_ret("finish outgoing", khop_finish(k, "errfinish", KHOPAGES_FINISH_OUTGOING), 0);
	expect_ret("stats after FINISH -> ENOENT", khop_stats(k, "errfinish", &in), -ENOENT);
	expect_ret("finish outgoing twice -> ENOENT",
		   khop_finish(k, "errfinish", KHOPAGES_FINISH_OUTGOING), -ENOENT);
	check_released("finish outgoing", pfns, n, free_kb);
	free(pfns);
	khop_close(k);
}

static int do_outgoing(void)
{
	t_library_helpers();
	t_unknown_ioctl();
	t_create_bad_args();
	t_name_limits();
	t_no_session();
	t_busy_exists();
	t_preserve_bad_args();
	t_preserve_holes();
	t_evacuate_bad_args();
	t_evacuate();
	t_permissions();
	t_unknown_names();
	t_list();
	t_list_entry_size();
	t_list_userfault();
	t_abort_releases();
	t_close_releases();
	t_commit_finish_outgoing();
	printf("# outgoing: %u ok, %u not ok\n", nr_ok, nr_not_ok);
	return nr_not_ok ? 1 : 0;
}

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
		bail("create %s: %s", file, strerror(errno));
	fprintf(f, "# khopages_errors: committed session, one frame per page\n"
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
		bail("write %s: %s", file, strerror(errno));
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
		bail("open %s: %s (did stage 1 commit the session?)", file, strerror(errno));
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
				bail("out of memory");
			rec->t.nr++;
		} else if (sscanf(line, "page %d %" SCNu64 " %" SCNx64, &ri, &p, &a) == 3 &&
			   ri >= 0 && ri < rec->t.nr && p < rec->t.r[ri].nr_pages) {
			rec->pfn[ri][p] = a;
		} else if (!strcmp(line, "end\n")) {
			end = true;
		} else {
			bail("%s: cannot parse: %s", file, line);
		}
	}
	fclose(f);
	if (!end || !rec->pid || !rec->t.nr)
		bail("%s: incomplete", file);
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

static int do_commit(const char *name, const char *file, uint64_t mib)
{
	struct records rec;
	struct khopages_session_info in;
	struct khop *k = open_or_bail();
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
		bail("start the target: %s", strerror(-ret));
	rec.pid = rec.t.pid;
	if (khop_create(k, name))
		bail("create %s: %s", name, khop_error(k));
	for (int i = 0; i < rec.t.nr; i++) {
		struct tregion *r = &rec.t.r[i];
		struct khopages_preserve p;
		char what[64];

		if (khop_preserve(k, rec.pid, r->addr, r->len, &p))
			bail("preserve %s: %s", r->name, khop_error(k));
		snprintf(what, sizeof(what), "commit: preserve %s takes all %" PRIu64 " pages",
			 r->name, r->nr_pages);
		check(what, p.nr_pages == r->nr_pages, "%" PRIu64 " pages", (uint64_t)p.nr_pages);
		/* Frames after PRESERVE: it may have moved pages out of scratch. */
		rec.pfn[i] = target_pfns(&rec.t, i, &n);
		if (n != r->nr_pages)
			bail("%s has %" PRIu64 " of %" PRIu64 " pages", r->name, n, r->nr_pages);
		f = kt_kpageflags(rec.pfn[i][0]);
		r->large = f != UINT64_MAX && (f & (1ULL << 22 /* KPF_THP */));
	}
	expect_ret("commit", khop_commit(k), 0);
	ret = khop_stats(k, name, &in);
	check("commit: stats", !ret && in.state == KHOPAGES_STATE_COMMITTED &&
	      in.nr_pages == total_pages(&rec) && in.nr_pids == 1,
	      "%s, state %s, %" PRIu64 " pages, %u pids", kt_errname(ret),
	      khop_state_name(in.state), (uint64_t)in.nr_pages, in.nr_pids);
	write_records(file, &rec);
	kt_kill_wait(rec.pid);
	khop_close(k);
	printf("# commit %s: %" PRIu64 " pages of pid %d%s, records in %s\n", name,
	       total_pages(&rec), (int)rec.pid,
	       rec.t.r[1].large ? ", with a THP" : ", no THP", file);
	return nr_not_ok ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Incoming cases (after kexec)                                       */

static char *map_anon(uint64_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bail("mmap: %s", strerror(errno));
	return p;
}

/* Content and frames of region @ri as mapped at @dst. */
static void check_mapped(const char *name, const struct records *rec, int ri, const char *dst)
{
	const struct tregion *r = &rec->t.r[ri];
	uint64_t *e = malloc(r->nr_pages * 8), bad = 0, same = 0;
	char what[128];

	if (!e || kt_pagemap(0, (uint64_t)(uintptr_t)dst, r->nr_pages, e))
		bail("read /proc/self/pagemap");
	for (uint64_t p = 0; p < r->nr_pages; p++) {
		same += kt_pm_present(e[p]) && kt_pm_pfn(e[p]) == rec->pfn[ri][p];
		bad += kt_page_bad_bytes(dst + p * KT_PAGE, r->seed, r->addr + p * KT_PAGE, NULL);
	}
	free(e);
	snprintf(what, sizeof(what), "%s: every byte as before kexec", name);
	check(what, bad == 0, "%" PRIu64 " bytes wrong", bad);
	snprintf(what, sizeof(what), "%s: every page at its pre-kexec frame", name);
	check(what, same == r->nr_pages, "%" PRIu64 "/%" PRIu64 " PFNs equal", same, r->nr_pages);
}

static int do_incoming(const char *name, const char *file)
{
	struct records rec;
	struct khop *k1, *k2;
	struct khopages_session_info in;
	struct khopages_map base, m;
	int fd, res[NR_RESULTS], ret, si, ti;
	const struct tregion *small, *thp;
	char *dst, *dst2, *pair, *thp_dst;
	uint64_t e[64], present = 0;

	read_records(file, &rec);
	si = find_region(&rec, "small");
	ti = find_region(&rec, "thp");
	if (si < 0 || ti < 0)
		bail("%s lacks the small or thp range", file);
	small = &rec.t.r[si];
	thp = &rec.t.r[ti];
	k1 = open_or_bail();
	k2 = open_or_bail();
	fd = khop_fd(k1);

	ret = khop_stats(k1, name, &in);
	check("incoming: stats before OPEN", !ret && in.state == KHOPAGES_STATE_INCOMING &&
	      in.nr_pages == total_pages(&rec) && in.nr_pids == 1,
	      "%s, state %s, %" PRIu64 " pages, %u pids", kt_errname(ret),
	      khop_state_name(in.state), (uint64_t)in.nr_pages, in.nr_pids);

	if (run_dropped("open as uid 65534 -> EPERM", false, drop_open, (void *)name, res))
		expect_ret("open as uid 65534 -> EPERM", res[0], -EPERM);
	if (run_dropped("finish as uid 65534 -> EPERM", false, drop_finish_incoming, (void *)name,
			res))
		expect_ret("finish as uid 65534 -> EPERM", res[0], -EPERM);
	ret = khop_stats(k1, name, &in);
	check("incoming: still unclaimed after the refused calls",
	      !ret && in.state == KHOPAGES_STATE_INCOMING, "%s, state %s", kt_errname(ret),
	      khop_state_name(in.state));

	if (khop_attach(k1, name))
		bail("open %s: %s", name, khop_error(k1));
	ret = khop_stats(k1, name, &in);
	check("incoming: claimed after OPEN", !ret && in.state == KHOPAGES_STATE_CLAIMED,
	      "%s, state %s", kt_errname(ret), khop_state_name(in.state));
	/* Each restored process opens the session for itself. */
	expect_ret("open from a second fd too", khop_attach(k2, name), 0);
	expect_ret("open twice on one fd -> EBUSY", khop_attach(k1, name), -EBUSY);
	expect_ret("create on an fd that holds an incoming session -> EBUSY",
		   khop_create(k1, "errother"), -EBUSY);
	expect_ret("finish while another fd has it open -> EBUSY",
		   khop_finish(k2, name, 0), -EBUSY);
	khop_close(k2);
	k2 = open_or_bail();
	expect_ret("finish from an fd that did not open it, while opened -> EBUSY",
		   khop_finish(k2, name, 0), -EBUSY);

	/* Argument errors, straight to the driver. */
	dst = map_anon(small->len, MAP_PRIVATE);
	memset(&base, 0, sizeof(base));
	base.size = sizeof(base);
	base.pid = rec.pid;
	base.orig_va = small->addr;
	base.dst_va = (uint64_t)(uintptr_t)dst;
	base.len = small->len;
	m = base; m.size = 0;
	expect_ret("map: size 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.flags = 1;
	expect_ret("map: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.__pad = 1;
	expect_ret("map: non-zero padding -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.len = 0;
	expect_ret("map: len 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.len = KT_PAGE + 8;
	expect_ret("map: unaligned len -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.orig_va += 8;
	expect_ret("map: unaligned orig_va -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.dst_va += 8;
	expect_ret("map: unaligned dst -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
	m = base; m.dst_va = 0xfffffffffffff000ULL; m.len = 2 * KT_PAGE;
	expect_ret("map: dst+len wraps -> EINVAL", rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);

	/* Destinations that are not one private anonymous VMA. */
	dst2 = map_anon(small->len, MAP_PRIVATE);
	munmap(dst2, small->len);
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	expect_ret("map: unmapped dst -> EFAULT", rawio(fd, KHOPAGES_IOC_MAP, &m), -EFAULT);
	dst2 = map_anon(small->len, MAP_SHARED);
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	expect_ret("map: shared (non-anonymous) dst -> EFAULT", rawio(fd, KHOPAGES_IOC_MAP, &m),
		   -EFAULT);
	munmap(dst2, small->len);
	/* Two VMAs: same memory, different protections on each half. */
	pair = map_anon(small->len, MAP_PRIVATE);
	if (mprotect(pair + small->len / 2, small->len / 2, PROT_READ))
		bail("mprotect: %s", strerror(errno));
	m = base; m.dst_va = (uint64_t)(uintptr_t)pair;
	expect_ret("map: dst across two VMAs -> EFAULT", rawio(fd, KHOPAGES_IOC_MAP, &m), -EFAULT);
	munmap(pair, small->len);

	/* Ranges the session does not hold. */
	m = base; m.pid = rec.pid + 1;
	expect_ret("map: pid not in the session -> ENOENT",
		   rawio(fd, KHOPAGES_IOC_MAP, &m), -ENOENT);
	m = base; m.orig_va = 0x10000;
	expect_ret("map: range not recorded -> ENOENT", rawio(fd, KHOPAGES_IOC_MAP, &m), -ENOENT);

	/* Another page already at the last page of dst: refused whole. */
	dst2 = map_anon(small->len, MAP_PRIVATE);
	dst2[small->len - KT_PAGE] = 1;
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	expect_ret("map: another page at dst -> EEXIST", rawio(fd, KHOPAGES_IOC_MAP, &m), -EEXIST);
	if (kt_pagemap(0, (uint64_t)(uintptr_t)dst2, 64, e))
		bail("read pagemap");
	for (int i = 0; i < 63; i++)
		present += kt_pm_present(e[i]);
	check("map: the refused MAP mapped nothing", present == 0, "%" PRIu64 " pages mapped",
	      present);
	munmap(dst2, small->len);

	if (thp->large) {
		/* A huge folio needs dst congruent to orig_va modulo its size. */
		char *area = kt_map_aligned(2 * KT_HUGE, KT_HUGE);

		if (area == MAP_FAILED)
			bail("mmap: %s", strerror(errno));
		m = base;
		m.orig_va = thp->addr;
		m.len = thp->len;
		m.dst_va = (uint64_t)(uintptr_t)area + KT_PAGE;
		expect_ret("map: THP range at a dst not congruent modulo 2 MiB -> EINVAL",
			   rawio(fd, KHOPAGES_IOC_MAP, &m), -EINVAL);
		munmap(area, 2 * KT_HUGE);
	} else {
		ok("map: THP range at a dst not congruent modulo 2 MiB # SKIP no THP before kexec");
	}
	ret = khop_stats(k1, name, &in);
	check("map: no refused MAP left anything mapped", !ret && in.nr_mapped == 0,
	      "%s, %" PRIu64 " mapped", kt_errname(ret), (uint64_t)in.nr_mapped);

	/* The real thing, then doing it again. */
	m = base;
	ret = rawio(fd, KHOPAGES_IOC_MAP, &m);
	check("map: the small range", !ret && m.nr_mapped == small->nr_pages && !m.nr_shared &&
	      !m.nr_copied, "%s, %" PRIu64 " mapped, %" PRIu64 " shared, %" PRIu64 " copied",
	      kt_errname(ret), (uint64_t)m.nr_mapped, (uint64_t)m.nr_shared,
	      (uint64_t)m.nr_copied);
	check_mapped("map: small range", &rec, si, dst);
	m = base;
	expect_ret("map the same range again at the same dst -> EALREADY",
		   rawio(fd, KHOPAGES_IOC_MAP, &m), -EALREADY);
	dst2 = map_anon(small->len, MAP_PRIVATE);
	m = base; m.dst_va = (uint64_t)(uintptr_t)dst2;
	expect_ret("map the same range again elsewhere -> EALREADY",
		   rawio(fd, KHOPAGES_IOC_MAP, &m), -EALREADY);
	munmap(dst2, small->len);

	thp_dst = kt_map_aligned(thp->len, KT_HUGE);
	if (thp_dst == MAP_FAILED || madvise(thp_dst, thp->len, MADV_HUGEPAGE))
		bail("mmap: %s", strerror(errno));
	ret = khop_map(k1, rec.pid, thp->addr, (uint64_t)(uintptr_t)thp_dst, thp->len, &m);
	check("map: the THP range", !ret && m.nr_mapped == thp->nr_pages,
	      "%s, %" PRIu64 " mapped", ret ? khop_error(k1) : "ok", (uint64_t)m.nr_mapped);
	check_mapped("map: THP range", &rec, ti, thp_dst);

	/* FINISH: only once, and the mapped memory stays. */
	expect_ret("finish", khop_finish(k1, name, 0), 0);
	expect_ret("finish twice -> ENOENT", khop_finish(k1, name, 0), -ENOENT);
	expect_ret("stats after FINISH -> ENOENT", khop_stats(k1, name, &in), -ENOENT);
	m = base;
	expect_ret("map after FINISH -> ENOENT", rawio(fd, KHOPAGES_IOC_MAP, &m), -ENOENT);
	check_mapped("after FINISH: small range", &rec, si, dst);
	check_mapped("after FINISH: THP range", &rec, ti, thp_dst);
	khop_close(k1);
	khop_close(k2);
	printf("# incoming %s: %u ok, %u not ok\n", name, nr_ok, nr_not_ok);
	return nr_not_ok ? 1 : 0;
}

/* FINISH of a session nobody opened gives its memory back. */
static int do_discard(const char *name, const char *file)
{
	struct records rec;
	struct khopages_session_info in;
	struct khop *k = open_or_bail();
	long before, want, now;
	int ret;

	read_records(file, &rec);
	ret = khop_stats(k, name, &in);
	check("discard: the session arrived unclaimed",
	      !ret && in.state == KHOPAGES_STATE_INCOMING && in.nr_pages == total_pages(&rec),
	      "%s, state %s, %" PRIu64 " pages", kt_errname(ret), khop_state_name(in.state),
	      (uint64_t)in.nr_pages);
	kt_settle();
	before = kt_free_kb();
	expect_ret("discard: finish an unopened session", khop_finish(k, name, 0), 0);
	expect_ret("discard: stats after FINISH -> ENOENT", khop_stats(k, name, &in), -ENOENT);
	expect_ret("discard: finish twice -> ENOENT", khop_finish(k, name, 0), -ENOENT);
	want = before + (long)(total_pages(&rec) * 4 * 3 / 4);
	now = kt_wait_free(want, 5000);
	check("discard: free memory got the preserved pages back", now >= want,
	      "free memory rose by %ld kB, expected at least %ld kB of %" PRIu64 " kB",
	      now - before, want - before, total_pages(&rec) * 4);
	khop_close(k);
	printf("# discard %s: %u ok, %u not ok\n", name, nr_ok, nr_not_ok);
	return nr_not_ok ? 1 : 0;
}

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
		bail("cannot set " KNOBS "fail_publish (a kernel without the test knobs?)");
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
	expect_ret("commit while the handover cannot be published -> ENOSPC",
		   khop_commit(k), -ENOSPC);
	ret = khop_stats(k, "fence-pub", &after);
	check("  ... the session stays open, every counter as before",
	      !ret && same_info(&before, &after), "%s, state %s", kt_errname(ret),
	      khop_state_name(after.state));
	check("  ... and is not published", published("fence-pub") == 0, "it is");
	fail_publish(0);
	expect_ret("commit once publishing works again", khop_commit(k), 0);
	check("  ... now it is published", published("fence-pub") == 1, "it is not");

	khop_stats(k, "fence-pub", &before);
	fail_publish(1);
	expect_ret("finish (outgoing) while the handover cannot be republished -> ENOSPC",
		   khop_finish(f, "fence-pub", KHOPAGES_FINISH_OUTGOING), -ENOSPC);
	ret = khop_stats(k, "fence-pub", &after);
	check("  ... the session stays committed, every counter as before",
	      !ret && same_info(&before, &after), "%s, state %s", kt_errname(ret),
	      khop_state_name(after.state));
	check("  ... and stays published", published("fence-pub") == 1, "it does not");
	fail_publish(0);
	expect_ret("finish (outgoing) once publishing works again",
		   khop_finish(f, "fence-pub", KHOPAGES_FINISH_OUTGOING), 0);
	check("  ... now it is not published", published("fence-pub") == 0, "it is");
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
static int do_fence(void)
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
		bail("cannot write " KNOBS "seal (a kernel without the test knobs?)");
	fd = khop_fd(late);
	expect_ret("sealed: create -> ESHUTDOWN", khop_create(late, "fence-late"), -ESHUTDOWN);
	expect_ret("sealed: preserve -> ESHUTDOWN",
		   khop_preserve(open_s, t.pid, t.r[0].addr, KT_PAGE, &p), -ESHUTDOWN);
	expect_ret("sealed: commit -> ESHUTDOWN", khop_commit(open_s), -ESHUTDOWN);
	expect_ret("sealed: abort -> ESHUTDOWN", khop_abort(open_s), -ESHUTDOWN);
	expect_ret("sealed: open -> ESHUTDOWN", khop_attach(late, "errtest"), -ESHUTDOWN);
	expect_ret("sealed: finish (outgoing) -> ESHUTDOWN",
		   khop_finish(late, "errdiscard", KHOPAGES_FINISH_OUTGOING), -ESHUTDOWN);
	expect_ret("sealed: evacuate -> ESHUTDOWN",
		   khop_evacuate(late, t.pid, t.r[0].addr, t.r[0].len, &e), -ESHUTDOWN);
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.pid = t.pid;
	m.orig_va = m.dst_va = t.r[0].addr;
	m.len = KT_PAGE;
	expect_ret("sealed: map -> ESHUTDOWN", rawio(fd, KHOPAGES_IOC_MAP, &m), -ESHUTDOWN);
	expect_ret("sealed: stats still works", khop_stats(late, "errtest", &in), 0);
	check("  ... errtest is still committed", in.state == KHOPAGES_STATE_COMMITTED,
	      "state %s", khop_state_name(in.state));
	check("sealed: list still works, and the open session was aborted",
	      !listed(late, "fence-open", &in) && listed(late, "errdiscard", &in),
	      "fence-open listed or errdiscard missing");
	check("  ... its process keeps its memory", target_bad_bytes(&t, 0) == 0,
	      "wrong bytes");
	kt_kill_wait(t.pid);
	khop_close(late);
	khop_close(open_s);
	printf("# fence: %u ok, %u not ok\n", nr_ok, nr_not_ok);
	return nr_not_ok ? 1 : 0;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: khopages_errors [outgoing]\n"
		"       khopages_errors fence\n"
		"       khopages_errors commit NAME FILE [MIB]\n"
		"       khopages_errors incoming NAME [FILE]\n"
		"       khopages_errors discard NAME [FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char file[KHOPAGES_NAME_MAX + 16];

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A peer that died shows as a failed write, not as our death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc == 1 || (argc == 2 && !strcmp(argv[1], "outgoing")))
		return do_outgoing();
	if (argc == 2 && !strcmp(argv[1], "fence"))
		return do_fence();
	if (argc < 3 || !khop_valid_name(argv[2]))
		usage();
	snprintf(file, sizeof(file), "%s.records", argv[2]);
	if (!strcmp(argv[1], "commit") && (argc == 4 || argc == 5))
		return do_commit(argv[2], argv[3], argc == 5 ? strtoull(argv[4], NULL, 0) : 0);
	if (!strcmp(argv[1], "incoming") && argc <= 4)
		return do_incoming(argv[2], argc == 4 ? argv[3] : file);
	if (!strcmp(argv[1], "discard") && argc <= 4)
		return do_discard(argv[2], argc == 4 ? argv[3] : file);
	usage();
}
