#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo: in the QEMU guest, processes hold memory (THP-backed and
# physically scattered), /dev/khopages hands it to the next kernel through
# KHO, the guest kexecs, and new processes map the very same frames back
# and check every byte. Prints what happened, with the figures.
#   demo.sh [--size MIB]   (memory per layout, default 512)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

mib=512
while [ $# -gt 0 ]; do
	case "$1" in
	--size) mib=$2; shift 2 ;;
	*) die "usage: demo.sh [--size MIB]" ;;
	esac
done
mem=$(( (2 * mib + 1536) / 1024 + 1 ))G

log "booting kernel A in QEMU (TCG, $mem), holding 2 x $mib MiB, kexec with KHO"
start=$(date +%s.%N)
if ! "$here/vm-run.sh" --name demo --mem "$mem" --set "mib=$mib" --timeout 900 \
	"$here/guest/demo.sh"; then
	die "demo failed; serial log kept in $CACHE/runs/demo/console.log"
fi
secs=$(echo "$(date +%s.%N) - $start" | bc)
run=$CACHE/runs/demo
value() { sed -n "s/^$2 //p" "$run/$1"; }

printf '\n  kernel before kexec: %s\n' "$(cat "$run/kernel-release.1")"
printf '  kernel after kexec:  %s\n' "$(cat "$run/kernel-release.2")"
printf '  handover:            %s\n\n' "$(grep -ao 'KHO: exec from: .*' "$run/console.log" | tr -d '\r' | tail -n1)"
printf '  %-10s %8s %10s %12s %12s %10s %14s %10s\n' layout MiB folios meta-B/page \
	preserve-ms map-ms same-frames wrong
for layout in thp scattered; do
	printf '  %-10s %8s %10s %12s %12s %10s %14s %10s\n' "$layout" \
		"$(value "$layout/fill.txt" mib)" "$(value "$layout/fill.txt" folios)" \
		"$(value "$layout/fill.txt" meta_bytes_per_page)" \
		"$(value "$layout/fill.txt" preserve_ms)" "$(value "$layout/map.txt" map_ms)" \
		"$(value "$layout/map.txt" same_pfn)" "$(value "$layout/map.txt" words_wrong)"
done
printf '\n  sessions seen by the new kernel before mapping:\n'
sed 's/^/    /' "$run/sessions-after.txt"
printf '\n  khopages trace events written before the kexec, read in the new kernel:\n'
sed 's/^ */    /' "$run/trace-before-kexec.txt" | cut -c1-150
printf '\n  wall time (boot + hold + kexec + boot + map + verify): %.1f s\n\n' "$secs"
