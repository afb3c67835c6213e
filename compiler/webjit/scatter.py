"""ScatterElements, Scatter, ScatterND and TensorScatter at import, with runtime indices and
updates, as comparisons, reductions and gathers webjit has kernels for.

A scatter compares each update's target with each position it may land on (a [positions,
updates] match): with no reduction a position takes the update of the highest matching index
(later updates win, as the reference does) or keeps its data; a reduction combines the data
with the add / mul / max / min of its matching updates. ScatterElements matches only along its
axis, ScatterND per slice, so the match is small for the usual shapes; one larger than
MAX_MATCH elements is refused. TensorScatter (a KV-cache write at per-batch offsets) is a
gather from the update at position - write index, no match at all.
"""
from __future__ import annotations

from .emit import Emit
from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np

MAX_MATCH = 1 << 24  # elements of the match (times the slice size for a reduced ScatterND)
NEUTRAL = {"add": 0.0, "mul": 1.0, "max": -np.inf, "min": np.inf}
REDUCE = {"add": ("ReduceSum", "Add"), "mul": ("ReduceProd", "Mul"), "max": ("ReduceMax", "Max"), "min": ("ReduceMin", "Min")}
SCATTERS = ("ScatterElements", "Scatter", "ScatterND", "TensorScatter")


def scatter_nodes(node: Node, graph: Graph) -> tuple[Node, ...]:
    e = Emit(node, graph)
    reduction = node.attrs.get("reduction", "none")
    if reduction not in ("none", *NEUTRAL):
        raise UnsupportedError(f"{node.op} '{node.name}' has reduction '{reduction}'; ONNX defines none, add, mul, "
                               "max and min")
    dtype = graph.types[node.inputs[0]].dtype
    if reduction != "none" and dtype != "float32":
        raise UnsupportedError(f"{node.op} '{node.name}' reduces {dtype} values ({reduction}); webjit reduces float32")
    if node.op == "TensorScatter":
        _tensor_scatter(e, node, graph)
    elif node.op == "ScatterND":
        _scatter_nd(e, node, graph, reduction)
    else:
        _scatter_elements(e, node, graph, reduction)
    return tuple(e.parts)


def _wrapped(e: Emit, index: str, size: int, dtype: str) -> str:
    """Negative indices count from the end."""
    negative = e("Less", index, e.const(np.array(0, dtype)))
    return e("Where", negative, e("Add", index, e.const(np.array(size, dtype))), index)


def _too_big(node: Node, elements: int) -> None:
    if elements > MAX_MATCH:
        raise UnsupportedError(f"{node.op} '{node.name}' would compare {elements} (position, update) pairs; webjit's "
                               f"scatter handles up to {MAX_MATCH}")


def _scatter_elements(e: Emit, node: Node, graph: Graph, reduction: str) -> None:
    data, indices, updates = node.inputs[:3]
    shape, ishape = graph.types[data].shape, graph.types[indices].shape
    itype = graph.types[indices].dtype
    rank = len(shape)
    axis = node.attrs.get("axis", 0) % rank
    n, m = shape[axis], ishape[axis]
    others = [d for d in range(rank) if d != axis]
    _too_big(node, int(np.prod([ishape[d] for d in others])) * n * m)
    perm = others + [axis]
    back = [int(d) for d in np.argsort(perm)]
    index = e("Transpose", _wrapped(e, indices, n, itype), perm=perm)  # [O..., m]
    update = e("Transpose", updates, perm=perm)
    region = [ishape[d] if d != axis else n for d in range(rank)]  # positions the updates can reach
    current = data
    if region != list(shape):
        current = e("Slice", data, e.const(np.zeros(rank, np.int64)), e.const(np.array(region, np.int64)),
                    e.const(np.arange(rank, dtype=np.int64)))
    current = e("Transpose", current, perm=perm)  # [O..., n]
    targets = e.const(np.arange(n, dtype=itype).reshape(n, 1))
    match = e("Equal", e("Unsqueeze", index, e.const(np.array([-2], np.int64))), targets)  # [O..., n, m]
    new = _combine(e, match, update, current, m, reduction, gather_axis=-1)
    new = e("Transpose", new, perm=back)
    if region == list(shape):
        e("Identity", new, out=node.outputs[0])
        return
    pads = [0] * rank + [s - r for s, r in zip(shape, region)]
    inside = np.zeros(shape, bool)
    inside[tuple(slice(0, r) for r in region)] = True
    padded = e("Pad", new, e.const(np.array(pads, np.int64)))
    e("Where", e.const(inside), padded, data, out=node.outputs[0])


def _combine(e: Emit, match: str, update: str, current: str, m: int, reduction: str, gather_axis: int) -> str:
    """The new value of each position: match is [..., positions, m] against updates [..., m]
    (ScatterElements) or [positions, m] against update rows [m, r] (ScatterND, gather_axis 0)."""
    minus1 = e.const(np.array([-1], np.int64))
    if reduction == "none":
        order = e("Where", match, e.const(np.arange(1, m + 1, dtype=np.float32)), e.const(np.float32(0)))
        last = e("ReduceMax", order, minus1, keepdims=0 if gather_axis else 1)  # 1 + the last matching update, or 0
        pick = e("Cast", e("Max", e("Sub", last, e.const(np.float32(1))), e.const(np.float32(0))), to=7)
        if gather_axis:
            chosen = e("GatherElements", update, pick, axis=-1)
        else:
            chosen = e("Gather", update, e("Reshape", pick, minus1), axis=0)
        return e("Where", e("Greater", last, e.const(np.float32(0))), chosen, current)
    reduce_op, combine_op = REDUCE[reduction]
    if gather_axis:  # match [O..., n, m], updates [O..., 1, m]
        values = e("Where", match, e("Unsqueeze", update, e.const(np.array([-2], np.int64))),
                   e.const(np.float32(NEUTRAL[reduction])))
        reduced = e(reduce_op, values, minus1, keepdims=0)
    else:  # match [n, m, 1], update rows [1, m, r]
        values = e("Where", e("Unsqueeze", match, minus1), e("Unsqueeze", update, e.const(np.array([0], np.int64))),
                   e.const(np.float32(NEUTRAL[reduction])))
        reduced = e(reduce_op, values, e.const(np.array([1], np.int64)), keepdims=0)
    return e(combine_op, current, reduced)


def _scatter_nd(e: Emit, node: Node, graph: Graph, reduction: str) -> None:
    data, indices, updates = node.inputs[:3]
    shape, ishape = graph.types[data].shape, graph.types[indices].shape
    itype = graph.types[indices].dtype
    depth = ishape[-1]
    if not 1 <= depth <= len(shape):
        raise UnsupportedError(f"ScatterND '{node.name}' has index tuples of length {depth} into a rank-{len(shape)} "
                               "tensor")
    positions, m = int(np.prod(shape[:depth])), int(np.prod(ishape[:-1]))
    row = int(np.prod(shape[depth:]))
    _too_big(node, positions * m * (row if reduction != "none" else 1))
    pairs = e("Reshape", indices, e.const(np.array([m, depth], np.int64)))
    strides = [int(np.prod(shape[k + 1:depth])) for k in range(depth)]
    flat = ""
    for k in range(depth):  # the flat slice index of each update
        part = e("Mul", _wrapped(e, e.pick(pairs, k, axis=1), shape[k], itype), e.const(np.array(strides[k], itype)))
        flat = e("Add", flat, part) if flat else part
    targets = e.const(np.arange(positions, dtype=itype).reshape(positions, 1))
    match = e("Equal", e("Unsqueeze", flat, e.const(np.array([0], np.int64))), targets)  # [positions, m]
    rows = e("Reshape", updates, e.const(np.array([m, row], np.int64)))
    current = e("Reshape", data, e.const(np.array([positions, row], np.int64)))
    new = _combine(e, match, rows, current, m, reduction, gather_axis=0)
    e("Reshape", new, e.const(np.array(shape, np.int64)), out=node.outputs[0])


def _tensor_scatter(e: Emit, node: Node, graph: Graph) -> None:
    past, update = node.inputs[:2]
    writes = node.inputs[2] if len(node.inputs) > 2 else ""
    shape, ushape = graph.types[past].shape, graph.types[update].shape
    rank = len(shape)
    axis = node.attrs.get("axis", -2) % rank
    if axis == 0:
        raise UnsupportedError(f"TensorScatter '{node.name}' has axis 0, its batch axis; the sequence axis comes after it")
    mode = node.attrs.get("mode", "linear")
    if mode not in ("linear", "circular"):
        raise UnsupportedError(f"TensorScatter '{node.name}' has mode '{mode}'; ONNX defines linear and circular")
    size, length = shape[axis], ushape[axis]
    along = [1] * rank
    along[axis] = size
    offset = e.const(np.arange(size, dtype=np.int64).reshape(along))  # position on the sequence axis
    if writes:
        batch = [1] * rank
        batch[0] = shape[0]
        start = e("Reshape", e("Cast", writes, to=7), e.const(np.array(batch, np.int64)))
        offset = e("Sub", offset, start)  # [B, 1.., S, 1..]
    if mode == "circular":
        offset = e("Mod", offset, e.const(np.array(size, np.int64)))
    valid = e("And", e("GreaterOrEqual", offset, e.const(np.array(0, np.int64))),
              e("Less", offset, e.const(np.array(length, np.int64))))
    source = e("Where", valid, offset, e.const(np.array(0, np.int64)))
    full = e("Expand", source, e.const(np.array(shape, np.int64)))
    taken = e("GatherElements", update, full, axis=axis)
    e("Where", valid, taken, past, out=node.outputs[0])
