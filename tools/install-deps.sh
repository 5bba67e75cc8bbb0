#!/bin/sh
# Install what a target needs, only when something is missing.
#
# usage: install-deps.sh build|run|test|bench
#
# Debian packages come from apt; the interop test clients (node ws,
# playwright-core driving Debian's chromium) from npm into
# t/interop/node_modules, pinned by t/interop/package-lock.json, and the
# Socket.IO server of the benchmarks into bench/socketio/node_modules.

set -eu

what=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs="nginx-core nginx-dev libhiredis-dev libyajl-dev libssl-dev
            build-essential"
test_pkgs="libcmocka-dev perl python3 python3-websockets chromium
           nodejs npm curl procps redis-server redis-tools openssl"

case "$what" in
    build) pkgs="$build_pkgs" ;;
    run)   pkgs="$build_pkgs curl" ;;
    test)  pkgs="$build_pkgs $test_pkgs" ;;
    bench) pkgs="$build_pkgs libnginx-mod-nchan perl nodejs npm
                 redis-server" ;;
    *)     echo "usage: $0 build|run|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
         | grep -q "install ok installed"
    then
        missing="$missing $p"
    fi
done

# nodejs from another origin may ship npm itself
if command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | sed 's/ npm\b//; s/ nodejs\b//')
fi

if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "error: missing Debian packages:$missing" >&2
        echo "run as root, or: sudo apt-get install$missing" >&2
        exit 1
    fi
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $missing
fi

if [ "$what" = test ] && [ ! -d "$root/t/interop/node_modules/ws" ]; then
    (cd "$root/t/interop" && npm ci --no-audit --no-fund --loglevel=error)
fi

# the Socket.IO 4 server the benchmarks compare with
if [ "$what" = bench ] \
   && [ ! -d "$root/bench/socketio/node_modules/socket.io" ]; then
    (cd "$root/bench/socketio" && npm ci --no-audit --no-fund --loglevel=error)
fi
