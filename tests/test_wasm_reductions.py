"""WASM Reduce, Softmax and LayerNorm: the refusals. Their numbers are checked by the shared
cases (tests/kernel_cases.py, tests/test_kernels_wasm.py)."""
import pytest

from webjit.errors import CompileError
from webjit.kernels import Arg, Reduce
from wasm_harness import default_module


def test_reduce_refuses_i32_l2():
    with pytest.raises(CompileError):
        default_module(Reduce("l2", 2, 3, (Arg("i32", 6), Arg("i32", 2, output=True))))
