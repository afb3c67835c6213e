"""The training-step ops of the ai.onnx.preview.training domain (Adagrad, Adam, Momentum): one
update of each tensor group (X, G and its accumulators) from the learning rate R and step T.
They are elementwise, so each is written as elementwise nodes (decompose_more calls
`optimizer_nodes`); the numpy references follow onnx's reference implementation."""
from __future__ import annotations

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np

# op -> the tensors per group, in input order after R and T
GROUPS = {"Adagrad": ("X", "G", "H"), "Momentum": ("X", "G", "V"), "Adam": ("X", "G", "V", "H")}


def _groups(op, data):
    per = len(GROUPS[op])
    n = (len(data) - 2) // per
    return [tuple(data[2 + k * n + i] for k in range(per)) for i in range(n)], n


def _adagrad(r, t, x, g, h, *, decay_factor, epsilon, norm_coefficient):
    rate = r / (1 + t * decay_factor)
    reg = norm_coefficient * x + g
    h_new = h + reg * reg
    return (x - rate * reg / (np.sqrt(h_new) + epsilon)).astype(x.dtype), h_new.astype(h.dtype)


def _momentum(r, t, x, g, v, *, alpha, beta, mode, norm_coefficient):
    reg = norm_coefficient * x + g
    v_new = alpha * v + (beta if t > 0 else 1) * reg
    step = v_new if mode == "standard" else reg + alpha * v_new
    return (x - r * step).astype(x.dtype), v_new.astype(v.dtype)


def _adam(r, t, x, g, v, h, *, alpha, beta, epsilon, norm_coefficient, norm_coefficient_post):
    reg = norm_coefficient * x + g
    v_new = alpha * v + (1 - alpha) * reg
    h_new = beta * h + (1 - beta) * (reg * reg)
    rate = r * np.sqrt(1 - beta ** t) / (1 - alpha ** t) if t > 0 else r
    x_new = (1 - norm_coefficient_post) * (x - rate * (v_new / (np.sqrt(h_new) + epsilon)))
    return x_new.astype(x.dtype), v_new.astype(v.dtype), h_new.astype(h.dtype)


def _reference(op, fn, defaults):
    def run(*data, **attrs):
        groups, _ = _groups(op, data)
        results = [fn(data[0], data[1], *group, **{**defaults, **attrs}) for group in groups]
        return tuple(np.asarray(r[k]) for k in range(len(GROUPS[op]) - 1) for r in results)
    return run


OPTIMIZER_OPS = {
    "Adagrad": _reference("Adagrad", _adagrad, {"decay_factor": 0.0, "epsilon": 0.0, "norm_coefficient": 0.0}),
    "Momentum": _reference("Momentum", _momentum, {"norm_coefficient": 0.0}),
    "Adam": _reference("Adam", _adam, {"alpha": 0.9, "beta": 0.999, "epsilon": 0.0, "norm_coefficient": 0.0,
                                       "norm_coefficient_post": 0.0}),
}


def optimizer_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """One update per tensor group as elementwise nodes; T > 0 picks the step-dependent factors."""
    a = node.attrs
    groups, n = _groups(node.op, node.inputs)
    if n == 0 or len(node.inputs) != 2 + n * len(GROUPS[node.op]):
        raise UnsupportedError(f"{node.op} '{node.name}' has {len(node.inputs)} inputs; it takes R, T and "
                               f"{'/'.join(GROUPS[node.op])} groups")
    r, step = node.inputs[:2]
    f = lambda tag, v: const(tag, np.float32(v))
    parts = [Node("Cast", t("t_float"), (step,), (t("tf"),), {"to": 1}),
             Node("Greater", t("started"), (t("tf"), f("zero", 0)), (t("started"),))]
    if node.op == "Adagrad":  # r / (1 + t decay)
        parts += [Node("Mul", t("decay"), (t("tf"), f("decay_factor", a.get("decay_factor", 0.0))), (t("td"),)),
                  Node("Add", t("decay1"), (t("td"), f("one", 1)), (t("td1"),)),
                  Node("Div", t("rate"), (r, t("td1")), (t("rate"),))]
    elif node.op == "Momentum":
        parts.append(Node("Where", t("beta_t"), (t("started"), f("beta", a["beta"]), f("one", 1)), (t("beta_t"),)))
    else:  # Adam: r sqrt(1 - beta^t) / (1 - alpha^t) once t > 0
        alpha, beta = a.get("alpha", 0.9), a.get("beta", 0.999)
        parts += [Node("Pow", t("beta_pow"), (f("beta", beta), t("tf")), (t("beta_pow"),)),
                  Node("Sub", t("beta_rest"), (f("one", 1), t("beta_pow")), (t("beta_rest"),)),
                  Node("Sqrt", t("beta_root"), (t("beta_rest"),), (t("beta_root"),)),
                  Node("Pow", t("alpha_pow"), (f("alpha", alpha), t("tf")), (t("alpha_pow"),)),
                  Node("Sub", t("alpha_rest"), (f("one", 1), t("alpha_pow")), (t("alpha_rest"),)),
                  Node("Mul", t("r_beta"), (r, t("beta_root")), (t("r_beta"),)),
                  Node("Div", t("r_adj"), (t("r_beta"), t("alpha_rest")), (t("r_adj"),)),
                  Node("Where", t("rate"), (t("started"), t("r_adj"), r), (t("rate"),))]
    outputs = list(node.outputs) + [""] * (len(GROUPS[node.op]) - 1) * n
    for i, group in enumerate(groups):
        x, g = group[:2]
        p = lambda tag: t(f"{i}_{tag}")
        out = lambda k: outputs[k * n + i] or p(f"unused{k}")
        parts += [Node("Mul", p("decayed"), (x, f(f"{i}_norm", a.get("norm_coefficient", 0.0))), (p("nx"),)),
                  Node("Add", p("reg"), (p("nx"), g), (p("reg"),))]
        if node.op == "Adagrad":
            h = group[2]
            parts += [Node("Mul", p("sq"), (p("reg"), p("reg")), (p("sq"),)),
                      Node("Add", p("h_new"), (h, p("sq")), (out(1),)),
                      Node("Sqrt", p("root"), (out(1),), (p("root"),)),
                      Node("Add", p("root_eps"), (p("root"), f(f"{i}_eps", a.get("epsilon", 0.0))), (p("den"),)),
                      Node("Mul", p("scaled"), (t("rate"), p("reg")), (p("scaled"),)),
                      Node("Div", p("step"), (p("scaled"), p("den")), (p("step"),)),
                      Node("Sub", p("x_new"), (x, p("step")), (out(0),))]
        elif node.op == "Momentum":
            v = group[2]
            parts += [Node("Mul", p("kept"), (v, f(f"{i}_alpha", a["alpha"])), (p("kept"),)),
                      Node("Mul", p("pushed"), (t("beta_t"), p("reg")), (p("pushed"),)),
                      Node("Add", p("v_new"), (p("kept"), p("pushed")), (out(1),))]
            step = out(1)
            if a.get("mode", "standard") == "nesterov":
                parts += [Node("Mul", p("ahead"), (out(1), f(f"{i}_alpha2", a["alpha"])), (p("ahead"),)),
                          Node("Add", p("look"), (p("reg"), p("ahead")), (p("look"),))]
                step = p("look")
            elif a.get("mode", "standard") != "standard":
                raise UnsupportedError(f"Momentum '{node.name}' has mode {a['mode']!r}; ONNX defines standard and nesterov")
            parts += [Node("Mul", p("move"), (r, step), (p("move"),)), Node("Sub", p("x_new"), (x, p("move")), (out(0),))]
        else:
            v, h = group[2:]
            alpha, beta = a.get("alpha", 0.9), a.get("beta", 0.999)
            parts += [Node("Mul", p("v_kept"), (v, f(f"{i}_alpha", alpha)), (p("v_kept"),)),
                      Node("Mul", p("v_push"), (p("reg"), f(f"{i}_1alpha", 1 - alpha)), (p("v_push"),)),
                      Node("Add", p("v_new"), (p("v_kept"), p("v_push")), (out(1),)),
                      Node("Mul", p("sq"), (p("reg"), p("reg")), (p("sq"),)),
                      Node("Mul", p("h_kept"), (h, f(f"{i}_beta", beta)), (p("h_kept"),)),
                      Node("Mul", p("h_push"), (p("sq"), f(f"{i}_1beta", 1 - beta)), (p("h_push"),)),
                      Node("Add", p("h_new"), (p("h_kept"), p("h_push")), (out(2),)),
                      Node("Sqrt", p("root"), (out(2),), (p("root"),)),
                      Node("Add", p("root_eps"), (p("root"), f(f"{i}_eps", a.get("epsilon", 0.0))), (p("den"),)),
                      Node("Div", p("ratio"), (out(1), p("den")), (p("ratio"),)),
                      Node("Mul", p("move"), (t("rate"), p("ratio")), (p("move"),)),
                      Node("Sub", p("x_step"), (x, p("move")), (p("x_step"),)),
                      Node("Mul", p("x_new"), (p("x_step"), f(f"{i}_post", 1 - a.get("norm_coefficient_post", 0.0))),
                           (out(0),))]
    return tuple(parts)
