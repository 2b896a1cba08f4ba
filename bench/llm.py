"""LLM reranker speed beside sentence-transformers (issue 23): Qwen3-Reranker-0.6B shapes with random
weights (28 layers, hidden 1,024, 16 query / 8 KV heads, head_dim 128, FFN 3,072, vocab 151,669,
tied embeddings), 1 query x 20 documents per rerank, same pairs and threads for every system.

    npx tsup && .venv/bin/python bench/llm.py [--threads 2] [--reps 5] [--out bench/results/llm-qwen3-0.6b.md]

Steps: build the random model (PyTorch, fp32) in a work folder; `crossrank convert` it (fp32 score
graph, weight-only int8; the convert's own parity check runs); time sentence-transformers 6.2
CrossEncoder.rank (torch fp32, torch.set_num_threads(threads)) and crossrank rerank (fp32, int8;
bench/llm.mjs, ONNX Runtime with `threads` intra-op threads) on the same 1 x 20 rerank: one warm-up,
then the median of `reps`. int8 stands beside its ranking against fp32 (Spearman, top-10 overlap,
max score difference) on the same pairs, as BENCHMARKS.md asks; random weights rank nothing well,
so that quality row only shows the quantization's effect, not a trained model's.

The tokenizer is the qwen3-causal-tiny fixture's byte-level BPE (the real one cannot be fetched
here); the passages are cut so that each rendered prompt has about the token count the real
Qwen tokenizer gives an MS MARCO pair under the Qwen3-Reranker template (~150 tokens), and both
systems see exactly these ids. Compute depends on shapes and token counts only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "test" / "fixtures" / "models" / "qwen3-causal-tiny"
sys.path.insert(0, str(ROOT / "lib" / "python"))


def build(folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    folder.mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(FIXTURE / f, folder / f)
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text())
    tok_cfg["model_max_length"] = 40960
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
    fixture = json.loads((FIXTURE / "config.json").read_text())
    cfg = Qwen3Config(vocab_size=151669, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                      num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                      tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6,
                      eos_token_id=fixture.get("eos_token_id"), pad_token_id=fixture.get("pad_token_id"))
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).eval().save_pretrained(folder)


def workload(tokenizer_path: Path, template_tokens: int) -> tuple[str, list[str]]:
    """One query and 20 passages from the parity pairs, passages cut to ~150 tokens per prompt."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    pairs = json.loads((ROOT / "test" / "fixtures" / "pairs.json").read_text())["pairs"]
    query = " ".join(pairs[0][0].split()[:6])
    docs = []
    for q, d in pairs[1:]:
        words = (d + " " + q).split()
        # The real Qwen BPE gives an MS MARCO passage (~56 words) about 75 tokens; the fixture's
        # 700-token vocabulary splits words finer, so cut by its own count.
        n = len(words)
        while n > 5 and len(tok.encode(" ".join(words[:n]), add_special_tokens=False).ids) > 150 - template_tokens:
            n -= 3
        docs.append(" ".join(words[:n]))
        if len(docs) == 20:
            break
    return query, docs


def time_st(folder: Path, query: str, docs: list[str], threads: int, reps: int) -> tuple[list[float], list[float]]:
    import torch
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(threads)
    ce = CrossEncoder(str(folder), device="cpu")
    ce.rank(query, docs, batch_size=32)  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        ce.rank(query, docs, batch_size=32)
        times.append(time.perf_counter() - t)
    scores = ce.predict([(query, d) for d in docs], activation_fn=torch.nn.Identity(), batch_size=32).tolist()
    return times, scores


def time_crossrank(folder: Path, precision: str, query: str, docs: list[str], threads: int, reps: int) -> dict:
    spec = json.dumps({"model": str(folder), "precision": precision, "query": query, "docs": docs, "threads": threads, "reps": reps})
    run = subprocess.run(["node", str(ROOT / "bench" / "llm.mjs")], input=spec, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def int8_method(folder: Path) -> str:
    """How convert made the int8 file (crossrank_convert.json), for the table's row name."""
    method = json.loads((folder / "crossrank_convert.json").read_text())["int8_quantization"]["method"]
    return "per-token int8, SmoothQuant" if method.startswith("per-token") else method


def quality(ref: list[float], got: list[float]) -> dict:
    import numpy as np

    sys.path.insert(0, str(ROOT / "lib" / "python"))
    import convert

    top_ref = set(np.argsort(-np.asarray(ref))[:10].tolist())
    top_got = set(np.argsort(-np.asarray(got))[:10].tolist())
    return {"spearman": convert.spearman(ref, got), "top10_overlap": len(top_ref & top_got) / 10,
            "max_abs_diff": float(np.max(np.abs(np.asarray(ref) - np.asarray(got))))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", default=str(ROOT / "build" / "bench-llm"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "llm-qwen3-0.6b.md"))
    args = ap.parse_args()
    import convert

    work = Path(args.work)
    hf, out = work / "hf", work / "crossrank"
    if not (hf / "config.json").exists():
        t = time.perf_counter()
        build(hf)
        print(f"built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if not (out / "onnx" / "model.onnx").exists():
        t = time.perf_counter()
        code = convert.main(["--model", str(hf), "--out", str(out), "--no-fp16", "--queries", "1", "--docs", "8",
                             "--bounds", '{"int8": {"spearman_min": 0.0, "top10_min": 0.0}}'])
        print(f"converted in {time.perf_counter() - t:.0f} s (exit {code})", file=sys.stderr)
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf)
    empty = tokenizer.apply_chat_template([{"role": "query", "content": ""}, {"role": "document", "content": ""}], tokenize=False)
    template_tokens = len(Tokenizer.from_file(str(hf / "tokenizer.json")).encode(empty, add_special_tokens=False).ids)
    query, docs = workload(hf / "tokenizer.json", template_tokens)

    st_times, st_scores = time_st(hf, query, docs, args.threads, args.reps)
    rows = {"sentence-transformers 6.2, torch fp32": {"times": st_times}}
    results = {}
    for precision in ("fp32", "int8"):
        r = time_crossrank(out, precision, query, docs, args.threads, args.reps)
        results[precision] = r
        rows[f"crossrank {precision}" + (f" ({int8_method(out)})" if precision == "int8" else "")] = {"times": r["times"]}
    st_ms = statistics.median(st_times) * 1000
    lines = [
        "# LLM reranker speed: Qwen3-Reranker-0.6B shapes, random weights, 1 x 20 rerank",
        "",
        f"Command: `.venv/bin/python bench/llm.py --threads {args.threads} --reps {args.reps}` (after `npx tsup`)",
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Load average {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} CPUs (above the CPU count, other jobs "
        "shared them: then ratios, not absolute times, carry).",
        f"Pairs: 1 query x 20 passages, prompt lengths {results['fp32']['tokens']} tokens (mean "
        f"{statistics.mean(results['fp32']['tokens']):.0f}); threads {args.threads} for every system; median of {args.reps} after a warm-up.",
        "",
        "| system | ms per 1 x 20 rerank (median) | pairs/s | vs sentence-transformers |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in rows.items():
        ms = statistics.median(row["times"]) * 1000
        lines.append(f"| {name} | {ms:.0f} | {20 / ms * 1000:.2f} | {st_ms / ms:.2f}x |")
    q32 = quality(st_scores, results["fp32"]["logits"])
    q8 = quality(results["fp32"]["logits"], results["int8"]["logits"])
    lines += [
        "",
        "Scores on these 20 pairs (raw logits):",
        f"- crossrank fp32 against sentence-transformers: max |diff| {q32['max_abs_diff']:.2e}, Spearman {q32['spearman']:.4f}.",
        f"- crossrank int8 against crossrank fp32: Spearman {q8['spearman']:.4f}, top-10 overlap {q8['top10_overlap']:.2f}, "
        f"max |diff| {q8['max_abs_diff']:.3f} (random weights: shows the quantization error only; judge int8 on a trained model).",
        "",
        "Raw times (s): " + json.dumps({k: [round(t, 3) for t in v["times"]] for k, v in rows.items()}),
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
