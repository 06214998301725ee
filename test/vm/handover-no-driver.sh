# SPDX-License-Identifier: GPL-2.0
# Guest test: a kexec into a kernel built without khopages, and back.
# Stage 1 (khopages) hands over "across" as a khopages file in a Live
# Update session (pagehold); stage 2 (kernel B, no khopages) checks it has
# no driver and that the session's memory crossed (reserved there), and
# kexecs back without retrieving anything; stage 3 checks that kernel B
# passed nothing on: there is no Live Update session "across" to
# retrieve, and its memory is ordinary memory again (MemTotal as before),
# nothing reserved for good. The driver then works as before.
. /lib/khopages/guest-lib.sh

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in kernel A"
	[ -f /host/boot/kernel-B ] || fail "no kernel B (without khopages) given"
	memtotal_kib >/host/memtotal.1
	mkdir -p /host/hold
	pagehold fill across contiguous 64 /host/hold >/host/hold.log 2>&1 ||
		fail "pagehold fill: $(tail -n1 /host/hold.log)"
	kexec_next_stage /host/boot/kernel-B
	;;
2)
	grep -q -- -nokhopages /proc/version || fail "stage 2 is not the kernel without khopages: $(cat /proc/version)"
	[ -e /dev/khopages ] && fail "the kernel without khopages has /dev/khopages"
	[ -e /sys/kernel/debug/kho/in/fdt ] || fail "kernel B received no KHO handover"
	memtotal_kib >/host/memtotal.2
	a=$(cat /host/memtotal.1) b=$(cat /host/memtotal.2)
	echo "MemTotal: kernel A $a kB, kernel B (session reserved) $b kB"
	# The 64 MiB crossed: kernel B keeps them reserved, out of MemTotal.
	[ "$b" -le $((a - 64 * 1024 * 9 / 10)) ] ||
		fail "kernel B does not keep the session's 64 MiB reserved: MemTotal $a kB, then $b kB"
	kexec_next_stage /host/boot/kernel-A
	;;
3)
	[ -c /dev/khopages ] || fail "no /dev/khopages back in kernel A"
	khopagesctl list >/host/list.3 2>&1 || fail "khopagesctl list: $(head -n1 /host/list.3)"
	cat /host/list.3
	[ -z "$(tail -n +2 /host/list.3)" ] ||
		fail "a khopages session came back through a kernel that cannot hand it on"
	pagehold map across /host/hold >/host/map.3 2>&1 &&
		fail "session across was retrieved through a kernel that cannot hand it on"
	cat /host/map.3
	grep -q 'liveupdate: retrieve session across: no such session (ENOENT)' /host/map.3 ||
		fail "retrieving Live Update session across did not fail with ENOENT: $(cat /host/map.3)"
	before=$(cat /host/memtotal.1) now=$(memtotal_kib)
	echo "MemTotal: before $before kB, back in kernel A $now kB"
	[ "$now" -ge $((before - 4096)) ] ||
		fail "MemTotal back in kernel A is $now kB, $((before - now)) kB less than before: memory stayed reserved"
	# The driver works as before: a new session is handed over and
	# withdrawn again.
	mkdir -p /host/hold2
	pagehold fill again contiguous 16 /host/hold2 >/host/hold2.log 2>&1 ||
		fail "a new session after coming back: $(tail -n1 /host/hold2.log)"
	pagehold withdraw /host/hold2 || fail "withdrawing the new session failed"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "a session is left after the withdraw"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
