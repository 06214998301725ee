#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A Debian server's kernel upgrade under a client that stays connected.
#
#   test/server/run.sh [--mode kho|plain|fresh] [--mib N] [--name NAME]
#
# Boots the server guest (scripts/build-server-guest.sh: Debian 12, systemd,
# Debian's redis-server.service) on Linux 7.2 with the guest's Redis port
# forwarded to a free port on the host's loopback, fills Redis with N MiB
# (default 64), starts test/server's redis_client on the host (one TCP
# connection, a command at a time, every reply checked), and lets the guest
# run `khopages-upgrade --unit redis-server.service --kernel
# /boot/vmlinuz-<7.3>` (--no-kho with --mode plain). The guest restores the
# unit on 7.3 before its normal start; the client goes on for 5 s after the
# guest says it is restored. Passes when the guest's checks pass (same main
# pid, data and, with kho, frames) and the client saw every reply right on
# the same socket: no reconnect. Prints the figures, with the client's
# longest stall; they stay in $CACHE/runs/NAME/fig and client.result.
# --mode fresh upgrades into a kernel without Live Update: the restore
# fails, and passing means the journal says so and the unit starts fresh
# (the guest's checks), and the client, whose connection is gone, is
# answered again after reconnecting.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

mode=kho mib=64 name=""
while [ $# -gt 0 ]; do
	case "$1" in
	--mode) mode=$2; shift 2 ;;
	--mib) mib=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	*) die "server/run.sh: unknown option $1" ;;
	esac
done
case "$mode" in kho|plain|fresh) ;; *) die "server/run.sh: --mode is kho, plain or fresh" ;; esac
name=${name:-server-$mode}
SRV=$CACHE/build/server
CLIENT=$CACHE/build/user/redis_client
[ -f "$SRV/server.img" ] && [ -f "$SRV/kernels" ] ||
	die "no server guest in $SRV: run 'make server-guest'"
[ -x "$CLIENT" ] || die "no $CLIENT: run 'make test-programs'"
read -r old new <"$SRV/kernels"
run=$CACHE/runs/$name

# A free port on the host's loopback for QEMU to forward.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

rm -rf "$run"
log "$name: booting the server guest ($old), Redis on 127.0.0.1:$port"
"$TOP/scripts/vm-run.sh" --name "$name" --disk "$SRV/server.img" \
	--kernel "$SRV/vmlinuz-$old" --next-kernel "$SRV/vmlinuz-$new" \
	--hostfwd "$port:6379" --mem 3G --timeout 900 \
	--set mode="$mode" --set mib="$mib" --set kernel_new="$new" \
	"$here/guest/server-upgrade.sh" &
vm=$!
client=""
cleanup() {
	[ -z "$client" ] || kill "$client" 2>/dev/null || true
	kill "$vm" 2>/dev/null || true
}
trap cleanup EXIT

# wait_for FILE SECONDS: until FILE exists; 1 if the VM ended first or the
# time ran out.
wait_for() {
	local n=0
	while [ ! -e "$1" ]; do
		kill -0 "$vm" 2>/dev/null || return 1
		n=$((n + 1))
		[ "$n" -gt $(($2 * 5)) ] && return 1
		sleep 0.2
	done
}
vm_result() {
	local rc=0
	wait "$vm" || rc=$?
	vm=""
	return "$rc"
}

if ! wait_for "$run/ready" 600; then
	vm_result || true
	die "$name: the guest never got Redis ready (console: $run/console.log)"
fi
log "$name: Redis ready (pid $(cat "$run/ready")); starting the client"
"$CLIENT" --port "$port" --db 1 --out "$run/client.result" \
	--stop-file "$run/client.stop" --max-seconds 900 >"$run/client.out" 2>&1 &
client=$!
# Commands flow before the upgrade starts.
n=0
until [ "$(sed -n 's/^commands=//p' "$run/client.result.progress" 2>/dev/null || echo 0)" -ge 200 ]; do
	kill -0 "$client" 2>/dev/null || die "$name: the client ended: $(cat "$run/client.out")"
	n=$((n + 1))
	[ "$n" -lt 300 ] || die "$name: the client has not answered 200 commands in 60 s"
	sleep 0.2
done
progress() { sed -n "s/^$1=//p" "$run/client.result.progress" 2>/dev/null; }
touch "$run/client-running"
echo "commands_at_upgrade $(progress commands)" >"$run/host.fig"
log "$name: the client runs; the guest upgrades"
if wait_for "$run/restored" 600; then
	echo "commands_at_restore $(progress commands)" >>"$run/host.fig"
	# The connection wakes when the user network retransmits or the
	# restored socket probes: until then the client is still stalled.
	n=0
	until awk -v s="$(progress since_reply_s)" 'BEGIN { exit !(s != "" && s < 1) }'; do
		n=$((n + 1))
		[ "$n" -lt 600 ] || break
		sleep 0.2
	done
	log "$name: restored, the client answered again; it goes on for 5 s"
	sleep 5
fi
touch "$run/client.stop"
crc=0
wait "$client" || crc=$?
client=""
echo "client_stop_epoch $(date +%s.%N)" >>"$run/host.fig"
cat "$run/client.out"
touch "$run/client-done"
vrc=0
vm_result || vrc=$?

fig() { sed -n "s/^$1 //p" "$run/fig" 2>/dev/null | tail -n 1; }
res() { sed -n "s/^$1=//p" "$run/client.result" 2>/dev/null; }
printf '%s: %s -> %s, %s MiB, %s keys; frames %s of %s the same\n' "$name" \
	"$(fig kernel_before)" "$(fig kernel_after)" "$mib" "$(fig keys)" \
	"$(fig frames_same)" "$(fig frames_both)"
printf '%s: client: %s commands, longest stall %s s, reconnects %s, wrong replies %s\n' \
	"$name" "$(res commands)" "$(res longest_stall_s)" "$(res reconnects)" "$(res wrong)"
# khopages-upgrade's own log of its steps (each line starts with its time).
cut -d' ' -f2- "$run/upgrade.log" 2>/dev/null | sed "s/^/$name: upgrade: /" || true

if [ "$mode" = fresh ]; then
	[ "$vrc" = 0 ] || die "$name: the guest's checks failed (see above; $run)"
	[ "$(res reconnects)" -ge 1 ] && grep -q '^connected=1' "$run/client.result.progress" ||
		die "$name: the client did not get through to the fresh server ($run/client.result)"
	log "$name: passed (the restore failed as it had to; the unit started fresh)"
	exit 0
fi
# The connection on the wire (the guest's NIC): the silence, what the user
# network retransmitted into it, the windows, no RST.
trc=0
python3 "$here/tcp_view.py" "$run/net.pcap" --check \
	--until "$(sed -n 's/^client_stop_epoch //p' "$run/host.fig")" >"$run/tcp.view" || trc=$?
sed "s/^/$name: wire: /" "$run/tcp.view"

[ "$vrc" = 0 ] || die "$name: the guest's checks failed (see above; $run)"
[ "$trc" = 0 ] || die "$name: $(grep -m1 '^FAIL' "$run/tcp.view" || echo "tcp_view.py failed")"
[ "$crc" = 0 ] || die "$name: the client saw a reconnect or a wrong reply ($run/client.result)"
[ "$(res reconnects)" = 0 ] && [ "$(res wrong)" = 0 ] ||
	die "$name: reconnects $(res reconnects), wrong replies $(res wrong)"
log "$name: passed"
