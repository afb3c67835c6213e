"""WebGPU Gather and CumSum kernels, run in Node (Dawn on SwiftShader) against numpy.

The cases mirror tests/test_wasm_gather.py and reuse its references; some also run with
lowered limits (64 invocations, 1 KiB bindings so args are chunked, 3 workgroups per
grid dimension) and must give the same results.
"""
import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, CumSum, Gather
from webjit.webgpu.kernel import Limits
from test_wasm_gather import cumsum_ref, gather_inputs, gather_ref
from webgpu_harness import finish, run_batch, wgsl


LOW = Limits(max_invocations=64, max_workgroup_size=(64, 64, 64), max_workgroup_storage=4096,
             max_binding_bytes=1024, max_workgroups_per_dim=3)
CASES = {}


def register(name, build):
    assert name not in CASES
    CASES[name] = build


def gather_case(name, outer, axis_dim, inner, count, dtype, limits=Limits()):
    spec, data, indices, out = gather_inputs(outer, axis_dim, inner, count, dtype)
    ref = gather_ref(data, indices)
    check = lambda got: np.testing.assert_array_equal(got.reshape(outer, count, inner), ref)  # noqa: E731
    register(name, lambda: (wgsl(spec, limits=limits), [data, indices, out], [2], check))


for shape in [(1, 30, 384, 9), (1, 10, 7, 5), (2, 6, 8, 4), (3, 5, 1, 7), (4, 3, 2, 1)]:
    for dtype in ("f32", "i32"):
        gather_case(f"gather_{shape}_{dtype}", *shape, dtype)
gather_case("gather_low_limits", 2, 7, 40, 6, "f32", LOW)  # 560 data, 480 out elements: chunked

data = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
indices = np.array([3, -4, 2**31 - 1, -2**31, -3, 2], dtype=np.int32)


def check_out_of_range(got):
    got = got.reshape(6, 4)
    np.testing.assert_array_equal(got[:4], 0)
    np.testing.assert_array_equal(got[4], data[0, 0])
    np.testing.assert_array_equal(got[5], data[0, 2])


register("gather_out_of_range", lambda: (
    wgsl(Gather(1, 3, 4, 6, (Arg("f32", 12), Arg("i32", 6), Arg("f32", 24, True)))),
    [data, indices, np.full(24, 5, np.float32)], [2], check_out_of_range))


def cumsum_case(name, outer, r, inner, exclusive, reverse, dtype="f32", limits=Limits()):
    rng = np.random.default_rng(r + inner)
    if dtype == "f32":
        x = rng.uniform(-2, 2, size=(outer, r, inner)).astype(np.float32)
        check = lambda got: np.testing.assert_allclose(  # noqa: E731
            got, cumsum_ref(x, exclusive, reverse), rtol=1e-5, atol=1e-5)
    else:
        x = rng.integers(-3, 4, size=(outer, r, inner)).astype(np.int32)
        ref = cumsum_ref(x, exclusive, reverse)
        check = lambda got: np.testing.assert_array_equal(got, ref)  # noqa: E731
    spec = CumSum(outer, r, inner, exclusive, reverse, (Arg(dtype, x.size), Arg(dtype, x.size, True)))
    register(name, lambda: (wgsl(spec, limits=limits), [x, np.full_like(x, 9)], [1], check))


for shape in [(1, 128, 1), (2, 7, 6), (3, 4, 9), (1, 1, 5), (2, 33, 4)]:
    for exclusive in (False, True):
        for reverse in (False, True):
            cumsum_case(f"cumsum_{shape}_{exclusive}_{reverse}", *shape, exclusive, reverse)
for exclusive, reverse in [(False, False), (True, True), (True, False)]:
    cumsum_case(f"cumsum_i32_{exclusive}_{reverse}", 2, 37, 3, exclusive, reverse, "i32")
cumsum_case("cumsum_low_limits", 3, 60, 5, True, True, limits=LOW)  # 900 elements in 4 chunks


def check_empty_gather(got):
    """No indices: the kernel still compiles and dispatches, and its output stays empty."""
    assert got.shape == (0,) and got.dtype == np.float32


empty = np.zeros(0, np.float32)
register("gather_no_indices", lambda: (
    wgsl(Gather(2, 3, 4, 0, (Arg("f32", 24), Arg("i32", 0), Arg("f32", 0, True)))),
    [np.ones(24, np.float32), np.zeros(0, np.int32), empty], [2], check_empty_gather))


@pytest.fixture(scope="module")
def results():
    return run_batch(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    finish(results, name)


def test_gather_needs_i32_indices():
    with pytest.raises(CompileError):
        wgsl(Gather(1, 3, 4, 2, (Arg("f32", 12), Arg("f32", 2), Arg("f32", 8, True))))


def test_too_few_storage_buffers_is_a_compile_error():
    spec = CumSum(3, 60, 5, False, False, (Arg("f32", 900), Arg("f32", 900, True)))
    assert len(wgsl(spec, limits=LOW).bindings) == 8
    with pytest.raises(CompileError, match="cumsum kernel needs 8 storage buffers"):
        wgsl(spec, limits=Limits(max_binding_bytes=1024, max_storage_buffers=7))


def test_empty_specs_compile():
    assert wgsl(CumSum(2, 0, 3, False, False, (Arg("f32", 0), Arg("f32", 0, True)))).bindings == ()
