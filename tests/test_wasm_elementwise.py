"""WASM elementwise kernels and the expression emitter, run in Node against numpy float64."""
import math

import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Access, Arg, Elementwise, Expr
from webjit.kernels import collapse
from wasm_harness import default_module, run_wasm, validate


NP = {"f32": np.float32, "i32": np.int32}


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


def run_case(tmp_path, shape, expr, inputs, accesses, out_access=None, out_size=None,
             out_dtype=None, fill=-7):
    """Run expr over shape with 1 and 3 threads; returns the whole output buffer."""
    out_dtype = out_dtype or expr.dtype
    out_access = out_access or Access(len(inputs), contiguous(shape))
    out_size = out_size if out_size is not None else math.prod(shape)
    args = tuple(Arg(str(a.dtype).replace("float32", "f32").replace("int32", "i32"), a.size)
                 for a in inputs) + (Arg(out_dtype, out_size, output=True),)
    spec = Elementwise(tuple(shape), out_access, tuple(accesses), expr, args)
    wasm = default_module(spec).encode()
    validate(wasm, tmp_path)
    out = np.full(out_size, fill, dtype=NP[out_dtype])
    results = [run_wasm(wasm, [*inputs, out], [len(inputs)], nthreads=n)[0] for n in (1, 3)]
    np.testing.assert_array_equal(results[0], results[1])
    return results[0]


def flat_inputs(shape, count, dtype="f32", low=-3.0, high=3.0, seed=0):
    rng = np.random.default_rng(seed)
    size = max(math.prod(shape), 1)
    if dtype == "i32":
        return [rng.integers(int(low), int(high) + 1, size=size).astype(np.int32) for _ in range(count)]
    return [rng.uniform(low, high, size=size).astype(np.float32) for _ in range(count)]


def run_contiguous(tmp_path, shape, expr, inputs):
    accesses = [Access(i, contiguous(shape)) for i in range(len(inputs))]
    return run_case(tmp_path, shape, expr, inputs, accesses)


SIGMOID = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
UNARY_F32 = {
    "neg": (np.negative, (-3, 3)), "abs": (np.abs, (-3, 3)), "exp": (np.exp, (-10, 10)),
    "log": (np.log, (0.01, 100)), "sqrt": (np.sqrt, (0, 100)), "recip": (lambda x: 1 / x, (0.5, 4)),
    "erf": (np.vectorize(math.erf), (-4, 4)), "tanh": (np.tanh, (-6, 6)),
    "sigmoid": (SIGMOID, (-12, 12)), "relu": (lambda x: np.maximum(x, 0), (-3, 3)),
    "floor": (np.floor, (-5, 5)), "ceil": (np.ceil, (-5, 5)), "round": (np.round, (-5, 5)),
    "sign": (np.sign, (-3, 3)), "sin": (np.sin, (-6, 6)), "cos": (np.cos, (-6, 6)),
}


@pytest.mark.parametrize("op", sorted(UNARY_F32))
def test_unary_f32(op, tmp_path):
    ref, (low, high) = UNARY_F32[op]
    shape = (3, 11)
    (x,) = flat_inputs(shape, 1, low=low, high=high, seed=1)
    if op in ("round", "sign", "relu", "abs", "floor", "ceil"):
        x[:8] = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.0, -0.0]
    got = run_contiguous(tmp_path, shape, node(op, "f32", inp(0)), [x])
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_isnan_sign_of_nan_and_not(tmp_path):
    x = np.array([np.nan, 1.0, -np.inf, 0.0, -2.0, np.nan, 3.0], dtype=np.float32)
    got = run_contiguous(tmp_path, (7,), node("isnan", "i32", inp(0)), [x])
    np.testing.assert_array_equal(got, np.isnan(x).astype(np.int32))
    got = run_contiguous(tmp_path, (7,), node("sign", "f32", inp(0)), [x])
    np.testing.assert_array_equal(got, np.sign(x))
    b = np.array([0, 1, 1, 0, 0], dtype=np.int32)
    got = run_contiguous(tmp_path, (5,), node("not", "i32", inp(0, "i32")), [b])
    np.testing.assert_array_equal(got, 1 - b)


BINARY_F32 = {
    "add": (np.add, (-3, 3)), "sub": (np.subtract, (-3, 3)), "mul": (np.multiply, (-3, 3)),
    "div": (np.divide, (0.5, 3)), "pow": (np.power, (0.1, 3)), "min": (np.minimum, (-3, 3)),
    "max": (np.maximum, (-3, 3)), "mod": (np.fmod, (-9, 9)),
}
COMPARE = {"eq": np.equal, "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}


@pytest.mark.parametrize("op", sorted(BINARY_F32))
def test_binary_f32(op, tmp_path):
    ref, (low, high) = BINARY_F32[op]
    shape = (2, 3, 7)
    a, b = flat_inputs(shape, 2, low=low, high=high, seed=2)
    if op == "mod":
        b = np.where(np.abs(b) < 0.5, 1.25, b).astype(np.float32)
    got = run_contiguous(tmp_path, shape, node(op, "f32", inp(0), inp(1)), [a, b])
    np.testing.assert_allclose(got, ref(a.astype(np.float64), b.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["f32", "i32"])
@pytest.mark.parametrize("op", sorted(COMPARE))
def test_compare(op, dtype, tmp_path):
    a, b = flat_inputs((27,), 2, dtype=dtype, low=-2, high=2, seed=3)
    if dtype == "f32":
        a, b = np.round(a), np.round(b)  # equal pairs occur
    got = run_contiguous(tmp_path, (27,), node(op, "i32", inp(0, dtype), inp(1, dtype)), [a, b])
    np.testing.assert_array_equal(got, COMPARE[op](a, b).astype(np.int32))


def trunc_div(a, b):
    return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(np.int32)


INT_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "min": np.minimum, "max": np.maximum,
    "div": trunc_div, "mod": np.mod, "and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor,
}


@pytest.mark.parametrize("op", sorted(INT_BINARY))
def test_binary_i32(op, tmp_path):
    shape = (5, 9)
    a, b = flat_inputs(shape, 2, dtype="i32", low=-50, high=50, seed=4)
    if op in ("div", "mod"):
        b = np.where(b == 0, 7, b).astype(np.int32)
        a[:6] = [7, -7, 7, -7, 2**31 - 1, -2**31]
        b[:6] = [2, 2, -2, -2, 3, 7]
    if op in ("and", "or", "xor"):
        a, b = (a > 0).astype(np.int32), (b > 0).astype(np.int32)
    got = run_contiguous(tmp_path, shape, node(op, "i32", inp(0, "i32"), inp(1, "i32")), [a, b])
    ref = INT_BINARY[op](a.astype(np.int64), b.astype(np.int64)).astype(np.int32)
    np.testing.assert_array_equal(got, ref)


def test_unary_i32_and_casts(tmp_path):
    (a,) = flat_inputs((13,), 1, dtype="i32", low=-9, high=9, seed=5)
    for op, ref in (("neg", np.negative), ("abs", np.abs), ("sign", np.sign),
                    ("relu", lambda v: np.maximum(v, 0))):
        got = run_contiguous(tmp_path, (13,), node(op, "i32", inp(0, "i32")), [a])
        np.testing.assert_array_equal(got, ref(a))
    got = run_contiguous(tmp_path, (13,), node("cast", "f32", inp(0, "i32")), [a])
    np.testing.assert_array_equal(got, a.astype(np.float32))
    x = np.array([1.9, -1.9, 0.5, -0.5, 3e9, -3e9, 7.0, -0.0, 2.5], dtype=np.float32)
    got = run_contiguous(tmp_path, (9,), node("cast", "i32", inp(0)), [x])
    np.testing.assert_array_equal(got, [1, -1, 0, 0, 2**31 - 1, -2**31, 7, 0, 2])


def test_pow_i32_and_huge_constants(tmp_path):
    a = np.array([-5, -2, 0, 1, 3, 7, 2, -3], dtype=np.int32)
    b = np.array([3, 2, 4, 0, 4, 2, 10, 1], dtype=np.int32)
    got = run_contiguous(tmp_path, (8,), node("pow", "i32", inp(0, "i32"), inp(1, "i32")), [a, b])
    np.testing.assert_array_equal(got, np.power(a.astype(np.int64), b).astype(np.int32))
    # exporters clip with float64 bounds beyond the float32 range
    x = np.array([1e38, -3e38, 0.5], dtype=np.float32)
    expr = node("max", "f32", node("min", "f32", inp(0), const(1e39)), const(-1e39))
    np.testing.assert_array_equal(run_contiguous(tmp_path, (3,), expr, [x]), x)


def test_where_with_int_condition_and_constants(tmp_path):
    shape = (4, 6)
    a, b = flat_inputs(shape, 2, seed=6)
    # where(a > b, a * 2, -1) as a fused tree mixing i32 conditions and f32 values
    expr = node("where", "f32", node("gt", "i32", inp(0), inp(1)),
                node("mul", "f32", inp(0), const(2.0)), const(-1.0))
    got = run_contiguous(tmp_path, shape, expr, [a, b])
    np.testing.assert_array_equal(got, np.where(a > b, a * 2, -1).astype(np.float32))


def test_int_expression_with_casts(tmp_path):
    # cast(cast(x * 3, i32) mod 4 + where(x < 0, 10, 0), f32)
    (x,) = flat_inputs((3, 5), 1, low=-4, high=4, seed=7)
    t = node("cast", "i32", node("mul", "f32", inp(0), const(3.0)))
    expr = node("cast", "f32", node("add", "i32", node("mod", "i32", t, const(4, "i32")),
                                    node("where", "i32", node("lt", "i32", inp(0), const(0.0)),
                                         const(10, "i32"), const(0, "i32"))))
    got = run_contiguous(tmp_path, (3, 5), expr, [x])
    ti = np.trunc(x.astype(np.float32) * np.float32(3)).astype(np.int64)
    np.testing.assert_array_equal(got, (np.mod(ti, 4) + np.where(x < 0, 10, 0)).astype(np.float32))


def gelu_expr(x):
    """0.5 * x * (1 + erf(x / sqrt 2)), with x itself an expression."""
    inner = node("erf", "f32", node("div", "f32", x, const(math.sqrt(2.0))))
    return node("mul", "f32", node("mul", "f32", const(0.5), x), node("add", "f32", const(1.0), inner))


def test_gelu_bias_fused_on_large_shape(tmp_path):
    shape = (1, 128, 3072)
    x = np.random.default_rng(8).standard_normal(math.prod(shape)).astype(np.float32)
    bias = np.random.default_rng(9).standard_normal(3072).astype(np.float32)
    expr = gelu_expr(node("add", "f32", inp(0), inp(1)))
    accesses = [Access(0, (393216, 3072, 1)), Access(1, (0, 0, 1))]
    got = run_case(tmp_path, shape, expr, [x, bias], accesses)
    v = x.astype(np.float64).reshape(128, 3072) + bias
    ref = 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))
    np.testing.assert_allclose(got.reshape(128, 3072), ref, rtol=1e-5, atol=2e-6)


def test_gelu_contiguous_1d_split_across_threads(tmp_path):
    (x,) = flat_inputs((1003,), 1, low=-5, high=5, seed=10)
    got = run_contiguous(tmp_path, (1003,), gelu_expr(inp(0)), [x])
    v = x.astype(np.float64)
    np.testing.assert_allclose(got, 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2))),
                               rtol=1e-5, atol=2e-6)


BROADCASTS = [
    ((2, 3, 5), (0, 0, 1)),  # bias over the last dim
    ((2, 3, 5), (3, 1, 0)),  # per-row value (hoisted splat)
    ((2, 3, 5), (0, 1, 0)),  # middle dim only
    ((2, 3, 5), (5, 0, 1)),  # first and last dims
    ((2, 3, 5), (0, 0, 0)),  # scalar
    ((4, 1, 7), (7, 0, 1)),  # size-1 dim
]


@pytest.mark.parametrize("shape,strides", BROADCASTS)
def test_broadcast_strides(shape, strides, tmp_path):
    a = flat_inputs(shape, 1, seed=11)[0]
    size_b = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    b = np.random.default_rng(12).uniform(-3, 3, size=size_b).astype(np.float32)
    accesses = [Access(0, contiguous(shape)), Access(1, strides)]
    expr = node("sub", "f32", node("mul", "f32", inp(0), inp(1)), inp(1))
    got = run_case(tmp_path, shape, expr, [a, b], accesses)
    va, vb = view(a, accesses[0], shape).astype(np.float64), view(b, accesses[1], shape).astype(np.float64)
    np.testing.assert_allclose(got.reshape(shape), va * vb - vb, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape,strides,offset", [
    ((5, 9), (1, 5), 0),  # transpose
    ((3, 4, 6), (1, 18, 3), 0),  # permuted
    ((7, 6), (-6, -1), 41),  # both dims reversed
    ((2, 9), (20, 2), 1),  # every other element, from 1
])
def test_strided_inputs(shape, strides, offset, tmp_path):
    size = offset + 1 + sum((n - 1) * abs(s) for n, s in zip(shape, strides))
    src = np.random.default_rng(13).uniform(-3, 3, size=size).astype(np.float32)
    access = Access(0, strides, offset)
    got = run_case(tmp_path, shape, node("add", "f32", inp(0), const(1.5)), [src], [access])
    np.testing.assert_allclose(got.reshape(shape), view(src, access, shape) + np.float32(1.5), rtol=1e-7)


def test_strided_output_concat_and_transpose(tmp_path):
    a = flat_inputs((3, 5), 1, seed=14)[0]
    # write a (3, 5) block into columns 2..6 of a (3, 9) tensor
    out = Access(1, (9, 1), offset=2)
    got = run_case(tmp_path, (3, 5), node("neg", "f32", inp(0)), [a], [Access(0, (5, 1))],
                   out_access=out, out_size=27, fill=0)
    ref = np.zeros((3, 9), np.float32)
    ref[:, 2:7] = -a.reshape(3, 5)
    np.testing.assert_array_equal(got.reshape(3, 9), ref)
    # transposed output: out[j, i] = a[i, j]
    got = run_case(tmp_path, (3, 5), node("abs", "f32", inp(0)), [a], [Access(0, (5, 1))],
                   out_access=Access(1, (1, 3)), out_size=15)
    np.testing.assert_array_equal(got.reshape(5, 3), np.abs(a.reshape(3, 5)).T)


@pytest.mark.parametrize("shape", [(), (1,), (3,), (1, 7, 3), (7, 1, 1, 3), (2, 1, 5, 1), (4, 4), (1, 1, 1)])
def test_odd_shapes(shape, tmp_path):
    a, b = flat_inputs(shape, 2, seed=15)
    expr = node("max", "f32", inp(0), node("mul", "f32", inp(1), inp(1)))
    got = run_contiguous(tmp_path, shape, expr, [a, b])
    np.testing.assert_array_equal(got, np.maximum(a, b * b))


def test_zero_size_writes_nothing(tmp_path):
    spec = Elementwise((3, 0), Access(1, (0, 1)), (Access(0, (0, 1)),), inp(0),
                       (Arg("f32", 0), Arg("f32", 0, True)))
    validate(default_module(spec).encode(), tmp_path)


def test_collapse_merges_contiguous_and_drops_unit_dims():
    loops = collapse((2, 1, 3, 4), [Access(0, (12, 12, 4, 1)), Access(1, (0, 0, 0, 1))])
    assert loops.shape == (6, 4)
    assert loops.strides == ((4, 1), (0, 1))
    loops = collapse((2, 3, 4), [Access(0, (12, 4, 1)), Access(1, (12, 4, 1))])
    assert loops.shape == (24,) and loops.strides == ((1,), (1,))


def test_acc_leaf_is_refused():
    spec = Elementwise((4,), Access(0, (1,)), (), Expr("acc", "f32"), (Arg("f32", 4, True),))
    with pytest.raises(CompileError):
        default_module(spec)


def test_dtype_mismatch_is_refused():
    spec = Elementwise((4,), Access(1, (1,)), (Access(0, (1,)),), inp(0, "i32"),
                       (Arg("f32", 4), Arg("i32", 4, True)))
    with pytest.raises(CompileError):
        default_module(spec)
