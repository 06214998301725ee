#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build CRIU 4.2.1 with the --kho-pages patch series and the khopages
# plugin, and list both for the guest initramfs.
#
#   build-criu.sh
#     -> $CACHE/build/criu/criu, $CACHE/build/criu/khopages_plugin.so
#     -> $CACHE/build/guest-manifests/criu.list
#
# The source is unpacked from the orig tarball scripts/deps.sh fetched and
# verified into $CACHE/src/criu-$CRIU_VER, and criu-plugin/patches/*.patch
# are applied in order. A stamp holds the hash of the series: when the
# patches change, the tree is unpacked afresh; otherwise make rebuilds
# incrementally. Host build dependencies come from scripts/deps.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

TARBALL=$CACHE/downloads/criu_${CRIU_VER}.orig.tar.xz
SRC=$CACHE/src/criu-$CRIU_VER
OUT=$CACHE/build/criu
MANIFEST=$CACHE/build/guest-manifests/criu.list
PATCHES=$TOP/criu-plugin/patches
STAMP=$SRC/.khopages-patches
JOBS=${JOBS:-3}

[ -f "$TARBALL" ] && [ -f "$CACHE/downloads/.criu-verified" ] ||
	die "no verified CRIU source at $TARBALL: run scripts/deps.sh (make deps)"
for tool in protoc protoc-c pkg-config; do
	command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh (make deps)"
done

shopt -s nullglob
patches=("$PATCHES"/*.patch)
shopt -u nullglob
[ ${#patches[@]} -gt 0 ] || die "no patches in $PATCHES"

# The series' identity: names and contents, in order, and the tarball;
# and whether libnftables is there: CRIU's Makefile.config looks for it once,
# and only with it can criu lock the network with nftables
# (--network-lock nftables, which the server upgrade uses).
series_hash() {
	{
		basename "$TARBALL"
		pkg-config --modversion libnftables 2>/dev/null || echo "no libnftables"
		for p in "${patches[@]}"; do
			basename "$p"
			cat "$p"
		done
	} | sha256sum | cut -d' ' -f1
}

want=$(series_hash)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
	log "criu: unpacking $(basename "$TARBALL") with ${#patches[@]} patches"
	rm -rf "$SRC" "$SRC.new"
	mkdir -p "$SRC.new"
	tar -xf "$TARBALL" -C "$SRC.new" --strip-components=1
	for p in "${patches[@]}"; do
		patch -d "$SRC.new" -p1 --quiet --forward --no-backup-if-mismatch <"$p" ||
			die "criu: $(basename "$p") does not apply"
	done
	echo "$want" >"$SRC.new/.khopages-patches"
	mv "$SRC.new" "$SRC"
else
	log "criu: patch series unchanged, incremental build"
fi

log "criu: make criu"
make -C "$SRC" -j"$JOBS" CC="ccache gcc" criu >"$SRC/.build.log" 2>&1 || {
	tail -n 40 "$SRC/.build.log" >&2
	die "criu: build failed (log: $SRC/.build.log)"
}
ldd "$SRC/criu/criu" | grep -q libnftables ||
	die "criu: built without libnftables (install libnftables-dev: make deps)"
mkdir -p "$OUT"
install -m 0755 "$SRC/criu/criu" "$OUT/criu.new"
mv "$OUT/criu.new" "$OUT/criu"

log "criu: khopages plugin"
make -s -C "$TOP/criu-plugin" CRIU_SRC="$SRC" O="$OUT" KHOPAGES_CACHE="$CACHE" \
	CC="ccache gcc" all

# criu finds plugins in /usr/lib/criu/ unless told otherwise. It needs no
# other file at run time than the libraries ldd reports (build-guest.sh
# adds those); crit is Python and stays out of the guest.
mkdir -p "$(dirname "$MANIFEST")"
cat >"$MANIFEST.new" <<EOF
$OUT/criu /usr/sbin/criu
$OUT/khopages_plugin.so /usr/lib/criu/khopages_plugin.so
EOF
mv "$MANIFEST.new" "$MANIFEST"
log "criu: $("$OUT/criu" --version | head -n1), plugin $OUT/khopages_plugin.so"
