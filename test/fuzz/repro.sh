# SPDX-License-Identifier: GPL-2.0
# Guest test: reproducers of the fuzzer's findings (khopages_repro).
# Stage 1: one, then two sessions holding the same 16 MiB, preserved in
# Live Update sessions that are closed again (the preserve taken back),
# then closed themselves (aborted): the memory must come back. Then one THP is handed over through Live Update (a holder
# keeps it) and the machine kexecs. Stage 2: the THP is retrieved, mapped
# (PMD) and unmapped, and the retrieved file closed, which releases the
# session: no kernel report may follow.
# A KASAN kernel must be kexec'd with larger KHO scratch (its early
# shadow allocations must fit in scratch):
#   vm-run.sh --kernel .../kernel-debug/arch/x86/boot/bzImage --mem 3G \
#     --append kho_scratch=16M,768M,64M ...
. /lib/khopages/guest-lib.sh

# shellcheck disable=SC2034 # kernel_reports (guest-lib.sh) reads it
REPORT='BUG:|WARNING:|KASAN|Oops|general protection|possible circular|list_del corruption|list_add corruption'

case "$1" in
1)
	rm -f /host/repro-failures
	# The control (one session) must pass for the shared case to mean anything.
	khopages_repro withdraw-shared 1 ||
		echo "withdraw-shared 1 (control): memory not given back" >>/host/repro-failures
	khopages_repro withdraw-shared 2 ||
		echo "withdraw-shared 2: memory of shared folios not given back" >>/host/repro-failures
	dmesg_reports /host/repro-dmesg.1.log 45 120 ||
		echo "kernel report: $KERNEL_REPORT" >>/host/repro-failures
	khopages_repro thp-handover /host/repro-thp.rec || fail "thp-handover failed"
	kexec_next_stage /host/boot/kernel-A
	;;
2)
	khopages_repro thp-map /host/repro-thp.rec ||
		echo "thp-map: retrieve, MAP or the release failed" >>/host/repro-failures
	sleep 2
	dmesg_reports /host/repro-dmesg.2.log 45 120 ||
		echo "kernel report: $KERNEL_REPORT" >>/host/repro-failures
	[ -s /host/repro-failures ] && fail "$(cat /host/repro-failures | tr '\n' ';')"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
