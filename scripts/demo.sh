#!/usr/bin/env bash
# The demo: HAProxy from examples/haproxy.cfg on 127.0.0.1:18080, the demo
# app as blue, and the controller watching examples/desired.yaml.
#
#   scripts/demo.sh          start it all; the controller runs in the foreground (Ctrl-C stops it)
#   scripts/demo.sh stop     stop the demo's controller (if it still runs) and HAProxy, remove the demo's containers
#
# DESIRED=path overrides the desired file the controller watches.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=/tmp/bluegreen-demo
desired="${DESIRED:-examples/desired.yaml}"

# running PIDFILE NAME: the PID in PIDFILE when that process is alive
# (not a zombie) and its command line holds NAME; nothing otherwise.
running() {
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    [ -r "/proc/$pid/cmdline" ] || return 0
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 0
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$2" && echo "$pid"
    return 0
}

stop_demo() {
    pid=$(running "$dir/controller.pid" bin/controller)
    if [ -n "$pid" ]; then
        kill "$pid"
        for _ in $(seq 100); do
            [ -n "$(running "$dir/controller.pid" bin/controller)" ] || break
            sleep 0.1
        done
        echo "demo: stopped the controller (pid $pid)"
    fi
    rm -f "$dir/controller.pid"
    if [ -f "$dir/haproxy.pid" ] && kill -0 "$(cat "$dir/haproxy.pid")" 2>/dev/null; then
        kill "$(cat "$dir/haproxy.pid")"
        echo "demo: stopped HAProxy (pid $(cat "$dir/haproxy.pid"))"
    fi
    rm -f "$dir/haproxy.pid"
    ids=$(docker ps -aq --filter label=io.bluegreen.managed=true --filter label=io.bluegreen.service=web)
    if [ -n "$ids" ]; then
        docker rm -f $ids >/dev/null
        echo "demo: removed the demo's containers"
    fi
}

if [ "${1:-}" = stop ]; then
    stop_demo
    exit 0
fi

source scripts/deps.sh

echo "demo: building the demo app and the controller"
CGO_ENABLED=0 go build -o examples/demoapp/demoapp ./examples/demoapp
go build -o bin/controller ./cmd/controller

mkdir -p "$dir"
[ -f "$dir/hosts.map" ] || cp examples/hosts.map "$dir/hosts.map"
if [ -f "$dir/haproxy.pid" ] && kill -0 "$(cat "$dir/haproxy.pid")" 2>/dev/null; then
    echo "demo: HAProxy already runs (pid $(cat "$dir/haproxy.pid"))"
else
    haproxy -c -q -f examples/haproxy.cfg
    haproxy -W -D -p "$dir/haproxy.pid" -S "$dir/master.sock" -f examples/haproxy.cfg
    echo "demo: HAProxy runs (pid $(cat "$dir/haproxy.pid")), frontend http://127.0.0.1:18080/"
fi

cat <<MSG

demo: the controller now converges $desired: it builds demo:v1 and starts it as blue.
      In another terminal:

        while sleep 0.2; do curl -s http://127.0.0.1:18080/; done    # watch who answers
        $root/bin/controller status --state-dir $dir/state             # what the controller sees

      Release v2 on green: edit $desired and change
        activeColor: blue  ->  activeColor: green
        image: demo:v1     ->  image: demo:v2
        VERSION: v1        ->  VERSION: v2
      then save. Traffic moves to "green v2" with no failed request.
      Roll back: set activeColor: blue, image: demo:v1, VERSION: v1 again.

      Ctrl-C stops the controller (HAProxy and the containers keep serving);
      scripts/demo.sh stop tears the demo down, the controller too if it runs.

MSG
echo $$ > "$dir/controller.pid" # exec keeps this PID
exec bin/controller run -f "$desired" --state-dir "$dir/state" --haproxy-config examples/haproxy.cfg --policy examples/policy.yaml
