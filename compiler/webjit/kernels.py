"""Kernel specs: what one kernel computes, independent of the backend that emits it.

A spec names its arguments by position (`args`); a step binds tensors to them. Every
backend's code generator is a plain function `(spec, config) -> kernel` over these
values. Index spaces are row-major; `Access` maps a kernel's iteration index to an
element of one argument: element = offset + sum(index[d] * strides[d]).
Device dtypes are only "f32" and "i32" (bool is stored as i32 0/1, int64 is narrowed).
"""
from __future__ import annotations

from dataclasses import dataclass

DEVICE_DTYPES = ("f32", "i32")


@dataclass(frozen=True)
class Arg:
    dtype: str  # "f32" | "i32"
    size: int  # elements
    output: bool = False


@dataclass(frozen=True)
class Access:
    arg: int
    strides: tuple[int, ...]
    offset: int = 0


# Expression vocabulary of elementwise kernels and epilogues. Every node has a dtype.
LEAF_OPS = ("in", "acc", "const")
UNARY_OPS = ("neg", "abs", "exp", "log", "sqrt", "recip", "erf", "tanh", "sigmoid", "relu",
             "floor", "ceil", "round", "sign", "not", "cast", "sin", "cos", "isnan")
BINARY_OPS = ("add", "sub", "mul", "div", "pow", "min", "max", "mod",
              "eq", "lt", "le", "gt", "ge", "and", "or", "xor")
TERNARY_OPS = ("where",)


@dataclass(frozen=True)
class Expr:
    """One node of an expression tree.

    "in" reads input `index` (an Access of the kernel) at the current position; "acc" is
    the value a producer kernel computed (matmul accumulator); "const" is `value`.
    "cast" converts its argument to this node's dtype. Comparisons and logic give i32 0/1.
    "where" picks args[1] where args[0] != 0, else args[2].
    """
    op: str
    dtype: str
    args: tuple["Expr", ...] = ()
    index: int = -1
    value: float = 0.0

    def __str__(self) -> str:
        if self.op == "in":
            return f"in{self.index}"
        if self.op == "acc":
            return "acc"
        if self.op == "const":
            return f"{self.value!r}:{self.dtype}"
        return f"{self.op}:{self.dtype}({', '.join(map(str, self.args))})"


@dataclass(frozen=True)
class Elementwise:
    """out[idx] = expr(inputs at idx) for every idx in `shape`."""
    shape: tuple[int, ...]
    out: Access
    inputs: tuple[Access, ...]
    expr: Expr
    args: tuple[Arg, ...]
    family = "elementwise"


@dataclass(frozen=True)
class MatMul:
    """out[b, m, n] = epilogue(sum_k a[b, m, k] * b[b, k, n]), b over the `batch` dims.

    `a` and `bmat` strides run over (batch..., m, k) and (batch..., k, n); bmat's n stride
    is 1 and out is contiguous. `extras` are epilogue inputs indexed (batch..., m, n).
    """
    batch: tuple[int, ...]
    m: int
    n: int
    k: int
    a: Access
    bmat: Access
    out: Access
    extras: tuple[Access, ...]
    epilogue: Expr | None
    args: tuple[Arg, ...]
    family = "matmul"


@dataclass(frozen=True)
class Reduce:
    """out[o] = kind over r of x[o, r]; x is contiguous [outer, r] (arg 0), out [outer] (arg 1).
    kind: sum, mean, max, min, prod, sumsq, l1, l2, logsumexp."""
    kind: str
    outer: int
    r: int
    args: tuple[Arg, ...]
    family = "reduce"


@dataclass(frozen=True)
class Softmax:
    """Softmax (or log-softmax) over the last axis of contiguous [outer, r]; args x, out."""
    outer: int
    r: int
    log: bool
    args: tuple[Arg, ...]
    family = "softmax"


@dataclass(frozen=True)
class LayerNorm:
    """Normalise contiguous rows [outer, r], then * scale[r] (+ bias[r]); args x, scale, [bias], out."""
    outer: int
    r: int
    epsilon: float
    has_bias: bool
    args: tuple[Arg, ...]
    family = "layernorm"


@dataclass(frozen=True)
class Gather:
    """out[o, i, j] = data[o, idx[i], j] with data [outer, axis_dim, inner]; args data, indices (i32), out.
    Negative indices count from the end; indices out of range read as zero."""
    outer: int
    axis_dim: int
    inner: int
    count: int
    args: tuple[Arg, ...]
    family = "gather"


@dataclass(frozen=True)
class Im2Col:
    """NCHW input -> columns [n, c*kh*kw, oh*ow] (zero padding); args x, out."""
    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    strides: tuple[int, int]
    dilations: tuple[int, int]
    oh: int
    ow: int
    args: tuple[Arg, ...]
    family = "im2col"


@dataclass(frozen=True)
class Pool:
    """Max or average pooling over NCHW planes ([planes, h, w] -> [planes, oh, ow]); args x, out."""
    kind: str  # "max" | "avg"
    planes: int
    h: int
    w: int
    kh: int
    kw: int
    pads: tuple[int, int, int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    oh: int
    ow: int
    count_include_pad: bool
    args: tuple[Arg, ...]
    family = "pool"


@dataclass(frozen=True)
class CumSum:
    """Cumulative sum along r of contiguous [outer, r, inner]; args x, out."""
    outer: int
    r: int
    inner: int
    exclusive: bool
    reverse: bool
    args: tuple[Arg, ...]
    family = "cumsum"


KernelSpec = Elementwise | MatMul | Reduce | Softmax | LayerNorm | Gather | Im2Col | Pool | CumSum


def spec_text(spec: KernelSpec) -> str:
    """One stable line describing a spec (used in dumps and as the signature key)."""
    fields = []
    for name in spec.__dataclass_fields__:
        if name == "args":
            continue
        fields.append(f"{name}={getattr(spec, name)}")
    args = ",".join(f"{a.dtype}[{a.size}]{'!' if a.output else ''}" for a in spec.args)
    return f"{spec.family}({', '.join(fields)}; args={args})"
