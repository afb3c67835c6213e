"""WebGPU elementwise kernels and WGSL expressions: what only the WGSL generator shows (empty
dispatches, storage-buffer limits, refusals, exact literals, helper declarations). Their
numbers are checked by the shared cases (tests/kernel_cases.py, tests/test_kernels_webgpu.py)."""
import math

import pytest

from webjit.errors import CompileError
from webjit.kernels import Access, Arg, Elementwise, Expr
from webjit.webgpu.kernel import Limits
from webjit.webgpu.wgsl import f32_literal, i32_literal
from kernel_cases import const, inp, node
from webgpu_harness import wgsl


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
