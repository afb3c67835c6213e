"""Kernel specs: what one kernel computes, independent of the backend that emits it.

A spec names its arguments by position (`args`); a step binds tensors to them. Every
backend's code generator is a plain function `(spec, config) -> kernel` over these
values. Index spaces are row-major; `Access` maps a kernel's iteration index to an
element of one argument: element = offset + sum(index[d] * strides[d]).
Device dtypes are only "f32" and "i32" (bool is stored as i32 0/1, int64 is narrowed).
"""
from __future__ import annotations

from dataclasses import dataclass

from .symbolic import Dim, Sym, size_from_json

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
             "floor", "ceil", "round", "sign", "not", "cast", "sin", "cos", "isnan", "atan",
             "bitcast",  # bitcast: the same 32 bits read as this node's dtype
             "round_f16")  # round_f16: f32 -> the nearest float16 value (ties to even), still f32
BINARY_OPS = ("add", "sub", "mul", "div", "pow", "min", "max", "mod",
              "eq", "lt", "le", "gt", "ge", "and", "or", "xor",
              "shl", "shr")  # i32 shifts by an unsigned amount: 32 or more gives 0 (shl) or the sign (shr)
TERNARY_OPS = ("where",)
# Ops of int64 model values (held in i32 on the device) that can leave the i32 range: their
# checked forms stop the kernel (a WASM trap the runtime reports) instead of wrapping.
CHECKED = {"add": "add_checked", "sub": "sub_checked", "mul": "mul_checked", "cast": "cast_checked",
           "shl": "shl_checked"}
UNARY_OPS += ("cast_checked",)


def has_checked(expr: "Expr") -> bool:
    return expr.op.endswith("_checked") or any(has_checked(a) for a in expr.args)
BINARY_OPS += ("add_checked", "sub_checked", "mul_checked", "shl_checked")


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
    status: int | None = None  # the arg (one i32) checked ops set to 1 where WGSL cannot stop a kernel
    sizes: int | None = None  # the arg holding the symbolic sizes (i32, one per entry of `dims`)
    dims: tuple = ()  # (name, lo, hi) of each symbolic dimension, in the order `sizes` holds them
    family = "elementwise"


@dataclass(frozen=True)
class Im2ColSource:
    """Where a convolution's columns come from: bmat[(image, group), k, n] = x[image, group * cig
    + k // (kh*kw), iy, ix] with iy = (n // ow) * strides[0] + (k // kw % kh) * dilations[0] - pads[0]
    and ix likewise, 0 outside the image. `x` is the arg index of the NCHW image (contiguous)."""
    x: int
    c: int  # channels of the image (all groups)
    h: int
    w: int
    kh: int
    kw: int
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    strides: tuple[int, int]
    dilations: tuple[int, int]
    oh: int
    ow: int


@dataclass(frozen=True)
class MatMul:
    """out[b, m, n] = epilogue(sum_k a[b, m, k] * b[b, k, n]), b over the `batch` dims.

    `a` and `bmat` strides run over (batch..., m, k) and (batch..., k, n); bmat's n stride
    is 1 and out is contiguous. `extras` are epilogue inputs indexed (batch..., m, n).
    A convolution's GEMM also says where its columns come from (`im2col`, batch (image,
    group)): a kernel may then read the image itself and leave the Im2Col step out.
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
    im2col: Im2ColSource | None = None
    sizes: int | None = None  # the arg holding the symbolic sizes (i32, one per entry of `dims`)
    dims: tuple = ()  # (name, lo, hi) of each symbolic dimension, in the order `sizes` holds them
    family = "matmul"


@dataclass(frozen=True)
class Reduce:
    """out[o] = kind over r of x[o, r]; x is contiguous [outer, r] (arg 0), out [outer] (arg 1).
    kind: sum, mean, max, min, prod, sumsq, l1, l2, logsumexp."""
    kind: str
    outer: int
    r: int
    args: tuple[Arg, ...]
    sizes: int | None = None  # the arg holding the symbolic sizes (i32, one per entry of `dims`)
    dims: tuple = ()  # (name, lo, hi) of each symbolic dimension, in the order `sizes` holds them
    family = "reduce"


@dataclass(frozen=True)
class Softmax:
    """Softmax (or log-softmax) over the last axis of contiguous [outer, r]; args x, out."""
    outer: int
    r: int
    log: bool
    args: tuple[Arg, ...]
    sizes: int | None = None  # the arg holding the symbolic sizes (i32, one per entry of `dims`)
    dims: tuple = ()  # (name, lo, hi) of each symbolic dimension, in the order `sizes` holds them
    family = "softmax"


@dataclass(frozen=True)
class LayerNorm:
    """Normalise contiguous rows [outer, r], then * scale[r] (+ bias[r]); args x, [scale], [bias], out.
    Without a scale (InstanceNormalization, GroupNormalization) the rows are only normalised."""
    outer: int
    r: int
    epsilon: float
    has_bias: bool
    args: tuple[Arg, ...]
    has_scale: bool = True
    sizes: int | None = None  # the arg holding the symbolic sizes (i32, one per entry of `dims`)
    dims: tuple = ()  # (name, lo, hi) of each symbolic dimension, in the order `sizes` holds them
    family = "layernorm"

    @property
    def params(self) -> int:
        return int(self.has_scale) + int(self.has_bias)


@dataclass(frozen=True)
class Gather:
    """out[o, i, j] = data[o, idx[i], j] with data [outer, axis_dim, inner]; args data, indices (i32), out.
    Negative indices count from the end; indices out of range read as zero."""
    outer: int
    axis_dim: int
    inner: int
    count: int
    args: tuple[Arg, ...]
    sizes: int | None = None  # the arg holding the symbolic sizes (i32, one per entry of `dims`)
    dims: tuple = ()  # (name, lo, hi) of each symbolic dimension, in the order `sizes` holds them
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
class Depthwise:
    """A depthwise 2-d convolution (one filter per channel) with a fused epilogue:
    out[img, ch, oy * ow + ox] = epilogue(sum over (ky, kx) of w[ch, ky, kx] * x[img, ch, iy, ix])
    with iy = oy * strides[0] + ky * dilations[0] - pads[0] and ix likewise; taps outside the
    image add nothing. Args: x (0, contiguous NCHW), w (1, contiguous [c, kh, kw]), the epilogue's
    inputs, out (last, contiguous). `extras` are epilogue inputs indexed (img, ch, oy * ow + ox)."""
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
    extras: tuple[Access, ...]
    epilogue: Expr | None
    args: tuple[Arg, ...]
    family = "depthwise"


@dataclass(frozen=True)
class CumSum:
    """Cumulative sum (product when `product`) along r of contiguous [outer, r, inner]; args x, out."""
    outer: int
    r: int
    inner: int
    exclusive: bool
    reverse: bool
    args: tuple[Arg, ...]
    product: bool = False
    family = "cumsum"


@dataclass(frozen=True)
class Attention:
    """out[b, i, :] = sum_j p[b, i, j] v[b, j, :] with p = softmax over j of the masked scores
    s[b, i, j] = q[b, i, :] . k[b, j, :] * scale (/ scale when `divide`), b over the `batch` dims
    (attention.py matches it in a graph).

    q, k and v strides run over (batch..., row, depth), depth stride 1 (head splits and
    transposes stay views); out is contiguous (batch..., sq, dv). Masks, strides over
    (batch..., sq, sk), apply in this order: `select` keeps a score where its i32 is nonzero,
    else it becomes `fill` (a causal Where); `add` is added (an additive mask).
    """
    batch: tuple[int, ...]
    sq: int
    sk: int
    d: int
    dv: int
    scale: float
    divide: bool
    q: Access
    k: Access
    v: Access
    select: Access | None
    fill: float
    add: Access | None
    out: Access
    args: tuple[Arg, ...]
    sizes: int | None = None  # the arg holding the symbolic sizes (i32, one per entry of `dims`)
    dims: tuple = ()  # (name, lo, hi) of each symbolic dimension, in the order `sizes` holds them
    family = "attention"


KernelSpec = (Elementwise | MatMul | Reduce | Softmax | LayerNorm | Gather | Im2Col | Pool | Depthwise | CumSum
              | Attention)


FAMILIES = {cls.family: cls for cls in (Elementwise, MatMul, Reduce, Softmax, LayerNorm, Gather,
                                        Im2Col, Pool, Depthwise, CumSum, Attention)}
SIGNATURE_VERSION = 1  # bump when spec_text changes: schedule records are keyed by signature


def spec_text(spec: KernelSpec) -> str:
    """One stable line describing a spec (used in dumps and, versioned, as the signature)."""
    fields = []
    for name in spec.__dataclass_fields__:
        if name == "args" or (name == "im2col" and spec.im2col is None) or (name == "product" and not spec.product) \
                or (name == "has_scale" and spec.has_scale) or (name in ("sizes", "dims") and not spec.dims):
            continue  # absent: the text of v1
        fields.append(f"{name}={getattr(spec, name)}")
    args = ",".join(f"{a.dtype}[{a.size}]{'!' if a.output else ''}" for a in spec.args)
    return f"{spec.family}({', '.join(fields)}; args={args})"


def signature(spec: KernelSpec) -> str:
    """The exact key of a kernel in the schedule database: a versioned canonical text."""
    return f"v{SIGNATURE_VERSION} {spec_text(spec)}"


def schedule_key(spec: KernelSpec) -> str:
    """A coarser key than the signature: what decides the best schedule of a kernel.

    Two kernels share it when they agree on family, shapes, dtypes and the stride pattern
    of every access, but may differ in offsets and in what their epilogue computes (only
    its input count is kept), so a record tuned on one model serves another."""
    if isinstance(spec, MatMul):
        accesses = [spec.a, spec.bmat, spec.out, *spec.extras]
        parts = [f"batch={spec.batch}", f"m={spec.m}", f"n={spec.n}", f"k={spec.k}",
                 "strides=" + ";".join(",".join(map(str, a.strides)) for a in accesses),
                 f"epilogue={'none' if spec.epilogue is None else len(spec.extras)}",
                 f"in_place={any(e.arg == spec.out.arg for e in spec.extras)}"]
        if spec.im2col is not None:
            source = spec.im2col
            parts.append(f"im2col={(source.c, source.h, source.w, source.kh, source.kw, source.pads, source.strides, source.dilations)}")
    elif isinstance(spec, Depthwise):
        parts = [f"{name}={getattr(spec, name)}" for name in spec.__dataclass_fields__
                 if name not in ("args", "extras", "epilogue")]
        parts += ["extra_strides=" + ";".join(",".join(map(str, a.strides)) for a in spec.extras),
                  f"epilogue={'none' if spec.epilogue is None else len(spec.extras)}"]
    elif isinstance(spec, Elementwise):
        accesses = [spec.out, *spec.inputs]
        parts = [f"shape={spec.shape}",
                 "strides=" + ";".join(",".join(map(str, a.strides)) for a in accesses),
                 f"ops={_count_ops(spec.expr)}"]
    elif isinstance(spec, Attention):
        accesses = [a for a in (spec.q, spec.k, spec.v, spec.select, spec.add, spec.out) if a is not None]
        parts = [f"batch={spec.batch}", f"sq={spec.sq}", f"sk={spec.sk}", f"d={spec.d}", f"dv={spec.dv}",
                 "strides=" + ";".join(",".join(map(str, a.strides)) for a in accesses),
                 f"masks={'select' if spec.select else ''}{'add' if spec.add else ''}"]
    else:
        parts = [f"{name}={getattr(spec, name)}" for name in spec.__dataclass_fields__
                 if name not in ("args", "epsilon", "sizes", "dims")]
    dtypes = ",".join(a.dtype for a in spec.args)
    return f"v{SIGNATURE_VERSION} {spec.family}({', '.join(parts)}; dtypes={dtypes})"


def _count_ops(expr: Expr) -> int:
    return (expr.op not in LEAF_OPS) + sum(_count_ops(a) for a in expr.args)


def flops(spec: KernelSpec) -> int:
    """Floating-point operations of one call (multiply and add counted apart); 0 where the
    family is a data movement (gather, im2col) or not worth a rate."""
    if isinstance(spec, MatMul):
        return 2 * prod(spec.batch) * spec.m * spec.n * spec.k
    if isinstance(spec, Depthwise):
        return 2 * spec.n * spec.c * spec.oh * spec.ow * spec.kh * spec.kw
    if isinstance(spec, Attention):  # the two products; the softmax is not counted
        return 2 * prod(spec.batch) * spec.sq * spec.sk * (spec.d + spec.dv)
    return 0


def used_inputs(expr: Expr) -> set[int]:
    """Indices of the inputs an elementwise expression reads."""
    if expr.op == "in":
        return {expr.index}
    return set().union(*(used_inputs(a) for a in expr.args)) if expr.args else set()


def leaves(expr: Expr) -> list[Expr]:
    """Every "in" node of `expr`, in order."""
    if expr.op == "in":
        return [expr]
    return [leaf for arg in expr.args for leaf in leaves(arg)]


def reads_acc(expr: Expr) -> bool:
    return expr.op == "acc" or any(reads_acc(a) for a in expr.args)


@dataclass(frozen=True)
class Loops:
    """An elementwise iteration space collapsed: `strides[a]` are element strides of access a."""
    shape: tuple[int, ...]
    strides: tuple[tuple[int, ...], ...]


def collapse(shape: tuple[int, ...], accesses: list[Access]) -> Loops:
    """Drop size-1 dims and merge neighbours that are contiguous for every access."""
    keep = [d for d, n in enumerate(shape) if n != 1]
    dims = [shape[d] for d in keep]
    strides = [[a.strides[d] for d in keep] for a in accesses]
    if not dims:
        return Loops((1,), tuple((1,) for _ in accesses))
    merged, merged_strides = [dims[0]], [[s[0]] for s in strides]
    for d in range(1, len(dims)):
        if all(ms[-1] == s[d] * dims[d] for ms, s in zip(merged_strides, strides)):
            merged[-1] *= dims[d]
            for ms, s in zip(merged_strides, strides):
                ms[-1] = s[d]
        else:
            merged.append(dims[d])
            for ms, s in zip(merged_strides, strides):
                ms.append(s[d])
    return Loops(tuple(merged), tuple(tuple(s) for s in merged_strides))


def prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


# ---- specs as JSON (the manifest carries them, so a bundle can be tuned without its model)

def spec_to_json(spec: KernelSpec) -> dict:
    """The spec as data; the symbolic-size fields only where it has symbolic sizes."""
    return {"family": spec.family, **{name: _to_json(getattr(spec, name)) for name in spec.__dataclass_fields__
                                      if name not in ("sizes", "dims") or getattr(spec, "dims", ())}}


def _to_json(value):
    if isinstance(value, Sym):
        return value.to_json()
    if isinstance(value, Expr):
        node = {"op": value.op, "dtype": value.dtype}
        if value.args:
            node["args"] = [_to_json(a) for a in value.args]
        if value.op == "in":
            node["index"] = value.index
        if value.op == "const":
            node["value"] = _float_json(value.value)
        return node
    if isinstance(value, Access):
        return {"arg": value.arg, "strides": [_to_json(v) for v in value.strides], "offset": _to_json(value.offset)}
    if isinstance(value, Arg):
        return {"dtype": value.dtype, "size": value.size, "output": value.output}
    if isinstance(value, Im2ColSource):
        return {name: _to_json(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, float):
        return _float_json(value)
    return value


def _float_json(x: float):
    """JSON has no inf or nan: those travel as strings."""
    return x if x == x and abs(x) != float("inf") else repr(x)


def spec_from_json(data: dict) -> KernelSpec:
    """The spec that spec_to_json wrote; a ValueError when `data` is not one."""
    cls = FAMILIES.get(data.get("family")) if isinstance(data, dict) else None
    if cls is None:
        raise ValueError(f"not a kernel spec: family {data.get('family') if isinstance(data, dict) else data!r}")
    dims = {name: Dim(name, lo, hi) for name, lo, hi in data.get("dims", ())}
    values = {}
    hints = {"args": Arg, "out": Access, "a": Access, "bmat": Access, "inputs": Access, "extras": Access,
             "expr": Expr, "epilogue": Expr, "im2col": Im2ColSource, "q": Access, "k": Access, "v": Access,
             "select": Access, "add": Access}
    for name, field_ in cls.__dataclass_fields__.items():
        if name not in data:
            if field_.default is None or name == "dims":  # optional fields may be absent
                continue
            raise ValueError(f"kernel spec of family {cls.family} lacks {name!r}")
        values[name] = _from_json(data[name], hints.get(name), dims)
    if "dims" in values:
        values["dims"] = tuple(tuple(d) for d in values["dims"])
    return cls(**values)


def _from_json(value, kind, dims=None):
    if value is None:
        return None
    if isinstance(value, dict) and "sym" in value:
        return size_from_json(value, dims or {})
    if kind is Expr:
        number = value.get("value", 0.0)
        return Expr(value["op"], value["dtype"], tuple(_from_json(a, Expr) for a in value.get("args", ())),
                    value.get("index", -1), float(number))
    if kind is Access and isinstance(value, dict):
        return Access(value["arg"], tuple(_from_json(v, None, dims) for v in value["strides"]),
                      _from_json(value["offset"], None, dims))
    if kind is Arg and isinstance(value, dict):
        return Arg(value["dtype"], value["size"], value["output"])
    if kind is Im2ColSource and isinstance(value, dict):
        return Im2ColSource(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_from_json(v, kind, dims) for v in value)
    if isinstance(value, str) and kind is None and value in ("inf", "-inf", "nan"):
        return float(value)
    return value


def args_for(inputs, output):
    """Kernel args for distinct input buffers (in first-use order) and one output."""
    unique = list(dict.fromkeys(inputs)) + [output]  # buffers hash by identity
    args = tuple(Arg(b.dtype, b.size, output=(i == len(unique) - 1)) for i, b in enumerate(unique))
    return args, unique
