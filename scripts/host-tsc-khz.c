// SPDX-License-Identifier: GPL-2.0
/*
 * host-tsc-khz: print the host's TSC frequency in kHz, measured against
 * CLOCK_MONOTONIC_RAW over 100 ms.
 *
 * QEMU's TCG hands the guest the host's TSC. The guest kernel calibrates
 * it against the emulated PIT, which under TCG sometimes fails ("Unable
 * to calibrate against PIT"); with no HPET or PM timer either (the guest
 * kernel has no ACPI) it then marks the TSC unstable and runs on jiffies,
 * without high-resolution timers, and everything that sleeps briefly
 * gets slower. vm-run.sh passes this figure as tsc_early_khz= instead.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void)
{
	const struct timespec wait = { 0, 100 * 1000 * 1000 };
	double t0, t1;
	uint64_t c0, c1;

	t0 = now_ns();
	c0 = __rdtsc();
	nanosleep(&wait, NULL);
	t1 = now_ns();
	c1 = __rdtsc();
	if (t1 <= t0 || c1 <= c0) {
		fprintf(stderr, "host-tsc-khz: the TSC or the clock did not advance\n");
		return 1;
	}
	printf("%.0f\n", (double)(c1 - c0) * 1e6 / (t1 - t0));
	return 0;
}
