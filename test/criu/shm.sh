# SPDX-License-Identifier: GPL-2.0
# Guest test: shared memory handed over in place. The tree of shm_workload
# (a parent and two children in an IPC namespace of their own) shares three
# objects: S, MIB MiB of MAP_SHARED anonymous memory (all three), M, a
# 32 MiB memfd (the parent and child 1), V, a 32 MiB SysV segment (the
# parent and child 2). It is dumped with --kho-pages as e2e.sh MODE=luo
# does (the images in the guest's RAM, the checkpoint in a Live Update
# session), kexec, restored with --kho-pages from the session named by
# CRIU_KHOPAGES_SESSION: all three objects handed over and filled in place
# (no page data in the images, nothing copied), every byte exact, every
# page on the frame it had before the dump and still shared between the
# processes, a write by one process seen by the others, no session left.
#   MIB=N  size of S (default 256)
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

WL=/host/wl
# In the guest's RAM: gone after the kexec, only the session has them.
IMG=/tmp/img
MIB=$(param MIB)
MIB=${MIB:-256}

# Pages of each kind of object: S, the memfd M, the SysV segment V.
pages_of() {
	case "$1" in
	anonymous) echo $((MIB * 256)) ;;
	*) echo 8192 ;;
	esac
}

# handed_over FILE...: "0x<shmid> (<kind>) <pages>" of each shared memory
# object the dump says it handed over in place, once each (criu prints it
# into its log or onto its output). The id is printed with %#lx: a SysV
# segment's id 0 comes out as "0".
handed_over() {
	sed -n 's/.*kho: shared memory \(0[x0-9a-fA-F]* ([a-z]*)\) handed over in place: \([0-9]*\) pages.*/\1 \2/p' "$@" |
		sort -u
}

# filled FILE...: "0x<shmid> <pages>" of each object the restore filled in place
# (the same ids).
filled() {
	sed -n 's/.*kho: shared memory \(0[x0-9a-fA-F]*\) filled in place: \([0-9]*\) pages.*/\1 \2/p' "$@" |
		sort -u
}

# Sum of a field of all three lines of the last answer.
wl_sum() {
	local who n=0
	for who in parent child1 child2; do n=$((n + $(wl_field "$WL" $who "$1"))); done
	echo "$n"
}

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	no_sessions || fail "sessions exist before the test"
	start_program shm_workload "$WL" "$MIB"
	wl_cmd "$WL" R || fail "the tree cannot record its frames"
	wl_cmd "$WL" V || fail "the tree is wrong before the dump"

	mkdir -p "$IMG"
	t0=$(now)
	# shellcheck disable=SC2086
	if ! criu dump -t "$(wl_pid "$WL")" -D "$IMG" $CRIU_OPTS --kho-pages --display-stats \
		-o dump.log >"$IMG/dump.stats" 2>&1; then
		cp "$IMG/dump.log" /host/dump.log
		tail -n 30 "$IMG/dump.log" "$IMG/dump.stats"
		fail "criu dump --kho-pages failed"
	fi
	t=$(elapsed "$t0")
	cp "$IMG/dump.log" /host/dump.log
	cp "$IMG/dump.stats" /host/dump.stats
	cat "$IMG/dump.stats"
	wl_all_gone "$WL" || fail "tasks are still alive after the dump"
	figure "shm dump_seconds=$t"
	figure "shm images_bytes=$(dir_bytes "$IMG")"
	figure "shm pages_img_bytes=$(pages_bytes "$IMG")"

	# The three objects handed over in place, each once, whole.
	handed_over "$IMG/dump.log" "$IMG/dump.stats" >/host/handed
	sed 's/^/  handed over: /' /host/handed
	[ "$(grep -c . /host/handed)" = 3 ] ||
		fail "$(grep -c . /host/handed) shared memory objects handed over in place, not 3"
	# CRIU dumps a MAP_SHARED anonymous object as a memfd when it can (its
	# file is named /dev/zero): S and M are "memfd" objects, V "sysv".
	[ "$(grep -c '(sysv) 8192$' /host/handed)" = 1 ] ||
		fail "not one SysV segment of 8192 pages handed over in place"
	want=$(printf '%s\n' "$(pages_of anonymous)" 8192 8192 | sort -n | tr '\n' ' ')
	got=$(awk '{ print $NF }' /host/handed | sort -n | tr '\n' ' ')
	[ "$got" = "$want" ] ||
		fail "objects of $got pages handed over in place, not of $want pages"
	figure "shm pages_handed_over=$(awk '{ n += $NF } END { print n + 0 }' /host/handed)"
	if grep -h 'kho: shared memory .* copied' "$IMG/dump.log" "$IMG/dump.stats"; then
		fail "shared memory was copied, not handed over"
	fi
	grep -Eq '^Shared memory objects handed over in place: 3( |$)' "$IMG/dump.stats" ||
		fail "the dump stats do not say 'Shared memory objects handed over in place: 3'"
	grep -Eq '^Shared memory objects copied: 0( |$)' "$IMG/dump.stats" ||
		fail "the dump stats do not say 'Shared memory objects copied: 0'"
	# Some 320 MiB of shared memory, none of it in the images.
	pb=$(pages_bytes "$IMG")
	[ "$pb" -lt $((8 * 1024 * 1024)) ] ||
		fail "pages-*.img hold $pb bytes: shared memory was copied"

	session=$(sed -n 's/.*khopages: handing memory over in session \([^ ]*\).*/\1/p' "$IMG/dump.log")
	[ -n "$session" ] || fail "the plugin named no session in dump.log"
	echo "$session" >/host/session
	khopagesctl list
	[ "$(session_state "$session")" = preserved ] ||
		fail "session $session is not preserved after the dump"
	# "PID FD NAME PAGESFD BOOTID"
	read -r holder _ <"$IMG/kho-luo-holder.pid" || fail "no kho-luo-holder.pid in the images"
	kill -0 "$holder" || fail "the holder of the Live Update session is not running"
	kept=$(sed -n 's/.*(images: \([0-9]*\) bytes in a memfd).*/\1/p' "$IMG/dump.log")
	[ -n "$kept" ] || fail "dump.log does not say the checkpoint is kept in RAM"
	figure "shm images_bytes_in_ram=$kept"
	# Nothing of the checkpoint on the 9p share, which survives.
	ondisk=$(find /host -path /host/boot -prune -o -name '*.img' -type f -print | wc -l)
	[ "$ondisk" = 0 ] || fail "$ondisk image files on /host"
	sync
	kexec_next_stage
	;;
2)
	session=$(cat /host/session)
	# The images were in this guest's RAM: only the session has them.
	[ ! -e "$IMG" ] || fail "$IMG survived the kexec: the test proves nothing"
	mkdir -p "$IMG"
	export CRIU_KHOPAGES_SESSION=$session

	if [ "$(param FAIL)" = after-fill ]; then
		# A restore that fails after it filled the objects (its post-restore
		# action script fails) gives their pages back and leaves the
		# session to a holder: the next restore finds them all.
		printf '#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = post-restore ] && exit 1\nexit 0\n' \
			>/tmp/fail-post-restore.sh
		chmod +x /tmp/fail-post-restore.sh
		# shellcheck disable=SC2086
		if criu restore -D "$IMG" $CRIU_OPTS --kho-pages -d \
			--action-script /tmp/fail-post-restore.sh -o restore-fail.log >/dev/null 2>&1; then
			fail "the restore with a failing post-restore script succeeded"
		fi
		cp "$IMG/restore-fail.log" /host/restore-fail.log
		grep -e 'kho: shared memory' -e 'is kept by process' "$IMG/restore-fail.log" | sed 's/^/  failed restore: /'
		[ "$(filled "$IMG/restore-fail.log" | grep -c .)" = 3 ] ||
			fail "the failed restore did not fill the 3 objects first: it proves nothing"
		[ "$(grep -c 'kho: shared memory .*pages given back for a retry' "$IMG/restore-fail.log")" = 3 ] ||
			fail "the failed restore did not give the pages of the 3 objects back"
		grep -q "Live Update session $session is kept by process" "$IMG/restore-fail.log" ||
			fail "the failed restore did not leave the session to a holder"
		figure "shm failed_restore=yes"
	fi

	t0=$(now)
	# shellcheck disable=SC2086
	if ! criu restore -D "$IMG" $CRIU_OPTS --kho-pages -d --display-stats \
		-o restore.log >"$IMG/restore.stats" 2>&1; then
		cp "$IMG/restore.log" /host/restore.log
		tail -n 40 "$IMG/restore.log" "$IMG/restore.stats"
		fail "criu restore --kho-pages failed"
	fi
	t=$(elapsed "$t0")
	cp "$IMG/restore.log" /host/restore.log
	cp "$IMG/restore.stats" /host/restore.stats
	if [ "$(param FAIL)" = after-fill ]; then
		grep -q "took Live Update session $session over from process" "$IMG/restore.log" ||
			fail "the retry did not take the session over from the failed restore's holder"
	else
		grep -q 'images (.* bytes) unpacked from Live Update session' "$IMG/restore.log" ||
			fail "the images did not come from the Live Update session"
	fi
	grep -q "Live Update session $session finished" "$IMG/restore.log" ||
		fail "the Live Update session was not finished"
	cat "$IMG/restore.stats"
	figure "shm restore_seconds=$t"
	wl_all_alive "$WL" || fail "not all tasks are alive after the restore"
	grep -e 'khopages:' -e 'kho: shared memory' "$IMG/restore.log" | sed 's/^/  log: /'

	# The very objects handed over, each filled in place, whole.
	filled "$IMG/restore.log" "$IMG/restore.stats" >/host/filled
	[ "$(grep -c . /host/filled)" = 3 ] ||
		fail "$(grep -c . /host/filled) shared memory objects filled in place, not 3"
	[ "$(cut -d' ' -f1 /host/filled | sort)" = "$(cut -d' ' -f1 /host/handed | sort)" ] ||
		fail "objects filled in place: $(cut -d' ' -f1 /host/filled | xargs), handed over: $(cut -d' ' -f1 /host/handed | xargs)"
	handed=$(awk '{ n += $NF } END { print n + 0 }' /host/handed)
	pages=$(awk '{ n += $NF } END { print n + 0 }' /host/filled)
	figure "shm pages_filled=$pages"
	[ "$pages" = "$handed" ] || fail "$pages pages filled in place, $handed handed over"

	# Every byte, every page on its frame, shared between the processes.
	wl_cmd "$WL" V || fail "the restored tree found wrong memory, moved pages or unshared pages"
	same=$(wl_sum pfn_same) total=$(wl_sum pfn_total)
	figure "shm frames_same=$same frames_total=$total"
	figure "shm shared_same=$(wl_sum shared_same) shared_total=$(wl_sum shared_total)"
	if [ "$total" = 0 ] || [ "$same" != "$total" ]; then
		fail "only $same of $total pages are on their frames"
	fi

	wl_cmd "$WL" W || fail "a write by one process of the restored tree is not seen by the others"
	wl_cmd "$WL" V || fail "the restored tree is wrong after its writes"
	figure "shm stamps_seen=$(wl_sum stamps)"
	wl_cmd "$WL" Q || fail "the tree did not quit"

	no_sessions || fail "the session is still there after the restore"
	[ -z "$(khopagesctl luo | tail -n +2)" ] || fail "a Live Update session is left: $(khopagesctl luo)"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
