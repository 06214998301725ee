# SPDX-License-Identifier: GPL-2.0
# Guest: hand the boot's KTAP output (the in-kernel KUnit tests) to the host.
. /lib/khopages/guest-lib.sh
dmesg >/host/dmesg.txt || fail "cannot read the kernel log"
pass
