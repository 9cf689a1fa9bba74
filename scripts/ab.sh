#!/usr/bin/env bash
# A/B of two ringkv builds on one local 3-node cluster (N = 3, W = 2, R = 2).
#
# Usage: scripts/ab.sh BINARY_A BINARY_B [--rounds N] [--requests N] [--size BYTES]
#
# The cluster is loaded once (600,000 SETs at -P 16 over 100,000 keys, then
# 40 s to settle). Every round then restarts the three nodes on build A or
# B, in the order A B B A ..., runs one GET round as a warm-up (its caches
# are empty after the restart) and measures the next: redis-benchmark -c 50
# -P 16 -r 100000, GET. Both builds run on the same data, ports and
# machine state, and each pair of rounds (one of each) is compared: on a
# shared machine, two clusters side by side favour one of them by more
# than most changes measure (docs/benchmarks.md, twenty-sixth pass).
# Prints each round (requests/s, p50, p99 in ms, coordinator and replicas'
# CPU per GET in ns), then per build the medians, and over the pairs how
# often B won and the geometric means of B / A.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 BINARY_A BINARY_B [--rounds N] [--requests N] [--size BYTES]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
declare -A binary=([a]=$1 [b]=$2)
shift 2
rounds=8
requests=1000000
size=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    *) usage ;;
  esac
done
for s in a b; do
  [ -x "${binary[$s]}" ] || { echo "not an executable: ${binary[$s]}" >&2; exit 2; }
done
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (scripts/install-deps.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/ringkv-ab.XXXXXX)
base=$((20000 + RANDOM % 20000))
pids=()
stop_nodes() {
  local p alive
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Bounded: a node that does not stop within 30 s is killed.
  for _ in $(seq 300); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_nodes
  rm -rf "$work"
}
trap cleanup EXIT

for i in 1 2 3; do
  {
    printf '[node]\nname = "n%s"\ndata_dir = "%s"\n' "$i" "$work/n$i"
    printf '[storage]\nfsync = "everysec"\nmap_size_bytes = 8589934592\n'
    printf '[log]\nlevel = "warning"\n'
    printf '[cluster]\nsecret = "ab"\nn = 3\nw = 2\nr = 2\npeer_port = %s\n' $((base + 100 + i))
    for j in 1 2 3; do
      printf '[[cluster.members]]\nname = "n%s"\nhost = "127.0.0.1"\nport = %s\npeer_port = %s\n' \
        "$j" $((base + j)) $((base + 100 + j))
    done
  } >"$work/n$i.toml"
done

start_nodes() {
  local i ready
  for i in 1 2 3; do
    "$1" --config "$work/n$i.toml" --port $((base + i)) >>"$work/n$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 300); do
    ready=0
    for i in 1 2 3; do
      redis-cli -p $((base + i)) info cluster 2>/dev/null | grep -q '^peer_connections:2' &&
        ready=$((ready + 1))
    done
    [ "$ready" = 3 ] && return
    sleep 0.1
  done
  echo "the cluster did not start on $1; logs in $work" >&2
  trap - EXIT
  stop_nodes
  exit 1
}

get_round() {
  redis-benchmark -p $((base + 1)) -c 50 -n "$1" -P 16 -d "$size" -r 100000 -t GET --csv 2>/dev/null |
    awk -F, 'NR == 2 { gsub(/"/, ""); print $2, $5, $7 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

start_nodes "${binary[a]}"
redis-benchmark -p $((base + 1)) -c 50 -n 600000 -P 16 -d "$size" -r 100000 -t SET -q >/dev/null
sleep 40
sync
results="$work/results"
: >"$results"
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="a b"; else order="b a"; fi
  for s in $order; do
    stop_nodes
    start_nodes "${binary[$s]}"
    get_round "$requests" >/dev/null
    coordinator=$(cpu_ticks "${pids[0]}")
    replicas=$(($(cpu_ticks "${pids[1]}") + $(cpu_ticks "${pids[2]}")))
    figures=$(get_round "$requests")
    coordinator=$(($(cpu_ticks "${pids[0]}") - coordinator))
    replicas=$(($(cpu_ticks "${pids[1]}") + $(cpu_ticks "${pids[2]}") - replicas))
    ns_per_tick=$((1000000000 / $(getconf CLK_TCK)))
    line="$s $figures $((coordinator * ns_per_tick / requests)) $((replicas * ns_per_tick / requests))"
    echo "$line" >>"$results"
    echo "$line"
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '\n%-5s %12s %8s %8s %14s %14s\n' build "requests/s" "p50 ms" "p99 ms" "coord ns/GET" "replicas ns/GET"
for s in a b; do
  row=()
  for column in 2 3 4 5 6; do
    row+=("$(awk -v s="$s" -v c="$column" '$1 == s { print $c }' "$results" | median)")
  done
  printf '%-5s %12.0f %8.3f %8.3f %14.0f %14.0f\n' "$s" "${row[@]}"
done
# Pairs: rounds 2k-1 and 2k hold one of each build.
paste - - <"$results" | awk '
  {
    if ($1 == "a") { ra = $2; pa = $4; ca = $5; rb = $8; pb = $10; cb = $11 }
    else { rb = $2; pb = $4; cb = $5; ra = $8; pa = $10; ca = $11 }
    faster += rb > ra; lower += pb < pa
    lr += log(rb / ra); lp += log(pb / pa); lc += log(cb / ca); n++
  }
  END {
    printf "\nB faster in %d of %d pairs, B lower p99 in %d; B / A (geometric means over pairs): requests/s %.3f, p99 %.3f, coordinator CPU per GET %.3f\n",
      faster, n, lower, exp(lr / n), exp(lp / n), exp(lc / n)
  }'
