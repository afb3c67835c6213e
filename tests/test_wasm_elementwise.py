"""WASM elementwise kernels: what only the WASM code generator shows (loop collapsing, empty
shapes, refusals). Their numbers are checked by the shared cases (tests/kernel_cases.py,
tests/test_kernels_wasm.py)."""
import pytest

from webjit.errors import CompileError
from webjit.kernels import Access, Arg, Elementwise, Expr, collapse
from kernel_cases import inp
from wasm_harness import default_module, validate


def test_zero_size_writes_nothing(tmp_path):
    spec = Elementwise((3, 0), Access(1, (0, 1)), (Access(0, (0, 1)),), inp(0),
                       (Arg("f32", 0), Arg("f32", 0, True)))
    validate(default_module(spec).encode(), tmp_path)


def test_collapse_merges_contiguous_and_drops_unit_dims():
    loops = collapse((2, 1, 3, 4), [Access(0, (12, 12, 4, 1)), Access(1, (0, 0, 0, 1))])
    assert loops.shape == (6, 4)
    assert loops.strides == ((4, 1), (0, 1))
    loops = collapse((2, 3, 4), [Access(0, (12, 4, 1)), Access(1, (12, 4, 1))])
    assert loops.shape == (24,) and loops.strides == ((1,), (1,))


def test_acc_leaf_is_refused():
    spec = Elementwise((4,), Access(0, (1,)), (), Expr("acc", "f32"), (Arg("f32", 4, True),))
    with pytest.raises(CompileError):
        default_module(spec)


def test_dtype_mismatch_is_refused():
    spec = Elementwise((4,), Access(1, (1,)), (Access(0, (1,)),), inp(0, "i32"),
                       (Arg("f32", 4), Arg("i32", 4, True)))
    with pytest.raises(CompileError):
        default_module(spec)
