# SPDX-License-Identifier: GPL-2.0
# Guest test: a handover damaged on purpose (param how=old-format|
# newer-format|newer-compatible|counts|chunk-magic|frame) across a kexec.
# The session goes over as a khopages file in a Live Update session
# (pagehold), and the corrupt_handover knob damages that file's own
# description (the tree Live Update hands to the next kernel).
#   outcome=refused (default): retrieving the file from the Live Update
#     session fails, the kernel says why with the message in param expect,
#     no session is offered and the driver keeps working; with released=1,
#     the session's memory stays reserved there (MemTotal) and the kexec
#     after it gives it back (stage 3).
#   outcome=offered: the next kernel reads it (a newer format that says it
#     can be read as this one) and the session maps back, every byte and
#     frame checked.
. /lib/khopages/guest-lib.sh
how=$(param how)
expect=$(param expect)
outcome=$(param outcome)
released=$(param released)
mib=8
[ "$released" = 1 ] && mib=64

case "$1" in
1)
	mkdir -p /host/hold
	pagehold fill corrupt contiguous "$mib" /host/hold || fail "fill"
	echo "$how" >/sys/kernel/debug/khopages/corrupt_handover || fail "knob refused $how"
	kexec_next_stage
	;;
2)
	dmesg | grep 'khopages:' | grep -v deliberately
	if [ "$outcome" = offered ]; then
		pagehold map corrupt /host/hold || fail "map: the session did not come back intact"
		dmesg | grep 'khopages:' | grep -q 'refused' && fail "the handover was refused"
		sed 's/^/  /' /host/hold/map.txt
		pass
	fi
	pagehold map corrupt /host/hold >/host/map-refused.log 2>&1 &&
		fail "the damaged file was retrieved and mapped"
	cat /host/map-refused.log
	grep -q 'liveupdate: retrieve' /host/map-refused.log ||
		fail "pagehold failed, but not in retrieving the file: $(cat /host/map-refused.log)"
	dmesg | grep 'khopages:' | grep -v deliberately
	dmesg | grep 'khopages:' | grep -qF "$expect" || fail "no kernel message '$expect'"
	khopagesctl list || fail "khopagesctl list"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a damaged session was offered"
	khopagesctl stats corrupt 2>/dev/null && fail "stats of a refused session worked"
	# The driver still works: a new session can be handed over and
	# withdrawn.
	mkdir -p /tmp/again
	pagehold fill again contiguous 1 /tmp/again || fail "the driver no longer works"
	pagehold withdraw /tmp/again || fail "withdrawing the new session failed"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a session is left after the withdraw"
	[ "$released" = 1 ] || pass
	pages=$((mib * 256))
	dmesg | grep -qF "khopages: the 1 session(s) of that handover ($pages pages announced) stay reserved until the next kexec or reboot" ||
		fail "no kernel message saying that the session's $pages pages stay reserved"
	memtotal_kib >/host/memtotal.2
	kexec_next_stage
	;;
3)
	reserved=$(cat /host/memtotal.2) now=$(memtotal_kib)
	echo "MemTotal: refusing kernel $reserved kB, after the next kexec $now kB"
	[ "$now" -ge $((reserved + mib * 1024 * 9 / 10)) ] ||
		fail "the refused session's $mib MiB did not come back: MemTotal $reserved kB, then $now kB"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a refused session came back"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
