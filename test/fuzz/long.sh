#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The ioctl fuzzer's long run (make fuzz-long): the guest test of fuzz.sh
# with many more calls, memory pressure on the targets (reclaim to zram
# swap, compaction) as in make check, and a kexec between the outgoing and
# the incoming half.
#
#   test/fuzz/long.sh [normal|debug] [CALLS]
#     CALLS is per stage (before and after the kexec):
#     normal: the guest kernel, 500,000 a stage (1,000,000 in all)
#     debug:  the debug kernel (KASAN, lockdep, kmemleak), 50,000 a stage
# Prints the fuzzer's summary lines and "fuzz-long: PASS" or FAIL; the run
# directory is $CACHE/runs/fuzz-long-KIND.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

kind=${1:-normal}
case "$kind" in
normal)
	calls=${2:-500000}
	opts=()
	rate=150	# calls per second the guest manages, at the least
	;;
debug)
	calls=${2:-50000}
	kdebug=$CACHE/build/kernel-debug/arch/x86/boot/bzImage
	[ -f "$kdebug" ] || die "no debug kernel at $kdebug: run 'make kernel-debug'"
	opts=(--kernel "$kdebug" --mem 3G --append "kho_scratch=16M,768M,64M no5lvl"
	      --set slack_mib=64)
	rate=15
	;;
*) die "usage: long.sh [normal|debug] [CALLS]" ;;
esac
# Both stages fuzz: time for each at the slowest rate seen, and the boots.
seconds=$((calls / rate + 60))
name=fuzz-long-$kind
rc=0
"$TOP/scripts/vm-run.sh" --name "$name" "${opts[@]}" --set calls="$calls" \
	--set seconds="$seconds" --timeout $((2 * seconds + 600)) \
	"$here/fuzz.sh" || rc=$?
grep -hE '^(calls|time) ' "$CACHE/runs/$name"/fuzz-run.*.log 2>/dev/null || true
if [ "$rc" = 0 ]; then
	echo "fuzz-long: PASS ($kind kernel, $calls calls a stage)"
else
	echo "fuzz-long: FAIL ($kind kernel; console: $CACHE/runs/$name/console.log)"
fi
exit "$rc"
