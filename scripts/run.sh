#!/usr/bin/env bash
# Runs a ringkv node in the foreground with conf/ringkv.toml (data in
# ./data/n1), after installing what is missing and building.
# Extra arguments go to ringkv-server (e.g. --port 6380).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
port=6379
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--port" ] && port=${args[$((i + 1))]}
done
cat <<MSG
ringkv: starting one node on 127.0.0.1:$port (data in ./data/n1).
Connect with:   redis-cli -p $port
Stop with:      Ctrl-C
MSG
exec build/server/ringkv-server --config conf/ringkv.toml "$@"
