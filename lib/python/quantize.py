"""Per-token dynamic int8: an int8 ONNX file whose scores do not depend on their batch companions.

    quantize_per_token(fp32_path, out_path, calibration=feeds)    # SmoothQuant alpha picked per group

Why not onnxruntime.quantization.quantize_dynamic: DynamicQuantizeLinear picks one activation scale
per tensor, i.e. per batch, over every row including padding, so a pair's score moves with the
pairs it is batched with (0.06-0.10 logits on a fine-tuned MiniLM, bench/results/int8-study.md).
Static QDQ is batch-independent but its calibrated ranges lose the rankings.

Here each weight MatMul Y = X @ W (X [batch, sequence, K] fp32, W a [K, N] initializer) becomes
    s     = max(|X[b, t, :]|) / 127                  per token (row), [batch, sequence, 1]
    q     = round(X / s) + 128                       uint8, scalar zero point 128 (MLAS's U8S8 path)
    Y     = (q - 128) @ Wq * w_scale * s             com.microsoft.MatMulIntegerToFloat, then * s
with Wq int8 symmetric per output channel (w_scale [N] = max(|W[:, n]|) / 127). Every scale comes
from the token's own row and the integer product is exact, so a row's result depends on that row
only: the same token gives the same bits alone or inside any batch, with any padding.
This is "vector-wise" quantization (LLM.int8(), Dettmers et al. 2022: per-row activation scales,
per-column weight scales).

smooth_alpha (SmoothQuant, Xiao et al. 2023): BERT's residual stream has a few outlier channels that
would set every token's scale. A calibration pass measures each input channel's max |X[:, :, k]|;
X is divided by sm[k] = amax_x[k]^a / amax_w[k]^(1-a) and W's row k multiplied by it, which is the
same product in exact arithmetic and moves the outliers into the (per-channel) weights. The
smoothing factors are constants, so they add no batch dependence.

MatMuls that share an input (attention's Q, K, V) share one quantization of it. The attention
products (Q.K^T, P.V: no weight) and Gemm heads stay fp32.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np


def token_feeds(tokenizer, pairs, inputs=("input_ids", "attention_mask", "token_type_ids"), batch=16) -> list[dict]:
    """ONNX feeds for `pairs` (query, passage), `batch` pairs each: {input: int64 [batch, sequence]}.
    tokenizer: a tokenizers.Tokenizer with padding (and truncation) enabled, as crossrank runs it."""
    field = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
    feeds = []
    for i in range(0, len(pairs), batch):
        encs = tokenizer.encode_batch(list(pairs[i:i + batch]))
        feeds.append({k: np.asarray([getattr(e, field[k]) for e in encs], dtype=np.int64) for k in inputs})
    return feeds


def fused_attention(node, inits) -> bool:
    """Whether `node` is a com.microsoft Attention that quantize_per_token rewrites: self-attention
    over one input with a [K, 3K] fp32 weight initializer, a bias, a mask and nothing else (what
    onnxruntime.transformers' optimizer fuses a BERT layer's attention into)."""
    from onnx import TensorProto, helper

    if node.op_type != "Attention" or node.domain != "com.microsoft":
        return False
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if set(attrs) - {"num_heads", "scale", "mask_filter_value"} or not 3 <= len(node.input) <= 4:
        return False  # unidirectional, past state, rotary, unequal Q/K/V sizes: left as they are
    w, b = inits.get(node.input[1]), inits.get(node.input[2])
    return (w is not None and b is not None and len(w.dims) == 2 and w.dims[1] == 3 * w.dims[0]
            and w.data_type == TensorProto.FLOAT)


def weight_matmuls(model, exclude=()) -> "OrderedDict[str, list]":
    """{activation input name: [nodes]} for MatMuls whose B is a 2-D fp32 initializer, and fused
    self-attention nodes (fused_attention: their Q/K/V projection is one such weight)."""
    from onnx import TensorProto

    inits = {i.name: i for i in model.graph.initializer}
    groups: "OrderedDict[str, list]" = OrderedDict()
    for node in model.graph.node:
        if node.name in exclude:
            continue
        if node.op_type == "Attention" and fused_attention(node, inits):
            groups.setdefault(node.input[0], []).append(node)
            continue
        if node.op_type != "MatMul":
            continue
        w = inits.get(node.input[1])
        if w is None or len(w.dims) != 2 or w.data_type != TensorProto.FLOAT:
            continue
        groups.setdefault(node.input[0], []).append(node)
    return groups


def node_weights(node, inits) -> list:
    """The [K, N] fp32 weights a group node multiplies by: a MatMul's B, or a fused Attention's
    Q, K and V projections (its [K, 3K] weight's three column blocks)."""
    from onnx import numpy_helper

    w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
    return list(np.split(w, 3, axis=1)) if node.op_type == "Attention" else [w]


def calibrate(fp32_path: Path, feeds, names, rows=2048, seed=0) -> dict:
    """{activation name: (amax [K], sample [rows, K])}: each input channel's max |X[..., k]| over the
    calibration batches' real tokens (padding masked out), and a seeded sample of those tokens' rows."""
    import onnx
    import onnxruntime as ort

    fp32_path = Path(fp32_path)
    model = onnx.load(str(fp32_path), load_external_data=False)
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    have = {o.name for o in model.graph.output}
    for n in names:
        if n not in have:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every named tensor
    if external:
        # An LLM's weights live in a file beside the graph (over protobuf's 2 GB): the graph with the
        # extra outputs is written beside it, so that its references to that file resolve.
        probe = fp32_path.with_name(fp32_path.stem + ".calibrate.onnx")
        onnx.save(model, str(probe))
        try:
            sess = ort.InferenceSession(str(probe), so, providers=["CPUExecutionProvider"])
        finally:
            probe.unlink()
    else:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    amax: dict = {}
    chunks: dict = {n: [] for n in names}
    for feed in feeds:
        mask = feed["attention_mask"].astype(bool)  # which rows are real tokens, fed or not
        outs = sess.run(list(names), {k: v for k, v in feed.items() if k in inputs})
        for n, x in zip(names, outs):
            x = x[mask] if x.ndim == 3 and x.shape[:2] == mask.shape else x.reshape(-1, x.shape[-1])
            m = np.abs(x).max(axis=0)
            amax[n] = np.maximum(amax[n], m) if n in amax else m
            chunks[n].append(x)
    rnd = np.random.default_rng(seed)
    out = {}
    for n in names:
        x = np.concatenate(chunks[n])
        out[n] = (amax[n], x[rnd.choice(len(x), size=min(rows, len(x)), replace=False)])
    return out


def int8_weight(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W [K, N] as int8 symmetric per output channel: (Wq int8 [K, N], scale float32 [N]),
    scale = max(|W[:, n]|) / 127."""
    scale = (np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0).astype(np.float32)
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def fake_weight(w: np.ndarray) -> np.ndarray:
    """W after int8 symmetric per-output-channel quantization, dequantized (what the graph computes)."""
    wq, scale = int8_weight(w)
    return wq.astype(np.float32) * scale


def fake_tokens(x: np.ndarray, asymmetric: bool) -> np.ndarray:
    """X after per-row int8 quantization, dequantized: symmetric (scale max|x| / 127) or
    asymmetric (uint8 over [min, max] of the row, 255 steps)."""
    if asymmetric:
        lo, hi = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
        scale = np.maximum(hi - lo, 1e-30) / 255.0
        return lo + np.round((x - lo) / scale) * scale
    scale = np.maximum(np.abs(x).max(axis=-1, keepdims=True), 1e-30) / 127.0
    return np.round(x / scale) * scale


def fake_static(x: np.ndarray, amax: np.ndarray) -> np.ndarray:
    """X after static symmetric int8 quantization, dequantized: one scale for every token,
    max over channels of the calibration's amax [K] / 127 (values beyond it saturate)."""
    scale = max(float(np.max(amax)), 1e-30) / 127.0
    return np.clip(np.round(x / scale), -127, 127) * scale


def smoothing(amax_x, weights, alpha):
    """SmoothQuant's per-input-channel factors sm[k] = amax_x[k]^a / amax_w[k]^(1-a) (None: all 1)."""
    if alpha is None:
        return np.ones_like(amax_x, dtype=np.float32)
    w_amax = np.max(np.stack([np.abs(w).max(axis=1) for w in weights]), axis=0)  # [K]
    sm = np.power(np.maximum(amax_x, 1e-5), alpha) / np.power(np.maximum(w_amax, 1e-5), 1 - alpha)
    return np.clip(sm, 1e-5, 1e5).astype(np.float32)


def output_error(x, weights, sm, asymmetric, static_amax=None) -> float:
    """Relative squared error of the group's outputs, sum ||X W - q(X / sm) q(sm W)||^2 / ||X W||^2.
    static_amax: the calibration's per-channel max |X| [K] when the group's activation scale is
    static (fake_static), else None (per-token rows, fake_tokens)."""
    xq = fake_static(x / sm, static_amax / sm) if static_amax is not None else fake_tokens(x / sm, asymmetric)
    num = den = 0.0
    for w in weights:
        ref = x @ w
        num += float(((ref - xq @ fake_weight(w * sm[:, None])) ** 2).sum())
        den += float((ref ** 2).sum())
    return num / max(den, 1e-30)


ALPHAS = (None, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def quantize_per_token(fp32_path, out_path, *, calibration=None, smooth_alpha="auto", asymmetric=False,
                       exclude=(), stats=None, absmax="minmax", static=()) -> dict:
    """Write the per-token int8 form of fp32_path to out_path; returns what was chosen per group.

    calibration: ONNX feeds (dicts of int64 arrays with attention_mask) of realistic pairs, needed
    unless smooth_alpha is None and asymmetric is False. smooth_alpha: a float, None (no
    smoothing) or "auto": per group, the alpha of ALPHAS with the lowest output error on the
    calibration tokens (SmoothQuant's alpha search). asymmetric: False (default), True or "auto"
    (per group, whichever has the lower output error). Asymmetric rows (uint8 over [min, max])
    halve the error on one-sided inputs such as GELU's, but cost a subtraction pass and an offset
    per output: measured on a fine-tuned MiniLM, 1.22x fp32 speed against 1.40x, for no better
    worst-list Spearman (bench/results/int8-study.md).
    exclude: MatMul node names kept fp32 (mixed precision: the few groups whose int8 error moves
    rankings, see sensitive_groups()).
    stats: calibrate()'s result for these groups' inputs, when the caller already has it (a study
    that makes many variants of one model calibrates once).
    static: MatMul node names (or "all") whose group gets one static activation scale instead of
    per-token rows: s = max over channels of the calibration's max |X / sm| / 127, so the group is
    one Mul by 1 / (sm * s) per channel and a QuantizeLinear (one pass without smoothing), and a
    MatMulIntegerToFloat with a scalar A scale: no row max, no row-scale Mul. Static scales are
    constants, so the group stays batch-independent; text whose activations exceed the
    calibrated range saturates, which is why it is chosen per group (convert.py hybrid_order).
    absmax: how each row's max |x| is found: "minmax" (ReduceMax and ReduceMin, two reads of x;
    default) or "abs" (Abs then ReduceMax: one read, one write, one read). Same scales, same bits;
    measured on minilm-l6 under shared load, "abs" was 2-4% slower in ONNX Runtime Python 1.32.

    A fused graph (onnxruntime.transformers' optimizer: Attention, SkipLayerNormalization,
    BiasGelu) is quantized too: each fused Attention becomes its Q, K and V projections in int8
    (one quantized input) feeding com.microsoft.MultiHeadAttention with the Attention's bias and
    the graph's attention_mask as key padding mask, so scores, mask and softmax stay one kernel.
    A static Attention group becomes one com.microsoft.QAttention instead (the int8 input, the
    [K, 3K] int8 weight with per-column scales, the Attention's bias and mask).
    """
    import onnx
    from onnx import helper, numpy_helper

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    model = onnx.load(str(fp32_path))
    graph = model.graph
    groups = weight_matmuls(model, exclude)
    if not groups:
        raise ValueError("no MatMul with a 2-D fp32 weight initializer to quantize")
    inits = {i.name: i for i in graph.initializer}
    needs_calibration = smooth_alpha is not None or asymmetric == "auto" or bool(static)
    if needs_calibration and calibration is None and stats is None:
        raise ValueError("smoothing, static scales and the asymmetric search need calibration feeds")
    if needs_calibration and stats is None:
        calibration = list(calibration)
        if not calibration or any("attention_mask" not in feed for feed in calibration):
            raise ValueError("calibration needs at least one feed, each with attention_mask (padding is left out)")
    if needs_calibration and stats is None:
        stats = calibrate(fp32_path, calibration, list(groups))
    stats = stats or {}

    def const(name, array):
        graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    if opset < 13:  # per-axis QuantizeLinear
        raise ValueError(f"the graph's opset is {opset}; per-token int8 needs opset 13 or later")
    axes_name = const("crossrank_q/axes", np.array([-1], dtype=np.int64)) if opset >= 18 else None

    def reduce(op, src, out, name):
        # opset 18 moved ReduceMax/ReduceMin's axes from an attribute to an input
        if opset >= 18:
            return helper.make_node(op, [src, axes_name], [out], name=name, keepdims=1)
        return helper.make_node(op, [src], [out], name=name, axes=[-1], keepdims=1)

    shared: dict = {}

    def shared_const(name, array):
        """One initializer per constant, added the first time a group uses it."""
        if name not in shared:
            shared[name] = const(f"crossrank_q/{name}", array)
        return shared[name]

    def one():
        return shared_const("one", np.array(1.0, dtype=np.float32))

    def tiny():
        return shared_const("tiny", np.array(1e-30, dtype=np.float32))
    mask_nodes = []

    def key_padding_mask():
        """int32 [batch, sequence] attention_mask for MultiHeadAttention (made once)."""
        if not mask_nodes:
            if "attention_mask" not in {i.name for i in graph.input}:
                raise ValueError("a fused Attention to rewrite needs the graph input attention_mask")
            mask_nodes.append(helper.make_node("Cast", ["attention_mask"], ["crossrank_q/key_padding_mask"],
                                               name="crossrank_q/KeyPaddingMask", to=onnx.TensorProto.INT32))
        return "crossrank_q/key_padding_mask"

    new_nodes: dict = {}  # id(old MatMul) -> replacement nodes
    drop_inits = set()
    chosen = []
    for gi, (x, nodes) in enumerate(groups.items()):
        p = f"crossrank_q/g{gi}"
        per_node = [node_weights(n, inits) for n in nodes]
        weights = [w for ws in per_node for w in ws]
        is_static = static == "all" or any(n.name in static for n in nodes)
        if is_static and x not in stats:
            raise ValueError("static activation scales need calibration feeds")
        alphas = ALPHAS if smooth_alpha == "auto" else (smooth_alpha,)
        asyms = (False,) if is_static else (False, True) if asymmetric == "auto" else (bool(asymmetric),)
        if len(alphas) * len(asyms) > 1:
            amax, sample = stats[x]
            err, alpha, asym = min((output_error(sample, weights, smoothing(amax, weights, a), s,
                                                 amax if is_static else None), i, s)
                                   for i, a in enumerate(alphas) for s in asyms)
            alpha = alphas[alpha]
        else:
            alpha, asym, err = alphas[0], asyms[0], None
        sm = smoothing(stats[x][0], weights, alpha) if alpha is not None else None
        chosen.append({"input": x, "matmuls": [n.name for n in nodes], "alpha": alpha, "asymmetric": asym,
                       "static": is_static, "calibration_error": err})
        pre = []
        src = x
        if is_static:
            sm1 = sm if sm is not None else np.ones_like(stats[x][0], dtype=np.float32)
            weights = [w * sm1[:, None] for w in weights]
            a_scale = max(float(np.max(stats[x][0] / sm1)), 1e-30) / 127.0
            zp = shared_const("zero_point_128", np.array(128, dtype=np.uint8))
            a_scale_name = const(f"{p}/a_scale", np.array(a_scale, dtype=np.float32))
            # QuantizeLinear per channel on the last axis runs one element per call in ONNX Runtime
            # (0.19x fp32 measured on minilm-l6): a Mul by 1 / (sm * s) then a scalar QuantizeLinear
            if sm is not None:
                pre.append(helper.make_node("Mul", [x, const(f"{p}/inv_channel_scale", (1.0 / (sm1 * a_scale)).astype(np.float32))],
                                            [f"{p}/scaled"], name=f"{p}/SmoothScale"))
                pre.append(helper.make_node("QuantizeLinear", [f"{p}/scaled", one(), zp], [f"{p}/q"], name=f"{p}/QuantizeStatic"))
            else:
                pre.append(helper.make_node("QuantizeLinear", [x, a_scale_name, zp], [f"{p}/q"], name=f"{p}/QuantizeStatic"))
        elif sm is not None:
            weights = [w * sm[:, None] for w in weights]
            pre.append(helper.make_node("Mul", [x, const(f"{p}/inv_smooth", (1.0 / sm).astype(np.float32))],
                                        [f"{p}/smoothed"], name=f"{p}/Smooth"))
            src = f"{p}/smoothed"
        if not is_static and (asym or absmax == "minmax"):
            pre += [reduce("ReduceMax", src, f"{p}/max", f"{p}/ReduceMax"),
                    reduce("ReduceMin", src, f"{p}/min", f"{p}/ReduceMin")]
        if asym:
            # x = min + scale * q, q in [0, 255]:  X @ W = scale * (q @ W) + min * colsum(W)
            pre += [
                helper.make_node("Sub", [f"{p}/max", f"{p}/min"], [f"{p}/range"], name=f"{p}/Range"),
                helper.make_node("Max", [f"{p}/range", tiny()], [f"{p}/range1"], name=f"{p}/RangeFloor"),
                helper.make_node("Mul", [f"{p}/range1", shared_const("inv255", np.array(1 / 255, dtype=np.float32))],
                                 [f"{p}/scale"], name=f"{p}/Scale"),
                helper.make_node("Sub", [src, f"{p}/min"], [f"{p}/shifted"], name=f"{p}/Shift"),
                helper.make_node("Div", [f"{p}/shifted", f"{p}/scale"], [f"{p}/scaled"], name=f"{p}/Div"),
            ]
            zp = shared_const("zero_point_0", np.array(0, dtype=np.uint8))
            pre.append(helper.make_node("QuantizeLinear", [f"{p}/scaled", one(), zp], [f"{p}/q"], name=f"{p}/Quantize"))
        elif not is_static:
            if absmax == "minmax":
                pre += [helper.make_node("Neg", [f"{p}/min"], [f"{p}/negmin"], name=f"{p}/Neg"),
                        helper.make_node("Max", [f"{p}/max", f"{p}/negmin", tiny()], [f"{p}/amax"], name=f"{p}/Amax")]
            else:  # one pass writing |x|, one reading it, against two reading x
                pre += [helper.make_node("Abs", [src], [f"{p}/abs"], name=f"{p}/Abs"),
                        reduce("ReduceMax", f"{p}/abs", f"{p}/absmax", f"{p}/ReduceMax"),
                        helper.make_node("Max", [f"{p}/absmax", tiny()], [f"{p}/amax"], name=f"{p}/Amax")]
            pre += [
                helper.make_node("Mul", [f"{p}/amax", shared_const("inv127", np.array(1 / 127, dtype=np.float32))],
                                 [f"{p}/scale"], name=f"{p}/Scale"),
            ]
            # uint8 with zero point 128 holds round(x / scale) in [-127, 127]: MLAS's U8S8 kernels.
            # QuantizeLinear per axis over the rows of X seen as [tokens, K] divides by each row's
            # scale itself: no separate Div pass over X (5.8 -> 5.1 ms for a [2560, 1536] input).
            zp = shared_const("zero_point_128", np.array(128, dtype=np.uint8))
            k = weights[0].shape[0]
            pre += [
                helper.make_node("Reshape", [src, shared_const(f"rows_{k}", np.array([-1, k], dtype=np.int64))],
                                 [f"{p}/rows"], name=f"{p}/Rows"),
                helper.make_node("Reshape", [f"{p}/scale", shared_const("flat", np.array([-1], dtype=np.int64))],
                                 [f"{p}/row_scale"], name=f"{p}/RowScaleFlat"),
                helper.make_node("Shape", [f"{p}/row_scale"], [f"{p}/row_count"], name=f"{p}/RowCount"),
                helper.make_node("ConstantOfShape", [f"{p}/row_count"], [f"{p}/row_zero_point"], name=f"{p}/RowZeroPoint",
                                 value=numpy_helper.from_array(np.array([128], dtype=np.uint8))),
                helper.make_node("QuantizeLinear", [f"{p}/rows", f"{p}/row_scale", f"{p}/row_zero_point"], [f"{p}/q_rows"],
                                 name=f"{p}/Quantize", axis=0),
                helper.make_node("Shape", [src], [f"{p}/shape"], name=f"{p}/Shape"),
                helper.make_node("Reshape", [f"{p}/q_rows", f"{p}/shape"], [f"{p}/q"], name=f"{p}/Unflatten"),
            ]

        def int8_matmul(w, out, j):
            wq, w_scale = int8_weight(w)
            wq_name = const(f"{p}/w{j}_int8", wq)
            ws_name = const(f"{p}/w{j}_scale", w_scale.astype(np.float32))
            y = f"{p}/y{j}"
            if is_static:  # the scalar A scale is the whole activation scale: no row-scale Mul
                return [helper.make_node("MatMulIntegerToFloat", [f"{p}/q", wq_name, a_scale_name, ws_name, zp], [out],
                                         name=f"{p}/MatMulIntegerToFloat{j}", domain="com.microsoft")]
            repl = [helper.make_node("MatMulIntegerToFloat", [f"{p}/q", wq_name, one(), ws_name, zp], [y],
                                     name=f"{p}/MatMulIntegerToFloat{j}", domain="com.microsoft")]
            if asym:
                colsum = (wq.astype(np.float64).sum(axis=0) * w_scale).astype(np.float32)  # [N]
                repl += [
                    helper.make_node("Mul", [y, f"{p}/scale"], [f"{p}/ys{j}"], name=f"{p}/RowScale{j}"),
                    helper.make_node("Mul", [f"{p}/min", const(f"{p}/w{j}_colsum", colsum)], [f"{p}/shift{j}"],
                                     name=f"{p}/Offset{j}"),
                    helper.make_node("Add", [f"{p}/ys{j}", f"{p}/shift{j}"], [out], name=f"{p}/AddOffset{j}"),
                ]
            else:
                repl.append(helper.make_node("Mul", [y, f"{p}/scale"], [out], name=f"{p}/RowScale{j}"))
            return repl

        j = 0
        for ni, (node, ws) in enumerate(zip(nodes, per_node)):
            repl = []
            attention = node.op_type == "Attention"
            if attention and is_static:
                # One activation scale for the whole input is what ONNX Runtime's QAttention takes: it
                # writes the Q/K/V products per (batch, head) straight into attention's layout, scale
                # and bias applied in the GEMM's output pass, then runs the fp32 Attention's core. Against
                # three MatMulIntegerToFloat and MultiHeadAttention (which transposes Q, K and V and adds
                # their bias in three more passes): +1-5% pairs/s on minilm-l6 (docs/int8.md).
                wq, w_scale = int8_weight(np.concatenate(weights[j:j + 3], axis=1))  # per column: as Q, K, V apart
                j += 3
                attrs = [a for a in node.attribute if a.name in ("num_heads", "scale", "mask_filter_value")]
                qa = helper.make_node("QAttention", [f"{p}/q", const(f"{p}/w_int8", wq), node.input[2], a_scale_name,
                                                     const(f"{p}/w_scale", w_scale),
                                                     node.input[3] if len(node.input) > 3 else "", zp],
                                      [node.output[0]], name=f"{p}/QAttention{ni}", domain="com.microsoft")
                qa.attribute.extend(attrs)
                drop_inits.add(node.input[1])
                new_nodes[id(node)] = (pre if ni == 0 else []) + [qa]
                continue
            outs = [f"{p}/qkv{j}_{t}" for t in "qkv"] if attention else [node.output[0]]
            for w, out in zip(weights[j:j + len(ws)], outs):
                repl += int8_matmul(w, out, j)
                j += 1
            drop_inits.add(node.input[1])
            if attention:
                # Q, K, V projected apart (int8, one quantized input); the rest of attention, bias
                # included, in ONNX Runtime's fused MultiHeadAttention (one kernel: scores, mask, softmax)
                attrs = [a for a in node.attribute if a.name in ("num_heads", "scale", "mask_filter_value")]
                mha = helper.make_node("MultiHeadAttention", outs + [node.input[2], key_padding_mask()], [node.output[0]],
                                       name=f"{p}/MultiHeadAttention{ni}", domain="com.microsoft")
                mha.attribute.extend(attrs)
                repl.append(mha)
            new_nodes[id(node)] = (pre if ni == 0 else []) + repl
    out_nodes = list(mask_nodes)
    for node in graph.node:
        out_nodes.extend(new_nodes.get(id(node), [node]))
    del graph.node[:]
    graph.node.extend(out_nodes)
    still_used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name not in drop_inits or i.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.checker.check_model(model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    return {"matmuls": sum(len(n) for n in groups.values()), "groups": chosen, "excluded": list(exclude)}


def logits_of(model_path, feeds) -> np.ndarray:
    """The graph's first output over `feeds`, concatenated on the batch axis (float64)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    return np.concatenate([sess.run(None, {k: v for k, v in f.items() if k in inputs})[0] for f in feeds]).astype(np.float64)


def group_sensitivity(fp32_path, feeds, *, stats=None, smooth_alpha="auto", work_path=None, static=False) -> list[dict]:
    """How much each MatMul group's int8 moves the model's output, most sensitive first.

    For each group (the MatMuls that read one activation), the file where only that group is int8
    (as quantize_per_token makes it) is run on `feeds` (calibration pairs, never the parity set that
    judges the result) and compared with fp32: RMS of the output difference. On a fine-tuned MiniLM
    the early layers' FFN and Q/K/V dominate (bench/results/int8-study.md, "Where the int8 error
    comes from"). static: measure the group with a static activation scale instead of per-token rows.
    Returns [{"input", "matmuls", "rms"}], highest rms first.
    """
    import onnx

    fp32_path = Path(fp32_path)
    feeds = list(feeds)
    groups = weight_matmuls(onnx.load(str(fp32_path), load_external_data=False))
    if stats is None:
        stats = calibrate(fp32_path, feeds, list(groups))
    work = Path(work_path) if work_path else fp32_path.with_name(fp32_path.stem + ".one_group.onnx")
    everything = [n.name for nodes in groups.values() for n in nodes]
    ref = logits_of(fp32_path, feeds)
    out = []
    try:
        for x, nodes in groups.items():
            names = [n.name for n in nodes]
            quantize_per_token(fp32_path, work, smooth_alpha=smooth_alpha, stats=stats,
                               exclude=[n for n in everything if n not in names], static="all" if static else ())
            got = logits_of(work, feeds)
            out.append({"input": x, "matmuls": names, "rms": float(np.sqrt(np.mean((got - ref) ** 2)))})
    finally:
        work.unlink(missing_ok=True)
    return sorted(out, key=lambda g: -g["rms"])
