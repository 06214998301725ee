# SPDX-License-Identifier: GPL-2.0
# Guest test: a session nobody restores is listed after kexec, can be
# inspected, and discarding it gives its memory back.
# With param luo=1 the session is handed over as a file in a Live Update
# session (pagehold, PAGEHOLD_LUO=1): nothing is offered before a retrieve,
# and `khopagesctl discard NAME --luo` retrieves and finishes it, giving
# every page back.
. /lib/khopages/guest-lib.sh

luo=$(param luo)

case "$1" in
1)
	mkdir -p /host/hold
	[ "$luo" = 1 ] && export PAGEHOLD_LUO=1
	pagehold fill unclaimed scattered 64 /host/hold || fail "fill"
	kexec_next_stage
	;;
2)
	if [ "$luo" = 1 ]; then
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
	fi
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
