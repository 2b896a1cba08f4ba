"""Where an ONNX file's time goes in ONNX Runtime: per-operator totals from its profiler (issue 25 point 3;
the LLM score graphs of issue 23 with --llm).

    CROSSRANK_INT8_CACHE=/work/cache/int8-study nice -n 10 python bench/int8_profile.py \
        --files model.onnx,tok_sym_auto_keep4.onnx [--batches 16]
    nice -n 10 python bench/int8_profile.py --llm build/bench-llm/crossrank \
        --files model.onnx,model_quantized.onnx [--reps 1]

Each file (relative to $CACHE/onnx) runs the study's speed pairs (MS MARCO-like, 64-96 tokens,
batch 32, 2 intra-op threads, as bench/int8_study.py times them) with SessionOptions.enable_profiling;
the "Node" events' kernel times are summed per op type. Shares of a file's total are what to read:
under load absolute times stretch, shares much less. Writes bench/results/int8-profile.json and
int8-profile-table.md.

With --llm FOLDER (a `crossrank convert` output of bench/llm.py's random Qwen3-Reranker-0.6B), each file
(relative to FOLDER/onnx) runs bench/llm.py's 1 x 20 rerank as crossrank batches it (longest first,
right-padded, at most 2,048 tokens a batch), and the table also names the costliest nodes and groups
them by role (attention, MLP, norms, rotary, mask). Writes bench/results/llm-profile.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
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


def profile(path: Path, feeds, warmup=2, threads=study.THREADS, so=None) -> dict:
    import onnxruntime as ort

    so = so or ort.SessionOptions()
    so.intra_op_num_threads = threads
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
    per_node: dict = defaultdict(float)
    runs = []
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]
            per_node[(e["name"][: -len("_kernel_time")], e["args"]["op_name"])] += e["dur"]
        elif e.get("cat") == "Session" and e["name"] == "model_run":
            runs.append(e["dur"])
    timed = runs[warmup:]  # the warm-up runs are in the trace too
    scale = len(timed) / max(1, len(runs))  # kernel sums cover every run: keep the timed share
    return {"per_op_us": {k: v * scale for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])},
            "per_node_us": {f"{n} ({op})": v * scale for (n, op), v in sorted(per_node.items(), key=lambda kv: -kv[1])},
            "run_us_total": sum(timed), "runs": len(timed)}


def llm_feeds(folder: Path) -> list[dict]:
    """bench/llm.py's 1 x 20 rerank as crossrank runs it: the template rendered, tokenizer.json without
    special tokens, longest first, right-padded batches of at most 2,048 tokens (the CPU default)."""
    import numpy as np
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    import llm
    sys.path.insert(0, str(HERE.parent / "lib" / "python"))
    import convert

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    empty = tokenizer.apply_chat_template([{"role": "query", "content": ""}, {"role": "document", "content": ""}], tokenize=False)
    query, docs = llm.workload(folder / "tokenizer.json", len(tok.encode(empty, add_special_tokens=False).ids))
    texts = convert.render_pairs(tokenizer, [(query, d) for d in docs])
    ids = sorted((e.ids for e in tok.encode_batch(texts, add_special_tokens=False)), key=len, reverse=True)
    pad = tokenizer.pad_token_id or 0
    feeds, i = [], 0
    while i < len(ids):
        width = len(ids[i])
        rows = ids[i: i + max(1, 2048 // width)]
        x = np.full((len(rows), width), pad, dtype=np.int64)
        m = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            x[r, : len(row)], m[r, : len(row)] = row, 1
        feeds.append({"input_ids": x, "attention_mask": m})
        i += len(rows)
    return feeds


# Where an LLM score-graph node belongs, by the exporter's node names (/body/layers.N/self_attn/...).
def llm_role(node: str, op: str) -> str:
    if node.startswith("crossrank_q/"):  # lib/python/quantize.py's nodes: int8 products and row quantization
        return "int8 projections and MLP (MatMulIntegerToFloat, row scales, smoothing)"
    if "rotary" in node or op in ("RotaryEmbedding",):
        return "rotary (cos/sin, rotate_half)"
    if "norm" in node or op in ("SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization"):
        return "RMSNorm (incl. q/k norms)"
    if "/mlp/" in node:
        return "MLP (gate/up/down, SiLU, Mul)"
    if "self_attn" in node or op in ("GroupQueryAttention", "MultiHeadAttention"):
        if op in ("MatMul", "MatMulNBits", "MatMulIntegerToFloat", "DynamicQuantizeLinear") and any(
                p in node for p in ("q_proj", "k_proj", "v_proj", "o_proj")):
            return "attention projections (q/k/v/o)"
        return "attention core (scores, mask, softmax, repeat_kv, reshapes)"
    if "embed" in node:
        return "embedding"
    return "other (mask construction, last-position gather, head)"


def llm_main(args) -> int:
    import onnxruntime as ort

    folder = Path(args.llm)
    feeds = llm_feeds(folder)
    shapes = [f["input_ids"].shape for f in feeds]
    out = {"feeds": [list(s) for s in shapes], "threads": args.threads, "files": {}}
    md = [f"Workload: bench/llm.py's 1 x 20 rerank as crossrank batches it: batches {[list(s) for s in shapes]} "
          f"(rows x tokens), {args.threads} intra-op threads, ONNX Runtime {ort.__version__} (Python), ORT_ENABLE_ALL; "
          f"one warm-up rerank, then {args.reps} profiled. Load average at the start: {os.getloadavg()[0]:.1f}.", ""]
    for name in args.files.split(","):
        r = profile(folder / "onnx" / name, feeds * (1 + args.reps), warmup=len(feeds), threads=args.threads)
        roles: dict = defaultdict(float)
        for key, v in r["per_node_us"].items():
            node, op = key.rsplit(" (", 1)
            roles[llm_role(node, op[:-1])] += v
        r["per_role_us"] = dict(sorted(roles.items(), key=lambda kv: -kv[1]))
        r["per_node_us"] = dict(list(r["per_node_us"].items())[:200])
        out["files"][name] = r
        total = sum(r["per_op_us"].values())
        per = 1e3 * args.reps  # us -> ms per 1 x 20 rerank
        md.append(f"**{name}**: kernels {total / per:.0f} ms per 1 x 20 rerank, session runs {r['run_us_total'] / per:.0f} ms "
                  f"(the rest is ONNX Runtime between kernels)\n")
        md.append("| op type | ms per rerank | share |\n| --- | ---: | ---: |")
        for k, v in r["per_op_us"].items():
            if v / total >= 0.001:
                md.append(f"| {k} | {v / per:.0f} | {100 * v / total:.1f}% |")
        md.append("\n| role | ms per rerank | share |\n| --- | ---: | ---: |")
        for k, v in r["per_role_us"].items():
            md.append(f"| {k} | {v / per:.0f} | {100 * v / total:.1f}% |")
        md.append("\nCostliest nodes (first layer's and the shared ones; every layer repeats the pattern):\n")
        md.append("| node | ms per rerank | share |\n| --- | ---: | ---: |")
        shown = 0
        for k, v in r["per_node_us"].items():
            if "layers." in k and "layers.0/" not in k:
                continue
            md.append(f"| {k} | {v / per:.1f} | {100 * v / total:.2f}% |")
            shown += 1
            if shown == 25:
                break
        md.append("")
        print(f"{name}: {r['run_us_total'] / per:.0f} ms per rerank", file=sys.stderr)
    stem = Path(args.out)
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2))
    stem.with_suffix(".md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", default="model.onnx,tok_sym_auto_keep0.onnx")
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--llm", help="a crossrank convert folder of bench/llm.py's model: profile its LLM score graphs")
    ap.add_argument("--reps", type=int, default=1, help="--llm: profiled 1 x 20 reranks after the warm-up")
    ap.add_argument("--threads", type=int, default=study.THREADS)
    ap.add_argument("--out", default=str(HERE / "results" / "llm-profile.md"), help="--llm: the table (and .json beside it)")
    args = ap.parse_args()
    if args.llm:
        return llm_main(args)
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
