// SPDX-License-Identifier: GPL-2.0
/*
 * shm_workload: a small process tree with SHARED memory, for the CRIU
 * --kho-pages test of shared memory handed over in place.
 *
 *   shm_workload DIR [MIB]
 *
 * A parent and two children, in an IPC namespace of their own (the parent
 * unshares it first: CRIU dumps SysV objects only with the tree's own IPC
 * namespace). Before the fork the parent creates three shared memory
 * objects and fills every page with a value that depends on the object and
 * the offset:
 *   S  MIB MiB (default 256) MAP_SHARED|MAP_ANONYMOUS, mapped by all three
 *   M  a 32 MiB memfd ("khop-shm", MFD_ALLOW_SEALING) mapped MAP_SHARED;
 *      the parent and child 1 map it and keep the memfd open, child 2
 *      unmaps and closes it
 *   V  a 32 MiB SysV segment (IPC_PRIVATE, 0600), attached by the parent
 *      and child 2; child 1 detaches it. It is removed (IPC_RMID) at Q.
 *
 * The tree writes DIR/pids ("PARENT CHILD1 CHILD2") and DIR/ready, then
 * waits. A command is written into DIR/cmd as "LETTER SEQ" and SIGUSR1 is
 * sent to the parent; the parent runs it, passes it to the children over
 * their pipes, collects their answers and writes DIR/result.SEQ: one line
 * per process and a last line "RESULT ok" or "RESULT FAIL". Commands:
 *   R  record the physical frame of every page of the objects it maps
 *      (/proc/self/pagemap) into DIR/pfn.ROLE (parent, child1, child2);
 *      every page must be present
 *   V  verify every byte of the objects it maps (the pattern, and the stamp
 *      pages of the last W), that they are still shared mappings of the
 *      same objects (maps, the memfd, the SysV segment), that every page
 *      is on the frame R recorded ("X frames same N of M" per object), and
 *      that the pages are shared: the same page of an object shows the
 *      same frame as the other processes recorded
 *   W  two phases ordered over the pipes: first every process writes its
 *      stamp (the W's SEQ, the writer, the object and the page) into its
 *      pages: the parent S page 7 and V page 7, child 1 S page 11 and M
 *      page 11, child 2 S page 13 and V page 13; then every process
 *      verifies as V does, so it sees the others' stamps
 *   Q  quit: unmap and detach everything; the parent removes the segment
 *      and checks that it is gone
 * Nothing is printed once the tree runs: errors go into DIR/error.ROLE.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE		4096UL
#define MIB		(1UL << 20)
#define WORDS		(PAGE / sizeof(uint64_t))
#define STAMP_HEAD	64	/* bytes of text at the start of a stamp page */
#define MEMFD_NAME	"khop-shm"
#define MEMFD_SIZE	(32 * MIB)
#define SYSV_SIZE	(32 * MIB)
#define NR_CHILDREN	2
#define NR_ROLES	(NR_CHILDREN + 1)

enum { OBJ_S, OBJ_M, OBJ_V, NR_OBJS };

static const char *const obj_name[NR_OBJS] = { "S", "M", "V" };
static const char *const role_name[NR_ROLES] = { "parent", "child1", "child2" };
/* Tags of the pattern and of the stamps; each word also mixes its offset. */
static const uint64_t obj_tag[NR_OBJS] = { 0x5111, 0x5222, 0x5333 };
#define TAG_STAMP(writer, obj)	(0x7000 + 0x100 * (uint64_t)(writer) + (uint64_t)(obj))

/* The pages W writes: which object, which page, by whom. */
static const struct stamp {
	int obj;
	size_t page;
	int writer;
} stamps[] = {
	{ OBJ_S, 7, 0 }, { OBJ_V, 7, 0 },
	{ OBJ_S, 11, 1 }, { OBJ_M, 11, 1 },
	{ OBJ_S, 13, 2 }, { OBJ_V, 13, 2 },
};
#define NR_STAMPS	(sizeof(stamps) / sizeof(stamps[0]))

struct object {
	char *addr;
	size_t len;
};

/* A command over a child's pipe: 'R', 'V', 'Q', or 'w' (W's write phase). */
struct order {
	char cmd;
	uint32_t seq;
};

struct answer {
	int32_t ok;
	int32_t role;
	uint64_t pages;
	uint64_t bad_pages;
	uint64_t pfn_same;
	uint64_t pfn_total;
	uint64_t shared_same;
	uint64_t shared_total;
	uint64_t stamps;
	uint64_t obj_same[NR_OBJS];
	uint64_t obj_total[NR_OBJS];
	char msg[200];
};

static const char *dir;
static int role;		/* 0 parent, 1..NR_CHILDREN children */
static struct object obj[NR_OBJS];
static int memfd = -1;
static int shmid = -1;
static uint32_t last_w;		/* SEQ of the last W, 0: none yet */
static bool quiet;		/* stdio is not ours any more */
static volatile sig_atomic_t got_signal;

/* Which objects a role maps after the fork. */
static bool maps_obj(int r, int o)
{
	switch (o) {
	case OBJ_M:
		return r != 2;
	case OBJ_V:
		return r != 1;
	default:
		return true;
	}
}

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void die(const char *msg)
{
	char path[512], line[600];
	int err = errno, fd, n;

	n = snprintf(line, sizeof(line), "shm_workload %s: %s: %s\n", role_name[role], msg, strerror(err));
	snprintf(path, sizeof(path), "%s/error.%s", dir, role_name[role]);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		ssize_t done = write(fd, line, (size_t)n);

		(void)done;
		close(fd);
	}
	if (!quiet)
		fputs(line, stderr);
	exit(1);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[512], tmp[520];
	int fd;

	path_of(path, sizeof(path), name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) || close(fd))
		die(tmp);
	if (rename(tmp, path))
		die(path);
}

static void fail(struct answer *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first failure names the answer's message. */
static void fail(struct answer *a, const char *fmt, ...)
{
	va_list ap;

	if (a->ok) {
		va_start(ap, fmt);
		vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
		va_end(ap);
	}
	a->ok = 0;
}

/* ------------------------------------------------------------ contents */

static inline uint64_t word_value(uint64_t word, uint64_t tag)
{
	return ((word + 1) * 0x9E3779B97F4A7C15ULL) ^ (tag << 48) ^ tag;
}

static const struct stamp *stamp_at(int o, size_t idx)
{
	size_t i;

	for (i = 0; i < NR_STAMPS; i++)
		if (stamps[i].obj == o && stamps[i].page == idx)
			return &stamps[i];
	return NULL;
}

/* Page idx of object o as written by W number seq of the stamp's writer. */
static void stamp_page(char *page, const struct stamp *s, uint32_t seq)
{
	uint64_t *w = (uint64_t *)page;
	size_t i;

	memset(page, 0, STAMP_HEAD);
	snprintf(page, STAMP_HEAD, "W %" PRIu32 " by %s: %s page %zu", seq, role_name[s->writer],
		 obj_name[s->obj], s->page);
	for (i = STAMP_HEAD / sizeof(*w); i < WORDS; i++)
		w[i] = word_value(s->page * WORDS + i, TAG_STAMP(s->writer, s->obj)) ^ ((uint64_t)seq << 32);
}

/* What page idx of object o holds now, after the W commands so far. */
static void expected_page(char *page, int o, size_t idx)
{
	const struct stamp *s = last_w ? stamp_at(o, idx) : NULL;
	uint64_t *w = (uint64_t *)page;
	size_t i;

	if (s) {
		stamp_page(page, s, last_w);
		return;
	}
	for (i = 0; i < WORDS; i++)
		w[i] = word_value(idx * WORDS + i, obj_tag[o]);
}

static void fill_obj(int o)
{
	size_t i;

	for (i = 0; i < obj[o].len / PAGE; i++)
		expected_page(obj[o].addr + i * PAGE, o, i);
}

/* -------------------------------------------------------------- frames */

static size_t nr_pages_all(void)
{
	size_t n = 0;
	int o;

	for (o = 0; o < NR_OBJS; o++)
		n += obj[o].len / PAGE;
	return n;
}

/* Fault every page of the objects we map in (a child inherits no page
 * table entries of a shared mapping), without writing. */
static void touch_all(void)
{
	volatile char sink = 0;
	size_t i;
	int o;

	for (o = 0; o < NR_OBJS; o++)
		if (maps_obj(role, o))
			for (i = 0; i < obj[o].len; i += PAGE)
				sink ^= obj[o].addr[i];
	(void)sink;
}

/*
 * Frame numbers of every page of every object, in object order; 0 for a
 * page not present and for the objects this process does not map. All
 * processes' files have the same layout.
 */
static uint64_t *read_pfns(size_t *nr)
{
	size_t total = nr_pages_all(), at = 0;
	uint64_t *pfn = calloc(total ? total : 1, sizeof(*pfn));
	int fd, o;

	if (!pfn)
		die("calloc");
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		die("/proc/self/pagemap");
	for (o = 0; o < NR_OBJS; o++) {
		size_t n = obj[o].len / PAGE;
		off_t off = (off_t)((uintptr_t)obj[o].addr / PAGE * 8);

		if (maps_obj(role, o) && n && pread(fd, pfn + at, n * 8, off) != (ssize_t)(n * 8))
			die("pread pagemap");
		at += n;
	}
	close(fd);
	for (at = 0; at < total; at++)
		pfn[at] = (pfn[at] >> 63) ? pfn[at] & ((1ULL << 55) - 1) : 0;
	*nr = total;
	return pfn;
}

/* The frames role r recorded (R), or NULL when it did not. */
static uint64_t *read_record(int r, size_t nr)
{
	char name[32], path[512];
	uint64_t *pfn;
	int fd;

	snprintf(name, sizeof(name), "pfn.%s", role_name[r]);
	path_of(path, sizeof(path), name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	pfn = calloc(nr ? nr : 1, sizeof(*pfn));
	if (!pfn)
		die("calloc");
	if (read(fd, pfn, nr * 8) != (ssize_t)(nr * 8)) {
		free(pfn);
		pfn = NULL;
	}
	close(fd);
	return pfn;
}

static void cmd_record(struct answer *a)
{
	char name[32];
	size_t nr, at = 0, i;
	uint64_t *pfn;
	int o;

	touch_all();
	pfn = read_pfns(&nr);
	for (o = 0; o < NR_OBJS; o++) {
		for (i = 0; i < obj[o].len / PAGE; i++, at++) {
			if (!maps_obj(role, o))
				continue;
			a->pfn_total++;
			if (!pfn[at])
				fail(a, "%s page %zu has no frame (not present, or no CAP_SYS_ADMIN)",
				     obj_name[o], i);
		}
	}
	snprintf(name, sizeof(name), "pfn.%s", role_name[role]);
	write_file(name, pfn, nr * sizeof(*pfn));
	if (a->ok)
		snprintf(a->msg, sizeof(a->msg), "recorded %" PRIu64 " frames", a->pfn_total);
	free(pfn);
}

/* ------------------------------------------------------------- verify */

/* The perms and inode of the mapping [addr, addr + len) in /proc/self/maps. */
static bool mapping_of(const struct object *ob, char *perms, unsigned long *ino)
{
	uintptr_t want_s = (uintptr_t)ob->addr, want_e = want_s + ob->len;
	unsigned long s, e, off;
	char line[512], p[5], dev[16];
	bool found = false;
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %4s %lx %15s %lu", &s, &e, p, &off, dev, ino) == 6 &&
		    s == want_s && e == want_e) {
			strcpy(perms, p);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Still shared mappings of the same objects, the memfd and the segment. */
static void verify_objects(struct answer *a)
{
	unsigned long ino = 0;
	char perms[5], link[256], path[64];
	struct shmid_ds ds;
	struct stat st;
	ssize_t n;
	int o;

	for (o = 0; o < NR_OBJS; o++) {
		if (!maps_obj(role, o))
			continue;
		if (!mapping_of(&obj[o], perms, &ino))
			fail(a, "%s is not one mapping at %p", obj_name[o], (void *)obj[o].addr);
		else if (strcmp(perms, "rw-s"))
			fail(a, "%s is mapped %s, not rw-s", obj_name[o], perms);
		else if (o == OBJ_M && (fstat(memfd, &st) || st.st_ino != ino))
			fail(a, "M is not a mapping of the memfd the process holds");
	}
	if (maps_obj(role, OBJ_M)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		if (strncmp(link, "/memfd:" MEMFD_NAME, strlen("/memfd:" MEMFD_NAME)))
			fail(a, "fd %d is '%s', not the memfd " MEMFD_NAME, memfd, link);
		else if (fstat(memfd, &st) || st.st_size != (off_t)MEMFD_SIZE)
			fail(a, "the memfd has %lld bytes", (long long)st.st_size);
	}
	if (role == 0) {
		if (shmctl(shmid, IPC_STAT, &ds))
			fail(a, "SysV segment %d: %s", shmid, strerror(errno));
		else if (ds.shm_segsz != SYSV_SIZE || ds.shm_nattch != 2 || (ds.shm_perm.mode & 0777) != 0600)
			fail(a, "SysV segment %d: %zu bytes, %lu attached, mode %o", shmid, (size_t)ds.shm_segsz,
			     (unsigned long)ds.shm_nattch, (unsigned int)(ds.shm_perm.mode & 0777));
	}
}

static void verify_contents(struct answer *a)
{
	static char want[PAGE] __attribute__((aligned(8)));
	size_t i, k;
	int o;

	for (o = 0; o < NR_OBJS; o++) {
		if (!maps_obj(role, o))
			continue;
		for (i = 0; i < obj[o].len / PAGE; i++) {
			const char *page = obj[o].addr + i * PAGE;

			a->pages++;
			expected_page(want, o, i);
			if (!memcmp(page, want, PAGE)) {
				if (last_w && stamp_at(o, i))
					a->stamps++;
				continue;
			}
			for (k = 0; k < PAGE && page[k] == want[k]; k++)
				;
			if (last_w && stamp_at(o, i))
				fail(a, "%s page %zu: not the stamp '%s' (byte %zu)", obj_name[o], i, want, k);
			else
				fail(a, "%s page %zu is wrong from byte %zu on", obj_name[o], i, k);
			a->bad_pages++;
		}
	}
}

/* The frames now against ours (R) and the other processes' records. */
static void verify_frames(struct answer *a)
{
	size_t nr, at, i;
	uint64_t *now, *then;
	int o, r;

	now = read_pfns(&nr);
	then = read_record(role, nr);
	if (!then) {
		fail(a, "no frames recorded (R) for %s", role_name[role]);
		free(now);
		return;
	}
	for (o = 0, at = 0; o < NR_OBJS; o++) {
		for (i = 0; i < obj[o].len / PAGE; i++, at++) {
			bool same = then[at] && then[at] == now[at];

			if (!maps_obj(role, o))
				continue;
			a->obj_total[o]++;
			a->obj_same[o] += same;
			if (!same)
				fail(a, "%s page %zu: frame %#" PRIx64 ", recorded %#" PRIx64, obj_name[o], i,
				     now[at], then[at]);
		}
		a->pfn_total += a->obj_total[o];
		a->pfn_same += a->obj_same[o];
	}
	free(then);

	for (r = 0; r < NR_ROLES; r++) {
		if (r == role)
			continue;
		then = read_record(r, nr);
		if (!then) {
			fail(a, "no frames recorded (R) for %s", role_name[r]);
			continue;
		}
		for (o = 0, at = 0; o < NR_OBJS; o++) {
			for (i = 0; i < obj[o].len / PAGE; i++, at++) {
				bool same = now[at] && then[at] == now[at];

				if (!maps_obj(role, o) || !maps_obj(r, o))
					continue;
				a->shared_total++;
				a->shared_same += same;
				if (!same)
					fail(a, "%s page %zu: frame %#" PRIx64 ", %s recorded %#" PRIx64 ": not shared",
					     obj_name[o], i, now[at], role_name[r], then[at]);
			}
		}
		free(then);
	}
	free(now);
}

static void cmd_verify(struct answer *a)
{
	/* Reading every byte also faults every page in, for the frames. */
	verify_contents(a);
	verify_objects(a);
	verify_frames(a);
}

/* W, first phase: our stamps. */
static void cmd_write(struct answer *a, uint32_t seq)
{
	size_t i;

	if (!seq) {
		fail(a, "W needs a sequence number above 0");
		return;
	}
	for (i = 0; i < NR_STAMPS; i++) {
		if (stamps[i].writer != role)
			continue;
		if (!maps_obj(role, stamps[i].obj) || (stamps[i].page + 1) * PAGE > obj[stamps[i].obj].len) {
			fail(a, "cannot write %s page %zu", obj_name[stamps[i].obj], stamps[i].page);
			continue;
		}
		stamp_page(obj[stamps[i].obj].addr + stamps[i].page * PAGE, &stamps[i], seq);
		a->stamps++;
	}
	last_w = seq;
	if (a->ok)
		snprintf(a->msg, sizeof(a->msg), "wrote %" PRIu64 " stamps of W %" PRIu32, a->stamps, seq);
}

static void cmd_quit(struct answer *a)
{
	struct shmid_ds ds;
	int o;

	for (o = 0; o < NR_OBJS; o++) {
		if (!maps_obj(role, o))
			continue;
		if (o == OBJ_V ? shmdt(obj[o].addr) : munmap(obj[o].addr, obj[o].len))
			fail(a, "cannot unmap %s: %s", obj_name[o], strerror(errno));
	}
	if (maps_obj(role, OBJ_M))
		close(memfd);
	if (role != 0)
		return;
	/* The children have detached: removing it destroys it. */
	if (shmctl(shmid, IPC_RMID, NULL))
		fail(a, "IPC_RMID of segment %d: %s", shmid, strerror(errno));
	else if (!shmctl(shmid, IPC_STAT, &ds))
		fail(a, "segment %d still exists (%lu attached)", shmid, (unsigned long)ds.shm_nattch);
	else if (a->ok)
		snprintf(a->msg, sizeof(a->msg), "SysV segment %d removed", shmid);
}

static void run_cmd(char cmd, uint32_t seq, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	a->ok = 1;
	a->role = role;
	switch (cmd) {
	case 'R':
		cmd_record(a);
		break;
	case 'V':
		cmd_verify(a);
		break;
	case 'w':
		cmd_write(a, seq);
		break;
	case 'Q':
		cmd_quit(a);
		break;
	default:
		fail(a, "unknown command %c", cmd);
	}
}

static void format_answer(char *buf, size_t size, const struct answer *a)
{
	size_t len;
	int o;

	len = (size_t)snprintf(buf, size,
			       "%s %s pages=%" PRIu64 " bad=%" PRIu64 " pfn_same=%" PRIu64 " pfn_total=%" PRIu64
			       " shared_same=%" PRIu64 " shared_total=%" PRIu64 " stamps=%" PRIu64,
			       role_name[a->role], a->ok ? "ok" : "FAIL", a->pages, a->bad_pages, a->pfn_same,
			       a->pfn_total, a->shared_same, a->shared_total, a->stamps);
	for (o = 0; o < NR_OBJS && (a->obj_total[0] || a->obj_total[1] || a->obj_total[2]) && len < size; o++) {
		if (maps_obj(a->role, o))
			len += (size_t)snprintf(buf + len, size - len, "%s %s frames same %" PRIu64 " of %" PRIu64,
						o ? "," : " |", obj_name[o], a->obj_same[o], a->obj_total[o]);
		else
			len += (size_t)snprintf(buf + len, size - len, "%s %s not mapped", o ? "," : " |",
						obj_name[o]);
	}
	if (len < size)
		snprintf(buf + len, size - len, "%s%s\n", a->msg[0] ? " | " : "", a->msg);
}

/* --------------------------------------------------------------- tree */

static void child_loop(int cmd_fd, int ans_fd)
{
	struct answer a;
	struct order ord;

	for (;;) {
		ssize_t n = read(cmd_fd, &ord, sizeof(ord));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(ord))
			exit(0);	/* the parent is gone */
		run_cmd(ord.cmd, ord.seq, &a);
		if (write(ans_fd, &a, sizeof(a)) != sizeof(a))
			exit(1);
		if (ord.cmd == 'Q')
			exit(0);
	}
}

static int cmd_pipe[NR_CHILDREN][2], ans_pipe[NR_CHILDREN][2];

/* Send a command to child n and wait for its answer. */
static bool ask_child(int n, char cmd, uint32_t seq, struct answer *a)
{
	struct order ord = { .cmd = cmd, .seq = seq };

	if (write(cmd_pipe[n][1], &ord, sizeof(ord)) == sizeof(ord) &&
	    read(ans_pipe[n][0], a, sizeof(*a)) == sizeof(*a))
		return true;
	memset(a, 0, sizeof(*a));
	a->role = n + 1;
	snprintf(a->msg, sizeof(a->msg), "no answer over the pipe");
	return false;
}

/* Run a command in the tree: ans[0] the parent's, ans[n] child n's. */
static void run_tree(char cmd, uint32_t seq, struct answer ans[NR_ROLES])
{
	bool written;
	int n;

	switch (cmd) {
	case 'W':
		/* Phase 1: everybody writes its stamps. */
		run_cmd('w', seq, &ans[0]);
		written = ans[0].ok;
		for (n = 0; n < NR_CHILDREN; n++)
			written = ask_child(n, 'w', seq, &ans[n + 1]) && ans[n + 1].ok && written;
		/* Nobody checks what was not written: the answers say why. */
		if (!written)
			return;
		/* Phase 2: everybody reads all (the others' stamps too). */
		run_cmd('V', seq, &ans[0]);
		for (n = 0; n < NR_CHILDREN; n++)
			ask_child(n, 'V', seq, &ans[n + 1]);
		return;
	case 'Q':
		/* The children detach before the parent removes the segment. */
		for (n = 0; n < NR_CHILDREN; n++)
			ask_child(n, cmd, seq, &ans[n + 1]);
		run_cmd(cmd, seq, &ans[0]);
		return;
	default:
		/* In order: at R the parent records first. */
		run_cmd(cmd, seq, &ans[0]);
		for (n = 0; n < NR_CHILDREN; n++)
			ask_child(n, cmd, seq, &ans[n + 1]);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

int main(int argc, char **argv)
{
	pid_t child[NR_CHILDREN];
	size_t s_mib = 256;
	char buf[4096];
	sigset_t block, old;
	void *p;
	int n, r;

	if (argc < 2) {
		fprintf(stderr, "usage: shm_workload DIR [MIB]\n");
		return 2;
	}
	dir = argv[1];
	if (argc > 2)
		s_mib = strtoul(argv[2], NULL, 0);
	if (s_mib < 1) {
		fprintf(stderr, "shm_workload: MIB must be at least 1\n");
		return 2;
	}

	if (unshare(CLONE_NEWIPC))
		die("unshare(CLONE_NEWIPC)");

	obj[OBJ_S].len = s_mib * MIB;
	p = mmap(NULL, obj[OBJ_S].len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap S");
	obj[OBJ_S].addr = p;

	memfd = memfd_create(MEMFD_NAME, MFD_ALLOW_SEALING);
	if (memfd < 0)
		die("memfd_create");
	if (ftruncate(memfd, MEMFD_SIZE))
		die("ftruncate memfd");
	obj[OBJ_M].len = MEMFD_SIZE;
	p = mmap(NULL, MEMFD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED)
		die("mmap M");
	obj[OBJ_M].addr = p;

	shmid = shmget(IPC_PRIVATE, SYSV_SIZE, IPC_CREAT | 0600);
	if (shmid < 0)
		die("shmget");
	obj[OBJ_V].len = SYSV_SIZE;
	p = shmat(shmid, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	obj[OBJ_V].addr = p;

	for (n = 0; n < NR_OBJS; n++)
		fill_obj(n);

	/* A child that died must not take the parent with it. */
	signal(SIGPIPE, SIG_IGN);

	for (n = 0; n < NR_CHILDREN; n++) {
		if (pipe(cmd_pipe[n]) || pipe(ans_pipe[n]))
			die("pipe");
		child[n] = fork();
		if (child[n] < 0)
			die("fork");
		if (child[n] == 0) {
			role = n + 1;
			quiet = true;
			/* Only the parent's ends are still open here. */
			for (r = 0; r <= n; r++) {
				close(cmd_pipe[r][1]);
				close(ans_pipe[r][0]);
			}
			if (!maps_obj(role, OBJ_M)) {
				if (munmap(obj[OBJ_M].addr, obj[OBJ_M].len))
					die("munmap M");
				close(memfd);
				memfd = -1;
			}
			if (!maps_obj(role, OBJ_V) && shmdt(obj[OBJ_V].addr))
				die("shmdt V");
			child_loop(cmd_pipe[n][0], ans_pipe[n][1]);
		}
		close(cmd_pipe[n][0]);
		close(ans_pipe[n][1]);
	}

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	signal(SIGUSR1, on_signal);

	n = snprintf(buf, sizeof(buf), "%d %d %d\n", getpid(), child[0], child[1]);
	write_file("pids", buf, (size_t)n);
	write_file("ready", "ready\n", 6);
	quiet = true;

	for (;;) {
		struct answer ans[NR_ROLES];
		char cmd = 0, line[512], name[64];
		unsigned int seq = 0;
		size_t len = 0;
		bool all_ok = true;
		FILE *f;

		while (!got_signal)
			sigsuspend(&old);
		got_signal = 0;

		path_of(buf, sizeof(buf), "cmd");
		f = fopen(buf, "r");
		if (!f || fscanf(f, " %c %u", &cmd, &seq) != 2) {
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);

		run_tree(cmd, seq, ans);
		for (n = 0; n < NR_ROLES; n++) {
			all_ok = all_ok && ans[n].ok;
			format_answer(line, sizeof(line), &ans[n]);
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s", line);
		}
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "RESULT %s\n", all_ok ? "ok" : "FAIL");
		snprintf(name, sizeof(name), "result.%u", seq);
		write_file(name, buf, len);
		if (cmd == 'Q') {
			for (n = 0; n < NR_CHILDREN; n++)
				waitpid(child[n], NULL, 0);
			return 0;
		}
	}
}
