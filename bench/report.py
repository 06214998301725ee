# SPDX-License-Identifier: GPL-2.0
"""Summarise bench/run.sh results: summary.csv, results.md, plot.gp and,
given RESULTS_MD, the repository's bench/RESULTS.md.

   report.py OUTDIR DATE MAX_MEM_MIB [RESULTS_MD]   (reads OUTDIR/raw.csv)

RESULTS_MD gets the date, the machine and the commands of the runs
(OUTDIR/commands, one line per bench/run.sh, written by it), what is
measured, the tables, the plot and the targets. Its section "## Notes",
written by hand, is kept as it is.
"""
import collections
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys

out, date, max_mem = sys.argv[1], sys.argv[2], sys.argv[3]
results_md = sys.argv[4] if len(sys.argv) > 4 else None
vals = collections.defaultdict(list)
reps = collections.defaultdict(set)
with open(os.path.join(out, "raw.csv")) as f:
    for r in csv.DictReader(f):
        try:
            v = float(r["value"])
        except ValueError:
            continue
        vals[(int(r["size_mib"]), r["method"], r["layout"], r["metric"])].append(v)
        reps[int(r["size_mib"])].add(r["rep"])

sizes = sorted(reps)
LAYOUTS = [l for l in ("contiguous", "scattered", "thp", "shared")
           if any(k[2] == l for k in vals)]
# --kho-pages kept in a Live Update session (luo) came later than the
# other methods: runs before it have no figures of it.
HAS_LUO = any(k[1] == "luo" for k in vals)
METHODS = ["plain", "kho"] + (["luo"] if HAS_LUO else [])


def med(size, method, layout, metric):
    v = vals.get((size, method, layout, metric))
    return statistics.median(v) if v else None


def fmt(size, method, layout, metric, scale=1.0, prec=2):
    v = vals.get((size, method, layout, metric))
    if not v:
        return "–"
    m = statistics.median(v) * scale
    if len(v) == 1:
        return f"{m:.{prec}f}"
    return f"{m:.{prec}f} ({min(v) * scale:.{prec}f}–{max(v) * scale:.{prec}f})"


with open(os.path.join(out, "summary.csv"), "w") as f:
    w = csv.writer(f)
    w.writerow(["size_mib", "method", "layout", "metric", "median", "min", "max", "n"])
    for k in sorted(vals):
        v = vals[k]
        w.writerow([*k, f"{statistics.median(v):.6g}", f"{min(v):.6g}", f"{max(v):.6g}", len(v)])


def dr(size, method, layout):
    """dump + restore seconds (medians) of a method."""
    if method == "plaintmpfs":
        a, b = med(size, "plain", layout, "dump_s"), med(size, "plaintmpfs", layout, "restore_s")
    else:
        a, b = med(size, method, layout, "dump_s"), med(size, method, layout, "restore_s")
    return None if a is None or b is None else a + b


def fit(points):
    """Least squares y = a + b x over (x, y); None with fewer than 2 sizes."""
    points = [(x, y) for x, y in points if y is not None]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - b * mx, b


def folios(size, layout):
    parts = []
    for o in range(0, 11):
        v = med(size, "kho", layout, f"folios_order{o}")
        if v:
            parts.append(f"o{o}:{int(v)}")
    return " ".join(parts) or "–"


def ratio(a, b, prec=1):
    return "–" if a is None or b is None or b == 0 else f"{a / b:.{prec}f}"


# The boots of each size: "-" for one boot with every layout, else the
# layouts of each boot joined by "+" (bench/run.sh, boots_for).
boots = {s: sorted({k[2] for k in vals if k[0] == s and k[1] == "all"}) or ["-"]
         for s in sizes}
incomplete = [s for s in sizes if any(vals.get((s, "all", b, "incomplete_run")) for b in boots[s])]


def boot_layouts(boot):
    return LAYOUTS if boot == "-" else boot.split("+")


L = []
nreps = ", ".join(f"{s} MiB×{len(reps[s])}" for s in sizes)
L.append(f"Run of {date}: QEMU TCG (no KVM) on a {os.cpu_count()}-core host, -smp 2, of which the "
         f"guest kernel (no ACPI: CPUs from the MP table) brings up one; CPU model "
         f"max without ERMS/FSRM; "
         f"guest memory (2×layouts of a boot + 1)×size + max(2 GiB, size) rounded up to GiB "
         f"(max {max_mem} MiB); "
         f"sizes×runs: {nreps}. Times in seconds, median (min–max) over the runs."
         + "".join(f" At {s} MiB the layouts ran in separate boots: "
                   + "; ".join(b.replace("+", ", ") for b in boots[s]) + "."
                   for s in sizes if boots[s] != ["-"])
         + (" Incomplete runs (stopped before the end; what they measured is kept): "
            + ", ".join(f"{s} MiB" for s in incomplete) + "." if incomplete else ""))
L.append("")
L.append("| MiB | layout | dump plain→tmpfs | dump kho | images plain MiB | images kho KiB (page data B) "
         "| restore plain←tmpfs | restore plain←9p | restore kho | memcpy | kho (dump+restore)/memcpy "
         "| downtime plain (9p) | downtime kho | speed-up | meta B/page | kho folios by order "
         "| pages moved out of scratch: before the freeze (s) / at the dump |")
L.append("|" + "---|" * 17)
for s in sizes:
    for l in LAYOUTS:
        dk = dr(s, "kho", l)
        mc = med(s, "memcpy", "-", "memcpy_ms")
        mp = med(s, "kho", l, "meta_bytes")
        pg = med(s, "kho", l, "session_pages")
        L.append("| " + " | ".join([
            str(s), l,
            fmt(s, "plain", l, "dump_s"), fmt(s, "kho", l, "dump_s"),
            fmt(s, "plain", l, "image_bytes", 1 / 2**20, 1),
            f"{fmt(s, 'kho', l, 'image_bytes', 1 / 1024, 0)} ({fmt(s, 'kho', l, 'pages_img_bytes', 1, 0)})",
            fmt(s, "plaintmpfs", l, "restore_s"), fmt(s, "plain", l, "restore_s"),
            fmt(s, "kho", l, "restore_s"),
            fmt(s, "memcpy", "-", "memcpy_ms", 1e-3, 3),
            ratio(dk, mc / 1e3 if mc else None, 2),
            fmt(s, "plain", l, "downtime_s", 1, 1), fmt(s, "kho", l, "downtime_s"),
            ratio(med(s, "plain", l, "downtime_s"), med(s, "kho", l, "downtime_s")) + "×",
            ratio(mp, pg, 3), folios(s, l),
            f"{fmt(s, 'kho', l, 'evacuated', 1, 0)} ({fmt(s, 'kho', l, 'evacuate_s', 1, 2)}) / "
            f"{fmt(s, 'kho', l, 'moved', 1, 0)}"]) + " |")
L.append("")
L.append("### --kho-pages: images on /host too (kho) vs the whole checkpoint in RAM (luo)")
L.append("")
if HAS_LUO:
    L.append("Each in the same boot, with a workload of its own, both handed over through "
             "Live Update: kho writes the images to /host as well and restores from there; "
             "luo writes them to tmpfs, keeps them only in the Live Update session until the "
             "kexec, then restores into an empty directory. Times in seconds; images on /host: "
             "what the dump added to the files of the 9p share, which survives the kexec; kept "
             "in RAM: the memfd the images were copied into.")
    L.append("")
    L.append("| MiB | layout | dump kho | dump luo | restore kho | restore luo | downtime kho "
             "| downtime luo | downtime luo/kho | images on /host B: kho | images on /host B: luo "
             "| images kept in RAM B: luo |")
    L.append("|" + "---|" * 12)
    for s in sizes:
        for l in LAYOUTS:
            L.append("| " + " | ".join([
                str(s), l,
                fmt(s, "kho", l, "dump_s"), fmt(s, "luo", l, "dump_s"),
                fmt(s, "kho", l, "restore_s"), fmt(s, "luo", l, "restore_s"),
                fmt(s, "kho", l, "downtime_s"), fmt(s, "luo", l, "downtime_s"),
                ratio(med(s, "luo", l, "downtime_s"), med(s, "kho", l, "downtime_s"), 2),
                fmt(s, "kho", l, "image_bytes_on_disk", 1, 0),
                fmt(s, "luo", l, "image_bytes_on_disk", 1, 0),
                fmt(s, "luo", l, "images_in_ram_bytes", 1, 0)]) + " |")
else:
    L.append("None: these runs have no Live Update (luo) figures.")
L.append("")
L.append("Downtime phases (medians, s): freeze→dump done, copy of the images to "
         "/host (plain only), kexec→stage 2 running (reboot: kexec -e, "
         "purgatory, kernel boot, init), CRIU's kernel probe (first CRIU run after boot), restore, "
         "restored process answers. The kexec is shared by all workloads of a boot. "
         "The new kernel is loaded (kexec load) before the first workload is frozen, "
         "as an upgrade would do it: that column is not part of the total.")
L.append("")
L.append("| MiB | layout | method | dump | copy | kexec load | reboot | kerndat | restore | answer | total |")
L.append("|" + "---|" * 11)
for s in sizes:
    for l in LAYOUTS:
        for m in METHODS:
            L.append("| " + " | ".join([str(s), l, m] + [
                fmt(s, m, l, k, 1, 2) for k in ("dump_s", "copy_s", "kexec_load_s",
                                                "kexec_reboot_s", "kerndat_s", "restore_s", "ping_s",
                                                "downtime_s")]) + " |")
L.append("")
L.append("CRIU's own figures (--display-stats, medians, ms): frozen time, memory dump "
         "time, memory write time at dump; restore time.")
L.append("")
L.append("| MiB | layout | method | frozen | mem dump | mem write | restore |")
L.append("|" + "---|" * 7)
for s in sizes:
    for l in LAYOUTS:
        for m in METHODS:
            L.append("| " + " | ".join([str(s), l, m] + [
                fmt(s, m, l, k, 1e-3, 0) for k in ("dump_frozen_time_us", "dump_memory_dump_time_us",
                                                   "dump_memory_write_time_us", "restore_time_us")]) + " |")
L.append("")

# Slopes and the targets.
L.append("### Marginal cost (least-squares slope over sizes, s/GiB; intercept = fixed cost, s)")
L.append("")
L.append("| layout | plain dump tmpfs | plain restore tmpfs | plain restore 9p | kho dump | kho restore "
         "| plain (dump+restore) tmpfs / kho slope | memcpy |")
L.append("|" + "---|" * 8)
slopes = {}
mfit = fit([(s / 1024, (med(s, "memcpy", "-", "memcpy_ms") or 0) / 1e3) for s in sizes])
for l in LAYOUTS:
    row = [l]
    for m, k in (("plain", "dump_s"), ("plaintmpfs", "restore_s"), ("plain", "restore_s"),
                 ("kho", "dump_s"), ("kho", "restore_s")):
        f = fit([(s / 1024, med(s, m, l, k)) for s in sizes])
        slopes[(l, m, k)] = f
        row.append("–" if not f else f"{f[1]:.2f} (+{f[0]:.2f})")
    both = [s for s in sizes if dr(s, "plaintmpfs", l) is not None and dr(s, "kho", l) is not None]
    fp = fit([(s / 1024, dr(s, "plaintmpfs", l)) for s in both])
    fk = fit([(s / 1024, dr(s, "kho", l)) for s in both])
    slopes[(l, "ratio")] = (fp[1] / fk[1]) if fp and fk and fk[1] > 0 else None
    slopes[(l, "kho_dr")] = fk
    row.append("–" if not (fp and fk) else
               (f"{fp[1]:.2f} / {fk[1]:.3f} = {fp[1] / fk[1]:.1f}×" if fk[1] > 0
                else f"{fp[1]:.2f} / {fk[1]:.3f} (kho slope ≤ 0: below noise)"))
    row.append("–" if not mfit else f"{mfit[1]:.2f} (+{mfit[0]:.2f})")
    L.append("| " + " | ".join(row) + " |")
L.append("")

L.append("Reboot split (medians, s; one kexec per boot, the sessions of all its layouts preserved): old kernel "
         "from kexec -e to \"Starting new kernel\"; before the new kernel's clock starts "
         "(purgatory, decompression, early boot incl. KHO's scan of the preserved memory); new kernel "
         "up to the stage-2 script.")
L.append("")
L.append("| MiB | layouts of the boot | preserved folios | old kernel | before clock | new kernel | reboot total |")
L.append("|---|---|---|---|---|---|---|")
for s in sizes:
    for b in boots[s]:
        nf = sum(med(s, m, l, "session_folios") or 0 for m in ("kho", "luo") for l in boot_layouts(b))
        L.append("| " + " | ".join([str(s), ", ".join(boot_layouts(b)), str(int(nf))] + [
            fmt(s, "all", b, k) for k in ("reboot_old_kernel_s", "reboot_before_clock_s",
                                          "reboot_new_kernel_s", "kexec_reboot_s")]) + " |")
L.append("")

# Targets, computed from the medians; each line states its target.
L.append("### Targets")
L.append("")
big = max(sizes)
one = min(sizes, key=lambda s: abs(s - 1024))
for l in LAYOUTS:
    sp = ratio(med(one, "plain", l, "downtime_s"), med(one, "kho", l, "downtime_s"))
    L.append(f"- downtime speed-up at {one} MiB, {l}: {sp}× (target ≥30× at 1 GiB)")
for l in LAYOUTS:
    r = slopes.get((l, "ratio"))
    want = 100 if l == "thp" else 5
    L.append(f"- marginal cost plain(tmpfs) / kho, {l}: "
             f"{'–' if r is None else f'{r:.1f}×'} (target ≥{want}×)")
mc = med(big, "memcpy", "-", "memcpy_ms")
for l in LAYOUTS:
    d = dr(big, "kho", l)
    want = "<0.01" if l == "thp" else "<1"
    L.append(f"- kho dump+restore / memcpy at {big} MiB, {l}: {ratio(d, mc / 1e3 if mc else None, 2)} (target {want})")
# The same without the fixed costs (CRIU's start, freezing, parasite):
# what each further GiB costs, against what copying it costs.
for l in LAYOUTS:
    fk = slopes.get((l, "kho_dr"))
    want = "<0.01" if l == "thp" else "<1"
    if not (fk and mfit and mfit[1] > 0):
        r = "–"
    elif fk[1] <= 0:
        r = f"kho slope {fk[1]:.3f} s/GiB ≤ 0: below the noise"
    else:
        r = f"{fk[1] / mfit[1]:.3f}"
    L.append(f"- kho dump+restore / memcpy per further GiB (slope / slope), {l}: {r} (target {want})")
for l in LAYOUTS:
    L.append(f"- metadata at {big} MiB, {l}: {ratio(med(big, 'kho', l, 'meta_bytes'), med(big, 'kho', l, 'session_pages'), 3)} B/page "
             f"(target ≤8 scattered, ≤0.05 THP)")
for l in LAYOUTS:
    L.append(f"- page data in --kho-pages images, {l}: "
             + ", ".join(f"{s} MiB: {fmt(s, 'kho', l, 'pages_img_bytes', 1, 0)} B" for s in sizes) + " (target 0)")
for l in LAYOUTS:
    L.append(f"- memory the checkpoint takes (free memory before the dump minus its lowest during it), {l}: "
             + ", ".join(f"{s} MiB: kho {fmt(s, 'kho', l, 'ckpt_mem_kib', 1 / 1024, 1)} MiB, "
                         + (f"luo {fmt(s, 'luo', l, 'ckpt_mem_kib', 1 / 1024, 1)} MiB, " if HAS_LUO else "")
                         + f"plain→tmpfs {fmt(s, 'plain', l, 'ckpt_mem_kib', 1 / 1024, 1)} MiB"
                         for s in sizes) + " (target: 0 extra beyond metadata)")
for s in sizes:
    c, sc = dr(s, "kho", "contiguous"), dr(s, "kho", "scattered")
    L.append(f"- kho dump+restore scattered / contiguous at {s} MiB: {ratio(sc, c, 2)} (target ≤1.5)")
for l in LAYOUTS:
    L.append(f"- kho dump+restore per 1000 folios, {l}: " + ", ".join(
        f"{s} MiB: {ratio(dr(s, 'kho', l), (med(s, 'kho', l, 'session_folios') or 0) / 1000, 4)} s"
        for s in sizes) + " (linear in folios: constant)")
# The checkpoint in RAM against images on /host: worse when luo's median
# downtime is more than 5 % above kho's at any size.
for l in (LAYOUTS if HAS_LUO else []):
    parts, worse = [], []
    for s in sizes:
        k, u = med(s, "kho", l, "downtime_s"), med(s, "luo", l, "downtime_s")
        if k is None or u is None or k == 0:
            continue
        parts.append(f"{s} MiB: {u / k:.2f}")
        if u > 1.05 * k:
            worse.append(f"{s} MiB ({(u / k - 1) * 100:+.0f} %)")
    if not parts:
        verdict = "–"
    elif worse:
        verdict = "WORSE: more than 5 % above kho's median at " + ", ".join(worse)
    else:
        verdict = "not worse: at no size more than 5 % above kho's median"
    L.append(f"- downtime, images in RAM vs on /host: ratio per size (luo / kho, medians), {l}: "
             f"{', '.join(parts) or '–'}; {verdict} (target: not worse)")
for l in (LAYOUTS if HAS_LUO else []):
    L.append(f"- images on /host with Live Update (luo), {l}: "
             + ", ".join(f"{s} MiB: {fmt(s, 'luo', l, 'image_bytes_on_disk', 1, 0)} B" for s in sizes)
             + " (target 0)")
fails = {m: int(sum(sum(v) for k, v in vals.items() if k[1] == m and k[3] == "dump_failed_tries"))
         for m in METHODS[1:]}
L.append("- failed --kho-pages dump attempts (retried): "
         + ", ".join(f"{m} {n}" for m, n in fails.items()))
L.append("")

with open(os.path.join(out, "results.md"), "w") as f:
    f.write("\n".join(L) + "\n")


def machine():
    """The host: CPU model, cores, QEMU version."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            if m:
                cpu = re.sub(r"\s+", " ", m.group(1))
    except OSError:
        pass
    try:
        qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                              text=True, check=False).stdout.split("\n")[0].strip()
    except OSError:
        qemu = ""
    return f"{cpu}, {os.cpu_count()} cores" + (f"; {qemu}" if qemu else "")


MEASURED = """\
## What is measured

One VM run (two boots joined by a KHO kexec, `bench/guest.sh`) per size and
repetition; from `--split-from` up every layout gets a boot of its own.
Four layouts of anonymous memory: `contiguous` order-0 pages,
`scattered` order-0 pages faulted in random order into a sieve of single
free frames, `thp`, and `shared`: one `MAP_SHARED | MAP_ANONYMOUS` region
mapped by a parent and two children (shmem, handed over in place through
Live Update's memfd handler and `FILL_SHMEM`, where plain CRIU writes it
into `pages-*.img` once). For each, side by side, each with a workload of its
own: plain CRIU dumping to tmpfs (its best case); `criu dump --kho-pages`
with the images on `/host` as well (kho); and with the images on tmpfs
(luo: kept only with the session in the Live Update session that a holder
process keeps open until the kexec; nothing on `/host`). Then plain CRIU
restoring from tmpfs (same kernel, before the kexec), plain CRIU restoring
from `/host` (9p, survives the reboot) and `criu restore --kho-pages` after
the kexec (luo: into an empty directory, the images taken back from the
Live Update session). kho and luo run in the same boot, kho first in odd
repetitions, luo first in even ones; the first restore after the kexec
does not pay CRIU's kernel probe, a phase of its own. A
memcpy of the same size (yardstick); the driver's metadata bytes per page,
folios by order, pages moved out of KHO scratch; the memory the checkpoint
takes (free memory before the dump minus its lowest during it, polled
every 20 ms). The downtime runs from the freeze to the restored process
answering (`khop_bench ping`) and is split into phases at files whose
mtimes come from the host's clock, so they span the kexec; the next kernel
is loaded (`kexec -s -l`) before the freeze and is not counted. Times under
TCG on shared host cores are noisy: read them as ratios within one run.
"""


def keep_notes(path):
    """The hand-written "## Notes" section of an earlier RESULTS_MD."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return "## Notes\n\nNone yet.\n"
    i = text.find("\n## Notes")
    return text[i + 1:] if i >= 0 else "## Notes\n\nNone yet.\n"


if results_md:
    try:
        with open(os.path.join(out, "commands")) as f:
            commands = [c.strip() for c in f if c.strip()]
    except OSError:
        commands = []
    R = ["# khopages benchmark results", "",
         "Written by `make bench` (`bench/run.sh`, `bench/report.py`) from the "
         "results of its runs; the next run rewrites everything above \"Notes\".", "",
         f"- **Date:** {date}",
         f"- **Machine:** {machine()}",
         "- **Command:** `make bench` runs `bench/run.sh --no-build`; the runs "
         "reported here, with the options they had:"]
    for c in commands or ["|make bench"]:
        when, _, cmd = c.partition("|")
        R.append(f"  - {when + ': ' if when else ''}`{cmd}`")
    R += ["", MEASURED, "## Results", ""]
    R += L[:-1] if L and L[-1] == "" else L
    R += ["", "## Plot", ""]
    if shutil.which("gnuplot"):
        R.append("![dump, restore and downtime against size, plain CRIU and --kho-pages "
                 "(images on /host and in RAM)](RESULTS.png)")
    else:
        R.append("None: gnuplot was missing.")
    R.append("")
    notes = keep_notes(results_md)
    with open(results_md + ".new", "w") as f:
        f.write("\n".join(R) + "\n" + notes)
    os.replace(results_md + ".new", results_md)

# Plot: time against size, one line per method and layout.
series = []
for m, k, title in (("plain", "dump_s", "plain dump→tmpfs"), ("kho", "dump_s", "kho dump"),
                    ("plaintmpfs", "restore_s", "plain restore←tmpfs"),
                    ("plain", "restore_s", "plain restore←9p"), ("kho", "restore_s", "kho restore"),
                    ("plain", "downtime_s", "plain downtime"), ("kho", "downtime_s", "kho downtime"),
                    ("luo", "dump_s", "luo dump"), ("luo", "restore_s", "luo restore"),
                    ("luo", "downtime_s", "luo downtime")):
    for l in LAYOUTS:
        pts = [(s, med(s, m, l, k)) for s in sizes if med(s, m, l, k) is not None]
        if pts:
            series.append((f"{title} {l}", pts, m, k))
mpts = [(s, med(s, "memcpy", "-", "memcpy_ms") / 1e3) for s in sizes
        if med(s, "memcpy", "-", "memcpy_ms") is not None]
with open(os.path.join(out, "plot.dat"), "w") as f:
    for t, pts, _, _ in series + [("memcpy", mpts, "memcpy", "")]:
        f.write(f'# {t}\n')
        for x, y in pts:
            f.write(f"{x} {max(y, 1e-3)}\n")
        f.write("\n\n")
panels = (("dump", "dump_s"), ("restore", "restore_s"), ("downtime (freeze → kexec → running)", "downtime_s"))
gp = [f'set terminal pngcairo size 1800,650 font ",9"',
      f'set output "{out}/bench.png"',
      'set multiplot layout 1,3 title "khopages: plain CRIU vs --kho-pages (kho: images on /host, luo: in RAM), '
      'QEMU TCG guest (' + date + ')"',
      'set logscale xy', 'set xlabel "workload memory (MiB)"', 'set ylabel "seconds"',
      'set key top left font ",7"', 'set grid']
dash = {"contiguous": 1, "scattered": 2, "thp": 3, "shared": 4}
for ptitle, key in panels:
    parts = []
    for i, (t, pts, m, k) in enumerate(series):
        if k != key:
            continue
        color = {"plain": "#d62728", "plaintmpfs": "#ff7f0e", "kho": "#1f77b4", "luo": "#2ca02c"}[m]
        l = t.split()[-1]
        parts.append(f'"{out}/plot.dat" index {i} with linespoints lc rgb "{color}" dt {dash[l]} pt {dash[l] + 4} title "{t}"')
    parts.append(f'"{out}/plot.dat" index {len(series)} with linespoints lc rgb "black" lw 2 title "memcpy"')
    gp.append(f'set title "{ptitle}"')
    gp.append("plot " + ", \\\n     ".join(parts))
gp.append("unset multiplot")
with open(os.path.join(out, "plot.gp"), "w") as f:
    f.write("\n".join(gp) + "\n")
