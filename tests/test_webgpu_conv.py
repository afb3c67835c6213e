"""WebGPU Im2Col and Pool: refusals and the storage-buffer limit. Their numbers are checked by
the shared cases (tests/kernel_cases.py, tests/test_kernels_webgpu.py), also under lowered limits."""
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, Im2Col, Pool
from webjit.webgpu.kernel import Limits
from kernel_cases import IM2COL_CASES, im2col_spec
from webgpu_harness import wgsl


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
        wgsl(im2col_spec(case), limits=Limits(max_binding_bytes=4096))
