"""sentence-transformers' OpenVINO backends on the int8 study's trained reranker, judged as crossrank's int8 was.

    cd REPO && CROSSRANK_INT8_CACHE=/work/cache/int8-study \\
        nice -n 10 .venv-peers/bin/python bench/int8_openvino_trained.py [--rows a,b] [--speed-seconds 6]

Runs in the venv of bench/requirements-peers.txt (sentence-transformers 6.2, openvino, nncf,
optimum-intel; torch and onnxruntime are there too). Needs the trained MiniLM-L6 reranker that
bench/int8_study.py made under $CROSSRANK_INT8_CACHE/model (and its fp32 ONNX, onnx/model.onnx, for the
onnxruntime row).

The question: does sentence-transformers' own static int8 for OpenVINO
(export_static_quantized_openvino_model: nncf post-training quantization, "mixed" preset, SmoothQuant
0.95, OVQuantizationConfig's defaults) keep this model's rankings where the ONNX-backend nncf file
(nncf_mixed_sq095, Spearman min 0.963) did not? The int8 IR is made by
bench/peers/python_peers.py's export_openvino_int8 (the bench's recipe: 128 local calibration pairs,
no dataset download), calibrated on the study's calibration_pairs(128), which are disjoint from the
evaluation lists. Model copies and IR files go to $CROSSRANK_INT8_CACHE/openvino-trained/ (outside git).

Rows, each on the study's 30 evaluation lists x 100 passages (int8_study.eval_lists), inputs tokenized
by the study's Encoder (MAX_LEN 128, longest_first) and fed straight to each model, so that every row
sees the same token ids:
- torch fp32: transformers' BertForSequenceClassification, 2 threads: the reference;
- onnxruntime fp32: the study's fp32 ONNX file (what crossrank's int8 was judged against);
- st-openvino default: CrossEncoder(backend="openvino"), the CPU plugin's default inference precision
  (bf16 on CPUs with AVX512-BF16 or AMX; the precision it picked is in the table);
- st-openvino f32: the same with INFERENCE_PRECISION_HINT f32;
- st-openvino static int8: the int8 IR, default precision (what a sentence-transformers user gets);
- st-openvino static int8, f32 hint: the int8 IR with the non-int8 ops kept fp32 (int8's own error);
- crossrank fp32 / fp32 plain / int8: the addon (bench/peers/crossrank_lines.mjs, one process per row) on
  the folder `node dist/cli.js convert --model $CROSSRANK_INT8_CACHE/model --out
  $CROSSRANK_INT8_CACHE/crossrank-convert` made: its default fp32 load (the fused model_optimized.onnx),
  its plain model.onnx, and precision 'int8'. crossrank tokenizes the text itself (same tokenizer.json,
  maxLength 128, longest_first as the Encoder) and batches as it does by default; each call carries
  the same 32 pairs as the other rows' batches, plus a JSON line each way.
Measures against torch fp32 (int8_layers.list_measures): per-list Spearman and top-10 overlap (min,
mean), logit RMS and max abs difference; batch dependence (int8_study.batch_dependence: 8 probe pairs
alone vs inside a batch of 64 with random companions, max abs logit difference); 10 identical calls
bit-identical (int8_layers.repeat_identical); speed (int8_study.speed: pairs/s, batch 32, MS MARCO-like
64-96 token pairs, 2 threads; OpenVINO: INFERENCE_NUM_THREADS 2, PERFORMANCE_HINT LATENCY as in
python_peers.py). Bounds: Spearman min >= 0.99, top-10 min >= 0.90, batch dependence <= 1e-5, 10 calls
identical. The same rank measures against the onnxruntime fp32 logits are in the JSON
("vs_onnxruntime_fp32").

Writes bench/results/int8-openvino-trained.json and bench/results/int8-openvino-trained.md; prints the
CPU model and flags and the package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

import int8_study as study  # noqa: E402
from int8_layers import list_measures, repeat_identical  # noqa: E402
from python_peers import OV_INT8_SUFFIX, export_openvino_int8, precision_name  # noqa: E402

THREADS = study.THREADS
OV_DIR = study.CACHE / "openvino-trained"  # a copy of the model: the int8 export writes into its folder
CAL_FILE = OV_DIR / "calibration-128.json"
CAL_SAMPLES = 128
BOUNDS = {"spearman_min": 0.99, "top10_min": 0.90, "batch_dep_max": 1e-5}
OUT_JSON = HERE / "results" / "int8-openvino-trained.json"
OUT_MD = HERE / "results" / "int8-openvino-trained.md"
COMMAND = ("CROSSRANK_INT8_CACHE=/work/cache/int8-study nice -n 10 .venv-peers/bin/python "
           "bench/int8_openvino_trained.py")  # main() appends the arguments this run was given


def log(m):
    print(f"[{time.strftime('%H:%M:%S')}] {m}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- sessions with the study's run(names, feeds)

class TorchSession:
    def __init__(self, model_dir: Path):
        import torch
        from transformers import AutoModelForSequenceClassification

        torch.set_num_threads(THREADS)
        self.torch = torch
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
        self.precision = "f32"

    def run(self, _names, feeds):
        with self.torch.inference_mode():
            out = self.model(**{k: self.torch.from_numpy(v) for k, v in feeds.items()}).logits
        return [out.float().numpy()]


class OVSession:
    """sentence-transformers CrossEncoder(backend="openvino"); run() feeds its OVModelForSequenceClassification."""

    def __init__(self, model_dir: Path, f32=False, int8=False):
        from sentence_transformers import CrossEncoder

        ov_config = {"INFERENCE_NUM_THREADS": THREADS, "PERFORMANCE_HINT": "LATENCY"}
        if f32:
            ov_config["INFERENCE_PRECISION_HINT"] = "f32"
        kwargs = {"ov_config": ov_config}
        if int8:
            kwargs["file_name"] = f"openvino/openvino_model_{OV_INT8_SUFFIX}.xml"
        self.ce = CrossEncoder(str(model_dir), backend="openvino", device="cpu", model_kwargs=kwargs)
        self.model = self.ce.transformers_model
        self.model.compile()
        req = self.model.request
        compiled = req.get_compiled_model() if hasattr(req, "get_compiled_model") else req
        self.precision = precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.names = set(self.model.input_names)

    def run(self, _names, feeds):
        out = self.model(**{k: v for k, v in feeds.items() if k in self.names}).logits
        return [np.asarray(out, dtype=np.float32)]


class CrossrankSession:
    """crossrank (the addon, through bench/peers/crossrank_lines.mjs) on the folder `crossrank convert`
    made from the trained model. crossrank tokenizes text itself, so this session is fed text:
    TextEncoder.feeds() passes the pairs through, run() returns crossrank's logits [n, 1]."""

    def __init__(self, folder: Path, options: dict):
        import subprocess

        if not (folder / "crossrank_convert.json").exists():
            raise SystemExit(f"{folder} missing: node dist/cli.js convert --model {study.CACHE / 'model'} --out {folder}")
        self.proc = subprocess.Popen(["node", str(HERE / "peers" / "crossrank_lines.mjs"), str(folder),
                                      json.dumps({"maxLength": study.MAX_LEN, "threads": THREADS, **options})],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.loaded = json.loads(self.proc.stdout.readline())
        # modelFile names the file (no precisionChoice): the file name says its precision
        chosen = self.loaded["precisionChoice"]
        self.precision = chosen["chosen"] if chosen else ("int8" if "quantized" in options.get("modelFile", "") else "fp32")
        self.encoder = TextEncoder()

    def run(self, _names, feeds):
        self.proc.stdin.write(json.dumps(feeds["pairs"]) + "\n")
        return [np.asarray(json.loads(self.proc.stdout.readline()), dtype=np.float32)[:, None]]

    def __del__(self):
        if getattr(self, "proc", None) and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


class TextEncoder:
    """The study's Encoder interface for a session that tokenizes itself: feeds() keeps the text;
    input_ids holds only the batch size (study.speed counts rows by it)."""

    def feeds(self, pairs):
        pairs = [list(p) for p in pairs]
        return {"pairs": pairs, "input_ids": np.zeros((len(pairs), 1), dtype=np.int64)}


class OrtSession:
    def __init__(self, onnx_path: Path):
        self.sess = study.session(onnx_path)
        self.precision = "f32"

    def run(self, names, feeds):
        return self.sess.run(names, feeds)


# ---------------------------------------------------------------- setup

def prepare_model() -> None:
    """Copy the trained model beside its IR files (never inside git), and write the calibration pairs."""
    src = study.CACHE / "model"
    if not (src / "model.safetensors").exists():
        raise SystemExit(f"{src} missing: run bench/int8_study.py first (it trains the model)")
    OV_DIR.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and not (OV_DIR / f.name).exists():
            shutil.copy2(f, OV_DIR / f.name)
    if not CAL_FILE.exists():
        # python_peers' calibration file: a JSON list of [query, passage]
        CAL_FILE.write_text(json.dumps([list(p) for p in study.calibration_pairs(CAL_SAMPLES)]), encoding="utf-8")


def build_int8() -> float:
    xml = OV_DIR / "openvino" / f"openvino_model_{OV_INT8_SUFFIX}.xml"
    if xml.exists():  # made by an earlier run: its time, if that run recorded it
        try:
            return json.loads(OUT_JSON.read_text())["int8_build_s"]
        except (OSError, KeyError, ValueError):
            return None
    t0 = time.time()
    # nncf prints progress bars to stdout: keep stdout for this script's own lines
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        export_openvino_int8(str(OV_DIR), str(CAL_FILE), samples=CAL_SAMPLES)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    if not xml.exists():
        raise SystemExit(f"export_static_quantized_openvino_model did not write {xml}")
    return round(time.time() - t0, 1)


def cpu_info() -> dict:
    flags = []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            break
    wanted = [f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "avx_vnni", "fma")]
    info = {"cpu": study.cpu_model(), "nproc": os.cpu_count(), "flags": wanted}
    try:
        import openvino as ov

        core = ov.Core()
        info["openvino_cpu_capabilities"] = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception as error:  # noqa: BLE001
        info["openvino_cpu_capabilities"] = repr(error)[:200]
    return info


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for p in ("sentence-transformers", "openvino", "optimum-intel", "nncf", "transformers", "torch", "onnxruntime",
              "numpy", "tokenizers"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


# ---------------------------------------------------------------- rows

ROWS = {
    "torch_fp32": "torch fp32 (transformers BertForSequenceClassification): the reference",
    "ort_fp32": "onnxruntime fp32, the study's model.onnx (what crossrank's int8 was judged against)",
    "ov_default": 'st-openvino default: CrossEncoder(backend="openvino"), the CPU plugin\'s default precision',
    "ov_f32": "st-openvino, INFERENCE_PRECISION_HINT f32",
    "ov_int8": "st-openvino static int8 (export_static_quantized_openvino_model: nncf mixed, SmoothQuant 0.95, "
               "128 local pairs), default precision",
    "ov_int8_f32": "st-openvino static int8, INFERENCE_PRECISION_HINT f32 (non-int8 ops fp32)",
    "crossrank_fp32": "crossrank fp32, the default load of the converted folder (its fused model_optimized.onnx)",
    "crossrank_fp32_plain": "crossrank fp32, the converted folder's plain onnx/model.onnx",
    "crossrank_int8": "crossrank int8 (precision 'int8': convert's per-token int8, all groups int8, which passed convert's gate on its own 512 parity pairs)",
    **{f"crossrank_int8_keep{k}": f"crossrank int8 with the {k} most sensitive MatMul groups fp32 "
                                  f"(`crossrank convert --int8-keep-fp32 {k}`'s file, by bench/int8_keep_files.py)"
       for k in (2, 4, 6)},
    **{f"crossrank_int8_hybrid_keep{k}": f"crossrank int8 hybrid: static activation scales where they are as good, per-token rows "
                                         f"elsewhere, {k} groups fp32 (`crossrank convert --int8 hybrid --int8-keep-fp32 {k}`'s "
                                         f"file, by bench/int8_keep_files.py --hybrid)"
       for k in (0, 2)},
}
CROSSRANK_DIR = study.CACHE / "crossrank-convert"  # node dist/cli.js convert --model $CACHE/model --out it
CROSSRANK_OPTIONS = {"crossrank_fp32": {}, "crossrank_fp32_plain": {"modelFile": "onnx/model.onnx"},
                     "crossrank_int8": {"precision": "int8"},
                     **{f"crossrank_int8_keep{k}": {"modelFile": f"onnx/model_quantized_keep{k}.onnx"} for k in (2, 4, 6)},
                     **{f"crossrank_int8_hybrid_keep{k}": {"modelFile": f"onnx/model_quantized_hybrid_keep{k}.onnx"} for k in (0, 2)}}


def make_session(name: str):
    if name == "torch_fp32":
        return TorchSession(study.CACHE / "model")
    if name == "ort_fp32":
        return OrtSession(study.CACHE / "onnx" / "model.onnx")
    if name in CROSSRANK_OPTIONS:
        return CrossrankSession(CROSSRANK_DIR, CROSSRANK_OPTIONS[name])
    return OVSession(OV_DIR, f32=name.endswith("f32"), int8="int8" in name)


def measure(name, sess, lists, flat, ref, ort_ref, sp_pairs, sp_enc, seconds) -> tuple[np.ndarray, dict]:
    enc = getattr(sess, "encoder", ENC)  # crossrank tokenizes the text itself
    sp_enc = getattr(sess, "encoder", sp_enc)
    t0 = time.time()
    got = study.score(sess, enc, flat)
    r = {"description": ROWS[name], "precision": sess.precision, "score_s": round(time.time() - t0, 1)}
    np.save(OV_DIR / f"logits-{name}.npy", got)
    if ref is not None:
        r.update(list_measures(lists, range(len(lists)), ref, got))
        # RMS counts a constant shift that no ranking sees: how much of it is one
        r["mean_shift"] = float(np.mean(got - ref))
        r["diff_std"] = float(np.std(got - ref))
        per_source: dict = {}
        for i, l in enumerate(lists):
            per_source.setdefault(l["source"], []).append(study.spearman(ref[i * 100:(i + 1) * 100], got[i * 100:(i + 1) * 100]))
        r["spearman_min_by_source"] = {k: min(v) for k, v in per_source.items()}
    if ort_ref is not None:
        r["vs_onnxruntime_fp32"] = list_measures(lists, range(len(lists)), ort_ref, got)
    r["batch_dep"] = study.batch_dependence(sess, enc, flat)
    r["repeat_identical_10"] = repeat_identical(sess, enc, flat[:32])
    r["pairs_per_s"] = study.speed(sess, sp_enc, sp_pairs, seconds)
    if ref is not None:
        r["passes"] = bool(r["spearman_min"] >= BOUNDS["spearman_min"] and r["top10_min"] >= BOUNDS["top10_min"]
                           and r["batch_dep"] <= BOUNDS["batch_dep_max"] and r["repeat_identical_10"])
    return got, r


def table(doc) -> str:
    rows = doc["rows"]
    base = rows.get("torch_fp32", {}).get("pairs_per_s")
    md = [f"# crossrank and sentence-transformers' CPU backends on the int8 study's trained MiniLM-L6 reranker",
          "",
          f"`{COMMAND}` ({doc['date']}). CPU: {doc['cpu']['cpu']}, {doc['cpu']['nproc']} cores, flags "
          f"{' '.join(doc['cpu']['flags'])}; OpenVINO CPU capabilities {doc['cpu']['openvino_cpu_capabilities']}. "
          + ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if v) + ".",
          "",
          "30 lists x 100 passages (bench/int8_study.py eval_lists), the study's tokens (MAX_LEN 128), against torch "
          f"fp32. int8 calibrated on {CAL_SAMPLES} of the study's calibration pairs (disjoint from the lists). "
          "Speed: pairs/s, batch 32, 64-96 token pairs, 2 threads, "
          f"{'on a shared, loaded machine' if doc.get('shared_load') else 'quiet machine'}: compare rows of this "
          "run only.",
          "",
          "| row | precision | Spearman min / mean | top-10 min / mean | logit RMS (mean shift) | batch dependence | "
          "10 calls identical | pairs/s | x torch fp32 | passes (0.99 / 0.90 / 1e-5) |",
          "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
    for name, r in rows.items():
        if "error" in r:
            md.append(f"| {name} | | could not be made: {r['error'][:100]} | | | | | | | |")
            continue
        ratio = f"{r['pairs_per_s'] / base:.2f}" if base else ""
        if name == "torch_fp32":
            ranks, passes = "1 / 1 | 1 / 1 | 0", "reference"
            ranks += f" (logits {r['logit_range'][0]:.2f} .. {r['logit_range'][1]:.2f})"
        else:
            ranks = (f"{r['spearman_min']:.4f} / {r['spearman_mean']:.4f} | {r['top10_min']:.2f} / {r['top10_mean']:.3f} | "
                     f"{r['rms']:.4f} ({r['mean_shift']:+.4f})")
            passes = "yes" if r["passes"] else "no"
        md.append(f"| {name}: {r['description']} | {r['precision']} | {ranks} | {r['batch_dep']:.1e} | "
                  f"{'yes' if r['repeat_identical_10'] else 'no'} | {r['pairs_per_s']:.1f} | {ratio} | {passes} |")
    vs = [(n, r["vs_onnxruntime_fp32"]) for n, r in rows.items() if "vs_onnxruntime_fp32" in r and n != "ort_fp32"]
    if vs:
        md += ["", "Against the onnxruntime fp32 logits instead (the study's reference for crossrank's int8):", "",
               "| row | Spearman min / mean | top-10 min / mean | logit RMS |", "| --- | ---: | ---: | ---: |"]
        md += [f"| {n} | {v['spearman_min']:.4f} / {v['spearman_mean']:.4f} | {v['top10_min']:.2f} / {v['top10_mean']:.3f} | "
               f"{v['rms']:.4f} |" for n, v in vs]
    if doc.get("int8_build_s"):
        md += ["", f"int8 export (nncf, 128 pairs at 384 tokens) took {doc['int8_build_s']} s."]
    return "\n".join(md) + "\n"


def write(doc) -> None:
    OUT_JSON.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    OUT_MD.write_text(table(doc), encoding="utf-8")


ENC = None


def main() -> int:
    global ENC
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    ap.add_argument("--speed-seconds", type=float, default=6.0)
    ap.add_argument("--suffix", default="", help="write int8-openvino-trained<SUFFIX>.json/.md (a run of some rows "
                                               "beside the full one, whose speeds it must not be mixed with)")
    args = ap.parse_args()
    global OUT_JSON, OUT_MD
    OUT_JSON = HERE / "results" / f"int8-openvino-trained{args.suffix}.json"
    OUT_MD = HERE / "results" / f"int8-openvino-trained{args.suffix}.md"
    global COMMAND
    COMMAND = " ".join([COMMAND, *sys.argv[1:]])
    wanted = [r for r in args.rows.split(",") if r]
    cpu, vers = cpu_info(), versions()
    print(f"CPU: {cpu['cpu']} ({cpu['nproc']} cores), flags: {' '.join(cpu['flags'])}")
    print(f"OpenVINO CPU capabilities: {cpu['openvino_cpu_capabilities']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    prepare_model()
    model_dir = study.CACHE / "model"
    ENC = study.Encoder(model_dir)
    lists = study.eval_lists(model_dir / "tokenizer.json")
    flat = [(l["query"], d) for l in lists for d in l["docs"]]
    sp_pairs, sp_enc = study.speed_pairs(model_dir)
    load = os.getloadavg()[0]
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": COMMAND, "cpu": cpu, "versions": vers,
           "threads": THREADS, "max_len": study.MAX_LEN, "calibration_samples": CAL_SAMPLES, "bounds": BOUNDS,
           "load_average_at_start": load, "shared_load": load > 1.5 * (os.cpu_count() or 1),
           "int8_build_s": None, "rows": {}}
    if any("int8" in w for w in wanted):
        log("int8 export (export_static_quantized_openvino_model via python_peers.export_openvino_int8)")
        doc["int8_build_s"] = build_int8()
        log(f"int8 export: {doc['int8_build_s']} s")
    ref = ort_ref = None
    order = ["torch_fp32"] + [w for w in wanted if w != "torch_fp32"]
    for name in order:
        log(f"{name}: {ROWS[name]}")
        try:
            sess = make_session(name)
        except Exception as error:  # noqa: BLE001 - a row that cannot be made is reported, not fatal
            doc["rows"][name] = {"description": ROWS[name], "error": repr(error)[:300]}
            log(f"{name}: FAILED {error!r}")
            continue
        got, r = measure(name, sess, lists, flat, ref if name != "torch_fp32" else None,
                         ort_ref if name not in ("torch_fp32", "ort_fp32") else None, sp_pairs, sp_enc, args.speed_seconds)
        if name == "torch_fp32":
            ref = got
            r["logit_range"] = [float(got.min()), float(got.max())]
        if name == "ort_fp32":
            ort_ref = got
        doc["rows"][name] = r
        del sess
        print(f"{name} [{r['precision']}]: " + (f"spearman min {r['spearman_min']:.4f} mean {r['spearman_mean']:.4f} "
              f"top10 min {r['top10_min']:.2f} mean {r['top10_mean']:.3f} rms {r['rms']:.4f} " if "rms" in r else "")
              + f"batchdep {r['batch_dep']:.1e} identical {r['repeat_identical_10']} {r['pairs_per_s']:.1f} pairs/s"
              + (f" passes {r['passes']}" if "passes" in r else ""), flush=True)
        write(doc)  # partial results survive a stop
    write(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
