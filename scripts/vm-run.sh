#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run a guest test script in QEMU (TCG) across one or more KHO kexecs.
#
#   vm-run.sh [options] GUEST_SCRIPT
#     --name NAME       run directory $CACHE/runs/NAME (default: script name)
#     --kernel IMG      kernel to boot first (default: the guest build)
#     --next-kernel IMG the kernel each kexec goes to unless the script names
#                       one (default: the first kernel again); with --kernel,
#                       a run across kernel versions
#     --kernel-b IMG    another kernel, visible in the guest as /host/boot/kernel-B
#     --initrd IMG      initramfs (default: the guest build)
#     --share DIR       a host directory the guest may mount read-only:
#                       mount -t 9p -o trans=virtio,version=9p2000.L share DIR
#     --mem SIZE        guest memory (default 2G)
#     --timeout SEC     whole-run limit (default 300)
#     --no-kho          boot without kho=on (to show that tests notice)
#     --append ARGS     extra kernel parameters
#     --disk IMG        boot the server guest instead: IMG (raw ext4, from
#                       scripts/build-server-guest.sh) under a copy-on-write
#                       overlay in the run directory, root=/dev/vda, no
#                       initramfs; its test agent runs the script once per boot
#     --hostfwd H:G     (with --disk) QEMU's user network, host port
#                       127.0.0.1:H forwarded to the guest's TCP port G
#     --set KEY=VALUE   a parameter for the guest script (guest: param KEY)
# The guest script runs as `sh guest.sh STAGE` in /host (the run directory,
# shared over 9p), once per boot (the busybox guest's /init, or the server
# guest's khopages-test-agent.service). Exit code: 0 when the guest wrote PASS
# to /host/verdict, 1 on FAIL or no verdict, 124 on timeout. The serial
# console goes to RUN_DIR/console.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

kernel=$CACHE/build/guest/kernel-A
kernel_b="" kernel_next="" share="" disk="" hostfwd=""
initrd=$CACHE/build/guest/initrd.img
mem=2G timeout=300 kho="kho=on liveupdate=on" name="" extra=""
params=()
while [ $# -gt 1 ]; do
	case "$1" in
	--name) name=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--next-kernel) kernel_next=$2; shift 2 ;;
	--kernel-b) kernel_b=$2; shift 2 ;;
	--initrd) initrd=$2; shift 2 ;;
	--share) share=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--no-kho) kho=""; shift ;;
	--append) extra="$extra $2"; shift 2 ;;
	--set) params+=("$2"); shift 2 ;;
	--disk) disk=$2; shift 2 ;;
	--hostfwd) hostfwd=$2; shift 2 ;;
	*) die "vm-run: unknown option $1" ;;
	esac
done
[ $# = 1 ] || die "usage: vm-run.sh [options] GUEST_SCRIPT"
script=$1
[ -f "$script" ] || die "vm-run: no guest script $script"
[ -f "$kernel" ] && { [ -n "$disk" ] || [ -f "$initrd" ]; } ||
	die "vm-run: kernel or initrd missing: run 'make guest'"
[ -z "$disk" ] || [ -f "$disk" ] || die "vm-run: no disk image $disk: run 'make server-guest'"
[ -z "$hostfwd" ] || [ -n "$disk" ] || die "vm-run: --hostfwd needs --disk"
[ -z "$share" ] || [ -d "$share" ] || die "vm-run: no directory $share to share"
name=${name:-$(basename "$script" .sh)}
run=$CACHE/runs/$name

rm -rf "$run" && mkdir -p "$run/boot"
cp "$script" "$run/guest.sh"
printf '%s\n' "${params[@]}" >"$run/params"
if [ -z "$disk" ]; then
	ln "$initrd" "$run/boot/initrd.img" 2>/dev/null || cp "$initrd" "$run/boot/initrd.img"
fi
ln "$kernel" "$run/boot/kernel-A" 2>/dev/null || cp "$kernel" "$run/boot/kernel-A"
if [ -n "$kernel_b" ]; then
	ln "$kernel_b" "$run/boot/kernel-B" 2>/dev/null || cp "$kernel_b" "$run/boot/kernel-B"
fi
if [ -n "$kernel_next" ]; then
	[ -f "$kernel_next" ] || die "vm-run: no kernel $kernel_next"
	ln "$kernel_next" "$run/boot/kernel-next" 2>/dev/null ||
		cp "$kernel_next" "$run/boot/kernel-next"
fi

# The guest's TSC is the host's (TCG): its frequency is given, not left to
# a calibration against the emulated PIT that sometimes fails and leaves
# the guest on jiffies (see host-tsc-khz.c). Kexec'd kernels inherit it.
tsc_tool=$CACHE/build/host-tsc-khz
if [ ! -x "$tsc_tool" ] || [ "$here/host-tsc-khz.c" -nt "$tsc_tool" ]; then
	mkdir -p "$CACHE/build"
	gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$tsc_tool.$$" "$here/host-tsc-khz.c" &&
		mv "$tsc_tool.$$" "$tsc_tool" || die "vm-run: cannot build $tsc_tool"
fi
tsc_khz=$("$tsc_tool") || die "vm-run: cannot measure the host's TSC"

# The persistent trace instance lives in a reserve_mem region, which KHO
# hands over; both kernels keep the same command line for it.
cmdline="console=ttyS0 panic=-1 oops=panic $kho kho_scratch=16M,256M,64M"
cmdline="$cmdline reserve_mem=12M:4096:trace trace_instance=boot_map@trace"
cmdline="$cmdline tsc_early_khz=$tsc_khz khop_stage=1$extra"

share_args=()
[ -z "$share" ] ||
	share_args=(-virtfs "local,path=$share,mount_tag=share,security_model=none,readonly=on,id=share")

# The server guest: its root file system is the image under an overlay that
# lives and dies with the run (the image stays as built), and the busybox
# guest's initramfs is not used. Its NIC keeps one MAC and the guest one
# address (static, 10.0.2.15) across every kexec.
boot_args=(-initrd "$initrd")
if [ -n "$disk" ]; then
	qemu-img create -q -f qcow2 -F raw -b "$disk" "$run/disk.qcow2" ||
		die "vm-run: cannot create an overlay on $disk"
	boot_args=(-drive "file=$run/disk.qcow2,if=virtio,format=qcow2,cache=unsafe")
	cmdline="$cmdline root=/dev/vda rw khop_test=1"
	net="user,id=n0"
	[ -z "$hostfwd" ] || net="$net,hostfwd=tcp:127.0.0.1:${hostfwd%%:*}-:${hostfwd#*:}"
	# Every frame between the user network and the guest, both ways, in
	# RUN_DIR/net.pcap: what a client's connection saw around an upgrade.
	boot_args+=(-netdev "$net" -device "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56"
		-object "filter-dump,id=d0,netdev=n0,file=$run/net.pcap")
fi

# Without ERMS/FSRM the guest kernel copies and clears with 8-byte moves:
# TCG runs "rep movsb/stosb" a byte per step, which made every kernel
# memcpy, memset and page clear several times slower than on hardware.
set +e
timeout -k 10 "$timeout" qemu-system-x86_64 \
	-machine q35 -cpu max,erms=off,fsrm=off -smp 2 -m "$mem" \
	-display none -monitor none -no-reboot \
	-serial "file:$run/console.log" \
	-kernel "$kernel" "${boot_args[@]}" -append "$cmdline" \
	-virtfs "local,path=$run,mount_tag=host,security_model=none,id=host" \
	"${share_args[@]}" </dev/null
qrc=$?
set -e
verdict=$(cat "$run/verdict" 2>/dev/null || true)
if [ "$qrc" = 124 ]; then
	echo "vm-run: $name: timed out after ${timeout}s (console: $run/console.log)" >&2
	tail -n 30 "$run/console.log" >&2 || true
	exit 124
fi
# A run across versions must have run stage 1 on the first kernel and
# every later stage on the next one: the guest's /init records uname -r.
check_releases() {
	local first next want f stage got
	first=$(kernel_release "$kernel")
	next=$(kernel_release "$kernel_next")
	for f in "$run"/kernel-release.*; do
		[ -f "$f" ] || continue
		stage=${f##*.}
		want=$next
		[ "$stage" = 1 ] && want=$first
		got=$(cat "$f")
		echo "vm-run: $name: stage $stage ran $got"
		[ "$got" = "$want" ] || {
			echo "vm-run: $name: stage $stage ran $got, not $want" >&2
			return 1
		}
	done
}
case "$verdict" in
PASS)
	[ -z "$kernel_next" ] || check_releases || exit 1
	exit 0 ;;
*)
	echo "vm-run: $name: ${verdict:-no verdict (qemu exit $qrc)} (console: $run/console.log)" >&2
	tail -n 30 "$run/console.log" >&2 || true
	exit 1 ;;
esac
