# SPDX-License-Identifier: GPL-2.0
# Guest side of `make demo APP=postgres`: a PostgreSQL 15 server with a
# table warm in its buffer cache is checkpointed by CRIU in kernel A, the
# machine kexecs into kernel B, CRIU restores the server there, and psql
# proves that the table is the same (a checksum over every row) and still
# cached (pg_buffercache: the same blocks in the same buffers; a scan of the
# table reads nothing from disk).
#
#   param mode=kho    criu dump/restore --kho-pages: private memory and
#                     the shared memory (the buffer pool, the SysV
#                     segments) stay in RAM and are handed over in place,
#                     the images (in this guest's RAM, /tmp/img) are kept in
#                     a Live Update session: nothing is written to a disk
#   param mode=plain  plain CRIU, images (with all pages) on the 9p share
#   param mib=N       size of the table, MiB; shared_buffers is 1.5 times it
#
# PostgreSQL itself (Debian's postgresql-15) is on a read-only 9p share
# (vm-run.sh --share, scripts/build-postgres-guest.sh) mounted at $PG, its
# data directory on the run directory's share, /host/pgdata: the guest's
# only storage that survives the kexec, its "disk". Stage 1 runs in
# kernel A, stage 2 in kernel B (/host/boot/kernel-B). Figures go to
# /host/fig, the checks to /host/check.*, CRIU's logs and stats to /host.
# Timestamps: `mark NAME` creates /host/t.NAME, whose mtime the host's
# clock sets (see scripts/guest/demo.sh).
. /lib/khopages/guest-lib.sh

MODE=$(param mode)
MIB=$(param mib)
MIB=${MIB:-256}
PG=/opt/postgresql
PGBIN=$PG/usr/lib/postgresql/15/bin
PGDATA=/host/pgdata
IMG=/host/img
CRIU_OPTS="--manage-cgroups=ignore -v4"
# The server runs as this user (it refuses to run as root).
PGUID=70
# Rows of 228 bytes on the page (a 4-byte id, 192 characters: md5 hex six
# times, the tuple header and the line pointer): 35 to a page, 4480 to a
# MiB.
ROWS=$((MIB * 4480))
SB=$((MIB * 3 / 2))
case "$MODE" in
kho)
	KHO=--kho-pages IMG=/tmp/img
	export CRIU_KHOPAGES_SESSION=postgres-demo
	;;
plain) KHO= ;;
*) fail "unknown mode '$MODE'" ;;
esac

say() { echo "demo: $*"; }
fig() { echo "$1 $2" >>/host/fig; }
fig_get() { sed -n "s/^$1 //p" /host/fig | tail -n 1; }
mark() { : >"/host/t.$1"; }

# psql as a client over TCP (the server has no Unix socket, see below):
# unaligned, tuples only, stop at the first error.
sql() {
	LD_LIBRARY_PATH=$PG/lib "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p 5432 -U postgres -d postgres "$@"
}
# A program of the server's, as its user ("--": busybox su would take the
# program's options for its own).
as_postgres() {
	LD_LIBRARY_PATH=$PG/lib TZ=GMT su -c 'exec "$0" "$@"' -- postgres "$@"
}
pg_pid() { head -n 1 "$PGDATA/postmaster.pid"; }

# The installation (read-only share) and the server's user: in both
# kernels, before anything runs from there.
pg_setup() {
	mkdir -p "$PG"
	grep -q " $PG " /proc/mounts ||
		mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro share "$PG" ||
		fail "cannot mount the PostgreSQL share"
	[ -x "$PGBIN/postgres" ] || fail "no $PGBIN/postgres on the share"
	grep -q '^postgres:' /etc/passwd ||
		echo "postgres:x:$PGUID:$PGUID:PostgreSQL:$PGDATA:/bin/sh" >>/etc/passwd
	grep -q '^postgres:' /etc/group || echo "postgres:x:$PGUID:" >>/etc/group
}

# Wait up to $1 seconds until the server answers.
wait_ready() {
	local try
	for try in $(seq $(($1 * 5))); do
		: "$try"
		[ "$(sql -c 'SELECT 1' 2>/dev/null)" = 1 ] && return 0
		sleep 0.2
	done
	return 1
}

# The processes of the server: the postmaster and its children.
pg_tree() {
	local p=$1
	echo "$p"
	grep -l "^PPid:[[:space:]]*$p\$" /proc/[0-9]*/status 2>/dev/null |
		cut -d/ -f3
}

# Until no client's backend is left (psql exits before its backend does):
# the dump should find the server idle, as it is between requests.
wait_no_backends() {
	local try
	for try in $(seq 50); do
		: "$try"
		grep -qa '127\.0\.0\.1(' /proc/[0-9]*/cmdline 2>/dev/null || return 0
		sleep 0.2
	done
	return 1
}

# The checksum: every row, weighted by its id (so rows trading values
# show too). sum(int8) does not overflow (it sums in 128 bits); hashtext()
# of text in the C collation is a plain hash of the bytes: the same in any
# process of the same build.
CHECKSUM="SELECT count(*) || ' ' || sum(hashtext(v)::int8 * id) FROM t"
# The buffer cache: which buffer holds which block of the table (the main
# fork; the visibility map and free space map aside), from pg_buffercache.
BUFFERS="SELECT bufferid || ' ' || relblocknumber FROM pg_buffercache
	WHERE relfilenode = pg_relation_filenode('t') AND relforknumber = 0
	AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
	ORDER BY bufferid"

# The facts that must be the same after the upgrade: the buffers of the
# table (read first, before anything else touches the cache), whether a
# scan of it reads anything from disk, the checksum, the server's
# identity (its start time is in its shared memory). The checksum's
# backend (alone: no parallel workers) has mapped every buffer of the
# table when it is done: in the same session, psql has this script record
# its physical frames.
record() {
	local tag=$1
	sql -c "$BUFFERS" >"/host/check.$tag.buffers" || fail "pg_buffercache query failed ($tag)"
	sql -c "SELECT count(*) FROM pg_buffercache WHERE relfilenode IS NOT NULL" \
		>"/host/check.$tag.buffers_used"
	# A scan of the whole table: "Buffers: shared hit=N" and, when it
	# had to read from disk, "read=M".
	sql -c "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF) $CHECKSUM" |
		sed -n 's/^ *Buffers: //p' | head -n 1 >"/host/check.$tag.scan"
	rm -f "/host/frames.$tag"
	sql <<SQL || fail "the checksum query failed ($tag)"
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() AS backend \gset
\setenv DEMO_BACKEND :backend
$CHECKSUM \g /host/check.$tag.checksum
\! sh /host/guest.sh frames /host/frames.$tag
SQL
	[ -s "/host/frames.$tag" ] || fail "no frames recorded ($tag)"
	sql -c "SELECT pg_postmaster_start_time()" >"/host/check.$tag.start_time"
	pg_pid >"/host/check.$tag.pid"
}

stage1() {
	[ -c /dev/khopages ] || fail "no /dev/khopages in kernel A"
	fig kernel_a "$(uname -r)"
	pg_setup
	fig version "$(LD_LIBRARY_PATH=$PG/lib "$PGBIN/postgres" --version)"

	say "initdb $PGDATA ($(LD_LIBRARY_PATH=$PG/lib "$PGBIN/postgres" --version))"
	mark initdb
	mkdir -p "$PGDATA"
	chown postgres:postgres "$PGDATA"
	chmod 0700 "$PGDATA"
	as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C --no-sync >/host/initdb.log 2>&1 ||
		{ tail -n 20 /host/initdb.log; fail "initdb failed"; }
	cat >>"$PGDATA/postgresql.conf" <<CONF

# ---- the khopages demo ----
# TCP only: a Unix socket (and its lock file) would live in the guest's
# tmpfs, which the kexec does not keep; the data directory is on the 9p
# share, which it does.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
# The buffer pool: the table and room to spare. shared_memory_type=mmap
# (the default) puts it in MAP_SHARED anonymous memory, which --kho-pages
# hands over in place; no huge pages, which it would copy (hugetlb).
shared_buffers = ${SB}MB
shared_memory_type = mmap
huge_pages = off
# Dynamic shared memory (parallel query) in SysV segments, which live in
# the server's IPC namespace, go into its checkpoint and are handed over
# in place too. Not posix: those are files in /dev/shm, a tmpfs that the
# kexec does not keep (and that this guest does not even mount); not mmap:
# files in the data directory, written back to the share.
dynamic_shared_memory_type = sysv
# The table is created by CREATE TABLE AS: with wal_level=minimal, it is
# written once to its file at commit, not to the WAL as well.
wal_level = minimal
max_wal_senders = 0
# LLVM is not in the guest; under TCG it would only slow the scans.
jit = off
# Built-in zone: no time zone files needed.
timezone = 'GMT'
log_timezone = 'GMT'
CONF

	say "starting postgres (shared_buffers ${SB}MB, its own IPC namespace)"
	# A pid that is free after the reboot too (for the postmaster and its
	# children), no terminal. Its own IPC namespace: the SysV segments
	# go into the checkpoint with it. The log goes to the share.
	echo 30000 >/proc/sys/kernel/ns_last_pid
	LD_LIBRARY_PATH=$PG/lib TZ=GMT setsid unshare -i \
		su -c 'exec "$0" "$@"' -- postgres "$PGBIN/postgres" -D "$PGDATA" \
		</dev/null >>/host/postgres.log 2>&1 &
	mark start
	wait_ready 300 || { tail -n 20 /host/postgres.log; fail "postgres does not answer (see /host/postgres.log)"; }
	mark ready

	say "filling table t: $ROWS rows, $MIB MiB (CREATE TABLE AS ... generate_series)"
	sql -c "CREATE EXTENSION pg_buffercache" -c "CREATE EXTENSION pg_prewarm" ||
		fail "CREATE EXTENSION failed"
	mark fill
	sql -c "CREATE TABLE t AS SELECT i AS id, repeat(md5(i::text), 6) AS v
		FROM generate_series(1, $ROWS) AS i" || fail "filling the table failed"
	mark filled
	# Read it once into the buffer cache (a plain scan of a table this
	# large would go through a small ring of buffers and leave little
	# behind), then what a server does after a bulk load: VACUUM and
	# ANALYZE it, and a checkpoint, so nothing is left to write.
	say "warming the buffer cache (pg_prewarm), VACUUM ANALYZE, CHECKPOINT"
	sql -c "SELECT pg_prewarm('t')" >/host/prewarm.out || fail "pg_prewarm failed"
	mark prewarmed
	sql -c "VACUUM ANALYZE t" -c "CHECKPOINT" || fail "VACUUM or CHECKPOINT failed"
	mark vacuumed
	fig rows "$(sql -c 'SELECT count(*) FROM t')"
	fig table_bytes "$(sql -c "SELECT pg_relation_size('t')")"
	fig table_blocks "$(sql -c "SELECT pg_relation_size('t') / current_setting('block_size')::int")"
	fig shared_buffers "$(sql -c 'SHOW shared_buffers')"

	say "recording the buffer cache, a scan, the checksum"
	record before
	fig scan_before "$(cat /host/check.before.scan)"
	say "$(grep -c . /host/check.before.buffers) buffers hold blocks of t; scan: $(cat /host/check.before.scan); checksum (rows, sum): $(cat /host/check.before.checksum)"
	[ "$(grep -c . /host/check.before.buffers)" = "$(fig_get table_blocks)" ] ||
		fail "only $(grep -c . /host/check.before.buffers) of $(fig_get table_blocks) blocks of t are cached before the dump"
	wait_no_backends || fail "a client's backend is still there"

	# Kernel B is staged while the server still serves.
	mark recorded
	kexec -s -l /host/boot/kernel-B --initrd=/host/boot/initrd.img \
		--append="$(stage_cmdline 2)" || fail "kexec load of kernel B failed"
	mark staged
	pg_tree "$(pg_pid)" >/host/tree.before
	fig processes "$(grep -c . /host/tree.before)"
	if [ -n "$KHO" ]; then
		# Still serving: move the private pages of every process out of
		# KHO scratch now (the shared ones move at the dump).
		local p ev n=0
		for p in $(cat /host/tree.before); do
			# A child that ended since the listing (an autovacuum
			# worker) has nothing to move.
			if ! ev=$(khopagesctl evacuate "$p"); then
				[ -d "/proc/$p" ] || continue
				fail "khopagesctl evacuate $p failed"
			fi
			n=$((n + $(echo "$ev" | evacuated_pages)))
		done
		fig pages_evacuated "$n"
	fi
	mark evacuated

	say "criu dump ${KHO:+$KHO }of postgres (postmaster pid $(pg_pid), $(grep -c . /host/tree.before) processes)"
	mkdir -p "$IMG"
	mark freeze
	# shellcheck disable=SC2086
	if ! criu dump -t "$(pg_pid)" -D "$IMG" $CRIU_OPTS $KHO --leave-stopped --display-stats \
		-o dump.log >"$IMG/dump.stats" 2>&1; then
		tail -n 30 "$IMG/dump.log"
		fail "criu dump $KHO failed"
	fi
	mark dumped
	cp "$IMG/dump.log" "$IMG/dump.stats" /host/
	sync
	mark kexec
	say "kexec -e into kernel B"
	kexec -e
	fail "kexec -e returned"
}

stage2() {
	mark stage2
	fig kernel_b "$(uname -r)"
	pg_setup
	say "running $(uname -r); criu restore${KHO:+ $KHO}"
	if [ "$MODE" = kho ]; then
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
	wait_ready 60 || fail "the restored server does not answer"
	mark serving

	say "restored; checking the buffer cache and the table"
	record after
	mark checked_data
	verify
	say "the table is intact and still cached; the server keeps working"
	keeps_working
	mark checked
	pass
}

verify() {
	local b a what
	for what in checksum start_time pid buffers; do
		b=$(cat "/host/check.before.$what")
		a=$(cat "/host/check.after.$what")
		[ -n "$b" ] && [ "$b" = "$a" ] ||
			fail "$what differs after the upgrade: before '$(echo "$b" | head -n 3)', after '$(echo "$a" | head -n 3)'"
	done
	fig scan_after "$(cat /host/check.after.scan)"
	# The pages of shared memory on the frames they had before the dump.
	awk 'NR == FNR { f[$1] = $2; next }
		($1 in f) { both++; if (f[$1] == $2) same++ }
		END { printf "frames_same %d\nframes_both %d\n", same, both }' \
		/host/frames.before /host/frames.after >>/host/fig
	case "$(cat /host/check.after.scan)" in
	*read=*) fail "the scan after the restore read from disk: $(cat /host/check.after.scan)" ;;
	esac
	fig pages_written "$(sed -n 's/^Memory pages written: \([0-9]*\).*/\1/p' /host/dump.stats)"
	fig image_bytes "$(find "$IMG" -name '*.img' -type f -exec stat -c %s {} + | awk '{ n += $1 } END { print n + 0 }')"
	fig image_bytes_disk "$(find /host -path /host/boot -prune -o -path /host/pgdata -prune -o \
		-name '*.img' -type f -print | while read -r f; do stat -c %s "$f"; done |
		awk '{ n += $1 } END { print n + 0 }')"
	fig shmem_objects "$(sed -n 's/^Shared memory objects handed over in place: \([0-9]*\).*/\1/p' /host/dump.stats)"
	fig shmem_pages "$(sed -n 's/^Shared memory pages handed over in place: \([0-9]*\).*/\1/p' /host/dump.stats)"
	fig shmem_copied "$(sed -n 's/^Shared memory objects copied: \([0-9]*\).*/\1/p' /host/dump.stats)"
	fig shmem_filled "$(sed -n 's/^Shared memory pages filled in place: \([0-9]*\).*/\1/p' /host/restore.stats)"
	fig shmem_kinds "$(sed -n 's/.*kho: shared memory [0-9a-fx]* (\([a-z]*\)) handed over in place: \([0-9]*\) pages.*/\1:\2/p' \
		/host/dump.log | tr '\n' ' ')"
	if [ "$MODE" = kho ]; then
		fig pages_handed_over "$(sed -n 's/^Memory pages handed over (KHO): \([0-9]*\).*/\1/p' /host/dump.stats)"
		fig pages_mapped_back "$(sed -n 's/^Pages mapped back (KHO): \([0-9]*\).*/\1/p' /host/restore.stats)"
		fig image_bytes_ram "$(sed -n 's/.*(images: \([0-9]*\) bytes in a memfd).*/\1/p' /host/dump.log)"
		grep -q 'images (.* bytes) unpacked from Live Update session postgres-demo' /host/restore.log ||
			fail "the images did not come from the Live Update session"
		[ "$(khopagesctl list | tail -n +2 | grep -c .)" = 0 ] ||
			fail "a khopages session is left after the restore"
		[ "$(fig_get shmem_objects)" -gt 0 ] 2>/dev/null ||
			fail "no shared memory was handed over in place (see /host/dump.log)"
		[ "$(fig_get shmem_filled)" = "$(fig_get shmem_pages)" ] ||
			fail "$(fig_get shmem_pages) shared memory pages handed over, $(fig_get shmem_filled) filled in place"
	fi
}

# Writes, a new table, a checkpoint, a parallel scan: the restored server
# is live.
keeps_working() {
	local n
	n=$(sql -c "INSERT INTO t VALUES (0, 'written in $(uname -r)')" \
		-c "UPDATE t SET v = upper(v) WHERE id <= 1000" \
		-c "DELETE FROM t WHERE id = 0" \
		-c "CREATE TABLE after_upgrade AS SELECT 'written in $(uname -r)' AS note" \
		-c "CHECKPOINT" \
		-c "SELECT count(*) FROM t WHERE v = upper(v)") || fail "writing after the restore failed"
	[ "$n" = 1000 ] || fail "UPDATE after the restore: $n rows, not 1000"
	[ "$(sql -c 'SELECT note FROM after_upgrade')" = "written in $(uname -r)" ] ||
		fail "reading a new table failed"
	fig works "INSERT UPDATE DELETE CREATE CHECKPOINT"
}

case "$1" in
1) stage1 ;;
2) stage2 ;;
# From psql (record): the frames of its backend's shared writable
# mappings (the buffer pool, the SysV segments).
frames) frames "$DEMO_BACKEND" '^[0-9a-f]+-[0-9a-f]+ rw-s ' >"$2" ;;
*) fail "unexpected stage $1" ;;
esac
