"""Every shared kernel case (tests/kernel_cases.py) on WASM in Node: validated by wasm-validate,
run with 1 and 3 threads (which must agree bit for bit), checked against its reference."""
import numpy as np
import pytest

from webjit.targets import WasmTarget
from webjit.wasm.codegen import FAMILIES, default_kernel, wasm_kernel
from kernel_cases import build_all
from wasm_harness import run_wasm, validate

CASES = {name: case for name, case in build_all().items() if "wasm" in case.backends}


@pytest.mark.parametrize("name", list(CASES))
def test_case(name, tmp_path):
    case = CASES[name]
    config = case.config("wasm")
    if config is None:
        wasm = default_kernel(case.spec).code
    else:  # a given config, resolved for an engine with relaxed SIMD (Node runs with it)
        target = WasmTarget(relaxed_simd=True)
        wasm = wasm_kernel(case.spec, FAMILIES[case.spec.family].resolve(config, case.spec, target), target).code
    validate(wasm, tmp_path, relaxed=True)
    runs = [run_wasm(wasm, case.args, case.outputs, nthreads=n) for n in (1, 3)]
    for one, three in zip(*runs):
        np.testing.assert_array_equal(one, three)
    case.check(*runs[0])
