# SPDX-License-Identifier: GPL-2.0
# khopages-lib.sh: what khopages-upgrade and khopages-restore share (the
# layout of a checkpoint, names, the network lock, unit files). Sourced,
# never run; POSIX sh. Functions return a status, print results on stdout,
# and leave dying to their caller. Variables of a function start with its
# own prefix (no "local" in POSIX sh).
# shellcheck shell=sh disable=SC2034 # the KHOP_ variables are for the callers

KHOP_STATE=/var/lib/khopages	# one directory per unit, on disk: survives the kexec
KHOP_RUN=/run/khopages		# the restored main pid of each unit, this boot only
KHOP_LIBEXEC=/usr/lib/khopages
KHOP_CGROOT=/sys/fs/cgroup
KHOP_DROPIN=zz-khopages.conf	# the drop-in of --setup, in /etc/systemd/system/UNIT.d/
# Where systemd looks for a system unit and its drop-ins, highest priority
# first; /run is left out: --setup works on the files of an image at rest.
KHOP_UNIT_DIRS="/etc/systemd/system /usr/local/lib/systemd/system /lib/systemd/system /usr/lib/systemd/system"

# now: wall-clock seconds with nanoseconds (survives the kexec, unlike
# /proc/uptime; the RTC sets it at boot, so differences across the kexec are
# good to about a second).
now() {
	date +%s.%N
}

# secs T0 T1: T1 - T0 in seconds, 3 decimals.
secs() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'
}

# journal PRIORITY MESSAGE: one line to the journal as "khopages", whatever
# the caller's stderr is (a service of --setup has StandardError=null).
# PRIORITY: err, warning, notice or info.
journal() {
	if printf '%s\n' "$2" | systemd-cat -t khopages -p "$1" 2>/dev/null; then
		return 0
	fi
	# logger says nothing when there is no syslog socket: look first.
	if [ -S /dev/log ] && logger -t khopages -p "daemon.$1" -- "$2" 2>/dev/null; then
		return 0
	fi
	printf '%s\n' "$2" >&2
}

# valid_unit UNIT: a service name that is safe as a file name.
valid_unit() {
	case $1 in
	.* | *[!A-Za-z0-9:_.@\\-]* | '') return 1 ;;
	?*.service) return 0 ;;
	esac
	return 1
}

# khop_name UNIT: the name of the unit's Live Update session and of its nft
# table: "khopages-" and the unit name in [A-Za-z0-9._-], 63 characters at
# most (a longer one is cut and ends in a checksum of the full name).
khop_name() {
	kn_n=khopages-$(printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_')
	if [ ${#kn_n} -gt 63 ]; then
		kn_sum=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
		kn_n=$(printf '%.54s-%08x' "$kn_n" "$kn_sum")
	fi
	printf '%s\n' "$kn_n"
}

# ckpt_get FILE KEY: the value of KEY in a checkpoint file (KEY=VALUE lines).
ckpt_get() {
	sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1
}

# is_number WORD
is_number() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	esac
	return 0
}

# oneline TEXT: the words of TEXT on one line, one space between them.
oneline() {
	# shellcheck disable=SC2086 # the point: split, then join
	set -- $1
	printf '%s\n' "$*"
}

boot_id() {
	cat /proc/sys/kernel/random/boot_id
}

# --- processes and cgroups ------------------------------------------------

# cg_procs DIR: the processes of cgroup DIR and of the cgroups below it.
cg_procs() {
	find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -n -u
}

# cg_max_tid DIR: the highest pid or thread id in cgroup DIR and below.
cg_max_tid() {
	find "$1" -name cgroup.threads -exec cat {} + 2>/dev/null | sort -n | tail -n 1
}

# ppid_of PID
ppid_of() {
	sed -n 's/^PPid:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null
}

# state_of PID: its state, one letter (R, S, T, Z...).
state_of() {
	sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null
}

# outside_tree ROOT PID...: the PIDs that do not descend from ROOT (one
# that exits meanwhile does not count).
outside_tree() {
	ot_root=$1
	shift
	for ot_p in "$@"; do
		ot_q=$ot_p
		while is_number "$ot_q" && [ "$ot_q" != "$ot_root" ] && [ "$ot_q" -gt 1 ]; do
			ot_q=$(ppid_of "$ot_q")
		done
		[ "$ot_q" = "$ot_root" ] || [ ! -d "/proc/$ot_p" ] || printf '%s\n' "$ot_p"
	done
}

# own_namespaces PID: the namespaces (mnt, user, uts, ipc, net) in which PID
# differs from PID 1; CRIU would have to recreate them, and --setup resets the
# options of the unit that create them.
own_namespaces() {
	for on_ns in mnt user uts ipc net; do
		[ "$(readlink "/proc/$1/ns/$on_ns")" = "$(readlink "/proc/1/ns/$on_ns")" ] ||
			printf '%s\n' "$on_ns"
	done
}

# --- the network lock -----------------------------------------------------

# socket_inodes PID...: the inodes of the sockets these processes hold.
socket_inodes() {
	for si_p in "$@"; do
		ls -l "/proc/$si_p/fd" 2>/dev/null
	done | sed -n 's/.* -> socket:\[\([0-9]*\)\]$/\1/p' | sort -u
}

# tcp_ports NETDIR INODE...: the local ports of the TCP sockets with these
# inodes, from NETDIR/tcp and NETDIR/tcp6 (NETDIR: /proc/PID/net): every
# listening socket, and every connection (its local port is the one its peer
# sends to), sorted, one a line. Time-wait and closed sockets belong to
# nobody and are left out.
tcp_ports() {
	tp_files=
	for tp_f in "$1/tcp" "$1/tcp6"; do
		[ ! -r "$tp_f" ] || tp_files="$tp_files $tp_f"
	done
	shift
	[ $# -gt 0 ] && [ -n "$tp_files" ] || return 0
	# shellcheck disable=SC2086 # two /proc paths, no blanks in them
	awk -v inodes="$*" '
	function hex(s,   i, n) {
		n = 0
		s = toupper(s)
		for (i = 1; i <= length(s); i++)
			n = n * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1
		return n
	}
	BEGIN { n = split(inodes, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
	FNR == 1 { next }
	$4 == "06" || $4 == "07" { next }
	($10 in want) { split($2, l, ":"); print hex(l[2]) }
	' $tp_files | sort -n -u
}

# netlock_nft NAME UNIT PORT...: the nft script that makes the TCP ports of
# UNIT dark: whatever arrives for them is dropped, so that nobody answers
# (no RST, no SYN-ACK) and clients retransmit until the restored service
# takes them again. Loading it twice replaces the table.
netlock_nft() {
	nl_name=$1 nl_unit=$2
	shift 2
	printf '# khopages: nobody answers on the TCP ports of %s until its restore\n' "$nl_unit"
	printf 'table inet %s\ndelete table inet %s\n' "$nl_name" "$nl_name"
	printf 'table inet %s {\n\tchain input {\n' "$nl_name"
	printf '\t\ttype filter hook input priority filter; policy accept;\n'
	if [ $# -gt 0 ]; then
		printf '\t\ttcp dport { %s } drop\n' "$(echo "$@" | sed 's/ /, /g')"
	fi
	printf '\t}\n}\n'
}

# nft_drop NAME: delete table inet NAME if it is there.
nft_drop() {
	printf 'table inet %s\ndelete table inet %s\n' "$1" "$1" | nft -f - 2>/dev/null
}

# --- a checkpoint ---------------------------------------------------------
# /var/lib/khopages/UNIT/ holds the checkpoint of UNIT while it is pending:
#   checkpoint   what the restore needs (KEY=VALUE lines)
#   netlock.nft  the nft table that keeps the service's ports dark
#   img/         CRIU's images and logs (dump.log, restore.log)
#   upgrade.log  the steps and their times
#   same-kernel  only when the kexec failed: restore in the same kernel
#   pending      written last: the checkpoint is complete and awaits its restore
# and after it, last/ (the last one restored) and failed-DATE/ (the ones
# that failed).

KHOP_CKPT_FILES="checkpoint netlock.nft img upgrade.log same-kernel pending.tmp"

# holder_pid IMGDIR: the pid of the process that holds the checkpoint's Live
# Update session (kho-luo-holder.pid: "PID FD NAME PAGESFD BOOTID"), if it
# runs in this boot.
holder_pid() {
	[ -r "$1/kho-luo-holder.pid" ] || return 1
	read -r hp_pid hp_fd hp_name hp_pages hp_boot <"$1/kho-luo-holder.pid" || return 1
	: "$hp_fd" "$hp_name" "$hp_pages"
	is_number "$hp_pid" || return 1
	[ "$hp_boot" = "$(boot_id)" ] || return 1
	[ "$(cat "/proc/$hp_pid/comm" 2>/dev/null)" = criu-luo-hold ] || return 1
	printf '%s\n' "$hp_pid"
}

# wait_gone PID: until PID is gone or a zombie (5 s at most).
wait_gone() {
	wg_i=0
	while [ -d "/proc/$1" ] && [ "$(state_of "$1")" != Z ] && [ $wg_i -lt 50 ]; do
		sleep 0.1
		wg_i=$((wg_i + 1))
	done
}

# release_checkpoint DIR: free what the checkpoint in DIR holds outside DIR:
# its Live Update session, with the pages (killing the process that holds
# it, in the boot of the dump or after a failed restore; else discarding the
# session received across the kexec), and its nft table.
release_checkpoint() {
	rc_mode=$(ckpt_get "$1/checkpoint" mode)
	rc_name=$(ckpt_get "$1/checkpoint" name)
	if [ "$rc_mode" = kho ]; then
		if rc_holder=$(holder_pid "$1/img"); then
			kill -KILL "$rc_holder" 2>/dev/null
			wait_gone "$rc_holder"
		fi
		# Nothing to discard is fine: the holder's end released it.
		[ -z "$rc_name" ] || khopagesctl discard "$rc_name" >/dev/null 2>&1
	fi
	[ -z "$rc_name" ] || nft_drop "$rc_name"
	return 0
}

# stash DIR NAME: move the checkpoint of DIR into DIR/NAME (replaced if it
# exists); "pending" goes first, so that nothing half moved is restored.
stash() {
	st_to=$1/$2
	rm -f "$1/pending"
	rm -rf "$st_to.new"
	mkdir -p "$st_to.new" || return 1
	for st_f in $KHOP_CKPT_FILES; do
		[ ! -e "$1/$st_f" ] || mv "$1/$st_f" "$st_to.new/" || return 1
	done
	rm -rf "$st_to"
	mv "$st_to.new" "$st_to"
}

# --- unit files (offline: they may be those of an image, under ROOT) ------

# unit_template UNIT: foo@.service for foo@bar.service, else nothing.
unit_template() {
	case $1 in
	?*@?*.service) printf '%s@.service\n' "${1%%@*}" ;;
	esac
}

# unit_fragment ROOT UNIT: the file that defines UNIT (or its template).
# Status 2: masked; 3: an alias of another unit (its name on stdout).
unit_fragment() {
	for uf_n in "$2" $(unit_template "$2"); do
		for uf_d in $KHOP_UNIT_DIRS; do
			uf_f=$1$uf_d/$uf_n
			[ -e "$uf_f" ] || [ -L "$uf_f" ] || continue
			if [ -L "$uf_f" ]; then
				uf_t=$(readlink "$uf_f")
				[ "$uf_t" != /dev/null ] || return 2
				if [ "${uf_t##*/}" != "$uf_n" ]; then
					printf '%s\n' "${uf_t##*/}"
					return 3
				fi
				case $uf_t in
				/*) uf_f=$1$uf_t ;;
				*) uf_f=${uf_f%/*}/$uf_t ;;
				esac
			fi
			[ -f "$uf_f" ] || continue
			printf '%s\n' "$uf_f"
			return 0
		done
	done
	return 1
}

# dropin_names UNIT: the names whose .d directories hold drop-ins of UNIT:
# the unit, its template, their prefixes up to each dash (foo-bar.service:
# foo-.service) and the type (service).
dropin_names() {
	for dn_n in "$1" $(unit_template "$1"); do
		printf '%s\n' "$dn_n"
		dn_b=${dn_n%.service}
		while :; do
			case $dn_b in
			*-*) ;;
			*) break ;;
			esac
			dn_b=${dn_b%-*}
			printf '%s-.service\n' "$dn_b"
		done
	done
	printf 'service\n'
}

# unit_dropins ROOT UNIT: the drop-ins of UNIT but ours, in the order
# systemd applies them: by file name, a name found in several directories
# taken from the one of highest priority.
unit_dropins() {
	for ud_d in $KHOP_UNIT_DIRS; do
		for ud_n in $(dropin_names "$2"); do
			for ud_f in "$1$ud_d/$ud_n.d"/*.conf; do
				[ -f "$ud_f" ] || continue
				[ "${ud_f##*/}" = "$KHOP_DROPIN" ] && continue
				printf '%s\t%s\n' "${ud_f##*/}" "$ud_f"
			done
		done
	done | awk -F '\t' '!seen[$1]++' | sort -s -t "$(printf '\t')" -k1,1 | cut -f2-
}

# unit_parse FILE...: the [Service] settings of FILE... (a unit file and its
# drop-ins, in order) that --setup needs, as KEY=VALUE lines:
#   type=        Type= (simple when unset)
#   execstarts=  how many ExecStart= commands
#   cmd=         the last ExecStart= command, as written
#   devices=1    a device policy that criu's restore would need to pass
#   refuse=WHY   one line per setting that a checkpoint cannot carry
unit_parse() {
	awk '
	function yes(v) { return tolower(v) ~ /^(1|yes|y|true|t|on)$/ }
	FNR == 1 { section = ""; cont = "" }
	{
		line = cont $0
		cont = ""
		if (line ~ /\\$/) { cont = substr(line, 1, length(line) - 1) " "; next }
		sub(/^[ \t]+/, "", line)
		sub(/[ \t]+$/, "", line)
		if (line == "" || line ~ /^[#;]/) next
		if (line ~ /^\[.*\]$/) { section = line; next }
		if (section != "[Service]") next
		eq = index(line, "=")
		if (!eq) next
		key = substr(line, 1, eq - 1)
		val = substr(line, eq + 1)
		sub(/[ \t]+$/, "", key)
		sub(/^[ \t]+/, "", val)
		if (key == "ExecStart") {
			if (val == "") n = 0
			else cmd[++n] = val
			next
		}
		last[key] = val
		if (val == "") list[key] = ""
		else list[key] = list[key] " " val
	}
	END {
		type = ("Type" in last) && last["Type"] != "" ? last["Type"] : "simple"
		print "type=" type
		print "execstarts=" n + 0
		if (n > 0) print "cmd=" cmd[n]
		if (n > 0 && cmd[n] ~ /^[-+!:]*@/)
			print "refuse=ExecStart= sets argv[0] (@): khopages-start cannot pass it on"
		if (yes(last["PrivateNetwork"]))
			print "refuse=PrivateNetwork=yes: CRIU would have to recreate the network namespace"
		split("NetworkNamespacePath IPCNamespacePath RootDirectory RootImage LogNamespace PAMName Sockets", one, " ")
		for (i = 1; i in one; i++)
			if (last[one[i]] != "")
				print "refuse=" one[i] "= is set: the restored tree could not have it again"
		split("BindPaths BindReadOnlyPaths TemporaryFileSystem MountImages ExtensionImages ExtensionDirectories", many, " ")
		for (i = 1; i in many; i++)
			if (list[many[i]] != "")
				print "refuse=" many[i] "= is set: it changes what the service sees, and needs a mount namespace"
		if (yes(last["DynamicUser"]))
			print "refuse=DynamicUser=yes: a fresh user and a mount namespace at every start"
		if (last["StandardInput"] ~ /^socket/)
			print "refuse=StandardInput=socket: the service is started per connection"
		mode = last["KillMode"] == "" ? "control-group" : last["KillMode"]
		if ("SendSIGKILL" in last && last["SendSIGKILL"] != "" && !yes(last["SendSIGKILL"]) &&
		    (mode == "control-group" || mode == "mixed"))
			print "refuse=SendSIGKILL=no with KillMode=" mode ": systemd refuses to start it while the restored process is in its cgroup"
		if ((last["DevicePolicy"] != "" && last["DevicePolicy"] != "auto") || list["DeviceAllow"] != "")
			print "devices=1"
	}
	' "$@"
}

# unit_sources_sum ROOT FILE...: a checksum of FILE... (names under ROOT,
# and contents): tells whether the unit changed since --setup.
unit_sources_sum() {
	us_root=$1
	shift
	for us_f in "$@"; do
		printf '%s\n' "${us_f#"$us_root"}"
		cat "$us_f"
	done | cksum | cut -d' ' -f1
}

# kernel_release FILE: the release of a kernel image: from its name
# (vmlinuz-RELEASE), else from the version string of its bzImage header.
kernel_release() {
	kr_b=${1##*/}
	case $kr_b in
	vmlinuz-?*)
		printf '%s\n' "${kr_b#vmlinuz-}"
		return 0
		;;
	esac
	[ "$(dd if="$1" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || return 1
	kr_off=$(od -An -tu2 -j526 -N2 "$1" | tr -d ' ')
	is_number "$kr_off" && [ "$kr_off" -gt 0 ] || return 1
	kr_v=$(dd if="$1" bs=1 skip=$((kr_off + 512)) count=256 2>/dev/null |
		tr '\000' '\n' | head -n 1 | cut -d' ' -f1)
	[ -n "$kr_v" ] || return 1
	printf '%s\n' "$kr_v"
}
