# SPDX-License-Identifier: GPL-2.0
# Guest test: --kho-pages is refused, with a clear message and before
# anything is taken, in combinations that cannot work with a zero-copy
# handover, and without a plugin implementing the hooks.
. /lib/khopages/guest-lib.sh
. /lib/khopages/criu-test-lib.sh

[ "$1" = 1 ] || fail "unexpected stage $1"
no_sessions || fail "sessions exist before the test"
WL=/host/wl
IMG=/host/img
start_workload "$WL" 16
pid=$(wl_pid "$WL")
mkdir -p "$IMG" /host/parent /tmp/no-plugins

refused() {
	local what=$1 pattern=$2
	shift 2
	expect_fail "$what" "$pattern" "$IMG/opt.log" "$@" -D "$IMG" $CRIU_OPTS -o opt.log
	wl_all_alive "$WL" || fail "$what: the tree did not survive"
}

msg="--kho-pages cannot be combined with"
refused "dump --leave-running" "$msg --leave-running" criu dump -t "$pid" --kho-pages --leave-running
refused "dump -R" "$msg --leave-running" criu dump -t "$pid" --kho-pages -R
refused "pre-dump" "$msg pre-dump" criu pre-dump -t "$pid" --kho-pages
refused "dump --track-mem" "$msg --track-mem" criu dump -t "$pid" --kho-pages --track-mem
refused "dump --prev-images-dir" "$msg --prev-images-dir" \
	criu dump -t "$pid" --kho-pages --prev-images-dir=../parent
refused "dump --auto-dedup" "$msg --auto-dedup" criu dump -t "$pid" --kho-pages --auto-dedup
refused "dump --lazy-pages" "$msg --lazy-pages" criu dump -t "$pid" --kho-pages --lazy-pages
refused "dump --page-server" "$msg --page-server" \
	criu dump -t "$pid" --kho-pages --page-server --address 127.0.0.1 --port 27
refused "restore --lazy-pages" "$msg --lazy-pages" criu restore --kho-pages --lazy-pages
refused "restore --auto-dedup" "$msg --auto-dedup" criu restore --kho-pages --auto-dedup
refused "check --kho-pages" "only valid for dump and restore" criu check --kho-pages
refused "dump without the plugin" "needs a plugin that implements the KHO_PRESERVE_PAGES hook" \
	criu dump -t "$pid" --kho-pages -L /tmp/no-plugins
no_sessions || fail "a refused dump left a session"
wl_cmd "$WL" V || fail "the tree is wrong after the refused dumps"
wl_cmd "$WL" Q || fail "the tree did not quit"
pass
