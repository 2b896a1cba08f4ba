"""crossrank convert: a Hugging Face cross-encoder folder -> a crossrank model folder.

    crossrank convert --model HF_DIR --out OUT_DIR      (or: python lib/python/convert.py ...)

Families: BERT, ELECTRA, RoBERTa, XLM-R, CamemBERT, DistilBERT, MPNet, ALBERT, DeBERTa-v2/v3,
ModernBERT (any AutoModelForSequenceClassification that torch.onnx exports).

Writes OUT_DIR/ with the folder's config and tokenizer files and
    onnx/model.onnx            fp32 export (torch.onnx, dynamic batch and sequence)
    onnx/model_optimized.onnx  ONNX Runtime's transformer optimiser: fused attention, LayerNorm, GELU
    onnx/model_fp16.onnx       fp16 weights and compute, fp32 inputs/outputs (for GPUs)
    onnx/model_quantized.onnx  int8 (for CPUs): per-channel int8 weights and per-token dynamic int8
                               activations (lib/python/quantize.py), so a pair's score does not depend
                               on the pairs batched with it; where the all-int8 file misses its
                               bounds, the MatMul groups whose int8 moves the logits most are kept
                               fp32, a few at a time (mixed precision), until it passes.
                               LLM rerankers: per-token int8 (SmoothQuant), else weight-only
                               MatMulNBits 8-bit when per-token misses its bounds
    crossrank_convert.json     what was checked and measured
Every output is made in a temporary folder inside OUT_DIR, run with ONNX Runtime on a parity set
of realistic English pairs (Python's own reference documentation) tokenized by the folder's
tokenizer.json (what crossrank runs), compared with the source model in PyTorch on the same ids,
and moved into place only when it passed its bounds:
    fp32, optimized: max |logit difference| <= 1e-4 (optimized: 1e-3)
    fp16:            Spearman >= 0.999 and top-10 overlap >= 0.99
    int8:            per query, over the parity set and 8 lists of 100 random-vocabulary passages
                     (vocab_lists): Spearman >= 0.99 and top-10 overlap >= 0.90; and batch-independent:
                     each probe pair scored alone and inside a batch of 32 within 1e-5
                     (top-10 0.90 = at most one passage swapped across the 10th/11th cut: on a
                     trained MiniLM those swaps were between passages whose fp32 logits were within
                     0.07 of each other, below what 8-bit activations resolve; 0.95 allows no swap
                     at all, the same as 1.0 on these lists; bench/results/int8-study.md)
The graph takes token_type_ids when the model embeds them (its forward has the argument and
type_vocab_size >= 2: BERT, ELECTRA, ALBERT), whatever the transformers tokenizer class returns;
the check feeds only the inputs the exported graph has (DeBERTa-v3's type_vocab_size 0 drops it).

Exit status:
    0  every output written
    1  the model could not be converted: nothing written (the fp32 export failed or missed its bounds)
    2  bad usage: not a Hugging Face model folder, no tokenizer.json can be made
    3  fp32 written, but a variant (optimized, fp16, int8) was refused and not written
    4  unsupported: crossrank cannot score this architecture as sentence-transformers 6.2 does
       (model_kind below, the rule of lib/model/families.ts modelKind); nothing written
Needs: torch, transformers, onnx, onnxruntime (PyPI; see test/fixtures/requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BOUNDS = {
    "fp32": {"max_abs_diff": 1e-4},
    "optimized": {"max_abs_diff": 1e-3},
    "fp16": {"spearman": 0.999, "top10_overlap": 0.99},
    "int8": {"spearman_min": 0.99, "top10_min": 0.90, "batch_dependence": 1e-5},
}
# Mixed precision: the numbers of most sensitive MatMul groups kept fp32, tried in turn until the
# int8 file passes its bounds (as nncf's quantize_with_accuracy_control returns the ops that cost
# the most accuracy to fp32 until the drop is within bounds). Capped at a quarter of the groups:
# past that the file runs little faster than fp32 (bench/results/int8-study.md).
INT8_KEEP_FP32 = (0, 2, 4, 6)
COPY_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "config_sentence_transformers.json", "modules.json", "vocab.txt", "vocab.json", "merges.txt",
              "added_tokens.json", "sentencepiece.bpe.model", "spm.model", "spiece.model"]
EXIT_OK, EXIT_NOT_CONVERTED, EXIT_USAGE, EXIT_VARIANT_REFUSED, EXIT_UNSUPPORTED = 0, 1, 2, 3, 4
# The families of lib/model/families.ts (FAMILY_RULES keys, DECODER_FAMILIES); test/llm.test.ts
# checks the two lists agree.
ENCODER_FAMILIES = ("bert", "electra", "distilbert", "albert", "roberta", "xlm-roberta", "xlm-roberta-xl",
                    "camembert", "longformer", "mpnet", "deberta-v2", "deberta", "modernbert")
DECODER_FAMILIES = ("qwen2", "qwen3", "gemma", "llama")
# Decoder kinds convert exports (as lib/model/families.ts SUPPORTED_DECODER_KINDS).
SUPPORTED_DECODER_KINDS: tuple[str, ...] = ("causal-lm", "sequence-classification")
VARIANT_FILES = ("onnx/model_optimized.onnx", "onnx/model_fp16.onnx", "onnx/model_quantized.onnx")
# Figures compare() measures, which --bounds may name.
MEASURES = ("max_abs_diff", "spearman", "top10_overlap", "spearman_min", "top10_min", "batch_dependence")


def model_kind(config: dict) -> tuple[str | None, str | None]:
    """(kind, None) or (None, why it is refused), from config.json as sentence-transformers 6.2's
    CrossEncoder._load_default_modules reads it: architectures[0] ending in ForCausalLM is a
    text-generation Transformer + LogitScore ('causal-lm'); a decoder's *ForSequenceClassification
    pools its last real token ('sequence-classification'); an encoder family's
    *ForSequenceClassification is a 'cross-encoder'. Everything else is refused (the same rule as
    lib/model/families.ts modelKind): exported as a cross-encoder, its scores would not be
    sentence-transformers'."""
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    archs = config.get("architectures") if isinstance(config.get("architectures"), list) else []
    arch = archs[0] if archs and isinstance(archs[0], str) else None
    what = f"config.json: model_type {model_type!r}, architecture {arch!r}"
    if arch is not None and arch.endswith("ForCausalLM"):
        if model_type not in DECODER_FAMILIES:
            return None, (f"{what}: a causal language model of a family crossrank does not run as a reranker "
                          f"(known: {', '.join(DECODER_FAMILIES)})")
        kind = "causal-lm"
    elif model_type in DECODER_FAMILIES:
        if arch is not None and not arch.endswith("ForSequenceClassification"):
            return None, f"{what}: a decoder model is scored as a *ForCausalLM or a *ForSequenceClassification reranker"
        kind = "sequence-classification"
    else:
        if model_type is not None and model_type not in ENCODER_FAMILIES:
            return None, (f"{what}: an architecture family crossrank does not know (encoders: "
                          f"{', '.join(ENCODER_FAMILIES)}; decoder rerankers: {', '.join(DECODER_FAMILIES)})")
        if arch is not None and not arch.endswith("ForSequenceClassification"):
            return None, f"{what}: not a cross-encoder (sentence-transformers would put an untrained classification head on it)"
        return "cross-encoder", None
    if kind not in SUPPORTED_DECODER_KINDS:
        return None, f"{what}: a decoder {kind} reranker, not supported yet"
    return kind, None


class NotConverted(Exception):
    """The model could not be converted (exit 1)."""


class Unsupported(NotConverted):
    """crossrank cannot score this model as sentence-transformers 6.2 does (exit 4)."""


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


def calibration_set(n: int = 256) -> list[tuple[str, str]]:
    """Realistic pairs for int8 calibration (SmoothQuant factors, symmetric or not), disjoint from
    the parity set: other topics as queries, passages from the whole of pydoc_data.topics."""
    full = parity_set(64, 16)
    used = {q for _, q, _ in parity_set(16, 32)}
    pairs = [(q, d) for _, q, d in full if q not in used]
    step = max(1, len(pairs) // n)
    return pairs[::step][:n]


def vocab_lists(tokenizer_json: Path, lists: int, docs: int, seed: int = 23) -> list[tuple[int, str, str]]:
    """(list index, query, passage): `lists` x `docs` pairs of random words from the model's own
    vocabulary (lowercase words of 2+ letters), at MS MARCO-like lengths: queries of about 6 words,
    passages log-normal around 56 words (bench/lib/pairs.mjs's shape).

    Why int8 is also judged on these: their logits crowd together, so keeping their order is the
    hardest test of 8-bit activations. On the int8 study's trained MiniLM, convert's pydoc lists passed
    6 of 6 int8 files, 4 of which the study's 30 lists refuse; 8 x 100 of these refused 2 of those 4
    and agreed on both files the 30 lists pass (bench/results/int8-gate-lists.md). Seeded: the same
    lists for the same vocabulary."""
    import random
    import re

    import numpy as np

    vocab = json.loads(Path(tokenizer_json).read_text(encoding="utf-8")).get("model", {}).get("vocab", {})
    words = sorted(w for w in (vocab if isinstance(vocab, dict) else [v[0] for v in vocab]) if re.fullmatch(r"[a-z]{2,}", w))
    if len(words) < 100:
        return []  # a vocabulary without plain words (byte-level): nothing realistic to draw from
    rnd = random.Random(seed)

    def text(n: int) -> str:
        return " ".join(rnd.choice(words) for _ in range(n))

    out = []
    for li in range(lists):
        query = text(max(2, min(14, round(rnd.gauss(6, 2)))))
        out += [(li, query, text(max(5, min(400, round(float(np.exp(3.925 + 0.45 * rnd.gauss(0, 1)))))))) for _ in range(docs)]
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


def per_query(groups, a, b) -> tuple[float, float]:
    """(min Spearman, min top-10 overlap) over the queries: the bound holds for every list."""
    import numpy as np

    sp, top = [], []
    for g in sorted(set(groups)):
        idx = [i for i, x in enumerate(groups) if x == g]
        sp.append(spearman(np.asarray(a)[idx], np.asarray(b)[idx]))
        top.append(top10_overlap([g] * len(idx), np.asarray(a)[idx], np.asarray(b)[idx]))
    return min(sp), min(top)


def compare(name, groups, ref, got, batch_dependence=None) -> dict:
    import numpy as np

    ref = np.asarray(ref).reshape(len(groups), -1)
    got = np.asarray(got).reshape(len(groups), -1)
    first_ref, first_got = ref[:, 0], got[:, 0]
    res = {
        "max_abs_diff": float(np.max(np.abs(ref - got))),
        "spearman": spearman(first_ref, first_got),
        "top10_overlap": top10_overlap(groups, first_ref, first_got),
    }
    res["spearman_min"], res["top10_min"] = per_query(groups, first_ref, first_got)
    if batch_dependence is not None:
        res["batch_dependence"] = batch_dependence
    bounds = BOUNDS[name]
    res["bounds"] = bounds
    lower_is_better = ("max_abs_diff", "batch_dependence")
    res["failed"] = [f"{k} {res[k]:.5g} {'>' if k in lower_is_better else '<'} {v:g}" for k, v in bounds.items()
                     if not (res[k] <= v if k in lower_is_better else res[k] >= v)]
    res["passed"] = not res["failed"]
    return res


def token_inputs(model) -> list[str]:
    """The graph's inputs: token_type_ids only where the model embeds them. Decided from the
    model, not from the transformers tokenizer class (transformers 5's AlbertTokenizer does not
    return token types, which would export an ALBERT that ignores them)."""
    import inspect

    names = ["input_ids", "attention_mask"]
    takes = "token_type_ids" in inspect.signature(model.forward).parameters
    if takes and (getattr(model.config, "type_vocab_size", 2) or 0) >= 2:
        names.append("token_type_ids")
    return names


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face folder (config.json + safetensors or pytorch_model.bin)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-optimize", action="store_true")
    ap.add_argument("--no-fp16", action="store_true")
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--int8", choices=["per-token", "hybrid", "dynamic"], default="per-token",
                    help="per-token: batch-independent (default); hybrid: per-token, with a static activation scale "
                         "for each MatMul group where that moves the logits no more (faster, batch-independent too); "
                         "dynamic: onnxruntime's quantize_dynamic, as the "
                         "hub's model_quantized.onnx, whose scores move with their batch (refused by the "
                         "batch_dependence bound unless --bounds raises it)")
    ap.add_argument("--int8-keep-fp32", default="auto",
                    help="per-token int8: 'auto' (default) keeps 0, then 2, 4, 6 of the most sensitive MatMul groups "
                         "fp32 until the file passes; a number keeps exactly that many")
    ap.add_argument("--queries", type=int, default=16, help="parity set: queries")
    ap.add_argument("--docs", type=int, default=32, help="parity set: passages per query")
    ap.add_argument("--vocab-lists", type=int, default=8,
                    help="int8 is also judged on this many lists of random-vocabulary passages (vocab_lists; 0: none)")
    ap.add_argument("--vocab-docs", type=int, default=100, help="passages per random-vocabulary list")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--bounds", default="", help='JSON overriding bounds, e.g. \'{"int8": {"spearman_min": 0.98, "top10_min": 0.8}}\'')
    ap.add_argument("--traceback", action="store_true", help="print Python's traceback when conversion fails")
    return ap.parse_args(argv)


def finish(out: Path, report: dict, refused: list) -> int:
    """Ends a conversion (encoder or LLM): removes variant files an earlier conversion left that this
    one did not write (they would load under precision 'int8'/'fp16' while crossrank_convert.json
    says otherwise), writes the report, and returns the exit status."""
    written = {o.get("file") for o in report["outputs"].values() if o.get("passed")}
    for rel in VARIANT_FILES:
        if rel not in written and (out / rel).exists():
            (out / rel).unlink()
            print(f"crossrank convert: removed {rel} left by an earlier conversion (not made by this one)",
                  file=sys.stderr)
    report["refused"] = refused
    (out / "crossrank_convert.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if refused:
        print(f"crossrank convert: wrote {out} with onnx/model.onnx; refused (not written): {', '.join(refused)}",
              file=sys.stderr)
        return EXIT_VARIANT_REFUSED
    print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def try_variant(name: str, rel: str, make, *, stage: Path, check, place, report: dict, refused: list) -> None:
    """Makes one variant file (fp16, int8, optimized) with make(path) in the stage folder, checks it
    against the fp32 file and places it in the output when it passes. A variant that cannot be made
    or misses its bounds is refused (its name added to `refused`): fp32 stands either way."""
    path = stage / rel
    try:
        make(path)
        passed = check(name, path)
    except Exception as error:  # noqa: BLE001 - a variant that cannot be made is refused, fp32 stands
        report["outputs"][name] = {"passed": False, "error": f"{type(error).__name__}: {error}", "file": rel}
        print(f"{name:10s} could not be made: {type(error).__name__}: {error}  FAILED (not written)", file=sys.stderr)
        passed = False
    if passed:
        place(rel)
    else:
        refused.append(name)


def convert(args, src: Path, out: Path, stage: Path) -> int:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    (stage / "onnx").mkdir()
    config = AutoConfig.from_pretrained(src)
    # Eager attention: transformers' SDPA path traces into per-layer Where/IsNaN mask ops (13-17% of
    # the time in ONNX Runtime, and ONNX Runtime's optimizer cannot fuse that attention); eager
    # exports the additive mask once and the classic pattern onnxruntime.transformers fuses into
    # Attention (docs/int8.md, "Where int8 time goes"). Same logits: parity is checked below.
    try:
        model = AutoModelForSequenceClassification.from_pretrained(src, attn_implementation="eager").eval()
    except (ValueError, ImportError):  # a model class without eager attention keeps its default
        model = AutoModelForSequenceClassification.from_pretrained(src).eval()
    staged_files = []
    for f in COPY_FILES:
        if (src / f).exists():
            shutil.copy(src / f, stage / f)
            staged_files.append(f)
    if not (stage / "tokenizer.json").exists():
        try:
            AutoTokenizer.from_pretrained(src).save_pretrained(stage / "made")  # a fast tokenizer writes tokenizer.json
        except Exception as error:  # noqa: BLE001 - reported as usage: the folder lacks a usable tokenizer
            print(f"crossrank convert: no tokenizer.json, and transformers cannot make one: {error}", file=sys.stderr)
            return EXIT_USAGE
        if not (stage / "made" / "tokenizer.json").exists():
            print("crossrank convert: no fast tokenizer (tokenizer.json) can be made for this model", file=sys.stderr)
            return EXIT_USAGE
        shutil.move(str(stage / "made" / "tokenizer.json"), stage / "tokenizer.json")
        staged_files.append("tokenizer.json")

    # Parity set, tokenized as crossrank will: tokenizer.json itself (transformers 5 rebuilds some
    # families' normalizers instead, see docs/models.md "Model families").
    pairs = parity_set(args.queries, args.docs)
    groups = [g for g, _, _ in pairs]
    tok = Tokenizer.from_file(str(stage / "tokenizer.json"))
    positions = getattr(config, "max_position_embeddings", 512) or 512
    # The parity passages are short; 2 below the table leaves room for a RoBERTa-style offset.
    tok.enable_truncation(max_length=min(512, positions - 2), strategy="longest_first")
    pad_id = config.pad_token_id if isinstance(getattr(config, "pad_token_id", None), int) else 0
    tok.enable_padding(pad_id=pad_id)
    input_names = token_inputs(model)

    def encode(pair_list) -> dict:
        """Token columns of (group, query, passage) pairs, each as a Python list and as int64."""
        encs = tok.encode_batch([(q, d) for _, q, d in pair_list])
        cols = {"input_ids": [e.ids for e in encs], "attention_mask": [e.attention_mask for e in encs],
                "token_type_ids": [e.type_ids for e in encs]}
        return {"n": len(pair_list), "groups": [g for g, _, _ in pair_list], "columns": cols,
                "feed": {k: np.asarray(v, dtype=np.int64) for k, v in cols.items()},
                "real": np.asarray([sum(m) for m in cols["attention_mask"]])}

    def batch(data: dict, names, i: int) -> dict:
        """Rows i..i+31 of `names`, cut to the batch's longest pair (tokenizers pads on the right), as
        crossrank pads each batch: the set's longest pair (up to 510 tokens) would otherwise set
        every batch's length."""
        n = int(data["real"][i:i + 32].max())
        return {k: data["feed"][k][i:i + 32, :n] for k in names}

    def torch_logits(data: dict) -> "np.ndarray":
        with torch.inference_mode():
            return torch.cat([model(**{k: torch.from_numpy(v) for k, v in batch(data, input_names, i).items()}).logits
                              for i in range(0, data["n"], 32)]).float().numpy()

    parity = encode(pairs)
    columns, feed_all = parity["columns"], parity["feed"]
    reference = torch_logits(parity)
    # int8 is judged on random-vocabulary lists too (vocab_lists: where 8-bit activations lose order first)
    rank_pairs = vocab_lists(stage / "tokenizer.json", args.vocab_lists, args.vocab_docs) if args.vocab_lists > 0 else []
    ranking = encode(rank_pairs) if rank_pairs else None
    rank_reference = torch_logits(ranking) if ranking else None

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *xs):
            return self.inner(**dict(zip(input_names, xs))).logits

    fp32 = stage / "onnx" / "model.onnx"
    sample = tuple(torch.from_numpy(feed_all[k][:2, :16]) for k in input_names)
    torch.onnx.export(Logits(model), sample, str(fp32), input_names=input_names, output_names=["logits"],
                      dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in input_names}, "logits": {0: "batch"}},
                      opset_version=args.opset, dynamo=False)

    def run_onnx(path: Path, extra: dict | None = None) -> tuple[np.ndarray, float, np.ndarray | None]:
        """Logits of every parity pair (batches of 32, each padded to its longest pair), the batch
        dependence (max |logit| moved between 8 pairs scored each alone and inside their batch of 32),
        and the logits of `extra` (another encode()d set) when given."""
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        graph_inputs = [i.name for i in sess.get_inputs()]  # an export may drop an input the model ignores
        unknown = [n for n in graph_inputs if n not in columns]
        if unknown:
            raise NotConverted(f"{path.name} takes inputs crossrank does not feed: {unknown}")

        def logits_of(data: dict) -> np.ndarray:
            return np.concatenate([sess.run(["logits"], batch(data, graph_inputs, i))[0]
                                   for i in range(0, data["n"], 32)]).astype(np.float32)

        logits = logits_of(parity)
        moved = 0.0
        for i in range(0, min(len(pairs), 32), 4):
            n = int(sum(columns["attention_mask"][i]))  # alone: no padding
            feed = {k: np.asarray([columns[k][i][:n]], dtype=np.int64) for k in graph_inputs}
            alone = sess.run(["logits"], feed)[0].astype(np.float32)
            moved = max(moved, float(np.max(np.abs(alone[0] - logits[i]))))
        return logits, moved, logits_of(extra) if extra is not None else None

    report = {"source": str(src), "parity_pairs": len(pairs), "int8_vocab_pairs": len(rank_pairs), "model_type": config.model_type,
              "inputs": input_names, "outputs": {}}
    refused: list[str] = []

    def place(rel: str) -> None:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)

    def check(name: str, path: Path, label: str | None = None) -> bool:
        lists = ranking if name == "int8" else None
        logits, moved, extra = run_onnx(path, lists)
        if lists is None:
            res = compare(name, groups, reference, logits, moved)
        else:  # int8: every list counts, the parity set's and the random-vocabulary ones (after them)
            off = max(groups) + 1
            res = compare(name, groups + [off + g for g in lists["groups"]], np.concatenate([reference, rank_reference]),
                          np.concatenate([logits, extra]), moved)
            vocab = compare(name, lists["groups"], rank_reference, extra, moved)
            res["vocab_lists"] = {"lists": len(set(lists["groups"])), "pairs": lists["n"],
                                  **{k: vocab[k] for k in ("spearman_min", "top10_min")}}
        res["file"] = str(path.relative_to(stage))
        report["outputs"][name] = res
        status = "ok" if res["passed"] else f"FAILED (not written): {', '.join(res['failed'])}"
        print(f"{label or name:10s} max|diff| {res['max_abs_diff']:.2e}  spearman {res['spearman']:.5f} "
              f"(per query min {res['spearman_min']:.5f})  top-10 overlap {res['top10_overlap']:.3f} "
              f"(min {res['top10_min']:.2f})  batch dependence {res['batch_dependence']:.1e}"
              + (f"  [random-vocabulary lists: spearman min {res['vocab_lists']['spearman_min']:.5f}, top-10 min "
                 f"{res['vocab_lists']['top10_min']:.2f}]" if "vocab_lists" in res else "") + f"  {status}", file=sys.stderr)
        return bool(res["passed"])

    if not check("fp32", fp32):
        raise NotConverted(f"the fp32 export does not match the PyTorch model "
                           f"(max |diff| {report['outputs']['fp32']['max_abs_diff']:.2e}); nothing was written")
    report["inputs"] = [i.name for i in ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()]
    for f in staged_files:
        place(f)
    place("onnx/model.onnx")
    fp32 = out / "onnx" / "model.onnx"  # the variants are made from the checked, placed file

    def variant(name: str, rel: str, make) -> None:
        try_variant(name, rel, make, stage=stage, check=check, place=place, report=report, refused=refused)

    if not args.no_optimize:
        def optimized(path: Path) -> None:
            from onnxruntime.transformers.optimizer import optimize_model

            opt = optimize_model(str(fp32), model_type="bert", num_heads=getattr(config, "num_attention_heads", 0),
                                 hidden_size=getattr(config, "hidden_size", 0))
            opt.save_model_to_file(str(path))
        variant("optimized", "onnx/model_optimized.onnx", optimized)
    if not args.no_fp16:
        def fp16(path: Path) -> None:
            from onnxruntime.transformers.float16 import convert_float_to_float16

            onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(path))
        variant("fp16", "onnx/model_fp16.onnx", fp16)
    if not args.no_int8:
        if args.int8 == "dynamic":
            def int8_dynamic(path: Path) -> None:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
                report["int8_quantization"] = {"method": "onnxruntime.quantization.quantize_dynamic, QInt8 weights"}
            variant("int8", "onnx/model_quantized.onnx", int8_dynamic)
        else:
            fused = out / "onnx" / "model_optimized.onnx"
            int8_per_token(args, fused if "optimized" not in refused and fused.exists() and attention_fused(fused) else fp32,
                           stage, tok, report, check, place, refused)

    return finish(out, report, refused)


# ---------------------------------------------------------------------------------------------
# LLM rerankers (issue 23): decoder models read as sentence-transformers 6.2 reads them.

PAIR_ROLE_PROBES = (("alpha", "bravo"), ("charlie", "bravo"), ("alpha", "foxtrot"))  # base/modality.py
STRUCTURED_PATTERNS = ("content[0]", ".type", "'type'", '"type"', "item.type", "message.content[")


def message_format(template: str) -> str:
    """'structured' or 'flat', as sentence-transformers' InputFormatter._infer_format decides it
    (base/modality.py): a template naming content parts is structured; else flat."""
    return "structured" if any(p in template for p in STRUCTURED_PATTERNS) else "flat"


def pair_messages(query: str, document: str, fmt: str, prompt: str | None = None) -> list[dict]:
    """InputFormatter.pair_to_messages (+ prepend_prompt_to_messages): a pair becomes a 'query' and
    a 'document' message; a prompt becomes a 'system' message before them."""
    def content(text):
        return text if fmt == "flat" else [{"type": "text", "text": text}]
    messages = [{"role": "query", "content": content(query)}, {"role": "document", "content": content(document)}]
    if prompt:
        messages.insert(0, {"role": "system", "content": content(prompt)})
    return messages


def logit_score_ids(src: Path, tokenizer) -> tuple[int, int | None]:
    """(true_token_id, false_token_id) as CrossEncoder reads them: modules.json's LogitScore module
    config when there is one, else the ids of the tokens "yes" and "no"
    (cross_encoder/model.py _load_default_modules)."""
    modules_path = src / "modules.json"
    if modules_path.exists():
        for module in json.loads(modules_path.read_text(encoding="utf-8")):
            if str(module.get("type", "")).endswith("LogitScore"):
                cfg = json.loads((src / module.get("path", "") / "config.json").read_text(encoding="utf-8"))
                return int(cfg["true_token_id"]), (None if cfg.get("false_token_id") is None else int(cfg["false_token_id"]))
        raise Unsupported("modules.json has no LogitScore module: crossrank cannot tell which token logits score a pair")
    true_id = tokenizer.convert_tokens_to_ids("yes")
    false_id = tokenizer.convert_tokens_to_ids("no")
    unk = getattr(tokenizer, "unk_token_id", None)
    if true_id is None or false_id is None or true_id == unk or false_id == unk:
        raise Unsupported("the tokenizer has no 'yes'/'no' tokens and the folder no modules.json naming others")
    return int(true_id), int(false_id)


def llm_score_module(model, kind: str, true_id: int | None, false_id: int | None):
    """input_ids, attention_mask -> logits [batch, 1]: only what the score needs. The hidden state
    of the last real position (the highest position whose mask is 1, so right and left padding
    both work) times the true/false rows of lm_head (LogitScore: logit[true] - logit[false], or
    logit[true] alone), or times the seq-cls head (transformers pools the last non-pad token).
    No [batch, seq, vocab] logits, no KV cache."""
    import torch

    class Score(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model.model
            if kind == "causal-lm":
                rows = [true_id] + ([false_id] if false_id is not None else [])
                self.head = torch.nn.Parameter(model.lm_head.weight[rows].detach().clone(), requires_grad=False)
                bias = getattr(model.lm_head, "bias", None)
                self.bias = None if bias is None else torch.nn.Parameter(bias[rows].detach().clone(), requires_grad=False)
                self.softcap = getattr(model.config, "final_logit_softcapping", None)
                self.difference = false_id is not None  # decided here, not traced from a shape
            else:
                self.head = torch.nn.Parameter(model.score.weight.detach().clone(), requires_grad=False)
                bias = getattr(model.score, "bias", None)
                self.bias = None if bias is None else torch.nn.Parameter(bias.detach().clone(), requires_grad=False)
                self.softcap = None
                self.difference = False

        def forward(self, input_ids, attention_mask):
            hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
            positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            last = (positions * attention_mask).argmax(dim=-1)
            h = hidden[torch.arange(input_ids.shape[0], device=input_ids.device), last]
            logits = h @ self.head.t()
            if self.bias is not None:
                logits = logits + self.bias
            if self.softcap:
                logits = torch.tanh(logits / self.softcap) * self.softcap
            if self.difference:
                logits = logits[:, :1] - logits[:, 1:]
            return logits

    return Score().eval()


def render_pairs(tokenizer, pairs, prompt=None) -> list[str]:
    """Each pair rendered by the folder's chat template as sentence-transformers renders it."""
    fmt = message_format(tokenizer.chat_template)
    return [tokenizer.apply_chat_template(pair_messages(q, d, fmt, prompt), tokenize=False) for q, d in pairs]


def check_pair_roles(tokenizer) -> None:
    """sentence-transformers' _verify_pair_roles_supported: the template must carry both roles."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise Unsupported("the folder has no chat template (chat_template.jinja or tokenizer_config.json "
                           "chat_template): sentence-transformers cannot render a pair for this model")
    base, *varied = render_pairs(tokenizer, PAIR_ROLE_PROBES)
    dropped = [role for role, render in zip(("query", "document"), varied) if render == base]
    if dropped:
        raise Unsupported(f"the chat template drops the {' and '.join(dropped)} content of a pair")


def export_llm(model, kind: str, true_id, false_id, path: Path, opset: int = 17) -> list[str]:
    """Writes the score graph (llm_score_module) with what crossrank checks at load as metadata.
    A graph over protobuf's 2 GB (Qwen3-Reranker-0.6B in fp32 is 2.4 GB) keeps its weights in one
    external file beside it, `<name>.onnx_data` (the hub's name). Returns the files written, relative
    to path's folder."""
    import onnx
    import torch

    score = llm_score_module(model, kind, true_id, false_id)
    sample = (torch.tensor([[1, 2, 3, 4], [5, 6, 7, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]))
    names = ["input_ids", "attention_mask"]
    raw = path.parent / "export"  # the exporter may write one external file per tensor: kept apart
    raw.mkdir(exist_ok=True)
    with torch.inference_mode():
        torch.onnx.export(score, sample, str(raw / path.name), input_names=names, output_names=["logits"],
                          dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    proto = onnx.load(str(raw / path.name))
    meta = {"crossrank.kind": kind, "crossrank.score": "last-real-position"}
    if kind == "causal-lm":
        meta["crossrank.true_token_id"] = str(true_id)
        meta["crossrank.false_token_id"] = "" if false_id is None else str(false_id)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    weights = sum(t.ByteSize() for t in proto.graph.initializer)
    files = [path.name]
    if weights > 1_800_000_000:
        data = path.name + "_data"
        onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=data)
        files.append(data)
    else:
        onnx.save(proto, str(path))
    shutil.rmtree(raw, ignore_errors=True)
    return files


def convert_llm(args, src: Path, out: Path, stage: Path, kind: str) -> int:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    (stage / "onnx").mkdir()
    tokenizer = AutoTokenizer.from_pretrained(src)
    check_pair_roles(tokenizer)
    true_id = false_id = None
    if kind == "causal-lm":
        true_id, false_id = logit_score_ids(src, tokenizer)
        model = AutoModelForCausalLM.from_pretrained(src, attn_implementation="eager", dtype=torch.float32).eval()
    else:
        model = AutoModelForSequenceClassification.from_pretrained(src, attn_implementation="eager", dtype=torch.float32).eval()
        if model.config.num_labels != 1:
            raise Unsupported(f"a decoder seq-cls model with {model.config.num_labels} labels: crossrank runs one-label rerankers")
    staged_files = []
    for f in COPY_FILES + ["chat_template.jinja", "chat_template.json", "sentence_bert_config.json"]:
        if (src / f).exists():
            shutil.copy(src / f, stage / f)
            staged_files.append(f)
    if (src / "modules.json").exists():
        for module in json.loads((src / "modules.json").read_text(encoding="utf-8")):
            sub = module.get("path", "")
            if sub and (src / sub / "config.json").exists():
                (stage / sub).mkdir(parents=True, exist_ok=True)
                shutil.copy(src / sub / "config.json", stage / sub / "config.json")
                staged_files.append(f"{sub}/config.json")
    if not (stage / "tokenizer.json").exists():
        raise NotConverted("no tokenizer.json in the folder (crossrank reads the fast tokenizer file)")

    # Parity set: rendered by the template, tokenized by tokenizer.json without special tokens (what
    # crossrank runs). The reference is PyTorch on left-padded batches (sentence-transformers' side),
    # the ONNX graph runs them right-padded (crossrank's side): RoPE is relative, so both agree.
    pairs = parity_set(min(args.queries, 4), min(args.docs, 8))
    groups = [g for g, _, _ in pairs]
    tok = Tokenizer.from_file(str(stage / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    texts = render_pairs(tokenizer, [(q, d) for _, q, d in pairs])
    ids = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    pad = model.config.pad_token_id if isinstance(model.config.pad_token_id, int) else 0

    def batch(rows, left):
        width = max(len(r) for r in rows)
        x = np.full((len(rows), width), pad, dtype=np.int64)
        m = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            if left:
                x[i, width - len(r):], m[i, width - len(r):] = r, 1
            else:
                x[i, :len(r)], m[i, :len(r)] = r, 1
        return x, m

    reference = []
    with torch.inference_mode():
        for i in range(0, len(ids), 8):
            x, m = batch(ids[i:i + 8], left=True)
            out_ = model(input_ids=torch.from_numpy(x), attention_mask=torch.from_numpy(m))
            if kind == "causal-lm":
                last = out_.logits[:, -1, :]
                ref = last[:, true_id] - (last[:, false_id] if false_id is not None else 0)
                reference.append(ref.unsqueeze(1).float().numpy())
            else:
                reference.append(out_.logits.float().numpy())
    reference = np.concatenate(reference)

    fp32 = stage / "onnx" / "model.onnx"
    fp32_files = export_llm(model, kind, true_id, false_id, fp32, args.opset)

    def run_onnx(path: Path):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outs = []
        for i in range(0, len(ids), 8):
            x, m = batch(ids[i:i + 8], left=False)
            outs.append(sess.run(["logits"], {"input_ids": x, "attention_mask": m})[0])
        logits = np.concatenate(outs).astype(np.float32)
        moved = 0.0
        for i in range(0, min(len(ids), 8), 2):
            x, m = batch([ids[i]], left=False)
            alone = sess.run(["logits"], {"input_ids": x, "attention_mask": m})[0].astype(np.float32)
            moved = max(moved, float(np.max(np.abs(alone[0] - logits[i]))))
        return logits, moved

    report = {"source": str(src), "parity_pairs": len(pairs), "model_type": model.config.model_type, "kind": kind,
              "true_token_id": true_id, "false_token_id": false_id, "inputs": ["input_ids", "attention_mask"],
              "outputs": {}}
    refused: list[str] = []

    def place(rel: str) -> None:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)

    def check(name: str, path: Path) -> bool:
        logits, moved = run_onnx(path)
        res = compare(name, groups, reference, logits, moved)
        res["file"] = str(path.relative_to(stage))
        report["outputs"][name] = res
        status = "ok" if res["passed"] else f"FAILED (not written): {', '.join(res['failed'])}"
        print(f"{name:10s} max|diff| {res['max_abs_diff']:.2e}  spearman {res['spearman']:.5f}  "
              f"top-10 overlap {res['top10_overlap']:.3f}  batch dependence {res['batch_dependence']:.1e}  {status}",
              file=sys.stderr)
        return bool(res["passed"])

    if not check("fp32", fp32):
        raise NotConverted(f"the fp32 score graph does not match the PyTorch model with the chat template "
                           f"(max |diff| {report['outputs']['fp32']['max_abs_diff']:.2e}); nothing was written")
    for f in staged_files:
        place(f)
    for f in fp32_files:
        place(f"onnx/{f}")
    fp32 = out / "onnx" / "model.onnx"

    def variant(name: str, rel: str, make) -> None:
        try_variant(name, rel, make, stage=stage, check=check, place=place, report=report, refused=refused)

    if not args.no_fp16:
        def fp16(path: Path) -> None:
            from onnxruntime.transformers.float16 import convert_float_to_float16

            onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True), str(path))
        variant("fp16", "onnx/model_fp16.onnx", fp16)
    if not args.no_int8:
        llm_int8(fp32, stage, tokenizer, tok, pad, report, check, place, refused)

    return finish(out, report, refused)


# Calibration pairs for an LLM's per-token int8 (SmoothQuant factors): fewer than an encoder's 256,
# each is a 0.6B+ forward pass; rows sampled per MatMul group for the alpha search likewise.
LLM_CALIBRATION_PAIRS = 16
LLM_CALIBRATION_ROWS = 256


def llm_int8(fp32: Path, stage: Path, tokenizer, tok, pad: int, report: dict, check, place, refused: list) -> None:
    """onnx/model_quantized.onnx for an LLM score graph: per-token int8 first (lib/python/quantize.py:
    per-row int8 activations, per-channel int8 weights, SmoothQuant factors from calibration pairs
    rendered by the chat template; MatMulIntegerToFloat, VNNI): measured interleaved on
    Qwen3-Reranker-0.6B's widths it ran 1.57x fp32, where weight-only MatMulNBits (the previous
    int8) ran 0.69x and MatMulNBits with int8 compute (accuracy_level 4) 0.85x
    (bench/results/llm-profile.md). If it misses its bounds, weight-only int8 (MatMulNBits, bits 8,
    symmetric, blocks of 32, fp32 activations) is tried instead. Both are batch-independent.
    No mixed-precision search here (each group's sensitivity would be one 0.6B+ forward pass per
    MatMul group)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import logging

    import numpy as np
    import onnx

    rel = "onnx/model_quantized.onnx"
    path = stage / rel
    attempts: list = []
    report["int8_quantization"] = {"attempts": attempts}

    def per_token() -> dict:
        from quantize import calibrate, quantize_per_token, weight_matmuls

        texts = render_pairs(tokenizer, calibration_set(LLM_CALIBRATION_PAIRS))
        rows = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        feeds = []
        for i in range(0, len(rows), 8):
            chunk = rows[i:i + 8]
            width = max(len(r) for r in chunk)
            x = np.full((len(chunk), width), pad, dtype=np.int64)
            m = np.zeros((len(chunk), width), dtype=np.int64)
            for j, r in enumerate(chunk):
                x[j, :len(r)], m[j, :len(r)] = r, 1
            feeds.append({"input_ids": x, "attention_mask": m})
        graph = onnx.load(str(fp32), load_external_data=False)
        inits = {t.name: t for t in graph.graph.initializer}
        # The score head (a few output columns, one row per pair) costs nothing: it stays fp32.
        head = [n.name for n in graph.graph.node if n.op_type == "MatMul" and n.input[1] in inits
                and len(inits[n.input[1]].dims) == 2 and inits[n.input[1]].dims[1] <= 16]
        groups = weight_matmuls(graph, head)
        stats = calibrate(fp32, feeds, list(groups), rows=LLM_CALIBRATION_ROWS)
        made = quantize_per_token(fp32, path, stats=stats, exclude=head)
        return {"method": "per-token dynamic int8 activations (symmetric), per-channel int8 weights, SmoothQuant "
                          f"({LLM_CALIBRATION_PAIRS} calibration pairs); the score head fp32",
                "matmuls": made["matmuls"], "kept_fp32": head,
                "groups": [{k: g[k] for k in ("matmuls", "alpha", "calibration_error")} for g in made["groups"]]}

    def weight_only() -> dict:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        for name in ("onnxruntime.quantization", "onnxruntime.quantization.matmul_nbits_quantizer"):
            logging.getLogger(name).setLevel(logging.WARNING)
        quant = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=8, block_size=32, is_symmetric=True)
        quant.process()
        quant.model.save_model_to_file(str(path), use_external_data_format=False)
        return {"method": "weight-only int8 MatMulNBits (bits 8, block 32, symmetric)"}

    for label, make in (("per-token", per_token), ("weight-only", weight_only)):
        try:
            made = make()
            passed = check("int8", path)
        except Exception as error:  # noqa: BLE001 - the next method is tried; fp32 stands either way
            report["outputs"]["int8"] = {"passed": False, "error": f"{type(error).__name__}: {error}", "file": rel}
            print(f"{'int8':10s} ({label}) could not be made: {type(error).__name__}: {error}", file=sys.stderr)
            attempts.append({"method": label, "passed": False, "error": f"{type(error).__name__}: {error}"})
            continue
        attempts.append({"method": label, "passed": passed,
                         "figures": {k: report["outputs"]["int8"].get(k) for k in MEASURES}})
        if passed:
            report["int8_quantization"].update(made)
            place(rel)
            return
    refused.append("int8")


def int8_keep_schedule(value: str) -> tuple[int, ...]:
    if value == "auto":
        return INT8_KEEP_FP32
    if not value.isdigit():
        raise ValueError(f"--int8-keep-fp32 must be 'auto' or a whole number, got {value!r}")
    return (int(value),)


def attention_fused(path: Path) -> bool:
    """Whether the file has a com.microsoft Attention node (onnxruntime.transformers fused it)."""
    import onnx

    return any(n.op_type == "Attention" for n in onnx.load(str(path), load_external_data=False).graph.node)


# --int8 hybrid: a group gets a static activation scale when its static int8 moves the logits at most
# this many times as much as its per-token int8 (calibration pairs). On the int8 study's trained
# MiniLM-L6, 9 of 24 groups qualify (every layer's Q/K/V and three FFN MatMuls of layers 3-5); with
# 2 groups fp32 that file passed the study's 30 lists at 1.50x fp32, where per-token needed 6 groups
# fp32 (1.34x); static wherever the RMS was under 0.01 (18 groups) failed (docs/int8.md, "Static
# scales where they are as good").
HYBRID_STATIC_RATIO = 1.25


def hybrid_order(per_token: list[dict], static: list[dict]) -> list[dict]:
    """Each group's mode for --int8 hybrid and the order to keep groups fp32 in.

    per_token, static: group_sensitivity() without and with static=True (RMS logit change when only
    that group is int8). A group is static when its static RMS <= HYBRID_STATIC_RATIO x its per-token
    RMS (a static group has no row max and no row-scale Mul, so it is chosen at near-ties). Returns
    [{"matmuls", "mode": "static"|"per-token", "rms" (of that mode), "rms_per_token", "rms_static"}],
    highest rms first."""
    st = {g["input"]: g["rms"] for g in static}
    out = []
    for g in per_token:
        mode = "static" if st[g["input"]] <= HYBRID_STATIC_RATIO * g["rms"] else "per-token"
        out.append({"matmuls": g["matmuls"], "mode": mode, "rms": st[g["input"]] if mode == "static" else g["rms"],
                    "rms_per_token": g["rms"], "rms_static": st[g["input"]]})
    return sorted(out, key=lambda g: -g["rms"])


def int8_per_token(args, fp32: Path, stage: Path, tok, report: dict, check, place, refused: list) -> None:
    """onnx/model_quantized.onnx, per-token int8 (lib/python/quantize.py) with mixed precision.

    The all-int8 file is tried first. If it misses its bounds, each MatMul group's sensitivity is
    measured on the calibration pairs (only that group int8; RMS of the logit change), and the
    2, 4, 6 most sensitive groups are kept fp32 in turn: the first file that passes is written.
    Sensitivity is measured on calibration pairs, the pass on the parity set, so the choice of
    groups is not fitted to the pairs that judge it. `fp32` is model_optimized.onnx when its attention
    was fused: quantize_per_token then projects Q/K/V in int8 and runs the rest of each layer's
    attention in one MultiHeadAttention kernel, with SkipLayerNormalization and BiasGelu kept
    (docs/int8.md, "Where int8 time goes"); otherwise the plain export.
    With --int8 hybrid, groups whose static activation scale is as good (hybrid_order) get one, and
    the fp32 groups are taken from the same order."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import onnx
    from quantize import calibrate, group_sensitivity, quantize_per_token, token_feeds, weight_matmuls

    rel = "onnx/model_quantized.onnx"
    path = stage / rel
    attempts = []
    hybrid = getattr(args, "int8", "per-token") == "hybrid"
    report["int8_quantization"] = {
        "method": ("hybrid: static int8 activation scales for the MatMul groups where they move the logits at most "
                   f"{HYBRID_STATIC_RATIO}x as much as per-token rows, per-token dynamic int8 (symmetric) for the rest"
                   if hybrid else "per-token dynamic int8 activations (symmetric)")
                  + ", per-channel int8 weights, SmoothQuant; mixed precision: the most sensitive MatMul groups fp32 where needed",
        "source": f"onnx/{fp32.name}",
        "attempts": attempts,
    }
    try:
        schedule = int8_keep_schedule(args.int8_keep_fp32)
        feeds = token_feeds(tok, calibration_set(), report["inputs"])
        groups = weight_matmuls(onnx.load(str(fp32), load_external_data=False))
        stats = calibrate(fp32, feeds, list(groups))
        order = None
        passed = False
        work = stage / "onnx" / "one_group.onnx"
        if hybrid:  # the mode of each group needs both sensitivities before the first file
            order = hybrid_order(group_sensitivity(fp32, feeds, stats=stats, work_path=work),
                                 group_sensitivity(fp32, feeds, stats=stats, work_path=work, static=True))
            report["int8_quantization"]["sensitivity"] = order
        for keep in schedule:
            if keep > len(groups) // 4 and keep > 0 and args.int8_keep_fp32 == "auto":
                break
            if keep and order is None:
                order = group_sensitivity(fp32, feeds, stats=stats, work_path=work)
                report["int8_quantization"]["sensitivity"] = [{"matmuls": g["matmuls"], "rms": g["rms"]} for g in order]
            kept = order[:keep] if keep else []
            static = [m for g in (order or [])[keep:] if g.get("mode") == "static" for m in g["matmuls"]]
            made = quantize_per_token(fp32, path, stats=stats, exclude=[m for g in kept for m in g["matmuls"]],
                                      static=static)
            passed = check("int8", path, f"int8 ({keep} group{'s' if keep != 1 else ''} fp32)" if keep else "int8")
            attempts.append({"keep_fp32": keep, "kept_matmuls": [m for g in kept for m in g["matmuls"]],
                             "passed": passed, "figures": {k: report["outputs"]["int8"].get(k) for k in MEASURES}})
            if passed:
                report["int8_quantization"].update({
                    "matmuls": made["matmuls"], "kept_fp32": attempts[-1]["kept_matmuls"], "static_matmuls": static,
                    "groups": [{k: g[k] for k in ("matmuls", "alpha", "asymmetric", "static", "calibration_error")}
                               for g in made["groups"]],
                })
                break
    except Exception as error:  # noqa: BLE001 - a variant that cannot be made is refused, fp32 stands
        report["outputs"]["int8"] = {"passed": False, "error": f"{type(error).__name__}: {error}", "file": rel}
        print(f"{'int8':10s} could not be made: {type(error).__name__}: {error}  FAILED (not written)", file=sys.stderr)
        passed = False
    if passed:
        place(rel)
    else:
        refused.append("int8")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        overrides = json.loads(args.bounds) if args.bounds else {}
        if not isinstance(overrides, dict):
            raise ValueError("not a JSON object")
        for name, override in overrides.items():
            if name not in BOUNDS:
                raise ValueError(f"no output {name!r}; outputs: {', '.join(BOUNDS)}")
            if not isinstance(override, dict):
                raise ValueError(f"{name}: not an object of bounds")
            for key, value in override.items():
                if key not in MEASURES:
                    raise ValueError(f"{name}: no figure {key!r}; figures: {', '.join(MEASURES)}")
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ValueError(f"{name}.{key}: {value!r} is not a number")
            BOUNDS[name] = {**BOUNDS[name], **override}
        int8_keep_schedule(args.int8_keep_fp32)
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        print(f"crossrank convert: {'--bounds: ' if 'int8-keep-fp32' not in str(error) else ''}{error}", file=sys.stderr)
        return EXIT_USAGE
    src, out = Path(args.model), Path(args.out)
    if not (src / "config.json").exists():
        print(f"crossrank convert: {src} has no config.json (not a Hugging Face model folder)", file=sys.stderr)
        return EXIT_USAGE
    try:
        source_config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"crossrank convert: {src / 'config.json'} is not readable JSON: {error}", file=sys.stderr)
        return EXIT_USAGE
    kind, refusal = model_kind(source_config if isinstance(source_config, dict) else {})
    if refusal is not None:
        print(f"crossrank convert: unsupported model: {refusal}; crossrank refuses models it cannot score as "
              "sentence-transformers 6.2 does (docs/models.md). Nothing was written.", file=sys.stderr)
        return EXIT_UNSUPPORTED
    out.mkdir(parents=True, exist_ok=True)
    # Staged inside OUT_DIR so that each move into place is a rename on one filesystem.
    stage = Path(tempfile.mkdtemp(prefix=".crossrank-convert-", dir=out))
    try:
        if kind != "cross-encoder":
            return convert_llm(args, src, out, stage, kind)
        return convert(args, src, out, stage)
    except Exception as error:  # noqa: BLE001 - one coded line instead of a traceback
        if args.traceback:
            traceback.print_exc()
        if isinstance(error, Unsupported):
            print(f"crossrank convert: unsupported model: {error}; crossrank refuses models it cannot score as "
                  "sentence-transformers 6.2 does (docs/models.md). Nothing was written.", file=sys.stderr)
            return EXIT_UNSUPPORTED
        reason = str(error) if isinstance(error, NotConverted) else f"{type(error).__name__}: {error}"
        print(f"crossrank convert: the model could not be converted: {reason}", file=sys.stderr)
        if not args.traceback:
            print("(run with --traceback for details)", file=sys.stderr)
        return EXIT_NOT_CONVERTED
    finally:
        shutil.rmtree(stage, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
