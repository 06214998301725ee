# SPDX-License-Identifier: GPL-2.0
# Guest side of `make demo`: a process holds memory, the driver hands it
# over through KHO across a kexec, a new process maps it back at the same
# frames and checks every byte; the driver's trace events written before
# the kexec are read back from the persistent trace instance.
. /lib/khopages/guest-lib.sh
mib=$(param mib)
trace=/sys/kernel/tracing/instances/boot_map

case "$1" in
1)
	echo 1 >"$trace/events/khopages/enable" || fail "no khopages trace events"
	for layout in thp scattered; do
		mkdir -p "/host/$layout"
		pagehold fill "demo-$layout" "$layout" "$mib" "/host/$layout" ||
			fail "fill $layout"
	done
	khopagesctl list >/host/sessions-before.txt
	kexec_next_stage
	;;
2)
	khopagesctl list >/host/sessions-after.txt
	grep -h 'khopages_' "$trace/trace" >/host/trace-before-kexec.txt
	for layout in thp scattered; do
		pagehold map "demo-$layout" "/host/$layout" || fail "map $layout"
	done
	pass
	;;
esac
