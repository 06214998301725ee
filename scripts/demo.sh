#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo: boot the test VM, kexec into the next kernel through KHO and
# show what the new kernel received.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

log "booting kernel A in QEMU (TCG), writing a trace event, kexec with KHO"
start=$(date +%s.%N)
if ! "$here/vm-run.sh" --name demo --timeout 300 "$TOP/test/vm/kho-handover.sh"; then
	die "demo failed; serial log kept in $CACHE/runs/demo/console.log"
fi
secs=$(echo "$(date +%s.%N) - $start" | bc)
run=$CACHE/runs/demo
printf '\n  kernel before kexec: %s\n' "$(cat "$run/kernel-release.1")"
printf '  kernel after kexec:  %s\n' "$(cat "$run/kernel-release.2")"
printf '  handover:            %s\n' "$(grep -o 'KHO: exec from: .*' "$run/console.log" | tr -d '\r' | tail -n1)"
printf '  trace across kexec:  %s\n' "$(grep -o 'trace: .*' "$run/console.log" | tr -d '\r' | tail -n1)"
printf '  wall time (boot + kexec + boot): %.1f s\n\n' "$secs"
