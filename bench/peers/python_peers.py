"""Python peers of the CPU benchmark, timed with the same protocol as crossrank.

    python bench/peers/python_peers.py JOB.json  > results.json

JOB: {"system": "sentence-transformers" | "st-openvino" | "onnxruntime-python" | "hf-tokenizers",
      "model_dir": ..., "onnx": ..., "threads": N, "int8": bool, "calibration": pairs file (st-openvino int8),
      "workloads": [{"name", "kind": "rerank" | "throughput" | "tokenize", "data": file, "batch_size", "reps"}]}
Prints {"system", "versions", "results": [{"name", "seconds": [...], "items", "scores"?}]}.
Each workload runs once untimed (warm-up), then `reps` timed repetitions ("items" counts one).
A rerank workload also returns "scores": every list's scores, computed once after the timing, so
that bench/run.mjs can set each system's quality (against sentence-transformers torch fp32)
beside its speed.

st-openvino (issue 25) needs optimum-intel[openvino] and nncf, whose pins clash with the reference
venv (optimum-intel 2.2 wants transformers < 5.6): bench/requirements-peers.txt, run with
`npm run bench -- --peers-python VENV/bin/python`.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def plan(w: dict, data: list) -> tuple[list, list[list]]:
    """(warm-up data, data of each timed repetition). With "slices": k, the data is cut into k
    disjoint slices, one per repetition (a 10,000-pair run as 5 x 2,000); otherwise every
    repetition scores all of it."""
    k = w.get("slices")
    if not k:
        return data, [data] * w["reps"]
    size = len(data) // k
    parts = [data[i * size:(i + 1) * size] for i in range(k)]
    return parts[0][: max(1, min(200, size))], parts


def timed(make, w: dict, data: list) -> tuple[list[float], int]:
    warm, parts = plan(w, data)
    make(w, warm)()
    out = []
    for part in parts:
        fn = make(w, part)
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    items = sum(len(s["documents"]) for s in parts[0]) if w["kind"] == "rerank" else len(parts[0])
    return out, items


def rerank_scores(score_list, data) -> list[list[float]]:
    """Each rerank set's scores in document order (score_list(query, documents) -> floats)."""
    return [[float(x) for x in score_list(s["query"], s["documents"])] for s in data]


def sentence_transformers_runner(job):
    import torch
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(job["threads"])
    torch.set_num_interop_threads(1)
    device = job.get("device", "cpu")
    ce = CrossEncoder(job["model_dir"], device=device)
    if job.get("fp16"):
        ce.half()

    def make(w, data):
        bs = w["batch_size"]
        if w["kind"] == "rerank":
            return lambda: [ce.rank(s["query"], s["documents"], batch_size=bs) for s in data]
        pairs = [tuple(p) for p in data]

        def run():
            ce.predict(pairs, batch_size=bs, show_progress_bar=False)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        return run

    import sentence_transformers

    versions = {"sentence-transformers": sentence_transformers.__version__, "torch": torch.__version__}
    if device.startswith("cuda"):
        versions["gpu"] = torch.cuda.get_device_name(0)
    make.scores = lambda data: rerank_scores(lambda q, docs: ce.predict([(q, d) for d in docs], batch_size=32), data)
    return make, versions


OV_INT8_SUFFIX = "qint8_quantized"  # export_static_quantized_openvino_model's default file_suffix


def export_openvino_int8(model_dir: str, calibration_file: str, samples: int = 128) -> None:
    """sentence-transformers' export_static_quantized_openvino_model (nncf post-training static int8:
    OVQuantizationConfig's defaults, i.e. nncf's "mixed" preset for transformers and SmoothQuant alpha
    0.95), calibrated on `samples` local pairs instead of the GLUE/SST-2 download it makes by default.
    The pairs are tokenized as its own preprocess_function does (padding to max_length 384), but as
    (query, passage) pairs, the input a cross-encoder sees."""
    from datasets import Dataset
    from optimum.intel.openvino import OVQuantizationConfig, OVQuantizer
    from sentence_transformers import CrossEncoder
    from sentence_transformers.backend import export_static_quantized_openvino_model

    pairs = json.load(open(calibration_file, encoding="utf-8"))[:samples]
    ce = CrossEncoder(model_dir, backend="openvino", device="cpu")
    enc = ce.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding="max_length", max_length=384, truncation=True)
    local = Dataset.from_dict(dict(enc))
    original = OVQuantizer.get_calibration_dataset
    OVQuantizer.get_calibration_dataset = lambda self, *a, **k: local  # no dataset download
    try:
        export_static_quantized_openvino_model(ce, OVQuantizationConfig(num_samples=len(pairs)), model_dir,
                                               file_suffix=OV_INT8_SUFFIX)
    finally:
        OVQuantizer.get_calibration_dataset = original


def precision_name(t) -> str:
    """openvino.Type -> 'bf16' / 'f32' (its to_string()), whatever the binding returns."""
    return t.to_string() if hasattr(t, "to_string") else str(t)


def openvino_runner(job):
    """sentence-transformers CrossEncoder(backend="openvino"): fp32 weights at the CPU plugin's default
    inference precision (bf16 where the CPU has AVX512-BF16 or AMX), or with job["int8"] the static
    int8 file of export_openvino_int8(). Threads: INFERENCE_NUM_THREADS, as every other system's."""
    from pathlib import Path

    from importlib.metadata import version

    import openvino as ov
    import sentence_transformers
    import torch
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(job["threads"])
    model_dir = job["model_dir"]
    kwargs = {"ov_config": {"INFERENCE_NUM_THREADS": job["threads"], "PERFORMANCE_HINT": "LATENCY"}}
    if job["system"] == "st-openvino-f32":
        # the same backend told to keep fp32: how much of its speed is bf16's
        kwargs["ov_config"]["INFERENCE_PRECISION_HINT"] = "f32"
    if job.get("int8"):
        xml = Path(model_dir) / "openvino" / f"openvino_model_{OV_INT8_SUFFIX}.xml"
        if not xml.exists():
            export_openvino_int8(model_dir, job["calibration"])
        kwargs["file_name"] = str(xml.relative_to(model_dir))
    ce = CrossEncoder(model_dir, backend="openvino", device="cpu", model_kwargs=kwargs)

    def make(w, data):
        bs = w["batch_size"]
        if w["kind"] == "rerank":
            return lambda: [ce.rank(s["query"], s["documents"], batch_size=bs) for s in data]
        pairs = [tuple(p) for p in data]
        return lambda: ce.predict(pairs, batch_size=bs, show_progress_bar=False)

    make.scores = lambda data: rerank_scores(lambda q, docs: ce.predict([(q, d) for d in docs], batch_size=32), data)
    ov_model = ce.transformers_model
    ov_model.compile()
    compiled = ov_model.request.get_compiled_model() if hasattr(ov_model.request, "get_compiled_model") else ov_model.request
    versions = {"openvino": ov.__version__, "optimum-intel": version("optimum-intel"), "nncf": version("nncf"),
                "sentence-transformers (openvino venv)": sentence_transformers.__version__,
                "openvino inference precision": precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))}
    return make, versions


def onnxruntime_runner(job):
    """What a Python user picks for speed: HF tokenizers + ONNX Runtime on the same ONNX file.
    As "ort-openvino-ep": the same, through ONNX Runtime's OpenVINO execution provider (the
    onnxruntime-openvino wheel) on the CPU at its default precision, with its own thread count."""
    import numpy as np
    import onnxruntime as ort
    import tokenizers
    from tokenizers import Tokenizer
    from importlib.metadata import version

    tok = Tokenizer.from_file(os.path.join(job["model_dir"], "tokenizer.json"))
    tok.enable_truncation(512)
    tok.enable_padding()
    so = ort.SessionOptions()
    so.intra_op_num_threads = job["threads"]
    so.inter_op_num_threads = 1
    versions = {"onnxruntime": ort.__version__, "tokenizers": tokenizers.__version__}
    if job["system"] == "ort-openvino-ep":
        providers = [("OpenVINOExecutionProvider", {"device_type": "CPU", "num_of_threads": str(job["threads"])})]
        versions = {"onnxruntime-openvino": version("onnxruntime-openvino"), "tokenizers (ortov venv)": tokenizers.__version__}
    else:
        providers = ["CPUExecutionProvider"]
    sess = ort.InferenceSession(job["onnx"], so, providers=providers)
    if job["system"] == "ort-openvino-ep" and sess.get_providers()[0] != "OpenVINOExecutionProvider":
        raise RuntimeError(f"the OpenVINO EP was not used: {sess.get_providers()}")
    names = {i.name for i in sess.get_inputs()}

    def score(pairs, bs):
        out = []
        for i in range(0, len(pairs), bs):
            enc = tok.encode_batch(pairs[i:i + bs])
            feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
            logits = sess.run(None, feed)[0]
            out.append(1 / (1 + np.exp(-logits[:, 0])))
        return np.concatenate(out)

    def make(w, data):
        bs = w["batch_size"]
        if w["kind"] == "rerank":
            return lambda: [np.argsort(-score([(s["query"], d) for d in s["documents"]], bs)) for s in data]
        pairs = [tuple(p) for p in data]
        return lambda: score(pairs, bs)

    make.scores = lambda data: rerank_scores(lambda q, docs: score([(q, d) for d in docs], 32), data)
    return make, versions


def hf_tokenizers_runner(job):
    import tokenizers
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(job["model_dir"], "tokenizer.json"))
    tok.enable_truncation(512)

    def make(w, data):
        pairs = [tuple(p) for p in data]
        return lambda: tok.encode_batch(pairs)

    return make, {"tokenizers": tokenizers.__version__}


RUNNERS = {
    "sentence-transformers": sentence_transformers_runner,
    "st-openvino": openvino_runner,
    "st-openvino-f32": openvino_runner,
    "ort-openvino-ep": onnxruntime_runner,
    "onnxruntime-python": onnxruntime_runner,
    "hf-tokenizers": hf_tokenizers_runner,
}


def main() -> int:
    job = json.load(open(sys.argv[1], encoding="utf-8"))
    # stdout carries the one JSON result: what libraries print there (nncf's progress bars) goes to
    # stderr, at the file-descriptor level so that native code's prints follow too
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    make, versions = RUNNERS[job["system"]](job)
    results = []
    for w in job["workloads"]:
        data = json.load(open(w["data"], encoding="utf-8"))
        seconds, items = timed(make, w, data)
        results.append({"name": w["name"], "seconds": seconds, "items": items})
        if w["kind"] == "rerank" and hasattr(make, "scores"):
            results[-1]["scores"] = make.scores(data)
        print(f"{job['system']}: {w['name']} done", file=sys.stderr)
    sys.stdout.flush()
    os.dup2(result_fd, 1)
    json.dump({"system": job["system"], "versions": versions, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
