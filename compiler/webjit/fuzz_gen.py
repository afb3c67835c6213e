"""Random valid ONNX graphs for `webjit fuzz`, weighted like real exports.

A graph is grown one node at a time from a few random inputs. Every tensor is tracked with its
dtype, shape and whether its value is *exact* (the same bit for bit under any correct
implementation: inputs, layout ops, comparisons, integer arithmetic, Neg/Abs/Max/Min...).
Discontinuous ops (Floor, Sign, comparisons, float -> int casts, ArgMax) read only exact
tensors, so that a correct rounding difference upstream cannot flip their answer and be taken
for a wrong one. Everything is drawn from one numpy Generator: a seed names a graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .ops import slice_range

OPSET = 20
IR_VERSION = 9
ONNX_TYPE = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32,
             "bool": TensorProto.BOOL, "float64": TensorProto.DOUBLE}
IO_DTYPES = ("float32", "int32", "int64", "bool")


@dataclass
class Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    exact: bool

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Maker:
    """One graph under construction."""
    rng: np.random.Generator
    edges: bool = False  # inputs may hold NaN, inf and huge values
    zero_dims: bool = False  # inputs may have a zero-size dimension
    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    feeds: dict = field(default_factory=dict)
    tensors: list = field(default_factory=list)  # every value a node may read
    count: int = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    # ---- sources
    def shape(self, rank: int | None = None) -> tuple[int, ...]:
        rank = int(self.rng.choice([1, 2, 2, 3, 3, 4])) if rank is None else rank
        dims = [int(self.rng.choice([1, 2, 3, 4, 5, 7, 8, 16])) for _ in range(rank)]
        if self.zero_dims and rank and self.rng.random() < 0.3:
            dims[int(self.rng.integers(rank))] = 0
        return tuple(dims)

    def values(self, dtype: str, shape, kind: str = "normal") -> np.ndarray:
        rng = self.rng
        if dtype == "bool":
            return rng.random(shape) < 0.5
        if dtype in ("int64", "int32"):
            if kind == "nonzero":
                return (rng.integers(1, 6, shape) * rng.choice([-1, 1], shape)).astype(dtype)
            return rng.integers(-9, 10, shape).astype(dtype)
        if kind == "positive":
            v = rng.uniform(0.25, 3.0, shape)
        elif kind == "halves":
            v = rng.integers(-8, 9, shape) / 2 + rng.choice([0.0, 0.25], shape)
        else:
            v = rng.standard_normal(shape)
        v = np.asarray(v, dtype=np.float32)
        if self.edges and v.size and kind == "normal":
            flat = v.reshape(-1)
            picks = rng.random(flat.size) < 0.15
            flat[picks] = rng.choice(np.array([np.nan, np.inf, -np.inf, 1e6, -3e6, 3e9, -17.0, 40.0, 0.0, -0.0],
                                              dtype=np.float32), int(picks.sum()))
        return v

    def input(self, dtype: str, shape, kind: str = "normal") -> Tensor:
        name = self.fresh("in")
        self.inputs.append(helper.make_tensor_value_info(name, ONNX_TYPE[dtype], list(shape)))
        self.feeds[name] = np.asarray(self.values(dtype, shape, kind))
        return self.add(Tensor(name, dtype, tuple(shape), True))

    def const(self, array, dtype: str | None = None, keep: bool = True) -> Tensor:
        array = np.asarray(array, dtype=dtype)
        name = self.fresh("c")
        self.initializers.append(numpy_helper.from_array(array, name))
        t = Tensor(name, str(array.dtype), tuple(array.shape), True)
        return self.add(t) if keep else t

    def operand(self, dtype: str, shape, kind: str = "normal") -> Tensor:
        """A new runtime input or a constant (folded or fused by the compiler)."""
        if self.rng.random() < 0.5:
            return self.input(dtype, shape, kind)
        return self.const(self.values(dtype, shape, kind), dtype)

    def add(self, t: Tensor) -> Tensor:
        self.tensors.append(t)
        return t

    def pick(self, ok=lambda t: True, recent: bool = True) -> Tensor | None:
        """An existing tensor that `ok` accepts, the most recent ones most likely."""
        found = [t for t in self.tensors if ok(t)]
        if not found:
            return None
        if recent and self.rng.random() < 0.6:
            return found[-1]
        return found[int(self.rng.integers(len(found)))]

    def node(self, op: str, inputs, outputs, **attrs) -> list[Tensor]:
        """Add a node reading `inputs` (Tensors, names or '' for absent) making `outputs`."""
        names = [i.name if isinstance(i, Tensor) else i for i in inputs]
        while names and not names[-1]:
            names.pop()  # trailing absent inputs are left out, as exporters do
        self.nodes.append(helper.make_node(op, names, [o.name for o in outputs], name=self.fresh(op), **attrs))
        for o in outputs:
            self.add(o)
        return outputs

    def out(self, dtype: str, shape, exact: bool) -> Tensor:
        return Tensor(self.fresh("t"), dtype, tuple(int(d) for d in shape), exact)

    def ints(self, values) -> Tensor:
        return self.const(np.array(values, dtype=np.int64), keep=False)

    def model(self, outputs: list[Tensor]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "fuzz", self.inputs,
                                  [helper.make_tensor_value_info(t.name, ONNX_TYPE[t.dtype], list(t.shape))
                                   for t in outputs], self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


def is_float(t: Tensor) -> bool:
    return t.dtype == "float32"


def is_int(t: Tensor) -> bool:
    return t.dtype in ("int64", "int32")


# ---- op generators: each adds one node (or a few) and returns False when it found nothing to read

UNARY = {  # op -> (exact when its input is, needs an exact input)
    "Neg": (True, False), "Abs": (True, False), "Relu": (True, False), "Identity": (True, False),
    "Sqrt": (False, False), "Exp": (False, False), "Log": (False, False), "Reciprocal": (False, False),
    "Erf": (False, False), "Tanh": (False, False), "Sigmoid": (False, False), "Sin": (False, False),
    "Cos": (False, False), "Softplus": (False, False), "Gelu": (False, False), "Elu": (False, False),
    "LeakyRelu": (False, False), "HardSigmoid": (False, False), "Floor": (True, True), "Ceil": (True, True),
    "Round": (True, True), "Sign": (True, True), "IsNaN": (True, True), "Clip": (True, False),
}


def unary(m: Maker) -> bool:
    op = str(m.rng.choice(list(UNARY)))
    exact, needs_exact = UNARY[op]
    x = m.pick(lambda t: is_float(t) and (t.exact or not needs_exact))
    if x is None:
        x = m.input("float32", m.shape(), "halves" if needs_exact else "normal")
    attrs, extra = {}, []
    if op == "Gelu" and m.rng.random() < 0.5:
        attrs["approximate"] = "tanh"
    elif op in ("Elu", "LeakyRelu"):
        attrs["alpha"] = float(m.rng.choice([0.01, 0.2, 1.0, 1.5]))
    elif op == "HardSigmoid":
        attrs.update(alpha=float(m.rng.choice([0.2, 0.5])), beta=float(m.rng.choice([0.5, 0.1])))
    elif op == "Clip":
        lo, hi = sorted(m.rng.standard_normal(2).astype(np.float32))
        extra = [m.const(np.float32(lo), keep=False) if m.rng.random() < 0.8 else "",
                 m.const(np.float32(hi), keep=False) if m.rng.random() < 0.8 else ""]
    dtype = "bool" if op == "IsNaN" else "float32"
    m.node(op, [x, *extra], [m.out(dtype, x.shape, exact and x.exact)], **attrs)
    return True


def broadcast_shape(m: Maker, shape) -> tuple[int, ...]:
    """A shape that broadcasts against `shape`: leading dims dropped, some dims set to 1."""
    drop = int(m.rng.integers(0, len(shape) + 1)) if m.rng.random() < 0.5 else 0
    dims = [1 if m.rng.random() < 0.3 else d for d in shape[drop:]]
    if m.rng.random() < 0.1:
        dims = [1] + dims  # a higher rank than the other side
    return tuple(dims)


def binary(m: Maker) -> bool:
    op = str(m.rng.choice(["Add", "Add", "Sub", "Mul", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mod"]))
    a = m.pick(is_float)
    if a is None:
        a = m.input("float32", m.shape())
    if op == "Sum":
        others = [m.operand("float32", broadcast_shape(m, a.shape)) for _ in range(int(m.rng.integers(1, 8)))]
        shape = np.broadcast_shapes(a.shape, *[o.shape for o in others])
        m.node("Sum", [a, *others], [m.out("float32", shape, False)])
        return True
    if op == "Pow" and m.rng.random() < 0.6:
        exponent = m.rng.choice([2, 3, -1, 0.5, 2.0, 0, 4])
        b = m.const(np.array(exponent, dtype=np.int64 if isinstance(exponent, (int, np.integer)) else np.float32),
                    keep=False)
    else:
        other = m.pick(lambda t: is_float(t) and t is not a and _broadcasts(t.shape, a.shape))
        b = other if other is not None and m.rng.random() < 0.4 else \
            m.operand("float32", broadcast_shape(m, a.shape), "positive" if op in ("Div", "Mod") else "normal")
    attrs = {"fmod": 1} if op == "Mod" else {}
    exact = op in ("Max", "Min") and a.exact and b.exact
    if op == "Mod" and not (a.exact and b.exact):
        return False  # fmod near a multiple of b is discontinuous
    shape = np.broadcast_shapes(a.shape, b.shape)
    m.node(op, [a, b], [m.out("float32", shape, exact)], **attrs)
    return True


def _broadcasts(x, y) -> bool:
    try:
        np.broadcast_shapes(x, y)
        return True
    except ValueError:
        return False


def integer(m: Maker) -> bool:
    """Integer arithmetic, as shape computations and index math use it."""
    dtype = str(m.rng.choice(["int64", "int64", "int32"]))
    a = m.pick(lambda t: t.dtype == dtype)
    if a is None:
        a = m.input(dtype, m.shape())
    op = str(m.rng.choice(["Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Max", "Min"]))
    if op in ("Neg", "Abs"):
        m.node(op, [a], [m.out(dtype, a.shape, True)])
        return True
    b = m.operand(dtype, broadcast_shape(m, a.shape), "nonzero" if op in ("Div", "Mod") else "normal")
    m.node(op, [a, b], [m.out(dtype, np.broadcast_shapes(a.shape, b.shape), True)])
    return True


def compare(m: Maker) -> bool:
    op = str(m.rng.choice(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Where", "And", "Or",
                           "Xor", "Not"]))
    if op in ("And", "Or", "Xor", "Not"):
        a = m.pick(lambda t: t.dtype == "bool") or m.input("bool", m.shape())
        if op == "Not":
            m.node(op, [a], [m.out("bool", a.shape, True)])
            return True
        b = m.operand("bool", broadcast_shape(m, a.shape))
        m.node(op, [a, b], [m.out("bool", np.broadcast_shapes(a.shape, b.shape), True)])
        return True
    if op == "Where":
        c = m.pick(lambda t: t.dtype == "bool") or m.input("bool", m.shape())
        x = m.pick(lambda t: t.dtype != "bool" and _broadcasts(t.shape, c.shape))
        if x is None:
            x = m.operand("float32", broadcast_shape(m, c.shape))
        y = m.operand(x.dtype, broadcast_shape(m, x.shape))
        shape = np.broadcast_shapes(c.shape, x.shape, y.shape)
        m.node(op, [c, x, y], [m.out(x.dtype, shape, x.exact)])
        return True
    a = m.pick(lambda t: t.dtype in ("float32", "int64", "int32") and t.exact)
    if a is None:
        a = m.input("float32", m.shape(), "halves")
    b = m.operand(a.dtype, broadcast_shape(m, a.shape), "halves")
    m.node(op, [a, b], [m.out("bool", np.broadcast_shapes(a.shape, b.shape), True)])
    return True


def cast(m: Maker) -> bool:
    x = m.pick(lambda t: t.dtype in IO_DTYPES)
    if x is None:
        return False
    choices = [d for d in IO_DTYPES if d != x.dtype] + ["float64"]
    to = str(m.rng.choice(choices))
    if x.dtype == "float32" and to in ("int32", "int64") and (not x.exact or m.edges):
        return False  # truncation of a computed value is discontinuous; NaN, inf and 3e9 -> int32 undefined
    y = m.node("Cast", [x], [m.out(to, x.shape, x.exact)], to=ONNX_TYPE[to])[0]
    if to == "float64":  # a double never leaves the graph: back to float32, as exports do
        m.node("Cast", [y], [m.out("float32", x.shape, x.exact)], to=TensorProto.FLOAT)
    return True


REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1",
          "ReduceL2"]


def reduce(m: Maker) -> bool:
    op = str(m.rng.choice(REDUCE + ["ArgMax"]))
    x = m.pick(lambda t: is_float(t) and len(t.shape) >= 1 and (t.exact or op != "ArgMax"))
    if x is None:
        x = m.input("float32", m.shape(), "halves" if op == "ArgMax" else "normal")
    rank = len(x.shape)
    keepdims = int(m.rng.random() < 0.5)
    if op == "ArgMax":
        axis = int(m.rng.integers(-rank, rank))
        if x.shape[axis] == 0:
            return False  # ArgMax of an empty row has no answer
        shape = list(x.shape)
        if keepdims:
            shape[axis] = 1
        else:
            del shape[axis]
        m.node(op, [x], [m.out("int64", shape, True)], axis=axis, keepdims=keepdims,
               select_last_index=int(m.rng.random() < 0.3))
        return True
    count = int(m.rng.integers(1, rank + 1))
    axes = sorted(int(a) for a in m.rng.choice(rank, count, replace=False))
    if op in ("ReduceMax", "ReduceMin") and any(x.shape[a] == 0 for a in axes):
        return False  # ONNX leaves the max of nothing undefined
    shape = [1 if i in axes else d for i, d in enumerate(x.shape)] if keepdims else \
        [d for i, d in enumerate(x.shape) if i not in axes]
    signed = [a - rank if m.rng.random() < 0.3 else a for a in axes]
    exact = op in ("ReduceMax", "ReduceMin") and x.exact
    m.node(op, [x, m.ints(signed)], [m.out("float32", shape, exact)], keepdims=keepdims)
    return True


def normalise(m: Maker) -> bool:
    x = m.pick(lambda t: is_float(t) and len(t.shape) >= 1 and t.size > 0)
    if x is None:
        x = m.input("float32", m.shape())
        if x.size == 0:
            return False
    rank = len(x.shape)
    axis = int(m.rng.integers(-rank, rank))
    op = str(m.rng.choice(["Softmax", "Softmax", "LogSoftmax", "LayerNormalization", "LayerNormalization"]))
    if op != "LayerNormalization":
        m.node(op, [x], [m.out("float32", x.shape, False)], axis=axis)
        return True
    inner = x.shape[axis % rank:]
    scale = m.operand("float32", inner)
    bias = m.operand("float32", inner) if m.rng.random() < 0.7 else None
    stats = [d if i < axis % rank else 1 for i, d in enumerate(x.shape)]
    outputs = [m.out("float32", x.shape, False)]
    if m.rng.random() < 0.2:  # the optional Mean and InvStdDev outputs
        outputs += [m.out("float32", stats, False), m.out("float32", stats, False)][:int(m.rng.integers(1, 3))]
    m.node(op, [x, scale, bias or ""], outputs, axis=axis, epsilon=float(m.rng.choice([1e-5, 1e-12, 1e-3])))
    return True


def matmul(m: Maker) -> bool:
    if m.rng.random() < 0.3:
        return gemm(m)
    a = m.pick(lambda t: is_float(t) and len(t.shape) >= 1)
    if a is None:
        a = m.input("float32", m.shape())
    k = a.shape[-1]
    n = int(m.rng.choice([1, 3, 4, 8, 16, 17]))
    if len(a.shape) == 1 or m.rng.random() < 0.1:
        b_shape = (k,) if m.rng.random() < 0.3 else (k, n)
    else:
        batch = broadcast_shape(m, a.shape[:-2]) if len(a.shape) > 2 and m.rng.random() < 0.5 else ()
        b_shape = (*batch, k, n)
    b = m.operand("float32", b_shape)
    shape = np.matmul(np.zeros(a.shape, np.float32), np.zeros(b.shape, np.float32)).shape
    m.node("MatMul", [a, b], [m.out("float32", shape, False)])
    return True


def gemm(m: Maker) -> bool:
    ta, tb = int(m.rng.random() < 0.3), int(m.rng.random() < 0.5)
    mm, k, n = (int(m.rng.choice([1, 2, 5, 8, 16])) for _ in range(3))
    a = m.pick(lambda t: is_float(t) and len(t.shape) == 2)
    if a is not None:
        (mm, k) = a.shape[::-1] if ta else a.shape
    else:
        a = m.input("float32", (k, mm) if ta else (mm, k))
    b = m.operand("float32", (n, k) if tb else (k, n))
    inputs = [a, b]
    if m.rng.random() < 0.7:
        inputs.append(m.operand("float32", [(n,), (1, n), (mm, 1), (mm, n), ()][int(m.rng.integers(5))]))
    m.node("Gemm", inputs, [m.out("float32", (mm, n), False)], transA=ta, transB=tb,
           alpha=float(m.rng.choice([1.0, 0.5, 2.0])), beta=float(m.rng.choice([1.0, 0.5, 0.0])))
    return True


def layout(m: Maker) -> bool:
    op = str(m.rng.choice(["Reshape", "Transpose", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Concat",
                           "Split", "Slice", "Slice", "Expand", "Tile", "Pad", "Gather", "Gather",
                           "GatherElements", "Trilu", "CumSum", "ShapeChain"]))
    x = m.pick(lambda t: t.dtype in IO_DTYPES and len(t.shape) >= 1)
    if x is None:
        x = m.input("float32", m.shape())
    rank, rng = len(x.shape), m.rng
    if op == "Reshape":
        dims = _refactor(m, x.shape)
        spec = list(dims)
        if x.size and rng.random() < 0.4:
            spec[int(rng.integers(len(spec)))] = -1
        m.node(op, [x, m.ints(spec)], [m.out(x.dtype, dims, x.exact)])
    elif op == "Transpose":
        perm = [int(p) for p in rng.permutation(rank)]
        m.node(op, [x], [m.out(x.dtype, [x.shape[p] for p in perm], x.exact)], perm=perm)
    elif op == "Flatten":
        axis = int(rng.integers(-rank, rank + 1))
        a = axis + rank if axis < 0 else axis
        m.node(op, [x], [m.out(x.dtype, (int(np.prod(x.shape[:a])), int(np.prod(x.shape[a:]))), x.exact)],
               axis=axis)
    elif op == "Squeeze":
        ones = [i for i, d in enumerate(x.shape) if d == 1]
        if not ones:
            return False
        axes = sorted(int(a) for a in rng.choice(ones, int(rng.integers(1, len(ones) + 1)), replace=False))
        m.node(op, [x, m.ints(axes)], [m.out(x.dtype, [d for i, d in enumerate(x.shape) if i not in axes],
                                               x.exact)])
    elif op == "Unsqueeze":
        axis = int(rng.integers(-rank - 1, rank + 1))
        shape = list(x.shape)
        shape.insert(axis % (rank + 1), 1)
        m.node(op, [x, m.ints([axis])], [m.out(x.dtype, shape, x.exact)])
    elif op == "Concat":
        axis = int(rng.integers(-rank, rank))
        parts = [x]
        for _ in range(int(rng.integers(1, 3))):
            shape = list(x.shape)
            shape[axis] = int(rng.choice([1, 2, 3]))
            parts.append(m.operand(x.dtype, shape))
        shape = list(x.shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        m.node(op, parts, [m.out(x.dtype, shape, x.exact)], axis=axis)
    elif op == "Split":
        axis = int(rng.integers(rank))
        d = x.shape[axis]
        if d < 2:
            return False
        cut = int(rng.integers(1, d))
        outs = [m.out(x.dtype, [cut if i == axis else s for i, s in enumerate(x.shape)], x.exact),
                m.out(x.dtype, [d - cut if i == axis else s for i, s in enumerate(x.shape)], x.exact)]
        m.node(op, [x, m.ints([cut, d - cut])], outs, axis=axis)
    elif op == "Slice":
        axes = sorted(int(a) for a in rng.choice(rank, int(rng.integers(1, rank + 1)), replace=False))
        starts, ends, steps, shape = [], [], [], list(x.shape)
        for a in axes:
            d = x.shape[a]
            step = int(rng.choice([1, 1, 1, 2, 3, -1, -2]))
            start = int(rng.integers(-d - 1, d + 2)) if d else 0
            end = int(rng.choice([int(rng.integers(-d - 1, d + 2)) if d else 0, 2**62, -2**62]))
            starts.append(start), ends.append(end), steps.append(step)
            shape[a] = len(slice_range(start, end, step, d))
        m.node(op, [x, m.ints(starts), m.ints(ends), m.ints(axes), m.ints(steps)], [m.out(x.dtype, shape, x.exact)])
    elif op == "Expand":
        target = [int(rng.choice([2, 3])) if d == 1 and rng.random() < 0.7 else d for d in x.shape]
        if rng.random() < 0.3:
            target = [int(rng.choice([1, 2]))] + target
        spec = [1 if (rng.random() < 0.3 and i >= len(target) - rank and x.shape[i - len(target) + rank] == t)
                else t for i, t in enumerate(target)]
        m.node(op, [x, m.ints(spec)], [m.out(x.dtype, target, x.exact)])
    elif op == "Tile":
        reps = [int(rng.choice([1, 1, 2, 3])) for _ in x.shape]
        m.node(op, [x, m.ints(reps)], [m.out(x.dtype, [d * r for d, r in zip(x.shape, reps)], x.exact)])
    elif op == "Pad":
        mode = str(rng.choice(["constant", "constant", "reflect", "edge"]))
        pads = [int(rng.integers(0, 3)) for _ in range(2 * rank)]
        if mode == "constant" and rng.random() < 0.3:
            pads = [p - int(rng.integers(0, 2)) for p in pads]  # negative pads crop
        if mode == "reflect":
            pads = [min(p, x.shape[i % rank] - 1) for i, p in enumerate(pads)]
        if mode != "constant" and x.size == 0:
            return False
        shape = [d + pads[i] + pads[i + rank] for i, d in enumerate(x.shape)]
        if min(shape) < 0:
            return False
        inputs = [x, m.ints(pads)]
        if mode == "constant" and rng.random() < 0.5:
            inputs.append(m.const(np.array(rng.choice([0, 1, -2]), dtype=x.dtype), keep=False))
        m.node(op, inputs, [m.out(x.dtype, shape, x.exact)], mode=mode)
    elif op == "Gather":
        axis = int(rng.integers(-rank, rank))
        d = x.shape[axis]
        if d == 0:
            return False
        ishape = [(), (3,), (2, 2)][int(rng.integers(3))]
        indices = rng.integers(-d, d, ishape)
        idx = m.const(indices.astype(np.int64), keep=False) if rng.random() < 0.6 else \
            _index_input(m, ishape, d)
        shape = list(x.shape[:axis % rank]) + list(ishape) + list(x.shape[axis % rank + 1:])
        m.node(op, [x, idx], [m.out(x.dtype, shape, x.exact)], axis=axis)
    elif op == "GatherElements":
        axis = int(rng.integers(rank))
        d = x.shape[axis]
        if d == 0:
            return False
        ishape = [int(rng.integers(1, s + 1)) if s else 0 for s in x.shape]
        ishape[axis] = int(rng.integers(1, 4))
        idx = m.const(rng.integers(-d, d, ishape).astype(np.int64), keep=False)
        m.node(op, [x, idx], [m.out(x.dtype, ishape, x.exact)], axis=axis)
    elif op == "Trilu":
        if rank < 2:
            return False
        inputs = [x] + ([m.const(np.array(int(rng.integers(-2, 3)), dtype=np.int64), keep=False)]
                        if rng.random() < 0.5 else [])
        m.node(op, inputs, [m.out(x.dtype, x.shape, x.exact)], upper=int(rng.random() < 0.5))
    elif op == "CumSum":
        if x.dtype not in ("float32", "int32", "int64"):
            return False
        axis = int(rng.integers(-rank, rank))
        m.node(op, [x, m.const(np.array(axis, dtype=np.int64), keep=False)],
               [m.out(x.dtype, x.shape, x.exact and x.dtype != "float32")],
               exclusive=int(rng.random() < 0.3), reverse=int(rng.random() < 0.3))
    else:  # Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exported models compute shapes
        shape = m.node("Shape", [x], [m.out("int64", (rank,), True)])[0]
        first = m.node("Gather", [shape, m.const(np.array(0, dtype=np.int64), keep=False)],
                       [m.out("int64", (), True)], axis=0)[0]
        lead = m.node("Unsqueeze", [first, m.ints([0])], [m.out("int64", (1,), True)])[0]
        spec = m.node("Concat", [lead, m.ints([-1])], [m.out("int64", (2,), True)], axis=0)[0]
        rest = int(np.prod(x.shape[1:]))
        if x.shape[0] == 0:
            return False
        m.node("Reshape", [x, spec], [m.out(x.dtype, (x.shape[0], rest), x.exact)])
    return True


def _index_input(m: Maker, shape, d: int) -> Tensor:
    """A runtime index input in [-d, d)."""
    name = m.fresh("idx")
    m.inputs.append(helper.make_tensor_value_info(name, TensorProto.INT64, list(shape)))
    m.feeds[name] = m.rng.integers(-d, d, shape).astype(np.int64)
    return Tensor(name, "int64", tuple(shape), True)


def _refactor(m: Maker, shape) -> tuple[int, ...]:
    """Another shape with as many elements."""
    size = int(np.prod(shape))
    if size == 0:
        return tuple(int(d) for d in m.rng.permutation(list(shape)))
    dims, left = [], size
    for p in (2, 3, 5, 7):
        while left % p == 0:
            left //= p
            dims.append(p)
    dims.append(left) if left > 1 else None
    m.rng.shuffle(dims)
    groups = int(m.rng.integers(1, min(len(dims), 4) + 1)) if dims else 1
    out = [1] * groups
    for i, p in enumerate(dims):
        out[int(m.rng.integers(groups))] *= p
    if m.rng.random() < 0.2:
        out.insert(int(m.rng.integers(len(out) + 1)), 1)
    return tuple(out)


def conv(m: Maker) -> bool:
    rng = m.rng
    op = str(rng.choice(["Conv", "Conv", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                         "BatchNormalization"]))
    x = m.pick(lambda t: is_float(t) and len(t.shape) == 4 and min(t.shape) > 0)
    if x is None:
        x = m.input("float32", (int(rng.choice([1, 1, 2])), int(rng.choice([1, 2, 3, 4, 8])),
                                int(rng.integers(3, 12)), int(rng.integers(3, 12))))
    n, c, h, w = x.shape
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        m.node(op, [x], [m.out("float32", (n, c, 1, 1), op == "GlobalMaxPool" and x.exact)])
        return True
    if op == "BatchNormalization":
        params = [m.const(m.values("float32", (c,)), keep=False), m.const(m.values("float32", (c,)), keep=False),
                  m.const(m.values("float32", (c,)), keep=False),
                  m.const(m.values("float32", (c,), "positive"), keep=False)]
        m.node(op, [x, *params], [m.out("float32", x.shape, False)], epsilon=1e-5)
        return True
    k = [int(rng.choice([1, 2, 3, 3, 5])) for _ in range(2)]
    strides = [int(rng.choice([1, 1, 2, 3])) for _ in range(2)]
    dil = [int(rng.choice([1, 1, 2])) for _ in range(2)] if op != "AveragePool" else [1, 1]
    pads = [int(rng.integers(0, kk)) if kk > 1 else 0 for kk in k * 2]
    ceil = int(rng.random() < 0.3) if op != "Conv" else 0
    out_hw = []
    for i, size in enumerate((h, w)):
        span = dil[i] * (k[i] - 1) + 1
        total = size + pads[i] + pads[i + 2] - span
        if total < 0:
            return False
        count = (-(-total // strides[i]) if ceil else total // strides[i]) + 1
        if ceil and (count - 1) * strides[i] >= size + pads[i]:
            return False  # onnx's shape inference and the runtimes disagree on this window
        out_hw.append(count)
    if op == "Conv":
        group = int(rng.choice([g for g in (1, 1, 2, c) if c % g == 0]))
        mout = int(rng.choice([1, 2, 4, 8])) * group
        wt = m.const(m.values("float32", (mout, c // group, *k)), keep=False)  # exporters store filters
        inputs = [x, wt] + ([m.const(m.values("float32", (mout,)), keep=False)] if rng.random() < 0.6 else [])
        m.node(op, inputs, [m.out("float32", (n, mout, *out_hw), False)], kernel_shape=k, strides=strides,
               pads=pads, dilations=dil, group=group)
    elif op == "MaxPool":
        m.node(op, [x], [m.out("float32", (n, c, *out_hw), x.exact)], kernel_shape=k, strides=strides, pads=pads,
               dilations=dil, ceil_mode=ceil)
    else:
        m.node(op, [x], [m.out("float32", (n, c, *out_hw), False)], kernel_shape=k, strides=strides, pads=pads,
               ceil_mode=ceil, count_include_pad=int(rng.random() < 0.4))
    return True


GENERATORS = [(unary, 5), (binary, 6), (integer, 1), (compare, 2), (cast, 2), (reduce, 2), (normalise, 2),
              (matmul, 4), (layout, 6), (conv, 3)]


def random_graph(seed: int, index: int) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Graph `index` of the run seeded `seed`: the model and its feeds."""
    rng = np.random.default_rng([seed, index])
    m = Maker(rng, edges=rng.random() < 0.08, zero_dims=rng.random() < 0.03)
    funcs, weights = zip(*GENERATORS)
    p = np.array(weights, dtype=float) / sum(weights)
    target = int(rng.integers(1, 9))
    tries = 0
    while len(m.nodes) < target and tries < 40:
        tries += 1
        funcs[int(rng.choice(len(funcs), p=p))](m)
    if not m.nodes:
        unary(m)
    made = [t for t in m.tensors if any(t.name in n.output for n in m.nodes)]
    outputs = [made[-1]] + [t for t in made[:-1] if rng.random() < 0.15]
    outputs = [t for t in outputs if t.dtype in IO_DTYPES]
    if not outputs:  # the last value is a float64: read its float32 cast
        outputs = [t for t in made if t.dtype in IO_DTYPES][-1:]
    return m.model(outputs), m.feeds
