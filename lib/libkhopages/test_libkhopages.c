// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of libkhopages that run on any host, without the driver:
 * argument checks, error messages (through /dev/null, whose ioctls fail
 * with ENOTTY), successful calls against a fake driver and a fake Live
 * Update device (this file's own ioctl() and open(), which the statically
 * linked library calls), the handover FDT
 * decoder on trees built here with libfdt, and, when its path is given as
 * argv[1], khopagesctl's exit codes. Each test case is a TAP case
 * (test/lib/ktap.h): "ok N - what" or "not ok N - what", after the
 * "# file:line" lines of the expectation that failed.
 *
 *   test-libkhopages [KHOPAGESCTL]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libfdt.h>

#include "khopages.h"
#include "handover_abi.h"
#include "ktap.h"
#include "luo_abi.h"

static const char *khopagesctl;
static char tmp_dir[4096] = ".";

/* A failed expectation says where and why, then ends its test case. */
#define EXPECT(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("# %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);				\
			printf("\n");					\
			return 1;					\
		}							\
	} while (0)

static void run(const char *desc, int (*test)(void))
{
	/* The expectation that failed said why, in "# " lines. */
	ktap_check(desc, !test(), "%s", "");
}

static int contains(const char *s, const char *part)
{
	return s && strstr(s, part) != NULL;
}

static int starts_with(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return s && n >= m && !strcmp(s + n - m, suffix);
}

/* ---- names, states, errno names ---------------------------------------- */

static int test_valid_names(void)
{
	char longest[KHOPAGES_NAME_MAX];

	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	EXPECT(khop_valid_name("a") == 1, "single letter");
	EXPECT(khop_valid_name("vm-1") == 1, "vm-1");
	EXPECT(khop_valid_name("A.b_c-9") == 1, "all allowed classes");
	EXPECT(khop_valid_name("criu.dump_2024-01") == 1, "typical name");
	EXPECT(strlen(longest) == 63 && khop_valid_name(longest) == 1,
	       "63 characters must be accepted");
	return 0;
}

static int test_invalid_names(void)
{
	char too_long[KHOPAGES_NAME_MAX + 1];
	static const char *const bad[] = {
		"", "a/b", "a b", " a", "caf\xc3\xa9", "\xe2\x82\xac", "tab\t",
		"nl\n", "a@b", "a:b", "*",
	};

	memset(too_long, 'x', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	EXPECT(strlen(too_long) == 64 && khop_valid_name(too_long) == 0,
	       "64 characters must be refused");
	EXPECT(khop_valid_name(NULL) == 0, "NULL");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT(khop_valid_name(bad[i]) == 0, "accepted \"%s\"", bad[i]);
	return 0;
}

static int test_state_names(void)
{
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_OPEN), "open"), "open");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_COMMITTED), "committed"), "committed");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_INCOMING), "incoming"), "incoming");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_CLAIMED), "claimed"), "claimed");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_PRESERVED), "preserved"), "preserved");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_RETRIEVED), "retrieved"), "retrieved");
	EXPECT(!strcmp(khop_state_name(0), "unknown"), "0 -> %s", khop_state_name(0));
	EXPECT(!strcmp(khop_state_name(99), "unknown"), "99 -> %s", khop_state_name(99));
	return 0;
}

static int test_feature_names(void)
{
	static const char *const features[] = {
		"large-folios", "same-kernel", "owner", "seal", "luo",
	};
	unsigned int n = sizeof(features) / sizeof(features[0]);

	for (unsigned int b = 0; b < n; b++)
		EXPECT(khop_feature_name(b) && !strcmp(khop_feature_name(b), features[b]),
		       "bit %u -> %s", b, khop_feature_name(b) ? khop_feature_name(b) : "NULL");
	EXPECT(1ULL << (n - 1) == KHOPAGES_FEATURE_LUO, "the last name is not LUO's bit");
	EXPECT(khop_feature_name(n) == NULL, "bit %u has a name", n);
	EXPECT(!strcmp(khop_command_name(0), "create") && !strcmp(khop_command_name(10), "api") &&
	       khop_command_name(11) == NULL, "command names");
	return 0;
}

static int test_errno_names(void)
{
	EXPECT(!strcmp(khop_errno_name(ENOTTY), "ENOTTY"), "%s", khop_errno_name(ENOTTY));
	EXPECT(!strcmp(khop_errno_name(-EEXIST), "EEXIST"), "%s", khop_errno_name(-EEXIST));
	EXPECT(!strcmp(khop_errno_name(EALREADY), "EALREADY"), "%s", khop_errno_name(EALREADY));
	EXPECT(!strcmp(khop_errno_name(9999), "errno 9999"), "%s", khop_errno_name(9999));
	return 0;
}

/* ---- opening ------------------------------------------------------------ */

static int test_open_missing_device(void)
{
	struct khop *k = (struct khop *)&k;	/* must be reset to NULL */
	int ret;

	setenv("KHOPAGES_DEVICE", "/nonexistent/khopages", 1);
	ret = khop_open(&k);
	EXPECT(ret == -ENOENT, "ret %d", ret);
	EXPECT(k == NULL, "handle not reset");
	EXPECT(starts_with(khop_open_error(), "open /nonexistent/khopages: "),
	       "message: %s", khop_open_error());
	EXPECT(ends_with(khop_open_error(), "(ENOENT)"), "message: %s", khop_open_error());
	EXPECT(contains(khop_open_error(), "no such device node"), "message: %s",
	       khop_open_error());
	EXPECT(khop_open(NULL) == -EINVAL, "NULL result pointer");
	return 0;
}

/* Every wrapper must survive a NULL handle. */
static int test_null_handle(void)
{
	struct khopages_session_info info, *infos;
	size_t nr;

	EXPECT(khop_create(NULL, "a") == -EINVAL, "create");
	EXPECT(khop_preserve(NULL, 1, 0, 4096, NULL) == -EINVAL, "preserve");
	EXPECT(khop_evacuate(NULL, 1, 0, 4096, NULL) == -EINVAL, "evacuate");
	EXPECT(khop_commit(NULL) == -EINVAL, "commit");
	EXPECT(khop_abort(NULL) == -EINVAL, "abort");
	EXPECT(khop_attach(NULL, "a") == -EINVAL, "attach");
	EXPECT(khop_map(NULL, 1, 0, 0, 4096, NULL) == -EINVAL, "map");
	EXPECT(khop_finish(NULL, "a", 0) == -EINVAL, "finish");
	EXPECT(khop_stats(NULL, "a", &info) == -EINVAL, "stats");
	EXPECT(khop_list(NULL, &infos, &nr) == -EINVAL, "list");
	EXPECT(khop_fd(NULL) == -1, "fd");
	EXPECT(khop_error(NULL) && *khop_error(NULL), "error text");
	khop_close(NULL);
	return 0;
}

/* A handle on /dev/null: opens fine, every ioctl fails with ENOTTY. */
static struct khop *open_dev_null(void)
{
	struct khop *k = NULL;

	setenv("KHOPAGES_DEVICE", "/dev/null", 1);
	if (khop_open(&k) < 0) {
		printf("# cannot open /dev/null: %s\n", khop_open_error());
		return NULL;
	}
	return k;
}

static int test_open_dev_null(void)
{
	struct khop *k = open_dev_null();

	EXPECT(k != NULL, "open");
	EXPECT(khop_fd(k) >= 0, "fd %d", khop_fd(k));
	EXPECT(fcntl(khop_fd(k), F_GETFD) & FD_CLOEXEC, "fd not close-on-exec");
	EXPECT(!strcmp(khop_open_error(), ""), "open error kept: %s", khop_open_error());
	EXPECT(!strcmp(khop_error(k), ""), "fresh handle has an error: %s", khop_error(k));
	khop_close(k);
	return 0;
}

/* -EINVAL (not -ENOTTY) proves the call never reached the ioctl. */
static int test_invalid_names_refused(void)
{
	struct khopages_session_info info;
	struct khop *k = open_dev_null();
	int ret;

	EXPECT(k != NULL, "open");
	ret = khop_create(k, "a b");
	EXPECT(ret == -EINVAL, "create: %d", ret);
	EXPECT(!strcmp(khop_error(k), "create \"a b\": invalid session name: "
		       "1..63 characters of [A-Za-z0-9._-] (EINVAL)"),
	       "message: %s", khop_error(k));
	ret = khop_create(k, NULL);
	EXPECT(ret == -EINVAL, "create NULL: %d", ret);
	EXPECT(starts_with(khop_error(k), "create (null): "), "message: %s", khop_error(k));
	ret = khop_attach(k, "");
	EXPECT(ret == -EINVAL, "attach: %d", ret);
	EXPECT(starts_with(khop_error(k), "attach \"\": invalid session name"),
	       "message: %s", khop_error(k));
	ret = khop_finish(k, "x/y", 0);
	EXPECT(ret == -EINVAL, "finish: %d", ret);
	EXPECT(starts_with(khop_error(k), "finish \"x/y\": "), "message: %s", khop_error(k));
	ret = khop_stats(k, "caf\xc3\xa9", &info);
	EXPECT(ret == -EINVAL, "stats: %d", ret);
	EXPECT(starts_with(khop_error(k), "stats \"caf\\xc3\\xa9\": "),
	       "message: %s", khop_error(k));
	khop_close(k);
	return 0;
}

static int test_bad_ranges_refused(void)
{
	struct khop *k = open_dev_null();
	uint64_t va = 0x7f0000000000ULL;
	int ret;

	EXPECT(k != NULL, "open");
	ret = khop_preserve(k, 0, va, 4096, NULL);
	EXPECT(ret == -EINVAL, "pid 0: %d", ret);
	EXPECT(!strcmp(khop_error(k), "preserve pid 0 0x7f0000000000+0x1000: "
		       "pid must be positive (EINVAL)"), "message: %s", khop_error(k));
	ret = khop_preserve(k, 42, va, 0, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "length is zero"),
	       "len 0: %d %s", ret, khop_error(k));
	ret = khop_preserve(k, 42, va + 1, 4096, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "page aligned"),
	       "unaligned start: %d %s", ret, khop_error(k));
	ret = khop_preserve(k, 42, va, 100, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "page aligned"),
	       "unaligned len: %d %s", ret, khop_error(k));
	ret = khop_preserve(k, 42, UINT64_MAX - 4095, 8192, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "wraps"),
	       "wrap: %d %s", ret, khop_error(k));

	ret = khop_evacuate(k, 0, va, 4096, NULL);
	EXPECT(ret == -EINVAL && !strcmp(khop_error(k), "evacuate pid 0 0x7f0000000000+0x1000: "
					 "pid must be positive (EINVAL)"),
	       "evacuate pid 0: %d %s", ret, khop_error(k));
	ret = khop_evacuate(k, 42, va + 1, 4096, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "page aligned"),
	       "evacuate unaligned: %d %s", ret, khop_error(k));
	ret = khop_evacuate(k, 42, va, 0, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "length is zero"),
	       "evacuate len 0: %d %s", ret, khop_error(k));

	ret = khop_map(k, -1, va, va, 4096, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "pid must be positive"),
	       "map pid -1: %d %s", ret, khop_error(k));
	ret = khop_map(k, 42, va, va + 8, 4096, NULL);
	EXPECT(ret == -EINVAL, "unaligned dst: %d", ret);
	EXPECT(!strcmp(khop_error(k), "map pid 42 0x7f0000000000+0x1000 -> 0x7f0000000008: "
		       "destination must be page aligned and not wrap around (EINVAL)"),
	       "message: %s", khop_error(k));
	ret = khop_map(k, 42, va, va, 0, NULL);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "length is zero"),
	       "map len 0: %d %s", ret, khop_error(k));
	khop_close(k);
	return 0;
}

static int test_bad_pointers_and_flags_refused(void)
{
	struct khopages_session_info *infos;
	struct khop *k = open_dev_null();
	size_t nr;
	int ret;

	EXPECT(k != NULL, "open");
	ret = khop_stats(k, "s1", NULL);
	EXPECT(ret == -EINVAL && !strcmp(khop_error(k), "stats s1: NULL result pointer (EINVAL)"),
	       "stats NULL: %d %s", ret, khop_error(k));
	ret = khop_list(k, NULL, &nr);
	EXPECT(ret == -EINVAL && starts_with(khop_error(k), "list: NULL"),
	       "list NULL infos: %d %s", ret, khop_error(k));
	ret = khop_list(k, &infos, NULL);
	EXPECT(ret == -EINVAL, "list NULL nr: %d", ret);
	ret = khop_finish(k, "s1", 0x80);
	EXPECT(ret == -EINVAL && contains(khop_error(k), "unknown flags 0x80"),
	       "finish flags: %d %s", ret, khop_error(k));
	khop_close(k);
	return 0;
}

/* What a real ioctl failure looks like: "<op> <args>: <why> (ENOTTY)". */
static int test_ioctl_error_messages(void)
{
	static const char *const why =
		": not a khopages device, or the driver does not know this command (ENOTTY)";
	struct khopages_session_info info, *infos = (void *)&info;
	struct khop *k = open_dev_null();
	char want[256];
	size_t nr = 7;
	int ret;

#define EXPECT_MSG(prefix)						\
	do {								\
		snprintf(want, sizeof(want), "%s%s", prefix, why);	\
		EXPECT(ret == -ENOTTY, "%s: ret %d", prefix, ret);	\
		EXPECT(!strcmp(khop_error(k), want), "got \"%s\", want \"%s\"", \
		       khop_error(k), want);				\
	} while (0)

	EXPECT(k != NULL, "open");
	ret = khop_create(k, "good");
	EXPECT_MSG("create good");
	/* CREATE failed, so later messages must not claim a session. */
	ret = khop_commit(k);
	EXPECT_MSG("commit");
	ret = khop_abort(k);
	EXPECT_MSG("abort");
	ret = khop_preserve(k, 42, 0x7f0000000000ULL, 0x200000, NULL);
	EXPECT_MSG("preserve pid 42 0x7f0000000000+0x200000");
	ret = khop_attach(k, "s-1");
	EXPECT_MSG("attach s-1");
	ret = khop_map(k, 42, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x1000, NULL);
	EXPECT_MSG("map pid 42 0x7f0000000000+0x1000 -> 0x7e0000000000");
	ret = khop_finish(k, "s-1", KHOPAGES_FINISH_OUTGOING);
	EXPECT_MSG("finish outgoing s-1");
	ret = khop_stats(k, "s-1", &info);
	EXPECT_MSG("stats s-1");
	ret = khop_list(k, &infos, &nr);
	EXPECT_MSG("list");
	EXPECT(infos == NULL && nr == 0, "list results not reset on failure");
	khop_close(k);
	return 0;
#undef EXPECT_MSG
}

/* ---- a fake driver ------------------------------------------------------ */

/*
 * ioctl() on @fake_fd is answered here; any other fd goes to the kernel.
 * The fake checks what the real driver checks first: @size and the name.
 */
static int fake_fd = -1;
static int fake_errno;		/* fail the next calls with this */
static uint32_t fake_nr_sessions;	/* LIST reports this many */
static int fake_list_calls;
static char fake_name[KHOPAGES_NAME_MAX];

static int fake_name_ok(const char name[KHOPAGES_NAME_MAX])
{
	const char *end = memchr(name, 0, KHOPAGES_NAME_MAX);

	if (!end)
		return 0;
	for (; end < name + KHOPAGES_NAME_MAX; end++)
		if (*end)
			return 0;	/* the tail must be zero */
	return 1;
}

static int fake_ioctl(unsigned long req, void *arg)
{
	if (fake_errno) {
		errno = fake_errno;
		return -1;
	}
	switch (req) {
	case KHOPAGES_IOC_CREATE:
	case KHOPAGES_IOC_OPEN:
	case KHOPAGES_IOC_FINISH: {
		struct khopages_name_arg *a = arg;

		if (a->size != sizeof(*a) || !fake_name_ok(a->name))
			break;
		memcpy(fake_name, a->name, sizeof(fake_name));
		return 0;
	}
	case KHOPAGES_IOC_PRESERVE: {
		struct khopages_preserve *a = arg;

		if (a->size != sizeof(*a) || a->flags || a->__pad)
			break;
		a->nr_pages = a->len / 4096;
		a->nr_folios = a->nr_pages / 2;
		a->nr_moved = 3;
		return 0;
	}
	case KHOPAGES_IOC_MAP: {
		struct khopages_map *a = arg;

		if (a->size != sizeof(*a) || a->flags || a->__pad)
			break;
		a->nr_mapped = a->len / 4096 - 2;
		a->nr_shared = 1;
		a->nr_copied = 1;
		return 0;
	}
	case KHOPAGES_IOC_EVACUATE: {
		struct khopages_evacuate *a = arg;

		if (a->size != sizeof(*a) || a->flags || a->__pad || a->nr_moved || a->nr_left)
			break;
		a->nr_moved = a->len / 4096 - 1;
		a->nr_left = 1;
		return 0;
	}
	case KHOPAGES_IOC_COMMIT:
	case KHOPAGES_IOC_ABORT:
		return 0;
	case KHOPAGES_IOC_API: {
		struct khopages_api *a = arg;

		if (a->size != sizeof(*a) || a->flags || a->ioctls)
			break;
		a->features = KHOPAGES_FEATURE_LUO;
		a->ioctls = 0x7ff;
		return 0;
	}
	case KHOPAGES_IOC_STATS: {
		struct khopages_stats *a = arg;

		if (a->size != sizeof(*a) || !fake_name_ok(a->name))
			break;
		memcpy(a->info.name, a->name, sizeof(a->info.name));
		a->info.state = KHOPAGES_STATE_CLAIMED;
		a->info.nr_pids = 2;
		a->info.nr_pages = 1024;
		a->info.meta_bytes = 48;
		a->info.folios_by_order[9] = 2;
		return 0;
	}
	case KHOPAGES_IOC_LIST: {
		struct khopages_list *a = arg;
		struct khopages_session_info *out = (void *)(uintptr_t)a->sessions;

		if (a->size != sizeof(*a) || a->flags ||
		    a->entry_size != sizeof(*out))
			break;
		fake_list_calls++;
		for (uint32_t i = 0; i < fake_nr_sessions && i < a->nr_sessions; i++) {
			memset(&out[i], 0, sizeof(out[i]));
			snprintf(out[i].name, sizeof(out[i].name), "s%u", (unsigned)i);
			out[i].nr_pages = i;
		}
		a->nr_sessions = fake_nr_sessions;
		return 0;
	}
	}
	errno = EINVAL;
	return -1;
}

/*
 * A fake Live Update: the device @fake_luo_dev (see open() below) makes
 * sessions, files of /dev/null (@fake_luo_session, the last one made),
 * which take and give back files. It checks the argument layout as the
 * kernel does: @size, names zero-padded, reserved fields zero.
 */
static const char *fake_luo_path;	/* open() of this path is faked */
static int fake_luo_busy;		/* opens that still give EBUSY */
static int fake_luo_opens;		/* opens of it tried */
static int fake_luo_dev = -1;
static int fake_luo_session = -1;
static int fake_luo_errno;		/* fail the next commands with this */
static char fake_luo_name[LUO_NAME_MAX];
static unsigned long fake_luo_last;	/* the last request answered */
static int fake_luo_fd;			/* PRESERVE_FD's fd */
static uint64_t fake_luo_token;		/* PRESERVE_FD's and RETRIEVE_FD's */

static int fake_luo_dev_ioctl(unsigned long req, void *arg)
{
	struct luo_session_arg *a = arg;

	fake_luo_last = req;
	if (fake_luo_errno) {
		errno = fake_luo_errno;
		return -1;
	}
	if (req != LUO_CREATE_SESSION && req != LUO_RETRIEVE_SESSION) {
		errno = EINVAL;
		return -1;
	}
	if (a->size != sizeof(*a) || !fake_name_ok((const char *)a->name)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(fake_luo_name, a->name, sizeof(fake_luo_name));
	fake_luo_session = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null",
					O_RDWR | O_CLOEXEC, 0);
	if (fake_luo_session < 0)
		return -1;
	a->fd = fake_luo_session;
	return 0;
}

static int fake_luo_session_ioctl(unsigned long req, void *arg)
{
	if (req == LUO_GET_NAME) {
		struct luo_get_name_arg *a = arg;

		if (a->size != sizeof(*a) || a->reserved) {
			errno = EINVAL;
			return -1;
		}
		memcpy(a->name, fake_luo_name, sizeof(a->name));
		return 0;
	}
	fake_luo_last = req;
	if (fake_luo_errno) {
		errno = fake_luo_errno;
		return -1;
	}
	if (req == LUO_PRESERVE_FD || req == LUO_RETRIEVE_FD) {
		struct luo_fd_arg *a = arg;

		if (a->size != sizeof(*a)) {
			errno = EINVAL;
			return -1;
		}
		fake_luo_token = a->token;
		if (req == LUO_PRESERVE_FD) {
			fake_luo_fd = a->fd;
			return 0;
		}
		a->fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC, 0);
		return a->fd < 0 ? -1 : 0;
	}
	if (req == LUO_FINISH) {
		struct luo_finish_arg *a = arg;

		if (a->size == sizeof(*a) && !a->reserved)
			return 0;
	}
	errno = EINVAL;
	return -1;
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fake_luo_dev >= 0 && fd == fake_luo_dev)
		return fake_luo_dev_ioctl(req, arg);
	if (fake_luo_session >= 0 && fd == fake_luo_session)
		return fake_luo_session_ioctl(req, arg);
	if (fake_fd >= 0 && fd == fake_fd)
		return fake_ioctl(req, arg);
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

/*
 * open() of @fake_luo_path is answered here: EBUSY while @fake_luo_busy
 * lasts (as /dev/liveupdate answers while another process holds it), then
 * a file of /dev/null that stands for the device (@fake_luo_dev). Every
 * other path goes to the kernel.
 */
int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

#ifdef O_TMPFILE
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
#else
	if (flags & O_CREAT) {
#endif
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (fake_luo_path && !strcmp(path, fake_luo_path)) {
		fake_luo_opens++;
		if (fake_luo_busy) {
			fake_luo_busy--;
			errno = EBUSY;
			return -1;
		}
		fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", flags, mode);
		fake_luo_dev = fd;
		return fd;
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static struct khop *open_fake(void)
{
	struct khop *k = open_dev_null();

	fake_fd = k ? khop_fd(k) : -1;
	fake_errno = 0;
	fake_list_calls = 0;
	memset(fake_name, 0, sizeof(fake_name));
	return k;
}

static void close_fake(struct khop *k)
{
	fake_fd = -1;
	khop_close(k);
}

static int fake_outgoing(struct khop *k)
{
	struct khopages_preserve res;
	int ret;

	EXPECT(khop_create(k, "s1") == 0, "create: %s", khop_error(k));
	EXPECT(!strcmp(fake_name, "s1"), "driver got name \"%s\"", fake_name);
	ret = khop_preserve(k, 42, 0x7f0000000000ULL, 0x200000, &res);
	EXPECT(ret == 0, "preserve: %s", khop_error(k));
	EXPECT(res.nr_pages == 512 && res.nr_folios == 256 && res.nr_moved == 3,
	       "results %llu %llu %llu", (unsigned long long)res.nr_pages,
	       (unsigned long long)res.nr_folios, (unsigned long long)res.nr_moved);
	EXPECT(khop_preserve(k, 42, 0x7f0000000000ULL, 0x1000, NULL) == 0,
	       "NULL result: %s", khop_error(k));
	{
		struct khopages_evacuate ev;

		ret = khop_evacuate(k, 42, 0x7f0000000000ULL, 0x200000, &ev);
		EXPECT(ret == 0 && ev.nr_moved == 511 && ev.nr_left == 1,
		       "evacuate: %d %s, %llu moved %llu left", ret, khop_error(k),
		       (unsigned long long)ev.nr_moved, (unsigned long long)ev.nr_left);
		fake_errno = EOPNOTSUPP;
		ret = khop_evacuate(k, 42, 0x7f0000000000ULL, 0x1000, NULL);
		EXPECT(ret == -EOPNOTSUPP && contains(khop_error(k), "kho=on"),
		       "evacuate without KHO: %d %s", ret, khop_error(k));
		fake_errno = 0;
	}
	/* Once a session exists, messages name it. */
	fake_errno = EBUSY;
	ret = khop_commit(k);
	EXPECT(ret == -EBUSY, "commit: %d", ret);
	EXPECT(!strcmp(khop_error(k), "commit s1: the session is already committed (EBUSY)"),
	       "message: %s", khop_error(k));
	fake_errno = 0;
	EXPECT(khop_commit(k) == 0, "commit: %s", khop_error(k));
	/* A success leaves the last failure's message alone. */
	EXPECT(starts_with(khop_error(k), "commit s1: "), "message: %s", khop_error(k));
	EXPECT(khop_abort(k) == 0, "abort: %s", khop_error(k));
	fake_errno = ENOENT;
	EXPECT(khop_abort(k) == -ENOENT, "second abort");
	EXPECT(!strcmp(khop_error(k), "abort: no open session on this file (ENOENT)"),
	       "message: %s", khop_error(k));
	return 0;
}

static int test_fake_outgoing(void)
{
	struct khop *k = open_fake();
	int bad;

	EXPECT(k != NULL, "open");
	bad = fake_outgoing(k);
	close_fake(k);
	return bad;
}

static int fake_incoming(struct khop *k)
{
	struct khopages_session_info info;
	struct khopages_map res;
	int ret;

	EXPECT(khop_attach(k, "in-1") == 0, "attach: %s", khop_error(k));
	ret = khop_map(k, 42, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x10000, &res);
	EXPECT(ret == 0, "map: %s", khop_error(k));
	EXPECT(res.nr_mapped == 14 && res.nr_shared == 1 && res.nr_copied == 1,
	       "results %llu %llu %llu", (unsigned long long)res.nr_mapped,
	       (unsigned long long)res.nr_shared, (unsigned long long)res.nr_copied);
	fake_errno = EEXIST;
	ret = khop_map(k, 42, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x1000, &res);
	EXPECT(ret == -EEXIST, "map: %d", ret);
	EXPECT(!strcmp(khop_error(k), "map pid 42 0x7f0000000000+0x1000 -> 0x7e0000000000: "
		       "another page (or, for a huge page, a page table) is already "
		       "mapped at the destination (EEXIST)"),
	       "message: %s", khop_error(k));
	fake_errno = EALREADY;
	khop_map(k, 42, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x1000, NULL);
	EXPECT(ends_with(khop_error(k), ": these pages were already mapped by this session (EALREADY)"),
	       "message: %s", khop_error(k));
	fake_errno = 0;
	EXPECT(khop_stats(k, "in-1", &info) == 0, "stats: %s", khop_error(k));
	EXPECT(!strcmp(info.name, "in-1") && info.state == KHOPAGES_STATE_CLAIMED &&
	       info.nr_pages == 1024 && info.folios_by_order[9] == 2,
	       "info %s %u %llu", info.name, info.state, (unsigned long long)info.nr_pages);
	EXPECT(khop_finish(k, "in-1", 0) == 0, "finish: %s", khop_error(k));
	fake_errno = EBUSY;
	khop_finish(k, "in-1", 0);
	EXPECT(!strcmp(khop_error(k), "finish in-1: the session is opened by another file, or "
		       "(outgoing) not committed yet: its creator aborts it, or in a Live Update "
		       "session (outgoing: preserved; incoming: retrieved, closing its files "
		       "releases it) (EBUSY)"),
	       "message: %s", khop_error(k));
	return 0;
}

static int test_fake_incoming(void)
{
	struct khop *k = open_fake();
	int bad;

	EXPECT(k != NULL, "open");
	bad = fake_incoming(k);
	close_fake(k);
	return bad;
}

static int fake_list(struct khop *k)
{
	static const uint32_t counts[] = { 0, 1, 8, 9, 20, 1000 };
	struct khopages_session_info *infos;
	char want[32];
	size_t nr;

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		fake_nr_sessions = counts[c];
		fake_list_calls = 0;
		EXPECT(khop_list(k, &infos, &nr) == 0, "list: %s", khop_error(k));
		EXPECT(nr == counts[c], "%u sessions: got %zu", counts[c], nr);
		/* One call when the first guess is big enough, else one more. */
		EXPECT(fake_list_calls == (counts[c] <= 8 ? 1 : 2),
		       "%u sessions: %d calls", counts[c], fake_list_calls);
		for (size_t i = 0; i < nr; i++) {
			int ok;

			snprintf(want, sizeof(want), "s%zu", i);
			ok = !strcmp(infos[i].name, want) && infos[i].nr_pages == i;
			if (!ok)
				free(infos);
			EXPECT(ok, "entry %zu of %u", i, counts[c]);
		}
		free(infos);
	}
	return 0;
}

static int test_fake_list(void)
{
	struct khop *k = open_fake();
	int bad;

	EXPECT(k != NULL, "open");
	bad = fake_list(k);
	close_fake(k);
	return bad;
}

/* ---- a handle on a file opened elsewhere -------------------------------- */

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int test_from_fd(void)
{
	struct khopages_session_info info;
	struct khop *k = (struct khop *)&k;
	char want[128];
	int fd, ret;

	ret = khop_from_fd(-1, &k);
	EXPECT(ret == -EINVAL && k == NULL, "fd -1: %d", ret);
	EXPECT(!strcmp(khop_open_error(), "from fd -1: not a file descriptor (EINVAL)"),
	       "message: %s", khop_open_error());
	EXPECT(khop_from_fd(0, NULL) == -EINVAL, "NULL result pointer");

	/* Not a khopages file: refused, and still the caller's. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	EXPECT(fd >= 0, "open /dev/null");
	ret = khop_from_fd(fd, &k);
	snprintf(want, sizeof(want), "from fd %d: not a khopages file (ENOTTY)", fd);
	EXPECT(ret == -ENOTTY && k == NULL && !strcmp(khop_open_error(), want),
	       "/dev/null: %d %s", ret, khop_open_error());
	EXPECT(fd_is_open(fd), "a refused fd was closed");
	close(fd);
	ret = khop_from_fd(fd, &k);
	EXPECT(ret == -EBADF && contains(khop_open_error(), "not an open file descriptor"),
	       "closed fd: %d %s", ret, khop_open_error());

	/* A khopages file (the fake driver's): the handle owns it. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	EXPECT(fd >= 0, "open /dev/null");
	fake_fd = fd;
	fake_errno = 0;
	ret = khop_from_fd(fd, &k);
	if (ret)
		close(fd);
	EXPECT(ret == 0 && k && khop_fd(k) == fd, "fake khopages file: %d %s", ret,
	       khop_open_error());
	EXPECT(!strcmp(khop_open_error(), ""), "message kept: %s", khop_open_error());
	ret = khop_stats(k, "in-1", &info);
	close_fake(k);
	EXPECT(ret == 0 && info.state == KHOPAGES_STATE_CLAIMED, "stats: %d", ret);
	EXPECT(!fd_is_open(fd), "khop_close left the fd open");
	return 0;
}

/* ---- Live Update -------------------------------------------------------- */

/* The lowest free descriptor: the same before and after a call that
 * leaked none. */
static int next_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

static void fake_luo_start(const char *path, int busy)
{
	fake_luo_path = path;
	fake_luo_busy = busy;
	fake_luo_opens = 0;
	fake_luo_dev = -1;
	fake_luo_session = -1;
	fake_luo_errno = 0;
	fake_luo_last = 0;
	fake_luo_fd = -1;
	fake_luo_token = 0;
	memset(fake_luo_name, 0, sizeof(fake_luo_name));
	setenv("KHOPAGES_LIVEUPDATE_DEVICE", path, 1);
}

static void fake_luo_stop(void)
{
	if (fake_luo_session >= 0)
		close(fake_luo_session);
	fake_luo_path = NULL;
	fake_luo_dev = -1;
	fake_luo_session = -1;
	unsetenv("KHOPAGES_LIVEUPDATE_DEVICE");
}

/* Refused before anything is opened: the device path leads nowhere, so
 * reaching it would say ENOENT. */
static int test_luo_bad_args(void)
{
	char want[160];
	int fd = 7, null_fd, ret;

	setenv("KHOPAGES_LIVEUPDATE_DEVICE", "/nonexistent/liveupdate", 1);
	ret = khop_luo_create(NULL, &fd);
	EXPECT(ret == -EINVAL && fd == -1, "NULL name: %d, fd %d", ret, fd);
	EXPECT(!strcmp(khop_luo_error(), "liveupdate: create session (null): invalid session "
		       "name: 1..63 characters of [A-Za-z0-9._-] (EINVAL)"),
	       "message: %s", khop_luo_error());
	ret = khop_luo_retrieve("a b", &fd);
	EXPECT(ret == -EINVAL && starts_with(khop_luo_error(),
					     "liveupdate: retrieve session \"a b\": invalid"),
	       "bad name: %d %s", ret, khop_luo_error());
	EXPECT(khop_luo_retrieve("", &fd) == -EINVAL, "empty name");
	ret = khop_luo_create("s1", NULL);
	EXPECT(ret == -EINVAL && !strcmp(khop_luo_error(), "liveupdate: create session s1: "
					 "NULL result pointer (EINVAL)"),
	       "NULL result: %d %s", ret, khop_luo_error());

	ret = khop_luo_preserve_fd(-1, 0, KHOP_LUO_TOKEN_PAGES);
	EXPECT(ret == -EINVAL && !strcmp(khop_luo_error(), "liveupdate: preserve fd 0 as token "
					 "0x4b484f50 in session fd -1: bad session file "
					 "descriptor (EINVAL)"),
	       "session fd -1: %d %s", ret, khop_luo_error());
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	EXPECT(null_fd >= 0, "open /dev/null");
	ret = khop_luo_preserve_fd(null_fd, -1, 1);
	snprintf(want, sizeof(want), "liveupdate: preserve fd -1 as token 0x1 in session fd %d: "
		 "bad file descriptor (EINVAL)", null_fd);
	EXPECT(ret == -EINVAL && !strcmp(khop_luo_error(), want), "fd -1: %d %s", ret,
	       khop_luo_error());
	fd = 7;
	ret = khop_luo_retrieve_fd(null_fd, 2, NULL);
	EXPECT(ret == -EINVAL && ends_with(khop_luo_error(), ": NULL result pointer (EINVAL)"),
	       "retrieve_fd NULL: %d %s", ret, khop_luo_error());
	ret = khop_luo_retrieve_fd(-1, 2, &fd);
	EXPECT(ret == -EINVAL && fd == -1, "retrieve_fd session -1: %d, fd %d", ret, fd);
	ret = khop_luo_finish(-1);
	EXPECT(ret == -EINVAL && !strcmp(khop_luo_error(), "liveupdate: finish session fd -1: "
					 "bad session file descriptor (EINVAL)"),
	       "finish -1: %d %s", ret, khop_luo_error());

	/* A file that is no Live Update session: the kernel says ENOTTY. */
	ret = khop_luo_finish(null_fd);
	snprintf(want, sizeof(want), "liveupdate: finish session fd %d: not a Live Update "
		 "session (ENOTTY)", null_fd);
	close(null_fd);
	EXPECT(ret == -ENOTTY && !strcmp(khop_luo_error(), want), "finish /dev/null: %d %s",
	       ret, khop_luo_error());
	unsetenv("KHOPAGES_LIVEUPDATE_DEVICE");
	return 0;
}

static int test_luo_missing_device(void)
{
	int fd = 7, ret;

	setenv("KHOPAGES_LIVEUPDATE_DEVICE", "/nonexistent/liveupdate", 1);
	ret = khop_luo_retrieve("memtest", &fd);
	unsetenv("KHOPAGES_LIVEUPDATE_DEVICE");
	EXPECT(ret == -ENOENT && fd == -1, "ret %d, fd %d", ret, fd);
	EXPECT(!strcmp(khop_luo_error(), "liveupdate: retrieve session memtest: open "
		       "/nonexistent/liveupdate: no such device node (a kernel with "
		       "CONFIG_LIVEUPDATE, booted with liveupdate=on?) (ENOENT)"),
	       "message: %s", khop_luo_error());
	return 0;
}

/* A regular file stands for the device: opened, closed again, and the
 * kernel's ENOTTY named as such. */
static int test_luo_not_a_device(void)
{
	char path[4200];
	int fd = 7, before, ret;

	snprintf(path, sizeof(path), "%s/test-libkhopages.luo.XXXXXX", tmp_dir);
	fd = mkstemp(path);
	EXPECT(fd >= 0, "temp file %s: %s", path, strerror(errno));
	close(fd);
	fd = 7;
	setenv("KHOPAGES_LIVEUPDATE_DEVICE", path, 1);
	before = next_fd();
	ret = khop_luo_create("s1", &fd);
	unsetenv("KHOPAGES_LIVEUPDATE_DEVICE");
	unlink(path);
	EXPECT(ret == -ENOTTY && fd == -1, "ret %d, fd %d", ret, fd);
	EXPECT(!strcmp(khop_luo_error(), "liveupdate: create session s1: not the Live Update "
		       "device (ENOTTY)"), "message: %s", khop_luo_error());
	EXPECT(next_fd() == before, "the device stayed open (next fd %d, was %d)", next_fd(),
	       before);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Held by another process all along: 50 tries, 20 ms apart, then EBUSY. */
static int test_luo_busy(void)
{
	int fd = 7, ret;
	double t0, took;

	fake_luo_start("/fake/liveupdate", 1000);
	t0 = now_s();
	ret = khop_luo_create("memtest", &fd);
	took = now_s() - t0;
	fake_luo_stop();
	EXPECT(ret == -EBUSY && fd == -1, "ret %d, fd %d", ret, fd);
	EXPECT(fake_luo_opens == 50, "%d tries", fake_luo_opens);
	EXPECT(took > 0.9 && took < 5, "gave up after %.2f s", took);
	EXPECT(!strcmp(khop_luo_error(), "liveupdate: create session memtest: open "
		       "/fake/liveupdate: another process holds it (one at a time), still "
		       "after 50 tries 20 ms apart (EBUSY)"), "message: %s", khop_luo_error());
	return 0;
}

/* Held for a moment: the fourth try gets it, the session comes back, the
 * device is closed again. */
static int test_luo_busy_then_free(void)
{
	int fd = 7, dev, ret;

	fake_luo_start("/fake/liveupdate", 3);
	ret = khop_luo_create("memtest", &fd);
	dev = fake_luo_dev;
	EXPECT(ret == 0 && fd >= 0 && fd == fake_luo_session, "ret %d (%s), fd %d", ret,
	       khop_luo_error(), fd);
	EXPECT(fake_luo_opens == 4, "%d tries", fake_luo_opens);
	EXPECT(dev >= 0 && !fd_is_open(dev), "the device stayed open");
	EXPECT(!strcmp(fake_luo_name, "memtest"), "name \"%s\"", fake_luo_name);
	fake_luo_stop();
	return 0;
}

static int fake_luo_cycle(void)
{
	int sfd = -1, fd = -1, ret;

	/* Outgoing. */
	ret = khop_luo_create("out-1", &sfd);
	EXPECT(ret == 0 && sfd == fake_luo_session && fake_luo_last == LUO_CREATE_SESSION,
	       "create: %d %s", ret, khop_luo_error());
	EXPECT(!strcmp(fake_luo_name, "out-1"), "name \"%s\"", fake_luo_name);
	EXPECT(!fd_is_open(fake_luo_dev), "the device stayed open");
	ret = khop_luo_preserve_fd(sfd, 9, KHOP_LUO_TOKEN_PAGES);
	EXPECT(ret == 0 && fake_luo_last == LUO_PRESERVE_FD && fake_luo_fd == 9 &&
	       fake_luo_token == KHOP_LUO_TOKEN_PAGES, "preserve_fd: %d %s, fd %d token 0x%llx",
	       ret, khop_luo_error(), fake_luo_fd, (unsigned long long)fake_luo_token);
	close(fake_luo_session);
	fake_luo_session = -1;

	/* Incoming. */
	ret = khop_luo_retrieve("out-1", &sfd);
	EXPECT(ret == 0 && sfd == fake_luo_session && fake_luo_last == LUO_RETRIEVE_SESSION,
	       "retrieve: %d %s", ret, khop_luo_error());
	ret = khop_luo_retrieve_fd(sfd, 0x1234567890abcdefULL, &fd);
	EXPECT(ret == 0 && fd >= 0 && fake_luo_last == LUO_RETRIEVE_FD &&
	       fake_luo_token == 0x1234567890abcdefULL, "retrieve_fd: %d %s", ret,
	       khop_luo_error());
	EXPECT(fcntl(fd, F_GETFD) & FD_CLOEXEC, "retrieved fd not close-on-exec");
	close(fd);
	ret = khop_luo_finish(sfd);
	EXPECT(ret == 0 && fake_luo_last == LUO_FINISH, "finish: %d %s", ret, khop_luo_error());
	return 0;
}

static int test_luo_fake_cycle(void)
{
	int bad;

	fake_luo_start("/fake/liveupdate", 0);
	bad = fake_luo_cycle();
	fake_luo_stop();
	return bad;
}

static int fake_luo_messages(void)
{
	int sfd = -1, fd = 7, ret, dev;

	fake_luo_errno = ENOENT;
	ret = khop_luo_retrieve("memtest", &sfd);
	dev = fake_luo_dev;
	EXPECT(ret == -ENOENT && sfd == -1, "retrieve: %d, fd %d", ret, sfd);
	EXPECT(!strcmp(khop_luo_error(), "liveupdate: retrieve session memtest: no such "
		       "session (ENOENT)"), "message: %s", khop_luo_error());
	EXPECT(!fd_is_open(dev), "the device stayed open after a failure");
	fake_luo_errno = EEXIST;
	ret = khop_luo_create("memtest", &sfd);
	EXPECT(ret == -EEXIST && !strcmp(khop_luo_error(), "liveupdate: create session memtest: "
					 "a Live Update session with this name already exists "
					 "(EEXIST)"), "create: %d %s", ret, khop_luo_error());
	fake_luo_errno = ENOTTY;
	ret = khop_luo_create("memtest", &sfd);
	EXPECT(ret == -ENOTTY && ends_with(khop_luo_error(), ": not the Live Update device (ENOTTY)"),
	       "create ENOTTY: %d %s", ret, khop_luo_error());

	/* Commands on a session name it (GET_NAME). */
	fake_luo_errno = 0;
	EXPECT(khop_luo_create("s1", &sfd) == 0, "create: %s", khop_luo_error());
	fake_luo_errno = EBUSY;
	ret = khop_luo_preserve_fd(sfd, 9, KHOP_LUO_TOKEN_PAGES);
	EXPECT(ret == -EBUSY && !strcmp(khop_luo_error(), "liveupdate: preserve fd 9 as token "
					"0x4b484f50 in session s1: the file is already "
					"preserved in a Live Update session (EBUSY)"),
	       "preserve_fd: %d %s", ret, khop_luo_error());
	fake_luo_errno = ENOENT;
	ret = khop_luo_retrieve_fd(sfd, KHOP_LUO_TOKEN_PAGES, &fd);
	EXPECT(ret == -ENOENT && fd == -1 &&
	       !strcmp(khop_luo_error(), "liveupdate: retrieve token 0x4b484f50 from session s1: "
		       "no file with this token in the session (ENOENT)"),
	       "retrieve_fd: %d %s", ret, khop_luo_error());
	fake_luo_errno = EBUSY;
	ret = khop_luo_finish(sfd);
	EXPECT(ret == -EBUSY && starts_with(khop_luo_error(), "liveupdate: finish session s1: ") &&
	       ends_with(khop_luo_error(), "(EBUSY)"), "finish: %d %s", ret, khop_luo_error());
	/* A success leaves the last failure's message alone. */
	fake_luo_errno = 0;
	EXPECT(khop_luo_finish(sfd) == 0, "finish: %s", khop_luo_error());
	EXPECT(starts_with(khop_luo_error(), "liveupdate: finish session s1: "), "message: %s",
	       khop_luo_error());
	return 0;
}

static int test_luo_fake_messages(void)
{
	int bad;

	fake_luo_start("/fake/liveupdate", 0);
	bad = fake_luo_messages();
	fake_luo_stop();
	return bad;
}

/* ---- Live Update sessions held by processes (/proc) --------------------- */

static int parse_is(const char *target, int want, const char *want_name)
{
	char name[KHOPAGES_NAME_MAX] = "junk";
	int ret = khop_luo_parse_link(target, name, sizeof(name));

	EXPECT(ret == want, "\"%s\": %d, expected %d", target, ret, want);
	EXPECT(!strcmp(name, want_name), "\"%s\": name \"%s\", expected \"%s\"", target,
	       name, want_name);
	return 0;
}

static int test_luo_parse_link(void)
{
	static const struct {
		const char *target, *name;
	} sessions[] = {
		{ "anon_inode:[luo_session] memtest", "memtest" },
		{ "anon_inode:[luo_session] criu-dump.1", "criu-dump.1" },
		{ "anon_inode:[luo_session] a b", "a b" },
		{ "anon_inode:[luo_session]  leading space", " leading space" },
		{ "anon_inode:[luo_session] trailing ", "trailing " },
		{ "anon_inode:[luo_session] [luo_session] x", "[luo_session] x" },
		{ "anon_inode:[luo_session] line\nbreak", "line\nbreak" },
		{ "anon_inode:[luo_session] caf\xc3\xa9/\x01", "caf\xc3\xa9/\x01" },
		{ "anon_inode:[luo_session] x", "x" },
	};
	static const char *const others[] = {
		"", "anon_inode:[luo_session]", "anon_inode:[luo_session] ",
		"anon_inode:[luo_session]x", "anon_inode:[luo_session]\tx",
		"anon_inode:[khopages]", "anon_inode:[LUO_SESSION] x",
		"anon_inode:[luo_sessions] x", "anon_inode:luo_session x",
		"/dev/liveupdate", "/tmp/anon_inode:[luo_session] x",
		" anon_inode:[luo_session] x", "socket:[1234]", "pipe:[99]",
		"/memfd:anon_inode:[luo_session] x (deleted)",
	};
	char target[128], longest[KHOPAGES_NAME_MAX], name[8];

	for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
		if (parse_is(sessions[i].target, 1, sessions[i].name))
			return 1;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (parse_is(others[i], 0, ""))
			return 1;
	/* 63 bytes is Live Update's longest name; a longer one is no session. */
	memset(longest, 'n', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	snprintf(target, sizeof(target), "anon_inode:[luo_session] %s", longest);
	if (parse_is(target, 1, longest))
		return 1;
	snprintf(target, sizeof(target), "anon_inode:[luo_session] %sn", longest);
	if (parse_is(target, 0, ""))
		return 1;
	/* The caller's buffer: exactly enough, one byte short, none. */
	EXPECT(khop_luo_parse_link("anon_inode:[luo_session] memtest", name, 8) == 1 &&
	       !strcmp(name, "memtest"), "8 bytes: \"%s\"", name);
	EXPECT(khop_luo_parse_link("anon_inode:[luo_session] memtest", name, 7) ==
	       -ENAMETOOLONG && !name[0], "7 bytes: \"%s\"", name);
	EXPECT(khop_luo_parse_link("anon_inode:[khopages]", name, 1) == 0, "1 byte");
	EXPECT(khop_luo_parse_link("anon_inode:[luo_session] x", name, 0) == -EINVAL, "0 bytes");
	EXPECT(khop_luo_parse_link(NULL, name, sizeof(name)) == -EINVAL, "NULL target");
	EXPECT(khop_luo_parse_link("anon_inode:[luo_session] x", NULL, 8) == -EINVAL,
	       "NULL name");
	return 0;
}

/* A stand-in for /proc: 'd' a directory, 'f' a file with @data, 'l' a
 * symbolic link to @data (what readlink() of an fd gives). */
struct fake_entry {
	char kind;
	const char *path, *data;
};

static const struct fake_entry fake_proc[] = {
	{ 'd', "100", NULL },
	{ 'f', "100/comm", "holder\n" },
	{ 'd', "100/fd", NULL },
	{ 'l', "100/fd/3", "anon_inode:[luo_session] memtest" },
	{ 'l', "100/fd/4", "anon_inode:[khopages]" },
	{ 'l', "100/fd/7", "anon_inode:[luo_session] memtest" },
	{ 'l', "100/fd/12", "anon_inode:[luo_session] a b" },
	{ 'l', "100/fd/13", "anon_inode:[luo_session] x\ny" },
	{ 'd', "20", NULL },
	{ 'f', "20/comm", "agent\n" },
	{ 'd', "20/fd", NULL },
	{ 'l', "20/fd/0", "/dev/null" },
	{ 'l', "20/fd/5", "anon_inode:[luo_session] memtest" },
	/* No comm. */
	{ 'd', "7", NULL },
	{ 'd', "7/fd", NULL },
	{ 'l', "7/fd/2", "anon_inode:[luo_session] nocomm" },
	/* A comm with a backslash and a control byte. */
	{ 'd', "8", NULL },
	{ 'f', "8/comm", "odd\\\x01name\n" },
	{ 'd', "8/fd", NULL },
	{ 'l', "8/fd/1", "anon_inode:[luo_session] odd" },
	/* Gone (no fd directory), no session, not processes, not fds. */
	{ 'd', "31", NULL },
	{ 'd', "42", NULL },
	{ 'd', "42/fd", NULL },
	{ 'l', "42/fd/1", "socket:[1234]" },
	{ 'd', "self", NULL },
	{ 'd', "self/fd", NULL },
	{ 'l', "self/fd/9", "anon_inode:[luo_session] notapid" },
	{ 'd', "55", NULL },
	{ 'd', "55/fd", NULL },
	{ 'l', "55/fd/x", "anon_inode:[luo_session] notanfd" },
	{ 'f', "uptime", "1.00 2.00\n" },
};

/* A process, no session. */
static const struct fake_entry fake_proc_none[] = {
	{ 'd', "1", NULL },
	{ 'f', "1/comm", "init\n" },
	{ 'd', "1/fd", NULL },
	{ 'l', "1/fd/0", "/dev/console" },
};

#define FAKE(t)	t, sizeof(t) / sizeof((t)[0])

static void fake_proc_remove(const char *root, const struct fake_entry *t, size_t n)
{
	char path[4400];

	for (size_t i = n; i-- > 0; ) {
		snprintf(path, sizeof(path), "%s/%s", root, t[i].path);
		if (t[i].kind == 'd')
			rmdir(path);
		else
			unlink(path);
	}
	rmdir(root);
}

/* The tree @t in a new directory, its path in @root; 0 or -1. */
static int fake_proc_make(char *root, size_t size, const struct fake_entry *t, size_t n)
{
	char path[4400];
	int ok = 1;

	snprintf(root, size, "%s/test-libkhopages.proc.XXXXXX", tmp_dir);
	if (!mkdtemp(root))
		return -1;
	for (size_t i = 0; i < n && ok; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", root, t[i].path);
		switch (t[i].kind) {
		case 'd':
			ok = !mkdir(path, 0755);
			break;
		case 'l':
			ok = !symlink(t[i].data, path);
			break;
		default:
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			ok = fd >= 0 &&
			     write(fd, t[i].data, strlen(t[i].data)) == (ssize_t)strlen(t[i].data);
			if (fd >= 0)
				close(fd);
		}
	}
	if (!ok)
		fake_proc_remove(root, t, n);
	return ok ? 0 : -1;
}

static int held_is(const struct khop_luo_held *h, const char *name, pid_t pid, int fd,
		   const char *comm)
{
	return !strcmp(h->name, name) && h->pid == pid && h->fd == fd && !strcmp(h->comm, comm);
}

static int luo_held_scan(void)
{
	struct khop_luo_held *held = NULL;
	size_t nr = 0;
	int ret, ok;

	ret = khop_luo_list_held(&held, &nr);
	EXPECT(ret == 0, "scan: %d %s", ret, khop_luo_error());
	/* By name (bytes), then pid, then fd; one entry per fd. */
	ok = nr == 7 &&
	     held_is(&held[0], "a b", 100, 12, "holder") &&
	     held_is(&held[1], "memtest", 20, 5, "agent") &&
	     held_is(&held[2], "memtest", 100, 3, "holder") &&
	     held_is(&held[3], "memtest", 100, 7, "holder") &&
	     held_is(&held[4], "nocomm", 7, 2, "") &&
	     held_is(&held[5], "odd", 8, 1, "odd\\\x01name") &&
	     held_is(&held[6], "x\ny", 100, 13, "holder");
	for (size_t i = 0; !ok && i < nr; i++)
		printf("# held[%zu]: \"%s\" pid %d fd %d comm \"%s\"\n", i, held[i].name,
		       (int)held[i].pid, held[i].fd, held[i].comm);
	khop_luo_held_free(held);
	EXPECT(ok, "%zu entries, not the expected 7 (above)", nr);
	return 0;
}

static int test_luo_held_scan(void)
{
	char root[4200];
	int bad;

	EXPECT(fake_proc_make(root, sizeof(root), FAKE(fake_proc)) == 0, "fake /proc in %s",
	       tmp_dir);
	setenv("KHOPAGES_PROC", root, 1);
	bad = luo_held_scan();
	unsetenv("KHOPAGES_PROC");
	fake_proc_remove(root, FAKE(fake_proc));
	return bad;
}

static int luo_held_errors(const char *root, const char *empty)
{
	struct khop_luo_held *held = (struct khop_luo_held *)&held;
	char want[4400];
	size_t nr = 42;
	int ret;

	EXPECT(khop_luo_list_held(NULL, &nr) == -EINVAL, "NULL result");
	EXPECT(khop_luo_list_held(&held, NULL) == -EINVAL, "NULL count");
	EXPECT(!strcmp(khop_luo_error(),
		       "liveupdate: scan /nonexistent for open sessions: NULL result pointer (EINVAL)"),
	       "message: %s", khop_luo_error());
	ret = khop_luo_list_held(&held, &nr);
	EXPECT(ret == -ENOENT && !held && !nr, "missing: %d", ret);
	EXPECT(!strcmp(khop_luo_error(), "liveupdate: scan /nonexistent for open sessions: "
		       "No such file or directory (ENOENT)"), "message: %s", khop_luo_error());

	/* A directory with no process in it is no procfs. */
	setenv("KHOPAGES_PROC", empty, 1);
	ret = khop_luo_list_held(&held, &nr);
	snprintf(want, sizeof(want), "liveupdate: scan %s for open sessions: no process in it"
		 " (is procfs mounted there?) (ENOENT)", empty);
	EXPECT(ret == -ENOENT && !strcmp(khop_luo_error(), want), "empty: %d %s", ret,
	       khop_luo_error());

	/* Processes, no session: nothing, and no error. */
	setenv("KHOPAGES_PROC", root, 1);
	ret = khop_luo_list_held(&held, &nr);
	EXPECT(ret == 0 && nr == 0, "no session: %d %zu %s", ret, nr, khop_luo_error());
	khop_luo_held_free(held);

	/* The real /proc: whatever this host holds, the scan succeeds. */
	unsetenv("KHOPAGES_PROC");
	ret = khop_luo_list_held(&held, &nr);
	EXPECT(ret == 0, "/proc: %d %s", ret, khop_luo_error());
	khop_luo_held_free(held);
	return 0;
}

static int test_luo_held_errors(void)
{
	char root[4200], empty[4200];
	int bad;

	EXPECT(fake_proc_make(root, sizeof(root), FAKE(fake_proc_none)) == 0,
	       "fake /proc in %s", tmp_dir);
	if (fake_proc_make(empty, sizeof(empty), NULL, 0)) {
		fake_proc_remove(root, FAKE(fake_proc_none));
		EXPECT(0, "empty directory in %s", tmp_dir);
	}
	setenv("KHOPAGES_PROC", "/nonexistent", 1);
	bad = luo_held_errors(root, empty);
	unsetenv("KHOPAGES_PROC");
	fake_proc_remove(root, FAKE(fake_proc_none));
	fake_proc_remove(empty, NULL, 0);
	return bad;
}

/* ---- handover FDT decoding ---------------------------------------------- */

struct fsess {
	const char *name;
	const uint32_t *pids;
	int nr_pids;
	uint64_t nr_pages, nr_folios, nr_words, table;
};

/* How to spoil the tree: all NULL builds a correct one. */
struct spoil {
	const char *compat;	/* root compatible; NULL: KHOPAGES_COMPATIBLE */
	int no_compat;
	const char *omit;	/* property left out of the last session */
	const char *shorten;	/* property written 4 bytes short (pids: 2) */
};

static const uint32_t pids_a[] = { 100, 200, 300 };
static const uint32_t pids_b[] = { 4242 };

/* Values with distinct bytes, so a byte-order mistake cannot pass. */
static const struct fsess two_sessions[] = {
	{ "criu-dump.1", pids_a, 3, 0x0102030405060708ULL, 0x1112131415ULL,
	  0x2122ULL, 0x0000000123456000ULL },
	{ "empty_B", pids_b, 1, 0, 0, 0, 0 },
};

static int put_prop(void *fdt, const struct spoil *sp, int last, const char *name,
		    const void *val, int len)
{
	if (last && sp->omit && !strcmp(sp->omit, name))
		return 0;
	if (last && sp->shorten && !strcmp(sp->shorten, name))
		len -= (len >= 4 && strcmp(name, KHOPAGES_PROP_PIDS)) ? 4 : 2;
	return fdt_property(fdt, name, val, len);
}

static int build_fdt(void *buf, int size, const struct fsess *s, int n,
		     const struct spoil *sp)
{
	static const struct spoil none;
	int err = 0;

	if (!sp)
		sp = &none;
	err |= fdt_create(buf, size);
	err |= fdt_finish_reservemap(buf);
	err |= fdt_begin_node(buf, "");
	if (!sp->no_compat)
		err |= fdt_property_string(buf, "compatible",
					   sp->compat ? sp->compat : KHOPAGES_COMPATIBLE);
	for (int i = 0; i < n; i++) {
		int last = i == n - 1;

		err |= fdt_begin_node(buf, s[i].name);
		/* Native byte order, as the kernel writes them. */
		err |= put_prop(buf, sp, last, KHOPAGES_PROP_PIDS, s[i].pids,
				s[i].nr_pids * (int)sizeof(uint32_t));
		err |= put_prop(buf, sp, last, KHOPAGES_PROP_NR_PAGES, &s[i].nr_pages, 8);
		err |= put_prop(buf, sp, last, KHOPAGES_PROP_NR_FOLIOS, &s[i].nr_folios, 8);
		err |= put_prop(buf, sp, last, KHOPAGES_PROP_NR_WORDS, &s[i].nr_words, 8);
		err |= put_prop(buf, sp, last, KHOPAGES_PROP_TABLE, &s[i].table, 8);
		err |= fdt_end_node(buf);
	}
	err |= fdt_end_node(buf);
	err |= fdt_finish(buf);
	if (err) {
		printf("# building the test FDT failed\n");
		return -1;
	}
	return (int)fdt_totalsize(buf);
}

/* Copies of what the decoder reported. */
struct seen {
	int calls;
	int stop_after;	/* return 7 from this call on, 0: never */
	char names[4][KHOPAGES_NAME_MAX];
	uint32_t pids[4][8];
	struct khop_fdt_session s[4];
};

static int collect(const struct khop_fdt_session *s, void *arg)
{
	struct seen *seen = arg;
	int i = seen->calls++;

	if (i < 4) {
		seen->s[i] = *s;
		snprintf(seen->names[i], sizeof(seen->names[i]), "%s", s->name);
		for (size_t p = 0; p < s->nr_pids && p < 8; p++)
			seen->pids[i][p] = s->pids[p];
	}
	return seen->stop_after && seen->calls >= seen->stop_after ? 7 : 0;
}

static int expect_session(const struct seen *seen, int i, const struct fsess *want)
{
	const struct khop_fdt_session *got = &seen->s[i];

	EXPECT(!strcmp(seen->names[i], want->name), "name %s", seen->names[i]);
	EXPECT(got->nr_pids == (size_t)want->nr_pids, "nr_pids %zu", got->nr_pids);
	for (int p = 0; p < want->nr_pids; p++)
		EXPECT(seen->pids[i][p] == want->pids[p], "pid[%d] %u", p, seen->pids[i][p]);
	EXPECT(got->nr_pages == want->nr_pages, "nr_pages 0x%llx",
	       (unsigned long long)got->nr_pages);
	EXPECT(got->nr_folios == want->nr_folios, "nr_folios 0x%llx",
	       (unsigned long long)got->nr_folios);
	EXPECT(got->nr_words == want->nr_words, "nr_words 0x%llx",
	       (unsigned long long)got->nr_words);
	EXPECT(got->table_phys == want->table, "table 0x%llx",
	       (unsigned long long)got->table_phys);
	return 0;
}

static uint64_t blob[1024];	/* 8 KiB, 8-byte aligned as libfdt wants */

static int test_fdt_valid(void)
{
	struct seen seen = { 0 };
	const char *why = "untouched";
	int size, ret;

	size = build_fdt(blob, sizeof(blob), two_sessions, 2, NULL);
	EXPECT(size > 0, "build");
	ret = khop_fdt_sessions(blob, (size_t)size, collect, &seen, &why);
	EXPECT(ret == 0, "ret %d: %s", ret, why);
	EXPECT(why == NULL, "why not cleared: %s", why);
	EXPECT(seen.calls == 2, "calls %d", seen.calls);
	if (expect_session(&seen, 0, &two_sessions[0]) ||
	    expect_session(&seen, 1, &two_sessions[1]))
		return 1;
	/* A buffer larger than the tree is fine. */
	ret = khop_fdt_sessions(blob, sizeof(blob), NULL, NULL, &why);
	EXPECT(ret == 0, "larger buffer: %d %s", ret, why);
	return 0;
}

static int test_fdt_unaligned(void)
{
	static uint64_t store[1025];
	char *shifted = (char *)store + 4;
	struct seen seen = { 0 };
	const char *why;
	int size, ret;

	size = build_fdt(blob, sizeof(blob), two_sessions, 2, NULL);
	EXPECT(size > 0, "build");
	memcpy(shifted, blob, (size_t)size);
	ret = khop_fdt_sessions(shifted, (size_t)size, collect, &seen, &why);
	EXPECT(ret == 0, "ret %d: %s", ret, why);
	EXPECT(seen.calls == 2, "calls %d", seen.calls);
	return expect_session(&seen, 0, &two_sessions[0]);
}

static int test_fdt_empty_and_stop(void)
{
	struct seen seen = { 0 };
	const char *why;
	int size, ret;

	size = build_fdt(blob, sizeof(blob), NULL, 0, NULL);
	EXPECT(size > 0, "build");
	ret = khop_fdt_sessions(blob, (size_t)size, collect, &seen, &why);
	EXPECT(ret == 0 && seen.calls == 0, "empty tree: ret %d calls %d", ret, seen.calls);

	size = build_fdt(blob, sizeof(blob), two_sessions, 2, NULL);
	EXPECT(size > 0, "build");
	seen.stop_after = 1;
	ret = khop_fdt_sessions(blob, (size_t)size, collect, &seen, &why);
	EXPECT(ret == 7 && seen.calls == 1, "stop: ret %d calls %d", ret, seen.calls);
	return 0;
}

/* Decoding must fail with -EINVAL, a message containing @part, no call. */
static int expect_refused(const void *b, size_t size, const char *part)
{
	struct seen seen = { 0 };
	const char *why = NULL;
	int ret = khop_fdt_sessions(b, size, collect, &seen, &why);

	EXPECT(ret == -EINVAL, "ret %d (wanted \"%s\")", ret, part);
	EXPECT(contains(why, part), "why \"%s\", wanted \"%s\"", why ? why : "(null)", part);
	EXPECT(seen.calls == 0, "callback called %d times on a bad tree", seen.calls);
	return 0;
}

static int test_fdt_wrong_compatible(void)
{
	struct spoil sp = { .compat = "khopages-v2" };
	int size = build_fdt(blob, sizeof(blob), two_sessions, 2, &sp);

	EXPECT(size > 0, "build");
	if (expect_refused(blob, (size_t)size, "root compatible is \"khopages-v2\", expected \"khopages-v1\""))
		return 1;
	sp = (struct spoil){ .no_compat = 1 };
	size = build_fdt(blob, sizeof(blob), two_sessions, 2, &sp);
	EXPECT(size > 0, "build");
	return expect_refused(blob, (size_t)size, "no \"compatible\" property");
}

static int test_fdt_missing_property(void)
{
	static const char *const props[] = {
		KHOPAGES_PROP_PIDS, KHOPAGES_PROP_NR_PAGES, KHOPAGES_PROP_NR_FOLIOS,
		KHOPAGES_PROP_NR_WORDS, KHOPAGES_PROP_TABLE,
	};
	char want[128];

	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		struct spoil sp = { .omit = props[i] };
		int size = build_fdt(blob, sizeof(blob), two_sessions, 2, &sp);

		EXPECT(size > 0, "build");
		/* The first session is fine: nothing may be reported. */
		snprintf(want, sizeof(want), "session empty_B: property \"%s\" is missing",
			 props[i]);
		if (expect_refused(blob, (size_t)size, want))
			return 1;
	}
	return 0;
}

static int test_fdt_wrong_length(void)
{
	static const char *const props[] = {
		KHOPAGES_PROP_NR_PAGES, KHOPAGES_PROP_NR_FOLIOS,
		KHOPAGES_PROP_NR_WORDS, KHOPAGES_PROP_TABLE,
	};
	struct spoil sp;
	char want[128];
	int size;

	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		sp = (struct spoil){ .shorten = props[i] };
		size = build_fdt(blob, sizeof(blob), two_sessions, 2, &sp);
		EXPECT(size > 0, "build");
		snprintf(want, sizeof(want), "property \"%s\" is 4 bytes, expected 8", props[i]);
		if (expect_refused(blob, (size_t)size, want))
			return 1;
	}
	sp = (struct spoil){ .shorten = KHOPAGES_PROP_PIDS };
	size = build_fdt(blob, sizeof(blob), two_sessions, 2, &sp);
	EXPECT(size > 0, "build");
	return expect_refused(blob, (size_t)size, "\"pids\" is 2 bytes, not a multiple of 4");
}

static int test_fdt_inconsistent_session(void)
{
	struct fsess s[] = { { "no-table", pids_b, 1, 1, 1, 1, 0 } };
	struct fsess bad_name[] = { { "bad name", pids_b, 1, 0, 0, 0, 0 } };
	int size = build_fdt(blob, sizeof(blob), s, 1, NULL);

	EXPECT(size > 0, "build");
	if (expect_refused(blob, (size_t)size, "1 table words but no table"))
		return 1;
	size = build_fdt(blob, sizeof(blob), bad_name, 1, NULL);
	EXPECT(size > 0, "build");
	return expect_refused(blob, (size_t)size, "\"bad name\": not a valid session name");
}

static int test_fdt_truncated(void)
{
	int size = build_fdt(blob, sizeof(blob), two_sessions, 2, NULL);

	EXPECT(size > 0, "build");
	if (expect_refused(blob, (size_t)size - 1, "truncated: the FDT header says"))
		return 1;
	if (expect_refused(blob, (size_t)size / 2, "truncated"))
		return 1;
	return expect_refused(blob, 10, "truncated: 10 bytes");
}

static int test_fdt_garbage(void)
{
	static uint64_t junk[512];
	unsigned char *p = (unsigned char *)junk;
	int size;

	for (size_t i = 0; i < sizeof(junk); i++)
		p[i] = (unsigned char)(i * 131 + 7);
	if (expect_refused(junk, sizeof(junk), "not a flattened device tree"))
		return 1;
	if (expect_refused(NULL, 100, "no blob"))
		return 1;

	/* A good header over a smashed structure block. */
	size = build_fdt(blob, sizeof(blob), two_sessions, 2, NULL);
	EXPECT(size > 0, "build");
	memset((char *)blob + fdt_off_dt_struct(blob) + 8, 0xa5, 24);
	return expect_refused(blob, (size_t)size, "corrupted FDT");
}

/* ---- khopagesctl -------------------------------------------------------- */

static int slurp(int fd, char *buf, size_t size)
{
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	return n < 0 ? -1 : 0;
}

/* Run khopagesctl ARGS with $KHOPAGES_DEVICE=@dev; its exit code or -1. */
static int ctl(const char *dev, char *out, char *err, size_t size, ...)
{
	char pat_out[4200], pat_err[4200];
	const char *argv[8] = { khopagesctl };
	int fo, fe, status, argc = 1;
	va_list ap;
	pid_t pid;

	va_start(ap, size);
	while (argc < 7 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;

	snprintf(pat_out, sizeof(pat_out), "%s/test-libkhopages.out.XXXXXX", tmp_dir);
	snprintf(pat_err, sizeof(pat_err), "%s/test-libkhopages.err.XXXXXX", tmp_dir);
	fo = mkstemp(pat_out);
	fe = mkstemp(pat_err);
	if (fo < 0 || fe < 0)
		return -1;
	unlink(pat_out);
	unlink(pat_err);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		setenv("KHOPAGES_DEVICE", dev, 1);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(khopagesctl, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		close(fo);
		close(fe);
		return -1;
	}
	slurp(fo, out, size);
	slurp(fe, err, size);
	close(fo);
	close(fe);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char out[8192], err[8192];

static int test_ctl_usage(void)
{
	int rc = ctl("/dev/null", out, err, sizeof(out), NULL);

	EXPECT(rc == 2, "no command: exit %d", rc);
	EXPECT(starts_with(err, "khopagesctl: missing COMMAND\nusage:"), "stderr: %s", err);
	rc = ctl("/dev/null", out, err, sizeof(out), "frobnicate", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: unknown command 'frobnicate'\n"),
	       "unknown: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "show", NULL);
	EXPECT(rc == 2, "show without NAME: exit %d", rc);
	rc = ctl("/dev/null", out, err, sizeof(out), "show", "a b", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: invalid session name 'a b'"),
	       "bad name: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "x", "--force", NULL);
	EXPECT(rc == 2 && contains(err, "unknown option '--force'"),
	       "bad option: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "x", "--luo", "--outgoing", NULL);
	EXPECT(rc == 2 && contains(err, "--luo and --outgoing exclude each other"),
	       "discard --luo --outgoing: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "list", "extra", NULL);
	EXPECT(rc == 2, "list extra: exit %d", rc);
	rc = ctl("/dev/null", out, err, sizeof(out), "evacuate", NULL);
	EXPECT(rc == 2 && contains(err, "evacuate needs exactly one PID"),
	       "evacuate without PID: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "evacuate", "12x", NULL);
	EXPECT(rc == 2 && contains(err, "invalid pid '12x'"),
	       "evacuate bad PID: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "evacuate", "0", NULL);
	EXPECT(rc == 2, "evacuate pid 0: exit %d", rc);
	rc = ctl("/dev/null", out, err, sizeof(out), "--help", NULL);
	EXPECT(rc == 0 && starts_with(out, "usage:"), "help: exit %d", rc);
	return 0;
}

static int test_ctl_no_device(void)
{
	int rc = ctl("/nonexistent", out, err, sizeof(out), "list", NULL);

	EXPECT(rc == 1, "exit %d", rc);
	EXPECT(!strcmp(err, "khopagesctl: open /nonexistent: no such device node "
		       "(is the khopages driver in this kernel?) (ENOENT)\n"),
	       "stderr: %s", err);
	EXPECT(out[0] == '\0', "stdout: %s", out);
	return 0;
}

static int test_ctl_ioctl_errors(void)
{
	int rc = ctl("/dev/null", out, err, sizeof(out), "list", NULL);

	EXPECT(rc == 1 && starts_with(err, "khopagesctl: list: ") && ends_with(err, "(ENOTTY)\n"),
	       "list: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "stats", "s1", NULL);
	EXPECT(rc == 1 && starts_with(err, "khopagesctl: stats s1: "),
	       "stats: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "--outgoing", "s1", NULL);
	EXPECT(rc == 1 && starts_with(err, "khopagesctl: finish outgoing s1: "),
	       "discard: exit %d stderr %s", rc, err);
	return 0;
}

static int write_tmp(const void *data, size_t size, char *path, size_t path_size)
{
	int fd;

	snprintf(path, path_size, "%s/test-libkhopages.fdt.XXXXXX", tmp_dir);
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

static int test_ctl_decode(void)
{
	char path[4200];
	int size, rc;

	size = build_fdt(blob, sizeof(blob), two_sessions, 2, NULL);
	EXPECT(size > 0, "build");
	EXPECT(write_tmp(blob, (size_t)size, path, sizeof(path)) == 0, "temp file");
	rc = ctl("/nonexistent", out, err, sizeof(out), "decode", path, NULL);
	unlink(path);
	EXPECT(rc == 0, "exit %d stderr %s", rc, err);
	EXPECT(contains(out, ": khopages-v1, 2 sessions\n"), "stdout: %s", out);
	EXPECT(contains(out, "\ncriu-dump.1 ") && contains(out, " 100,200,300\n"),
	       "stdout: %s", out);
	EXPECT(contains(out, "0x0000000123456000"), "table missing: %s", out);
	EXPECT(contains(out, "\nempty_B ") && contains(out, " 4242\n"), "stdout: %s", out);

	EXPECT(write_tmp("garbage!garbage!garbage!garbage!garbage!garbage!", 48,
			 path, sizeof(path)) == 0, "temp file");
	rc = ctl("/nonexistent", out, err, sizeof(out), "decode", path, NULL);
	unlink(path);
	EXPECT(rc == 1 && starts_with(err, "khopagesctl: decode ") &&
	       contains(err, "not a flattened device tree"), "garbage: exit %d stderr %s",
	       rc, err);
	rc = ctl("/nonexistent", out, err, sizeof(out), "decode", "/nonexistent/fdt", NULL);
	EXPECT(rc == 1 && !strcmp(err, "khopagesctl: decode /nonexistent/fdt: "
				  "No such file or directory\n"),
	       "missing file: exit %d stderr %s", rc, err);
	return 0;
}

/* khopagesctl luo on a fake /proc; without a khopages device it still
 * lists the Live Update sessions, then fails. */
static int ctl_luo(const char *root, const char *none)
{
	static const char no_dev[] = "khopagesctl: khopages sessions not shown: open "
		"/nonexistent: no such device node (is the khopages driver in this kernel?) "
		"(ENOENT)\n";
	int rc;

	setenv("KHOPAGES_PROC", root, 1);
	rc = ctl("/nonexistent", out, err, sizeof(out), "luo", NULL);
	EXPECT(rc == 1, "exit %d stderr %s", rc, err);
	EXPECT(!strcmp(out, "\"a b\"  pid 100 (holder)  fd 12\n"
			    "memtest  pid 20 (agent)  fd 5\n"
			    "memtest  pid 100 (holder)  fd 3,7\n"
			    "nocomm  pid 7 (?)  fd 2\n"
			    "odd  pid 8 (odd\\x5c\\x01name)  fd 1\n"
			    "\"x\\x0ay\"  pid 100 (holder)  fd 13\n"), "stdout:\n%s", out);
	EXPECT(!strcmp(err, no_dev), "stderr: %s", err);

	setenv("KHOPAGES_PROC", none, 1);
	rc = ctl("/nonexistent", out, err, sizeof(out), "luo", NULL);
	EXPECT(rc == 1 && !strcmp(out, "no Live Update session is open\n") &&
	       !strcmp(err, no_dev), "no session: exit %d stdout %s stderr %s", rc, out, err);

	setenv("KHOPAGES_PROC", "/nonexistent", 1);
	rc = ctl("/nonexistent", out, err, sizeof(out), "luo", NULL);
	EXPECT(rc == 1 && !out[0] &&
	       !strcmp(err, "khopagesctl: liveupdate: scan /nonexistent for open sessions: "
		       "No such file or directory (ENOENT)\n"),
	       "no /proc: exit %d stdout %s stderr %s", rc, out, err);
	rc = ctl("/nonexistent", out, err, sizeof(out), "luo", "all", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: luo takes no arguments\n"),
	       "argument: exit %d stderr %s", rc, err);
	return 0;
}

static int test_ctl_luo(void)
{
	char root[4200], none[4200];
	int bad;

	EXPECT(fake_proc_make(root, sizeof(root), FAKE(fake_proc)) == 0, "fake /proc in %s",
	       tmp_dir);
	if (fake_proc_make(none, sizeof(none), FAKE(fake_proc_none))) {
		fake_proc_remove(root, FAKE(fake_proc));
		EXPECT(0, "fake /proc in %s", tmp_dir);
	}
	bad = ctl_luo(root, none);
	unsetenv("KHOPAGES_PROC");
	fake_proc_remove(root, FAKE(fake_proc));
	fake_proc_remove(none, FAKE(fake_proc_none));
	return bad;
}

int main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');

	/* Temporary files go next to this binary, i.e. the build directory. */
	if (slash)
		snprintf(tmp_dir, sizeof(tmp_dir), "%.*s", (int)(slash - argv[0]), argv[0]);
	if (!tmp_dir[0])
		snprintf(tmp_dir, sizeof(tmp_dir), "/");
	khopagesctl = argc > 1 ? argv[1] : NULL;
	ktap_start();

	run("khop_valid_name accepts 1..63 chars of [A-Za-z0-9._-]", test_valid_names);
	run("khop_valid_name refuses empty, 64 chars, '/', ' ', unicode", test_invalid_names);
	run("khop_state_name", test_state_names);
	run("khop_feature_name and khop_command_name", test_feature_names);
	run("khop_errno_name", test_errno_names);
	run("khop_open on a missing device: -ENOENT and a clear message",
	    test_open_missing_device);
	run("every wrapper refuses a NULL handle", test_null_handle);
	run("khop_open through KHOPAGES_DEVICE=/dev/null", test_open_dev_null);
	run("invalid names refused before any ioctl", test_invalid_names_refused);
	run("bad pids and ranges refused before any ioctl", test_bad_ranges_refused);
	run("NULL results and unknown flags refused before any ioctl",
	    test_bad_pointers_and_flags_refused);
	run("ioctl failure messages name operation, arguments and ENOTTY",
	    test_ioctl_error_messages);
	run("fake driver: create, preserve, commit, abort", test_fake_outgoing);
	run("fake driver: attach, map, stats, finish; EEXIST message", test_fake_incoming);
	run("khop_list grows its array until the kernel's count fits", test_fake_list);
	run("khop_from_fd: checks the file, then owns it", test_from_fd);
	run("khop_luo_*: bad arguments refused before any system call", test_luo_bad_args);
	run("khop_luo_retrieve without /dev/liveupdate: -ENOENT and a clear message",
	    test_luo_missing_device);
	run("khop_luo_create on a file that is no Live Update device: ENOTTY, no fd left",
	    test_luo_not_a_device);
	run("khop_luo_create: a held /dev/liveupdate is retried for 1 s, then EBUSY",
	    test_luo_busy);
	run("khop_luo_create: a device held for a moment is retried until free",
	    test_luo_busy_then_free);
	run("fake Live Update: create, preserve_fd, retrieve, retrieve_fd, finish",
	    test_luo_fake_cycle);
	run("fake Live Update: messages name the command, the session and the errno",
	    test_luo_fake_messages);
	run("khop_luo_parse_link: session links, odd names, other links, small buffers",
	    test_luo_parse_link);
	run("khop_luo_list_held: a fake /proc, sorted, one entry per fd", test_luo_held_scan);
	run("khop_luo_list_held: no /proc, no process, no session, the real /proc",
	    test_luo_held_errors);
	run("fdt: two sessions decoded field by field", test_fdt_valid);
	run("fdt: unaligned blob", test_fdt_unaligned);
	run("fdt: empty tree, callback stops the walk", test_fdt_empty_and_stop);
	run("fdt: wrong or missing compatible", test_fdt_wrong_compatible);
	run("fdt: each missing property", test_fdt_missing_property);
	run("fdt: wrong property lengths", test_fdt_wrong_length);
	run("fdt: words without table, invalid node name", test_fdt_inconsistent_session);
	run("fdt: truncated blob", test_fdt_truncated);
	run("fdt: garbage and corrupted structure", test_fdt_garbage);
	if (khopagesctl) {
		run("khopagesctl: usage errors exit 2", test_ctl_usage);
		run("khopagesctl list without a device: one line, exit 1", test_ctl_no_device);
		run("khopagesctl: ioctl errors exit 1 with the library message",
		    test_ctl_ioctl_errors);
		run("khopagesctl decode FILE", test_ctl_decode);
		run("khopagesctl luo: one line per session and process, odd names escaped",
		    test_ctl_luo);
	} else {
		ktap_skip("khopagesctl's exit codes and messages", "no khopagesctl given");
	}
	return ktap_finish();
}
