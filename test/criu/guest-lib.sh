# SPDX-License-Identifier: GPL-2.0
# Helpers for the CRIU --kho-pages guest tests, installed in the guest as
# /lib/khopages/criu-test-lib.sh; sourced after /lib/khopages/guest-lib.sh.
# Everything that has to survive the kexec lives in /host (9p).

CRIU_OPTS="--manage-cgroups=ignore -v4"
SESSIONS_DEBUGFS=/sys/kernel/debug/khopages/sessions

# Print a figure for the host side (collected into figures.txt).
figure() {
	echo "FIGURE $*"
	echo "$*" >>/host/figures.txt
}

# start_program PROG DIR ARGS...: start the workload PROG (kho_workload,
# shm_workload) on DIR with pids that are free after a reboot too (above
# $LAST_PID, default 30000), and wait until it is ready; when it does not
# start, show what it wrote into DIR/error.*.
start_program() {
	local prog=$1 dir=$2 i
	shift
	mkdir -p "$dir"
	rm -f "$dir"/ready "$dir"/pids "$dir"/result.* "$dir"/seq "$dir"/pfn.* "$dir"/error.*
	echo "${LAST_PID:-30000}" >/proc/sys/kernel/ns_last_pid
	setsid "$prog" "$@" </dev/null >/dev/null 2>&1 &
	for i in $(seq 600); do
		[ -f "$dir/ready" ] && break
		sleep 1
	done
	[ -f "$dir/ready" ] || { cat "$dir"/error.* 2>/dev/null; fail "$prog in $dir did not start"; }
	echo "workload $dir: pids $(cat "$dir/pids")"
}

# start_workload DIR MIB [tcp]: start_program kho_workload.
start_workload() {
	start_program kho_workload "$@"
}

wl_pid() { cut -d' ' -f1 "$1/pids"; }
wl_pids() { cat "$1/pids"; }

# wl_cmd DIR LETTER: run a command in the tree (see kho_workload.c), print
# the answer; returns non-zero unless it says "RESULT ok".
wl_cmd() {
	local dir=$1 cmd=$2 seq i
	seq=$(($(cat "$dir/seq" 2>/dev/null || echo 0) + 1))
	echo "$seq" >"$dir/seq"
	echo "$cmd $seq" >"$dir/cmd"
	kill -USR1 "$(wl_pid "$dir")" || return 1
	for i in $(seq 900); do
		[ -f "$dir/result.$seq" ] && break
		sleep 1
	done
	[ -f "$dir/result.$seq" ] || { echo "no answer to $cmd"; return 1; }
	sed "s/^/  $cmd: /" "$dir/result.$seq"
	grep -q '^RESULT ok' "$dir/result.$seq"
}

# A field (pfn_same=...) of one line (parent, child1, child2) of the last answer.
wl_field() {
	local dir=$1 who=$2 key=$3
	sed -n "s/^$who .* $key=\([0-9]*\).*/\1/p" "$dir/result.$(cat "$dir/seq")"
}

alive() { kill -0 "$1" 2>/dev/null; }

# All tasks of the tree are gone (after a dump) or all are there.
wl_all_gone() {
	local p
	for p in $(wl_pids "$1"); do alive "$p" && return 1; done
	return 0
}
# All tasks of the tree are stopped (state T), e.g. by dump --leave-stopped.
wl_all_stopped() {
	local p
	for p in $(wl_pids "$1"); do
		[ "$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)" = T ] || return 1
	done
	return 0
}
wl_all_alive() {
	local p
	for p in $(wl_pids "$1"); do alive "$p" || return 1; done
	return 0
}

# No session and no preserved page anywhere: the driver's list and debugfs.
no_sessions() {
	local n
	n=$(khopagesctl list | tail -n +2 | grep -c .)
	[ "$n" = 0 ] || { khopagesctl list; return 1; }
	if [ -e "$SESSIONS_DEBUGFS" ] && [ -s "$SESSIONS_DEBUGFS" ]; then
		cat "$SESSIONS_DEBUGFS"
		return 1
	fi
	return 0
}

# holder_pid IMG: the holder criu named in IMG/kho-luo-holder.pid, if it
# was started in this boot.
holder_pid() {
	local pid boot
	read -r pid _ _ _ boot <"$1/kho-luo-holder.pid" 2>/dev/null || return 1
	[ "$boot" = "$(cat /proc/sys/kernel/random/boot_id)" ] || return 1
	echo "$pid"
}

# session_state NAME: state column of khopagesctl list ("" if none).
session_state() {
	khopagesctl list | awk -v n="$1" '$1 == n { print $2 }'
}

# expect_fail WHAT PATTERN LOG CMD...: CMD must fail and its log must say PATTERN.
expect_fail() {
	local what=$1 pattern=$2 log=$3
	shift 3
	rm -f "$log" "$log.out"
	if "$@" >"$log.out" 2>&1; then
		cat "$log.out"
		fail "$what: succeeded although it must not"
	fi
	if ! grep -q -- "$pattern" "$log" "$log.out" 2>/dev/null; then
		tail -n 20 "$log" "$log.out" 2>/dev/null
		fail "$what: failed without saying '$pattern'"
	fi
	echo "$what: refused: $(grep -h -- "$pattern" "$log" "$log.out" 2>/dev/null | head -n 1)"
}
