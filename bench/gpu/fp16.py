"""Adds onnx/model_fp16.onnx (fp16 weights and compute, fp32 inputs and outputs) beside each
benchmark model's onnx/model.onnx. Speed only: bench/quality.py and `crossrank convert` check fp16
against fp32 on a real backbone.

    python bench/gpu/fp16.py MODEL_DIR [MODEL_DIR ...]
"""

import sys
from pathlib import Path

import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16

for d in sys.argv[1:]:
    src, dst = Path(d) / "onnx" / "model.onnx", Path(d) / "onnx" / "model_fp16.onnx"
    if dst.exists():
        continue
    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))
    print(f"{dst}: written", file=sys.stderr)
