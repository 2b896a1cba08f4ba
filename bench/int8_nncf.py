"""Static QDQ int8 by nncf (OpenVINO's quantizer, ONNX backend) on the study's trained model (issue 25).

    CROSSRANK_INT8_CACHE=/work/cache/int8-study nice -n 10 VENV/bin/python bench/int8_nncf.py [--variants a,b]
    # then judge each file as every other candidate:
    CROSSRANK_INT8_CACHE=... python bench/int8_layers.py score --file $CACHE/onnx/nncf_mixed_sq095.onnx --name nncf_mixed_sq095

Runs in the venv of bench/requirements-peers.txt (nncf 3.4). nncf's post-training quantization of an
ONNX model writes QuantizeLinear/DequantizeLinear pairs with static activation scales: a pair's
score cannot depend on its batch, and ONNX Runtime runs the pairs as integer MatMuls. The last
round's static QDQ (onnxruntime.quantization, MinMax) lost rankings; nncf adds what that lacked:
SmoothQuant, the "mixed" preset for transformers (symmetric weights, asymmetric activations), bias
correction, and its transformer patterns (what stays fp32 around LayerNorm, Softmax, GELU).
Calibration: the study's 256 calibration pairs (bench/int8_study.py calibration_pairs), batches of 16.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import int8_study as study  # noqa: E402


def variants():
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    def adv(alpha):
        return AdvancedQuantizationParameters(smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=alpha))

    base = dict(model_type=nncf.ModelType.TRANSFORMER, preset=nncf.QuantizationPreset.MIXED, subset_size=256)
    return {
        # what sentence-transformers' export_static_quantized_openvino_model gets (OVQuantizationConfig defaults)
        "nncf_mixed_sq095": ("nncf, mixed preset, SmoothQuant 0.95, fast bias correction (OpenVINO's recipe, ONNX backend)",
                             dict(base, advanced_parameters=adv(0.95))),
        "nncf_mixed_sq05": ("nncf, mixed preset, SmoothQuant 0.5, fast bias correction", dict(base, advanced_parameters=adv(0.5))),
        "nncf_mixed_nosq": ("nncf, mixed preset, no SmoothQuant, fast bias correction", dict(base, advanced_parameters=adv(-1))),
        "nncf_mixed_sq095_bc": ("nncf, mixed preset, SmoothQuant 0.95, full bias correction",
                                dict(base, advanced_parameters=adv(0.95), fast_bias_correction=False)),
    }


def main() -> int:
    import nncf
    import onnx

    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="nncf_mixed_sq095")
    args = ap.parse_args()
    fp32 = study.CACHE / "onnx" / "model.onnx"
    enc = study.Encoder(study.CACHE / "model")
    batches = study.Reader(enc, study.calibration_pairs()).batches
    table = variants()
    for name in args.variants.split(","):
        desc, kw = table[name]
        t0 = time.time()
        q = nncf.quantize(onnx.load(str(fp32)), nncf.Dataset(batches), **kw)
        out = study.CACHE / "onnx" / f"{name}.onnx"
        onnx.save(q, str(out))
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {desc}: wrote {out} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
