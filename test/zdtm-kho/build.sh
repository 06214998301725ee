#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build CRIU's zdtm static tests for the zdtm-kho runner.
#
#   test/zdtm-kho/build.sh
#     -> $CACHE/build/zdtm/{Makefile.inc,lib,static}: the tests, built
#     -> $CACHE/build/zdtm/cmdlines: "NAME ARGS..." as the zdtm Makefile
#        starts each built test (make -n NAME.pid)
#
# The sources come from the verified CRIU tarball, with the parts of
# criu-plugin/patches/*.patch under test/zdtm applied in order (the tests
# the patches add, e.g. cow02), unpacked afresh when the tarball or the
# patches change; make then rebuilds incrementally. Tests that do not
# build here (missing libraries, other architectures) are left out and
# listed in $CACHE/build/zdtm/build-failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

TARBALL=$CACHE/downloads/criu_${CRIU_VER}.orig.tar.xz
PATCHES=$here/../../criu-plugin/patches
OUT=$CACHE/build/zdtm
JOBS=${JOBS:-$(nproc)}
[ -f "$TARBALL" ] && [ -f "$CACHE/downloads/.criu-verified" ] ||
	die "no verified CRIU source at $TARBALL: run scripts/deps.sh (make deps)"

shopt -s nullglob
patches=("$PATCHES"/*.patch)
shopt -u nullglob
# Only the files of a patch under test/zdtm/ (git format-patch: one
# "diff --git a/PATH b/PATH" section per file).
zdtm_part() { awk '/^diff --git / { keep = ($3 ~ /^a\/test\/zdtm\//) } keep' "$1"; }

stamp=$({
	sha256sum "$TARBALL" | cut -d' ' -f1
	for p in "${patches[@]}"; do
		basename "$p"
		zdtm_part "$p"
	done
} | sha256sum | cut -d' ' -f1)
if [ "$(cat "$OUT/.source" 2>/dev/null)" != "$stamp" ]; then
	log "zdtm: unpacking test/zdtm from $(basename "$TARBALL")"
	rm -rf "$OUT" "$OUT.new"
	mkdir -p "$OUT.new"
	tar -xf "$TARBALL" -C "$OUT.new" --strip-components=3 \
		"criu-$CRIU_VER/test/zdtm/Makefile.inc" \
		"criu-$CRIU_VER/test/zdtm/lib" "criu-$CRIU_VER/test/zdtm/static"
	for p in "${patches[@]}"; do
		part=$(zdtm_part "$p")
		[ -n "$part" ] || continue
		log "zdtm: test/zdtm of $(basename "$p")"
		printf '%s\n' "$part" | patch -d "$OUT.new" -p3 --quiet --forward --no-backup-if-mismatch ||
			die "zdtm: the test/zdtm part of $(basename "$p") does not apply"
	done
	echo "$stamp" >"$OUT.new/.source"
	mv "$OUT.new" "$OUT"
fi

log "zdtm: make lib"
make -s -C "$OUT/lib" -j"$JOBS" >"$OUT/build.log" 2>&1 || {
	tail -n 30 "$OUT/build.log" >&2
	die "zdtm: lib does not build (log: $OUT/build.log)"
}

# Every test the Makefile knows: the targets of its NAME.pid rules.
tests=$(make -s -C "$OUT/static" -pn cleanout 2>/dev/null |
	sed -n 's/^\([A-Za-z0-9_+.-]*\)\.pid: .*/\1/p' | sort -u)
log "zdtm: make static ($(echo "$tests" | wc -w) tests, -k)"
# shellcheck disable=SC2086
make -k -C "$OUT/static" -j"$JOBS" $tests >>"$OUT/build.log" 2>&1 || true

# The start commands change only with the Makefile or the set of tests.
if [ -f "$OUT/cmdlines" ] && [ "$OUT/cmdlines" -nt "$OUT/static/Makefile" ] &&
	[ -z "$(find "$OUT/static" -maxdepth 1 -type f -perm -u+x -newer "$OUT/cmdlines" | head -n 1)" ]; then
	log "zdtm: $(wc -l <"$OUT/cmdlines") tests built, $(wc -l <"$OUT/build-failed") not (unchanged)"
	exit 0
fi
: >"$OUT/cmdlines.new"
: >"$OUT/build-failed"
for t in $tests; do
	if [ ! -x "$OUT/static/$t" ]; then
		echo "$t" >>"$OUT/build-failed"
		continue
	fi
	# The command the Makefile runs for NAME.pid, without building.
	cmd=$(make -s -C "$OUT/static" -n -o "$t" "$t.pid" 2>/dev/null | tail -n 1)
	case "$cmd" in
	"./$t "*) echo "$t ${cmd#./$t }" >>"$OUT/cmdlines.new" ;;
	*) echo "$t" >>"$OUT/build-failed" ;;
	esac
done
mv "$OUT/cmdlines.new" "$OUT/cmdlines"
log "zdtm: $(wc -l <"$OUT/cmdlines") tests built, $(wc -l <"$OUT/build-failed") not (see $OUT/build-failed)"
