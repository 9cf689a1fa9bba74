#!/usr/bin/env bash
# Benchmarks ringkv against redis-server, side by side in one run.
#
# Usage: scripts/bench.sh [--cluster] [--write-path btree|log] [--rounds N] [--requests N]
#                         [--only PIPELINE:SIZE] [--verbose]
#
# Both run at once on loopback: redis-server with appendonly yes and
# appendfsync everysec, and ringkv with fsync = everysec: one node, or with
# --cluster a local 3-node cluster (N = 3, W = 2, R = 2) driven through one
# node (the coordinator), which also reports the CPU time per request spent
# on the coordinator and on one replica. For each workload
# (redis-benchmark -c 50, -P 1 and -P 16, SET and GET, 3-byte and 1 KB
# values) the two are measured alternately (A B B A ...) for N rounds
# (default 5); the table shows medians and the ratio ringkv/redis. A ratio
# above 1 means ringkv is faster (requests/s) or slower (latency columns).
# Each (pipeline, value size) block starts both servers on fresh data, and
# before each test's rounds the script waits for both to finish the work
# the writes before left (settle, below).
# --write-path picks storage.write_path: "log" (the default: the write log
# and memory table; docs/storage_format.md, "Write log") or "btree".
# --only runs one block (e.g. --only 16:1024); --verbose prints every
# round's figures (requests/s, p50, p99) to stderr as it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5
requests_p1=200000
requests_p16=1000000
cluster=0
write_path=log
only=
verbose=0
while [ $# -gt 0 ]; do
  case "$1" in
    --write-path) write_path=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests_p1=$2; requests_p16=$(($2 * 5)); shift 2 ;;
    --cluster) cluster=1; shift ;;
    --only) only=$2; shift 2 ;;
    --verbose) verbose=1; shift ;;
    *) echo "usage: $0 [--cluster] [--write-path btree|log] [--rounds N] [--requests N] [--only PIPELINE:SIZE] [--verbose]" >&2; exit 2 ;;
  esac
done
case "$write_path" in
  btree | log) ;;
  *) echo "--write-path must be btree or log" >&2; exit 2 ;;
esac
case "$only" in
  "" | 1:3 | 1:1024 | 16:3 | 16:1024) ;;
  *) echo "--only must be one of 1:3 1:1024 16:3 16:1024" >&2; exit 2 ;;
esac

# Whether the block of pipeline $1 and value size $2 is run (--only).
wanted() { [ -z "$only" ] || [ "$only" = "$1:$2" ]; }

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

# Starts redis-server and ringkv (one node, or three: every node a replica
# of every key) on fresh data directories.
start_servers() {
  redis_port=$(free_port)
  rm -rf "$work/redis" "$work"/ringkv*
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save '' \
    --appendonly yes --appendfsync everysec --daemonize no --loglevel warning \
    >"$work/redis.log" 2>&1 &
  pids=($!)
  node_count=1
  [ "$cluster" = 1 ] && node_count=3
  ports=()
  peer_ports=()
  for i in $(seq "$node_count"); do ports+=("$(free_port)"); peer_ports+=("$(free_port)"); done
  ringkv_pids=()
  for i in $(seq "$node_count"); do
    {
      printf '[node]\nname = "n%s"\ndata_dir = "%s"\n' "$i" "$work/ringkv$i"
      printf '[storage]\nfsync = "everysec"\nwrite_path = "%s"\nmap_size_bytes = 8589934592\n' "$write_path"
      printf '[log]\nlevel = "warning"\n'
      if [ "$cluster" = 1 ]; then
        printf '[cluster]\nsecret = "bench"\nn = 3\nw = 2\nr = 2\npeer_port = %s\n' "${peer_ports[$((i - 1))]}"
        for j in $(seq "$node_count"); do
          printf '[[cluster.members]]\nname = "n%s"\nhost = "127.0.0.1"\nport = %s\npeer_port = %s\n' \
            "$j" "${ports[$((j - 1))]}" "${peer_ports[$((j - 1))]}"
        done
      fi
    } >"$work/ringkv$i.toml"
    build/server/ringkv-server --config "$work/ringkv$i.toml" --port "${ports[$((i - 1))]}" \
      >"$work/ringkv$i.log" 2>&1 &
    pids+=($!)
    ringkv_pids+=($!)
  done
  ringkv_port=${ports[0]}
  for port in "${ports[@]}"; do wait_ready "$port"; done
  if [ "$cluster" = 1 ]; then
    for _ in $(seq 100); do
      redis-cli -p "$ringkv_port" info cluster | grep -q 'peer_connections:2' && break
      sleep 0.1
    done
  fi
  wait_ready "$redis_port"
}

stop_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

# One redis-benchmark run; prints "rps p50 p99" for test $4 (SET or GET).
run_one() {
  local port=$1 pipeline=$2 size=$3 test=$4 requests=$5
  redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$requests" -P "$pipeline" \
    -d "$size" -r 100000 -t "$test" --csv 2>/dev/null |
    awk -F, 'NR == 2 { gsub(/"/, ""); print $2, $5, $7 }'
}

# Waits (at most 120 s) until neither server has work of its own left from
# the writes before: redis-server no AOF rewrite in progress or scheduled;
# every ringkv node its checkpoints written back (log_retained_bytes 0)
# and none finished for 2 s (log_checkpoints unchanged: a checkpoint runs
# only while the memory table fills, so what a node's table holds when
# the writes stop stays there). Then writes the page cache's dirty pages
# out. Without it, what one server's writes leave runs during the next
# rounds of both, and GET rounds measured the tail of the SET rounds
# (docs/benchmarks.md, seventeenth pass). Prints the seconds each took.
settle() {
  local start=$SECONDS redis_done= ringkv_done= state last= same=0 port info
  while [ $((SECONDS - start)) -lt 120 ]; do
    # (Whole replies into variables first: with pipefail, grep -q ending a
    # pipe early could fail it.)
    if [ -z "$redis_done" ]; then
      info=$(redis-cli -p "$redis_port" info persistence | tr -d '\r')
      grep -qE '^aof_rewrite_(in_progress|scheduled):1' <<<"$info" || redis_done=$((SECONDS - start))
    fi
    if [ -z "$ringkv_done" ]; then
      state=
      for port in "${ports[@]}"; do
        info=$(redis-cli -p "$port" info persistence | tr -d '\r')
        state+=$(grep -E '^(log_checkpoints|log_retained_bytes):' <<<"$info" | tr '\n' ' ' || true)
      done
      if [ "$state" = "$last" ] && ! grep -qE 'log_retained_bytes:[1-9]' <<<"$state"; then
        same=$((same + 1))
      else
        same=0
      fi
      last=$state
      [ "$same" -lt 2 ] || ringkv_done=$((SECONDS - start))
    fi
    [ -n "$redis_done" ] && [ -n "$ringkv_done" ] && break
    sleep 1
  done
  sync
  echo "  settled: redis-server after ${redis_done:-over 120} s, ringkv after ${ringkv_done:-over 120} s" >&2
}

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)
cpu_file="$work/cpu"
: >"$cpu_file"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

results="$work/results"
: >"$results"
mode="one ringkv node (write path: $write_path)"
[ "$cluster" = 1 ] && mode="a 3-node ringkv cluster (N=3 W=2 R=2, write path: $write_path) through one node"
echo "$mode vs redis-server: $rounds rounds, alternating; machine: $(nproc) cores" >&2
# What else the machine runs bears on the figures: the load already there,
# and the kernel's DAMON monitors, whose thread takes a core for several ms
# at each sampling interval (docs/benchmarks.md, eleventh pass).
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for kdamond in /sys/kernel/mm/damon/admin/kdamonds/[0-9]*; do
  [ "$(cat "$kdamond/state" 2>/dev/null)" = on ] || continue
  for context in "$kdamond"/contexts/[0-9]*; do
    [ -d "$context" ] || continue
    echo "DAMON monitor running: $(cat "$context/operations" 2>/dev/null) operations," \
      "sampling every $(($(cat "$context/monitoring_attrs/intervals/sample_us" 2>/dev/null || echo 0) / 1000)) ms," \
      "$(cat "$context/monitoring_attrs/nr_regions/min" 2>/dev/null)-$(cat "$context/monitoring_attrs/nr_regions/max" 2>/dev/null) regions" >&2
  done
done
for pipeline in 1 16; do
  requests=$requests_p1
  [ "$pipeline" = 16 ] && requests=$requests_p16
  for size in 3 1024; do
    wanted "$pipeline" "$size" || continue
    # Fresh servers for each value size: a user's data holds the values of
    # its own workload. (Overwriting 1 KB values with 3-byte ones leaves
    # LMDB's pages as empty as the shrink made them, and measures that
    # instead: see docs/benchmarks.md.)
    start_servers
    # Load the keyspace first so GETs find values in both servers.
    run_one "$redis_port" "$pipeline" "$size" SET "$requests" >/dev/null
    run_one "$ringkv_port" "$pipeline" "$size" SET "$requests" >/dev/null
    for test in SET GET; do
      settle
      for round in $(seq "$rounds"); do
        if [ $((round % 2)) = 1 ]; then order="redis ringkv"; else order="ringkv redis"; fi
        for server in $order; do
          port=$redis_port
          [ "$server" = ringkv ] && port=$ringkv_port
          if [ "$server" = ringkv ] && [ "$cluster" = 1 ]; then
            before_coordinator=$(cpu_ticks "${ringkv_pids[0]}")
            before_replica=$(cpu_ticks "${ringkv_pids[1]}")
          fi
          line="$server $pipeline $size $test $(run_one "$port" "$pipeline" "$size" "$test" "$requests")"
          echo "$line" >>"$results"
          [ "$verbose" = 0 ] || echo "    $line" >&2
          if [ "$server" = ringkv ] && [ "$cluster" = 1 ]; then
            echo "$pipeline $size $test $(( $(cpu_ticks "${ringkv_pids[0]}") - before_coordinator )) $(( $(cpu_ticks "${ringkv_pids[1]}") - before_replica )) $requests" >>"$cpu_file"
          fi
        done
      done
      echo "  done: -P $pipeline, $size bytes, $test" >&2
    done
    stop_servers
  done
done

printf '\n%-4s %-6s %-4s | %12s %12s %6s | %8s %8s %6s | %8s %8s %6s\n' \
  "-P" "value" "test" "redis rps" "ringkv rps" "ratio" "redis p50" "ringkv" "ratio" \
  "redis p99" "ringkv" "ratio"
for pipeline in 1 16; do
  for size in 3 1024; do
    wanted "$pipeline" "$size" || continue
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

if [ "$cluster" = 1 ]; then
  printf '\nCPU time per request (median over rounds, microseconds):\n'
  printf '%-4s %-6s %-4s | %12s %12s\n' "-P" "value" "test" "coordinator" "replica"
  for pipeline in 1 16; do
    for size in 3 1024; do
      wanted "$pipeline" "$size" || continue
      for test in SET GET; do
        coordinator=$(awk -v p="$pipeline" -v d="$size" -v t="$test" -v hz="$ticks_per_second" \
          '$1 == p && $2 == d && $3 == t { print $4 / hz * 1e6 / $6 }' "$cpu_file" | median)
        replica=$(awk -v p="$pipeline" -v d="$size" -v t="$test" -v hz="$ticks_per_second" \
          '$1 == p && $2 == d && $3 == t { print $5 / hz * 1e6 / $6 }' "$cpu_file" | median)
        printf '%-4s %-6s %-4s | %12.1f %12.1f\n' "$pipeline" "$size" "$test" "$coordinator" "$replica"
      done
    done
  done
fi
