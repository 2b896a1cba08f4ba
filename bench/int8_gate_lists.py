"""Does convert's int8 gate, on a bigger parity set, agree with the trained MiniLM's 30 lists?

    nice -n -5 .venv/bin/python bench/int8_gate_lists.py 16x32 16x100 vocab8x100

vocabNxD: convert.vocab_lists (N lists of D passages of random words from the model's own
vocabulary, MS MARCO-like lengths; what convert's int8 gate now also judges, 8x100 by default).

For each QxD: convert.parity_set(Q, D) (pydoc topics; convert's default is 16x32), tokenized with the
converted folder's tokenizer.json (padded per batch of 32), torch fp32 logits of the study's trained
MiniLM as the reference, and convert.compare's int8 verdict (per-list Spearman >= 0.99, top-10 >= 0.90)
for the all-int8 file and the keep-N files of bench/int8_keep_files.py. Results:
bench/results/int8-gate-lists.md. Needs $CROSSRANK_INT8_CACHE (default /work/cache/int8-study).
"""
import os, sys, json, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib" / "python"))
import numpy as np, onnxruntime as ort, torch
from tokenizers import Tokenizer
from transformers import AutoModelForSequenceClassification
import convert
from quantize import token_feeds

torch.set_num_threads(2)
CACHE = Path(os.environ.get("CROSSRANK_INT8_CACHE", "/work/cache/int8-study"))
src, folder = CACHE / "model", CACHE / "crossrank-convert"
model = AutoModelForSequenceClassification.from_pretrained(src, attn_implementation="eager").eval()
tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
tok.enable_truncation(max_length=510, strategy="longest_first")
tok.enable_padding(pad_id=0)  # per batch of 32 in token_feeds
names = json.loads((folder / "crossrank_convert.json").read_text())["inputs"]
files = ["model_quantized.onnx"] + [f"model_quantized_keep{k}.onnx" for k in (2, 4, 6)]
files += [f for f in (f"model_quantized_hybrid_keep{k}.onnx" for k in (0, 2)) if (folder / "onnx" / f).exists()]
for arg in sys.argv[1:]:
    vocab = arg.startswith("vocab")
    q, d = map(int, arg.removeprefix("vocab").split("x"))
    t0 = time.time()
    pairs = convert.vocab_lists(folder / "tokenizer.json", q, d) if vocab else convert.parity_set(q, d); groups = [g for g, _, _ in pairs]
    feeds = token_feeds(tok, [(a, b) for _, a, b in pairs], names, batch=32)
    with torch.inference_mode():
        ref = np.concatenate([model(**{k: torch.from_numpy(v) for k, v in f.items()}).logits.float().numpy() for f in feeds])
    print(f"{'vocab_lists' if vocab else 'parity_set'}({q},{d}): {len(set(groups))} lists x {d}, {len(pairs)} pairs, seq {feeds[0]['input_ids'].shape[1]}, torch {time.time()-t0:.0f} s", flush=True)
    for f in files:
        so = ort.SessionOptions(); so.intra_op_num_threads = 2
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        s = ort.InferenceSession(str(folder / "onnx" / f), so, providers=["CPUExecutionProvider"])
        got = np.concatenate([s.run(["logits"], x)[0] for x in feeds])
        r = convert.compare("int8", groups, ref, got, 0.0)
        print(f"  {f}: spearman_min {r['spearman_min']:.4f} top10_min {r['top10_min']:.2f} {'pass' if r['passed'] else 'FAIL'} ({time.time()-t0:.0f} s)", flush=True)
