/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private: the ioctls of Live Update (LUO, Linux 7.3) that libkhopages
 * issues, with the layout of include/uapi/linux/liveupdate.h, for hosts
 * whose kernel headers predate it (Debian 12 has none). When the system
 * has the header, the two are checked against each other at build time.
 * luo.c and the unit tests include it; nothing public depends on it.
 */
#ifndef LIBKHOPAGES_LUO_ABI_H
#define LIBKHOPAGES_LUO_ABI_H

#include <stdint.h>
#include <sys/ioctl.h>

#define LUO_DEVICE		"/dev/liveupdate"
#define LUO_NAME_MAX		64	/* with the final NUL */

/* On /dev/liveupdate: CREATE_SESSION, RETRIEVE_SESSION. */
struct luo_session_arg {
	uint32_t size;
	int32_t fd;		/* out: the session file */
	uint8_t name[LUO_NAME_MAX];
};

/* On a session file: PRESERVE_FD (fd in), RETRIEVE_FD (fd out). */
struct luo_fd_arg {
	uint32_t size;
	int32_t fd;
	uint64_t token __attribute__((aligned(8)));
};

/* On a session file: FINISH. */
struct luo_finish_arg {
	uint32_t size;
	uint32_t reserved;
};

/* On a session file: GET_NAME. */
struct luo_get_name_arg {
	uint32_t size;
	uint32_t reserved;
	uint8_t name[LUO_NAME_MAX];
};

#define LUO_IOC_TYPE		0xBA
#define LUO_CREATE_SESSION	_IO(LUO_IOC_TYPE, 0x00)
#define LUO_RETRIEVE_SESSION	_IO(LUO_IOC_TYPE, 0x01)
#define LUO_PRESERVE_FD		_IO(LUO_IOC_TYPE, 0x40)
#define LUO_RETRIEVE_FD		_IO(LUO_IOC_TYPE, 0x41)
#define LUO_FINISH		_IO(LUO_IOC_TYPE, 0x42)
#define LUO_GET_NAME		_IO(LUO_IOC_TYPE, 0x43)

_Static_assert(sizeof(struct luo_session_arg) == 72, "LUO session argument layout");
_Static_assert(sizeof(struct luo_fd_arg) == 16, "LUO fd argument layout");
_Static_assert(sizeof(struct luo_finish_arg) == 8, "LUO finish argument layout");
_Static_assert(sizeof(struct luo_get_name_arg) == 72, "LUO get-name argument layout");

#if defined(__has_include)
#if __has_include(<linux/liveupdate.h>)
#include <linux/liveupdate.h>
_Static_assert(LUO_CREATE_SESSION == LIVEUPDATE_IOCTL_CREATE_SESSION &&
	       LUO_RETRIEVE_SESSION == LIVEUPDATE_IOCTL_RETRIEVE_SESSION &&
	       LUO_PRESERVE_FD == LIVEUPDATE_SESSION_PRESERVE_FD &&
	       LUO_RETRIEVE_FD == LIVEUPDATE_SESSION_RETRIEVE_FD &&
	       LUO_FINISH == LIVEUPDATE_SESSION_FINISH &&
	       LUO_GET_NAME == LIVEUPDATE_SESSION_GET_NAME,
	       "LUO ioctl numbers differ from <linux/liveupdate.h>");
_Static_assert(sizeof(struct luo_session_arg) ==
	       sizeof(struct liveupdate_ioctl_create_session) &&
	       sizeof(struct luo_fd_arg) == sizeof(struct liveupdate_session_preserve_fd) &&
	       sizeof(struct luo_finish_arg) == sizeof(struct liveupdate_session_finish) &&
	       sizeof(struct luo_get_name_arg) == sizeof(struct liveupdate_session_get_name) &&
	       LUO_NAME_MAX == LIVEUPDATE_SESSION_NAME_LENGTH,
	       "LUO argument layouts differ from <linux/liveupdate.h>");
#endif
#endif

#endif /* LIBKHOPAGES_LUO_ABI_H */
