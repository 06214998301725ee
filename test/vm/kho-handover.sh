# SPDX-License-Identifier: GPL-2.0
# Guest test: a real KHO kexec happens, and a persistent trace instance in a
# reserve_mem region still holds the event written before the kexec.
. /lib/khopages/guest-lib.sh
trace=/sys/kernel/tracing/instances/boot_map

case "$1" in
1)
	[ -d "$trace" ] || fail "no persistent trace instance boot_map"
	token="khop-before-kexec-$(cat /proc/sys/kernel/random/uuid)"
	echo "$token" >/host/trace-token
	echo "$token" >"$trace/trace_marker"
	grep -qF "$token" "$trace/trace" || fail "marker not in the trace before kexec"
	kexec_next_stage
	;;
2)
	[ -f /sys/kernel/debug/kho/in/fdt ] ||
		fail "no /sys/kernel/debug/kho/in/fdt: this kernel received no handover"
	dmesg | grep -q "KHO: exec from: " ||
		fail "no 'KHO: exec from:' in the kernel log"
	echo "handover: $(dmesg | grep -o 'KHO: exec from: .*')"
	grep -qF "$(cat /host/trace-token)" "$trace/trace" ||
		fail "the event written before kexec is not in $trace/trace"
	echo "trace: the pre-kexec event survived in $trace"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
