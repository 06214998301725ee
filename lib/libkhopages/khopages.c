// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkhopages: thin wrappers around the /dev/khopages ioctls. Each wrapper
 * checks what it can before the ioctl, so a bad call never reaches the
 * kernel, and leaves one line on the handle saying what failed and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

struct khop {
	int fd;
	/* Name given to CREATE or OPEN, so later messages can name it. */
	char session[KHOPAGES_NAME_MAX];
	char err[KHOP_MSG_MAX];
};

/* khop_open() has no handle to keep its message in. */
static _Thread_local char open_err[KHOP_MSG_MAX];

enum khop_op {
	OP_CREATE,
	OP_PRESERVE,
	OP_ABORT,
	OP_OPEN,
	OP_MAP,
	OP_STATS,
	OP_LIST,
	OP_EVACUATE,
	OP_API,
	OP_FILL_SHMEM,
	OP_COUNT,
};

struct errtext {
	int err;
	const char *text;
};

/*
 * What each errno means for each command, word for word as the UAPI header
 * states it (without the final full stop): the common meanings in its DOC
 * block, each command's own in the comment of its KHOPAGES_IOC_* macro.
 * check_errors.py, run by make check, fails when the two disagree.
 */
static const struct errtext op_errors[OP_COUNT][10] = {
	[OP_CREATE] = {
		{ EPERM, "needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN" },
		{ EEXIST, "a session with this name already exists" },
		{ EBUSY, "this file already has a session" },
		{ EOPNOTSUPP, "KHO is not enabled (boot with kho=on)" },
	},
	[OP_PRESERVE] = {
		{ ESRCH, "no such process, or it has no address space" },
		{ EPERM, "no rights over the session, or no ptrace access to the process" },
		{ ENOENT, "no session on this file (create one first)" },
		{ EBUSY, "the session is in a Live Update session, or a page could not be split or moved out of KHO scratch (see the kernel log)" },
		{ EFAULT, "part of the range is not mapped" },
		{ EINVAL, "part of the range is not private anonymous memory, or a bad range, alignment, flags or padding" },
		{ EEXIST, "the range overlaps a range of the same process already in the session" },
		{ EIO, "a page of the range exists but cannot be read (a swap read error, a hardware-poisoned page)" },
	},
	[OP_ABORT] = {
		{ EPERM, "no rights over the session" },
		{ ENOENT, "no open session on this file" },
		{ EBUSY, "the session is in a Live Update session (closing that one takes it back)" },
	},
	[OP_OPEN] = {
		{ EPERM, "no rights over the session (needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, and to be its owner or an administrator)" },
		{ ENOENT, "no incoming session with this name whose file was retrieved" },
		{ EBUSY, "this file already has a session (other than an open one of this name)" },
		{ EIO, "a recorded frame is not preserved memory, or has another order than recorded" },
	},
	[OP_MAP] = {
		{ EPERM, "no rights over the session (any more), or the pid is not the caller's own process and the caller lacks CAP_SYS_ADMIN" },
		{ ENOENT, "no incoming session on this file, or nothing recorded for this pid and address" },
		{ EFAULT, "the destination is not inside one private anonymous mapping" },
		{ EINVAL, "a large folio is cut by the range, or the destination is not congruent with the original address" },
		{ EEXIST, "another page (or, for a huge page, a page table) is already mapped at the destination" },
		{ EALREADY, "these pages were already mapped by this session" },
		{ EIO, "a recorded frame is not preserved memory" },
	},
	[OP_STATS] = {
		{ EPERM, "no rights over the session" },
		{ ENOENT, "no such session" },
	},
	[OP_LIST] = {
		{ EINVAL, "entry_size below KHOPAGES_SESSION_INFO_SIZE_V1 or above the page size" },
	},
	[OP_EVACUATE] = {
		{ EPERM, "needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, and ptrace access to the process" },
		{ ESRCH, "no such process, or it has no address space" },
		{ EOPNOTSUPP, "KHO is not enabled (boot with kho=on)" },
		{ EINTR, "interrupted by a fatal signal" },
	},
	[OP_API] = {
		{ EOPNOTSUPP, "the driver lacks a feature the caller asked for" },
	},
	[OP_FILL_SHMEM] = {
		{ EPERM, "needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, or a file is sealed against a change of its contents (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE, F_SEAL_SHRINK or F_SEAL_GROW)" },
		{ EBADF, "a descriptor is not open, @dst_fd not for writing, or @src_fd not for both reading and writing" },
		{ EINVAL, "bad @size or @flags, a file that is not shmem (hugetlb memfds are not), the same file twice, or a large folio of @src_fd reaching past the end of @dst_fd" },
		{ EBUSY, "@dst_fd already holds pages, @src_fd is mapped, or either is in a Live Update session (preserved)" },
		{ ENOSPC, "@dst_fd cannot be charged for the pages" },
		{ EEXIST, "a page appeared in @dst_fd meanwhile" },
	},
};

/* Meanings shared by every command. */
static const struct errtext common_errors[] = {
	{ EFAULT, "bad pointer passed to the kernel" },
	{ EINVAL, "bad size, flags, padding, name, range or alignment" },
	{ ENOTTY, "not a khopages device, or the driver does not know this command" },
	{ ENOMEM, "out of memory" },
	{ EINTR, "interrupted by a fatal signal while waiting for another command to finish" },
	{ 0, NULL },
};

static const struct errtext *find_text(const struct errtext *t, size_t n, int err)
{
	for (size_t i = 0; i < n && t[i].text; i++)
		if (t[i].err == err)
			return &t[i];
	return NULL;
}

static const char *explain(enum khop_op op, int err)
{
	const struct errtext *e;

	e = find_text(op_errors[op], sizeof(op_errors[op]) / sizeof(op_errors[op][0]), err);
	if (!e)
		e = find_text(common_errors, sizeof(common_errors) / sizeof(common_errors[0]), err);
	return e ? e->text : strerror(err);
}

const char *khop_errno_name(int err)
{
	static _Thread_local char unknown[24];

	if (err < 0)
		err = -err;
	switch (err) {
#define N(e) case e: return #e
	N(EPERM); N(ENOENT); N(ESRCH); N(EINTR); N(EIO); N(ENXIO); N(E2BIG);
	N(EBADF); N(EAGAIN); N(ENOMEM); N(EACCES); N(EFAULT); N(EBUSY);
	N(EEXIST); N(ENODEV); N(ENOTDIR); N(EISDIR); N(EINVAL); N(ENFILE);
	N(EMFILE); N(ENOTTY); N(EFBIG); N(ENOSPC); N(EROFS); N(ERANGE);
	N(ENAMETOOLONG); N(ENOSYS); N(ELOOP); N(EOVERFLOW); N(EOPNOTSUPP);
	N(EALREADY); N(ETIMEDOUT); N(ESHUTDOWN);
#undef N
	}
	snprintf(unknown, sizeof(unknown), "errno %d", err);
	return unknown;
}

/* A session name as it may safely appear in a message (internal.h). */
const char *khop_show_name(char *buf, size_t size, const char *name)
{
	size_t o = 0;

	if (!name)
		return "(null)";
	if (khop_valid_name(name))
		return name;
	o += snprintf(buf + o, size - o, "\"");
	for (size_t i = 0; name[i] && i < KHOPAGES_NAME_MAX && o + 8 < size; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			o += snprintf(buf + o, size - o, "%c", c);
		else
			o += snprintf(buf + o, size - o, "\\x%02x", c);
	}
	if (strnlen(name, KHOPAGES_NAME_MAX + 1) > KHOPAGES_NAME_MAX)
		o += snprintf(buf + o, size - o, "...");
	snprintf(buf + o, size - o, "\"");
	return buf;
}

/* Record "WHAT: WHY (ENAME)" and return -err. */
static int fail(struct khop *k, int err, const char *what, const char *why)
{
	snprintf(k->err, sizeof(k->err), "%s: %s (%s)", what, why,
		 khop_errno_name(err));
	return -err;
}

static int do_ioctl(struct khop *k, enum khop_op op, unsigned long req,
		    void *arg, const char *what)
{
	if (ioctl(k->fd, req, arg) < 0) {
		int err = errno;

		return fail(k, err, what, explain(op, err));
	}
	return 0;
}

static uint64_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (uint64_t)ps : 4096;
}

/* Copy a checked name into the fixed-size field of an ioctl argument. */
static void copy_name(char dst[KHOPAGES_NAME_MAX], const char *name)
{
	memset(dst, 0, KHOPAGES_NAME_MAX);
	memcpy(dst, name, strlen(name));
}

static const char *invalid_name_text =
	"invalid session name: 1..63 characters of [A-Za-z0-9._-]";

int khop_valid_name(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	for (n = 0; name[n]; n++) {
		char c = name[n];

		if (n >= KHOPAGES_NAME_MAX - 1)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

const char *khop_state_name(uint32_t state)
{
	switch (state) {
	case KHOPAGES_STATE_OPEN:
		return "open";
	case KHOPAGES_STATE_INCOMING:
		return "incoming";
	case KHOPAGES_STATE_CLAIMED:
		return "claimed";
	case KHOPAGES_STATE_PRESERVED:
		return "preserved";
	case KHOPAGES_STATE_RETRIEVED:
		return "retrieved";
	}
	return "unknown";
}

int khop_open(struct khop **out)
{
	const char *path = getenv("KHOPAGES_DEVICE");
	const char *why;
	struct khop *k;
	int fd, err;

	if (!out) {
		snprintf(open_err, sizeof(open_err),
			 "open: NULL result pointer (EINVAL)");
		return -EINVAL;
	}
	*out = NULL;
	if (!path || !*path)
		path = KHOPAGES_DEVICE;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		switch (err) {
		case ENOENT:
			why = "no such device node (is the khopages driver in this kernel?)";
			break;
		case ENXIO:
		case ENODEV:
			why = "the khopages driver is not available";
			break;
		case EACCES:
		case EPERM:
			why = "permission denied (needs root)";
			break;
		default:
			why = strerror(err);
		}
		snprintf(open_err, sizeof(open_err), "open %s: %s (%s)", path,
			 why, khop_errno_name(err));
		return -err;
	}

	k = calloc(1, sizeof(*k));
	if (!k) {
		close(fd);
		snprintf(open_err, sizeof(open_err), "open %s: out of memory (ENOMEM)",
			 path);
		return -ENOMEM;
	}
	k->fd = fd;
	open_err[0] = '\0';
	*out = k;
	return 0;
}

int khop_from_fd(int fd, struct khop **out)
{
	struct khopages_api api = { .size = sizeof(api) };
	const char *why;
	struct khop *k;
	int err;

	if (!out) {
		snprintf(open_err, sizeof(open_err),
			 "from fd %d: NULL result pointer (EINVAL)", fd);
		return -EINVAL;
	}
	*out = NULL;
	if (fd < 0) {
		snprintf(open_err, sizeof(open_err),
			 "from fd %d: not a file descriptor (EINVAL)", fd);
		return -EINVAL;
	}
	/* API answers on every khopages file and needs no session. */
	if (ioctl(fd, KHOPAGES_IOC_API, &api) < 0) {
		err = errno;
		switch (err) {
		case EBADF:
			why = "not an open file descriptor";
			break;
		case ENOTTY:
		case EINVAL:
			/* Other files of magic 0xBA (Live Update's) say EINVAL. */
			why = "not a khopages file";
			break;
		default:
			why = strerror(err);
		}
		snprintf(open_err, sizeof(open_err), "from fd %d: %s (%s)", fd, why,
			 khop_errno_name(err));
		return -err;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(open_err, sizeof(open_err),
			 "from fd %d: out of memory (ENOMEM)", fd);
		return -ENOMEM;
	}
	k->fd = fd;
	open_err[0] = '\0';
	*out = k;
	return 0;
}

const char *khop_open_error(void)
{
	return open_err;
}

void khop_close(struct khop *k)
{
	if (!k)
		return;
	close(k->fd);
	free(k);
}

int khop_fd(const struct khop *k)
{
	return k ? k->fd : -1;
}

const char *khop_error(const struct khop *k)
{
	return k ? k->err : "no khopages handle (NULL)";
}

/* CREATE and OPEN share their argument and their checks. */
static int name_cmd(struct khop *k, enum khop_op op, unsigned long req,
		    const char *verb, const char *name, uint32_t flags)
{
	struct khopages_name_arg arg = { .size = sizeof(arg), .flags = flags };
	char what[KHOP_MSG_MAX / 2], nbuf[KHOP_NAME_BUF];
	int ret;

	snprintf(what, sizeof(what), "%s %s", verb,
		 khop_show_name(nbuf, sizeof(nbuf), name));
	if (!khop_valid_name(name))
		return fail(k, EINVAL, what, invalid_name_text);
	copy_name(arg.name, name);
	ret = do_ioctl(k, op, req, &arg, what);
	if (!ret && (op == OP_CREATE || op == OP_OPEN))
		copy_name(k->session, name);
	return ret;
}

int khop_create(struct khop *k, const char *name)
{
	if (!k)
		return -EINVAL;
	return name_cmd(k, OP_CREATE, KHOPAGES_IOC_CREATE, "create", name, 0);
}

int khop_attach(struct khop *k, const char *name)
{
	if (!k)
		return -EINVAL;
	return name_cmd(k, OP_OPEN, KHOPAGES_IOC_OPEN, "attach", name, 0);
}

/* Shared range checks of PRESERVE and MAP; NULL when the range is fine. */
static const char *bad_range(uint64_t start, uint64_t len)
{
	uint64_t mask = page_size() - 1;

	if (len == 0)
		return "length is zero";
	if ((start | len) & mask)
		return "address and length must be page aligned";
	if (start + len < start)
		return "range wraps around the address space";
	return NULL;
}

/* PRESERVE and EVACUATE: pid and range checked first, @arg set up by the caller. */
static int range_cmd(struct khop *k, enum khop_op op, unsigned long req,
		     const char *verb, pid_t pid, uint64_t start, uint64_t len,
		     void *arg)
{
	char what[128];
	const char *why;

	if (!k)
		return -EINVAL;
	snprintf(what, sizeof(what), "%s pid %d 0x%" PRIx64 "+0x%" PRIx64, verb,
		 (int)pid, start, len);
	if (pid <= 0)
		return fail(k, EINVAL, what, "pid must be positive");
	why = bad_range(start, len);
	if (why)
		return fail(k, EINVAL, what, why);
	return do_ioctl(k, op, req, arg, what);
}

int khop_preserve(struct khop *k, pid_t pid, uint64_t start, uint64_t len,
		  struct khopages_preserve *result)
{
	struct khopages_preserve arg = {
		.size = sizeof(arg),
		.pid = pid,
		.start = start,
		.len = len,
	};
	int ret = range_cmd(k, OP_PRESERVE, KHOPAGES_IOC_PRESERVE, "preserve",
			    pid, start, len, &arg);

	if (!ret && result)
		*result = arg;
	return ret;
}

int khop_evacuate(struct khop *k, pid_t pid, uint64_t start, uint64_t len,
		  struct khopages_evacuate *result)
{
	struct khopages_evacuate arg = {
		.size = sizeof(arg),
		.pid = pid,
		.start = start,
		.len = len,
	};
	int ret = range_cmd(k, OP_EVACUATE, KHOPAGES_IOC_EVACUATE, "evacuate",
			    pid, start, len, &arg);

	if (!ret && result)
		*result = arg;
	return ret;
}

int khop_fill_shmem(struct khop *k, int dst_fd, int src_fd, uint64_t *nr_pages)
{
	struct khopages_fill_shmem arg = {
		.size = sizeof(arg),
		.dst_fd = dst_fd,
		.src_fd = src_fd,
	};
	int ret;

	if (!k)
		return -EINVAL;
	ret = do_ioctl(k, OP_FILL_SHMEM, KHOPAGES_IOC_FILL_SHMEM, &arg, "fill shared memory");
	if (!ret && nr_pages)
		*nr_pages = arg.nr_pages;
	return ret;
}

static int session_cmd(struct khop *k, enum khop_op op, unsigned long req,
		       const char *verb)
{
	char what[KHOP_MSG_MAX / 2];

	if (!k)
		return -EINVAL;
	if (k->session[0])
		snprintf(what, sizeof(what), "%s %s", verb, k->session);
	else
		snprintf(what, sizeof(what), "%s", verb);
	/* These commands take no argument; pass none. */
	return do_ioctl(k, op, req, NULL, what);
}

int khop_abort(struct khop *k)
{
	int ret = session_cmd(k, OP_ABORT, KHOPAGES_IOC_ABORT, "abort");

	if (!ret)
		k->session[0] = '\0';
	return ret;
}

int khop_map(struct khop *k, pid_t orig_pid, uint64_t orig_va, uint64_t dst_va,
	     uint64_t len, struct khopages_map *result)
{
	struct khopages_map arg = {
		.size = sizeof(arg),
		.pid = orig_pid,
		.orig_va = orig_va,
		.dst_va = dst_va,
		.len = len,
	};
	char what[160];
	const char *why;
	int ret;

	if (!k)
		return -EINVAL;
	snprintf(what, sizeof(what),
		 "map pid %d 0x%" PRIx64 "+0x%" PRIx64 " -> 0x%" PRIx64,
		 (int)orig_pid, orig_va, len, dst_va);
	if (orig_pid <= 0)
		return fail(k, EINVAL, what, "pid must be positive");
	why = bad_range(orig_va, len);
	if (!why && bad_range(dst_va, len))
		why = "destination must be page aligned and not wrap around";
	if (why)
		return fail(k, EINVAL, what, why);
	ret = do_ioctl(k, OP_MAP, KHOPAGES_IOC_MAP, &arg, what);
	if (!ret && result)
		*result = arg;
	return ret;
}

int khop_stats(struct khop *k, const char *name,
	       struct khopages_session_info *info)
{
	struct khopages_stats arg = { .size = sizeof(arg) };
	char what[KHOP_MSG_MAX / 2], nbuf[KHOP_NAME_BUF];
	int ret;

	if (!k)
		return -EINVAL;
	snprintf(what, sizeof(what), "stats %s",
		 khop_show_name(nbuf, sizeof(nbuf), name));
	if (!khop_valid_name(name))
		return fail(k, EINVAL, what, invalid_name_text);
	if (!info)
		return fail(k, EINVAL, what, "NULL result pointer");
	copy_name(arg.name, name);
	ret = do_ioctl(k, OP_STATS, KHOPAGES_IOC_STATS, &arg, what);
	if (!ret)
		*info = arg.info;
	return ret;
}

int khop_list(struct khop *k, struct khopages_session_info **infos,
	      size_t *nr)
{
	/* Sessions may come and go between calls: give up after a few. */
	enum { TRIES = 8 };
	size_t room = 8;

	if (!k)
		return -EINVAL;
	if (!infos || !nr)
		return fail(k, EINVAL, "list", "NULL result pointer");
	*infos = NULL;
	*nr = 0;

	for (int i = 0; i < TRIES; i++) {
		struct khopages_session_info *buf = calloc(room, sizeof(*buf));
		struct khopages_list arg = {
			.size = sizeof(arg),
			.nr_sessions = (uint32_t)room,
			.entry_size = sizeof(*buf),
			.sessions = (uintptr_t)buf,
		};
		int ret;

		if (!buf)
			return fail(k, ENOMEM, "list", "out of memory");
		ret = do_ioctl(k, OP_LIST, KHOPAGES_IOC_LIST, &arg, "list");
		if (ret) {
			free(buf);
			return ret;
		}
		if (arg.nr_sessions <= room) {
			*infos = buf;
			*nr = arg.nr_sessions;
			return 0;
		}
		free(buf);
		/* Some slack, in case more sessions appear meanwhile. */
		room = (size_t)arg.nr_sessions + 4;
	}
	return fail(k, EAGAIN, "list", "the number of sessions kept changing");
}

int khop_api(struct khop *k, uint64_t need, struct khopages_api *result)
{
	struct khopages_api arg = { .size = sizeof(arg), .features = need };
	int ret;

	if (!k)
		return -EINVAL;
	ret = do_ioctl(k, OP_API, KHOPAGES_IOC_API, &arg, "api");
	/* The driver answers on EOPNOTSUPP too: the caller sees what is there. */
	if ((!ret || ret == -EOPNOTSUPP) && result)
		*result = arg;
	return ret;
}

static const char *const feature_names[] = {
	"large-folios",	/* KHOPAGES_FEATURE_LARGE_FOLIOS */
	"same-kernel",	/* KHOPAGES_FEATURE_SAME_KERNEL */
	"owner",	/* KHOPAGES_FEATURE_OWNER */
	"",		/* bit 3: retired */
	"luo",		/* KHOPAGES_FEATURE_LUO */
};

const char *khop_feature_name(unsigned int bit)
{
	if (bit < sizeof(feature_names) / sizeof(feature_names[0]))
		return feature_names[bit];
	return NULL;
}

static const char *const command_names[] = {
	"create", "preserve", "", "abort", "open", "map", "",
	"stats", "list", "evacuate", "api", "fill-shmem",
};

const char *khop_command_name(unsigned int bit)
{
	if (bit < sizeof(command_names) / sizeof(command_names[0]))
		return command_names[bit];
	return NULL;
}
