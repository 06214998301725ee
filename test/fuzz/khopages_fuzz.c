// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_fuzz: a structure-aware ioctl fuzzer for /dev/khopages.
 *
 *   khopages_fuzz run [--calls N] [--seconds S] [--threads T] [--seed X]
 *                     [--records FILE] [--fault] [--verbose]
 *   khopages_fuzz prepare FILE [--no-thp]
 *   khopages_fuzz verify FILE
 *
 * "run" issues random but mostly plausible ioctls from T threads sharing a
 * table of /dev/khopages files, and from short-lived forked children that
 * inherit those files and exit or are SIGKILLed in the middle of a call.
 * The targets of PRESERVE are helper processes ("holders") whose memory has
 * a fixed layout of several kinds (anonymous, THP, sparse, PROT_NONE,
 * private file, shared, memfd, copy-on-write shared with a grandchild,
 * mixed protections, zero pages); holders change their memory, exit and
 * are killed while the fuzzer runs. MAP lands in windows of the fuzzer's
 * own address space that are remapped with various kinds of memory.
 * --fault arms /proc/thread-self/fail-nth before some calls (fault
 * injection, debug kernels) so allocation failures hit the undo paths.
 * It stops after N ioctls or S seconds, whichever comes first, cleans up
 * (ABORT, close, FINISH with KHOPAGES_FINISH_OUTGOING or 0 for whatever is
 * left) and prints
 *   calls N, errors by errno: EINVAL n, ...; sessions left 0
 * An error returned by the kernel is never a failure. The exit status is 1
 * when a session is left after the cleanup, when the cleanup cannot remove
 * one, when pages mapped by MAP do not hold the data preserved before the
 * kexec, when incoming sessions do not match what was committed, or when
 * the run hangs. (Oopses and leaks are for the guest script to find in
 * dmesg, kmemleak and free memory.)
 *
 * "verify FILE" (after kexec) maps each recorded range on its own into a
 * fresh region and checks every page and MAP's counters, then finishes
 * the sessions: the deterministic counterpart of the fuzzed MAP.
 *
 * "prepare" commits a few sessions for the next kernel (shared folios
 * across sessions and processes, THPs, an empty session, a 63-character
 * name) and describes them in FILE; after kexec, "run --records FILE"
 * checks that they arrived and fuzzes OPEN and MAP on them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/khopages.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define PG		4096UL
#define HUGE		(2UL << 20)
#define MIB		(1UL << 20)

/* Holder windows: same layout in every holder, at a fixed place. */
#define NR_HOLDERS	3
#define SELF_SLOT	NR_HOLDERS	/* the fuzzer's own window */
#define NR_WINDOWS	(NR_HOLDERS + 1)
#define HOLDER_BASE	0x500000000000UL
#define STRIDE		0x10000000UL	/* 256 MiB between windows */
#define WINDOW_LEN	0x2000000UL	/* 32 MiB used of each */
/* Landing windows for MAP: LAND_BASE + (orig_va - HOLDER_BASE), so a
 * range lands congruent to where it was. */
#define LAND_BASE	0x300000000000UL
/* The end of user space with 4-level paging. */
#define USER_TOP	0x7ffffffff000UL

#define NR_SLOTS	8
#define MAX_THREADS	16
#define MAX_RECORDS	64
#define MAX_SESSIONS	16
#define NR_DEAD		16
#define MAX_CHILDREN	256
#define NR_ERRNO	256
#define LIST_ROOM	64

enum rkind {
	RK_ANON, RK_THP, RK_SPARSE, RK_NONE, RK_FILE, RK_SHARED, RK_MEMFD,
	RK_COW, RK_RWRO, RK_ZERO, NR_RK
};

static const struct rdef {
	const char *name;
	uint64_t off, len;
} rdefs[NR_RK] = {
	[RK_ANON]   = { "anon",   0x0000000, 4 * MIB },
	[RK_THP]    = { "thp",    0x0400000, 4 * MIB },
	[RK_SPARSE] = { "sparse", 0x0900000, 2 * MIB },
	[RK_NONE]   = { "none",   0x0c00000, 1 * MIB },
	[RK_FILE]   = { "file",   0x0e00000, 1 * MIB },
	[RK_SHARED] = { "shared", 0x1000000, 1 * MIB },
	[RK_MEMFD]  = { "memfd",  0x1200000, 1 * MIB },
	[RK_COW]    = { "cow",    0x1400000, 4 * MIB },
	[RK_RWRO]   = { "rwro",   0x1800000, 2 * MIB },
	[RK_ZERO]   = { "zero",   0x1c00000, 4 * MIB },
};

enum op {
	OP_CREATE, OP_PRESERVE, OP_COMMIT, OP_ABORT, OP_OPEN, OP_MAP,
	OP_FINISH, OP_STATS, OP_LIST, OP_BADCMD, OP_CLOSE, OP_REOPEN, OP_DUP,
	OP_FORK, OP_KILL, OP_CHURN, OP_REMAP, OP_EVACUATE, OP_PRESSURE, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"create", "preserve", "commit", "abort", "open", "map", "finish",
	"stats", "list", "badcmd", "close", "reopen", "dup", "fork", "kill",
	"churn", "remap", "evacuate", "pressure",
};

/* Landing window kinds. */
enum lkind {
	LK_RW, LK_RW_HUGE, LK_RO, LK_NONE, LK_LOCKED, LK_PREFAULT,
	LK_READFAULT, LK_SHARED, LK_FILE, LK_UNMAPPED, NR_LK
};

struct holder {
	_Atomic int pid;
	_Atomic int gpid;		/* its copy-on-write child */
	_Atomic unsigned int churn_req;	/* bumped to ask for a change */
	_Atomic int churn_kind;
	_Atomic uint64_t seed;
};

/* Shared with every forked child: counters and the holders' pids. */
struct shared {
	_Atomic uint64_t calls;
	_Atomic uint64_t ok;
	_Atomic uint64_t by_errno[NR_ERRNO];
	_Atomic uint64_t by_op[NR_OPS];
	_Atomic uint64_t op_errno[NR_OPS][NR_ERRNO];	/* [op][0]: success */
	_Atomic uint64_t faults_armed;
	_Atomic uint64_t faults_hit;
	_Atomic uint64_t verified_pages;
	_Atomic uint64_t corrupt_pages;
	_Atomic int stop;
	_Atomic int dead[NR_DEAD];
	_Atomic unsigned int dead_next;
	struct holder h[NR_HOLDERS];
};

struct record {
	char name[KHOPAGES_NAME_MAX];
	int pid;
	uint64_t start, len, seed;
	int dense;
};

struct rec_session {
	char name[KHOPAGES_NAME_MAX];
	uint64_t pages, folios;
};

/* Options and global state of the run. */
static struct {
	uint64_t max_calls;
	unsigned int seconds;
	unsigned int threads;
	uint64_t seed;
	bool fault;
	bool verbose;
	const char *records;
} opt = { 20000, 60, 4, 0, false, false, NULL };

static struct shared *sh;
static struct timespec t_start;
static double deadline;

static struct slot {
	pthread_rwlock_t lock;
	int fd;
} slots[NR_SLOTS];

static struct landing {
	pthread_rwlock_t lock;
	enum lkind kind;
} land[NR_WINDOWS];

static struct record recs[MAX_RECORDS];
static unsigned int nr_recs;
static struct rec_session rsess[MAX_SESSIONS];
static unsigned int nr_rsess;

/* Ranges PRESERVE took lately: MAP tries them (sessions reopened in the
 * same kernel, "loopback"). */
#define NR_TAKEN	32
static struct {
	int pid;
	uint64_t start, len;
} taken[NR_TAKEN];
static unsigned int taken_next;
static pthread_mutex_t taken_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t holder_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
static int children[MAX_CHILDREN];
static int tmp_file_fd = -1;	/* for private file mappings */
static bool no_thp;		/* prepare --no-thp: no large folios handed over */
static const char *dev_path = KHOPAGES_DEVICE;	/* or $KHOPAGES_DEVICE */

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "khopages_fuzz: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec - t_start.tv_sec) + (ts.tv_nsec - t_start.tv_nsec) / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

static bool chance(uint64_t *s, unsigned int percent)
{
	return rnd(s, 100) < percent;
}

static uint64_t pattern(uint64_t seed, uint64_t va)
{
	uint64_t x = (va + seed) * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29) ^ seed;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static uint64_t window(int slot)
{
	return HOLDER_BASE + (uint64_t)slot * STRIDE;
}

static uint64_t landing(int slot)
{
	return LAND_BASE + (uint64_t)slot * STRIDE;
}

static bool stopping(void)
{
	return atomic_load(&sh->stop) ||
	       atomic_load(&sh->calls) >= opt.max_calls || now_s() >= deadline;
}

static void note_dead(int pid)
{
	unsigned int i = atomic_fetch_add(&sh->dead_next, 1) % NR_DEAD;

	atomic_store(&sh->dead[i], pid);
}

/*
 * fork() and remember the child, so the clean-up can kill it. The table is
 * locked across the fork: the reaper cannot see a child die before it is
 * in the table. The child must not touch child_lock (it is locked there).
 * A child that does not fit is killed at once.
 */
static int fork_tracked(void)
{
	bool added = false;
	int pid;

	pthread_mutex_lock(&child_lock);
	pid = fork();
	if (pid == 0)
		return 0;
	for (int i = 0; pid > 0 && i < MAX_CHILDREN && !added; i++) {
		if (!children[i]) {
			children[i] = pid;
			added = true;
		}
	}
	pthread_mutex_unlock(&child_lock);
	if (pid > 0 && !added) {
		kill(pid, SIGKILL);
		return -1;
	}
	return pid;
}

/* ------------------------------------------------------------------ */
/* Holders: processes whose memory the fuzzer preserves                 */

static void fill_pages(uint64_t va, uint64_t len, uint64_t seed, bool full,
		       unsigned int step)
{
	for (uint64_t p = va; p < va + len; p += PG * step) {
		uint64_t *w = (uint64_t *)(uintptr_t)p;

		if (full) {
			for (unsigned int i = 0; i < PG / 8; i++)
				w[i] = pattern(seed, p + i * 8);
		} else {
			w[0] = pattern(seed, p);
		}
	}
}

static void read_pages(uint64_t va, uint64_t len)
{
	volatile uint64_t sum = 0;

	for (uint64_t p = va; p < va + len; p += PG)
		sum += *(volatile uint64_t *)(uintptr_t)p;
	(void)sum;
}

static void *map_at(uint64_t addr, uint64_t len, int prot, int flags, int fd)
{
	return mmap((void *)(uintptr_t)addr, len, prot,
		    flags | MAP_FIXED, fd, 0);
}

static void anon_region(uint64_t base, enum rkind k, int advice)
{
	uint64_t a = base + rdefs[k].off;

	map_at(a, rdefs[k].len, PROT_READ | PROT_WRITE,
	       MAP_PRIVATE | MAP_ANONYMOUS, -1);
	madvise((void *)(uintptr_t)a, rdefs[k].len, advice);
}

/*
 * Lay the memory of a window out (in the calling process) and fill it.
 * @full fills every word (the handover check reads them back); otherwise
 * one word per page is enough to fault it in.
 */
static void setup_window(uint64_t base, uint64_t seed, bool full)
{
	uint64_t a;
	int memfd;

	munmap((void *)(uintptr_t)base, WINDOW_LEN);
	anon_region(base, RK_ANON, MADV_NOHUGEPAGE);
	fill_pages(base + rdefs[RK_ANON].off, rdefs[RK_ANON].len, seed, full, 1);
	anon_region(base, RK_THP, no_thp ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	fill_pages(base + rdefs[RK_THP].off, rdefs[RK_THP].len, seed, full, 1);
	anon_region(base, RK_SPARSE, MADV_NOHUGEPAGE);
	fill_pages(base + rdefs[RK_SPARSE].off, rdefs[RK_SPARSE].len, seed,
		   full, full ? 1 : 2);
	a = base + rdefs[RK_SPARSE].off + rdefs[RK_SPARSE].len / 2;
	mprotect((void *)(uintptr_t)a, 16 * PG, PROT_READ);
	anon_region(base, RK_NONE, MADV_NOHUGEPAGE);
	fill_pages(base + rdefs[RK_NONE].off, rdefs[RK_NONE].len, seed, false, 1);
	mprotect((void *)(uintptr_t)(base + rdefs[RK_NONE].off),
		 rdefs[RK_NONE].len, PROT_NONE);
	if (tmp_file_fd >= 0) {
		a = base + rdefs[RK_FILE].off;
		if (map_at(a, rdefs[RK_FILE].len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE, tmp_file_fd) != MAP_FAILED)
			fill_pages(a, rdefs[RK_FILE].len / 2, seed, false, 1);
	}
	a = base + rdefs[RK_SHARED].off;
	if (map_at(a, rdefs[RK_SHARED].len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1) != MAP_FAILED)
		fill_pages(a, rdefs[RK_SHARED].len, seed, false, 1);
	memfd = memfd_create("khopages_fuzz", 0);
	if (memfd >= 0 && !ftruncate(memfd, rdefs[RK_MEMFD].len)) {
		a = base + rdefs[RK_MEMFD].off;
		if (map_at(a, rdefs[RK_MEMFD].len, PROT_READ | PROT_WRITE,
			   MAP_SHARED, memfd) != MAP_FAILED)
			fill_pages(a, rdefs[RK_MEMFD].len, seed, false, 1);
	}
	if (memfd >= 0)
		close(memfd);
	anon_region(base, RK_COW, no_thp ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	fill_pages(base + rdefs[RK_COW].off, rdefs[RK_COW].len, seed, full, 1);
	anon_region(base, RK_RWRO, MADV_NOHUGEPAGE);
	fill_pages(base + rdefs[RK_RWRO].off, rdefs[RK_RWRO].len, seed, full, 1);
	mprotect((void *)(uintptr_t)(base + rdefs[RK_RWRO].off + MIB), MIB,
		 PROT_READ);
	anon_region(base, RK_ZERO, MADV_HUGEPAGE);
	read_pages(base + rdefs[RK_ZERO].off, rdefs[RK_ZERO].len);
}

/* The copy-on-write child: shares the holder's pages and writes its own
 * data over RK_ANON (so that range has frames of its own). */
static int spawn_grandchild(uint64_t base, uint64_t seed, bool full)
{
	int parent = getpid(), pid = fork();

	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)	/* it died before the prctl */
		_exit(0);
	/* Its own RK_ANON (the holder may have punched holes into it). */
	anon_region(base, RK_ANON, MADV_NOHUGEPAGE);
	fill_pages(base + rdefs[RK_ANON].off, rdefs[RK_ANON].len, seed + 1,
		   full, 1);
	for (;;)
		pause();
}

static void holder_churn(uint64_t base, int kind, uint64_t *rs, struct holder *h)
{
	uint64_t seed = atomic_load(&h->seed);
	uint64_t a, n;
	int gp;

	switch (kind) {
	case 0:		/* new pages for RK_ANON */
		anon_region(base, RK_ANON, MADV_NOHUGEPAGE);
		fill_pages(base + rdefs[RK_ANON].off, rdefs[RK_ANON].len, seed,
			   false, 1);
		break;
	case 1:		/* drop part of the THPs (splits the PMD) */
		n = 1 + rnd(rs, 64);
		a = base + rdefs[RK_THP].off + rnd(rs, 1024 - n) * PG;
		madvise((void *)(uintptr_t)a, n * PG, MADV_DONTNEED);
		break;
	case 2:		/* mixed protections in RK_SPARSE */
		n = 1 + rnd(rs, 32);
		a = base + rdefs[RK_SPARSE].off + rnd(rs, 512 - n) * PG;
		mprotect((void *)(uintptr_t)a, n * PG,
			 chance(rs, 50) ? PROT_READ : PROT_READ | PROT_WRITE);
		break;
	case 3:		/* new THPs */
		madvise((void *)(uintptr_t)(base + rdefs[RK_THP].off),
			rdefs[RK_THP].len, MADV_DONTNEED);
		fill_pages(base + rdefs[RK_THP].off, rdefs[RK_THP].len, seed,
			   false, 1);
		break;
	case 4:		/* a new copy-on-write child */
		gp = atomic_exchange(&h->gpid, 0);
		if (gp > 0)
			kill(gp, SIGKILL);
		gp = spawn_grandchild(base, seed, false);
		if (gp > 0)
			atomic_store(&h->gpid, gp);
		break;
	case 5:		/* collapse into THPs again */
		madvise((void *)(uintptr_t)(base + rdefs[RK_THP].off),
			rdefs[RK_THP].len, MADV_COLLAPSE);
		break;
	case 6:		/* move 1 MiB of RK_ANON away and back */
		a = base + rdefs[RK_ANON].off + rnd(rs, 3) * MIB;
		if (mremap((void *)(uintptr_t)a, MIB, MIB,
			   MREMAP_MAYMOVE | MREMAP_FIXED,
			   (void *)(uintptr_t)(base + WINDOW_LEN + 4 * MIB)) !=
		    MAP_FAILED)
			mremap((void *)(uintptr_t)(base + WINDOW_LEN + 4 * MIB),
			       MIB, MIB, MREMAP_MAYMOVE | MREMAP_FIXED,
			       (void *)(uintptr_t)a);
		break;
	case 7:		/* break copy-on-write sharing with the child */
		n = 1 + rnd(rs, 256);
		a = base + rdefs[RK_COW].off + rnd(rs, 1024 - n) * PG;
		fill_pages(a, n * PG, seed + 7, false, 1);
		break;
	case 8:		/* unmap a piece: a hole inside RK_ANON */
		n = 1 + rnd(rs, 16);
		a = base + rdefs[RK_ANON].off + rnd(rs, 1024 - n) * PG;
		munmap((void *)(uintptr_t)a, n * PG);
		break;
	default:	/* exit: the next PRESERVE sees a dying or dead pid */
		_exit(0);
	}
}

static void holder_main(int slot)
{
	struct holder *h = &sh->h[slot];
	uint64_t base = window(slot), rs = atomic_load(&h->seed) | 1;
	unsigned int seen = atomic_load(&h->churn_req);
	int gp;

	/* Dies with the thread that forked it, i.e. at the end of the run. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (atomic_load(&sh->stop))
		_exit(0);
	/* No /dev/khopages file of the fuzzer may live on in here. */
	for (int fd = 3; fd < 1024; fd++)
		if (fd != tmp_file_fd)
			close(fd);
	munmap((void *)(uintptr_t)LAND_BASE, NR_WINDOWS * STRIDE);
	munmap((void *)(uintptr_t)window(SELF_SLOT), WINDOW_LEN);
	setup_window(base, atomic_load(&h->seed), false);
	gp = spawn_grandchild(base, atomic_load(&h->seed), false);
	if (gp > 0)
		atomic_store(&h->gpid, gp);
	while (!atomic_load(&sh->stop)) {
		unsigned int req = atomic_load(&h->churn_req);

		if (req != seen) {
			seen = req;
			holder_churn(base, atomic_load(&h->churn_kind), &rs, h);
		}
		sleep_us(1000);
	}
	_exit(0);
}

/* Start (or restart) holder @slot. Context: holder_lock held. */
static void holder_spawn(int slot, uint64_t seed)
{
	struct holder *h = &sh->h[slot];
	int pid;

	atomic_store(&h->seed, seed);
	atomic_store(&h->gpid, 0);
	pid = fork_tracked();
	if (pid < 0)
		return;
	if (!pid)
		holder_main(slot);
	atomic_store(&h->pid, pid);
}

/* ------------------------------------------------------------------ */
/* Per-worker state and argument placement                             */

struct worker {
	uint64_t rs;
	int id;
	bool child;			/* in a forked caller: no locks */
	int cfd[NR_SLOTS];		/* the child's copy of the slot table */
	uint8_t *rw;			/* 2 RW pages + a PROT_NONE guard */
	uint8_t *ro;			/* the same 2 pages, read-only */
	struct khopages_session_info *list;	/* LIST_ROOM + a guard page */
	int fail_fd;			/* /proc/thread-self/fail-nth or -1 */
	struct {
		int pid;
		uint64_t start, len;
	} last;				/* last PRESERVE, to overlap it */
};

#define ARENA	(2 * PG)

/*
 * The argument arena: two pages seen read-write (followed by a PROT_NONE
 * guard) and read-only. A forked caller makes its own: the pages are
 * shared memory, a child writing them would change its parent's calls.
 * Returns false when it cannot be mapped.
 */
static bool arena_init(struct worker *w)
{
	uint8_t *g;
	int memfd;

	memfd = memfd_create("khopages_fuzz_arena", 0);
	if (memfd < 0 || ftruncate(memfd, ARENA))
		return false;
	g = mmap(NULL, ARENA + PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED ||
	    mmap(g, ARENA, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd,
		 0) == MAP_FAILED) {
		close(memfd);
		return false;
	}
	w->rw = g;
	w->ro = mmap(NULL, ARENA, PROT_READ, MAP_SHARED, memfd, 0);
	close(memfd);
	return w->ro != MAP_FAILED;
}

static void worker_init(struct worker *w, int id)
{
	size_t lsz = LIST_ROOM * sizeof(struct khopages_session_info);
	uint8_t *g;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->rs = (opt.seed ^ (0x9e3779b97f4a7c15ULL * (id + 1))) | 1;
	if (!arena_init(w))
		die("arena: %s", strerror(errno));
	lsz = (lsz + PG - 1) & ~(PG - 1);
	g = mmap(NULL, lsz + PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED || mprotect(g + lsz, PG, PROT_NONE))
		die("list buffer: %s", strerror(errno));
	/* End the array right at the guard page. */
	w->list = (struct khopages_session_info *)(g + lsz) - LIST_ROOM;
	w->fail_fd = -1;
	if (opt.fault) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
			 (long)syscall(SYS_gettid));
		w->fail_fd = open(path, O_RDWR | O_CLOEXEC);
	}
}

/*
 * Choose the size field an argument struct declares: mostly its real
 * size, sometimes less, a larger one with a zero or non-zero tail, or
 * absurd. Returns the number of bytes of the buffer that must be written
 * (the struct plus the tail).
 */
static size_t pick_size(uint64_t *rs, size_t real, uint32_t *declared,
			bool *tail_junk)
{
	unsigned int r = rnd(rs, 100);

	*tail_junk = false;
	if (r < 80) {
		*declared = real;
	} else if (r < 83) {
		*declared = 0;
	} else if (r < 86) {
		*declared = real - 1 - rnd(rs, 8);
	} else if (r < 90) {
		*declared = real + 8 * (1 + rnd(rs, 8));
	} else if (r < 93) {
		*declared = real + 1 + rnd(rs, 64);
		*tail_junk = true;
	} else if (r < 96) {
		*declared = PG;
	} else if (r < 98) {
		*declared = PG + 1;
	} else {
		*declared = UINT32_MAX;
	}
	if (*declared > real && *declared <= ARENA)
		return *declared;
	return real;
}

/*
 * Put @arg (@len bytes, first field its size) somewhere the kernel will
 * read it from: mostly a plain buffer, sometimes across the guard page, a
 * read-only view (its results cannot be written back), NULL, a kernel or
 * non-canonical address. Returns the pointer to pass.
 */
static void *place(struct worker *w, void *arg, size_t len, bool sized)
{
	size_t need = len, off;
	bool junk = false;
	unsigned int r;
	uint32_t decl;

	if (sized) {
		need = pick_size(&w->rs, len, &decl, &junk);
		memcpy(arg, &decl, sizeof(decl));
	}
	r = rnd(&w->rs, 100);
	if (r < 86) {
		off = (need < ARENA && chance(&w->rs, 30)) ?
		      rnd(&w->rs, (ARENA - need) / 8 + 1) * 8 : 0;
		if (r >= 84 && off + need < ARENA)
			off++;		/* unaligned */
	} else if (r < 90) {
		/* runs into the guard page */
		off = ARENA - 1 - rnd(&w->rs, len - 1);
	} else if (r < 94) {
		off = 0;
		memset(w->rw, 0, need);
		memcpy(w->rw, arg, len);
		if (junk)
			memset(w->rw + len, 0xa5, need - len);
		return w->ro;
	} else if (r < 96) {
		return NULL;
	} else if (r < 98) {
		return (void *)0xffff888000000000UL;
	} else {
		return (void *)0x8000000000000000UL;
	}
	if (off + need > ARENA) {
		/* Only what fits before the guard is written. */
		memcpy(w->rw + off, arg, ARENA - off);
		return w->rw + off;
	}
	memset(w->rw + off, 0, need);
	memcpy(w->rw + off, arg, len);
	if (junk)
		memset(w->rw + off + len, 0xa5, need - len);
	return w->rw + off;
}

/* Count one ioctl. Returns 0 or -errno. */
static int count(enum op op, int ret)
{
	int e = ret < 0 ? errno : 0;

	atomic_fetch_add(&sh->calls, 1);
	atomic_fetch_add(&sh->by_op[op], 1);
	atomic_fetch_add(&sh->op_errno[op][e < NR_ERRNO ? e : 0], 1);
	if (!e)
		atomic_fetch_add(&sh->ok, 1);
	else
		atomic_fetch_add(&sh->by_errno[e < NR_ERRNO ? e : 0], 1);
	return -e;
}

/*
 * One ioctl, with fault injection armed around it now and then: the Nth
 * allocation-like fault point of this call fails (fail-nth counts within
 * the thread, so it is disarmed right after).
 */
static int do_ioctl(struct worker *w, enum op op, int fd, unsigned long cmd,
		    void *arg)
{
	bool armed = false;
	char buf[16];
	int ret, e, n;

	if (w->fail_fd >= 0 && chance(&w->rs, 15)) {
		n = snprintf(buf, sizeof(buf), "%u", 1 + (unsigned int)rnd(&w->rs, 40));
		armed = pwrite(w->fail_fd, buf, n, 0) == n;
	}
	ret = ioctl(fd, cmd, arg);
	e = errno;
	if (armed) {
		atomic_fetch_add(&sh->faults_armed, 1);
		n = pread(w->fail_fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = 0;
			if (atoi(buf) == 0)
				atomic_fetch_add(&sh->faults_hit, 1);
		}
		if (pwrite(w->fail_fd, "0", 1, 0) != 1)
			w->fail_fd = -1;
	}
	errno = e;
	return count(op, ret);
}

/* File of slot @s, held for the call (threads), or the child's copy. */
static int slot_get(struct worker *w, int s)
{
	if (w->child)
		return w->cfd[s];
	pthread_rwlock_rdlock(&slots[s].lock);
	return slots[s].fd;
}

static void slot_put(struct worker *w, int s)
{
	if (!w->child)
		pthread_rwlock_unlock(&slots[s].lock);
}

/* ------------------------------------------------------------------ */
/* Argument generators                                                 */

static const char *const valid_names[] = {
	"fz0", "fz1", "fz2", "fz3", "fz4", "fz5", "fz6", "fz7", ".", "..",
	"-_-.A9z", "fz0.x",
};
#define NR_VALID_NAMES	(sizeof(valid_names) / sizeof(valid_names[0]))

static void pick_name(struct worker *w, char *name)
{
	unsigned int r = rnd(&w->rs, 100);

	memset(name, 0, KHOPAGES_NAME_MAX);
	if (nr_rsess && r < 30) {
		strcpy(name, rsess[rnd(&w->rs, nr_rsess)].name);
	} else if (r < 85) {
		strcpy(name, valid_names[rnd(&w->rs, NR_VALID_NAMES)]);
		if (chance(&w->rs, 10))	/* garbage after the NUL */
			memset(name + strlen(name) + 1, 'Q',
			       KHOPAGES_NAME_MAX - strlen(name) - 1);
	} else if (r < 88) {
		memset(name, 'n', KHOPAGES_NAME_MAX - 1);	/* 63: valid */
	} else if (r < 91) {
		memset(name, 'n', KHOPAGES_NAME_MAX);		/* no NUL */
	} else if (r < 93) {
		/* empty */
	} else {
		static const char bad[] = "/ \n\t*:@\\,\"'\x01\x7f\xff";

		strcpy(name, "fz");
		name[2] = bad[rnd(&w->rs, sizeof(bad) - 1)];
		name[3] = chance(&w->rs, 50) ? '1' : 0;
	}
}

static uint32_t pick_flags(struct worker *w, uint32_t allowed)
{
	unsigned int r = rnd(&w->rs, 100);

	if (r < 88)
		return allowed && chance(&w->rs, 50) ? allowed : 0;
	if (r < 96)
		return 1U << rnd(&w->rs, 32);
	return ~0U;
}

/*
 * A slot, mostly one whose file is open, and mostly from the half that
 * suits the call: outgoing calls on slots 0-3, incoming ones (OPEN, MAP)
 * on 4-7, since a file holds one session of either kind.
 */
static int pick_slot_for(struct worker *w, int half)
{
	int s = 0;

	for (int tries = 0; tries < 3; tries++) {
		if (half >= 0 && chance(&w->rs, 80))
			s = half * (NR_SLOTS / 2) + rnd(&w->rs, NR_SLOTS / 2);
		else
			s = rnd(&w->rs, NR_SLOTS);
		if ((w->child ? w->cfd[s] : __atomic_load_n(&slots[s].fd, __ATOMIC_RELAXED)) >= 0 ||
		    chance(&w->rs, 10))
			break;
	}
	return s;
}

static int pick_slot(struct worker *w)
{
	return pick_slot_for(w, -1);
}

static int pick_pid(struct worker *w, int *slot)
{
	unsigned int r = rnd(&w->rs, 100);
	int s = rnd(&w->rs, NR_HOLDERS);

	*slot = s;
	if (r < 60)
		return atomic_load(&sh->h[s].pid);
	if (r < 72)
		return atomic_load(&sh->h[s].gpid);
	if (r < 80) {
		*slot = SELF_SLOT;
		return getpid();
	}
	if (r < 86)
		return atomic_load(&sh->dead[rnd(&w->rs, NR_DEAD)]);
	if (r < 88)
		return 1;
	if (r < 90)
		return 2;	/* kthreadd: no mm */
	if (r < 93) {
		static const int odd[] = { 0, -1, INT_MIN, INT_MAX, 4194304 };

		return odd[rnd(&w->rs, sizeof(odd) / sizeof(odd[0]))];
	}
	if (r < 96 && !w->child) {
		int pid = 0;

		pthread_mutex_lock(&child_lock);
		pid = children[rnd(&w->rs, MAX_CHILDREN)];
		pthread_mutex_unlock(&child_lock);
		return pid;
	}
	return atomic_load(&sh->h[s].pid);
}

/*
 * A range in a window laid out like a holder's: whole regions, parts of
 * them, THP halves, spans over neighbours and holes, unaligned, empty,
 * overflowing, or the last range again (overlap).
 */
static void pick_range(struct worker *w, uint64_t base, __u64 *start,
		       __u64 *len)
{
	enum rkind k = rnd(&w->rs, NR_RK);
	uint64_t ro = base + rdefs[k].off, rl = rdefs[k].len, n;
	unsigned int r = rnd(&w->rs, 100);

	if (r < 28) {
		*start = ro;
		*len = rl;
	} else if (r < 48) {
		n = 1 + rnd(&w->rs, rl / PG);
		*start = ro + rnd(&w->rs, rl / PG - n + 1) * PG;
		*len = n * PG;
	} else if (r < 58) {
		/* a THP whole, half of one, or across two */
		*start = base + rdefs[RK_THP].off + rnd(&w->rs, 4) * (HUGE / 2);
		*len = chance(&w->rs, 50) ? HUGE : HUGE / 2;
		if (chance(&w->rs, 30))
			*len = 3 * HUGE / 2 - rnd(&w->rs, 2) * PG;
		if (*start + *len > base + rdefs[RK_THP].off + rdefs[RK_THP].len)
			*len = base + rdefs[RK_THP].off + rdefs[RK_THP].len - *start;
	} else if (r < 66) {
		/* neighbours: anon+thp, cow+rwro */
		if (chance(&w->rs, 50)) {
			*start = base + rdefs[RK_ANON].off + MIB;
			*len = 5 * MIB;
		} else {
			*start = base + rdefs[RK_COW].off + 3 * MIB;
			*len = 2 * MIB;
		}
	} else if (r < 71) {
		/* across a hole */
		*start = base + rdefs[RK_THP].off + 3 * MIB;
		*len = 3 * MIB;
	} else if (r < 75) {
		/* inside a hole, or past the window */
		*start = base + (chance(&w->rs, 50) ? 0x800000 : WINDOW_LEN);
		*len = (1 + rnd(&w->rs, 64)) * PG;
	} else if (r < 81) {
		*start = ro + (chance(&w->rs, 50) ? 1 + rnd(&w->rs, PG - 1) : 0);
		*len = rl - (*start - ro) + (chance(&w->rs, 50) ? 1 : 0);
	} else if (r < 84) {
		*start = ro;
		*len = 0;
	} else if (r < 88) {
		static const uint64_t big[][2] = {
			{ 0xfffffffffffff000ULL, 0x2000 },
			{ 0x1000, 0xfffffffffffff000ULL },
			{ 0x7ffffffff000ULL, 0x2000 },
			{ 0x800000000000ULL, 0x1000 },
			{ 0, 0x1000 },
			{ 0x10000, 0x7fffffff0000ULL },
		};
		n = rnd(&w->rs, sizeof(big) / sizeof(big[0]));
		*start = big[n][0];
		*len = big[n][1];
	} else if (r < 93) {
		*start = base;
		*len = WINDOW_LEN;
	} else if (w->last.len) {
		/* overlap the last range preserved */
		*start = w->last.start + (chance(&w->rs, 50) ? PG * rnd(&w->rs, 4) : 0);
		*len = w->last.len;
	} else {
		*start = ro;
		*len = rl;
	}
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

static bool incoming_name(const char *name)
{
	for (unsigned int i = 0; i < nr_rsess; i++)
		if (!strcmp(rsess[i].name, name))
			return true;
	return false;
}

static void op_name_cmd(struct worker *w, enum op op, unsigned long cmd,
			uint32_t allowed_flags)
{
	struct khopages_name_arg a;
	int s, fd;
	void *p;

	s = pick_slot_for(w, op == OP_CREATE ? 0 : op == OP_OPEN ? 1 : -1);
	memset(&a, 0, sizeof(a));
	a.flags = pick_flags(w, allowed_flags);
	pick_name(w, a.name);
	/* Keep the incoming sessions a while: FINISH them now and then. */
	if (op == OP_FINISH && !a.flags && incoming_name(a.name) &&
	    chance(&w->rs, 80))
		strcpy(a.name, valid_names[rnd(&w->rs, NR_VALID_NAMES)]);
	p = place(w, &a, sizeof(a), true);
	fd = slot_get(w, s);
	do_ioctl(w, op, fd, cmd, p);
	slot_put(w, s);
}

static void op_preserve(struct worker *w)
{
	struct khopages_preserve a;
	int s = pick_slot_for(w, 0), fd, tslot, ret;
	uint64_t base;
	void *p;

	memset(&a, 0, sizeof(a));
	a.flags = pick_flags(w, 0);
	a.pid = pick_pid(w, &tslot);
	base = window(tslot);
	if (tslot == SELF_SLOT && chance(&w->rs, 40))
		base = landing(rnd(&w->rs, NR_WINDOWS));
	pick_range(w, base, &a.start, &a.len);
	if (chance(&w->rs, 4)) {
		switch (rnd(&w->rs, 4)) {
		case 0: a.__pad = 1 + rnd(&w->rs, 100); break;
		case 1: a.nr_pages = 1; break;
		case 2: a.nr_folios = rng_next(&w->rs); break;
		default: a.nr_moved = 1; break;
		}
	}
	p = place(w, &a, sizeof(a), true);
	fd = slot_get(w, s);
	ret = do_ioctl(w, OP_PRESERVE, fd, KHOPAGES_IOC_PRESERVE, p);
	slot_put(w, s);
	if (!ret) {
		w->last.pid = a.pid;
		w->last.start = a.start;
		w->last.len = a.len;
		if (!w->child) {
			pthread_mutex_lock(&taken_lock);
			taken[taken_next % NR_TAKEN].pid = a.pid;
			taken[taken_next % NR_TAKEN].start = a.start;
			taken[taken_next % NR_TAKEN].len = a.len;
			taken_next++;
			pthread_mutex_unlock(&taken_lock);
		}
	}
}

/* EVACUATE needs no session: any slot's file, any target, any range. */
static void op_evacuate(struct worker *w)
{
	struct khopages_evacuate a;
	int s = pick_slot_for(w, 0), fd, tslot;
	void *p;

	memset(&a, 0, sizeof(a));
	a.flags = pick_flags(w, 0);
	a.pid = pick_pid(w, &tslot);
	pick_range(w, window(tslot), &a.start, &a.len);
	if (chance(&w->rs, 4)) {
		switch (rnd(&w->rs, 3)) {
		case 0: a.__pad = 1 + rnd(&w->rs, 100); break;
		case 1: a.nr_moved = 1; break;
		default: a.nr_left = rng_next(&w->rs); break;
		}
	}
	p = place(w, &a, sizeof(a), true);
	fd = slot_get(w, s);
	do_ioctl(w, OP_EVACUATE, fd, KHOPAGES_IOC_EVACUATE, p);
	slot_put(w, s);
}

/*
 * Memory pressure on the targets while the ioctls run: reclaim pushes a
 * part of a holder's window (or its copy-on-write child's) out to swap
 * (or only to the inactive list), and compaction migrates whatever it
 * can. Pages held by a session must come through both unchanged, which
 * verify and the handover checks find out. Without swap (no zram in the
 * guest) PAGEOUT only ages the pages.
 */
static void op_pressure(struct worker *w)
{
	int tslot, pidfd, advice;
	struct iovec iov;
	enum rkind k;
	pid_t pid;

	if (chance(&w->rs, 8)) {
		int fd = open("/proc/sys/vm/compact_memory", O_WRONLY);

		if (fd >= 0) {
			ssize_t n = write(fd, "1", 1);

			(void)n;	/* no compaction: only less pressure */
			close(fd);
		}
		atomic_fetch_add(&sh->by_op[OP_PRESSURE], 1);
		return;
	}
	tslot = rnd(&w->rs, NR_HOLDERS);
	pid = chance(&w->rs, 4) ? atomic_load(&sh->h[tslot].gpid) :
				  atomic_load(&sh->h[tslot].pid);
	if (pid <= 0)
		return;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return;
	/* One region of the holder's layout, or its first half. */
	k = rnd(&w->rs, NR_RK);
	iov.iov_base = (void *)(uintptr_t)(window(tslot) + rdefs[k].off);
	iov.iov_len = chance(&w->rs, 50) ? rdefs[k].len : rdefs[k].len / 2;
	advice = chance(&w->rs, 4) ? MADV_COLD : MADV_PAGEOUT;
	/* The holder may have exited meanwhile: that is fine. */
	syscall(SYS_process_madvise, pidfd, &iov, 1, advice, 0);
	close(pidfd);
	atomic_fetch_add(&sh->by_op[OP_PRESSURE], 1);
}

static void op_noarg(struct worker *w, enum op op, unsigned long cmd)
{
	int s = pick_slot_for(w, 0), fd;
	unsigned long arg = 0;

	if (chance(&w->rs, 5))
		arg = chance(&w->rs, 50) ? 1 : (unsigned long)w->rw;
	fd = slot_get(w, s);
	do_ioctl(w, op, fd, cmd, (void *)arg);
	slot_put(w, s);
}

/*
 * The fuzzer does not know which session a slot's file has open, so a
 * successful MAP may come from any session recording this pid: it says
 * something about @rc's data only if every such record overlapping the
 * request covers all of it with the same data (fzin-a and fzin-b share
 * ranges; a one-page session sits inside fzin-b).
 */
static bool map_unambiguous(const struct record *rc, uint64_t orig, uint64_t len)
{
	for (unsigned int i = 0; i < nr_recs; i++) {
		const struct record *o = &recs[i];

		if (o->pid != rc->pid || o->start >= orig + len || o->start + o->len <= orig)
			continue;
		if (o->start > orig || o->start + o->len < orig + len ||
		    o->seed != rc->seed || !o->dense)
			return false;
	}
	return true;
}

/* Read back a few mapped pages: they must hold the preserved data. */
static void verify_map(const struct record *rc, uint64_t orig, uint64_t dst,
		       uint64_t len, const struct khopages_map *res)
{
	uint64_t pages = len / PG, picks[4] = { 0, pages / 3, pages / 2, pages - 1 };

	for (int i = 0; i < 4; i++) {
		uint64_t va = orig + picks[i] * PG;
		const uint64_t *d = (const uint64_t *)(uintptr_t)(dst + picks[i] * PG);
		unsigned int bad = 0;

		for (unsigned int j = 0; j < PG / 8; j++)
			bad += d[j] != pattern(rc->seed, va + j * 8);
		atomic_fetch_add(&sh->verified_pages, 1);
		if (bad) {
			atomic_fetch_add(&sh->corrupt_pages, 1);
			printf("CORRUPT: session %s pid %d page %#" PRIx64
			       " mapped at %#" PRIx64 ": %u of 512 words differ "
			       "(first %#" PRIx64 ", want %#" PRIx64 "); MAP of %#" PRIx64
			       "+%#" PRIx64 " said mapped %llu shared %llu copied %llu\n",
			       rc->name, rc->pid, va, dst + picks[i] * PG, bad,
			       d[0], pattern(rc->seed, va), orig, len,
			       (unsigned long long)res->nr_mapped,
			       (unsigned long long)res->nr_shared,
			       (unsigned long long)res->nr_copied);
			fflush(stdout);
		}
	}
}

static int land_slot(uint64_t dst)
{
	if (dst < LAND_BASE || dst >= LAND_BASE + NR_WINDOWS * STRIDE)
		return -1;
	return (dst - LAND_BASE) / STRIDE;
}

static void op_map(struct worker *w)
{
	const struct record *rc = NULL;
	struct khopages_map a;
	int s = pick_slot_for(w, 1), fd, ls, ret, tslot;
	unsigned int r = rnd(&w->rs, 100);
	bool exact = false;
	void *p;

	memset(&a, 0, sizeof(a));
	a.flags = pick_flags(w, 0);
	if (nr_recs && r < 75) {
		rc = &recs[rnd(&w->rs, nr_recs)];
		a.pid = rc->pid;
		r = rnd(&w->rs, 100);
		if (r < 40 || rc->len < HUGE) {
			a.orig_va = rc->start;
			a.len = rc->len;
			exact = true;
		} else if (r < 75) {
			uint64_t n = rc->len / HUGE;

			a.orig_va = rc->start + rnd(&w->rs, n) * HUGE;
			a.len = HUGE * (1 + rnd(&w->rs, n - (a.orig_va - rc->start) / HUGE));
			exact = true;
		} else if (r < 90) {
			a.orig_va = rc->start + rnd(&w->rs, rc->len / PG) * PG;
			a.len = PG * (1 + rnd(&w->rs, 16));
		} else {
			a.orig_va = rc->start - PG * rnd(&w->rs, 2);
			a.len = rc->len + PG * rnd(&w->rs, 3);
		}
	} else if (!w->child && taken_next && chance(&w->rs, nr_recs ? 20 : 60)) {
		pthread_mutex_lock(&taken_lock);
		r = rnd(&w->rs, taken_next < NR_TAKEN ? taken_next : NR_TAKEN);
		a.pid = taken[r].pid;
		a.orig_va = taken[r].start;
		a.len = taken[r].len;
		pthread_mutex_unlock(&taken_lock);
	} else {
		a.pid = chance(&w->rs, 50) ? pick_pid(w, &tslot) : 1 + (int)rnd(&w->rs, 4000);
		pick_range(w, window(rnd(&w->rs, NR_WINDOWS)), &a.orig_va, &a.len);
	}
	a.dst_va = LAND_BASE + (a.orig_va - HOLDER_BASE);
	r = rnd(&w->rs, 100);
	if (r < 8) {
		a.dst_va += PG * (1 + rnd(&w->rs, 8));	/* not congruent */
		exact = false;
	} else if (r < 12) {
		a.dst_va += 1 + rnd(&w->rs, PG - 1);
	} else if (r < 16) {
		a.dst_va = window(SELF_SLOT) + rdefs[rnd(&w->rs, NR_RK)].off;
		exact = false;
	} else if (r < 19) {
		a.dst_va = (uint64_t)(uintptr_t)w->rw;	/* the arena: shared */
		exact = false;
	} else if (r < 34) {
		/* another landing window: still congruent (copies) */
		a.dst_va = landing(rnd(&w->rs, NR_WINDOWS)) +
			   ((a.orig_va - HOLDER_BASE) % STRIDE);
	}
	if (chance(&w->rs, 4)) {
		switch (rnd(&w->rs, 4)) {
		case 0: a.__pad = 7; break;
		case 1: a.nr_mapped = 1; break;
		case 2: a.nr_shared = 1; break;
		default: a.nr_copied = 1; break;
		}
	}
	p = place(w, &a, sizeof(a), true);
	ls = land_slot(a.dst_va);
	if (ls >= 0 && !w->child)
		pthread_rwlock_rdlock(&land[ls].lock);
	fd = slot_get(w, s);
	ret = do_ioctl(w, OP_MAP, fd, KHOPAGES_IOC_MAP, p);
	slot_put(w, s);
	/* Only a whole success of an unmodified, readable request is checked. */
	if (!ret && rc && exact && rc->dense && ls >= 0 && !w->child &&
	    map_unambiguous(rc, a.orig_va, a.len) &&
	    p == w->rw && (land[ls].kind == LK_RW || land[ls].kind == LK_RW_HUGE ||
			   land[ls].kind == LK_RO || land[ls].kind == LK_LOCKED))
		verify_map(rc, a.orig_va, a.dst_va, a.len, p);
	if (ls >= 0 && !w->child)
		pthread_rwlock_unlock(&land[ls].lock);
}

static void op_stats(struct worker *w)
{
	struct khopages_stats a;
	int s = pick_slot(w), fd;
	void *p;

	memset(&a, 0, sizeof(a));
	a.flags = pick_flags(w, 0);
	pick_name(w, a.name);
	if (chance(&w->rs, 5))
		memset(&a.info, 0x5a, sizeof(a.info));	/* out-only: ignored */
	p = place(w, &a, sizeof(a), true);
	fd = slot_get(w, s);
	do_ioctl(w, OP_STATS, fd, KHOPAGES_IOC_STATS, p);
	slot_put(w, s);
}

static void op_list(struct worker *w)
{
	struct khopages_list a;
	int s = pick_slot(w), fd;
	unsigned int r = rnd(&w->rs, 100);
	void *p;

	memset(&a, 0, sizeof(a));
	a.flags = pick_flags(w, 0);
	/* The stride: mostly right, sometimes too small, larger or absurd. */
	a.entry_size = sizeof(struct khopages_session_info);
	if (chance(&w->rs, 3))
		a.entry_size = rnd(&w->rs, sizeof(struct khopages_session_info));
	else if (chance(&w->rs, 3))
		a.entry_size = (uint32_t)rng_next(&w->rs);
	a.nr_sessions = rnd(&w->rs, 4) == 0 ? 0 : 1 + rnd(&w->rs, LIST_ROOM);
	if (r < 75) {
		a.sessions = (uint64_t)(uintptr_t)(w->list + LIST_ROOM - a.nr_sessions);
	} else if (r < 83) {
		/* room claimed beyond the guard page */
		a.sessions = (uint64_t)(uintptr_t)(w->list + LIST_ROOM - 1);
		a.nr_sessions = 2 + rnd(&w->rs, 8);
	} else if (r < 88) {
		a.sessions = (uint64_t)(uintptr_t)w->ro;
	} else if (r < 93) {
		a.sessions = 0;
	} else if (r < 96) {
		a.sessions = 0xffff888000000000ULL;
	} else {
		a.nr_sessions = UINT32_MAX;
		a.sessions = (uint64_t)(uintptr_t)w->list;
	}
	p = place(w, &a, sizeof(a), true);
	fd = slot_get(w, s);
	do_ioctl(w, OP_LIST, fd, KHOPAGES_IOC_LIST, p);
	slot_put(w, s);
}

static void op_badcmd(struct worker *w)
{
	static const unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE,
					     _IOC_READ | _IOC_WRITE };
	unsigned long cmd;
	int s = pick_slot(w), fd;

	if (chance(&w->rs, 70))
		cmd = _IOC(dirs[rnd(&w->rs, 4)], KHOPAGES_IOC_MAGIC,
			   _IOC_NR(KHOPAGES_IOC_CREATE) - 4 + rnd(&w->rs, 16),
			   rnd(&w->rs, 512));
	else
		cmd = (uint32_t)rng_next(&w->rs);
	memset(w->rw, 0, ARENA);
	fd = slot_get(w, s);
	do_ioctl(w, OP_BADCMD, fd, cmd, chance(&w->rs, 80) ? w->rw : NULL);
	slot_put(w, s);
}

/* close, reopen, dup: the table of files changes under the others. */
/* A slot whose file is closed, if there is one (REOPEN and DUP fill it). */
static int pick_closed_slot(struct worker *w)
{
	int first = rnd(&w->rs, NR_SLOTS);

	for (int i = 0; i < NR_SLOTS; i++) {
		int s = (first + i) % NR_SLOTS;

		if ((w->child ? w->cfd[s] : __atomic_load_n(&slots[s].fd, __ATOMIC_RELAXED)) < 0)
			return s;
	}
	return first;
}

static void op_files(struct worker *w, enum op op)
{
	int s = op == OP_CLOSE ? pick_slot(w) : pick_closed_slot(w);
	int t = pick_slot(w), fd, nfd;

	if (w->child) {
		if (op == OP_CLOSE) {
			close(w->cfd[s]);
			w->cfd[s] = -1;
		} else if (op == OP_REOPEN) {
			close(w->cfd[s]);
			w->cfd[s] = open(dev_path, O_RDWR);
		} else {
			w->cfd[s] = dup(w->cfd[t]);
		}
		return;
	}
	if (op == OP_DUP) {
		if (s == t)
			return;
		/* Lock in slot order: no deadlock between two dups. */
		pthread_rwlock_wrlock(&slots[s < t ? s : t].lock);
		pthread_rwlock_wrlock(&slots[s < t ? t : s].lock);
		fd = slots[t].fd >= 0 ? dup(slots[t].fd) : -1;
		if (slots[s].fd >= 0)
			close(slots[s].fd);
		slots[s].fd = fd;
		pthread_rwlock_unlock(&slots[s].lock);
		pthread_rwlock_unlock(&slots[t].lock);
		return;
	}
	pthread_rwlock_wrlock(&slots[s].lock);
	if (slots[s].fd >= 0)
		close(slots[s].fd);
	nfd = op == OP_REOPEN ? open(dev_path, O_RDWR | O_CLOEXEC) : -1;
	slots[s].fd = nfd;
	pthread_rwlock_unlock(&slots[s].lock);
}

static void run_one(struct worker *w, enum op op);

/*
 * A forked caller: inherits the files, makes a few calls (its own file
 * sometimes: CREATE + a long PRESERVE), and either exits on its own or is
 * SIGKILLed by the parent in the middle of whatever it is doing.
 */
static void op_fork(struct worker *w)
{
	int cfd[NR_SLOTS], pid;
	long delay;

	if (w->child)
		return;
	for (int s = 0; s < NR_SLOTS; s++)
		cfd[s] = __atomic_load_n(&slots[s].fd, __ATOMIC_RELAXED);
	fflush(stdout);
	pid = fork_tracked();
	if (pid < 0)
		return;
	if (!pid) {
		struct worker c = *w;
		unsigned int n = 1 + rnd(&c.rs, 12);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		c.child = true;
		c.fail_fd = -1;
		memcpy(c.cfd, cfd, sizeof(cfd));
		if (!arena_init(&c))
			_exit(3);
		if (chance(&c.rs, 40)) {
			struct khopages_name_arg na = { sizeof(na), 0, "" };
			struct khopages_preserve pr;
			int fd = open(dev_path, O_RDWR);
			int hs = rnd(&c.rs, NR_HOLDERS);

			snprintf(na.name, sizeof(na.name), "fz%u",
				 (unsigned int)rnd(&c.rs, 8));
			count(OP_CREATE, ioctl(fd, KHOPAGES_IOC_CREATE, &na));
			memset(&pr, 0, sizeof(pr));
			pr.size = sizeof(pr);
			pr.pid = atomic_load(&sh->h[hs].pid);
			pr.start = window(hs);
			pr.len = rdefs[RK_THP].off + rdefs[RK_THP].len;
			count(OP_PRESERVE, ioctl(fd, KHOPAGES_IOC_PRESERVE, &pr));
			if (chance(&c.rs, 30))
				count(OP_COMMIT, ioctl(fd, KHOPAGES_IOC_COMMIT, 0));
			c.cfd[rnd(&c.rs, NR_SLOTS)] = fd;
		}
		while (n-- && !atomic_load(&sh->stop)) {
			enum op op = rnd(&c.rs, OP_FORK);

			run_one(&c, op);
		}
		_exit(0);
	}
	if (chance(&w->rs, 60)) {
		delay = rnd(&w->rs, 4000);
		sleep_us(delay);
		kill(pid, SIGKILL);
	}
}

static void op_kill(struct worker *w)
{
	int s = rnd(&w->rs, NR_HOLDERS), pid;
	unsigned int r = rnd(&w->rs, 100);

	if (w->child)
		return;
	pthread_mutex_lock(&holder_lock);
	if (r < 60) {
		pid = atomic_exchange(&sh->h[s].pid, 0);
		if (pid > 0)
			kill(pid, SIGKILL);
		holder_spawn(s, rng_next(&w->rs));
	} else if (r < 80) {
		pid = atomic_load(&sh->h[s].gpid);
		if (pid > 0)
			kill(pid, SIGKILL);
	} else {
		/* Ask it to exit by itself; respawn it later. */
		atomic_store(&sh->h[s].churn_kind, 99);
		atomic_fetch_add(&sh->h[s].churn_req, 1);
	}
	if (!atomic_load(&sh->h[s].pid) || chance(&w->rs, 30)) {
		for (int i = 0; i < NR_HOLDERS; i++) {
			pid = atomic_load(&sh->h[i].pid);
			if (pid <= 0 || kill(pid, 0))
				holder_spawn(i, rng_next(&w->rs));
		}
	}
	pthread_mutex_unlock(&holder_lock);
}

static void op_churn(struct worker *w)
{
	int s = rnd(&w->rs, NR_HOLDERS);

	atomic_store(&sh->h[s].churn_kind, (int)rnd(&w->rs, 9));
	atomic_fetch_add(&sh->h[s].churn_req, 1);
}

/* Recreate landing window @ls as kind @k. Context: its lock held. */
static void land_make(int ls, enum lkind k)
{
	uint64_t a = landing(ls);
	int prot = PROT_READ | PROT_WRITE;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	int fd = -1;

	munmap((void *)(uintptr_t)a, WINDOW_LEN);
	land[ls].kind = k;
	switch (k) {
	case LK_RO: prot = PROT_READ; break;
	case LK_NONE: prot = PROT_NONE; break;
	case LK_SHARED: flags = MAP_SHARED | MAP_ANONYMOUS; break;
	case LK_FILE:
		flags = MAP_PRIVATE;
		fd = tmp_file_fd;
		if (fd < 0)
			return;
		break;
	case LK_UNMAPPED: return;
	default: break;
	}
	if (map_at(a, k == LK_FILE ? 2 * MIB : WINDOW_LEN, prot, flags, fd) ==
	    MAP_FAILED) {
		land[ls].kind = LK_UNMAPPED;
		return;
	}
	madvise((void *)(uintptr_t)a, WINDOW_LEN,
		k == LK_RW_HUGE ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (k == LK_LOCKED)	/* VM_LOCKED, but nothing faulted in */
		mlock2((void *)(uintptr_t)a, WINDOW_LEN, MLOCK_ONFAULT);
	if (k == LK_PREFAULT)
		fill_pages(a + rdefs[RK_ANON].off, 16 * MIB, 1, false, 64);
	else if (k == LK_READFAULT)
		read_pages(a, WINDOW_LEN);
}

static void op_remap(struct worker *w)
{
	int ls = rnd(&w->rs, NR_WINDOWS);
	enum lkind k = chance(&w->rs, 50) ? LK_RW : (enum lkind)rnd(&w->rs, NR_LK);

	if (w->child) {
		land_make(ls, k);
		return;
	}
	pthread_rwlock_wrlock(&land[ls].lock);
	land_make(ls, k);
	pthread_rwlock_unlock(&land[ls].lock);
}

static void run_one(struct worker *w, enum op op)
{
	switch (op) {
	case OP_CREATE:
		op_name_cmd(w, op, KHOPAGES_IOC_CREATE, 0);
		break;
	case OP_PRESERVE:
		op_preserve(w);
		break;
	case OP_COMMIT:
		op_noarg(w, op, KHOPAGES_IOC_COMMIT);
		break;
	case OP_ABORT:
		op_noarg(w, op, KHOPAGES_IOC_ABORT);
		break;
	case OP_OPEN:
		op_name_cmd(w, op, KHOPAGES_IOC_OPEN, 0);
		break;
	case OP_MAP:
		op_map(w);
		break;
	case OP_FINISH:
		op_name_cmd(w, op, KHOPAGES_IOC_FINISH, KHOPAGES_FINISH_OUTGOING);
		break;
	case OP_STATS:
		op_stats(w);
		break;
	case OP_LIST:
		op_list(w);
		break;
	case OP_BADCMD:
		op_badcmd(w);
		break;
	case OP_CLOSE:
	case OP_REOPEN:
	case OP_DUP:
		op_files(w, op);
		break;
	case OP_FORK:
		op_fork(w);
		break;
	case OP_KILL:
		op_kill(w);
		break;
	case OP_CHURN:
		op_churn(w);
		break;
	case OP_REMAP:
		op_remap(w);
		break;
	case OP_EVACUATE:
		op_evacuate(w);
		break;
	case OP_PRESSURE:
		op_pressure(w);
		break;
	case NR_OPS:
		break;
	}
}

/* Weights of the operations; MAP and OPEN weigh more with incoming
 * sessions to work on. */
static enum op pick_op(struct worker *w)
{
	unsigned int wt[NR_OPS] = {
		[OP_CREATE] = 12, [OP_PRESERVE] = 26, [OP_COMMIT] = 6,
		[OP_ABORT] = 5, [OP_OPEN] = 4, [OP_MAP] = 4, [OP_FINISH] = 8,
		[OP_STATS] = 6, [OP_LIST] = 5, [OP_BADCMD] = 3, [OP_CLOSE] = 2,
		[OP_REOPEN] = 4, [OP_DUP] = 2, [OP_FORK] = 2, [OP_KILL] = 1,
		[OP_CHURN] = 3, [OP_REMAP] = 2, [OP_EVACUATE] = 3,
		[OP_PRESSURE] = 3,
	};
	unsigned int total = 0, r;

	if (nr_recs) {
		wt[OP_OPEN] = 8;
		wt[OP_MAP] = 22;
	}
	for (int i = 0; i < NR_OPS; i++)
		total += wt[i];
	r = rnd(&w->rs, total);
	for (int i = 0; i < NR_OPS; i++) {
		if (r < wt[i])
			return i;
		r -= wt[i];
	}
	return OP_LIST;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	worker_init(w, w->id);
	while (!stopping())
		run_one(w, pick_op(w));
	if (w->fail_fd >= 0)
		close(w->fail_fd);
	return NULL;
}

/* Reaps every child and orphaned grandchild (we are their subreaper). */
static void *reaper_main(void *arg)
{
	(void)arg;
	for (;;) {
		int st, pid = waitpid(-1, &st, __WALL);

		if (pid > 0) {
			note_dead(pid);
			pthread_mutex_lock(&child_lock);
			for (int i = 0; i < MAX_CHILDREN; i++)
				if (children[i] == pid)
					children[i] = 0;
			pthread_mutex_unlock(&child_lock);
			continue;
		}
		if (errno == ECHILD) {
			if (atomic_load(&sh->stop) == 2)
				return NULL;
			sleep_us(5000);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Records of the sessions handed over                                 */

static void load_records(const char *path)
{
	char line[512], name[KHOPAGES_NAME_MAX];
	FILE *f = fopen(path, "r");

	if (!f)
		die("cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		struct record *r = &recs[nr_recs];
		struct rec_session *s = &rsess[nr_rsess];
		int pid, dense;
		uint64_t a, b, c, d;

		if (sscanf(line, "session %63s %" SCNu64 " %" SCNu64, name, &a, &b) == 3 &&
		    nr_rsess < MAX_SESSIONS) {
			memcpy(s->name, name, sizeof(s->name));
			s->pages = a;
			s->folios = b;
			nr_rsess++;
		} else if (sscanf(line, "range %63s %d %" SCNx64 " %" SCNx64 " %" SCNx64 " %d",
				  name, &pid, &c, &d, &a, &dense) == 6 &&
			   nr_recs < MAX_RECORDS) {
			memcpy(r->name, name, sizeof(r->name));
			r->pid = pid;
			r->start = c;
			r->len = d;
			r->seed = a;
			r->dense = dense;
			nr_recs++;
		}
	}
	fclose(f);
}

/* The incoming sessions must be what was committed before the kexec. */
static int check_incoming(int fd)
{
	int bad = 0;

	for (unsigned int i = 0; i < nr_rsess; i++) {
		struct khopages_stats st;

		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		strcpy(st.name, rsess[i].name);
		if (ioctl(fd, KHOPAGES_IOC_STATS, &st)) {
			printf("FAIL: incoming session %s: STATS %s\n",
			       rsess[i].name, strerrorname_np(errno));
			bad++;
			continue;
		}
		if (st.info.state != KHOPAGES_STATE_INCOMING ||
		    st.info.nr_pages != rsess[i].pages ||
		    st.info.nr_folios != rsess[i].folios) {
			printf("FAIL: incoming session %s: state %u, %" PRIu64
			       " pages, %" PRIu64 " folios; committed %" PRIu64
			       " pages, %" PRIu64 " folios\n", rsess[i].name,
			       st.info.state, (uint64_t)st.info.nr_pages,
			       (uint64_t)st.info.nr_folios, rsess[i].pages,
			       rsess[i].folios);
			bad++;
		} else {
			printf("incoming session %s: %" PRIu64 " pages, %" PRIu64
			       " folios, as committed\n", rsess[i].name,
			       rsess[i].pages, rsess[i].folios);
		}
	}
	return bad;
}

/* ------------------------------------------------------------------ */
/* Clean-up and summary                                                */

static int list_sessions(int fd, struct khopages_session_info *out,
			 unsigned int room)
{
	struct khopages_list l;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr_sessions = room;
	l.entry_size = sizeof(*out);
	l.sessions = (uint64_t)(uintptr_t)out;
	if (ioctl(fd, KHOPAGES_IOC_LIST, &l))
		return -errno;
	return l.nr_sessions;
}

static int finish(int fd, const char *name, uint32_t flags)
{
	struct khopages_name_arg a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = flags;
	snprintf(a.name, sizeof(a.name), "%s", name);
	return ioctl(fd, KHOPAGES_IOC_FINISH, &a) ? -errno : 0;
}

static const char *state_name(uint32_t st)
{
	switch (st) {
	case KHOPAGES_STATE_OPEN: return "open";
	case KHOPAGES_STATE_COMMITTED: return "committed";
	case KHOPAGES_STATE_INCOMING: return "incoming";
	case KHOPAGES_STATE_CLAIMED: return "claimed";
	default: return "?";
	}
}

/*
 * SIGKILL every process whose parent we are (our children, and orphans of
 * theirs we adopted as subreaper), zombies included in the count: returns
 * how many are left for the reaper.
 */
static int kill_children(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	char path[300], buf[512];
	int n = 0, me = getpid();

	while (proc && (pe = readdir(proc))) {
		int fd, ppid = 0;
		ssize_t len;
		char *st;

		if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", pe->d_name);
		fd = open(path, O_RDONLY);
		len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		st = strrchr(buf, ')');
		if (!st || sscanf(st + 2, "%*c %d", &ppid) != 1 || ppid != me)
			continue;
		kill(atoi(pe->d_name), SIGKILL);
		n++;
	}
	if (proc)
		closedir(proc);
	return n;
}

/*
 * Everything the run created goes: children, files (closing a file aborts
 * its open session and detaches an opened one), then every session left
 * by FINISH. A session still open or claimed once no file is left means
 * the kernel lost track of it.
 */
static int cleanup(void)
{
	struct khopages_session_info *info;
	int fd, n, left, stuck = 0, busy = 0;
	bool any;

	for (int i = 0; i < NR_HOLDERS; i++) {
		int pid = atomic_exchange(&sh->h[i].pid, 0);

		if (pid > 0)
			kill(pid, SIGKILL);
	}
	/* Every child, and every orphan we adopted, until the reaper has them. */
	for (int tries = 0; tries < 3000; tries++) {
		any = kill_children() > 0;
		if (!any)
			break;
		sleep_us(10000);
	}
	if (any)
		printf("cleanup: some children did not exit\n");

	for (int s = 0; s < NR_SLOTS; s++) {
		if (slots[s].fd < 0)
			continue;
		if (s % 2)	/* half by ABORT, half by close alone */
			count(OP_ABORT, ioctl(slots[s].fd, KHOPAGES_IOC_ABORT, 0));
		close(slots[s].fd);
		slots[s].fd = -1;
	}

	fd = open(dev_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", dev_path, strerror(errno));
	info = calloc(256, sizeof(*info));
	if (!info)
		die("out of memory");
	n = list_sessions(fd, info, 256);
	for (int i = 0; i < n && i < 256; i++) {
		int ret = -EINVAL;

		if (info[i].state == KHOPAGES_STATE_COMMITTED)
			ret = finish(fd, info[i].name, KHOPAGES_FINISH_OUTGOING);
		else if (info[i].state == KHOPAGES_STATE_INCOMING)
			ret = finish(fd, info[i].name, 0);
		if (ret == -EBUSY)
			busy++;
		if (ret) {
			printf("cleanup: session %s (%s, %" PRIu64 " pages) cannot be removed: %s\n",
			       info[i].name, state_name(info[i].state),
			       (uint64_t)info[i].nr_pages,
			       ret == -EINVAL ? "no file holds it any more" :
			       strerrorname_np(-ret));
			stuck++;
		}
	}
	left = list_sessions(fd, info, 256);
	if (left > 0) {
		for (int i = 0; i < left && i < 256; i++)
			printf("left: session %s state %s pages %" PRIu64 "\n",
			       info[i].name, state_name(info[i].state),
			       (uint64_t)info[i].nr_pages);
	}
	free(info);
	close(fd);
	(void)busy;
	return left < 0 ? 1000 : left + (left ? 0 : stuck);
}

static void summary(int left, double secs)
{
	uint64_t calls = atomic_load(&sh->calls);

	printf("calls %" PRIu64 ", errors by errno:", calls);
	for (int e = 0; e < NR_ERRNO; e++) {
		uint64_t n = atomic_load(&sh->by_errno[e]);

		if (n)
			printf(" %s %" PRIu64 ",",
			       e && strerrorname_np(e) ? strerrorname_np(e) : "other", n);
	}
	printf(" ok %" PRIu64 "; sessions left %d\n", atomic_load(&sh->ok), left);
	printf("time %.1fs, %.0f calls/s; by op:", secs, secs > 0 ? calls / secs : 0);
	for (int i = 0; i < NR_OPS; i++)
		if (atomic_load(&sh->by_op[i]))
			printf(" %s %" PRIu64, op_names[i], atomic_load(&sh->by_op[i]));
	printf("\n");
	for (int i = 0; i < NR_OPS; i++) {
		if (!atomic_load(&sh->by_op[i]))
			continue;
		printf("  %-8s ok %" PRIu64, op_names[i], atomic_load(&sh->op_errno[i][0]));
		for (int e = 1; e < NR_ERRNO; e++) {
			uint64_t n = atomic_load(&sh->op_errno[i][e]);

			if (n)
				printf(", %s %" PRIu64,
				       strerrorname_np(e) ? strerrorname_np(e) : "?", n);
		}
		printf("\n");
	}
	if (opt.fault)
		printf("fault injection: armed %" PRIu64 " times, injected %" PRIu64 "\n",
		       atomic_load(&sh->faults_armed), atomic_load(&sh->faults_hit));
	if (nr_recs)
		printf("mapped pages verified %" PRIu64 ", wrong %" PRIu64 "\n",
		       atomic_load(&sh->verified_pages),
		       atomic_load(&sh->corrupt_pages));
}

/*
 * A hang is a kernel bug too: print the kernel stack of every task that is
 * blocked (D) or still in one of our processes, to stdout and the console
 * (the log file may sit on a file system that hangs with it).
 */
static void dump_stacks(const char *why)
{
	char path[600], buf[4096], stat[512];
	int con = open("/dev/console", O_WRONLY | O_NOCTTY);
	DIR *proc = opendir("/proc");
	struct dirent *pe;

	dprintf(1, "HANG: %s; kernel stacks of blocked tasks:\n", why);
	if (con >= 0)
		dprintf(con, "khopages_fuzz HANG: %s; kernel stacks of blocked tasks:\n", why);
	while (proc && (pe = readdir(proc))) {
		DIR *tasks;
		struct dirent *te;

		if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", pe->d_name);
		tasks = opendir(path);
		while (tasks && (te = readdir(tasks))) {
			ssize_t n;
			char *st;
			int fd;

			if (te->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/stat",
				 pe->d_name, te->d_name);
			fd = open(path, O_RDONLY);
			n = fd >= 0 ? read(fd, stat, sizeof(stat) - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			stat[n] = 0;
			st = strrchr(stat, ')');
			if (!st || (st[2] != 'D' && !strstr(stat, "(khopages_fuzz)")))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/stack",
				 pe->d_name, te->d_name);
			fd = open(path, O_RDONLY);
			n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
			if (fd >= 0)
				close(fd);
			buf[n > 0 ? n : 0] = 0;
			*(st + 3) = 0;
			dprintf(1, "--- task %s %s\n%s", te->d_name, stat, buf);
			if (con >= 0)
				dprintf(con, "--- task %s %s\n%s", te->d_name, stat, buf);
		}
		if (tasks)
			closedir(tasks);
	}
	if (proc)
		closedir(proc);
	if (con >= 0)
		close(con);
}

/* After the run, the clean-up must end within a few minutes. */
static _Atomic int cleanup_done;

static void *watchdog_main(void *arg)
{
	int limit = *(int *)arg;

	for (int i = 0; i < limit * 10; i++) {
		if (atomic_load(&cleanup_done))
			return NULL;
		sleep_us(100000);
	}
	dump_stacks("the clean-up did not end");
	printf("FAIL: the clean-up did not end within %ds (hang in the kernel?)\n", limit);
	fflush(stdout);
	_exit(1);
}

static int do_run(void)
{
	pthread_t th[MAX_THREADS], reaper, watchdog;
	static int cleanup_limit = 180;
	struct worker *ws;
	int left, bad = 0, fd;
	double secs;

	if (nr_recs || nr_rsess) {
		fd = open(dev_path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die("open %s: %s", dev_path, strerror(errno));
		bad += check_incoming(fd);
		close(fd);
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (int s = 0; s < NR_SLOTS; s++) {
		pthread_rwlock_init(&slots[s].lock, NULL);
		slots[s].fd = open(dev_path, O_RDWR | O_CLOEXEC);
		if (slots[s].fd < 0)
			die("open %s: %s", dev_path, strerror(errno));
	}
	if (pthread_create(&reaper, NULL, reaper_main, NULL))
		die("pthread_create failed");
	pthread_mutex_lock(&holder_lock);
	for (int i = 0; i < NR_HOLDERS; i++)
		holder_spawn(i, opt.seed + i);
	pthread_mutex_unlock(&holder_lock);
	setup_window(window(SELF_SLOT), opt.seed + 100, false);
	for (int i = 0; i < NR_WINDOWS; i++) {
		pthread_rwlock_init(&land[i].lock, NULL);
		land_make(i, LK_RW);
	}
	ws = calloc(opt.threads, sizeof(*ws));
	if (!ws)
		die("out of memory");
	for (unsigned int i = 0; i < opt.threads; i++) {
		ws[i].id = i;
		if (pthread_create(&th[i], NULL, worker_main, &ws[i]))
			die("pthread_create failed");
	}
	/* Progress, and a watchdog: the workers must stop soon after the end. */
	for (double next = 10;; ) {
		sleep_us(200000);
		if (now_s() >= next || stopping()) {
			printf("progress: %.0fs, %" PRIu64 " calls\n", now_s(),
			       atomic_load(&sh->calls));
			fflush(stdout);
			next += 10;
		}
		if (stopping())
			break;
	}
	atomic_store(&sh->stop, 1);
	for (unsigned int i = 0; i < opt.threads; i++) {
		struct timespec ts;
		int err;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 120;
		err = pthread_timedjoin_np(th[i], NULL, &ts);
		if (err) {
			dump_stacks("a worker did not stop");
			printf("FAIL: worker %u did not stop within 120s (hang in the kernel?)\n", i);
			fflush(stdout);
			_exit(1);
		}
	}
	secs = now_s();
	if (pthread_create(&watchdog, NULL, watchdog_main, &cleanup_limit))
		die("pthread_create failed");
	left = cleanup();
	atomic_store(&cleanup_done, 1);
	pthread_join(watchdog, NULL);
	atomic_store(&sh->stop, 2);
	pthread_join(reaper, NULL);
	summary(left, secs);
	if (atomic_load(&sh->corrupt_pages))
		bad++;
	if (bad)
		printf("FAIL: %d check(s) failed\n", bad);
	return left || bad ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* prepare: sessions for the next kernel                               */

static int name_ioctl(int fd, unsigned long cmd, const char *name)
{
	struct khopages_name_arg a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	return ioctl(fd, cmd, &a) ? -errno : 0;
}

static int preserve(int fd, int pid, uint64_t start, uint64_t len)
{
	struct khopages_preserve p;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.pid = pid;
	p.start = start;
	p.len = len;
	return ioctl(fd, KHOPAGES_IOC_PRESERVE, &p) ? -errno : 0;
}

struct prep_range {
	int who;		/* 0: holder 0, 1: its child, 2: holder 1 */
	enum rkind k;
	uint64_t off, len;	/* within the region; len 0: whole */
};

static int do_prepare(const char *path)
{
	static const struct {
		const char *name;
		struct prep_range r[6];
	} plan[] = {
		{ "fzin-a", { { 0, RK_ANON, 0, 0 }, { 0, RK_THP, 0, 0 },
			      { 0, RK_COW, 0, 0 }, { 1, RK_COW, 0, 0 },
			      { 1, RK_ANON, 0, 0 }, { -1, 0, 0, 0 } } },
		/* holder 0's THP and COW pages again: shared folios */
		{ "fzin-b", { { 0, RK_THP, 0, 0 }, { 2, RK_ANON, 0, 0 },
			      { 2, RK_THP, 0, 0 }, { 1, RK_COW, 0, 2 * MIB },
			      { -1, 0, 0, 0 } } },
		{ "fzin-c", { { 2, RK_SPARSE, 0, 0 }, { 2, RK_RWRO, 0, 0 },
			      { 2, RK_ZERO, 0, 0 }, { 2, RK_NONE, 0, 0 },
			      { -1, 0, 0, 0 } } },
		{ "fzin-empty", { { -1, 0, 0, 0 } } },
		{ NULL /* 63 characters */, { { 2, RK_ANON, MIB, PG }, { -1, 0, 0, 0 } } },
	};
	int pids[3], fds[sizeof(plan) / sizeof(plan[0])];
	char longname[KHOPAGES_NAME_MAX];
	uint64_t seeds[3] = { 0x1111, 0x1112, 0x2222 };
	FILE *f;
	int pipefd[2];

	f = fopen(path, "w");
	if (!f)
		die("cannot write %s: %s", path, strerror(errno));
	/* Two holders with full patterns; holder 0's child is the third. */
	for (int h = 0; h < 2; h++) {
		int gp = 0;

		if (pipe(pipefd))
			die("pipe: %s", strerror(errno));
		pids[h * 2] = fork();
		if (pids[h * 2] < 0)
			die("fork: %s", strerror(errno));
		if (!pids[h * 2]) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			setup_window(window(h), seeds[h * 2], true);
			gp = h ? 0 : spawn_grandchild(window(h), seeds[h * 2], true);
			if (write(pipefd[1], &gp, sizeof(gp)) != sizeof(gp))
				_exit(1);
			for (;;)
				pause();
		}
		close(pipefd[1]);
		if (read(pipefd[0], &gp, sizeof(gp)) != sizeof(gp))
			die("holder %d did not start", h);
		close(pipefd[0]);
		if (!h)
			pids[1] = gp;
	}
	/* pids: [0] holder 0, [1] its child, [2] holder 1 */
	memset(longname, 'n', KHOPAGES_NAME_MAX - 1);
	memcpy(longname, "fzin-", 5);
	longname[KHOPAGES_NAME_MAX - 1] = 0;
	for (unsigned int i = 0; i < sizeof(plan) / sizeof(plan[0]); i++) {
		const char *name = plan[i].name ? plan[i].name : longname;
		struct khopages_stats st;

		fds[i] = open(dev_path, O_RDWR | O_CLOEXEC);
		if (fds[i] < 0 || name_ioctl(fds[i], KHOPAGES_IOC_CREATE, name))
			die("create %s: %s", name, strerror(errno));
		for (int j = 0; plan[i].r[j].who >= 0; j++) {
			const struct prep_range *r = &plan[i].r[j];
			int who = r->who, h = who == 2 ? 1 : 0;
			uint64_t start = window(h) + rdefs[r->k].off + r->off;
			uint64_t len = r->len ? r->len : rdefs[r->k].len;
			uint64_t seed = who == 1 && r->k == RK_ANON ? seeds[0] + 1 :
					seeds[who == 2 ? 2 : 0];
			int ret = preserve(fds[i], pids[who], start, len);

			if (ret)
				die("preserve %s pid %d %#" PRIx64 "+%#" PRIx64 ": %s",
				    name, pids[who], start, len,
				    strerrorname_np(-ret));
			fprintf(f, "range %s %d %" PRIx64 " %" PRIx64 " %" PRIx64 " %d\n",
				name, pids[who], start, len, seed,
				r->k == RK_ANON || r->k == RK_THP || r->k == RK_COW ||
				r->k == RK_SPARSE || r->k == RK_RWRO);
		}
		if (ioctl(fds[i], KHOPAGES_IOC_COMMIT, 0))
			die("commit %s: %s", name, strerror(errno));
		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		strcpy(st.name, name);
		if (ioctl(fds[i], KHOPAGES_IOC_STATS, &st))
			die("stats %s: %s", name, strerror(errno));
		fprintf(f, "session %s %" PRIu64 " %" PRIu64 "\n", name,
			(uint64_t)st.info.nr_pages, (uint64_t)st.info.nr_folios);
		printf("committed %s: %" PRIu64 " pages, %" PRIu64 " folios, %u pids\n",
		       name, (uint64_t)st.info.nr_pages,
		       (uint64_t)st.info.nr_folios, st.info.nr_pids);
	}
	if (fclose(f))
		die("cannot write %s", path);
	for (int i = 0; i < 3; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	/* The files close; committed sessions stay for the next kernel. */
	return 0;
}

/* ------------------------------------------------------------------ */
/* verify: every recorded range, mapped on its own, holds its data      */

static int do_verify(const char *path)
{
	int fds[MAX_SESSIONS], bad = 0;
	unsigned int first_dense = UINT_MAX;
	uint64_t len;

	load_records(path);
	/* A dense range with no other range of its pid and session above it. */
	for (unsigned int r = 0; r < nr_recs && first_dense == UINT_MAX; r++) {
		bool last = recs[r].dense;

		for (unsigned int o = 0; o < nr_recs && last; o++)
			last = recs[o].pid != recs[r].pid || recs[o].start <= recs[r].start ||
			       strcmp(recs[o].name, recs[r].name);
		if (last)
			first_dense = r;
	}
	for (unsigned int i = 0; i < nr_rsess; i++) {
		fds[i] = open(dev_path, O_RDWR | O_CLOEXEC);
		if (fds[i] < 0 || name_ioctl(fds[i], KHOPAGES_IOC_OPEN, rsess[i].name))
			die("OPEN %s: %s", rsess[i].name, strerror(errno));
	}
	for (unsigned int r = 0; r < nr_recs; r++) {
		const struct record *rc = &recs[r];
		uint64_t pages = rc->len / PG, wrong = 0, zero = 0;
		struct khopages_map m;
		unsigned int si = 0;
		uint8_t *area;
		uint64_t dst;
		int ret;

		while (si < nr_rsess && strcmp(rsess[si].name, rc->name))
			si++;
		if (si == nr_rsess)
			die("no session %s in the records", rc->name);
		/*
		 * One dense range is asked for with a length reaching to
		 * the top of user space (tens of TiB): the kernel must size
		 * its work by what was recorded, not by the length asked for.
		 */
		len = r == first_dense ? ((USER_TOP - rc->start) & ~(HUGE - 1)) : rc->len;
		/* A fresh region, congruent to the range modulo 2 MiB. */
		area = mmap(NULL, len + 2 * HUGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (area == MAP_FAILED)
			die("mmap of %#" PRIx64 " bytes: %s", len + 2 * HUGE, strerror(errno));
		dst = (((uint64_t)(uintptr_t)area + HUGE - 1) & ~(HUGE - 1)) +
		      rc->start % HUGE;
		memset(&m, 0, sizeof(m));
		m.size = sizeof(m);
		m.pid = rc->pid;
		m.orig_va = rc->start;
		m.dst_va = dst;
		m.len = len;
		ret = ioctl(fds[si], KHOPAGES_IOC_MAP, &m) ? -errno : 0;
		for (uint64_t pg = 0; !ret && pg < pages; pg++) {
			const uint64_t *d = (const uint64_t *)(uintptr_t)(dst + pg * PG);
			unsigned int b = 0, z = 0;

			for (unsigned int j = 0; j < PG / 8; j++) {
				b += d[j] != pattern(rc->seed, rc->start + pg * PG + j * 8);
				z += !d[j];
			}
			wrong += b != 0;
			zero += z == PG / 8;
		}
		printf("%s pid %d %#" PRIx64 "+%#" PRIx64 ": MAP%s %s, mapped %llu shared %llu copied %llu of %" PRIu64
		       " pages; %" PRIu64 " pages wrong (%" PRIu64 " all zero)%s\n",
		       rc->name, rc->pid, rc->start, rc->len,
		       len != rc->len ? " (asked for up to the top of user space)" : "",
		       ret ? strerrorname_np(-ret) : "ok",
		       (unsigned long long)m.nr_mapped, (unsigned long long)m.nr_shared,
		       (unsigned long long)m.nr_copied, pages, wrong, zero,
		       rc->dense ? "" : " (sparse: not checked)");
		if (rc->dense && (ret || wrong ||
				  m.nr_mapped + m.nr_shared + m.nr_copied != pages)) {
			printf("FAIL: %s pid %d %#" PRIx64 ": the mapped range does not hold what was preserved\n",
			       rc->name, rc->pid, rc->start);
			bad++;
		}
		munmap(area, len + 2 * HUGE);
	}
	for (unsigned int i = 0; i < nr_rsess; i++) {
		close(fds[i]);
		fds[i] = open(dev_path, O_RDWR | O_CLOEXEC);
		if (fds[i] < 0 || name_ioctl(fds[i], KHOPAGES_IOC_FINISH, rsess[i].name))
			printf("FAIL: FINISH %s: %s\n", rsess[i].name, strerror(errno)), bad++;
		close(fds[i]);
	}
	printf("%u ranges checked, %d bad\n", nr_recs, bad);
	return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: khopages_fuzz run [--calls N] [--seconds S] [--threads T] [--seed X]\n"
		"                         [--records FILE] [--fault] [--verbose]\n"
		"       khopages_fuzz prepare FILE [--no-thp]\n"
		"       khopages_fuzz verify FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/khopages_fuzz.XXXXXX";

	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (getenv("KHOPAGES_DEVICE"))
		dev_path = getenv("KHOPAGES_DEVICE");
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	/* A private file mapping target: a deleted file, gone at exit. */
	tmp_file_fd = mkstemp(tmpl);
	if (tmp_file_fd >= 0) {
		unlink(tmpl);
		if (ftruncate(tmp_file_fd, 2 * MIB)) {
			close(tmp_file_fd);
			tmp_file_fd = -1;
		}
	}
	if (!strcmp(argv[1], "prepare")) {
		if (argc == 4 && !strcmp(argv[3], "--no-thp"))
			no_thp = true;
		else if (argc != 3)
			usage();
		return do_prepare(argv[2]);
	}
	if (!strcmp(argv[1], "verify") && argc == 3)
		return do_verify(argv[2]);
	if (strcmp(argv[1], "run"))
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--fault")) {
			opt.fault = true;
		} else if (!strcmp(a, "--verbose")) {
			opt.verbose = true;
		} else if (!v) {
			usage();
		} else if (!strcmp(a, "--calls")) {
			opt.max_calls = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--seconds")) {
			opt.seconds = strtoul(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--threads")) {
			opt.threads = strtoul(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--seed")) {
			opt.seed = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--records")) {
			opt.records = v;
			i++;
		} else {
			usage();
		}
	}
	if (!opt.threads || opt.threads > MAX_THREADS)
		die("--threads must be 1..%d", MAX_THREADS);
	if (!opt.seed)
		opt.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (opt.records)
		load_records(opt.records);
	deadline = opt.seconds;
	printf("khopages_fuzz: seed %#" PRIx64 ", %u threads, up to %" PRIu64
	       " calls or %us%s%s, %u incoming ranges\n", opt.seed, opt.threads,
	       opt.max_calls, opt.seconds, opt.fault ? ", fault injection" : "",
	       opt.records ? ", records" : "", nr_recs);
	return do_run();
}
