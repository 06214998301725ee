# SPDX-License-Identifier: GPL-2.0
# Guest test: a session nobody restores is listed after kexec, can be
# inspected, and discarding it gives its memory back.
. /lib/khopages/guest-lib.sh


case "$1" in
1)
	mkdir -p /host/hold
	pagehold fill unclaimed scattered 64 /host/hold || fail "fill"
	kexec_next_stage
	;;
2)
	khopagesctl list | grep -q '^unclaimed  *incoming ' || fail "the session is not listed as incoming"
	khopagesctl show unclaimed | grep -q 16384 || fail "show does not report 16384 pages"
	before=$(free_kib)
	khopagesctl discard unclaimed || fail "discard failed"
	after=$(free_kib)
	echo "Free memory before discard: $before kB, after: $after kB"
	[ $((after - before)) -ge $((64 * 1024 * 9 / 10)) ] || fail "discard gave back only $((after - before)) kB"
	khopagesctl discard unclaimed 2>/dev/null && fail "a second discard succeeded"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "sessions left after discard"
	pass
	;;
esac
