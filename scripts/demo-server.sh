#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo-server: a Debian 12 server (systemd as PID 1, Debian's
# redis-server.service) upgraded from Linux 7.2 to 7.3 by
# `khopages-upgrade --unit redis-server.service --kernel /boot/vmlinuz-7.3...`
# while a client on the host keeps one TCP connection to Redis and sends
# commands all through it; once with KHO (the memory stays on its frames),
# once with plain CRIU (--no-kho: the memory goes through the disk). Both
# runs are test/server/run.sh; this prints them side by side.
#
#   demo-server.sh [--size MiB]     (default 256)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

size=256
while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=$2; shift 2 ;;
	*) die "demo-server: unknown option $1" ;;
	esac
done

for mode in kho plain; do
	how="khopages-upgrade"
	[ "$mode" = kho ] || how="$how --no-kho"
	log "demo-server: the upgrade with $how"
	"$TOP/test/server/run.sh" --mode "$mode" --mib "$size" --name "demo-server-$mode" ||
		die "demo-server: the $mode run failed (see above)"
done

K=$CACHE/runs/demo-server-kho P=$CACHE/runs/demo-server-plain
fig() { sed -n "s/^$2 //p" "$1/fig" "$1/host.fig" 2>/dev/null | tail -n 1; }
res() { sed -n "s/^$2=//p" "$1/client.result"; }
dark() { sed -n 's/.*restore: about \([0-9.]*\) s without service.*/\1/p' "$1/upgrade.log" | tail -n 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
during() { echo $(($(fig "$1" commands_at_restore) - $(fig "$1" commands_at_upgrade))); }
row() { printf '  %-44s %-26s %s\n' "$@"; }

echo
echo "Debian 12, systemd, redis-server.service with $size MiB; a client on the host"
echo "through QEMU's user network, one TCP connection, a command at a time:"
echo
row "" "khopages-upgrade (KHO)" "khopages-upgrade --no-kho"
rel() { fig "$1" "$2" | sed 's/-khopages$//'; }
row "kernel before -> after (-khopages)" "$(rel "$K" kernel_before) -> $(rel "$K" kernel_after)" \
	"$(rel "$P" kernel_before) -> $(rel "$P" kernel_after)"
row "main pid before = after" "$(cat "$K/check.after.pid")" "$(cat "$P/check.after.pid")"
row "keys, sample of 500 read back" "$(fig "$K" keys), same" "$(fig "$P" keys), same"
row "pages on the frames they had" "$(fig "$K" frames_same) of $(fig "$K" frames_both)" \
	"$(fig "$P" frames_same) of $(fig "$P" frames_both)"
row "pages handed over in RAM (KHO)" "$(fig "$K" pages_handed_over)" "-"
row "pages written into the images (disk)" "$(fig "$K" pages_written) ($(mib $(($(fig "$K" pages_written) * 4096))))" \
	"$(fig "$P" pages_written) ($(mib $(($(fig "$P" pages_written) * 4096))))"
row "service dark (guest's clock, to a second)" "$(dark "$K") s" "$(dark "$P") s"
row "client: longest stall" "$(res "$K" longest_stall_s) s" "$(res "$P" longest_stall_s) s"
row "client: commands answered, all of the run" "$(res "$K" commands)" "$(res "$P" commands)"
row "client: answered from the upgrade's start" "$(during "$K")" "$(during "$P")"
row "  (khopages-upgrade) to the restore" "" ""
row "client: reconnects, wrong replies" "$(res "$K" reconnects), $(res "$K" wrong)" \
	"$(res "$P" reconnects), $(res "$P" wrong)"
echo
echo "Every step: $K/upgrade.log, $P/upgrade.log; the frames on the"
echo "guest's NIC: net.pcap beside them."
