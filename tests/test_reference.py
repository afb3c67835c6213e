"""The numpy reference interpreter of the Graph IR against onnxruntime, before and after the
graph passes: the oracle the later stages are held to must itself be right."""
from __future__ import annotations

import onnxruntime as ort
import pytest

from webjit.frontend import import_onnx
from webjit.models import example_inputs, export_model
from webjit.passes import run_passes
from webjit.reference import run_reference

from onnx_builders import build_model, check_close, input_values, model_shapes, reference_outputs
from op_cases import CASES
from numerics import assert_close


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_reference_matches_onnxruntime_on_op_case(case):
    feeds, constants = input_values(case)
    model = build_model(case, constants)
    expected = reference_outputs(model, feeds)
    graph = import_onnx(model, model_shapes(case))
    for stage, g in (("imported", graph), ("after passes", run_passes(graph))):
        got = run_reference(g, feeds)
        for out in case["outputs"]:
            check_close(f"{case['name']}/{out} ({stage})", got[out], expected[out])


@pytest.mark.parametrize("name", ["bert", "gpt2", "vit", "resnet50"])
def test_reference_matches_onnxruntime_on_small_model(name):
    path = export_model(name, size="small", seq=16)
    feeds = example_inputs(name, size="small", seq=16)
    graph = run_passes(import_onnx(path, {k: v.shape for k, v in feeds.items()}))
    got = run_reference(graph, feeds)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for meta, want in zip(session.get_outputs(), session.run(None, feeds)):
        assert_close(got[meta.name], want, 1e-5, f"{name}/{meta.name}")
