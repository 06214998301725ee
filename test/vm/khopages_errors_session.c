// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: CREATE and its arguments, names, API, commands without
 * a session or on unknown names, LIST.
 */
#include "khopages_errors.h"

/* ------------------------------------------------------------------ */
/* Outgoing cases                                                     */

void t_library_helpers(void)
{
	/* The states a session can be in. */
	static const uint32_t states[] = {
		KHOPAGES_STATE_OPEN, KHOPAGES_STATE_PRESERVED, KHOPAGES_STATE_RETRIEVED,
	};
	char n63[KHOPAGES_NAME_MAX], n64[KHOPAGES_NAME_MAX + 1];
	bool states_ok = true;

	memset(n63, 'a', 63);
	n63[63] = 0;
	memset(n64, 'b', 64);
	n64[64] = 0;
	ktap_check("khop_valid_name: 63 characters", khop_valid_name(n63) == 1, "rejected");
	ktap_check("khop_valid_name: [A-Za-z0-9._-]", khop_valid_name("Ab9._-z") == 1, "rejected");
	ktap_check("khop_valid_name: empty", khop_valid_name("") == 0, "accepted");
	ktap_check("khop_valid_name: 64 characters", khop_valid_name(n64) == 0, "accepted");
	ktap_check("khop_valid_name: '/'", khop_valid_name("a/b") == 0, "accepted");
	ktap_check("khop_valid_name: space", khop_valid_name("a b") == 0, "accepted");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		states_ok &= khop_state_name(states[i]) && khop_state_name(states[i])[0];
	ktap_check("khop_state_name: open, preserved and retrieved have a name", states_ok,
		   "an empty name");
}

void t_unknown_ioctl(void)
{
	struct khop *k = open_or_bail();
	char buf[256] = { 0 };

	ktap_check_err("unknown command number -> ENOTTY",
		       rawio(khop_fd(k), _IOWR(KHOPAGES_IOC_MAGIC, 0x7f, char[256]), buf), -ENOTTY);
	ktap_check_err("foreign ioctl magic -> ENOTTY",
		       rawio(khop_fd(k), _IO('x', 0x40), NULL), -ENOTTY);
	khop_close(k);
}

/* The bit of command @cmd in the API's answer. */
#define IOC_BIT(cmd)	(1ULL << (_IOC_NR(cmd) - KHOPAGES_IOC_FIRST))

void t_api(void)
{
	/*
	 * The features whose behaviour the driver has: LUO with Live Update
	 * only (liveupdate=on), which makes /dev/liveupdate. None beyond the
	 * five the header knows.
	 */
	const uint64_t need_features = KHOPAGES_FEATURE_LARGE_FOLIOS | KHOPAGES_FEATURE_OWNER |
		(access("/dev/liveupdate", F_OK) ? 0 : KHOPAGES_FEATURE_LUO);
	const uint64_t known_features = (1ULL << 5) - 1;
	/* The commands it must know; none beyond 0x80 (CREATE) to 0x8B (FILL_SHMEM). */
	const uint64_t need_ioctls = IOC_BIT(KHOPAGES_IOC_CREATE) | IOC_BIT(KHOPAGES_IOC_PRESERVE) |
		IOC_BIT(KHOPAGES_IOC_ABORT) | IOC_BIT(KHOPAGES_IOC_OPEN) | IOC_BIT(KHOPAGES_IOC_MAP) |
		IOC_BIT(KHOPAGES_IOC_STATS) | IOC_BIT(KHOPAGES_IOC_LIST) |
		IOC_BIT(KHOPAGES_IOC_EVACUATE) | IOC_BIT(KHOPAGES_IOC_API) |
		IOC_BIT(KHOPAGES_IOC_FILL_SHMEM);
	const uint64_t known_ioctls = (1ULL << (0x8B - KHOPAGES_IOC_FIRST + 1)) - 1;
	struct khop *k = open_or_bail();
	int fd = khop_fd(k);
	struct khopages_api a, first;
	struct api_big {
		struct khopages_api a;
		uint64_t tail;
	} big;
	int ret;

	first = (struct khopages_api){ .size = sizeof(first) };
	ret = rawio(fd, KHOPAGES_IOC_API, &first);
	ktap_check_err("api: answers", ret, 0);
	ktap_check("api: every command that exists, none unknown",
		   (first.ioctls & need_ioctls) == need_ioctls && !(first.ioctls & ~known_ioctls),
		   "ioctls 0x%" PRIx64 ", expected all of 0x%" PRIx64 " within 0x%" PRIx64,
		   (uint64_t)first.ioctls, need_ioctls, known_ioctls);
	ktap_check("api: every feature it has, none unknown",
		   (first.features & need_features) == need_features &&
		   !(first.features & ~known_features),
		   "features 0x%" PRIx64 ", expected all of 0x%" PRIx64 " within 0x%" PRIx64,
		   (uint64_t)first.features, need_features, known_features);

	a = (struct khopages_api){ .size = sizeof(a), .features = first.features };
	ktap_check_err("api: asking for every feature it has", rawio(fd, KHOPAGES_IOC_API, &a), 0);

	a = (struct khopages_api){ .size = sizeof(a), .features = 1ULL << 63 };
	ret = rawio(fd, KHOPAGES_IOC_API, &a);
	ktap_check_err("api: asking for an unknown feature -> EOPNOTSUPP", ret, -EOPNOTSUPP);
	ktap_check("api: the answer comes with EOPNOTSUPP",
		   a.features == first.features && a.ioctls == first.ioctls,
		   "features 0x%" PRIx64 ", ioctls 0x%" PRIx64, (uint64_t)a.features,
		   (uint64_t)a.ioctls);

	a = (struct khopages_api){ .size = 0 };
	ktap_check_err("api: size 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_API, &a), -EINVAL);
	a = (struct khopages_api){ .size = sizeof(a) - 8 };
	ktap_check_err("api: size too small -> EINVAL", rawio(fd, KHOPAGES_IOC_API, &a), -EINVAL);
	a = (struct khopages_api){ .size = sizeof(a), .flags = 1 };
	ktap_check_err("api: unknown flag -> EINVAL", rawio(fd, KHOPAGES_IOC_API, &a), -EINVAL);
	a = (struct khopages_api){ .size = sizeof(a), .ioctls = 1 };
	ktap_check_err("api: ioctls not 0 on the way in -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_API, &a), -EINVAL);
	big = (struct api_big){ .a.size = sizeof(big) };
	ktap_check_err("api: larger struct with a zero tail is accepted",
		       rawio(fd, KHOPAGES_IOC_API, &big), 0);
	big = (struct api_big){ .a.size = sizeof(big), .tail = 1 };
	ktap_check_err("api: larger struct with a non-zero tail -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_API, &big), -EINVAL);

	ret = khop_api(k, 1ULL << 63, &a);
	ktap_check("khop_api: a missing feature -> EOPNOTSUPP with the header's meaning",
		   ret == -EOPNOTSUPP && khop_error(k) &&
		   strstr(khop_error(k), "the driver lacks a feature the caller asked for"),
		   "got %s, message \"%s\"", ktap_errname(ret), khop_error(k) ? khop_error(k) : "(null)");
	ktap_check("khop_feature_name: a name for every feature, none beyond",
		   khop_feature_name(0) && khop_feature_name(4) && !khop_feature_name(5) &&
		   !strcmp(khop_feature_name(4), "luo"),
		   "names do not match the five features");
	khop_close(k);
}

void t_create_bad_args(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k);
	struct khopages_name_arg a;
	struct khopages_session_info in;
	struct {
		struct khopages_name_arg a;
		uint64_t tail;
	} big;
	int ret;

	a = name_arg("errargs", 0);
	a.size = 0;
	ktap_check_err("create: size 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("errargs", 0);
	a.size = sizeof(a) - 1;
	ktap_check_err("create: size too small -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("errargs", 1);
	ktap_check_err("create: unknown flag bit 0 -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("errargs", 0x80000000u);
	ktap_check_err("create: unknown flag bit 31 -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("", 0);
	ktap_check_err("create: empty name -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("", 0);
	memset(a.name, 'n', sizeof(a.name));	/* no NUL within 64 bytes */
	ktap_check_err("create: name without NUL -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("err/slash", 0);
	ktap_check_err("create: name with '/' -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("err space", 0);
	ktap_check_err("create: name with ' ' -> EINVAL", rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);
	a = name_arg("err\n", 0);
	ktap_check_err("create: name with a control character -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_CREATE, &a), -EINVAL);

	/* Nothing of the rejected calls stayed behind. */
	ktap_check_err("create: rejected calls created nothing",
		       khop_stats(k, "errargs", &in), -ENOENT);
	ret = khop_create(k, "errargs");
	ktap_check_err("create: the fd is still free after rejected calls", ret, 0);
	if (!ret)
		khop_abort(k);

	/* Library checks report a message too. */
	ret = khop_create(k, "err/lib");
	ktap_check("khop_create(\"err/lib\") -> EINVAL with a message",
		   ret == -EINVAL && khop_error(k) && khop_error(k)[0],
		   "got %s, message \"%s\"", ktap_errname(ret), khop_error(k) ? khop_error(k) : "(null)");

	/* A newer caller's larger struct: fine with a zero tail only. */
	memset(&big, 0, sizeof(big));
	big.a = name_arg("errbig", 0);
	big.a.size = sizeof(big);
	ret = rawio(fd, KHOPAGES_IOC_CREATE, &big);
	ktap_check_err("create: larger struct with a zero tail is accepted", ret, 0);
	if (!ret)
		ktap_check_err("abort after create", khop_abort(k), 0);
	big.tail = 1;
	ret = rawio(fd, KHOPAGES_IOC_CREATE, &big);
	ktap_check("create: larger struct with a non-zero tail -> EINVAL or E2BIG",
		   ret == -EINVAL || ret == -E2BIG, "got %s", ktap_errname(ret));
	if (!ret)
		khop_abort(k);
	khop_close(k);
}

void t_name_limits(void)
{
	struct khop *k = open_or_bail();
	char n63[KHOPAGES_NAME_MAX];
	int ret;

	memset(n63, 'x', 63);
	n63[63] = 0;
	ret = khop_create(k, n63);
	ktap_check_err("create: 63-character name is accepted", ret, 0);
	if (!ret)
		khop_abort(k);
	khop_close(k);
}

void t_no_session(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k);
	char *page = mmap(NULL, KT_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct khopages_preserve p;
	struct khopages_map m;
	int luo, ret;

	if (page == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	page[0] = 1;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.pid = getpid();
	p.start = (uint64_t)(uintptr_t)page;
	p.len = KT_PAGE;
	ktap_check_err("preserve without a session -> ENOENT",
		       rawio(fd, KHOPAGES_IOC_PRESERVE, &p), -ENOENT);
	ktap_check_err("abort without a session -> ENOENT",
		       rawio(fd, KHOPAGES_IOC_ABORT, NULL), -ENOENT);
	luo = luo_session_or_bail("errnosession");
	ret = khop_luo_preserve_fd(luo, fd, KHOP_LUO_TOKEN_PAGES);
	ktap_check("Live Update preserve of a file without a session -> EINVAL or ENOENT",
		   ret == -EINVAL || ret == -ENOENT, "%s", ktap_errname(ret));
	close(luo);
	ktap_check_err("  ... and the file still has none: abort -> ENOENT",
		       rawio(fd, KHOPAGES_IOC_ABORT, NULL), -ENOENT);
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.pid = 1;
	m.orig_va = 0x200000;
	m.dst_va = (uint64_t)(uintptr_t)page;
	m.len = KT_PAGE;
	ktap_check_err("map without an opened session -> ENOENT",
		       rawio(fd, KHOPAGES_IOC_MAP, &m), -ENOENT);
	munmap(page, KT_PAGE);
	khop_close(k);
}

void t_busy_exists(void)
{
	struct khop *k1 = open_or_bail(), *k2 = open_or_bail();
	int ret;

	if (khop_create(k1, "errbusy"))
		ktap_bail("create errbusy: %s", khop_error(k1));
	ktap_check_err("create a second session on one fd -> EBUSY",
		       khop_create(k1, "errbusy2"), -EBUSY);
	ktap_check_err("create the same name again on one fd -> EBUSY",
		       khop_create(k1, "errbusy"), -EBUSY);
	ktap_check_err("create a name in use on another fd -> EEXIST",
		       khop_create(k2, "errbusy"), -EEXIST);
	ret = khop_create(k2, "errbusy");
	ktap_check("EEXIST leaves a message", ret && khop_error(k2) && khop_error(k2)[0], "no message");
	ktap_check_err("abort", khop_abort(k1), 0);
	ret = khop_create(k2, "errbusy");
	ktap_check_err("the name is free again after ABORT", ret, 0);
	if (!ret)
		khop_abort(k2);
	ret = khop_create(k1, "errbusy2");
	ktap_check_err("the fd takes a new session after ABORT", ret, 0);
	if (!ret)
		khop_abort(k1);
	khop_close(k1);
	khop_close(k2);
}

void t_unknown_names(void)
{
	struct khop *k = open_or_bail();
	int fd = khop_fd(k), ret;
	struct khopages_name_arg a;
	struct khopages_session_info in;
	struct khopages_stats s;
	struct khopages_list l;

	ret = khop_attach(k, "errnosuch");
	ktap_check_err("open an unknown session -> ENOENT", ret, -ENOENT);
	ktap_check("khop_error() after a failure is not empty", khop_error(k) && khop_error(k)[0],
		   "empty");
	ktap_check_err("stats of an unknown session -> ENOENT",
		       khop_stats(k, "errnosuch", &in), -ENOENT);

	a = name_arg("errnosuch", 1);
	ktap_check_err("open: flags must be 0 -> EINVAL", rawio(fd, KHOPAGES_IOC_OPEN, &a), -EINVAL);
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.flags = 1;
	snprintf(s.name, sizeof(s.name), "errnosuch");
	ktap_check_err("stats: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_STATS, &s), -EINVAL);
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.flags = 1;
	ktap_check_err("list: unknown flags -> EINVAL", rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	l.flags = 0;
	ktap_check_err("list: no entry size -> EINVAL", rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	l.entry_size = KHOPAGES_SESSION_INFO_SIZE_V1 - 8;
	ktap_check_err("list: entry size below the first version's -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	l.entry_size = 8192;
	ktap_check_err("list: entry size over a page -> EINVAL",
		       rawio(fd, KHOPAGES_IOC_LIST, &l), -EINVAL);
	khop_close(k);
}

/* A command run in a thread, so the caller can give up waiting for it. */
struct cmd_thread {
	pthread_t th;
	int fd;
	unsigned long cmd;
	void *arg;
	int ret;
	volatile bool done;
};

static void *cmd_thread_fn(void *p)
{
	struct cmd_thread *c = p;

	c->ret = rawio(c->fd, c->cmd, c->arg);
	c->done = true;
	return NULL;
}

static bool cmd_thread_wait(struct cmd_thread *c, int ms)
{
	for (int i = 0; i < ms / 10 && !c->done; i++)
		usleep(10000);
	return c->done;
}

/*
 * A LIST whose buffer faults forever (userfaultfd, nobody serving it)
 * blocks only its caller: other commands go on meanwhile.
 */
void t_list_userfault(void)
{
	struct khop *k = open_or_bail(), *other = open_or_bail();
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_zeropage zero;
	struct khopages_stats st;
	struct khopages_list l;
	struct cmd_thread lt, stt;
	struct pollfd pfd;
	long uffd;
	char *buf;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl((int)uffd, UFFDIO_API, &api))
		ktap_bail("userfaultfd: %s", strerror(errno));
	buf = mmap(NULL, 2 * KT_PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		ktap_bail("mmap: %s", strerror(errno));
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uint64_t)(uintptr_t)buf;
	reg.range.len = 2 * KT_PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl((int)uffd, UFFDIO_REGISTER, &reg))
		ktap_bail("UFFDIO_REGISTER: %s", strerror(errno));
	if (khop_create(k, "errufd"))
		ktap_bail("create errufd: %s", khop_error(k));

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr_sessions = 4;
	l.entry_size = sizeof(struct khopages_session_info);
	l.sessions = (uint64_t)(uintptr_t)buf;
	memset(&lt, 0, sizeof(lt));
	lt.fd = khop_fd(k);
	lt.cmd = KHOPAGES_IOC_LIST;
	lt.arg = &l;
	if (pthread_create(&lt.th, NULL, cmd_thread_fn, &lt))
		ktap_bail("pthread_create");
	pfd.fd = (int)uffd;
	pfd.events = POLLIN;
	ktap_check("list into a userfaultfd buffer: the fault arrives",
		   poll(&pfd, 1, 5000) == 1, "no fault within 5 s");

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	snprintf(st.name, sizeof(st.name), "errufd");
	memset(&stt, 0, sizeof(stt));
	stt.fd = khop_fd(other);
	stt.cmd = KHOPAGES_IOC_STATS;
	stt.arg = &st;
	if (pthread_create(&stt.th, NULL, cmd_thread_fn, &stt))
		ktap_bail("pthread_create");
	ktap_check("  ... meanwhile STATS from another file completes",
		   cmd_thread_wait(&stt, 3000) && stt.ret == 0,
		   stt.done ? "it failed" : "it waited on the blocked LIST for 3 s");

	/* Serve the fault: the LIST completes too. */
	zero.range.start = (uint64_t)(uintptr_t)buf;
	zero.range.len = 2 * KT_PAGE;
	zero.mode = 0;
	ioctl((int)uffd, UFFDIO_ZEROPAGE, &zero);
	ktap_check("  ... and the LIST completes once the fault is served",
		   cmd_thread_wait(&lt, 5000) && lt.ret == 0, "%s",
		   lt.done ? ktap_errname(lt.ret) : "still blocked");
	pthread_join(lt.th, NULL);
	pthread_join(stt.th, NULL);
	khop_abort(k);
	khop_close(other);
	khop_close(k);
	close((int)uffd);
	munmap(buf, 2 * KT_PAGE);
}

/*
 * LIST with a caller's entry larger than the kernel's (a newer header):
 * the entries are laid out at the caller's stride, each with the kernel's
 * fields and a zeroed tail.
 */
void t_list_entry_size(void)
{
	enum { TAIL = 40, ROOM = 4 };
	const size_t ksize = sizeof(struct khopages_session_info);
	const size_t stride = ksize + TAIL;
	struct khop *k = open_or_bail();
	struct khopages_session_info info;
	struct khopages_list l;
	unsigned char *buf;
	bool tail_zero = true, found = false;

	if (khop_create(k, "errlist"))
		ktap_bail("create errlist: %s", khop_error(k));
	buf = malloc(stride * ROOM);
	if (!buf)
		ktap_bail("out of memory");
	memset(buf, 0xa5, stride * ROOM);
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr_sessions = ROOM;
	l.entry_size = stride;
	l.sessions = (uint64_t)(uintptr_t)buf;
	ktap_check_err("list: a larger entry size is accepted",
		       rawio(khop_fd(k), KHOPAGES_IOC_LIST, &l), 0);
	for (uint32_t i = 0; i < l.nr_sessions && i < ROOM; i++) {
		memcpy(&info, buf + i * stride, ksize);
		if (!strcmp(info.name, "errlist"))
			found = info.state == KHOPAGES_STATE_OPEN;
		for (size_t j = ksize; j < stride; j++)
			tail_zero &= buf[i * stride + j] == 0;
	}
	ktap_check("list: each entry at the caller's stride (errlist found, open)", found,
		   "not found at the caller's stride");
	ktap_check("list: the tail of each larger entry is zeroed", tail_zero, "not zeroed");
	free(buf);
	khop_abort(k);
	khop_close(k);
}

void t_list(void)
{
	struct khop *k = open_or_bail();
	struct khopages_session_info in;
	bool found;

	if (khop_create(k, "errlist"))
		ktap_bail("create: %s", khop_error(k));
	found = listed(k, "errlist", &in);
	ktap_check("list shows an open session", found && in.state == KHOPAGES_STATE_OPEN,
		   found ? "state %s" : "not listed%s", found ? khop_state_name(in.state) : "");
	khop_abort(k);
	ktap_check("list no longer shows it after ABORT", !listed(k, "errlist", &in), "still listed");
	khop_close(k);
}
