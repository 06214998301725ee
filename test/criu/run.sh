#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# CRIU --kho-pages tests: each case is a guest script run by
# scripts/vm-run.sh in QEMU, most across a real KHO kexec.
#
#   test/criu/run.sh [--no-build] [CASE...]
#
# Prints one line per case, "ok NAME" or "not ok NAME", then the figures
# measured, and exits non-zero when a case failed. Without --no-build it
# first builds (incrementally) CRIU with the patches and the plugin
# (scripts/build-criu.sh), libkhopages, the workload, and the guest
# initramfs; the guest kernel must have been built (make kernel).
# Each run's files (console.log, images, logs) are in $CACHE/runs/criu-NAME/.
#
# Cases:
#   options         --kho-pages with --leave-running, pre-dump, --track-mem,
#                   --prev-images-dir, --auto-dedup, --lazy-pages,
#                   --page-server, on restore --lazy-pages/--auto-dedup,
#                   with criu check, and without the plugin: refused with
#                   a clear message, nothing taken, the tree unharmed
#   dump-fails      a dump failing half way (an established TCP connection
#                   in child 2, after the parent's and child 1's pages were
#                   preserved) aborts the session; a failing post-dump
#                   script withdraws the committed one; no session and no
#                   preserved page left (khopagesctl list, debugfs), the
#                   tree runs on with correct memory
#   restore-errors  (checkpoints in Live Update sessions) restore before
#                   kexec (held for the kexec), without --kho-pages, of a
#                   session discarded with `khopagesctl discard --luo`,
#                   without the plugin ("Missing required plugin"), of an
#                   already restored session: clear errors, nothing lost;
#                   a good restore still works afterwards, with every page
#   same-kernel     a --kho-pages checkpoint (in a Live Update session) is
#                   not restored before the kexec, and its holder keeps it;
#                   with CRIU_KHOPAGES_SAME_KERNEL=1 criu takes it back from
#                   Live Update, its pages are copied back, the tree
#                   verifies, no session and no holder are left
#   e2e-kho         parent + 2 children (~300 MiB of anonymous memory,
#                   COW-shared pages, mprotect'ed VMAs, THP region, open
#                   file, pipes) dumped with --kho-pages --leave-stopped
#                   (left stopped, then resumed: its writes before the kexec
#                   copy pages, the handed-over ones keep), kexec, restored
#                   with --kho-pages (the checkpoint in a Live Update
#                   session, the images also on the 9p share, the session
#                   named by their holder file); the tree checks all its memory and its
#                   frames (same PFNs as before the dump, except pages moved
#                   out of KHO scratch or copied), keeps working (COW
#                   writes, pipes); pages-*.img hold no data for the
#                   anonymous VMAs (and crit shows PE_KHO entries); the
#                   session is gone; a plain dump of the restored tree works
#   e2e-luo         e2e-kho with the images directory in the guest's RAM,
#                   gone after the kexec: the restore takes images and pages
#                   from the Live Update session named by
#                   CRIU_KHOPAGES_SESSION
#   shm-kho         shm_workload: parent + 2 children in their own IPC
#                   namespace sharing 256 MiB of MAP_SHARED anonymous memory
#                   (all three), a 32 MiB memfd (parent, child 1) and a
#                   32 MiB SysV segment (parent, child 2), dumped with
#                   --kho-pages as e2e-luo (images in the guest's RAM, the
#                   checkpoint in a Live Update session), kexec, restored
#                   with --kho-pages: the three objects handed over and
#                   filled in place (dump log, --display-stats, pages-*.img
#                   under 8 MiB, nothing copied), every byte exact, every
#                   page on its frame and still shared between the
#                   processes, writes seen across them, no session left
#   shm-retry       shm-kho (64 MiB) whose first restore fails after it
#                   filled the three objects (a failing post-restore
#                   script): the pages go back into the Live Update
#                   session's memfds, and the retry restores every byte on
#                   its frame
#   e2e-plain       the same tree with plain CRIU across the same kexec, for
#                   comparison (slow: ~3 min)
#   upgrade-kho     e2e-kho from Linux 7.2 to 7.3 (dump on the older kernel,
#                   restore on the newer: the upgrade)
#   rollback-kho    e2e-kho from Linux 7.3 back to 7.2
#   upgrade-plain   e2e-plain from Linux 7.2 to 7.3, the baseline
#   upgrade-luo     e2e-luo from Linux 7.2 to 7.3
# The version cases need the older guest kernel (make kernel-old); the
# stages' releases are checked (scripts/vm-run.sh --next-kernel).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

ALL_CASES=(options dump-fails restore-errors same-kernel e2e-kho e2e-luo shm-kho shm-retry e2e-plain
	upgrade-kho rollback-kho upgrade-plain upgrade-luo)
NEW=$CACHE/build/guest/kernel-A
OLD=$CACHE/build/guest/kernel-old
build=1
cases=()
for arg in "$@"; do
	case "$arg" in
	--no-build) build=0 ;;
	-h|--help) sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) cases+=("$arg") ;;
	esac
done
[ ${#cases[@]} -gt 0 ] || cases=("${ALL_CASES[@]}")

if [ "$build" = 1 ]; then
	{
		"$TOP/scripts/build-criu.sh" &&
		make -s -C "$TOP/lib/libkhopages" all manifest &&
		make -s -C "$here" all manifest &&
		bash "$TOP/scripts/build-guest.sh"
	} >"$CACHE/criu-tests-build.log" 2>&1 || {
		tail -n 20 "$CACHE/criu-tests-build.log"
		echo "not ok build (log: $CACHE/criu-tests-build.log)"
		exit 1
	}
fi

failed=0
# criu_vm NAME [vm-run.sh options] GUEST_SCRIPT: run directory criu-NAME,
# its output in criu-NAME.out.
criu_vm() {
	local name=$1
	shift
	"$TOP/scripts/vm-run.sh" --name "criu-$name" "$@" >"$CACHE/runs/criu-$name.out" 2>&1
}

# Host side: crit decodes the dump's pagemaps; the anonymous memory must be
# in PE_KHO entries, with only a few file-backed pages present.
crit_check() {
	local img=$CACHE/runs/criu-e2e-kho/img src=$CACHE/src/criu-$CRIU_VER f
	make -s -C "$src" crit >/dev/null 2>&1 || { echo "cannot build crit"; return 1; }
	for f in "$img"/pagemap-*.img; do
		PYTHONPATH=$src/lib:$src/crit /usr/bin/python3 -m crit decode --pretty -i "$f" |
			/usr/bin/python3 -c '
import json, sys
pages = {}
for e in json.load(sys.stdin)["entries"][1:]:
    pages[e.get("flags", "")] = pages.get(e.get("flags", ""), 0) + int(e["nr_pages"])
print(sys.argv[1], pages)
sys.exit(0 if pages.get("PE_KHO", 0) > 20000 and pages.get("PE_PRESENT", 0) < 256 else 1)
' "$(basename "$f")" || return 1
	done
}

run_case() {
	local name=$1 start rc
	start=$(date +%s)
	case "$name" in
	options) criu_vm options --mem 2G --timeout 600 "$here/options.sh" ;;
	dump-fails) criu_vm dump-fails --mem 2G --timeout 900 "$here/dump-fails.sh" ;;
	restore-errors) criu_vm restore-errors --mem 2G --timeout 900 "$here/restore-errors.sh" ;;
	same-kernel) criu_vm same-kernel --mem 2G --timeout 900 "$here/same-kernel.sh" ;;
	e2e-kho)
		criu_vm e2e-kho --mem 4G --timeout 1200 --set MODE=kho --set MIB=128 --set STOPPED=1 "$here/e2e.sh" &&
			crit_check >>"$CACHE/runs/criu-e2e-kho.out" 2>&1 ;;
	e2e-luo)
		criu_vm e2e-luo --mem 4G --timeout 1200 --set MODE=luo --set MIB=128 --set STOPPED=1 "$here/e2e.sh" ;;
	shm-kho) criu_vm shm-kho --mem 4608M --timeout 1200 --set MIB=256 "$here/shm.sh" ;;
	shm-retry) criu_vm shm-retry --mem 4G --timeout 1200 --set MIB=64 --set FAIL=after-fill "$here/shm.sh" ;;
	e2e-plain) criu_vm e2e-plain --mem 4G --timeout 1800 --set MODE=plain --set MIB=128 "$here/e2e.sh" ;;
	upgrade-kho)
		criu_vm upgrade-kho --kernel "$OLD" --next-kernel "$NEW" --mem 4G --timeout 1200 \
			--set MODE=kho --set MIB=128 --set STOPPED=1 "$here/e2e.sh" ;;
	rollback-kho)
		criu_vm rollback-kho --kernel "$NEW" --next-kernel "$OLD" --mem 4G --timeout 1200 \
			--set MODE=kho --set MIB=128 --set STOPPED=1 "$here/e2e.sh" ;;
	upgrade-plain)
		criu_vm upgrade-plain --kernel "$OLD" --next-kernel "$NEW" --mem 4G --timeout 1800 \
			--set MODE=plain --set MIB=128 "$here/e2e.sh" ;;
	upgrade-luo)
		criu_vm upgrade-luo --kernel "$OLD" --next-kernel "$NEW" --mem 4G --timeout 1200 \
			--set MODE=luo --set MIB=128 --set STOPPED=1 "$here/e2e.sh" ;;
	*) echo "unknown case $name" >"$CACHE/runs/criu-$name.out"; false ;;
	esac
	rc=$?
	if [ "$rc" = 0 ]; then
		echo "ok $name # $(($(date +%s) - start)) s"
	else
		failed=$((failed + 1))
		echo "not ok $name # $(($(date +%s) - start)) s, see $CACHE/runs/criu-$name/ and criu-$name.out"
		tail -n 5 "$CACHE/runs/criu-$name.out" | sed 's/^/#   /'
	fi
}

mkdir -p "$CACHE/runs"
for c in "${cases[@]}"; do
	run_case "$c"
done

for c in e2e-kho e2e-luo shm-kho e2e-plain upgrade-kho rollback-kho upgrade-plain upgrade-luo; do
	f=$CACHE/runs/criu-$c/figures.txt
	[ -f "$f" ] && sed "s/^/# $c: /" "$f"
done
[ "$failed" = 0 ]
