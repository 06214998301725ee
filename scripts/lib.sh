# SPDX-License-Identifier: GPL-2.0
# Shared settings for the build and test scripts (sourced, not run).

# The kernel versions the guest runs (Debian's linux-source-VERSION): the
# upgrade goes from the older to the newer; KVER is the default build.
KVERS=(7.2 7.3)
KVER=7.3
KVER_OLD=7.2
CRIU_VER=4.2.1
# Everything downloaded or built lives here, outside the work tree, so a
# second run (or a fresh clone on the same machine) reuses it.
CACHE=${KHOPAGES_CACHE:-/var/cache/khopages}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The release (uname -r) of a bzImage: the x86 boot header's
# kernel_version field (offset 0x20e) points, less 0x200, at the version
# string, which starts with the release.
kernel_release() {
	local off
	off=$(od -An -t u2 -j 526 -N 2 "$1" | tr -d ' ') || return 1
	dd if="$1" bs=1 skip=$((off + 512)) count=64 status=none | tr '\0' '\n' |
		head -n 1 | cut -d' ' -f1
}
