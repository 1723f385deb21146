#!/usr/bin/env bash
# Run every test: unit, integration (real HAProxy, real Docker) and end to
# end, then each fuzz target for a short, bounded time.
# Usage: scripts/test.sh          (FUZZTIME=10s by default)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

echo "== go vet"
go vet ./...
echo "== go test (unit, integration, end to end)"
go test -count=1 -timeout 20m "$@" ./...

fuzztime="${FUZZTIME:-10s}"
# Each new interesting input is minimized first, for up to a minute by
# default, and minimizing runs are not counted as execs: with the default a
# 10 s run of FuzzParseStat spent its time minimizing one input and made 59
# execs; with 2 s it makes about 36,000. A crasher is still reported (and
# kept in testdata/fuzz) whether or not its minimization finishes.
minimizetime="${FUZZMINIMIZETIME:-2s}"
echo "== fuzzing, $fuzztime per target"
go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
        echo "-- $target ($pkg)"
        go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" "$pkg"
    done
done
echo "== all tests passed"
