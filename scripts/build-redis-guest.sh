#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Put Redis into the test guest for `make demo`: Debian's redis-tools
# (bookworm, no service) ships /usr/bin/redis-check-rdb, which is the whole
# Redis server and runs as one when it is invoked under the name
# redis-server (Debian's redis-server package only adds that symlink and a
# service). Writes the guest manifest $CACHE/build/guest-manifests/redis.list;
# build-guest.sh copies both programs with their ldd libraries.
#
#   build-redis-guest.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

MANIFEST=$CACHE/build/guest-manifests/redis.list

if ! dpkg-query -W -f='${Status}' redis-tools 2>/dev/null | grep -q 'ok installed'; then
	log "installing redis-tools (the Redis server binary, no service)"
	[ -f "$CACHE/.apt-updated" ] || apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		redis-tools >/dev/null
fi
for f in /usr/bin/redis-check-rdb /usr/bin/redis-cli; do
	[ -x "$f" ] || die "redis-tools installed, but $f is missing"
done

mkdir -p "$(dirname "$MANIFEST")"
cat >"$MANIFEST.new" <<LIST
/usr/bin/redis-check-rdb /usr/bin/redis-server
/usr/bin/redis-cli /usr/bin/redis-cli
LIST
mv "$MANIFEST.new" "$MANIFEST"
log "redis: $(/usr/bin/redis-cli --version) -> $MANIFEST"
