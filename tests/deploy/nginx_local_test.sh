#!/usr/bin/env bash
# Integration test of the load-balanced deployment without Docker: a local
# 6-node cluster (scripts/cluster.sh, Q = 24, N = 3, W = 2, R = 2) on free
# ports, with Debian's nginx in front of it using the shipped stream config
# (conf/nginx/ringkv-stream.conf) on a free port. Through the balancer:
#   1. PING, and SET/GET of keys whose replicas differ, each read on a new
#      connection (so on another node) and also read directly on every node;
#   2. redis-benchmark -t set,get -n 20000 -q finishes with both rates and
#      no error, and its connections were spread over the nodes.
# Usage: nginx_local_test.sh [path/to/ringkv-server]  (default: the release
# build). Everything it starts is stopped, and its directory removed, on
# exit. Skips (exit 0, with a message) only when nginx or its stream module
# is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

name=nginx_local_test
module=/usr/lib/nginx/modules/ngx_stream_module.so
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "$name: SKIP: nginx is not installed"
  exit 0
fi
if [ ! -f "$module" ]; then
  echo "$name: SKIP: $module missing (package libnginx-mod-stream)"
  exit 0
fi
for tool in redis-cli redis-benchmark python3; do
  command -v "$tool" >/dev/null || {
    echo "$name: FAIL: $tool is not installed (scripts/install-deps.sh)" >&2
    exit 1
  }
done
server=$(realpath "${1:-build/server/ringkv-server}")
[ -x "$server" ] || {
  echo "$name: FAIL: no server binary at $server" >&2
  exit 1
}

fail() {
  echo "$name: FAIL: $*" >&2
  exit 1
}

run_dir=$(mktemp -d /tmp/ringkv-nginx-local-XXXXXX)
export RINGKV_RUN_DIR=$run_dir RINGKV_SERVER=$server
cleanup() {
  local status=$?
  if [ $status -ne 0 ]; then
    for log in "$run_dir"/n*.log "$run_dir"/nginx/logs/error.log; do
      [ -f "$log" ] && { echo "--- $log"; tail -n 15 "$log"; }
    done >&2
  fi
  scripts/cluster.sh stop >/dev/null 2>&1 || true
  rm -rf "$run_dir"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# True when every port from $1 to $1 + $2 - 1 can be bound on loopback now.
ports_free() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys
base, count = int(sys.argv[1]), int(sys.argv[2])
sockets = []
try:
    for port in range(base, base + count):
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        sockets.append(s)
except OSError:
    sys.exit(1)
EOF
}

# Six client ports, six peer ports and the balancer's: one free block of 13,
# below the kernel's ephemeral range so that outgoing connections do not
# take them meanwhile.
base=""
for _ in $(seq 1 50); do
  candidate=$((20000 + (RANDOM % 900) * 13))
  if ports_free "$candidate" 13; then
    base=$candidate
    break
  fi
done
[ -n "$base" ] || fail "no block of 13 free ports found"
export RINGKV_PORT_BASE=$base RINGKV_PEER_PORT_BASE=$((base + 6)) RINGKV_LB_PORT=$((base + 12))
lb=$RINGKV_LB_PORT
node_ports=$(seq "$base" $((base + 5)))

echo "$name: cluster on 127.0.0.1:$base..$((base + 5)), nginx on 127.0.0.1:$lb"
scripts/cluster.sh start --with-lb --no-build >"$run_dir/start.log" 2>&1 ||
  { cat "$run_dir/start.log" >&2; fail "scripts/cluster.sh start --with-lb"; }

[ "$(redis-cli -p "$lb" ping)" = PONG ] || fail "no PONG through nginx"

# 1. SET/GET through the balancer: each command on its own connection, so
# least_conn sends consecutive ones to different nodes.
for i in $(seq 1 30); do
  key="lb:key:$i"
  value="value-$i-$RANDOM"
  reply=$(redis-cli -p "$lb" set "$key" "$value")
  [ "$reply" = OK ] || fail "SET $key through nginx answered '$reply'"
  reply=$(redis-cli -p "$lb" get "$key")
  [ "$reply" = "$value" ] || fail "GET $key through nginx answered '$reply', wanted '$value'"
  for port in $node_ports; do
    reply=$(redis-cli -p "$port" get "$key")
    [ "$reply" = "$value" ] || fail "GET $key on node port $port answered '$reply'"
  done
done
echo "$name: 30 SET/GET through nginx, each key read back on all 6 nodes"

# 2. redis-benchmark through the balancer.
connections() {
  local port count
  for port in $node_ports; do
    count=$(redis-cli -p "$port" info stats | tr -d '\r' | sed -n 's/^total_connections_received://p')
    echo "$port ${count:-0}"
  done
}
connections >"$run_dir/connections.before"
output=$(timeout 300 redis-benchmark -p "$lb" -t set,get -n 20000 -r 100000 -q 2>&1) ||
  { echo "$output" >&2; fail "redis-benchmark exited with an error"; }
# Progress lines end in \r. The checks read a here-string, not a pipe: with
# pipefail, grep -q quitting at its match fails a pipeline whose writer is
# still writing (SIGPIPE), as a long progress output makes it.
lines=$(tr '\r' '\n' <<<"$output")
grep -E '^(SET|GET): [0-9.]+ requests' <<<"$lines" || true
for test in SET GET; do
  grep -qE "^$test: [0-9.]+ requests per second" <<<"$lines" ||
    { echo "$output" >&2; fail "redis-benchmark printed no $test rate"; }
done
if grep -qiE 'error|refused|unavailable' <<<"$output"; then
  echo "$output" >&2
  fail "redis-benchmark reported errors"
fi
connections >"$run_dir/connections.after"
# redis-benchmark opens 50 connections; least_conn spreads them.
used=$(paste "$run_dir/connections.before" "$run_dir/connections.after" |
  awk '$4 > $2 { used++ } END { print used + 0 }')
[ "$used" -ge 3 ] || fail "benchmark connections reached only $used of 6 nodes"
echo "$name: redis-benchmark connections reached $used of 6 nodes"

echo "$name: PASS"
