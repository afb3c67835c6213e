"""Fused attention: MatMul(Q, K^T) -> [Mul or Div by a constant scalar] -> [Where(cond, s, constant)]
-> [Add mask] -> Softmax(last axis) -> MatMul(P, V) becomes one `attention` kernel
(kernels.Attention), so the [batch..., sq, sk] scores never reach memory.

`find_attention` is the decision, a pure function of the graph whose result prints
(`attention_text`, attention.txt of --dump); lowering absorbs the matched nodes and emits
`lower_attention` at the final MatMul. Anything that does not match exactly stays on the
unfused path: every intermediate tensor has exactly one consumer and is no model output,
all float32 and of the scores' shape, masks broadcast to it, and the sizes fit both
backends' kernels (MAX_KEYS, MAX_DEPTH).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import kernels as K
from .ir import Graph, Node
from .nplike import np
from .symbolic import lower_bound, upper
from .views import broadcast_strides, row_major, transpose

MAX_KEYS = 2048  # the WGSL kernel keeps a row of scores in workgroup memory (8 KiB)
MAX_DEPTH = 256  # the WASM kernel keeps q in registers and unrolls the depth loops


@dataclass(frozen=True)
class AttentionMatch:
    q: str
    kt: str  # K^T as the graph has it: [batch..., d, sk]
    v: str
    scale: float
    divide: bool
    select: str | None  # the Where's condition
    fill: float
    add: str | None  # the additive mask
    nodes: tuple[str, ...]  # output tensors of the absorbed nodes, the QK MatMul first
    output: str  # the P V MatMul's output: where the kernel is emitted
    name: str  # that MatMul's node name


def find_attention(graph: Graph) -> tuple[AttentionMatch, ...]:
    """Every attention chain of `graph` the fused kernel computes exactly, in graph order."""
    producer, consumers = graph.producer(), graph.consumers()
    found = []
    for node in graph.nodes:
        if node.op == "Softmax":
            match = _match(graph, node, producer, consumers)
            if match is not None:
                found.append(match)
    return tuple(found)


def attention_text(matches: tuple[AttentionMatch, ...]) -> str:
    lines = []
    for m in matches:
        scale = f"{'/' if m.divide else '*'} {m.scale!r}"
        masks = (f" where({m.select}, s, {m.fill!r})" if m.select else "") + (f" + {m.add}" if m.add else "")
        lines.append(f"attention {m.output} = softmax({m.q} @ {m.kt} {scale}{masks}) @ {m.v}  "
                     f"# absorbs {', '.join(m.nodes)}")
    return "\n".join(lines or ["no attention chain matched"]) + "\n"


def _only_consumer(graph: Graph, consumers, name: str) -> Node | None:
    users = consumers.get(name, [])
    if name in graph.outputs or len(users) != 1:
        return None
    return users[0]


def _scalar(graph: Graph, name: str) -> float | None:
    value = graph.constants.get(name)
    if value is None or value.size != 1 or value.dtype.kind != "f":
        return None
    return float(np.float32(value.reshape(-1)[0]))


def _match(graph: Graph, softmax: Node, producer, consumers) -> AttentionMatch | None:
    types = graph.types
    x = softmax.inputs[0]
    shape = types[x].shape
    rank = len(shape)
    if rank < 2 or softmax.attrs.get("axis", -1) % rank != rank - 1 or types[x].dtype != "float32":
        return None
    pv = _only_consumer(graph, consumers, softmax.outputs[0])
    if pv is None or pv.op != "MatMul" or pv.inputs[0] != softmax.outputs[0] or pv.inputs[1] == softmax.outputs[0]:
        return None
    found = _chain(graph, producer, consumers, x, shape, 0)
    if found is None:
        return None
    node, chain, parts = found
    scale, divide = parts.get("scale", (1.0, False))
    select, fill = parts.get("select", (None, 0.0))
    add = parts.get("add")
    chain = chain + [softmax.outputs[0]]
    q, kt = node.inputs
    v = pv.inputs[1]
    if any(len(types[n].shape) != rank or types[n].dtype != "float32" for n in (q, kt, v)):
        return None
    (*_, sq, d), (*_, d2, sk), (*_, sk2, dv) = (types[n].shape for n in (q, kt, v))
    if (sq, sk) != shape[-2:] or d != d2 or sk2 != sk or types[pv.outputs[0]].shape != shape[:-1] + (dv,):
        return None
    if any(not _broadcasts(types[n].shape[:-2], shape[:-2]) for n in (q, kt, v)):
        return None
    if min(lower_bound(n) for n in (sq, sk, d, dv)) < 1 or upper(sk) > MAX_KEYS or upper(d) > MAX_DEPTH \
            or upper(dv) > MAX_DEPTH:
        return None
    return AttentionMatch(q, kt, v, scale, divide, select, fill, add, tuple(chain), pv.outputs[0],
                          pv.name)


STAGES = ("Add", "Where", "Scale", "MatMul")  # from the Softmax's input back to the QK MatMul


def _chain(graph: Graph, producer, consumers, name: str, shape, stage: int):
    """(QK MatMul node, absorbed tensors in graph order, {"add", "select", "scale": ...}) for the
    scores tensor `name` produced by a stage at or after `stage`; None when it is not one."""
    types = graph.types
    node = producer.get(name)
    if node is None or types[name].shape != shape or types[name].dtype != "float32" or len(node.outputs) != 1 \
            or _only_consumer(graph, consumers, name) is None:
        return None

    def then(source: str, next_stage: int, key: str, value):
        found = _chain(graph, producer, consumers, source, shape, next_stage)
        if found is None:
            return None
        qk, chain, parts = found
        return qk, chain + [name], {**parts, key: value}

    for position in range(stage, len(STAGES)):
        kind = STAGES[position]
        if kind == "Add" and node.op == "Add":
            for scores, mask in (node.inputs, reversed(node.inputs)):
                if types[mask].dtype == "float32" and _broadcasts(types[mask].shape, shape) and scores != mask:
                    found = then(scores, position + 1, "add", mask)
                    if found is not None:
                        return found
            return None
        if kind == "Where" and node.op == "Where":
            cond, scores, other = node.inputs
            fill = _scalar(graph, other)
            if fill is None or types[cond].dtype != "bool" or not _broadcasts(types[cond].shape, shape):
                return None
            return then(scores, position + 1, "select", (cond, fill))
        if kind == "Scale" and node.op in ("Mul", "Div"):
            a, b = node.inputs
            if _scalar(graph, b) is not None:
                return then(a, position + 1, "scale", (_scalar(graph, b), node.op == "Div"))
            if node.op == "Mul" and _scalar(graph, a) is not None:
                return then(b, position + 1, "scale", (_scalar(graph, a), False))
            return None
        if kind == "MatMul" and node.op == "MatMul":
            return node, [name], {}
    return None


def _broadcasts(small: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """`small` broadcasts to `shape` without enlarging it."""
    if len(small) > len(shape):
        return False
    return all(s in (1, n) for s, n in zip(reversed(small), reversed(shape)))


def lower_attention(lw, match: AttentionMatch) -> None:
    """Emit the attention kernel of `match` into the Lowering `lw` (lower.py)."""
    out_shape = lw.shape_of(match.output)
    batch = out_shape[:-2]
    sq, dv = out_shape[-2:]
    sk = lw.shape_of(match.kt)[-1]
    d = lw.shape_of(match.q)[-1]
    score_shape = batch + (sq, sk)

    def operand(view, tag):
        view = lw.forward(view, f"{match.name}::{tag}")
        if view.strides[-1] != 1 and view.shape[-1] != 1:
            view = lw.contiguous(view, f"{match.name}::{tag}")
        return view

    rank = len(out_shape)
    swap = list(range(rank - 2)) + [rank - 1, rank - 2]
    q = operand(lw.view(match.q), "q")
    k = operand(transpose(lw.view(match.kt), swap), "k")
    v = operand(lw.view(match.v), "v")
    masks = [lw.forward(lw.view(name), f"{match.name}::mask") if name else None for name in (match.select, match.add)]
    out = lw.output_view(match.output)
    inputs = [q.buffer, k.buffer, v.buffer] + [m.buffer for m in masks if m is not None]
    args, buffers = K.args_for(inputs, out.buffer)
    index = {id(b): i for i, b in enumerate(buffers)}

    def access(view, shape):
        strides = list(broadcast_strides(view, shape))
        if shape[-1] == 1:
            strides[-1] = 1  # depth 1: any stride reads the one element
        return K.Access(index[id(view.buffer)], tuple(strides), view.offset)

    mask_access = [access(m, score_shape) if m is not None else None for m in masks]
    spec = K.Attention(batch=batch, sq=sq, sk=sk, d=d, dv=dv, scale=match.scale, divide=match.divide,
                       q=access(q, batch + (sq, d)), k=access(k, batch + (sk, d)), v=access(v, batch + (sk, dv)),
                       select=mask_access[0], fill=match.fill, add=mask_access[1],
                       out=K.Access(len(buffers) - 1, row_major(out_shape)), args=args)
    lw.emit(spec, buffers, f"{match.name} (attention)")
