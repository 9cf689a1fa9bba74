#!/usr/bin/env bash
# Installs the Debian 12 packages ringkv needs to build, test and run.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-dev
  libuv1-dev liblmdb-dev lmdb-utils libjemalloc-dev libxxhash-dev
  libtomlplusplus-dev doctest-dev libhiredis-dev libsodium-dev
  redis-tools redis-server
  nginx libnginx-mod-stream docker-compose
  iproute2 nftables procps psmisc netcat-openbsd
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
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
