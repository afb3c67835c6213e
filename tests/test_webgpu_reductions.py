"""WebGPU Reduce, Softmax and LayerNorm: workgroups under lowered limits, storage-buffer
limits and refusals. Their numbers are checked by the shared cases (tests/kernel_cases.py,
tests/test_kernels_webgpu.py), also under lowered limits."""
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, LayerNorm, Reduce, Softmax
from webjit.webgpu.kernel import Limits
from kernel_cases import LOW, OUTER
from webgpu_harness import wgsl


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
