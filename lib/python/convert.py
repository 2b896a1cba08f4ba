"""crossrank convert: a Hugging Face cross-encoder folder -> a crossrank model folder.

    crossrank convert --model HF_DIR --out OUT_DIR      (or: python lib/python/convert.py ...)

Writes OUT_DIR/ with the folder's config and tokenizer files and
    onnx/model.onnx            fp32 export (torch.onnx, dynamic batch and sequence)
    onnx/model_optimized.onnx  ONNX Runtime's transformer optimiser: fused attention, LayerNorm, GELU
    onnx/model_fp16.onnx       fp16 weights and compute, fp32 inputs/outputs (for GPUs)
    onnx/model_quantized.onnx  int8 dynamic quantization of the weights (for CPUs)
    crossrank_convert.json     what was checked and measured
Every output is run with ONNX Runtime on a parity set of realistic English pairs (Python's own
reference documentation) and compared with the source model in PyTorch. An output that fails its
bounds is not written and the command exits with status 1:
    fp32, optimized: max |logit difference| <= 1e-4 (optimized: 1e-3)
    fp16:            Spearman >= 0.999 and top-10 overlap >= 0.99
    int8:            Spearman >= 0.98  and top-10 overlap >= 0.90
Needs: torch, transformers, onnx, onnxruntime (PyPI; see bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BOUNDS = {
    "fp32": {"max_abs_diff": 1e-4},
    "optimized": {"max_abs_diff": 1e-3},
    "fp16": {"spearman": 0.999, "top10_overlap": 0.99},
    "int8": {"spearman": 0.98, "top10_overlap": 0.90},
}
COPY_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "config_sentence_transformers.json", "vocab.txt", "merges.txt", "sentencepiece.bpe.model"]


def parity_set(queries: int, docs: int) -> list[tuple[int, str, str]]:
    """(query index, query, passage): `queries` x `docs` realistic pairs from pydoc_data.topics."""
    from pydoc_data.topics import topics

    paragraphs = []
    for name in sorted(topics):
        for p in topics[name].split("\n\n"):
            words = p.split()
            if len(words) > 15:
                paragraphs.append((name, " ".join(words[:120])))
    names = sorted({n for n, _ in paragraphs})
    step = max(1, len(names) // queries)
    out = []
    for qi, name in enumerate(names[::step][:queries]):
        query = f"how does {name.replace('-', ' ')} work in python"
        own = [p for n, p in paragraphs if n == name][: docs // 4]
        others = [p for n, p in paragraphs if n != name]
        picked = own + [others[(qi * 97 + k * 31) % len(others)] for k in range(docs - len(own))]
        out.extend((qi, query, p) for p in picked)
    return out


def spearman(a, b) -> float:
    import numpy as np

    def ranks(x):
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        return r

    ra, rb = ranks(np.asarray(a)), ranks(np.asarray(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def top10_overlap(groups, a, b) -> float:
    import numpy as np

    overlaps = []
    for g in sorted(set(groups)):
        idx = [i for i, x in enumerate(groups) if x == g]
        ta = {idx[i] for i in np.argsort(-np.asarray(a)[idx], kind="stable")[:10]}
        tb = {idx[i] for i in np.argsort(-np.asarray(b)[idx], kind="stable")[:10]}
        overlaps.append(len(ta & tb) / len(ta))
    return float(np.mean(overlaps))


def compare(name, groups, ref, got) -> dict:
    import numpy as np

    ref = np.asarray(ref).reshape(len(groups), -1)
    got = np.asarray(got).reshape(len(groups), -1)
    first_ref, first_got = ref[:, 0], got[:, 0]
    res = {
        "max_abs_diff": float(np.max(np.abs(ref - got))),
        "spearman": spearman(first_ref, first_got),
        "top10_overlap": top10_overlap(groups, first_ref, first_got),
    }
    bounds = BOUNDS[name]
    res["bounds"] = bounds
    res["passed"] = all(res[k] <= v if k == "max_abs_diff" else res[k] >= v for k, v in bounds.items())
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face folder (config.json + safetensors or pytorch_model.bin)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-optimize", action="store_true")
    ap.add_argument("--no-fp16", action="store_true")
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--queries", type=int, default=16, help="parity set: queries")
    ap.add_argument("--docs", type=int, default=32, help="parity set: passages per query")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--bounds", default="", help='JSON overriding bounds, e.g. \'{"int8": {"spearman": 0.99}}\'')
    args = ap.parse_args()
    for name, override in (json.loads(args.bounds) if args.bounds else {}).items():
        BOUNDS[name] = {**BOUNDS[name], **override}

    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    src, out = Path(args.model), Path(args.out)
    if not (src / "config.json").exists():
        print(f"crossrank convert: {src} has no config.json (not a Hugging Face model folder)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "onnx").mkdir(exist_ok=True)
    config = AutoConfig.from_pretrained(src)
    tokenizer = AutoTokenizer.from_pretrained(src)
    model = AutoModelForSequenceClassification.from_pretrained(src).eval()
    for f in COPY_FILES:
        if (src / f).exists():
            shutil.copy(src / f, out / f)
    if not (out / "tokenizer.json").exists():
        tokenizer.save_pretrained(out)  # a fast tokenizer writes tokenizer.json
    if not (out / "tokenizer.json").exists():
        print("crossrank convert: no fast tokenizer (tokenizer.json) can be made for this model", file=sys.stderr)
        return 2

    # Parity set and the PyTorch reference.
    pairs = parity_set(args.queries, args.docs)
    groups = [g for g, _, _ in pairs]
    max_len = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    enc = tokenizer([q for _, q, _ in pairs], [d for _, _, d in pairs], padding=True, truncation="longest_first",
                    max_length=max_len, return_tensors="pt")
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    with torch.inference_mode():
        reference = torch.cat([model(**{k: enc[k][i:i + 32] for k in input_names}).logits
                               for i in range(0, len(pairs), 32)]).numpy()

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *xs):
            return self.inner(**dict(zip(input_names, xs))).logits

    fp32 = out / "onnx" / "model.onnx"
    sample = tuple(enc[k][:2, :16] for k in input_names)
    torch.onnx.export(Logits(model), sample, str(fp32), input_names=input_names, output_names=["logits"],
                      dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in input_names}, "logits": {0: "batch"}},
                      opset_version=args.opset, dynamo=False)

    feed_all = {k: enc[k].numpy().astype(np.int64) for k in input_names}

    def run_onnx(path: Path) -> np.ndarray:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs = []
        for i in range(0, len(pairs), 32):
            outs.append(sess.run(["logits"], {k: v[i:i + 32] for k, v in feed_all.items()})[0])
        return np.concatenate(outs).astype(np.float32)

    report = {"source": str(src), "parity_pairs": len(pairs), "model_type": config.model_type, "outputs": {}}
    failed = []

    def check(name: str, path: Path) -> None:
        res = compare(name, groups, reference, run_onnx(path))
        res["file"] = str(path.relative_to(out))
        report["outputs"][name] = res
        status = "ok" if res["passed"] else "FAILED (not written)"
        print(f"{name:10s} max|diff| {res['max_abs_diff']:.2e}  spearman {res['spearman']:.5f}  "
              f"top-10 overlap {res['top10_overlap']:.3f}  {status}", file=sys.stderr)
        if not res["passed"]:
            failed.append(name)
            path.unlink(missing_ok=True)

    check("fp32", fp32)
    if "fp32" in failed:
        print("crossrank convert: the fp32 export does not match the PyTorch model; nothing else was made", file=sys.stderr)
        return 1

    if not args.no_optimize:
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(str(fp32), model_type="bert", num_heads=config.num_attention_heads,
                             hidden_size=config.hidden_size)
        path = out / "onnx" / "model_optimized.onnx"
        opt.save_model_to_file(str(path))
        check("optimized", path)
    if not args.no_fp16:
        from onnxruntime.transformers.float16 import convert_float_to_float16

        path = out / "onnx" / "model_fp16.onnx"
        onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(path))
        check("fp16", path)
    if not args.no_int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        path = out / "onnx" / "model_quantized.onnx"
        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
        check("int8", path)

    (out / "crossrank_convert.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
