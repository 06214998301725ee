#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The demo with PostgreSQL (`make demo APP=postgres`): a live kernel
# upgrade of an unmodified PostgreSQL 15 server (Debian's postgresql-15).
# In QEMU, Linux 7.2 (kernel A) runs the server with a table warm in its
# buffer cache (shared_buffers 1.5 times the table); CRIU checkpoints the
# server with --kho-pages, its private memory and its shared memory (the
# buffer pool, the SysV segments) stay in RAM, the machine kexecs through
# KHO into Linux 7.3 (kernel B), CRIU restores the server onto the same
# pages, and psql proves that the table is the same (a checksum over every
# row) and still cached (pg_buffercache shows the same blocks in the same
# buffers, a scan reads nothing from disk). Then the same upgrade with
# plain CRIU (page images on the 9p share), and one table comparing both.
#
# PostgreSQL is not in the guest initramfs: scripts/build-postgres-guest.sh
# puts it into a directory that the guest mounts read-only over 9p, and the
# data directory is on the run directory's share (see
# scripts/guest/demo-postgres.sh for the server's settings).
#
#   demo-postgres.sh [--size MIB] [--kho-only] [--rollback] [--no-build]
#     --size MIB   size of the table, default 256 (shared_buffers: 1.5 times)
#     --kho-only   skip the plain-CRIU run
#     --rollback   the other way: from Linux 7.3 back to 7.2
#     --no-build   use the kernels, the initramfs and the PostgreSQL
#                  directory as they are in the cache
# Exit code 0 only if both upgrades kept the table and its cached buffers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

mib=256 build=1 methods="kho plain" rollback=0
while [ $# -gt 0 ]; do
	case "$1" in
	--size) mib=$2; shift 2 ;;
	--kho-only) methods=kho; shift ;;
	--rollback) rollback=1; shift ;;
	--no-build) build=0; shift ;;
	*) die "usage: demo-postgres.sh [--size MIB] [--kho-only] [--rollback] [--no-build]" ;;
	esac
done
[[ "$mib" =~ ^[0-9]+$ ]] && [ "$mib" -ge 16 ] || die "--size wants MiB, at least 16"

KERNEL_A=$CACHE/build/guest/kernel-old
KERNEL_B=$CACHE/build/guest/kernel-A
if [ "$rollback" = 1 ]; then
	KERNEL_A=$CACHE/build/guest/kernel-A
	KERNEL_B=$CACHE/build/guest/kernel-old
fi
INITRD=$CACHE/build/guest/initrd.img
PGROOT=$CACHE/build/postgres/root
mkdir -p "$CACHE/runs"

if [ "$build" = 1 ]; then
	"$here/build-postgres-guest.sh"
fi
[ -f "$KERNEL_A" ] && [ -f "$KERNEL_B" ] && [ -f "$INITRD" ] ||
	die "the guest's kernels or initramfs are missing: run 'make guest'"
[ -x "$PGROOT/usr/lib/postgresql/15/bin/postgres" ] ||
	die "no PostgreSQL in $PGROOT: run scripts/build-postgres-guest.sh"

# The buffer pool (1.5 times the table), criu restore's room for it (plain
# CRIU reads it from the images), and the guest itself.
sb=$((mib * 3 / 2))
mem=$(( (2 * sb + 1536 + 255) / 256 * 256 ))
declare -A title=([kho]="criu --kho-pages, Live Update" [plain]="plain criu (9p)")

# Run one upgrade; print the guest's progress lines while it runs.
upgrade() {
	local method=$1 run timeout pid rc seen=0 n
	run=$CACHE/runs/demo-postgres-$method
	# initdb, the fill, VACUUM and the checks take minutes under TCG; plain
	# CRIU writes and reads the buffer pool through 9p besides.
	timeout=$((1200 + 4 * mib))
	[ "$method" = kho ] || timeout=$((1200 + 8 * mib))
	# vm-run.sh starts afresh too, but the progress shown below must not
	# come from the last run's console (its data directory takes a while
	# to delete).
	rm -rf "$run"
	log "upgrade with ${title[$method]}: QEMU (TCG, $mem MiB), $(kernel_release "$KERNEL_A") -> $(kernel_release "$KERNEL_B"), PostgreSQL with a $mib MiB table"
	"$here/vm-run.sh" --name "demo-postgres-$method" --kernel "$KERNEL_A" --kernel-b "$KERNEL_B" \
		--share "$PGROOT" --mem "${mem}M" --timeout "$timeout" \
		--set "mode=$method" --set "mib=$mib" \
		"$here/guest/demo-postgres.sh" >"$run.out" 2>&1 &
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
		sed 's/^/    /' "$run.out" >&2
		die "the upgrade with ${title[$method]} FAILED: $(cat "$run/verdict" 2>/dev/null || echo "vm-run exit $rc"); serial log kept in $run/console.log"
	fi
}

started=$(date +%s)
for m in $methods; do
	upgrade "$m"
done

# ---- the figures ----------------------------------------------------------
dir() { echo "$CACHE/runs/demo-postgres-$1"; }
fig() { sed -n "s/^$2 //p" "$(dir "$1")/fig" | tail -n 1; }
mtime() { stat -c %.9Y "$(dir "$1")/t.$2"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
bytes() {
	awk -v b="$1" 'BEGIN {
		if (b >= 1073741824) printf "%.2f GiB", b / 1073741824
		else if (b >= 1048576) printf "%.1f MiB", b / 1048576
		else printf "%.1f KiB", b / 1024 }'
}
check() { cat "$(dir "$1")/check.$2.$3"; }
dur() { calc %.2f "$(mtime "$1" "$3") - $(mtime "$1" "$2")"; }

declare -A row
for m in $methods; do
	d=$(dir "$m")
	# The guest checked these; the host checks again from the files.
	for what in checksum start_time pid buffers; do
		cmp -s "$d/check.before.$what" "$d/check.after.$what" ||
			die "$m: $what differs (files in $d)"
	done
	case "$(check "$m" after scan)" in
	*read=*) die "$m: the scan after the restore read from disk: $(check "$m" after scan)" ;;
	esac
	[ "$(fig "$m" kernel_a)" = "$(kernel_release "$KERNEL_A")" ] &&
		[ "$(fig "$m" kernel_b)" = "$(kernel_release "$KERNEL_B")" ] ||
		die "$m: the guest ran $(fig "$m" kernel_a) -> $(fig "$m" kernel_b), not $(kernel_release "$KERNEL_A") -> $(kernel_release "$KERNEL_B")"
	dump=$(dur "$m" freeze dumped)
	kexec=$(dur "$m" kexec stage2)
	restore=$(dur "$m" restore serving)
	total=$(dur "$m" freeze serving)
	nbuf=$(grep -c . "$d/check.before.buffers")
	row[$m,kernels]="$(fig "$m" kernel_a) -> $(fig "$m" kernel_b)"
	row[$m,table]="$(fig "$m" rows) rows, $(bytes "$(fig "$m" table_bytes)")"
	row[$m,sb]="$(fig "$m" shared_buffers), $(fig "$m" processes) processes"
	row[$m,checksum]="same ($(check "$m" before checksum | cut -c1-22)...)"
	row[$m,buffers]="$nbuf = $(grep -c . "$d/check.after.buffers"), same buffers"
	row[$m,used]="$(check "$m" before buffers_used) -> $(check "$m" after buffers_used)"
	row[$m,scan]="$(check "$m" after scan), read=0"
	row[$m,server]="postmaster $(check "$m" before pid), $(check "$m" before start_time | cut -c12-19) GMT"
	# "memfd:27688 sysv:1 ..." (CRIU's names) -> "memfd 1, sysv 3"
	row[$m,objects]="$(fig "$m" shmem_objects)"
	row[$m,objects]=${row[$m,objects]:-0}
	[ "${row[$m,objects]}" = 0 ] || row[$m,objects]+=" ($(fig "$m" shmem_kinds | tr ' ' '\n' |
		sed -n 's/:.*//p' | sort | uniq -c | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }'))"
	[ -z "$(fig "$m" shmem_copied)" ] || [ "$(fig "$m" shmem_copied)" = 0 ] ||
		row[$m,objects]+=", $(fig "$m" shmem_copied) copied"
	row[$m,shpages]=-
	[ -z "$(fig "$m" shmem_pages)" ] ||
		row[$m,shpages]="$(fig "$m" shmem_pages) / $(fig "$m" shmem_filled)"
	row[$m,frames]="$(fig "$m" frames_same) of $(fig "$m" frames_both)"
	row[$m,handed]="$(fig "$m" pages_handed_over)"
	row[$m,handed]=${row[$m,handed]:-0}
	[ -z "$(fig "$m" pages_mapped_back)" ] || row[$m,handed]+=", $(fig "$m" pages_mapped_back) mapped back"
	row[$m,written]="$(fig "$m" pages_written)"
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
	row[$m,initdb]="$(dur "$m" initdb ready) s"
	row[$m,fill]="$(dur "$m" fill filled) s"
	row[$m,warm]="$(dur "$m" filled vacuumed) s"
	row[$m,record]="$(dur "$m" vacuumed recorded) s, $(dur "$m" serving checked) s"
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
first=${methods%% *}
printf '\n  Live kernel upgrade of %s in QEMU TCG, guest with %s MiB\n\n' \
	"$(fig "$first" version | sed 's/^postgres (PostgreSQL) /PostgreSQL /')" "$mem"
header
line "kernel before -> after (uname -r)" kernels
line "table t (count(*), pg_relation_size)" table
line "shared_buffers, server processes" sb
line "checksum of every row, before = after" checksum
line "pg_buffercache: blocks of t, before = after" buffers
line "pg_buffercache: buffers in use" used
line "scan of t after restore (EXPLAIN BUFFERS)" scan
line "same server (pid, pg_postmaster_start_time)" server
line "shared memory objects handed over in place" objects
line "shared memory pages handed over / filled" shpages
line "shared pages on the frames they had before" frames
line "private pages handed over in RAM (KHO)" handed
line "pages written to images" written
line "image bytes" images
line "image bytes on disk (survive the kexec)" disk
line "images kept in RAM across the kexec" ram
printf '  downtime (PostgreSQL frozen -> answers again)\n'
line "  freeze + dump (criu dump)" dump
line "  kexec + boot (kexec -e -> B's init)" kexec
line "  restore (criu restore -> SELECT 1)" restore
line "  other (sync, marks)" other
line "  total" total
printf '  not downtime (PostgreSQL serving)\n'
line "  initdb, start" initdb
line "  fill the table (CREATE TABLE AS)" fill
line "  pg_prewarm, VACUUM ANALYZE, CHECKPOINT" warm
line "  record / verify (buffers, scan, checksum)" record
line "  stage kernel B (kexec -s -l)" load
line "  move private pages out of KHO scratch" evacuate
printf '  (memfd: the main segment, MAP_SHARED anonymous memory, which CRIU dumps as a memfd;\n'
printf '  sysv: the SysV segments, dynamic shared memory included, in the server'"'"'s IPC namespace)\n'
printf '\n  Run files (serial console, CRIU logs and images, checks):%s\n' \
	"$(for m in $methods; do printf ' %s/' "$(dir "$m")"; done)"
log "demo passed in $(( ($(date +%s) - started + 30) / 60 )) min: the table and its cached buffers survived the kernel upgrade"
