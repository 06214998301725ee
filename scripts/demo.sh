#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo: a live kernel upgrade of an unmodified Redis server. In QEMU,
# Linux 7.2 (kernel A, Debian's linux-source-7.2 with khopages) runs
# Debian's redis-server filled with a dataset; CRIU checkpoints it with
# --kho-pages (its memory stays in RAM), the machine kexecs through KHO
# into Linux 7.3 (kernel B), CRIU restores Redis onto the same physical
# pages, and redis-cli proves that every key and byte is there (DBSIZE,
# DEBUG DIGEST, a sample read back) and that Redis keeps working. Then the
# same upgrade with plain CRIU (page images on the 9p share), and one table
# comparing both.
#
#   demo.sh [--size MIB] [--kho-only] [--rollback] [--no-build]
#     --size MIB   dataset size (Redis used_memory), default 1024
#     --kho-only   skip the plain-CRIU run
#     --rollback   the other way: from Linux 7.3 back to 7.2
#     --no-build   use the kernels and the initramfs as they are in the cache
# Exit code 0 only if both upgrades kept every key and byte.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

mib=1024 build=1 methods="kho plain" rollback=0
while [ $# -gt 0 ]; do
	case "$1" in
	--size) mib=$2; shift 2 ;;
	--kho-only) methods=kho; shift ;;
	--rollback) rollback=1; shift ;;
	--no-build) build=0; shift ;;
	*) die "usage: demo.sh [--size MIB] [--kho-only] [--rollback] [--no-build]" ;;
	esac
done
[[ "$mib" =~ ^[0-9]+$ ]] && [ "$mib" -ge 32 ] || die "--size wants MiB, at least 32"

# The guest's two kernels (make guest builds both): Linux 7.2 and 7.3.
KERNEL_A=$CACHE/build/guest/kernel-old
KERNEL_B=$CACHE/build/guest/kernel-A
if [ "$rollback" = 1 ]; then
	KERNEL_A=$CACHE/build/guest/kernel-A
	KERNEL_B=$CACHE/build/guest/kernel-old
fi
INITRD=$CACHE/build/guest/initrd.img
mkdir -p "$CACHE/runs"

if [ "$build" = 1 ]; then
	"$here/build-redis-guest.sh"
	[ -f "$INITRD" ] || die "no guest initramfs: run 'make guest'"
	if ! cpio -it --quiet <"$INITRD" 2>/dev/null | grep -qx 'usr/bin/redis-server'; then
		log "adding Redis to the guest initramfs"
		"$here/build-guest.sh" guest
	fi
fi
[ -f "$KERNEL_A" ] && [ -f "$KERNEL_B" ] && [ -f "$INITRD" ] ||
	die "the guest's kernels or initramfs are missing: run 'make guest'"

# Redis and criu restore need the dataset in RAM, plus room for the guest.
mem=$(( (3 * mib + 1536 + 255) / 256 * 256 ))
declare -A title=([kho]="criu --kho-pages, Live Update" [plain]="plain criu (9p)")

# Run one upgrade; print the guest's progress lines while it runs.
upgrade() {
	local method=$1 run timeout pid rc seen=0 n
	run=$CACHE/runs/demo-$method
	timeout=$((600 + mib))
	[ "$method" = kho ] || timeout=$((900 + 2 * mib))
	log "upgrade with ${title[$method]}: QEMU (TCG, guest on 1 CPU, $mem MiB), $(kernel_release "$KERNEL_A") -> $(kernel_release "$KERNEL_B"), $mib MiB of Redis data"
	"$here/vm-run.sh" --name "demo-$method" --kernel "$KERNEL_A" --kernel-b "$KERNEL_B" \
		--mem "${mem}M" --timeout "$timeout" --set "mode=$method" --set "mib=$mib" \
		"$here/guest/demo.sh" >"$CACHE/runs/demo-$method.out" 2>&1 &
	pid=$!
	show() {
		[ -f "$run/console.log" ] || return 0
		n=$(wc -l <"$run/console.log")
		[ "$n" -gt "$seen" ] || return 0
		sed -n "$((seen + 1)),${n}p" "$run/console.log" | tr -d '\r' |
			grep -aE '^(demo:|FAIL:|khop-guest: [0-9])' |
			while IFS= read -r line; do log "  guest: ${line#demo: }"; done || true
		seen=$n
	}
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		show
	done
	rc=0
	wait "$pid" || rc=$?
	show
	if [ "$rc" != 0 ]; then
		sed 's/^/    /' "$CACHE/runs/demo-$method.out" >&2
		die "the upgrade with ${title[$method]} FAILED: $(cat "$run/verdict" 2>/dev/null || echo "vm-run exit $rc"); serial log kept in $run/console.log"
	fi
}

for m in $methods; do
	upgrade "$m"
done

# ---- the figures ----------------------------------------------------------
fig() { sed -n "s/^$2 //p" "$CACHE/runs/demo-$1/fig" | tail -n 1; }
mtime() { stat -c %.9Y "$CACHE/runs/demo-$1/t.$2"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
bytes() {
	awk -v b="$1" 'BEGIN {
		if (b >= 1073741824) printf "%.2f GiB", b / 1073741824
		else if (b >= 1048576) printf "%.1f MiB", b / 1048576
		else printf "%.1f KiB", b / 1024 }'
}
check() { cat "$CACHE/runs/demo-$1/check.$2.$3"; }

dur() { calc %.2f "$(mtime "$1" "$3") - $(mtime "$1" "$2")"; }

declare -A row
for m in $methods; do
	dump=$(dur "$m" freeze dumped)
	kexec=$(dur "$m" kexec stage2)
	restore=$(dur "$m" restore serving)
	total=$(dur "$m" freeze serving)
	# The guest checked these; the host checks again from the files.
	for what in dbsize digest run_id pid; do
		[ "$(check "$m" before "$what")" = "$(check "$m" after "$what")" ] ||
			die "$m: $what differs (files in $CACHE/runs/demo-$m)"
	done
	cmp -s "$CACHE/runs/demo-$m/check.before.sample" "$CACHE/runs/demo-$m/check.after.sample" ||
		die "$m: the sample read back differs (files in $CACHE/runs/demo-$m)"
	[ "$(fig "$m" kernel_a)" = "$(kernel_release "$KERNEL_A")" ] &&
		[ "$(fig "$m" kernel_b)" = "$(kernel_release "$KERNEL_B")" ] ||
		die "$m: the guest ran $(fig "$m" kernel_a) -> $(fig "$m" kernel_b), not $(kernel_release "$KERNEL_A") -> $(kernel_release "$KERNEL_B")"
	row[$m,kernels]="$(fig "$m" kernel_a) -> $(fig "$m" kernel_b)"
	row[$m,data]="$(bytes "$(fig "$m" used_memory)")"
	row[$m,keys]="$(check "$m" before dbsize) = $(check "$m" after dbsize)"
	row[$m,digest]="same ($(check "$m" before digest | cut -c1-16)...)"
	row[$m,sample]="$(fig "$m" sample_keys) keys, $(bytes "$(stat -c %s "$CACHE/runs/demo-$m/check.after.sample")"), same"
	row[$m,proc]="pid $(check "$m" before pid), run_id $(check "$m" before run_id | cut -c1-8)..."
	row[$m,frames]="$(fig "$m" frames_same) of $(fig "$m" frames_both)"
	[ "$(fig "$m" pages_moved)" -gt 0 ] 2>/dev/null &&
		row[$m,frames]+=" ($(fig "$m" pages_moved) moved from scratch at dump)"
	row[$m,evacuated]="$(fig "$m" pages_evacuated)"
	row[$m,evacuated]=${row[$m,evacuated]:--}
	row[$m,written]="$(fig "$m" pages_written)"
	row[$m,handed]="$(fig "$m" pages_handed_over)"
	row[$m,handed]=${row[$m,handed]:-0}
	[ -z "$(fig "$m" pages_mapped_back)" ] || row[$m,handed]+=", $(fig "$m" pages_mapped_back) mapped back"
	row[$m,images]="$(bytes "$(fig "$m" image_bytes)")"
	row[$m,disk]="$(fig "$m" image_bytes_disk)"
	[ "${row[$m,disk]}" = 0 ] || row[$m,disk]="$(bytes "${row[$m,disk]}")"
	row[$m,ram]=-
	[ -z "$(fig "$m" image_bytes_ram)" ] ||
		row[$m,ram]="$(bytes "$(fig "$m" image_bytes_ram)") (Live Update memfd)"
	row[$m,dump]="$dump s"
	row[$m,kexec]="$kexec s"
	row[$m,restore]="$restore s"
	row[$m,other]="$(calc %.2f "$total - $dump - $kexec - $restore") s"
	row[$m,total]="$total s"
	row[$m,fill]="$(dur "$m" redis filled) s"
	row[$m,record]="$(calc %.2f "$(dur "$m" filled recorded) + $(dur "$m" evacuated freeze)") s, $(dur "$m" serving checked) s"
	row[$m,load]="$(dur "$m" recorded staged) s"
	row[$m,evacuate]=-
	[ "$m" != kho ] || row[$m,evacuate]="$(dur "$m" staged evacuated) s"
done

line() {
	local label=$1 key=$2 m out
	out=$(printf '  %-44s' "$label")
	for m in $methods; do out+=$(printf ' %-34s' "${row[$m,$key]}"); done
	printf '%s\n' "${out%"${out##*[! ]}"}"
}
header() {
	local m out
	out=$(printf '  %-44s' "")
	for m in $methods; do out+=$(printf ' %-34s' "${title[$m]}"); done
	printf '%s\n' "${out%"${out##*[! ]}"}"
}
printf '\n  Live kernel upgrade of redis-server %s (Debian bookworm) in QEMU TCG, guest on 1 CPU, %s MiB\n\n' \
	"$(redis-cli --version | cut -d' ' -f2)" "$mem"
header
line "kernel before -> after (uname -r)" kernels
line "Redis data (INFO used_memory)" data
line "keys (DBSIZE) before = after" keys
line "DEBUG DIGEST before = after" digest
line "sample read back (GET/LRANGE/...)" sample
line "same process after restore" proc
line "pages moved out of KHO scratch first" evacuated
line "pages on the frames they had at the freeze" frames
line "pages written to images" written
line "pages handed over in RAM (KHO)" handed
line "image bytes" images
line "image bytes on disk (survive the kexec)" disk
line "images kept in RAM across the kexec" ram
printf '  downtime (Redis frozen -> answers again)\n'
line "  freeze + dump (criu dump)" dump
line "  kexec + boot (kexec -e -> B's init)" kexec
line "  restore (criu restore -> PONG)" restore
line "  other (sync, marks)" other
line "  total" total
printf '  not downtime (Redis serving)\n'
line "  fill the dataset" fill
line "  record / verify (digest, sample, frames)" record
line "  stage kernel B (kexec -s -l)" load
line "  move pages out of KHO scratch" evacuate
printf '\n'

if [[ " $methods " == *" kho "* ]]; then
	tr=$CACHE/runs/demo-kho/trace.txt
	# Raw field values (the old kernel's format strings are not at hand):
	# "nr_pages=0x20000 (131072)" becomes "nr_pages=131072".
	sed -E 's/^.*\] [^ ]+ +//; s/ (start|len)=(0x[0-9a-f]+) \([0-9]+\)/ \1=\2/g; s/=0x[0-9a-f]+ \((-?[0-9]+)\)/=\1/g' \
		"$tr" >"$tr.short"
	printf '  khopages trace events written in kernel A before the kexec, read in kernel B
'
	printf '  (%s events, %s pages preserved; the largest ranges and the hand-over; all in %s):
' \
		"$(grep -c . "$tr.short")" \
		"$(grep khopages_preserve "$tr.short" | sed -n 's/.* nr_pages=\([0-9]*\).*/\1/p' | awk '{ n += $1 } END { print n + 0 }')" \
		"$tr"
	{
		grep khopages_preserve "$tr.short" | awk '{ match($0, / nr_pages=[0-9]+/);
			print substr($0, RSTART + 10, RLENGTH - 10), $0 }' | sort -rn | sed -n 1,4p | cut -d' ' -f2-
		grep khopages_hand_over "$tr.short"
	} | sed 's/^/    /'
	printf '\n'
fi
printf '  Run files (serial console, CRIU logs and images, checks):%s\n' \
	"$(for m in $methods; do printf ' %s' "$CACHE/runs/demo-$m/"; done)"
log "demo passed: every key and byte of Redis survived the kernel upgrade"
