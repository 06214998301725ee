#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the server guest: a small Debian 12 (bookworm) system on a raw ext4
# disk image, with systemd, Redis as a service, both guest kernels
# installed as Debian packages, CRIU with the khopages plugin, khopagesctl
# and khopages-upgrade. QEMU boots it without a boot loader or initramfs:
# -kernel vmlinuz-RELEASE -append "root=/dev/vda ...".
#
#   build-server-guest.sh
#     -> $CACHE/build/server/server.img (whole-disk ext4, no partition table)
#     -> $CACHE/build/server/vmlinuz-RELEASE for both kernels, and
#        $CACHE/build/server/kernels: "OLD_RELEASE NEW_RELEASE"
#
# Three layers, each cached: the Debian base (mmdebstrap, in
# base-HASH.tar, HASH over the suites, the packages and the base's
# hooks: it changes when CRIU needs another library, not with our code);
# a linux-image .deb per kernel build (the kernel's own bindeb-pkg, on
# the trees scripts/build-kernel.sh built, redone when the tree's bzImage
# or .config is newer); and the image itself, made again when any input
# differs from the last run (server.img.inputs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

OUTDIR=$CACHE/build/server
ROOT=$OUTDIR/root
IMG=$OUTDIR/server.img
DEBS=$OUTDIR/debs
CRIU_DIR=$CACHE/build/criu
CTL=$CACHE/build/user/khopagesctl
AGENT=$TOP/test/server/agent
IMG_SIZE=3G
SUITE=bookworm
SOURCES=(
	"deb http://deb.debian.org/debian $SUITE $SUITE-updates main"
	"deb http://deb.debian.org/debian-security $SUITE-security main"
)
BASE_PACKAGES=(systemd-sysv udev dbus iproute2 kexec-tools redis-server redis-tools
	nftables iptables procps)
# kexec-tools asks (debconf kexec-tools/load_kexec, default yes) whether
# its kexec-load service should load /vmlinuz on every reboot (the stop
# action, so the reboot kexecs). The upgrade loads its own kernel: no.
# Its kexec.service (the init script that runs kexec -e at shutdown) ships
# masked; both stay masked here, whatever a later version does.
# shellcheck disable=SC2016 # mmdebstrap runs the hooks, $1 is the chroot
BASE_HOOKS=(
	--essential-hook='echo "kexec-tools kexec-tools/load_kexec boolean false" | chroot "$1" debconf-set-selections'
	--customize-hook='grep -qx "LOAD_KEXEC=false" "$1/etc/default/kexec"'
	--customize-hook='systemctl --root="$1" --quiet mask kexec.service kexec-load.service'
)
# Units that only slow a TCG boot or a test run and have no work here:
# the apt and dpkg database timers, e2scrub, fstrim (no discard on the test
# disks), and getty on tty1 (no display: the console is ttyS0).
DISABLE_UNITS=(apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer
	e2scrub_all.timer e2scrub_reap.service fstrim.timer getty@tty1.service)

[ "$(id -u)" = 0 ] || die "build-server-guest.sh: run as root (mmdebstrap, chroot, owners in the image)"
for tool in mmdebstrap dpkg-buildpackage dh mkfs.ext4; do
	command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh (make deps)"
done
for f in "$CRIU_DIR/criu" "$CRIU_DIR/khopages_plugin.so" "$CTL"; do
	[ -f "$f" ] || die "$f is missing: run 'make criu' and 'make user'"
done

# The packages of the shared libraries CRIU, its plugin and khopagesctl
# load, from the host's (bookworm) dpkg database, asked once (each dpkg -S
# reads the whole database). ldd prints the /lib path, dpkg may know the
# file under /usr/lib only (merged /usr): both are asked for.
runtime_packages() {
	local libs lib owned
	libs=$(ldd "$@" | grep -o '/[^ ]*' | grep -v ':$' | sort -u)
	# shellcheck disable=SC2046 # one path a word
	owned=$(dpkg -S $(for lib in $libs; do echo "$lib"; readlink -f "$lib"; done) 2>/dev/null || true)
	for lib in $libs; do
		sed 's/^.*: //' <<<"$owned" | grep -qxF -e "$lib" -e "$(readlink -f "$lib")" ||
			die "no package owns $lib (ldd $*)"
	done
	sed 's/[:,].*//' <<<"$owned" | sort -u
}

build_base() {
	local pkgs hash
	pkgs=$(runtime_packages "$CRIU_DIR/criu" "$CRIU_DIR/khopages_plugin.so" "$CTL" |
		cat - <(printf '%s\n' "${BASE_PACKAGES[@]}") | sort -u | paste -sd,)
	hash=$(printf '%s\n' "$SUITE" "${SOURCES[@]}" "$pkgs" "${BASE_HOOKS[@]}" |
		sha256sum | cut -c1-16)
	BASE=$OUTDIR/base-$hash.tar
	[ -f "$BASE" ] && return 0
	log "server: Debian $SUITE base with: ${pkgs//,/ }"
	mkdir -p "$OUTDIR"
	mmdebstrap --quiet --mode=root --variant=minbase --format=tar --include="$pkgs" \
		"${BASE_HOOKS[@]}" "$SUITE" "$BASE.new" "${SOURCES[@]}"
	mv "$BASE.new" "$BASE"
	find "$OUTDIR" -maxdepth 1 -name 'base-*.tar' ! -path "$BASE" -delete
	log "server: base $(basename "$BASE") ($(du -h "$BASE" | cut -f1))"
}

# kernel_deb VERSION BUILD: a linux-image .deb of $CACHE/build/kernel-BUILD
# (Linux VERSION), made on that tree with the variables build-kernel.sh
# uses, so nothing compiles again: the build-arch step relinks vmlinux
# (its version becomes the package revision, #1). DPKG_FLAGS=-d: of the
# Build-Depends mkdebian writes, kmod and libdw-dev are for modules and
# debug info, which these kernels have none of. Sets REL to the release.
kernel_deb() {
	local src=$CACHE/src/linux-source-$1 out=$CACHE/build/kernel-$2 deb name t0
	local bz=$out/arch/x86/boot/bzImage
	[ -f "$bz" ] || die "no kernel in $out: run scripts/build-kernel.sh --version $1 $2"
	if ! grep -q '^CONFIG_EXT4_FS=y' "$out/.config" || ! grep -q '^CONFIG_VIRTIO_BLK=y' "$out/.config"; then
		die "kernel-$2 cannot mount the server's disk (no EXT4_FS or VIRTIO_BLK)"
	fi
	REL=$(kernel_release "$bz")
	name=linux-image-${REL}_${REL}-1_amd64.deb
	deb=$DEBS/$name
	[ -f "$deb" ] && [ "$deb" -nt "$bz" ] && [ "$deb" -nt "$out/.config" ] && return 0
	! pgrep -f build-kernel.sh >/dev/null ||
		die "a kernel build is running; bindeb-pkg would race with it: try again later"
	log "server: make bindeb-pkg for kernel-$2 ($REL)"
	t0=$SECONDS
	mkdir -p "$DEBS"
	make -C "$src" O="$out" CC="ccache gcc" KBUILD_BUILD_USER=khopages \
		KBUILD_BUILD_HOST=build KDEB_PKGVERSION="$REL-1" KDEB_COMPRESS=gzip \
		KDEB_CHANGELOG_DIST="$SUITE" DPKG_FLAGS=-d -j3 bindeb-pkg >"$OUTDIR/bindeb-$REL.log" 2>&1 || {
		tail -n 30 "$OUTDIR/bindeb-$REL.log" >&2
		die "bindeb-pkg failed for kernel-$2 (log: $OUTDIR/bindeb-$REL.log)"
	}
	mv "$CACHE/build/$name" "$deb"
	rm -f "$CACHE/build/linux-libc-dev_${REL}-1_amd64.deb" \
		"$CACHE/build/linux-upstream_${REL}-1_amd64".{changes,buildinfo}
	log "server: $name in $((SECONDS - t0)) s"
}

# The inputs of the image layer; the image is made again when they differ.
# The work tree's files by their paths inside it, so that another checkout
# of the same sources does not count as a change.
image_inputs() {
	basename "$BASE"
	sha256sum "$DEBS/$DEB_OLD" "$DEBS/$DEB_NEW" "$CRIU_DIR/criu" \
		"$CRIU_DIR/khopages_plugin.so" "$CTL"
	(cd "$TOP" && find scripts/build-server-guest.sh upgrade "${AGENT#"$TOP"/}" \
		scripts/guest/guest-lib.sh -type f -exec sha256sum {} + 2>/dev/null | sort -k2) || true
}

unit_files() {
	find "$ROOT/usr/lib/systemd/system" "$ROOT/etc/systemd/system" -maxdepth 1 \
		-type f -name '*.*' ! -name '*@*' -printf '%f\n' | sort -u
}

# CRIU, khopagesctl, khopages-upgrade and the test agent.
install_ours() {
	local before unit
	install -D -m 0755 "$CRIU_DIR/criu" "$ROOT/usr/sbin/criu"
	install -D -m 0644 "$CRIU_DIR/khopages_plugin.so" "$ROOT/usr/lib/criu/khopages_plugin.so"
	install -D -m 0755 "$CTL" "$ROOT/usr/sbin/khopagesctl"
	before=$(unit_files)
	if [ -f "$TOP/upgrade/Makefile" ]; then
		make -s -C "$TOP/upgrade" install DESTDIR="$ROOT"
	else
		log "server: no upgrade/Makefile yet: khopages-upgrade left out"
	fi
	# Redis restorable: the drop-in of --setup. In a chroot it would end
	# with systemctl daemon-reload, which needs a running systemd; --root
	# is its mode for an image at rest (the work tree's copy: the
	# installed one finds its library under /usr/lib/khopages only).
	if [ -x "$ROOT/usr/sbin/khopages-upgrade" ]; then
		"$TOP/upgrade/khopages-upgrade" --setup --unit redis-server.service --root "$ROOT" |
			sed 's/^/  /' >&2
	fi
	for unit in $(comm -13 <(echo "$before") <(unit_files)); do
		grep -qs '^WantedBy=' "$ROOT/usr/lib/systemd/system/$unit" \
			"$ROOT/etc/systemd/system/$unit" || continue
		systemctl --root="$ROOT" --quiet enable "$unit"
	done
	if [ -d "$AGENT" ]; then
		install -D -m 0644 "$AGENT/khopages-test-agent.service" \
			"$ROOT/etc/systemd/system/khopages-test-agent.service"
		install -D -m 0755 "$AGENT/khopages-test-agent" \
			"$ROOT/usr/lib/khopages-test/khopages-test-agent"
		systemctl --root="$ROOT" --quiet enable khopages-test-agent.service
		install -D -m 0644 "$here/guest/guest-lib.sh" "$ROOT/usr/lib/khopages-test/guest-lib.sh"
	fi
}

configure_root() {
	local unit disabled=""
	echo khop-server >"$ROOT/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tkhop-server\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
		>"$ROOT/etc/hosts"
	chroot "$ROOT" passwd -dq root
	echo '/dev/vda / ext4 rw,relatime 0 1' >"$ROOT/etc/fstab"
	# One machine ID for the image: no first-boot logic in the guest,
	# and the persistent journal of each boot lands in the same directory.
	rm -f "$ROOT/etc/machine-id"
	chroot "$ROOT" systemd-machine-id-setup >/dev/null 2>&1 || die "cannot set a machine ID"
	mkdir -p "$ROOT/var/log/journal" "$ROOT/host"
	# QEMU's user network, static: the address is there at once and the
	# same on every boot (no DHCP round after the kexec). IPv4 only: with
	# an IPv6 link-local address, networkd-wait-online (Redis waits for
	# it) took up to 2.8 s under TCG, without one 0.2-0.5 s.
	cat >"$ROOT/etc/systemd/network/10-eth.network" <<-EOF
	[Match]
	Name=en* eth*

	[Network]
	Address=10.0.2.15/24
	Gateway=10.0.2.2
	DNS=10.0.2.3
	LinkLocalAddressing=no
	IPv6AcceptRA=no
	EOF
	echo 'nameserver 10.0.2.3' >"$ROOT/etc/resolv.conf"
	systemctl --root="$ROOT" --quiet enable systemd-networkd.service
	for unit in "${DISABLE_UNITS[@]}"; do
		systemctl --root="$ROOT" --quiet is-enabled "$unit" 2>/dev/null || continue
		systemctl --root="$ROOT" --quiet disable "$unit"
		disabled+=" $unit"
	done
	# Redis for clients outside the guest, and no background save: a
	# save forks the server, a checkpoint would meet the child.
	sed -i -e 's/^bind .*/bind 0.0.0.0 -::1/' -e 's/^protected-mode .*/protected-mode no/' \
		-e '/^save /d' "$ROOT/etc/redis/redis.conf"
	echo 'save ""' >>"$ROOT/etc/redis/redis.conf"
	# DEBUG (POPULATE, for the tests' data) from the guest itself only.
	echo 'enable-debug-command local' >>"$ROOT/etc/redis/redis.conf"
	systemctl --root="$ROOT" is-enabled --quiet redis-server.service ||
		die "redis-server.service is not enabled in the image"
	log "server: disabled${disabled:- nothing}"
}

build_base
kernel_deb "$KVER_OLD" "guest-$KVER_OLD"
REL_OLD=$REL DEB_OLD=linux-image-${REL}_${REL}-1_amd64.deb
kernel_deb "$KVER" guest
REL_NEW=$REL DEB_NEW=linux-image-${REL}_${REL}-1_amd64.deb

inputs=$(image_inputs)
if [ -f "$IMG" ] && [ "$inputs" = "$(cat "$IMG.inputs" 2>/dev/null)" ]; then
	log "server: $IMG is up to date"
else
	log "server: assembling the image in $ROOT"
	rm -rf "$ROOT" && mkdir -p "$ROOT"
	tar -C "$ROOT" --numeric-owner --xattrs --xattrs-include='*' -xpf "$BASE"
	cp "$DEBS/$DEB_OLD" "$DEBS/$DEB_NEW" "$ROOT/tmp/"
	chroot "$ROOT" dpkg -i "/tmp/$DEB_OLD" "/tmp/$DEB_NEW" >/dev/null
	rm -f "$ROOT/tmp/$DEB_OLD" "$ROOT/tmp/$DEB_NEW"
	install_ours
	configure_root
	rm -f "$IMG.new"
	mkfs.ext4 -q -F -L root -d "$ROOT" "$IMG.new" "$IMG_SIZE" >/dev/null
	mv "$IMG.new" "$IMG"
	echo "$inputs" >"$IMG.inputs"
fi
# The kernels for QEMU's -kernel, from the packages.
rm -f "$OUTDIR"/vmlinuz-*
for deb in "$DEB_OLD" "$DEB_NEW"; do
	rel=${deb#linux-image-}
	rel=${rel%%_*}
	dpkg-deb --fsys-tarfile "$DEBS/$deb" | tar -xO "./boot/vmlinuz-$rel" >"$OUTDIR/vmlinuz-$rel"
done
echo "$REL_OLD $REL_NEW" >"$OUTDIR/kernels"
log "server: $IMG ($IMG_SIZE, $(du -h "$IMG" | cut -f1) used), base $(du -h "$BASE" | cut -f1)"
log "server: kernels $REL_OLD -> $REL_NEW: $(cd "$OUTDIR" && du -h vmlinuz-* | tr '\t\n' ' ')"
