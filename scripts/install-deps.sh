#!/usr/bin/env bash
# Installs the Debian 12 packages ringkv needs to build, test and run.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-dev
  libuv1-dev liblmdb-dev lmdb-utils libjemalloc-dev libxxhash-dev libabsl-dev
  libtomlplusplus-dev doctest-dev libhiredis-dev libsodium-dev
  redis-tools redis-server
  nginx libnginx-mod-stream docker-compose
  iproute2 nftables procps psmisc netcat-openbsd strace
  python3-redis nodejs
)
# Debian's npm conflicts with a nodejs package that bundles its own npm (as
# NodeSource's does), so it is asked for only where no npm is installed.
command -v npm >/dev/null || packages+=(npm)

# The node client libraries of tests/clients, pinned by its committed
# package-lock.json: `npm ci` when node_modules is missing or was installed
# from another lock. Runs as the invoking user, not through sudo.
install_client_test_modules() {
  local clients_dir stamp lock_sum
  clients_dir="$(dirname "$0")/../tests/clients"
  stamp="$clients_dir/node_modules/.ringkv-lock.sha256"
  lock_sum=$(sha256sum <"$clients_dir/package-lock.json")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
    return 0
  fi
  echo "install-deps: npm ci in tests/clients"
  (cd "$clients_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_sum" >"$stamp"
}

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  install_client_test_modules
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "install-deps: run as root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start services where systemd runs; ringkv's tests
# start their own redis-server and nginx on free ports, so stop those.
$sudo systemctl disable --now redis-server nginx >/dev/null 2>&1 || true
install_client_test_modules
