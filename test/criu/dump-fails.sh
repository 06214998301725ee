# SPDX-License-Identifier: GPL-2.0
# Guest test: a dump with --kho-pages that fails gives every page back.
#  1. Child 2 of the tree holds an established TCP connection, which CRIU
#     refuses without --tcp-established. Tasks are dumped parent first, so
#     the parent's and child 1's pages are already preserved when the dump
#     fails at child 2's files: the session must be aborted.
#  2. The dump itself succeeds and the session is handed over, but the
#     post-dump action script fails: the tasks resume, so the handed-over
#     session must be withdrawn.
# After each, no session and no preserved page may be left (khopagesctl
# list, debugfs), and the tree runs on with correct memory.
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

[ "$1" = 1 ] || fail "unexpected stage $1"
[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
no_sessions || fail "sessions exist before the test"

# --- 1: refused resource after the memory of two tasks was taken
WL=/host/wl-tcp
IMG=/host/img-tcp
start_workload "$WL" 32 tcp
mkdir -p "$IMG"
# shellcheck disable=SC2086
expect_fail "dump of a tree with a TCP connection" "Connected TCP socket" "$IMG/dump.log" \
	criu dump -t "$(wl_pid "$WL")" -D "$IMG" $CRIU_OPTS --kho-pages -o dump.log
grep -q 'khopages: task .*: preserved' "$IMG/dump.log" ||
	fail "no page was preserved before the dump failed: the test does not test the abort"
echo "preserved before the failure: $(grep -c 'khopages: task .*: preserved' "$IMG/dump.log") ranges"
grep -q 'khopages: dump failed: session .* aborted' "$IMG/dump.log" ||
	fail "the plugin did not abort the session"
no_sessions || fail "a session is left after the failed dump"
[ ! -e "$IMG/khopages-plugin.img" ] || fail "the plugin image of the failed dump is still there"
wl_all_alive "$WL" || fail "the tree did not survive the failed dump"
wl_cmd "$WL" V || fail "the tree's memory is wrong after the failed dump"
wl_cmd "$WL" Q || fail "the tree did not quit"

# --- 2: the dump succeeds, the post-dump script fails
WL=/host/wl-script
IMG=/host/img-script
LAST_PID=31000 start_workload "$WL" 32
mkdir -p "$IMG"
cat >/tmp/fail-post-dump.sh <<'EOF'
#!/bin/sh
[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] && exit 7
exit 0
EOF
chmod +x /tmp/fail-post-dump.sh
# shellcheck disable=SC2086
expect_fail "dump with a failing post-dump script" "dump failed: session .* withdrawn" "$IMG/dump.log" \
	criu dump -t "$(wl_pid "$WL")" -D "$IMG" $CRIU_OPTS --kho-pages \
	--action-script /tmp/fail-post-dump.sh -o dump.log
grep -q 'khopages: session .* handed over' "$IMG/dump.log" ||
	fail "the session was not handed over before the script ran"
no_sessions || fail "a handed-over session is left after the post-dump script failed"
wl_all_alive "$WL" || fail "the tree did not resume after the post-dump script failed"
wl_cmd "$WL" V || fail "the tree's memory is wrong after the withdrawn handover"
wl_cmd "$WL" Q || fail "the tree did not quit"
pass
