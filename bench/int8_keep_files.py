"""The int8 files `crossrank convert --int8-keep-fp32 N` would write, for N = 2, 4, 6, beside a folder
convert already made, without converting again (issue 25: does keeping the most sensitive MatMul
groups fp32 make an int8 file that passes on the trained MiniLM's 30 lists?).

    cd REPO && nice -n 10 .venv/bin/python bench/int8_keep_files.py $CROSSRANK_INT8_CACHE/crossrank-convert
    cd REPO && nice -n 10 .venv/bin/python bench/int8_keep_files.py $CROSSRANK_INT8_CACHE/crossrank-convert --hybrid 0,2
    cd REPO && nice -n 10 .venv/bin/python bench/int8_keep_files.py $CROSSRANK_INT8_CACHE/crossrank-convert --hybrid 0,2 --reuse-order

--hybrid KEEPS: the files `crossrank convert --int8 hybrid --int8-keep-fp32 N` would write instead
(convert.hybrid_order over both sensitivities: static activation scales where they are as good),
as onnx/model_quantized_hybrid_keep{N}.onnx, and the chosen modes as onnx/hybrid_order.json.
--reuse-order (after --hybrid KEEPS): take the modes and order from an earlier run's
onnx/hybrid_order.json instead of measuring both sensitivities again (688 s on minilm-l6), to
rewrite the files after a change to quantize.py's graph that leaves the arithmetic alone.

Same steps and functions as lib/python/convert.py int8_per_token: convert's calibration pairs
(calibration_set, disjoint from its parity set), tokenized as convert tokenizes them; calibrate;
group_sensitivity (most sensitive first); quantize_per_token of the fused onnx/model_optimized.onnx with
the first N groups excluded. Writes onnx/model_quantized_keep{N}.onnx into the folder (outside git);
bench/int8_openvino_trained.py's crossrank_int8_keep{N} rows judge them.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib" / "python"))

import onnx  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

import convert  # noqa: E402
from quantize import calibrate, group_sensitivity, quantize_per_token, token_feeds, weight_matmuls  # noqa: E402


def main() -> int:
    folder = Path(sys.argv[1])
    hybrid = [int(k) for k in sys.argv[3].split(",")] if len(sys.argv) > 3 and sys.argv[2] == "--hybrid" else None
    fp32 = folder / "onnx" / "model_optimized.onnx"
    record = json.loads((folder / "crossrank_convert.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(max_length=min(512, config.get("max_position_embeddings", 512) - 2), strategy="longest_first")
    tok.enable_padding(pad_id=config.get("pad_token_id") or 0)
    t0 = time.time()
    feeds = token_feeds(tok, convert.calibration_set(), record["inputs"])
    groups = weight_matmuls(onnx.load(str(fp32), load_external_data=False))
    stats = calibrate(fp32, feeds, list(groups))
    work = folder / "onnx" / ".one_group.onnx"
    if hybrid is not None and "--reuse-order" in sys.argv:
        order = json.loads((folder / "onnx" / "hybrid_order.json").read_text())
    else:
        order = group_sensitivity(fp32, feeds, stats=stats, work_path=work)
        if hybrid is not None:
            order = convert.hybrid_order(order, group_sensitivity(fp32, feeds, stats=stats, work_path=work, static=True))
            (folder / "onnx" / "hybrid_order.json").write_text(json.dumps(order, indent=1))
    work.unlink(missing_ok=True)
    print(f"{len(groups)} groups ({time.time() - t0:.0f} s), most sensitive first: "
          + ", ".join(f"{g['matmuls'][0]} {g.get('mode', 'per-token')} {g['rms']:.4f}" for g in order[:6]))
    for keep in hybrid if hybrid is not None else (2, 4, 6):
        kept = order[:keep]
        static = [m for g in order[keep:] if g.get("mode") == "static" for m in g["matmuls"]]
        out = folder / "onnx" / f"model_quantized_{'hybrid_' if hybrid is not None else ''}keep{keep}.onnx"
        quantize_per_token(fp32, out, stats=stats, exclude=[m for g in kept for m in g["matmuls"]], static=static)
        print(f"{out}: fp32 groups {[g['matmuls'] for g in kept]}, {len(static)} static MatMuls ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
