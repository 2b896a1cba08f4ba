#!/bin/sh
# Device side, started in the background by the first call of a lease (setsid, so it outlives the
# call): builds the six benchmark models (or $LEASE_MODELS) and their fp16 copies while the
# bundle's parts travel.
# Wheels staged in $LEASE_DIR (e.g. onnxruntime>=1.32, whose optimizer fuses attention) are
# installed privately for this step only.   setsid nohup sh bench/gpu/lease/prep.sh >/tmp/cr/prep.log 2>&1 </dev/null &
set -u
PY=${PYTHON:-python3}
L=${LEASE_DIR:-/tmp/cr}   # lives as long as the machine
R=$(pwd)
mkdir -p $L/src/bench/gpu $L/src/lib/python
cp "$R/bench/models.py" $L/src/bench/ && cp "$R/bench/gpu/fp16.py" $L/src/bench/gpu/ && cp -r "$R/test/fixtures/models/bert-tiny" $L/src/
# models.py makes the int8 file as crossrank convert does
cp "$R/lib/python/convert.py" "$R/lib/python/quantize.py" $L/src/lib/python/
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || echo "no nvidia-smi"
"$PY" -c "import torch, transformers, sentence_transformers, onnxruntime; print(torch.__version__, transformers.__version__, sentence_transformers.__version__, onnxruntime.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
if ls $L/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target $L/site $L/*.whl && export PYTHONPATH=$L/site
  "$PY" -c "import onnxruntime; print('models built with onnxruntime', onnxruntime.__version__)"
fi
t0=$(date +%s)
if "$PY" $L/src/bench/models.py --out $L/models --only "${LEASE_MODELS:-tinybert-l2,minilm-l2,minilm-l4,minilm-l6,minilm-l12,electra-base}" --no-gemm --tokenizer $L/src/bert-tiny \
  && "$PY" $L/src/bench/gpu/fp16.py $L/models/*/; then
  echo "prep ok in $(( $(date +%s) - t0 )) s"; touch $L/prep.ok
else
  echo "prep FAILED"; touch $L/prep.failed
fi
