# SPDX-License-Identifier: GPL-2.0
# Guest test: a session nobody opens is handed over again by the next
# kexec, unchanged; one discarded before that is not.
# Stage 1 hands over "memtest" (khopages_memtest fill) and "dropme"
# (pagehold). Stage 2 opens neither, discards "dropme" and kexecs again;
# the driver forwards "memtest" at that kexec (not at boot).
# Stage 3 must find "memtest" alone, and khopages_memtest verify checks
# every byte and frame of it and that FINISH gives the memory back.
. /lib/khopages/guest-lib.sh
dir=/host/memtest

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	run_step /host/fill.log khopages_memtest fill "$dir"
	mkdir -p /host/hold
	pagehold fill dropme scattered 16 /host/hold >/host/hold.log 2>&1 ||
		fail "pagehold fill: $(tail -n1 /host/hold.log)"
	kexec_next_stage
	;;
2)
	khopagesctl list | tee /host/list-2.log
	grep -q '^memtest  *incoming ' /host/list-2.log || fail "stage 2: memtest not received"
	grep -q '^dropme  *incoming ' /host/list-2.log || fail "stage 2: dropme not received"
	# Forwarding happens at the kexec, not at boot: nothing published yet.
	[ -d /sys/kernel/debug/kho/out/sub_fdts ] || fail "stage 2: no KHO debugfs"
	[ -e /sys/kernel/debug/kho/out/sub_fdts/khopages ] &&
		fail "stage 2: the received sessions were handed over again at boot already"
	khopagesctl discard dropme || fail "stage 2: discard dropme failed"
	kexec_next_stage
	;;
3)
	khopagesctl list | tee /host/list-3.log
	grep -q '^memtest  *incoming ' /host/list-3.log ||
		fail "the unclaimed session memtest did not survive a second kexec"
	grep -q '^dropme ' /host/list-3.log &&
		fail "dropme was discarded, yet handed over again"
	run_step /host/verify.log khopages_memtest verify "$dir"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
