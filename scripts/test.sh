#!/usr/bin/env bash
# Run every test: unit, integration (real HAProxy, real Docker) and end to
# end, then each fuzz target for a short, bounded time.
# Usage: scripts/test.sh          (FUZZTIME=100000x execs per target by default)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

echo "== go vet"
go vet ./...
go vet -tags crashpoints ./cmd/controller # the crash points of the e2e tests' binary
echo "== staticcheck, deadcode"
# Pinned versions, fetched through the Go module proxy; go.mod is not touched.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
dead=$(go run golang.org/x/tools/cmd/deadcode@v0.52.0 -test ./...)
if [ -n "$dead" ]; then
    printf '%s\n' "$dead"
    echo "deadcode: the functions above are reached from no main package and no test: remove them" >&2
    exit 1
fi
echo "== fetching the test registry's modules"
# The private-registry tests build the distribution project's registry
# (internal/testenv RegistryModule) with go install; on a machine whose
# module cache is empty its first download takes minutes, which must not
# count against the tests' timeout. Warm the caches here.
registry=$(sed -n 's/^const RegistryModule = "\(.*\)"$/\1/p' internal/testenv/registry.go)
gobin=$(mktemp -d)
(cd "$gobin" && GOBIN="$gobin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off go install "$registry")
rm -rf "$gobin"
echo "== go test (unit, integration, end to end)"
go test -count=1 -timeout 30m "$@" ./...

# Fuzzing is bounded by a count of execs, not by time: with a duration the
# Go toolchain can fail a target with a bare "context deadline exceeded" when
# a worker is mid-exec at the deadline (golang/go#75804; it failed CI once
# with no failing input written). A count has no deadline to race; 100,000
# execs take 5-10 s per target here.
fuzztime="${FUZZTIME:-100000x}"
# Each new interesting input is minimized first, for up to a minute by
# default, and minimizing runs are not counted as execs: bound it by a count
# too. A crasher is still reported (and kept in testdata/fuzz) whether or not
# its minimization finishes.
minimizetime="${FUZZMINIMIZETIME:-2000x}"
echo "== fuzzing, $fuzztime per target"
go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
        echo "-- $target ($pkg)"
        go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimizetime" "$pkg"
    done
done
echo "== all tests passed"
