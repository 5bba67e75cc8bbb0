#!/bin/sh
# The Docker image's entry point: checks what the default configuration
# (docker.conf) needs, writes what comes from the environment into
# runtime.conf, then runs nginx in the foreground (arguments are passed
# to nginx: "-t" checks the configuration and exits).
#
#   SIGNAL_JWT_KEY_FILE     the PEM public key that verifies client tokens
#                           (default /run/secrets/signal_jwt_key.pem)
#   SIGNAL_API_SECRET_FILE  the secret of notify, status and presence
#                           (default /run/secrets/signal_api_secret)
#   SIGNAL_ALLOW_ORIGIN     the origins of your pages, separated by
#                           spaces (required), e.g. https://app.example.com
#
# A configuration of your own mounted at /etc/nginx/signal/nginx.conf is
# used as it is: nothing is checked or written then.

set -eu

dir=${SIGNAL_CONF_DIR:-/etc/nginx/signal}
nginx=${SIGNAL_NGINX:-nginx}
prefix=${SIGNAL_NGINX_PREFIX:-/usr/share/nginx/}

fail() {
    printf 'ngx-signal: %s\n' "$*" >&2
    exit 1
}

if cmp -s "$dir/nginx.conf" "$dir/docker.conf"; then
    key=${SIGNAL_JWT_KEY_FILE:-/run/secrets/signal_jwt_key.pem}
    secret=${SIGNAL_API_SECRET_FILE:-/run/secrets/signal_api_secret}
    origins=${SIGNAL_ALLOW_ORIGIN:-}

    [ -r "$key" ] || fail "no public key to verify client tokens at $key:" \
        "mount yours (docker run -v /path/to/jwt.pub.pem:$key:ro ...)" \
        "or set SIGNAL_JWT_KEY_FILE"

    [ -r "$secret" ] || fail "no API secret at $secret: put 16 or more" \
        "random bytes there (openssl rand -hex 32), mount it" \
        "(docker run -v /path/to/secret:$secret:ro ...) or set" \
        "SIGNAL_API_SECRET_FILE"

    [ -n "$origins" ] || fail "set SIGNAL_ALLOW_ORIGIN to the origins of" \
        "your pages (docker run -e" \
        "SIGNAL_ALLOW_ORIGIN=https://app.example.com ...)"

    # these become nginx.conf text: nothing that could end a directive
    for value in "$key" "$secret" $origins; do
        case $value in
            *[!A-Za-z0-9_./:*@%+=-]*)
                fail "unexpected character in \"$value\"" ;;
        esac
    done

    {
        echo "# written by docker-entrypoint.sh from the environment"
        echo "signal_jwt_key $key;"
        echo "signal_api_secret file=$secret;"
        echo "signal_allow_origin $origins;"
    } > "$dir/runtime.conf"
fi

exec "$nginx" -p "$prefix" -c "$dir/nginx.conf" -e stderr "$@"
