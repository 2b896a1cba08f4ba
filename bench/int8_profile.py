"""Where an ONNX file's time goes in ONNX Runtime: per-operator totals from its profiler (issue 25 point 3).

    CROSSRANK_INT8_CACHE=/work/cache/int8-study nice -n 10 python bench/int8_profile.py \
        --files model.onnx,tok_sym_auto_keep4.onnx [--batches 16]

Each file (relative to $CACHE/onnx) runs the study's speed pairs (MS MARCO-like, 64-96 tokens,
batch 32, 2 intra-op threads, as bench/int8_study.py times them) with SessionOptions.enable_profiling;
the "Node" events' kernel times are summed per op type. Shares of a file's total are what to read:
under load absolute times stretch, shares much less. Writes bench/results/int8-profile.json and
int8-profile-table.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import int8_study as study  # noqa: E402

# Op types that exist only to quantize activations per row (lib/python/quantize.py): the
# elementwise passes the issue asks to look at.
QUANT_PASSES = {"ReduceMax", "ReduceMin", "Neg", "Max", "QuantizeLinear", "Reshape", "Shape", "ConstantOfShape"}


def profile(path: Path, feeds, warmup=2) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = study.THREADS
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for f in feeds[:warmup]:
        sess.run(["logits"], f)
    for f in feeds:
        sess.run(["logits"], f)
    events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict = defaultdict(float)
    runs = []
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]
        elif e.get("cat") == "Session" and e["name"] == "model_run":
            runs.append(e["dur"])
    timed = runs[warmup:]  # the warm-up runs are in the trace too
    scale = len(timed) / max(1, len(runs))  # kernel sums cover every run: keep the timed share
    return {"per_op_us": {k: v * scale for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])},
            "run_us_total": sum(timed), "runs": len(timed)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", default="model.onnx,tok_sym_auto_keep0.onnx")
    ap.add_argument("--batches", type=int, default=8)
    args = ap.parse_args()
    pairs, enc = study.speed_pairs(study.CACHE / "model")
    feeds = [enc.feeds(pairs[i:i + 32]) for i in range(0, len(pairs), 32)][: args.batches]
    out = {}
    for name in args.files.split(","):
        out[name] = profile(study.CACHE / "onnx" / name, feeds)
        print(f"{name}: {out[name]['run_us_total'] / 1e3:.0f} ms over {out[name]['runs']} runs", file=sys.stderr)
    (HERE / "results" / "int8-profile.json").write_text(json.dumps(out, indent=2))
    md = []
    for name, r in out.items():
        total = sum(r["per_op_us"].values())
        quant = sum(v for k, v in r["per_op_us"].items() if k in QUANT_PASSES)
        md.append(f"**{name}**: kernels {total / 1e3 / r['runs']:.1f} ms per batch of 32 (measured under shared load); "
                  f"per-row quantization passes ({', '.join(sorted(QUANT_PASSES))}): {100 * quant / total:.1f}%\n")
        md.append("| op type | ms per batch | share |\n| --- | ---: | ---: |")
        for k, v in list(r["per_op_us"].items())[:12]:
            md.append(f"| {k} | {v / 1e3 / r['runs']:.2f} | {100 * v / total:.1f}% |")
        md.append("")
    (HERE / "results" / "int8-profile-table.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
