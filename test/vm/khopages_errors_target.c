// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: target processes that own filled anonymous memory, and
 * unprivileged helpers that run one call as uid 65534.
 */
#include "khopages_errors.h"

int rawio(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

struct khopages_name_arg name_arg(const char *name, uint32_t flags)
{
	struct khopages_name_arg a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = flags;
	snprintf(a.name, sizeof(a.name), "%s", name);
	return a;
}

struct khop *open_or_bail(void)
{
	struct khop *k;

	if (khop_open(&k))
		ktap_bail("open: %s", khop_open_error());
	return k;
}

uint64_t random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		ktap_bail("getrandom: %s", strerror(errno));
	return v;
}

/* ------------------------------------------------------------------ */
/* Target processes: own some filled anonymous memory and wait.       */

bool sparse_written(const struct tregion *r, uint64_t off)
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

void target_add(struct target *t, const char *name, uint64_t len, int madv)
{
	struct tregion *r = &t->r[t->nr++];

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->len = len;
	r->madv = madv;
	r->nr_pages = len / KT_PAGE;
}

/* Start the target; with @freeze it is stopped with ptrace, as a
 * checkpointer would stop it before PRESERVE. */
int target_start(struct target *t, bool freeze)
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

void target_16m(struct target *t)
{
	int ret;

	memset(t, 0, sizeof(*t));
	target_add(t, "data", 16 * KT_MIB, MADV_NOHUGEPAGE);
	ret = target_start(t, true);
	if (ret)
		ktap_bail("start a target process: %s", strerror(-ret));
}

/* Frames of the present pages of region @ri (malloc'ed), count in *n. */
uint64_t *target_pfns(const struct target *t, int ri, uint64_t *n)
{
	const struct tregion *r = &t->r[ri];
	uint64_t *e = malloc(r->nr_pages * 8);

	*n = 0;
	if (!e || kt_pagemap(t->pid, r->addr, r->nr_pages, e))
		ktap_bail("read /proc/%d/pagemap", (int)t->pid);
	for (uint64_t i = 0; i < r->nr_pages; i++)
		if (kt_pm_present(e[i]))
			e[(*n)++] = kt_pm_pfn(e[i]);
	return e;
}

/* Wrong bytes in region @ri of the target, read through /proc/PID/mem. */
uint64_t target_bad_bytes(const struct target *t, int ri)
{
	const struct tregion *r = &t->r[ri];
	char *buf = malloc(KT_MIB);
	uint64_t bad = 0;

	if (!buf)
		ktap_bail("out of memory");
	for (uint64_t off = 0; off < r->len; off += KT_MIB) {
		uint64_t chunk = r->len - off < KT_MIB ? r->len - off : KT_MIB;

		if (kt_read_mem(t->pid, r->addr + off, buf, chunk))
			ktap_bail("read /proc/%d/mem", (int)t->pid);
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
void check_released(const char *name, const uint64_t *pfns, uint64_t n,
			   long free_before)
{
	char what[128];
	uint64_t left = wait_orphans_gone(pfns, n);
	long want = free_before + (long)(n * 4 * 3 / 4);
	long now = kt_wait_free(want, 3000);

	snprintf(what, sizeof(what), "%s: no frame of the target is still held", name);
	ktap_check(what, left == 0, "%" PRIu64 " of %" PRIu64
		   " frames are still unmapped anonymous pages", left, n);
	snprintf(what, sizeof(what), "%s: free memory got the pages back", name);
	ktap_check(what, now >= want, "free memory rose by %ld kB, expected at least %ld kB of %" PRIu64,
		   now - free_before, want - free_before, n * 4);
}

/* ------------------------------------------------------------------ */
/* Unprivileged helpers: fork, open the device while still root (the
 * node is root's), drop to uid 65534, run @fn, report its results.   */

bool run_dropped(const char *name, bool keep_ckpt_restore, dropped_fn fn, void *arg,
			int *res)
{
	int fds[2], st, ret;
	pid_t c;

	for (int i = 0; i < NR_RESULTS; i++)
		res[i] = DROP_FAILED;
	if (pipe(fds))
		ktap_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	c = fork();
	if (c < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!c) {
		struct khop *k;

		close(fds[0]);
		if (khop_open(&k))
			_exit(1);
		ret = kt_drop_privileges(keep_ckpt_restore);
		if (!ret)
			fn(k, arg, res);
		else
			ktap_diag("dropping privileges failed: %s", ktap_errname(ret));
		fflush(stdout);
		_exit(kt_write_all(fds[1], res, NR_RESULTS * sizeof(int)) ? 1 : 0);
	}
	close(fds[1]);
	ret = kt_read_all(fds[0], res, NR_RESULTS * sizeof(int));
	close(fds[0]);
	waitpid(c, &st, 0);
	if (ret || res[0] == DROP_FAILED) {
		ktap_fail(name, "the unprivileged child could not run");
		return false;
	}
	return true;
}

void drop_create(struct khop *k, void *arg, int *res)
{
	(void)arg;
	res[0] = khop_create(k, "errperm-create");
}

void drop_preserve(struct khop *k, void *arg, int *res)
{
	struct khop *root_session = ((void **)arg)[0];
	const struct target *t = ((void **)arg)[1];
	struct khopages_preserve p;

	(void)k;
	res[0] = khop_preserve(root_session, t->pid, t->r[0].addr, t->r[0].len, &p);
}

/* Holds CAP_CHECKPOINT_RESTORE but not CAP_SYS_PTRACE: may preserve its
 * own uid's dumpable process, not root's. */
void drop_ptrace(struct khop *k, void *arg, int *res)
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

void drop_evacuate(struct khop *k, void *arg, int *res)
{
	const struct target *t = arg;

	res[0] = khop_evacuate(k, t->pid, t->r[0].addr, t->r[0].len, NULL);
}

void drop_open(struct khop *k, void *arg, int *res)
{
	res[0] = khop_attach(k, arg);
}

void drop_stats(struct khop *k, void *arg, int *res)
{
	struct khopages_session_info in;

	res[0] = khop_stats(k, arg, &in);
}

void drop_abort(struct khop *k, void *arg, int *res)
{
	(void)k;
	res[0] = khop_abort(arg);
}

void drop_map(struct khop *k, void *arg, int *res)
{
	struct drop_map *d = arg;
	struct khopages_map m = d->m;

	(void)k;
	res[0] = rawio(khop_fd(d->root), KHOPAGES_IOC_MAP, &m);
}

void drop_luo_preserve(struct khop *k, void *arg, int *res)
{
	struct khop *root = ((void **)arg)[0];
	const int *luo = ((void **)arg)[1];

	(void)k;
	res[0] = khop_luo_preserve_fd(*luo, khop_fd(root), KHOP_LUO_TOKEN_PAGES);
}

bool listed(struct khop *k, const char *name, struct khopages_session_info *out)
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

bool same_info(const struct khopages_session_info *a, const struct khopages_session_info *b)
{
	return !memcmp(a, b, sizeof(*a));
}

int luo_session_or_bail(const char *name)
{
	int fd;

	if (khop_luo_create(name, &fd))
		ktap_bail("%s", khop_luo_error());
	return fd;
}

/* Preserve the whole 16 MiB target in a new session @name on @k. */
uint64_t *preserve_target(struct khop *k, const char *name, struct target *t,
				 uint64_t *n)
{
	struct khopages_preserve p;
	uint64_t *pfns;

	target_16m(t);
	if (khop_create(k, name))
		ktap_bail("create %s: %s", name, khop_error(k));
	if (khop_preserve(k, t->pid, t->r[0].addr, t->r[0].len, &p))
		ktap_bail("preserve: %s", khop_error(k));
	if (p.nr_pages != t->r[0].nr_pages)
		ktap_bail("preserve took %" PRIu64 " pages of %" PRIu64, (uint64_t)p.nr_pages,
			  t->r[0].nr_pages);
	pfns = target_pfns(t, 0, n);
	return pfns;
}
