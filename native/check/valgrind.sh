#!/usr/bin/env bash
# Runs the engine (the same core the addon uses: tokenizer C ABI, scheduler threads, batch packing,
# ONNX Runtime) under valgrind memcheck on the bert-tiny fixture, without Node (V8's JIT makes
# memcheck on node itself meaningless). Fails on any invalid access and on any definite leak.
#   native/check/valgrind.sh [PAIRS] [RUNS]        (defaults 300 pairs, 2 batches in flight)
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-300}
runs=${2:-2}
# Its own build of the engine, with the system allocator in the tokenizer crate: memcheck must see
# every allocation (the release build gives the crate mimalloc, whose heap memcheck cannot track).
build=build/valgrind
[ -d node_modules ] || { echo "install first (npm ci)" >&2; exit 2; }
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCROSSRANK_TOKENIZER_MIMALLOC=OFF >/dev/null
cmake --build "$build" --target crossrank-bench >"$build.log" 2>&1 || { tail -30 "$build.log" >&2; exit 1; }
bin=$build/crossrank-bench
if nm "$bin" | grep -q ' mi_malloc$'; then echo "valgrind build links mimalloc: memcheck would miss its heap" >&2; exit 1; fi
data=$(mktemp)
node -e '
  const p = JSON.parse(require("fs").readFileSync("test/fixtures/pairs.json", "utf8")).pairs;
  const n = Number(process.argv[1]);
  console.log(JSON.stringify(Array.from({ length: n }, (_, i) => p[i % p.length])));
' "$pairs" > "$data"
log=build/valgrind.log
model=test/fixtures/models/bert-tiny
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --error-exitcode=3 --num-callers=30 --log-file="$log" \
  "$bin" engine "$model/model.onnx" "$model/tokenizer.json" "$data" 2 16 1 "$runs" >/dev/null || true
# Judge each error by where it happens: in our code (the engine and the tokenizer crate, all linked
# into crossrank-bench) or inside ONNX Runtime (reported, not failing: its one-time static
# allocations and a self-memcpy in its CPU-feature detection).
node -e '
  const log = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
  const blocks = [];
  let cur = null;
  for (const line of log) {
    const body = line.replace(/^==\d+== ?/, "");
    if (/^(Invalid|Conditional|Use of uninit|Syscall param|Source and destination|Mismatched|\d[\d,]* bytes in .* definitely lost)/.test(body)) {
      cur = { title: body, frames: [] };
      blocks.push(cur);
    } else if (cur && /^\s+(at|by) 0x/.test(body)) {
      cur.frames.push(body);
    } else if (cur && body.trim() === "") {
      cur = null;
    }
  }
  // Where the fault is: the innermost frame outside valgrind, libc and libstdc++.
  const site = (b) => b.frames.find((f) => !/vgpreload|libc\.so|libc-|libstdc\+\+|pthread_|ld-linux/.test(f)) || "";
  const ours = blocks.filter((b) => !/libonnxruntime/.test(site(b)));
  const summary = (log.find((l) => /ERROR SUMMARY/.test(l)) || "").replace(/^==\d+== /, "");
  const definite = ((log.find((l) => /definitely lost:/.test(l)) || "").match(/lost: ([\d,]+) bytes/) || [0, "0"])[1];
  console.log(`valgrind memcheck: ${process.argv[2]} pairs through the engine; ${summary}; definitely lost ${definite} bytes; ` +
    `${ours.length} error(s) in crossrank code, ${blocks.length - ours.length} inside ONNX Runtime only`);
  for (const b of ours) console.error(b.title + "\n" + b.frames.slice(0, 20).join("\n"));
  process.exit(ours.length ? 1 : 0);
' "$log" "$pairs"
