# SPDX-License-Identifier: GPL-2.0
# Guest test: dump a process tree, kexec, restore it, and let it check all
# of its memory itself.
#   MODE=kho    criu dump/restore --kho-pages: no page data in the images,
#               the same physical frames after the kexec, the session
#               gone after the restore, a plain dump of the restored tree
#               works
#   MODE=luo    as kho, with the images directory in the
#               guest's RAM and gone after the kexec; the restore takes
#               the images and the pages back from the session
#   MODE=plain  the same tree with plain CRIU, for comparison
#   MIB=N       size of the workload's shared region A (default 128)
#   REDUMP=0    skip the plain dump of the restored tree (it needs room for
#               all the pages in /tmp)
#   STOPPED=1   dump with --leave-stopped, as an upgrade can (the kexec
#               follows): the tree must be left stopped; it is then
#               resumed and works on before the kexec, and none of its
#               writes may reach what it handed over
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

WL=/host/wl
IMG=/host/img
MODE=$(param MODE)
MODE=${MODE:-kho}
MIB=$(param MIB)
MIB=${MIB:-128}
REDUMP=$(param REDUMP)
STOPPED=$(param STOPPED)
LEAVE=
[ "${STOPPED:-0}" = 1 ] && LEAVE=--leave-stopped
# kho: --kho-pages as it comes (a Live Update session, the images also in
# the images directory on the 9p share); luo: the images in the guest's RAM
# only, the session named at restore.
case "$MODE" in
kho) KHO=--kho-pages ;;
luo) KHO=--kho-pages IMG=/tmp/img ;;
plain) KHO= ;;
*) fail "unknown MODE $MODE" ;;
esac
# The kho and luo modes both hand the pages over.
HANDOVER=0
[ -n "$KHO" ] && HANDOVER=1

img_bytes() {
	local f total=0
	for f in "$1"/*.img; do total=$((total + $(stat -c %s "$f"))); done
	echo "$total"
}

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	no_sessions || fail "sessions exist before the test"
	start_workload "$WL" "$MIB"
	wl_cmd "$WL" V || fail "the tree is wrong before the dump"
	wl_cmd "$WL" R || fail "the tree cannot record its frames"
	# Nothing may move the pages between the record and the dump
	wl_cmd "$WL" V || fail "the tree changed right after recording its frames"
	wl_field "$WL" parent thp_kb >/host/thp-before
	echo "THP in region C before the dump: $(cat /host/thp-before) kB (parent)"

	mkdir -p "$IMG"
	t0=$(now)
	# shellcheck disable=SC2086
	if ! criu dump -t "$(wl_pid "$WL")" -D "$IMG" $CRIU_OPTS $KHO $LEAVE --display-stats \
		-o dump.log >"$IMG/dump.stats" 2>&1; then
		cp "$IMG/dump.log" /host/dump.log
		tail -n 30 "$IMG/dump.log"
		fail "criu dump $KHO $LEAVE failed"
	fi
	t=$(elapsed "$t0")
	cp "$IMG/dump.log" /host/dump.log
	cat "$IMG/dump.stats"
	if [ -n "$LEAVE" ]; then
		wl_all_stopped "$WL" || fail "tasks are not left stopped after the dump"
		# Resumed before the kexec, the tree changes its memory: that
		# must copy its pages, not write into the handed-over frames.
		for p in $(wl_pids "$WL"); do kill -CONT "$p"; done
		wl_cmd "$WL" W || fail "the tree left stopped cannot work on after SIGCONT"
	else
		wl_all_gone "$WL" || fail "tasks are still alive after the dump"
	fi
	figure "$MODE dump_seconds=$t"
	figure "$MODE images_bytes=$(img_bytes "$IMG")"
	figure "$MODE pages_img_bytes=$(pages_bytes "$IMG")"
	figure "$MODE images_files=$(ls "$IMG"/*.img | wc -l)"

	if [ "$HANDOVER" = 1 ]; then
		session=$(sed -n 's/.*khopages: handing memory over in session \([^ ]*\).*/\1/p' "$IMG/dump.log")
		[ -n "$session" ] || fail "the plugin named no session in dump.log"
		echo "$session" >/host/session
		# Pages in KHO scratch are moved before they are preserved
		sed -n 's/.*handed over: .*, \([0-9]*\) moved out of scratch.*/\1/p' "$IMG/dump.log" >/host/moved
		figure "$MODE pages_moved_out_of_scratch=$(cat /host/moved)"
		khopagesctl list
		[ "$(session_state "$session")" = preserved ] ||
			fail "session $session is not preserved after the dump"
		# Only file-backed private pages may have data: all anonymous
		# memory (some 300 MiB here) has to be handed over.
		pb=$(pages_bytes "$IMG")
		[ "$pb" -lt $((2 * 1024 * 1024)) ] ||
			fail "pages-*.img hold $pb bytes: anonymous memory was copied"
		grep -q 'Memory pages handed over (KHO)' "$IMG/dump.stats" ||
			fail "dump stats do not count handed over pages"
	fi
	if [ "$HANDOVER" = 1 ]; then
		# "PID FD NAME PAGESFD BOOTID"
		read -r holder _ <"$IMG/kho-luo-holder.pid" || fail "no kho-luo-holder.pid in the images"
		kill -0 "$holder" || fail "the holder of the Live Update session is not running"
	fi
	if [ "$MODE" = luo ]; then
		kept=$(sed -n 's/.*(images: \([0-9]*\) bytes in a memfd).*/\1/p' "$IMG/dump.log")
		[ -n "$kept" ] || fail "dump.log does not say the checkpoint is kept in RAM"
		figure "$MODE images_bytes_in_ram=$kept"
		# Nothing of the checkpoint on the 9p share, which survives.
		ondisk=$(find /host -path /host/boot -prune -o -name '*.img' -type f -print | wc -l)
		[ "$ondisk" = 0 ] || fail "$ondisk image files on /host"
		figure "$MODE images_files_on_disk=$ondisk"
	fi
	sync
	kexec_next_stage
	;;
2)
	[ "$HANDOVER" = 1 ] && session=$(cat /host/session)
	if [ "$MODE" = kho ]; then
		# Listed from boot on, waiting for its file to be retrieved.
		[ "$(session_state "$session")" = incoming ] ||
			fail "session $session is not listed as incoming after the kexec: '$(session_state "$session")'"
	fi
	if [ "$MODE" = luo ]; then
		# The images were in this guest's RAM: only the session has them.
		[ ! -e "$IMG" ] || fail "$IMG survived the kexec: the test proves nothing"
		mkdir -p "$IMG"
		export CRIU_KHOPAGES_SESSION=$session
	fi
	[ "$HANDOVER" = 1 ] && moved=$(cat /host/moved)

	t0=$(now)
	# shellcheck disable=SC2086
	if ! criu restore -D "$IMG" $CRIU_OPTS $KHO -d --display-stats \
		-o restore.log >"$IMG/restore.stats" 2>&1; then
		cp "$IMG/restore.log" /host/restore.log
		tail -n 40 "$IMG/restore.log"
		fail "criu restore $KHO failed"
	fi
	t=$(elapsed "$t0")
	cp "$IMG/restore.log" /host/restore.log
	if [ "$MODE" = luo ]; then
		grep -q 'images (.* bytes) unpacked from Live Update session' "$IMG/restore.log" ||
			fail "the images did not come from the Live Update session"
	fi
	if [ "$MODE" = kho ]; then
		# The session named by the holder file of the images on disk.
		grep -q "the images directory has images: the copy in session $session is not used" \
			"$IMG/restore.log" || fail "the restore did not use the images on disk"
	fi
	if [ "$HANDOVER" = 1 ]; then
		grep -q "Live Update session $session finished" "$IMG/restore.log" ||
			fail "the Live Update session was not finished"
	fi
	cat "$IMG/restore.stats"
	figure "$MODE restore_seconds=$t"
	wl_all_alive "$WL" || fail "not all tasks are alive after the restore"
	grep 'khopages:' "$IMG/restore.log" | sed 's/^/  log: /'

	wl_cmd "$WL" V || fail "the restored tree found wrong memory"
	same=0 total=0
	for who in parent child1 child2; do
		same=$((same + $(wl_field "$WL" $who pfn_same)))
		total=$((total + $(wl_field "$WL" $who pfn_total)))
	done
	thp=$(wl_field "$WL" parent thp_kb)
	figure "$MODE frames_same=$same frames_total=$total"
	figure "$MODE thp_kb_before=$(cat /host/thp-before) thp_kb_after=$thp"

	if [ "$HANDOVER" = 1 ]; then
		no_sessions || fail "the session is still there after the restore"
		copied=$(sed -n 's/.*khopages: session .*, \([0-9]*\) copied$/\1/p' "$IMG/restore.log")
		figure "$MODE pages_copied_at_restore=$copied"
		# Every page must be on the very frame it had, except those the
		# driver moved out of KHO scratch at dump (a moved page shared by
		# the three tasks counts three times) and those it had to copy:
		# a page two children shared without their parent can be mapped
		# as such into one of them only.
		[ $((total - same)) -le $((3 * ${moved:-0} + ${copied:-0})) ] ||
			fail "only $same of $total pages are on their frames ($moved moved at dump, $copied copied)"
		[ "$thp" -ge "$(cat /host/thp-before)" ] ||
			fail "the THP region has $thp kB in huge pages, $(cat /host/thp-before) before"
	fi

	wl_cmd "$WL" W || fail "the restored tree cannot keep working (COW writes, pipes)"

	if [ "$HANDOVER" = 1 ] && [ "${REDUMP:-1}" != 0 ]; then
		# The restored memory is ordinary memory: plain CRIU dumps it.
		mkdir -p /tmp/img2
		# shellcheck disable=SC2086
		criu dump -t "$(wl_pid "$WL")" -D /tmp/img2 $CRIU_OPTS -R -o dump.log ||
			{ tail -n 30 /tmp/img2/dump.log; fail "plain criu dump of the restored tree failed"; }
		figure "$MODE redump_pages_img_bytes=$(pages_bytes /tmp/img2)"
		wl_all_alive "$WL" || fail "tasks died in the plain dump with --leave-running"
		wl_cmd "$WL" V || fail "the tree is wrong after a plain dump"
	fi
	wl_cmd "$WL" Q || fail "the tree did not quit"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
