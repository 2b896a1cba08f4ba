#!/usr/bin/env bash
# Runs the engine (the same core the addon uses: tokenizer C ABI, scheduler threads, batch packing,
# ONNX Runtime) under valgrind memcheck on the bert-tiny fixture, without Node (V8's JIT makes
# memcheck on node itself meaningless). Fails on any invalid access and on any definite leak.
#   native/check/valgrind.sh [PAIRS]        (default 300)
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-300}
bin=build/Release/crossrank-bench
[ -x "$bin" ] || { echo "build the addon first (npm ci / npm run build:native)" >&2; exit 2; }
data=$(mktemp)
node -e '
  const p = JSON.parse(require("fs").readFileSync("test/fixtures/pairs.json", "utf8")).pairs;
  const n = Number(process.argv[1]);
  console.log(JSON.stringify(Array.from({ length: n }, (_, i) => p[i % p.length])));
' "$pairs" > "$data"
log=$(mktemp)
model=test/fixtures/models/bert-tiny
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --error-exitcode=3 --num-callers=30 --log-file="$log" \
  "$bin" engine "$model/model.onnx" "$model/tokenizer.json" "$data" 2 16 1 >/dev/null || true
errors=$(grep -o 'ERROR SUMMARY: [0-9]*' "$log" | grep -o '[0-9]*$')
definite=$(grep -o 'definitely lost: [0-9,]* bytes' "$log" | grep -o '[0-9,]*' | head -1 | tr -d , || echo 0)
invalid=$(grep -c 'Invalid \(read\|write\|free\)' "$log" || true)
echo "valgrind memcheck: ${pairs} pairs through the engine; errors ${errors}, invalid accesses ${invalid}, definitely lost ${definite:-0} bytes"
if [ "${errors}" != "0" ]; then
  grep -A25 'Invalid\|definitely lost in' "$log" | head -80 >&2
  exit 1
fi
