# SPDX-License-Identifier: GPL-2.0
# Guest test: the sessions khopages_fuzz (test/fuzz) prepares (THPs or
# not: thp=1|0, shared folios across sessions and processes, an empty
# session, a 63-character name) cross a kexec through Live Update, holder
# processes keeping their Live Update sessions open until `kexec -e`;
# stage 2 retrieves them, checks them against what was handed over, maps
# every recorded range on its own and checks every page and MAP's
# counters ("khopages_fuzz verify"), then closes the retrieved files,
# which must release the sessions. No kernel report may appear.
# A KASAN kernel must be kexec'd with larger KHO scratch (its early
# shadow allocations must fit in scratch):
#   vm-run.sh --kernel .../kernel-debug/arch/x86/boot/bzImage --mem 3G \
#     --append kho_scratch=16M,768M,64M ...
. /lib/khopages/guest-lib.sh

thp=$(param thp); thp=${thp:-1}
# shellcheck disable=SC2034 # kernel_reports (guest-lib.sh) reads it
REPORT='BUG:|WARNING:|KASAN|Oops|general protection|possible circular|list_del corruption|list_add corruption'

case "$1" in
1)
	khopages_fuzz prepare /host/verify-records $([ "$thp" = 0 ] && echo --no-thp) ||
		fail "prepare failed"
	dmesg_reports /host/verify-dmesg.1.log 45 120 || fail "kernel report: $KERNEL_REPORT"
	kexec_next_stage /host/boot/kernel-A
	;;
2)
	khopages_fuzz verify /host/verify-records >/host/verify.log 2>&1
	rc=$?
	cat /host/verify.log
	sleep 2
	dmesg_reports /host/verify-dmesg.2.log 45 120 || fail "kernel report: $KERNEL_REPORT"
	[ "$rc" = 0 ] || fail "$(grep -m1 '^FAIL' /host/verify.log || echo "verify exit $rc")"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
