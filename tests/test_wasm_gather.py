"""WASM Gather and CumSum: the refusals. Their numbers are checked by the shared cases
(tests/kernel_cases.py, tests/test_kernels_wasm.py)."""
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, Gather
from wasm_harness import default_module


def test_gather_needs_i32_indices():
    with pytest.raises(CompileError):
        default_module(Gather(1, 3, 4, 2, (Arg("f32", 12), Arg("f32", 2), Arg("f32", 8, True))))
