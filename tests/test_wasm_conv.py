"""WASM Im2Col and Pool kernels, run in Node against numpy float64 references."""

import numpy as np
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, Im2Col, Pool
from wasm_harness import default_module, run_wasm, validate
from numerics import assert_close


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
            yield (oy * strides[0] - pads[0] + ky * dilations[0],
                   ox * strides[1] - pads[1] + kx * dilations[1])


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


@pytest.mark.parametrize("case", IM2COL_CASES, ids=str)
def test_im2col_matches_numpy(case, tmp_path):
    n, c, h, w, kh, kw, pads, strides, dilations = case
    oh = out_size(h, kh, pads[0], pads[2], strides[0], dilations[0])
    ow = out_size(w, kw, pads[1], pads[3], strides[1], dilations[1])
    size = n * c * kh * kw * oh * ow
    spec = Im2Col(n, c, h, w, kh, kw, pads, strides, dilations, oh, ow,
                  (Arg("f32", n * c * h * w), Arg("f32", size, output=True)))
    wasm = default_module(spec).encode()
    validate(wasm, tmp_path)
    x = np.random.default_rng(1).standard_normal((n, c, h, w)).astype(np.float32)
    want = ref_im2col(x.astype(np.float64), kh, kw, pads, strides, dilations, oh, ow)
    for nthreads in (1, 3):
        got, = run_wasm(wasm, [x, np.full(size, -7, np.float32)], [1], nthreads=nthreads)
        np.testing.assert_array_equal(got.reshape(want.shape), want)


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


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool_matches_numpy(case, tmp_path):
    kind, planes, h, w, k, pads, strides, dilations, count_include_pad, ceil = case
    oh = out_size(h, k[0], pads[0], pads[2], strides[0], dilations[0], ceil)
    ow = out_size(w, k[1], pads[1], pads[3], strides[1], dilations[1], ceil)
    spec = Pool(kind, planes, h, w, k[0], k[1], pads, strides, dilations, oh, ow, count_include_pad,
                (Arg("f32", planes * h * w), Arg("f32", planes * oh * ow, output=True)))
    wasm = default_module(spec).encode()
    validate(wasm, tmp_path)
    x = np.random.default_rng(2).standard_normal((planes, h, w)).astype(np.float32)
    want = ref_pool(x.astype(np.float64), kind, k, pads, strides, dilations, oh, ow, count_include_pad)
    for nthreads in (1, 3):
        got, = run_wasm(wasm, [x, np.full(planes * oh * ow, -7, np.float32)], [1], nthreads=nthreads)
        assert_close(got.reshape(want.shape), want, 1e-6)


def test_pool_rejects_unknown_kind():
    spec = Pool("lp", 1, 4, 4, 2, 2, (0, 0, 0, 0), (2, 2), (1, 1), 2, 2, False,
                (Arg("f32", 16), Arg("f32", 4, output=True)))
    with pytest.raises(CompileError, match="lp"):
        default_module(spec)


def test_im2col_rejects_zero_stride():
    spec = Im2Col(1, 1, 4, 4, 2, 2, (0, 0, 0, 0), (0, 1), (1, 1), 3, 3,
                  (Arg("f32", 16), Arg("f32", 36, output=True)))
    with pytest.raises(CompileError, match="strides"):
        default_module(spec)
