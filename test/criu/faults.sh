#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Fault tests around a --kho-pages handover through Live Update, in one
# QEMU guest across one KHO kexec (test/criu/faults-guest.sh; helpers in
# test/vm/khopages_faults.c). After each fault: no session, no held page
# and no Live Update session left, free memory back (within 8 MiB), the
# processes' memory checked byte for byte.
#
#   test/criu/faults.sh [--no-build]
#
# Prints one line per case, "ok NAME" or "not ok NAME # why":
#   kill-dump      criu dump --kho-pages SIGKILLed once the plugin has
#                  preserved pages: the session is aborted, the tree runs
#                  on untraced with intact memory
#   preserve-exit  the target of PRESERVE killed and reaped during the
#                  call: success with every page or ESRCH, the session
#                  holds what the call said; ABORT, close, or handing the
#                  file to a Live Update session whose holder then ends
#                  gives all back
#   luo-withdraw   the post-dump script fails after the checkpoint went
#                  into its Live Update session: the holder ends, the
#                  session is aborted, the tree runs on, memory comes back
#   luo-holder-killed  the holder of a dump's Live Update session is killed
#                  before the kexec: nothing is left preserved, memory
#                  comes back
#   two-sessions   two sessions over the same range of one process, each
#                  in a Live Update session: both listed after the kexec;
#                  one retrieved and released first keeps the frames the
#                  other names; the other retrieved,
#                  mapped with exact bytes, closing it frees all the
#                  memory and leaves the mapped pages alone
#   pressure       criu dump --kho-pages while a memory hog churns and
#                  compaction runs; restored after kexec, every byte right
#   restore-retry  criu restore --kho-pages fails after the tasks mapped
#                  their pages: a holder keeps the retrieved Live Update
#                  session; the retry takes it over, restores exact memory
#                  and finishes the session
# Without --no-build it first builds the test programs and the guest
# initramfs (the guest kernel and CRIU must have been built). The run's
# files are in $CACHE/runs/criu-faults/.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

CASES=(kill-dump preserve-exit luo-withdraw luo-holder-killed two-sessions pressure restore-retry)
build=1
case "${1:-}" in
--no-build) build=0 ;;
"") ;;
*) sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac

if [ "$build" = 1 ]; then
	{
		make -s -C "$TOP/lib/libkhopages" all manifest &&
		make -s -C "$TOP/test/vm" all manifest &&
		make -s -C "$here" all manifest &&
		bash "$TOP/scripts/build-guest.sh" guest
	} >"$CACHE/criu-faults-build.log" 2>&1 || {
		tail -n 20 "$CACHE/criu-faults-build.log"
		echo "not ok build (log: $CACHE/criu-faults-build.log)"
		exit 1
	}
fi

run=$CACHE/runs/criu-faults
mkdir -p "$CACHE/runs"
start=$(date +%s)
"$TOP/scripts/vm-run.sh" --name criu-faults --mem 2G --timeout 480 \
	"$here/faults-guest.sh" >"$CACHE/runs/criu-faults.out" 2>&1
rc=$?
echo "# guest: exit $rc after $(($(date +%s) - start)) s (console: $run/console.log)"

failed=0
for c in "${CASES[@]}"; do
	line=$(grep -E "^(not )?ok $c( |\$)" "$run/cases" 2>/dev/null | head -n 1)
	[ -n "$line" ] || line="not ok $c # no result (guest: $(cat "$run/verdict" 2>/dev/null || echo "no verdict, exit $rc"))"
	echo "$line"
	case "$line" in "not ok"*) failed=$((failed + 1)) ;; esac
done
[ "$failed" = 0 ] && [ "$rc" = 0 ]
