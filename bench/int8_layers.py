"""Where a trained cross-encoder's int8 error comes from, MatMul group by group, and which
mixed-precision candidate keeps its rankings (issue 25 point 1).

    export CROSSRANK_INT8_CACHE=/work/cache/int8-study      # the model int8_study.py trained
    nice -n 10 python bench/int8_layers.py sensitivity       # one group int8 at a time
    nice -n 10 python bench/int8_layers.py candidates --keep 0,2,4,6,8
    nice -n 10 python bench/int8_layers.py score --file X.onnx --name nncf_mixed   # a file made elsewhere

Reuses bench/int8_study.py's model (trained there, cached), its 30 evaluation lists and its
measures. A "group" is the MatMuls that read one activation (a layer's Q/K/V read one input and
share one quantization of it; the attention output, FFN up and FFN down projections are one each):
24 groups on a 6-layer BERT.

sensitivity: for each group, the file where only that group is int8 (per-token, SmoothQuant alpha
picked per group, what convert makes) against fp32 on the sensitivity lists (--lists, default 3 of
the 5 random-word lists, where the logits are most compressed, and the first 2 BEIR queries: 500
pairs, so that 24 files fit in a shared machine's minutes): RMS and
max logit error, Spearman and top-10 min; and the group's simulated relative output error on the
calibration tokens. Writes bench/results/int8-sensitivity.json and -table.md.

candidates: int8 with the K most sensitive groups kept fp32 (K from --keep, order from
sensitivity's logit RMS), on all 30 lists, with batch dependence and a 10-call repeat check.
Merges into bench/results/int8-candidates.json and -table.md. Speeds in this script are
onnxruntime Python, 2 threads, and are only comparable inside one run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "lib" / "python"))

import int8_study as study  # noqa: E402
from quantize import calibrate, quantize_per_token, weight_matmuls  # noqa: E402

LABEL = re.compile(r"layer\.(\d+)/(attention/self|attention/output|intermediate|output)/")
KIND = {"attention/self": "qkv", "attention/output": "attn_out", "intermediate": "ffn_up", "output": "ffn_down"}


def group_label(matmul_names: list[str]) -> str:
    m = LABEL.search(matmul_names[0])
    return f"L{m.group(1)} {KIND[m.group(2)]}" if m else matmul_names[0]


def setup():
    model_dir = study.CACHE / "model"
    fp32 = study.CACHE / "onnx" / "model.onnx"
    if not fp32.exists():
        raise SystemExit(f"{fp32} missing: run bench/int8_study.py first (it trains and exports the model)")
    enc = study.Encoder(model_dir)
    lists = study.eval_lists(model_dir / "tokenizer.json")
    ref_path = study.CACHE / "onnx" / "fp32_logits.npy"
    flat = [(l["query"], d) for l in lists for d in l["docs"]]
    if ref_path.exists():
        ref = np.load(ref_path)
    else:
        ref = study.score(study.session(fp32), enc, flat)
        np.save(ref_path, ref)
    return model_dir, fp32, enc, lists, flat, ref


def list_measures(lists, idx, ref, got) -> dict:
    sp, tp = [], []
    for i in idx:
        a, b = ref[i * 100:(i + 1) * 100], got[i * 100:(i + 1) * 100]
        sp.append(study.spearman(a, b))
        tp.append(study.top10(a, b))
    d = np.concatenate([got[i * 100:(i + 1) * 100] - ref[i * 100:(i + 1) * 100] for i in idx])
    return {"spearman_min": min(sp), "spearman_mean": float(np.mean(sp)), "top10_min": min(tp),
            "top10_mean": float(np.mean(tp)), "rms": float(np.sqrt(np.mean(d ** 2))), "max_abs": float(np.abs(d).max())}


def groups_and_stats(fp32: Path, enc):
    import onnx

    groups = weight_matmuls(onnx.load(str(fp32), load_external_data=False))
    cache = study.CACHE / "onnx" / "calibration_stats.npz"
    names = list(groups)
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        stats = {n: (z[f"amax{i}"], z[f"sample{i}"]) for i, n in enumerate(names)}
    else:
        feeds = study.Reader(enc, study.calibration_pairs()).batches
        stats = calibrate(fp32, feeds, names)
        np.savez(cache, **{f"amax{i}": stats[n][0] for i, n in enumerate(names)},
                 **{f"sample{i}": stats[n][1] for i, n in enumerate(names)})
    return groups, stats


def sensitivity(args) -> int:
    _, fp32, enc, lists, flat, ref = setup()
    groups, stats = groups_and_stats(fp32, enc)
    idx = [int(i) for i in args.lists.split(",")] if args.lists else \
        [i for i, l in enumerate(lists) if l["source"] == "random-words"][:3] + [i for i, l in enumerate(lists) if l["source"] == "beir-query"][:2]
    sub = [p for i in idx for p in flat[i * 100:(i + 1) * 100]]
    sub_ref = np.concatenate([ref[i * 100:(i + 1) * 100] for i in idx])
    all_matmuls = [n.name for ns in groups.values() for n in ns]
    out_path = HERE / "results" / "int8-sensitivity.json"
    rows = json.loads(out_path.read_text())["groups"] if out_path.exists() and (args.resume or args.table_only) else {}
    tmp = study.CACHE / "onnx" / "one_group.onnx"
    for gi, (x, nodes) in enumerate(groups.items()):
        names = [n.name for n in nodes]
        label = group_label(names)
        if label in rows or args.table_only:
            continue
        t0 = time.time()
        made = quantize_per_token(fp32, tmp, smooth_alpha="auto", exclude=[n for n in all_matmuls if n not in names],
                                  stats=stats)
        got = study.score(study.session(tmp), enc, sub)
        local = list_measures(lists, range(len(idx)), sub_ref, got)
        g = made["groups"][0]
        rows[label] = {"matmuls": names, "alpha": g["alpha"], "calibration_error": g["calibration_error"], **local}
        print(f"[{time.strftime('%H:%M:%S')}] {label:12s} rms {local['rms']:.4f} max {local['max_abs']:.3f} "
              f"spearman min {local['spearman_min']:.4f} top10 min {local['top10_min']:.2f} "
              f"cal err {g['calibration_error']:.2e} alpha {g['alpha']} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
        out_path.write_text(json.dumps({"lists": idx, "groups": rows}, indent=2))
    order = sorted(rows, key=lambda k: -rows[k]["rms"])
    md = ["| group (one int8 at a time) | logit RMS | logit max | Spearman min | top-10 min | output error (calibration) | alpha |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k in order:
        r = rows[k]
        md.append(f"| {k} | {r['rms']:.4f} | {r['max_abs']:.3f} | {r['spearman_min']:.4f} | {r['top10_min']:.2f} | "
                  f"{r['calibration_error']:.2e} | {r['alpha']} |")
    (HERE / "results" / "int8-sensitivity-table.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


def repeat_identical(sess, enc, pairs, calls=10) -> bool:
    feed = enc.feeds(pairs)
    first = sess.run(["logits"], feed)[0]
    return all(np.array_equal(first, sess.run(["logits"], feed)[0]) for _ in range(calls - 1))


def evaluate(name, path: Path, desc, lists, flat, ref, enc, speed=True) -> dict:
    sess = study.session(path)
    t0 = time.time()
    got = study.score(sess, enc, flat)
    r = {"description": desc, "file_mb": round(path.stat().st_size / 1e6, 1), "score_s": round(time.time() - t0, 1)}
    r.update(list_measures(lists, range(len(lists)), ref, got))
    per_source: dict = {}
    for i, l in enumerate(lists):
        per_source.setdefault(l["source"], []).append(study.spearman(ref[i * 100:(i + 1) * 100], got[i * 100:(i + 1) * 100]))
    r["spearman_min_by_source"] = {k: min(v) for k, v in per_source.items()}
    r["batch_dep"] = study.batch_dependence(sess, enc, flat)
    r["repeat_identical_10"] = repeat_identical(sess, enc, flat[:32])
    if speed:
        sp_pairs, sp_enc = study.speed_pairs(study.CACHE / "model")
        r["pairs_per_s_shared_load"] = study.speed(sess, sp_enc, sp_pairs, 4.0)
    r["passes"] = bool(r["spearman_min"] >= 0.99 and r["top10_min"] >= 0.90 and r["batch_dep"] <= 1e-5
                       and r["repeat_identical_10"])
    print(f"[{time.strftime('%H:%M:%S')}] {name}: spearman min {r['spearman_min']:.4f} mean {r['spearman_mean']:.4f} "
          f"top10 min {r['top10_min']:.2f} mean {r['top10_mean']:.3f} rms {r['rms']:.4f} batchdep {r['batch_dep']:.1e} "
          f"repeat {r['repeat_identical_10']} speed {r.get('pairs_per_s_shared_load', 0):.1f}", file=sys.stderr, flush=True)
    return r


def save_candidates(results: dict) -> None:
    path = HERE / "results" / "int8-candidates.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(results)
    path.write_text(json.dumps(old, indent=2))
    md = ["| candidate | Spearman min / mean | top-10 min / mean | logit RMS | batch dependence | 10 calls identical | "
          "pairs/s (shared load) | passes (0.99 / 0.90 / 1e-5) |", "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    fp32_speed = old.get("_fp32_pairs_per_s_shared_load")
    if fp32_speed:
        md.append(f"| fp32 | 1 / 1 | 1 / 1 | 0 | 0 | yes | {fp32_speed:.1f} | reference |")
    for k, r in old.items():
        if k.startswith("_"):
            continue
        md.append(f"| {k} | {r['spearman_min']:.4f} / {r['spearman_mean']:.4f} | {r['top10_min']:.2f} / {r['top10_mean']:.3f} | "
                  f"{r['rms']:.4f} | {r['batch_dep']:.1e} | {'yes' if r['repeat_identical_10'] else 'no'} | "
                  f"{r.get('pairs_per_s_shared_load', float('nan')):.1f} | {'yes' if r['passes'] else 'no'} |")
    (HERE / "results" / "int8-candidates-table.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))


def candidates(args) -> int:
    _, fp32, enc, lists, flat, ref = setup()
    groups, stats = groups_and_stats(fp32, enc)
    sens = json.loads((HERE / "results" / "int8-sensitivity.json").read_text())["groups"]
    order = sorted(sens, key=lambda k: -sens[k]["rms"])
    results = {}
    if args.fp32:  # the speed reference only: its scores are `ref`
        sp_pairs, sp_enc = study.speed_pairs(study.CACHE / "model")
        fp32_speed = study.speed(study.session(fp32), sp_enc, sp_pairs, 4.0)
        print(f"fp32: {fp32_speed:.1f} pairs/s (shared load)", file=sys.stderr, flush=True)
        path = HERE / "results" / "int8-candidates.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**old, "_fp32_pairs_per_s_shared_load": fp32_speed}, indent=2))
    for k in [int(x) for x in args.keep.split(",") if x != ""]:
        kept = order[:k]
        name = f"tok_sym_auto_keep{k}"
        out = study.CACHE / "onnx" / f"{name}.onnx"
        quantize_per_token(fp32, out, smooth_alpha="auto", exclude=[m for g in kept for m in sens[g]["matmuls"]], stats=stats)
        results[name] = evaluate(name, out, f"per-token int8 (convert's), the {k} most sensitive groups fp32: {', '.join(kept)}",
                                 lists, flat, ref, enc, speed=not args.no_speed)
        results[name]["kept_fp32"] = kept
        save_candidates(results)
    return 0


def score_file(args) -> int:
    _, _, enc, lists, flat, ref = setup()
    results = {args.name: evaluate(args.name, Path(args.file), args.desc or args.name, lists, flat, ref, enc,
                                   speed=not args.no_speed)}
    save_candidates(results)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["sensitivity", "candidates", "score"])
    ap.add_argument("--lists", default="", help="sensitivity: list indices (default: 3 random-word + 2 BEIR queries)")
    ap.add_argument("--resume", action="store_true", help="sensitivity: keep groups already measured")
    ap.add_argument("--table-only", action="store_true", help="sensitivity: only rewrite the table from the JSON")
    ap.add_argument("--keep", default="0,2,4,6,8", help="candidates: numbers of most sensitive groups kept fp32")
    ap.add_argument("--fp32", action="store_true", help="candidates: also measure fp32 (speed reference)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--file")
    ap.add_argument("--name")
    ap.add_argument("--desc", default="")
    args = ap.parse_args()
    return {"sensitivity": sensitivity, "candidates": candidates, "score": score_file}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
