# SPDX-License-Identifier: GPL-2.0
# Guest side of test/criu/faults.sh: things going wrong around a handover,
# each followed by a check that nothing leaked (no session, no held page,
# no Live Update session or holder left, free memory back, the processes'
# memory intact). Every checkpoint goes into a Live Update session, as
# --kho-pages does.
#   kill-dump      criu dump --kho-pages SIGKILLed once the plugin has
#                  preserved pages, before anything went into Live Update
#   preserve-exit  the target of PRESERVE is killed and reaped during the
#                  call (khopages_faults preserve-exit)
#   luo-withdraw   the post-dump script fails after the checkpoint went
#                  into its Live Update session: the holder ends, the
#                  session is aborted, the tree runs on, memory comes back
#   luo-holder-killed  the holder of a dump's Live Update session is killed
#                  before the kexec: the upgrade is called off, nothing is
#                  left preserved, memory comes back
#   two-sessions   two sessions over the same range of one process cross
#                  the kexec in two Live Update sessions; one is retrieved
#                  and released first, the other then retrieved and
#                  mapped, closing it frees the rest
#   pressure       criu dump --kho-pages while a memory hog churns and
#                  compaction runs; after kexec every byte is checked
#   restore-retry  criu restore --kho-pages fails after the tasks mapped
#                  their pages (a file changed size): a holder keeps the
#                  retrieved Live Update session, the retry takes it over
#                  and must work
# Stage 1 runs the first four and prepares the others, stage 2 (after the
# kexec) finishes them. Each case appends "ok NAME" or "not ok NAME # why"
# to /host/cases; one failing case does not stop the others.
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

# Slab, page tables and per-CPU lists move a few MiB by themselves.
MARGIN_KIB=$((8 * 1024))

# Free memory once freed pages have settled (up to 10 s for WANT kB).
settled_free() {
	local want=${1:-0} _ v
	for _ in $(seq 10); do
		sync
		echo 1 >/proc/sys/vm/compact_memory
		v=$(free_kib)
		[ "$v" -ge "$want" ] && break
		sleep 1
	done
	echo "$v"
}

# Free memory comes back to BASE kB plus the HELD kB a session held (0 when
# it held none), within MARGIN_KIB, once freed pages have settled; else the
# case fails saying what did not give it back.
#   expect_memory_back CASE BASE HELD "after WHAT"
expect_memory_back() {
	local name=$1 base=$2 held=$3 what=$4 after
	after=$(settled_free $((base + held - MARGIN_KIB)))
	echo "$name: free $base kB before, $after kB after ($((after - base)) kB; the session held $held kB)"
	[ "$after" -ge $((base + held - MARGIN_KIB)) ] ||
		fail "$((base + held - after)) kB of memory not given back $what"
}

# Gone, or a zombie waiting for its parent: no memory either way.
task_gone() {
	[ ! -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}
wait_tree_gone() {
	local p _
	for _ in $(seq 30); do
		for p in $(wl_pids "$1"); do task_gone "$p" || break; done
		task_gone "$p" && return 0
		sleep 1
	done
	return 1
}

# No process holds a Live Update session (criu's holders included).
no_luo_left() {
	local out
	out=$(khopagesctl luo)
	[ "$out" = "no Live Update session is open" ] || { echo "$out"; return 1; }
	! grep -qx criu-luo-hold /proc/[0-9]*/comm 2>/dev/null
}

# session_kib NAME: memory the session holds, each folio once (pages
# shared by several tasks count once per task in "pages").
session_kib() {
	khopagesctl stats "$1" |
		awk '$1 == "order" { k = 4; for (i = 0; i < $2; i++) k *= 2; n += $NF * k }
			END { printf "%d\n", n }'
}
session_field() {
	khopagesctl stats "$1" | sed -n "s/^$2: *\([0-9]*\).*/\1/p"
}

# run_part CASE last|setup FUNCTION: run one part of a case in a subshell
# (fail() ends only that). A failed part fails the case and skips its
# later parts; the last part reports "ok".
run_part() {
	local c=$1 last=$2 fn=$3 why
	[ -e "/host/failed.$c" ] && return 0
	echo "=== $c: $fn"
	rm -f /host/verdict
	if ($fn); then
		[ "$last" = last ] && echo "ok $c" >>/host/cases
	else
		why=$(sed 's/^FAIL: //' /host/verdict 2>/dev/null)
		echo "not ok $c # ${why:-exit status}" >>/host/cases
		touch "/host/failed.$c"
	fi
	rm -f /host/verdict
	echo "=== $c: $fn done"
}

# --- kill-dump: criu dump killed after some pages were preserved
kill_dump() {
	local wl=/host/wl-kill img=/host/img-kill base after cpid rc p
	no_sessions || fail "sessions exist before the test"
	no_luo_left || fail "a Live Update session is held before the test"
	base=$(settled_free)
	start_workload "$wl" 128
	wl_cmd "$wl" V || fail "the tree is wrong before the dump"
	mkdir -p "$img"
	# shellcheck disable=SC2086
	criu dump -t "$(wl_pid "$wl")" -D "$img" $CRIU_OPTS --kho-pages -o dump.log \
		>"$img/dump.out" 2>&1 &
	cpid=$!
	# Kill it once the parent's pages are preserved and a child's are next.
	khopages_faults kill-on-preserve "$cpid" 120 2 || { kill -9 "$cpid"; fail "criu was not killed in time"; }
	wait "$cpid"
	rc=$?
	[ "$rc" = 137 ] || fail "criu dump exited with $rc, not by the SIGKILL"
	! grep -qE 'khopages: session .* committed|kho-luo: checkpoint kept' "$img/dump.log" ||
		fail "criu was killed after the checkpoint went into Live Update: the test tests nothing"
	no_sessions || fail "a session is left after criu was killed"
	no_luo_left || fail "a Live Update session is left after criu was killed"
	wl_all_alive "$wl" || fail "the tree did not survive the killed dump"
	for p in $(wl_pids "$wl"); do
		grep -q '^TracerPid:[[:space:]]*0$' "/proc/$p/status" ||
			fail "task $p is still traced after criu died"
	done
	wl_cmd "$wl" V || fail "the tree's memory is wrong after the killed dump"
	wl_cmd "$wl" W || fail "the tree cannot keep working after the killed dump"
	wl_cmd "$wl" Q || fail "the tree did not quit"
	wait_tree_gone "$wl" || fail "the tree did not end"
	expect_memory_back kill-dump "$base" 0 "after the killed dump"
	no_sessions || fail "a session is left at the end"
}

# --- preserve-exit: the target exits during PRESERVE
preserve_exit() {
	no_sessions || fail "sessions exist before the test"
	run_step /host/preserve-exit.log khopages_faults preserve-exit 256 3
	no_sessions || fail "a session is left"
}

# --- two-sessions: two sessions over the same range
twins_hand_over() {
	run_step /host/twins-hand-over.log khopages_faults two-sessions hand-over /host/twins 64
	khopagesctl luo
}
twins_take_over() {
	run_step /host/twins-take-over.log khopages_faults two-sessions take-over /host/twins
}

# --- pressure: dump under memory pressure and compaction
pressure_dump() {
	local wl=/host/wl-press img=/host/img-press hog comp free scanned0 scanned1 low holder _
	LAST_PID=32000 start_workload "$wl" 64
	wl_cmd "$wl" V || fail "the tree is wrong before the dump"
	free=$(free_kib)
	# Leave criu some 200 MiB; the hog keeps freeing and taking the rest.
	khopages_faults hog $(((free - 200 * 1024) / 1024)) &
	hog=$!
	(while :; do echo 1 >/proc/sys/vm/compact_memory; sleep 0.2; done) &
	comp=$!
	scanned0=$(awk '$1 == "compact_migrate_scanned" { print $2 }' /proc/vmstat)
	for _ in $(seq 60); do
		low=$(free_kib)
		[ "$low" -lt $((300 * 1024)) ] && break
		sleep 1
	done
	mkdir -p "$img"
	# shellcheck disable=SC2086
	CRIU_KHOPAGES_SESSION=fault-press criu dump -t "$(wl_pid "$wl")" -D "$img" $CRIU_OPTS \
		--kho-pages -o dump.log || { kill "$hog" "$comp"; tail -n 30 "$img/dump.log"; fail "criu dump under pressure failed"; }
	# Held pages must stay put until the kexec, pressure or not.
	sleep 5
	kill "$hog" "$comp"
	wait "$hog" "$comp" 2>/dev/null
	scanned1=$(awk '$1 == "compact_migrate_scanned" { print $2 }' /proc/vmstat)
	echo "pressure: free $low kB while the hog ran; compaction scanned $((scanned1 - scanned0)) pages"
	grep -E 'khopages:.*committed|kho-luo: checkpoint kept' "$img/dump.log"
	[ "$low" -lt $((300 * 1024)) ] || fail "no memory pressure: $low kB free while the hog ran"
	[ "$((scanned1 - scanned0))" -gt 0 ] || fail "compaction did not run"
	[ "$(session_state fault-press)" = preserved ] || fail "session fault-press is not preserved"
	if ! holder=$(holder_pid "$img") || ! kill -0 "$holder"; then
		fail "no holder keeps the Live Update session of fault-press"
	fi
	session_kib fault-press >/host/press.kib
}
pressure_restore() {
	local wl=/host/wl-press img=/host/img-press base kib
	# Listed from boot on, waiting for criu to retrieve its file.
	[ "$(session_state fault-press)" = incoming ] ||
		fail "session fault-press is not listed as incoming before criu retrieves it"
	kib=$(cat /host/press.kib)
	[ "${kib:-0}" -gt 0 ] || fail "cannot tell how much memory session fault-press holds"
	base=$(settled_free)
	# shellcheck disable=SC2086
	criu restore -D "$img" $CRIU_OPTS --kho-pages -d -o restore.log ||
		{ tail -n 30 "$img/restore.log"; fail "criu restore failed"; }
	grep -q 'Live Update session fault-press finished' "$img/restore.log" ||
		fail "the restore did not finish the Live Update session"
	wl_cmd "$wl" V || fail "the tree restored after a dump under pressure has wrong memory"
	[ -z "$(session_state fault-press)" ] || fail "session fault-press is left after the restore"
	wl_cmd "$wl" Q || fail "the tree did not quit"
	wait_tree_gone "$wl" || fail "the tree did not end"
	expect_memory_back pressure "$base" "$kib" "after the restore"
}

# --- restore-retry: a restore fails after the tasks mapped their pages, and is retried
retry_dump() {
	local wl=/host/wl-retry img=/host/img-retry holder
	LAST_PID=31000 start_workload "$wl" 32
	wl_cmd "$wl" V || fail "the tree is wrong before the dump"
	mkdir -p "$img"
	# shellcheck disable=SC2086
	CRIU_KHOPAGES_SESSION=fault-retry criu dump -t "$(wl_pid "$wl")" -D "$img" $CRIU_OPTS \
		--kho-pages -o dump.log || { tail -n 30 "$img/dump.log"; fail "criu dump failed"; }
	[ "$(session_state fault-retry)" = preserved ] || fail "session fault-retry is not preserved"
	if ! holder=$(holder_pid "$img") || ! kill -0 "$holder"; then
		fail "no holder keeps the Live Update session of fault-retry"
	fi
	session_kib fault-retry >/host/retry.kib
}
retry_restore() {
	local wl=/host/wl-retry img=/host/img-retry base after kib mapped holder why
	[ "$(session_state fault-retry)" = incoming ] ||
		fail "session fault-retry is not listed as incoming before criu retrieves it"
	kib=$(cat /host/retry.kib)
	[ "${kib:-0}" -gt 0 ] || fail "cannot tell how much memory session fault-retry holds"
	base=$(settled_free)
	# The parent's file changes size: CRIU refuses it when it restores the
	# files, after every task has mapped its memory. The session is named
	# by the holder file the dump left in the images directory.
	cp "$wl/wl.file" /host/wl-retry.file
	echo changed >"$wl/wl.file"
	# shellcheck disable=SC2086
	expect_fail "restore with a changed file" "bad size" "$img/r1.log" \
		criu restore -D "$img" $CRIU_OPTS --kho-pages -d -o r1.log
	grep 'khopages: task .* pages mapped' "$img/r1.log"
	grep -q 'Live Update session fault-retry is kept by process' "$img/r1.log" || {
		grep -E 'kho-luo|khopages|Error' "$img/r1.log" | tail -n 12
		fail "the failed restore did not keep the Live Update session"
	}
	holder=$(holder_pid "$img") || fail "no holder file of this boot after the failed restore"
	mapped=$(session_field fault-retry mapped)
	echo "after the failed restore: $(session_state fault-retry), $mapped pages mapped, held by $holder"
	[ "$(session_state fault-retry)" = retrieved ] ||
		fail "session fault-retry is '$(session_state fault-retry)' after the failed restore, not retrieved"
	[ "${mapped:-0}" -gt 0 ] || fail "no page was mapped before the restore failed: the test tests nothing"
	wait_tree_gone "$wl" || fail "the failed restore left tasks behind"
	cp /host/wl-retry.file "$wl/wl.file"
	# shellcheck disable=SC2086
	criu restore -D "$img" $CRIU_OPTS --kho-pages -d -o r2.log || {
		grep -E 'Error|khopages|kho-luo' "$img/r2.log" | tail -n 15
		why=$(grep -m1 'khopages.*cannot map' "$img/r2.log" | sed 's/^.*khopages: //')
		# What a user is left with: ending the holder, does the memory come back?
		holder=$(holder_pid "$img") && kill -9 "$holder"
		after=$(settled_free $((base + kib - MARGIN_KIB)))
		echo "restore-retry: with the holder ended free is $after kB, $((after - base)) kB more than before the restores (the session held $kib kB)"
		fail "the retried restore failed: ${why:-see r2.log}"
	}
	grep -q "took Live Update session fault-retry over from process $holder" "$img/r2.log" ||
		fail "the retry did not take the session over from the holder"
	grep -q 'Live Update session fault-retry finished' "$img/r2.log" ||
		fail "the retry did not finish the Live Update session"
	wl_cmd "$wl" V || fail "the tree restored by the retry has wrong memory"
	[ -z "$(session_state fault-retry)" ] || fail "session fault-retry is left after the retry"
	task_gone "$holder" || fail "the holder $holder is still running"
	wl_cmd "$wl" Q || fail "the tree did not quit"
	wait_tree_gone "$wl" || fail "the tree did not end"
	expect_memory_back restore-retry "$base" "$kib" "after the restore"
}

# --- luo-withdraw: the post-dump script fails after the checkpoint went into Live Update
luo_withdraw() {
	local wl=/host/wl-luow img=/tmp/img-luow base after
	no_sessions || fail "sessions exist before the test"
	base=$(settled_free)
	LAST_PID=33000 start_workload "$wl" 64
	wl_cmd "$wl" V || fail "the tree is wrong before the dump"
	mkdir -p "$img"
	printf '#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" != post-dump ] || exit 1\n' >/tmp/fail-post-dump.sh
	chmod +x /tmp/fail-post-dump.sh
	# shellcheck disable=SC2086
	expect_fail "dump whose post-dump script fails" "post-dump" "$img/dump.log" \
		env CRIU_KHOPAGES_SESSION=fault-luow criu dump -t "$(wl_pid "$wl")" \
		-D "$img" $CRIU_OPTS --kho-pages --action-script /tmp/fail-post-dump.sh -o dump.log
	grep -q 'kho-luo: checkpoint kept in RAM' "$img/dump.log" ||
		fail "the dump failed before its Live Update session: the test tests nothing"
	grep -q 'withdrawn from Live Update and aborted' "$img/dump.log" ||
		fail "dump.log does not say the session was withdrawn"
	[ ! -e "$img/kho-luo-holder.pid" ] || fail "kho-luo-holder.pid is left"
	no_luo_left || fail "a Live Update session or its holder is left"
	no_sessions || fail "a session is left after the failed dump"
	wl_all_alive "$wl" || fail "the tree did not run on after the failed dump"
	wl_cmd "$wl" V || fail "the tree's memory is wrong after the failed dump"
	wl_cmd "$wl" Q || fail "the tree did not quit"
	wait_tree_gone "$wl" || fail "the tree did not end"
	expect_memory_back luo-withdraw "$base" 0 "after the withdrawn dump"
}

# --- luo-holder-killed: the holder of the checkpoint is killed before the kexec
luo_holder_killed() {
	local wl=/host/wl-luok img=/tmp/img-luok base after holder
	no_sessions || fail "sessions exist before the test"
	base=$(settled_free)
	LAST_PID=34000 start_workload "$wl" 64
	mkdir -p "$img"
	# shellcheck disable=SC2086
	CRIU_KHOPAGES_SESSION=fault-luok criu dump -t "$(wl_pid "$wl")" \
		-D "$img" $CRIU_OPTS --kho-pages -o dump.log || { tail -n 30 "$img/dump.log"; fail "criu dump failed"; }
	[ "$(session_state fault-luok)" = preserved ] || fail "session fault-luok is not preserved after the dump"
	wait_tree_gone "$wl" || fail "the dumped tree did not end"
	read -r holder _ <"$img/kho-luo-holder.pid" || fail "no kho-luo-holder.pid"
	kill -9 "$holder" || fail "no holder process $holder"
	for _ in $(seq 50); do
		[ -z "$(session_state fault-luok)" ] && break
		sleep 0.1
	done
	[ -z "$(session_state fault-luok)" ] ||
		fail "session fault-luok is $(session_state fault-luok) after its holder was killed"
	no_luo_left || fail "a Live Update session is left after its holder was killed"
	expect_memory_back luo-holder-killed "$base" 0 "after the holder was killed"
}

# leave_nothing CASE IMG SESSION...: when CASE failed, end the holder its
# failed restore left (named in IMG) and retrieve and finish the Live
# Update sessions nobody retrieved.
leave_nothing() {
	local c=$1 img=$2 holder s _
	shift 2
	[ -e "/host/failed.$c" ] || return 0
	if [ -n "$img" ] && holder=$(holder_pid "$img"); then
		kill -9 "$holder"
		for _ in $(seq 50); do task_gone "$holder" && break; sleep 0.1; done
	fi
	for s in "$@"; do
		khopagesctl discard "$s" --luo 2>/dev/null
	done
	return 0
}

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	rm -f /host/cases /host/failed.*
	run_part kill-dump last kill_dump
	run_part preserve-exit last preserve_exit
	run_part luo-withdraw last luo_withdraw
	run_part luo-holder-killed last luo_holder_killed
	run_part two-sessions setup twins_hand_over
	run_part restore-retry setup retry_dump
	run_part pressure setup pressure_dump
	khopagesctl list
	khopagesctl luo
	sync
	kexec_next_stage
	;;
2)
	khopagesctl list
	run_part two-sessions last twins_take_over
	run_part pressure last pressure_restore
	run_part restore-retry last retry_restore
	cat /host/cases
	# A case that failed half way may have left its checkpoint: release
	# it, so that only leftovers of passing cases fail the end check.
	leave_nothing two-sessions "" fault-twin-a fault-twin-b
	leave_nothing pressure /host/img-press fault-press
	leave_nothing restore-retry /host/img-retry fault-retry
	no_sessions || fail "sessions are left at the end"
	no_luo_left || fail "a Live Update session is left at the end"
	grep -q '^not ok' /host/cases && fail "$(grep '^not ok' /host/cases | tr '\n' ';')"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
