// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_fuzz: the operations the callers pick, and the threads that
 * run them.
 */
#include "khopages_fuzz.h"

/* ------------------------------------------------------------------ */
/* Operations                                                          */

static bool received_name(const char *name)
{
	for (unsigned int i = 0; i < nr_rsess; i++)
		if (!strcmp(rsess[i].name, name))
			return true;
	return false;
}

/*
 * OPEN takes any name: a received session's, or its own on the file of an
 * open session, which takes that session back to restore it in place (its
 * last close releases it). CREATE never takes a received session's name,
 * so that an OPEN of that name on a fresh file always means the received
 * session.
 */
static void pick_cmd_name(struct worker *w, enum op op, char *name)
{
	pick_name(w, name);
	if (op == OP_CREATE && received_name(name))
		name[0] = 'c';
}

/* CREATE on the outgoing half, OPEN on the incoming half. */
static void op_name_cmd(struct worker *w, enum op op, unsigned long cmd)
{
	struct khopages_name_arg a;
	int s, fd;
	void *p;

	s = pick_slot_for(w, op == OP_CREATE ? 0 : 1);
	memset(&a, 0, sizeof(a));
	a.flags = pick_flags(w, 0);
	pick_cmd_name(w, op, a.name);
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

static void op_abort(struct worker *w)
{
	int s = pick_slot_for(w, 0), fd;
	unsigned long arg = 0;

	if (chance(&w->rs, 5))
		arg = chance(&w->rs, 50) ? 1 : (unsigned long)w->rw;
	fd = slot_get(w, s);
	do_ioctl(w, OP_ABORT, fd, KHOPAGES_IOC_ABORT, (void *)arg);
	slot_put(w, s);
}

/* Count a libkhopages call of @op that returned @ret (0 or -errno). */
static void count_lib(enum op op, int ret)
{
	errno = -ret;
	count(op, ret ? -1 : 0);
}

/*
 * Preserve a slot's file (mostly of the outgoing half; sometimes a
 * Live Update session's own file) in one of the Live Update sessions,
 * made first when there is none (not in a forked caller: it preserves
 * into the ones it inherited). The token is mostly khopages' own, else
 * one of a few others: a second file under the same one is refused.
 */
static void op_luo_preserve(struct worker *w)
{
	int e = rnd(&w->rs, NR_LUO), s = pick_slot_for(w, 0), luo, fd, ret;
	uint64_t token = chance(&w->rs, 80) ? KHOP_LUO_TOKEN_PAGES : rnd(&w->rs, 4);
	bool self = chance(&w->rs, 5);

	if (w->child) {
		luo = w->cluo[e];
		if (luo < 0)
			return;
		fd = self ? luo : w->cfd[s];
		count_lib(OP_LUO_PRESERVE, khop_luo_preserve_fd(luo, fd, token));
		return;
	}
	pthread_mutex_lock(&luos[e].lock);
	if (luos[e].fd < 0) {
		static _Atomic unsigned int seq;
		char name[KHOPAGES_NAME_MAX];

		snprintf(name, sizeof(name), "fzl%d-%u", e, atomic_fetch_add(&seq, 1));
		if (khop_luo_create(name, &luos[e].fd))
			luos[e].fd = -1;	/* the device is busy: another time */
	}
	luo = luos[e].fd;
	if (luo >= 0) {
		fd = slot_get(w, s);
		ret = khop_luo_preserve_fd(luo, self ? luo : fd, token);
		slot_put(w, s);
		count_lib(OP_LUO_PRESERVE, ret);
	}
	pthread_mutex_unlock(&luos[e].lock);
}

/*
 * Close an outgoing Live Update session: Live Update takes back what it
 * preserved (the sessions are open again, or gone with their last file).
 * After the kexec, now and then, close the run's own file of a retrieved
 * session instead: the session goes once the slots' copies are closed
 * too, the last close releasing it.
 */
static void op_luo_close(struct worker *w)
{
	int e = rnd(&w->rs, NR_LUO);

	if (!w->child && nr_rsess && chance(&w->rs, 2)) {
		unsigned int i = rnd(&w->rs, nr_rsess);

		pthread_mutex_lock(&luo_in_lock);
		if (kept[i] >= 0)
			count(OP_LUO_CLOSE, close(kept[i]));
		kept[i] = -1;
		pthread_mutex_unlock(&luo_in_lock);
		return;
	}

	if (w->child) {
		if (w->cluo[e] >= 0)
			count(OP_LUO_CLOSE, close(w->cluo[e]));
		w->cluo[e] = -1;
		return;
	}
	pthread_mutex_lock(&luos[e].lock);
	if (luos[e].fd >= 0)
		count(OP_LUO_CLOSE, close(luos[e].fd));
	luos[e].fd = -1;
	pthread_mutex_unlock(&luos[e].lock);
}

/*
 * After the kexec: the khopages file of a received session whose Live
 * Update session the run retrieved but not its file yet, under the right
 * token mostly, into a random slot; or the retrieve of a Live Update
 * session again (one already retrieved, or none by that name).
 */
static void op_luo_retrieve(struct worker *w)
{
	unsigned int i;
	int fd, s, ret;

	if (w->child || !nr_rsess)
		return;
	i = rnd(&w->rs, nr_rsess);
	if (chance(&w->rs, 15)) {
		char name[KHOPAGES_NAME_MAX];

		if (chance(&w->rs, 50))
			strcpy(name, rsess[i].name);
		else
			strcpy(name, valid_names[rnd(&w->rs, NR_VALID_NAMES)]);
		ret = khop_luo_retrieve(name, &fd);
		count_lib(OP_LUO_RETRIEVE, ret);
		if (!ret) {
			printf("FAIL: Live Update session %s retrieved a second time\n", name);
			atomic_fetch_add(&sh->bad_incoming, 1);
			close(fd);
		}
		return;
	}
	pthread_mutex_lock(&luo_in_lock);
	if (luo_in[i] >= 0) {
		ret = retrieve_file(i, chance(&w->rs, 70) ? KHOP_LUO_TOKEN_PAGES :
				    rnd(&w->rs, 4));
		count_lib(OP_LUO_RETRIEVE, ret);
		if (!ret) {
			s = rnd(&w->rs, NR_SLOTS);
			pthread_rwlock_wrlock(&slots[s].lock);
			if (slots[s].fd >= 0)
				close(slots[s].fd);
			slots[s].fd = dup(kept[i]);
			pthread_rwlock_unlock(&slots[s].lock);
		}
	}
	pthread_mutex_unlock(&luo_in_lock);
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
 * A forked caller: inherits the files and the Live Update sessions, makes
 * a few calls (its own file sometimes: CREATE + a long PRESERVE, then
 * into an inherited Live Update session), and either exits on its own or
 * is SIGKILLed by the parent in the middle of whatever it is doing.
 */
static void op_fork(struct worker *w)
{
	int cfd[NR_SLOTS], cluo[NR_LUO], pid;
	long delay;

	if (w->child)
		return;
	for (int s = 0; s < NR_SLOTS; s++)
		cfd[s] = __atomic_load_n(&slots[s].fd, __ATOMIC_RELAXED);
	for (int e = 0; e < NR_LUO; e++)
		cluo[e] = __atomic_load_n(&luos[e].fd, __ATOMIC_RELAXED);
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
		memcpy(c.cluo, cluo, sizeof(cluo));
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
			if (chance(&c.rs, 30) && c.cluo[hs % NR_LUO] >= 0)
				count_lib(OP_LUO_PRESERVE,
					  khop_luo_preserve_fd(c.cluo[hs % NR_LUO], fd,
							       KHOP_LUO_TOKEN_PAGES));
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
void land_make(int ls, enum lkind k)
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
		op_name_cmd(w, op, KHOPAGES_IOC_CREATE);
		break;
	case OP_PRESERVE:
		op_preserve(w);
		break;
	case OP_LUO_PRESERVE:
		op_luo_preserve(w);
		break;
	case OP_ABORT:
		op_abort(w);
		break;
	case OP_OPEN:
		op_name_cmd(w, op, KHOPAGES_IOC_OPEN);
		break;
	case OP_MAP:
		op_map(w);
		break;
	case OP_LUO_CLOSE:
		op_luo_close(w);
		break;
	case OP_LUO_RETRIEVE:
		op_luo_retrieve(w);
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
 * sessions to work on, and only then is there anything to retrieve. */
static enum op pick_op(struct worker *w)
{
	unsigned int wt[NR_OPS] = {
		[OP_CREATE] = 12, [OP_PRESERVE] = 26, [OP_LUO_PRESERVE] = 8,
		[OP_ABORT] = 5, [OP_OPEN] = 4, [OP_MAP] = 4, [OP_LUO_CLOSE] = 4,
		[OP_STATS] = 6, [OP_LIST] = 5, [OP_BADCMD] = 3, [OP_CLOSE] = 2,
		[OP_REOPEN] = 4, [OP_DUP] = 2, [OP_FORK] = 2, [OP_KILL] = 1,
		[OP_CHURN] = 3, [OP_REMAP] = 2, [OP_EVACUATE] = 3,
		[OP_PRESSURE] = 3,
	};
	unsigned int total = 0, r;

	if (nr_recs) {
		wt[OP_OPEN] = 8;
		wt[OP_MAP] = 22;
		wt[OP_LUO_RETRIEVE] = 2;
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

void *worker_main(void *arg)
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
void *reaper_main(void *arg)
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

