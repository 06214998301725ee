# SPDX-License-Identifier: GPL-2.0
# Benchmark guest side (run by bench/run.sh through scripts/vm-run.sh).
# One boot pair per memory size and repetition, every method side by side:
#   stage 1: memcpy of MIB MiB (yardstick); kexec load of the next kernel;
#            per layout, a workload dumped by plain CRIU to tmpfs, its images then copied to /host (9p,
#            survives the reboot); per layout, a workload dumped with
#            --kho-pages (images straight to /host), its pages moved out
#            of KHO scratch first while it runs (khopagesctl evacuate, not
#            downtime); kexec. Both methods dump with --leave-stopped (see
#            kill_wait)
#   stage 2: per layout, restore --kho-pages, then plain restore from /host
# Plain CRIU's best case, images on tmpfs, is also restored in stage 1,
# in the same kernel (tmpfs does not survive the kexec).
# Each restored workload must answer a ping (it runs again) and pass a
# check of every page. Phase boundaries are files in /host/marks: their
# mtimes come from the host clock, which runs on across the kexec;
# run.sh turns them into durations. Guest figures go to /host/results.
# Parameters: MIB, LAYOUTS (comma list), VERBOSITY (criu -v, default 4),
# PROFILE (1: the kernel runs with profile=2; every phase's ticks are
# saved to /host/profile/PHASE, see bench/profile.py).
. /lib/khopages/guest-lib.sh

MIB=$(param MIB)
LAYOUTS=$(param LAYOUTS | tr ',' ' ')
V=$(param VERBOSITY)
CRIU_OPTS="--manage-cgroups=ignore -v${V:-4} --display-stats"
M=/host/marks
R=/host/results
# CRIU's logs (-v4) are written to tmpfs and kept on /host between the
# measured phases: writing them through 9p is not part of a checkpoint
# and would make the method with images on /host look slower.
LOGS=/tmp/logs
mkdir -p "$LOGS" /host/logs
keep_logs() { cp "$LOGS"/* /host/logs/ 2>/dev/null || true; }

# A phase mark: its mtime is the host's time; it holds the guest's uptime.
# Shell builtins only: a forked helper would add its start to every phase.
mark() {
	local t rest
	read -r t rest </proc/uptime
	echo "$t" >"$M/$1"
}
result() { echo "$1 $2 $3 $4" >>"$R"; }	# method layout metric value
say() { echo "bench: [$(now)] $*"; echo "[$(now)] $*" >>/host/progress; }

# The kernel's tick profile of one phase: reset before it, save after.
PROFILE=$(param PROFILE)
prof_reset() { [ "$PROFILE" != 1 ] || echo >/proc/profile; }
prof_save() {
	[ "$PROFILE" = 1 ] || return 0
	mkdir -p /host/profile
	cat /proc/profile >"/host/profile/$1"
}

# wait_file PATH [TENTHS]: wait for PATH to appear (default 600 s).
wait_file() {
	local i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		[ "$i" -gt "${2:-6000}" ] && return 1
		sleep 0.1
	done
}

# The memory a checkpoint takes: free memory just before the dump minus
# the lowest seen (khop_bench memlow polls every 20 ms) while it runs.
# Plain CRIU's images on tmpfs count; --kho-pages should take only its
# table and what CRIU itself allocates. Each poll reads /proc/zoneinfo,
# which is slow in TCG: every 5 ms the poller took 9% of the guest's one
# CPU from the dump it watched (a memcpy ran 9% slower), every 20 ms 0-3%.
mem_watch_start() {
	rm -f /tmp/memlow /tmp/memlow.ready
	khop_bench memlow /tmp 20 &
	MEM_WATCH=$!
	wait_file /tmp/memlow.ready 100 || fail "khop_bench memlow did not start"
}
mem_watch_stop() {	# [METHOD LAYOUT]: without them, nothing is recorded
	kill -TERM "$MEM_WATCH" 2>/dev/null
	wait "$MEM_WATCH" 2>/dev/null
	[ $# = 0 ] || result "$1" "$2" ckpt_mem_kib \
		"$(awk '$1 == "before" { b = $2 } $1 == "low" { l = $2 } END { print b - l }' /tmp/memlow)"
}

# stat_us FILE KEY: a "KEY: N us" line of criu --display-stats.
stat_us() { sed -n "s/^$2: \([0-9]*\) us/\1/p" "$1"; }
stat_n() { sed -n "s/^$2: \([0-9]*\).*/\1/p" "$1"; }

# start_wl METHOD LAYOUT INDEX: a workload with pids free after the kexec.
start_wl() {
	local d=/host/wl-$1-$2
	rm -rf "$d" && mkdir -p "$d"
	echo $((30000 + 100 * $3)) >/proc/sys/kernel/ns_last_pid
	setsid khop_bench hold "$2" "$MIB" "$d" </dev/null >/dev/null 2>"$d.err" &
	wait_file "$d/ready" || fail "workload $1 $2 did not start: $(cat "$d.err")"
	sed -n 's/^pid //p' "$d/info" >"$d.pid"
	result "$1" "$2" phys_runs "$(sed -n 's/^phys_runs //p' "$d/info")"
	result "$1" "$2" thp_kb_before "$(sed -n 's/^thp_kb //p' "$d/info")"
}

# kill_wait PID: SIGKILL a workload and wait until it is gone; fails when
# there is no such process. Both methods dump with --leave-stopped, as an
# upgrade would: the kexec follows, so nothing needs the tree gone first,
# and its exit (unmapping all of its memory) is not downtime. It goes only
# after the measured dump, here to make room (plain CRIU restores it from
# tmpfs under the same pid).
kill_wait() {
	kill -9 "$1" || return 1
	while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
}

# check_wl METHOD LAYOUT: the restored workload runs (ping) and its memory
# is intact; then it goes, to make room.
check_wl() {
	local d=/host/wl-$1-$2 pid
	pid=$(cat "$d.pid")
	mark "ping0-$1-$2"
	khop_bench ping "$pid" "$d/alive.1" || fail "$1 $2: restored pid $pid does not answer the ping"
	mark "alive-$1-$2"
	kill -USR2 "$pid"
	wait_file "$d/verify.2" 36000 || fail "$1 $2: no answer to the check"
	grep -q '^ok' "$d/verify.2" || fail "$1 $2: memory wrong after restore: $(cat "$d/verify.2")"
	result "$1" "$2" thp_kb_after "$(sed -n 's/.*thp_kb=//p' "$d/verify.2")"
	kill_wait "$pid"
}

case "$1" in
1)
	mkdir -p "$M"
	: >"$R"
	[ -c /dev/khopages ] || fail "no /dev/khopages"
	# Plain images go to /tmp: let tmpfs take most of the memory.
	mount -o remount,size=90% /tmp || fail "remount /tmp"
	echo madvise >/sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || true
	say "stage 1: $MIB MiB, layouts $LAYOUTS, $(free_kib) KiB free"

	# CRIU's first run in a boot probes the kernel (kerndat, ~3 s in TCG)
	# and caches it in /run: not part of any dump here.
	criu check >/dev/null 2>&1 || true
	say "memcpy $MIB MiB"
	khop_bench memcpy "$MIB" >/host/memcpy.txt || fail "memcpy"
	result memcpy - memcpy_ms "$(sed -n 's/^memcpy_ms //p' /host/memcpy.txt)"

	# The next kernel is loaded first, before any workload is frozen, as
	# an upgrade would do it: KHO preservations made after the load are
	# handed over all the same.
	say "kexec load"
	args=$(stage_cmdline 2)
	mark kexec-load0
	kexec -s -l /host/boot/kernel-A --initrd=/host/boot/initrd.img --append="$args" ||
		fail "kexec load"
	mark kexec-load1

	i=0
	for l in $LAYOUTS; do
		i=$((i + 1))
		start_wl plain "$l" "$i"
		say "plain dump $l (tmpfs)"
		img=/tmp/img-plain-$l
		mkdir -p "$img"
		prof_reset
		mem_watch_start
		mark "dump0-plain-$l"
		criu dump -t "$(cat /host/wl-plain-$l.pid)" -D "$img" $CRIU_OPTS --leave-stopped \
			-o "$LOGS/dump-plain-$l.log" >"$img/dump.stats" 2>&1 ||
			{ tail -n 20 "$LOGS/dump-plain-$l.log"; fail "plain dump $l"; }
		mark "dump1-plain-$l"
		prof_save "dump-plain-$l"	# before the kill: its exit is not the dump
		kill_wait "$(cat /host/wl-plain-$l.pid)" || fail "the plain workload left stopped by the dump is gone"
		mem_watch_stop plain "$l"
		result plain "$l" image_bytes "$(dir_bytes "$img")"
		result plain "$l" pages_img_bytes "$(pages_bytes "$img")"
		for k in "Freezing time" "Frozen time" "Memory dump time" "Memory write time"; do
			result plain "$l" "dump_$(echo "$k" | tr 'A-Z ' 'a-z_')_us" "$(stat_us "$img/dump.stats" "$k")"
		done
		say "copy plain images $l to /host"
		mark "copy0-plain-$l"
		cp -a "$img" "/host/img-plain-$l" || fail "copy of the images"
		sync
		mark "copy1-plain-$l"
		# Plain CRIU's best case: restore from tmpfs, same kernel.
		say "plain restore $l (tmpfs, before the kexec)"
		mark "restore0-plaintmpfs-$l"
		criu restore -D "$img" $CRIU_OPTS -d -o "$LOGS/restore-plaintmpfs-$l.log" \
			>"$img/restore.stats" 2>&1 ||
			{ tail -n 30 "$LOGS/restore-plaintmpfs-$l.log"; fail "plain restore $l from tmpfs"; }
		mark "restore1-plaintmpfs-$l"
		result plaintmpfs "$l" restore_time_us "$(stat_us "$img/restore.stats" "Restore time")"
		cp /host/wl-plain-$l.pid /host/wl-plaintmpfs-$l.pid
		ln -s "wl-plain-$l" "/host/wl-plaintmpfs-$l"
		check_wl plaintmpfs "$l"
		rm -rf "$img" /host/wl-plain-$l/alive.* /host/wl-plain-$l/verify.*
	done

	for l in $LAYOUTS; do
		i=$((i + 1))
		start_wl kho "$l" "$i"
		say "kho dump $l (/host)"
		img=/host/img-kho-$l
		mkdir -p "$img"
		# While it still runs: move its pages out of KHO scratch, work
		# the dump would otherwise do with the tree frozen.
		mark "evac0-kho-$l"
		khopagesctl evacuate "$(cat /host/wl-kho-$l.pid)" >"$LOGS/evacuate-$l.txt" ||
			fail "khopagesctl evacuate $l"
		mark "evac1-kho-$l"
		result kho "$l" evacuated "$(evacuated_pages <"$LOGS/evacuate-$l.txt")"
		# A failed --kho-pages dump aborts its session and lets the tree
		# run on: try again (up to 3 times), and count the failures.
		try=0
		while :; do
			try=$((try + 1))
			rm -f "$M/dump0-kho-$l"
			prof_reset
			mem_watch_start
			mark "dump0-kho-$l"
			criu dump -t "$(cat /host/wl-kho-$l.pid)" -D "$img" $CRIU_OPTS --kho-pages --leave-stopped \
				-o "$LOGS/dump-kho-$l.log" >"$LOGS/dump-kho-$l.stats" 2>&1 && break
			mem_watch_stop
			cp "$LOGS/dump-kho-$l.log" "/host/dump-kho-$l-failed-$try.log"
			dmesg | tail -n 5 >>"/host/dump-kho-$l-failed-$try.log"
			say "kho dump $l failed (try $try): $(grep -m1 'Error (khopages' "$LOGS/dump-kho-$l.log")"
			[ "$try" -lt 3 ] || { tail -n 20 "$LOGS/dump-kho-$l.log"; fail "kho dump $l"; }
			sleep 1
		done
		sync
		mark "dump1-kho-$l"
		prof_save "dump-kho-$l"
		kill_wait "$(cat /host/wl-kho-$l.pid)" || fail "the kho workload left stopped by the dump is gone"
		cp "$LOGS/dump-kho-$l.stats" "$img/dump.stats"
		mem_watch_stop kho "$l"
		result kho "$l" dump_failed_tries $((try - 1))
		result kho "$l" image_bytes "$(dir_bytes "$img")"
		result kho "$l" pages_img_bytes "$(pages_bytes "$img")"
		for k in "Freezing time" "Frozen time" "Memory dump time" "Memory write time"; do
			result kho "$l" "dump_$(echo "$k" | tr 'A-Z ' 'a-z_')_us" "$(stat_us "$img/dump.stats" "$k")"
		done
		result kho "$l" pages_handed_over "$(stat_n "$img/dump.stats" "Memory pages handed over (KHO)")"
		s=$(sed -n 's/.*khopages: handing memory over in session \([^ ]*\).*/\1/p' "$LOGS/dump-kho-$l.log")
		[ -n "$s" ] || fail "no session in dump.log"
		khopagesctl show "$s" >"/host/show-kho-$l.txt" || fail "khopagesctl show"
		awk -v l="$l" '
			/^pages:/ { print "kho", l, "session_pages", $2 }
			/^folios:/ { print "kho", l, "session_folios", $2 }
			/^metadata bytes:/ { print "kho", l, "meta_bytes", $3 }
			/^moved:/ { print "kho", l, "moved", $2 }
			/^  order/ { o = $2 + 0; print "kho", l, "folios_order" o, $NF }
		' "/host/show-kho-$l.txt" >>"$R"
		# Time spent in the plugin's PRESERVE calls, from the -v4 log.
		grep 'khopages:' "$LOGS/dump-kho-$l.log" >"/host/plugin-dump-$l.log"
		keep_logs
	done

	say "kexec ($(free_kib) KiB free)"
	sync
	mark kexec-exec
	kexec -e
	fail "kexec -e returned"
	;;
2)
	mark stage2
	prof_save boot
	say "stage 2: $(free_kib) KiB free"
	# The first CRIU run after the reboot probes the kernel (kerndat,
	# cached in /run for the runs after it): a phase of its own, counted
	# in every method's downtime. "check --feature mnt_id" is the
	# cheapest command that runs the probe (a plain "check" tests much
	# more that no restore needs).
	prof_reset
	mark kerndat0
	criu check --feature mnt_id -v4 -o "$LOGS/kerndat.log" >/dev/null 2>&1 || true
	mark kerndat1
	prof_save kerndat
	for l in $LAYOUTS; do
		say "kho restore $l"
		img=/host/img-kho-$l
		prof_reset
		mark "restore0-kho-$l"
		criu restore -D "$img" $CRIU_OPTS --kho-pages -d -o "$LOGS/restore-kho-$l.log" \
			>"$LOGS/restore-kho-$l.stats" 2>&1 ||
			{ tail -n 30 "$LOGS/restore-kho-$l.log"; fail "kho restore $l"; }
		mark "restore1-kho-$l"
		prof_save "restore-kho-$l"
		cp "$LOGS/restore-kho-$l.stats" "$img/restore.stats"
		result kho "$l" restore_time_us "$(stat_us "$img/restore.stats" "Restore time")"
		result kho "$l" forking_time_us "$(stat_us "$img/restore.stats" "Forking time")"
		grep 'khopages:' "$LOGS/restore-kho-$l.log" >"/host/plugin-restore-$l.log"
		keep_logs
		check_wl kho "$l"
	done
	for l in $LAYOUTS; do
		say "plain restore $l (/host)"
		img=/host/img-plain-$l
		prof_reset
		mark "restore0-plain-$l"
		criu restore -D "$img" $CRIU_OPTS -d -o "$LOGS/restore-plain-$l.log" \
			>"$LOGS/restore-plain-$l.stats" 2>&1 ||
			{ tail -n 30 "$LOGS/restore-plain-$l.log"; fail "plain restore $l"; }
		mark "restore1-plain-$l"
		prof_save "restore-plain-$l"
		cp "$LOGS/restore-plain-$l.stats" "$img/restore.stats"
		keep_logs
		result plain "$l" restore_time_us "$(stat_us "$img/restore.stats" "Restore time")"
		result plain "$l" forking_time_us "$(stat_us "$img/restore.stats" "Forking time")"
		check_wl plain "$l"
	done
	say "done"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
