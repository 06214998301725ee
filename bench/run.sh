#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# khopages benchmark: plain CRIU against CRIU --kho-pages across a real KHO
# kexec, in the QEMU (TCG) guest, and --kho-pages with the images also on
# /host (kho) against the whole checkpoint kept in RAM in its Live Update
# session (luo). Not a test: it measures and reports.
#
#   bench/run.sh [--sizes MIB,MIB,...] [--reps N] [--layouts L,L,...]
#                [--max-mem MIB] [--timeout SEC] [--verbosity N]
#                [--split-from MIB] [--keep] [--no-build] [--report-only]
#                [--profile]
#
# Defaults come from the environment: BENCH_SIZES (64,256,1024,4096),
# BENCH_REPS (3), BENCH_LAYOUTS (contiguous,scattered,thp,shared), BENCH_MAX_MEM
# (16384), BENCH_SPLIT_FROM (4096: the size from which every layout runs
# in a boot of its own), BENCH_VERBOSITY (4, criu -v),
# BENCH_PROFILE (0). A quick run:
#   BENCH_SIZES=64,256 BENCH_REPS=1 bench/run.sh
#
# One VM run (two boots joined by a KHO kexec) per size and repetition,
# one per layout from --split-from up (see boots_for); in it, for each of
# its layouts, side by side, each with a workload of its own:
#   plain  dump to tmpfs + copy of the images to /host (9p, survives the
#          reboot); after the kexec, restore from /host
#   kho    dump --kho-pages, the images to /host as well as in the Live
#          Update session held until the kexec; restore --kho-pages from
#          /host
#   luo    dump --kho-pages, the images to tmpfs, then kept with the
#          session in a Live Update session held until
#          the kexec, nothing on /host; after it, restore --kho-pages into
#          an empty directory, the images taken back from the session
# (kho and luo run in the same boot, their order alternating with the
# repetition); a memcpy of the same size; the driver's metadata and
# folios by order; the downtime of each method split into phases
# (bench/guest.sh). Guest memory: (2*layouts+1)*size + max(2 GiB, size),
# layouts per boot; sizes that do not fit in --max-mem are skipped.
#
# Output in $CACHE/build/bench/: raw.csv (every figure of every run),
# summary.csv (median, min, max, n), results.md (tables, slopes, targets),
# bench.png (time against size, one line per method and layout). The
# repository's bench/RESULTS.md (date, machine, commands, tables, targets;
# its "Notes" kept) and bench/RESULTS.png are rewritten from them.
# Without --keep, earlier raw results are removed first; with it, new
# runs are added (e.g. more sizes or repetitions) and all are reported.
# --profile boots the guest with the kernel's tick profiler (profile=2)
# and reports, per phase, where the kernel spent its ticks (profile.md).
# It costs a counter increment per timer tick and is off by default.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib.sh"

sizes=${BENCH_SIZES:-64,256,1024,4096}
reps=${BENCH_REPS:-3}
layouts=${BENCH_LAYOUTS:-contiguous,scattered,thp,shared}
max_mem=${BENCH_MAX_MEM:-16384}
verbosity=${BENCH_VERBOSITY:-4}
profile=${BENCH_PROFILE:-0}
split_from=${BENCH_SPLIT_FROM:-4096}
timeout=""
keep=0 build=1 report_only=0
while [ $# -gt 0 ]; do
	case "$1" in
	--sizes) sizes=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--layouts) layouts=$2; shift 2 ;;
	--max-mem) max_mem=$2; shift 2 ;;
	--split-from) split_from=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--verbosity) verbosity=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--no-build) build=0; shift ;;
	--report-only) report_only=1; shift ;;
	--profile) profile=1; shift ;;
	-h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "bench: unknown option $1" ;;
	esac
done

OUT=$CACHE/build/bench
mkdir -p "$OUT/raw" "$CACHE/runs"
# bench/RESULTS.md, rewritten at the end, names the runs it reports.
RESULTS=$here/RESULTS.md

# The plot needs gnuplot (Debian package, never pip).
if ! command -v gnuplot >/dev/null; then
	log "bench: installing gnuplot-nox"
	apt-get install -y gnuplot-nox >/dev/null 2>&1 ||
		{ apt-get update >/dev/null 2>&1 && apt-get install -y gnuplot-nox >/dev/null 2>&1; } ||
		log "bench: no gnuplot: no plot"
fi

if [ "$build" = 1 ] && [ "$report_only" = 0 ]; then
	log "bench: building khop_bench and the guest initramfs"
	# The guest manifests start from none, as in make bench: a list left
	# by another checkout would name files that may be gone.
	{
		make -s -C "$TOP" fresh-manifests kernel lib criu test-programs &&
		make -s -C "$here" all manifest &&
		bash "$TOP/scripts/build-guest.sh" guest
	} >"$OUT/build.log" 2>&1 || { tail -n 20 "$OUT/build.log"; die "bench: build failed"; }
fi

# Durations from the phase marks (host mtimes) and the guest's figures,
# as CSV rows: size_mib,rep,method,layout,metric,value
# The boot's own figures (its kexec, memcpy) are method "all" with the
# boot's layouts as layout: "-" when one boot ran them all, else its
# layouts joined by "+" (one from --split-from up, e.g. "scattered").
collect() {
	local run=$1 size=$2 rep=$3 boot_layouts=$4 label=$5
	/usr/bin/python3 - "$run" "$size" "$rep" "$boot_layouts" "$label" <<'PY'
import os, sys
run, size, rep, layouts, label = (sys.argv[1], sys.argv[2], sys.argv[3],
                                  sys.argv[4].split(","), sys.argv[5])
marks = {n: os.stat(os.path.join(run, "marks", n)).st_mtime_ns / 1e9
         for n in os.listdir(os.path.join(run, "marks"))}
rows = []
def row(method, layout, metric, value):
    rows.append(f"{size},{rep},{method},{layout},{metric},{value}")
def d(a, b):
    """Seconds between two marks; None when one is missing (a run that
    stopped half way still gives what it measured)."""
    return marks[b] - marks[a] if a in marks and b in marks else None
def opt(name, v):
    if v is not None:
        row("all", label, name, f"{v:.3f}")
kload = d("kexec-load0", "kexec-load1")
reboot = d("kexec-exec", "stage2")
kdat = d("kerndat0", "kerndat1")
opt("kexec_load_s", kload)
opt("kexec_reboot_s", reboot)
opt("kerndat_s", kdat)
# Split the reboot with the guest clocks: the old kernel's uptime at
# kexec -e (the mark's content) and at "Starting new kernel" (console),
# the new kernel's uptime at stage 2; what is left ran before the new
# kernel's clock started (purgatory, decompression, early boot).
try:
    up_exec = float(open(os.path.join(run, "marks", "kexec-exec")).read())
    up_stage2 = float(open(os.path.join(run, "marks", "stage2")).read())
    start = None
    for line in open(os.path.join(run, "console.log"), errors="replace"):
        if "kexec_core: Starting new kernel" in line:
            start = float(line.split("]")[0].strip("[ "))
    if start is not None:
        row("all", label, "reboot_old_kernel_s", f"{start - up_exec:.3f}")
        row("all", label, "reboot_before_clock_s", f"{reboot - (start - up_exec) - up_stage2:.3f}")
        row("all", label, "reboot_new_kernel_s", f"{up_stage2:.3f}")
except (OSError, ValueError, TypeError):
    pass	# no stage 2: the run stopped before it
for line in open(os.path.join(run, "results")):
    f = line.split()
    if len(f) == 4:
        row(*f)
for m in ("plain", "kho", "luo"):
    for l in layouts:
        dump = d(f"dump0-{m}-{l}", f"dump1-{m}-{l}")
        copy = d(f"copy0-{m}-{l}", f"copy1-{m}-{l}") if m == "plain" else 0.0
        # Before the freeze (kho and luo): not downtime.
        evac = d(f"evac0-{m}-{l}", f"evac1-{m}-{l}")
        if evac is not None:
            row(m, l, "evacuate_s", f"{evac:.3f}")
        rest = d(f"restore0-{m}-{l}", f"restore1-{m}-{l}")
        # The tree runs from the end of the restore on; the ping measures
        # how long it takes to answer (runs before ping marks: restore end).
        ping = d(f"ping0-{m}-{l}" if f"ping0-{m}-{l}" in marks else f"restore1-{m}-{l}",
                 f"alive-{m}-{l}")
        # The kexec load happens before any freeze: not downtime.
        parts = (dump, copy, reboot, kdat, rest, ping)
        total = None if None in parts else sum(parts)
        for k, v in (("dump_s", dump), ("copy_s", copy), ("restore_s", rest),
                     ("ping_s", ping), ("kexec_load_s", kload),
                     ("kexec_reboot_s", reboot), ("kerndat_s", kdat),
                     ("downtime_s", total)):
            if v is not None:
                row(m, l, k, f"{v:.3f}")
for l in layouts:
    a, b = f"restore0-plaintmpfs-{l}", f"restore1-plaintmpfs-{l}"
    if d(a, b) is not None:
        row("plaintmpfs", l, "restore_s", f"{d(a, b):.3f}")
    p = f"ping0-plaintmpfs-{l}" if f"ping0-plaintmpfs-{l}" in marks else b
    if d(p, f"alive-plaintmpfs-{l}") is not None:
        row("plaintmpfs", l, "ping_s", f"{d(p, f'alive-plaintmpfs-{l}'):.3f}")
print("\n".join(rows))
PY
}

# The layouts of each boot of a size, one boot a line. Normally one boot
# runs them all, so they share one kexec as they would on one machine.
# From --split-from (4 GiB) up every layout gets a boot of its own: the
# scattered layout's sieve leaves the free half of its 2*size as single
# frames, and the other layouts' 16 KiB table chunks (order 2) then find
# no room even in a 16 GiB guest (PRESERVE fails with ENOMEM; seen at
# 4 GiB); and each layout holds two workloads until the kexec (kho and
# luo), so two layouts in one boot would need more than 16 GiB there.
boots_for() {
	local size=$1
	if [ "$size" -ge "$split_from" ]; then
		tr ',' '\n' <<<"$layouts" | grep .
	else
		echo "$layouts"
	fi
}

# One VM run: the given layouts side by side, one kexec.
run_boot() {
	local size=$1 rep=$2 boot=$3 mem=$4 nboots=$5 nl t name label run tailer rc csv
	nl=$(tr ',' '\n' <<<"$boot" | grep -c .)
	# TCG: plain CRIU dumps ~70 s/GiB and restores ~2x that, per layout.
	t=${timeout:-$(( 900 + nl * size * 2 / 3 ))}
	if [ "$nboots" = 1 ]; then
		name=bench-$size-$rep label=-
	else
		label=$(tr ',' '+' <<<"$boot")
		name=bench-$size-$rep-$label
	fi
	csv=$OUT/raw/${name#bench-}.csv
	log "bench: [$n/$total] $size MiB, run $rep/$reps (layouts $boot, guest ${mem} MiB, limit ${t}s)"
	# Progress from the guest, while it runs. The subshell becomes the
	# tail, so killing it ends the tail (and, at its end of file, sed);
	# killing a subshell that runs the pipeline left both behind.
	run=$CACHE/runs/$name
	( sleep 5; exec tail -n +1 -F "$run/progress" 2>/dev/null ) > >(sed -u "s/^/    $size MiB #$rep: /") &
	tailer=$!
	rc=0
	"$TOP/scripts/vm-run.sh" --name "$name" --mem "${mem}M" --timeout "$t" \
		--kernel "$OUT/guest/kernel-A" --initrd "$OUT/guest/initrd.img" \
		--set "MIB=$size" --set "LAYOUTS=$boot" --set "REP=$rep" --set "VERBOSITY=$verbosity" \
		"${prof_args[@]}" "$here/guest.sh" >"$CACHE/runs/$name.out" 2>&1 || rc=$?
	sleep 2		# the tail's last look (it may poll once a second)
	kill "$tailer" 2>/dev/null || true
	wait "$tailer" 2>/dev/null || true
	if [ "$rc" != 0 ]; then
		log "bench: $size MiB run $rep ($boot) FAILED (rc $rc): see $run/ and $CACHE/runs/$name.out"
		tail -n 8 "$CACHE/runs/$name.out" | sed 's/^/    /' >&2
		# Keep what it measured before it stopped.
		if [ -d "$run/marks" ] && collect "$run" "$size" "$rep" "$boot" "$label" >"$csv.new"; then
			echo "$size,$rep,all,$label,incomplete_run,1" >>"$csv.new"
			mv "$csv.new" "$csv"
		fi
		rm -f "$csv.new"
		return 0
	fi
	collect "$run" "$size" "$rep" "$boot" "$label" >"$csv"
	if [ -d "$run/profile" ]; then
		mkdir -p "$OUT/profile/${name#bench-}"
		cp "$run/profile"/* "$OUT/profile/${name#bench-}/"
	fi
	log "bench: $size MiB run $rep ($boot) done: $(awk -F, '$5 == "downtime_s" { printf "%s/%s %.1fs  ", $3, $4, $6 }' "$csv")"
	log "bench: elapsed $(( $(date +%s) - start )) s"
}

if [ "$report_only" = 0 ]; then
	[ "$keep" = 1 ] || rm -f "$OUT"/raw/*.csv "$OUT/commands"
	printf '%s|bench/run.sh --sizes %s --reps %s --layouts %s --split-from %s --max-mem %s%s%s\n' \
		"$(date -u '+%Y-%m-%d %H:%M UTC')" "$sizes" "$reps" "$layouts" "$split_from" \
		"$max_mem" "$( [ "$keep" = 1 ] && echo ' --keep')" \
		"$( [ "$profile" = 1 ] && echo ' --profile')" >>"$OUT/commands"
	# The runs boot a copy of the guest as it is now: a rebuild of the
	# guest meanwhile (make guest, make check) must not change them.
	mkdir -p "$OUT/guest"
	cp "$CACHE/build/guest/kernel-A" "$CACHE/build/guest/initrd.img" "$OUT/guest/"
	cp "$CACHE/build/kernel-guest/System.map" "$OUT/guest/"
	prof_args=()
	rm -rf "$OUT/profile" "$OUT/profile.md"	# never a stale profile
	[ "$profile" = 1 ] && prof_args=(--append profile=2 --set PROFILE=1)
	IFS=, read -ra size_list <<<"$sizes"
	total=0
	for size in "${size_list[@]}"; do
		total=$(( total + reps * $(boots_for "$size" | wc -l) ))
	done
	n=0
	start=$(date +%s)
	for size in "${size_list[@]}"; do
		# Two sessions of size per layout of a boot stay held until the
		# kexec (kho and luo), and one more size is taken while the
		# scattered layout's sieve fills (2*size, half of it then
		# freed); the rest must hold the kernel, CRIU and THP migration
		# targets: 2 GiB, or size itself from 2 GiB up (4 GiB ran out
		# with 2 GiB spare). Every boot of a size gets the same memory,
		# that of its boot with the most layouts.
		nl=$(boots_for "$size" | awk -F, '{ n = NF > n ? NF : n } END { print n }')
		spare=$(( size > 2048 ? size : 2048 ))
		mem=$(( (2 * nl + 1) * size + spare ))
		[ "$mem" -ge 2048 ] || mem=2048
		mem=$(( (mem + 1023) / 1024 * 1024 ))
		if [ "$mem" -gt "$max_mem" ]; then
			log "bench: $size MiB needs ${mem} MiB of guest memory > --max-mem $max_mem: skipped"
			n=$(( n + reps * $(boots_for "$size" | wc -l) ))
			continue
		fi
		mapfile -t boots < <(boots_for "$size")
		for rep in $(seq 1 "$reps"); do
			for boot in "${boots[@]}"; do
				n=$((n + 1))
				run_boot "$size" "$rep" "$boot" "$mem" "${#boots[@]}"
			done
		done
	done
fi

ls "$OUT"/raw/*.csv >/dev/null 2>&1 || die "bench: no results in $OUT/raw"
{ echo "size_mib,rep,method,layout,metric,value"; cat "$OUT"/raw/*.csv; } >"$OUT/raw.csv"
/usr/bin/python3 "$here/report.py" "$OUT" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$max_mem" "$RESULTS"
if [ -d "$OUT/profile" ]; then
	/usr/bin/python3 "$here/profile.py" "$OUT/guest/System.map" "$OUT/profile" >"$OUT/profile.md"
	log "bench: kernel profile per phase: $OUT/profile.md"
fi
if command -v gnuplot >/dev/null && [ -f "$OUT/plot.gp" ]; then
	gnuplot "$OUT/plot.gp" && cp "$OUT/bench.png" "$here/RESULTS.png" &&
		log "bench: plot $OUT/bench.png, bench/RESULTS.png"
fi
log "bench: $RESULTS; $OUT/results.md, $OUT/summary.csv, $OUT/raw.csv"
cat "$OUT/results.md"
