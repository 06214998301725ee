# SPDX-License-Identifier: GPL-2.0
# Guest test: the failure paths of /dev/khopages. Stage 1 runs the cases
# that need no kexec, then commits two sessions: "errtest" (a small range
# and a THP) and "errdiscard" (16 MiB more). Stage 2 runs the cases on an
# incoming session with errtest, and discards errdiscard unopened. Between
# them, "fence" makes republishing fail (COMMIT and FINISH must fail and
# change nothing) and seals the handover as a kexec does (every changing
# command must then fail with ESHUTDOWN).
# Details: khopages_errors.c.
. /lib/khopages/guest-lib.sh

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	run_step /host/errors-outgoing.log khopages_errors outgoing
	run_step /host/errors-commit.log khopages_errors commit errtest /host/errtest.records
	run_step /host/errors-commit-discard.log \
		khopages_errors commit errdiscard /host/errdiscard.records 16
	# A failed republish; then the handover sealed as a kexec seals it:
	# errtest and errdiscard must still arrive whole.
	run_step /host/errors-fence.log khopages_errors fence
	kexec_next_stage
	;;
2)
	run_step /host/errors-incoming.log khopages_errors incoming errtest /host/errtest.records
	run_step /host/errors-discard.log khopages_errors discard errdiscard /host/errdiscard.records
	# Nothing of the fence's sessions came along: finished or aborted.
	khopagesctl list | grep -q fence- && fail "a fence-* session was handed over"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
