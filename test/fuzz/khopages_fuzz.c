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
 * Besides the commands of the device, the callers preserve the files in
 * Live Update sessions of /dev/liveupdate (LIVEUPDATE_SESSION_PRESERVE_FD)
 * and close those sessions again, which takes the preserve back.
 * The targets of PRESERVE are helper processes ("holders") whose memory has
 * a fixed layout of several kinds (anonymous, THP, sparse, PROT_NONE,
 * private file, shared, memfd, copy-on-write shared with a grandchild,
 * mixed protections, zero pages); holders change their memory, exit and
 * are killed while the fuzzer runs. MAP lands in windows of the fuzzer's
 * own address space that are remapped with various kinds of memory.
 * --fault arms /proc/thread-self/fail-nth before some calls (fault
 * injection, debug kernels) so allocation failures hit the undo paths.
 * It stops after N ioctls or S seconds, whichever comes first, cleans up
 * (the Live Update sessions closed, ABORT, close: nothing may be left once
 * no file holds a session) and prints
 *   calls N, errors by errno: EINVAL n, ...; sessions left 0
 * An error returned by the kernel is never a failure. The exit status is 1
 * when a session is left after the cleanup, when pages mapped by MAP do
 * not hold the data preserved before the kexec, when the retrieved
 * sessions do not match what was handed over, or when the run hangs.
 * (Oopses and leaks are for the guest script to find in dmesg, kmemleak
 * and free memory.)
 *
 * "prepare" hands a few sessions over to the next kernel through Live
 * Update, a holder process keeping each Live Update session open until
 * the kexec (shared folios across sessions and processes, THPs, an empty
 * session, a 63-character name), and describes them in FILE. After the
 * kexec, "run --records FILE" retrieves their Live Update sessions and
 * every other session's file at the start, checks them against FILE,
 * leaves the other files to the callers
 * (OP_LUO_RETRIEVE; the clean-up retrieves what is left) and fuzzes OPEN
 * and MAP on them; the last close of a retrieved session's files
 * releases it.
 *
 * "verify FILE" (after kexec) retrieves the sessions, maps each recorded
 * range on its own into a fresh region and checks every page and MAP's
 * counters, then closes the files, which must release the sessions: the
 * deterministic counterpart of the fuzzed MAP.
 */

#include "khopages_fuzz.h"

/* The run's options and state (declared in khopages_fuzz.h). */
struct fuzz_opt opt = { 20000, 60, 4, 0, false, false, NULL };
const struct rdef rdefs[NR_RK] = {
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

const char *const op_names[NR_OPS] = {
	"create", "preserve", "luo-preserve", "abort", "open", "map", "luo-close",
	"stats", "list", "badcmd", "close", "reopen", "dup", "fork", "kill",
	"churn", "remap", "evacuate", "pressure", "luo-retrieve",
};

struct shared *sh;
struct timespec t_start;
double deadline;
struct slot slots[NR_SLOTS];
struct landing land[NR_WINDOWS];
struct luo_slot luos[NR_LUO];
int luo_in[MAX_SESSIONS], kept[MAX_SESSIONS];
pthread_mutex_t luo_in_lock = PTHREAD_MUTEX_INITIALIZER;
struct record recs[MAX_RECORDS];
unsigned int nr_recs;
struct rec_session rsess[MAX_SESSIONS];
unsigned int nr_rsess;
pthread_mutex_t holder_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
int children[MAX_CHILDREN];
int tmp_file_fd = -1;	/* for private file mappings */
bool no_thp;		/* prepare --no-thp: no large folios handed over */

const char *dev_path = KHOPAGES_DEVICE;	/* or $KHOPAGES_DEVICE */

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

void die(const char *fmt, ...)
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

uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

bool chance(uint64_t *s, unsigned int percent)
{
	return rnd(s, 100) < percent;
}

uint64_t pattern(uint64_t seed, uint64_t va)
{
	uint64_t x = (va + seed) * 0x9e3779b97f4a7c15ULL;

	return x ^ (x >> 29) ^ seed;
}

void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

uint64_t window(int slot)
{
	return HOLDER_BASE + (uint64_t)slot * STRIDE;
}

uint64_t landing(int slot)
{
	return LAND_BASE + (uint64_t)slot * STRIDE;
}

bool stopping(void)
{
	return atomic_load(&sh->stop) ||
	       atomic_load(&sh->calls) >= opt.max_calls || now_s() >= deadline;
}

void note_dead(int pid)
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
int fork_tracked(void)
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
 * Everything the run created goes: children, the files of the received
 * sessions nobody retrieved yet (retrieved and checked now), the Live
 * Update sessions (closing one takes back what it preserved), the files
 * (closing a file aborts its open session, and the last close of a
 * retrieved session's files releases it). A session still listed once no
 * file is left means the kernel lost track of it.
 */
static int cleanup(void)
{
	struct khopages_session_info *info;
	int fd, left;
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

	for (unsigned int i = 0; i < nr_rsess; i++) {
		if (luo_in[i] >= 0 && retrieve_file(i, KHOP_LUO_TOKEN_PAGES)) {
			printf("FAIL: %s\n", khop_luo_error());
			atomic_fetch_add(&sh->bad_incoming, 1);
			close(luo_in[i]);
			luo_in[i] = -1;
		}
		if (kept[i] >= 0)
			close(kept[i]);
		kept[i] = -1;
	}
	for (int e = 0; e < NR_LUO; e++) {
		if (luos[e].fd >= 0)
			close(luos[e].fd);
		luos[e].fd = -1;
	}
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
	left = list_sessions(fd, info, 256);
	if (left < 0)
		printf("cleanup: LIST: %s\n", strerrorname_np(-left));
	for (int i = 0; i < left && i < 256; i++)
		printf("left: session %s state %s pages %" PRIu64 ": no file holds it any more\n",
		       info[i].name, khop_state_name(info[i].state),
		       (uint64_t)info[i].nr_pages);
	free(info);
	close(fd);
	return left < 0 ? 1000 : left;
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
	int left, bad = 0;
	double secs;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (int s = 0; s < NR_SLOTS; s++) {
		pthread_rwlock_init(&slots[s].lock, NULL);
		slots[s].fd = open(dev_path, O_RDWR | O_CLOEXEC);
		if (slots[s].fd < 0)
			die("open %s: %s", dev_path, strerror(errno));
	}
	for (int e = 0; e < NR_LUO; e++) {
		pthread_mutex_init(&luos[e].lock, NULL);
		luos[e].fd = -1;
	}
	bad += take_incoming();
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
	bad += atomic_load(&sh->bad_incoming);
	if (bad)
		printf("FAIL: %d check(s) failed\n", bad);
	return left || bad ? 1 : 0;
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

