// SPDX-License-Identifier: GPL-2.0
/*
 * khopages_errors: the failure paths of /dev/khopages.
 *
 *   khopages_errors [outgoing]       cases on one kernel, no kexec
 *   khopages_errors handover NAME FILE PIDFILE [MIB]
 *                                    hand session NAME over to the next
 *                                    kernel in Live Update session NAME (a
 *                                    small range, a THP and optionally MIB
 *                                    MiB more), its holder's pid in PIDFILE;
 *                                    FILE records pid, ranges and frames
 *   khopages_errors liveupdate       before the kexec, after the handovers:
 *                                    Live Update preserves refused and
 *                                    withdrawn; leaves session
 *                                    errluo-withdrawn open (its file held),
 *                                    not to come along
 *   khopages_errors incoming NAME [FILE]
 *                                    after kexec: retrieve NAME, cases on it
 *   khopages_errors discard NAME [FILE]
 *                                    after kexec: retrieve NAME, close it
 *                                    unmapped and check its memory comes back
 *   khopages_errors absent NAME...   after kexec: no session NAME came along
 * FILE defaults to NAME.records in the current directory.
 *
 * Each case prints "ok N - NAME" or "not ok N - NAME # details" (TAP,
 * test/lib/ktap.h); the plan and the totals come last; the exit status is
 * 1 when any case failed.
 *
 * Argument errors are provoked with raw ioctls on khop_fd(), because the
 * library checks some arguments itself before the driver sees them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "khopages_errors.h"

static void do_outgoing(void)
{
	t_library_helpers();
	t_unknown_ioctl();
	t_api();
	t_create_bad_args();
	t_name_limits();
	t_no_session();
	t_busy_exists();
	t_preserve_bad_args();
	t_preserve_holes();
	t_evacuate_bad_args();
	t_evacuate();
	t_permissions();
	t_unknown_names();
	t_list();
	t_list_entry_size();
	t_list_userfault();
	t_abort_releases();
	t_close_releases();
	t_preserved_releases();
	t_fill_shmem();
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: khopages_errors [outgoing]\n"
		"       khopages_errors handover NAME FILE PIDFILE [MIB]\n"
		"       khopages_errors liveupdate\n"
		"       khopages_errors incoming NAME [FILE]\n"
		"       khopages_errors discard NAME [FILE]\n"
		"       khopages_errors absent NAME...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char file[KHOPAGES_NAME_MAX + 16];
	const char *mode = argc > 1 ? argv[1] : "outgoing";

	/* A peer that died shows as a failed write, not as our death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc <= 2 && strcmp(mode, "outgoing") && strcmp(mode, "liveupdate"))
		usage();
	if (argc > 2) {
		/* The session name; every argument of "absent" is one. */
		for (int i = 2; i < argc; i++)
			if ((i == 2 || !strcmp(mode, "absent")) && !khop_valid_name(argv[i]))
				usage();
		snprintf(file, sizeof(file), "%s.records", argv[2]);
		if (!(!strcmp(mode, "handover") && (argc == 5 || argc == 6)) &&
		    !(!strcmp(mode, "incoming") && argc <= 4) &&
		    !(!strcmp(mode, "discard") && argc <= 4) &&
		    strcmp(mode, "absent"))
			usage();
	}
	ktap_start();
	if (!strcmp(mode, "outgoing"))
		do_outgoing();
	else if (!strcmp(mode, "liveupdate"))
		do_liveupdate();
	else if (!strcmp(mode, "handover"))
		do_handover(argv[2], argv[3], argv[4], argc == 6 ? strtoull(argv[5], NULL, 0) : 0);
	else if (!strcmp(mode, "absent"))
		do_absent(argc - 2, argv + 2);
	else if (!strcmp(mode, "incoming"))
		do_incoming(argv[2], argc == 4 ? argv[3] : file);
	else
		do_discard(argv[2], argc == 4 ? argv[3] : file);
	return ktap_finish();
}
