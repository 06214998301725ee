# SPDX-License-Identifier: GPL-2.0
# Guest test: a table that looks valid but names a frame KHO did not
# preserve (the corrupt_handover knob's "unpreserved"). The next kernel
# offers the session (nothing in the table can tell), refuses to open it
# with EIO and a kernel message naming the frame, and never WARNs (a WARN
# is a crash with panic_on_warn). Discarding it works; the driver goes on.
. /lib/khopages/guest-lib.sh

case "$1" in
1)
	mkdir -p /host/hold
	pagehold fill unpres contiguous 8 /host/hold || fail "fill"
	echo unpreserved >/sys/kernel/debug/khopages/corrupt_handover ||
		fail "knob refused unpreserved"
	kexec_next_stage
	;;
2)
	khopagesctl list | grep -q '^unpres  *incoming ' || fail "the session is not offered"
	pagehold map unpres /host/hold && fail "a session naming an unpreserved frame was mapped"
	dmesg | grep -E 'khopages:|KHO:' | grep -v deliberately
	dmesg | grep -q 'khopages: session unpres: frame .* is not preserved memory' ||
		fail "no kernel message naming the unpreserved frame"
	dmesg | grep -E 'WARNING:|BUG:|Oops' && fail "a kernel warning for an unpreserved frame"
	khopagesctl discard unpres || fail "discard of the refused session failed"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a session is left after discard"
	pagehold fill again contiguous 1 /tmp || fail "the driver no longer works"
	pass
	;;
esac
