# SPDX-License-Identifier: GPL-2.0
# Guest test: writes after PRESERVE must not reach a handed-over frame
# through swap. Stage 1 turns on swap on zram, lets a thread page out a
# frozen target's memory while PRESERVE takes it, hands the khopages file
# over in a Live Update session, then writes a marker over all of it with
# process_vm_writev; stage 2 retrieves the file after the kexec, maps the
# memory back and checks that every byte is the one of PRESERVE time.
# Details: khopages_swaptest.c.
. /lib/khopages/guest-lib.sh
dir=/host/swaptest

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	[ -e /sys/block/zram0 ] || fail "no zram in this kernel (CONFIG_ZRAM)"
	echo 512M >/sys/block/zram0/disksize || fail "cannot size zram0"
	mkswap /dev/zram0 >/dev/null || fail "mkswap /dev/zram0 failed"
	swapon /dev/zram0 || fail "swapon /dev/zram0 failed"
	cat /proc/swaps
	mkdir -p "$dir"
	run_step /host/swaptest-swap.log khopages_swaptest swap "$dir"
	[ -f "$dir/stage1.done" ] || fail "khopages_swaptest swap left no $dir/stage1.done"
	kexec_next_stage
	;;
2)
	[ -f "$dir/stage1.done" ] || fail "stage 1 did not complete"
	run_step /host/swaptest-verify.log khopages_swaptest verify "$dir"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
