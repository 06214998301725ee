#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check libkhopages' error messages against the UAPI header.

   check_errors.py HEADER SOURCE

The header states every error once: the ones common to every command in
its "DOC: khopages ioctl interface" block, each command's own in the
kernel-doc comment of its KHOPAGES_IOC_* macro, one "ERRNO: meaning" item
each. SOURCE's tables common_errors and op_errors[OP_*] must hold the same
(errno, meaning) pairs, meaning as the header words it (without the final
full stop). Prints every difference and one "ok"/"not ok" line;
exits 1 on a difference.
"""
import re
import sys

ITEM = re.compile(r"^ \*  - (E[A-Z]+(?:, E[A-Z]+)*): (.*)$")
MORE = re.compile(r"^ \*    (\S.*)$")


def items(comment):
    """{errno: meaning} of the "- ERRNO: meaning" items of a comment."""
    out = {}
    cur = None
    for line in comment:
        m = ITEM.match(line)
        if m:
            cur = [m.group(1).split(", "), [m.group(2)]]
            for e in cur[0]:
                out[e] = cur[1]
            continue
        m = MORE.match(line)
        if cur and m:
            cur[1].append(m.group(1))
        else:
            cur = None
    return {e: re.sub(r"\.$", "", " ".join(t)) for e, t in out.items()}


def header_errors(path):
    lines = open(path).read().split("\n")
    common, ops = None, {}
    i = 0
    while i < len(lines):
        if lines[i] != "/**":
            i += 1
            continue
        j = i
        while not lines[j].startswith(" */"):
            j += 1
        comment, first = lines[i + 1:j], lines[i + 1]
        if first == " * DOC: khopages ioctl interface":
            common = items(comment)
        m = re.match(r"^ \* define KHOPAGES_IOC_(\w+) - ", first)
        if m:
            if not lines[j + 1].startswith(f"#define KHOPAGES_IOC_{m.group(1)}\t"):
                sys.exit(f"{path}:{j + 2}: the comment of KHOPAGES_IOC_{m.group(1)} "
                         "is not right above it")
            ops[m.group(1)] = items(comment)
        i = j + 1
    defined = set(re.findall(r"^#define KHOPAGES_IOC_(\w+)\t+_IO", "\n".join(lines), re.M))
    for name in sorted(defined - set(ops)):
        sys.exit(f"{path}: KHOPAGES_IOC_{name} has no kernel-doc comment with its errors")
    if not common:
        sys.exit(f"{path}: no common errors in 'DOC: khopages ioctl interface'")
    return common, ops


def c_string(s):
    return bytes(s, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def source_errors(path):
    text = open(path).read()
    entry = re.compile(r'\{ (E[A-Z]+), "((?:[^"\\]|\\.)*)" \}')

    def table(body):
        out = {}
        for e, t in entry.findall(body):
            if e in out:
                sys.exit(f"{path}: {e} twice in one table")
            out[e] = c_string(t)
        return out

    m = re.search(r"common_errors\[\] = \{(.*?)\n\};", text, re.S)
    if not m:
        sys.exit(f"{path}: no common_errors table")
    common = table(m.group(1))
    m = re.search(r"op_errors\[OP_COUNT\]\[\d+\] = \{(.*?)\n\};", text, re.S)
    if not m:
        sys.exit(f"{path}: no op_errors table")
    ops = {}
    for name, body in re.findall(r"\[OP_(\w+)\] = \{(.*?)\n\t\}", m.group(1), re.S):
        ops[name] = table(body)
    return common, ops


def compare(where, want, got, out):
    for e in sorted(set(want) | set(got)):
        if e not in got:
            out.append(f"{where} {e}: missing from the library; the header says \"{want[e]}\"")
        elif e not in want:
            out.append(f"{where} {e}: the library says \"{got[e]}\"; the header does not list it")
        elif want[e] != got[e]:
            out.append(f"{where} {e}: the header says \"{want[e]}\", the library \"{got[e]}\"")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    hcommon, hops = header_errors(sys.argv[1])
    scommon, sops = source_errors(sys.argv[2])
    diffs = []
    compare("common", hcommon, scommon, diffs)
    for name in sorted(set(hops) | set(sops)):
        if name not in sops:
            diffs.append(f"{name}: the library has no table for this command")
        elif name not in hops:
            diffs.append(f"{name}: the header has no KHOPAGES_IOC_{name}")
        else:
            compare(name, hops[name], sops[name], diffs)
    # One case in the format of the unit tests (make check counts it).
    for d in diffs:
        print(f"# {d}")
    if diffs:
        print(f"# {sys.argv[2]} and {sys.argv[1]} disagree (the header is the reference)")
        print("not ok 1 - error messages: the library says what the UAPI header says")
        return 1
    print("ok 1 - error messages: the library says what the UAPI header says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
