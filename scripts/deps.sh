#!/usr/bin/env bash
# Make sure what the controller, its demo and its tests need is here:
# Go, HAProxy, promtool, systemd-analyze, Chromium and a Docker engine that answers. Installs from Debian's
# packages when something is missing (needs root), starts dockerd when it is
# installed but not running. Sourced by scripts/test.sh, scripts/demo.sh and .ci/run.
set -euo pipefail

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "deps: $1 is missing and installing it needs root: run as root, or install it yourself" >&2
        exit 1
    fi
}

apt_updated=""
apt_install() {
    need_root "$*"
    if [ -z "$apt_updated" ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then
        export PATH="/usr/local/go/bin:$PATH"
    else
        echo "deps: Go is not installed: install Go 1.26 or newer (https://go.dev/dl/)" >&2
        exit 1
    fi
fi

if ! command -v haproxy >/dev/null 2>&1; then
    echo "deps: installing haproxy" >&2
    apt_install haproxy
fi

# promtool lints the metrics scrape in pkg/metrics's tests; Debian ships
# it in the prometheus package (the server's recommends are not needed).
if ! command -v promtool >/dev/null 2>&1; then
    echo "deps: installing prometheus (for promtool)" >&2
    apt_install --no-install-recommends prometheus
fi

# systemd-analyze verifies the shipped units (cmd/controller's tests).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "deps: installing systemd (for systemd-analyze)" >&2
    apt_install --no-install-recommends systemd
fi

# Chromium runs the dashboard's browser test (test/e2e, driven by chromedp),
# headless.
if ! command -v chromium >/dev/null 2>&1; then
    echo "deps: installing chromium (for the dashboard's browser test)" >&2
    apt_install --no-install-recommends chromium
fi

if ! command -v docker >/dev/null 2>&1; then
    echo "deps: installing docker.io" >&2
    apt_install docker.io
fi

if ! docker info >/dev/null 2>&1; then
    if [ -n "${DOCKER_HOST:-}" ]; then
        echo "deps: the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer" >&2
        exit 1
    fi
    need_root "a running dockerd"
    echo "deps: starting dockerd" >&2
    mkdir -p /var/log
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 1 150); do
        docker info >/dev/null 2>&1 && break
        sleep 0.2
    done
    if ! docker info >/dev/null 2>&1; then
        echo "deps: dockerd did not start; its log ends with:" >&2
        tail -n 20 /var/log/dockerd.log >&2
        exit 1
    fi
fi
