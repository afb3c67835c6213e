"""LinearAttention (opset 27), an op that carries a recurrent state between decode steps, written
as ops webjit has kernels for (decompose._decompose calls it): its recurrence unrolled over the
(static) sequence, or a few MatMuls over masked scores for the simpler rules. (CausalConvWithState
is convolution.py's; TensorScatter is scatter.py's.)"""
from __future__ import annotations

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np

UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")
PARALLEL_LIMIT = 1 << 24  # elements of the (batch, heads, T, T) scores of LinearAttention's parallel form


def linear_attention_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """LinearAttention: per step t, the state S (B, H_kv, d_k, d_v) decays by exp(g_t) (gated
    rules), takes k_t (x) u_t with u_t = v_t, or beta_t (v_t - S^T k_t) for the delta rules, and
    each query head reads scale * q_t^T S through its kv head (grouped query heads). Without the
    delta correction and with at most one decay per head, while the T x T scores stay small,
    the same sums in parallel form instead (_linear_attention_parallel)."""
    a = node.attrs
    ins = list(node.inputs) + [""] * (6 - len(node.inputs))
    query, key, value, past, decay, beta = ins[:6]
    rule = a.get("update_rule", "gated_delta")
    hq, hkv = a.get("q_num_heads"), a.get("kv_num_heads")
    if rule not in UPDATE_RULES:
        raise UnsupportedError(f"LinearAttention '{node.name}' has update_rule {rule!r}; ONNX defines "
                               f"{', '.join(UPDATE_RULES)}")
    if not hq or not hkv or hq % hkv:
        raise UnsupportedError(f"LinearAttention '{node.name}' needs q_num_heads a positive multiple of kv_num_heads")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gated != bool(decay) or delta != bool(beta):
        raise UnsupportedError(f"LinearAttention '{node.name}' with update_rule {rule!r} needs "
                               f"{'decay' if gated else 'no decay'} and {'beta' if delta else 'no beta'}")
    if graph.types[query].dtype != "float32":
        raise UnsupportedError(f"LinearAttention '{node.name}' computes in {graph.types[query].dtype}; webjit "
                               "computes it in float32")
    b, steps, _ = graph.types[query].shape
    dk = graph.types[query].shape[2] // hq
    dv = graph.types[value].shape[2] // hkv
    group = hq // hkv
    if steps == 0:
        raise UnsupportedError(f"LinearAttention '{node.name}' has an empty sequence, which webjit does not run")
    scale = a.get("scale") or 1.0 / np.sqrt(dk)
    if not delta and (not gated or graph.types[decay].shape[2] == hkv) and b * hq * steps * steps <= PARALLEL_LIMIT:
        return _linear_attention_parallel(node, graph, const, t, (b, steps, hkv, group, dk, dv), scale)
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    parts = []

    def heads(tag, name, shape, perm):  # reshape the packed last axis into heads, then transpose
        parts.extend([Node("Reshape", t(f"{tag}split"), (name, ints(f"{tag}shape", shape)), (t(f"{tag}split"),)),
                      Node("Transpose", t(f"{tag}heads"), (t(f"{tag}split"),), (t(f"{tag}heads"),), {"perm": perm})])
        return t(f"{tag}heads")

    parts.append(Node("Mul", t("qscaled"), (query, const("scale", np.float32(scale))), (t("qscaled"),)))
    q = heads("q", t("qscaled"), [b, steps, hkv, group, dk], [0, 2, 1, 3, 4])  # (B, H_kv, T, G, d_k)
    k = heads("k", key, [b, steps, hkv, dk, 1], [0, 2, 1, 3, 4])  # (B, H_kv, T, d_k, 1): columns
    v = heads("v", value, [b, steps, hkv, 1, dv], [0, 2, 1, 3, 4])  # (B, H_kv, T, 1, d_v): rows
    if gated:
        width = graph.types[decay].shape[2]
        if width not in (hkv, hkv * dk):
            raise UnsupportedError(f"LinearAttention '{node.name}' has decay of width {width}; ONNX defines "
                                   f"kv_num_heads ({hkv}) or kv_num_heads * d_k ({hkv * dk})")
        parts.append(Node("Exp", t("gexp"), (decay,), (t("gexp"),)))
        g = heads("g", t("gexp"), [b, steps, hkv, width // hkv, 1], [0, 2, 1, 3, 4])  # (B, H_kv, T, d_k or 1, 1)
    if delta:
        width = graph.types[beta].shape[2]
        if width not in (hkv, 1):
            raise UnsupportedError(f"LinearAttention '{node.name}' has beta of width {width}; ONNX defines "
                                   f"kv_num_heads ({hkv}) or 1")
        beta4 = heads("beta", beta, [b, steps, width, 1, 1], [0, 2, 1, 3, 4])  # (B, H_kv or 1, T, 1, 1)
    at = lambda tag, name, step: Node("Gather", t(f"{tag}{step}"), (name, ints(f"at{step}", step)),
                                      (t(f"{tag}{step}"),), {"axis": 2})
    state = past or None
    outputs = []
    for step in range(steps):
        parts += [at("k", k, step), at("v", v, step), at("q", q, step)]
        kt, u = t(f"k{step}"), t(f"v{step}")
        if gated and state:
            parts += [at("g", g, step),
                      Node("Mul", t(f"decayed{step}"), (state, t(f"g{step}")), (t(f"decayed{step}"),))]
            state = t(f"decayed{step}")
        if delta:
            parts.append(at("beta", beta4, step))
            if state:  # S^T k as a row: (1, d_k) x (d_k, d_v)
                parts += [Node("Transpose", t(f"krow{step}"), (kt,), (t(f"krow{step}"),), {"perm": [0, 1, 3, 2]}),
                          Node("MatMul", t(f"read{step}"), (t(f"krow{step}"), state), (t(f"read{step}"),)),
                          Node("Sub", t(f"err{step}"), (u, t(f"read{step}")), (t(f"err{step}"),))]
                u = t(f"err{step}")
            parts.append(Node("Mul", t(f"u{step}"), (u, t(f"beta{step}")), (t(f"u{step}"),)))
            u = t(f"u{step}")
        last = step == steps - 1
        updated = node.outputs[1] if last and len(node.outputs) > 1 and node.outputs[1] else t(f"state{step}")
        if state:
            parts += [Node("Mul", t(f"outer{step}"), (kt, u), (t(f"outer{step}"),)),
                      Node("Add", t(f"update{step}"), (state, t(f"outer{step}")), (updated,))]
        else:
            parts.append(Node("Mul", t(f"outer{step}"), (kt, u), (updated,)))
        state = updated
        parts += [Node("MatMul", t(f"read_q{step}"), (t(f"q{step}"), state), (t(f"o{step}"),)),  # (B, H_kv, G, d_v)
                  Node("Unsqueeze", t(f"ostep{step}"), (t(f"o{step}"), ints("axis1", [1])), (t(f"ostep{step}"),))]
        outputs.append(t(f"ostep{step}"))
    if len(node.outputs) > 1 and node.outputs[1] and state != node.outputs[1]:
        parts.append(Node("Identity", t("present"), (state,), (node.outputs[1],)))
    joined = outputs[0]
    if len(outputs) > 1:
        parts.append(Node("Concat", t("steps"), tuple(outputs), (t("all"),), {"axis": 1}))  # (B, T, H_kv, G, d_v)
        joined = t("all")
    return (*parts, Node("Reshape", node.name, (joined, ints("out_shape", [b, steps, hq * dv])), node.outputs[:1]))


def _linear_attention_parallel(node: Node, graph: Graph, const, t, dims, scale) -> tuple[Node, ...]:
    """The linear rule, or the gated one with one decay per head, without the step loop: with
    C_t the running sum of the log decays, o_t = scale q_t (e^C_t S_0 + sum_{s<=t} e^(C_t - C_s)
    k_s v_s^T), so the outputs are a causally masked (Q K^T * decay) V plus Q e^C S_0, and the
    present state is e^C_T S_0 + (K e^(C_T - C))^T V: a few MatMuls whatever the length."""
    query, key, value = node.inputs[:3]
    past = node.inputs[3] if len(node.inputs) > 3 else ""
    decay = node.inputs[4] if len(node.inputs) > 4 else ""
    b, steps, hkv, group, dk, dv = dims
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    parts = []

    def heads(tag, name, shape, perm):
        parts.extend([Node("Reshape", t(f"{tag}split"), (name, ints(f"{tag}shape", shape)), (t(f"{tag}split"),)),
                      Node("Transpose", t(f"{tag}heads"), (t(f"{tag}split"),), (t(f"{tag}heads"),), {"perm": perm})])
        return t(f"{tag}heads")

    parts.append(Node("Mul", t("qscaled"), (query, const("scale", np.float32(scale))), (t("qscaled"),)))
    q = heads("q", t("qscaled"), [b, steps, hkv, group, dk], [0, 2, 3, 1, 4])  # (B, H_kv, G, T, d_k)
    k = heads("k", key, [b, steps, hkv, 1, dk], [0, 2, 3, 1, 4])  # (B, H_kv, 1, T, d_k)
    v = heads("v", value, [b, steps, hkv, 1, dv], [0, 2, 3, 1, 4])  # (B, H_kv, 1, T, d_v)
    causal = np.tril(np.ones((steps, steps), dtype=bool))
    parts += [Node("Transpose", t("kt"), (k,), (t("kt"),), {"perm": [0, 1, 2, 4, 3]}),
              Node("MatMul", t("qk"), (q, t("kt")), (t("qk"),))]  # (B, H_kv, G, T, T)
    if decay:  # e^(C_t - C_s) below the diagonal (s <= t), 0 above it (where it may overflow)
        parts += [Node("Reshape", t("gsplit"), (decay, ints("gshape", [b, steps, hkv, 1])), (t("gsplit"),)),
                  Node("Transpose", t("gheads"), (t("gsplit"),), (t("gheads"),), {"perm": [0, 2, 3, 1]}),
                  Node("CumSum", t("cumsum"), (t("gheads"), ints("time", 3)), (t("c_row"),)),  # (B, H_kv, 1, T)
                  Node("Transpose", t("c_col"), (t("c_row"),), (t("c_col"),), {"perm": [0, 1, 3, 2]}),
                  Node("Sub", t("gaps"), (t("c_col"), t("c_row")), (t("gaps"),)),  # (B, H_kv, T, T): C_t - C_s
                  Node("Exp", t("decays"), (t("gaps"),), (t("decays"),)),
                  Node("Where", t("masked"), (const("causal", causal), t("decays"), const("zero", np.float32(0))),
                       (t("mask"),)),
                  Node("Unsqueeze", t("mask5"), (t("mask"), ints("group_axis", [2])), (t("mask5"),))]
        mask = t("mask5")
    else:
        mask = const("causal_f", causal.astype(np.float32))
    parts += [Node("Mul", t("weighted"), (t("qk"), mask), (t("weights"),)),
              Node("MatMul", t("av"), (t("weights"), v), (t("o"),))]  # (B, H_kv, G, T, d_v)
    out = t("o")
    if past:
        parts.append(Node("Unsqueeze", t("s5"), (past, ints("s_axis", [2])), (t("s5"),)))  # (B, H_kv, 1, d_k, d_v)
        qread = q
        if decay:
            parts += [Node("Exp", t("grow"), (t("c_col"),), (t("grow"),)),  # (B, H_kv, T, 1): e^C_t
                      Node("Unsqueeze", t("grow5"), (t("grow"), ints("grow_axis", [2])), (t("grow5"),)),
                      Node("Mul", t("qgrow"), (q, t("grow5")), (t("qgrow"),))]
            qread = t("qgrow")
        parts += [Node("MatMul", t("readpast"), (qread, t("s5")), (t("frompast"),)),
                  Node("Add", t("withpast"), (t("o"), t("frompast")), (t("owithpast"),))]
        out = t("owithpast")
    parts += [Node("Transpose", t("otime"), (out,), (t("otime"),), {"perm": [0, 3, 1, 2, 4]}),
              Node("Reshape", node.name, (t("otime"), ints("out_shape", [b, steps, hkv * group * dv])),
                   node.outputs[:1])]
    if len(node.outputs) < 2 or not node.outputs[1]:
        return tuple(parts)
    keys = t("kt")  # (B, H_kv, 1, d_k, T)
    if decay:  # each key's weight in the final state: e^(C_T - C_s)
        parts += [Node("Gather", t("c_last"), (t("c_row"), ints("last", steps - 1)), (t("c_last"),), {"axis": 3}),
                  Node("Unsqueeze", t("c_last4"), (t("c_last"), ints("last_axis", [3])), (t("c_last4"),)),
                  Node("Sub", t("tail"), (t("c_last4"), t("c_row")), (t("tail"),)),
                  Node("Exp", t("keep"), (t("tail"),), (t("keep"),)),  # (B, H_kv, 1, T)
                  Node("Unsqueeze", t("keep5"), (t("keep"), ints("keep_axis", [3])), (t("keep5"),)),
                  Node("Mul", t("kept"), (keys, t("keep5")), (t("kept"),))]
        keys = t("kept")
    present = node.outputs[1]
    fresh = t("fresh") if past else t("fresh_out")
    parts += [Node("MatMul", t("kv"), (keys, v), (fresh,)),  # (B, H_kv, 1, d_k, d_v)
              Node("Reshape", t("fresh4"), (fresh, ints("state_shape", [b, hkv, dk, dv])),
                   (t("fresh4") if past else present,))]
    if past:
        carried = past
        if decay:
            parts += [Node("Exp", t("total"), (t("c_last4"),), (t("total"),)),  # (B, H_kv, 1, 1)
                      Node("Mul", t("carried"), (past, t("total")), (t("carried"),))]
            carried = t("carried")
        parts.append(Node("Add", t("present"), (carried, t("fresh4")), (present,)))
    return tuple(parts)
