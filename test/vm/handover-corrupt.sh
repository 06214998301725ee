# SPDX-License-Identifier: GPL-2.0
# Guest test: a handover damaged on purpose (param how=old-format|counts|
# chunk-magic|frame) is refused by the next kernel with a clear message,
# offers no session, and the kernel keeps running.
. /lib/khopages/guest-lib.sh
how=$(param how)
expect=$(param expect)

case "$1" in
1)
	mkdir -p /host/hold
	pagehold fill corrupt contiguous 8 /host/hold || fail "fill"
	echo "$how" >/sys/kernel/debug/khopages/corrupt_handover || fail "knob refused $how"
	kexec_next_stage
	;;
2)
	dmesg | grep 'khopages:' | grep -v deliberately
	dmesg | grep 'khopages:' | grep -qF "$expect" || fail "no kernel message '$expect'"
	khopagesctl list || fail "khopagesctl list"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a damaged session was offered"
	khopagesctl stats corrupt 2>/dev/null && fail "stats of a refused session worked"
	# The driver still works: a new session can be created and aborted.
	pagehold fill again contiguous 1 /tmp || fail "the driver no longer works"
	pass
	;;
esac
