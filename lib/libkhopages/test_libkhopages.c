// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of libkhopages that run on any host, without the driver:
 * argument checks, error messages (through /dev/null, whose ioctls fail
 * with ENOTTY), successful calls against a fake driver and a fake Live
 * Update device (this file's own ioctl() and open(), which the statically
 * linked library calls): a session handed over in a Live Update session,
 * then retrieved and attached; the Live Update sessions processes hold
 * (a fake /proc); and, when its path is given as argv[1], khopagesctl's
 * exit codes and messages, its discard against the same fake Live Update
 * (its ioctls relayed here by seccomp user notification; skipped where
 * there is none). Each test case is a TAP case
 * (test/lib/ktap.h): "ok N - what" or "not ok N - what", after the
 * "# file:line" lines of the expectation that failed.
 *
 *   test-libkhopages [KHOPAGESCTL]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include "khopages.h"
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
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_INCOMING), "incoming"), "incoming");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_CLAIMED), "claimed"), "claimed");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_PRESERVED), "preserved"), "preserved");
	EXPECT(!strcmp(khop_state_name(KHOPAGES_STATE_RETRIEVED), "retrieved"), "retrieved");
	/* 2 was COMMITTED, of the driver's own handover: retired. */
	EXPECT(!strcmp(khop_state_name(2), "unknown"), "2 -> %s", khop_state_name(2));
	EXPECT(!strcmp(khop_state_name(0), "unknown"), "0 -> %s", khop_state_name(0));
	EXPECT(!strcmp(khop_state_name(99), "unknown"), "99 -> %s", khop_state_name(99));
	return 0;
}

/* Bit by bit; a retired bit keeps its place with "" (not NULL, which
 * ends the list). */
static int test_feature_names(void)
{
	static const char *const features[] = {
		"large-folios", "same-kernel", "owner", "", "luo",
	};
	/* Command bit N is command number KHOPAGES_IOC_FIRST + N. */
	static const struct {
		unsigned long req;
		const char *name;
	} commands[] = {
		{ KHOPAGES_IOC_CREATE, "create" }, { KHOPAGES_IOC_PRESERVE, "preserve" },
		{ KHOPAGES_IOC_ABORT, "abort" }, { KHOPAGES_IOC_OPEN, "open" },
		{ KHOPAGES_IOC_MAP, "map" }, { KHOPAGES_IOC_STATS, "stats" },
		{ KHOPAGES_IOC_LIST, "list" }, { KHOPAGES_IOC_EVACUATE, "evacuate" },
		{ KHOPAGES_IOC_API, "api" }, { KHOPAGES_IOC_FILL_SHMEM, "fill-shmem" },
	};
	unsigned int n = sizeof(features) / sizeof(features[0]), last = 0;

	for (unsigned int b = 0; b < n; b++)
		EXPECT(khop_feature_name(b) && !strcmp(khop_feature_name(b), features[b]),
		       "feature bit %u -> %s", b,
		       khop_feature_name(b) ? khop_feature_name(b) : "NULL");
	EXPECT(1ULL << (n - 1) == KHOPAGES_FEATURE_LUO, "the last name is not LUO's bit");
	EXPECT(khop_feature_name(n) == NULL && khop_feature_name(~0u) == NULL,
	       "a feature name past bit %u", n - 1);

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		unsigned int b = _IOC_NR(commands[i].req) - KHOPAGES_IOC_FIRST;

		EXPECT(khop_command_name(b) && !strcmp(khop_command_name(b), commands[i].name),
		       "command bit %u -> %s, expected %s", b,
		       khop_command_name(b) ? khop_command_name(b) : "NULL", commands[i].name);
		if (b > last)
			last = b;
	}
	/* 0x82 was COMMIT, 0x86 FINISH. */
	EXPECT(khop_command_name(2) && !*khop_command_name(2), "command bit 2 -> %s",
	       khop_command_name(2) ? khop_command_name(2) : "NULL");
	EXPECT(khop_command_name(6) && !*khop_command_name(6), "command bit 6 -> %s",
	       khop_command_name(6) ? khop_command_name(6) : "NULL");
	EXPECT(khop_command_name(last + 1) == NULL && khop_command_name(~0u) == NULL,
	       "a command name past bit %u", last);
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
	EXPECT(khop_fill_shmem(NULL, 0, 1, NULL) == -EINVAL, "fill_shmem");
	EXPECT(khop_abort(NULL) == -EINVAL, "abort");
	EXPECT(khop_attach(NULL, "a") == -EINVAL, "attach");
	EXPECT(khop_map(NULL, 1, 0, 0, 4096, NULL) == -EINVAL, "map");
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
	ret = khop_attach(k, "x/y");
	EXPECT(ret == -EINVAL, "attach x/y: %d", ret);
	EXPECT(starts_with(khop_error(k), "attach \"x/y\": "), "message: %s", khop_error(k));
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

static int test_bad_pointers_refused(void)
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
	ret = khop_abort(k);
	EXPECT_MSG("abort");
	ret = khop_preserve(k, 42, 0x7f0000000000ULL, 0x200000, NULL);
	EXPECT_MSG("preserve pid 42 0x7f0000000000+0x200000");
	ret = khop_attach(k, "s-1");
	EXPECT_MSG("attach s-1");
	ret = khop_map(k, 42, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x1000, NULL);
	EXPECT_MSG("map pid 42 0x7f0000000000+0x1000 -> 0x7e0000000000");
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
 * ioctl() on @fake_fd, or on the file the fake Live Update gave back
 * (@fake_luo_retrieved, below), is answered here; any other fd goes to the
 * kernel. The fake checks what the real driver checks first: @size and
 * the name.
 */
static int fake_fd = -1;
static int fake_luo_retrieved = -1;
static int fake_errno;		/* fail the next calls with this */
static uint32_t fake_nr_sessions;	/* LIST reports this many */
static int fake_list_calls;
static char fake_name[KHOPAGES_NAME_MAX];
static uint32_t fake_state;	/* STATS reports it */
static unsigned long fake_last;	/* the last request, */
static int fake_last_fd;	/* on this file */

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

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	fake_last = req;
	fake_last_fd = fd;
	if (fake_errno) {
		errno = fake_errno;
		return -1;
	}
	switch (req) {
	case KHOPAGES_IOC_CREATE:
	case KHOPAGES_IOC_OPEN: {
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
	case KHOPAGES_IOC_ABORT:
		return 0;
	case KHOPAGES_IOC_API: {
		struct khopages_api *a = arg;

		if (a->size != sizeof(*a) || a->flags || a->ioctls)
			break;
		a->features = KHOPAGES_FEATURE_LUO;
		a->ioctls = 0x7bb;	/* 0x80-0x8a but for COMMIT and FINISH */
		return 0;
	}
	case KHOPAGES_IOC_STATS: {
		struct khopages_stats *a = arg;

		if (a->size != sizeof(*a) || !fake_name_ok(a->name))
			break;
		memcpy(a->info.name, a->name, sizeof(a->info.name));
		a->info.state = fake_state;
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
 * which take files and give back files of /dev/null that the fake driver
 * answers as khopages files (@fake_luo_retrieved, the last one). It checks
 * the argument layout as the kernel does: @size, names zero-padded,
 * reserved fields zero.
 */
static const char *fake_luo_path;	/* open() of this path is faked */
static int fake_luo_busy;		/* opens that still give EBUSY */
static int fake_luo_opens;		/* opens of it tried */
static int fake_luo_dev = -1;
static int fake_luo_session = -1;
static int fake_luo_errno;		/* fail the next commands with this, */
static unsigned long fake_luo_fail_req;	/* only this one when set */
static char fake_luo_log[256];		/* the commands, "retrieve s1; finish" */
static char fake_luo_name[LUO_NAME_MAX];
static unsigned long fake_luo_last;	/* the last request answered */
static int fake_luo_fd;			/* PRESERVE_FD's fd */
static uint64_t fake_luo_token;		/* PRESERVE_FD's and RETRIEVE_FD's */

/*
 * Note the command @what in @fake_luo_log; when it is to fail (@fake_luo_errno,
 * on @fake_luo_fail_req or on every command), with the errno's name, and
 * set errno.
 */
static int fake_luo_fails(unsigned long req, const char *what)
{
	int fail = fake_luo_errno && (!fake_luo_fail_req || req == fake_luo_fail_req);
	size_t n = strlen(fake_luo_log);

	snprintf(fake_luo_log + n, sizeof(fake_luo_log) - n, "%s%s%s%s", n ? "; " : "", what,
		 fail ? " " : "", fail ? khop_errno_name(fake_luo_errno) : "");
	if (fail)
		errno = fake_luo_errno;
	return fail;
}

static int fake_luo_dev_ioctl(unsigned long req, void *arg)
{
	struct luo_session_arg *a = arg;
	char what[96];

	fake_luo_last = req;
	if (req != LUO_CREATE_SESSION && req != LUO_RETRIEVE_SESSION) {
		errno = EINVAL;
		return -1;
	}
	if (a->size != sizeof(*a) || !fake_name_ok((const char *)a->name)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(fake_luo_name, a->name, sizeof(fake_luo_name));
	snprintf(what, sizeof(what), "%s %s", req == LUO_CREATE_SESSION ? "create" : "retrieve",
		 fake_luo_name);
	if (fake_luo_fails(req, what))
		return -1;
	fake_luo_session = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null",
					O_RDWR | O_CLOEXEC, 0);
	if (fake_luo_session < 0)
		return -1;
	a->fd = fake_luo_session;
	return 0;
}

static int fake_luo_session_ioctl(unsigned long req, void *arg)
{
	char what[64];

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
	if (req == LUO_PRESERVE_FD || req == LUO_RETRIEVE_FD) {
		struct luo_fd_arg *a = arg;

		if (a->size != sizeof(*a)) {
			errno = EINVAL;
			return -1;
		}
		fake_luo_token = a->token;
		snprintf(what, sizeof(what), "%s 0x%llx",
			 req == LUO_PRESERVE_FD ? "preserve_fd" : "retrieve_fd",
			 (unsigned long long)a->token);
		if (fake_luo_fails(req, what))
			return -1;
		if (req == LUO_PRESERVE_FD) {
			fake_luo_fd = a->fd;
			return 0;
		}
		a->fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC, 0);
		fake_luo_retrieved = a->fd;
		return a->fd < 0 ? -1 : 0;
	}
	if (req == LUO_FINISH) {
		struct luo_finish_arg *a = arg;

		if (a->size == sizeof(*a) && !a->reserved)
			return fake_luo_fails(req, "finish") ? -1 : 0;
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
	/* The device is closed after each command: a retrieved file may have
	 * its number, so the khopages files come first. */
	if (fd >= 0 && (fd == fake_fd || fd == fake_luo_retrieved))
		return fake_ioctl(fd, req, arg);
	if (fake_luo_dev >= 0 && fd == fake_luo_dev)
		return fake_luo_dev_ioctl(req, arg);
	if (fake_luo_session >= 0 && fd == fake_luo_session)
		return fake_luo_session_ioctl(req, arg);
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

static void fake_luo_start(const char *path, int busy)
{
	fake_luo_path = path;
	fake_luo_busy = busy;
	fake_luo_opens = 0;
	fake_luo_dev = -1;
	fake_luo_session = -1;
	fake_luo_retrieved = -1;
	fake_luo_errno = 0;
	fake_luo_fail_req = 0;
	fake_luo_log[0] = '\0';
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
	fake_luo_retrieved = -1;
	unsetenv("KHOPAGES_LIVEUPDATE_DEVICE");
}

static struct khop *open_fake(void)
{
	struct khop *k = open_dev_null();

	fake_fd = k ? khop_fd(k) : -1;
	fake_errno = 0;
	fake_list_calls = 0;
	fake_state = KHOPAGES_STATE_OPEN;
	fake_last = 0;
	fake_last_fd = -1;
	memset(fake_name, 0, sizeof(fake_name));
	return k;
}

static void close_fake(struct khop *k)
{
	fake_fd = -1;
	khop_close(k);
}

/* Create, take pages, hand over in Live Update session s1, take back. */
static int fake_outgoing(struct khop *k)
{
	struct khopages_preserve res;
	struct khopages_evacuate ev;
	int sfd = -1, ret;

	EXPECT(khop_create(k, "s1") == 0, "create: %s", khop_error(k));
	EXPECT(fake_last == KHOPAGES_IOC_CREATE && !strcmp(fake_name, "s1"),
	       "driver got request 0x%lx, name \"%s\"", fake_last, fake_name);
	ret = khop_preserve(k, 42, 0x7f0000000000ULL, 0x200000, &res);
	EXPECT(ret == 0, "preserve: %s", khop_error(k));
	EXPECT(res.nr_pages == 512 && res.nr_folios == 256 && res.nr_moved == 3,
	       "results %llu %llu %llu", (unsigned long long)res.nr_pages,
	       (unsigned long long)res.nr_folios, (unsigned long long)res.nr_moved);
	EXPECT(khop_preserve(k, 42, 0x7f0000000000ULL, 0x1000, NULL) == 0,
	       "NULL result: %s", khop_error(k));
	ret = khop_evacuate(k, 42, 0x7f0000000000ULL, 0x200000, &ev);
	EXPECT(ret == 0 && ev.nr_moved == 511 && ev.nr_left == 1,
	       "evacuate: %d %s, %llu moved %llu left", ret, khop_error(k),
	       (unsigned long long)ev.nr_moved, (unsigned long long)ev.nr_left);
	fake_errno = EOPNOTSUPP;
	ret = khop_evacuate(k, 42, 0x7f0000000000ULL, 0x1000, NULL);
	EXPECT(ret == -EOPNOTSUPP && contains(khop_error(k), "kho=on"),
	       "evacuate without KHO: %d %s", ret, khop_error(k));
	fake_errno = 0;

	/* Handed over: the handle's own file goes into the Live Update session. */
	ret = khop_luo_create("s1", &sfd);
	EXPECT(ret == 0, "luo create: %s", khop_luo_error());
	ret = khop_luo_preserve_fd(sfd, khop_fd(k), KHOP_LUO_TOKEN_PAGES);
	EXPECT(ret == 0 && fake_luo_last == LUO_PRESERVE_FD && fake_luo_fd == khop_fd(k) &&
	       fake_luo_token == KHOP_LUO_TOKEN_PAGES, "preserve_fd: %d %s, fd %d token 0x%llx",
	       ret, khop_luo_error(), fake_luo_fd, (unsigned long long)fake_luo_token);

	/* Preserved, the driver refuses more pages and ABORT; once a session
	 * exists, messages name it. */
	fake_errno = EBUSY;
	ret = khop_preserve(k, 42, 0x7f0000000000ULL, 0x1000, NULL);
	EXPECT(ret == -EBUSY && !strcmp(khop_error(k), "preserve pid 42 0x7f0000000000+0x1000: "
					"the session is in a Live Update session, or a page "
					"could not be split or moved out of KHO scratch (see "
					"the kernel log) (EBUSY)"),
	       "preserve: %d %s", ret, khop_error(k));
	ret = khop_abort(k);
	EXPECT(ret == -EBUSY && !strcmp(khop_error(k), "abort s1: the session is in a Live "
					"Update session (closing that one takes it back) (EBUSY)"),
	       "abort: %d %s", ret, khop_error(k));

	/* Closing the Live Update session took it back: ABORT goes through. */
	close(sfd);
	fake_luo_session = -1;
	fake_errno = 0;
	EXPECT(khop_abort(k) == 0 && fake_last == KHOPAGES_IOC_ABORT &&
	       fake_last_fd == khop_fd(k), "abort: %s", khop_error(k));
	/* A success leaves the last failure's message alone. */
	EXPECT(starts_with(khop_error(k), "abort s1: "), "message: %s", khop_error(k));
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
	fake_luo_start("/fake/liveupdate", 0);
	bad = fake_outgoing(k);
	fake_luo_stop();
	close_fake(k);
	return bad;
}

/* After the kexec: the khopages file of Live Update session @name, as
 * *r, and the session finished. */
static int fake_take_over(const char *name, struct khop **r)
{
	int sfd = -1, fd = -1, ret;

	ret = khop_luo_retrieve(name, &sfd);
	EXPECT(ret == 0 && !strcmp(fake_luo_name, name), "retrieve: %d %s", ret,
	       khop_luo_error());
	ret = khop_luo_retrieve_fd(sfd, KHOP_LUO_TOKEN_PAGES, &fd);
	EXPECT(ret == 0 && fake_luo_token == KHOP_LUO_TOKEN_PAGES, "retrieve_fd: %d %s", ret,
	       khop_luo_error());
	ret = khop_from_fd(fd, r);
	if (ret)
		close(fd);
	EXPECT(ret == 0 && khop_fd(*r) == fd, "from_fd: %d %s", ret, khop_open_error());
	ret = khop_luo_finish(sfd);
	EXPECT(ret == 0 && fake_luo_last == LUO_FINISH, "finish: %d %s", ret, khop_luo_error());
	return 0;
}

/*
 * @r, retrieved from Live Update, is attached to session in-1 already;
 * @k, another file, attaches to it with OPEN. Each maps through its own
 * file.
 */
static int fake_incoming(struct khop *r, struct khop *k)
{
	struct khopages_session_info info;
	struct khopages_map res;
	int ret;

	fake_state = KHOPAGES_STATE_RETRIEVED;
	EXPECT(khop_stats(r, "in-1", &info) == 0, "stats: %s", khop_error(r));
	EXPECT(!strcmp(info.name, "in-1") && info.state == KHOPAGES_STATE_RETRIEVED &&
	       info.nr_pages == 1024 && info.folios_by_order[9] == 2,
	       "info %s %u %llu", info.name, info.state, (unsigned long long)info.nr_pages);
	ret = khop_map(r, 42, 0x7f0000000000ULL, 0x7f0000000000ULL, 0x200000, NULL);
	EXPECT(ret == 0 && fake_last == KHOPAGES_IOC_MAP && fake_last_fd == khop_fd(r),
	       "map on the retrieved file: %d %s", ret, khop_error(r));

	EXPECT(khop_attach(k, "in-1") == 0, "attach: %s", khop_error(k));
	EXPECT(fake_last == KHOPAGES_IOC_OPEN && fake_last_fd == khop_fd(k) &&
	       !strcmp(fake_name, "in-1"), "driver got request 0x%lx on fd %d, name \"%s\"",
	       fake_last, fake_last_fd, fake_name);
	ret = khop_map(k, 43, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x10000, &res);
	EXPECT(ret == 0 && fake_last_fd == khop_fd(k), "map: %s", khop_error(k));
	EXPECT(res.nr_mapped == 14 && res.nr_shared == 1 && res.nr_copied == 1,
	       "results %llu %llu %llu", (unsigned long long)res.nr_mapped,
	       (unsigned long long)res.nr_shared, (unsigned long long)res.nr_copied);
	fake_errno = EEXIST;
	ret = khop_map(k, 43, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x1000, &res);
	EXPECT(ret == -EEXIST, "map: %d", ret);
	EXPECT(!strcmp(khop_error(k), "map pid 43 0x7f0000000000+0x1000 -> 0x7e0000000000: "
		       "another page (or, for a huge page, a page table) is already "
		       "mapped at the destination (EEXIST)"),
	       "message: %s", khop_error(k));
	fake_errno = EALREADY;
	khop_map(k, 43, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x1000, NULL);
	EXPECT(ends_with(khop_error(k), ": these pages were already mapped by this session (EALREADY)"),
	       "message: %s", khop_error(k));
	fake_errno = ENOENT;
	khop_map(k, 44, 0x7f0000000000ULL, 0x7e0000000000ULL, 0x1000, NULL);
	EXPECT(ends_with(khop_error(k), ": no incoming session on this file, or nothing "
			 "recorded for this pid and address (ENOENT)"),
	       "message: %s", khop_error(k));

	/* OPEN of a session nobody retrieved, OPEN on a file that has one. */
	ret = khop_attach(k, "in-2");
	EXPECT(ret == -ENOENT && !strcmp(khop_error(k), "attach in-2: no incoming session "
					 "with this name whose file was retrieved (ENOENT)"),
	       "attach in-2: %d %s", ret, khop_error(k));
	fake_errno = EBUSY;
	ret = khop_attach(k, "in-1");
	EXPECT(ret == -EBUSY && !strcmp(khop_error(k), "attach in-1: this file already has a "
					"session (other than an open one of this name) (EBUSY)"),
	       "attach again: %d %s", ret, khop_error(k));
	fake_errno = 0;
	return 0;
}

static int test_fake_incoming(void)
{
	struct khop *k = open_fake(), *r = NULL;
	int bad;

	EXPECT(k != NULL, "open");
	fake_luo_start("/fake/liveupdate", 0);
	bad = fake_take_over("in-1", &r) || fake_incoming(r, k);
	khop_close(r);
	fake_luo_stop();
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
	fake_state = KHOPAGES_STATE_RETRIEVED;
	ret = khop_from_fd(fd, &k);
	if (ret)
		close(fd);
	EXPECT(ret == 0 && k && khop_fd(k) == fd, "fake khopages file: %d %s", ret,
	       khop_open_error());
	EXPECT(!strcmp(khop_open_error(), ""), "message kept: %s", khop_open_error());
	ret = khop_stats(k, "in-1", &info);
	close_fake(k);
	EXPECT(ret == 0 && info.state == KHOPAGES_STATE_RETRIEVED, "stats: %d", ret);
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
	/* Each call one command, no other. */
	EXPECT(!strcmp(fake_luo_log, "create out-1; preserve_fd 0x4b484f50; retrieve out-1; "
		       "retrieve_fd 0x1234567890abcdef; finish"), "commands: %s", fake_luo_log);
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

/* ---- khopagesctl -------------------------------------------------------- */

static int slurp(int fd, char *buf, size_t size)
{
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	return n < 0 ? -1 : 0;
}

/*
 * khopagesctl against the fake Live Update: the child that runs it has
 * every ioctl of Live Update's type (0xBA, numbers below khopages' 0x80)
 * wait for this process to answer it (seccomp user notification). The
 * fake answers with its own files, which go into the child as new file
 * descriptors; the arguments are read and written in the child's memory.
 */
static int ctl_relay;		/* set: ctl() answers the Live Update ioctls */

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ARG1_LOW	(offsetof(struct seccomp_data, args[1]) + 4)
#else
#define ARG1_LOW	offsetof(struct seccomp_data, args[1])
#endif

/* In the child: the filter, its listener sent to @sock with 0, or no
 * listener with the errno that prevented it. Returns that errno. */
static int luo_intercept(int sock)
{
	/* khopagesctl makes native system calls only: no check of the arch. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG1_LOW),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff80),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, LUO_IOC_TYPE << 8, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	int err = 0, listener = -1;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		err = errno;
	else
		listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
					SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (!err && listener < 0)
		err = errno;
	if (listener >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &listener, sizeof(int));
	}
	if (sendmsg(sock, &msg, 0) != sizeof(err) && !err)
		err = errno;
	if (listener >= 0)
		close(listener);
	return err;
}

/* In the parent: the listener the child sent, or -1 with *err saying why. */
static int luo_listener(int sock, int *err)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = err, .iov_len = sizeof(*err) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	int fd = -1;

	*err = EPIPE;		/* the child ended without a word */
	if (recvmsg(sock, &msg, 0) != sizeof(*err))
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return fd;
}

/* 0 when a child's Live Update ioctls can be answered here, else an errno
 * saying why not (no seccomp user notification on this host). */
static int luo_relay_unavailable(void)
{
	int sv[2], err, fd, status;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return errno;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(luo_intercept(sv[1]) ? 1 : 0);
	err = errno;
	close(sv[1]);
	if (pid > 0) {
		fd = luo_listener(sv[0], &err);
		if (fd >= 0)
			close(fd);
		waitpid(pid, &status, 0);
	}
	close(sv[0]);
	return err;
}

static size_t luo_arg_size(unsigned long req)
{
	switch (req) {
	case LUO_CREATE_SESSION:
	case LUO_RETRIEVE_SESSION:
		return sizeof(struct luo_session_arg);
	case LUO_PRESERVE_FD:
	case LUO_RETRIEVE_FD:
		return sizeof(struct luo_fd_arg);
	case LUO_FINISH:
		return sizeof(struct luo_finish_arg);
	case LUO_GET_NAME:
		return sizeof(struct luo_get_name_arg);
	}
	return 0;
}

/*
 * One ioctl of @pid, answered by the fake: on *session (the child's number
 * of the session file the fake gave), by the session, else by the device.
 */
static void luo_relay_one(int listener, pid_t pid, int *session)
{
	union {
		struct luo_session_arg s;
		struct luo_fd_arg f;
		struct luo_finish_arg fin;
		struct luo_get_name_arg g;
	} a;
	struct seccomp_notif n;
	struct seccomp_notif_resp r;
	struct seccomp_notif_addfd add;
	unsigned long req;
	char mem_path[64];
	int mem, local = -1, fd;
	uint64_t addr;
	size_t size;

	memset(&n, 0, sizeof(n));
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n))
		return;		/* the child is gone */
	memset(&r, 0, sizeof(r));
	r.id = n.id;
	req = (unsigned long)n.data.args[1];
	addr = n.data.args[2];
	size = luo_arg_size(req);
	snprintf(mem_path, sizeof(mem_path), "/proc/%d/mem", (int)pid);
	mem = open(mem_path, O_RDWR | O_CLOEXEC);
	if (!size || mem < 0 || pread(mem, &a, size, (off_t)addr) != (ssize_t)size) {
		r.error = size ? -EFAULT : -ENOTTY;
		goto out;
	}
	if (*session >= 0 && (int)n.data.args[0] == *session)
		fd = fake_luo_session_ioctl(req, &a);
	else
		fd = fake_luo_dev_ioctl(req, &a);
	if (fd < 0) {
		r.error = -errno;
		goto out;
	}
	if (req == LUO_CREATE_SESSION || req == LUO_RETRIEVE_SESSION)
		local = a.s.fd;
	else if (req == LUO_RETRIEVE_FD)
		local = a.f.fd;
	if (local >= 0) {
		add = (struct seccomp_notif_addfd){
			.id = n.id, .srcfd = (uint32_t)local, .newfd_flags = O_CLOEXEC,
		};
		fd = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
		close(local);
		fake_luo_session = -1;
		fake_luo_retrieved = -1;
		if (fd < 0) {
			r.error = -errno;
			goto out;
		}
		if (req == LUO_RETRIEVE_FD) {
			a.f.fd = fd;
		} else {
			a.s.fd = fd;
			*session = fd;
		}
	}
	if (pwrite(mem, &a, size, (off_t)addr) != (ssize_t)size)
		r.error = -EFAULT;
out:
	if (mem >= 0)
		close(mem);
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

/* Answer the Live Update ioctls of @pid, whose listener comes on @sock,
 * until it exits (10 s at most); its wait status in *status. 0, or -1
 * when it could not be served (then it is killed). */
static int luo_relay(int sock, pid_t pid, int *status)
{
	double deadline = now_s() + 10;
	int listener, err, session = -1;
	pid_t w = 0;

	listener = luo_listener(sock, &err);
	if (listener < 0) {
		printf("# no seccomp listener from the child: %s\n", strerror(err));
		waitpid(pid, status, 0);
		return -1;
	}
	while (w == 0 && now_s() < deadline) {
		struct pollfd p = { .fd = listener, .events = POLLIN };

		if (poll(&p, 1, 20) > 0 && (p.revents & POLLIN))
			luo_relay_one(listener, pid, &session);
		w = waitpid(pid, status, WNOHANG);
	}
	close(listener);
	if (w == pid)
		return 0;
	printf("# khopagesctl %s\n", w ? "could not be waited for" : "did not end within 10 s");
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

/* Run khopagesctl ARGS with $KHOPAGES_DEVICE=@dev; its exit code or -1. */
static int ctl(const char *dev, char *out, char *err, size_t size, ...)
{
	char pat_out[4200], pat_err[4200];
	const char *argv[8] = { khopagesctl };
	int fo, fe, status, argc = 1, sv[2] = { -1, -1 }, ended;
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
	if (fo >= 0)
		unlink(pat_out);
	if (fe >= 0)
		unlink(pat_err);
	if (fo < 0 || fe < 0 ||
	    (ctl_relay && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))) {
		if (fo >= 0)
			close(fo);
		if (fe >= 0)
			close(fe);
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		setenv("KHOPAGES_DEVICE", dev, 1);
		dup2(fo, 1);
		dup2(fe, 2);
		if (sv[1] >= 0 && luo_intercept(sv[1]))
			_exit(126);
		execv(khopagesctl, (char *const *)argv);
		_exit(127);
	}
	if (sv[1] >= 0)
		close(sv[1]);
	if (pid > 0 && sv[0] >= 0)
		ended = !luo_relay(sv[0], pid, &status);
	else
		ended = pid > 0 && waitpid(pid, &status, 0) == pid;
	if (sv[0] >= 0)
		close(sv[0]);
	if (!ended) {
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
	/* The driver's own handover is gone: so is discard --outgoing. */
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "x", "--outgoing", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: discard: unknown option '--outgoing'\n"),
	       "discard --outgoing: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "--outgoing", "x", "--luo", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: discard: unknown option '--outgoing'\n"),
	       "discard --outgoing --luo: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "--luo", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: discard needs a session NAME\n"),
	       "discard --luo without NAME: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "x", "y", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: discard takes one session NAME\n"),
	       "discard x y: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "a/b", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: invalid session name 'a/b'"),
	       "discard a/b: exit %d stderr %s", rc, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "decode", NULL);
	EXPECT(rc == 2 && starts_with(err, "khopagesctl: unknown command 'decode'\n"),
	       "decode: exit %d stderr %s", rc, err);
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
	return 0;
}

/*
 * discard NAME, with or without --luo, retrieves Live Update session NAME:
 * without a device, or on a file that is none, it says so; /dev/khopages
 * (here /dev/null, whose ioctls would say ENOTTY) is not involved.
 */
static int ctl_discard_no_luo(void)
{
	static const char no_dev[] = "khopagesctl: liveupdate: retrieve session s1: open "
		"/nonexistent/liveupdate: no such device node (a kernel with CONFIG_LIVEUPDATE, "
		"booted with liveupdate=on?) (ENOENT)\n";
	int rc;

	setenv("KHOPAGES_LIVEUPDATE_DEVICE", "/nonexistent/liveupdate", 1);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "s1", NULL);
	EXPECT(rc == 1 && !out[0] && !strcmp(err, no_dev), "exit %d stdout %s stderr %s", rc,
	       out, err);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "s1", "--luo", NULL);
	EXPECT(rc == 1 && !out[0] && !strcmp(err, no_dev), "--luo: exit %d stdout %s stderr %s",
	       rc, out, err);
	setenv("KHOPAGES_LIVEUPDATE_DEVICE", "/dev/null", 1);
	rc = ctl("/dev/null", out, err, sizeof(out), "discard", "s1", NULL);
	EXPECT(rc == 1 && !out[0] && !strcmp(err, "khopagesctl: liveupdate: retrieve session "
					     "s1: not the Live Update device (ENOTTY)\n"),
	       "/dev/null: exit %d stdout %s stderr %s", rc, out, err);
	return 0;
}

static int test_ctl_discard_no_luo(void)
{
	int bad = ctl_discard_no_luo();

	unsetenv("KHOPAGES_LIVEUPDATE_DEVICE");
	return bad;
}

/* One discard against the fake Live Update, which fails @fail_req (0:
 * nothing) with @fail_errno; what it was asked for in @log. */
struct ctl_discard_case {
	const char *args[2];
	unsigned long fail_req;
	int fail_errno;
	int rc;
	const char *log, *out, *err;
};

static int ctl_discard_fake(const struct ctl_discard_case *c)
{
	char log[sizeof(fake_luo_log)];
	int rc;

	fake_luo_start("/dev/null", 0);	/* what khopagesctl opens as the device */
	fake_luo_errno = c->fail_errno;
	fake_luo_fail_req = c->fail_req;
	ctl_relay = 1;
	rc = ctl("/nonexistent", out, err, sizeof(out), "discard", c->args[0], c->args[1], NULL);
	ctl_relay = 0;
	memcpy(log, fake_luo_log, sizeof(log));
	fake_luo_stop();
	EXPECT(rc == c->rc, "discard %s %s: exit %d, expected %d; stderr %s", c->args[0],
	       c->args[1] ? c->args[1] : "", rc, c->rc, err);
	EXPECT(!strcmp(log, c->log), "Live Update was asked \"%s\", expected \"%s\"", log,
	       c->log);
	EXPECT(!strcmp(out, c->out), "stdout \"%s\", expected \"%s\"", out, c->out);
	EXPECT(!strcmp(err, c->err), "stderr \"%s\", expected \"%s\"", err, c->err);
	return 0;
}

static int test_ctl_discard(void)
{
	static const char all[] = "retrieve s1; retrieve_fd 0x4b484f50; finish";
	static const char both[] = "discarded Live Update session s1 and its khopages session\n";
	static const struct ctl_discard_case cases[] = {
		{ { "s1" }, 0, 0, 0, all, both, "" },
		{ { "s1", "--luo" }, 0, 0, 0, all, both, "" },
		{ { "--luo", "s1" }, 0, 0, 0, all, both, "" },
		/* Nothing of that name: nothing else asked. */
		{ { "s1" }, LUO_RETRIEVE_SESSION, ENOENT, 1, "retrieve s1 ENOENT", "",
		  "khopagesctl: liveupdate: retrieve session s1: no such session (ENOENT)\n" },
		/* No khopages file in it: the session still goes. */
		{ { "s1" }, LUO_RETRIEVE_FD, ENOENT, 0,
		  "retrieve s1; retrieve_fd 0x4b484f50 ENOENT; finish",
		  "discarded Live Update session s1\n", "" },
		/* A damaged one: finished all the same, and said. */
		{ { "s1" }, LUO_RETRIEVE_FD, EIO, 1,
		  "retrieve s1; retrieve_fd 0x4b484f50 EIO; finish", "",
		  "khopagesctl: liveupdate: retrieve token 0x4b484f50 from session s1: the "
		  "file's handover is damaged (see the kernel log) (EIO)\n" },
		{ { "s1" }, LUO_FINISH, EBUSY, 1,
		  "retrieve s1; retrieve_fd 0x4b484f50; finish EBUSY", "",
		  "khopagesctl: liveupdate: finish session s1: a file of the session is not "
		  "fully restored yet (its handler refused to finish) (EBUSY)\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ctl_discard_fake(&cases[i]))
			return 1;
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
	int relay_err;

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
	run("NULL results refused before any ioctl", test_bad_pointers_refused);
	run("ioctl failure messages name operation, arguments and ENOTTY",
	    test_ioctl_error_messages);
	run("fake driver: create, preserve, hand over in Live Update (EBUSY), take back, abort",
	    test_fake_outgoing);
	run("fake driver: a file retrieved from Live Update, another attached; map, stats",
	    test_fake_incoming);
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
	if (khopagesctl) {
		run("khopagesctl: usage errors exit 2", test_ctl_usage);
		run("khopagesctl list without a device: one line, exit 1", test_ctl_no_device);
		run("khopagesctl: ioctl errors exit 1 with the library message",
		    test_ctl_ioctl_errors);
		run("khopagesctl discard NAME [--luo]: no Live Update device, exit 1",
		    test_ctl_discard_no_luo);
		relay_err = luo_relay_unavailable();
		if (!relay_err)
			run("khopagesctl discard NAME [--luo] on the fake Live Update: retrieve, "
			    "retrieve the file, finish; each failure", test_ctl_discard);
		else
			ktap_skip("khopagesctl discard on the fake Live Update",
				  "no seccomp user notification here: %s", strerror(relay_err));
		run("khopagesctl luo: one line per session and process, odd names escaped",
		    test_ctl_luo);
	} else {
		ktap_skip("khopagesctl's exit codes and messages", "no khopagesctl given");
	}
	return ktap_finish();
}
