/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkhopages: the user-space side of /dev/khopages.
 *
 * Every function returns 0 on success or a negative errno. On failure the
 * handle keeps one line describing what failed (khop_error()), e.g.
 * "preserve pid 42 0x7f0000000000+0x200000: no ptrace access to the process (EPERM)".
 * The message stays until the next failure. Calls with a NULL handle return
 * -EINVAL and record nothing; bad arguments are refused with -EINVAL before
 * any ioctl.
 */
#ifndef LIBKHOPAGES_KHOPAGES_H
#define LIBKHOPAGES_KHOPAGES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/khopages.h>

#ifdef __cplusplus
extern "C" {
#endif

struct khop;

/* Open /dev/khopages (or the path in $KHOPAGES_DEVICE). On failure *out is
 * NULL and the message is in khop_open_error(). */
int khop_open(struct khop **out);
/* A handle on @fd, a khopages file opened elsewhere (e.g. one retrieved
 * with khop_luo_retrieve_fd()); it is checked to be one. The handle owns
 * @fd from then on: khop_close() closes it. On failure *out is NULL, @fd
 * stays the caller's and the message is in khop_open_error(). */
int khop_from_fd(int fd, struct khop **out);
const char *khop_open_error(void);
void khop_close(struct khop *k);
int khop_fd(const struct khop *k);
const char *khop_error(const struct khop *k);

/* Outgoing; handed over with khop_luo_preserve_fd() (below). @result
 * (PRESERVE and MAP) may be NULL when the counts are not wanted. */
int khop_create(struct khop *k, const char *name);
int khop_preserve(struct khop *k, pid_t pid, uint64_t start, uint64_t len,
		  struct khopages_preserve *result);
int khop_abort(struct khop *k);
/* Before the freeze, no session needed: move the pages of @pid in
 * [start, start + len) out of KHO scratch, so that PRESERVE has less to
 * move while the process is frozen. @result may be NULL. */
int khop_evacuate(struct khop *k, pid_t pid, uint64_t start, uint64_t len,
		  struct khopages_evacuate *result);

/* Incoming: a file retrieved from Live Update is attached already;
 * khop_attach() attaches another one, or, on the file of an outgoing
 * session of that name never handed over, restores it in place. The last
 * close of the session's files releases what nobody mapped. */
int khop_attach(struct khop *k, const char *name);
int khop_map(struct khop *k, pid_t orig_pid, uint64_t orig_va, uint64_t dst_va,
	     uint64_t len, struct khopages_map *result);

/* Both directions. */
int khop_stats(struct khop *k, const char *name,
	       struct khopages_session_info *info);
/* *infos is malloc'ed; free() it. */
int khop_list(struct khop *k, struct khopages_session_info **infos,
	      size_t *nr);

/*
 * Move the pages of shmem file @src_fd (a memfd retrieved from a Live
 * Update session) into the empty shared memory object @dst_fd (a memfd,
 * or /proc/PID/map_files/ of a SysV segment or MAP_SHARED anonymous
 * mapping), on the same frames; *@nr_pages (may be NULL): pages moved.
 * Needs no session: any khopages file will do.
 */
int khop_fill_shmem(struct khop *k, int dst_fd, int src_fd, uint64_t *nr_pages);

/*
 * What the driver offers: its KHOPAGES_FEATURE_* bits and known commands in
 * @result (may be NULL). -EOPNOTSUPP when a feature of @need is missing;
 * @result is filled then too.
 */
int khop_api(struct khop *k, uint64_t need, struct khopages_api *result);
/* Name of feature bit @bit ("large-folios", ...) and of command bit @bit
 * ("create", ...), as khopagesctl prints them; "" for a retired bit, NULL
 * past the last bit it knows. */
const char *khop_feature_name(unsigned int bit);
const char *khop_command_name(unsigned int bit);

/*
 * Live Update (LUO, /dev/liveupdate, Linux 7.3 booted with liveupdate=on;
 * the driver reports KHOPAGES_FEATURE_LUO), the only way to hand over: the
 * khopages file of an outgoing session goes into a Live Update session
 * with khop_luo_preserve_fd(); after the kexec, khop_luo_retrieve_fd()
 * gives it back attached to the received session (wrap it with
 * khop_from_fd()). Closing an outgoing Live Update session before the
 * kexec takes back everything preserved in it, so its holder must live
 * until `kexec -e`.
 *
 * Same conventions as above: 0 or a negative errno, bad arguments refused
 * with -EINVAL before any system call. On failure the one-line message is
 * in khop_luo_error() (per thread, kept until the next failure), e.g.
 * "liveupdate: retrieve session memtest: no such session (ENOENT)".
 * Live Update session names follow khop_valid_name() here. Every file
 * descriptor returned is close-on-exec.
 */
/* The token of the khopages file in a Live Update session ("KHOP"). */
#define KHOP_LUO_TOKEN_PAGES	0x4b484f50ULL
/* A new outgoing Live Update session: *session_fd (-1 on failure). The
 * device is /dev/liveupdate, or the path in $KHOPAGES_LIVEUPDATE_DEVICE.
 * Only one process may have it open: khop_luo_create() and
 * khop_luo_retrieve() hold it only during their call, and retry for about
 * a second while another process holds it. */
int khop_luo_create(const char *name, int *session_fd);
/* After the kexec: the session @name the previous kernel handed over. */
int khop_luo_retrieve(const char *name, int *session_fd);
/* Preserve @fd in outgoing session @session_fd under @token. */
int khop_luo_preserve_fd(int session_fd, int fd, uint64_t token);
/* After the kexec: the file preserved under @token, as *fd (-1 on failure). */
int khop_luo_retrieve_fd(int session_fd, uint64_t token, int *fd);
/* After the kexec: every file of the session is restored; Live Update
 * drops its references (the session fd still has to be closed). */
int khop_luo_finish(int session_fd);
const char *khop_luo_error(void);

/*
 * The Live Update sessions open in processes, outgoing (before the kexec)
 * or retrieved (after it), found in /proc (or the directory in
 * $KHOPAGES_PROC): one entry per file descriptor, sorted by name, pid and
 * fd. Processes whose fds this one may not read (other users' unless
 * root), or that exit during the scan, are skipped. Fails when /proc
 * cannot be read or lists no process. *held is freed with
 * khop_luo_held_free().
 */
struct khop_luo_held {
	char name[KHOPAGES_NAME_MAX];	/* the session's, as Live Update has it:
					 * any bytes, not only khop_valid_name() */
	pid_t pid;
	int fd;
	char comm[64];			/* /proc/PID/comm; "" when unreadable */
};
int khop_luo_list_held(struct khop_luo_held **held, size_t *nr);
void khop_luo_held_free(struct khop_luo_held *held);
/* 1 when @target, what readlink() of /proc/PID/fd/N gave, is a Live Update
 * session's ("anon_inode:[luo_session] NAME"), with NAME in @name; else 0,
 * with "" in @name. -EINVAL for NULL arguments, -ENAMETOOLONG (@name "")
 * when @len bytes cannot hold NAME. */
int khop_luo_parse_link(const char *target, char *name, size_t len);

/* Helpers. */
int khop_valid_name(const char *name);	/* 1 if usable as a session name */
const char *khop_state_name(uint32_t state);
/* "ENOENT" for ENOENT or -ENOENT; "errno N" for codes it does not know. */
const char *khop_errno_name(int err);

#ifdef __cplusplus
}
#endif
#endif /* LIBKHOPAGES_KHOPAGES_H */
