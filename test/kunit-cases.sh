#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the guest kernel and turn its KUnit KTAP output for the khopages
# suites into one line per case: "ok SUITE.CASE" or "not ok SUITE.CASE".
# Exit 1 when a suite is missing or reports a failure.
#   kunit-cases.sh [vm-run.sh options]   (e.g. another --name and --kernel)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib.sh"

name=kunit
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
	[ "${args[i]}" = --name ] && name=${args[i + 1]}
done
"$TOP/scripts/vm-run.sh" --name kunit --timeout 180 "$@" "$here/vm/kunit-results.sh" || exit 1
python3 - "$CACHE/runs/$name/dmesg.txt" <<'PY'
import re, sys
suite, cases, bad, summaries = None, 0, 0, 0
for line in open(sys.argv[1], errors="replace"):
    line = re.sub(r"^\[[^\]]*\]\s?", "", line.rstrip("\n"))
    m = re.match(r"\s+# Subtest: (\S+)", line)
    if m:
        suite = m.group(1) if m.group(1).startswith("khopages") else None
        continue
    if suite is None:
        continue
    m = re.match(r"\s+(not ok|ok) \d+ (\S+)(.*)", line)
    if m:
        status = "skip" if "# SKIP" in m.group(3) else m.group(1)
        print(f"{status} {suite}.{m.group(2)}")
        cases += 1
        bad += status != "ok"
        continue
    m = re.match(r"# (\S+): pass:(\d+) fail:(\d+) skip:(\d+) total:(\d+)", line)
    if m and m.group(1) == suite:
        summaries += 1
        suite = None
if not summaries or not cases:
    print("no khopages KUnit suite ran")
    sys.exit(1)
sys.exit(1 if bad else 0)
PY
