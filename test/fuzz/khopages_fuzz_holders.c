// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_fuzz: the holders, processes whose memory of many kinds
 * PRESERVE takes, which change it, exit and are killed meanwhile.
 */
#include "khopages_fuzz.h"

/* ------------------------------------------------------------------ */
/* Holders: processes whose memory the fuzzer preserves                 */

void fill_pages(uint64_t va, uint64_t len, uint64_t seed, bool full,
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

void read_pages(uint64_t va, uint64_t len)
{
	volatile uint64_t sum = 0;

	for (uint64_t p = va; p < va + len; p += PG)
		sum += *(volatile uint64_t *)(uintptr_t)p;
	(void)sum;
}

void *map_at(uint64_t addr, uint64_t len, int prot, int flags, int fd)
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
void setup_window(uint64_t base, uint64_t seed, bool full)
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
int spawn_grandchild(uint64_t base, uint64_t seed, bool full)
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
void holder_spawn(int slot, uint64_t seed)
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

