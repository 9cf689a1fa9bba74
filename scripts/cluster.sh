#!/usr/bin/env bash
# Runs a local ringkv cluster shaped like the seeds' test set: 6 nodes n1..n6
# on 127.0.0.1, client ports 6381..6386, peer ports 7381..7386, Q = 24,
# N = 3, W = 2, R = 2 (configs in conf/local/), data, logs and pid files
# under ./run/.
#
#   scripts/cluster.sh start [--with-lb] [--no-build] [--profile NAME]
#   scripts/cluster.sh status
#   scripts/cluster.sh cli [--node K] [redis-cli arguments...]
#   scripts/cluster.sh stop
#
# start   installs missing packages and builds (unless --no-build), starts the
#         six nodes in the background, waits until each answers PING and is
#         connected to all its peers, and
#         prints how to connect. --with-lb also starts Debian's nginx as a TCP
#         (stream) load balancer on 127.0.0.1:6379 in front of the six nodes,
#         with conf/nginx/ringkv-stream.conf and conf/local/upstream-local.conf.
#         --profile NAME (or RINGKV_PROFILE=NAME) gives every node
#         conf/profiles/NAME.toml after its own config, overriding it key by
#         key: --profile gossip-5s runs the seed project's 5 s heartbeat.
# status  each node up or down, its partitions, peer connections and gossip
#         view (members alive, suspects), and the ring (partition ->
#         preference list).
# cli     redis-cli against node K (default 1).
# stop    SIGTERM to every node and to nginx, SIGKILL after 10 s.
#
# Overrides, for tests that need a cluster on free ports (the defaults in
# brackets): RINGKV_PORT_BASE [6381], RINGKV_PEER_PORT_BASE [7381],
# RINGKV_LB_PORT [6379], RINGKV_RUN_DIR [./run], RINGKV_SERVER
# [build/server/ringkv-server; setting it implies --no-build]. With other
# ports or another run directory, the configs are rewritten from
# conf/local/ into the run directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

nodes=6
port_base=${RINGKV_PORT_BASE:-6381}
peer_port_base=${RINGKV_PEER_PORT_BASE:-7381}
lb_port=${RINGKV_LB_PORT:-6379}
run_dir=${RINGKV_RUN_DIR:-$root/run}
server=${RINGKV_SERVER:-$root/build/server/ringkv-server}
profile=${RINGKV_PROFILE:-}
nginx_dir=$run_dir/nginx
stop_timeout_s=10
start_timeout_s=30

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

log() { echo "cluster.sh: $*"; }

port_of() { echo $((port_base + $1 - 1)); }

# The pid in $1 if that process is alive and runs `$2`, else nothing: a stale
# pid file must never make us signal an unrelated process.
live_pid() {
  local file=$1 program=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # Read whole before matching: `grep -q` in a pipeline would end early and,
  # with pipefail, fail the pipeline by SIGPIPE.
  local command_line
  command_line=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [[ "$command_line" == *"$program"* ]]; then echo "$pid"; fi
}

# redis-cli bounded in time: a paused (SIGSTOP) node accepts connections but
# never answers, and status must not hang on it.
cli_bounded() { timeout 3 redis-cli "$@" 2>/dev/null || true; }

ping_node() { cli_bounded -p "$(port_of "$1")" ping; }

# The config node $1 runs with: conf/local/nK.toml itself with the default
# ports and run directory, else a copy with ports and data_dir rewritten.
config_of() {
  local i=$1
  local shipped=conf/local/n$i.toml
  if [ "$port_base" = 6381 ] && [ "$peer_port_base" = 7381 ] && [ "$run_dir" = "$root/run" ]; then
    echo "$shipped"
    return
  fi
  local generated=$run_dir/conf/n$i.toml
  mkdir -p "$run_dir/conf"
  local expressions=(-e "s|^data_dir = .*|data_dir = \"$run_dir/n$i/data\"|")
  for j in $(seq 1 $nodes); do
    expressions+=(-e "s|^port = 638$j\$|port = $((port_base + j - 1))|")
    expressions+=(-e "s|^peer_port = 738$j\$|peer_port = $((peer_port_base + j - 1))|")
  done
  sed "${expressions[@]}" "$shipped" >"$generated"
  echo "$generated"
}

start_node() {
  local i=$1 pid
  pid=$(live_pid "$run_dir/n$i.pid" ringkv-server)
  if [ -n "$pid" ]; then
    log "n$i already running (pid $pid)"
    return
  fi
  mkdir -p "$run_dir/n$i"
  local configs=(--config "$(config_of "$i")")
  if [ -n "$profile" ]; then configs+=(--config "conf/profiles/$profile.toml"); fi
  # nohup execs the server, so $! is the server's own pid.
  nohup "$server" "${configs[@]}" >>"$run_dir/n$i.log" 2>&1 </dev/null &
  echo $! >"$run_dir/n$i.pid"
}

wait_ready() {
  local deadline=$((SECONDS + start_timeout_s))
  for i in $(seq 1 $nodes); do
    until [ "$(ping_node "$i")" = PONG ]; do
      # Only alive, not live_pid: between fork and exec the child's command
      # line is still this script's.
      if ! kill -0 "$(cat "$run_dir/n$i.pid")" 2>/dev/null; then
        log "n$i exited during start-up; its log ($run_dir/n$i.log) ends with:"
        tail -n 20 "$run_dir/n$i.log" >&2
        return 1
      fi
      if [ $SECONDS -ge $deadline ]; then
        log "n$i does not answer PING after ${start_timeout_s} s; see $run_dir/n$i.log"
        return 1
      fi
      sleep 0.1
    done
  done
  # Then until every node has its links to all the others: before that, a
  # write coordinated by a node that cannot reach its replicas yet would
  # answer UNAVAILABLE.
  local expected=$((nodes - 1))
  for i in $(seq 1 $nodes); do
    until cli_bounded -p "$(port_of "$i")" info cluster | tr -d '\r' |
        grep -qx "peer_connections:$expected"; do
      if [ $SECONDS -ge $deadline ]; then
        log "n$i has not connected to all $expected peers after ${start_timeout_s} s; see $run_dir/n$i.log"
        return 1
      fi
      sleep 0.1
    done
  done
}

# nginx with its own prefix in $nginx_dir: a copy of the shipped stream
# config listening on 127.0.0.1:$lb_port, the local upstream list, and a
# small main config of our own (the shipped one is the container's).
start_lb() {
  local module=/usr/lib/nginx/modules/ngx_stream_module.so pid
  local nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  if [ ! -x "$nginx" ] || [ ! -f "$module" ]; then
    log "--with-lb needs nginx and libnginx-mod-stream (scripts/install-deps.sh installs them)"
    return 1
  fi
  pid=$(live_pid "$nginx_dir/nginx.pid" nginx)
  if [ -n "$pid" ]; then
    log "nginx already running (pid $pid)"
    return
  fi
  mkdir -p "$nginx_dir/logs"
  sed "s|^\( *\)listen 6379;|\1listen 127.0.0.1:$lb_port;|" conf/nginx/ringkv-stream.conf \
    >"$nginx_dir/ringkv-stream.conf"
  grep -q "listen 127.0.0.1:$lb_port;" "$nginx_dir/ringkv-stream.conf" || {
    log "conf/nginx/ringkv-stream.conf has no 'listen 6379;' line to rewrite"
    return 1
  }
  sed -E "s|127\.0\.0\.1:638([1-6])|127.0.0.1:__PORT\1__|" conf/local/upstream-local.conf \
    >"$nginx_dir/ringkv-upstream.conf"
  for j in $(seq 1 $nodes); do
    sed -i "s|__PORT${j}__|$(port_of "$j")|" "$nginx_dir/ringkv-upstream.conf"
  done
  cat >"$nginx_dir/nginx.conf" <<EOF
# Written by scripts/cluster.sh: nginx as the local cluster's TCP load
# balancer. Relative includes resolve against this file's directory.
load_module $module;
worker_processes 1;
error_log $nginx_dir/logs/error.log notice;
pid $nginx_dir/nginx.pid;
events {
    worker_connections 4096;
}
include ringkv-stream.conf;
EOF
  "$nginx" -p "$nginx_dir/" -e "$nginx_dir/logs/error.log" -c "$nginx_dir/nginx.conf"
  local deadline=$((SECONDS + 10))
  until [ "$(cli_bounded -p "$lb_port" ping)" = PONG ]; do
    if [ $SECONDS -ge $deadline ]; then
      log "no PONG through nginx on 127.0.0.1:$lb_port; see $nginx_dir/logs/error.log"
      return 1
    fi
    sleep 0.1
  done
}

# SIGTERM to the process in pid file $1 (running $2), SIGKILL after the bound.
stop_pid_file() {
  local file=$1 program=$2 label=$3 pid
  pid=$(live_pid "$file" "$program")
  if [ -z "$pid" ]; then
    rm -f "$file"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + stop_timeout_s))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "$label (pid $pid) ignored SIGTERM for ${stop_timeout_s} s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$file"
  log "$label stopped"
}

cmd_start() {
  local with_lb=0 build=1
  [ -n "${RINGKV_SERVER:-}" ] && build=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --with-lb) with_lb=1 ;;
      --no-build) build=0 ;;
      --profile)
        profile=${2:-}
        [ -n "$profile" ] || usage
        shift
        ;;
      *) usage ;;
    esac
    shift
  done
  if [ -n "$profile" ] && [ ! -f "conf/profiles/$profile.toml" ]; then
    log "no profile conf/profiles/$profile.toml (have: $(ls conf/profiles | sed 's/\.toml$//' | tr '\n' ' '))"
    exit 2
  fi
  if [ $build = 1 ]; then
    scripts/install-deps.sh
    scripts/build.sh release
  fi
  [ -x "$server" ] || {
    log "no server binary at $server (run scripts/build.sh)"
    exit 1
  }
  mkdir -p "$run_dir"
  for i in $(seq 1 $nodes); do start_node "$i"; done
  wait_ready
  if [ $with_lb = 1 ]; then start_lb; fi
  local last
  last=$(port_of $nodes)
  cat <<MSG
ringkv: local cluster of $nodes nodes on 127.0.0.1:$(port_of 1)..$last (Q = 24, N = 3, W = 2, R = 2${profile:+, profile $profile})
Data and logs: $run_dir
Connect to any node (each accepts every key):
  redis-cli -p $(port_of 1)        (or scripts/cluster.sh cli --node 3)
MSG
  if [ $with_lb = 1 ]; then
    echo "Through the nginx load balancer: redis-cli -p $lb_port"
  fi
  cat <<MSG
Status:  scripts/cluster.sh status
Stop:    scripts/cluster.sh stop
MSG
}

cmd_status() {
  local any_up=""
  printf '%-4s %-5s %-8s %-6s %-11s %-6s %s\n' node state pid port partitions peers \
    "members alive/known (suspect)"
  for i in $(seq 1 $nodes); do
    local port pid state=down partitions=- peers=- members=-
    port=$(port_of "$i")
    pid=$(live_pid "$run_dir/n$i.pid" ringkv-server)
    if [ -n "$pid" ] && [ "$(ping_node "$i")" = PONG ]; then
      state=up
      any_up=${any_up:-$port}
      local info
      info=$(cli_bounded -p "$port" info cluster | tr -d '\r')
      partitions=$(sed -n 's/^partitions_owned://p' <<<"$info")
      peers=$(sed -n 's/^peer_connections://p' <<<"$info")
      # This node's gossip view: how many members it holds alive, and who
      # it suspects.
      members="$(sed -n 's/^members_alive://p' <<<"$info")/$(sed -n 's/^members://p' <<<"$info")"
      local suspects
      suspects=$(sed -n 's/^member_\(.*\):state=suspect.*/\1/p' <<<"$info" | tr '\n' ' ')
      if [ -n "$suspects" ]; then members="$members (${suspects% })"; fi
    elif [ -n "$pid" ]; then
      state=hung
    fi
    printf '%-4s %-5s %-8s %-6s %-11s %-6s %s\n' "n$i" "$state" "${pid:--}" "$port" \
      "${partitions:--}" "${peers:--}" "$members"
  done
  local lb_pid
  lb_pid=$(live_pid "$nginx_dir/nginx.pid" nginx)
  if [ -n "$lb_pid" ]; then echo "nginx load balancer: up (pid $lb_pid) on 127.0.0.1:$lb_port"; fi
  if [ -z "$any_up" ]; then
    echo "no node is up"
    return
  fi
  # RING, one entry per partition: [partition, owner, [N names]]. redis-cli
  # prints it flattened, one field a line, so each entry is 2 + N lines.
  local n
  n=$(cli_bounded -p "$any_up" info cluster | tr -d '\r' | sed -n 's/^n://p')
  echo "ring (asked of 127.0.0.1:$any_up): partition -> preference list"
  cli_bounded -p "$any_up" ring | awk -v per=$((2 + ${n:-3})) '
    { field = (NR - 1) % per
      if (field == 0) line = sprintf("  %3s ->", $0)
      else if (field >= 2) line = line " " $0
      if (field == per - 1) print line }'
}

cmd_cli() {
  local node=1
  if [ "${1:-}" = --node ]; then
    node=${2:?--node needs a number}
    shift 2
  fi
  exec redis-cli -p "$(port_of "$node")" "$@"
}

cmd_stop() {
  stop_pid_file "$nginx_dir/nginx.pid" nginx "nginx"
  for i in $(seq 1 $nodes); do stop_pid_file "$run_dir/n$i.pid" ringkv-server "n$i"; done
}

[ $# -ge 1 ] || usage
command=$1
shift
case "$command" in
  start) cmd_start "$@" ;;
  status) cmd_status ;;
  cli) cmd_cli "$@" ;;
  stop) cmd_stop ;;
  *) usage ;;
esac
