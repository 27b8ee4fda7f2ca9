#!/usr/bin/env bash
# make soak: the fault mix of internal/faults in its long form
# (BIZBOTS_FAULTS=full) again and again for SOAK_DURATION seconds (default
# an hour), on loopback only. Each scenario run appends one JSON line of
# figures to $SOAK_DIR/figures.jsonl; a failing cycle is recorded and the
# soak goes on. At the end it prints the totals for docs/RELIABILITY.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
duration="${SOAK_DURATION:-3600}"
dir="${SOAK_DIR:-${TMPDIR:-/tmp}/bizbots-soak}"
run="${SOAK_RUN:-TestKillPoints|TestHomeserverFaults|TestPostgresOutage|TestSQLiteDiskFull|TestMisbehavingHandlers}"
mkdir -p "$dir"
figures="$dir/figures.jsonl"
: >"$figures"
commit="${SOAK_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
echo "soak on $commit for ${duration}s; figures in $figures"
go test -c -o "$dir/faults.test" ./internal/faults || exit 1
end=$((SECONDS + duration))
cycle=0 failed=0
while [ "$SECONDS" -lt "$end" ]; do
	cycle=$((cycle + 1))
	log="$dir/cycle-$cycle.log"
	( cd internal/faults && BIZBOTS_FAULTS=full BIZBOTS_FAULTS_REPORT="$figures" \
		timeout 30m "$dir/faults.test" -test.count=1 -test.timeout 25m -test.v -test.run "$run" >"$log" 2>&1 )
	rc=$?
	[ "$rc" -eq 0 ] || failed=$((failed + 1))
	echo "cycle $cycle: exit $rc after ${SECONDS}s ($(grep -c '^--- FAIL' "$log") failed tests)"
done
echo "== soak: $cycle cycles, $failed with a failure, ${SECONDS}s"
if command -v jq >/dev/null; then
	jq -s '{runs: length, passed: map(select(.passed)) | length,
		kills: (map(.kills // {} | add // 0) | add), starts: (map(.starts) | add),
		events: (map(.events) | add), transactions: (map(.transactions) | add), sends: (map(.sends) | add),
		homeserver_faulted_requests: (map(.homeserver_faulted_requests // {} | add // 0) | add),
		duplicates: (map(.duplicates) | add), lost: (map(.lost) | add),
		by_scenario: (group_by(.scenario) | map({(.[0].scenario): {runs: length, passed: map(select(.passed)) | length}}) | add)}' "$figures"
fi
