"""WebGPU elementwise kernels and WGSL expressions, run in Node (Dawn on SwiftShader) against numpy.

The cases mirror tests/test_wasm_elementwise.py and reuse its references. All cases run
in one Node process (module fixture); each test checks one case's outputs.
"""
import math

import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Access, Arg, Elementwise, Expr
from webjit.webgpu.elementwise import ElementwiseConfig
from webjit.webgpu.kernel import Limits
from webjit.webgpu.wgsl import f32_literal, i32_literal
from test_wasm_elementwise import (BINARY_F32, BROADCASTS, COMPARE, INT_BINARY, UNARY_F32,
                                   contiguous, const, flat_inputs, gelu_expr, inp, node, view)
from webgpu_harness import finish, run_batch, wgsl


NP = {"f32": np.float32, "i32": np.int32}
LOW = Limits(max_invocations=64, max_workgroup_size=(64, 64, 64), max_workgroup_storage=4096,
             max_binding_bytes=1024)
TINY_GRID = Limits(max_workgroups_per_dim=3, max_invocations=32, max_workgroup_size=(32, 32, 32))
CASES = {}


def dtype_of(a: np.ndarray) -> str:
    return "f32" if a.dtype == np.float32 else "i32"


def case(name, shape, expr, inputs, accesses=None, out_access=None, out_size=None, fill=-7,
         limits=None, config=None, check=None):
    """Register a case computing expr over shape; check(out) gets the whole output buffer."""
    def build():
        accs = accesses or [Access(i, contiguous(shape)) for i in range(len(inputs))]
        out_acc = out_access or Access(len(inputs), contiguous(shape))
        size = out_size if out_size is not None else math.prod(shape)
        args = tuple(Arg(dtype_of(a), a.size) for a in inputs) + (Arg(expr.dtype, size, output=True),)
        spec = Elementwise(tuple(shape), out_acc, tuple(accs), expr, args)
        kernel = wgsl(spec, config, limits) if limits else wgsl(spec, config)
        out = np.full(size, fill, dtype=NP[expr.dtype])
        return kernel, [*inputs, out], [len(inputs)], check
    assert name not in CASES
    CASES[name] = build


def close(ref, rtol=1e-5, atol=1e-6):
    return lambda got: np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def equal(ref):
    return lambda got: np.testing.assert_array_equal(got, ref)


for op, (ref, (low, high)) in sorted(UNARY_F32.items()):
    (x,) = flat_inputs((3, 11), 1, low=low, high=high, seed=1)
    if op in ("round", "sign", "relu", "abs", "floor", "ceil"):
        x[:8] = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.0, -0.0]
    case(f"unary_{op}", (3, 11), node(op, "f32", inp(0)), [x], check=close(ref(x.astype(np.float64))))

x = np.array([np.nan, 1.0, -np.inf, 0.0, -2.0, np.nan, 3.0], dtype=np.float32)
case("isnan", (7,), node("isnan", "i32", inp(0)), [x], check=equal(np.isnan(x).astype(np.int32)))
case("sign_nan", (7,), node("sign", "f32", inp(0)), [x], check=equal(np.sign(x)))
b = np.array([0, 1, 1, 0, 0], dtype=np.int32)
case("not", (5,), node("not", "i32", inp(0, "i32")), [b], check=equal(1 - b))
big = np.array([1e3, -1e3, 50.0, -50.0, 0.0, -0.0, np.inf, -np.inf], dtype=np.float32)
case("tanh_large", (8,), node("tanh", "f32", inp(0)), [big], check=close(np.tanh(big.astype(np.float64))))
with np.errstate(over="ignore"):
    case("sigmoid_large", (8,), node("sigmoid", "f32", inp(0)), [big],
         check=close(1 / (1 + np.exp(-big.astype(np.float64)))))
case("erf_edges", (8,), node("erf", "f32", inp(0)), [big], check=close(np.sign(big.astype(np.float64))))
dom = np.array([0.0, -1.0, np.inf, 1.0], dtype=np.float32)
with np.errstate(all="ignore"):
    case("log_domain", (4,), node("log", "f32", inp(0)), [dom], check=equal(np.log(dom)))
    case("sqrt_domain", (4,), node("sqrt", "f32", inp(0)), [dom], check=equal(np.sqrt(dom)))

for op, (ref, (low, high)) in sorted(BINARY_F32.items()):
    a, b = flat_inputs((2, 3, 7), 2, low=low, high=high, seed=2)
    if op == "mod":
        b = np.where(np.abs(b) < 0.5, 1.25, b).astype(np.float32)
    case(f"binary_{op}", (2, 3, 7), node(op, "f32", inp(0), inp(1)), [a, b],
         check=close(ref(a.astype(np.float64), b.astype(np.float64))))

# fmod must be exact where a / b rounds to an integer in f32
a = np.array([0.3, -0.3, 1e10, 7.5, -7.5, 5.0, 3.0, np.inf, 1.0], dtype=np.float32)
b = np.array([0.1, 0.1, 3.0, 2.0, -2.0, np.inf, 0.0, 1.0, np.nan], dtype=np.float32)
with np.errstate(all="ignore"):
    case("fmod_exact", (9,), node("mod", "f32", inp(0), inp(1)), [a, b], check=equal(np.fmod(a, b)))
a = np.array([np.nan, 1.0, -2.0, np.nan], dtype=np.float32)
b = np.array([1.0, np.nan, 3.0, np.nan], dtype=np.float32)
case("min_nan", (4,), node("min", "f32", inp(0), inp(1)), [a, b], check=equal(np.minimum(a, b)))
case("max_nan", (4,), node("max", "f32", inp(0), inp(1)), [a, b], check=equal(np.maximum(a, b)))
a = np.array([-2.0, -2.0, -8.0, 0.0, 2.0, 1.0, -0.5], dtype=np.float32)
b = np.array([3.0, 2.0, 1 / 3, 2.0, 0.0, np.nan, 2.0], dtype=np.float32)
with np.errstate(all="ignore"):
    case("pow_signs", (7,), node("pow", "f32", inp(0), inp(1)), [a, b],
         check=close(np.power(a.astype(np.float64), b), rtol=1e-5))

for dtype in ("f32", "i32"):
    for op, ref in sorted(COMPARE.items()):
        a, b = flat_inputs((27,), 2, dtype=dtype, low=-2, high=2, seed=3)
        if dtype == "f32":
            a, b = np.round(a), np.round(b)
        case(f"compare_{op}_{dtype}", (27,), node(op, "i32", inp(0, dtype), inp(1, dtype)), [a, b],
             check=equal(ref(a, b).astype(np.int32)))

for op, ref in sorted(INT_BINARY.items()):
    a, b = flat_inputs((5, 9), 2, dtype="i32", low=-50, high=50, seed=4)
    if op in ("div", "mod"):
        b = np.where(b == 0, 7, b).astype(np.int32)
        a[:6] = [7, -7, 7, -7, 2**31 - 1, -2**31]
        b[:6] = [2, 2, -2, -2, 3, 7]
    if op in ("and", "or", "xor"):
        a, b = (a > 0).astype(np.int32), (b > 0).astype(np.int32)
    case(f"binary_i32_{op}", (5, 9), node(op, "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
         check=equal(ref(a.astype(np.int64), b.astype(np.int64)).astype(np.int32)))

# division by zero and overflow saturate like the WASM kernels (f64 division then trunc_sat)
a = np.array([5, -5, 0, -2**31, -2**31, 7, -7], dtype=np.int32)
b = np.array([0, 0, 0, -1, 1, 0, -1], dtype=np.int32)
case("div_i32_edges", (7,), node("div", "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
     check=equal([2**31 - 1, -2**31, 0, 2**31 - 1, -2**31, 2**31 - 1, 7]))
case("mod_i32_edges", (7,), node("mod", "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
     check=equal([0, 0, 0, 0, 0, 0, 0]))

(a,) = flat_inputs((13,), 1, dtype="i32", low=-9, high=9, seed=5)
for op, ref in (("neg", np.negative), ("abs", np.abs), ("sign", np.sign),
                ("relu", lambda v: np.maximum(v, 0))):
    case(f"unary_i32_{op}", (13,), node(op, "i32", inp(0, "i32")), [a], check=equal(ref(a)))
case("cast_i32_f32", (13,), node("cast", "f32", inp(0, "i32")), [a], check=equal(a.astype(np.float32)))
x = np.array([1.9, -1.9, 0.5, -0.5, 3e9, -3e9, 7.0, -0.0, 2.5, np.nan, np.inf, -np.inf], dtype=np.float32)
case("cast_f32_i32", (12,), node("cast", "i32", inp(0)), [x],
     check=equal([1, -1, 0, 0, 2**31 - 1, -2**31, 7, 0, 2, 0, 2**31 - 1, -2**31]))

a = np.array([-5, -2, 0, 1, 3, 7, 2, -3], dtype=np.int32)
b = np.array([3, 2, 4, 0, 4, 2, 10, 1], dtype=np.int32)
case("pow_i32", (8,), node("pow", "i32", inp(0, "i32"), inp(1, "i32")), [a, b],
     check=equal(np.power(a.astype(np.int64), b).astype(np.int32)))
x = np.array([1e38, -3e38, 0.5], dtype=np.float32)
case("huge_constants", (3,), node("max", "f32", node("min", "f32", inp(0), const(1e39)), const(-1e39)),
     [x], check=equal(x))
# constant-only subtrees that overflow must not be folded into a WGSL compile error
x = np.array([1.0, -1.0, 0.0], dtype=np.float32)
expr = node("where", "f32", node("gt", "i32", inp(0), const(0.0)),
            node("mul", "f32", const(1e38), const(10.0)), node("neg", "f32", const(math.inf)))
case("constant_overflow", (3,), expr, [x], check=equal([np.inf, -np.inf, -np.inf]))
expr = node("add", "i32", node("cast", "i32", inp(0)),
            node("add", "i32", const(2**31 - 1, "i32"), const(1, "i32")))
case("constant_wrap_i32", (3,), expr, [x],
     check=equal((np.array([1, -1, 0], np.int64) - 2**31).astype(np.int32)))
mask = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)
expr = node("where", "f32", node("eq", "i32", inp(0), const(0.0)), const(-math.inf), const(math.nan))
case("inf_nan_constants", (4,), expr, [mask], check=equal([np.nan, -np.inf, np.nan, -np.inf]))

a, b = flat_inputs((4, 6), 2, seed=6)
expr = node("where", "f32", node("gt", "i32", inp(0), inp(1)), node("mul", "f32", inp(0), const(2.0)),
            const(-1.0))
case("where", (4, 6), expr, [a, b], check=equal(np.where(a > b, a * 2, -1).astype(np.float32)))

(x,) = flat_inputs((3, 5), 1, low=-4, high=4, seed=7)
t = node("cast", "i32", node("mul", "f32", inp(0), const(3.0)))
expr = node("cast", "f32", node("add", "i32", node("mod", "i32", t, const(4, "i32")),
                                node("where", "i32", node("lt", "i32", inp(0), const(0.0)),
                                     const(10, "i32"), const(0, "i32"))))
ti = np.trunc(x * np.float32(3)).astype(np.int64)
case("int_expression", (3, 5), expr, [x],
     check=equal((np.mod(ti, 4) + np.where(x < 0, 10, 0)).astype(np.float32)))


def gelu_ref(v):
    return 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))


shape = (1, 64, 768)
x = np.random.default_rng(8).standard_normal(math.prod(shape)).astype(np.float32)
bias = np.random.default_rng(9).standard_normal(768).astype(np.float32)
case("gelu_bias_large", shape, gelu_expr(node("add", "f32", inp(0), inp(1))), [x, bias],
     accesses=[Access(0, (49152, 768, 1)), Access(1, (0, 0, 1))],
     check=close(gelu_ref(x.astype(np.float64).reshape(64, 768) + bias).reshape(-1), atol=2e-6))
(x,) = flat_inputs((1003,), 1, low=-5, high=5, seed=10)
case("gelu_1d", (1003,), gelu_expr(inp(0)), [x], check=close(gelu_ref(x.astype(np.float64)), atol=2e-6))
case("gelu_1d_items4", (1003,), gelu_expr(inp(0)), [x], config=ElementwiseConfig(workgroup=64, items=4),
     check=close(gelu_ref(x.astype(np.float64)), atol=2e-6))
case("gelu_1d_low_limits", (1003,), gelu_expr(inp(0)), [x], limits=LOW,
     check=close(gelu_ref(x.astype(np.float64)), atol=2e-6))
case("gelu_1d_grid", (1003,), gelu_expr(inp(0)), [x], limits=TINY_GRID,
     check=close(gelu_ref(x.astype(np.float64)), atol=2e-6))


def broadcast_case(name, shape, strides, limits=None):
    a = flat_inputs(shape, 1, seed=11)[0]
    size_b = 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    b = np.random.default_rng(12).uniform(-3, 3, size=size_b).astype(np.float32)
    accesses = [Access(0, contiguous(shape)), Access(1, strides)]
    va, vb = view(a, accesses[0], shape).astype(np.float64), view(b, accesses[1], shape).astype(np.float64)
    expr = node("sub", "f32", node("mul", "f32", inp(0), inp(1)), inp(1))
    case(name, shape, expr, [a, b], accesses=accesses, limits=limits,
         check=close((va * vb - vb).reshape(-1), rtol=1e-6))


for shape, strides in BROADCASTS:
    broadcast_case(f"broadcast_{shape}_{strides}", shape, strides)
broadcast_case("broadcast_low_limits", (3, 40, 5), (0, 5, 1), limits=LOW)

for shape, strides, offset in [((5, 9), (1, 5), 0), ((3, 4, 6), (1, 18, 3), 0), ((7, 6), (-6, -1), 41),
                               ((2, 9), (20, 2), 1)]:
    size = offset + 1 + sum((n - 1) * abs(s) for n, s in zip(shape, strides))
    src = np.random.default_rng(13).uniform(-3, 3, size=size).astype(np.float32)
    access = Access(0, strides, offset)
    case(f"strided_{shape}_{strides}", shape, node("add", "f32", inp(0), const(1.5)), [src],
         accesses=[access],
         check=close((view(src, access, shape) + np.float32(1.5)).reshape(-1), rtol=1e-7, atol=0))

a = flat_inputs((3, 5), 1, seed=14)[0]
ref = np.zeros((3, 9), np.float32)
ref[:, 2:7] = -a.reshape(3, 5)
case("concat_output", (3, 5), node("neg", "f32", inp(0)), [a], accesses=[Access(0, (5, 1))],
     out_access=Access(1, (9, 1), offset=2), out_size=27, fill=0, check=equal(ref.reshape(-1)))
case("transposed_output", (3, 5), node("abs", "f32", inp(0)), [a], accesses=[Access(0, (5, 1))],
     out_access=Access(1, (1, 3)), out_size=15, check=equal(np.abs(a.reshape(3, 5)).T.reshape(-1)))
# a concat into a chunked output: the written block straddles binding chunks
a = flat_inputs((40, 10), 1, seed=15)[0]
ref = np.zeros((40, 16), np.float32)
ref[:, 3:13] = a.reshape(40, 10) * 2
case("concat_output_low_limits", (40, 10), node("mul", "f32", inp(0), const(2.0)), [a],
     accesses=[Access(0, (10, 1))], out_access=Access(1, (16, 1), offset=3), out_size=640, fill=0,
     limits=LOW, check=equal(ref.reshape(-1)))

for shape in [(), (1,), (3,), (1, 7, 3), (7, 1, 1, 3), (2, 1, 5, 1), (4, 4), (1, 1, 1)]:
    a, b = flat_inputs(shape, 2, seed=15)
    case(f"odd_shape_{shape}", shape, node("max", "f32", inp(0), node("mul", "f32", inp(1), inp(1))), [a, b],
         check=equal(np.maximum(a, b * b)))


@pytest.fixture(scope="module")
def results():
    return run_batch(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    finish(results, name)


def test_zero_size_compiles_to_an_empty_dispatch():
    spec = Elementwise((3, 0), Access(1, (0, 1)), (Access(0, (0, 1)),), inp(0),
                       (Arg("f32", 0), Arg("f32", 0, True)))
    kernel = wgsl(spec)
    assert kernel.bindings == () and "fn main" in kernel.source


def test_too_few_storage_buffers_is_a_compile_error():
    spec = Elementwise((600,), Access(1, (1,)), (Access(0, (1,)),), node("neg", "f32", inp(0)),
                       (Arg("f32", 600), Arg("f32", 600, True)))
    wgsl(spec, limits=Limits(max_storage_buffers=2))
    with pytest.raises(CompileError, match="storage buffers"):
        wgsl(spec, limits=Limits(max_storage_buffers=2, max_binding_bytes=1024))


def test_acc_leaf_and_dtype_mismatch_are_refused():
    with pytest.raises(CompileError):
        wgsl(Elementwise((4,), Access(0, (1,)), (), Expr("acc", "f32"), (Arg("f32", 4, True),)))
    with pytest.raises(CompileError):
        wgsl(Elementwise((4,), Access(1, (1,)), (Access(0, (1,)),), inp(0, "i32"),
                         (Arg("f32", 4), Arg("i32", 4, True))))


def test_literals_are_exact():
    assert f32_literal(0.1) == "0.1f" and f32_literal(-2.5) == "(-2.5f)"
    assert f32_literal(math.inf) == "wj_f32_bits(0x7f800000u)"
    assert f32_literal(1e39) == "wj_f32_bits(0x7f800000u)"
    # The shortest round-trip text of FLT_MAX (3.40282347e+38) lies past FLT_MAX, which WGSL
    # refuses; the exact value is written instead.
    assert f32_literal(3.4028234663852886e38) == "3.4028234663852886e+38f"
    assert i32_literal(-2**31) == "bitcast<i32>(0x80000000u)" and i32_literal(2**32 + 5) == "5i"


def test_runtime_bits_helper_is_declared_once():
    from webjit.webgpu.expr import expr_functions, helper_functions
    expr = node("where", "f32", node("isnan", "i32", inp(0)), const(-math.inf),
                node("log", "f32", node("max", "f32", inp(0), const(math.nan))))
    text = expr_functions(expr)
    assert text.count("fn wj_f32_bits(") == 1 and text.count("fn wj_log(") == 1
    assert expr_functions(node("add", "f32", inp(0), const(1.0))) == ""
    assert helper_functions(["bits", "log", "bits"]).count("fn wj_f32_bits(") == 1
