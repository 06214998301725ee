# SPDX-License-Identifier: GPL-2.0
# Guest test: memory in three physical layouts (contiguous order-0 pages,
# physically scattered pages, THP) is handed over across a real kexec, each
# as a khopages file in a Live Update session of its own (pagehold). After
# the kexec each is listed as incoming until its file is retrieved; each maps
# back at the same frames with every byte intact, and once the retrieved
# files are closed and the processes gone, the memory is free again.
. /lib/khopages/guest-lib.sh
mib=$(param mib)
layouts="contiguous scattered thp"


case "$1" in
1)
	for l in $layouts; do
		mkdir -p "/host/$l"
		pagehold fill "layout-$l" "$l" "$mib" "/host/$l" || fail "fill $l"
		sed 's/^/  /' "/host/$l/fill.txt"
	done
	grep -q '^folios_order9 0$' /host/thp/fill.txt && fail "no THP in the thp layout"
	# Scattered means physically scattered: (nearly) one frame per run.
	runs=$(sed -n 's/^phys_runs //p' /host/scattered/fill.txt)
	[ "${runs:-0}" -ge $((mib * 256 * 3 / 4)) ] ||
		fail "the scattered layout has only ${runs:-0} physical runs for $((mib * 256)) pages"
	kexec_next_stage
	;;
2)
	before=$(free_kib)
	khopagesctl list || fail "khopagesctl list"
	for l in $layouts; do
		khopagesctl list | grep -q "^layout-$l  *incoming " ||
			fail "session layout-$l is not listed as incoming before its file is retrieved"
	done
	for l in $layouts; do
		pagehold map "layout-$l" "/host/$l" || fail "map $l"
	done
	after=$(free_kib)
	want=$((3 * mib * 1024 * 9 / 10))
	echo "Free memory before map: $before kB, after the files were closed: $after kB (need +$want kB)"
	[ $((after - before)) -ge "$want" ] || fail "memory was not given back: free memory +$((after - before)) kB"
	[ -z "$(khopagesctl list | tail -n +2)" ] || fail "sessions left after their files were closed"
	pass
	;;
esac
