"""WebGPU Gather and CumSum: storage-buffer limits, empty specs and refusals. Their numbers are
checked by the shared cases (tests/kernel_cases.py, tests/test_kernels_webgpu.py)."""
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, CumSum, Gather
from webjit.webgpu.kernel import Limits
from kernel_cases import LOW
from webgpu_harness import wgsl


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
