#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build a guest kernel: unpack Debian's linux-source-VERSION once, overlay
# this repository's kernel/ tree onto it, configure tinyconfig + our
# fragments and build bzImage with ccache.
#
#   build-kernel.sh [--version 7.2|7.3] [--seed BUILD] NAME [FRAGMENT...]
# VERSION is the Debian source (default $KVER, the newest: see
# scripts/lib.sh); each version has its own unpacked tree, all share the
# cache and ccache. NAME picks the build directory
# ($CACHE/build/kernel-NAME); FRAGMENTs are extra config fragments in the
# tree's arch/x86/configs (a debug configuration, the kernel without
# khopages). --seed BUILD starts a new build directory as a copy of
# $CACHE/build/kernel-BUILD (same version): Kbuild records which options
# each object depends on, so a configuration that differs in a few options
# (the kernel without khopages) rebuilds only what they touch, instead of
# every object (ccache still preprocesses each one: 6 minutes on 2 cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

if [ "${1:-}" = --version ]; then
	KVER=${2:?build-kernel.sh: --version needs 7.2 or 7.3}
	shift 2
fi
seed=""
if [ "${1:-}" = --seed ]; then
	seed=${2:?build-kernel.sh: --seed needs a build name}
	shift 2
fi
case " ${KVERS[*]} " in
*" $KVER "*) ;;
*) die "build-kernel.sh: version $KVER is not one of: ${KVERS[*]}" ;;
esac
name=${1:-guest}
shift || true
fragments=(khopages_guest.config "$@")
SRC=$CACHE/src/linux-source-$KVER
OUT=$CACHE/build/kernel-$name

unpack_source() {
	[ -f "$SRC/.khopages-unpacked" ] && return 0
	local deb
	deb=$(ls "$CACHE"/downloads/linux-source-${KVER}_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "linux-source-$KVER not downloaded: run 'make deps'"
	log "unpacking $(basename "$deb")"
	rm -rf "$SRC" && mkdir -p "$CACHE/src"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO ./usr/src/linux-source-$KVER.tar.xz | tar -xJ -C "$CACHE/src"
	touch "$SRC/.khopages-unpacked"
}

# Bring the tree to exactly the series in kernel/patches/ (changes to
# upstream files, see kernel/patches/README.md): the series applied last
# time is kept in $SRC/.khopages-patches; when it differs, it is reversed
# (last patch first) and the current one applied. patch rewrites only the
# files it changes, so make rebuilds only those.
apply_patches() {
	local applied=$SRC/.khopages-patches p i
	local -a want have
	shopt -s nullglob
	want=("$TOP"/kernel/patches/*.patch)
	have=("$applied"/*.patch)
	shopt -u nullglob
	if [ ${#want[@]} = ${#have[@]} ] &&
	   [ "$(cat "${want[@]}" /dev/null | sha256sum)" = \
	     "$(cat "${have[@]}" /dev/null | sha256sum)" ]; then
		return 0
	fi
	for ((i = ${#have[@]} - 1; i >= 0; i--)); do
		patch -d "$SRC" -p1 -R --quiet --no-backup-if-mismatch <"${have[i]}" ||
			die "cannot take back $(basename "${have[i]}"): remove $SRC to unpack it again"
	done
	rm -rf "$applied" && mkdir -p "$applied"
	for p in "${want[@]}"; do
		log "kernel: applying $(basename "$p")"
		patch -d "$SRC" -p1 --forward --dry-run --quiet <"$p" >/dev/null ||
			die "kernel: $(basename "$p") does not apply to linux-source-$KVER"
		patch -d "$SRC" -p1 --forward --quiet --no-backup-if-mismatch <"$p"
		cp "$p" "$applied/"
	done
}

# Copy kernel/ and the top-level include/ (the uapi header, shared with
# lib/) into the tree (checksums, so untouched files keep their mtime and
# make rebuilds only what changed), then add the one-line hooks that make
# the driver an ordinary in-tree one. The driver's directory is wholly
# ours: a file deleted or renamed here goes from the tree too.
overlay_repo() {
	rsync -rc --exclude=tree-hooks --exclude=patches "$TOP/kernel/" "$SRC/"
	rsync -rc --delete "$TOP/kernel/drivers/misc/khopages/" \
		"$SRC/drivers/misc/khopages/"
	rsync -rc "$TOP/include/" "$SRC/include/"
	local file line
	while IFS=$'\t' read -r file line; do
		case "$file" in ''|'#'*) continue ;; esac
		grep -qxF "$line" "$SRC/$file" || printf '%s\n' "$line" >>"$SRC/$file"
	done <"$TOP/kernel/tree-hooks"
}

configure() {
	local want=$OUT/.khopages-fragments stamp
	stamp=$(cd "$SRC/arch/x86/configs" && cat "${fragments[@]}" | sha256sum)
	[ -f "$OUT/.config" ] && [ "$(cat "$want" 2>/dev/null)" = "$stamp" ] && return 0
	log "configuring kernel-$name: tinyconfig + ${fragments[*]}"
	if [ -n "$seed" ] && [ ! -f "$OUT/.config" ] &&
	   [ -f "$CACHE/build/kernel-$seed/.config" ]; then
		log "kernel-$name: starting from a copy of kernel-$seed"
		rm -rf "$OUT" && mkdir -p "$OUT"
		cp -a "$CACHE/build/kernel-$seed/." "$OUT/"
		rm -f "$OUT/.khopages-fragments"
	fi
	mkdir -p "$OUT"
	make -s -C "$SRC" O="$OUT" tinyconfig >/dev/null
	make -s -C "$SRC" O="$OUT" "${fragments[@]}" >/dev/null
	check_config
	echo "$stamp" >"$want"
}

# merge_config only warns when Kconfig drops a requested option; we fail.
# A later fragment overrides an earlier one (kernel B's LOCALVERSION), so
# only the last setting of each symbol is checked.
check_config() {
	local f opt sym bad=0 i
	local -A seen=()
	for ((i = ${#fragments[@]} - 1; i >= 0; i--)); do
		f=${fragments[i]}
		while read -r opt; do
			case "$opt" in
			'# '*) sym=${opt#\# }; sym=${sym%% *} ;;
			*) sym=${opt%%=*} ;;
			esac
			[ -z "${seen[$sym]:-}" ] || continue
			seen[$sym]=1
			case "$opt" in
			'# '*) grep -q "^$sym=" "$OUT/.config" || continue ;;
			*) grep -qxF "$opt" "$OUT/.config" && continue ;;
			esac
			printf 'config: "%s" (from %s) did not stick\n' "$opt" "$f" >&2
			bad=1
		done < <(grep -E '^(CONFIG_|# CONFIG_.* is not set)' "$SRC/arch/x86/configs/$f")
	done
	[ "$bad" = 0 ] || die "kernel-$name: configuration does not match the fragments"
}

build() {
	log "building kernel-$name (ccache in $CCACHE_DIR)"
	# KBUILD_BUILD_VERSION=1 as `make bindeb-pkg` sets it (package
	# revision 1, scripts/build-server-guest.sh): the same UTS version
	# either way, so neither build relinks what the other linked.
	make -s -C "$SRC" O="$OUT" -j"$(($(nproc) + 1))" CC="ccache gcc" \
		KBUILD_BUILD_USER=khopages KBUILD_BUILD_HOST=build KBUILD_BUILD_VERSION=1 bzImage
	log "kernel-$name: $(cat "$OUT/include/config/kernel.release") -> $OUT/arch/x86/boot/bzImage"
}

unpack_source
apply_patches
overlay_repo
configure
build
