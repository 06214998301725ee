// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: FILL_SHMEM, the move of a shmem file's pages into an
 * empty shared memory object (a memfd, a SysV segment, the object behind
 * a MAP_SHARED anonymous mapping): what it refuses, and that what it moves
 * keeps its bytes and its frames.
 */
#include <sys/ipc.h>
#include <sys/shm.h>

#include "khopages_errors.h"

#define FILL_PAGES	64
#define FILL_SEED	0x5eedf111ULL

static int fill_raw(int fd, int dst, int src, uint64_t *nr)
{
	struct khopages_fill_shmem a = { .size = sizeof(a), .dst_fd = dst, .src_fd = src };
	int ret = rawio(fd, KHOPAGES_IOC_FILL_SHMEM, &a);

	if (nr)
		*nr = a.nr_pages;
	return ret;
}

/* A memfd of @pages pages, every one written with the pattern. */
static int filled_memfd(uint64_t pages)
{
	int fd = memfd_create("fill-src", MFD_CLOEXEC);
	void *p;

	if (fd < 0 || ftruncate(fd, pages * KT_PAGE))
		ktap_bail("memfd: %s", strerror(errno));
	p = mmap(NULL, pages * KT_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		ktap_bail("mmap memfd: %s", strerror(errno));
	kt_fill(p, pages * KT_PAGE, FILL_SEED, 0);
	munmap(p, pages * KT_PAGE);
	return fd;
}

static int empty_memfd(uint64_t pages)
{
	int fd = memfd_create("fill-dst", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, pages * KT_PAGE))
		ktap_bail("memfd: %s", strerror(errno));
	return fd;
}

/* The frames of the @pages pages of shmem file @fd (mapped for a moment). */
static uint64_t *frames_of(int fd, uint64_t pages)
{
	uint64_t *pm = calloc(pages, sizeof(*pm));
	volatile char *p;

	p = mmap(NULL, pages * KT_PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (!pm || p == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	for (uint64_t i = 0; i < pages; i++)
		(void)p[i * KT_PAGE];
	if (kt_pagemap(getpid(), (uint64_t)(uintptr_t)p, pages, pm))
		ktap_bail("pagemap: %s", strerror(errno));
	for (uint64_t i = 0; i < pages; i++)
		pm[i] = kt_pm_present(pm[i]) ? kt_pm_pfn(pm[i]) : 0;
	munmap((void *)p, pages * KT_PAGE);
	return pm;
}

/* Bytes of @fd's first @pages pages that differ from the pattern. */
static uint64_t bad_bytes(int fd, uint64_t pages)
{
	uint64_t bad = 0;
	void *p;

	p = mmap(NULL, pages * KT_PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	for (uint64_t i = 0; i < pages; i++)
		bad += kt_page_bad_bytes((char *)p + i * KT_PAGE, FILL_SEED, i * KT_PAGE, NULL);
	munmap(p, pages * KT_PAGE);
	return bad;
}

static uint64_t same_frames(const uint64_t *a, const uint64_t *b, uint64_t n)
{
	uint64_t same = 0;

	for (uint64_t i = 0; i < n; i++)
		same += a[i] && a[i] == b[i];
	return same;
}

static void drop_fill(struct khop *k, void *arg, int *res)
{
	const int *fds = arg;

	res[0] = khop_fill_shmem(k, fds[0], fds[1], NULL);
}

static void t_fill_refused(int fd)
{
	int src = filled_memfd(4), dst = empty_memfd(4), ro, wo, fds[2], res[NR_RESULTS];
	struct khopages_fill_shmem a;
	char path[64];
	uint64_t nr;
	void *p;

	ktap_check_err("fill: a closed descriptor", fill_raw(fd, 1000, src, NULL), -EBADF);
	ktap_check_err("fill: source closed", fill_raw(fd, dst, 1000, NULL), -EBADF);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dst);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", src);
	wo = open(path, O_WRONLY | O_CLOEXEC);
	if (ro < 0 || wo < 0)
		ktap_bail("reopen: %s", strerror(errno));
	ktap_check_err("fill: destination not open for writing", fill_raw(fd, ro, src, NULL), -EBADF);
	ktap_check_err("fill: source not open for reading", fill_raw(fd, dst, wo, NULL), -EBADF);
	ktap_check_err("fill: the device is not shmem", fill_raw(fd, dst, fd, NULL), -EINVAL);
	ktap_check_err("fill: the same object twice", fill_raw(fd, dst, dst, NULL), -EINVAL);

	a = (struct khopages_fill_shmem){ .size = sizeof(a), .flags = 1, .dst_fd = dst, .src_fd = src };
	ktap_check_err("fill: unknown flags", rawio(fd, KHOPAGES_IOC_FILL_SHMEM, &a), -EINVAL);
	a = (struct khopages_fill_shmem){ .size = sizeof(a), .dst_fd = dst, .src_fd = src, .nr_pages = 1 };
	ktap_check_err("fill: an out field set", rawio(fd, KHOPAGES_IOC_FILL_SHMEM, &a), -EINVAL);
	a = (struct khopages_fill_shmem){ .size = sizeof(a) - 8, .dst_fd = dst, .src_fd = src };
	ktap_check_err("fill: a short size", rawio(fd, KHOPAGES_IOC_FILL_SHMEM, &a), -EINVAL);

	/* The source mapped, or the destination holding a page: busy. */
	p = mmap(NULL, KT_PAGE, PROT_READ, MAP_SHARED, src, 0);
	if (p == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	ktap_check_err("fill: the source is mapped", fill_raw(fd, dst, src, NULL), -EBUSY);
	munmap(p, KT_PAGE);
	if (pwrite(dst, "x", 1, 0) != 1)
		ktap_bail("pwrite: %s", strerror(errno));
	ktap_check_err("fill: the destination holds a page", fill_raw(fd, dst, src, NULL), -EBUSY);
	close(dst);
	dst = empty_memfd(4);

	/* Seals that promise the contents stay: on either side, refused. */
	for (int side = 0; side < 2; side++) {
		static const int seals[] = { F_SEAL_WRITE, F_SEAL_FUTURE_WRITE, F_SEAL_SHRINK, F_SEAL_GROW };

		for (unsigned int i = 0; i < sizeof(seals) / sizeof(seals[0]); i++) {
			int s = memfd_create("fill-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

			if (s < 0 || ftruncate(s, 4 * KT_PAGE) ||
			    (side && pwrite(s, "y", 1, 0) != 1) || fcntl(s, F_ADD_SEALS, seals[i]))
				ktap_bail("sealed memfd: %s", strerror(errno));
			snprintf(path, sizeof(path), "fill: %s sealed 0x%x", side ? "source" : "destination",
				 seals[i]);
			ktap_check_err(path, side ? fill_raw(fd, dst, s, NULL) : fill_raw(fd, s, src, NULL),
				       -EPERM);
			close(s);
		}
	}

	/* Without CAP_CHECKPOINT_RESTORE and CAP_SYS_ADMIN: refused. */
	fds[0] = dst;
	fds[1] = src;
	if (run_dropped("fill: needs CAP_CHECKPOINT_RESTORE", false, drop_fill, fds, res))
		ktap_check_err("fill: needs CAP_CHECKPOINT_RESTORE", res[0], -EPERM);

	/* Nothing moved by any refusal. */
	ktap_check("fill: a refused fill moves nothing", bad_bytes(src, 4) == 0,
		   "the source lost bytes");
	ktap_check_err("fill: then it works", fill_raw(fd, dst, src, &nr), 0);
	ktap_check("fill: then it works, all 4 pages", nr == 4 && !bad_bytes(dst, 4),
		   "%" PRIu64 " pages moved", nr);
	close(ro);
	close(wo);
	close(src);
	close(dst);
}

/* A memfd preserved in a Live Update session is frozen: no fill either way. */
static void t_fill_preserved(int fd)
{
	int src = filled_memfd(4), dst = empty_memfd(4), luo, ret, other;
	uint64_t nr;

	luo = luo_session_or_bail("errfill-luo");
	ret = khop_luo_preserve_fd(luo, src, 1);
	ktap_check_err("fill: preserve a memfd in Live Update", ret, 0);
	ktap_check_err("fill: from a memfd in a Live Update session",
		       fill_raw(fd, dst, src, NULL), -EBUSY);
	ret = khop_luo_preserve_fd(luo, dst, 2);
	ktap_check_err("fill: preserve a second memfd in Live Update", ret, 0);
	other = filled_memfd(1);
	ktap_check_err("fill: into a memfd in a Live Update session",
		       fill_raw(fd, dst, other, NULL), -EBUSY);
	close(other);
	close(luo);	/* takes both back */
	/* Preserving a memfd gives each of its holes a page: it is not empty. */
	ktap_check_err("fill: into a memfd once preserved (its holes got pages)",
		       fill_raw(fd, dst, src, NULL), -EBUSY);
	close(dst);
	dst = empty_memfd(4);
	ktap_check_err("fill: once the session is closed", fill_raw(fd, dst, src, &nr), 0);
	ktap_check("fill: once the session is closed, every byte", nr == 4 && !bad_bytes(dst, 4),
		   "%" PRIu64 " pages moved", nr);
	close(src);
	close(dst);
}

/* The pages move on their frames, into each kind of object. */
static void t_fill_moves(int fd)
{
	uint64_t pages = FILL_PAGES, nr, *before, *after;
	int src, dst, id, id2;
	char what[96];
	void *p, *seg;

	for (int kind = 0; kind < 3; kind++) {
		const char *name = kind == 0 ? "memfd" : kind == 1 ? "SysV segment" : "shared anonymous";

		src = filled_memfd(pages);
		before = frames_of(src, pages);
		seg = NULL;
		id = -1;
		p = MAP_FAILED;
		if (kind == 0) {
			dst = empty_memfd(pages);
		} else {
			if (kind == 1) {
				id = shmget(IPC_PRIVATE, pages * KT_PAGE, IPC_CREAT | 0600);
				seg = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
				if (seg == (void *)-1)
					ktap_bail("SysV segment: %s", strerror(errno));
				p = seg;
			} else {
				p = mmap(NULL, pages * KT_PAGE, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
				if (p == MAP_FAILED)
					ktap_bail("mmap: %s", strerror(errno));
			}
			snprintf(what, sizeof(what), "/proc/self/map_files/%lx-%lx",
				 (unsigned long)(uintptr_t)p,
				 (unsigned long)(uintptr_t)p + pages * KT_PAGE);
			dst = open(what, O_RDWR | O_CLOEXEC);
			if (dst < 0)
				ktap_bail("%s: %s", what, strerror(errno));
		}
		snprintf(what, sizeof(what), "fill: into a %s", name);
		ktap_check_err(what, fill_raw(fd, dst, src, &nr), 0);
		after = frames_of(dst, pages);
		snprintf(what, sizeof(what), "fill: into a %s, every byte on its frame", name);
		ktap_check(what, nr == pages && !bad_bytes(dst, pages) &&
			   same_frames(before, after, pages) == pages,
			   "%" PRIu64 " of %" PRIu64 " moved, %" PRIu64 " bad bytes, %" PRIu64 " on their frame",
			   nr, pages, bad_bytes(dst, pages), same_frames(before, after, pages));
		if (kind) {
			/* The mapping sees the moved pages too. */
			snprintf(what, sizeof(what), "fill: into a %s, seen through its mapping", name);
			ktap_check(what, !kt_page_bad_bytes((char *)p + 5 * KT_PAGE, FILL_SEED, 5 * KT_PAGE, NULL),
				   "page 5 is wrong");
		}
		snprintf(what, sizeof(what), "fill: into a %s, the source is left empty", name);
		id2 = empty_memfd(pages);
		ktap_check(what, fill_raw(fd, id2, src, &nr) == 0 && nr == 0,
			   "%" PRIu64 " pages moved again", nr);
		close(id2);
		free(before);
		free(after);
		if (seg) {
			shmdt(seg);
			shmctl(id, IPC_RMID, NULL);
		} else if (p != MAP_FAILED) {
			munmap(p, pages * KT_PAGE);
		}
		close(src);
		close(dst);
	}

	/* A smaller destination takes the pages within its size. */
	src = filled_memfd(pages);
	dst = empty_memfd(pages / 2);
	ktap_check_err("fill: into a smaller object", fill_raw(fd, dst, src, &nr), 0);
	ktap_check("fill: into a smaller object, its size's worth", nr == pages / 2 && !bad_bytes(dst, pages / 2),
		   "%" PRIu64 " pages moved", nr);
	close(src);
	close(dst);
}

void t_fill_shmem(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k);

	t_fill_refused(fd);
	t_fill_preserved(fd);
	t_fill_moves(fd);
	khop_close(k);
}
