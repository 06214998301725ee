// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_fuzz: a caller's state, its argument arena, and the choice of
 * names, flags, pids and ranges.
 */
#include "khopages_fuzz.h"

/* ------------------------------------------------------------------ */
/* Per-worker state and argument placement                             */


/*
 * The argument arena: two pages seen read-write (followed by a PROT_NONE
 * guard) and read-only. A forked caller makes its own: the pages are
 * shared memory, a child writing them would change its parent's calls.
 * Returns false when it cannot be mapped.
 */
bool arena_init(struct worker *w)
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

void worker_init(struct worker *w, int id)
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
void *place(struct worker *w, void *arg, size_t len, bool sized)
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
int count(enum op op, int ret)
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
int do_ioctl(struct worker *w, enum op op, int fd, unsigned long cmd,
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
int slot_get(struct worker *w, int s)
{
	if (w->child)
		return w->cfd[s];
	pthread_rwlock_rdlock(&slots[s].lock);
	return slots[s].fd;
}

void slot_put(struct worker *w, int s)
{
	if (!w->child)
		pthread_rwlock_unlock(&slots[s].lock);
}

/* ------------------------------------------------------------------ */
/* Argument generators                                                 */

const char *const valid_names[NR_VALID_NAMES] = {
	"fz0", "fz1", "fz2", "fz3", "fz4", "fz5", "fz6", "fz7", ".", "..",
	"-_-.A9z", "fz0.x",
};

void pick_name(struct worker *w, char *name)
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

uint32_t pick_flags(struct worker *w, uint32_t allowed)
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
int pick_slot_for(struct worker *w, int half)
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

int pick_slot(struct worker *w)
{
	return pick_slot_for(w, -1);
}

int pick_pid(struct worker *w, int *slot)
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
void pick_range(struct worker *w, uint64_t base, __u64 *start,
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

