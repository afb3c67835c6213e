"""WebGPU Im2Col and Pool kernels, run in Node on SwiftShader against the numpy float64
references of the WASM tests (same cases), also with lowered limits (chunked bindings,
small workgroups, a 2-d dispatch grid). All kernels run in one Node process."""
import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, Im2Col, Pool
from webjit.webgpu.kernel import DEFAULT_LIMITS, Limits
from test_wasm_conv import IM2COL_CASES, POOL_CASES, out_size, ref_im2col, ref_pool
import webgpu_harness
from webgpu_harness import wgsl
from numerics import assert_close


# Args of over 1024 floats are chunked; 64 invocations; at most 16 workgroups per dimension.
LOW = Limits(max_invocations=64, max_workgroup_storage=4096, max_binding_bytes=4096,
             max_workgroups_per_dim=16)


def im2col_case(case, limits):
    n, c, h, w, kh, kw, pads, strides, dilations = case
    oh = out_size(h, kh, pads[0], pads[2], strides[0], dilations[0])
    ow = out_size(w, kw, pads[1], pads[3], strides[1], dilations[1])
    size = n * c * kh * kw * oh * ow
    spec = Im2Col(n, c, h, w, kh, kw, pads, strides, dilations, oh, ow,
                  (Arg("f32", n * c * h * w), Arg("f32", size, output=True)))
    x = np.random.default_rng(1).standard_normal((n, c, h, w)).astype(np.float32)
    want = ref_im2col(x.astype(np.float64), kh, kw, pads, strides, dilations, oh, ow)
    return wgsl(spec, None, limits), [x, np.full(size, -7, np.float32)], want


def pool_case(case, limits):
    kind, planes, h, w, k, pads, strides, dilations, count_include_pad, ceil = case
    oh = out_size(h, k[0], pads[0], pads[2], strides[0], dilations[0], ceil)
    ow = out_size(w, k[1], pads[1], pads[3], strides[1], dilations[1], ceil)
    spec = Pool(kind, planes, h, w, k[0], k[1], pads, strides, dilations, oh, ow, count_include_pad,
                (Arg("f32", planes * h * w), Arg("f32", planes * oh * ow, output=True)))
    x = np.random.default_rng(2).standard_normal((planes, h, w)).astype(np.float32)
    want = ref_pool(x.astype(np.float64), kind, k, pads, strides, dilations, oh, ow, count_include_pad)
    return wgsl(spec, None, limits), [x, np.full(planes * oh * ow, -7, np.float32)], want


# Bigger planes, so that the input is chunked under LOW.
CHUNKED_POOL_CASES = [
    ("max", 8, 20, 20, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), False, False),
    ("avg", 6, 16, 17, (3, 3), (1, 1, 1, 1), (2, 2), (1, 1), True, True),
]


def fits_low(make, case) -> bool:
    """Whether a case's chunks fit the 8 storage buffers of LOW (the ResNet stem does not)."""
    try:
        make(case, LOW)
    except CompileError:
        return False
    return True


CASES = {}
for _case in IM2COL_CASES:
    CASES[f"im2col-default-{_case}"] = (im2col_case, _case, DEFAULT_LIMITS)
    if fits_low(im2col_case, _case):
        CASES[f"im2col-low-{_case}"] = (im2col_case, _case, LOW)
for _case in POOL_CASES:
    CASES[f"pool-default-{_case}"] = (pool_case, _case, DEFAULT_LIMITS)
for _case in POOL_CASES + CHUNKED_POOL_CASES:
    CASES[f"pool-low-{_case}"] = (pool_case, _case, LOW)


@pytest.fixture(scope="module")
def results():
    """name -> (got, want, kernel) for every case, from one Node process."""
    built = {name: make(case, limits) for name, (make, case, limits) in CASES.items()}
    runs = [(kernel, args, [1]) for kernel, args, _ in built.values()]
    answers = webgpu_harness.run_wgsl_many(runs)
    return {name: (answer, want, kernel)
            for (name, (kernel, _, want)), answer in zip(built.items(), answers)}


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("im2col")])
def test_im2col_matches_numpy(results, name):
    got, want, _ = results[name]
    if isinstance(got, Exception):
        raise got
    np.testing.assert_array_equal(got[0].reshape(want.shape), want)


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("pool")])
def test_pool_matches_numpy(results, name):
    got, want, _ = results[name]
    if isinstance(got, Exception):
        raise got
    assert_close(got[0].reshape(want.shape), want, 1e-6, name)


def test_lowered_limits_are_respected(results):
    chunked = 0
    for name, (_, _, kernel) in results.items():
        if "-low-" not in name:
            continue
        assert kernel.workgroup[0] * kernel.workgroup[1] * kernel.workgroup[2] <= LOW.max_invocations
        assert max(kernel.dispatch) <= LOW.max_workgroups_per_dim
        assert all(b.count * 4 <= LOW.max_binding_bytes for b in kernel.bindings)
        chunked += len(kernel.bindings) > 2
    assert chunked >= 3  # the bigger cases really read and write through chunks


def test_pool_rejects_unknown_kind():
    spec = Pool("lp", 1, 4, 4, 2, 2, (0, 0, 0, 0), (2, 2), (1, 1), 2, 2, False,
                (Arg("f32", 16), Arg("f32", 4, output=True)))
    with pytest.raises(CompileError, match="lp"):
        wgsl(spec)


def test_im2col_rejects_zero_stride():
    spec = Im2Col(1, 1, 4, 4, 2, 2, (0, 0, 0, 0), (0, 1), (1, 1), 3, 3,
                  (Arg("f32", 16), Arg("f32", 36, output=True)))
    with pytest.raises(CompileError, match="strides"):
        wgsl(spec)


def test_too_many_chunks_is_a_clear_error():
    case = IM2COL_CASES[0]  # a ResNet stem: 47 k floats of columns
    with pytest.raises(CompileError, match="storage buffers"):
        im2col_case(case, Limits(max_binding_bytes=4096))
