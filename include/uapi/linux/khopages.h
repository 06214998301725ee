/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * khopages: hand the anonymous memory of a checkpointed process over to the
 * next kernel through Kexec HandOver (KHO) and map it back, zero-copy.
 * User/kernel contract of /dev/khopages.
 */
#ifndef _UAPI_LINUX_KHOPAGES_H
#define _UAPI_LINUX_KHOPAGES_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * DOC: khopages ioctl interface
 *
 * Outgoing (before kexec), on one open file of /dev/khopages: CREATE(name),
 * then PRESERVE(pid, start, len) any number of times, then ABORT, or hand
 * the session over by adding the file to a Live Update session (see "Live
 * Update" below). Closing the file of a session not handed over aborts it.
 *
 * Incoming (after kexec): every session handed over is listed from boot
 * on (state INCOMING). The file Live Update gives back is attached to the
 * received session; OPEN(name) attaches other files to it (one per
 * restoring process), then MAP(orig_pid, orig_va, dst_va, len) any number
 * of times. The last close of a file attached to the session releases
 * what nobody mapped. LIST and STATS work in both directions. EVACUATE
 * needs no session.
 *
 * Arguments: every argument struct starts with @size (the caller's sizeof)
 * and @flags; a caller built against a newer header may pass a larger
 * struct whose unknown tail is zero. Unknown flag bits, non-zero padding or
 * reserved fields give EINVAL.
 *
 * Versions: there is no version number. API reports which commands the
 * driver knows and which KHOPAGES_FEATURE_* behaviours it has; a caller
 * asks for the features it relies on and gets EOPNOTSUPP when one is
 * missing. A command the driver does not know gives ENOTTY, a field it
 * does not know (a larger struct with a non-zero tail) EINVAL.
 *
 * Rights: every command but EVACUATE acts on a session, and a session
 * belongs to the user that created it (for a received session: the user
 * recorded in the handover, root when none is). A caller has rights over a
 * session when it holds CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN and either
 * is that user (same effective uid, same user namespace) or holds
 * CAP_SYS_ADMIN in the session's user namespace. Without them a command
 * gives EPERM and changes nothing, whatever file it comes through (a file
 * opened by a privileged process and inherited by another gives the other
 * no rights); LIST leaves such sessions out. MAP maps only ranges of the
 * caller's own process (its @pid is the caller's) unless the caller holds
 * CAP_SYS_ADMIN.
 *
 * Live Update: the file of an outgoing session is handed over by adding it
 * to a Live Update session (``LIVEUPDATE_SESSION_PRESERVE_FD`` on a session
 * of /dev/liveupdate, see include/uapi/linux/liveupdate.h; the driver
 * needs ``liveupdate=on``). That preserves its pages through KHO (state
 * PRESERVED): PRESERVE and ABORT then give EBUSY. Closing the Live Update
 * session before the kexec takes it back (state OPEN again, nothing
 * preserved). After the kexec, ``LIVEUPDATE_SESSION_RETRIEVE_FD`` gives a
 * file already attached to the received session (state RETRIEVED); MAP
 * and STATS work on it and OPEN on another file attaches that one too.
 * The session is released, its unmapped pages freed, when the last file
 * attached to it is closed (Live Update keeps a reference until its own
 * FINISH). A file Live Update finishes without anybody retrieving it gives
 * its session back, freeing its pages. Live Update names the sessions
 * across the kexec and fences the kexec itself; a session not in a Live
 * Update session at the kexec has nothing preserved and ends with the
 * kernel.
 *
 * Errors common to every command:
 *
 *  - EFAULT: bad pointer passed to the kernel.
 *  - EINVAL: bad size, flags, padding, name, range or alignment.
 *  - ENOTTY: not a khopages device, or the driver does not know this command.
 *  - ENOMEM: out of memory.
 *  - EINTR: interrupted by a fatal signal while waiting for another command
 *    to finish.
 *
 * Each command's own errors are listed with its definition below, one per
 * line as ``ERRNO: meaning``. The meanings are short enough for user space
 * to print as they are: libkhopages does, and its tests check that it
 * prints these.
 */

#define KHOPAGES_DEVICE		"/dev/khopages"

/* Session names: 1..63 characters of [A-Za-z0-9._-], NUL-terminated. */
#define KHOPAGES_NAME_MAX	64

/* Largest folio order reported in per-order statistics (exclusive). */
#define KHOPAGES_MAX_ORDERS	16

/**
 * struct khopages_name_arg - CREATE and OPEN.
 * @size:  sizeof(struct khopages_name_arg).
 * @flags: 0.
 * @name:  session name.
 */
struct khopages_name_arg {
	__u32 size;
	__u32 flags;
	char name[KHOPAGES_NAME_MAX];
};

/**
 * struct khopages_preserve - PRESERVE: take a range of another process.
 * @size:       sizeof(struct khopages_preserve).
 * @flags:      0.
 * @pid:        target process (in the caller's pid namespace); frozen.
 * @__pad:      0.
 * @start:      first address, page aligned.
 * @len:        length in bytes, page aligned, > 0.
 * @nr_pages:   out: pages present in the range and preserved.
 * @nr_folios:  out: folios newly preserved (shared ones counted once).
 * @nr_moved:   out: pages moved out of KHO scratch first.
 */
struct khopages_preserve {
	__u32 size;
	__u32 flags;
	__s32 pid;
	__u32 __pad;
	__u64 start;
	__u64 len;
	__u64 nr_pages;
	__u64 nr_folios;
	__u64 nr_moved;
};

/**
 * struct khopages_evacuate - EVACUATE: move a process's pages out of KHO
 * scratch ahead of its dump, while it still runs.
 * @size:     sizeof(struct khopages_evacuate).
 * @flags:    0.
 * @pid:      target process (in the caller's pid namespace).
 * @__pad:    0.
 * @start:    first address, page aligned.
 * @len:      length in bytes, page aligned, > 0. Only private anonymous
 *            memory in the range is looked at; the rest is skipped.
 * @nr_moved: out: pages moved out of scratch.
 * @nr_left:  out: pages still in scratch (busy for the moment): PRESERVE
 *            moves them, or fails with EBUSY.
 *
 * The next kernel boots in KHO scratch, so PRESERVE moves every page it
 * finds there, while the process is frozen. EVACUATE does that work before
 * the freeze; pages the process allocates afterwards may land in scratch
 * again. Nothing is held: no session is needed.
 */
struct khopages_evacuate {
	__u32 size;
	__u32 flags;
	__s32 pid;
	__u32 __pad;
	__u64 start;
	__u64 len;
	__u64 nr_moved;
	__u64 nr_left;
};

/**
 * struct khopages_fill_shmem - FILL_SHMEM: give a shared memory object the
 * pages of a shmem file handed over.
 * @size:     sizeof(struct khopages_fill_shmem).
 * @flags:    0.
 * @dst_fd:   the object to fill, open for writing and holding no page yet:
 *            a memfd, or the object behind a SysV segment or a shared
 *            anonymous mapping (opened from /proc/PID/map_files/).
 * @src_fd:   a shmem file open for reading and writing that nothing maps,
 *            typically a memfd retrieved from a Live Update session; its
 *            pages within the size of @dst_fd move into @dst_fd, at the
 *            same offsets, on the same frames.
 * @nr_pages: out: pages moved.
 *
 * Shared memory (MAP_SHARED anonymous mappings, memfds, SysV segments)
 * crosses the kexec through Live Update's memfd handler, which gives a
 * new memfd back. FILL_SHMEM moves its folios into the object the restorer
 * created with the identity it had (its name, its SysV key and
 * permissions), so that nothing is copied.
 */
struct khopages_fill_shmem {
	__u32 size;
	__u32 flags;
	__s32 dst_fd;
	__s32 src_fd;
	__u64 nr_pages;
};

/**
 * struct khopages_map - MAP: install preserved pages into the caller.
 * @size:      sizeof(struct khopages_map).
 * @flags:     0.
 * @pid:       pid the pages belonged to before kexec.
 * @__pad:     0.
 * @orig_va:   address the range had in that process, page aligned.
 * @dst_va:    where to map it in the caller: inside one private anonymous
 *             VMA, congruent to @orig_va modulo the size of every large
 *             folio in the range (modulo 2 MiB is always enough).
 * @len:       bytes, page aligned, > 0.
 * @nr_mapped: out: pages mapped from their preserved frames.
 * @nr_shared: out: pages already mapped there from the same frame (left).
 * @nr_copied: out: pages copied because the frame is mapped elsewhere.
 */
struct khopages_map {
	__u32 size;
	__u32 flags;
	__s32 pid;
	__u32 __pad;
	__u64 orig_va;
	__u64 dst_va;
	__u64 len;
	__u64 nr_mapped;
	__u64 nr_shared;
	__u64 nr_copied;
};

/* 2 was a state of the driver's own handover, gone: never reused. */
enum khopages_state {
	KHOPAGES_STATE_OPEN = 1,	/* outgoing, taking pages */
	KHOPAGES_STATE_INCOMING = 3,	/* received, its file not retrieved yet */
	KHOPAGES_STATE_CLAIMED = 4,	/* restored in place, attached with OPEN */
	KHOPAGES_STATE_PRESERVED = 5,	/* outgoing, in a Live Update session */
	KHOPAGES_STATE_RETRIEVED = 6,	/* received through Live Update */
};

/**
 * struct khopages_session_info - one session, as STATS and LIST report it.
 * @name:             session name.
 * @state:            enum khopages_state.
 * @nr_pids:          distinct processes in the session.
 * @nr_pages:         pages preserved (4 KiB units).
 * @nr_folios:        distinct folios preserved.
 * @meta_bytes:       handover metadata: table words and chunk headers.
 * @nr_moved:         pages moved out of KHO scratch before preserving.
 * @nr_mapped:        incoming: pages mapped from their preserved frames.
 * @nr_shared:        incoming: pages found already mapped (left shared).
 * @nr_copied:        incoming: pages copied.
 * @nr_released:      incoming: pages no process has mapped; the last close
 *                    of the session's files frees them.
 * @folios_by_order:  distinct folios per folio order.
 */
struct khopages_session_info {
	char name[KHOPAGES_NAME_MAX];
	__u32 state;
	__u32 nr_pids;
	__u64 nr_pages;
	__u64 nr_folios;
	__u64 meta_bytes;
	__u64 nr_moved;
	__u64 nr_mapped;
	__u64 nr_shared;
	__u64 nr_copied;
	__u64 nr_released;
	__u64 folios_by_order[KHOPAGES_MAX_ORDERS];
};

/**
 * struct khopages_stats - STATS: one session by name.
 * @size:  sizeof(struct khopages_stats).
 * @flags: 0.
 * @name:  in: session name (an incoming one is looked up first).
 * @info:  out.
 */
struct khopages_stats {
	__u32 size;
	__u32 flags;
	char name[KHOPAGES_NAME_MAX];
	struct khopages_session_info info;
};

/**
 * struct khopages_list - LIST: every session the caller has rights over.
 * @size:        sizeof(struct khopages_list).
 * @flags:       0.
 * @nr_sessions: in: room in @sessions; out: sessions the caller may see
 *               (may be more than the room: call again with a larger
 *               array).
 * @entry_size:  sizeof(struct khopages_session_info) as the caller knows
 *               it: the stride of @sessions. At least
 *               %KHOPAGES_SESSION_INFO_SIZE_V1; a larger entry gets its
 *               unknown tail zeroed, so the struct can grow.
 * @sessions:    user pointer to an array of struct khopages_session_info.
 */
struct khopages_list {
	__u32 size;
	__u32 flags;
	__u32 nr_sessions;
	__u32 entry_size;
	__u64 sessions;
};

#define KHOPAGES_SESSION_INFO_SIZE_V1	264

/**
 * struct khopages_api - API: what this driver offers.
 * @size:     sizeof(struct khopages_api).
 * @flags:    0.
 * @features: in: the KHOPAGES_FEATURE_* bits the caller relies on; out:
 *            every feature the driver has.
 * @ioctls:   in: 0; out: bit N set when the driver knows command number
 *            %KHOPAGES_IOC_FIRST + N (1 << 0 for CREATE, and so on).
 */
struct khopages_api {
	__u32 size;
	__u32 flags;
	__u64 features;
	__u64 ioctls;
};

/*
 * Features. LARGE_FOLIOS: a large folio is handed over whole and MAP puts
 * a PMD-sized one back with one PMD. SAME_KERNEL: OPEN of its own name on
 * the file of an outgoing session not handed over restores it in place
 * and MAP copies its pages (when the upgrade is called off). OWNER:
 * sessions belong to their creator, across the kexec too (see Rights).
 * LUO: the file of an outgoing session can be preserved in a Live Update
 * session, and is retrieved from it as a file after the kexec (see "Live
 * Update" above); without it nothing can be handed over. Bit 3 was the
 * seal of the driver's own handover, gone: never reused.
 */
#define KHOPAGES_FEATURE_LARGE_FOLIOS	(1ULL << 0)
#define KHOPAGES_FEATURE_SAME_KERNEL	(1ULL << 1)
#define KHOPAGES_FEATURE_OWNER		(1ULL << 2)
#define KHOPAGES_FEATURE_LUO		(1ULL << 4)

/*
 * Magic 0xBA is shared with LUO (/dev/liveupdate, include/uapi/linux/
 * liveupdate.h), which uses numbers 0x00-0x0F on its device and 0x40-0x4F
 * on its session files; khopages has 0x80-0x8F.
 */
#define KHOPAGES_IOC_MAGIC	0xBA
#define KHOPAGES_IOC_FIRST	0x80

/**
 * define KHOPAGES_IOC_CREATE - CREATE(name): start an outgoing session
 *
 * Argument: struct khopages_name_arg, @flags 0. The session is bound to the
 * file it is created on.
 *
 * Errors:
 *
 *  - EPERM: needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN.
 *  - EEXIST: a session with this name already exists.
 *  - EBUSY: this file already has a session.
 *  - EOPNOTSUPP: KHO is not enabled (boot with kho=on).
 */
#define KHOPAGES_IOC_CREATE	_IOW(KHOPAGES_IOC_MAGIC, 0x80, struct khopages_name_arg)
/**
 * define KHOPAGES_IOC_PRESERVE - PRESERVE(pid, start, len): take a range of
 * a frozen process into the file's session
 *
 * Argument: struct khopages_preserve. Nothing of a failed call stays in the
 * session.
 *
 * Errors:
 *
 *  - ESRCH: no such process, or it has no address space.
 *  - EPERM: no rights over the session, or no ptrace access to the process.
 *  - ENOENT: no session on this file (create one first).
 *  - EBUSY: the session is in a Live Update session, or a page could not be split
 *    or moved out of KHO scratch (see the kernel log).
 *  - EFAULT: part of the range is not mapped.
 *  - EINVAL: part of the range is not private anonymous memory, or a bad
 *    range, alignment, flags or padding.
 *  - EEXIST: the range overlaps a range of the same process already in the
 *    session.
 *  - EIO: a page of the range exists but cannot be read (a swap read error,
 *    a hardware-poisoned page).
 */
#define KHOPAGES_IOC_PRESERVE	_IOWR(KHOPAGES_IOC_MAGIC, 0x81, struct khopages_preserve)
/* 0x82 was COMMIT, of the driver's own handover: never reused. */
/**
 * define KHOPAGES_IOC_ABORT - ABORT: release everything the file's
 * session holds, not handed over
 *
 * No argument.
 *
 * Errors:
 *
 *  - EPERM: no rights over the session.
 *  - ENOENT: no open session on this file.
 *  - EBUSY: the session is in a Live Update session (closing that one
 *    takes it back).
 */
#define KHOPAGES_IOC_ABORT	_IO(KHOPAGES_IOC_MAGIC, 0x83)
/**
 * define KHOPAGES_IOC_OPEN - OPEN(name): attach the file to an incoming
 * session
 *
 * Argument: struct khopages_name_arg, @flags 0. Several files (one per
 * restored process) may attach the same incoming session: one received
 * through Live Update (its file retrieved) or one restored in place. OPEN
 * on the file that created an outgoing session never handed over (state
 * OPEN: not preserved, or its Live Update session was closed before the
 * kexec), of that session's name, restores it in place: the session
 * becomes incoming, attached to that file (state CLAIMED), and MAP copies
 * its pages.
 *
 * Errors:
 *
 *  - EPERM: no rights over the session (needs CAP_CHECKPOINT_RESTORE or
 *    CAP_SYS_ADMIN, and to be its owner or an administrator).
 *  - ENOENT: no incoming session with this name whose file was retrieved.
 *  - EBUSY: this file already has a session (other than an open one of this
 *    name).
 *  - EIO: a recorded frame is not preserved memory, or has another order than
 *    recorded.
 */
#define KHOPAGES_IOC_OPEN	_IOW(KHOPAGES_IOC_MAGIC, 0x84, struct khopages_name_arg)
/**
 * define KHOPAGES_IOC_MAP - MAP(orig_pid, orig_va, dst_va, len): install
 * preserved pages into the caller
 *
 * Argument: struct khopages_map. All refusals happen before anything is
 * mapped; out of memory half way leaves the pages mapped so far (the
 * counters say how many).
 *
 * Errors:
 *
 *  - EPERM: no rights over the session (any more), or the pid is not the
 *    caller's own process and the caller lacks CAP_SYS_ADMIN.
 *  - ENOENT: no incoming session on this file, or nothing recorded for this pid and
 *    address.
 *  - EFAULT: the destination is not inside one private anonymous mapping.
 *  - EINVAL: a large folio is cut by the range, or the destination is not
 *    congruent with the original address.
 *  - EEXIST: another page (or, for a huge page, a page table) is already
 *    mapped at the destination.
 *  - EALREADY: these pages were already mapped by this session.
 *  - EIO: a recorded frame is not preserved memory.
 */
#define KHOPAGES_IOC_MAP	_IOWR(KHOPAGES_IOC_MAGIC, 0x85, struct khopages_map)
/* 0x86 was FINISH, of the driver's own handover: never reused. */
/**
 * define KHOPAGES_IOC_STATS - STATS(name): report one session
 *
 * Argument: struct khopages_stats.
 *
 * Errors:
 *
 *  - EPERM: no rights over the session.
 *  - ENOENT: no such session.
 */
#define KHOPAGES_IOC_STATS	_IOWR(KHOPAGES_IOC_MAGIC, 0x87, struct khopages_stats)
/**
 * define KHOPAGES_IOC_LIST - LIST: report every session the caller has
 * rights over
 *
 * Argument: struct khopages_list. Sessions the caller has no rights over
 * are left out.
 *
 * Errors:
 *
 *  - EINVAL: entry_size below KHOPAGES_SESSION_INFO_SIZE_V1 or above the page
 *    size.
 */
#define KHOPAGES_IOC_LIST	_IOWR(KHOPAGES_IOC_MAGIC, 0x88, struct khopages_list)
/**
 * define KHOPAGES_IOC_EVACUATE - EVACUATE(pid, start, len): move a running
 * process's pages out of KHO scratch
 *
 * Argument: struct khopages_evacuate. Needs no session.
 *
 * Errors:
 *
 *  - EPERM: needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, and ptrace access
 *    to the process.
 *  - ESRCH: no such process, or it has no address space.
 *  - EOPNOTSUPP: KHO is not enabled (boot with kho=on).
 *  - EINTR: interrupted by a fatal signal.
 */
#define KHOPAGES_IOC_EVACUATE	_IOWR(KHOPAGES_IOC_MAGIC, 0x89, struct khopages_evacuate)
/**
 * define KHOPAGES_IOC_API - API: report the commands and features of the
 * driver
 *
 * Argument: struct khopages_api. Needs no session and no privilege beyond
 * opening the device, and works after a kexec has begun. The answer is
 * written back on success and on EOPNOTSUPP.
 *
 * Errors:
 *
 *  - EOPNOTSUPP: the driver lacks a feature the caller asked for.
 */
#define KHOPAGES_IOC_API	_IOWR(KHOPAGES_IOC_MAGIC, 0x8A, struct khopages_api)
/**
 * define KHOPAGES_IOC_FILL_SHMEM - FILL_SHMEM(dst_fd, src_fd): move the
 * pages of one shmem file into an empty shared memory object
 *
 * Argument: struct khopages_fill_shmem. Needs no session.
 *
 * Errors:
 *
 *  - EPERM: needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, or a file is
 *    sealed against a change of its contents (F_SEAL_WRITE,
 *    F_SEAL_FUTURE_WRITE, F_SEAL_SHRINK or F_SEAL_GROW).
 *  - EBADF: a descriptor is not open, @dst_fd not for writing, or @src_fd
 *    not for both reading and writing.
 *  - EINVAL: bad @size or @flags, a file that is not shmem (hugetlb memfds
 *    are not), the same file twice, or a large folio of @src_fd reaching
 *    past the end of @dst_fd.
 *  - EBUSY: @dst_fd already holds pages, @src_fd is mapped, or either is
 *    in a Live Update session (preserved).
 *  - ENOSPC: @dst_fd cannot be charged for the pages.
 *  - EEXIST: a page appeared in @dst_fd meanwhile.
 *
 * After an error the pages moved so far stay in @dst_fd and the others
 * in @src_fd: the restore that needed them has failed.
 */
#define KHOPAGES_IOC_FILL_SHMEM	_IOWR(KHOPAGES_IOC_MAGIC, 0x8B, struct khopages_fill_shmem)

#endif /* _UAPI_LINUX_KHOPAGES_H */
