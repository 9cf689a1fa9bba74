#!/usr/bin/env bash
# Benchmarks ringkv against redis-server, side by side in one run.
#
# Usage: scripts/bench.sh [--rounds N] [--requests N]
#
# Both servers run at once on loopback: redis-server with appendonly yes and
# appendfsync everysec, ringkv with fsync = everysec. For each workload
# (redis-benchmark -c 50, -P 1 and -P 16, SET and GET, 3-byte and 1 KB
# values) the two are measured alternately (A B B A ...) for N rounds
# (default 5); the table shows medians and the ratio ringkv/redis. A ratio
# above 1 means ringkv is faster (requests/s) or slower (latency columns).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5
requests_p1=200000
requests_p16=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests_p1=$2; requests_p16=$(($2 * 5)); shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--requests N]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
scripts/build.sh release >/dev/null

work=$(mktemp -d /tmp/ringkv-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_ready() {
  for _ in $(seq 100); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; exit 1
}

redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save '' \
  --appendonly yes --appendfsync everysec --daemonize no --loglevel warning \
  >"$work/redis.log" 2>&1 &
pids+=($!)
ringkv_port=$(free_port)
cat >"$work/ringkv.toml" <<TOML
[node]
name = "bench"
data_dir = "$work/ringkv"
[storage]
fsync = "everysec"
map_size_bytes = 8589934592
[log]
level = "warning"
TOML
build/server/ringkv-server --config "$work/ringkv.toml" --port "$ringkv_port" \
  >"$work/ringkv.log" 2>&1 &
pids+=($!)
wait_ready "$redis_port"
wait_ready "$ringkv_port"

# One redis-benchmark run; prints "rps p50 p99" for test $4 (SET or GET).
run_one() {
  local port=$1 pipeline=$2 size=$3 test=$4 requests=$5
  redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$requests" -P "$pipeline" \
    -d "$size" -r 100000 -t "$test" --csv 2>/dev/null |
    awk -F, 'NR == 2 { gsub(/"/, ""); print $2, $5, $7 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

results="$work/results"
: >"$results"
echo "ringkv vs redis-server: $rounds rounds, alternating; machine: $(nproc) cores" >&2
for pipeline in 1 16; do
  requests=$requests_p1
  [ "$pipeline" = 16 ] && requests=$requests_p16
  for size in 3 1024; do
    # Load the keyspace first so GETs find values in both servers.
    run_one "$redis_port" "$pipeline" "$size" SET "$requests" >/dev/null
    run_one "$ringkv_port" "$pipeline" "$size" SET "$requests" >/dev/null
    for test in SET GET; do
      for round in $(seq "$rounds"); do
        if [ $((round % 2)) = 1 ]; then order="redis ringkv"; else order="ringkv redis"; fi
        for server in $order; do
          port=$redis_port
          [ "$server" = ringkv ] && port=$ringkv_port
          echo "$server $pipeline $size $test $(run_one "$port" "$pipeline" "$size" "$test" "$requests")" >>"$results"
        done
      done
      echo "  done: -P $pipeline, $size bytes, $test" >&2
    done
  done
done

printf '\n%-4s %-6s %-4s | %12s %12s %6s | %8s %8s %6s | %8s %8s %6s\n' \
  "-P" "value" "test" "redis rps" "ringkv rps" "ratio" "redis p50" "ringkv" "ratio" \
  "redis p99" "ringkv" "ratio"
for pipeline in 1 16; do
  for size in 3 1024; do
    for test in SET GET; do
      row=()
      for column in 5 6 7; do
        for server in redis ringkv; do
          row+=("$(awk -v s="$server" -v p="$pipeline" -v d="$size" -v t="$test" -v c="$column" \
            '$1 == s && $2 == p && $3 == d && $4 == t { print $c }' "$results" | median)")
        done
      done
      printf '%-4s %-6s %-4s | %12.0f %12.0f %6.2f | %8.3f %8.3f %6.2f | %8.3f %8.3f %6.2f\n' \
        "$pipeline" "$size" "$test" "${row[0]}" "${row[1]}" \
        "$(echo "${row[1]} / ${row[0]}" | bc -l)" "${row[2]}" "${row[3]}" \
        "$(echo "${row[3]} / ${row[2]}" | bc -l)" "${row[4]}" "${row[5]}" \
        "$(echo "${row[5]} / ${row[4]}" | bc -l)"
    done
  done
done
