# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Sourced by test/check.sh and test/check-debug.sh: one line per test,
# then the totals "N passed, N failed[, N skipped]".
# A test is a command: exit 0 = pass, 77 = skipped (its last line says
# why), anything else = fail. A "case list" command reports many tests at
# once, one line each: "ok NAME", "not ok NAME" or "skip NAME # why".
# Logs go to $logs/NAME.log (default $CACHE/check-logs).
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

logs=${logs:-$CACHE/check-logs}
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failed_names=()

record() {
	local status=$1 name=$2 detail=$3
	case "$status" in
	pass) passed=$((passed + 1)); printf 'PASS  %-52s %s\n' "$name" "$detail" ;;
	skip) skipped=$((skipped + 1)); printf 'SKIP  %-52s %s\n' "$name" "$detail" ;;
	*) failed=$((failed + 1)); failed_names+=("$name")
		printf 'FAIL  %-52s %s\n' "$name" "$detail" ;;
	esac
}

run_test() {
	local name=$1 start rc
	shift
	start=$(date +%s)
	"$@" >"$logs/$name.log" 2>&1
	rc=$?
	case "$rc" in
	0) record pass "$name" "$(($(date +%s) - start))s" ;;
	77) record skip "$name" "$(tail -n1 "$logs/$name.log")" ;;
	*) record fail "$name" "$(($(date +%s) - start))s  (log: $logs/$name.log)"
		sed 's/^/      | /' "$logs/$name.log" | tail -n 15 ;;
	esac
}

# "ok 3 - text" and "ok text" both name the case "text".
case_name() {
	local rest=$1
	[[ "$rest" =~ ^[0-9]+\ -\ (.*)$ ]] && rest=${BASH_REMATCH[1]}
	echo "$rest"
}

run_case_list() {
	local name=$1 rc line bad=0
	shift
	"$@" >"$logs/$name.log" 2>&1
	rc=$?
	while IFS= read -r line; do
		case "$line" in
		# TAP's skip is an "ok" line with a "# SKIP why": not a pass.
		"ok "*" # SKIP"*) record skip "$name: $(case_name "${line#ok }")" "" ;;
		"ok "*) record pass "$name: $(case_name "${line#ok }")" "" ;;
		"not ok "*) bad=$((bad + 1))
			record fail "$name: $(case_name "${line#not ok }")" "(log: $logs/$name.log)" ;;
		"skip "*) record skip "$name: $(case_name "${line#skip }")" "" ;;
		esac
	done <"$logs/$name.log"
	# A crash or a harness error with no failing case must still count.
	if [ "$rc" != 0 ] && [ "$bad" = 0 ]; then
		record fail "$name" "exit $rc (log: $logs/$name.log)"
		sed 's/^/      | /' "$logs/$name.log" | tail -n 15
	fi
}

vm() { "$TOP/scripts/vm-run.sh" "$@"; }

# The damaged handovers of test/vm/handover-corrupt.sh, "HOW:MESSAGE": the
# second kernel must refuse to retrieve the khopages file from its Live
# Update session with that message.
# shellcheck disable=SC2034 # used by check.sh and check-debug.sh
corrupt_cases=(
	"old-format:handover refused: format 'khopages-v0', this kernel reads 'khopages-v1'"
	"counts:refused: table counts do not match the session"
	"chunk-magic:refused: table chunk has a bad magic"
	"frame:refused: table has a frame outside preserved memory"
)

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

# Print the totals; the exit status is 0 only when nothing failed.
summary() {
	local line="$passed passed, $failed failed"
	[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
	[ "$failed" -gt 0 ] && echo "failed: ${failed_names[*]}"
	echo "$line"
	[ "$failed" = 0 ]
}
