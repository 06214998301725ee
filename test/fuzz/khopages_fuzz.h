/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khopages_fuzz: what its files share. khopages_fuzz.c has the run (its
 * state, the clean-up, the summary, main), khopages_fuzz_holders.c the
 * processes PRESERVE takes memory from, khopages_fuzz_worker.c the
 * callers' state and the choice of arguments, khopages_fuzz_ops.c the
 * operations, khopages_fuzz_handover.c what crosses a kexec through Live
 * Update (prepare, verify, the retrieval of the sessions and the records
 * a run checks them against).
 */
#ifndef KHOPAGES_FUZZ_H
#define KHOPAGES_FUZZ_H

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

#include "handover.h"
#include "khopages.h"

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
/* Outgoing Live Update sessions the callers preserve files in. */
#define NR_LUO		4

enum rkind {
	RK_ANON, RK_THP, RK_SPARSE, RK_NONE, RK_FILE, RK_SHARED, RK_MEMFD,
	RK_COW, RK_RWRO, RK_ZERO, NR_RK
};

struct rdef {
	const char *name;
	uint64_t off, len;
};
extern const struct rdef rdefs[NR_RK];

/* A forked caller runs the operations before OP_FORK. */
enum op {
	OP_CREATE, OP_PRESERVE, OP_LUO_PRESERVE, OP_ABORT, OP_OPEN, OP_MAP,
	OP_LUO_CLOSE, OP_STATS, OP_LIST, OP_BADCMD, OP_CLOSE, OP_REOPEN, OP_DUP,
	OP_FORK, OP_KILL, OP_CHURN, OP_REMAP, OP_EVACUATE, OP_PRESSURE,
	OP_LUO_RETRIEVE, NR_OPS
};

extern const char *const op_names[NR_OPS];

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
	_Atomic uint64_t bad_incoming;	/* retrieved sessions unlike the records */
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
struct fuzz_opt {
	uint64_t max_calls;
	unsigned int seconds;
	unsigned int threads;
	uint64_t seed;
	bool fault;
	bool verbose;
	const char *records;
};

struct slot {
	pthread_rwlock_t lock;
	int fd;
};

struct landing {
	pthread_rwlock_t lock;
	enum lkind kind;
};

/* An outgoing Live Update session (-1: none; OP_LUO_PRESERVE makes one). */
struct luo_slot {
	pthread_mutex_t lock;
	int fd;
};

/*
 * After the kexec: the Live Update session of each recorded session,
 * retrieved at the start; -1 once its khopages file is retrieved too and
 * the Live Update session finished (at the start for the sessions sharing
 * frames with another, the rest by OP_LUO_RETRIEVE or the clean-up).
 * kept: the run's own file of each retrieved session, which keeps it
 * while the slots' copies come and go, until OP_LUO_CLOSE now and then
 * or the clean-up closes it (-1: none). Both under luo_in_lock.
 */
extern int luo_in[MAX_SESSIONS], kept[MAX_SESSIONS];
extern pthread_mutex_t luo_in_lock;

/* The run's state, defined in khopages_fuzz.c. */
extern struct fuzz_opt opt;
extern struct shared *sh;
extern struct timespec t_start;
extern double deadline;
extern struct slot slots[NR_SLOTS];
extern struct landing land[NR_WINDOWS];
extern struct luo_slot luos[NR_LUO];
extern struct record recs[MAX_RECORDS];
extern unsigned int nr_recs;
extern struct rec_session rsess[MAX_SESSIONS];
extern unsigned int nr_rsess;
extern pthread_mutex_t holder_lock, child_lock;
extern int children[MAX_CHILDREN];
extern int tmp_file_fd;
extern bool no_thp;
extern const char *dev_path;

struct worker {
	uint64_t rs;
	int id;
	bool child;			/* in a forked caller: no locks */
	int cfd[NR_SLOTS];		/* the child's copy of the slot table */
	int cluo[NR_LUO];		/* and of the Live Update sessions */
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

/* Session names CREATE picks from, besides random ones. */
#define NR_VALID_NAMES	12
extern const char *const valid_names[NR_VALID_NAMES];

/* Small helpers (khopages_fuzz.c) */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
uint64_t rng_next(uint64_t *s);
uint64_t rnd(uint64_t *s, uint64_t n);
bool chance(uint64_t *s, unsigned int percent);
uint64_t pattern(uint64_t seed, uint64_t va);
void sleep_us(long us);
uint64_t window(int slot);
uint64_t landing(int slot);
bool stopping(void);
void note_dead(int pid);
int fork_tracked(void);

/* Holders (khopages_fuzz_holders.c) */
void fill_pages(uint64_t va, uint64_t len, uint64_t seed, bool full, unsigned int step);
void read_pages(uint64_t va, uint64_t len);
void *map_at(uint64_t addr, uint64_t len, int prot, int flags, int fd);
void setup_window(uint64_t base, uint64_t seed, bool full);
int spawn_grandchild(uint64_t base, uint64_t seed, bool full);
void holder_spawn(int slot, uint64_t seed);

/* A caller's state and arguments (khopages_fuzz_worker.c) */
bool arena_init(struct worker *w);
void worker_init(struct worker *w, int id);
void *place(struct worker *w, void *arg, size_t len, bool sized);
int count(enum op op, int ret);
int do_ioctl(struct worker *w, enum op op, int fd, unsigned long cmd, void *arg);
int slot_get(struct worker *w, int s);
void slot_put(struct worker *w, int s);
void pick_name(struct worker *w, char *name);
uint32_t pick_flags(struct worker *w, uint32_t allowed);
int pick_slot_for(struct worker *w, int half);
int pick_slot(struct worker *w);
int pick_pid(struct worker *w, int *slot);
void pick_range(struct worker *w, uint64_t base, __u64 *start, __u64 *len);

/* Operations (khopages_fuzz_ops.c) */
void land_make(int ls, enum lkind k);
void *worker_main(void *arg);
void *reaper_main(void *arg);

/* Across a kexec (khopages_fuzz_handover.c) */
void load_records(const char *path);
int check_retrieved(unsigned int si, int fd);
int retrieve_file(unsigned int si, uint64_t token);
int take_incoming(void);
int preserve(int fd, int pid, uint64_t start, uint64_t len);
int do_prepare(const char *path);
int do_verify(const char *path);
#endif /* KHOPAGES_FUZZ_H */
