// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the khopages guest test programs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/kernel-page-flags.h>

#include "khopages_testlib.h"

void kt_fill(void *p, uint64_t len, uint64_t seed, uint64_t va)
{
	uint64_t *w = p;

	for (uint64_t i = 0; i < len / 8; i++)
		w[i] = kt_pattern(seed, va + i * 8);
}

unsigned int kt_page_bad_bytes(const void *p, uint64_t seed, uint64_t va,
			       unsigned int *first_bad)
{
	const uint64_t *w = p;
	unsigned int bad = 0;

	for (unsigned int i = 0; i < KT_PAGE / 8; i++) {
		uint64_t want = kt_pattern(seed, va + i * 8);

		if (w[i] == want)
			continue;
		/* Count the wrong bytes of this word, not just the word. */
		for (unsigned int b = 0; b < 8; b++) {
			if (((w[i] ^ want) >> (8 * b)) & 0xff) {
				if (!bad && first_bad)
					*first_bad = i * 8 + b;
				bad++;
			}
		}
	}
	return bad;
}

unsigned int kt_page_nonzero_bytes(const void *p)
{
	const unsigned char *c = p;
	unsigned int n = 0;

	for (unsigned int i = 0; i < KT_PAGE; i++)
		n += c[i] != 0;
	return n;
}

void *kt_map_aligned(uint64_t len, uint64_t align)
{
	uint64_t span = len + align;
	char *raw, *p;

	raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return MAP_FAILED;
	p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	/* Give back what lies outside [p, p + len). */
	if (p > raw)
		munmap(raw, p - raw);
	if (raw + span > p + len)
		munmap(p + len, raw + span - (p + len));
	return p;
}

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *b = buf;

	while (len) {
		ssize_t n = pread(fd, b, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		b += n;
		len -= n;
		off += n;
	}
	return 0;
}

int kt_pagemap(pid_t pid, uint64_t va, uint64_t n, uint64_t *entries)
{
	char path[64];
	int fd, ret;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = pread_all(fd, entries, n * 8, (off_t)(va / KT_PAGE * 8));
	close(fd);
	return ret;
}

static int kpage_fd(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC);
}

static uint64_t kpage_read(const char *path, uint64_t pfn)
{
	uint64_t v;
	int fd = kpage_fd(path);

	if (fd < 0)
		return UINT64_MAX;
	if (pread_all(fd, &v, 8, (off_t)(pfn * 8)))
		v = UINT64_MAX;
	close(fd);
	return v;
}

uint64_t kt_kpageflags(uint64_t pfn)
{
	return kpage_read("/proc/kpageflags", pfn);
}

/* Largest folio we look for: order 15 (see KHOPAGES_MAX_ORDERS). */
#define KT_MAX_FOLIO_PAGES	(1ULL << 15)

int kt_folio_of(uint64_t pfn, uint64_t *head, uint64_t *nr_pages)
{
	uint64_t f, h = pfn, n = 1, steps = 0;
	int fd = kpage_fd("/proc/kpageflags");
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (pread_all(fd, &f, 8, (off_t)(h * 8))) {
		ret = -EIO;
		goto out;
	}
	/* A tail page: walk back to the head (folios are physically
	 * contiguous and naturally aligned). */
	while (f & (1ULL << KPF_COMPOUND_TAIL)) {
		if (h == 0 || ++steps >= KT_MAX_FOLIO_PAGES) {
			ret = -ERANGE;
			goto out;
		}
		h--;
		if (pread_all(fd, &f, 8, (off_t)(h * 8))) {
			ret = -EIO;
			goto out;
		}
	}
	if (f & (1ULL << KPF_COMPOUND_HEAD)) {
		uint64_t t;

		while (n < KT_MAX_FOLIO_PAGES &&
		       !pread_all(fd, &t, 8, (off_t)((h + n) * 8)) &&
		       (t & (1ULL << KPF_COMPOUND_TAIL)))
			n++;
	} else if (h != pfn) {
		ret = -EINVAL;	/* tail pages without a head: inconsistent */
		goto out;
	}
	*head = h;
	*nr_pages = n;
out:
	close(fd);
	return ret;
}

uint64_t kt_count_orphan_anon(const uint64_t *pfns, uint64_t n)
{
	int fd = kpage_fd("/proc/kpageflags");
	uint64_t orphans = 0, f;

	if (fd < 0)
		return UINT64_MAX;
	for (uint64_t i = 0; i < n; i++) {
		if (pread_all(fd, &f, 8, (off_t)(pfns[i] * 8)))
			continue;
		/* A freed page loses its anon mapping; a page still anon but
		 * mapped by nobody is kept alive by a reference. */
		if ((f & (1ULL << KPF_ANON)) && !(f & (1ULL << KPF_MMAP)))
			orphans++;
	}
	close(fd);
	return orphans;
}

int kt_read_mem(pid_t pid, uint64_t va, void *buf, uint64_t len)
{
	char path[64];
	int fd, ret;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = pread_all(fd, buf, len, (off_t)va);
	close(fd);
	return ret;
}

int kt_write_mem(pid_t pid, uint64_t va, const void *buf, uint64_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pwrite(fd, buf, len, (off_t)va);
	close(fd);
	if (n < 0)
		return -errno;
	return (uint64_t)n == len ? 0 : -EIO;
}

long kt_anon_huge_kb(pid_t pid, uint64_t start, uint64_t len)
{
	char path[64], line[512];
	unsigned long vs, ve;
	bool inside = false;
	long kb, total = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* VMA header lines start with "start-end "; field lines
		 * ("AnonHugePages:   2048 kB") never parse as that. */
		if (sscanf(line, "%lx-%lx ", &vs, &ve) == 2) {
			inside = vs < start + len && ve > start;
			continue;
		}
		if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			total += kb;
	}
	fclose(f);
	return total;
}

const char *kt_thp_mode(void)
{
	static char mode[16];
	char buf[128], *o, *c;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");

	if (!f)
		return NULL;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	o = strchr(buf, '[');
	c = o ? strchr(o, ']') : NULL;
	if (!c || c - o - 1 >= (long)sizeof(mode))
		return NULL;
	memcpy(mode, o + 1, c - o - 1);
	mode[c - o - 1] = 0;
	return mode;
}

static int read_hex_lines(const char *path, uint64_t *v, int max)
{
	FILE *f = fopen(path, "re");
	int n = 0;

	if (!f)
		return -errno;
	while (n < max && fscanf(f, "%" SCNx64, &v[n]) == 1)
		n++;
	fclose(f);
	return n;
}

int kt_scratch_ranges(struct kt_pfn_range *r, int max)
{
	uint64_t phys[64], len[64];
	int np, nl, n = 0;

	np = read_hex_lines("/sys/kernel/debug/kho/out/scratch_phys", phys, 64);
	if (np < 0)
		return np;
	nl = read_hex_lines("/sys/kernel/debug/kho/out/scratch_len", len, 64);
	if (nl < 0)
		return nl;
	if (np != nl)
		return -EINVAL;
	for (int i = 0; i < np && n < max; i++) {
		if (!len[i])
			continue;
		r[n].first = phys[i] / KT_PAGE;
		r[n].last = (phys[i] + len[i] + KT_PAGE - 1) / KT_PAGE;
		n++;
	}
	return n;
}

bool kt_in_ranges(const struct kt_pfn_range *r, int n, uint64_t pfn)
{
	for (int i = 0; i < n; i++)
		if (pfn >= r[i].first && pfn < r[i].last)
			return true;
	return false;
}

long kt_meminfo_kb(const char *field)
{
	char line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

long kt_free_kb(void)
{
	long memfree = kt_meminfo_kb("MemFree"), pcp = 0, n;
	char line[256];
	FILE *f = fopen("/proc/zoneinfo", "re");

	if (memfree < 0 || !f) {
		if (f)
			fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &n) == 1)
			pcp += n;
	fclose(f);
	return memfree + pcp * (long)(KT_PAGE / 1024);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void kt_settle(void)
{
	int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "1\n", 2) < 0) {
			/* best effort: without compaction we only wait */
		}
		close(fd);
	}
	sleep_ms(100);
}

/*
 * Shrink every slab cache. On a KASAN kernel this also empties the
 * quarantine, which keeps freed objects (and so their slab pages) for a
 * while: memory the test gave back would not show as free yet.
 */
static void shrink_slabs(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *e;
	char path[512];
	int fd;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (write(fd, "1\n", 2) < 0) {
			/* best effort, like compaction */
		}
		close(fd);
	}
	closedir(d);
}

long kt_wait_free(long want_kb, int ms)
{
	long v = kt_free_kb();

	for (int waited = 0; v < want_kb && waited < ms; waited += 250) {
		if (waited % 2000 == 0)
			shrink_slabs();
		kt_settle();
		sleep_ms(150);
		v = kt_free_kb();
	}
	return v;
}

int kt_freeze(pid_t pid)
{
	int st;

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL))
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL))
		return -errno;
	while (waitpid(pid, &st, __WALL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFSTOPPED(st) ? 0 : -ESRCH;
}

int kt_thaw(pid_t pid)
{
	return ptrace(PTRACE_DETACH, pid, NULL, NULL) ? -errno : 0;
}

void kt_kill_wait(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(pid, &st, __WALL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st))
			return;
	}
}

static int cap_eff_mask(uint64_t *mask)
{
	char line[256];
	int ret = -ENOENT;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "CapEff: %" SCNx64, mask) == 1) {
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int kt_drop_privileges(bool keep_ckpt_restore)
{
	const uid_t nobody = 65534;
	uint64_t eff, want = 0;

	if (setgroups(0, NULL) || setresgid(nobody, nobody, nobody))
		return -errno;
	if (keep_ckpt_restore && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -errno;
	if (setresuid(nobody, nobody, nobody))
		return -errno;
	if (keep_ckpt_restore) {
		struct __user_cap_header_struct hdr = {
			.version = _LINUX_CAPABILITY_VERSION_3,
		};
		struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
		int i = CAP_TO_INDEX(CAP_CHECKPOINT_RESTORE);

		memset(data, 0, sizeof(data));
		data[i].effective = CAP_TO_MASK(CAP_CHECKPOINT_RESTORE);
		data[i].permitted = CAP_TO_MASK(CAP_CHECKPOINT_RESTORE);
		if (syscall(SYS_capset, &hdr, data))
			return -errno;
		want = 1ULL << CAP_CHECKPOINT_RESTORE;
	}
	/* Make sure the process has exactly what the caller asked for. */
	if (cap_eff_mask(&eff))
		return -EIO;
	return eff == want ? 0 : -EPERM;
}

int kt_set_init(struct kt_set *s, uint64_t max_items)
{
	uint64_t cap = 16;

	while (cap < 2 * max_items)
		cap <<= 1;
	s->slot = calloc(cap, sizeof(*s->slot));
	s->mask = cap - 1;
	s->count = 0;
	return s->slot ? 0 : -ENOMEM;
}

void kt_set_free(struct kt_set *s)
{
	free(s->slot);
	s->slot = NULL;
}

static uint64_t set_hash(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	return key ^ (key >> 33);
}

/* Slots hold key + 1 so that 0 means empty. */
static uint64_t *set_slot(const struct kt_set *s, uint64_t key)
{
	uint64_t i = set_hash(key) & s->mask;

	while (s->slot[i] && s->slot[i] != key + 1)
		i = (i + 1) & s->mask;
	return &s->slot[i];
}

bool kt_set_add(struct kt_set *s, uint64_t key)
{
	uint64_t *slot = set_slot(s, key);

	if (*slot)
		return false;
	if (s->count + 1 > s->mask / 2) {
		/* Full enough: grow so probing stays short. */
		struct kt_set big;

		if (kt_set_init(&big, 2 * (s->mask + 1)))
			abort();
		for (uint64_t i = 0; i <= s->mask; i++)
			if (s->slot[i])
				*set_slot(&big, s->slot[i] - 1) = s->slot[i];
		big.count = s->count;
		free(s->slot);
		*s = big;
		slot = set_slot(s, key);
	}
	*slot = key + 1;
	s->count++;
	return true;
}

bool kt_set_has(const struct kt_set *s, uint64_t key)
{
	return *set_slot(s, key) != 0;
}

int kt_write_all(int fd, const void *buf, size_t len)
{
	const char *b = buf;

	while (len) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= n;
	}
	return 0;
}

int kt_read_all(int fd, void *buf, size_t len)
{
	char *b = buf;

	while (len) {
		ssize_t n = read(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= n;
	}
	return 0;
}
