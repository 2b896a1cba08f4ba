"""Issue 25's fusion round: per-op profile, interleaved speed, and difference/batch dependence of ONNX files
in ONNX Runtime Python (2 threads, ORT_ENABLE_ALL as crossrank runs it), on MS MARCO-like batches of 32.

    nice -n 10 python bench/int8_fusion_check.py ops|prof|speed|cmp FILE [FILE ...]

ops: op types after ONNX Runtime's session optimizer; speed: interleaved rounds, median pairs/s,
ratio to the first file; cmp: max |logit difference| to the first file and batch dependence.
"""
import sys, json, time, tempfile, collections, statistics
from pathlib import Path
HERE = Path(__file__).resolve().parent
import numpy as np
sys.path.insert(0, str(HERE)); sys.path.insert(0, str(HERE.parent / "lib" / "python"))
import onnxruntime as ort
import onnx

def pairs_feeds(model_dir=HERE / ".cache" / "models" / "minilm-l6", n=192):
    import int8_study as st
    pairs, enc = st.speed_pairs(Path(model_dir), n=n)
    return [enc.feeds(pairs[i:i+32]) for i in range(0, len(pairs), 32)]

def sess(path, prof=False, opt_out=None):
    so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if prof:
        so.enable_profiling = True; so.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    if opt_out: so.optimized_model_filepath = opt_out
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

def feedfor(s, f):
    names = {i.name for i in s.get_inputs()}
    return {k: v for k, v in f.items() if k in names}

def ops(path):
    out = str(Path(tempfile.mkdtemp()) / "optimized.onnx"); sess(path, opt_out=out)
    m = onnx.load(out, load_external_data=False)
    return collections.Counter(n.op_type for n in m.graph.node).most_common()

def profile(path, feeds):
    s = sess(path, prof=True)
    for f in feeds[:2]: s.run(None, feedfor(s, f))
    for f in feeds: s.run(None, feedfor(s, f))
    ev = json.loads(Path(s.end_profiling()).read_text())
    per = collections.defaultdict(float); runs = []
    for e in ev:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"): per[e["args"]["op_name"]] += e["dur"]
        elif e.get("cat") == "Session" and e["name"] == "model_run": runs.append(e["dur"])
    sc = (len(runs) - 2) / len(runs)
    tot = sum(per.values()) * sc
    print(f"== {path}: kernels {tot/1e3/len(feeds):.1f} ms/batch32")
    for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {k:24s} {v*sc/1e3/len(feeds):7.2f} ms {100*v*sc/tot:5.1f}%")

def speed(paths, feeds, rounds=7, secs=2.0):
    ss = [sess(p) for p in paths]
    for s in ss:
        for f in feeds: s.run(None, feedfor(s, f))
    res = [[] for _ in paths]
    for r in range(rounds):
        for i, s in enumerate(ss):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < secs:
                for f in feeds: s.run(None, feedfor(s, f)); n += len(f["input_ids"])
            res[i].append(n / (time.perf_counter() - t0))
    base = statistics.median(res[0])
    import os
    print("load", os.getloadavg())
    for p, r in zip(paths, res):
        m = statistics.median(r); print(f"  {m:7.1f} pairs/s  x{m/base:.3f}  {p}")

def outputs(path, feeds):
    s = sess(path); return np.concatenate([s.run(None, feedfor(s, f))[0][:, 0] for f in feeds])

def batchdep(path, feeds):
    s = sess(path); f = feeds[0]; full = s.run(None, feedfor(s, f))[0][:, 0]; mv = 0
    for i in range(0, 32, 4):
        n = int(f["attention_mask"][i].sum()); one = {k: v[i:i+1, :n] for k, v in f.items()}
        mv = max(mv, abs(float(s.run(None, feedfor(s, one))[0][0, 0] - full[i])))
    return mv

if __name__ == "__main__":
    cmd, *files = sys.argv[1:]
    if cmd == "ops":
        for p in files: print(p, ops(p))
    else:
        feeds = pairs_feeds()
        if cmd == "prof":
            for p in files: profile(p, feeds)
        elif cmd == "speed": speed(files, feeds)
        elif cmd == "cmp":
            ref = outputs(files[0], feeds)
            for p in files[1:]:
                print(p, "max|diff| vs first", float(np.abs(outputs(p, feeds) - ref).max()), "batchdep", batchdep(p, feeds))
