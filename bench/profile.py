#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Where the guest kernel spent its ticks, per benchmark phase.

    profile.py SYSTEM_MAP PROFILE_DIR  > profile.md

PROFILE_DIR holds SIZE-REP/PHASE files, each a copy of /proc/profile taken
at the end of one phase (bench/guest.sh resets it at the start): a u32
bucket size in bytes, then one u32 tick count per bucket of kernel text
from _stext. Ticks of the same size and phase are summed over the runs.
The kernel counts a tick only when it interrupts kernel code (idle
included); time in user space does not show here.
"""
import bisect
import collections
import os
import re
import struct
import sys

TOP = int(os.environ.get("PROFILE_TOP", "12"))

# What a function's ticks count as, first match wins. A tick that lands
# on a spin_unlock_irq* is time spent with interrupts off just before it
# (the tick could not be taken earlier), mostly LRU and zone locks.
CATEGORIES = (
    ("idle (waiting, e.g. for 9p I/O)", r"safe_halt|default_idle|cpu_idle|do_idle"),
    ("interrupts-off sections (LRU, zone locks)", r"_raw_spin_unlock_irq"),
    ("xarray/radix tree (driver and KHO indexes, page cache)", r"^(__)?xa[s]?_|radix_tree"),
    ("khopages driver", r"^khop"),
    ("KHO", r"^(__)?kho_"),
    ("copy, clear, zero", r"memcpy|memset|memmove|copy_|clear_page|clear_highpage|rep_movs|rep_stos"),
    ("page tables, GUP, page walks", r"gup|get_user_pages|follow_page|_pte|_pmd|walk|vm_normal_page|zap|pagemap|smaps|mmap|unmap"),
    ("LRU, rmap, memcg, page state", r"lru|rmap|memcg|lruvec|folio_|page_ref|mod_node|mod_zone|isolate|migrat"),
    ("9p, virtio", r"p9|v9fs|virtio|vring"),
    ("decompression (initramfs)", r"ZSTD|HUF_|FSE_|zstd"),
)


def category(name):
    for title, pattern in CATEGORIES:
        if re.search(pattern, name):
            return title
    return "other"


def load_symbols(path):
    """Sorted (address, name) of the text symbols, and _stext."""
    syms, stext = [], None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] not in "tTwW":
                continue
            addr = int(parts[0], 16)
            syms.append((addr, parts[2]))
            if parts[2] == "_stext":
                stext = addr
    if stext is None:
        sys.exit(f"profile: no _stext in {path}")
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms], stext


def ticks_by_function(path, addrs, names, stext):
    data = open(path, "rb").read()
    if len(data) < 8:
        return collections.Counter()
    step = struct.unpack_from("<I", data)[0]
    counts = struct.unpack_from(f"<{len(data) // 4 - 1}I", data, 4)
    out = collections.Counter()
    for i, n in enumerate(counts):
        if not n:
            continue
        i_sym = bisect.bisect_right(addrs, stext + i * step) - 1
        out[names[i_sym] if i_sym >= 0 else "?"] += n
    return out


def main():
    addrs, names, stext = load_symbols(sys.argv[1])
    root = sys.argv[2]
    phases = collections.defaultdict(collections.Counter)
    runs = collections.defaultdict(set)
    for run in sorted(os.listdir(root)):
        size = run.split("-")[0]
        for phase in os.listdir(os.path.join(root, run)):
            key = (int(size), phase)
            phases[key] += ticks_by_function(os.path.join(root, run, phase),
                                             addrs, names, stext)
            runs[key].add(run)
    print("# Kernel tick profile per phase\n")
    print("The guest kernel booted with `profile=2`: at every timer tick "
          "(HZ=250, 4 ms) that interrupts kernel code, the function it "
          "interrupted gets one tick. Idle time shows as the idle "
          "functions; user-space time is not counted. Ticks are summed "
          "over the runs of a size (column n).\n")
    for (size, phase) in sorted(phases):
        c = phases[(size, phase)]
        total = sum(c.values())
        print(f"## {size} MiB, {phase} (n={len(runs[(size, phase)])}, "
              f"{total} kernel ticks = {total * 4 / 1000:.2f} s)\n")
        if not total:
            print("(no kernel ticks)\n")
            continue
        cats = collections.Counter()
        for name, n in c.items():
            cats[category(name)] += n
        print("| where | ticks | share |")
        print("|---|---|---|")
        for name, n in cats.most_common():
            print(f"| {name} | {n} | {100 * n / total:.1f}% |")
        print()
        print("| function | ticks | share |")
        print("|---|---|---|")
        for name, n in c.most_common(TOP):
            print(f"| `{name}` | {n} | {100 * n / total:.1f}% |")
        print()


if __name__ == "__main__":
    main()
