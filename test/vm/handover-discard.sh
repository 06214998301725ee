# SPDX-License-Identifier: GPL-2.0
# Guest test: a session handed over as a khopages file in a Live Update
# session (pagehold) that nobody restores. After the kexec nothing is
# offered before a retrieve; `khopagesctl discard NAME --luo` retrieves the
# file and finishes the Live Update session, which gives every page back;
# a second discard fails, and no session, Live Update or khopages, is left.
. /lib/khopages/guest-lib.sh

case "$1" in
1)
	mkdir -p /host/hold
	pagehold fill unclaimed scattered 64 /host/hold || fail "fill"
	kexec_next_stage
	;;
2)
	[ -z "$(khopagesctl list | tail -n +2)" ] ||
		fail "a session is offered before its Live Update session was retrieved"
	before=$(free_kib)
	khopagesctl discard unclaimed --luo || fail "discard --luo failed"
	want=$((64 * 1024 * 9 / 10))
	for _ in 1 2 3 4 5; do
		after=$(free_kib)
		[ $((after - before)) -ge "$want" ] && break
		sleep 1
	done
	echo "Free memory before discard: $before kB, after: $after kB"
	[ $((after - before)) -ge "$want" ] ||
		fail "discard --luo gave back only $((after - before)) kB"
	khopagesctl discard unclaimed --luo 2>/dev/null && fail "a second discard --luo succeeded"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "sessions left after discard --luo"
	khopagesctl luo | grep -q 'no Live Update session is open' ||
		fail "a Live Update session is left: $(khopagesctl luo)"
	pass
	;;
esac
