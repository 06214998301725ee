// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkhopages: Live Update (/dev/liveupdate) sessions, through which the
 * khopages file of a session crosses a kexec. Thin wrappers, as for
 * /dev/khopages: arguments checked before the system call, one line saying
 * what failed and why. And, since Live Update lists no session, the
 * sessions that processes hold open, found in /proc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "luo_abi.h"

/* /dev/liveupdate admits one opener: wait this long for another one. */
#define OPEN_TRIES	50
#define OPEN_WAIT_MS	20

static _Thread_local char luo_err[KHOP_MSG_MAX];

enum luo_op {
	LOP_CREATE,
	LOP_RETRIEVE,
	LOP_PRESERVE_FD,
	LOP_RETRIEVE_FD,
	LOP_FINISH,
	LOP_COUNT,
};

struct luo_errtext {
	int err;
	const char *text;
};

/*
 * What each errno means, from Live Update (kernel/liveupdate/luo_*.c of
 * Linux 7.3) and, for PRESERVE_FD and RETRIEVE_FD, from the handler of
 * the file, whose errors Live Update passes on.
 */
static const struct luo_errtext luo_errors[LOP_COUNT][8] = {
	[LOP_CREATE] = {
		{ EEXIST, "a Live Update session with this name already exists" },
		{ EINVAL, "bad session name or argument" },
	},
	[LOP_RETRIEVE] = {
		{ ENOENT, "no such session" },
		{ EINVAL, "the session was already retrieved in this kernel" },
	},
	[LOP_PRESERVE_FD] = {
		{ EBADF, "the file descriptor is not open" },
		{ EEXIST, "the token is already used in this session" },
		{ EBUSY, "the file is already preserved in a Live Update session" },
		{ ENOENT, "no Live Update handler takes this file (a khopages file without a session, or a kernel without the khopages handler)" },
		{ EPERM, "no rights over what the file holds" },
		{ EINVAL, "the session is an incoming one, or the file cannot be preserved as it is" },
		{ ENOSPC, "no room left in the handover" },
	},
	[LOP_RETRIEVE_FD] = {
		{ ENOENT, "no file with this token in the session" },
		{ EINVAL, "the file's handler refused it (see the kernel log), or the session is an outgoing one" },
		{ EPERM, "no rights over what the file holds" },
		{ EIO, "the file's handover is damaged (see the kernel log)" },
	},
	[LOP_FINISH] = {
		{ EBUSY, "a file of the session is not fully restored yet (its handler refused to finish)" },
		{ EINVAL, "the session is an outgoing one (finish after the kexec)" },
	},
};

static const struct luo_errtext luo_common_errors[] = {
	{ ENOTTY, "not a Live Update session" },
	{ EBADF, "not an open file descriptor" },
	{ EFAULT, "bad pointer passed to the kernel" },
	{ E2BIG, "the kernel does not know a field of the argument" },
	{ EMFILE, "too many open files" },
	{ ENOMEM, "out of memory" },
	{ 0, NULL },
};

static const char *luo_explain(enum luo_op op, int err)
{
	const struct luo_errtext *t = luo_errors[op];
	size_t n = sizeof(luo_errors[op]) / sizeof(luo_errors[op][0]);

	for (size_t i = 0; i < n && t[i].text; i++)
		if (t[i].err == err)
			return t[i].text;
	/* The device answers the session commands, not session files. */
	if (err == ENOTTY && (op == LOP_CREATE || op == LOP_RETRIEVE))
		return "not the Live Update device";
	for (size_t i = 0; luo_common_errors[i].text; i++)
		if (luo_common_errors[i].err == err)
			return luo_common_errors[i].text;
	return strerror(err);
}

/* Record "WHAT: WHY (ENAME)" and return -err. */
static int luo_fail(int err, const char *what, const char *why)
{
	snprintf(luo_err, sizeof(luo_err), "%s: %s (%s)", what, why,
		 khop_errno_name(err));
	return -err;
}

const char *khop_luo_error(void)
{
	return luo_err;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Open the device for one command; while another process holds it, wait. */
static int open_device(const char *what, int *dev)
{
	const char *path = getenv("KHOPAGES_LIVEUPDATE_DEVICE"), *why;
	char busy[96];
	int fd, err = 0;

	if (!path || !*path)
		path = LUO_DEVICE;
	for (int tries = 0; tries < OPEN_TRIES; ) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			*dev = fd;
			return 0;
		}
		err = errno;
		if (err == EINTR)
			continue;
		if (err != EBUSY || ++tries == OPEN_TRIES)
			break;
		sleep_ms(OPEN_WAIT_MS);
	}
	switch (err) {
	case EBUSY:
		snprintf(busy, sizeof(busy), "another process holds it (one at a time),"
			 " still after %d tries %d ms apart", OPEN_TRIES, OPEN_WAIT_MS);
		why = busy;
		break;
	case ENOENT:
		why = "no such device node (a kernel with CONFIG_LIVEUPDATE, booted"
		      " with liveupdate=on?)";
		break;
	case ENXIO:
	case ENODEV:
		why = "Live Update is not available";
		break;
	case EACCES:
	case EPERM:
		why = "permission denied (needs root)";
		break;
	case EIO:
		why = "Live Update could not read what the previous kernel handed over"
		      " (see the kernel log)";
		break;
	default:
		why = strerror(err);
	}
	snprintf(luo_err, sizeof(luo_err), "%s: open %s: %s (%s)", what, path, why,
		 khop_errno_name(err));
	return -err;
}

static const char *invalid_name_text =
	"invalid session name: 1..63 characters of [A-Za-z0-9._-]";

/* CREATE_SESSION and RETRIEVE_SESSION: the device held for the one call. */
static int device_cmd(enum luo_op op, unsigned long req, const char *verb,
		      const char *name, int *session_fd)
{
	struct luo_session_arg arg = { .size = sizeof(arg) };
	char what[KHOP_MSG_MAX / 2], nbuf[KHOP_NAME_BUF];
	int dev = -1, ret, err;

	snprintf(what, sizeof(what), "liveupdate: %s session %s", verb,
		 khop_show_name(nbuf, sizeof(nbuf), name));
	if (!session_fd)
		return luo_fail(EINVAL, what, "NULL result pointer");
	*session_fd = -1;
	if (!khop_valid_name(name))
		return luo_fail(EINVAL, what, invalid_name_text);
	memcpy(arg.name, name, strlen(name));
	ret = open_device(what, &dev);
	if (ret)
		return ret;
	ret = ioctl(dev, req, &arg);
	err = errno;
	close(dev);
	if (ret < 0)
		return luo_fail(err, what, luo_explain(op, err));
	*session_fd = arg.fd;
	return 0;
}

int khop_luo_create(const char *name, int *session_fd)
{
	return device_cmd(LOP_CREATE, LUO_CREATE_SESSION, "create", name, session_fd);
}

int khop_luo_retrieve(const char *name, int *session_fd)
{
	return device_cmd(LOP_RETRIEVE, LUO_RETRIEVE_SESSION, "retrieve", name,
			  session_fd);
}

/* "session NAME" as the kernel has it, else "session fd N". */
static const char *session_label(char *buf, size_t size, int session_fd)
{
	struct luo_get_name_arg arg = { .size = sizeof(arg) };
	char name[LUO_NAME_MAX];
	int saved = errno;

	if (session_fd >= 0 && !ioctl(session_fd, LUO_GET_NAME, &arg)) {
		memcpy(name, arg.name, sizeof(name));
		name[sizeof(name) - 1] = '\0';
		if (khop_valid_name(name)) {
			snprintf(buf, size, "session %s", name);
			errno = saved;
			return buf;
		}
	}
	errno = saved;
	snprintf(buf, size, "session fd %d", session_fd);
	return buf;
}

/* "liveupdate: VERB session NAME" into @what. */
static void session_what(char *what, size_t size, const char *verb, int session_fd)
{
	char label[LUO_NAME_MAX + 32];

	snprintf(what, size, "liveupdate: %s %s", verb,
		 session_label(label, sizeof(label), session_fd));
}

/* A command on a session file; @verb ends with the word before "session". */
static int session_cmd(enum luo_op op, unsigned long req, int session_fd,
		       void *arg, const char *verb)
{
	char what[KHOP_MSG_MAX / 2];
	int err;

	if (session_fd < 0) {
		session_what(what, sizeof(what), verb, session_fd);
		return luo_fail(EINVAL, what, "bad session file descriptor");
	}
	if (!ioctl(session_fd, req, arg))
		return 0;
	err = errno;
	session_what(what, sizeof(what), verb, session_fd);
	return luo_fail(err, what, luo_explain(op, err));
}

int khop_luo_preserve_fd(int session_fd, int fd, uint64_t token)
{
	struct luo_fd_arg arg = { .size = sizeof(arg), .fd = fd, .token = token };
	char verb[96], what[KHOP_MSG_MAX / 2];

	snprintf(verb, sizeof(verb), "preserve fd %d as token 0x%" PRIx64 " in", fd, token);
	if (fd < 0) {
		session_what(what, sizeof(what), verb, session_fd);
		return luo_fail(EINVAL, what, "bad file descriptor");
	}
	return session_cmd(LOP_PRESERVE_FD, LUO_PRESERVE_FD, session_fd, &arg, verb);
}

int khop_luo_retrieve_fd(int session_fd, uint64_t token, int *fd)
{
	struct luo_fd_arg arg = { .size = sizeof(arg), .token = token };
	char verb[96], what[KHOP_MSG_MAX / 2];
	int ret;

	snprintf(verb, sizeof(verb), "retrieve token 0x%" PRIx64 " from", token);
	if (!fd) {
		session_what(what, sizeof(what), verb, session_fd);
		return luo_fail(EINVAL, what, "NULL result pointer");
	}
	*fd = -1;
	ret = session_cmd(LOP_RETRIEVE_FD, LUO_RETRIEVE_FD, session_fd, &arg, verb);
	if (!ret)
		*fd = arg.fd;
	return ret;
}

int khop_luo_finish(int session_fd)
{
	struct luo_finish_arg arg = { .size = sizeof(arg) };

	return session_cmd(LOP_FINISH, LUO_FINISH, session_fd, &arg, "finish");
}

/* ---- Live Update sessions held open by processes ------------------------ */

/*
 * Live Update lists no session. Its session files are anonymous inodes
 * named "[luo_session] NAME", so /proc/PID/fd/N of one reads
 * "anon_inode:[luo_session] NAME": that is how they are found.
 */
#define SESSION_LINK	"anon_inode:[luo_session] "
/* A link longer than this is no anonymous inode's (NAME_MAX at most). */
#define LINK_MAX	512

int khop_luo_parse_link(const char *target, char *name, size_t len)
{
	size_t prefix = sizeof(SESSION_LINK) - 1, n;

	if (!target || !name || !len)
		return -EINVAL;
	name[0] = '\0';
	if (strncmp(target, SESSION_LINK, prefix))
		return 0;
	n = strlen(target + prefix);
	if (!n || n >= LUO_NAME_MAX)
		return 0;
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(name, target + prefix, n + 1);
	return 1;
}

/* A process or file descriptor number, or -1 for any other name. */
static int dir_number(const char *s)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT32_MAX)
			return -1;
	}
	return (int)v;
}

/* /proc/PID/comm without its newline; "" when it cannot be read. */
static void read_comm(int pid_dir, char *comm, size_t size)
{
	int fd = openat(pid_dir, "comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		do
			n = read(fd, comm, size - 1);
		while (n < 0 && errno == EINTR);
		close(fd);
	}
	if (n < 0)
		n = 0;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

struct held_list {
	struct khop_luo_held *v;
	size_t nr, cap;
};

static int held_add(struct held_list *l, const char *name, pid_t pid, int fd,
		    const char *comm)
{
	struct khop_luo_held *h;

	if (l->nr == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		h = realloc(l->v, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		l->v = h;
		l->cap = cap;
	}
	h = &l->v[l->nr++];
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->comm, sizeof(h->comm), "%s", comm);
	h->pid = pid;
	h->fd = fd;
	return 0;
}

/*
 * The session files among the fds of process @pid (directory @pid_name of
 * @proc). A process that is gone, or whose fds this one may not read, has
 * none. Only running out of memory is an error.
 */
static int scan_process(int proc, const char *pid_name, pid_t pid, struct held_list *l)
{
	char target[LINK_MAX], name[LUO_NAME_MAX], comm[sizeof(l->v->comm)];
	int pid_dir, fd_dir, fd, ret = 0;
	bool have_comm = false;
	struct dirent *e;
	ssize_t n;
	DIR *d;

	pid_dir = openat(proc, pid_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pid_dir < 0)
		return 0;
	fd_dir = openat(pid_dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd_dir >= 0 ? fdopendir(fd_dir) : NULL;
	if (!d) {
		ret = fd_dir >= 0 && errno == ENOMEM ? -ENOMEM : 0;
		if (fd_dir >= 0)
			close(fd_dir);
		close(pid_dir);
		return ret;
	}
	while ((e = readdir(d))) {
		fd = dir_number(e->d_name);
		if (fd < 0)
			continue;
		n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (n < 0 || n == (ssize_t)sizeof(target) - 1)
			continue;
		target[n] = '\0';
		if (khop_luo_parse_link(target, name, sizeof(name)) != 1)
			continue;
		if (!have_comm) {
			read_comm(pid_dir, comm, sizeof(comm));
			have_comm = true;
		}
		ret = held_add(l, name, pid, fd, comm);
		if (ret)
			break;
	}
	closedir(d);
	close(pid_dir);
	return ret;
}

static int held_cmp(const void *a, const void *b)
{
	const struct khop_luo_held *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

int khop_luo_list_held(struct khop_luo_held **out, size_t *nr)
{
	const char *root = getenv("KHOPAGES_PROC");
	struct held_list l = { 0 };
	char what[KHOP_MSG_MAX / 2];
	size_t procs = 0;
	struct dirent *e;
	int proc, pid, ret = 0, err;
	DIR *d;

	if (!root || !*root)
		root = "/proc";
	snprintf(what, sizeof(what), "liveupdate: scan %s for open sessions", root);
	if (!out || !nr)
		return luo_fail(EINVAL, what, "NULL result pointer");
	*out = NULL;
	*nr = 0;
	proc = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc < 0) {
		err = errno;
		return luo_fail(err, what, strerror(err));
	}
	d = fdopendir(proc);
	if (!d) {
		err = errno;
		close(proc);
		return luo_fail(err, what, strerror(err));
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno)
				ret = luo_fail(errno, what, strerror(errno));
			break;
		}
		pid = dir_number(e->d_name);
		if (pid <= 0)
			continue;
		procs++;
		ret = scan_process(dirfd(d), e->d_name, (pid_t)pid, &l);
		if (ret) {
			ret = luo_fail(-ret, what, strerror(-ret));
			break;
		}
	}
	closedir(d);
	if (!ret && !procs)
		ret = luo_fail(ENOENT, what, "no process in it (is procfs mounted there?)");
	if (ret) {
		free(l.v);
		return ret;
	}
	if (l.nr)
		qsort(l.v, l.nr, sizeof(*l.v), held_cmp);
	*out = l.v;
	*nr = l.nr;
	return 0;
}

void khop_luo_held_free(struct khop_luo_held *held)
{
	free(held);
}
