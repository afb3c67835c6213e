"""Op cases (the data format of tests/op_cases.py) of attention as exported models write it:
MatMul(Q, K^T) -> scale -> mask -> Softmax -> MatMul(P, V), which webjit fuses into one
attention kernel (compiler/webjit/attention.py). `FUSED` names the cases whose bundles must
run that kernel; the others must stay unfused and still be right."""
from __future__ import annotations

import numpy as np


def _x(name, shape, fill=None):
    spec = {"name": name, "dtype": "float32", "shape": list(shape)}
    if fill:
        spec["fill"] = fill
    return spec


def _k(name, value, dtype):
    value = np.asarray(value)
    return {"name": name, "dtype": dtype, "shape": list(value.shape), "value": value.tolist()}


def _case(name, inputs, nodes, outputs=("y",), opset=17):
    return {"name": name, "inputs": inputs, "outputs": list(outputs), "opset": opset,
            "nodes": [{"op": n[0], "inputs": list(n[1]), "outputs": list(n[2]), "attrs": dict(n[3] if len(n) > 3 else {})}
                      for n in nodes]}


def heads(tag, perm):
    """Nodes splitting tag's [b, s, h*d] input into heads, transposed by perm."""
    return [("Reshape", [tag, "split_shape"], [f"{tag}4"]),
            ("Transpose", [f"{tag}4"], [f"{tag}h"], {"perm": perm})]


def split_heads_case(name, b, sq, sk, h, d, mask=None, scale_op="Div", fill=None):
    """Q [b, sq, h*d], K and V [b, sk, h*d] split into h heads; mask: "additive" ([b, 1, 1, sk]
    input), "causal" (a Where of a constant lower-triangular condition), or None."""
    inputs = [_x("q", (b, sq, h * d)), _x("k", (b, sk, h * d)), _x("v", (b, sk, h * d)),
              _k("split_shape", [b, -1, h, d], "int64"), _k("merge_shape", [b, sq, h * d], "int64")]
    nodes = heads("q", [0, 2, 1, 3]) + heads("k", [0, 2, 3, 1]) + heads("v", [0, 2, 1, 3])
    nodes.append(("MatMul", ["qh", "kh"], ["scores"]))
    factor = float(np.sqrt(d)) if scale_op == "Div" else float(1 / np.sqrt(d))
    inputs.append(_k("factor", factor, "float32"))
    nodes.append((scale_op, ["scores", "factor"], ["scaled"]))
    last = "scaled"
    if mask == "causal":
        inputs += [_k("causal", np.tril(np.ones((sq, sk), bool), sk - sq)[None, None], "bool"),
                   _k("fill", np.finfo(np.float32).min if fill is None else fill, "float32")]
        nodes.append(("Where", ["causal", last, "fill"], ["masked"]))
        last = "masked"
    if mask == "additive":
        inputs.append(_x("mask", (b, 1, 1, sk)))
        nodes.append(("Add", [last, "mask"], ["masked"]))
        last = "masked"
    nodes += [("Softmax", [last], ["probs"], {"axis": -1}),
              ("MatMul", ["probs", "vh"], ["context"]),
              ("Transpose", ["context"], ["context_t"], {"perm": [0, 2, 1, 3]}),
              ("Reshape", ["context_t", "merge_shape"], ["y"])]
    return _case(name, inputs, nodes)


def plain_case(name, b, h, sq, sk, d, dv, mask_shape=None, mask_fill=None, extra_output=False):
    """Q, K, V already [b, h, rows, depth]; K^T a Transpose; an optional additive mask input."""
    inputs = [_x("q", (b, h, sq, d)), _x("k", (b, h, sk, d)), _x("v", (b, h, sk, dv)),
              _k("scale", 0.125, "float32")]
    nodes = [("Transpose", ["k"], ["kt"], {"perm": [0, 1, 3, 2]}),
             ("MatMul", ["q", "kt"], ["scores"]),
             ("Mul", ["scale", "scores"], ["scaled"])]
    last = "scaled"
    if mask_shape is not None:
        inputs.append(_x("mask", mask_shape, mask_fill))
        nodes.append(("Add", ["mask", last], ["masked"]))
        last = "masked"
    nodes += [("Softmax", [last], ["probs"], {"axis": -1}), ("MatMul", ["probs", "v"], ["y"])]
    return _case(name, inputs, nodes, ("y", "probs") if extra_output else ("y",))


def fully_masked_case(name):
    """A Where with -inf fill whose condition masks all of query row 1: onnxruntime's softmax of
    all -inf is NaN, and so is that row's output."""
    cond = np.ones((1, 1, 4, 6), bool)
    cond[..., 1, :] = False
    cond[..., 2, 3:] = False
    inputs = [_x("q", (1, 2, 4, 8)), _x("k", (1, 2, 6, 8)), _x("v", (1, 2, 6, 8)),
              _k("cond", cond, "bool"), _k("fill", -np.inf, "float32")]
    nodes = [("Transpose", ["k"], ["kt"], {"perm": [0, 1, 3, 2]}),
             ("MatMul", ["q", "kt"], ["scores"]),
             ("Where", ["cond", "scores", "fill"], ["masked"]),
             ("Softmax", ["masked"], ["probs"], {"axis": -1}),
             ("MatMul", ["probs", "v"], ["y"])]
    return _case(name, inputs, nodes)


def attention_cases() -> list[dict]:
    return [
        split_heads_case("Attention_fused_bert_mask_12_heads", 2, 7, 7, 12, 8, mask="additive"),
        split_heads_case("Attention_fused_one_head_d64", 1, 13, 13, 1, 64, mask="additive"),
        split_heads_case("Attention_fused_causal_where", 2, 7, 7, 2, 8, mask="causal", scale_op="Mul"),
        split_heads_case("Attention_fused_sq_ne_sk_causal", 1, 5, 13, 2, 8, mask="causal", fill=-np.inf),
        split_heads_case("Attention_fused_no_mask", 2, 3, 13, 12, 64),
        plain_case("Attention_fused_plain_odd", 2, 3, 5, 7, 8, 5),
        plain_case("Attention_fused_mask_per_row", 2, 1, 6, 9, 8, 8, mask_shape=(2, 1, 6, 9)),
        plain_case("Attention_fused_mask_integers", 1, 2, 4, 7, 8, 8, mask_shape=(1, 1, 1, 7), mask_fill="int"),
        fully_masked_case("Attention_fused_fully_masked_row"),
        plain_case("Attention_unfused_scores_also_output", 1, 2, 4, 6, 8, 8, mask_shape=(1, 1, 1, 6), extra_output=True),
    ]


FUSED = {case["name"]: not case["name"].startswith("Attention_unfused") for case in attention_cases()}
