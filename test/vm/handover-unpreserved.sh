# SPDX-License-Identifier: GPL-2.0
# Guest test: a description that looks valid but names a frame KHO did not
# preserve (the corrupt_handover knob's "unpreserved", applied to the
# khopages file handed over in a Live Update session by pagehold). After
# the kexec the session is listed as incoming (its table looks valid);
# retrieving the file from the Live Update session fails with
# EIO, the kernel log names the frame, says the session cannot be
# retrieved and that those of its pages not proven its own stay reserved
# (nothing tells whose frames they are), and nothing WARNs (a WARN is a crash with panic_on_warn). No
# session is left behind, no Live Update session stays open
# (closing the refused one finished it), and the driver goes on.
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
	# The table looks valid: the session is listed; only restoring its
	# frames shows one is not preserved memory.
	khopagesctl list | grep -q '^unpres  *incoming ' ||
		fail "session unpres is not listed as incoming: $(khopagesctl list)"
	pagehold map unpres /host/hold >/host/map.log 2>&1 &&
		fail "a session naming an unpreserved frame was retrieved and mapped"
	cat /host/map.log
	grep -q 'liveupdate: retrieve token 0x[0-9a-f]* from session .*(EIO)$' /host/map.log ||
		fail "retrieving the file did not fail with EIO: $(cat /host/map.log)"
	dmesg | grep -E 'khopages:|KHO:' | grep -v deliberately
	dmesg | grep -q 'khopages: session unpres: frame .* is not preserved memory' ||
		fail "no kernel message naming the unpreserved frame"
	dmesg | grep -q 'khopages: session unpres cannot be retrieved (error -5)' ||
		fail "no kernel message saying that session unpres cannot be retrieved"
	# The frames restored before the bad one (in frame order) were proven
	# preserved and are freed; nothing tells whose the bad one and those
	# after it are: they stay reserved.
	kept=$(dmesg | sed -n 's/.*khopages: session unpres: \([0-9]*\) pages not proven its own stay reserved.*/\1/p')
	[ "${kept:-0}" -ge 1 ] && [ "$kept" -le 2048 ] ||
		fail "no kernel message saying that between 1 and 2048 pages of the session stay reserved"
	dmesg | grep -E 'WARNING:|BUG:|Oops' && fail "a kernel warning for an unpreserved frame"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a session is left after the failed retrieve"
	khopagesctl luo | grep -q 'no Live Update session is open' ||
		fail "a Live Update session is left: $(khopagesctl luo)"
	khopagesctl discard unpres --luo 2>/dev/null &&
		fail "Live Update session unpres could be retrieved again after it was closed"
	mkdir -p /tmp/again
	pagehold fill again contiguous 1 /tmp/again || fail "the driver no longer works"
	pagehold withdraw /tmp/again || fail "withdrawing the new session failed"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a session is left after the withdraw"
	pass
	;;
esac
