"""RNN, GRU and LSTM at import: unrolled over the (static) sequence into MatMuls and
elementwise nodes, so both backends run them with the kernels they have.

Per direction, the input projection of every step is one MatMul (X [T, B, I] by W^T) with
both biases added once; each step then multiplies the hidden state by R^T and applies the
gates. Constant sequence_lens shorter than the sequence mask the state (it stops at each
batch row's length) and zero Y past it; a reverse direction reads each row from its own
last step. Runtime sequence_lens are refused (they would need masks computed at run time).
"""
from __future__ import annotations

from .errors import UnsupportedError
from .emit import Emit
from .ir import Graph, Node
from .nplike import np

RECURRENT = ("RNN", "GRU", "LSTM")
MAX_STEPS = 4096  # unrolled steps, as control.MAX_ITERATIONS
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
DEFAULT_ACTIVATIONS = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"), "LSTM": ("Sigmoid", "Tanh", "Tanh")}
# name -> (op, alphas, betas, default alpha, default beta); Affine and ScaledTanh are written as ops
ACTIVATIONS = {"relu": ("Relu", 0, 0), "tanh": ("Tanh", 0, 0), "sigmoid": ("Sigmoid", 0, 0), "softsign": ("Softsign", 0, 0),
               "softplus": ("Softplus", 0, 0), "leakyrelu": ("LeakyRelu", 1, 0), "thresholdedrelu": ("ThresholdedRelu", 1, 0),
               "elu": ("Elu", 1, 0), "hardsigmoid": ("HardSigmoid", 1, 1), "affine": ("Affine", 1, 1),
               "scaledtanh": ("ScaledTanh", 1, 1)}
DEFAULT_ALPHA = {"LeakyRelu": 0.01, "ThresholdedRelu": 1.0, "Elu": 1.0, "HardSigmoid": 0.2, "Affine": 1.0, "ScaledTanh": 1.0}
DEFAULT_BETA = {"HardSigmoid": 0.5, "Affine": 0.0, "ScaledTanh": 1.0}


def recurrent_nodes(node: Node, graph: Graph) -> tuple[Node, ...]:
    """RNN, GRU or LSTM as MatMuls and elementwise nodes per step (see the module docstring)."""
    e = Emit(node, graph)
    a = node.attrs
    ins = list(node.inputs) + [""] * (8 - len(node.inputs))
    x, w, r, b, lens_name, h0, c0, p = ins[:8]
    if node.op != "LSTM":
        c0 = p = ""
    direction = a.get("direction", "forward")
    directions = {"forward": [0], "reverse": [1], "bidirectional": [0, 1]}.get(direction)
    if directions is None:
        raise UnsupportedError(f"{node.op} '{node.name}' has direction '{direction}'; ONNX defines forward, reverse "
                               "and bidirectional")
    if node.op == "LSTM" and a.get("input_forget", 0):
        raise UnsupportedError(f"LSTM '{node.name}' couples its input and forget gates (input_forget=1), which webjit "
                               "does not support")
    layout = a.get("layout", 0)
    hidden = int(a["hidden_size"]) if "hidden_size" in a else graph.types[r].shape[-1]
    gates = GATES[node.op]
    if layout:
        x = e("Transpose", x, perm=[1, 0, 2])
        h0 = e("Transpose", h0, perm=[1, 0, 2]) if h0 else ""
        c0 = e("Transpose", c0, perm=[1, 0, 2]) if c0 else ""
    xshape = graph.types[node.inputs[0]].shape
    steps, batch = (xshape[1], xshape[0]) if layout else (xshape[0], xshape[1])
    if steps > MAX_STEPS:
        raise UnsupportedError(f"{node.op} '{node.name}' runs {steps} steps; webjit unrolls recurrences of up to "
                               f"{MAX_STEPS} steps at compile time")
    lengths = _lengths(node, lens_name, graph, steps, batch)
    acts = _activations(node, len(directions))
    clip = a.get("clip")
    zeros = e.const(np.zeros((batch, hidden), np.float32))
    ys, hs, cs = [], [], []
    for d, reverse in enumerate(directions):
        wd, rd = e.pick(w, d), e.pick(r, d)
        wt, rt = e("Transpose", wd, perm=[1, 0]), e("Transpose", rd, perm=[1, 0])
        projected = e("MatMul", x, wt)  # [T, B, gates * H]: every step's input projection at once
        rbh = ""
        if b:
            bd = e.pick(b, d)
            wb, rb = e.slice(bd, 0, gates * hidden), e.slice(bd, gates * hidden, 2 * gates * hidden)
            if node.op == "GRU" and a.get("linear_before_reset", 0):  # Rb of the h gate goes inside r * (...)
                rbh = e.slice(rb, 2 * hidden, 3 * hidden)
                rb = e("Mul", rb, e.const(np.repeat(np.array([1, 1, 0], np.float32), hidden)))
            projected = e("Add", projected, e("Add", wb, rb))
        flat = e("Reshape", projected, e.const(np.array([steps * batch, gates * hidden], np.int64)))
        h = e.pick(h0, d) if h0 else zeros
        c = (e.pick(c0, d) if c0 else zeros) if node.op == "LSTM" else ""
        peep = [e.slice(e.pick(p, d), k * hidden, (k + 1) * hidden) for k in range(3)] if p else []
        outs = []
        for s in range(steps):
            times = [s if not reverse else (n - 1 - s if s < n else s) for n in lengths]
            if len(set(times)) == 1:
                xt = e.pick(projected, times[0])
            else:
                xt = e("Gather", flat, e.const(np.array([t * batch + i for i, t in enumerate(times)], np.int64)), axis=0)
            step = _STEPS[node.op](e, xt, h, c, rt, rbh, hidden, acts[d], clip, peep, a)
            live = np.array([s < n for n in lengths]).reshape(batch, 1)
            if live.all():
                h, c = step
            else:
                mask = e.const(live)
                h = e("Where", mask, step[0], h)
                c = e("Where", mask, step[1], c) if c else ""
            outs.append(step[0])
        ys.append(_sequence_output(e, outs, lengths, reverse, steps, batch, hidden, zeros))
        if 0 in lengths:  # a row of length 0 ends in zeros, not its initial state (as onnxruntime)
            some = e.const(np.array([n > 0 for n in lengths]).reshape(batch, 1))
            h, c = e("Where", some, h, zeros), (e("Where", some, c, zeros) if c else "")
        hs.append(h), cs.append(c)
    results = [e.stack(ys, 1), e.stack(hs, 0), e.stack(cs, 0) if node.op == "LSTM" else ""]
    perms = [[2, 0, 1, 3], [1, 0, 2], [1, 0, 2]]
    for out, value, perm in zip(node.outputs, results, perms):
        if out:
            e("Transpose", value, perm=perm, out=out) if layout else e("Identity", value, out=out)
    return tuple(e.parts)


def _lengths(node: Node, name: str, graph: Graph, steps: int, batch: int) -> list[int]:
    if not name:
        return [steps] * batch
    if name not in graph.constants:
        hint = f"; bind it with --const {name}=VALUE" if name in graph.inputs else ""
        raise UnsupportedError(f"{node.op} '{node.name}' takes its sequence_lens from '{name}' at run time; webjit "
                               f"unrolls recurrences with sequence lengths known at compile time{hint}")
    lengths = [int(v) for v in np.asarray(graph.constants[name]).reshape(-1)]
    if len(lengths) != batch or any(n < 0 or n > steps for n in lengths):
        raise UnsupportedError(f"{node.op} '{node.name}' has sequence_lens {lengths}, outside 0..{steps} for a batch "
                               f"of {batch}")
    return lengths


def _activations(node: Node, directions: int) -> list[list[tuple]]:
    """Per direction, its activation functions as (op, alpha, beta)."""
    names = list(node.attrs.get("activations") or DEFAULT_ACTIVATIONS[node.op] * directions)
    per = len(DEFAULT_ACTIVATIONS[node.op])
    if len(names) == per and directions == 2:
        names *= 2
    if len(names) != per * directions:
        raise UnsupportedError(f"{node.op} '{node.name}' lists {len(names)} activations; it needs {per} per direction")
    alphas, betas = list(node.attrs.get("activation_alpha", [])), list(node.attrs.get("activation_beta", []))
    resolved = []
    for name in names:
        if name.lower() not in ACTIVATIONS:
            raise UnsupportedError(f"{node.op} '{node.name}' uses activation '{name}', which webjit does not support")
        op, takes_alpha, takes_beta = ACTIVATIONS[name.lower()]
        alpha = (alphas.pop(0) if alphas else DEFAULT_ALPHA[op]) if takes_alpha else None
        beta = (betas.pop(0) if betas else DEFAULT_BETA[op]) if takes_beta else None
        resolved.append((op, alpha, beta))
    return [resolved[k * per:(k + 1) * per] for k in range(directions)]


def _act(e: Emit, fn: tuple, x: str, clip) -> str:
    if clip is not None:
        x = e("Clip", x, e.const(np.float32(-clip)), e.const(np.float32(clip)))
    op, alpha, beta = fn
    if op == "Affine":
        return e("Add", e("Mul", x, e.const(np.float32(alpha))), e.const(np.float32(beta)))
    if op == "ScaledTanh":
        return e("Mul", e("Tanh", e("Mul", x, e.const(np.float32(beta)))), e.const(np.float32(alpha)))
    attrs = {k: v for k, v in (("alpha", alpha), ("beta", beta)) if v is not None}
    return e(op, x, **attrs)


def _rnn_step(e, xt, h, c, rt, rbh, hidden, acts, clip, peep, attrs):
    return _act(e, acts[0], e("Add", xt, e("MatMul", h, rt)), clip), ""


def _gru_step(e, xt, h, c, rt, rbh, hidden, acts, clip, peep, attrs):
    f, g = acts
    if attrs.get("linear_before_reset", 0):
        hr = e("MatMul", h, rt)
        zr = e("Add", e.slice(xt, 0, 2 * hidden), e.slice(hr, 0, 2 * hidden))
        z, r = _act(e, f, e.slice(zr, 0, hidden), clip), _act(e, f, e.slice(zr, hidden, 2 * hidden), clip)
        recur = e.slice(hr, 2 * hidden, 3 * hidden)
        recur = e("Add", recur, rbh) if rbh else recur
        candidate = e("Add", e.slice(xt, 2 * hidden, 3 * hidden), e("Mul", r, recur))
    else:
        zr = e("Add", e.slice(xt, 0, 2 * hidden), e("MatMul", h, e.slice(rt, 0, 2 * hidden)))
        z, r = _act(e, f, e.slice(zr, 0, hidden), clip), _act(e, f, e.slice(zr, hidden, 2 * hidden), clip)
        recur = e("MatMul", e("Mul", r, h), e.slice(rt, 2 * hidden, 3 * hidden))
        candidate = e("Add", e.slice(xt, 2 * hidden, 3 * hidden), recur)
    cand = _act(e, g, candidate, clip)
    return e("Add", cand, e("Mul", z, e("Sub", h, cand))), ""  # (1 - z) * cand + z * h


def _lstm_step(e, xt, h, c, rt, rbh, hidden, acts, clip, peep, attrs):
    f, g, act_h = acts
    pre = e("Add", xt, e("MatMul", h, rt))
    gate = lambda k: e.slice(pre, k * hidden, (k + 1) * hidden)  # i, o, f, c
    i_pre, o_pre, f_pre = gate(0), gate(1), gate(2)
    if peep:
        i_pre, f_pre = e("Add", i_pre, e("Mul", peep[0], c)), e("Add", f_pre, e("Mul", peep[2], c))
    i, forget, cand = _act(e, f, i_pre, clip), _act(e, f, f_pre, clip), _act(e, g, gate(3), clip)
    c_new = e("Add", e("Mul", forget, c), e("Mul", i, cand))
    if peep:
        o_pre = e("Add", o_pre, e("Mul", peep[1], c_new))
    o = _act(e, f, o_pre, clip)
    return e("Mul", o, _act(e, act_h, c_new, None)), c_new


_STEPS = {"RNN": _rnn_step, "GRU": _gru_step, "LSTM": _lstm_step}


def _sequence_output(e, outs, lengths, reverse, steps, batch, hidden, zeros) -> str:
    """Y of one direction, [T, B, H], from its step outputs: each row in time order, zero past its length."""
    steps_full = all(n == steps for n in lengths)
    if steps_full:
        return e.stack(outs[::-1] if reverse else outs, 0)
    flat = e("Reshape", e.stack(outs, 0), e.const(np.array([steps * batch, hidden], np.int64)))
    index = np.array([[((n - 1 - t) if reverse and t < n else t) * batch + i for i, n in enumerate(lengths)]
                      for t in range(steps)], np.int64)
    live = np.array([[t < n for n in lengths] for t in range(steps)]).reshape(steps, batch, 1)
    return e("Where", e.const(live), e("Gather", flat, e.const(index), axis=0), zeros)
