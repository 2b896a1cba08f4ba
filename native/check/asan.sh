#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UBSan (gcc) into build/asan and runs an exercise of the
# whole API under it in Node (predict, rerank, tokenize, errors, abort, close under load, worker
# threads). Any invalid access in the addon, the core or the tokenizer ABI aborts with a report.
# Leak detection is off: V8 and Node leave memory at exit by design (valgrind.sh covers leaks).
#   native/check/asan.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
node node_modules/cmake-js/bin/cmake-js compile --out build/asan --CDCMAKE_BUILD_TYPE=RelWithDebInfo --CDCROSSRANK_TOKENIZER_MIMALLOC=OFF \
  --CDCMAKE_CXX_FLAGS="$flags" --CDCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
export CROSSRANK_ADDON=$PWD/build/asan/Release/crossrank.node
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
node native/check/exercise.cjs
echo "asan: the API exercise ran clean under AddressSanitizer + UBSan"
