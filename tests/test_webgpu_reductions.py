"""WebGPU Reduce, Softmax and LayerNorm kernels, run in Node (Dawn on SwiftShader) against numpy.

The cases mirror tests/test_wasm_reductions.py and reuse its references; every case
also runs with lowered limits (64 invocations, 4 KiB workgroup storage, 1 KiB bindings
so args are chunked), which must give the same results.
"""
import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, LayerNorm, Reduce, Softmax
from webjit.webgpu.kernel import Limits
from webjit.webgpu.reductions import RowConfig
from test_wasm_reductions import OUTER, REDUCE_REF, ROW_LENGTHS, layernorm, reduce_input, softmax
from webgpu_harness import finish, run_batch, wgsl


LOW = Limits(max_invocations=64, max_workgroup_size=(64, 64, 64), max_workgroup_storage=4096,
             max_binding_bytes=1024)
LIMITS = {"default": Limits(), "low": LOW}
# Rows long enough to span several chunks and invocation strides, yet within 8 chunk bindings.
ROWS = {"default": ROW_LENGTHS, "low": [1, 7, 150]}
CASES = {}


def register(name, build):
    assert name not in CASES
    CASES[name] = build


def reduce_case(name, kind, x, check, limits):
    dtype = "f32" if x.dtype == np.float32 else "i32"
    outer = x.shape[0]
    spec = Reduce(kind, outer, x.shape[1], (Arg(dtype, x.size), Arg(dtype, outer, output=True)))
    register(name, lambda: (wgsl(spec, limits=limits), [x, np.full(outer, -9, x.dtype)], [1], check))


def reduce_check(kind, x):
    x64 = x.astype(np.float64)
    scale = np.abs(x64).sum(1) / max(x.shape[1], 1) if kind in ("sum", "mean") else 0
    atol = 1e-6 + 1e-6 * np.max(scale, initial=0)
    return lambda got: np.testing.assert_allclose(got, REDUCE_REF[kind](x64), rtol=1e-5, atol=atol)


for label, limits in LIMITS.items():
    for kind in sorted(REDUCE_REF):
        for r in ROWS[label]:
            x = reduce_input(kind, r, seed=r)
            reduce_case(f"reduce_{kind}_{r}_{label}", kind, x, reduce_check(kind, x), limits)
    for kind in ("sum", "max", "min", "prod"):
        x = np.random.default_rng(1).integers(-4, 5, size=(OUTER, 150 if kind != "prod" else 7)).astype(np.int32)
        ref = REDUCE_REF[kind](x.astype(np.int64)).astype(np.int32)
        reduce_case(f"reduce_i32_{kind}_{label}", kind, x,
                    lambda got, ref=ref: np.testing.assert_array_equal(got, ref), limits)

x = np.array([[-np.inf, -np.inf, -np.inf], [1.0, -np.inf, 2.0], [np.inf, 0.0, 1.0]], np.float32)
reduce_case("logsumexp_infinite_rows", "logsumexp", x, lambda got: np.testing.assert_allclose(
    got, [-np.inf, np.log(np.e + np.e ** 2), np.inf], rtol=1e-6), Limits())
x = np.array([[1.0, np.nan, 2.0], [-1.0, -2.0, np.nan]], np.float32)
reduce_case("max_propagates_nan", "max", x, lambda got: np.testing.assert_array_equal(got, [np.nan, np.nan]),
            Limits())
x = np.zeros((3, 0), np.float32)
reduce_case("sum_of_empty_rows", "sum", x, lambda got: np.testing.assert_array_equal(got, 0), Limits())


def softmax_case(name, x, log, limits, config=None):
    spec = Softmax(x.shape[0], x.shape[1], log, (Arg("f32", x.size), Arg("f32", x.size, output=True)))
    ref = softmax(x.astype(np.float64))

    def check(got):
        if log:
            np.testing.assert_allclose(got, np.log(ref), rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
    register(name, lambda: (wgsl(spec, config, limits), [x, np.zeros_like(x)], [1], check))


for label, limits in LIMITS.items():
    for log in (False, True):
        for r in ROWS[label]:
            x = np.random.default_rng(r).uniform(-8, 8, size=(OUTER, r)).astype(np.float32)
            softmax_case(f"softmax_{'log_' if log else ''}{r}_{label}", x, log, limits)
x = np.random.default_rng(2).uniform(-2, 2, size=(3, 9)).astype(np.float32)
x[0, 4:] = -np.inf
x[1, :] = -3.4e38
x[2, ::2] = -1e9
softmax_case("softmax_masked_rows", x, False, Limits())
x = np.random.default_rng(3).uniform(-8, 8, size=(300, 384)).astype(np.float32)
softmax_case("softmax_many_rows_narrow_workgroup", x, False, Limits(), RowConfig(workgroup=32))


def layernorm_case(name, r, has_bias, limits):
    rng = np.random.default_rng(r)
    x = rng.standard_normal((OUTER, r)).astype(np.float32)
    x[1] += 1000.0  # a large mean: the two-pass variance must stay accurate
    scale = rng.uniform(0.5, 2.0, size=r).astype(np.float32)
    bias = rng.standard_normal(r).astype(np.float32)
    args = [x, scale] + ([bias] if has_bias else []) + [np.zeros_like(x)]
    spec = LayerNorm(OUTER, r, 1e-5, has_bias, tuple(Arg("f32", a.size, output=(i == len(args) - 1))
                                                    for i, a in enumerate(args)))
    ref = layernorm(x.astype(np.float64), scale, bias if has_bias else 0.0, 1e-5)

    def check(got):
        normal = [0, 2, 3, 4]
        np.testing.assert_allclose(got[normal], ref[normal], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=1e-3)
    register(name, lambda: (wgsl(spec, limits=limits), args, [len(args) - 1], check))


for label, limits in LIMITS.items():
    for has_bias in (True, False):
        for r in ROWS[label]:
            layernorm_case(f"layernorm_{'bias_' if has_bias else ''}{r}_{label}", r, has_bias, limits)


@pytest.fixture(scope="module")
def results():
    return run_batch(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    finish(results, name)


def test_low_limits_shrink_the_workgroup_and_chunk_the_args():
    spec = Softmax(OUTER, 150, False, (Arg("f32", 750), Arg("f32", 750, output=True)))
    kernel = wgsl(spec, limits=LOW)
    assert kernel.workgroup == (64, 1, 1) and len(kernel.bindings) == 6
    assert wgsl(spec, limits=Limits(max_workgroup_storage=64)).workgroup == (16, 1, 1)
    assert wgsl(Reduce("sum", 2, 3, (Arg("f32", 6), Arg("f32", 2, True)))).workgroup == (4, 1, 1)


def test_too_few_storage_buffers_is_a_compile_error():
    spec = LayerNorm(4, 256, 1e-5, True, (Arg("f32", 1024), Arg("f32", 256), Arg("f32", 256),
                                         Arg("f32", 1024, True)))
    wgsl(spec, limits=Limits(max_storage_buffers=4))
    with pytest.raises(CompileError, match="layernorm kernel needs 10 storage buffers"):
        wgsl(spec, limits=Limits(max_storage_buffers=8, max_binding_bytes=1024))


def test_refusals():
    with pytest.raises(CompileError):
        wgsl(Reduce("l2", 2, 3, (Arg("i32", 6), Arg("i32", 2, output=True))))
    with pytest.raises(CompileError):
        wgsl(Reduce("median", 2, 3, (Arg("f32", 6), Arg("f32", 2, output=True))))
    with pytest.raises(CompileError):
        wgsl(LayerNorm(2, 3, 1e-5, True, (Arg("f32", 6), Arg("f32", 3), Arg("f32", 6, True))))
