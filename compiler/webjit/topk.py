"""TopK at import, as comparisons and reductions webjit has kernels for.

Along the axis, an element's rank is how many elements come before it in the output order:
those strictly larger (smaller for largest=0), and equal ones at a lower index, so ties go to
the lower index as in onnxruntime. The k outputs are the elements of rank 0 .. k-1: their
indices are a sum of position * (rank == r), and their values a gather at those indices.
This costs n * n comparisons per row; a long row is ranked in two stages (each chunk's best k,
then the best of those), and a row too long for either stage to fit MAX_PAIRS is refused.
"""
from __future__ import annotations

from .emit import Emit
from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np

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
    chunk = _chunk_size(rows, n, k)
    if chunk is None:
        raise UnsupportedError(f"TopK '{node.name}' ranks {rows} rows of {n} elements for k={k}; webjit's TopK compares "
                               f"pairs of elements and handles up to {MAX_PAIRS} pairs per stage")
    perm = [d for d in range(rank) if d != axis] + [axis]  # the axis last
    moved = e("Transpose", x, perm=perm) if axis != rank - 1 else x
    largest, floats = node.attrs.get("largest", 1), graph.types[x].dtype.startswith("float")
    if not chunk:
        indices = _first_k(e, moved, n, k, largest, floats)
        values = e("GatherElements", moved, indices, axis=-1)
    else:
        values, indices = _chunked(e, moved, [shape[d] for d in perm[:-1]], n, k, chunk, largest, graph.types[x].dtype)
    back = [int(d) for d in np.argsort(perm)]
    outs = node.outputs + ("",) * (2 - len(node.outputs))
    for out, value in zip(outs, (values, indices)):
        if out:
            e("Transpose", value, perm=back, out=out) if axis != rank - 1 else e("Identity", value, out=out)
    return tuple(e.parts)


SINGLE_STAGE = 1 << 20  # pairs: up to this, one ranking of the whole row


def _chunk_size(rows: int, n: int, k: int) -> int | None:
    """0 for one ranking of each row, a chunk size for two stages (each chunk's best k, then
    the best k of those), or None when neither fits MAX_PAIRS."""
    if rows * n * n <= SINGLE_STAGE:
        return 0
    costs = {} if rows * n * n > MAX_PAIRS else {0: rows * n * n}
    chunk = 16
    while chunk < n:
        groups = -(-n // chunk)
        first, second = rows * groups * chunk * chunk, rows * (groups * min(k, chunk)) ** 2
        if first <= MAX_PAIRS and second <= MAX_PAIRS:
            costs[chunk] = first + second
        chunk *= 2
    return min(costs, key=costs.get) if costs else None


def _first_k(e: Emit, values: str, n: int, k: int, largest: int, floats: bool) -> str:
    """Positions along the last axis of `values` [..., n] of its first k elements in output order."""
    column = e("Unsqueeze", values, e.const(np.array([-1], np.int64)))  # [..., n, 1]: element i
    row = e("Unsqueeze", values, e.const(np.array([-2], np.int64)))  # [..., 1, n]: element j
    before, same = e("Greater" if largest else "Less", row, column), e("Equal", row, column)
    if floats:  # NaN ranks as the largest value, so ranks stay a permutation
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
    return e("Cast", found, to=7)  # [..., k]


def _chunked(e: Emit, moved: str, lead: list[int], n: int, k: int, chunk: int, largest: int, dtype: str):
    """Each chunk's best k, then the best k of those candidates. Candidates keep index order
    among equals (chunk by chunk, each in rank order), so ties still go to the lower index;
    padding ranks after every real element (the worst value, at the highest indices)."""
    groups = -(-n // chunk)
    worst = (-np.inf if largest else np.inf) if dtype.startswith("float") else \
        (np.iinfo(dtype).min if largest else np.iinfo(dtype).max)
    rank = len(lead) + 1
    padded = e("Pad", moved, e.const(np.array([0] * (2 * rank - 1) + [groups * chunk - n], np.int64)),
               e.const(np.array(worst, dtype)))
    blocks = e("Reshape", padded, e.const(np.array(lead + [groups, chunk], np.int64)))
    best = min(k, chunk)
    local = _first_k(e, blocks, chunk, best, largest, dtype.startswith("float"))  # [..., groups, best]
    local_values = e("GatherElements", blocks, local, axis=-1)
    offsets = e.const((np.arange(groups, dtype=np.int64) * chunk).reshape(groups, 1))
    flat = e.const(np.array(lead + [groups * best], np.int64))
    values = e("Reshape", local_values, flat)
    indices = e("Reshape", e("Add", local, offsets), flat)
    final = _first_k(e, values, groups * best, k, largest, dtype.startswith("float"))
    return e("GatherElements", values, final, axis=-1), e("GatherElements", indices, final, axis=-1)
