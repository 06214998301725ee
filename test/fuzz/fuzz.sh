# SPDX-License-Identifier: GPL-2.0
# Guest test: fuzz the ioctls of /dev/khopages (khopages_fuzz) and check
# that the kernel survives it without a report, a leak or a lost session.
#
# Stage 1 fuzzes the outgoing side, the Live Update preserve and its
# withdrawal included (a short warm-up run, then the measured run); with
# handover=1 it then hands a few sessions over through Live Update
# (holder processes keep their Live Update sessions open) and kexecs.
# Stage 2 retrieves them, checks they arrived as handed over, and fuzzes
# the retrieval of their files, OPEN and MAP on them; the last close of
# their files releases them. After each run:
#   - khopages_fuzz itself must end with "sessions left 0" (exit 0);
#   - no kernel report in the log (BUG, WARNING, KASAN, Oops, general
#     protection, kmemleak, lockdep);
#   - free memory (free_kib) after the run and the exit of every child no
#     more than slack_mib below what it was before;
#   - with kmemleak (debug kernel): a scan finds nothing that involves
#     khopages or was allocated during the run.
# Parameters (vm-run.sh --set): calls (20000), seconds (120), threads (4),
# seed, warmup (2000 calls), slack_mib (8), handover (1), fault (0; 1: fail
# allocations in the calls through fail-nth, needs a debug kernel), thp (1;
# 0: hand over no THP, e.g. to fuzz stage 2 past a known THP bug),
# pressure (1: swap on zram, so the fuzzer's reclaim really swaps pages
# out; 0: no swap).
# A KASAN kernel must be kexec'd with larger KHO scratch (its early
# shadow allocations must fit in scratch):
#   vm-run.sh --kernel .../kernel-debug/arch/x86/boot/bzImage --mem 3G \
#     --append kho_scratch=16M,768M,64M ...
. /lib/khopages/guest-lib.sh

calls=$(param calls); calls=${calls:-20000}
seconds=$(param seconds); seconds=${seconds:-120}
threads=$(param threads); threads=${threads:-4}
seed=$(param seed)
warmup=$(param warmup); warmup=${warmup:-2000}
slack=$(param slack_mib); slack=${slack:-8}
handover=$(param handover); handover=${handover:-1}
fault=$(param fault); fault=${fault:-0}
thp=$(param thp); thp=${thp:-1}
pressure=$(param pressure); pressure=${pressure:-1}
stage=$1
KML=/sys/kernel/debug/kmemleak
# Words of a kernel report, and the lines of a normal debug boot that
# contain them without being one.
# shellcheck disable=SC2034 # kernel_reports (guest-lib.sh) reads it
REPORT='BUG:|WARNING:|KASAN|Oops|general protection|kmemleak|possible circular|lockdep'
# shellcheck disable=SC2034 # kernel_reports (guest-lib.sh) reads it
BENIGN='KernelAddressSanitizer initialized|RCU lockdep checking is enabled|kmemleak: Kernel memory leak detector initialized|kmemleak: Automatic memory scanning thread|Lock dependency validator|lockdep: fixing up alternatives|Memory: .*kmemleak'

# Everything the kernel logs, from boot on, into the run directory (the
# ring buffer may wrap during a long run).
kmsg_start() {
	cat /dev/kmsg >"/host/fuzz-kmsg.$stage.log" 2>/dev/null &
	kmsg_pid=$!
}

kmsg_stop() {
	sleep 1
	kill "$kmsg_pid" 2>/dev/null
	wait "$kmsg_pid" 2>/dev/null
}

# Fail on any kernel report in the log so far, showing it with its stack.
# The log holds /dev/kmsg records: their text, without the "LEVEL,SEQ,..;"
# prefix and the " KEY=VALUE" lines after some, is what dmesg shows.
check_kmsg() {
	local log=/host/fuzz-kmsg.$stage.log text=/tmp/fuzz-kmsg.$stage.txt
	sed 's/^[^;]*;//' "$log" | grep -v '^ [A-Z_]*=' >"$text"
	if kernel_reports "$text" 40 200 >"$text.reports"; then
		rm -f "$text" "$text.reports"
		return 0
	fi
	echo "--- kernel report(s) in $log:"
	cat "$text.reports"
	fail "kernel report during the fuzz run: $KERNEL_REPORT"
}

# Let freed memory reach the allocator: caches, LRU batches (compaction
# drains them), per-CPU lists, and KASAN's quarantine (slab shrink).
settle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo 1 >/proc/sys/vm/compact_memory 2>/dev/null
	for f in /sys/kernel/slab/*/shrink; do echo 1 >"$f"; done 2>/dev/null
	sleep 2
}

# Fault injection through /proc/thread-self/fail-nth: let it fail
# GFP_KERNEL allocations of every order, quietly (a forced failure is not a
# report; what the kernel does with it may be).
fault_setup() {
	fault_opt=""
	[ "$fault" = 0 ] && return 0
	if [ ! -d /sys/kernel/debug/failslab ]; then
		[ "$fault" = 1 ] && fail "fault=1 but this kernel has no fault injection"
		return 0
	fi
	for d in failslab fail_page_alloc; do
		echo N >/sys/kernel/debug/$d/ignore-gfp-wait
		echo 0 >/sys/kernel/debug/$d/verbose
	done
	echo 0 >/sys/kernel/debug/fail_page_alloc/min-order
	echo N >/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
	fault_opt=--fault
}

# jiffies now (HZ 250, INITIAL_JIFFIES = 2^32 - 300 HZ), minus a second.
jiffies_now() {
	local j
	j=$(sed -n 's/^jiffies: *\([0-9]*\).*/\1/p' /proc/timer_list 2>/dev/null | head -n 1)
	if [ -z "$j" ]; then
		j=$(awk '{ printf "%d", 4294892296 + $1 * 250 }' /proc/uptime)
	fi
	echo $((j - 250))
}

kmemleak_begin() {
	[ -e "$KML" ] || return 0
	echo scan >"$KML"
	echo clear >"$KML"
	start_jiffies=$(jiffies_now)
}

# A scan after the run; a report fails the test when it involves khopages
# or its object was allocated after the run started.
kmemleak_check() {
	local log=/host/fuzz-kmemleak.$stage.log bad
	[ -e "$KML" ] || return 0
	sleep 6		# kmemleak ignores objects younger than 5 s
	echo scan >"$KML"
	sleep 2
	echo scan >"$KML"
	cat "$KML" >"$log"
	echo "kmemleak: $(grep -c '^unreferenced object' "$log") unreferenced object(s) reported"
	bad=$(awk -v start="$start_jiffies" '
		/^unreferenced object/ { if (blk != "" && hit) print blk; blk = $0; hit = 0; next }
		{ blk = blk "\n" $0 }
		/khop/ { hit = 1 }
		/jiffies [0-9]+/ { for (i = 1; i <= NF; i++) if ($i == "jiffies" && $(i + 1) + 0 >= start) hit = 1 }
		END { if (blk != "" && hit) print blk }' "$log")
	if [ -n "$bad" ]; then
		echo "--- kmemleak reports from the run:"
		echo "$bad" | head -n 150
		fail "kmemleak: unreferenced object(s) from the fuzz run (see $log)"
	fi
	[ -s "$log" ] && echo "kmemleak: the reports are older than the run and do not involve khopages"
	return 0
}

# The kernel stack of every blocked (D) task and of every khopages_fuzz
# thread: the guest kernel has no hung-task detector of its own.
dump_blocked() {
	local t st
	for t in /proc/[0-9]*/task/[0-9]*; do
		st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "$t/status" 2>/dev/null)
		[ "$st" = D ] || grep -q '^Name:[[:space:]]*khopages_fuzz' "$t/status" 2>/dev/null || continue
		echo "--- $t $(sed -n 's/^Name:[[:space:]]*//p' "$t/status") state $st"
		cat "$t/stack" 2>/dev/null
	done
}

# Run a command in the background; fail with the blocked tasks' stacks if
# it is still there after LIMIT seconds (a hang).
run_watched() {
	local log=$1 limit=$2 pid t=0
	shift 2
	"$@" >"$log" 2>&1 &
	pid=$!
	while ! grep -qE '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null &&
	      [ -e "/proc/$pid" ]; do
		sleep 2
		t=$((t + 2))
		if [ "$t" -ge "$limit" ]; then
			echo "--- $* still running after ${limit}s; its log:"
			tail -n 20 "$log"
			dump_blocked
			fail "hang: $(basename "$1") still running after ${limit}s"
		fi
	done
	wait "$pid"
}

# One measured run: free memory before and after, the fuzzer's own checks.
fuzz_run() {
	local log=$1 before after rc
	shift
	settle
	before=$(free_kib)
	echo "free before: $before KiB"
	run_watched "$log" $((seconds + 420)) khopages_fuzz run "$@"
	rc=$?
	tail -n 8 "$log"
	grep -E '^(FAIL|CORRUPT|cleanup|left)' "$log" | head -n 20
	[ "$rc" = 0 ] || fail "khopages_fuzz: $(grep -m1 -E '^(FAIL|left|cleanup)' "$log" || echo "exit status $rc")"
	grep -q 'sessions left 0$' "$log" || fail "khopages_fuzz did not report 'sessions left 0'"
	settle
	after=$(free_kib)
	# Freed pages can take a moment to come back.
	for i in 1 2 3 4 5; do
		[ "$after" -ge $((before - slack * 1024)) ] && break
		settle
		after=$(free_kib)
	done
	echo "free after: $after KiB (change $((after - before)) KiB, slack ${slack} MiB)"
	echo "$before $after" >"$log.mem"
	[ "$after" -ge $((before - slack * 1024)) ] ||
		fail "free memory $((before - after)) KiB lower after the fuzz run than before"
}

run_args() {
	echo "--calls $calls --seconds $seconds --threads $threads ${seed:+--seed $seed} $fault_opt"
}

# The fuzzer's "pressure" operation pages the targets out and compacts
# memory while the ioctls run; with swap (pressure=1, the default) the
# pages really leave memory.
pressure_setup() {
	[ "$pressure" = 1 ] || return 0
	zram_swap_on 256M || fail "pressure=1 needs swap on zram"
	echo "swap: $(sed -n 2p /proc/swaps)"
}

case "$stage" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	echo "kernel $(uname -r): fuzz stage 1, $calls calls / ${seconds}s, $threads threads"
	pressure_setup
	kmsg_start
	fault_setup
	kmemleak_begin
	# Warm-up: first-use allocations (slab caches, page tables, stack
	# depot, lockdep) are not leaks; it is checked all the same.
	run_watched /host/fuzz-warmup.log 480 khopages_fuzz run --calls "$warmup" \
		--seconds 60 --threads "$threads" ${seed:+--seed $seed} $fault_opt ||
		fail "khopages_fuzz warm-up: $(grep -m1 -E '^(FAIL|left|cleanup)' /host/fuzz-warmup.log || echo failed)"
	grep '^calls' /host/fuzz-warmup.log
	fuzz_run /host/fuzz-run.1.log $(run_args)
	kmsg_stop
	check_kmsg	# before the scan: kmemleak logs what it finds
	kmemleak_check
	if [ "$handover" = 1 ]; then
		run_watched /host/fuzz-prepare.log 300 khopages_fuzz prepare /host/fuzz-records \
			$([ "$thp" = 0 ] && echo --no-thp) ||
			fail "khopages_fuzz prepare: $(tail -n 1 /host/fuzz-prepare.log)"
		cat /host/fuzz-prepare.log
		kexec_next_stage /host/boot/kernel-A
	fi
	pass
	;;
2)
	echo "kernel $(uname -r): fuzz stage 2, incoming sessions"
	pressure_setup
	kmsg_start
	fault_setup
	kmemleak_begin
	fuzz_run /host/fuzz-run.2.log $(run_args) --records /host/fuzz-records
	if dmesg | grep -E 'khopages: (Live Update file refused|session .* cannot be retrieved)'; then
		fail "the handover of stage 1 was refused"
	fi
	kmsg_stop
	check_kmsg
	kmemleak_check
	pass
	;;
*) fail "unexpected stage $stage" ;;
esac
