# SPDX-License-Identifier: GPL-2.0
# The server guest's side of test/server/run.sh (run by its test agent, as
# root, once per boot). Debian's redis-server.service serves a client on the
# host through QEMU's user network while khopages-upgrade moves the guest
# from Linux 7.2 to 7.3 under it.
#   param mode=kho|plain    khopages-upgrade, or khopages-upgrade --no-kho
#   param mode=fresh        khopages-upgrade into a kernel booted without
#                           Live Update (liveupdate=off appended): the restore
#                           must fail, say so in the journal, and the unit
#                           must start fresh
#   param mib=N             MiB of data (DEBUG POPULATE, 1 KiB values) in db 0
#   param kernel_new=REL    the release to upgrade to (/boot/vmlinuz-REL)
# Stage 1: fill, record, tell the host (/host/ready), wait until its client
# runs (/host/client-running), record the frames, khopages-upgrade.
# Stage 2: the unit restored before the agent ran: the same main pid, the
# data, the frames; tell the host (/host/restored), wait for the client's
# verdict (/host/client-done). Figures go to /host/fig ("NAME VALUE").
. /usr/lib/khopages-test/guest-lib.sh

UNIT=redis-server.service
CKPT=/var/lib/khopages/$UNIT
MODE=$(param mode)
MIB=$(param mib)

say() { echo "[$(now)] $*"; }
fig() { echo "$1 $2" >>/host/fig; }
fig_get() { sed -n "s/^$1 //p" /host/fig | tail -n 1; }

# wait_file FILE SECONDS: 0 once FILE exists, 1 after SECONDS without it.
wait_file() {
	local n=0
	while [ ! -e "$1" ]; do
		n=$((n + 1))
		[ "$n" -gt $(($2 * 5)) ] && return 1
		sleep 0.2
	done
}

main_pid() { systemctl show -P MainPID "$UNIT"; }

# What must come back unchanged (db 0; the host's client writes in db 1).
record() {
	redis-cli -n 0 DBSIZE >"/host/check.$1.dbsize"
	redis-cli -n 0 <"/host/sample.cmds" | md5sum | cut -d' ' -f1 >"/host/check.$1.sample"
	redis-cli INFO server | sed -n 's/^run_id:\(.*\)\r$/\1/p' >"/host/check.$1.run_id"
	main_pid >"/host/check.$1.pid"
}

stage1() {
	local pid new=/boot/vmlinuz-$(param kernel_new) i
	systemctl is-active --quiet "$UNIT" || fail "$UNIT is not active: $(systemctl is-active "$UNIT")"
	pid=$(main_pid)
	fig kernel_before "$(uname -r)"
	fig boot_to_ready_s "$(now)"
	say "$UNIT active, main pid $pid; filling $MIB MiB"
	redis-cli -n 0 DEBUG POPULATE $((MIB * 1024)) key 1024 >/dev/null ||
		fail "DEBUG POPULATE failed"
	i=0
	while [ "$i" -lt $((MIB * 1024)) ]; do
		echo "GET key:$i"
		i=$((i + MIB * 1024 / 500))
	done >/host/sample.cmds
	record before
	fig keys "$(cat /host/check.before.dbsize)"
	echo "$pid" >/host/ready
	say "waiting for the host's client"
	wait_file /host/client-running 180 || fail "the host's client did not start"
	# The frames as the freeze will find them: what the upgrade's own
	# evacuation would move is moved now (kho), so that the restore can
	# be checked against them.
	if [ "$MODE" = kho ]; then
		khopagesctl evacuate "$pid" | tee /host/evacuate.out
	fi
	frames "$pid" >/host/frames.before
	say "khopages-upgrade --unit $UNIT --kernel $new${MODE#kho}"
	if [ "$MODE" = plain ]; then
		khopages-upgrade --unit "$UNIT" --kernel "$new" --no-kho
	elif [ "$MODE" = fresh ]; then
		khopages-upgrade --unit "$UNIT" --kernel "$new" --append liveupdate=off
	else
		khopages-upgrade --unit "$UNIT" --kernel "$new"
	fi >/host/upgrade.out 2>&1
	cat /host/upgrade.out
	cp "$CKPT"/upgrade.log "$CKPT"/img/*.log /host/ 2>/dev/null
	cp "$CKPT"/failed-*/upgrade.log "$CKPT"/failed-*/img/*.log /host/ 2>/dev/null
	fail "khopages-upgrade returned: $(tail -n 1 /host/upgrade.out)"
}

stage2() {
	local pid b a what
	fig kernel_after "$(uname -r)"
	fig boot_to_agent_s "$(now)"
	say "$(uname -r): $UNIT $(systemctl is-active "$UNIT"), main pid $(main_pid)"
	cp "$CKPT"/last/upgrade.log "$CKPT"/last/img/*.log /host/ 2>/dev/null
	cp "$CKPT"/failed-*/upgrade.log "$CKPT"/failed-*/img/*.log /host/ 2>/dev/null
	journalctl -b --no-pager -o short-monotonic -u "$UNIT" -t khopages >/host/unit.journal
	systemctl is-active --quiet "$UNIT" || fail "$UNIT is not active after the upgrade"
	[ "$MODE" = fresh ] && fresh
	if grep -q 'starting it fresh' /host/unit.journal; then
		fail "the restore failed and $UNIT started fresh: $(grep -m1 'restore of' /host/unit.journal)"
	fi
	pid=$(main_pid)
	echo restored >/host/restored
	fig pages_written "$(sed -n 's/.*Memory pages written: \([0-9]*\).*/\1/p' /host/upgrade.out | tail -n 1)"
	fig pages_handed_over "$(sed -n 's/.*Memory pages handed over (KHO): \([0-9]*\).*/\1/p' /host/upgrade.out | tail -n 1)"
	frames "$pid" >/host/frames.after
	record after
	for what in pid run_id dbsize sample; do
		b=$(cat "/host/check.before.$what")
		a=$(cat "/host/check.after.$what")
		[ -n "$b" ] && [ "$b" = "$a" ] ||
			fail "$what differs after the upgrade: before '$b', after '$a'"
	done
	say "the same main pid ($pid), run_id, $(cat /host/check.after.dbsize) keys and sample"
	# Pages by virtual address (a restored mapping may have merged with
	# its neighbour, so its start differs): "START+N" is the Nth page of
	# the mapping that starts at START (hex).
	awk 'function va(k,   i, n, c, h) {
			i = index(k, "+"); h = substr(k, 1, i - 1); n = 0
			for (c = 1; c <= length(h); c++)
				n = n * 16 + index("0123456789abcdef", substr(h, c, 1)) - 1
			return sprintf("%.0f", n + (substr(k, i + 1) - 1) * 4096)
		}
		NR == FNR { f[va($1)] = $2; next }
		(va($1) in f) { both++; if (f[va($1)] == $2) same++ }
		END { printf "frames_same %d\nframes_both %d\n", same, both }' \
		/host/frames.before /host/frames.after >>/host/fig
	fig frames_before "$(grep -c . /host/frames.before)"
	# kho: every page on the frame it had, but for a few that Redis'
	# threads and the client's writes free or fault in between the
	# record and the freeze (1 % at most).
	if [ "$MODE" = kho ]; then
		awk -v s="$(fig_get frames_same)" -v b="$(fig_get frames_both)" \
			'BEGIN { exit !(b > 0 && b - s <= b / 100) }' ||
			fail "only $(fig_get frames_same) of $(fig_get frames_both) pages are on their frames"
	fi
	say "frames: $(fig_get frames_same) of $(fig_get frames_both) the same"
	wait_file /host/client-done 300 || fail "the host's client did not finish"
	pass
}

# mode=fresh: the restore failed (no Live Update in this kernel); the
# journal says so, the checkpoint is set aside, the ports are open again,
# and the unit runs a fresh server under a new main pid.
fresh() {
	local pid
	grep -q "restore of $UNIT failed.*starting it fresh" /host/unit.journal ||
		fail "no journal message of the failed restore: $(tail -n 3 /host/unit.journal)"
	say "journal: $(grep -m1 "restore of $UNIT failed" /host/unit.journal | cut -d' ' -f5-)"
	pid=$(main_pid)
	[ "$pid" != "$(cat /host/check.before.pid)" ] && [ "$pid" != 0 ] ||
		fail "main pid $pid after a failed restore"
	ls -d "$CKPT"/failed-* >/dev/null 2>&1 || fail "the failed checkpoint was not set aside"
	[ ! -e "$CKPT/pending" ] || fail "the failed checkpoint is still pending"
	nft list tables | grep -q khopages && fail "the ports stay dark: $(nft list tables)"
	[ "$(redis-cli -n 0 DBSIZE)" = 0 ] || fail "a fresh server with data"
	say "started fresh: main pid $pid, the checkpoint in $(ls -d "$CKPT"/failed-*)"
	echo restored >/host/restored
	wait_file /host/client-done 300 || fail "the host's client did not finish"
	pass
}

case "$1" in
1) stage1 ;;
2) stage2 ;;
*) fail "no stage $1" ;;
esac
