# SPDX-License-Identifier: GPL-2.0
# Guest test: restores of --kho-pages images (checkpoints in Live Update
# sessions, the images also on /host) that cannot work fail early and
# clearly, and leave the handed over pages alone:
#  - in the same kernel, before any kexec      -> held for the kexec: the
#    session stays preserved with every page, its holder runs on
#  - without --kho-pages                       -> "Dumped with --kho-pages",
#    the Live Update session not even retrieved
#  - the session was discarded after the kexec -> not in this kernel
#  - without the plugin                        -> "Missing required plugin";
#    criu had retrieved the checkpoint: a holder keeps it, retrieved, with
#    every page, for the next attempt
#  - the session was already restored          -> not in this kernel
# and a good restore still works after the failed attempts, with every
# page of its session.
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

WL1=/host/wl1 IMG1=/host/img1 S1=t-one
WL2=/host/wl2 IMG2=/host/img2 S2=t-two

# running PID: the process is there and no zombie (its files are open).
running() {
	[ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# expect_held S STATE PAGES HOLDER WHAT: session S is in STATE with PAGES
# pages, none mapped, and process HOLDER still keeps it.
expect_held() {
	local s=$1 state=$2 pages=$3 holder=$4 what=$5
	[ "$(session_state "$s")" = "$state" ] ||
		fail "$what: session $s is '$(session_state "$s")', not $state"
	[ "$(khopagesctl stats "$s" | sed -n 's/^pages: *\([0-9]*\).*/\1/p')" = "$pages" ] ||
		fail "$what: session $s does not hold its $pages pages any more"
	[ "$(khopagesctl stats "$s" | sed -n 's/^mapped: *\([0-9]*\).*/\1/p')" = 0 ] ||
		fail "$what: pages of session $s were mapped"
	running "$holder" || fail "$what: the holder $holder of session $s is gone"
}

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
	khopagesctl luo
	holder=$(holder_pid "$IMG1") || fail "dump 1 left no holder file"
	pages=$(khopagesctl stats $S1 | sed -n 's/^pages: *\([0-9]*\).*/\1/p')
	[ "${pages:-0}" -gt 0 ] || fail "session $S1 holds no page"
	echo "$pages" >/host/s1.pages
	expect_held $S1 preserved "$pages" "$holder" "after the dump"
	# shellcheck disable=SC2086
	expect_fail "restore before kexec" "the checkpoint is held for the kexec by process $holder" \
		"$IMG1/r0.log" criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -o r0.log
	expect_held $S1 preserved "$pages" "$holder" "after the restore before kexec"
	wl_all_gone "$WL1" || fail "the failed restore left tasks behind"
	sync
	kexec_next_stage
	;;
2)
	pages=$(cat /host/s1.pages)
	# Both are listed from boot on, waiting for their files.
	[ "$(session_state $S1)" = incoming ] && [ "$(session_state $S2)" = incoming ] ||
		fail "the sessions are not listed as incoming: $(khopagesctl list)"
	# shellcheck disable=SC2086
	expect_fail "restore without --kho-pages" "Dumped with --kho-pages" "$IMG1/r1.log" \
		criu restore -D "$IMG1" $CRIU_OPTS -d -o r1.log
	[ "$(session_state $S1)" = incoming ] ||
		fail "the restore without --kho-pages retrieved session $S1"
	wl_all_gone "$WL1" || fail "the failed restore left tasks behind"

	khopagesctl discard $S2 --luo || fail "cannot discard session $S2"
	[ -z "$(session_state $S2)" ] || fail "session $S2 is still listed after its discard"
	# shellcheck disable=SC2086
	expect_fail "restore of a discarded session" "session $S2 is not in this kernel" "$IMG2/r2.log" \
		criu restore -D "$IMG2" $CRIU_OPTS --kho-pages -d -o r2.log
	wl_all_gone "$WL2" || fail "the failed restore left tasks behind"
	# Without the plugin: criu retrieves the checkpoint from Live Update
	# before it loads the plugins; the failure leaves it to a holder.
	mkdir -p /tmp/no-plugins
	# shellcheck disable=SC2086
	expect_fail "restore without the plugin" "Missing required plugin: khopages_plugin" "$IMG1/r3.log" \
		criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -L /tmp/no-plugins -o r3.log
	wl_all_gone "$WL1" || fail "the failed restore left tasks behind"
	holder=$(sed -n "s/.*Live Update session $S1 is kept by process \([0-9]*\);.*/\1/p" "$IMG1/r3.log")
	[ -n "$holder" ] || fail "the restore without the plugin did not leave session $S1 to a holder"
	expect_held $S1 retrieved "$pages" "$holder" "after the restore without the plugin"

	# shellcheck disable=SC2086
	criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -o r4.log ||
		{ tail -n 30 "$IMG1/r4.log"; fail "the good restore failed after the failed ones"; }
	grep -q "restoring from session $S1: $pages pages" "$IMG1/r4.log" ||
		fail "session $S1 did not come back with its $pages pages"
	grep -q "Live Update session $S1 finished" "$IMG1/r4.log" ||
		fail "the good restore did not finish the Live Update session"
	wl_cmd "$WL1" V || fail "the restored tree is wrong"
	no_sessions || fail "session $S1 is still there after its restore"
	wl_cmd "$WL1" Q || fail "the tree did not quit"
	for _ in $(seq 30); do wl_all_gone "$WL1" && break; sleep 1; done

	# shellcheck disable=SC2086
	expect_fail "second restore of a restored session" "session $S1 is not in this kernel" \
		"$IMG1/r5.log" criu restore -D "$IMG1" $CRIU_OPTS --kho-pages -d -o r5.log
	wl_all_gone "$WL1" || fail "the failed restore left tasks behind"
	no_sessions || fail "sessions are left at the end"
	[ "$(khopagesctl luo)" = "no Live Update session is open" ] ||
		fail "a Live Update session is left: $(khopagesctl luo)"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
