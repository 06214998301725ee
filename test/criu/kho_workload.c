// SPDX-License-Identifier: GPL-2.0
/*
 * kho_workload: a small process tree for the CRIU --kho-pages tests.
 *
 *   kho_workload DIR [MIB] [tcp]
 *
 * A parent and two children. Every byte of their anonymous memory has a
 * known value that depends on its address, and who wrote it:
 *   A  MIB MiB (default 128) filled by the parent before fork, shared
 *      copy-on-write; after fork the parent rewrites every 7th page, child
 *      N every (N+3)th page (their own frames then).
 *   B  8 MiB filled before fork, then 4 MiB made read-only, 2 MiB PROT_NONE
 *      and 2 MiB left writable (three VMAs).
 *   C  32 MiB, 2 MiB aligned, MADV_HUGEPAGE, filled before fork (THPs,
 *      shared copy-on-write with the children).
 *   D  16 MiB per child, the child's own.
 * The parent holds DIR/wl.file open at a known offset, and a pair of pipes
 * to each child. With "tcp" child 2 also holds an established TCP
 * connection to itself over lo, which CRIU refuses to dump without
 * --tcp-established (after the parent's and child 1's memory was dumped).
 *
 * The tree writes DIR/pids ("PARENT CHILD1 CHILD2") and DIR/ready, then
 * waits. A command is written into DIR/cmd as "LETTER SEQ" and SIGUSR1 is
 * sent to the parent; the parent runs it, passes it to the children over
 * their pipes, collects their answers and writes DIR/result.SEQ: one line
 * per process and a last line "RESULT ok" or "RESULT FAIL". Commands:
 *   R  record the physical frame of every page of A-D (/proc/self/pagemap)
 *      into DIR/pfn.ROLE, and the THP count
 *   V  verify all of A-D, the memory protections, the open file and its
 *      offset, and compare the frames with those recorded by R
 *   W  keep working: the parent rewrites every 11th page of A (copy on
 *      write away from the children), each child every 13th; all verify
 *      again
 *   Q  quit
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE		4096UL
#define MIB		(1UL << 20)
#define THP_SIZE	(2 * MIB)
#define WORDS		(PAGE / sizeof(uint64_t))
#define FILE_SIZE	(64 * 1024)
#define FILE_OFFSET	12345L
#define NR_CHILDREN	2

enum { REG_A, REG_B, REG_C, REG_D, NR_REGIONS };

/* Tags of who wrote a page; the value of each word also mixes its address. */
#define TAG_A		0x1111
#define TAG_B		0x2222
#define TAG_C		0x3333
#define TAG_D(n)	(0x4400 + (n))
#define TAG_PARENT	0x5555	/* parent after fork, every 7th page of A */
#define TAG_CHILD(n)	(0x6600 + (n))	/* child n after fork, every (n+3)th */
#define TAG_WORK_P	0x7777	/* W: parent, every 11th page of A */
#define TAG_WORK_C(n)	(0x8800 + (n))	/* W: child n, every 13th page (+1) */

struct region {
	char *addr;
	size_t len;
};

struct answer {
	int32_t ok;
	int32_t role;
	uint64_t pages;
	uint64_t bad_pages;
	uint64_t pfn_total;
	uint64_t pfn_same;
	uint64_t thp_kb;
	char msg[160];
};

static const char *dir;
static int role;		/* 0 parent, 1..NR_CHILDREN children */
static struct region reg[NR_REGIONS];
static bool worked;		/* W ran: the every-11th/13th pages changed */
static int file_fd = -1;
static volatile sig_atomic_t got_signal;

static inline uint64_t word_value(uint64_t addr, uint64_t tag)
{
	return (addr * 0x9E3779B97F4A7C15ULL) ^ (tag << 48) ^ tag;
}

static void fill_page(char *page, uint64_t tag)
{
	uint64_t *w = (uint64_t *)page;
	size_t i;

	for (i = 0; i < WORDS; i++)
		w[i] = word_value((uint64_t)(uintptr_t)&w[i], tag);
}

static bool page_has(const char *page, uint64_t tag)
{
	const uint64_t *w = (const uint64_t *)page;
	size_t i;

	for (i = 0; i < WORDS; i++)
		if (w[i] != word_value((uint64_t)(uintptr_t)&w[i], tag))
			return false;
	return true;
}

/* The tag page idx of region r must carry in this process now. */
static uint64_t expected_tag(int r, size_t idx)
{
	switch (r) {
	case REG_A:
		if (role == 0) {
			if (worked && idx % 11 == 0)
				return TAG_WORK_P;
			if (idx % 7 == 0)
				return TAG_PARENT;
			return TAG_A;
		}
		if (worked && idx % 13 == 1)
			return TAG_WORK_C(role);
		if (idx % (size_t)(role + 3) == 0)
			return TAG_CHILD(role);
		return TAG_A;
	case REG_B:
		return TAG_B;
	case REG_C:
		return TAG_C;
	default:
		return TAG_D(role);
	}
}

static void die(const char *msg)
{
	fprintf(stderr, "kho_workload: %s: %s\n", msg, strerror(errno));
	exit(1);
}

static char *map_anon(size_t len, size_t align)
{
	size_t span = len + align;
	char *p, *a;

	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + span)
		munmap(a + len, (size_t)(p + span - (a + len)));
	return a;
}

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
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

/* -------------------------------------------------------------- frames */

static uint64_t thp_kb_of(const struct region *r)
{
	unsigned long start, end, kb;
	uint64_t total = 0;
	bool inside = false;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = start >= (uintptr_t)r->addr && end <= (uintptr_t)r->addr + r->len;
			continue;
		}
		if (inside && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1)
			total += kb;
	}
	fclose(f);
	return total;
}

static size_t nr_pages_all(void)
{
	size_t n = 0;
	int r;

	for (r = 0; r < NR_REGIONS; r++)
		n += reg[r].len / PAGE;
	return n;
}

/* Frame numbers of every page of every region, in region order. */
static uint64_t *read_pfns(size_t *nr)
{
	size_t total = nr_pages_all(), at = 0;
	uint64_t *pfn = calloc(total ? total : 1, sizeof(*pfn));
	int fd, r;

	if (!pfn)
		die("calloc");
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		die("/proc/self/pagemap");
	for (r = 0; r < NR_REGIONS; r++) {
		size_t n = reg[r].len / PAGE;
		off_t off = (off_t)((uintptr_t)reg[r].addr / PAGE * 8);

		if (n && pread(fd, pfn + at, n * 8, off) != (ssize_t)(n * 8))
			die("pread pagemap");
		at += n;
	}
	close(fd);
	for (at = 0; at < total; at++)
		pfn[at] = (pfn[at] >> 63) ? pfn[at] & ((1ULL << 55) - 1) : 0;
	*nr = total;
	return pfn;
}

static void cmd_record(struct answer *a)
{
	char name[32];
	size_t nr;
	uint64_t *pfn = read_pfns(&nr);

	snprintf(name, sizeof(name), "pfn.%d", role);
	write_file(name, pfn, nr * sizeof(*pfn));
	a->pfn_total = nr;
	a->thp_kb = thp_kb_of(&reg[REG_C]);
	snprintf(a->msg, sizeof(a->msg), "recorded %zu frames", nr);
	free(pfn);
}

/* ------------------------------------------------------------- verify */

static bool prot_is(const struct region *r, size_t off, size_t len, const char *perms)
{
	uintptr_t want_s = (uintptr_t)r->addr + off, want_e = want_s + len;
	unsigned long s, e;
	char line[512], p[5];
	bool found = false;
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &s, &e, p) == 3 && s == want_s && e == want_e)
			found = !strcmp(p, perms);
	fclose(f);
	return found;
}

static void verify_file(struct answer *a)
{
	char buf[64], want[64];
	off_t pos;
	size_t i;

	if (role != 0)
		return;
	pos = lseek(file_fd, 0, SEEK_CUR);
	if (pos != FILE_OFFSET) {
		a->ok = 0;
		snprintf(a->msg, sizeof(a->msg), "file offset %lld, want %ld", (long long)pos, FILE_OFFSET);
		return;
	}
	if (read(file_fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		a->ok = 0;
		snprintf(a->msg, sizeof(a->msg), "cannot read the open file");
		return;
	}
	for (i = 0; i < sizeof(want); i++)
		want[i] = (char)((FILE_OFFSET + (off_t)i) * 7 + 3);
	if (memcmp(buf, want, sizeof(want))) {
		a->ok = 0;
		snprintf(a->msg, sizeof(a->msg), "the open file reads wrong data");
	}
	lseek(file_fd, FILE_OFFSET, SEEK_SET);
}

static void cmd_verify(struct answer *a)
{
	char name[32], path[512];
	size_t nr, at = 0, i;
	uint64_t *now;
	int r, fd;

	/* Frames first: reading does not move pages, writing might. */
	snprintf(name, sizeof(name), "pfn.%d", role);
	path_of(path, sizeof(path), name);
	now = read_pfns(&nr);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		uint64_t *then = calloc(nr ? nr : 1, sizeof(*then));
		uint64_t diff[NR_REGIONS] = { 0 };

		if (!then || read(fd, then, nr * 8) != (ssize_t)(nr * 8))
			die("pfn record");
		close(fd);
		for (r = 0, i = 0; r < NR_REGIONS; r++) {
			size_t end = i + reg[r].len / PAGE;

			for (; i < end; i++) {
				bool same = then[i] && then[i] == now[i];

				a->pfn_same += same;
				diff[r] += !same;
			}
		}
		a->pfn_total = nr;
		if (a->pfn_same != nr)
			snprintf(a->msg, sizeof(a->msg), "frames changed: A %" PRIu64 " B %" PRIu64
				 " C %" PRIu64 " D %" PRIu64, diff[0], diff[1], diff[2], diff[3]);
		free(then);
	}
	free(now);
	a->thp_kb = thp_kb_of(&reg[REG_C]);

	/* The PROT_NONE part of B has to be readable for the check. */
	if (mprotect(reg[REG_B].addr + 4 * MIB, 2 * MIB, PROT_READ))
		die("mprotect");
	for (r = 0; r < NR_REGIONS; r++) {
		for (i = 0; i < reg[r].len / PAGE; i++, at++) {
			if (!page_has(reg[r].addr + i * PAGE, expected_tag(r, i))) {
				if (!a->bad_pages)
					snprintf(a->msg, sizeof(a->msg), "region %c page %zu (%p) is wrong",
						 'A' + r, i, (void *)(reg[r].addr + i * PAGE));
				a->bad_pages++;
			}
			a->pages++;
		}
	}
	if (mprotect(reg[REG_B].addr + 4 * MIB, 2 * MIB, PROT_NONE))
		die("mprotect");
	if (a->bad_pages)
		a->ok = 0;

	if (!prot_is(&reg[REG_B], 0, 4 * MIB, "r--p") || !prot_is(&reg[REG_B], 4 * MIB, 2 * MIB, "---p") ||
	    !prot_is(&reg[REG_B], 6 * MIB, 2 * MIB, "rw-p")) {
		a->ok = 0;
		snprintf(a->msg, sizeof(a->msg), "region B lost its protections");
	}
	verify_file(a);
}

static void cmd_work(struct answer *a)
{
	size_t i, n = reg[REG_A].len / PAGE;

	for (i = 0; i < n; i++) {
		if (role == 0 && i % 11 == 0)
			fill_page(reg[REG_A].addr + i * PAGE, TAG_WORK_P);
		if (role != 0 && i % 13 == 1)
			fill_page(reg[REG_A].addr + i * PAGE, TAG_WORK_C(role));
	}
	worked = true;
	cmd_verify(a);
}

static void run_cmd(char cmd, struct answer *a)
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
	case 'W':
		cmd_work(a);
		break;
	case 'Q':
		break;
	default:
		a->ok = 0;
		snprintf(a->msg, sizeof(a->msg), "unknown command %c", cmd);
	}
}

static void format_answer(char *buf, size_t size, const struct answer *a)
{
	snprintf(buf, size,
		 "%s %s pages=%" PRIu64 " bad=%" PRIu64 " pfn_same=%" PRIu64 " pfn_total=%" PRIu64
		 " thp_kb=%" PRIu64 " %s\n",
		 a->role ? (a->role == 1 ? "child1" : "child2") : "parent", a->ok ? "ok" : "FAIL", a->pages,
		 a->bad_pages, a->pfn_same, a->pfn_total, a->thp_kb, a->msg);
}

/* --------------------------------------------------------------- tree */

static void child_loop(int cmd_fd, int ans_fd)
{
	struct answer a;
	char cmd;

	for (;;) {
		ssize_t n = read(cmd_fd, &cmd, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			exit(0);	/* the parent is gone */
		run_cmd(cmd, &a);
		if (write(ans_fd, &a, sizeof(a)) != sizeof(a))
			exit(1);
		if (cmd == 'Q')
			exit(0);
	}
}

static void tcp_to_self(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int l, c, s;

	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &len))
		die("tcp listen");
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sin, sizeof(sin)))
		die("tcp connect");
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("tcp accept");
}

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

int main(int argc, char **argv)
{
	int cmd_pipe[NR_CHILDREN][2], ans_pipe[NR_CHILDREN][2];
	pid_t child[NR_CHILDREN];
	size_t a_mib = 128, i;
	bool tcp = false;
	char buf[4096];
	sigset_t block, old;
	int n, r;

	if (argc < 2) {
		fprintf(stderr, "usage: kho_workload DIR [MIB] [tcp]\n");
		return 2;
	}
	dir = argv[1];
	if (argc > 2)
		a_mib = strtoul(argv[2], NULL, 0);
	tcp = argc > 3 && !strcmp(argv[3], "tcp");

	/* The open file, with a known content and offset. */
	path_of(buf, sizeof(buf), "wl.file");
	file_fd = open(buf, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (file_fd < 0)
		die(buf);
	for (i = 0; i < FILE_SIZE; i++) {
		char c = (char)((off_t)i * 7 + 3);

		if (write(file_fd, &c, 1) != 1)
			die("write wl.file");
	}
	lseek(file_fd, FILE_OFFSET, SEEK_SET);

	reg[REG_A].len = a_mib * MIB;
	reg[REG_A].addr = map_anon(reg[REG_A].len, PAGE);
	reg[REG_B].len = 8 * MIB;
	reg[REG_B].addr = map_anon(reg[REG_B].len, PAGE);
	reg[REG_C].len = 32 * MIB;
	reg[REG_C].addr = map_anon(reg[REG_C].len, THP_SIZE);
	if (madvise(reg[REG_C].addr, reg[REG_C].len, MADV_HUGEPAGE))
		die("madvise MADV_HUGEPAGE");
	reg[REG_D].len = 16 * MIB;	/* mapped by each child */

	for (i = 0; i < reg[REG_A].len / PAGE; i++)
		fill_page(reg[REG_A].addr + i * PAGE, TAG_A);
	for (i = 0; i < reg[REG_B].len / PAGE; i++)
		fill_page(reg[REG_B].addr + i * PAGE, TAG_B);
	for (i = 0; i < reg[REG_C].len / PAGE; i++)
		fill_page(reg[REG_C].addr + i * PAGE, TAG_C);
	if (mprotect(reg[REG_B].addr, 4 * MIB, PROT_READ) ||
	    mprotect(reg[REG_B].addr + 4 * MIB, 2 * MIB, PROT_NONE))
		die("mprotect");

	for (n = 0; n < NR_CHILDREN; n++) {
		if (pipe(cmd_pipe[n]) || pipe(ans_pipe[n]))
			die("pipe");
		child[n] = fork();
		if (child[n] < 0)
			die("fork");
		if (child[n] == 0) {
			role = n + 1;
			close(file_fd);
			/* Only the parent's ends are still open here. */
			for (r = 0; r <= n; r++) {
				close(cmd_pipe[r][1]);
				close(ans_pipe[r][0]);
			}
			reg[REG_D].addr = map_anon(reg[REG_D].len, PAGE);
			for (i = 0; i < reg[REG_D].len / PAGE; i++)
				fill_page(reg[REG_D].addr + i * PAGE, TAG_D(role));
			for (i = 0; i < reg[REG_A].len / PAGE; i++)
				if (i % (size_t)(role + 3) == 0)
					fill_page(reg[REG_A].addr + i * PAGE, TAG_CHILD(role));
			if (tcp && role == NR_CHILDREN)
				tcp_to_self();
			child_loop(cmd_pipe[n][0], ans_pipe[n][1]);
		}
		close(cmd_pipe[n][0]);
		close(ans_pipe[n][1]);
	}
	reg[REG_D].len = 0;	/* the parent has no D */
	for (i = 0; i < reg[REG_A].len / PAGE; i++)
		if (i % 7 == 0)
			fill_page(reg[REG_A].addr + i * PAGE, TAG_PARENT);

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	signal(SIGUSR1, on_signal);

	n = snprintf(buf, sizeof(buf), "%d %d %d\n", getpid(), child[0], child[1]);
	write_file("pids", buf, (size_t)n);
	write_file("ready", "ready\n", 6);

	for (;;) {
		struct answer a;
		char cmd = 0, line[256], name[64];
		unsigned int seq = 0;
		size_t len = 0;
		bool all_ok;
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

		run_cmd(cmd, &a);
		all_ok = a.ok;
		format_answer(line, sizeof(line), &a);
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s", line);
		for (n = 0; n < NR_CHILDREN; n++) {
			if (write(cmd_pipe[n][1], &cmd, 1) != 1 ||
			    read(ans_pipe[n][0], &a, sizeof(a)) != sizeof(a)) {
				len += (size_t)snprintf(buf + len, sizeof(buf) - len,
							"child%d FAIL no answer over the pipe\n", n + 1);
				all_ok = false;
				continue;
			}
			all_ok = all_ok && a.ok;
			format_answer(line, sizeof(line), &a);
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
