#!/usr/bin/env bash
# Client-compatibility test: the real client libraries connect to ringkv and
# use it without an error. Starts two fresh servers on free loopback ports,
# each with its own temporary data directory: one open, one with
# `requirepass` (for AUTH), then runs, one after the other:
#   redis_py_check.py     redis-py from Debian (python3-redis, 4.3.x)
#   node_redis_check.mjs  node-redis 4.x  } pinned in package.json /
#   ioredis_check.js      ioredis 5.x     } package-lock.json (node_modules/)
# and prints a line per client. A client fails when its script does (any
# error or mismatch) or when the open server's INFO total_error_replies
# grew while it ran: the checks provoke no error there, so that is a command
# the library sent and ignored the failure of. Exits 1 if any client fails,
# or if a server dies, exits uncleanly on SIGTERM or logs a sanitizer report.
#
# Usage: run_clients_test.sh [path/to/ringkv-server]  (default: the release
# build). With RINGKV_TEST_SERVER=redis it runs the same checks against
# redis-server from PATH instead, to check that they encode Redis's behaviour
# (there the error count is only shown: Redis 7.0 rejects CLIENT SETINFO).
# RINGKV_PYTHON names a python3 to try before /usr/bin/python3 and PATH's.
#
# A missing client library (no node, no node_modules, no python3-redis) is a
# SKIP for that client, except under CI=true, where it is a FAIL:
# scripts/install-deps.sh installs them all. Every wait is bounded.
set -euo pipefail
# The server's path is taken relative to the caller's directory.
server_argument=$(realpath -m "${1:-$(dirname "$0")/../../build/server/ringkv-server}")
cd "$(dirname "$0")"
clients_dir=$(pwd)
name=clients_test
password=clients-test-secret
kStartTimeoutSeconds=15
kStopTimeoutSeconds=15
kClientTimeoutSeconds=60

against_redis=false
if [ "${RINGKV_TEST_SERVER:-}" = redis ]; then
  against_redis=true
  server=$(command -v redis-server) || {
    echo "$name: FAIL: RINGKV_TEST_SERVER=redis but no redis-server in PATH" >&2
    exit 1
  }
else
  server=$server_argument
  [ -x "$server" ] || {
    echo "$name: FAIL: no server binary at $server" >&2
    exit 1
  }
fi

command -v redis-cli >/dev/null || {
  echo "$name: FAIL: redis-cli is not installed (scripts/install-deps.sh)" >&2
  exit 1
}

run_dir=$(mktemp -d /tmp/ringkv-clients-XXXXXX)
server_pids=()
cleanup() {
  local status=$?
  local pid
  for pid in "${server_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ $status -ne 0 ]; then
    for log in "$run_dir"/*/server.log; do
      [ -f "$log" ] && { echo "--- $log"; tail -n 20 "$log"; }
    done >&2
  fi
  rm -rf "$run_dir"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Drops a reaped server from server_pids, so that cleanup never signals a
# process id the kernel may since have given to another process.
forget_pid() {
  local kept=() pid
  for pid in "${server_pids[@]}"; do
    [ "$pid" = "$1" ] || kept+=("$pid")
  done
  server_pids=("${kept[@]}")
}

# Prints a port in [20000, 30000), below the kernel's ephemeral range so
# that outgoing connections do not take it, on which nothing listens now.
# A server that still fails to bind it is retried by start_server.
pick_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 10000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "$name: FAIL: no free port found" >&2
  return 1
}

# start_server NAME [REQUIREPASS]: starts a server in $run_dir/NAME and sets
# started_port and started_pid once it logs that it accepts connections.
start_server() {
  local dir=$run_dir/$1 requirepass=${2:-} attempt port pid
  mkdir -p "$dir/data"
  {
    printf '[node]\nname = "n1"\n'
    [ -z "$requirepass" ] || printf '\n[security]\nrequirepass = "%s"\n' "$requirepass"
  } >"$dir/ringkv.toml"
  for attempt in 1 2 3; do
    port=$(pick_port)
    local argv
    if $against_redis; then
      argv=("$server" --port "$port" --bind 127.0.0.1 --dir "$dir/data" --save ""
            --appendonly no)
      [ -z "$requirepass" ] || argv+=(--requirepass "$requirepass")
    else
      argv=("$server" --config "$dir/ringkv.toml" --bind 127.0.0.1 --port "$port"
            --data-dir "$dir/data")
    fi
    : >"$dir/server.log"
    "${argv[@]}" >>"$dir/server.log" 2>&1 </dev/null &
    pid=$!
    server_pids+=("$pid")
    for _ in $(seq 1 $((kStartTimeoutSeconds * 10))); do
      if grep -q "Ready to accept connections" "$dir/server.log"; then
        started_port=$port
        started_pid=$pid
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$name: FAIL: $1 not ready after ${kStartTimeoutSeconds}s" >&2
      return 1
    fi
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    echo "$name: $1 exited during start-up on port $port (attempt $attempt):" >&2
    tail -n 5 "$dir/server.log" >&2
  done
  echo "$name: FAIL: $1 did not start" >&2
  return 1
}

# stop_server NAME PID: SIGTERM, then a bounded wait; ringkv must exit 0
# and, in a sanitizer build, have reported nothing.
stop_server() {
  local log=$run_dir/$1/server.log pid=$2 status=0
  kill -0 "$pid" 2>/dev/null || {
    echo "$name: FAIL: $1 died during the test" >&2
    return 1
  }
  kill -TERM "$pid"
  for _ in $(seq 1 $((kStopTimeoutSeconds * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name: FAIL: $1 still running ${kStopTimeoutSeconds}s after SIGTERM" >&2
    return 1
  fi
  wait "$pid" || status=$?
  forget_pid "$pid"
  if [ $status -ne 0 ]; then
    echo "$name: FAIL: $1 exited with status $status after SIGTERM" >&2
    return 1
  fi
  if grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log"; then
    echo "$name: FAIL: sanitizer report in the $1 log" >&2
    return 1
  fi
}

# A client whose library is missing: SKIP, or FAIL under CI=true.
passed=0
failed=0
skipped=0
summary=()
missing() {
  if [ "${CI:-}" = true ]; then
    summary+=("FAIL $1: $2 (scripts/install-deps.sh installs it)")
    failed=$((failed + 1))
  else
    summary+=("SKIP $1: $2 (scripts/install-deps.sh installs it)")
    skipped=$((skipped + 1))
  fi
}

# Prints the open server's total_error_replies (INFO stats).
error_replies() {
  timeout 10 redis-cli -h 127.0.0.1 -p "$port" info stats |
    tr -d '\r' | sed -n 's/^total_error_replies://p' || true
}

# run_client LABEL COMMAND...: runs one check script with a time limit and
# records its result; its own output (a line per check) goes to stdout.
# Against ringkv, an error reply on the open server fails the client too.
run_client() {
  local label=$1 status=0 checks version errors_before errors_after
  shift
  echo "== $label"
  errors_before=$(error_replies)
  timeout --kill-after=5 "$kClientTimeoutSeconds" "$@" "$port" "$auth_port" "$password" \
    >"$run_dir/client.out" 2>&1 || status=$?
  cat "$run_dir/client.out"
  checks=$(grep -c '^  ok: ' "$run_dir/client.out" || true)
  # Each check script's first line names its library and runtime versions.
  version=$(head -n 1 "$run_dir/client.out")
  errors_after=$(error_replies)
  if [ -z "$errors_before" ] || [ -z "$errors_after" ]; then
    echo "  FAIL: no total_error_replies in INFO stats"
    status=1
  elif [ "$errors_after" -ne "$errors_before" ]; then
    if $against_redis; then
      echo "  note: $((errors_after - errors_before)) error replies on the open server"
    else
      echo "  FAIL: $((errors_after - errors_before)) error replies on the open server"
      status=1
    fi
  else
    echo "  ok: no error reply on the open server (INFO stats total_error_replies)"
    checks=$((checks + 1))
  fi
  if [ $status -eq 0 ]; then
    summary+=("PASS $label: $checks checks ($version)")
    passed=$((passed + 1))
  else
    [ $status -ne 124 ] || echo "  FAIL: no result after ${kClientTimeoutSeconds}s"
    summary+=("FAIL $label: exit status $status after $checks checks ($version)")
    failed=$((failed + 1))
  fi
}

# Find the clients before starting anything. Debian's python3-redis is
# installed for Debian's python3, which may not be the first python3 in PATH.
python=""
for candidate in ${RINGKV_PYTHON:-} /usr/bin/python3 python3; do
  if "$candidate" -c 'import redis; redis.Redis' >/dev/null 2>&1; then
    python=$candidate
    break
  fi
done
node_ok=false
node_problem=""
if ! command -v node >/dev/null; then
  node_problem="node is not installed"
elif ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
  node_problem="node $(node --version) is older than 18"
else
  node_ok=true
fi

start_server open
port=$started_port
open_pid=$started_pid
start_server auth "$password"
auth_port=$started_port
auth_pid=$started_pid
echo "$name: $($against_redis && echo redis-server || echo ringkv) on ports $port and $auth_port (requirepass)"

if [ -n "$python" ]; then
  run_client "redis-py" "$python" redis_py_check.py
else
  missing "redis-py" "no python3 can import redis (Debian package python3-redis)"
fi
for client in "node-redis:redis:node_redis_check.mjs" "ioredis:ioredis:ioredis_check.js"; do
  IFS=: read -r label package script <<<"$client"
  if ! $node_ok; then
    missing "$label" "$node_problem"
  elif [ ! -f "$clients_dir/node_modules/$package/package.json" ]; then
    missing "$label" "tests/clients/node_modules/$package is missing (npm ci)"
  else
    run_client "$label" node "$script"
  fi
done

stop_server open "$open_pid" || { summary+=("FAIL server (open): see above"); failed=$((failed + 1)); }
stop_server auth "$auth_pid" || { summary+=("FAIL server (auth): see above"); failed=$((failed + 1)); }

echo "== summary"
for line in "${summary[@]}"; do echo "$name: $line"; done
echo "clients: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
