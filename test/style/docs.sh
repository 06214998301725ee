#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The documentation builds without a warning: the admin guide and the
# design page, rendered by Sphinx with the kernel's own kernel-doc
# extension (from the Linux tree in the cache), every kernel-doc directive
# pulling in the comments of this repository's sources (kernel/ and
# include/, as the kernel build overlays them). A reference to a label of
# the kernel's documentation outside these pages (KHO's, say) is fine when
# the kernel's Documentation defines it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"
SRC=$CACHE/src/linux-source-$KVER
[ -f "$SRC/Documentation/sphinx/kerneldoc.py" ] || die "no kernel tree: run 'make kernel'"
command -v sphinx-build >/dev/null || die "no sphinx-build: run 'make deps'"

pages=(admin-guide/mm/khopages.rst mm/khopages.rst)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" "$tmp/tree"
rsync -r --exclude=tree-hooks --exclude=patches "$TOP/kernel/" "$tmp/tree/"
rsync -r "$TOP/include/" "$tmp/tree/include/"
{
	printf 'khopages\n========\n\n.. toctree::\n\n'
	for p in "${pages[@]}"; do
		mkdir -p "$tmp/src/$(dirname "$p")"
		cp "$TOP/kernel/Documentation/$p" "$tmp/src/$p"
		printf '   %s\n' "${p%.rst}"
	done
} >"$tmp/src/index.rst"
cat >"$tmp/src/conf.py" <<'PY'
import os
import sys
sys.path.insert(0, os.path.join(os.environ["srctree"], "Documentation/sphinx"))
extensions = ["kerneldoc", "rstFlatTable"]
kerneldoc_srctree = os.environ["KHOP_TREE"]
project = "khopages"
c_id_attributes = ["__user", "__must_check", "__init", "__always_inline"]
PY
srctree=$SRC KHOP_TREE=$tmp/tree sphinx-build -b html -q -j 1 "$tmp/src" "$tmp/out" >"$tmp/log" 2>&1
rc=$?
bad=0
while IFS= read -r line; do
	case "$line" in
	*"WARNING: undefined label: '"*)
		label=${line#*undefined label: \'}
		label=${label%%\'*}
		if grep -rqxF ".. _$label:" "$SRC/Documentation"; then
			echo "ok: '$label' is a label of the kernel's documentation"
			continue
		fi
		;;
	esac
	echo "$line"
	bad=1
done <"$tmp/log"
[ "$rc" = 0 ] || { echo "sphinx-build exited $rc"; bad=1; }
[ "$bad" = 0 ] && echo "built ${pages[*]}: no warning"
exit "$bad"
