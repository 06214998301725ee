#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The driver's tests on the debug kernel (khopages_debug.config: KASAN,
# lockdep, DEBUG_VM, kmemleak, KHO's own checks), both kernels of every
# kexec. A test fails when its guest fails, and also when the kernel
# reported anything on the way: a BUG, WARNING, Oops, KASAN or lockdep
# report in the serial console of the run, or an object in the kmemleak
# scan every stage makes before it kexecs or halts
# (kmemleak_dump in scripts/guest/guest-lib.sh).
# Output as test/check.sh: one line per test, then
#   N passed, N failed[, N skipped]
# Logs go to $CACHE/check-debug-logs/NAME.log, runs to $CACHE/runs/debug-*.
#
#   test/check-debug.sh            (make check-debug builds what it needs)
#   test/check-debug.sh --scan RUN_DIR...   only the scan of finished runs
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
logs=${KHOPAGES_CACHE:-/var/cache/khopages}/check-debug-logs
. "$here/check-lib.sh"

# Kernel report lines. Only kernel lines count ("[   12.345678] " first:
# the guest scripts' own output has no time stamp). Any kmemleak line but
# the BENIGN ones counts: a kmemleak that disabled itself (pool empty, an
# internal warning) would otherwise find no leak without saying so.
REPORT='BUG:|WARNING:|Oops|general protection fault|Kernel panic|KASAN|UBSAN|possible (circular|recursive) locking|inconsistent lock state|suspicious RCU usage|list_(add|del) corruption|kmemleak: |INFO: (task .* blocked|rcu_.* self-detected stall)'
BENIGN='kmemleak: (Kernel memory leak detector initialized|Automatic memory scanning thread (started|ended))'
STAMP='^\[ *[0-9]+\.[0-9]+\] '

# Print every report of a finished run; fail when there is one, or when no
# stage made a kmemleak scan (the run did not get as far as checking).
scan_run() {
	local run=$1 hits f n bad=0 scans=0
	[ -f "$run/console.log" ] || { echo "no console log in $run"; return 1; }
	hits=$(tr -d '\r' <"$run/console.log" | grep -aE "$STAMP" | grep -aE "$REPORT" |
		grep -avE "$BENIGN")
	if [ -n "$hits" ]; then
		echo "kernel report(s) in $run/console.log:"
		echo "$hits" | head -n 20
		echo "--- the first with what follows it:"
		tr -d '\r' <"$run/console.log" | grep -aF -A 40 "$(echo "$hits" | head -n 1)" |
			head -n 60
		bad=1
	fi
	for f in "$run"/kmemleak.*.log; do
		[ -f "$f" ] || continue
		scans=$((scans + 1))
		n=$(grep -c '^unreferenced object' "$f")
		[ "$n" = 0 ] && continue
		echo "kmemleak: $n unreferenced object(s) in $f:"
		head -n 60 "$f"
		bad=1
	done
	if [ "$scans" = 0 ]; then
		echo "no kmemleak scan in $run (kmemleak.STAGE.log): not a debug kernel, or the guest ended early"
		bad=1
	fi
	[ "$bad" = 0 ] && echo "$run: no kernel report, kmemleak scans: $scans, no leak"
	return "$bad"
}

if [ "${1:-}" = --scan ]; then
	shift
	rc=0
	for r in "$@"; do scan_run "$r" || rc=1; done
	exit "$rc"
fi

KDEBUG=$CACHE/build/kernel-debug/arch/x86/boot/bzImage
[ -f "$KDEBUG" ] || die "no debug kernel at $KDEBUG: run 'make kernel-debug'"
# Both stages run it (kexec_next_stage kexecs into the kernel the run
# booted). KASAN needs more memory, and KHO scratch large enough for its
# early shadow allocations (with 256M the second kernel hangs). no5lvl:
# QEMU's "-cpu max" offers 5-level paging, and with it, now and then, an
# interrupt during the boot CPU's identify_cpu() (its capabilities are
# cleared for a moment, so pgtable_l5_enabled() is false) makes KASAN
# report a "wild-memory-access" at a valid direct-map address: a kernel
# report of its own, nothing to do with khopages.
debug_opts=(--kernel "$KDEBUG" --mem 3G --append "kho_scratch=16M,768M,64M no5lvl")

# dvm NAME [vm-run.sh options] GUEST_SCRIPT: the guest on the debug
# kernel, then the scan of what its kernels logged.
dvm() {
	local name=debug-$1 rc
	shift
	vm --name "$name" "${debug_opts[@]}" "$@"
	rc=$?
	scan_run "$CACHE/runs/$name" || return 1
	return "$rc"
}

# The scanner must notice a report, each kind of it, and only a report.
scanner_selftest() {
	local t r kind rc=0 n_kind=0
	t=$(mktemp -d)
	mkdir "$t/clean"
	cat >"$t/clean/console.log" <<'LOG'
[    0.000000] rcu: 	RCU lockdep checking is enabled.
[    0.512000] KernelAddressSanitizer initialized (generic)
[    1.100000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
[   10.068502] kmemleak: Kernel memory leak detector initialized (mem pool available: 59452)
[   10.070000] kmemleak: Automatic memory scanning thread started
khop-guest: 7.3.4-khopages-debug stage 1
FAIL: this line is the guest's own: BUG: WARNING: KASAN
LOG
	: >"$t/clean/kmemleak.1.log"
	if ! scan_run "$t/clean" >"$t/clean.out"; then
		echo "scanner: a clean run was reported:"; cat "$t/clean.out"; rc=1
	fi
	for kind in \
		"BUG: KASAN: slab-use-after-free in khopages_map+0x1a/0x2b0" \
		"WARNING: possible circular locking dependency detected" \
		"WARNING: possible recursive locking detected" \
		"WARNING: CPU: 1 PID: 88 at drivers/misc/khopages/session.c:120 khopages_finish+0x4/0x10" \
		"BUG: Bad page state in process khopages_fuzz  pfn:10c602" \
		"BUG: sleeping function called from invalid context at mm/slub.c:4100" \
		"Oops: general protection fault, probably for non-canonical address" \
		"list_del corruption, ffff888100000000->next is LIST_POISON1" \
		"kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)" \
		"kmemleak: Kernel memory leak detector disabled"; do
		r=$t/r$((++n_kind))
		mkdir "$r"
		cp "$t/clean/console.log" "$t/clean/kmemleak.1.log" "$r/"
		printf '[   42.000001] %s\r\n' "$kind" >>"$r/console.log"
		if scan_run "$r" >"$r.out"; then
			echo "scanner: missed \"$kind\""; rc=1
		fi
	done
	# A leak only kmemleak's file shows, and a run with no scan at all.
	r=$t/leak
	mkdir "$r"
	cp "$t/clean/console.log" "$t/clean/kmemleak.1.log" "$r/"
	cat >"$r/kmemleak.2.log" <<'LOG'
unreferenced object 0xffff888104d3c000 (size 64):
  comm "khopages_fuzz", pid 91, jiffies 4294937296
  backtrace (crc 0):
    __kmalloc_cache_noprof+0x2a5/0x3a0
    khopages_session_create+0x5e/0x3c0
LOG
	scan_run "$r" >"$r.out" && { echo "scanner: missed a kmemleak object"; rc=1; }
	r=$t/noscan
	mkdir "$r"
	cp "$t/clean/console.log" "$r/"
	scan_run "$r" >"$r.out" && { echo "scanner: passed a run without a kmemleak scan"; rc=1; }
	[ "$rc" = 0 ] && echo "scanner: $n_kind kinds of kernel report, a leak and a missing scan caught; a clean boot passes"
	rm -rf "$t"
	return "$rc"
}

# The whole chain, from a guest to the verdict: a report the guest puts in
# the kernel log (through /dev/kmsg) must fail the run although the guest
# itself passes.
inject_guest=$(mktemp)
trap 'rm -f "$inject_guest"' EXIT
cat >"$inject_guest" <<'EOF'
. /lib/khopages/guest-lib.sh
echo "BUG: KASAN: slab-out-of-bounds in check_debug_injected+0x0/0x10" >/dev/kmsg
pass
EOF
expect_report() {
	if dvm scanner-injected --timeout 600 "$inject_guest"; then
		echo "the run passed although its kernel log has a report"
		return 1
	fi
	grep -q 'check_debug_injected' "$logs/scanner-injected.log" ||
		{ echo "failed, but not because of the injected report"; return 1; }
	echo "the injected report failed the run"
}

# --- the scanner itself
run_test scanner-selftest scanner_selftest
run_test scanner-injected expect_report

# --- KUnit in the debug kernel
# The table fuzzer (khopages_fuzz) tries 100,000 mutants here, under KASAN.
run_case_list kunit "$here/kunit-cases.sh" --name debug-kunit "${debug_opts[@]}" \
	--append khopages.fuzz_iterations=100000 --timeout 600
run_test kunit-reports scan_run "$CACHE/runs/debug-kunit"

# --- the driver across real kexecs
run_test khopages-memtest dvm khopages-memtest --timeout 1200 "$here/vm/khopages-memtest.sh"
run_test khopages-luo dvm khopages-luo --timeout 900 "$here/vm/khopages-luo.sh"
run_test khopages-errors dvm khopages-errors --timeout 1200 "$here/vm/khopages-errors.sh"
run_test khopages-swap dvm khopages-swap --timeout 1200 "$here/vm/khopages-swap.sh"
run_test khopages-hwpoison dvm khopages-hwpoison --timeout 900 "$here/vm/khopages-hwpoison.sh"
run_test handover-layouts dvm handover-layouts --set mib=64 --timeout 900 \
	"$here/vm/handover-layouts.sh"
run_test luo-discard dvm luo-discard --timeout 900 "$here/vm/handover-discard.sh"
run_test luo-finish-unretrieved dvm luo-finish-unretrieved --set how=unretrieved \
	--timeout 900 "$here/vm/handover-discard.sh"
for bad in "${corrupt_cases[@]}"; do
	run_test "luo-corrupt-${bad%%:*}" dvm "luo-corrupt-${bad%%:*}" \
		--set "how=${bad%%:*}" --set "expect=${bad#*:}" --timeout 900 \
		"$here/vm/handover-corrupt.sh"
done
run_test handover-unpreserved dvm handover-unpreserved --timeout 900 \
	"$here/vm/handover-unpreserved.sh"
run_test handover-verify dvm handover-verify --timeout 900 "$here/vm/handover-verify.sh"

# --- reliability: permissions, the fuzzer's reproducers and the fuzzer
run_test perm dvm perm --timeout 900 "$here/perm/perm.sh"
run_test fuzz-repro dvm fuzz-repro --timeout 900 "$here/fuzz/repro.sh"
run_test fuzz dvm fuzz --set calls=4000 --set seconds=240 --set warmup=300 \
	--set slack_mib=64 --timeout 1800 "$here/fuzz/fuzz.sh"

summary
