#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the host packages (Debian 12) and fetch the kernel and CRIU
# sources from newer Debian suites into the cache directory.
# Idempotent: a second run installs and downloads nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

HOST_PACKAGES=(
	build-essential patch bc bison flex libelf-dev libssl-dev ccache cpio xz-utils
	zstd lz4 rsync python3 dpkg-dev busybox-static kexec-tools qemu-system-x86
	libfdt-dev device-tree-compiler pkg-config
	protobuf-compiler protobuf-c-compiler libprotobuf-dev libprotobuf-c-dev
	libnl-3-dev libnet1-dev libcap-dev libbsd-dev uuid-dev libaio-dev
	libgnutls28-dev python3-protobuf iproute2 asciidoctor redis-tools
	python3-sphinx
)

APT_SOURCES=/etc/apt/sources.list.d/khopages-newer-suites.sources
APT_PIN=/etc/apt/preferences.d/khopages-newer-suites

# Newer suites are added for downloads only: a pin of 50 keeps every host
# package at its bookworm version.
add_newer_suites() {
	local changed=0
	if [ ! -f "$APT_PIN" ]; then
		cat >"$APT_PIN" <<'PIN'
# khopages: newer suites are only for downloading sources; never upgrade.
Package: *
Pin: release n=trixie-backports
Pin-Priority: 50

Package: *
Pin: release n=trixie
Pin-Priority: 50

Package: *
Pin: release a=unstable
Pin-Priority: 50
PIN
		changed=1
	fi
	if [ ! -f "$APT_SOURCES" ]; then
		cat >"$APT_SOURCES" <<'SRC'
# khopages: linux-source-7.2 and -7.3 (trixie-backports) and the CRIU source (sid)
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		changed=1
	fi
	[ "$changed" = 0 ] && [ -f "$CACHE/.apt-updated" ] && return 0
	log "apt-get update (newer suites added with pin priority 50)"
	apt-get update -qq
	touch "$CACHE/.apt-updated"
}

install_host_packages() {
	local missing=()
	for p in "${HOST_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	log "installing host packages: ${missing[*]}"
	[ -f "$CACHE/.apt-updated" ] || apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

# Both ends of the upgrade: linux-source-7.2 and linux-source-7.3.
fetch_kernel_sources() {
	local dir=$CACHE/downloads v
	for v in "${KVERS[@]}"; do
		ls "$dir"/linux-source-"${v}"_*.deb >/dev/null 2>&1 && continue
		log "downloading linux-source-$v from trixie-backports"
		(cd "$dir" && apt-get download -qq "linux-source-$v/trixie-backports")
	done
}

# apt-get source fails on the missing debian tarball; the orig tarball is
# what we need, checked against the .dsc.
fetch_criu_source() {
	local dir=$CACHE/downloads tarball=criu_${CRIU_VER}.orig.tar.xz
	[ -f "$dir/$tarball" ] && [ -f "$dir/.criu-verified" ] && return 0
	log "downloading CRIU $CRIU_VER source from sid"
	(cd "$dir" && apt-get source -qq --download-only "criu/sid" || true)
	local dsc want have
	dsc=$(ls "$dir"/criu_"${CRIU_VER}"-*.dsc | head -n1)
	want=$(awk -v f="$tarball" '/^Checksums-Sha256:/{s=1;next} /^[A-Z]/{s=0} s && $3==f {print $1}' "$dsc")
	have=$(sha256sum "$dir/$tarball" | cut -d' ' -f1)
	[ -n "$want" ] && [ "$want" = "$have" ] ||
		die "CRIU tarball checksum mismatch (dsc: '$want', file: '$have')"
	touch "$dir/.criu-verified"
}

mkdir -p "$CACHE/downloads"
add_newer_suites
install_host_packages
fetch_kernel_sources
fetch_criu_source
log "deps ready in $CACHE"
