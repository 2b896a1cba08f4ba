"""A CPU stand-in for a small model on a GPU, for scheduler measurements on a machine without one.

It costs a fixed amount per padded token (LAYERS matmuls of width WIDTH), so padding and batch
shapes matter as they do for a transformer, but at a small fraction of a transformer's cost: on
one thread it scores faster than one thread tokenizes, which is the case of tinybert-l2 or
minilm-l2 on an H200. The tokenizer is copied from TOKENIZER_DIR.

    .venv/bin/python bench/lib/standin_model.py OUT_DIR TOKENIZER_DIR [WIDTH=96] [LAYERS=2]
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main() -> None:
    out, tok = Path(sys.argv[1]), Path(sys.argv[2])
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 96
    layers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    rng = np.random.default_rng(0)
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    inits = [numpy_helper.from_array(rng.standard_normal((1, width)).astype(np.float32) * 1e-3, "w0"),
             numpy_helper.from_array(np.array([2], np.int64), "last_axis"),
             numpy_helper.from_array(np.array([1], np.int64), "row_axis")]
    nodes = [helper.make_node("Add", ["input_ids", "token_type_ids"], ["a"]),
             helper.make_node("Mul", ["a", "attention_mask"], ["m"]),
             helper.make_node("Cast", ["m"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["f", "last_axis"], ["u"]),
             helper.make_node("MatMul", ["u", "w0"], ["h0"])]
    for layer in range(layers):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{layer + 1}"))
        nodes += [helper.make_node("MatMul", [f"h{layer}", f"w{layer + 1}"], [f"p{layer + 1}"]),
                  helper.make_node("Tanh", [f"p{layer + 1}"], [f"h{layer + 1}"])]
    nodes += [helper.make_node("ReduceMean", [f"h{layers}"], ["r"], axes=[1, 2], keepdims=0),
              helper.make_node("Unsqueeze", ["r", "row_axis"], ["logits"])]
    graph = helper.make_graph(nodes, "standin", inputs,
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / "model.onnx"))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tok / f, out / f)
    (out / "config.json").write_text(json.dumps({"model_type": "bert", "num_labels": 1, "pad_token_id": 0,
                                                 "max_position_embeddings": 512}), encoding="utf-8")
    print(f"{out}: stand-in model, width {width}, {layers} layers")


if __name__ == "__main__":
    main()
