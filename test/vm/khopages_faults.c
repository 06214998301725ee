// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_faults: the driver-side helpers of the fault tests
 * (test/criu/faults-guest.sh). Sessions go to the next kernel through Live
 * Update (test/lib/handover.h).
 *
 *   khopages_faults kill-on-preserve PID SECONDS MIN_PIDS
 *       poll LIST; once an open session holds pages of MIN_PIDS processes,
 *       SIGKILL PID (a `criu dump --kho-pages` in the middle of its
 *       PRESERVE calls)
 *   khopages_faults preserve-exit MIB ROUNDS
 *       a frozen child of MIB MiB is SIGKILLed and reaped by another
 *       thread while PRESERVE takes its memory; the call must succeed
 *       with every page or fail with ESRCH, leave the session consistent,
 *       and ABORT, close, or handing the file over to a Live Update
 *       session whose holder then ends must give every page back
 *   khopages_faults two-sessions hand-over FILE MIB
 *       two sessions preserve the same range of one child and are handed
 *       over in Live Update sessions of their names, each kept by a
 *       holder process; FILE describes them for the next kernel
 *   khopages_faults two-sessions take-over FILE
 *       after kexec: both are listed as incoming with all their pages; the
 *       first one is retrieved and released (its file closed) before the
 *       second is retrieved, which must keep the frames the second one
 *       names; the second is retrieved, mapped from its frames and checked
 *       byte for byte; closing its file releases it without touching the
 *       mapped pages, and all the memory comes back
 *   khopages_faults hog MIB
 *       memory pressure until killed: hold MIB MiB and keep replacing it
 *
 * Each mode reports in TAP (test/lib/ktap.h): a case per step that
 * behaved, and a first failure ends the mode ("not ok N - cannot go on #
 * what", then "Bail out!"). Exit status 0 when everything behaved, else 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handover.h"
#include "khopages.h"
#include "khopages_testlib.h"
#include "ktap.h"

#define SEED_EXIT	0x5151
#define SEED_TWIN	0x7272
#define TWIN_A		"fault-twin-a"
#define TWIN_B		"fault-twin-b"
/* The holder of preserve-exit's Live Update session. */
#define EXIT_HOLDER	"/tmp/fault-exit-holder.pid"
/* Slab, page tables and per-CPU lists move a few MiB by themselves. */
#define MARGIN_KB	(8 * 1024)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms * 1e6) % 1000000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static struct khop *open_dev(void)
{
	struct khop *k;

	if (khop_open(&k))
		ktap_bail("%s", khop_open_error());
	return k;
}

/* Free memory once freed pages have settled; waits up to 5 s for @want. */
static long settled_free_kb(long want)
{
	kt_settle();
	return kt_wait_free(want, 5000);
}

/* Sessions whose name starts with @prefix. */
static size_t sessions_named(struct khop *k, const char *prefix)
{
	struct khopages_session_info *infos;
	size_t nr, i, n = 0;

	if (khop_list(k, &infos, &nr))
		ktap_bail("LIST: %s", khop_error(k));
	for (i = 0; i < nr; i++)
		n += !strncmp(infos[i].name, prefix, strlen(prefix));
	free(infos);
	return n;
}

/* Bail out unless session @name is in state @state with @pages pages. */
static void expect_session(struct khop *k, const char *name, uint32_t state, uint64_t pages)
{
	struct khopages_session_info info;

	if (khop_stats(k, name, &info))
		ktap_bail("STATS %s: %s", name, khop_error(k));
	if (info.state != state || info.nr_pages != pages)
		ktap_bail("%s: state %s with %" PRIu64 " pages, expected %s with %" PRIu64, name,
			  khop_state_name(info.state), (uint64_t)info.nr_pages,
			  khop_state_name(state), pages);
}

/* A child holding @mib MiB filled with @seed at a 2 MiB aligned address. */
static pid_t spawn_target(uint64_t mib, uint64_t seed, uint64_t *addr)
{
	uint64_t len = mib * KT_MIB;
	int p[2];
	pid_t pid;

	if (pipe(p))
		ktap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		ktap_bail("fork: %s", strerror(errno));
	if (!pid) {
		void *m = kt_map_aligned(len, KT_HUGE);

		if (m == MAP_FAILED)
			_exit(2);
		kt_fill(m, len, seed, (uint64_t)(uintptr_t)m);
		*addr = (uint64_t)(uintptr_t)m;
		if (kt_write_all(p[1], addr, sizeof(*addr)))
			_exit(2);
		for (;;)
			pause();
	}
	close(p[1]);
	if (kt_read_all(p[0], addr, sizeof(*addr)))
		ktap_bail("target %d did not start", pid);
	close(p[0]);
	return pid;
}

/* ------------------------------------------------------------------ */

static int kill_on_preserve(pid_t pid, double seconds, unsigned int min_pids)
{
	double end = now_ms() + seconds * 1000;
	struct khop *k = open_dev();

	while (now_ms() < end) {
		struct khopages_session_info *infos;
		size_t nr, i;

		if (kill(pid, 0))
			ktap_bail("process %d ended before any page was preserved", pid);
		if (khop_list(k, &infos, &nr))
			ktap_bail("LIST: %s", khop_error(k));
		for (i = 0; i < nr; i++) {
			if (infos[i].state != KHOPAGES_STATE_OPEN || !infos[i].nr_pages ||
			    infos[i].nr_pids < min_pids)
				continue;
			kill(pid, SIGKILL);
			ktap_diag("killed %d: session %s open, %" PRIu64 " pages of %u pids preserved",
				  pid, infos[i].name, (uint64_t)infos[i].nr_pages, infos[i].nr_pids);
			ktap_pass("the dump was killed while its session was open");
			free(infos);
			khop_close(k);
			return ktap_finish();
		}
		free(infos);
		sleep_ms(1);
	}
	ktap_bail("no open session with pages of %u processes within %.0f s", min_pids, seconds);
}

/* ------------------------------------------------------------------ */

struct killer {
	pid_t pid;
	double delay_ms;
	atomic_int go;		/* set right before the ioctl */
	atomic_int in_call;	/* cleared right after it */
	bool reaped_in_call;
};

static void *killer_main(void *arg)
{
	struct killer *kl = arg;
	int st;

	while (!atomic_load(&kl->go))
		;
	sleep_ms(kl->delay_ms);
	kill(kl->pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(kl->pid, &st, __WALL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st))
			break;
	}
	kl->reaped_in_call = atomic_load(&kl->in_call);
	return NULL;
}

/* How the session is ended after the call, one per round in turn. */
enum { END_ABORT, END_CLOSE, END_WITHDRAW, NR_ENDS };
static const char *const end_names[] = { "ABORT", "close", "Live Update + withdraw" };

static void end_session(struct khop *k, const char *name, uint64_t pages, int how)
{
	struct khop *w;

	switch (how) {
	case END_ABORT:
		if (khop_abort(k))
			ktap_bail("ABORT %s: %s", name, khop_error(k));
		khop_close(k);
		break;
	case END_CLOSE:
		khop_close(k);
		break;
	default:
		/* Its holder keeps the file: the session stays preserved... */
		if (kt_hand_over(khop_fd(k), name, EXIT_HOLDER) < 0)
			ktap_bail("hand %s over: %s", name, kt_handover_error());
		khop_close(k);
		w = open_dev();
		expect_session(w, name, KHOPAGES_STATE_PRESERVED, pages);
		khop_close(w);
		/* ...until the holder ends, taking the only file with it. */
		if (kt_withdraw(EXIT_HOLDER))
			ktap_bail("withdraw %s: %s", name, kt_handover_error());
	}
}

static int preserve_exit(uint64_t mib, int rounds)
{
	uint64_t len = mib * KT_MIB, pages = len / KT_PAGE, addr;
	double call_ms = 0, delay;
	int r, during = 0;
	long base, after;
	struct khop *k;

	base = settled_free_kb(0);
	ktap_diag("free before: %ld kB", base);
	for (r = 0; r <= rounds; r++) {
		struct khopages_preserve res = { 0 };
		struct killer kl = { 0 };
		char name[32];
		pthread_t th;
		double t0;
		int ret;

		snprintf(name, sizeof(name), "fault-exit-%d", r);
		kl.pid = spawn_target(mib, SEED_EXIT, &addr);
		ret = kt_freeze(kl.pid);
		if (ret)
			ktap_bail("freeze %d: %s", kl.pid, ktap_errname(ret));
		k = open_dev();
		if (khop_create(k, name))
			ktap_bail("CREATE %s: %s", name, khop_error(k));
		/* Round 0 measures the call; the others kill at a fraction of it. */
		delay = r ? call_ms * (rounds + 1 - r) / (rounds + 1) : 0;
		kl.delay_ms = delay;
		if (r && pthread_create(&th, NULL, killer_main, &kl))
			ktap_bail("pthread_create");
		atomic_store(&kl.in_call, 1);
		atomic_store(&kl.go, 1);
		t0 = now_ms();
		ret = khop_preserve(k, kl.pid, addr, len, &res);
		atomic_store(&kl.in_call, 0);
		t0 = now_ms() - t0;
		if (r)
			pthread_join(th, NULL);
		else
			kt_kill_wait(kl.pid);

		ktap_diag("round %d: kill after %.0f ms, PRESERVE took %.0f ms: %s, %" PRIu64
			  " pages; target reaped %s the call", r, delay, t0,
			  ret ? ktap_errname(ret) : "ok", (uint64_t)res.nr_pages,
			  !r ? "after" : kl.reaped_in_call ? "during" : "after");
		if (!r) {
			if (ret || res.nr_pages != pages)
				ktap_bail("PRESERVE of a live target: %s, %" PRIu64 " of %" PRIu64 " pages",
					  ret ? khop_error(k) : "ok", (uint64_t)res.nr_pages, pages);
			call_ms = t0;
		}
		during += r && kl.reaped_in_call;
		/* All or nothing: the session holds exactly what the call said. */
		if (ret && ret != -ESRCH)
			ktap_bail("PRESERVE while the target exits: %s (expected success or ESRCH)",
				  khop_error(k));
		if (!ret && res.nr_pages != pages)
			ktap_bail("PRESERVE succeeded with %" PRIu64 " of %" PRIu64 " pages",
				  (uint64_t)res.nr_pages, pages);
		expect_session(k, name, KHOPAGES_STATE_OPEN, res.nr_pages);
		/* The pid is gone now: a clear ESRCH. */
		ret = khop_preserve(k, kl.pid, addr, len, NULL);
		if (ret != -ESRCH)
			ktap_bail("PRESERVE of a reaped pid: %s, expected ESRCH",
				  ret ? khop_error(k) : "ok");
		end_session(k, name, res.nr_pages, r % NR_ENDS);
		k = open_dev();
		if (sessions_named(k, "fault-exit-"))
			ktap_bail("session %s is left after %s", name, end_names[r % NR_ENDS]);
		khop_close(k);
		snprintf(name, sizeof(name), "round %d", r);
		ktap_diag("%s: %s: no session left", name, end_names[r % NR_ENDS]);
		ktap_pass(name);
	}
	if (!during)
		ktap_bail("the target was never reaped while PRESERVE ran (call %.0f ms)", call_ms);
	after = settled_free_kb(base - MARGIN_KB);
	ktap_diag("free after: %ld kB (%+ld kB); target reaped during the call in %d of %d rounds",
		  after, after - base, during, rounds);
	if (after < base - MARGIN_KB)
		ktap_bail("%ld kB of memory not given back", base - after);
	ktap_pass("the target was reaped during PRESERVE, and its memory came back");
	return ktap_finish();
}

/* ------------------------------------------------------------------ */

/* The holder's pid file of twin @name, in this kernel's RAM. */
static void twin_holder_file(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/tmp/%s-holder.pid", name);
}

static int twins_hand_over(const char *path, uint64_t mib)
{
	uint64_t len = mib * KT_MIB, pages = len / KT_PAGE, addr;
	static const char *const names[] = { TWIN_A, TWIN_B };
	char pidfile[64];
	struct khop *k;
	pid_t pid, h;
	FILE *f;
	int i, ret;

	pid = spawn_target(mib, SEED_TWIN, &addr);
	ret = kt_freeze(pid);
	if (ret)
		ktap_bail("freeze %d: %s", pid, ktap_errname(ret));
	for (i = 0; i < 2; i++) {
		struct khopages_preserve res = { 0 };

		k = open_dev();
		if (khop_create(k, names[i]) || khop_preserve(k, pid, addr, len, &res))
			ktap_bail("session %s: %s", names[i], khop_error(k));
		if (res.nr_pages != pages)
			ktap_bail("%s preserved %" PRIu64 " of %" PRIu64 " pages", names[i],
				  (uint64_t)res.nr_pages, pages);
		twin_holder_file(pidfile, sizeof(pidfile), names[i]);
		h = kt_hand_over(khop_fd(k), names[i], pidfile);
		if (h < 0)
			ktap_bail("hand %s over: %s", names[i], kt_handover_error());
		khop_close(k);
		ktap_diag("%s: %" PRIu64 " pages, %" PRIu64 " folios, in Live Update session %s held by %d",
			  names[i], (uint64_t)res.nr_pages, (uint64_t)res.nr_folios, names[i], (int)h);
		ktap_pass(names[i]);
	}
	/* The sessions hold the pages now, not the process nor this program. */
	kt_kill_wait(pid);
	k = open_dev();
	for (i = 0; i < 2; i++)
		expect_session(k, names[i], KHOPAGES_STATE_PRESERVED, pages);
	khop_close(k);
	ktap_pass("both sessions stay preserved with their holders alone");
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d %" PRIu64 " %" PRIu64 "\n", pid, addr, len) < 0 || fclose(f))
		ktap_bail("cannot write %s", path);
	return ktap_finish();
}

static uint64_t check_bytes(const uint8_t *p, uint64_t orig, uint64_t len)
{
	uint64_t off, bad = 0;
	unsigned int first;

	for (off = 0; off < len; off += KT_PAGE)
		bad += kt_page_bad_bytes(p + off, SEED_TWIN, orig + off, &first) != 0;
	return bad;
}

/* Retrieve twin @name from Live Update: a handle on its file. */
static struct khop *take_over_twin(const char *name)
{
	struct khop *k;
	int fd;

	fd = kt_take_over(name);
	if (fd < 0)
		ktap_bail("take %s over: %s", name, kt_handover_error());
	if (khop_from_fd(fd, &k))
		ktap_bail("%s: %s", name, khop_open_error());
	return k;
}

static int twins_take_over(const char *path)
{
	struct khopages_map res = { 0 };
	uint64_t addr, len, pages, bad;
	struct khop *k, *kb;
	long base, after;
	uint8_t *dst;
	FILE *f;
	int pid, luo;

	f = fopen(path, "r");
	if (!f || fscanf(f, "%d %" SCNu64 " %" SCNu64, &pid, &addr, &len) != 3)
		ktap_bail("cannot read %s", path);
	fclose(f);
	pages = len / KT_PAGE;

	/* Both are listed from boot on, waiting for their files. */
	k = open_dev();
	expect_session(k, TWIN_A, KHOPAGES_STATE_INCOMING, pages);
	expect_session(k, TWIN_B, KHOPAGES_STATE_INCOMING, pages);
	khop_close(k);
	base = settled_free_kb(0);

	/* The first one is retrieved and released before the second's turn. */
	k = take_over_twin(TWIN_A);
	khop_close(k);
	k = open_dev();
	if (sessions_named(k, TWIN_A))
		ktap_bail("%s is still listed after its file was closed", TWIN_A);
	expect_session(k, TWIN_B, KHOPAGES_STATE_INCOMING, pages);
	khop_close(k);
	after = settled_free_kb(0);
	ktap_diag("%s released: free %ld kB (%+ld kB)", TWIN_A, after, after - base);
	if (after > base + MARGIN_KB)
		ktap_bail("releasing %s freed %ld kB: frames %s still names were freed", TWIN_A,
			  after - base, TWIN_B);
	ktap_pass(TWIN_A " retrieved and released first: the frames " TWIN_B " names kept");

	kb = take_over_twin(TWIN_B);
	k = open_dev();
	expect_session(k, TWIN_B, KHOPAGES_STATE_RETRIEVED, pages);
	khop_close(k);
	ktap_pass(TWIN_B " retrieved with all its pages");

	dst = kt_map_aligned(len, KT_HUGE);
	if (dst == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	if (khop_map(kb, pid, addr, (uint64_t)(uintptr_t)dst, len, &res))
		ktap_bail("%s: %s", TWIN_B, khop_error(kb));
	ktap_diag("%s: mapped %llu, shared %llu, copied %llu", TWIN_B,
		  (unsigned long long)res.nr_mapped, (unsigned long long)res.nr_shared,
		  (unsigned long long)res.nr_copied);
	if (res.nr_mapped != pages)
		ktap_bail("%s mapped %llu of %" PRIu64 " pages from their frames", TWIN_B,
			  (unsigned long long)res.nr_mapped, pages);
	bad = check_bytes(dst, addr, len);
	if (bad)
		ktap_bail("%" PRIu64 " of %" PRIu64 " mapped pages are wrong", bad, pages);
	ktap_pass(TWIN_B " mapped from its frames, every byte right");

	/* The last close of its file releases the session. */
	khop_close(kb);
	k = open_dev();
	if (sessions_named(k, "fault-twin-"))
		ktap_bail("a session is left after the files were closed");
	khop_close(k);
	/* Nor is anything left in Live Update: a session is retrieved once. */
	if (!khop_luo_retrieve(TWIN_B, &luo)) {
		close(luo);
		ktap_bail("Live Update session %s can be retrieved again", TWIN_B);
	}
	ktap_diag("a second retrieve of %s: %s", TWIN_B, khop_luo_error());
	/* Releasing the session must not take pages in use. */
	bad = check_bytes(dst, addr, len);
	if (bad)
		ktap_bail("%" PRIu64 " pages changed when the session was released", bad);
	ktap_pass("releasing the session left the mapped pages alone");
	munmap(dst, len);
	after = settled_free_kb(base + (long)(len / 1024) - MARGIN_KB);
	ktap_diag("both released, mapping gone: free %ld kB (%+ld kB, the sessions held %" PRIu64
		  " kB)", after, after - base, len / 1024);
	if (after < base + (long)(len / 1024) - MARGIN_KB)
		ktap_bail("%ld kB of the sessions' memory did not come back",
			  base + (long)(len / 1024) - after);
	ktap_pass("the sessions' memory came back");
	return ktap_finish();
}

/* ------------------------------------------------------------------ */

static int hog(uint64_t mib)
{
	uint64_t chunk = 16 * KT_MIB, n = mib * KT_MIB / chunk, i = 0;
	char **m = calloc(n ? n : 1, sizeof(*m));

	if (!m)
		ktap_bail("calloc");
	/* Take it all, then keep freeing and taking chunks back. */
	for (;; i = (i + 1) % (n ? n : 1)) {
		if (!n)
			pause();
		if (m[i])
			munmap(m[i], chunk);
		/* Populated for writing: real pages, allocated by the kernel. */
		m[i] = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (m[i] == MAP_FAILED) {
			m[i] = NULL;
			sleep_ms(10);
		}
	}
}

int main(int argc, char **argv)
{
	ktap_start();
	if (argc == 5 && !strcmp(argv[1], "kill-on-preserve"))
		return kill_on_preserve(atoi(argv[2]), atof(argv[3]), (unsigned int)atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "preserve-exit"))
		return preserve_exit(strtoull(argv[2], NULL, 0), atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "two-sessions") && !strcmp(argv[2], "hand-over"))
		return twins_hand_over(argv[3], strtoull(argv[4], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "two-sessions") && !strcmp(argv[2], "take-over"))
		return twins_take_over(argv[3]);
	if (argc == 3 && !strcmp(argv[1], "hog"))
		return hog(strtoull(argv[2], NULL, 0));
	fprintf(stderr, "usage: khopages_faults kill-on-preserve PID SECONDS MIN_PIDS\n"
		"       khopages_faults preserve-exit MIB ROUNDS\n"
		"       khopages_faults two-sessions hand-over FILE MIB | take-over FILE\n"
		"       khopages_faults hog MIB\n");
	return 2;
}
