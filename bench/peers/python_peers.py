"""Python peers of the CPU benchmark, timed with the same protocol as crossrank.

    python bench/peers/python_peers.py JOB.json  > results.json

JOB: {"system": "sentence-transformers" | "onnxruntime-python" | "hf-tokenizers",
      "model_dir": ..., "onnx": ..., "threads": N,
      "workloads": [{"name", "kind": "rerank" | "throughput" | "tokenize", "data": file, "batch_size", "reps"}]}
Prints {"system", "versions", "results": [{"name", "seconds": [...], "items"}]}.
Each workload runs once untimed (warm-up), then `reps` timed repetitions ("items" counts one).
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
    return make, versions


def onnxruntime_runner(job):
    """What a Python user picks for speed: HF tokenizers + ONNX Runtime on the same ONNX file."""
    import numpy as np
    import onnxruntime as ort
    import tokenizers
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(job["model_dir"], "tokenizer.json"))
    tok.enable_truncation(512)
    tok.enable_padding()
    so = ort.SessionOptions()
    so.intra_op_num_threads = job["threads"]
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(job["onnx"], so, providers=["CPUExecutionProvider"])
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

    return make, {"onnxruntime": ort.__version__, "tokenizers": tokenizers.__version__}


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
    "onnxruntime-python": onnxruntime_runner,
    "hf-tokenizers": hf_tokenizers_runner,
}


def main() -> int:
    job = json.load(open(sys.argv[1], encoding="utf-8"))
    make, versions = RUNNERS[job["system"]](job)
    results = []
    for w in job["workloads"]:
        data = json.load(open(w["data"], encoding="utf-8"))
        seconds, items = timed(make, w, data)
        results.append({"name": w["name"], "seconds": seconds, "items": items})
        print(f"{job['system']}: {w['name']} done", file=sys.stderr)
    json.dump({"system": job["system"], "versions": versions, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
