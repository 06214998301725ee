#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Run every test layer and print one line per test, then the totals:
#   N passed, N failed[, N skipped]
# A test is a command: exit 0 = pass, 77 = skipped (it must say why),
# anything else = fail. Logs go to $CACHE/check-logs/NAME.log.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/lib.sh"

logs=$CACHE/check-logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failed_names=()

run_test() {
	local name=$1 start rc secs
	shift
	start=$(date +%s)
	"$@" >"$logs/$name.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	case "$rc" in
	0) passed=$((passed + 1)); printf 'PASS  %-40s %4ss\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1))
		printf 'SKIP  %-40s %s\n' "$name" "$(tail -n1 "$logs/$name.log")" ;;
	*) failed=$((failed + 1)); failed_names+=("$name")
		printf 'FAIL  %-40s %4ss  (log: %s)\n' "$name" "$secs" "$logs/$name.log"
		sed 's/^/      | /' "$logs/$name.log" | tail -n 15 ;;
	esac
}

vm() { "$TOP/scripts/vm-run.sh" "$@"; }

# The guest must FAIL, with a verdict that mentions WHY: proof that a test
# notices what it is there to notice.
expect_vm_failure() {
	local name=$1 why=$2 verdict
	shift 2
	if vm --name "$name" "$@"; then
		echo "the guest passed although it should have failed ($why)"
		return 1
	fi
	verdict=$(cat "$CACHE/runs/$name/verdict" 2>/dev/null)
	echo "guest verdict: $verdict"
	case "$verdict" in *"$why"*) return 0 ;; esac
	echo "expected a failure mentioning: $why"
	return 1
}

# --- Layer: the test machine and KHO itself
run_test kho-handover vm --name kho-handover --timeout 300 "$here/vm/kho-handover.sh"
# Without kho=on the second kernel has no handover: the test has to say so.
run_test kho-handover-needs-kho-on expect_vm_failure kho-handover-no-kho \
	"received no handover" --no-kho --timeout 300 "$here/vm/kho-handover.sh"

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
[ "$failed" -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$summary"
[ "$failed" = 0 ]
