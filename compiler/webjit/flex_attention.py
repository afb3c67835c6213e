"""ai.onnx.preview.FlexAttention as MatMul and Softmax (decompose._decompose calls it), with its
score_mod and prob_mod subgraphs inlined: their nodes become nodes of the model, renamed under
the FlexAttention node, so they are typed, folded and lowered like any other."""
from __future__ import annotations

from .errors import UnsupportedError
from .ir import Graph, Node, TensorType
from .nplike import np
from .ops import OPS



def flex_attention_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """softmax(scale * Q K^T, after score_mod) V, after prob_mod, with grouped kv heads
    repeated (query head h reads kv head h // (Hq / Hkv))."""
    from .decompose import DECOMPOSED_ONLY
    q, k, v = node.inputs[:3]
    a = node.attrs
    if a.get("softmax_precision", 1) != 1:
        raise UnsupportedError(f"FlexAttention '{node.name}' asks for softmax_precision {a['softmax_precision']}; "
                               "webjit computes the softmax in float32")
    shapes = [graph.types[name].shape for name in (q, k, v)]
    if any(len(shape) != 4 for shape in shapes) or graph.types[q].dtype != "float32":
        raise UnsupportedError(f"FlexAttention '{node.name}' needs float32 inputs of rank 4 (batch, heads, sequence, "
                               "head size)")
    (batch, hq, _, d), (_, hkv, skv, _), (_, _, _, dv) = shapes
    if hq % hkv:
        raise UnsupportedError(f"FlexAttention '{node.name}' has {hq} query heads, not a multiple of its {hkv} kv "
                               "heads")
    parts = []
    if hq != hkv:
        for tag, name, depth in (("k", k, d), ("v", v, dv)):
            parts += [Node("Unsqueeze", t(f"{tag}grp"), (name, const(f"{tag}grp_axis", np.array([2], np.int64))),
                           (t(f"{tag}grp"),)),
                      Node("Expand", t(f"{tag}rep"), (t(f"{tag}grp"), const(f"{tag}rep_shape", np.array(
                          [batch, hkv, hq // hkv, skv, depth], np.int64))), (t(f"{tag}rep"),)),
                      Node("Reshape", t(f"{tag}all"), (t(f"{tag}rep"), const(f"{tag}all_shape", np.array(
                          [batch, hq, skv, depth], np.int64))), (t(f"{tag}all"),))]
        k, v = t("kall"), t("vall")
    scale = a.get("scale") or 1.0 / np.sqrt(d)
    parts += [Node("Transpose", t("kt"), (k,), (t("kt"),), {"perm": [0, 1, 3, 2]}),
              Node("MatMul", t("qk"), (q, t("kt")), (t("qk"),)),
              Node("Mul", t("scores"), (t("qk"), const("scale", np.float32(scale))), (t("scores"),))]
    scores = t("scores")
    if a.get("score_mod") is not None:
        inlined, scores = _inline(node, "score_mod", a["score_mod"], scores, graph, DECOMPOSED_ONLY)
        parts += inlined
    parts.append(Node("Softmax", t("softmax"), (scores,), (t("probs"),), {"axis": -1}))
    probs = t("probs")
    if a.get("prob_mod") is not None:
        inlined, probs = _inline(node, "prob_mod", a["prob_mod"], probs, graph, DECOMPOSED_ONLY)
        parts += inlined
    return (*parts, Node("MatMul", node.name, (probs, v), node.outputs[:1]))


def _inline(node: Node, attr: str, subgraph, source: str, graph: Graph, decomposed) -> tuple[list[Node], str]:
    """The subgraph's nodes reading `source` as its one input, every name it defines prefixed
    by the node and attribute (names it does not define are the model's); returns the nodes and
    the name of its one output."""
    from .frontend import _import_node, _to_array
    if len(subgraph.input) != 1 or len(subgraph.output) != 1:
        raise UnsupportedError(f"FlexAttention '{node.name}' has a {attr} with {len(subgraph.input)} inputs and "
                               f"{len(subgraph.output)} outputs; ONNX defines one of each")
    prefix = f"{node.name}::{attr}::"
    names = {subgraph.input[0].name: source}
    for tensor in subgraph.initializer:
        names[tensor.name] = prefix + tensor.name
        value = _to_array(tensor)
        graph.constants[names[tensor.name]] = value
        graph.types[names[tensor.name]] = TensorType(str(value.dtype), tuple(value.shape))
    parts = []
    for i, inner in enumerate(subgraph.node):
        if inner.domain not in ("", "ai.onnx") or (inner.op_type not in OPS and inner.op_type not in decomposed):
            raise UnsupportedError(f"FlexAttention '{node.name}' has a {attr} that uses {inner.op_type}, which webjit "
                                   "does not support")
        for out in inner.output:
            if out:
                names[out] = prefix + out
        copy = type(inner)()
        copy.CopyFrom(inner)
        copy.name = prefix + (inner.name or f"{inner.op_type}_{i}")
        copy.input[:] = [names.get(name, name) if name else "" for name in inner.input]
        copy.output[:] = [names[name] if name else "" for name in inner.output]
        parts.append(_import_node(copy, i, graph))
    return [p for p in parts if p is not None], names.get(subgraph.output[0].name, subgraph.output[0].name)
