# SPDX-License-Identifier: GPL-2.0
# Guest test: a session handed over as a khopages file in a Live Update
# session (pagehold) that nobody restores. After the kexec it is listed as
# incoming with all its pages. Then, with param how:
#   discard     `khopagesctl discard NAME` retrieves the file and finishes
#               the Live Update session;
#   unretrieved the Live Update session is finished without retrieving any
#               file in it (luo_finish), as an agent that knows nothing of
#               khopages would: the driver gives the session back itself.
# Either way every page comes back as free memory, a second discard fails,
# and no session, Live Update or khopages, is left.
. /lib/khopages/guest-lib.sh

how=$(param how)

case "$1" in
1)
	mkdir -p /host/hold
	pagehold fill unclaimed scattered 64 /host/hold || fail "fill"
	kexec_next_stage
	;;
2)
	khopagesctl list | grep -q '^unclaimed  *incoming ' ||
		fail "the session is not listed as incoming: $(khopagesctl list)"
	khopagesctl show unclaimed | grep -q 16384 || fail "show does not report 16384 pages"
	before=$(free_kib)
	case "$how" in
	unretrieved)
		luo_finish unclaimed || fail "finishing Live Update session unclaimed failed"
		dmesg | grep -q 'khopages: session unclaimed was never retrieved from its Live Update session: its memory is freed' ||
			fail "the kernel did not say it gave the unretrieved session back"
		;;
	*) khopagesctl discard unclaimed || fail "discard failed" ;;
	esac
	want=$((64 * 1024 * 9 / 10))
	for _ in 1 2 3 4 5; do
		after=$(free_kib)
		[ $((after - before)) -ge "$want" ] && break
		sleep 1
	done
	echo "Free memory before discard: $before kB, after: $after kB"
	[ $((after - before)) -ge "$want" ] ||
		fail "discarding gave back only $((after - before)) kB"
	khopagesctl discard unclaimed 2>/dev/null && fail "a second discard succeeded"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "sessions left after the discard"
	khopagesctl luo | grep -q 'no Live Update session is open' ||
		fail "a Live Update session is left: $(khopagesctl luo)"
	pass
	;;
esac
