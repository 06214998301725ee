# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash
# Guest side of test/zdtm-kho/run.sh: CRIU's zdtm static tests across a
# real KHO kexec. Stage 1 starts each test of the batch, dumps it (plain
# CRIU and --kho-pages, one instance each), tries the same-kernel
# --kho-pages cycle, and kexecs once; stage 2 restores every dumped
# instance, stops it (SIGTERM) and requires PASS in its output. A test
# whose definition says T_NS=1 (tagged ns in tests.list) starts in its own
# IPC namespace and must come back in one of its own; one that says
# T_NOKEXEC=1 (tagged nokexec) runs only in the same-kernel mode.
#
# Parameters (vm-run.sh --set):
#   TESTS="a b c"   the batch (definitions in /zdtm/defs/NAME, binaries in
#                   /zdtm/static/, both from the initramfs overlay)
#   MODES="plain kho same"   which modes to run
#   SAME=probe|all  same-kernel mode: "probe" tries the first test and,
#                   when the driver refuses (no same-kernel restore),
#                   marks the others n/a without trying; "all" tries each
#   WORK=tmpfs|9p   where the tests run: a tmpfs at /zdtm-run (its files
#                   are carried over the kexec as a tar in /host) or the
#                   9p share itself (/host/work)
#   FIRST=N         index of this batch's first test (distinct pid ranges)
#
# Results: /host/results, one line per test and mode, the last one wins:
#   NAME MODE STATUS DUMP_S RESTORE_S DETAIL...
# STATUS: ok, fail, na. Logs: /host/img/MODE/NAME/{dump,restore}.log and
# the test's output in /host/out/MODE/NAME.out.
. /lib/khopages/guest-lib.sh

TESTS=$(param TESTS)
MODES=$(param MODES)
MODES=${MODES:-plain kho same}
SAME=$(param SAME)
SAME=${SAME:-probe}
WORK=$(param WORK)
WORK=${WORK:-tmpfs}
FIRST=$(param FIRST)
FIRST=${FIRST:-0}

CRIU_OPTS="--manage-cgroups=ignore -v4"
PID_BASE=100000
PID_STEP=3000		# pids per test instance
STOP_WAIT=60		# seconds for a test to end after SIGTERM
START_WAIT=60		# seconds for a test to start
CRIU_WAIT=600		# seconds for one criu dump or restore, plus, for a
CRIU_WAIT_MIB=2		# restore, this many per MiB of page images to read
RESULTS=/host/results
IMG=/host/img

case "$WORK" in
tmpfs) RUN=/zdtm-run ;;
9p) RUN=/host/work ;;
*) fail "unknown WORK=$WORK" ;;
esac

# result NAME MODE STATUS DUMP_S RESTORE_S DETAIL...
result() {
	echo "$*" >>"$RESULTS"
	echo "zdtm-kho: $*"
}

has_mode() { case " $MODES " in *" $1 "*) return 0 ;; esac; return 1; }

# Load the definition of test $1: T_ARGS, T_OPTS, T_DOPTS, T_ROPTS,
# T_SUID, T_TIMEOUT (zdtm's, for the stop), T_OVERCOMMIT, T_NS, T_NOKEXEC.
load_def() {
	T_ARGS="" T_OPTS="" T_DOPTS="" T_ROPTS="" T_SUID=0 T_TIMEOUT=30 T_OVERCOMMIT=0 T_NS=0
	T_NOKEXEC=0
	# shellcheck disable=SC1090
	. "/zdtm/defs/$1"
	# zdtm's own timeout for the test, if longer than ours
	[ "$T_TIMEOUT" -gt 60 ] 2>/dev/null && STOP_WAIT=$T_TIMEOUT || STOP_WAIT=60
}

# A test's pid is gone, or a zombie nobody reaped yet.
pid_gone() {
	local st
	[ -d "/proc/$1" ] || return 0
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# own_ipc_ns PID: the process is in an IPC namespace other than the guest's
own_ipc_ns() {
	local ns
	ns=$(readlink "/proc/$1/ns/ipc" 2>/dev/null) &&
		[ -n "$ns" ] && [ "$ns" != "$(readlink /proc/self/ns/ipc)" ]
}

# instance index of test number $1 in mode $2 -> first pid
pid_base() {
	local m
	case "$2" in plain) m=0 ;; kho) m=1 ;; same) m=2 ;; esac
	echo $((PID_BASE + (($1 * 3) + m) * PID_STEP))
}

# start NAME MODE INDEX: start the test as the zdtm Makefile does, in
# $RUN/MODE; prints its pid. Why it did not start: $RUN/MODE/NAME.why, or
# its output (start_error).
start_test() {
	local name=$1 mode=$2 dir=$RUN/$2 pid i ns=""
	rm -f "$dir/$name.why"
	# maps03 maps 10 GiB (2 pages touched): more than the heuristic allows
	[ "$T_OVERCOMMIT" = 1 ] && echo 1 >/proc/sys/vm/overcommit_memory
	# The ns flavor: unshare(CLONE_NEWIPC), then exec the test, so the
	# whole tree criu dumps is in this IPC namespace (zdtm's ns flavor
	# also gives the test new pid, mount, UTS and net namespaces and a
	# root of its own; the SysV IPC tests need only this one)
	[ "$T_NS" = 1 ] && ns="unshare --ipc"
	echo "$(pid_base "$3" "$mode")" >/proc/sys/kernel/ns_last_pid
	(
		cd "$dir" || exit 1
		export TMPDIR=/tmp
		if [ "$T_SUID" != 1 ]; then
			export ZDTM_UID=18943 ZDTM_GID=58467 ZDTM_GROUPS="27495 48244"
		fi
		# shellcheck disable=SC2086
		exec timeout -s KILL "$START_WAIT" $ns "./$name" --pidfile="$name.pid" \
			--outfile="$name.out" $T_ARGS
	) </dev/null >"$dir/$name.start" 2>&1 || return 1
	pid=$(cat "$dir/$name.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	if [ "$T_NS" = 1 ] && ! own_ipc_ns "$pid"; then
		echo "not in an IPC namespace of its own (unshare --ipc)" >"$dir/$name.why"
		kill -KILL "$pid" 2>/dev/null
		return 1
	fi
	echo "$pid"
}

# stop_test NAME MODE PID: SIGTERM, wait, and PASS in the output.
stop_test() {
	local name=$1 dir=$RUN/$2 pid=$3 i
	mkdir -p "/host/out/$2"
	if [ -z "$pid" ]; then
		# zdtm's test_fini() removes the pidfile when the test exits
		cp "$dir/$name.out" "$dir/$name.out.inprogress" "/host/out/$2/" 2>/dev/null
		echo "the restored test exited before SIGTERM (no $name.pid): $(tail -n 1 "$dir/$name.out" 2>/dev/null | cut -c1-150)"
		return 1
	fi
	# The ns flavor: criu restored its IPC namespace too
	if [ "$T_NS" = 1 ] && ! own_ipc_ns "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		echo "restored in the guest's IPC namespace, not in one of its own"
		return 1
	fi
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq $((STOP_WAIT * 5))); do
		pid_gone "$pid" && break
		sleep 0.2
	done
	cp "$dir/$name.out" "$dir/$name.out.inprogress" "/host/out/$2/" 2>/dev/null
	pid_gone "$pid" || { kill -KILL "$pid" 2>/dev/null; echo "still running ${STOP_WAIT}s after SIGTERM"; return 1; }
	# zdtm.py: PASS among the words of the output's tail
	tail -n 20 "$dir/$name.out" 2>/dev/null | tr -s ' \t' '\n\n' | grep -qx PASS && return 0
	echo "no PASS in $name.out: $(grep -v '^$' "$dir/$name.out" 2>/dev/null | tail -n 1 | cut -c1-150)"
	return 1
}

# The first error of a criu log (the cause; later ones are the fallout),
# on one line.
log_error() {
	grep -m 1 -E 'Error|ERROR' "$1" 2>/dev/null | sed 's/^([ 0-9.]*) //' | cut -c1-240
}

# Why a test did not start: start_test's reason, or the last line of its
# start output or outfile.
start_error() {
	[ -s "$1.why" ] && { cat "$1.why"; return; }
	tail -n 3 "$1.start" "$1.out" 2>/dev/null | grep -v '^==>\|^$' | tail -n 1 | cut -c1-200
}

# dump NAME MODE PID -> 0 on success; sets D_S (seconds)
do_dump() {
	local name=$1 mode=$2 pid=$3 d=$IMG/$2/$1 kho="" t0 rc
	[ "$mode" = plain ] || kho=--kho-pages
	rm -rf "$d" && mkdir -p "$d"
	[ "$T_OVERCOMMIT" = 1 ] && echo 1 >/proc/sys/vm/overcommit_memory
	t0=$(now)
	# shellcheck disable=SC2086
	timeout -s KILL "$CRIU_WAIT" criu dump -t "$pid" -D "$d" -o dump.log $CRIU_OPTS $kho \
		--pidfile "$RUN/$mode/$name.pid" $T_OPTS $T_DOPTS >"$d/dump.out" 2>&1
	rc=$?
	D_S=$(elapsed "$t0" "" 1)
	return $rc
}

# restore_limit IMGDIR: seconds a restore may take. Plain CRIU reads its
# page images over 9p; when the host is busy that alone has taken ten
# minutes for maps04's 512 MiB, so the limit grows with what is read.
restore_limit() {
	local bytes
	bytes=$(pages_bytes "$1")
	echo $((CRIU_WAIT + CRIU_WAIT_MIB * (bytes >> 20)))
}

# restore_error IMGDIR: why do_restore failed, in a few words
restore_error() {
	if [ -n "$R_KILLED" ]; then
		echo "killed at the limit of $R_KILLED s ($(tail -n 1 "$1/restore.log" | cut -c1-100))"
	else
		log_error "$1/restore.log"
	fi
}

# restore NAME MODE -> 0 on success; sets R_S and, when the limit killed
# criu, R_KILLED (the limit in seconds)
do_restore() {
	local name=$1 mode=$2 d=$IMG/$2/$1 kho="" t0 rc same_env limit
	R_KILLED=""
	[ "$mode" = plain ] || kho=--kho-pages
	# Same kernel: the plugin restores a session still held for the
	# kexec here only when told so (the upgrade is called off).
	same_env=""
	[ "$mode" = same ] && same_env="CRIU_KHOPAGES_SAME_KERNEL=1"
	[ "$T_OVERCOMMIT" = 1 ] && echo 1 >/proc/sys/vm/overcommit_memory
	# criu creates the pidfile with O_EXCL (zdtm.py unlinks it too)
	rm -f "$RUN/$mode/$name.pid"
	limit=$(restore_limit "$d")
	t0=$(now)
	# shellcheck disable=SC2086
	(cd "$RUN/$mode" && env $same_env timeout -s KILL "$limit" criu restore -D "$d" -o restore.log $CRIU_OPTS \
		$kho -d --pidfile "$RUN/$mode/$name.pid" $T_OPTS $T_ROPTS) >"$d/restore.out" 2>&1
	rc=$?
	R_S=$(elapsed "$t0" "" 1)
	[ "$rc" = 137 ] && R_KILLED=$limit
	return $rc
}

session_of() {
	sed -n 's/.*khopages: handing memory over in session \([^ ]*\).*/\1/p' "$1/dump.log" | head -n 1
}

# session_left IMGDIR: the dump's session is still listed by the driver
session_left() {
	local s
	s=$(session_of "$1")
	[ -n "$s" ] && khopagesctl list | awk -v n="$s" '$1 == n { f = 1 } END { exit !f }'
}

setup_common() {
	echo 4194304 >/proc/sys/kernel/pid_max || fail "cannot raise pid_max"
	# 2 MiB hugetlb pages for maps09, maps10 and memfd02-hugetlb: zdtm.py
	# reserves 20 for its whole run
	echo 20 >/proc/sys/vm/nr_hugepages 2>/dev/null ||
		echo "zdtm-kho: no hugetlb pages in this kernel (CONFIG_HUGETLBFS)"
	# ICMP echo ("ping") sockets for every group, as systemd sets it up
	# (socket_icmp, socket6_icmp: the tests' uid is not root)
	echo "0 2147483647" >/proc/sys/net/ipv4/ping_group_range ||
		fail "cannot set net.ipv4.ping_group_range"
	mkdir -p /etc
	[ -e /bin/true ] || ln -s busybox /bin/true
	# iptables-legacy (and criu's iptables-legacy-save/-restore, run as
	# its children) takes its lock in /run/xtables.lock; the guest has no
	# /run (which would also give criu a kerndat cache, /run/criu.kdat)
	export XTABLES_LOCKFILE=/tmp/xtables.lock
}

# CRIU's network lock over the kexec. criu dump --tcp-established leaves
# the dumped connections locked (iptables or nftables rules that drop
# their packets) and criu restore expects them in place until it unlocks:
# a restored socket sends as it leaves repair mode (a window probe, its
# unsent data), and without the lock its peer, not restored yet, answers
# with a reset. On one host the rules simply stay; the kexec drops them
# with the old kernel, so stage 1 saves them and stage 2 loads them before
# the first restore, as the file system state in /host/work.tar. Saved:
# the iptables tables (nf_tables ones, as criu's iptables lock and the
# tests make them) and criu's own nftables tables (inet CRIU-...).
save_netfilter() {
	if ! nft list tables >/dev/null 2>&1; then
		echo "zdtm-kho: no nf_tables in this kernel, no network lock to carry over"
		return 0
	fi
	mkdir -p /host/netfilter
	iptables-save >/host/netfilter/iptables &&
		ip6tables-save >/host/netfilter/ip6tables &&
		nft list tables | while read -r _ family table; do
			[ "$family" = inet ] || continue
			nft list table inet "$table" || exit 1
		done >/host/netfilter/nftables || fail "cannot save the netfilter rules"
	echo "zdtm-kho: netfilter rules over the kexec: $(grep -c '^-A' /host/netfilter/iptables) iptables, $(grep -c '^-A' /host/netfilter/ip6tables) ip6tables, $(grep -c '^table' /host/netfilter/nftables) nftables tables"
}

load_netfilter() {
	[ -d /host/netfilter ] || return 0
	iptables-restore </host/netfilter/iptables &&
		ip6tables-restore </host/netfilter/ip6tables ||
		fail "cannot load the iptables rules of stage 1"
	if [ -s /host/netfilter/nftables ]; then
		nft -f /host/netfilter/nftables || fail "cannot load the nftables rules of stage 1"
	fi
}

# --- stage 1: start, dump; same-kernel cycle; kexec
stage1() {
	local i=$FIRST name mode pid why same_refused=0 s rc f
	setup_common
	: >"$RESULTS"
	mkdir -p "$IMG"
	# What criu finds in this kernel and guest (kerndat warnings, the
	# network lock methods), for the logs
	criu check -v4 -o /host/criu-check.log >/host/criu-check.out 2>&1
	rc=$?
	echo "zdtm-kho: criu check: exit $rc, $(grep -c 'Warn' /host/criu-check.log) warnings in criu-check.log"
	for f in network_lock_nftables has_ipt_legacy memfd_hugetlb; do
		echo "zdtm-kho: criu check --feature $f: $(criu check --feature "$f" 2>&1 | tail -n 1)"
	done
	if [ "$WORK" = tmpfs ]; then
		mkdir -p "$RUN" && mount -t tmpfs -o mode=0777 zdtm-run "$RUN" ||
			fail "cannot mount a tmpfs at $RUN"
	fi
	for mode in $MODES; do
		mkdir -p "$RUN/$mode" && chmod 0777 "$RUN/$mode"
		for name in $TESTS; do
			cp "/zdtm/static/$name" "$RUN/$mode/$name" || fail "no test binary $name"
		done
	done

	for name in $TESTS; do
		load_def "$name"
		for mode in plain kho; do
			has_mode "$mode" || continue
			if [ "$T_NOKEXEC" = 1 ]; then
				result "$name" "$mode" na - - "n/a (tagged nokexec: its peer process is outside the dumped tree and does not survive the kexec)"
				continue
			fi
			if ! pid=$(start_test "$name" "$mode" "$i"); then
				result "$name" "$mode" fail - - "start: $(start_error "$RUN/$mode/$name")"
				continue
			fi
			if do_dump "$name" "$mode" "$pid"; then
				echo "$D_S" >"$IMG/$mode/$name/dump.seconds"
				result "$name" "$mode" dumped "$D_S" - "kexec pending"
			else
				result "$name" "$mode" fail "$D_S" - "dump: $(log_error "$IMG/$mode/$name/dump.log")"
				kill -KILL "$pid" 2>/dev/null
			fi
			echo 0 >/proc/sys/vm/overcommit_memory
		done

		has_mode same || { i=$((i + 1)); continue; }
		mode=same
		if [ "$same_refused" = 1 ] && [ "$SAME" = probe ]; then
			result "$name" same na - - "n/a (driver: no same-kernel restore; probed with $probe_name)"
			i=$((i + 1))
			continue
		fi
		if ! pid=$(start_test "$name" same "$i"); then
			result "$name" same fail - - "start: $(start_error "$RUN/same/$name")"
			i=$((i + 1))
			continue
		fi
		if ! do_dump "$name" same "$pid"; then
			result "$name" same fail "$D_S" - "dump: $(log_error "$IMG/same/$name/dump.log")"
			kill -KILL "$pid" 2>/dev/null
		elif do_restore "$name" same; then
			pid=$(cat "$RUN/same/$name.pid" 2>/dev/null)
			if why=$(stop_test "$name" same "$pid"); then
				if session_left "$IMG/same/$name"; then
					result "$name" same fail "$D_S" "$R_S" "session $(session_of "$IMG/same/$name") left after the restore"
				else
					result "$name" same ok "$D_S" "$R_S" -
				fi
			else
				result "$name" same fail "$D_S" "$R_S" "$why"
			fi
		else
			s=$(session_of "$IMG/same/$name")
			if grep -q 'not retrieved: restore needs a kexec' "$IMG/same/$name/restore.log"; then
				same_refused=1 probe_name=$name
				result "$name" same na "$D_S" "$R_S" "n/a (driver: no same-kernel restore: $(grep -o 'session [^ ]* is [a-z]*, not retrieved' "$IMG/same/$name/restore.log" | head -n 1))"
			else
				result "$name" same fail "$D_S" "$R_S" "restore: $(restore_error "$IMG/same/$name")"
			fi
			# The checkpoint would go over the kexec: withdraw it (end
			# its Live Update holder).
			if read -r hp _ <"$IMG/same/$name/kho-luo-holder.pid" 2>/dev/null; then
				kill -9 "$hp" 2>/dev/null
			fi
		fi
		echo 0 >/proc/sys/vm/overcommit_memory
		i=$((i + 1))
	done

	if has_mode plain || has_mode kho; then
		echo "zdtm-kho: sessions before kexec:"
		khopagesctl list
		save_netfilter
		if [ "$WORK" = tmpfs ]; then
			# The file system state the dumped tests need, over the kexec
			dirs=""
			for m in plain kho; do has_mode $m && dirs="$dirs $m"; done
			# shellcheck disable=SC2086 # one word per mode
			tar -C "$RUN" -cf /host/work.tar $dirs 2>/host/work.tar.err ||
				fail "cannot save $RUN"
		fi
		sync
		kexec_next_stage
	fi
	pass
}

# --- stage 2: restore, stop, check
stage2() {
	local name mode pid why left
	setup_common
	if [ "$WORK" = tmpfs ]; then
		mkdir -p "$RUN" && mount -t tmpfs -o mode=0777 zdtm-run "$RUN" ||
			fail "cannot mount a tmpfs at $RUN"
		tar -C "$RUN" -xpf /host/work.tar || fail "cannot unpack $RUN"
	fi
	load_netfilter
	echo "zdtm-kho: sessions after kexec:"
	khopagesctl list
	for name in $TESTS; do
		load_def "$name"
		for mode in plain kho; do
			has_mode "$mode" || continue
			[ -f "$IMG/$mode/$name/dump.seconds" ] || continue
			D_S=$(cat "$IMG/$mode/$name/dump.seconds")
			if ! do_restore "$name" "$mode"; then
				result "$name" "$mode" fail "$D_S" "$R_S" "restore: $(restore_error "$IMG/$mode/$name")"
				s=$(session_of "$IMG/$mode/$name")
				[ -n "$s" ] && khopagesctl discard "$s" >/dev/null 2>&1
				continue
			fi
			pid=$(cat "$RUN/$mode/$name.pid" 2>/dev/null)
			if why=$(stop_test "$name" "$mode" "$pid"); then
				if [ "$mode" = kho ] && session_left "$IMG/kho/$name"; then
					result "$name" kho fail "$D_S" "$R_S" "session $(session_of "$IMG/kho/$name") left after the restore"
				else
					result "$name" "$mode" ok "$D_S" "$R_S" -
				fi
			else
				result "$name" "$mode" fail "$D_S" "$R_S" "$why"
			fi
			echo 0 >/proc/sys/vm/overcommit_memory
		done
	done
	left=$(khopagesctl list | tail -n +2 | grep -c .)
	echo "zdtm-kho: sessions left after the batch: $left"
	khopagesctl list
	echo "$left" >/host/sessions-left
	pass
}

case "$1" in
1) stage1 ;;
2) stage2 ;;
*) fail "unexpected stage $1" ;;
esac
