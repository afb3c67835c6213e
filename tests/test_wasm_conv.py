"""WASM Im2Col and Pool: the refusals. Their numbers are checked by the shared cases
(tests/kernel_cases.py, tests/test_kernels_wasm.py)."""
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, Im2Col, Pool
from wasm_harness import default_module


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


def pool(kind, h, w, k, pads, strides, dilations=(1, 1)):
    oh = (h + pads[0] + pads[2] - (k - 1) * dilations[0] - 1) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - (k - 1) * dilations[1] - 1) // strides[1] + 1
    return Pool(kind, 2, h, w, k, k, pads, strides, dilations, oh, ow, False,
                (Arg("f32", 2 * h * w), Arg("f32", 2 * oh * ow, output=True)))


@pytest.mark.parametrize("w, k, pads, stride, dilation, want", [
    (112, 3, (1, 1, 1, 1), 2, 1, (1, 53)),  # ResNet's stem pool: 56 columns, the first and last 3 clipped or left
    (7, 3, (1, 1, 1, 1), 2, 1, (1, 1)),  # two inside columns: no vector
    (13, 3, (0, 2, 0, 0), 1, 2, (2, 10)),  # dilated: 11 columns, 9 of them inside, 8 in vectors
    (9, 2, (0, 0, 0, 0), 1, 1, (0, 8)),
])
def test_pool_vector_columns_are_the_whole_windows_inside(w, k, pads, stride, dilation, want):
    from webjit.wasm.pool import vector_columns
    spec = pool("max", 4, w, k, pads, (1, stride), (1, dilation))
    assert vector_columns(spec) == want
    lo, hi = want
    for ox in range(lo, hi):  # every tap of a vector column is inside the image
        first = ox * stride - pads[1]
        assert 0 <= first and first + (k - 1) * dilation < w
    assert lo == 0 or (lo - 1) * stride - pads[1] < 0


def test_pool_and_strided_im2col_use_simd():
    stem_pool = default_module(pool("max", 112, 112, 3, (1, 1, 1, 1), (2, 2))).to_wat()
    assert "f32x4.max" in stem_pool and "i8x16.shuffle" in stem_pool
    avg = default_module(pool("avg", 8, 8, 3, (1, 1, 1, 1), (1, 1))).to_wat()
    assert "f32x4.add" in avg and "f32x4.div" in avg
    stem = Im2Col(1, 3, 224, 224, 7, 7, (3, 3, 3, 3), (2, 2), (1, 1), 112, 112,
                  (Arg("f32", 3 * 224 * 224), Arg("f32", 3 * 49 * 112 * 112, output=True)))
    assert "i8x16.shuffle" in default_module(stem).to_wat()


@pytest.mark.parametrize("kernel, stride, pads, patches", [
    ((16, 16), (16, 16), (0, 0, 0, 0), True),  # ViT
    ((3, 8), (2, 8), (0, 0, 0, 0), True),  # rows may overlap; columns may not
    ((14, 14), (14, 14), (0, 0, 0, 0), False),  # runs of 14 do not split into vectors
    ((8, 8), (8, 8), (0, 1, 0, 0), False),  # padded
    ((8, 8), (4, 4), (0, 0, 0, 0), False),  # overlapping columns
])
def test_im2col_patch_path_only_for_non_overlapping_unpadded_vector_runs(kernel, stride, pads, patches):
    from webjit.wasm.conv import is_patches
    spec = Im2Col(1, 3, 32, 32, *kernel, pads, stride, (1, 1), 4, 4,
                  (Arg("f32", 3 * 32 * 32), Arg("f32", 3 * kernel[0] * kernel[1] * 16, output=True)))
    assert is_patches(spec) == patches
