"""TopK at import, as comparisons and reductions webjit has kernels for.

Along the axis, an element's rank is how many elements come before it in the output order:
those strictly larger (smaller for largest=0), and equal ones at a lower index, so ties go to
the lower index as in onnxruntime. The k outputs are the elements of rank 0 .. k-1: their
indices are a sum of position * (rank == r), and their values a gather at those indices.
This costs n * n comparisons per row, so rows longer than MAX_PAIRS allows are refused.
"""
from __future__ import annotations

import numpy as np

from .emit import Emit
from .errors import UnsupportedError
from .ir import Graph, Node

MAX_PAIRS = 1 << 24  # elements of the [rows, n, n] comparison


def topk_nodes(node: Node, graph: Graph) -> tuple[Node, ...]:
    e = Emit(node, graph)
    x = node.inputs[0]
    k_name = node.inputs[1] if len(node.inputs) > 1 else e.const(np.array([node.attrs.get("k", 1)], np.int64))  # opset 1
    if k_name not in graph.constants:
        hint = f"; bind it with --const {k_name}=VALUE" if k_name in graph.inputs else ""
        raise UnsupportedError(f"TopK '{node.name}' takes its k from '{k_name}', which webjit needs at compile time "
                               f"(it decides the output shape){hint}")
    shape = graph.types[x].shape
    rank = len(shape)
    axis = node.attrs.get("axis", -1) % rank
    n = shape[axis]
    k = int(np.asarray(graph.constants[k_name]).reshape(-1)[0])
    if not 1 <= k <= n:
        raise UnsupportedError(f"TopK '{node.name}' asks for k={k} of {n} elements; webjit computes 1 to {n}")
    rows = int(np.prod(shape)) // max(n, 1)
    if rows * n * n > MAX_PAIRS:
        raise UnsupportedError(f"TopK '{node.name}' ranks {rows} rows of {n} elements; webjit's TopK compares every "
                               f"pair of a row and handles up to {MAX_PAIRS} pairs in all")
    perm = [d for d in range(rank) if d != axis] + [axis]  # the axis last
    moved = e("Transpose", x, perm=perm) if axis != rank - 1 else x
    column = e("Unsqueeze", moved, e.const(np.array([-1], np.int64)))  # [..., n, 1]: element i
    row = e("Unsqueeze", moved, e.const(np.array([-2], np.int64)))  # [..., 1, n]: element j
    largest = node.attrs.get("largest", 1)
    before, same = e("Greater" if largest else "Less", row, column), e("Equal", row, column)
    if graph.types[x].dtype.startswith("float"):  # NaN ranks as the largest value, so ranks stay a permutation
        nan_j, nan_i = e("IsNaN", row), e("IsNaN", column)
        first, second = (nan_j, nan_i) if largest else (nan_i, nan_j)
        before = e("Or", before, e("And", first, e("Not", second)))
        same = e("Or", same, e("And", nan_j, nan_i))
    earlier = e.const(np.tril(np.ones((n, n), bool), -1))  # j < i
    beats = e("Or", before, e("And", same, earlier))
    ranks = e("ReduceSum", e("Cast", beats, to=1), e.const(np.array([-1], np.int64)), keepdims=0)  # [..., n]
    wanted = e.const(np.arange(k, dtype=np.float32).reshape(k, 1))
    hit = e("Cast", e("Equal", e("Unsqueeze", ranks, e.const(np.array([-2], np.int64))), wanted), to=1)  # [..., k, n]
    positions = e.const(np.arange(n, dtype=np.float32))
    found = e("ReduceSum", e("Mul", hit, positions), e.const(np.array([-1], np.int64)), keepdims=0)
    indices = e("Cast", found, to=7)  # [..., k]
    values = e("GatherElements", moved, indices, axis=-1)
    back = [int(d) for d in np.argsort(perm)]
    outs = node.outputs + ("",) * (2 - len(node.outputs))
    for out, value in zip(outs, (values, indices)):
        if out:
            e("Transpose", value, perm=back, out=out) if axis != rank - 1 else e("Identity", value, out=out)
    return tuple(e.parts)
