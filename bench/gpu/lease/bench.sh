#!/bin/sh
# Device side, from the call that carries the last part: unpack the bundle (once), wait for the
# models, run the GPU benchmark for MODELS. Results go to $OUT/res as each model finishes (a call
# cut short keeps them) and to $L/res, for --merge in a later call.
#   sh bench/gpu/lease/bench.sh tinybert-l2,minilm-l2 [run.mjs options]
set -u
L=${LEASE_DIR:-/tmp/cr}   # lives as long as the machine
models=$1; shift
cd $L
[ -d crossrank-gpu ] || sh unpack.sh || exit 1
while [ ! -e prep.ok ] && [ ! -e prep.failed ]; do sleep 2; done
mkdir -p res "$OUT/res"
cp prep.log "$OUT/"
[ -e prep.failed ] && { tail -n 60 prep.log; exit 1; }
cp res/* "$OUT/res/" 2>/dev/null
CROSSRANK_GPU_CACHE=$L/models PYTHONUNBUFFERED=1 ./crossrank-gpu/run.sh --models "$models" --merge --out "$OUT/res" "$@"
rc=$?
cp "$OUT/res/"* res/
exit $rc
