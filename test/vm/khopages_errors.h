/* SPDX-License-Identifier: GPL-2.0 */
/*
 * khopages_errors: what its files share. The cases are grouped by
 * command: khopages_errors_session.c (CREATE, names, LIST),
 * khopages_errors_preserve.c (PRESERVE, EVACUATE, permissions),
 * khopages_errors_release.c (ABORT, close, a Live Update preserve and its
 * withdrawal), khopages_errors_handover.c (across the kexec through Live
 * Update: retrieve, OPEN, MAP, the last close),
 * khopages_errors_liveupdate.c (Live Update preserves refused and
 * withdrawn, sessions that must not come along),
 * khopages_errors_fill.c (FILL_SHMEM);
 * khopages_errors_target.c has the processes they work on.
 */
#ifndef KHOPAGES_ERRORS_H
#define KHOPAGES_ERRORS_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handover.h"
#include "khopages.h"
#include "khopages_testlib.h"
#include "ktap.h"

/* A raw ioctl: 0 or -errno. The library checks some arguments itself
 * before the driver sees them; these calls reach the driver. */
int rawio(int fd, unsigned long cmd, void *arg);
struct khopages_name_arg name_arg(const char *name, uint32_t flags);
struct khop *open_or_bail(void);
uint64_t random_u64(void);

/* ---- Target processes: own some filled anonymous memory and wait. ---- */

struct tregion {
	char name[16];
	uint64_t len, addr, seed;
	int madv;
	bool large;	/* handover mode: backed by a large folio */
	bool sparse;	/* holes of both kinds between written pages */
	bool balloon;	/* filled, then unmapped before the target is ready */
	uint64_t nr_pages;
};

struct target {
	pid_t pid;
	int nr;
	struct tregion r[3];
};

/*
 * A sparse region, per 4 pages: written, only read (the zero page; a huge
 * zero page with MADV_HUGEPAGE, per 2 MiB), never touched, written. Its
 * last quarter is then made PROT_NONE, which must not hide its pages.
 */
#define SPARSE_UNIT		(4 * KT_PAGE)
bool sparse_written(const struct tregion *r, uint64_t off);

void target_add(struct target *t, const char *name, uint64_t len, int madv);
/* Start the target; with @freeze it is stopped with ptrace, as a
 * checkpointer would stop it before PRESERVE. 0 or -errno. */
int target_start(struct target *t, bool freeze);
/* A frozen target with 16 MiB of small pages. */
void target_16m(struct target *t);
/* Frames of the present pages of region @ri (malloc'ed), count in *n. */
uint64_t *target_pfns(const struct target *t, int ri, uint64_t *n);
/* Wrong bytes in region @ri of the target, read through /proc/PID/mem. */
uint64_t target_bad_bytes(const struct target *t, int ri);
/* The pages of a dead target were released (two cases named @name). */
void check_released(const char *name, const uint64_t *pfns, uint64_t n, long free_before);
/* Preserve the whole 16 MiB target in a new session @name on @k. */
uint64_t *preserve_target(struct khop *k, const char *name, struct target *t, uint64_t *n);
/* Is session @name listed? Its entry in *out. */
bool listed(struct khop *k, const char *name, struct khopages_session_info *out);
/* Do two STATS answers agree in every field? */
bool same_info(const struct khopages_session_info *a, const struct khopages_session_info *b);
/* A new outgoing Live Update session @name (its fd). */
int luo_session_or_bail(const char *name);

/* ---- Unprivileged helpers: fork, open the device while still root (the
 * node is root's), drop to uid 65534, run @fn, report its results. ---- */

#define NR_RESULTS	4
#define DROP_FAILED	INT_MIN

typedef void (*dropped_fn)(struct khop *fresh, void *arg, int *res);

bool run_dropped(const char *name, bool keep_ckpt_restore, dropped_fn fn, void *arg, int *res);
void drop_create(struct khop *k, void *arg, int *res);
void drop_preserve(struct khop *k, void *arg, int *res);
void drop_ptrace(struct khop *k, void *arg, int *res);
void drop_evacuate(struct khop *k, void *arg, int *res);
void drop_open(struct khop *k, void *arg, int *res);
void drop_stats(struct khop *k, void *arg, int *res);
/* ABORT through root's file @arg (a struct khop *), inherited. */
void drop_abort(struct khop *k, void *arg, int *res);
/* MAP through root's inherited file: @arg is a struct drop_map. */
struct drop_map {
	struct khop *root;
	struct khopages_map m;
};
void drop_map(struct khop *k, void *arg, int *res);
/* Live Update preserve of root's inherited khopages file @arg[0] into
 * root's inherited Live Update session, fd *@arg[1]. */
void drop_luo_preserve(struct khop *k, void *arg, int *res);

/* ---- The cases on one kernel ---- */

void t_library_helpers(void);
void t_unknown_ioctl(void);
void t_api(void);
void t_create_bad_args(void);
void t_name_limits(void);
void t_no_session(void);
void t_busy_exists(void);
void t_unknown_names(void);
void t_list(void);
void t_list_entry_size(void);
void t_list_userfault(void);
void t_preserve_bad_args(void);
void t_preserve_holes(void);
void t_evacuate_bad_args(void);
void t_evacuate(void);
void t_permissions(void);
void t_abort_releases(void);
void t_close_releases(void);
void t_preserved_releases(void);
void t_fill_shmem(void);

/* ---- The modes besides "outgoing" ---- */

void do_handover(const char *name, const char *file, const char *pidfile, uint64_t mib);
void do_incoming(const char *name, const char *file);
void do_discard(const char *name, const char *file);
void do_liveupdate(void);
void do_absent(int nr, char **names);

#endif /* KHOPAGES_ERRORS_H */
