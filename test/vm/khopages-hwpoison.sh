# SPDX-License-Identifier: GPL-2.0
# Guest test: a page that exists but cannot be read (hardware poison)
# makes PRESERVE fail with EIO, names the process and the address in the
# kernel log, and leaves nothing held; a never-touched page stays a hole.
# Details: khopages_swaptest.c (hwpoison).
. /lib/khopages/guest-lib.sh

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	khopages_swaptest hwpoison >/host/hwpoison.log 2>&1
	rc=$?
	cat /host/hwpoison.log
	dmesg | grep -E 'khopages: pid [0-9]+: page at 0x[0-9a-f]+ cannot be read' \
		>/host/hwpoison-dmesg.log
	cat /host/hwpoison-dmesg.log
	[ "$rc" = 0 ] ||
		fail "hwpoison: $(grep -m1 -E '^(not ok|FAIL)' /host/hwpoison.log || echo "exit status $rc")"
	[ -s /host/hwpoison-dmesg.log ] ||
		fail "no kernel message names the unreadable page"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
