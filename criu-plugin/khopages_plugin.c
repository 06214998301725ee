// SPDX-License-Identifier: GPL-2.0
/*
 * khopages CRIU plugin: the anonymous memory of a checkpointed process tree
 * stays in RAM across a kexec and is mapped back in place at restore.
 *
 * criu dump --kho-pages calls KHO_PRESERVE_PAGES for each run of private
 * anonymous pages it does not write into the images. The plugin creates a
 * /dev/khopages session when it is loaded, before any task is frozen (so a
 * kernel without the driver or without KHO fails the dump right away),
 * PRESERVEs each run, and on the final call (nr_pages == 0: the dump
 * succeeded) writes its image file and hands the session's file to criu,
 * which preserves it in its Live Update session: the next kexec hands it
 * over. A dump that fails ends in exit(DUMP, ret != 0): the session is
 * withdrawn from Live Update if it went there, aborted, and every page is
 * given back.
 *
 * criu restore --kho-pages calls KHO_MAP_PAGES in each restored task, with
 * the address of the premapped VMA. criu has retrieved the session's file
 * from Live Update (which keeps it until criu finishes the Live Update
 * session); the plugin attaches the session once per task on a file of its
 * own and MAPs the range; the final call of a task closes the device again
 * before the task's files are restored. The session is released, what
 * nobody mapped freed, when its last file is closed.
 *
 * A restored child inherits its parent's premapped pages by fork. Where the
 * child still shared a page with its parent at dump, MAP finds that very
 * frame and leaves it shared; where the child had changed the page after
 * fork, the inherited page has to go first. The plugin notes those pages at
 * dump, by comparing the frames of the child and of its parent in
 * /proc/PID/pagemap, and drops them at restore before mapping the range.
 *
 * The plugin marks the inventory, so that restoring such images without the
 * plugin fails with CRIU's "Missing required plugin".
 */
#define LOG_PREFIX "khopages: "

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* criu-plugin.h has static inline stubs with unused parameters. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "criu-plugin.h"
#pragma GCC diagnostic pop
#include "criu-log.h"
#include "image.h"
#include "cr_options.h"

#include "khopages.h"
#include "khopages-plugin.pb-c.h"

#define PLUGIN_NAME	"khopages_plugin"
#define IMG_FILE	"khopages-plugin.img"
/* A session name chosen by the caller instead of criu-<pid>-<time>. */
#define ENV_SESSION	"CRIU_KHOPAGES_SESSION"

/* Large folios are at most this big and aligned to their size. */
#define MAX_FOLIO_SIZE	(2UL << 20)

struct run {
	uint64_t start;
	uint64_t nr_pages;
};

struct task_rec {
	uint32_t id;	/* pid in the images */
	uint32_t pid;	/* pid at dump, as the driver recorded it */
	int parent;	/* dump: index of the parent in st.tasks, -1 none, -2 unknown yet */
	/* Pages the task changed after fork (see khopages-plugin.proto). */
	struct run *replace;
	size_t nr_replace;
	size_t max_replace;
};

static struct {
	char session[KHOPAGES_NAME_MAX];
	struct task_rec *tasks;
	size_t nr_tasks;
	size_t max_tasks;
	uint64_t page_size;

	/* dump */
	struct khop *out;
	bool in_inventory;
	bool luo;		/* the file is in criu's Live Update session */
	uint64_t nr_pages;
	uint64_t nr_folios;
	uint64_t nr_moved;
	uint64_t nr_ranges;

	/* restore */
	bool restoring;		/* the images need us */
	struct khop *local;	/* a session taken back from Live Update: its
				 * first file, kept until the restore ends */
	struct khop *in;	/* this task's handle, attached to the session */
	pid_t in_owner;		/* the process that opened it */
	uint64_t nr_mapped;
	uint64_t nr_shared;
	uint64_t nr_copied;
	uint64_t nr_dropped;
	bool madvise_failed;	/* the last error is not the library's */
} st;

static void reset_state(void)
{
	size_t i;

	for (i = 0; i < st.nr_tasks; i++)
		free(st.tasks[i].replace);
	free(st.tasks);
	memset(&st, 0, sizeof(st));
	st.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
}

static struct task_rec *find_task(uint32_t id)
{
	size_t i;

	for (i = 0; i < st.nr_tasks; i++)
		if (st.tasks[i].id == id)
			return &st.tasks[i];
	return NULL;
}

/* The task's record, added if new; NULL when out of memory or inconsistent. */
static struct task_rec *remember_task(uint32_t id, uint32_t pid)
{
	struct task_rec *t = find_task(id);

	if (t) {
		if (t->pid == pid)
			return t;
		pr_err("task %u seen as pid %u and %u\n", id, t->pid, pid);
		return NULL;
	}

	if (st.nr_tasks == st.max_tasks) {
		size_t max = st.max_tasks ? st.max_tasks * 2 : 16;

		t = realloc(st.tasks, max * sizeof(*t));
		if (!t)
			return NULL;
		st.tasks = t;
		st.max_tasks = max;
	}
	t = &st.tasks[st.nr_tasks++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->pid = pid;
	t->parent = -2;	/* not looked up yet */
	return t;
}

static int add_replace(struct task_rec *t, uint64_t addr, uint64_t nr_pages)
{
	struct run *last = t->nr_replace ? &t->replace[t->nr_replace - 1] : NULL;

	if (last && last->start + last->nr_pages * st.page_size == addr) {
		last->nr_pages += nr_pages;
		return 0;
	}
	if (t->nr_replace == t->max_replace) {
		size_t max = t->max_replace ? t->max_replace * 2 : 64;
		struct run *r = realloc(t->replace, max * sizeof(*r));

		if (!r)
			return -ENOMEM;
		t->replace = r;
		t->max_replace = max;
	}
	t->replace[t->nr_replace].start = addr;
	t->replace[t->nr_replace].nr_pages = nr_pages;
	t->nr_replace++;
	return 0;
}

/* Open /dev/khopages; a failure is logged. */
static int open_device(struct khop **k)
{
	int ret = khop_open(k);

	if (ret)
		pr_err("%s\n", khop_open_error());
	return ret;
}

/* ---------------------------------------------------------------- dump */

/* Can the driver fill shared memory after the kexec (FILL_SHMEM)? */
static int can_fill_shmem(void)
{
	uint64_t bit = 1ULL << (_IOC_NR(KHOPAGES_IOC_FILL_SHMEM) - KHOPAGES_IOC_FIRST);
	struct khopages_api api;

	if (khop_api(st.out, 0, &api) || !(api.ioctls & bit)) {
		pr_info("the driver cannot fill shared memory: it is copied\n");
		return 0;
	}
	return 1;
}

static int start_session(int pid)
{
	const char *env = getenv(ENV_SESSION);
	int ret;

	if (env && *env) {
		if (!khop_valid_name(env)) {
			pr_err("%s=%s: not a session name (1..63 characters of [A-Za-z0-9._-])\n",
			       ENV_SESSION, env);
			return -EINVAL;
		}
		snprintf(st.session, sizeof(st.session), "%s", env);
	} else {
		snprintf(st.session, sizeof(st.session), "criu-%d-%lld", pid,
			 (long long)time(NULL));
	}

	ret = open_device(&st.out);
	if (ret)
		return ret;
	/* Nothing can be handed over without Live Update: fail before the freeze. */
	ret = khop_api(st.out, KHOPAGES_FEATURE_LUO, NULL);
	if (ret == -EOPNOTSUPP)
		pr_err("the kernel cannot hand memory over: /dev/khopages has no Live Update "
		       "(boot with liveupdate=on)\n");
	else if (ret)
		pr_err("%s\n", khop_error(st.out));
	if (!ret)
		ret = khop_create(st.out, st.session);
	if (ret) {
		pr_err("%s\n", khop_error(st.out));
		khop_close(st.out);
		st.out = NULL;
		return ret;
	}

	/* The Live Update session takes shared memory as it is dumped. */
	if (criu_kho_luo_begin(st.session, can_fill_shmem())) {
		khop_abort(st.out);
		khop_close(st.out);
		st.out = NULL;
		return -1;
	}

	pr_info("handing memory over in session %s\n", st.session);
	return 0;
}

static int write_image(void)
{
	KhopagesPluginEntry e = KHOPAGES_PLUGIN_ENTRY__INIT;
	KhopagesTask *tasks = NULL, **ptrs = NULL;
	uint64_t *runs = NULL;
	uint8_t *buf = NULL;
	size_t i, j, len, off, nr_runs = 0;
	int fd = -1, ret = -ENOMEM;

	for (i = 0; i < st.nr_tasks; i++)
		nr_runs += st.tasks[i].nr_replace;
	tasks = calloc(st.nr_tasks, sizeof(*tasks));
	ptrs = calloc(st.nr_tasks, sizeof(*ptrs));
	runs = calloc(2 * nr_runs + 1, sizeof(*runs));
	if (!runs || (st.nr_tasks && (!tasks || !ptrs)))
		goto out;
	for (i = 0, off = 0; i < st.nr_tasks; i++) {
		struct task_rec *t = &st.tasks[i];
		uint64_t end = 0;	/* in pages */

		khopages_task__init(&tasks[i]);
		tasks[i].id = t->id;
		tasks[i].pid = t->pid;
		tasks[i].n_replace_gap = tasks[i].n_replace_pages = t->nr_replace;
		tasks[i].replace_gap = runs + off;
		tasks[i].replace_pages = runs + off + t->nr_replace;
		for (j = 0; j < t->nr_replace; j++) {
			runs[off + j] = t->replace[j].start / st.page_size - end;
			runs[off + t->nr_replace + j] = t->replace[j].nr_pages;
			end = t->replace[j].start / st.page_size + t->replace[j].nr_pages;
		}
		off += 2 * t->nr_replace;
		ptrs[i] = &tasks[i];
	}
	e.session = st.session;
	e.n_tasks = st.nr_tasks;
	e.tasks = ptrs;
	e.has_nr_pages = e.has_nr_folios = e.has_nr_moved = true;
	e.nr_pages = st.nr_pages;
	e.nr_folios = st.nr_folios;
	e.nr_moved = st.nr_moved;

	len = khopages_plugin_entry__get_packed_size(&e);
	buf = malloc(len);
	if (!buf)
		goto out;
	khopages_plugin_entry__pack(&e, buf);

	fd = openat(criu_get_image_dir(), IMG_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		pr_perror("cannot create %s", IMG_FILE);
		goto out;
	}
	for (off = 0; off < len;) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0) {
			ret = -errno;
			pr_perror("cannot write %s", IMG_FILE);
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd)) {
		ret = -errno;
		pr_perror("cannot sync %s", IMG_FILE);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0 && close(fd) && !ret) {
		ret = -errno;
		pr_perror("cannot close %s", IMG_FILE);
	}
	free(buf);
	free(runs);
	free(ptrs);
	free(tasks);
	return ret;
}

/* The pid of the parent of pid, from /proc/PID/stat; 0 if unknown. */
static pid_t parent_pid(pid_t pid)
{
	char path[64], buf[1024], *p;
	int ppid = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return ppid;
}

#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_BATCH	512

/*
 * Note the pages of [start, start + nr_pages) of task t that are not the
 * frame its parent has at the same address. At restore the task inherits
 * the parent's premapped pages by fork, and has to drop those before its
 * own frames can be mapped there. The frames are compared after PRESERVE:
 * a page moved out of KHO scratch has its new frame in every process.
 * Without the right to see frames (all zero) nothing is noted, and restore
 * finds the differing pages the slow way.
 */
static int note_replaced(struct task_rec *t, uint64_t start, uint64_t nr_pages)
{
	uint64_t mine[PM_BATCH], theirs[PM_BATCH];
	int fd = -1, pfd = -1, ret = 0;
	char path[64];
	uint64_t done;

	if (t->parent == -2) {
		pid_t ppid = parent_pid((pid_t)t->pid);
		size_t i;

		t->parent = -1;
		for (i = 0; i < st.nr_tasks; i++)
			if (ppid && st.tasks[i].pid == (uint32_t)ppid)
				t->parent = (int)i;
	}
	if (t->parent < 0)
		return 0;	/* the root, or a parent with nothing handed over */

	snprintf(path, sizeof(path), "/proc/%u/pagemap", t->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%u/pagemap", st.tasks[t->parent].pid);
	pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pfd < 0) {
		ret = -errno;
		pr_perror("cannot open the pagemaps of task %u and its parent", t->pid);
		goto out;
	}

	for (done = 0; done < nr_pages;) {
		uint64_t n = nr_pages - done < PM_BATCH ? nr_pages - done : PM_BATCH;
		off_t off = (off_t)((start / st.page_size + done) * sizeof(uint64_t));
		uint64_t i;

		if (pread(fd, mine, n * 8, off) != (ssize_t)(n * 8) ||
		    pread(pfd, theirs, n * 8, off) != (ssize_t)(n * 8)) {
			ret = -EIO;
			pr_perror("cannot read the pagemaps of task %u and its parent", t->pid);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (!(mine[i] & PM_PRESENT) || !(theirs[i] & PM_PRESENT) ||
			    (mine[i] & PM_PFN_MASK) == (theirs[i] & PM_PFN_MASK))
				continue;
			ret = add_replace(t, start + (done + i) * st.page_size, 1);
			if (ret)
				goto out;
		}
		done += n;
	}
out:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	return ret;
}

/* The dump succeeded: record the session and hand it over. */
static int commit_session(void)
{
	int ret;

	if (!st.out)
		return 0;
	if (!st.nr_ranges && !criu_kho_luo_shared()) {
		/* Nothing was eligible: the images need no session. */
		pr_info("no page handed over, session %s dropped\n", st.session);
		criu_kho_luo_withdraw();
		ret = khop_abort(st.out);
		if (ret)
			pr_err("%s\n", khop_error(st.out));
		khop_close(st.out);
		st.out = NULL;
		return ret;
	}

	ret = write_image();
	if (ret)
		return ret;

	/* Preserving the khopages file in the Live Update session hands it over. */
	ret = criu_kho_luo_preserve(st.session, khop_fd(st.out));
	if (ret)
		return ret;
	st.luo = true;
	pr_info("session %s handed over: %" PRIu64 " pages (%" PRIu64 " folios, %" PRIu64
		" moved out of scratch) of %zu tasks in %" PRIu64 " ranges\n",
		st.session, st.nr_pages, st.nr_folios, st.nr_moved, st.nr_tasks, st.nr_ranges);
	for (size_t i = 0; i < st.nr_tasks; i++) {
		uint64_t n = 0;

		for (size_t j = 0; j < st.tasks[i].nr_replace; j++)
			n += st.tasks[i].replace[j].nr_pages;
		if (n)
			pr_info("task %u: %" PRIu64 " pages differ from the parent's in %zu runs\n",
				st.tasks[i].pid, n, st.tasks[i].nr_replace);
	}
	return 0;
}

static int khopages_preserve_pages(int pid, int id, uint64_t start, uint64_t nr_pages)
{
	struct khopages_preserve res;
	struct task_rec *t;
	int ret;

	if (!nr_pages)
		return commit_session();

	if (!st.out) {
		pr_err("no session to hand pages over in\n");
		return -ENOENT;
	}
	/* Restoring these images needs this plugin. */
	if (!st.in_inventory) {
		if (add_inventory_plugin(PLUGIN_NAME)) {
			pr_err("cannot add %s to the inventory\n", PLUGIN_NAME);
			return -ENOMEM;
		}
		st.in_inventory = true;
	}

	t = remember_task((uint32_t)id, (uint32_t)pid);
	if (!t)
		return -ENOMEM;

	ret = khop_preserve(st.out, pid, start, nr_pages * st.page_size, &res);
	if (ret) {
		pr_err("%s\n", khop_error(st.out));
		return ret;
	}
	/* CRIU passes only resident pages: anything else would be lost. */
	if (res.nr_pages != nr_pages) {
		pr_err("task %d: only %llu of %" PRIu64 " pages at %#" PRIx64
		       " are resident (swapped out?), cannot hand them over\n",
		       pid, (unsigned long long)res.nr_pages, nr_pages, start);
		return -EIO;
	}

	ret = note_replaced(t, start, nr_pages);
	if (ret)
		return ret;

	st.nr_pages += res.nr_pages;
	st.nr_folios += res.nr_folios;
	st.nr_moved += res.nr_moved;
	st.nr_ranges++;
	pr_debug("task %d: preserved %#" PRIx64 "+%" PRIu64 " pages (%llu new folios)\n", pid, start,
		 nr_pages, (unsigned long long)res.nr_folios);
	return 0;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__KHO_PRESERVE_PAGES, khopages_preserve_pages)

/* The dump failed or the tasks run on: give every page back. */
static void end_dump(int ret)
{
	if (!st.out)
		return;

	if (!ret && st.luo) {
		khop_close(st.out);	/* the Live Update session holds the file */
		return;
	}

	if (st.luo) {
		/* The holder's end takes the file back: the session is open again. */
		criu_kho_luo_withdraw();
		if (khop_abort(st.out))
			pr_err("cannot abort session %s: %s\n", st.session, khop_error(st.out));
		else
			pr_info("dump failed: session %s withdrawn from Live Update and aborted\n",
				st.session);
	} else {
		/* Shared memory may be in the Live Update session already. */
		criu_kho_luo_withdraw();
		if (khop_abort(st.out))
			pr_err("cannot abort session %s: %s\n", st.session, khop_error(st.out));
		else
			pr_info("dump failed: session %s aborted\n", st.session);
	}
	khop_close(st.out);

	/* The image would only name a session that is gone. */
	if (unlinkat(criu_get_image_dir(), IMG_FILE, 0) && errno != ENOENT)
		pr_perror("cannot remove %s", IMG_FILE);
}

/* ------------------------------------------------------------- restore */

static int read_image(void)
{
	KhopagesPluginEntry *e = NULL;
	uint8_t *buf = NULL;
	struct stat stbuf;
	size_t i, off;
	int fd, ret;

	fd = openat(criu_get_image_dir(), IMG_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_perror("cannot open %s (the inventory says the images need it)", IMG_FILE);
		return ret;
	}
	if (fstat(fd, &stbuf)) {
		ret = -errno;
		pr_perror("cannot stat %s", IMG_FILE);
		goto out;
	}
	ret = -ENOMEM;
	buf = malloc(stbuf.st_size ? (size_t)stbuf.st_size : 1);
	if (!buf)
		goto out;
	for (off = 0; off < (size_t)stbuf.st_size;) {
		ssize_t n = read(fd, buf + off, (size_t)stbuf.st_size - off);

		if (n <= 0) {
			ret = n ? -errno : -EIO;
			pr_err("cannot read %s\n", IMG_FILE);
			goto out;
		}
		off += (size_t)n;
	}

	e = khopages_plugin_entry__unpack(NULL, off, buf);
	if (!e || !khop_valid_name(e->session)) {
		pr_err("%s is corrupted\n", IMG_FILE);
		ret = -EINVAL;
		goto out;
	}
	snprintf(st.session, sizeof(st.session), "%s", e->session);
	for (i = 0; i < e->n_tasks; i++) {
		KhopagesTask *te = e->tasks[i];
		struct task_rec *t = remember_task(te->id, te->pid);
		uint64_t end = 0;	/* in pages */
		size_t j;

		ret = -ENOMEM;
		if (!t)
			goto out;
		ret = -EINVAL;
		if (te->n_replace_gap != te->n_replace_pages) {
			pr_err("%s is corrupted\n", IMG_FILE);
			goto out;
		}
		for (j = 0; j < te->n_replace_gap; j++) {
			uint64_t start = end + te->replace_gap[j];

			if (start < end || !te->replace_pages[j] || start + te->replace_pages[j] < start) {
				pr_err("%s is corrupted\n", IMG_FILE);
				goto out;
			}
			ret = add_replace(t, start * st.page_size, te->replace_pages[j]);
			if (ret)
				goto out;
			end = start + te->replace_pages[j];
		}
	}
	ret = 0;
out:
	if (e)
		khopages_plugin_entry__free_unpacked(e, NULL);
	free(buf);
	close(fd);
	return ret;
}

/* Fail early and clearly when the session is not there to restore from. */
static int check_session(void)
{
	struct khopages_session_info info;
	struct khop *k;
	int ret;

	ret = open_device(&k);
	if (ret)
		return ret;
	ret = khop_stats(k, st.session, &info);
	khop_close(k);
	if (ret == -ENOENT) {
		pr_err("session %s is not in this kernel: it was released already, or not "
		       "retrieved from its Live Update session\n",
		       st.session);
		return ret;
	}
	if (ret) {
		pr_err("session %s: cannot get its state\n", st.session);
		return ret;
	}
	if (info.state == KHOPAGES_STATE_OPEN && getenv("CRIU_KHOPAGES_SAME_KERNEL")) {
		/*
		 * criu took the file back from its Live Update session: OPEN
		 * of its own name on it restores the session in place.
		 */
		int fd = criu_kho_luo_local_pages();

		if (fd < 0) {
			pr_err("session %s is open: it is still being dumped, or its file is gone\n",
			       st.session);
			return -EBUSY;
		}
		ret = khop_from_fd(fd, &k);
		if (ret) {
			pr_err("%s\n", khop_open_error());
			close(fd);
			return ret;
		}
		ret = khop_attach(k, st.session);
		if (ret) {
			pr_err("%s\n", khop_error(k));
			khop_close(k);
			return ret;
		}
		/* Kept: the tasks attach on their own files meanwhile. */
		st.local = k;
		pr_info("session %s taken back from Live Update: restoring in place "
			"(pages are copied)\n", st.session);
		return 0;
	}
	if (info.state != KHOPAGES_STATE_RETRIEVED) {
		pr_err("session %s is %s, not retrieved: restore needs a kexec after the dump "
		       "(or CRIU_KHOPAGES_SAME_KERNEL=1 to restore in place)\n",
		       st.session, khop_state_name(info.state));
		return -EINVAL;
	}
	pr_info("restoring from session %s: %llu pages of %u tasks\n", st.session,
		(unsigned long long)info.nr_pages, info.nr_pids);
	return 0;
}

/* One handle per restored task, opened by the task itself. */
static int task_handle(void)
{
	int ret;

	if (st.in && st.in_owner == getpid())
		return 0;
	/*
	 * A handle of another process (inherited by fork) is not ours to
	 * close: its fd may have been closed and reused meanwhile.
	 */
	st.in = NULL;

	ret = open_device(&st.in);
	if (ret)
		return ret;
	ret = khop_attach(st.in, st.session);
	if (ret) {
		pr_err("%s\n", khop_error(st.in));
		khop_close(st.in);
		st.in = NULL;
		return ret;
	}
	st.in_owner = getpid();
	st.nr_mapped = st.nr_shared = st.nr_copied = st.nr_dropped = 0;
	return 0;
}

static int map_once(pid_t pid, uint64_t orig, uint64_t dst, uint64_t len)
{
	struct khopages_map res = { 0 };
	int ret;

	ret = khop_map(st.in, pid, orig, dst, len, &res);
	st.nr_mapped += res.nr_mapped;
	st.nr_shared += res.nr_shared;
	st.nr_copied += res.nr_copied;
	return ret;
}

/*
 * The pages at dst are ones a restored parent left there (fork), and not the
 * frames this task had: drop them and map the task's own.
 */
static int drop_and_map(pid_t pid, uint64_t orig, uint64_t dst, uint64_t len)
{
	if (madvise((void *)(uintptr_t)dst, len, MADV_DONTNEED)) {
		int err = errno;

		pr_perror("cannot drop inherited pages at %#" PRIx64 "+%#" PRIx64, dst, len);
		st.madvise_failed = true;
		return -err;
	}
	st.nr_dropped += len / st.page_size;
	return map_once(pid, orig, dst, len);
}

/*
 * Map an aligned block (orig aligned to len, a power of two) that holds a
 * page differing from the inherited one. Large folios are aligned to their
 * size too, so a half of the block is either made of whole folios or lies
 * inside one folio: then that folio is the whole block (a bigger one would
 * have been refused for the block itself), and nothing of the block has
 * been mapped when the first half is refused.
 */
static int map_block(pid_t pid, uint64_t orig, uint64_t dst, uint64_t len)
{
	uint64_t half = len / 2;
	int ret;

	ret = map_once(pid, orig, dst, len);
	if (ret != -EEXIST)
		return ret;
	if (len == st.page_size)
		return drop_and_map(pid, orig, dst, len);

	ret = map_block(pid, orig, dst, half);
	if (ret == -EINVAL)
		return drop_and_map(pid, orig, dst, len);
	if (ret)
		return ret;
	return map_block(pid, orig + half, dst + half, half);
}

/*
 * Slow path of a range that holds pages differing from those a restored
 * parent left at dst: walk it in maximal aligned blocks (at most the
 * largest folio), which never cut a folio of the range.
 */
static int map_split(pid_t pid, uint64_t orig, uint64_t dst, uint64_t len)
{
	uint64_t end = orig + len;

	while (orig < end) {
		uint64_t b = MAX_FOLIO_SIZE;
		int ret;

		while (b > st.page_size && ((orig & (b - 1)) || orig + b > end))
			b /= 2;
		ret = map_block(pid, orig, dst, b);
		if (ret)
			return ret;
		orig += b;
		dst += b;
	}
	return 0;
}

/*
 * Drop what the task inherited from its parent where its own pages differ
 * (noted at dump), so that one MAP puts the task's frames there and leaves
 * the pages it shares with the parent as they are.
 */
static int drop_replaced(struct task_rec *t, uint64_t orig, uint64_t dst, uint64_t len)
{
	uint64_t end = orig + len;
	size_t lo = 0, hi = t->nr_replace;

	/* The first run that ends after orig; runs are sorted and disjoint. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct run *r = &t->replace[mid];

		if (r->start + r->nr_pages * st.page_size <= orig)
			lo = mid + 1;
		else
			hi = mid;
	}

	for (; lo < t->nr_replace && t->replace[lo].start < end; lo++) {
		struct run *r = &t->replace[lo];
		uint64_t s = r->start > orig ? r->start : orig;
		uint64_t e = r->start + r->nr_pages * st.page_size;

		if (e > end)
			e = end;
		if (madvise((void *)(uintptr_t)(dst + (s - orig)), e - s, MADV_DONTNEED)) {
			int err = errno;

			pr_perror("cannot drop inherited pages at %#" PRIx64 "+%#" PRIx64, dst + (s - orig),
				  e - s);
			return -err;
		}
		st.nr_dropped += (e - s) / st.page_size;
	}
	return 0;
}

static int khopages_map_pages(int id, uint64_t orig_va, uint64_t dst_va, uint64_t nr_pages)
{
	uint64_t len = nr_pages * st.page_size;
	struct task_rec *t;
	pid_t pid;
	int ret;

	if (!st.restoring)
		return -ENOTSUP;

	/* The task has all its pages: close the device before its files. */
	if (!nr_pages) {
		if (st.in && st.in_owner == getpid()) {
			pr_info("task %d: %" PRIu64 " pages mapped, %" PRIu64 " shared with the parent, %" PRIu64
				" copied, %" PRIu64 " inherited pages replaced\n",
				id, st.nr_mapped, st.nr_shared, st.nr_copied, st.nr_dropped);
			khop_close(st.in);
		}
		st.in = NULL;
		return 0;
	}

	t = find_task((uint32_t)id);
	if (!t) {
		pr_err("task %d has pages in the images but no entry in %s\n", id, IMG_FILE);
		return -ENOENT;
	}
	pid = (pid_t)t->pid;
	ret = task_handle();
	if (ret)
		return ret;

	ret = drop_replaced(t, orig_va, dst_va, len);
	if (ret)
		return ret;

	st.madvise_failed = false;
	ret = map_once(pid, orig_va, dst_va, len);
	if (ret == -EEXIST)
		ret = map_split(pid, orig_va, dst_va, len);
	if (ret) {
		pr_err("task %d (pid %d at dump): cannot map %" PRIu64 " pages from %#" PRIx64 " at %#" PRIx64
		       "%s%s\n", id, pid, nr_pages, orig_va, dst_va, st.madvise_failed ? "" : ": ",
		       st.madvise_failed ? "" : khop_error(st.in));
		return ret;
	}
	return 0;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__KHO_MAP_PAGES, khopages_map_pages)

/* Shared memory handed over in place: its pages move into the new object. */
static int khopages_fill_shmem(int dst_fd, int src_fd, uint64_t *nr_pages)
{
	struct khop *k;
	int ret;

	ret = open_device(&k);
	if (ret)
		return ret;
	ret = khop_fill_shmem(k, dst_fd, src_fd, nr_pages);
	if (ret)
		pr_err("%s\n", khop_error(k));
	khop_close(k);
	return ret;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__KHO_FILL_SHMEM, khopages_fill_shmem)

/*
 * All tasks are restored, or the restore failed. A session received
 * through Live Update is released when criu finishes its Live Update
 * session (after a failure it stays there, for a retry); one taken back
 * for a restore in place is released here by closing its first file.
 */
static void end_restore(int ret)
{
	struct khopages_session_info info;
	struct khop *k;

	if (!khop_open(&k)) {
		if (!khop_stats(k, st.session, &info))
			pr_info("session %s: %llu pages mapped, %llu shared, %llu copied\n",
				st.session, (unsigned long long)info.nr_mapped,
				(unsigned long long)info.nr_shared,
				(unsigned long long)info.nr_copied);
		khop_close(k);
	}
	if (st.local) {
		khop_close(st.local);
		st.local = NULL;
		if (ret)
			pr_err("restore failed: session %s, restored in place, is released: "
			       "its checkpoint is lost\n", st.session);
		else
			pr_info("session %s released\n", st.session);
	} else if (ret) {
		pr_warn("restore failed: session %s stays in its Live Update session\n",
			st.session);
	} else {
		pr_info("session %s is released with its Live Update session\n", st.session);
	}
}

/* ---------------------------------------------------------- life cycle */

static int khopages_plugin_init(int stage)
{
	int ret;

	reset_state();
	if (stage == CR_PLUGIN_STAGE__DUMP)
		return opts.kho_pages ? start_session(opts.tree_id) : 0;
	if (stage != CR_PLUGIN_STAGE__RESTORE)
		return 0;

	/* Only images dumped with pages handed over need us. */
	if (!check_and_remove_inventory_plugin(PLUGIN_NAME, strlen(PLUGIN_NAME)))
		return 0;

	ret = read_image();
	if (!ret)
		ret = check_session();
	if (ret)
		return ret;
	st.restoring = true;
	return 0;
}

static void khopages_plugin_fini(int stage, int ret)
{
	if (stage == CR_PLUGIN_STAGE__DUMP)
		end_dump(ret);
	else if (stage == CR_PLUGIN_STAGE__RESTORE && st.restoring)
		end_restore(ret);
	reset_state();
}

CR_PLUGIN_REGISTER(PLUGIN_NAME, khopages_plugin_init, khopages_plugin_fini)
