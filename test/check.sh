#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run every test layer and print one line per test, then the totals:
#   N passed, N failed[, N skipped]
# (test/check-lib.sh: what a test is, the logs in $CACHE/check-logs).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/check-lib.sh"

# --- Layer: code style of the kernel part, and its documentation builds
run_test kernel-style "$here/style/kernel-style.sh"
run_test docs "$here/style/docs.sh"

# --- Layer: libkhopages and khopagesctl on the host
run_case_list libkhopages make -s -C "$TOP/lib/libkhopages" check

# --- Layer: the test machine and KHO itself
run_test kho-handover vm --name kho-handover --timeout 300 "$here/vm/kho-handover.sh"
# Without kho=on the second kernel has no handover: the test has to say so.
run_test kho-handover-needs-kho-on expect_vm_failure kho-handover-no-kho \
	"received no handover" --no-kho --timeout 300 "$here/vm/kho-handover.sh"
# Without kho=on the driver refuses what needs KHO, and says so.
run_test khopages-no-kho vm --name khopages-no-kho --no-kho --timeout 300 \
	"$here/vm/khopages-no-kho.sh"

# --- Layer: the driver's KUnit tests, run at boot in the guest kernel
run_case_list kunit "$here/kunit-cases.sh"

# --- Layer: the driver across real kexecs, each session handed over as a
# khopages file in a Live Update (/dev/liveupdate) session and retrieved
# as a file after the kexec.
# A process tree's memory (plain, read-only, THP, COW, sparse): every byte
# and frame back, then ordinary memory, given back when released.
run_test khopages-memtest vm --name khopages-memtest --timeout 600 \
	"$here/vm/khopages-memtest.sh"
# Live Update on one kernel: what PRESERVE_FD refuses, the states, closing
# the Live Update session before a kexec gives the session back intact.
run_test khopages-luo vm --name khopages-luo --timeout 300 \
	"$here/vm/khopages-luo.sh"
run_test khopages-errors vm --name khopages-errors --timeout 600 \
	"$here/vm/khopages-errors.sh"
run_test khopages-swap vm --name khopages-swap --timeout 600 \
	"$here/vm/khopages-swap.sh"
run_test khopages-hwpoison vm --name khopages-hwpoison --timeout 300 \
	"$here/vm/khopages-hwpoison.sh"
run_test handover-layouts vm --name handover-layouts --set mib=64 \
	--timeout 300 "$here/vm/handover-layouts.sh"
# A session handed over in a Live Update session nobody retrieves is
# listed after the kexec; `khopagesctl discard NAME` gives its memory back,
# and so does finishing its Live Update session without retrieving it.
run_test luo-discard vm --name luo-discard --timeout 300 \
	"$here/vm/handover-discard.sh"
run_test luo-finish-unretrieved vm --name luo-finish-unretrieved --set how=unretrieved \
	--timeout 300 "$here/vm/handover-discard.sh"
# Through a kernel without khopages and back: no Live Update session comes
# back, its memory is ordinary memory again.
run_test handover-no-driver vm --name handover-no-driver --timeout 300 \
	--kernel-b "$CACHE/build/kernel-none/arch/x86/boot/bzImage" \
	"$here/vm/handover-no-driver.sh"
# A damaged description of a khopages file in a Live Update session:
# retrieving the file fails with a clear kernel message, nothing is
# offered, the driver goes on (the cases: corrupt_cases in
# test/check-lib.sh).
for bad in "${corrupt_cases[@]}"; do
	run_test "luo-corrupt-${bad%%:*}" vm --name "luo-corrupt-${bad%%:*}" \
		--set "how=${bad%%:*}" --set "expect=${bad#*:}" --timeout 300 \
		"$here/vm/handover-corrupt.sh"
done

# --- Layer: the driver across kernel versions: the upgrade (Linux 7.2 ->
# 7.3) and the rollback (7.3 -> 7.2). vm-run.sh checks that each stage ran
# the kernel it should. The format policy is in the admin guide.
OLD=$CACHE/build/guest/kernel-old NEW=$CACHE/build/guest/kernel-A
run_case_list kunit-7.2 "$here/kunit-cases.sh" --name kunit-7.2 --kernel "$OLD"
run_test handover-7.2-to-7.3 vm --name handover-7.2-to-7.3 --kernel "$OLD" \
	--next-kernel "$NEW" --timeout 600 "$here/vm/khopages-memtest.sh"
run_test handover-7.3-to-7.2 vm --name handover-7.3-to-7.2 --kernel "$NEW" \
	--next-kernel "$OLD" --timeout 600 "$here/vm/khopages-memtest.sh"
# The description of a khopages file in a Live Update session, in a newer
# format, meets the older kernel (the retrieve refused, its memory back
# after the next kexec), or says it can be read as the older one (retrieved
# and mapped); an old format this kernel no longer reads meets the newer
# kernel (the retrieve refused).
run_test format-newer-7.3-to-7.2 vm --name format-newer --kernel "$NEW" \
	--next-kernel "$OLD" --set how=newer-format --set released=1 \
	--set "expect=handover refused: format 'khopages-v9', this kernel reads 'khopages-v1'" \
	--timeout 300 "$here/vm/handover-corrupt.sh"
run_test format-newer-compatible-7.3-to-7.2 vm --name format-newer-compatible \
	--kernel "$NEW" --next-kernel "$OLD" --set how=newer-compatible \
	--set outcome=offered --timeout 300 "$here/vm/handover-corrupt.sh"
run_test format-old-7.2-to-7.3 vm --name format-old --kernel "$OLD" \
	--next-kernel "$NEW" --set how=old-format \
	--set "expect=handover refused: format 'khopages-v0', this kernel reads 'khopages-v1'" \
	--timeout 300 "$here/vm/handover-corrupt.sh"

# A description that looks valid but names a frame KHO did not preserve:
# the Live Update retrieve fails with EIO and a kernel message naming the
# frame, nothing WARNs, no session is left, the driver goes on.
run_test handover-unpreserved vm --name handover-unpreserved --timeout 300 \
	"$here/vm/handover-unpreserved.sh"
# Every page of every range the fuzzer's sessions hand over, checked after
# the kexec (with THPs, and without); no kernel report.
run_test handover-verify vm --name handover-verify --timeout 300 \
	"$here/vm/handover-verify.sh"
run_test handover-verify-no-thp vm --name handover-verify-no-thp --set thp=0 \
	--timeout 300 "$here/vm/handover-verify.sh"

# --- Layer: reliability: who may use the driver, what the fuzzer found, the
# fuzzer. Each fails on a kernel report (BUG, WARNING, Oops...) in the guest.
# Unprivileged callers, no ptrace rights, a user namespace: EPERM, no change.
run_test perm vm --name perm --timeout 300 "$here/perm/perm.sh"
# Shared folios given back on FINISH; a handed-over THP mapped and freed.
run_test fuzz-repro vm --name fuzz-repro --timeout 300 "$here/fuzz/repro.sh"
# The ioctl fuzzer on both sides of a kexec: no report, no session left, no
# memory lost.
run_test fuzz vm --name fuzz --set calls=30000 --set seconds=120 \
	--timeout 900 "$here/fuzz/fuzz.sh"

# --- Layer: CRIU --kho-pages across real kexecs (and plain CRIU beside it)
run_case_list criu "$here/criu/run.sh" --no-build
# Faults around a handover (criu killed in a dump, a target exiting in
# PRESERVE, two sessions, memory pressure, a failed restore retried): no
# session, no held page left, memory intact.
run_case_list criu-faults "$here/criu/faults.sh" --no-build

# --- Layer: CRIU's own zdtm tests across a kexec: plain CRIU, --kho-pages
# across the kexec and in the same kernel; the subset tagged in
# test/zdtm-kho/tests.list (make zdtm-kho runs them all).
run_case_list zdtm-kho "$here/zdtm-kho/run.sh" --subset
# The same subset dumped on Linux 7.2 and restored on 7.3, plain and
# --kho-pages.
run_case_list zdtm-kho-7.2-to-7.3 "$here/zdtm-kho/run.sh" --subset --no-build \
	--modes "plain kho" --name subset-7.2-to-7.3 \
	--kernel "$OLD" --next-kernel "$NEW"

# --- Layer: khopages-upgrade and its units, offline: the drop-in --setup
# writes and what it refuses, the whole control flow against stub commands
# in private namespaces (upgrade/test.sh), shell syntax, the man page.
run_test upgrade-offline make -s -C "$TOP/upgrade" check

# --- Layer: a Debian server (systemd, Debian's redis-server.service) upgraded
# by khopages-upgrade from Linux 7.2 to 7.3 while a client on the host keeps
# one TCP connection to it: the same socket, every reply right, only a
# stall; the unit restored before its normal start, on its old main pid.
run_test server-upgrade-kho "$here/server/run.sh" --mode kho --name server-upgrade-kho
run_test server-upgrade-plain "$here/server/run.sh" --mode plain --name server-upgrade-plain
# The new kernel has no Live Update: the restore fails, the journal says so,
# the checkpoint is set aside, the ports open, and the unit starts fresh.
run_test server-restore-fails "$here/server/run.sh" --mode fresh --mib 16 \
	--name server-restore-fails

summary
