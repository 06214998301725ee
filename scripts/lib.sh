# SPDX-License-Identifier: GPL-2.0
# Shared settings for the build and test scripts (sourced, not run).

KVER=7.3
CRIU_VER=4.2.1
# Everything downloaded or built lives here, outside the work tree, so a
# second run (or a fresh clone on the same machine) reuses it.
CACHE=${KHOPAGES_CACHE:-/var/cache/khopages}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
