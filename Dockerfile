# ringkv node image: multi-stage on Debian 12 (bookworm).
#
#   docker build -t ringkv:local .        (docker-compose.yml does this)
#   docker run -v ./conf/docker/n1.toml:/etc/ringkv/ringkv.toml:ro ringkv:local
#
# The builder compiles with the project's own scripts/build.sh, so the image
# holds the same release build (RelWithDebInfo, jemalloc) as a local run.
# The runtime stage has only the shared libraries the server links and
# redis-cli for health checks.

FROM debian:12 AS builder
# The build dependencies of scripts/install-deps.sh, without the tools used
# only by tests, benchmarks, fuzzing and drills. doctest and hiredis stay:
# the default build compiles the unit and black-box test binaries too.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libuv1-dev liblmdb-dev libjemalloc-dev libxxhash-dev libabsl-dev libtomlplusplus-dev \
      libsodium-dev doctest-dev libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/build.sh release \
 && strip --strip-debug -o /ringkv-server build/server/ringkv-server

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libuv1 liblmdb0 libjemalloc2 libxxhash0 libabsl20220623 libtomlplusplus3 libsodium23 \
      redis-tools \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so a volume's ownership means the same on every host.
RUN groupadd --system --gid 10001 ringkv \
 && useradd --system --uid 10001 --gid ringkv --home-dir /var/lib/ringkv \
      --shell /usr/sbin/nologin ringkv \
 && mkdir -p /var/lib/ringkv /etc/ringkv \
 && chown ringkv:ringkv /var/lib/ringkv
COPY --from=builder /ringkv-server /usr/local/bin/ringkv-server
COPY conf/ringkv.toml /etc/ringkv/ringkv.toml
USER ringkv
WORKDIR /var/lib/ringkv
# Client port (RESP) and peer port (cluster traffic; keep it private).
EXPOSE 6379 7379
# Declared after the chown, so a new named volume starts owned by ringkv.
VOLUME /var/lib/ringkv
# The server stops cleanly on SIGTERM (docker stop), committing what it has.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 \
  CMD redis-cli -p 6379 ping | grep -q PONG
ENTRYPOINT ["/usr/local/bin/ringkv-server"]
CMD ["--config", "/etc/ringkv/ringkv.toml"]
