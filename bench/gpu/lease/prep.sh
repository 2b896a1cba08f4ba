#!/bin/sh
# Device side, started in the background by the first call of a lease (setsid, so it outlives the
# call): builds the six benchmark models and their fp16 copies while the bundle's parts travel.
# Wheels staged in /tmp/cr (e.g. onnxruntime>=1.32, whose optimizer fuses attention) are
# installed privately for this step only.   setsid nohup sh bench/gpu/lease/prep.sh >/tmp/cr/prep.log 2>&1 </dev/null &
set -u
R=$(pwd)
mkdir -p /tmp/cr/src
cp -r "$R/bench" "$R/test/fixtures/models/bert-tiny" /tmp/cr/src/
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
python3 -c "import torch, transformers, sentence_transformers, onnxruntime; print(torch.__version__, transformers.__version__, sentence_transformers.__version__, onnxruntime.__version__, torch.cuda.get_device_name())"
if ls /tmp/cr/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/cr/site /tmp/cr/*.whl && export PYTHONPATH=/tmp/cr/site
  python3 -c "import onnxruntime; print('models built with onnxruntime', onnxruntime.__version__)"
fi
t0=$(date +%s)
if python3 /tmp/cr/src/bench/models.py --out /tmp/cr/models --only tinybert-l2,minilm-l2,minilm-l4,minilm-l6,minilm-l12,electra-base --no-gemm --tokenizer /tmp/cr/src/bert-tiny \
  && python3 /tmp/cr/src/bench/gpu/fp16.py /tmp/cr/models/*/; then
  echo "prep ok in $(( $(date +%s) - t0 )) s"; touch /tmp/cr/prep.ok
else
  echo "prep FAILED"; touch /tmp/cr/prep.failed
fi
