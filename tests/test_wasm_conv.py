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
