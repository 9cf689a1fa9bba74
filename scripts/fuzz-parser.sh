#!/usr/bin/env bash
# Fuzzes the RESP request parser with libFuzzer for a while.
#
#   scripts/fuzz-parser.sh [seconds]     (default 30)
#
# Configures a clang build in build-fuzz, builds only fuzz_parser, and runs
# it on a copy of tests/fuzz/corpus/parser in a temporary directory, so the
# inputs the fuzzer discovers never end up in the source tree. Exits non-zero
# if the fuzzer finds a crash (the reproducer is kept and its path printed).
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${root}/build-fuzz"

if ! command -v clang++ >/dev/null; then
  echo "fuzz-parser: clang++ is required (apt-get install clang)" >&2
  exit 2
fi

# The resp library gets coverage instrumentation too, or libFuzzer would
# only see the fuzz target's own branches; and it keeps its assertions
# (no -DNDEBUG), since a broken invariant is what we are looking for.
CC=clang CXX=clang++ cmake -S "${root}" -B "${build_dir}" \
  -DRINGKV_FUZZ=ON -DRINGKV_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g" >/dev/null
cmake --build "${build_dir}" --target fuzz_parser -j2

work_dir="$(mktemp -d -t ringkv-fuzz-parser.XXXXXX)"
cp -r "${root}/tests/fuzz/corpus/parser" "${work_dir}/corpus"
mkdir -p "${work_dir}/artifacts"

status=0
"${build_dir}/tests/fuzz_parser" -max_total_time="${seconds}" -print_final_stats=1 \
  -artifact_prefix="${work_dir}/artifacts/" "${work_dir}/corpus" || status=$?

if [[ ${status} -ne 0 ]]; then
  echo "fuzz-parser: FAILED (exit ${status}); reproducers in ${work_dir}/artifacts" >&2
  exit "${status}"
fi
rm -rf "${work_dir}"
echo "fuzz-parser: no crash in ${seconds} s"
