# SPDX-License-Identifier: GPL-2.0
# Guest test: restores of --kho-pages images that cannot work fail early
# and clearly, and leave the handed over pages alone:
#  - in the same kernel, before any kexec      -> the session is not incoming
#  - without the plugin                        -> "Missing required plugin"
#  - without --kho-pages                       -> "Dumped with --kho-pages"
#  - the session was discarded after the kexec -> not in this kernel
#  - the session was already restored (finished) -> not in this kernel
# and a good restore still works after the failed attempts.
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

# The checkpoints are COMMITted to the driver's own handover, so that their
# sessions are offered (and can be discarded) without a Live Update
# session; same-kernel.sh has the refusal of a restore before the kexec
# through Live Update.
export CRIU_KHOPAGES_LUO=0

WL1=/host/wl1 IMG1=/host/img1 S1=t-one
WL2=/host/wl2 IMG2=/host/img2 S2=t-two

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	no_sessions || fail "sessions exist before the test"
	mkdir -p "$IMG1" "$IMG2"
	start_workload "$WL1" 32
	# shellcheck disable=SC2086
	CRIU_KHOPAGES_SESSION=$S1 criu dump -t "$(wl_pid "$WL1")" -D "$IMG1" $CRIU_OPTS --kho-pages \
		-o dump.log || { tail -n 20 "$IMG1/dump.log"; fail "dump 1 failed"; }
	LAST_PID=31000 start_workload "$WL2" 16
	# shellcheck disable=SC2086
	CRIU_KHOPAGES_SESSION=$S2 criu dump -t "$(wl_pid "$WL2")" -D "$IMG2" $CRIU_OPTS --kho-pages \
		-o dump.log || { tail -n 20 "$IMG2/dump.log"; fail "dump 2 failed"; }
	khopagesctl list
	# shellcheck disable=SC2086
	expect_fail "restore before kexec" "session $S1 is committed, not incoming" "$IMG1/r0.log" \
		criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -o r0.log
	[ "$(session_state $S1)" = committed ] || fail "the failed restore changed session $S1"
	wl_all_gone "$WL1" || fail "the failed restore left tasks behind"
	sync
	kexec_next_stage
	;;
2)
	khopagesctl list
	[ "$(session_state $S1)" = incoming ] && [ "$(session_state $S2)" = incoming ] ||
		fail "the sessions did not come through the kexec"
	mkdir -p /tmp/no-plugins
	# shellcheck disable=SC2086
	expect_fail "restore without the plugin" "Missing required plugin: khopages_plugin" "$IMG1/r1.log" \
		criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -L /tmp/no-plugins -o r1.log
	# shellcheck disable=SC2086
	expect_fail "restore without --kho-pages" "Dumped with --kho-pages" "$IMG1/r2.log" \
		criu restore -D "$IMG1" $CRIU_OPTS -d -o r2.log
	[ "$(session_state $S1)" = incoming ] || fail "a failed restore changed session $S1"

	khopagesctl discard $S2 || fail "cannot discard session $S2"
	# shellcheck disable=SC2086
	expect_fail "restore of a discarded session" "session $S2 is not in this kernel" "$IMG2/r3.log" \
		criu restore -D "$IMG2" $CRIU_OPTS --kho-pages -d -o r3.log
	wl_all_gone "$WL2" || fail "the failed restore left tasks behind"

	# shellcheck disable=SC2086
	criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -o r4.log ||
		{ tail -n 30 "$IMG1/r4.log"; fail "the good restore failed after the failed ones"; }
	wl_cmd "$WL1" V || fail "the restored tree is wrong"
	no_sessions || fail "session $S1 is still there after its restore"
	wl_cmd "$WL1" Q || fail "the tree did not quit"
	for i in $(seq 30); do wl_all_gone "$WL1" && break; sleep 1; done

	# shellcheck disable=SC2086
	expect_fail "second restore of a finished session" "session $S1 is not in this kernel" \
		"$IMG1/r5.log" criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -o r5.log
	wl_all_gone "$WL1" || fail "the failed restore left tasks behind"
	no_sessions || fail "sessions are left at the end"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
