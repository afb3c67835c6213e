"""The shared op cases (tests/op_cases.py) on the WebGPU backend: Node, the npm `webgpu`
package (Dawn) on Chromium's SwiftShader driver, against onnxruntime."""
from __future__ import annotations

import pytest

from onnx_builders import check_close
from op_runner import CASES_BY_NAME, Prepared, outputs_of, prepare, run_all


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict[str, Prepared]:
    root = tmp_path_factory.mktemp("ops_webgpu")
    items = [prepare(case, root) for case in CASES_BY_NAME.values()]
    run_all(items, root, backend="webgpu", thread_counts=(1,))
    return {item.case["name"]: item for item in items}


@pytest.mark.parametrize("name", list(CASES_BY_NAME))
def test_op_case_on_webgpu(suite, name):
    item = suite[name]
    outputs = outputs_of(item, 1)
    for out in item.case["outputs"]:
        check_close(f"{name}/{out} (webgpu)", outputs[out], item.reference[out])
