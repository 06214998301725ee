# SPDX-License-Identifier: GPL-2.0
# Benchmark guest side (run by bench/run.sh through scripts/vm-run.sh).
# One boot pair per memory size and repetition, every method side by side:
#   stage 1: memcpy of MIB MiB (yardstick); kexec load of the next kernel;
#            per layout, a workload dumped by plain CRIU to tmpfs, its images then copied to /host (9p,
#            survives the reboot); then, per layout, a workload for each
#            of the two ways of --kho-pages, its pages moved out of KHO
#            scratch first while it runs (khopagesctl evacuate, not
#            downtime):
#              kho  the images straight to /host too (the Live Update
#                   session, named by criu, keeps them and the khopages
#                   file as always): for those who want images on disk;
#              luo  the images to tmpfs (/tmp, gone after the kexec), kept
#                   only with the khopages file in the Live Update session
#                   (bench-luo-LAYOUT) that a holder process keeps open
#                   until the kexec; nothing on /host;
#            kexec. Every method dumps with --leave-stopped (see kill_wait)
#   stage 2: per layout, restore --kho-pages of kho, and of luo into an
#            empty directory on tmpfs (the images come back from the Live
#            Update session), then plain restore from /host
# Odd repetitions (REP) run kho before luo in both stages, even ones luo
# first: neither always finds what the other left (memory, caches, code
# TCG translated). The first restore after the kexec does not pay CRIU's
# kernel probe: that is a phase of its own.
# Plain CRIU's best case, images on tmpfs, is also restored in stage 1,
# in the same kernel (tmpfs does not survive the kexec).
# Each restored workload must answer a ping (it runs again) and pass a
# check of every page. Phase boundaries are files in /host/marks: their
# mtimes come from the host clock, which runs on across the kexec;
# run.sh turns them into durations. Guest figures go to /host/results.
# Parameters: MIB, LAYOUTS (comma list), REP (the repetition, default 1),
# VERBOSITY (criu -v, default 4), PROFILE (1: the kernel runs with
# profile=2; every phase's ticks are saved to /host/profile/PHASE, see
# bench/profile.py).
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
# there is no such process. Every method dumps with --leave-stopped, as an
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

# The two ways of --kho-pages in this repetition's order (see the top).
REP=$(param REP)
if [ $((${REP:-1} % 2)) = 1 ]; then HANDOVER="kho luo"; else HANDOVER="luo kho"; fi

# img_dir METHOD LAYOUT: the images directory of a --kho-pages method:
# kho writes to /host, which survives the kexec; luo to tmpfs, which does
# not (the Live Update session keeps the images).
img_dir() {
	case "$1" in
	kho) echo "/host/img-kho-$2" ;;
	luo) echo "/tmp/img-luo-$2" ;;
	esac
}

# Bytes in the files on /host, the storage that survives the kexec, but
# for the benchmark's marks and profiles, the kernels and QEMU's console
# log. Taken before and after a dump, the difference is what the dump
# left there. (Busybox find's -newer has whole seconds only.)
host_bytes() {
	find /host \( -path /host/boot -o -path "$M" -o -path /host/profile -o -path /host/console.log \) \
		-prune -o -type f -exec stat -c %s {} + | awk '{ n += $1 } END { print n + 0 }'
}

# holder_pid LAYOUT: the process that holds luo's Live Update session until
# the kexec (the first field of kho-luo-holder.pid in its images).
holder_pid() {
	local pid rest
	read -r pid rest <"$(img_dir luo "$1")/kho-luo-holder.pid" && echo "$pid"
}

# handover_dump METHOD LAYOUT INDEX: a workload of its own dumped with
# --kho-pages the METHOD way (kho or luo), and the figures of the dump.
handover_dump() {
	local m=$1 l=$2 img try s before ondisk sess="" pid kept
	img=$(img_dir "$m" "$l")
	# Empty for kho: the plugin's default then (a session named
	# criu-PID-TIME, found again from the images on /host).
	if [ "$m" = luo ]; then sess=bench-luo-$l; fi
	start_wl "$m" "$l" "$3"
	say "$m dump $l ($img)"
	# While it still runs: move its pages out of KHO scratch, work
	# the dump would otherwise do with the tree frozen.
	mark "evac0-$m-$l"
	khopagesctl evacuate "$(cat "/host/wl-$m-$l.pid")" >"$LOGS/evacuate-$m-$l.txt" ||
		fail "khopagesctl evacuate $m $l"
	mark "evac1-$m-$l"
	result "$m" "$l" evacuated "$(evacuated_pages <"$LOGS/evacuate-$m-$l.txt")"
	# A failed --kho-pages dump aborts its session (luo: withdraws it from
	# Live Update too) and lets the tree run on: try again (up to 3
	# times), into an empty directory, and count the failures.
	try=0
	while :; do
		try=$((try + 1))
		rm -rf "$img" && mkdir -p "$img" || fail "images directory $img"
		rm -f "$M/dump0-$m-$l"
		before=$(host_bytes)
		prof_reset
		mem_watch_start
		mark "dump0-$m-$l"
		CRIU_KHOPAGES_SESSION=$sess \
			criu dump -t "$(cat "/host/wl-$m-$l.pid")" -D "$img" $CRIU_OPTS --kho-pages --leave-stopped \
			-o "$LOGS/dump-$m-$l.log" >"$LOGS/dump-$m-$l.stats" 2>&1 && break
		mem_watch_stop
		cp "$LOGS/dump-$m-$l.log" "/host/dump-$m-$l-failed-$try.log"
		dmesg | tail -n 5 >>"/host/dump-$m-$l-failed-$try.log"
		say "$m dump $l failed (try $try): $(grep -m1 'Error (' "$LOGS/dump-$m-$l.log")"
		[ "$try" -lt 3 ] || { tail -n 20 "$LOGS/dump-$m-$l.log"; fail "$m dump $l"; }
		sleep 1
	done
	sync
	mark "dump1-$m-$l"
	prof_save "dump-$m-$l"	# before the kill: its exit is not the dump
	kill_wait "$(cat "/host/wl-$m-$l.pid")" || fail "the $m workload left stopped by the dump is gone"
	ondisk=$(($(host_bytes) - before))
	cp "$LOGS/dump-$m-$l.stats" "$img/dump.stats"
	mem_watch_stop "$m" "$l"
	result "$m" "$l" dump_failed_tries $((try - 1))
	result "$m" "$l" image_bytes "$(dir_bytes "$img")"
	result "$m" "$l" image_bytes_on_disk "$ondisk"
	result "$m" "$l" pages_img_bytes "$(pages_bytes "$img")"
	for k in "Freezing time" "Frozen time" "Memory dump time" "Memory write time"; do
		result "$m" "$l" "dump_$(echo "$k" | tr 'A-Z ' 'a-z_')_us" "$(stat_us "$img/dump.stats" "$k")"
	done
	result "$m" "$l" pages_handed_over "$(stat_n "$img/dump.stats" "Memory pages handed over (KHO)")"
	s=$(sed -n 's/.*khopages: handing memory over in session \([^ ]*\).*/\1/p' "$LOGS/dump-$m-$l.log")
	[ -n "$s" ] || fail "$m $l: no session in dump.log"
	if [ "$m" = luo ]; then
		[ "$s" = "$sess" ] || fail "luo $l: session $s, not $sess"
		pid=$(holder_pid "$l") || fail "luo $l: no kho-luo-holder.pid in $img"
		kill -0 "$pid" || fail "luo $l: the holder ($pid) of Live Update session $s is not running"
		kept=$(sed -n 's/.*kho-luo: checkpoint kept in RAM: .*(images: \([0-9]*\) bytes in a memfd).*/\1/p' \
			"$LOGS/dump-$m-$l.log")
		[ -n "$kept" ] || fail "luo $l: dump.log does not say the checkpoint is kept in RAM"
		result "$m" "$l" images_in_ram_bytes "$kept"
		[ "$ondisk" = 0 ] || fail "luo $l: the dump left $ondisk bytes on /host"
	fi
	khopagesctl show "$s" >"/host/show-$m-$l.txt" || fail "khopagesctl show $s"
	awk -v m="$m" -v l="$l" '
		/^pages:/ { print m, l, "session_pages", $2 }
		/^folios:/ { print m, l, "session_folios", $2 }
		/^metadata bytes:/ { print m, l, "meta_bytes", $3 }
		/^moved:/ { print m, l, "moved", $2 }
		/^  order/ { o = $2 + 0; print m, l, "folios_order" o, $NF }
	' "/host/show-$m-$l.txt" >>"$R"
	# Time spent in the plugin's PRESERVE calls, from the -v4 log.
	grep 'khopages:' "$LOGS/dump-$m-$l.log" >"/host/plugin-dump-$m-$l.log"
	keep_logs
}

# handover_restore METHOD LAYOUT: restore --kho-pages of a METHOD dump
# after the kexec, its figures, the check of the workload. luo restores
# into an empty directory: criu takes the images back from the Live
# Update session named in CRIU_KHOPAGES_SESSION (empty for kho: none).
handover_restore() {
	local m=$1 l=$2 img sess=""
	img=$(img_dir "$m" "$l")
	if [ "$m" = luo ]; then
		sess=bench-luo-$l
		[ ! -e "$img" ] || fail "$img survived the kexec: luo would show nothing"
		mkdir -p "$img"
	fi
	say "$m restore $l"
	prof_reset
	mark "restore0-$m-$l"
	CRIU_KHOPAGES_SESSION=$sess \
		criu restore -D "$img" $CRIU_OPTS --kho-pages -d -o "$LOGS/restore-$m-$l.log" \
		>"$LOGS/restore-$m-$l.stats" 2>&1 ||
		{ tail -n 30 "$LOGS/restore-$m-$l.log"; fail "$m restore $l"; }
	mark "restore1-$m-$l"
	prof_save "restore-$m-$l"
	cp "$LOGS/restore-$m-$l.stats" "$img/restore.stats"
	result "$m" "$l" restore_time_us "$(stat_us "$img/restore.stats" "Restore time")"
	result "$m" "$l" forking_time_us "$(stat_us "$img/restore.stats" "Forking time")"
	if [ "$m" = luo ]; then
		grep -q "images (.* bytes) unpacked from Live Update session $sess\$" "$LOGS/restore-$m-$l.log" ||
			fail "luo $l: the images did not come from Live Update session $sess"
		grep -q "Live Update session $sess finished" "$LOGS/restore-$m-$l.log" ||
			fail "luo $l: Live Update session $sess was not finished"
		result "$m" "$l" images_unpacked_bytes \
			"$(sed -n 's/.* images (\([0-9]*\) bytes) unpacked from Live Update session .*/\1/p' \
				"$LOGS/restore-$m-$l.log")"
	fi
	grep 'khopages:' "$LOGS/restore-$m-$l.log" >"/host/plugin-restore-$m-$l.log"
	keep_logs
	check_wl "$m" "$l"
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

	for m in $HANDOVER; do
		for l in $LAYOUTS; do
			i=$((i + 1))
			handover_dump "$m" "$l" "$i"
		done
	done

	# luo's sessions are open until the kexec only as long as their
	# holders run.
	for l in $LAYOUTS; do
		pid=$(holder_pid "$l") && kill -0 "$pid" ||
			fail "luo $l: the holder of Live Update session bench-luo-$l is gone before the kexec"
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
	for m in $HANDOVER; do
		for l in $LAYOUTS; do
			handover_restore "$m" "$l"
		done
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
