# SPDX-License-Identifier: GPL-2.0
# Guest test: the anonymous memory of a parent and its copy-on-write child
# (plain, partly read-only, THP, COW, sparse) crosses a kexec in place
# through Live Update. Stage 1 builds and preserves it, puts the khopages
# file into Live Update session "memtest" (/dev/liveupdate) and leaves a
# holder process that keeps that session open until the kexec. Stage 2
# retrieves the session and the file, maps everything back through that
# file and checks every byte and every page frame, then that it behaves as
# ordinary memory and that Live Update's FINISH, closing the files and
# munmap give it back. Details: khopages_memtest.c.
# test/check.sh runs it on one kernel and across versions (7.2 <-> 7.3).
. /lib/khopages/guest-lib.sh
dir=/host/memtest

case "$1" in
1)
	[ -c /dev/khopages ] || fail "no /dev/khopages in this kernel"
	[ -c /dev/liveupdate ] ||
		fail "no /dev/liveupdate: this kernel runs without Live Update (liveupdate=on)"
	run_step /host/memtest-fill.log khopages_memtest fill "$dir"
	[ -f "$dir/stage1.done" ] || fail "khopages_memtest fill left no $dir/stage1.done"
	[ -f "$dir/luo-holder.pid" ] || fail "khopages_memtest fill left no $dir/luo-holder.pid"
	holder=$(cat "$dir/luo-holder.pid")
	state=$(sed -n 's/^State:[[:space:]]*//p' "/proc/$holder/status" 2>/dev/null)
	case "$state" in
	''|Z*|X*) fail "the holder of Live Update session memtest (pid $holder) is gone" ;;
	esac
	echo "Live Update session memtest held by pid $holder ($state)"
	# khopagesctl luo finds it in /proc, in the holder, with its khopages
	# session preserved.
	echo "--- khopagesctl luo"
	khopagesctl luo >/host/memtest-luo.log 2>&1 ||
		fail "khopagesctl luo failed: $(head -n1 /host/memtest-luo.log)"
	cat /host/memtest-luo.log
	grep -qE "^memtest  pid $holder \(.*\)  fd [0-9,]+  khopages: preserved, [0-9]+ pages?\$" \
		/host/memtest-luo.log ||
		fail "khopagesctl luo does not show session memtest held by pid $holder with khopages: preserved"
	kexec_next_stage
	;;
2)
	[ -f "$dir/stage1.done" ] || fail "stage 1 did not complete"
	[ -c /dev/liveupdate ] || fail "no /dev/liveupdate after the kexec"
	# The driver reads every session handed over at boot and lists it as
	# incoming until its file is retrieved.
	echo "--- khopagesctl list, before the Live Update session is retrieved"
	khopagesctl list >/host/memtest-list.log 2>&1 ||
		fail "khopagesctl list failed: $(head -n1 /host/memtest-list.log)"
	cat /host/memtest-list.log
	grep -q '^memtest  *incoming ' /host/memtest-list.log ||
		fail "khopagesctl list does not show session memtest as incoming before its file was retrieved"
	# verify checks that LIST shows it, as retrieved, once it is.
	run_step /host/memtest-verify.log khopages_memtest verify "$dir"
	pass
	;;
*) fail "unexpected stage $1" ;;
esac
