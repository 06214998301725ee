# SPDX-License-Identifier: GPL-2.0
# Guest test: the anonymous memory of a parent and its copy-on-write child
# (plain, partly read-only, THP, COW, sparse) crosses a KHO kexec in place.
# Stage 1 builds and preserves it, stage 2 maps it back and checks every
# byte and every page frame, then that it behaves as ordinary memory and
# that FINISH + munmap give it back. Details: khopages_memtest.c.
. /lib/khopages/guest-lib.sh
dir=/host/memtest

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	run_step /host/memtest-fill.log khopages_memtest fill "$dir"
	[ -f "$dir/stage1.done" ] || fail "khopages_memtest fill left no $dir/stage1.done"
	kexec_next_stage
	;;
2)
	[ -f "$dir/stage1.done" ] || fail "stage 1 did not complete"
	echo "--- khopagesctl list, before mapping"
	khopagesctl list >/host/memtest-list.log 2>&1 ||
		fail "khopagesctl list failed: $(head -n1 /host/memtest-list.log)"
	cat /host/memtest-list.log
	grep -q memtest /host/memtest-list.log ||
		fail "khopagesctl list does not show the session memtest"
	run_step /host/memtest-verify.log khopages_memtest verify "$dir"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
