#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the test guest's initramfs: busybox, kexec (Debian's kexec-tools),
# and every program listed in the guest manifests with the shared libraries
# ldd finds for it. The kernels are not in it: the guest kexecs them from
# /host/boot (scripts/vm-run.sh), so every kexec hashes (purgatory) and
# every boot unpacks a smaller initramfs.
#
#   build-guest.sh [KERNEL_BUILD_NAME]   -> $CACHE/build/guest/initrd.img
# It also copies the kernels the tests boot beside it: kernel-A (the
# build KERNEL_BUILD_NAME, Linux $KVER) and kernel-old (the build
# KERNEL_BUILD_NAME-$KVER_OLD, Linux $KVER_OLD, when it exists).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

kname=${1:-guest}
KIMG=$CACHE/build/kernel-$kname/arch/x86/boot/bzImage
KIMG_OLD=$CACHE/build/kernel-$kname-$KVER_OLD/arch/x86/boot/bzImage
OUTDIR=$CACHE/build/guest
ROOT=$OUTDIR/root
[ -f "$KIMG" ] || die "no kernel at $KIMG: run 'make kernel'"

# Copy a program and the libraries it loads, at the same paths. Programs
# lose their debug sections (symbols stay): criu alone is 6 MiB with them,
# 1.8 without, and every kexec hashes the whole archive in purgatory.
add_program() {
	local src=$1 dst=${2:-$1} lib
	[ -e "$src" ] || die "guest: $src is missing"
	install -D -m 0755 "$src" "$ROOT$dst"
	if [ "$(head -c 4 "$src" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		strip --strip-debug "$ROOT$dst" || die "guest: cannot strip $dst"
	fi
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
		[ -e "$ROOT$lib" ] || install -D -m 0755 "$lib" "$ROOT$lib"
	done
}

rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,tmp,host,etc,root,lib/khopages}
install -m 0755 /bin/busybox "$ROOT/bin/busybox"
install -m 0755 "$here/guest/init" "$ROOT/init"
install -m 0644 "$here/guest/guest-lib.sh" "$ROOT/lib/khopages/guest-lib.sh"
add_program /sbin/kexec
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"

# Manifests list further files: "PATH_ON_HOST [PATH_IN_GUEST]" per line.
for manifest in "$CACHE"/build/guest-manifests/*.list; do
	[ -f "$manifest" ] || continue
	while read -r src dst; do
		case "$src" in ''|'#'*) continue ;; esac
		add_program "$src" "${dst:-$src}"
	done <"$manifest"
done

# Not compressed: every boot unpacks it, also the one after the kexec,
# inside the downtime. Under TCG, zstd took the new kernel 0.6-2.5 s for
# it (and varied), the plain archive 2.5x as large costs purgatory's hash
# and the copy far less (2.5-3.0 s against 3.3-5.1 s from kexec -e to the
# next stage, 5 GiB guest, 3 GiB handed over, 2026-12-03).
(cd "$ROOT" && find . | cpio -o -H newc --quiet) >"$OUTDIR/initrd.img.new"
mv "$OUTDIR/initrd.img.new" "$OUTDIR/initrd.img"
cp "$KIMG" "$OUTDIR/kernel-A"
# The older kernel of the upgrade (make kernel-old), beside it when built.
rm -f "$OUTDIR/kernel-old"
if [ -f "$KIMG_OLD" ]; then
	cp "$KIMG_OLD" "$OUTDIR/kernel-old"
	log "guest: kernel-A $(kernel_release "$OUTDIR/kernel-A"), kernel-old $(kernel_release "$OUTDIR/kernel-old")"
fi
log "guest: $OUTDIR/initrd.img ($(du -h "$OUTDIR/initrd.img" | cut -f1))"
