// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_fuzz: across a kexec: the sessions prepare hands over through
 * Live Update (a holder keeps each Live Update session open until the
 * kexec), their retrieval after it, verify mapping them back, and the
 * records a run checks them against.
 */
#include "khopages_fuzz.h"

/* ------------------------------------------------------------------ */
/* Records of the sessions handed over                                 */

void load_records(const char *path)
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

/*
 * The retrieved khopages file @fd of recorded session @si: attached to it,
 * as it was handed over. Returns 0, or 1 (printed) when it is not.
 */
int check_retrieved(unsigned int si, int fd)
{
	const struct rec_session *r = &rsess[si];
	struct khopages_stats st;

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	strcpy(st.name, r->name);
	if (ioctl(fd, KHOPAGES_IOC_STATS, &st)) {
		printf("FAIL: retrieved session %s: STATS %s\n", r->name, strerrorname_np(errno));
		return 1;
	}
	if (st.info.state != KHOPAGES_STATE_RETRIEVED || st.info.nr_pages != r->pages ||
	    st.info.nr_folios != r->folios) {
		printf("FAIL: retrieved session %s: state %s, %" PRIu64 " pages, %" PRIu64
		       " folios; handed over %" PRIu64 " pages, %" PRIu64 " folios\n", r->name,
		       khop_state_name(st.info.state), (uint64_t)st.info.nr_pages,
		       (uint64_t)st.info.nr_folios, r->pages, r->folios);
		return 1;
	}
	printf("retrieved session %s: %" PRIu64 " pages, %" PRIu64 " folios, as handed over\n",
	       r->name, r->pages, r->folios);
	return 0;
}

/*
 * The khopages file of recorded session @si, from its Live Update session
 * (retrieved already) under @token, checked, into kept[@si]; the Live
 * Update session is then finished and closed. 0, or the negative errno of
 * the retrieve, the Live Update session left as it was. Context:
 * luo_in_lock held, or no other thread yet.
 */
int retrieve_file(unsigned int si, uint64_t token)
{
	int ret = khop_luo_retrieve_fd(luo_in[si], token, &kept[si]);

	if (ret)
		return ret;
	if (check_retrieved(si, kept[si]))
		atomic_fetch_add(&sh->bad_incoming, 1);
	if (khop_luo_finish(luo_in[si])) {
		printf("FAIL: %s\n", khop_luo_error());
		atomic_fetch_add(&sh->bad_incoming, 1);
	}
	close(luo_in[si]);
	luo_in[si] = -1;
	return 0;
}

/*
 * After the kexec, before the run: retrieve the Live Update session of
 * every recorded session, and the khopages file of every other one (kept,
 * a copy into a slot of the incoming half, whose file it replaces); the
 * others' files are for OP_LUO_RETRIEVE. Sessions that share frames
 * alternate (fzin-a and fzin-b), so a session may be retrieved late after
 * one sharing its frames was released.
 * Returns how many failed (printed).
 */
int take_incoming(void)
{
	int bad = 0;

	for (unsigned int i = 0; i < nr_rsess; i++) {
		int s = (NR_SLOTS / 2 + i) % NR_SLOTS;

		luo_in[i] = -1;
		kept[i] = -1;
		if (khop_luo_retrieve(rsess[i].name, &luo_in[i])) {
			printf("FAIL: %s\n", khop_luo_error());
			bad++;
			continue;
		}
		if (i % 2)
			continue;
		if (retrieve_file(i, KHOP_LUO_TOKEN_PAGES)) {
			printf("FAIL: %s\n", khop_luo_error());
			bad++;
			continue;
		}
		close(slots[s].fd);
		slots[s].fd = dup(kept[i]);
	}
	return bad;
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

int preserve(int fd, int pid, uint64_t start, uint64_t len)
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

int do_prepare(const char *path)
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
	char longname[KHOPAGES_NAME_MAX], pidfile[128];
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
		snprintf(pidfile, sizeof(pidfile), "/tmp/khopages_fuzz.%s.pid", name);
		if (kt_hand_over(fds[i], name, pidfile) < 0)
			die("hand over %s: %s", name, kt_handover_error());
		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		strcpy(st.name, name);
		if (ioctl(fds[i], KHOPAGES_IOC_STATS, &st))
			die("stats %s: %s", name, strerror(errno));
		if (st.info.state != KHOPAGES_STATE_PRESERVED)
			die("%s handed over: state %s, not preserved", name,
			    khop_state_name(st.info.state));
		fprintf(f, "session %s %" PRIu64 " %" PRIu64 "\n", name,
			(uint64_t)st.info.nr_pages, (uint64_t)st.info.nr_folios);
		printf("handed over %s: %" PRIu64 " pages, %" PRIu64 " folios, %u pids\n",
		       name, (uint64_t)st.info.nr_pages,
		       (uint64_t)st.info.nr_folios, st.info.nr_pids);
		close(fds[i]);	/* the holder keeps it */
	}
	if (fclose(f))
		die("cannot write %s", path);
	for (int i = 0; i < 3; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	/* The two holders of memory (not the holders of the Live Update sessions). */
	waitpid(pids[0], NULL, 0);
	waitpid(pids[2], NULL, 0);
	/* The holders keep the sessions for the next kernel. */
	return 0;
}

/* ------------------------------------------------------------------ */
/* verify: every recorded range, mapped on its own, holds its data;     */
/* the last close of the retrieved files releases the sessions          */

int do_verify(const char *path)
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
		fds[i] = kt_take_over(rsess[i].name);
		if (fds[i] < 0)
			die("retrieve %s: %s", rsess[i].name, kt_handover_error());
		bad += check_retrieved(i, fds[i]);
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
		struct khopages_stats st;
		int fd, ret;

		close(fds[i]);
		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		strcpy(st.name, rsess[i].name);
		fd = open(dev_path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die("open %s: %s", dev_path, strerror(errno));
		ret = ioctl(fd, KHOPAGES_IOC_STATS, &st) ? -errno : 0;
		if (ret != -ENOENT) {
			printf("FAIL: %s: the last close of its retrieved file did not release it"
			       " (STATS: %s)\n", rsess[i].name,
			       ret ? strerrorname_np(-ret) : "the session is still there");
			bad++;
		}
		close(fd);
	}
	printf("%u ranges checked, %d bad\n", nr_recs, bad);
	return bad ? 1 : 0;
}

