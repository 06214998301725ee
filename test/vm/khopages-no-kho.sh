# SPDX-License-Identifier: GPL-2.0
# Guest test, booted without kho=on: the driver is there, but what needs
# KHO fails with EOPNOTSUPP, and khopagesctl says how to fix it.
. /lib/khopages/guest-lib.sh

case "$1" in
1)
	grep -qw 'kho=on' /proc/cmdline && fail "this boot has kho=on"
	[ -c /dev/khopages ] || fail "no /dev/khopages"
	out=$(khopagesctl evacuate $$ 2>&1)
	rc=$?
	echo "khopagesctl evacuate: exit $rc: $out"
	[ "$rc" = 1 ] || fail "evacuate without KHO exited $rc, not 1"
	case "$out" in
	*"boot with kho=on"*"(EOPNOTSUPP)"*) ;;
	*) fail "evacuate without KHO did not say EOPNOTSUPP and kho=on" ;;
	esac
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
