#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Kernel code of this repository: checkpatch --strict clean, kernel-doc
# complete (no warning) for every file that documents functions, and a
# pr_fmt defined before the first #include of every .c file, so that every
# message carries the driver's prefix.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"
SRC=$CACHE/src/linux-source-$KVER
[ -x "$SRC/scripts/checkpatch.pl" ] || die "no kernel tree: run 'make kernel'"

cd "$TOP"
mapfile -t files < <(find kernel/drivers kernel/mm kernel/include include -name '*.[ch]' | sort)
rc=0
for f in "${files[@]}"; do
	out=$("$SRC/scripts/checkpatch.pl" --strict --no-tree --quiet -f "$f" 2>&1)
	if [ -n "$out" ]; then
		echo "checkpatch --strict: $f"
		echo "$out"
		rc=1
	fi
done
out=$("$SRC/scripts/kernel-doc" -Wall -none "${files[@]}" 2>&1)
if [ -n "$out" ]; then
	echo "kernel-doc -Wall:"
	echo "$out"
	rc=1
fi
# kernel-doc only checks comments that exist: every non-static function
# must have one.
out=$(python3 - "${files[@]}" <<'PY'
import re, sys
for path in sys.argv[1:]:
    if not path.endswith('.c'):
        continue
    lines = open(path).read().split('\n')
    for i, line in enumerate(lines):
        m = re.match(r'^(?!static\b)(?!typedef\b)[A-Za-z_][\w \*]*?\b(\w+)\(', line)
        if not m or line.rstrip().endswith(';'):
            continue
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith(')'):
            j += 1
        if j + 1 >= len(lines) or lines[j + 1] != '{':
            continue
        k = i - 1
        while k >= 0 and lines[k].startswith(' *') or (k >= 0 and lines[k].startswith(' */')):
            k -= 1
        if k < 0 or not lines[k].startswith('/**'):
            print(f"{path}:{i + 1}: {m.group(1)}() has no kernel-doc comment")
PY
)
if [ -n "$out" ]; then
	echo "$out"
	rc=1
fi
# One job per file, and no file reaching into another's internals: each
# file of the driver declares what it offers others in a header of its own
# name, and the files depend on each other (through those headers) without
# a circle.
out=$(python3 - kernel/drivers/misc/khopages <<'PY'
import os, re, sys
d = sys.argv[1]
units = {f[:-2] for f in os.listdir(d) if f.endswith('.c')}
deps, bad = {}, []
for u in sorted(units):
    src = open(os.path.join(d, u + '.c')).read()
    incs = set(re.findall(r'^#include "(\w+)\.h"', src, re.M))
    deps[u] = {i for i in incs if i in units and i != u}
    for i in incs:
        if not os.path.exists(os.path.join(d, i + '.h')):
            bad.append(f'{u}.c includes a header that does not exist: {i}.h')
    if u.endswith('_kunit'):
        continue
    for m in re.finditer(r'^(?!static\b)[A-Za-z_][\w \*]*?\b(\w+)\([^;]*?\)\n\{', src, re.M):
        fn = m.group(1)
        hdr = os.path.join(d, u + '.h')
        if not os.path.exists(hdr) or not re.search(r'\b%s\(' % fn, open(hdr).read()):
            bad.append(f'{u}.c: {fn}() is not declared in {u}.h')
state = {}
def visit(u, path):
    if state.get(u) == 1:
        cyc = path[path.index(u):] + [u]
        bad.append('files depend on each other in a circle: ' + ' -> '.join(cyc))
        return
    if state.get(u) == 2:
        return
    state[u] = 1
    for v in sorted(deps[u]):
        visit(v, path + [u])
    state[u] = 2
for u in sorted(units):
    visit(u, [])
print('\n'.join(dict.fromkeys(bad)))
PY
)
if [ -n "$out" ]; then
	echo "$out"
	rc=1
fi
for f in "${files[@]}"; do
	case "$f" in *.c) ;; *) continue ;; esac
	first=$(grep -m1 -nE '^#(include|define pr_fmt)' "$f")
	case "$first" in
	*'#define pr_fmt(fmt) "khopages: " fmt') ;;
	*) echo "$f: no '#define pr_fmt(fmt) \"khopages: \" fmt' before its first #include"; rc=1 ;;
	esac
	if grep -nE 'pr_[a-z_]+\(\s*"khopages: ' "$f"; then
		echo "$f: a message repeats the prefix pr_fmt adds"
		rc=1
	fi
done
echo "checked ${#files[@]} files: checkpatch --strict, kernel-doc -Wall, pr_fmt, the driver's file dependencies"
exit $rc
