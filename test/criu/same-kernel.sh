# SPDX-License-Identifier: GPL-2.0
# Guest test: a --kho-pages checkpoint restored in the same kernel (the
# upgrade called off): with CRIU_KHOPAGES_SAME_KERNEL=1 the committed
# session leaves the handover, the driver copies its pages back, the tree
# verifies all its memory and nothing is left behind.
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
[ "$(session_state $S)" = committed ] || fail "the session is not committed after the dump"
# shellcheck disable=SC2086
CRIU_KHOPAGES_SAME_KERNEL=1 criu restore -D "$IMG" $CRIU_OPTS --kho-pages -d -o restore.log ||
	{ tail -n 30 "$IMG/restore.log"; fail "same-kernel restore failed"; }
wl_cmd "$WL" V || fail "the tree restored in place has wrong memory"
no_sessions || fail "a session is left after the restore in place"
# It was the only committed session: the driver's subtree must be gone.
[ ! -e /sys/kernel/debug/kho/out/sub_fdts/khopages ] ||
	fail "the session is still in the outgoing handover"
pass
