#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds the release and the
# ASan+UBSan builds, runs every test in both, and fuzzes the RESP parser
# briefly. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

scripts/build.sh release
scripts/build.sh asan

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== fuzzing the RESP parser"
scripts/fuzz-parser.sh "${RINGKV_FUZZ_SECONDS:-30}"

echo "== tests under ASan+UBSan"
ctest --test-dir build-asan --output-on-failure --timeout 900
echo "== tests, release build"
ctest --test-dir build --output-on-failure --timeout 900
