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
	device-tree-compiler pkg-config
	protobuf-compiler protobuf-c-compiler libprotobuf-dev libprotobuf-c-dev
	libnl-3-dev libnet1-dev libcap-dev libbsd-dev uuid-dev libaio-dev
	libgnutls28-dev python3-protobuf iproute2 asciidoctor redis-tools
	python3-sphinx postgresql-15
	mmdebstrap debhelper e2fsprogs qemu-utils libnftables-dev nftables iptables
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

# postgresql-15 is there for `make demo APP=postgres`, which copies its
# programs into the guest's share; the host is not to run a server.
# Installed from scratch, Debian's package creates a cluster "15 main" and
# starts it: a drop-in in createcluster.d (postgresql-common reads it)
# tells it not to for this installation, and a cluster made all the same
# (an older postgresql-common) is stopped and dropped. A cluster the host
# had before is left alone.
PG_NO_CLUSTER=/etc/postgresql-common/createcluster.d/khopages-no-cluster.conf

install_host_packages() {
	local missing=() p pg_new=0 rc=0
	for p in "${HOST_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	log "installing host packages: ${missing[*]}"
	[ -f "$CACHE/.apt-updated" ] || apt-get update -qq
	if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e /etc/postgresql/15/main ]; then
		pg_new=1
		mkdir -p "${PG_NO_CLUSTER%/*}"
		printf '# khopages: no cluster when postgresql-15 is installed\ncreate_main_cluster = false\n' \
			>"$PG_NO_CLUSTER"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	if [ "$pg_new" = 1 ]; then
		rm -f "$PG_NO_CLUSTER"
		rmdir --ignore-fail-on-non-empty "${PG_NO_CLUSTER%/*}"
		if [ -e /etc/postgresql/15/main ] && [ -x /usr/bin/pg_dropcluster ]; then
			log "dropping the PostgreSQL cluster 15/main that the install created"
			pg_dropcluster --stop 15 main
		fi
	fi
	[ "$rc" = 0 ] || die "apt-get install failed (exit $rc)"
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
