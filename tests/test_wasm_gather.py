"""WASM Gather and CumSum kernels, run in Node against numpy."""

import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, CumSum, Gather
from wasm_harness import default_module, run_both


def gather_ref(data, indices):
    axis_dim = data.shape[1]
    wrapped = np.where(indices < 0, indices + axis_dim, indices)
    valid = (wrapped >= 0) & (wrapped < axis_dim)
    picked = data[:, np.clip(wrapped, 0, axis_dim - 1), :]
    return np.where(valid[None, :, None], picked, 0).astype(data.dtype)


def gather_inputs(outer, axis_dim, inner, count, dtype):
    """A Gather spec and its arguments (shared with the WebGPU tests): indices in range,
    negative (wrapping once) and out of range on both sides; the output pre-filled with 77."""
    rng = np.random.default_rng(outer * 100 + inner)
    data = rng.standard_normal((outer, axis_dim, inner)).astype(np.float32)
    if dtype == "i32":
        data = (data * 1000).astype(np.int32)
    indices = rng.integers(-axis_dim - 2, axis_dim + 2, size=count).astype(np.int32)
    indices[0] = -1
    out = np.full(outer * count * inner, 77, dtype=data.dtype)
    args = (Arg(dtype, data.size), Arg("i32", count), Arg(dtype, out.size, True))
    return Gather(outer, axis_dim, inner, count, args), data, indices, out


@pytest.mark.parametrize("outer,axis_dim,inner,count", [
    (1, 30, 384, 9),  # embedding lookup
    (1, 10, 7, 5),  # ragged row copy
    (2, 6, 8, 4),
    (3, 5, 1, 7),  # scalar gather (shape arithmetic)
    (4, 3, 2, 1),
])
@pytest.mark.parametrize("dtype", ["f32", "i32"])
def test_gather(outer, axis_dim, inner, count, dtype, tmp_path):
    spec, data, indices, out = gather_inputs(outer, axis_dim, inner, count, dtype)
    got = run_both(tmp_path, default_module(spec), [data, indices, out], 2)
    np.testing.assert_array_equal(got.reshape(outer, count, inner), gather_ref(data, indices))


def test_gather_out_of_range_gives_zeros(tmp_path):
    data = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    indices = np.array([3, -4, 2**31 - 1, -2**31, -3, 2], dtype=np.int32)
    spec = Gather(1, 3, 4, 6, (Arg("f32", 12), Arg("i32", 6), Arg("f32", 24, True)))
    got = run_both(tmp_path, default_module(spec), [data, indices, np.full(24, 5, np.float32)], 2).reshape(6, 4)
    np.testing.assert_array_equal(got[:4], 0)
    np.testing.assert_array_equal(got[4], data[0, 0])
    np.testing.assert_array_equal(got[5], data[0, 2])


def test_gather_needs_i32_indices():
    with pytest.raises(CompileError):
        default_module(Gather(1, 3, 4, 2, (Arg("f32", 12), Arg("f32", 2), Arg("f32", 8, True))))


def cumsum_ref(x, exclusive, reverse):
    y = x[:, ::-1] if reverse else x
    c = np.cumsum(y, axis=1, dtype=np.float64 if x.dtype == np.float32 else np.int64)
    if exclusive:
        c = c - y
    return c[:, ::-1] if reverse else c


@pytest.mark.parametrize("outer,r,inner", [(1, 128, 1), (2, 7, 6), (3, 4, 9), (1, 1, 5), (2, 33, 4)])
@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_f32(outer, r, inner, exclusive, reverse, tmp_path):
    x = np.random.default_rng(r + inner).uniform(-2, 2, size=(outer, r, inner)).astype(np.float32)
    spec = CumSum(outer, r, inner, exclusive, reverse, (Arg("f32", x.size), Arg("f32", x.size, True)))
    got = run_both(tmp_path, default_module(spec), [x, np.full_like(x, 9)], 1)
    np.testing.assert_allclose(got, cumsum_ref(x, exclusive, reverse), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("exclusive,reverse", [(False, False), (True, True), (True, False)])
def test_cumsum_i32_positions(exclusive, reverse, tmp_path):
    # the usual exporter pattern: position ids = cumsum(mask) along the last axis
    x = np.random.default_rng(3).integers(-3, 4, size=(2, 37, 3)).astype(np.int32)
    spec = CumSum(2, 37, 3, exclusive, reverse, (Arg("i32", x.size), Arg("i32", x.size, True)))
    got = run_both(tmp_path, default_module(spec), [x, np.zeros_like(x)], 1)
    np.testing.assert_array_equal(got, cumsum_ref(x, exclusive, reverse))
