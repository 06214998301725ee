# SPDX-License-Identifier: GPL-2.0
# Guest side of `make demo`: Redis, filled with a dataset, is checkpointed
# by CRIU in kernel A, the machine kexecs into kernel B, CRIU restores
# Redis there, and redis-cli proves that no key and no byte was lost.
#
#   param mode=kho    criu dump/restore --kho-pages: the anonymous memory
#                     stays in RAM and is handed over through KHO, and the
#                     images (in this guest's RAM, /tmp/img) are kept in a
#                     Live Update session: nothing is written to a disk
#   param mode=plain  plain CRIU, images (with all pages) on the 9p share
#   param mib=N       dataset size (Redis used_memory), MiB
#
# Stage 1 runs in kernel A, stage 2 in kernel B (/host/boot/kernel-B).
# Everything that must survive the kexec is in /host (9p): figures in
# /host/fig, the data checks in /host/check.*, CRIU's logs and stats, and
# for plain CRIU its images in /host/img.
# Timestamps: `mark NAME` creates /host/t.NAME; its mtime is set by QEMU
# from the host's clock, which runs on across the kexec (and, unlike this
# guest's clock, keeps time under TCG: with no HPET or PM timer the guest
# counts jiffies, and loses ticks when the host is busy).
. /lib/khopages/guest-lib.sh

MODE=$(param mode)
MIB=$(param mib)
MIB=${MIB:-256}
IMG=/host/img
TRACE=/sys/kernel/tracing/instances/boot_map
CRIU_OPTS="--manage-cgroups=ignore -v4"
VALSIZE=512
case "$MODE" in
kho)
	KHO=--kho-pages IMG=/tmp/img
	export CRIU_KHOPAGES_SESSION=redis-demo
	;;
plain) KHO= ;;
*) fail "unknown mode '$MODE'" ;;
esac

say() { echo "demo: $*"; }
fig() { echo "$1 $2" >>/host/fig; }
fig_get() { sed -n "s/^$1 //p" /host/fig | tail -n 1; }
# A file whose host-side mtime marks a moment (see above).
mark() { : >"/host/t.$1"; }
cli() { redis-cli -p 6379 "$@"; }
info_field() { cli INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"; }

redis_pid() { cat /host/redis.pid; }

# Bytes of CRIU images on the 9p share (the kernels' directory aside).
disk_image_bytes() {
	find /host -path /host/boot -prune -o -name '*.img' -type f -print |
		while read -r f; do stat -c %s "$f"; done | awk '{ n += $1 } END { print n + 0 }'
}

# Wait up to $1 seconds until Redis answers PING.
wait_ping() {
	local try
	for try in $(seq $(($1 * 10))); do
		: "$try"
		[ "$(cli PING 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	return 1
}

# The facts about the dataset that must be the same after the upgrade:
# key count, DEBUG DIGEST (SHA1-based digest of every key, value, type and
# expiry in the dataset), the server's identity, and a sample of keys read
# back in full.
record() {
	local tag=$1
	cli DBSIZE >"/host/check.$tag.dbsize"
	cli DEBUG DIGEST >"/host/check.$tag.digest"
	info_field server run_id >"/host/check.$tag.run_id"
	info_field server process_id >"/host/check.$tag.pid"
	info_field memory used_memory >"/host/check.$tag.used_memory"
	redis-cli -p 6379 <"/host/sample.cmds" >"/host/check.$tag.sample"
}

stage1() {
	[ -c /dev/khopages ] || fail "no /dev/khopages in kernel A"
	echo 1 >"$TRACE/events/khopages/enable" || fail "no khopages trace events"
	fig kernel_a "$(uname -r)"

	say "starting redis-server ($(redis-server --version | cut -d' ' -f1-3))"
	# A pid that is free after the reboot too; no terminal; no files kept
	# open (Redis opens its log file for each line).
	echo 30000 >/proc/sys/kernel/ns_last_pid
	setsid redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no \
		--dir /tmp --logfile /host/redis.log --enable-debug-command local \
		</dev/null >/dev/null 2>&1 &
	wait_ping 60 || fail "redis-server does not answer (see /host/redis.log)"
	info_field server process_id >/host/redis.pid

	# DEBUG POPULATE N key SIZE: key:0..N-1 with the value "value:I"
	# padded to SIZE bytes. Size a first batch, then fill to MIB.
	local base um per keys step
	mark redis
	base=$(info_field memory used_memory)
	cli DEBUG POPULATE 20000 key $VALSIZE >/dev/null
	um=$(info_field memory used_memory)
	per=$(((um - base) / 20000))
	keys=$(((MIB * 1048576 - base) / per))
	[ "$keys" -ge 20000 ] || keys=20000
	say "filling $MIB MiB: $keys keys of $VALSIZE bytes (DEBUG POPULATE), 512 random 4 KiB values, a list, a hash, a sorted set"
	cli DEBUG POPULATE $keys key $VALSIZE >/dev/null || fail "DEBUG POPULATE failed"
	# Random bytes (hex), so not all of the data is synthetic.
	hexdump -v -n $((512 * 2048)) -e '2048/1 "%02x" "\n"' /dev/urandom |
		awk '{ print "SET rand:" NR - 1 " " $0 }' | cli >/dev/null
	seq 1 1000 | sed 's/^/item-/' | xargs redis-cli -p 6379 RPUSH demo:list >/dev/null
	seq 1 1000 | awk '{ printf "f%d v%d ", $1, $1 * $1 }' | xargs redis-cli -p 6379 HSET demo:hash >/dev/null
	seq 1 1000 | awk '{ printf "%d m%d ", $1 * 7 % 1000, $1 }' | xargs redis-cli -p 6379 ZADD demo:zset >/dev/null
	mark filled

	# The sample: 1000 keys spread over the populated ones, every random
	# value, the list, the hash, the sorted set.
	step=$((keys / 1000))
	[ "$step" -gt 0 ] || step=1
	awk -v n="$keys" -v s="$step" 'BEGIN { for (i = 0; i < n; i += s) print "GET key:" i }' >/host/sample.cmds
	awk 'BEGIN { for (i = 0; i < 512; i++) print "GET rand:" i }' >>/host/sample.cmds
	printf '%s\n' "LRANGE demo:list 0 -1" "HGETALL demo:hash" \
		"ZRANGE demo:zset 0 -1 WITHSCORES" >>/host/sample.cmds

	say "recording DBSIZE, DEBUG DIGEST, run_id, $(grep -c . /host/sample.cmds) sample keys"
	record before
	# redis-cli prints a missing key (nil) as an empty line
	[ "$(grep -c '^$' /host/check.before.sample)" = 0 ] || fail "sample keys missing before the dump"
	fig used_memory "$(cat /host/check.before.used_memory)"
	fig keys "$(cat /host/check.before.dbsize)"
	say "dataset: $(cat /host/check.before.dbsize) keys, used_memory $(cat /host/check.before.used_memory) bytes, digest $(cat /host/check.before.digest)"

	# Kernel B is staged while Redis still serves: not part of the downtime.
	mark recorded
	kexec -s -l /host/boot/kernel-B --initrd=/host/boot/initrd.img \
		--append="$(kexec_args)" || fail "kexec load of kernel B failed"
	mark staged

	if [ -n "$KHO" ]; then
		# Still serving: move its pages out of KHO scratch now, not
		# while it is frozen. How many depends on where the allocator
		# put them: none in one boot, a quarter in the next.
		ev=$(khopagesctl evacuate "$(redis_pid)") || fail "khopagesctl evacuate failed"
		say "$ev"
		fig pages_evacuated "$(echo "$ev" | evacuated_pages)"
	fi
	mark evacuated
	# The frames as the freeze finds them (after the evacuation, which
	# moved pages on purpose); Redis has no client now, so but for its
	# background threads nothing moves them.
	say "recording the physical frames"
	frames "$(redis_pid)" >/host/frames.before
	say "criu dump ${KHO:+$KHO }of redis-server (pid $(redis_pid))"
	mkdir -p "$IMG"
	mark freeze
	# The kexec follows: redis is left stopped, not killed (its exit,
	# unmapping all of its memory, would only add to the downtime).
	# shellcheck disable=SC2086
	if ! criu dump -t "$(redis_pid)" -D "$IMG" $CRIU_OPTS $KHO --leave-stopped --display-stats \
		-o dump.log >"$IMG/dump.stats" 2>&1; then
		tail -n 30 "$IMG/dump.log"
		fail "criu dump $KHO failed"
	fi
	mark dumped
	# The logs survive the kexec on the 9p share, outside the images.
	cp "$IMG/dump.log" "$IMG/dump.stats" /host/
	sync
	mark kexec
	say "kexec -e into kernel B"
	kexec -e
	fail "kexec -e returned"
}

# The command line for kernel B: this one's, stage 2.
kexec_args() {
	local kv args=""
	for kv in $(cat /proc/cmdline); do
		case "$kv" in khop_stage=*|initrd=*|BOOT_IMAGE=*) ;; *) args="$args $kv" ;; esac
	done
	echo "${args# } khop_stage=2"
}

stage2() {
	mark stage2
	fig kernel_b "$(uname -r)"
	say "running $(uname -r); criu restore${KHO:+ $KHO}"
	if [ "$MODE" = kho ]; then
		# The images were in kernel A's RAM: only Live Update has them.
		[ ! -e "$IMG" ] || fail "$IMG survived the kexec"
		mkdir -p "$IMG"
	fi
	mark restore
	# shellcheck disable=SC2086
	if ! criu restore -D "$IMG" $CRIU_OPTS $KHO -d --display-stats \
		-o restore.log >"$IMG/restore.stats" 2>&1; then
		tail -n 40 "$IMG/restore.log"
		fail "criu restore $KHO failed"
	fi
	mark restored
	cp "$IMG/restore.log" "$IMG/restore.stats" /host/
	wait_ping 60 || fail "the restored redis-server does not answer"
	mark serving

	say "restored; checking the dataset"
	frames "$(redis_pid)" >/host/frames.after
	record after
	verify
	say "all data intact; redis keeps working"
	keeps_working
	mark checked
	grep -h 'khopages_' "$TRACE/trace" >/host/trace.txt 2>/dev/null
	pass
}

verify() {
	local b a what
	for what in dbsize digest run_id pid; do
		b=$(cat "/host/check.before.$what")
		a=$(cat "/host/check.after.$what")
		[ -n "$b" ] && [ "$b" = "$a" ] ||
			fail "$what differs after the upgrade: before '$b', after '$a'"
	done
	if ! cmp -s /host/check.before.sample /host/check.after.sample; then
		b=$(cmp -l /host/check.before.sample /host/check.after.sample 2>&1 | wc -l)
		fail "the sample read back differs after the upgrade: $b bytes differ (see /host/check.*.sample)"
	fi
	fig sample_keys "$(grep -c . /host/sample.cmds)"
	awk 'NR == FNR { f[$1] = $2; next }
		($1 in f) { both++; if (f[$1] == $2) same++ }
		END { printf "frames_same %d\nframes_both %d\n", same, both }' \
		/host/frames.before /host/frames.after >>/host/fig
	fig frames_before "$(grep -c . /host/frames.before)"
	if [ "$MODE" = kho ]; then
		fig pages_handed_over "$(sed -n 's/^Memory pages handed over (KHO): \([0-9]*\).*/\1/p' /host/dump.stats)"
		fig pages_mapped_back "$(sed -n 's/^Pages mapped back (KHO): \([0-9]*\).*/\1/p' /host/restore.stats)"
		fig pages_moved "$(sed -n 's/.*handed over: .*, \([0-9]*\) moved out of scratch.*/\1/p' /host/dump.log)"
		fig pages_copied "$(sed -n 's/.*khopages: session .*, \([0-9]*\) copied$/\1/p' /host/restore.log)"
		fig image_bytes_ram "$(sed -n 's/.*(images: \([0-9]*\) bytes in a memfd).*/\1/p' /host/dump.log)"
		grep -q 'images (.* bytes) unpacked from Live Update session redis-demo' /host/restore.log ||
			fail "the images did not come from the Live Update session"
		[ "$(khopagesctl list | tail -n +2 | grep -c .)" = 0 ] ||
			fail "a khopages session is left after the restore"
		# Every page on the frame it had at the freeze, but for those the
		# dump still moved out of KHO scratch or the restore copied, and
		# a few that Redis' background threads may free or fault in
		# between the snapshot and the freeze (1 % at most).
		awk -v s="$(fig_get frames_same)" -v b="$(fig_get frames_both)" \
			-v m="$(fig_get pages_moved)" -v c="$(fig_get pages_copied)" \
			'BEGIN { exit !(b > 0 && b - s <= m + c + b / 100) }' ||
			fail "only $(fig_get frames_same) of $(fig_get frames_both) pages are on their frames after the restore"
	fi
	fig pages_written "$(sed -n 's/^Memory pages written: \([0-9]*\).*/\1/p' /host/dump.stats)"
	fig image_bytes "$(stat -c %s "$IMG"/*.img | awk '{ n += $1 } END { print n }')"
	# What had to be on storage that survives the kexec: the 9p share.
	fig image_bytes_disk "$(disk_image_bytes)"
}

# Writes, reads, deletes and a new digest: the restored server is live.
keeps_working() {
	local v
	cli SET demo:after-upgrade "written in $(uname -r)" >/dev/null || fail "SET failed"
	v=$(cli GET demo:after-upgrade)
	[ "$v" = "written in $(uname -r)" ] || fail "GET after SET returned '$v'"
	[ "$(cli INCR demo:counter)" = 1 ] || fail "INCR failed"
	[ "$(cli DBSIZE)" = $(($(cat /host/check.before.dbsize) + 2)) ] || fail "DBSIZE wrong after SET"
	[ "$(cli DEL demo:after-upgrade demo:counter)" = 2 ] || fail "DEL failed"
	[ "$(cli DBSIZE)" = "$(cat /host/check.before.dbsize)" ] || fail "DBSIZE wrong after DEL"
	cli DEBUG POPULATE 1000 new 64 >/dev/null || fail "DEBUG POPULATE after restore failed"
	[ "$(cli DBSIZE)" = $(($(cat /host/check.before.dbsize) + 1000)) ] || fail "DBSIZE wrong after adding keys"
	fig works "SET GET INCR DEL POPULATE"
}

case "$1" in
1) stage1 ;;
2) stage2 ;;
*) fail "unexpected stage $1" ;;
esac
