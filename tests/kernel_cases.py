"""Kernel cases shared by both backends: per family, specs with their inputs and a check
against a numpy float64 reference. tests/test_kernels_wasm.py runs every case on WASM in
Node (1 and 3 threads, which must agree bit for bit); tests/test_kernels_webgpu.py runs
them on WebGPU in Node (Dawn on SwiftShader), plus the cases tagged with lowered WebGPU
limits (binding chunks, small workgroups, dispatch grids), which are WebGPU's alone.
Backend-specific tests (encoders, errors, limit arithmetic) stay in the per-backend files.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from webjit.kernels import Access, Arg, Attention, CumSum, Depthwise, Elementwise, Expr, Gather, Im2Col, Im2ColSource, \
    LayerNorm, MatMul, Pool, Reduce, Softmax
from webjit.webgpu.kernel import Limits
from numerics import assert_close

NP = {"f32": np.float32, "i32": np.int32}
# Lowered WebGPU limits: args of over 256 floats are chunked, 64 invocations, 3 workgroups a dimension.
LOW = Limits(max_invocations=64, max_workgroup_size=(64, 64, 64), max_workgroup_storage=4096,
             max_binding_bytes=1024)
TINY_GRID = Limits(max_workgroups_per_dim=3, max_invocations=32, max_workgroup_size=(32, 32, 32))


@dataclass
class Case:
    name: str
    spec: object
    args: list  # numpy arrays, one per spec arg
    outputs: list[int]  # the args whose final contents are checked
    check: Callable  # check(*output arrays)
    limits: Limits | None = None  # lowered WebGPU limits: a WebGPU-only case
    configs: dict | None = None  # backend -> a config of its family, resolved by the runner (else the default)

    @property
    def backends(self) -> tuple[str, ...]:
        if self.configs is not None:
            return tuple(b for b in ("wasm", "webgpu") if b in self.configs and (b == "webgpu" or self.limits is None))
        return ("webgpu",) if self.limits is not None else ("wasm", "webgpu")

    def config(self, backend: str):
        return (self.configs or {}).get(backend)


CASES: dict[str, Case] = {}


def add(case: Case) -> None:
    assert case.name not in CASES, case.name
    CASES[case.name] = case


# ---- helpers -------------------------------------------------------------------------------

def inp(i, dtype="f32"):
    return Expr("in", dtype, index=i)


def const(value, dtype="f32"):
    return Expr("const", dtype, value=value)


def node(op, dtype, *args):
    return Expr(op, dtype, tuple(args))


def contiguous(shape):
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def view(flat: np.ndarray, access: Access, shape) -> np.ndarray:
    """What `access` reads of `flat` over `shape` (the reference's indexing)."""
    index = np.full(shape, access.offset, dtype=np.int64)
    for d, grid in enumerate(np.indices(shape, dtype=np.int64) if shape else []):
        index += grid * access.strides[d]
    return flat[index]


def close(ref, rtol=1e-5, atol=1e-6):
    return lambda got: np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def equal(ref):
    return lambda got: np.testing.assert_array_equal(got, ref)


def flat_inputs(shape, count, dtype="f32", low=-3.0, high=3.0, seed=0):
    rng = np.random.default_rng(seed)
    size = max(math.prod(shape), 1)
    if dtype == "i32":
        return [rng.integers(int(low), int(high) + 1, size=size).astype(np.int32) for _ in range(count)]
    return [rng.uniform(low, high, size=size).astype(np.float32) for _ in range(count)]


def dtype_of(a: np.ndarray) -> str:
    return "f32" if a.dtype == np.float32 else "i32"


# ---- elementwise ---------------------------------------------------------------------------

def elementwise(name, shape, expr, inputs, check, accesses=None, out_access=None, out_size=None, fill=-7,
                limits=None, config=None):
    """A case computing expr over shape; check(out) gets the whole output buffer."""
    accesses = accesses or [Access(i, contiguous(shape)) for i in range(len(inputs))]
    out_access = out_access or Access(len(inputs), contiguous(shape))
    size = out_size if out_size is not None else math.prod(shape)
    args = tuple(Arg(dtype_of(a), a.size) for a in inputs) + (Arg(expr.dtype, size, output=True),)
    spec = Elementwise(tuple(shape), out_access, tuple(accesses), expr, args)
    out = np.full(size, fill, dtype=NP[expr.dtype])
    add(Case(name, spec, [*inputs, out], [len(inputs)], check, limits, {"webgpu": config} if config else None))


SIGMOID = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
UNARY_F32 = {
    "neg": (np.negative, (-3, 3)), "abs": (np.abs, (-3, 3)), "exp": (np.exp, (-10, 10)),
    "log": (np.log, (0.01, 100)), "sqrt": (np.sqrt, (0, 100)), "recip": (lambda x: 1 / x, (0.5, 4)),
    "erf": (np.vectorize(math.erf), (-4, 4)), "tanh": (np.tanh, (-6, 6)),
    "sigmoid": (SIGMOID, (-12, 12)), "relu": (lambda x: np.maximum(x, 0), (-3, 3)),
    "floor": (np.floor, (-5, 5)), "ceil": (np.ceil, (-5, 5)), "round": (np.round, (-5, 5)),
    "sign": (np.sign, (-3, 3)), "sin": (np.sin, (-6, 6)), "cos": (np.cos, (-6, 6)),
}
BINARY_F32 = {
    "add": (np.add, (-3, 3)), "sub": (np.subtract, (-3, 3)), "mul": (np.multiply, (-3, 3)),
    "div": (np.divide, (0.5, 3)), "pow": (np.power, (0.1, 3)), "min": (np.minimum, (-3, 3)),
    "max": (np.maximum, (-3, 3)), "mod": (np.fmod, (-9, 9)),
}
COMPARE = {"eq": np.equal, "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}


def trunc_div(a, b):
    return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(np.int32)


INT_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "min": np.minimum, "max": np.maximum,
    "div": trunc_div, "mod": np.mod, "and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor,
}
BROADCASTS = [
    ((2, 3, 5), (0, 0, 1)),  # bias over the last dim
    ((2, 3, 5), (3, 1, 0)),  # per-row value (hoisted splat on WASM)
    ((2, 3, 5), (0, 1, 0)),  # middle dim only
    ((2, 3, 5), (5, 0, 1)),  # first and last dims
    ((2, 3, 5), (0, 0, 0)),  # scalar
    ((4, 1, 7), (7, 0, 1)),  # size-1 dim
]


def gelu_expr(x):
    """0.5 * x * (1 + erf(x / sqrt 2)), with x itself an expression."""
    inner = node("erf", "f32", node("div", "f32", x, const(math.sqrt(2.0))))
    return node("mul", "f32", node("mul", "f32", const(0.5), x), node("add", "f32", const(1.0), inner))


def gelu_ref(v):
    return 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))


def elementwise_cases():
    from webjit.webgpu.elementwise import ElementwiseConfig
    for op, (ref, (low, high)) in sorted(UNARY_F32.items()):
        (x,) = flat_inputs((3, 11), 1, low=low, high=high, seed=1)
        if op in ("round", "sign", "relu", "abs", "floor", "ceil"):
            x[:8] = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.0, -0.0]
        elementwise(f"unary_{op}", (3, 11), node(op, "f32", inp(0)), [x], close(ref(x.astype(np.float64))))
    x = np.array([np.nan, 1.0, -np.inf, 0.0, -2.0, np.nan, 3.0], dtype=np.float32)
    elementwise("isnan", (7,), node("isnan", "i32", inp(0)), [x], equal(np.isnan(x).astype(np.int32)))
    elementwise("sign_nan", (7,), node("sign", "f32", inp(0)), [x], equal(np.sign(x)))
    b = np.array([0, 1, 1, 0, 0], dtype=np.int32)
    elementwise("not", (5,), node("not", "i32", inp(0, "i32")), [b], equal(1 - b))
    big = np.array([1e3, -1e3, 50.0, -50.0, 0.0, -0.0, np.inf, -np.inf], dtype=np.float32)
    elementwise("tanh_large", (8,), node("tanh", "f32", inp(0)), [big], close(np.tanh(big.astype(np.float64))))
    with np.errstate(over="ignore"):
        elementwise("sigmoid_large", (8,), node("sigmoid", "f32", inp(0)), [big],
                    close(1 / (1 + np.exp(-big.astype(np.float64)))))
    elementwise("erf_edges", (8,), node("erf", "f32", inp(0)), [big], close(np.sign(big.astype(np.float64))))
    dom = np.array([0.0, -1.0, np.inf, 1.0], dtype=np.float32)
    with np.errstate(all="ignore"):
        elementwise("log_domain", (4,), node("log", "f32", inp(0)), [dom], equal(np.log(dom)))
        elementwise("sqrt_domain", (4,), node("sqrt", "f32", inp(0)), [dom], equal(np.sqrt(dom)))

    for op, (ref, (low, high)) in sorted(BINARY_F32.items()):
        a, b = flat_inputs((2, 3, 7), 2, low=low, high=high, seed=2)
        if op == "mod":
            b = np.where(np.abs(b) < 0.5, 1.25, b).astype(np.float32)
        elementwise(f"binary_{op}", (2, 3, 7), node(op, "f32", inp(0), inp(1)), [a, b],
                    close(ref(a.astype(np.float64), b.astype(np.float64))))
    # fmod must be exact where a / b rounds to an integer in f32
    a = np.array([0.3, -0.3, 1e10, 7.5, -7.5, 5.0, 3.0, np.inf, 1.0], dtype=np.float32)
    b = np.array([0.1, 0.1, 3.0, 2.0, -2.0, np.inf, 0.0, 1.0, np.nan], dtype=np.float32)
    with np.errstate(all="ignore"):
        elementwise("fmod_exact", (9,), node("mod", "f32", inp(0), inp(1)), [a, b], equal(np.fmod(a, b)))
    a = np.array([np.nan, 1.0, -2.0, np.nan], dtype=np.float32)
    b = np.array([1.0, np.nan, 3.0, np.nan], dtype=np.float32)
    elementwise("min_nan", (4,), node("min", "f32", inp(0), inp(1)), [a, b], equal(np.minimum(a, b)))
    elementwise("max_nan", (4,), node("max", "f32", inp(0), inp(1)), [a, b], equal(np.maximum(a, b)))
    a = np.array([-2.0, -2.0, -8.0, 0.0, 2.0, 1.0, -0.5], dtype=np.float32)
    b = np.array([3.0, 2.0, 1 / 3, 2.0, 0.0, np.nan, 2.0], dtype=np.float32)
    with np.errstate(all="ignore"):
        elementwise("pow_signs", (7,), node("pow", "f32", inp(0), inp(1)), [a, b],
                    close(np.power(a.astype(np.float64), b), rtol=1e-5))

    for dtype in ("f32", "i32"):
        for op, ref in sorted(COMPARE.items()):
            a, b = flat_inputs((27,), 2, dtype=dtype, low=-2, high=2, seed=3)
            if dtype == "f32":
                a, b = np.round(a), np.round(b)  # equal pairs occur
            elementwise(f"compare_{op}_{dtype}", (27,), node(op, "i32", inp(0, dtype), inp(1, dtype)), [a, b],
                        equal(ref(a, b).astype(np.int32)))
    for op, ref in sorted(INT_BINARY.items()):
        a, b = flat_inputs((5, 9), 2, dtype="i32", low=-50, high=50, seed=4)
        if op in ("div", "mod"):
            b = np.where(b == 0, 7, b).astype(np.int32)
            a[:6] = [7, -7, 7, -7, 2**31 - 1, -2**31]
            b[:6] = [2, 2, -2, -2, 3, 7]
        if op in ("and", "or", "xor"):
            a, b = (a > 0).astype(np.int32), (b > 0).astype(np.int32)
        elementwise(f"binary_i32_{op}", (5, 9), node(op, "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
                    equal(ref(a.astype(np.int64), b.astype(np.int64)).astype(np.int32)))
    # division by zero and overflow saturate (f64 division then trunc_sat)
    a = np.array([5, -5, 0, -2**31, -2**31, 7, -7], dtype=np.int32)
    b = np.array([0, 0, 0, -1, 1, 0, -1], dtype=np.int32)
    elementwise("div_i32_edges", (7,), node("div", "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
                equal([2**31 - 1, -2**31, 0, 2**31 - 1, -2**31, 2**31 - 1, 7]))
    elementwise("mod_i32_edges", (7,), node("mod", "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
                equal([0, 0, 0, 0, 0, 0, 0]))

    (a,) = flat_inputs((13,), 1, dtype="i32", low=-9, high=9, seed=5)
    for op, ref in (("neg", np.negative), ("abs", np.abs), ("sign", np.sign), ("relu", lambda v: np.maximum(v, 0))):
        elementwise(f"unary_i32_{op}", (13,), node(op, "i32", inp(0, "i32")), [a], equal(ref(a)))
    elementwise("cast_i32_f32", (13,), node("cast", "f32", inp(0, "i32")), [a], equal(a.astype(np.float32)))
    x = np.array([1.9, -1.9, 0.5, -0.5, 3e9, -3e9, 7.0, -0.0, 2.5, np.nan, np.inf, -np.inf], dtype=np.float32)
    elementwise("cast_f32_i32", (12,), node("cast", "i32", inp(0)), [x],
                equal([1, -1, 0, 0, 2**31 - 1, -2**31, 7, 0, 2, 0, 2**31 - 1, -2**31]))
    a = np.array([-5, -2, 0, 1, 3, 7, 2, -3], dtype=np.int32)
    b = np.array([3, 2, 4, 0, 4, 2, 10, 1], dtype=np.int32)
    elementwise("pow_i32", (8,), node("pow", "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
                equal(np.power(a.astype(np.int64), b).astype(np.int32)))
    x = np.array([1e38, -3e38, 0.5], dtype=np.float32)  # exporters clip with float64 bounds
    elementwise("huge_constants", (3,), node("max", "f32", node("min", "f32", inp(0), const(1e39)), const(-1e39)),
                [x], equal(x))
    # constant-only subtrees that overflow must not be folded into an error
    x = np.array([1.0, -1.0, 0.0], dtype=np.float32)
    expr = node("where", "f32", node("gt", "i32", inp(0), const(0.0)),
                node("mul", "f32", const(1e38), const(10.0)), node("neg", "f32", const(math.inf)))
    elementwise("constant_overflow", (3,), expr, [x], equal([np.inf, -np.inf, -np.inf]))
    expr = node("add", "i32", node("cast", "i32", inp(0)), node("add", "i32", const(2**31 - 1, "i32"), const(1, "i32")))
    elementwise("constant_wrap_i32", (3,), expr, [x], equal((np.array([1, -1, 0], np.int64) - 2**31).astype(np.int32)))
    mask = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    expr = node("where", "f32", node("eq", "i32", inp(0), const(0.0)), const(-math.inf), const(math.nan))
    elementwise("inf_nan_constants", (4,), expr, [mask], equal([np.nan, -np.inf, np.nan, -np.inf]))

    a, b = flat_inputs((4, 6), 2, seed=6)
    expr = node("where", "f32", node("gt", "i32", inp(0), inp(1)), node("mul", "f32", inp(0), const(2.0)),
                const(-1.0))
    elementwise("where", (4, 6), expr, [a, b], equal(np.where(a > b, a * 2, -1).astype(np.float32)))
    (x,) = flat_inputs((3, 5), 1, low=-4, high=4, seed=7)
    t = node("cast", "i32", node("mul", "f32", inp(0), const(3.0)))
    expr = node("cast", "f32", node("add", "i32", node("mod", "i32", t, const(4, "i32")),
                                    node("where", "i32", node("lt", "i32", inp(0), const(0.0)),
                                         const(10, "i32"), const(0, "i32"))))
    ti = np.trunc(x * np.float32(3)).astype(np.int64)
    elementwise("int_expression", (3, 5), expr, [x], equal((np.mod(ti, 4) + np.where(x < 0, 10, 0)).astype(np.float32)))

    shape = (1, 128, 3072)
    x = np.random.default_rng(8).standard_normal(math.prod(shape)).astype(np.float32)
    bias = np.random.default_rng(9).standard_normal(3072).astype(np.float32)
    elementwise("gelu_bias_large", shape, gelu_expr(node("add", "f32", inp(0), inp(1))), [x, bias],
                close(gelu_ref(x.astype(np.float64).reshape(128, 3072) + bias).reshape(-1), atol=2e-6),
                accesses=[Access(0, (393216, 3072, 1)), Access(1, (0, 0, 1))])
    (x,) = flat_inputs((1003,), 1, low=-5, high=5, seed=10)
    gelu = close(gelu_ref(x.astype(np.float64)), atol=2e-6)
    elementwise("gelu_1d", (1003,), gelu_expr(inp(0)), [x], gelu)
    elementwise("gelu_1d_items4", (1003,), gelu_expr(inp(0)), [x], gelu, config=ElementwiseConfig(64, 4))
    elementwise("gelu_1d_low_limits", (1003,), gelu_expr(inp(0)), [x], gelu, limits=LOW)
    elementwise("gelu_1d_grid", (1003,), gelu_expr(inp(0)), [x], gelu, limits=TINY_GRID)

    def broadcast(name, shape, strides, limits=None):
        a = flat_inputs(shape, 1, seed=11)[0]
        size_b = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
        b = np.random.default_rng(12).uniform(-3, 3, size=size_b).astype(np.float32)
        accesses = [Access(0, contiguous(shape)), Access(1, strides)]
        va, vb = view(a, accesses[0], shape).astype(np.float64), view(b, accesses[1], shape).astype(np.float64)
        expr = node("sub", "f32", node("mul", "f32", inp(0), inp(1)), inp(1))
        elementwise(name, shape, expr, [a, b], close((va * vb - vb).reshape(-1), rtol=1e-6), accesses=accesses,
                    limits=limits)

    for shape, strides in BROADCASTS:
        broadcast(f"broadcast_{shape}_{strides}", shape, strides)
    broadcast("broadcast_low_limits", (3, 40, 5), (0, 5, 1), limits=LOW)
    for shape, strides, offset in [((5, 9), (1, 5), 0), ((3, 4, 6), (1, 18, 3), 0), ((7, 6), (-6, -1), 41),
                                   ((2, 9), (20, 2), 1)]:  # transposed, permuted, reversed, every other
        size = offset + 1 + sum((n - 1) * abs(s) for n, s in zip(shape, strides))
        src = np.random.default_rng(13).uniform(-3, 3, size=size).astype(np.float32)
        access = Access(0, strides, offset)
        elementwise(f"strided_{shape}_{strides}", shape, node("add", "f32", inp(0), const(1.5)), [src],
                    close((view(src, access, shape) + np.float32(1.5)).reshape(-1), rtol=1e-7, atol=0),
                    accesses=[access])
    a = flat_inputs((3, 5), 1, seed=14)[0]
    ref = np.zeros((3, 9), np.float32)
    ref[:, 2:7] = -a.reshape(3, 5)
    elementwise("concat_output", (3, 5), node("neg", "f32", inp(0)), [a], equal(ref.reshape(-1)),
                accesses=[Access(0, (5, 1))], out_access=Access(1, (9, 1), offset=2), out_size=27, fill=0)
    elementwise("transposed_output", (3, 5), node("abs", "f32", inp(0)), [a],
                equal(np.abs(a.reshape(3, 5)).T.reshape(-1)), accesses=[Access(0, (5, 1))],
                out_access=Access(1, (1, 3)), out_size=15)
    a = flat_inputs((40, 10), 1, seed=15)[0]  # a concat into a chunked output: the block straddles chunks
    ref = np.zeros((40, 16), np.float32)
    ref[:, 3:13] = a.reshape(40, 10) * 2
    elementwise("concat_output_low_limits", (40, 10), node("mul", "f32", inp(0), const(2.0)), [a],
                equal(ref.reshape(-1)), accesses=[Access(0, (10, 1))], out_access=Access(1, (16, 1), offset=3),
                out_size=640, fill=0, limits=LOW)
    for shape in [(), (1,), (3,), (1, 7, 3), (7, 1, 1, 3), (2, 1, 5, 1), (4, 4), (1, 1, 1)]:
        a, b = flat_inputs(shape, 2, seed=15)
        elementwise(f"odd_shape_{shape}", shape, node("max", "f32", inp(0), node("mul", "f32", inp(1), inp(1))),
                    [a, b], equal(np.maximum(a, b * b)))


# ---- row kernels: reduce, softmax, layernorm -------------------------------------------------

ROW_LENGTHS = [1, 3, 4, 7, 384, 1000]
LOW_ROW_LENGTHS = [1, 7, 150]  # rows spanning several chunks and strides, within 8 chunk bindings
OUTER = 5


def logsumexp(x):
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


REDUCE_REF = {
    "sum": lambda x: x.sum(1), "mean": lambda x: x.mean(1), "max": lambda x: x.max(1),
    "min": lambda x: x.min(1), "prod": lambda x: x.prod(1), "sumsq": lambda x: (x * x).sum(1),
    "l1": lambda x: np.abs(x).sum(1), "l2": lambda x: np.sqrt((x * x).sum(1)), "logsumexp": logsumexp,
}


def reduce_input(kind, r, seed):
    rng = np.random.default_rng(seed)
    if kind == "prod":  # factors near 1 keep long products finite
        signs = rng.choice([-1, 1], (OUTER, r))
        return (rng.uniform(0.995, 1.005, size=(OUTER, r)) * signs).astype(np.float32)
    return rng.uniform(-3, 3, size=(OUTER, r)).astype(np.float32)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def layernorm(x, scale, bias, eps):
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def reduce_case(name, kind, x, check, limits=None):
    dtype = dtype_of(x)
    spec = Reduce(kind, x.shape[0], x.shape[1], (Arg(dtype, x.size), Arg(dtype, x.shape[0], output=True)))
    add(Case(name, spec, [x, np.full(x.shape[0], -9, x.dtype)], [1], check, limits))


def softmax_case(name, x, log, limits=None, config=None):
    spec = Softmax(x.shape[0], x.shape[1], log, (Arg("f32", x.size), Arg("f32", x.size, output=True)))
    ref = softmax(x.astype(np.float64))
    check = close(np.log(ref), 1e-5, 1e-5) if log else close(ref, 1e-5, 1e-7)
    add(Case(name, spec, [x, np.zeros_like(x)], [1], check, limits, {"webgpu": config} if config else None))


def layernorm_case(name, r, has_bias, limits=None, has_scale=True):
    rng = np.random.default_rng(r)
    x = rng.standard_normal((OUTER, r)).astype(np.float32)
    x[1] += 1000.0  # a large mean: the two-pass variance must stay accurate
    scale = rng.uniform(0.5, 2.0, size=r).astype(np.float32)
    bias = rng.standard_normal(r).astype(np.float32)
    args = [x] + ([scale] if has_scale else []) + ([bias] if has_bias else []) + [np.zeros_like(x)]
    spec = LayerNorm(OUTER, r, 1e-5, has_bias, tuple(Arg("f32", a.size, output=(i == len(args) - 1))
                                                    for i, a in enumerate(args)), has_scale)
    ref = layernorm(x.astype(np.float64), scale if has_scale else 1.0, bias if has_bias else 0.0, 1e-5)

    def check(got):
        normal = [0, 2, 3, 4]
        np.testing.assert_allclose(got[normal], ref[normal], rtol=1e-5, atol=1e-5)
        # Row 1's f32 mean near 1000 is off by ~1e-4; a one-pass E[x^2] - E[x]^2 would be off by ~0.1.
        np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=1e-3)
    add(Case(name, spec, args, [len(args) - 1], check, limits))


def reduce_check(kind, x):
    x64 = x.astype(np.float64)
    scale = np.abs(x64).sum(1) / max(x.shape[1], 1) if kind in ("sum", "mean") else 0  # sums cancel
    atol = 1e-6 + 1e-6 * np.max(scale, initial=0)
    return lambda got: np.testing.assert_allclose(got, REDUCE_REF[kind](x64), rtol=1e-5, atol=atol)


def row_cases():
    from webjit.webgpu.reductions import RowConfig
    for label, limits, rows in (("", None, ROW_LENGTHS), ("_low", LOW, LOW_ROW_LENGTHS)):
        for kind in sorted(REDUCE_REF):
            for r in rows:
                x = reduce_input(kind, r, seed=r)
                reduce_case(f"reduce_{kind}_{r}{label}", kind, x, reduce_check(kind, x), limits)
        for kind in ("sum", "max", "min", "prod"):
            x = np.random.default_rng(1).integers(-4, 5, size=(OUTER, 150 if kind != "prod" else 7)).astype(np.int32)
            reduce_case(f"reduce_i32_{kind}{label}", kind, x,
                        equal(REDUCE_REF[kind](x.astype(np.int64)).astype(np.int32)), limits)
        for log in (False, True):
            for r in rows:
                x = np.random.default_rng(r).uniform(-8, 8, size=(OUTER, r)).astype(np.float32)
                softmax_case(f"softmax_{'log_' if log else ''}{r}{label}", x, log, limits)
        for has_bias in (True, False):
            for r in rows:
                layernorm_case(f"layernorm_{'bias_' if has_bias else ''}{r}{label}", r, has_bias, limits)
        for r in rows:  # normalisation only (InstanceNormalization's and GroupNormalization's rows)
            layernorm_case(f"layernorm_unscaled_{r}{label}", r, False, limits, has_scale=False)
    x = np.array([[-np.inf, -np.inf, -np.inf], [1.0, -np.inf, 2.0], [np.inf, 0.0, 1.0]], np.float32)
    reduce_case("logsumexp_infinite_rows", "logsumexp", x,
                close([-np.inf, np.log(np.e + np.e ** 2), np.inf], rtol=1e-6, atol=0))
    x = np.array([[1.0, np.nan, 2.0], [-1.0, -2.0, np.nan]], np.float32)
    reduce_case("max_propagates_nan", "max", x, equal([np.nan, np.nan]))
    reduce_case("sum_of_empty_rows", "sum", np.zeros((3, 0), np.float32), equal(0))
    x = np.random.default_rng(2).uniform(-2, 2, size=(3, 9)).astype(np.float32)
    x[0, 4:] = -np.inf  # attention masks: -inf or huge negatives
    x[1, :] = -3.4e38
    x[2, ::2] = -1e9
    softmax_case("softmax_masked_rows", x, False)
    x = np.random.default_rng(3).uniform(-8, 8, size=(300, 384)).astype(np.float32)
    softmax_case("softmax_many_rows_narrow_workgroup", x, False, config=RowConfig(workgroup=32))


# ---- gather and cumsum ------------------------------------------------------------------------

def gather_ref(data, indices):
    axis_dim = data.shape[1]
    wrapped = np.where(indices < 0, indices + axis_dim, indices)
    valid = (wrapped >= 0) & (wrapped < axis_dim)
    picked = data[:, np.clip(wrapped, 0, axis_dim - 1), :]
    return np.where(valid[None, :, None], picked, 0).astype(data.dtype)


def gather_inputs(outer, axis_dim, inner, count, dtype):
    """A Gather spec and its arguments: indices in range, negative (wrapping once) and out of
    range on both sides; the output pre-filled with 77."""
    rng = np.random.default_rng(outer * 100 + inner)
    data = rng.standard_normal((outer, axis_dim, inner)).astype(np.float32)
    if dtype == "i32":
        data = (data * 1000).astype(np.int32)
    indices = rng.integers(-axis_dim - 2, axis_dim + 2, size=count).astype(np.int32)
    indices[0] = -1
    out = np.full(outer * count * inner, 77, dtype=data.dtype)
    args = (Arg(dtype, data.size), Arg("i32", count), Arg(dtype, out.size, True))
    return Gather(outer, axis_dim, inner, count, args), data, indices, out


def cumsum_ref(x, exclusive, reverse):
    y = x[:, ::-1] if reverse else x
    c = np.cumsum(y, axis=1, dtype=np.float64 if x.dtype == np.float32 else np.int64)
    if exclusive:
        c = c - y
    return c[:, ::-1] if reverse else c


def gather_case(name, outer, axis_dim, inner, count, dtype, limits=None):
    spec, data, indices, out = gather_inputs(outer, axis_dim, inner, count, dtype)
    ref = gather_ref(data, indices).reshape(-1)
    add(Case(name, spec, [data, indices, out], [2], equal(ref), limits))


def cumsum_case(name, outer, r, inner, exclusive, reverse, dtype="f32", limits=None):
    rng = np.random.default_rng(r + inner)
    if dtype == "f32":
        x = rng.uniform(-2, 2, size=(outer, r, inner)).astype(np.float32)
        check = close(cumsum_ref(x, exclusive, reverse), 1e-5, 1e-5)
    else:  # the exporters' pattern: position ids = cumsum(mask) along the last axis
        x = rng.integers(-3, 4, size=(outer, r, inner)).astype(np.int32)
        check = equal(cumsum_ref(x, exclusive, reverse))
    spec = CumSum(outer, r, inner, exclusive, reverse, (Arg(dtype, x.size), Arg(dtype, x.size, True)))
    add(Case(name, spec, [x, np.full_like(x, 9)], [1], lambda got: check(got.reshape(x.shape)), limits))


def gather_cases():
    for shape in [(1, 30, 384, 9), (1, 10, 7, 5), (2, 6, 8, 4), (3, 5, 1, 7), (4, 3, 2, 1)]:
        for dtype in ("f32", "i32"):
            gather_case(f"gather_{shape}_{dtype}", *shape, dtype)
    gather_case("gather_low_limits", 2, 7, 40, 6, "f32", dataclasses.replace(LOW, max_workgroups_per_dim=3))
    data = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    indices = np.array([3, -4, 2**31 - 1, -2**31, -3, 2], dtype=np.int32)
    ref = np.zeros((6, 4), np.float32)
    ref[4], ref[5] = data[0, 0], data[0, 2]
    add(Case("gather_out_of_range", Gather(1, 3, 4, 6, (Arg("f32", 12), Arg("i32", 6), Arg("f32", 24, True))),
             [data, indices, np.full(24, 5, np.float32)], [2], equal(ref.reshape(-1))))
    add(Case("gather_no_indices", Gather(2, 3, 4, 0, (Arg("f32", 24), Arg("i32", 0), Arg("f32", 0, True))),
             [np.ones(24, np.float32), np.zeros(0, np.int32), np.zeros(0, np.float32)], [2],
             lambda got: np.testing.assert_equal(got.shape, (0,))))  # nothing to compute, still dispatched
    for shape in [(1, 128, 1), (2, 7, 6), (3, 4, 9), (1, 1, 5), (2, 33, 4)]:
        for exclusive in (False, True):
            for reverse in (False, True):
                cumsum_case(f"cumsum_{shape}_{exclusive}_{reverse}", *shape, exclusive, reverse)
    for exclusive, reverse in [(False, False), (True, True), (True, False)]:
        cumsum_case(f"cumsum_i32_{exclusive}_{reverse}", 2, 37, 3, exclusive, reverse, "i32")
    cumsum_case("cumsum_low_limits", 3, 60, 5, True, True, limits=dataclasses.replace(LOW, max_workgroups_per_dim=3))


# ---- im2col and pool ---------------------------------------------------------------------------

def out_size(size, k, pad_begin, pad_end, stride, dilation, ceil=False):
    """ONNX output size; with ceil_mode the last window must start inside the padded input."""
    span = (k - 1) * dilation + 1
    num = size + pad_begin + pad_end - span
    out = (-(-num // stride) if ceil else num // stride) + 1
    if ceil and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def window_taps(oy, ox, k, pads, strides, dilations):
    """(iy, ix) of every tap of the window of output (oy, ox), padding included."""
    for ky in range(k[0]):
        for kx in range(k[1]):
            yield (oy * strides[0] - pads[0] + ky * dilations[0], ox * strides[1] - pads[1] + kx * dilations[1])


def ref_im2col(x, kh, kw, pads, strides, dilations, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, kh, kw, oh, ow))
    for ki in range(kh):
        for kj in range(kw):
            for oy in range(oh):
                for ox in range(ow):
                    iy = oy * strides[0] - pads[0] + ki * dilations[0]
                    ix = ox * strides[1] - pads[1] + kj * dilations[1]
                    if 0 <= iy < h and 0 <= ix < w:
                        out[:, :, ki, kj, oy, ox] = x[:, :, iy, ix]
    return out.reshape(n, c * kh * kw, oh * ow)


def ref_pool(x, kind, k, pads, strides, dilations, oh, ow, count_include_pad):
    planes, h, w = x.shape
    out = np.zeros((planes, oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            taps = list(window_taps(oy, ox, k, pads, strides, dilations))
            inside = [(iy, ix) for iy, ix in taps if 0 <= iy < h and 0 <= ix < w]
            values = np.array([x[:, iy, ix] for iy, ix in inside])
            if kind == "max":
                out[:, oy, ox] = values.max(axis=0)
                continue
            padded = [t for t in taps if -pads[0] <= t[0] < h + pads[2] and -pads[1] <= t[1] < w + pads[3]]
            out[:, oy, ox] = values.sum(axis=0) / (len(padded) if count_include_pad else len(inside))
    return out


IM2COL_CASES = [
    # n, c, h, w, kh, kw, pads, strides, dilations
    (1, 3, 20, 22, 7, 7, (3, 3, 3, 3), (2, 2), (1, 1)),  # a ResNet stem
    (2, 4, 9, 10, 3, 3, (1, 1, 1, 1), (1, 1), (1, 1)),
    (1, 5, 9, 9, 1, 1, (0, 0, 0, 0), (2, 2), (1, 1)),
    (1, 3, 32, 48, 16, 16, (0, 0, 0, 0), (16, 16), (1, 1)),  # ViT patches
    (1, 2, 11, 13, 3, 3, (2, 1, 0, 2), (1, 2), (2, 3)),
    (1, 2, 6, 17, 2, 5, (0, 4, 1, 0), (3, 1), (1, 1)),
    (1, 1, 3, 3, 5, 5, (2, 2, 2, 2), (1, 1), (1, 1)),  # windows wider than the image
]
POOL_CASES = [
    # kind, planes, h, w, (kh, kw), pads, strides, dilations, count_include_pad, ceil_mode
    ("max", 4, 12, 12, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), False, False),  # ResNet max pool
    ("max", 3, 13, 11, (3, 3), (0, 0, 0, 0), (2, 2), (2, 1), False, True),
    ("max", 2, 9, 9, (2, 2), (0, 0, 0, 0), (2, 2), (1, 1), False, True),
    ("avg", 4, 12, 11, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), False, False),
    ("avg", 4, 12, 11, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), True, False),
    ("avg", 3, 12, 11, (3, 2), (1, 0, 1, 1), (2, 2), (1, 1), True, True),
    ("avg", 3, 10, 9, (3, 3), (1, 1, 1, 1), (3, 3), (1, 1), False, True),
    ("avg", 2, 7, 7, (7, 7), (0, 0, 0, 0), (1, 1), (1, 1), False, False),  # global average
]
CHUNKED_POOL_CASES = [  # bigger planes, so that the input is chunked under LOW
    ("max", 8, 20, 20, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), False, False),
    ("avg", 6, 16, 17, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), True, True),
]
# Around the WASM vector width: n middle columns (whole window inside) for n in 1..9 and 13, so
# that the four-at-a-time path runs 0..3 times with 0..3 edge columns left; batch 2.
VECTOR_WIDTHS = (*range(1, 10), 13)
SIMD_IM2COL_CASES = [(2, 2, 5, 2 * n + 3, 3, 3, (1, 1, 1, 1), (2, 2), (1, 1)) for n in VECTOR_WIDTHS] + [
    (1, 2, 8, 40, 8, 8, (0, 0, 0, 0), (8, 8), (1, 1)),  # kernel == stride (patch embedding): 4x4 transposes
    (2, 3, 8, 28, 4, 4, (0, 0, 0, 0), (4, 4), (1, 1)),  # patches, 3 columns after the transposes
    (1, 2, 10, 52, 3, 4, (0, 0, 0, 0), (3, 4), (2, 1)),  # patches with rows dilated, 13 columns
    (1, 1, 9, 18, 2, 8, (0, 0, 0, 0), (2, 8), (1, 1)),  # patches, two columns (no transpose), unused input
    (1, 2, 9, 29, 3, 3, (1, 0, 1, 2), (2, 3), (1, 2)),  # stride 3, dilation 2
]
SIMD_POOL_CASES = [("max", 2, 5, 2 * n + 3, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), False, False) for n in VECTOR_WIDTHS] + [
    ("avg", 2, 4, n + 2, (2, 3), (0, 1, 1, 1), (1, 1), (1, 1), n % 2 == 0, False) for n in VECTOR_WIDTHS] + [
    ("max", 3, 9, 26, (3, 3), (1, 2, 2, 1), (2, 2), (2, 2), False, True),  # dilation 2, ceil, asymmetric pads
    ("avg", 2, 9, 24, (3, 3), (2, 2, 2, 2), (2, 2), (2, 1), True, True),  # clipped windows, include pad
    ("avg", 2, 9, 24, (3, 3), (2, 2, 2, 2), (2, 2), (2, 1), False, True),  # the same, exclude pad
    ("avg", 2, 7, 31, (3, 3), (1, 1, 1, 1), (3, 3), (1, 1), True, True),  # stride 3: lane inserts
    ("max", 2, 3, 44, (1, 18), (0, 2, 0, 2), (1, 1), (1, 1), False, False),  # wider than the unrolled taps
]
CONV_LOW = Limits(max_invocations=64, max_workgroup_storage=4096, max_binding_bytes=4096, max_workgroups_per_dim=16)


def im2col_spec(case):
    n, c, h, w, kh, kw, pads, strides, dilations = case
    oh = out_size(h, kh, pads[0], pads[2], strides[0], dilations[0])
    ow = out_size(w, kw, pads[1], pads[3], strides[1], dilations[1])
    return Im2Col(n, c, h, w, kh, kw, pads, strides, dilations, oh, ow,
                  (Arg("f32", n * c * h * w), Arg("f32", n * c * kh * kw * oh * ow, output=True)))


WASM_ONLY = {"wasm": None}  # the default WASM kernel only (cases for its SIMD paths)


def im2col_case(name, case, limits=None, configs=None):
    spec = im2col_spec(case)
    x = np.random.default_rng(1).standard_normal((spec.n, spec.c, spec.h, spec.w)).astype(np.float32)
    want = ref_im2col(x.astype(np.float64), spec.kh, spec.kw, spec.pads, spec.strides, spec.dilations, spec.oh,
                      spec.ow)
    add(Case(name, spec, [x, np.full(spec.args[1].size, -7, np.float32)], [1], equal(want.reshape(-1)), limits,
             configs))


def pool_case(name, case, limits=None, configs=None):
    kind, planes, h, w, k, pads, strides, dilations, count_include_pad, ceil = case
    oh = out_size(h, k[0], pads[0], pads[2], strides[0], dilations[0], ceil)
    ow = out_size(w, k[1], pads[1], pads[3], strides[1], dilations[1], ceil)
    spec = Pool(kind, planes, h, w, k[0], k[1], pads, strides, dilations, oh, ow, count_include_pad,
                (Arg("f32", planes * h * w), Arg("f32", planes * oh * ow, output=True)))
    x = np.random.default_rng(2).standard_normal((planes, h, w)).astype(np.float32)
    want = ref_pool(x.astype(np.float64), kind, k, pads, strides, dilations, oh, ow, count_include_pad)
    add(Case(name, spec, [x, np.full(planes * oh * ow, -7, np.float32)], [1],
             lambda got: assert_close(got, want.reshape(-1), 1e-6), limits, configs))


def fits_webgpu(spec, limits) -> bool:
    """Whether the spec's bindings fit `limits` (a ResNet stem's columns need more than 8 chunks)."""
    from webjit.errors import CompileError
    from webjit.targets import WebgpuTarget
    from webjit.webgpu.codegen import default_kernel
    try:
        default_kernel(spec, WebgpuTarget(limits))
    except CompileError:
        return False
    return True


# (n, c, h, w, kh, kw, pads, strides, dilations): interior vectors, border columns, rows all padding
DEPTHWISE_CASES = [
    (1, 3, 9, 13, 3, 3, (1, 1, 1, 1), (1, 1), (1, 1)),
    (2, 2, 11, 17, 3, 3, (1, 1, 1, 1), (2, 2), (1, 1)),
    (1, 2, 8, 29, 5, 5, (2, 2, 2, 2), (3, 3), (1, 1)),
    (1, 2, 10, 21, 3, 3, (3, 3, 3, 3), (1, 1), (3, 3)),
    (1, 3, 5, 6, 3, 3, (4, 0, 4, 5), (1, 2), (1, 1)),  # whole rows and columns of padding
    (1, 2, 6, 1, 1, 1, (0, 0, 0, 0), (1, 1), (1, 1)),
    (1, 1, 12, 40, 9, 9, (4, 4, 4, 4), (1, 1), (1, 1)),  # 81 taps: filters read from memory
    (1, 2, 2, 70, 1, 65, (0, 32, 0, 32), (1, 1), (1, 1)),  # border columns in loops, not unrolled
]


def depthwise_case(name, case, epilogue=False, limits=None):
    """Depthwise with args (x, w, out) or, with `epilogue`, relu(acc + bias) + residual over
    (x, w, bias, residual read every other pixel, out)."""
    n, c, h, w, kh, kw, pads, strides, dilations = case
    oh = out_size(h, kh, pads[0], pads[2], strides[0], dilations[0])
    ow = out_size(w, kw, pads[1], pads[3], strides[1], dilations[1])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    filters = rng.standard_normal((c, kh * kw)).astype(np.float32)
    cols = ref_im2col(x.astype(np.float64), kh, kw, pads, strides, dilations, oh, ow).reshape(n, c, kh * kw, oh * ow)
    want = np.einsum("nckp,ck->ncp", cols, filters.astype(np.float64))
    args = [Arg("f32", x.size), Arg("f32", filters.size)]
    arrays = [x, filters.reshape(-1)]
    extras, expr = (), None
    if epilogue:
        bias = rng.standard_normal(c).astype(np.float32)
        residual = rng.standard_normal((n, c, oh * ow * 2)).astype(np.float32)
        extras = (Access(2, (0, 1, 0)), Access(3, (c * oh * ow * 2, oh * ow * 2, 2), offset=1))
        expr = fnode("add", fnode("relu", fnode("add", acc(), inp(0))), inp(1))
        args += [Arg("f32", c), Arg("f32", residual.size)]
        arrays += [bias, residual.reshape(-1)]
        want = np.maximum(want + bias[None, :, None], 0) + residual[:, :, 1::2]
    spec = Depthwise(n, c, h, w, kh, kw, pads, strides, dilations, oh, ow, extras, expr,
                     tuple(args) + (Arg("f32", n * c * oh * ow, output=True),))
    add(Case(name, spec, arrays + [np.full(n * c * oh * ow, -7, np.float32)], [len(args)],
             close(want.reshape(-1), 1e-5, 1e-5), limits))


def conv_cases():
    for case in DEPTHWISE_CASES:
        depthwise_case(f"depthwise_{case}", case)
    for case in DEPTHWISE_CASES[:4]:
        depthwise_case(f"depthwise_epilogue_{case}", case, epilogue=True)
    depthwise_case("depthwise_low_chunked", DEPTHWISE_CASES[1], epilogue=True, limits=CONV_LOW)
    for case in IM2COL_CASES:
        im2col_case(f"im2col_{case}", case)
        if fits_webgpu(im2col_spec(case), CONV_LOW):
            im2col_case(f"im2col_low_{case}", case, CONV_LOW)
    for case in POOL_CASES:
        pool_case(f"pool_{case}", case)
    for case in POOL_CASES + CHUNKED_POOL_CASES:
        pool_case(f"pool_low_{case}", case, CONV_LOW)
    for case in SIMD_IM2COL_CASES:
        im2col_case(f"im2col_simd_{case}", case, configs=WASM_ONLY)
    for case in SIMD_POOL_CASES:
        pool_case(f"pool_simd_{case}", case, configs=WASM_ONLY)


# ---- matmul ---------------------------------------------------------------------------------------

def extent(access: Access, shape) -> int:
    """Elements an argument needs so that `access` over `shape` stays inside it."""
    return access.offset + sum((n - 1) * s for n, s in zip(shape, access.strides)) + 1


def make_spec(batch, m, n, k, a_strides=None, b_strides=None, extras=(), epilogue=None):
    """A MatMul over args (a, bmat, out, extras...); strides default to contiguous."""
    a = Access(0, a_strides or contiguous(batch + (m, k)))
    bmat = Access(1, b_strides or contiguous(batch + (k, n)))
    out = Access(2, contiguous(batch + (m, n)))
    extras = tuple(Access(3 + i, s) for i, s in enumerate(extras))
    shapes = [batch + (m, k), batch + (k, n), batch + (m, n)] + [batch + (m, n)] * len(extras)
    args = tuple(Arg("f32", max(extent(acc, shape), 1), output=(i == 2))
                 for i, (acc, shape) in enumerate(zip((a, bmat, out) + extras, shapes)))
    return MatMul(batch, m, n, k, a, bmat, out, extras, epilogue, args)


def matmul_inputs(spec, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(arg.size).astype(np.float32) for arg in spec.args]
    arrays[2] = np.full(spec.args[2].size, -7, np.float32)  # every element must be written
    return arrays


def matmul_reference(spec, arrays, epilogue=lambda acc, extras: acc):
    batch = spec.batch
    a = view(arrays[0].astype(np.float64), spec.a, batch + (spec.m, spec.k))
    b = view(arrays[1].astype(np.float64), spec.bmat, batch + (spec.k, spec.n))
    extras = [view(arrays[e.arg].astype(np.float64), e, batch + (spec.m, spec.n)) for e in spec.extras]
    return epilogue(a @ b, extras)


def acc():
    return Expr("acc", "f32")


def fnode(op, *args):
    return Expr(op, "f32", tuple(args))


def gelu_spec(batch=(2,), m=9, n=22, k=16):
    """Bias per column, exact GELU, plus a residual with full strides."""
    gelu_in = fnode("add", acc(), inp(0))
    gelu = fnode("mul", fnode("mul", const(0.5), gelu_in),
                 fnode("add", const(1.0), fnode("erf", fnode("mul", gelu_in, const(1 / math.sqrt(2))))))
    spec = make_spec(batch, m, n, k, extras=[(0, 0, 1), contiguous(batch + (m, n))], epilogue=fnode("add", gelu, inp(1)))

    def want(x, extras):
        return gelu_ref(x + extras[0]) + extras[1]
    return spec, want


def strided_extras_spec():
    """extra 0 transposed (n stride m), extra 1 one value per row (n stride 0)."""
    m, n, k = 7, 13, 5
    spec = make_spec((), m, n, k, extras=[(1, m), (1, 0)], epilogue=fnode("mul", fnode("sub", acc(), inp(0)), inp(1)))
    return spec, lambda x, e: (x - e[0]) * e[1]


def in_place_spec(m=6, n=12, k=10):
    """out = acc + out: an epilogue reading its own output (never k-blocked on WASM)."""
    out = Access(2, contiguous((m, n)))
    return MatMul((), m, n, k, Access(0, contiguous((m, k))), Access(1, contiguous((k, n))), out, (out,),
                  fnode("add", acc(), inp(0)), (Arg("f32", m * k), Arg("f32", k * n), Arg("f32", m * n, output=True)))


def matmul_want(spec, arrays, epilogue=None):
    """The reference output; out = acc + out for in-place specs, else epilogue(acc, extras)."""
    if spec.extras and spec.extras[0].arg == spec.out.arg:
        plain = dataclasses.replace(spec, extras=(), epilogue=None)
        return matmul_reference(plain, arrays) + arrays[2].reshape(spec.batch + (spec.m, spec.n))
    return matmul_reference(spec, arrays, epilogue or (lambda x, extras: x))


def conv_gemm(images, groups, c, h, w, cout, kh, kw, pads, strides, dilations, bias=True):
    """A convolution's GEMM as lowering makes it: args (weights, columns, [bias], image, out),
    the columns already im2col(image), batch (image, group); returns (spec, arrays, want)."""
    oh = out_size(h, kh, pads[0], pads[2], strides[0], dilations[0])
    ow = out_size(w, kw, pads[1], pads[3], strides[1], dilations[1])
    cig, cog, n = c // groups, cout // groups, oh * ow
    k = cig * kh * kw
    rng = np.random.default_rng(c * 31 + kh)
    x = rng.standard_normal((images, c, h, w)).astype(np.float32)
    weights = rng.standard_normal((groups, cog, k)).astype(np.float32)
    cols = ref_im2col(x.astype(np.float64), kh, kw, pads, strides, dilations, oh, ow).astype(np.float32)
    arrays = [weights.reshape(-1), cols.reshape(-1)]
    extras, epilogue = (), None
    if bias:
        arrays.append(rng.standard_normal(cout).astype(np.float32))
        extras, epilogue = (Access(2, (0, cog, 1, 0)),), fnode("add", acc(), inp(0))
    x_arg = len(arrays)
    arrays += [x.reshape(-1), np.full(images * cout * n, -7, np.float32)]
    batch = (images, groups)
    zero_if_one = lambda size, stride: stride if size > 1 else 0  # noqa: E731 (lowering's broadcast strides)
    spec = MatMul(batch, cog, n, k, Access(0, (0, cog * k, k, 1)),
                  Access(1, (zero_if_one(images, c * kh * kw * n), zero_if_one(groups, k * n), n, 1)),
                  Access(x_arg + 1, (cout * n, cog * n, n, 1)), extras, epilogue,
                  tuple(Arg("f32", a.size, output=(i == x_arg + 1)) for i, a in enumerate(arrays)),
                  Im2ColSource(x_arg, c, h, w, kh, kw, pads, strides, dilations, oh, ow))
    want = np.einsum("gok,igkn->igon", weights.astype(np.float64),
                     cols.reshape(images, groups, k, n).astype(np.float64))
    if bias:
        want = want + arrays[2].astype(np.float64).reshape(groups, cog, 1)
    return spec, arrays, want


CONV_GEMMS = {  # (images, groups, c, h, w, cout, kh, kw, pads, strides, dilations)
    "conv_gemm_3x3": (1, 1, 8, 9, 10, 16, 3, 3, (1, 1, 1, 1), (1, 1), (1, 1)),
    "conv_gemm_grouped_strided": (2, 2, 4, 11, 13, 6, 3, 2, (2, 1, 0, 2), (2, 1), (2, 3)),
    "conv_gemm_stem": (1, 1, 3, 20, 22, 8, 7, 7, (3, 3, 3, 3), (2, 2), (1, 1)),
}


def conv_gemm_cases():
    """Each convolution GEMM with the default config (reading the columns) and, per backend,
    with an implicit config (reading the image; the columns arg filled with garbage)."""
    from webjit.targets import WasmTarget, WebgpuTarget
    from webjit.wasm.codegen import FAMILIES as WASM
    from webjit.webgpu.codegen import FAMILIES as WEBGPU
    for name, geometry in CONV_GEMMS.items():
        spec, arrays, want = conv_gemm(*geometry)
        check = (lambda want: lambda got: assert_close(got.reshape(want.shape), want, 1e-5))(want)
        add(Case(name, spec, arrays, [len(arrays) - 1], check))
        garbage = list(arrays)
        garbage[1] = np.full(arrays[1].size, np.nan, np.float32)  # an implicit kernel never reads the columns
        for backend, family, target in (("wasm", WASM["matmul"], WasmTarget(relaxed_simd=True)),
                                        ("webgpu", WEBGPU["matmul"], WebgpuTarget())):
            for config in family.candidates(spec, target):
                if config.implicit:
                    add(Case(f"{name}_implicit_{backend}_{config}", spec, garbage, [len(arrays) - 1], check,
                             configs={backend: config}))


def matmul_case(name, spec, epilogue=None, limits=None, config=None, tolerance=1e-5):
    arrays = matmul_inputs(spec)
    want = matmul_want(spec, arrays, epilogue)
    def check(got):
        if want.size == 0:  # nothing to compute: the kernel runs and writes nothing
            np.testing.assert_array_equal(got, -7)
        else:
            assert_close(got.reshape(want.shape), want, tolerance, name)
    add(Case(name, spec, arrays, [2], check, limits, {"webgpu": config} if config else None))


MATMUL_SHAPES = [(1, 1, 1), (7, 13, 5), (1, 384, 384), (9, 40, 17), (5, 3, 2), (16, 64, 32), (2, 5, 0), (13, 29, 64),
                 (33, 65, 17)]


def matmul_cases():
    for shape in MATMUL_SHAPES:
        matmul_case(f"matmul_{shape}", make_spec((), *shape))
    matmul_case("matmul_large", make_spec((), 128, 384, 384))
    # bmat shared over the first batch dim, a over the second (strides 0)
    matmul_case("matmul_batched_broadcast", make_spec((2, 3), 6, 11, 7, a_strides=(42, 0, 7, 1),
                                                      b_strides=(0, 77, 11, 1)))
    matmul_case("matmul_batched_broadcast_vec4", make_spec((2, 3), 6, 12, 7, a_strides=(42, 0, 7, 1),
                                                           b_strides=(0, 84, 12, 1)))
    # a stored as [k, m]; bmat rows padded to a pitch of 24 floats
    matmul_case("matmul_transposed_a_pitch", make_spec((2,), 10, 21, 9, a_strides=(90, 1, 10),
                                                       b_strides=(9 * 24, 24, 1)))
    matmul_case("matmul_transposed_a_pitch_vec4", make_spec((2,), 10, 20, 9, a_strides=(90, 1, 10),
                                                            b_strides=(9 * 24, 24, 1)))
    gelu, gelu_want = gelu_spec()
    matmul_case("matmul_epilogue_gelu", gelu, gelu_want)
    strided, strided_want = strided_extras_spec()
    matmul_case("matmul_epilogue_strided", strided, strided_want)
    matmul_case("matmul_in_place", in_place_spec())
    for batch, shape in [((), (0, 5, 3)), ((), (4, 0, 3)), ((0,), (3, 4, 5))]:  # nothing to compute
        matmul_case(f"matmul_empty_{batch}_{shape}", make_spec(batch, *shape))
    low = Limits(max_invocations=64, max_workgroup_storage=4096, max_binding_bytes=4096)
    for shape in [(40, 40, 40), (33, 36, 30), (7, 13, 5)]:
        matmul_case(f"matmul_low_{shape}", make_spec((), *shape), limits=low)
    matmul_case("matmul_low_batched", make_spec((2,), 24, 28, 20, a_strides=(0, 20, 1)), limits=low)
    chunked, chunked_want = gelu_spec((2,), 24, 40, 16)  # residual, bmat and out in two chunks each
    matmul_case("matmul_epilogue_gelu_low_chunked", chunked, chunked_want, limits=low)


# ---- fused attention ---------------------------------------------------------------------------

def attention_ref(q, k, v, scale, divide, select, fill, add):
    s = q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2)
    s = s / scale if divide else s * scale
    if select is not None:
        s = np.where(select != 0, s, fill)
    if add is not None:
        s = s + add
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) @ v.astype(np.float64)


def attention_case(name, batch, sq, sk, d, dv, *, scale=None, divide=False, select_mask=None, fill=-np.inf, add_mask=None,
                   head_split=False, seed=0, config=None, limits=None, edit=None):
    """q, k, v random (q and k in [batch..., rows, heads, depth] storage when `head_split`, read
    through transposed strides); select_mask/add_mask: mask arrays broadcastable to [batch..., sq, sk]."""
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    q, k, v = (rng.uniform(-2, 2, size=batch + (n, depth)).astype(np.float32)
               for n, depth in ((sq, d), (sk, d), (sk, dv)))
    if edit is not None:
        edit(q, k, v)
    arrays, accesses = [], []
    for x in (q, k, v):
        if head_split and len(batch) == 2:  # stored [b, rows, h, depth]
            stored = np.ascontiguousarray(np.swapaxes(x, 1, 2))
            b, rows, h, depth = stored.shape
            strides = (rows * h * depth, depth, h * depth, 1)
        else:
            stored, strides = x, tuple(int(st) // 4 for st in x.strides)
        accesses.append(Access(len(arrays), strides))
        arrays.append(stored.reshape(-1))
    full = batch + (sq, sk)
    masks = []
    for mask in (select_mask, add_mask):
        if mask is None:
            masks.append(None)
            continue
        view = np.broadcast_to(mask, full)
        masks.append(Access(len(arrays), tuple(int(st) // mask.itemsize for st in view.strides)))
        arrays.append(np.ascontiguousarray(mask).reshape(-1))
    out = np.full(math.prod(batch) * sq * dv, -9.0, np.float32)
    arrays.append(out)
    args = tuple(Arg(dtype_of(a), a.size, output=(i == len(arrays) - 1)) for i, a in enumerate(arrays))
    spec = Attention(batch=batch, sq=sq, sk=sk, d=d, dv=dv, scale=float(np.float32(scale)), divide=divide,
                     q=accesses[0], k=accesses[1], v=accesses[2], select=masks[0], fill=float(fill), add=masks[1],
                     out=Access(len(arrays) - 1, tuple(int(st) // 4 for st in np.zeros(batch + (sq, dv), np.float32).strides)),
                     args=args)
    ref = attention_ref(q, k, v, np.float32(scale), divide, select_mask, fill, add_mask).reshape(-1)
    add(Case(name, spec, arrays, [len(arrays) - 1], close(ref, 2e-5, 2e-6), limits, config))


def attention_cases():
    from webjit.wasm.attention import AttentionConfig
    from webjit.webgpu.attention import AttentionConfig as WorkgroupConfig
    attention_case("attention_plain", (2, 3), 5, 7, 8, 8)
    attention_case("attention_one_head_d64", (1, 1), 4, 13, 64, 64, head_split=True)
    attention_case("attention_12_heads_views", (2, 12), 6, 6, 8, 8, head_split=True, seed=1)
    attention_case("attention_odd_depths", (2,), 3, 1, 7, 5, seed=2)
    attention_case("attention_divide", (1, 2), 9, 9, 16, 4, scale=2.5, divide=True, seed=3)
    rng = np.random.default_rng(4)
    padding = np.zeros((2, 1, 1, 7), np.float32)
    padding[1, ..., 5:] = -10000.0
    attention_case("attention_additive_mask", (2, 3), 4, 7, 8, 8, add_mask=padding, head_split=True)
    causal = np.tril(np.ones((13, 13), np.int32))
    attention_case("attention_causal_where", (2, 2), 13, 13, 8, 8, select_mask=causal,
                   fill=float(np.finfo(np.float32).min), seed=5)
    attention_case("attention_causal_and_padding", (2, 2), 13, 13, 8, 8, select_mask=causal, fill=-np.inf,
                   add_mask=rng.uniform(-1, 1, size=(2, 1, 1, 13)).astype(np.float32), seed=6)
    rows = np.ones((1, 1, 5, 6), np.int32)
    rows[..., 2, :] = 0  # a fully masked row: softmax of all -inf is NaN, as onnxruntime gives
    attention_case("attention_fully_masked_row", (1, 1), 5, 6, 4, 4, select_mask=rows, fill=-np.inf)
    mask = rng.uniform(-3, 3, size=(3, 1, 7, 21)).astype(np.float32)
    for vectors, fma, width in ((1, False, 32), (4, False, 256), (2, True, 64)):
        attention_case(f"attention_key_vectors_{vectors}{'_fma' if fma else ''}_workgroup_{width}", (3, 2), 7, 21,
                       12, 20, add_mask=mask, seed=7,
                       config={"wasm": AttentionConfig(vectors, fma), "webgpu": WorkgroupConfig(width)})
    # k, v and the mask span two 1 KiB bindings each: 8 bindings in all
    attention_case("attention_low_limits", (1, 1), 3, 100, 4, 4, add_mask=mask[:1, :, :3, :1].repeat(100, -1),
                   limits=LOW, seed=8)


def build_all() -> dict[str, Case]:
    if not CASES:
        attention_cases()
        elementwise_cases()
        row_cases()
        gather_cases()
        conv_cases()
        matmul_cases()
        conv_gemm_cases()
    return CASES
