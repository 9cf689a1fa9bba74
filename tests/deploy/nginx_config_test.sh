#!/usr/bin/env bash
# Checks the load balancer's configuration with Debian's nginx:
#   1. `nginx -t` accepts conf/nginx/nginx.conf + ringkv-stream.conf with the
#      upstream list of upstream-docker.conf, its host names replaced by
#      127.0.0.1 ports (nginx resolves upstream names while parsing, and the
#      compose names exist only on the compose network);
#   2. the check is not vacuous: a broken stream config and a main config
#      without the stream module are refused;
#   3. if redis-server and redis-cli are installed, nginx really runs with
#      that configuration in front of a redis-server and proxies a PING.
# Runs as root (nginx's `user` directive and worker switch need it) in a
# temporary prefix; every process it starts is stopped by its pid on exit.
# Skips (exit 0, with a message) only when nginx or its stream module is
# not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

module=/usr/lib/nginx/modules/ngx_stream_module.so
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "nginx_config_test: SKIP: nginx is not installed"
  exit 0
fi
if [ ! -f "$module" ]; then
  echo "nginx_config_test: SKIP: $module missing (package libnginx-mod-stream)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "nginx_config_test: FAIL: run as root (nginx switches workers to www-data)" >&2
  exit 1
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

prefix=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$prefix"
}
trap cleanup EXIT
chmod 755 "$prefix"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Writes a config set into $1: the shipped files, with the pid file moved
# into the prefix, the listen address given as $2 and every upstream
# ringkv-nX:6379 turned into 127.0.0.1:$3.
make_config() {
  local dir=$1 listen=$2 upstream_port=$3
  mkdir -p "$dir"
  sed "s|^pid .*;|pid $dir/nginx.pid;|" conf/nginx/nginx.conf >"$dir/nginx.conf"
  sed "s|^\( *\)listen 6379;|\1listen $listen;|" conf/nginx/ringkv-stream.conf \
    >"$dir/ringkv-stream.conf"
  sed -E "s|ringkv-n[1-6]:6379|127.0.0.1:$upstream_port|" conf/nginx/upstream-docker.conf \
    >"$dir/ringkv-upstream.conf"
  grep -q "listen $listen;" "$dir/ringkv-stream.conf" || {
    echo "nginx_config_test: FAIL: no 'listen 6379;' line to substitute" >&2
    exit 1
  }
}

# nginx -t on a config set; prints nginx's output on failure.
check_config() {
  "$nginx" -t -p "$prefix/" -e stderr -c "$1/nginx.conf" 2>"$prefix/check.log"
}

# 1. The shipped configuration.
make_config "$prefix/good" 6379 16379
if ! check_config "$prefix/good"; then
  cat "$prefix/check.log" >&2
  echo "nginx_config_test: FAIL: nginx -t refused the stream configuration" >&2
  exit 1
fi
grep -q "test is successful" "$prefix/check.log"
[ "$(grep -c '^server 127.0.0.1:16379' "$prefix/good/ringkv-upstream.conf")" -eq 6 ]
echo "nginx_config_test: nginx -t accepts nginx.conf + ringkv-stream.conf (6 upstreams)"

# 2. Not vacuous.
make_config "$prefix/broken" 6379 16379
sed -i 's|proxy_pass ringkv;|proxy_pass ringkv|' "$prefix/broken/ringkv-stream.conf"
if check_config "$prefix/broken"; then
  echo "nginx_config_test: FAIL: nginx -t accepted a broken stream config" >&2
  exit 1
fi
make_config "$prefix/nomodule" 6379 16379
sed -i '/^load_module/d' "$prefix/nomodule/nginx.conf"
if check_config "$prefix/nomodule"; then
  echo "nginx_config_test: FAIL: nginx -t accepted stream{} without the stream module" >&2
  exit 1
fi
echo "nginx_config_test: broken configs are refused"

# 3. A real proxy in front of a redis-server.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "nginx_config_test: PASS (proxy run skipped: no redis-server/redis-cli)"
  exit 0
fi
redis_port=$(free_port)
lb_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$prefix" --daemonize no >"$prefix/redis.log" 2>&1 &
pids+=($!)
make_config "$prefix/run" "127.0.0.1:$lb_port" "$redis_port"
"$nginx" -p "$prefix/" -e stderr -c "$prefix/run/nginx.conf" -g 'daemon off;' \
  >"$prefix/nginx.log" 2>&1 &
pids+=($!)
reply=""
for _ in $(seq 1 50); do
  reply=$(redis-cli -p "$lb_port" ping 2>/dev/null || true)
  [ "$reply" = "PONG" ] && break
  sleep 0.1
done
if [ "$reply" != "PONG" ]; then
  cat "$prefix/nginx.log" >&2
  echo "nginx_config_test: FAIL: no PONG through nginx on port $lb_port" >&2
  exit 1
fi
value=$(redis-cli -p "$lb_port" set lbkey lbvalue >/dev/null && redis-cli -p "$lb_port" get lbkey)
[ "$value" = "lbvalue" ] || {
  echo "nginx_config_test: FAIL: SET/GET through nginx returned '$value'" >&2
  exit 1
}
echo "nginx_config_test: nginx proxies PING and SET/GET to the upstream"
echo "nginx_config_test: PASS"
