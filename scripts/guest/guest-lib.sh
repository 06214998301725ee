# SPDX-License-Identifier: GPL-2.0
# Helpers for guest test scripts (sourced by /init and by each guest.sh).

# Value of NAME=... on the running kernel's command line.
cmdline_value() {
	local kv
	for kv in $(cat /proc/cmdline); do
		case "$kv" in "$1="*) echo "${kv#*=}"; return 0 ;; esac
	done
	return 1
}

# A parameter the host passed with vm-run.sh --set KEY=VALUE.
param() {
	sed -n "s/^$1=//p" /host/params | head -n 1
}

# Seconds since boot, with two decimals.
now() { cut -d' ' -f1 /proc/uptime; }

# elapsed START [END [DECIMALS]]: seconds from START to END (default: now,
# also when END is empty), with DECIMALS (default 2) decimals.
elapsed() {
	awk -v a="$1" -v b="${2:-$(now)}" -v d="${3:-2}" 'BEGIN { printf "%." d "f", b - a }'
}

# Bytes in the pages-*.img files of a CRIU image directory.
pages_bytes() {
	local f total=0
	for f in "$1"/pages-*.img; do
		[ -f "$f" ] && total=$((total + $(stat -c %s "$f")))
	done
	echo "$total"
}

# Bytes a directory takes on its file system (du, in KiB, times 1024).
dir_bytes() { du -sk "$1" | awk '{ print $1 * 1024 }'; }

# MemTotal in KiB: memory a kernel still reserves (a handover nobody took)
# is not counted in it.
memtotal_kib() { sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo; }

# Free memory in KiB: MemFree plus the pages waiting on per-CPU free lists
# (freed, but counted as free only once they return to the buddy lists).
free_kib() {
	local memfree pcp
	memfree=$(sed -n 's/^MemFree: *\([0-9]*\) kB/\1/p' /proc/meminfo)
	pcp=$(awk '$1 == "count:" { n += $2 } END { print n + 0 }' /proc/zoneinfo)
	echo $((memfree + pcp * 4))
}

# kernel_reports LOG CONTEXT MAX: the kernel reports in LOG, a kernel log
# as text (dmesg): its lines that match REPORT (an extended regular
# expression the test sets) and not BENIGN (one too, optional: lines of a
# normal boot that look like a report). Returns 0 when there is none;
# else shows each with the CONTEXT lines after it (MAX lines in all), puts
# the first in KERNEL_REPORT and returns 1.
kernel_reports() {
	local log=$1
	KERNEL_REPORT=$(grep -E "$REPORT" "$log" | not_benign | head -n 1)
	[ -z "$KERNEL_REPORT" ] && return 0
	grep -E -A "$2" "$REPORT" "$log" | not_benign | head -n "$3"
	return 1
}

# dmesg_reports LOG CONTEXT MAX: save the kernel log (dmesg) in LOG, then
# kernel_reports on it.
dmesg_reports() {
	dmesg >"$1"
	kernel_reports "$@"
}

# The lines on stdin that do not match BENIGN (all when it is unset).
not_benign() {
	if [ -n "${BENIGN:-}" ]; then grep -vE "$BENIGN"; else cat; fi
}

# Pages moved out of KHO scratch, from the line `khopagesctl evacuate`
# prints (on stdin).
evacuated_pages() {
	sed -n 's/^pid [0-9]*: \([0-9]*\) pages .*/\1/p'
}

# frames PID [MAPS_ERE]: from /proc/PID/pagemap, "START+INDEX pPFN" for
# every present page of the mappings whose /proc/PID/maps line matches
# MAPS_ERE (default: the private anonymous writable ones, and the heap)
# (grep and sed: awk is too slow in TCG for a quarter of a million lines).
# An entry is 16 hex digits: the first has bit 63 (present), the PFN is
# bits 0-54 (bit 55 is soft-dirty, masked).
frames() {
	local pid=$1 start end
	local maps=${2:-'^[0-9a-f]+-[0-9a-f]+ rw-p [0-9a-f]+ 00:00 0 *(\[heap\])?$'}
	grep -E "$maps" "/proc/$pid/maps" |
		cut -d' ' -f1 | tr '-' ' ' | while read -r start end; do
		dd if="/proc/$pid/pagemap" bs=65536 iflag=skip_bytes,count_bytes \
			skip=$((0x$start / 4096 * 8)) count=$(((0x$end - 0x$start) / 4096 * 8)) \
			2>/dev/null | od -An -v -tx8 -w8 | grep -n '^ [89a-f]' |
			sed -e "s/^\([0-9]*\): ..\(.\)/$start+\1 \2/" \
			-e 's/ [08]/ p0/;s/ [19]/ p1/;s/ [2a]/ p2/;s/ [3b]/ p3/;s/ [4c]/ p4/;s/ [5d]/ p5/;s/ [6e]/ p6/;s/ [7f]/ p7/'
	done
}

# Swap on zram of SIZE (e.g. 512M), for tests that need reclaim to swap
# pages out. Returns 1 (with a message) on a kernel without zram or swap.
zram_swap_on() {
	grep -q '/dev/zram0' /proc/swaps && return 0
	[ -e /sys/block/zram0 ] || { echo "no zram in this kernel (CONFIG_ZRAM)"; return 1; }
	echo "$1" >/sys/block/zram0/disksize || { echo "cannot size zram0"; return 1; }
	mkswap /dev/zram0 >/dev/null || { echo "mkswap /dev/zram0 failed"; return 1; }
	swapon /dev/zram0 || { echo "swapon /dev/zram0 failed"; return 1; }
}

# Run a program, keep its output in LOG, show it, and end the test with
# its first failed case ("not ok ..." or "FAIL: ...") when it fails.
run_step() {
	local log="$1" rc
	shift
	"$@" >"$log" 2>&1
	rc=$?
	cat "$log"
	[ "$rc" = 0 ] && return 0
	fail "$(basename "$log" .log): $(grep -m1 -E '^(not ok|FAIL)' "$log" || echo "exit status $rc")"
}

# End the test: a reset ends QEMU (it runs with -no-reboot).
guest_halt() {
	sync
	echo "khop-guest: halting" >/dev/console
	reboot -f
	sleep 10
}

fail() {
	echo "FAIL: $*"
	echo "FAIL: $*" >/host/verdict
	sync
	exit 1
}

pass() {
	echo PASS >/host/verdict
	sync
	exit 0
}

# On a kernel with kmemleak (the debug one), scan for leaks and keep the
# report in /host/kmemleak.STAGE.log for the host (test/check-debug.sh).
# kmemleak reports an object only once it is 5 s old and unchanged between
# two scans.
kmemleak_dump() {
	local kml=/sys/kernel/debug/kmemleak stage
	[ -w "$kml" ] || return 0
	stage=$(cmdline_value khop_stage)
	sleep 6
	echo scan >"$kml"
	sleep 1
	echo scan >"$kml"
	cat "$kml" >"/host/kmemleak.${stage:-1}.log"
	echo "khop-guest: kmemleak: $(grep -c '^unreferenced object' "/host/kmemleak.${stage:-1}.log") unreferenced object(s)" >/dev/console
}

# stage_cmdline STAGE [PARAM...]: the kernel command line for STAGE: this
# boot's, with khop_stage=STAGE and the PARAMs instead of its khop_stage,
# without the initrd= and BOOT_IMAGE= that loaders add.
stage_cmdline() {
	local stage=$1 args="" kv
	shift
	for kv in $(cat /proc/cmdline); do
		case "$kv" in khop_stage=*|initrd=*|BOOT_IMAGE=*) ;; *) args="$args $kv" ;; esac
	done
	echo "${args# } khop_stage=$stage${*:+ $*}"
}

# Kexec, through KHO, into KERNEL and run the next stage there. The
# default is /host/boot/kernel-next when the run has one (vm-run.sh
# --next-kernel: a run across kernel versions), else the kernel this run
# booted (/host/boot/kernel-A, vm-run.sh --kernel), so a run on another
# kernel (the debug one) stays on it. Other kernels are in /host/boot/.
# Extra kernel parameters may follow.
kexec_next_stage() {
	local kernel=${1:-} stage next
	shift || true
	if [ -z "$kernel" ]; then
		kernel=/host/boot/kernel-A
		[ -f /host/boot/kernel-next ] && kernel=/host/boot/kernel-next
	fi
	stage=$(cmdline_value khop_stage)
	next=$(( ${stage:-1} + 1 ))
	kmemleak_dump
	echo "khop-guest: kexec into $(basename "$kernel") for stage $next"
	kexec -s -l "$kernel" --initrd=/host/boot/initrd.img --append="$(stage_cmdline "$next" "$@")" ||
		fail "kexec load failed"
	sync
	kexec -e
	fail "kexec -e returned"
}
