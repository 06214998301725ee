// SPDX-License-Identifier: GPL-2.0
/*
 * luo_finish NAME: after a kexec, retrieve Live Update session NAME and
 * finish it without retrieving any of its files, as an orchestrator that
 * knows nothing of what the session holds would. Every file in it is then
 * finished unretrieved: a khopages file gives its session back.
 *
 * Exit status: 0 done, 1 a Live Update call failed (the message says which),
 * 2 bad usage.
 */
#include <stdio.h>
#include <unistd.h>

#include "khopages.h"

int main(int argc, char **argv)
{
	int sfd;

	if (argc != 2) {
		fprintf(stderr, "usage: luo_finish NAME\n");
		return 2;
	}
	if (khop_luo_retrieve(argv[1], &sfd)) {
		fprintf(stderr, "luo_finish: %s\n", khop_luo_error());
		return 1;
	}
	if (khop_luo_finish(sfd)) {
		fprintf(stderr, "luo_finish: %s\n", khop_luo_error());
		close(sfd);
		return 1;
	}
	close(sfd);
	printf("finished Live Update session %s, no file retrieved\n", argv[1]);
	return 0;
}
