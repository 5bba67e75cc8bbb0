#!/bin/sh
# Start nginx with the module and the insecure demo (conf/demo.conf) on
# 127.0.0.1:8080
# (prefix build/run), or stop it: run.sh [stop]

set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$root/build/run
nginx=${NGINX_BIN:-/usr/sbin/nginx}

if [ "${1:-}" = stop ]; then
    if [ -f "$prefix/logs/nginx.pid" ]; then
        "$nginx" -p "$prefix/" -c conf/nginx.conf -e logs/error.log -s quit
        echo "nginx stopped"
    else
        echo "nginx is not running (no $prefix/logs/nginx.pid)"
    fi
    exit 0
fi

mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/temp" "$prefix/modules"
cp "$root/conf/demo.conf" "$prefix/conf/nginx.conf"
ln -sf "$root/build/ngx_signal_module.so" "$prefix/modules/"
# the demo page and the browser client, served from the checkout as they
# are (edit, reload the page)
ln -sfn "$root/clients" "$prefix/clients"

# run as root, nginx's workers are "nobody": they read the page's files
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null \
   && ! runuser -u nobody -- test -r "$root/clients/demo/index.html" \
        2>/dev/null
then
    echo "warning: user nobody cannot read $root/clients/demo/index.html:" \
         "the demo page at / will answer 403 (a checkout under /root?)" >&2
fi

if [ -f "$prefix/logs/nginx.pid" ] \
   && kill -0 "$(cat "$prefix/logs/nginx.pid")" 2>/dev/null
then
    "$nginx" -p "$prefix/" -c conf/nginx.conf -e logs/error.log -s reload
    echo "nginx reloaded"
else
    "$nginx" -p "$prefix/" -c conf/nginx.conf -e logs/error.log -t -q
    "$nginx" -p "$prefix/" -c conf/nginx.conf -e logs/error.log
    echo "nginx started (logs in $prefix/logs)"
fi

cat <<EOT

  Demo page (open in a browser): http://127.0.0.1:8080/
  WebSocket (client portal): ws://127.0.0.1:8080/ws?startup=42
  WebSocket (admin panel):   ws://127.0.0.1:8080/ws/admin
  Notify:                    http://127.0.0.1:8080/signal/notify

  Publish an event to startup 42:

    curl -i -H 'Content-Type: application/json' \\
         -d '{"room":"startup:42","event":"signal:assigned","data":{"signalId":7}}' \\
         http://127.0.0.1:8080/signal/notify

  Stop with: make stop
EOT
