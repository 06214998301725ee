# SPDX-License-Identifier: GPL-2.0
# Guest test: who may use /dev/khopages (khopages_perm). Stage 1 runs the
# outgoing cases (unprivileged callers, no ptrace rights, a user
# namespace, files and Live Update sessions handed to a process with fewer
# rights), then hands "perm-in" (root's) and "perm-in-user" (uid 65534's)
# over through Live Update, holders keeping them, and kexecs; stage 2
# retrieves them and runs the cases on the retrieved sessions. Every
# refusal must be EPERM and change nothing; no kernel report (BUG,
# WARNING, KASAN, Oops, lockdep...) may appear.
# A KASAN kernel must be kexec'd with larger KHO scratch (its early
# shadow allocations must fit in scratch):
#   vm-run.sh --kernel .../kernel-debug/arch/x86/boot/bzImage --mem 3G \
#     --append kho_scratch=16M,768M,64M ...
. /lib/khopages/guest-lib.sh

# shellcheck disable=SC2034 # read by kernel_reports in the guest library
REPORT='BUG:|WARNING:|KASAN|Oops|general protection|kmemleak|possible circular|lockdep'
# shellcheck disable=SC2034
BENIGN='KernelAddressSanitizer initialized|RCU lockdep checking is enabled|kmemleak: Kernel memory leak detector initialized|kmemleak: Automatic memory scanning thread|Lock dependency validator|lockdep: fixing up alternatives|Memory: .*kmemleak'

# Fail on any kernel report in this stage's kernel log (kept in /host).
check_reports() {
	dmesg_reports "/host/perm-dmesg.$1.log" 40 150 ||
		fail "kernel report: $KERNEL_REPORT"
}

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	[ -c /dev/liveupdate ] ||
		fail "no /dev/liveupdate: this kernel runs without Live Update (liveupdate=on)"
	run_step /host/perm-outgoing.log khopages_perm outgoing
	run_step /host/perm-handover.log khopages_perm handover perm-in /host/perm-range
	check_reports 1
	kexec_next_stage /host/boot/kernel-A
	;;
2)
	run_step /host/perm-incoming.log khopages_perm incoming perm-in /host/perm-range
	check_reports 2
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
