"""Import of nodes that meet symbolic sizes (symbolic.py): shape arithmetic folded into
polynomials, and output shapes of runtime nodes by explicit rules.

A shape computed from a symbolic input (Shape -> Gather -> Concat -> Reshape, the chains
exporters write) is folded at compile time into a constant int64 vector whose entries may
be Sym objects (a numpy object array). Runtime nodes get their output shapes from the
rules below, one per op kind; an op without a rule, or a question the ranges do not
decide, is refused in one sentence rather than specialised to one size.
"""
from __future__ import annotations

from .errors import ShapeError, UnsupportedError
from .ir import Graph, Node, TensorType
from .nplike import np
from .ops import OPS, slice_range
from .symbolic import Sym, SymbolicError, is_symbolic

# Ops folded when their inputs are constants holding symbolic sizes: numpy runs them on object
# arrays, whose elements are ints and Syms.
FOLD_WITH_OBJECTS = ("Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Identity", "Reshape", "Transpose",
                     "Add", "Sub", "Mul", "Neg", "Where", "Flatten")
SAME_SHAPE = ("Softmax", "LogSoftmax", "LayerNormalization", "Identity", "Dropout", "Cast", "CastLike", "Erf",
              "Gelu", "Relu", "Tanh", "Sigmoid", "Sqrt", "Exp", "Log", "Neg", "Abs", "Not", "Reciprocal", "IsNaN",
              "IsInf", "Softplus", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Clip", "Floor", "Ceil", "Round",
              "Sign", "Sin", "Cos", "SimplifiedLayerNormalization", "RMSNormalization", "Mish", "Selu", "Celu",
              "Softsign", "ThresholdedRelu", "Shrink", "Atan", "Trilu")
REDUCE_OPS = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp")


def involves_symbols(node: Node, graph: Graph) -> bool:
    for name in node.inputs:
        if not name:
            continue
        if name in graph.constants and _holds_objects(graph.constants[name]):
            return True
        if is_symbolic(graph.types[name].shape):
            return True
    return False


def _holds_objects(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == object


def add_symbolic(graph: Graph, node: Node, elementwise_dtype) -> None:
    """Fold or type `node` (some input has a symbolic size) and add it to `graph`."""
    try:
        if _fold(graph, node):
            return
        types = _rule(node, graph, elementwise_dtype)
    except SymbolicError as exc:
        raise SymbolicError(f"{node.op} '{node.name}': {exc}") from None
    for out, t in zip(node.outputs, types):
        if out:
            graph.types[out] = t
    graph.nodes.append(node)


# ---- folding shape arithmetic -------------------------------------------------------

def _fold(graph: Graph, node: Node) -> bool:
    consts = graph.constants
    if node.op in ("Shape", "Size"):
        shape = graph.types[node.inputs[0]].shape
        if node.op == "Size":
            value = _objects([_prod(shape)]).reshape(())
        else:
            start, end = node.attrs.get("start", 0), node.attrs.get("end")
            value = _objects(list(shape[start:end]))
        _set(graph, node.outputs[0], value)
        return True
    if not all(not n or n in consts for n in node.inputs):
        return False
    values = [consts.get(n) if n else None for n in node.inputs]
    if node.op in ("Cast", "CastLike"):
        to = node.attrs.get("to") if node.op == "Cast" else None
        if node.op == "CastLike" or to not in (6, 7):
            raise SymbolicError("a symbolic size is cast to a type other than int32 or int64")
        _set(graph, node.outputs[0], values[0])
        return True
    if node.op in ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"):
        a, b = np.broadcast_arrays(*(_as_objects(v) for v in values))
        decide = {"Equal": _equal, "Less": lambda x, y: bool(x < y), "Greater": lambda x, y: bool(x > y),
                  "LessOrEqual": lambda x, y: bool(x <= y), "GreaterOrEqual": lambda x, y: bool(x >= y)}[node.op]
        out = np.array([decide(x, y) for x, y in zip(a.reshape(-1), b.reshape(-1))], dtype=bool).reshape(a.shape)
        graph.constants[node.outputs[0]] = out
        graph.types[node.outputs[0]] = TensorType("bool", tuple(out.shape))
        return True
    if node.op in ("Div", "Max", "Min"):
        a, b = np.broadcast_arrays(*(_as_objects(v) for v in values))
        pick = {"Div": _divide, "Max": lambda x, y: x if x >= y else y, "Min": lambda x, y: x if x <= y else y}[node.op]
        out = _objects([pick(x, y) for x, y in zip(a.reshape(-1), b.reshape(-1))]).reshape(a.shape)
        _set(graph, node.outputs[0], out)
        return True
    if node.op in ("ConstantOfShape", "Range", "Expand", "Tile"):
        return False  # a runtime node whose shape is symbolic
    moves = ("Gather", "Unsqueeze", "Squeeze", "Slice", "Identity", "Reshape", "Transpose", "Flatten")
    if node.op in moves and not _holds_objects(values[0]):
        return False  # a constant tensor cut or shaped by a symbolic size: a runtime node
    if node.op not in FOLD_WITH_OBJECTS:
        raise SymbolicError("webjit does not compute this op on symbolic sizes at compile time")
    results = OPS[node.op](*values, **node.attrs)
    for out, value in zip(node.outputs, results):
        _set(graph, out, np.asarray(value, dtype=object))
    return True


def _objects(items) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        out[i] = v if isinstance(v, Sym) else int(v)
    return out


def _as_objects(value) -> np.ndarray:
    value = np.asarray(value)
    if value.dtype == object:
        return value
    if value.dtype.kind not in "iub":
        raise SymbolicError("a symbolic size meets a non-integer value")
    out = np.empty(value.shape, dtype=object)
    out.reshape(-1)[:] = [int(v) for v in value.reshape(-1)]
    return out


def _set(graph: Graph, name: str, value: np.ndarray) -> None:
    """A folded int vector: object dtype while it holds a Sym, plain int64 once it does not."""
    if not any(isinstance(v, Sym) for v in value.reshape(-1)):
        value = np.array([int(v) for v in value.reshape(-1)], dtype=np.int64).reshape(value.shape)
    graph.constants[name] = value
    graph.types[name] = TensorType("int64", tuple(value.shape))


def _equal(x, y) -> bool:
    if isinstance(x, Sym) or isinstance(y, Sym):
        if x == y:
            return True
        diff = x - y
        if isinstance(diff, Sym):
            lo, hi = diff.bounds()
            if lo > 0 or hi < 0:
                return False
            raise SymbolicError(f"whether {x} equals {y} depends on the symbolic size; webjit would have to guess")
        return diff == 0
    return int(x) == int(y)


def _divide(x, y):
    if isinstance(x, Sym) or isinstance(y, Sym):
        return x // y  # exact, or SymbolicError
    if y == 0:
        raise ShapeError("a shape computation divides by zero")
    q = abs(int(x)) // abs(int(y))
    return q if (x >= 0) == (y >= 0) else -q


# ---- output shapes of runtime nodes -------------------------------------------------

def broadcast(shapes: list[tuple], what: str) -> tuple:
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(rank):
        dims = [s[d - rank + len(s)] for s in shapes if d - rank + len(s) >= 0]
        size = 1
        for n in dims:
            if isinstance(n, int) and n == 1:
                continue
            if isinstance(size, int) and size == 1:
                size = n
            elif n != size:
                if isinstance(n, Sym) or isinstance(size, Sym):
                    raise SymbolicError(f"{what} broadcasts the sizes {size} and {n}, which are equal only for "
                                        f"some values of the symbolic dimensions")
                raise ShapeError(f"{what} cannot broadcast its input shapes {', '.join(str(list(s)) for s in shapes)}")
        out.append(size)
    return tuple(out)


def _prod(values):
    out = 1
    for v in values:
        out = out * v
    return out


def _ints(graph: Graph, name: str) -> list:
    value = graph.constants.get(name)
    if value is None:
        raise UnsupportedError(f"'{name}' must be a constant of the model")
    return [v if isinstance(v, Sym) else int(v) for v in np.asarray(value).reshape(-1)]


def _rule(node: Node, graph: Graph, elementwise_dtype) -> list[TensorType]:
    t = [graph.types[n] if n else None for n in node.inputs]
    op = node.op
    x = t[0]
    if op in SAME_SHAPE:
        dtype = x.dtype
        if op == "Cast":
            dtype = elementwise_dtype(node, t)
        if op in ("IsNaN", "IsInf", "Not"):
            dtype = "bool"
        if op == "LayerNormalization" and any(node.outputs[1:]):
            raise SymbolicError("LayerNormalization's statistics outputs are not compiled for symbolic sizes")
        return [TensorType(dtype, x.shape)]
    if op in _ELEMENTWISE:
        shape = broadcast([s.shape for s in t if s is not None], f"{op} '{node.name}'")
        return [TensorType(elementwise_dtype(node, t), shape)]
    if op == "MatMul":
        a, b = x.shape, t[1].shape
        a2 = (1,) + a if len(a) == 1 else a
        b2 = b + (1,) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            raise SymbolicError(f"multiplies {list(a)} by {list(b)}, whose inner sizes are not the same")
        shape = broadcast([a2[:-2], b2[:-2]], f"MatMul '{node.name}'") + (a2[-2], b2[-1])
        if len(a) == 1:
            shape = shape[:-2] + shape[-1:]
        if len(b) == 1:
            shape = shape[:-1]
        return [TensorType(x.dtype, shape)]
    if op == "Gemm":
        a, b = x.shape, t[1].shape
        m = a[1] if node.attrs.get("transA", 0) else a[0]
        n = b[0] if node.attrs.get("transB", 0) else b[1]
        return [TensorType(x.dtype, (m, n))]
    if op == "Reshape":
        return [TensorType(x.dtype, _reshape(x.shape, _ints(graph, node.inputs[1]), node.attrs.get("allowzero", 0)))]
    if op == "Flatten":
        axis = node.attrs.get("axis", 1) % (len(x.shape) + 1)
        return [TensorType(x.dtype, (_prod(x.shape[:axis]), _prod(x.shape[axis:])))]
    if op == "Transpose":
        perm = node.attrs.get("perm") or list(reversed(range(len(x.shape))))
        return [TensorType(x.dtype, tuple(x.shape[p] for p in perm))]
    if op == "Unsqueeze":
        axes = [int(a) for a in _ints(graph, node.inputs[1])]
        rank = len(x.shape) + len(axes)
        axes = sorted(a % rank for a in axes)
        shape = list(x.shape)
        for a in axes:
            shape.insert(a, 1)
        return [TensorType(x.dtype, tuple(shape))]
    if op == "Squeeze":
        if len(node.inputs) < 2:
            raise SymbolicError("Squeeze without axes would drop the dimensions that happen to be 1")
        axes = {int(a) % len(x.shape) for a in _ints(graph, node.inputs[1])}
        return [TensorType(x.dtype, tuple(n for d, n in enumerate(x.shape) if d not in axes))]
    if op == "Concat":
        axis = node.attrs["axis"] % len(x.shape)
        parts = [s for s in t if s is not None]
        shape = list(parts[0].shape)
        for p in parts[1:]:
            for d, n in enumerate(p.shape):
                if d != axis and n != shape[d]:
                    raise SymbolicError(f"concatenates {list(parts[0].shape)} and {list(p.shape)}, whose other sizes "
                                        f"differ")
            shape[axis] = shape[axis] + p.shape[axis]
        return [TensorType(x.dtype, tuple(shape))]
    if op == "Split":
        axis = node.attrs.get("axis", 0) % len(x.shape)
        size = x.shape[axis]
        if len(node.inputs) > 1 and node.inputs[1]:
            parts = _ints(graph, node.inputs[1])
        elif isinstance(size, Sym):
            raise SymbolicError("a Split into equal parts along a symbolic axis is not compiled")
        else:
            n = node.attrs.get("num_outputs") or len(node.outputs)
            step = -(-size // n)
            parts = [min(step, size - i * step) for i in range(n)]
        if sum(parts[1:], parts[0]) != size:
            raise SymbolicError(f"splits the axis of size {size} into {parts}")
        return [TensorType(x.dtype, x.shape[:axis] + (p,) + x.shape[axis + 1:]) for p in parts]
    if op == "Gather":
        axis = node.attrs.get("axis", 0) % len(x.shape)
        return [TensorType(x.dtype, x.shape[:axis] + t[1].shape + x.shape[axis + 1:])]
    if op == "Slice":
        return [TensorType(x.dtype, _slice(graph, node, x.shape))]
    if op in REDUCE_OPS:
        axes = _ints(graph, node.inputs[1]) if len(node.inputs) > 1 else list(range(len(x.shape)))
        axes = {int(a) % len(x.shape) for a in axes}
        keep = node.attrs.get("keepdims", 1)
        shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape) if keep or d not in axes)
        return [TensorType(x.dtype, shape)]
    if op == "Expand":
        target = tuple(_ints(graph, node.inputs[1]))
        return [TensorType(x.dtype, broadcast([x.shape, target], f"Expand '{node.name}'"))]
    if op == "ConstantOfShape":
        value = node.attrs.get("value")
        dtype = str(value.dtype) if value is not None else "float32"
        return [TensorType(dtype, tuple(_ints(graph, node.inputs[0])))]
    if op == "Range":
        start, limit, delta = (_ints(graph, n)[0] for n in node.inputs)
        if delta != 1:
            raise SymbolicError("a Range with a symbolic bound and a step other than 1 is not compiled")
        count = limit - start
        if not count >= 0:
            raise SymbolicError(f"a Range from {start} to {limit} may be empty")
        return [TensorType(str(graph.types[node.inputs[0]].dtype), (count,))]
    raise SymbolicError(f"webjit does not compile {op} for symbolic sizes yet")


_ELEMENTWISE = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Equal", "Less", "Greater",
                "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "PRelu", "BitShift", "BitwiseAnd",
                "BitwiseOr", "BitwiseXor")


def _reshape(shape: tuple, target: list, allowzero: int) -> tuple:
    dims = [shape[i] if (not allowzero and isinstance(d, int) and d == 0) else d for i, d in enumerate(target)]
    known = _prod(d for d in dims if not (isinstance(d, int) and d == -1))
    free = [i for i, d in enumerate(dims) if isinstance(d, int) and d == -1]
    total = _prod(shape)
    if len(free) > 1:
        raise ShapeError(f"Reshape to {dims} has more than one -1")
    if free:
        dims[free[0]] = total // known
    elif _prod(dims) != total:
        raise SymbolicError(f"reshapes {list(shape)} to {dims}, which may hold a different number of elements")
    return tuple(int(d) if not isinstance(d, Sym) else d for d in dims)


def _slice(graph: Graph, node: Node, shape: tuple) -> tuple:
    starts = _ints(graph, node.inputs[1])
    ends = _ints(graph, node.inputs[2])
    axes = _ints(graph, node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else list(range(len(starts)))
    steps = _ints(graph, node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else [1] * len(starts)
    out = list(shape)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = int(axis) % len(shape)
        out[axis] = slice_bounds(start, end, step, shape[axis])[1]
    return tuple(out)


def slice_bounds(start, end, step, size) -> tuple:
    """(first index, count) that ONNX Slice takes along an axis of `size`; any of them may be
    symbolic when the step is 1."""
    start, end, size = (v if isinstance(v, Sym) else int(v) for v in (start, end, size))
    if not any(isinstance(v, Sym) for v in (start, end, size)):
        taken = slice_range(int(start), int(end), int(step), int(size))
        return (taken.start if len(taken) else 0), len(taken)
    if int(step) != 1:
        raise SymbolicError("a Slice with a symbolic bound and a step other than 1 is not compiled")
    start = start + size if start < 0 else start
    end = end + size if end < 0 else end
    start = start if start <= size else size
    end = end if end <= size else size
    start = start if start >= 0 else 0
    count = end - start
    return start, (count if count >= 0 else 0)
