# ngx_signal_module on Debian bookworm's nginx.
#
#   docker build -t ngx-signal .
#   docker run --rm -p 8080:8080 \
#       -v $PWD/jwt.pub.pem:/run/secrets/signal_jwt_key.pem:ro \
#       -v $PWD/api.secret:/run/secrets/signal_api_secret:ro \
#       -e SIGNAL_ALLOW_ORIGIN=https://app.example.com ngx-signal
#
# conf/docker.conf is safe as it stands: tokens verified with your key,
# notify behind the secret and private networks, origins listed.
# conf/docker-entrypoint.sh checks what it needs and says what is
# missing (t/003-shipped-conf.t runs it against docker.conf).
#
# The build stage runs the same make targets as CI (`make deps`, `make`);
# pass --build-arg RUN_TESTS=1 to run `make test` in the image build too.

FROM debian:bookworm-slim AS build

ARG RUN_TESTS=0

RUN apt-get update \
    && apt-get install -y --no-install-recommends make ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

RUN make deps && make \
    && if [ "$RUN_TESTS" = 1 ]; then make test; fi


FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
           nginx-core libhiredis0.14 libyajl2 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/build/ngx_signal_module.so /usr/lib/nginx/modules/
COPY conf/ /etc/nginx/signal/
COPY clients/js/ /usr/share/ngx-signal/client/
RUN cp /etc/nginx/signal/docker.conf /etc/nginx/signal/nginx.conf

EXPOSE 8080
STOPSIGNAL SIGQUIT

ENTRYPOINT ["/etc/nginx/signal/docker-entrypoint.sh"]
