#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# zdtm-kho: CRIU's own zdtm static tests across a real KHO kexec.
#
#   test/zdtm-kho/run.sh --full | --subset | --all | --tests "A B ..." [options]
#     --full            every test in scope (test/zdtm-kho/tests.list)
#     --subset          the tests tagged "subset" there (fits CI in TCG)
#     --all             every built test zdtm runs in its host flavor and
#                       those tagged ns, exclusions ignored (to review
#                       tests.list)
#     --tests "A B"     these tests
#     --modes "M..."    of plain, kho, same (default: all three)
#     --same probe|all  same-kernel mode: try the first test of a batch and
#                       mark the rest n/a if the driver refuses (default),
#                       or try every test
#     --work tmpfs|9p   where the tests run in the guest (default tmpfs)
#     --batch N         tests per VM boot, i.e. per kexec (default 40)
#     --mem SIZE        guest memory (default 4G)
#     --no-build        use the zdtm tests built before
#     --name NAME       results under $CACHE/build/zdtm-kho/NAME (default:
#                       full, subset, all or tests)
#     --kernel IMG      the kernel stage 1 dumps on (default: the guest's)
#     --next-kernel IMG the kernel stage 2 restores on (default: the same),
#                       e.g. the upgrade from 7.2 to 7.3; scripts/vm-run.sh
#                       checks that each stage ran the kernel it should
#
# Modes, each its own instance of the test:
#   plain  criu dump, kexec, criu restore (the baseline)
#   kho    criu dump --kho-pages, kexec, criu restore --kho-pages
#   same   criu dump --kho-pages, criu restore --kho-pages in the same
#          kernel (n/a while the driver cannot open an outgoing session)
# A test tagged nokexec runs only in the same mode (its peer is a process
# outside the dumped tree, which a kexec ends): plain and kho are n/a.
#
# Each test starts as the zdtm Makefile starts it (./NAME --pidfile=NAME.pid
# --outfile=NAME.out plus its own arguments; non-suid tests as uid 18943
# like zdtm.py; the tests tagged ns in their own IPC namespace, which CRIU
# dumps and restores with them), in pid ranges free after a boot; dump and
# restore get the options of its .desc (opts, dopts, ropts) and
# --manage-cgroups=ignore; after the restore it gets SIGTERM and must write
# PASS. Many tests share a kexec: stage 1 starts and dumps a batch, one
# kexec, stage 2 restores it.
#
# Prints "ok zdtm:NAME:MODE", "not ok zdtm:NAME:MODE # why" or
# "skip zdtm:NAME:MODE # why" per test and mode, writes the table to
# $CACHE/build/zdtm-kho/NAME/results.md (the --full run also to
# $CACHE/build/zdtm-kho/results.md), and exits non-zero when a test failed.
# Needs the guest kernel and initramfs (make guest); builds the zdtm tests
# itself (test/zdtm-kho/build.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib.sh"

# All in a function: bash parses it whole before running, so an edit of
# this file during a long run cannot derail it.
main() {
set_name="" tests_arg="" modes="plain kho same" same=probe work=tmpfs batch=40 mem=4G
build=1 name="" kernel="" next_kernel=""
while [ $# -gt 0 ]; do
	case "$1" in
	--full) set_name=full; shift ;;
	--subset) set_name=subset; shift ;;
	--all) set_name=all; shift ;;
	--tests) set_name=tests; tests_arg=$2; shift 2 ;;
	--modes) modes=$2; shift 2 ;;
	--same) same=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--batch) batch=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	--name) name=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--next-kernel) next_kernel=$2; shift 2 ;;
	-h|--help) sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "zdtm-kho: unknown argument $1 (see --help)" ;;
	esac
done
[ -n "$set_name" ] || die "zdtm-kho: say --full, --subset, --all or --tests (see --help)"
name=${name:-$set_name}

ZDTM=$CACHE/build/zdtm
OUT=$CACHE/build/zdtm-kho/$name
LIST=$here/tests.list
mkdir -p "$OUT"

if [ "$build" = 1 ]; then
	"$here/build.sh" >"$OUT/build.log" 2>&1 || {
		tail -n 20 "$OUT/build.log"
		echo "not ok zdtm:build # see $OUT/build.log"
		exit 1
	}
fi
[ -f "$ZDTM/cmdlines" ] || die "zdtm-kho: no zdtm build in $ZDTM (run without --no-build)"

# A snapshot of the guest: a rebuild of the shared one during the run
# cannot change what the two stages boot.
GUEST=$CACHE/build/guest
[ -f "$GUEST/kernel-A" ] && [ -f "$GUEST/initrd.img" ] ||
	die "zdtm-kho: no guest kernel/initramfs in $GUEST: run 'make guest'"
cp "${kernel:-$GUEST/kernel-A}" "$OUT/kernel-A"
cp "$GUEST/initrd.img" "$OUT/initrd-base.img"
next_args=()
if [ -n "$next_kernel" ]; then
	cp "$next_kernel" "$OUT/kernel-next"
	next_args=(--next-kernel "$OUT/kernel-next")
fi

# --- which tests, with which tags
# tests.list: "NAME [TAG...]" in scope, "-NAME REASON" excluded.
list_in() { sed -n 's/#.*//; /^[A-Za-z0-9]/p' "$LIST"; }
case "$set_name" in
full) tests=$(list_in | awk '{ print $1 }') ;;
subset) tests=$(list_in | awk '/ subset( |$)/ { print $1 }') ;;
tests) tests=$tests_arg ;;
all) tests=$(python3 - "$ZDTM" "$LIST" <<'EOF'
import os, sys
z, lst = sys.argv[1], sys.argv[2]
# Of the tests zdtm runs only in its ns/uns flavors, those tagged ns (run
# in run.sh's ns flavor, a new IPC namespace).
ns = set()
for line in open(lst):
    w = line.split("#")[0].split()
    if w and not w[0].startswith("-") and "ns" in w[1:]:
        ns.add(w[0])
for line in open(os.path.join(z, "cmdlines")):
    n = line.split()[0]
    d = os.path.join(z, "static", n + ".desc")
    desc = eval(open(d).read()) if os.path.exists(d) and os.path.getsize(d) else {}
    arch = desc.get("arch", "x86_64").split()
    if ("h" in desc.get("flavor", "h ns uns").split() or n in ns) and "x86_64" in arch:
        print(n)
EOF
) ;;
esac
tests=$(echo $tests)
[ -n "$tests" ] || die "zdtm-kho: no test selected"

# --- the initramfs overlay: test binaries, per-test definitions, libraries
stage=$OUT/overlay
rm -rf "$stage"
mkdir -p "$stage/zdtm/static" "$stage/zdtm/defs"
# shellcheck disable=SC2086
python3 - "$ZDTM" "$stage/zdtm/defs" "$LIST" $tests <<'EOF' || die "zdtm-kho: cannot write the test definitions"
import os, shlex, sys
z, out, lst, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
args = {}
for line in open(os.path.join(z, "cmdlines")):
    w = line.split()
    args[w[0]] = [a for a in w[1:] if not a.startswith(("--pidfile=", "--outfile="))]
tags = {}
for line in open(lst):
    w = line.split("#")[0].split()
    if w and not w[0].startswith("-"):
        tags[w[0]] = w[1:]
for n in names:
    if n not in args:
        sys.exit("zdtm-kho: %s is not a built zdtm static test" % n)
    d = os.path.join(z, "static", n + ".desc")
    desc = eval(open(d).read()) if os.path.exists(d) and os.path.getsize(d) else {}
    flags = desc.get("flags", "").split()
    with open(os.path.join(out, n), "w") as f:
        q = lambda v: shlex.quote(" ".join(v) if isinstance(v, list) else str(v))
        f.write("T_ARGS=%s\n" % q(args[n]))
        # --tcp-established: criu locks the connections with the method
        # the .desc names (--network-lock) or with its default, iptables,
        # as under zdtm.py
        f.write("T_OPTS=%s\n" % q(desc.get("opts", "")))
        f.write("T_DOPTS=%s\n" % q(desc.get("dopts", "")))
        f.write("T_ROPTS=%s\n" % q(desc.get("ropts", "")))
        f.write("T_SUID=%d\n" % ("suid" in flags))
        f.write("T_TIMEOUT=%s\n" % q(desc.get("timeout", "30")))
        f.write("T_OVERCOMMIT=%d\n" % ("overcommit" in tags.get(n, [])))
        # The ns flavor, for tests zdtm runs only in its ns/uns flavors:
        # their own IPC namespace (CRIU dumps SysV IPC objects only with it)
        f.write("T_NS=%d\n" % ("ns" in tags.get(n, [])))
        # A peer outside the dumped tree (zdtm's "ext" processes), which
        # the kexec ends: only the same-kernel mode can restore the test
        f.write("T_NOKEXEC=%d\n" % ("nokexec" in tags.get(n, [])))
EOF
# add_file SRC [DST]: a file of the host at the same path (or DST) in the
# overlay, with the libraries ldd finds for it
add_file() {
	local src=$1 dst=${2:-$1} lib
	[ -e "$src" ] || die "zdtm-kho: $src is missing on the host (make deps)"
	install -D -m 0755 "$src" "$stage$dst"
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
		[ -e "$stage$lib" ] || install -D -m 0755 "$lib" "$stage$lib"
	done
}
for t in $tests; do
	add_file "$ZDTM/static/$t" "/zdtm/static/$t"
done
# The netfilter tools, for CRIU and the tests that set rules themselves:
# criu locks the connections of --tcp-established with "iptables" and
# "ip6tables" (its default, --network-lock iptables) or with libnftables
# (--network-lock nftables); it finds a legacy iptables for "criu check
# --feature has_ipt_legacy" and a net namespace's rules by running
# "iptables-save -V" and, as that one says nf_tables,
# "iptables-legacy-save"; socket-tcp-syn-sent runs iptables,
# socket-tcp-ipt-nfconntrack iptables-legacy, socket-tcp-nft-nfconntrack
# nft. Debian's layout: "iptables" is the nf_tables variant.
for f in /usr/sbin/nft /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi; do
	add_file "$f"
done
for v in iptables ip6tables; do
	for s in "" -save -restore; do
		ln -sf xtables-nft-multi "$stage/usr/sbin/$v$s"
		ln -sf xtables-nft-multi "$stage/usr/sbin/$v-nft$s"
		ln -sf xtables-legacy-multi "$stage/usr/sbin/$v-legacy$s"
	done
done
# iptables loads its matches and targets (-p tcp, -m mark, -m state, -j
# DROP, -j REJECT) from these on demand; /etc/protocols names protocols
# beyond its own few.
for f in /usr/lib/x86_64-linux-gnu/xtables/*.so; do
	add_file "$f"
done
install -D -m 0644 /etc/protocols "$stage/etc/protocols"
# iproute2's ip, ahead of busybox's /bin/ip in the PATH criu execs it
# with: criu saves and restores a net namespace's addresses, routes and
# rules with "ip addr save", "ip route restore" and so on, which busybox's
# ip does not have (socket-tcp-ipt-nfconntrack and
# socket-tcp-nft-nfconntrack run in a net namespace of their own, which
# criu dumps). A shell script's "ip" stays busybox's applet.
add_file "$(readlink -f /usr/sbin/ip)" /usr/sbin/ip
(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/overlay.cpio.gz"
# The kernel unpacks concatenated archives one after the other.
cat "$OUT/initrd-base.img" "$OUT/overlay.cpio.gz" >"$OUT/initrd.img"

# --- run the batches
now_s() { date +%s; }
t_start=$(now_s)
: >"$OUT/results.all"
set -- $tests
total=$#
first=0 b=0
while [ $# -gt 0 ]; do
	chunk=()
	while [ $# -gt 0 ] && [ ${#chunk[@]} -lt "$batch" ]; do chunk+=("$1"); shift; done
	b=$((b + 1))
	run=zdtm-kho-$name-b$b
	# Budget: boots plus ~120 s per test in TCG
	tmo=$((300 + 120 * ${#chunk[@]}))
	bt0=$(now_s)
	"$TOP/scripts/vm-run.sh" --name "$run" --kernel "$OUT/kernel-A" "${next_args[@]}" \
		--initrd "$OUT/initrd.img" --mem "$mem" --timeout "$tmo" \
		--set "TESTS=${chunk[*]}" --set "MODES=$modes" --set "SAME=$same" \
		--set "WORK=$work" --set "FIRST=$first" \
		"$here/guest.sh" >"$OUT/$run.out" 2>&1
	rc=$?
	echo "# batch $b: ${#chunk[@]} tests, $(($(now_s) - bt0)) s, vm-run exit $rc" >&2
	res=$CACHE/runs/$run/results
	for t in "${chunk[@]}"; do
		for m in $modes; do
			line=$(awk -v n="$t" -v m="$m" '$1 == n && $2 == m' "$res" 2>/dev/null | tail -n 1)
			if [ -z "$line" ] || [ "$(echo "$line" | cut -d' ' -f3)" = dumped ]; then
				why="no result (VM exit $rc, see $CACHE/runs/$run/console.log)"
				[ -n "$line" ] && why="dumped, no result after the kexec (VM exit $rc, see $CACHE/runs/$run/console.log)"
				line="$t $m fail $(echo "$line" | awk '{ print ($4 == "" ? "-" : $4) }') - $why"
			fi
			echo "$line" >>"$OUT/results.all"
		done
	done
	first=$((first + ${#chunk[@]}))
done
t_total=$(($(now_s) - t_start))

# --- report
failed=0
while read -r t m st _ _ detail; do
	case "$st" in
	ok) echo "ok zdtm:$t:$m" ;;
	na) echo "skip zdtm:$t:$m # $detail" ;;
	*) echo "not ok zdtm:$t:$m # $detail"; failed=$((failed + 1)) ;;
	esac
done <"$OUT/results.all"

python3 - "$OUT/results.all" "$OUT/results.md" "$name" "$t_total" "$modes" <<'EOF'
import sys, collections
src, dst, name, total, modes = sys.argv[1:6]
modes = modes.split()
rows = collections.OrderedDict()
for line in open(src):
    w = line.rstrip("\n").split(" ", 5)
    t, m, st, ds, rs = w[:5]
    detail = w[5] if len(w) > 5 else ""
    rows.setdefault(t, {})[m] = (st, ds, rs, detail)
label = {"plain": "plain CRIU (kexec)", "same": "--kho-pages same kernel", "kho": "--kho-pages across kexec"}
order = [m for m in ("plain", "same", "kho") if m in modes]
def cell(r):
    if not r:
        return "-"
    st, ds, rs, detail = r
    if st == "ok":
        return "PASS"
    if st == "na":
        return "n/a"
    return "FAIL: " + detail.replace("|", "\\|")[:160]
def secs(r):
    try:
        return float(r[1]) + float(r[2])
    except (TypeError, ValueError, IndexError):
        return None
out = open(dst, "w")
out.write("# zdtm-kho results (%s)\n\n" % name)
sums = {m: collections.Counter() for m in order}
for t, r in rows.items():
    for m in order:
        x = r.get(m)
        if not x:
            continue
        sums[m][x[0]] += 1
        s = secs(x)
        if s is not None and x[0] == "ok":
            sums[m]["secs"] += s
            sums[m]["nsecs"] += 1
out.write("| mode | passed | failed | n/a | dump+restore seconds, sum over passed tests |\n|---|---|---|---|---|\n")
for m in order:
    c = sums[m]
    out.write("| %s | %d | %d | %d | %.1f |\n" % (label[m], c["ok"], sum(v for k, v in c.items() if k not in ("ok", "na", "secs", "nsecs")), c["na"], c["secs"]))
out.write("\nWall time of the whole run: %s s (builds, boots, test starts and stops included).\n\n" % total)
out.write("| test | %s | time (dump+restore s: %s) |\n" % (" | ".join(label[m] for m in order), " / ".join(order)))
out.write("|---|%s---|\n" % ("---|" * len(order)))
for t, r in rows.items():
    times = []
    for m in order:
        s = secs(r.get(m)) if r.get(m) else None
        times.append("%.1f" % s if s is not None else "-")
    out.write("| %s | %s | %s |\n" % (t, " | ".join(cell(r.get(m)) for m in order), " / ".join(times)))
out.close()
EOF
[ "$name" = full ] && cp "$OUT/results.md" "$CACHE/build/zdtm-kho/results.md"
echo "# zdtm-kho $name: $total tests, $t_total s; table in $OUT/results.md"
[ "$failed" = 0 ]
}

main "$@"
