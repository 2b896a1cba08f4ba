#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) and runs each for a fixed budget.
#   native/fuzz/run.sh [SECONDS_PER_HARNESS]      (default 300; CI runs a short version)
# Prints one summary line per harness: executions, coverage, corpus size, crashes. Crash inputs
# are kept in native/fuzz/findings/ (a failing run exits non-zero).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}

if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "installing clang and its fuzzer runtime (Debian packages)" >&2
  apt-get install -y -qq clang libclang-rt-dev >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq clang libclang-rt-dev >/dev/null; }
fi

build=build/fuzz
# The Rust tokenizer gets libFuzzer's coverage instrumentation too (sancov passes work on stable
# Rust), so the fuzzer is guided through the tokenizer crate, not only through our C++.
rustflags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
rustflags="$rustflags -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCROSSRANK_FUZZ=ON "-DCROSSRANK_RUSTFLAGS=$rustflags" >/dev/null
cmake --build "$build" --target fuzz_tokenizer fuzz_packing >"$build.log" 2>&1 || { tail -30 "$build.log" >&2; exit 1; }

mkdir -p native/fuzz/findings
status=0
for harness in fuzz_tokenizer fuzz_packing; do
  corpus=$(mktemp -d)
  cp -r native/fuzz/seeds/"$harness"/. "$corpus"/ 2>/dev/null || true
  log=$(mktemp)
  if ! "$build/$harness" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
      -artifact_prefix=native/fuzz/findings/"$harness"- -print_final_stats=1 >"$log" 2>&1; then
    status=1
    tail -40 "$log" >&2
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  crashes=$(find native/fuzz/findings -name "$harness-*" | wc -l)
  echo "$harness: ${seconds}s, ${runs} executions, coverage ${cov} edges, corpus $(ls "$corpus" | wc -l) inputs, ${crashes} crash inputs"
done
exit $status
