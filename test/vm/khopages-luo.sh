# SPDX-License-Identifier: GPL-2.0
# Guest test, one kernel, no kexec: khopages files in Live Update sessions
# (/dev/liveupdate). What PRESERVE_FD takes and refuses (a file without a
# session, the same file twice, an unprivileged caller), the states it
# moves a session through, and that closing the Live Update session gives
# the session back with its pages intact; khopagesctl luo must name the
# program as the holder of its Live Update session. No kernel report may
# appear. Details: khopages_luo.c.
. /lib/khopages/guest-lib.sh

# shellcheck disable=SC2034 # kernel_reports (guest-lib.sh) reads it
REPORT='BUG:|WARNING:|KASAN|Oops|general protection|possible circular|list_del corruption|list_add corruption'

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	[ -c /dev/liveupdate ] ||
		fail "no /dev/liveupdate: this kernel runs without Live Update (liveupdate=on)"
	khopages_luo >/host/luo.log 2>&1
	rc=$?
	cat /host/luo.log
	dmesg_reports /host/luo-dmesg.log 45 120 || fail "kernel report: $KERNEL_REPORT"
	[ "$rc" = 0 ] ||
		fail "khopages_luo: $(grep -m1 -E '^(not ok|FAIL)' /host/luo.log || echo "exit status $rc")"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
