#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# upgrade/test.sh: what can be tested of khopages-upgrade, khopages-restore
# and khopages-start without a kexec: --setup on unit files in scratch roots
# (no root needed), and, as root, the upgrade up to kexec -e, the early
# unit and the restore, in private mount, pid and network namespaces where
# systemctl, kexec, criu, khopagesctl and systemd-notify are stubs (an
# overlay on /usr/bin and /usr/sbin) and a process in a cgroup of its own
# plays the service. One line per test (PASS, FAIL or SKIP and its name),
# then "N passed, N failed, N skipped"; exit status 1 if any failed.
#
#   sh upgrade/test.sh [-v]    (-v: the output of the failed tests;
#                               KHOPAGES_TEST_KEEP=1 keeps the scratch files)
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd)
verbose=0
[ "$1" != -v ] || verbose=1
work=$(mktemp -d /tmp/khopages-test.XXXXXX) || exit 1
trap '[ -n "$KHOPAGES_TEST_KEEP" ] && echo "kept $work" || rm -rf "$work"' EXIT
passed=0 failed=0 skipped=0

# t NAME COMMAND...: run a test (its output in $work/NAME.out).
t() {
	t_name=$1
	shift
	if "$@" >"$work/$t_name.out" 2>&1; then
		echo "PASS $t_name"
		passed=$((passed + 1))
	else
		echo "FAIL $t_name"
		failed=$((failed + 1))
		[ $verbose = 0 ] || sed 's/^/    /' "$work/$t_name.out"
	fi
}

skip() {
	echo "SKIP $1 ($2)"
	skipped=$((skipped + 1))
}

# expect PATTERN FILE: FILE has a line matching the basic regex PATTERN.
expect() {
	grep -q -- "$1" "$2" || {
		echo "no line matching '$1' in $2:"
		cat "$2"
		return 1
	}
}

reject() {
	! grep -q -- "$1" "$2" || {
		echo "a line matching '$1' in $2"
		return 1
	}
}

# --- --setup, offline ------------------------------------------------------

upgrade=$here/khopages-upgrade

# mkroot NAME: an empty scratch root.
mkroot() {
	rm -rf "${work:?}/$1"
	mkdir -p "$work/$1/lib/systemd/system" "$work/$1/etc/systemd/system"
	echo "$work/$1"
}

# A service like Debian's redis-server.service: Type=notify, heavily
# sandboxed.
redis_like() {
	cat <<'EOF'
[Unit]
Description=An in-memory store
After=network.target

[Service]
Type=notify
ExecStart=/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd --daemonize no
PIDFile=/run/redis/redis-server.pid
User=redis
Group=redis
RuntimeDirectory=redis
PrivateTmp=true
PrivateDevices=true
ProtectHome=true
ProtectSystem=strict
ReadWritePaths=-/var/lib/redis
CapabilityBoundingSet=
MemoryDenyWriteExecute=true
NoNewPrivileges=true
PrivateUsers=true
ProtectClock=true
ProtectHostname=true
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallFilter=@system-service
NoExecPaths=/
ExecPaths=/usr/bin/redis-server /usr/lib /lib

[Install]
WantedBy=multi-user.target
EOF
}

dropin_of() {
	echo "$1/etc/systemd/system/$2.d/zz-khopages.conf"
}

test_setup_redis() {
	r=$(mkroot setup-redis)
	redis_like >"$r/lib/systemd/system/redis-server.service"
	"$upgrade" --setup --unit redis-server --root "$r" || return 1
	f=$(dropin_of "$r" redis-server.service)
	expect '^ExecStartPre=+/usr/lib/khopages/khopages-restore %n$' "$f" &&
		expect '^ExecStart=$' "$f" &&
		expect '^ExecStart=/usr/lib/khopages/khopages-start %n /usr/bin/redis-server /etc/redis/redis.conf --supervised systemd --daemonize no$' "$f" &&
		expect '^NotifyAccess=all$' "$f" &&
		expect '^StandardOutput=null$' "$f" &&
		expect '^PrivateUsers=no$' "$f" &&
		expect '^NoExecPaths=$' "$f" &&
		expect '^ProtectProc=default$' "$f" &&
		reject '^DeviceAllow' "$f" &&
		reject 'ProtectClock' "$f" || return 1
	# Again: the same file (its own drop-in is no source of itself).
	cp "$f" "$work/setup-redis.first"
	"$upgrade" --setup --unit redis-server.service --root "$r" || return 1
	cmp "$f" "$work/setup-redis.first" || return 1
	if command -v systemd-analyze >/dev/null; then
		# systemd 252 reads the unit with the drop-in; only the commands,
		# not installed on this host, may be reported.
		u=$work/setup-redis.units
		mkdir -p "$u/redis-server.service.d"
		cp "$r/lib/systemd/system/redis-server.service" "$u/"
		cp "$f" "$u/redis-server.service.d/"
		cp "$here/khopages-early.service" "$u/"
		(cd "$u" && SYSTEMD_UNIT_PATH=$u: systemd-analyze verify --man=no \
			redis-server.service khopages-early.service) >"$work/verify" 2>&1
		cat "$work/verify"
		! grep -v 'is not executable: No such file\|Failed to create .*/start' "$work/verify" | grep -q .
	fi
}

test_setup_unsetup() {
	r=$(mkroot setup-unsetup)
	redis_like >"$r/lib/systemd/system/redis-server.service"
	"$upgrade" --setup --unit redis-server --root "$r" &&
		"$upgrade" --unsetup --unit redis-server --root "$r" &&
		[ ! -e "$r/etc/systemd/system/redis-server.service.d" ] &&
		! "$upgrade" --unsetup --unit redis-server --root "$r"
}

# refused NAME FILE-TEXT MESSAGE: --setup of a unit with FILE-TEXT fails, saying MESSAGE.
refused() {
	r=$(mkroot "refuse-$1")
	[ -z "$2" ] || printf '%b' "$2" >"$r/lib/systemd/system/x.service"
	if "$upgrade" --setup --unit x --root "$r" >"$work/refuse.out" 2>&1; then
		cat "$work/refuse.out"
		return 1
	fi
	cat "$work/refuse.out"
	expect "$3" "$work/refuse.out" && [ ! -e "$(dropin_of "$r" x.service)" ]
}

test_refusals() {
	n='[Service]\nType=notify\nExecStart=/usr/bin/x\n'
	refused simple '[Service]\nExecStart=/usr/bin/x\n' 'Type=simple: only a Type=notify' &&
		refused forking '[Service]\nType=forking\nExecStart=/usr/bin/x\n' 'Type=forking' &&
		refused two "${n}ExecStart=/usr/bin/y\n" 'has 2 ExecStart= commands' &&
		refused none '[Service]\nType=notify\n' 'has 0 ExecStart= commands' &&
		refused argv0 '[Service]\nType=notify\nExecStart=@/usr/bin/x y\n' 'sets argv\[0\]' &&
		refused net "${n}PrivateNetwork=yes\n" 'PrivateNetwork=yes' &&
		refused bind "${n}BindPaths=/a:/b\n" 'BindPaths= is set' &&
		refused tmpfs "${n}TemporaryFileSystem=/var\n" 'TemporaryFileSystem= is set' &&
		refused dynamic "${n}DynamicUser=yes\n" 'DynamicUser=yes' &&
		refused root "${n}RootDirectory=/srv/x\n" 'RootDirectory= is set' &&
		refused pam "${n}PAMName=login\n" 'PAMName= is set' &&
		refused sigkill "${n}SendSIGKILL=no\n" 'SendSIGKILL=no with KillMode=control-group' &&
		refused missing '' 'no unit file for x.service'
}

test_setup_accepts() {
	n='[Service]\nType=notify\nExecStart=/usr/bin/x\n'
	# reset lists, KillMode=process with SendSIGKILL=no, comments
	r=$(mkroot accepts)
	printf '%b' "${n}BindPaths=/a:/b\nBindPaths=\nKillMode=process\nSendSIGKILL=no\n# ExecStart=/usr/bin/z\n[Install]\nExecStart=/not/a/service/key\n" \
		>"$r/lib/systemd/system/x.service"
	"$upgrade" --setup --unit x --root "$r" &&
		expect '^ExecStart=/usr/lib/khopages/khopages-start %n /usr/bin/x$' "$(dropin_of "$r" x.service)"
}

test_setup_dropins() {
	r=$(mkroot dropins)
	printf '[Service]\nType=simple\nExecStart=/usr/bin/old\n' >"$r/lib/systemd/system/a-b.service"
	mkdir -p "$r/lib/systemd/system/a-.service.d" "$r/etc/systemd/system/a-b.service.d" \
		"$r/lib/systemd/system/a-b.service.d"
	# by file name across directories: 10 (lib, a-.service.d), 20 (etc
	# masks lib's 20), 30
	printf '[Service]\nType=notify\n' >"$r/lib/systemd/system/a-.service.d/10-type.conf"
	printf '[Service]\nExecStart=/usr/bin/masked\n' >"$r/lib/systemd/system/a-b.service.d/20-cmd.conf"
	printf '[Service]\nExecStart=\nExecStart=-/usr/bin/new \\\n    --flag "two words"\n' \
		>"$r/etc/systemd/system/a-b.service.d/20-cmd.conf"
	printf '[Service]\nEnvironment=X=1\n' >"$r/etc/systemd/system/a-b.service.d/30-env.conf"
	"$upgrade" --setup --unit a-b --root "$r" || return 1
	f=$(dropin_of "$r" a-b.service)
	cat "$f"
	expect '^ExecStart=-/usr/lib/khopages/khopages-start %n /usr/bin/new  *--flag "two words"$' "$f" &&
		expect '^#   /lib/systemd/system/a-.service.d/10-type.conf$' "$f" &&
		reject 'masked' "$f"
}

test_setup_template() {
	r=$(mkroot template)
	printf '[Service]\nType=notify\nExecStart=/usr/bin/t --name %%i\n' >"$r/lib/systemd/system/t@.service"
	"$upgrade" --setup --unit 't@one' --root "$r" &&
		expect '^ExecStart=/usr/lib/khopages/khopages-start %n /usr/bin/t --name %i$' "$(dropin_of "$r" t@one.service)"
}

test_setup_alias_masked() {
	r=$(mkroot alias)
	redis_like >"$r/lib/systemd/system/redis-server.service"
	ln -s /lib/systemd/system/redis-server.service "$r/etc/systemd/system/redis.service"
	ln -s /dev/null "$r/etc/systemd/system/gone.service"
	! "$upgrade" --setup --unit redis --root "$r" >"$work/alias.out" 2>&1 &&
		expect 'redis.service is an alias of redis-server.service' "$work/alias.out" &&
		! "$upgrade" --setup --unit gone --root "$r" >"$work/alias.out" 2>&1 &&
		expect 'gone.service is masked' "$work/alias.out"
}

test_setup_devices() {
	r=$(mkroot devices)
	printf '[Service]\nType=notify\nExecStart=/usr/bin/x\nDevicePolicy=closed\n' >"$r/lib/systemd/system/x.service"
	"$upgrade" --setup --unit x --root "$r" &&
		expect '^DeviceAllow=/dev/liveupdate rw$' "$(dropin_of "$r" x.service)"
}

test_usage() {
	"$upgrade" --help | grep -q '^usage: khopages-upgrade --unit UNIT --kernel FILE' &&
		! "$upgrade" --bogus 2>"$work/u" && expect "^khopages-upgrade: unknown argument '--bogus'" "$work/u" &&
		! "$upgrade" --setup 2>"$work/u" && expect '^khopages-upgrade: --unit UNIT is needed' "$work/u" &&
		! "$upgrade" --unit '../x' 2>"$work/u" && expect "is not a service name" "$work/u" &&
		! "$here/khopages-restore" 2>/dev/null && ! "$here/khopages-start" x 2>/dev/null
}

# --- the library -------------------------------------------------------------

test_names() {
	. "$here/khopages-lib.sh"
	[ "$(khop_name redis-server.service)" = khopages-redis-server.service ] &&
		[ "$(khop_name 'a@b\x2dc.service')" = 'khopages-a_b_x2dc.service' ] &&
		long=$(khop_name "$(printf '%070d' 0).service") &&
		[ ${#long} -eq 63 ] && [ "$long" != "$(khop_name "$(printf '%071d' 0).service")" ] &&
		valid_unit foo@bar.service && ! valid_unit ../x.service && ! valid_unit x &&
		! valid_unit 'a b.service'
}

test_kernel_release() {
	. "$here/khopages-lib.sh"
	cp "$1" "$work/bzImage"
	rel=$(kernel_release "$work/bzImage") && echo "$rel" &&
		[ -n "$rel" ] && [ "$(kernel_release /boot/vmlinuz-"$rel")" = "$rel" ] &&
		! kernel_release /etc/hostname
}

test_netlock() {
	. "$here/khopages-lib.sh"
	netlock_nft khopages-x.service x.service 6379 26379 >"$work/n.nft" &&
		cat "$work/n.nft" && expect 'tcp dport { 6379, 26379 } drop' "$work/n.nft" &&
		unshare -n nft -c -f "$work/n.nft" &&
		netlock_nft khopages-x.service x.service >"$work/n.nft" && unshare -n nft -c -f "$work/n.nft"
}

# --- in namespaces, with stubs ---------------------------------------------

stubs() {
	s=$work/stubs
	mkdir -p "$s/bin" "$s/sbin"
	# systemctl: properties from $STUB/props (PROP=VALUE), calls logged.
	cat >"$s/bin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >>"$STUB/calls"
[ "$1" != -q ] || shift
case $1 in
show) sed -n "s/^$3=//p" "$STUB/props" ;;
is-active) [ ! -e "$STUB/inactive" ] ;;
kill)
	cg=/sys/fs/cgroup$(sed -n 's/^ControlGroup=//p' "$STUB/props")
	for p in $(cat "$cg/cgroup.procs"); do kill -KILL "$p"; done
	;;
is-enabled | start | daemon-reload | enable) exit 0 ;;
*) exit 1 ;;
esac
EOF
	# kexec: -e fails with $STUB/kexec-fails, else ends its caller as the
	# real one ends the kernel.
	cat >"$s/sbin/kexec" <<'EOF'
#!/bin/sh
echo "kexec $*" >>"$STUB/calls"
case $1 in
-e) [ -e "$STUB/kexec-fails" ] && exit 1
    kill -KILL "$PPID"; exit 0 ;;
esac
exit 0
EOF
	# criu: a dump stops the tree (--leave-stopped) and writes its log; a
	# restore starts a listener and writes its pid. $STUB/criu-fails: exit 1.
	cat >"$s/sbin/criu" <<'EOF'
#!/bin/sh
echo "criu $* SESSION=$CRIU_KHOPAGES_SESSION SAME=$CRIU_KHOPAGES_SAME_KERNEL" >>"$STUB/calls"
op=$1 dir= pidfile= tree=
while [ $# -gt 0 ]; do
	case $1 in
	-D) dir=$2; shift ;;
	--pidfile) pidfile=$2; shift ;;
	-t) tree=$2; shift ;;
	esac
	shift
done
if [ -e "$STUB/criu-fails" ]; then
	echo "Error (criu/cr-$op.c:42): something went wrong" >"$dir/$op.log"
	exit 1
fi
echo "($op) done" >"$dir/$op.log"
case $op in
dump)
	kill -STOP "$tree"
	: >"$dir/pages-1.img"
	echo "Frozen time: 1000 us"
	;;
restore)
	setsid python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 16379)); s.listen(); time.sleep(60)' </dev/null >/dev/null 2>&1 &
	printf '%s' $! >"$pidfile"
	;;
esac
EOF
	cat >"$s/sbin/khopagesctl" <<'EOF'
#!/bin/sh
echo "khopagesctl $*" >>"$STUB/calls"
[ "$1" != evacuate ] || echo "pid $2: 0 pages (0.0 MiB) moved out of KHO scratch, 0 still there"
exit 0
EOF
	cat >"$s/bin/systemd-notify" <<'EOF'
#!/bin/sh
echo "systemd-notify $*" >>"$STUB/calls"
EOF
	chmod 0755 "$s/bin/"* "$s/sbin/"*
}

# sandbox SCRIPT: run SCRIPT (sh) in new mount, pid and network namespaces
# with the stubs over /usr/bin and /usr/sbin, empty /var/lib, /run,
# /etc/systemd/system and /dev (null, zero, urandom, liveupdate), and
# cgroup2 on /sys/fs/cgroup.
sandbox() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	STUB=$work/stub HERE=$here W=$work unshare -m -p -n -f --mount-proc sh -c '
	set -e
	mkdir -p "$W/ov/ub" "$W/ov/wb" "$W/ov/us" "$W/ov/ws" "$STUB"
	cp -a "$W/stubs/bin/." "$W/ov/ub/"
	cp -a "$W/stubs/sbin/." "$W/ov/us/"
	mount -t overlay o -o "lowerdir=/usr/bin,upperdir=$W/ov/ub,workdir=$W/ov/wb" /usr/bin
	mount -t overlay o -o "lowerdir=/usr/sbin,upperdir=$W/ov/us,workdir=$W/ov/ws" /usr/sbin
	mount -t tmpfs t /var/lib
	mount -t tmpfs t /run
	mount -t tmpfs t /dev
	mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5
	mknod -m 666 /dev/urandom c 1 9; mknod -m 600 /dev/liveupdate c 1 3
	mount -t cgroup2 c /sys/fs/cgroup
	mount -t tmpfs t /etc/systemd/system
	ip link set lo up
	export STUB HERE W
	set +e
	. "$1"' sandbox "$1"
}

# The service: a listener on 16379 with one connection, in a cgroup of its own.
service_script() {
	cat <<'EOF'
cg=/sys/fs/cgroup/khopages-test.slice/u.service
mkdir -p "$cg"
python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 16379)); s.listen(); c = socket.create_connection(("127.0.0.1", 16379))
a = s.accept(); time.sleep(60)' </dev/null >/dev/null 2>&1 &
svc=$!
echo "$svc" >"$cg/cgroup.procs"
sleep 1
cleanup() {
	echo $$ >/sys/fs/cgroup/cgroup.procs
	kill -KILL $(cat "$cg/cgroup.procs") 2>/dev/null
	sleep 0.3
	rmdir "$cg" /sys/fs/cgroup/khopages-test.slice 2>/dev/null
}
cat >"$STUB/props" <<EOP
LoadState=loaded
Id=u.service
Type=notify
ActiveState=active
SubState=running
MainPID=$svc
ControlGroup=/khopages-test.slice/u.service
FreezerState=running
NeedDaemonReload=no
TriggeredBy=
ExecStart={ path=/usr/lib/khopages/khopages-start ; argv[]=/usr/lib/khopages/khopages-start %n /usr/bin/u }
PIDFile=
EOP
EOF
}

test_runtime() {
	stubs
	service_script >"$work/service.sh"
	cat >"$work/runtime.sh" <<'EOF'
. "$W/service.sh"
fail() { echo "FAILED: $*"; cat "$STUB/calls" 2>/dev/null; cleanup; exit 1; }
printf '[Service]\nType=notify\nExecStart=/usr/bin/u\n' >/etc/systemd/system/u.service
"$HERE/khopages-upgrade" --setup --unit u || fail "setup"
echo "DropInPaths=/etc/systemd/system/u.service.d/zz-khopages.conf" >>"$STUB/props"

# dry run: nothing changes
"$HERE/khopages-upgrade" --unit u --kernel /boot/vmlinuz-9.9.9 --dry-run 2>&1 | tee "$W/dry" ||
	true
grep -q 'no readable kernel image' "$W/dry" || fail "a missing kernel is not refused"
k=$W/vmlinuz-9.9.9
: >"$k"
"$HERE/khopages-upgrade" --unit u --kernel "$k" --no-kho --dry-run >"$W/dry" 2>&1 || { cat "$W/dry"; fail "dry run"; }
cat "$W/dry"
grep -q 'TCP ports 16379' "$W/dry" || fail "dry run: no port"
grep -q -- '--freeze-cgroup=/sys/fs/cgroup/khopages-test.slice/u.service' "$W/dry" || fail "dry run: no cgroup"
[ ! -e /var/lib/khopages/u.service ] || fail "the dry run left $(ls /var/lib/khopages)"
"$HERE/khopages-upgrade" --unit u --kernel "$k" --dry-run >"$W/dry" 2>&1 && fail "kho without liveupdate=on"
grep -q 'no liveupdate=on' "$W/dry" || { cat "$W/dry"; fail "kho: wrong refusal"; }

# the upgrade, kho mode, up to kexec -e (the stub ends the command)
"$HERE/khopages-upgrade" --unit u --kernel "$k" --append "liveupdate=on kho=on" >"$W/up" 2>&1
rc=$?
cat "$W/up"
[ $rc = 137 ] || fail "upgrade: exit $rc, not killed by kexec -e"
d=/var/lib/khopages/u.service
[ -f $d/pending ] || fail "not pending"
# 16379, and the local port of its own connection to it
grep -q '^mode=kho$' $d/checkpoint && grep -q '^ports=16379 [0-9]*$' $d/checkpoint &&
	grep -q '^max_pid=[0-9]' $d/checkpoint && grep -q '^dark_at=' $d/checkpoint ||
	{ cat $d/checkpoint; fail "checkpoint"; }
grep -q 'kexec -s -l .*vmlinuz-9.9.9 --reuse-cmdline --append=liveupdate=on kho=on' "$STUB/calls" || fail "kexec load"
grep -q 'khopagesctl evacuate' "$STUB/calls" || fail "evacuate"
grep -q 'criu dump -t [0-9]* -D /var/lib/khopages/u.service/img --tcp-established --network-lock nftables --manage-cgroups=ignore --freeze-cgroup=/sys/fs/cgroup/khopages-test.slice/u.service --file-locks --leave-stopped -v4 -o dump.log --display-stats --kho-pages SESSION=khopages-u.service' "$STUB/calls" || fail "criu dump"
nft list table inet khopages-u.service | grep -q 'tcp dport { 16379, [0-9]* } drop' || fail "ports not dark"
grep -q 'State:.*T' /proc/$svc/status || fail "the service is not stopped"
grep -q 'criu dump (freeze and dump):' $d/upgrade.log || fail "upgrade.log"

# the next boot: the early unit, then the unit's start
sed -i 's/^boot_id=.*/boot_id=another-boot/' $d/checkpoint
nft delete table inet khopages-u.service
kill -KILL $svc
max=$(sed -n 's/^max_pid=//p' $d/checkpoint)
"$HERE/khopages-restore" --early 2>&1 | tee "$W/early"
[ "$(cat /proc/sys/kernel/ns_last_pid)" -ge "$max" ] || fail "ns_last_pid below $max"
nft list table inet khopages-u.service >/dev/null || fail "early: ports not dark"
mkdir -p /run/khopages
echo 1 >/run/khopages/u.service.pid
echo $$ >"$cg/cgroup.procs"
"$HERE/khopages-restore" u.service 2>&1 | tee "$W/restore"
pid=$(cat /run/khopages/u.service.pid) || fail "no pid file"
[ "$(stat -c %a /run/khopages/u.service.pid)" = 644 ] || fail "pid file mode"
nft list table inet khopages-u.service >/dev/null 2>&1 && fail "ports still dark"
[ -f $d/last/checkpoint ] && [ ! -e $d/pending ] && [ ! -e $d/last/img/pages-1.img ] || fail "last/"
grep -q 'restored from its kho checkpoint (pid' "$W/restore" || fail "restore message"
# khopages-start takes the restored process over
"$HERE/khopages-start" u.service /bin/echo fresh >"$W/start" 2>&1
grep -q "systemd-notify --pid=$pid --ready" "$STUB/calls" || fail "start: no notify"
grep -q fresh "$W/start" && fail "start: started fresh"
# a start without a checkpoint: silent, and the stale pid file goes
"$HERE/khopages-restore" u.service >"$W/none" 2>&1 || fail "restore without checkpoint"
[ -s "$W/none" ] && fail "restore without checkpoint said something"
[ -e /run/khopages/u.service.pid ] && fail "stale pid file"
[ "$("$HERE/khopages-start" u.service /bin/echo fresh)" = fresh ] || fail "no fresh start"
kill -KILL "$pid"
cleanup
echo runtime-ok
EOF
	sandbox "$work/runtime.sh" && expect '^runtime-ok$' "$work/runtime.out"
}

test_failures() {
	stubs
	service_script >"$work/service.sh"
	cat >"$work/failures.sh" <<'EOF'
. "$W/service.sh"
fail() { echo "FAILED: $*"; cat "$STUB/calls" 2>/dev/null; cleanup; exit 1; }
printf '[Service]\nType=notify\nExecStart=/usr/bin/u\n' >/etc/systemd/system/u.service
"$HERE/khopages-upgrade" --setup --unit u >/dev/null || fail "setup"
echo "DropInPaths=/etc/systemd/system/u.service.d/zz-khopages.conf" >>"$STUB/props"
k=$W/vmlinuz-9.9.9
: >"$k"
d=/var/lib/khopages/u.service

# the dump fails: all undone, the service runs on
: >"$STUB/criu-fails"
"$HERE/khopages-upgrade" --unit u --kernel "$k" --no-kho >"$W/f1" 2>&1 && fail "a failed dump succeeded"
cat "$W/f1"
grep -q 'khopages-upgrade: criu dump failed (exit 1): u.service runs on' "$W/f1" || fail "message"
grep -q 'Error (criu/cr-dump.c:42)' "$W/f1" || fail "no tail of dump.log"
grep -q 'kexec -u' "$STUB/calls" || fail "kernel not unloaded"
nft list table inet khopages-u.service >/dev/null 2>&1 && fail "ports still dark"
[ -e $d/pending ] && fail "pending"
ls -d $d/failed-*/img/dump.log >/dev/null || fail "no dump.log kept"
grep -q 'State:.*T' /proc/$svc/status && fail "service stopped"

# the setup changed since: refused
rm -f "$STUB/criu-fails"
echo '# changed' >>/etc/systemd/system/u.service
"$HERE/khopages-upgrade" --unit u --kernel "$k" --no-kho >"$W/f2" 2>&1 && fail "changed unit accepted"
grep -q 'changed since its --setup' "$W/f2" || { cat "$W/f2"; fail "changed unit: message"; }
"$HERE/khopages-upgrade" --setup --unit u >/dev/null || fail "setup again"

# kexec -e fails after the dump: restored in place through the unit
: >"$STUB/kexec-fails"
: >"$STUB/calls"
"$HERE/khopages-upgrade" --unit u --kernel "$k" --no-kho >"$W/f3" 2>&1 && fail "a failed kexec succeeded"
cat "$W/f3"
[ -e $d/same-kernel ] && [ -e $d/pending ] || fail "not marked for a restore in place"
grep -q 'systemctl kill --signal=SIGKILL u.service' "$STUB/calls" &&
	grep -q 'systemctl start u.service' "$STUB/calls" || fail "no kill and start"
grep -q 'kexec -e failed: restoring u.service in place' "$W/f3" || fail "message"
# what the unit's ExecStartPre then does, in this boot
"$HERE/khopages-restore" u.service >"$W/f4" 2>&1
grep -q 'criu restore .*SAME=1' "$STUB/calls" || fail "not restored in place"
[ -e $d/last/same-kernel ] || fail "last/ of the restore in place"
kill -KILL "$(cat /run/khopages/u.service.pid)" 2>/dev/null

# a checkpoint of this boot without same-kernel: called off
rm -f "$STUB/kexec-fails"
kill -KILL $svc; sleep 0.2; cleanup
. "$W/service.sh"
echo "DropInPaths=/etc/systemd/system/u.service.d/zz-khopages.conf" >>"$STUB/props"
"$HERE/khopages-upgrade" --unit u --kernel "$k" --no-kho >/dev/null 2>&1
[ -e $d/pending ] || fail "second upgrade"
"$HERE/khopages-restore" u.service >"$W/f5" 2>&1
cat "$W/f5"
grep -q 'is from this boot (no kexec happened): calling the upgrade off; starting it fresh' "$W/f5" || fail "call-off message"
[ -e $d/pending ] && fail "still pending"

# a failed restore after a kexec: journal message, session freed, set aside
kill -KILL $svc 2>/dev/null; sleep 0.2; cleanup
. "$W/service.sh"
echo "DropInPaths=/etc/systemd/system/u.service.d/zz-khopages.conf" >>"$STUB/props"
"$HERE/khopages-upgrade" --unit u --kernel "$k" --append "liveupdate=on kho=on" >/dev/null 2>&1
sed -i 's/^boot_id=.*/boot_id=another-boot/' $d/checkpoint
: >"$STUB/criu-fails"
: >"$STUB/calls"
"$HERE/khopages-restore" u.service >"$W/f6" 2>&1 || fail "a failed restore exits non-zero"
cat "$W/f6"
grep -q "khopages: restore of u.service failed (criu exit 1, log /var/lib/khopages/u.service/failed-[0-9-]*/img/restore.log); starting it fresh" "$W/f6" || fail "failure message"
grep -q 'Error (criu/cr-restore.c:42)' "$W/f6" || fail "no error line"
grep -q 'khopagesctl discard khopages-u.service' "$STUB/calls" || fail "session not discarded"
nft list table inet khopages-u.service >/dev/null 2>&1 && fail "ports still dark"
[ -e $d/pending ] && fail "still pending"
ls $d/failed-*/img/pages-1.img >/dev/null || fail "failed checkpoint not kept whole"
cleanup
echo failures-ok
EOF
	sandbox "$work/failures.sh" && expect '^failures-ok$' "$work/failures.out"
}

t usage test_usage
t setup-redis test_setup_redis
t setup-unsetup test_setup_unsetup
t setup-refusals test_refusals
t setup-accepts test_setup_accepts
t setup-dropins test_setup_dropins
t setup-template test_setup_template
t setup-alias-masked test_setup_alias_masked
t setup-devices test_setup_devices
t names test_names
bz=
for f in /boot/vmlinuz-* "${KHOPAGES_CACHE:-/var/cache/khopages}/build/kernel-guest/arch/x86/boot/bzImage"; do
	[ -r "$f" ] && bz=$f && break
done
if [ -n "$bz" ]; then
	t kernel-release test_kernel_release "$bz"
else
	skip kernel-release "no kernel image to read"
fi
if [ "$(id -u)" != 0 ]; then
	skip netlock "not root"
	skip runtime "not root"
	skip failures "not root"
elif ! unshare -m -p -n -f --mount-proc sh -c 'nft list tables && mount -t tmpfs t /mnt' >/dev/null 2>&1; then
	skip netlock "no namespaces or no nftables here"
	skip runtime "no namespaces or no nftables here"
	skip failures "no namespaces or no nftables here"
else
	t netlock test_netlock
	if command -v python3 >/dev/null; then
		t runtime test_runtime
		t failures test_failures
	else
		skip runtime "no python3"
		skip failures "no python3"
	fi
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
