#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# PostgreSQL for `make demo APP=postgres`: Debian's postgresql-15
# (bookworm; scripts/deps.sh installs it) copied into a directory that the
# demo's guest mounts read-only over 9p (vm-run.sh --share), like a real
# server has its installation on a disk:
#
#   $CACHE/build/postgres/root/usr/lib/postgresql/15/bin/  postgres, initdb, psql
#   $CACHE/build/postgres/root/usr/lib/postgresql/15/lib/  the modules (no JIT)
#   $CACHE/build/postgres/root/usr/share/postgresql/15/    catalogs, extensions
#   $CACHE/build/postgres/root/lib/                        every library they load
#
# The layout under the root is the host's: PostgreSQL finds its share and
# module directories relative to its binary. The guest runs the programs
# with LD_LIBRARY_PATH=<mount point>/lib (its initramfs has no ICU, no
# libxml2, no Kerberos).
#
# Not in the guest initramfs: that one every test boots, and the demo's
# kernel B unpacks it (and purgatory hashes it) inside the downtime; the
# libraries alone (ICU's data is 30 MiB) would nearly triple it.
#
#   build-postgres-guest.sh          -> $CACHE/build/postgres/root
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

PGVER=15
PKG=postgresql-$PGVER
OUT=$CACHE/build/postgres
ROOT=$OUT/root

if ! dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'ok installed'; then
	log "$PKG is not installed: running deps.sh"
	"$here/deps.sh"
fi
version=$(dpkg-query -W -f='${Version}' "$PKG")
# The copy of glibc in lib/ must match the guest's dynamic loader, which
# build-guest.sh copies from the host: build again when either changes.
stamp="$PKG $version, libc6 $(dpkg-query -W -f='${Version}' libc6)"
bin=/usr/lib/postgresql/$PGVER/bin
pkglib=/usr/lib/postgresql/$PGVER/lib
share=/usr/share/postgresql/$PGVER
for f in "$bin/postgres" "$bin/initdb" "$bin/psql" "$pkglib/pg_buffercache.so" \
	"$pkglib/pg_prewarm.so" "$share/extension/pg_buffercache.control"; do
	[ -e "$f" ] || die "$PKG $version installed, but $f is missing"
done

# Built already from this version of the package?
if [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$ROOT$bin/postgres" ]; then
	log "postgres: $PKG $version in $ROOT (as built)"
	exit 0
fi

rm -rf "$ROOT.new"
mkdir -p "$ROOT.new/lib"
# A program or module, and the libraries ldd finds for it, flat in lib/
# (but for the dynamic loader: the guest has the host's at its own path).
add() {
	local src=$1 lib
	install -D -m 0755 "$src" "$ROOT.new$src"
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
		case "$lib" in */ld-linux*) continue ;; esac
		[ -e "$ROOT.new/lib/${lib##*/}" ] || install -m 0755 "$lib" "$ROOT.new/lib/${lib##*/}"
	done
}
for p in postgres initdb psql; do
	add "$bin/$p"
done
# Every module but the LLVM JIT provider: the demo runs with jit=off, and
# without the file the server turns JIT off by itself as well.
for m in "$pkglib"/*.so; do
	case "${m##*/}" in llvmjit*) continue ;; esac
	add "$m"
done
mkdir -p "$ROOT.new$share"
(cd "$share" && tar --exclude=./man -cf - .) | (cd "$ROOT.new$share" && tar -xf -)

rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"
echo "$stamp" >"$OUT/stamp"
log "postgres: $PKG $version -> $ROOT ($(du -sh "$ROOT" | cut -f1))"
