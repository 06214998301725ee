# SPDX-License-Identifier: GPL-2.0
# Guest test, booted without kho=on: the driver is there, but what needs
# KHO fails with EOPNOTSUPP, and khopagesctl says how to fix it. API needs
# no KHO: the driver reports every command and feature it has.
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

	out=$(khopagesctl features 2>&1) || fail "khopagesctl features: $out"
	echo "$out"
	want="commands: create preserve abort open map stats list evacuate api fill-shmem
features: large-folios same-kernel owner"
	[ "$out" = "$want" ] || fail "khopagesctl features did not list every command and feature"
	out=$(khopagesctl features same-kernel owner 2>&1) ||
		fail "khopagesctl features same-kernel owner: $out"
	out=$(khopagesctl features no-such-feature 2>&1)
	rc=$?
	[ "$rc" = 2 ] || fail "an unknown feature name exited $rc, not 2: $out"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
