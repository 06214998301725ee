# SPDX-License-Identifier: GPL-2.0
# Guest test: a --kho-pages checkpoint restored in the same kernel (the
# upgrade called off). Without CRIU_KHOPAGES_SAME_KERNEL=1 the restore is
# refused and the checkpoint stays held for the kexec; with it criu takes
# the session back from its Live Update session, the driver copies the
# pages back, the tree verifies all its memory and nothing is left behind.
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

WL=/host/wl IMG=/host/img S=t-same

[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
no_sessions || fail "sessions exist before the test"
mkdir -p "$IMG"
start_workload "$WL" 32
# shellcheck disable=SC2086
CRIU_KHOPAGES_SESSION=$S criu dump -t "$(wl_pid "$WL")" -D "$IMG" $CRIU_OPTS --kho-pages \
	-o dump.log || { tail -n 20 "$IMG/dump.log"; fail "dump failed"; }
[ "$(session_state $S)" = preserved ] || fail "the session is not preserved after the dump"
read -r holder _ <"$IMG/kho-luo-holder.pid" || fail "no kho-luo-holder.pid in the images"
# shellcheck disable=SC2086
expect_fail "restore before the kexec" "the checkpoint is held for the kexec by process $holder" \
	"$IMG/r0.log" criu restore -D "$IMG" $CRIU_OPTS --kho-pages -d -o r0.log
[ "$(session_state $S)" = preserved ] || fail "the refused restore changed session $S"
kill -0 "$holder" || fail "the refused restore ended the holder"
wl_all_gone "$WL" || fail "the refused restore left tasks behind"
# shellcheck disable=SC2086
CRIU_KHOPAGES_SAME_KERNEL=1 criu restore -D "$IMG" $CRIU_OPTS --kho-pages -d -o restore.log ||
	{ tail -n 30 "$IMG/restore.log"; fail "same-kernel restore failed"; }
wl_cmd "$WL" V || fail "the tree restored in place has wrong memory"
no_sessions || fail "a session is left after the restore in place"
grep -q "upgrade called off: Live Update session $S closed" "$IMG/restore.log" ||
	fail "the restore did not take the session back from Live Update"
! kill -0 "$holder" 2>/dev/null || fail "the holder still runs after the restore in place"
[ -z "$(khopagesctl luo | tail -n +2)" ] || fail "a Live Update session is left: $(khopagesctl luo)"
pass
