#!/usr/bin/env bash
# Count which witnesses record an OOM kill in a container's first
# milliseconds: the engine's OOMKilled flag, its "oom" event, and the
# kernel log (the line the controller reads, see pkg/docker/kmsg.go).
# Starts K containers of the rude test app at once (alloc=64 under a 16 MiB
# limit), R rounds, and prints one line per combination with its count.
#   K=8 R=5 bash scripts/oom-witnesses.sh     (as root: it reads dmesg)
set -euo pipefail
K=${K:-8}
R=${R:-5}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
tag="bg-oom-witnesses:$$"
trap 'docker rmi -f "$tag" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/rudeapp" ./test/rudeapp
cp test/rudeapp/Dockerfile "$tmp/"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" --build-arg MODE=alloc=64 "$tmp" >/dev/null 2>&1
for _ in $(seq "$R"); do
    since=$(date +%s.%N)
    ids=$(for _ in $(seq "$K"); do docker run -d -m 16m --memory-swap 16m "$tag" & done; wait)
    docker wait $ids >/dev/null
    sleep 2.5 # the engine's event may come after the exit
    until=$(date +%s.%N)
    for id in $ids; do
        state=$(docker inspect -f 'flag={{.State.OOMKilled}} exit={{.State.ExitCode}}' "$id")
        events=$(docker events --since "$since" --until "$until" --filter "container=$id" --filter event=oom | wc -l)
        kernel=$(dmesg | grep -c "oom-kill:.*task_memcg=[^,]*\(/\|docker-\)$id\(\.scope\)\?," || true)
        echo "$state events=$events kernel=$kernel"
    done
    docker rm -f $ids >/dev/null
done | sort | uniq -c
