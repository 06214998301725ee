// SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later
/*
 * TAP output for the test programs (see ktap.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* strerrorname_np */
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ktap.h"

struct ktap_counts {
	unsigned int passed, failed, skipped;
};

/* In a shared mapping once ktap_start() ran, so children count too. */
static struct ktap_counts private_counts;
static struct ktap_counts *counts = &private_counts;

void ktap_start(void)
{
	struct ktap_counts *shared;

	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared != MAP_FAILED) {
		*shared = *counts;
		counts = shared;
	}
	/* Line-buffered: a child's lines and ours come out in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
}

static unsigned int next_number(unsigned int *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&counts->passed, __ATOMIC_SEQ_CST) +
	       __atomic_load_n(&counts->failed, __ATOMIC_SEQ_CST) +
	       __atomic_load_n(&counts->skipped, __ATOMIC_SEQ_CST);
}

/* The text after '#' must not start a second directive: no newlines. */
static void put_flat(const char *s)
{
	for (; *s; s++)
		putchar(*s == '\n' ? ' ' : *s);
}

static void result(unsigned int *counter, const char *status, const char *name,
		   const char *directive, const char *why)
{
	unsigned int n = next_number(counter);

	printf("%s %u - ", status, n);
	put_flat(name);
	if (why && *why) {
		printf(" # %s", directive);
		put_flat(why);
	}
	putchar('\n');
	fflush(stdout);
}

#define FORMAT(buf, fmt)				\
	do {						\
		va_list ap;				\
							\
		va_start(ap, fmt);			\
		vsnprintf(buf, sizeof(buf), fmt, ap);	\
		va_end(ap);				\
	} while (0)

void ktap_pass(const char *name)
{
	result(&counts->passed, "ok", name, "", NULL);
}

void ktap_fail(const char *name, const char *why_fmt, ...)
{
	char why[1024];

	FORMAT(why, why_fmt);
	result(&counts->failed, "not ok", name, "", why);
}

void ktap_skip(const char *name, const char *why_fmt, ...)
{
	char why[1024];

	FORMAT(why, why_fmt);
	result(&counts->skipped, "ok", name, "SKIP ", why);
}

bool ktap_check(const char *name, bool good, const char *why_fmt, ...)
{
	char why[1024];

	if (good) {
		result(&counts->passed, "ok", name, "", NULL);
		return true;
	}
	FORMAT(why, why_fmt);
	result(&counts->failed, "not ok", name, "", why);
	return false;
}

bool ktap_check_err(const char *name, int got, int want)
{
	return ktap_check(name, got == want, "got %s, expected %s", ktap_errname(got),
			  ktap_errname(want));
}

void ktap_diag(const char *fmt, ...)
{
	char line[1024];

	FORMAT(line, fmt);
	printf("# ");
	put_flat(line);
	putchar('\n');
	fflush(stdout);
}

unsigned int ktap_passed(void)
{
	return __atomic_load_n(&counts->passed, __ATOMIC_SEQ_CST);
}

unsigned int ktap_failed(void)
{
	return __atomic_load_n(&counts->failed, __ATOMIC_SEQ_CST);
}

static void totals(void)
{
	unsigned int p = ktap_passed(), f = ktap_failed();
	unsigned int s = __atomic_load_n(&counts->skipped, __ATOMIC_SEQ_CST);

	printf("1..%u\n# %u passed, %u failed, %u skipped\n", p + f + s, p, f, s);
	fflush(stdout);
}

void ktap_bail(const char *fmt, ...)
{
	char why[1024];

	FORMAT(why, fmt);
	result(&counts->failed, "not ok", "cannot go on", "", why);
	printf("Bail out!\n");
	totals();
	exit(1);
}

int ktap_finish(void)
{
	totals();
	return ktap_failed() ? 1 : 0;
}

const char *ktap_errname(int err)
{
	const char *n;

	if (err < 0)
		err = -err;
	if (!err)
		return "success";
	n = strerrorname_np(err);
	return n ? n : "unknown errno";
}
