# SPDX-License-Identifier: GPL-2.0
# Guest test: the failure paths of /dev/khopages. Stage 1 runs the cases
# that need no kexec, then hands two sessions over, each in a Live Update
# session of its name kept open by a holder: "errtest" (a small range and
# a THP) and "errdiscard" (16 MiB more); then Live Update preserves
# refused and withdrawn must change nothing, and session
# "errluo-withdrawn", withdrawn, stays open (held) over the kexec. Stage 2
# retrieves errtest and runs the cases on it, retrieves errdiscard and
# closes it unmapped (its memory must come back), and checks that neither
# errluo-withdrawn nor errpreserved (withdrawn in stage 1) came along.
# Details: khopages_errors.c.
. /lib/khopages/guest-lib.sh

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	[ -c /dev/liveupdate ] ||
		fail "no /dev/liveupdate: this kernel runs without Live Update (liveupdate=on)"
	run_step /host/errors-outgoing.log khopages_errors outgoing
	run_step /host/errors-handover.log \
		khopages_errors handover errtest /host/errtest.records /tmp/errtest.holder
	run_step /host/errors-handover-discard.log \
		khopages_errors handover errdiscard /host/errdiscard.records /tmp/errdiscard.holder 16
	run_step /host/errors-liveupdate.log khopages_errors liveupdate
	kexec_next_stage
	;;
2)
	run_step /host/errors-incoming.log khopages_errors incoming errtest /host/errtest.records
	run_step /host/errors-discard.log khopages_errors discard errdiscard /host/errdiscard.records
	run_step /host/errors-absent.log khopages_errors absent errluo-withdrawn errpreserved
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
