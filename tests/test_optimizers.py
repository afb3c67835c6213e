"""The ai.onnx.preview.training update ops (Adagrad, Adam, Momentum) on both backends, against
onnx's reference evaluator (onnxruntime does not run them)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import webjit
from webjit.runner import run_bundle

from onnx_builders import check_close

CASES = {
    "Adagrad": ({"decay_factor": 0.1, "epsilon": 1e-5, "norm_coefficient": 1e-3}, ("X", "G", "H"), ("X", "H")),
    "Momentum_standard": ({"alpha": 0.9, "beta": 0.3, "mode": "standard", "norm_coefficient": 1e-2}, ("X", "G", "V"),
                          ("X", "V")),
    "Momentum_nesterov": ({"alpha": 0.8, "beta": 1.0, "mode": "nesterov", "norm_coefficient": 1e-2}, ("X", "G", "V"),
                          ("X", "V")),
    "Adam": ({"alpha": 0.9, "beta": 0.85, "epsilon": 1e-2, "norm_coefficient": 1e-3, "norm_coefficient_post": 1e-2},
             ("X", "G", "V", "H"), ("X", "V", "H")),
}
SHAPES = ((3,), (2, 4))  # two tensor groups per node


def optimizer_model(name):
    attrs, group, outs = CASES[name]
    op = name.split("_")[0]
    inputs = ["R", "T"] + [f"{role}{i}" for role in group for i in range(len(SHAPES))]
    outputs = [f"{role}{i}_new" for role in outs for i in range(len(SHAPES))]
    values = [helper.make_tensor_value_info("R", TensorProto.FLOAT, []),
              helper.make_tensor_value_info("T", TensorProto.INT64, [])]
    values += [helper.make_tensor_value_info(f"{role}{i}", TensorProto.FLOAT, list(s))
               for role in group for i, s in enumerate(SHAPES)]
    results = [helper.make_tensor_value_info(f"{role}{i}_new", TensorProto.FLOAT, list(s))
               for role in outs for i, s in enumerate(SHAPES)]
    node = helper.make_node(op, inputs, outputs, domain="ai.onnx.preview.training", **attrs)
    graph = helper.make_graph([node], name, values, results)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                   helper.make_opsetid("ai.onnx.preview.training", 1)], ir_version=10)


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("step", [0, 3])
def test_one_update_step_matches_the_reference(tmp_path, backend, name, step):
    model = optimizer_model(name)
    rng = np.random.default_rng(len(name) + step)
    feeds = {"R": np.array(0.1, np.float32), "T": np.array(step, np.int64)}
    for value in model.graph.input[2:]:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        feeds[value.name] = np.float32(rng.uniform(0.1, 1.0, shape) if value.name[0] == "H" else rng.standard_normal(shape))
    want = dict(zip([o.name for o in model.graph.output], ReferenceEvaluator(model).run(None, feeds)))
    webjit.compile(model, {}).save(tmp_path / "bundle")
    got = run_bundle(tmp_path / "bundle", feeds, backend=backend, browser="node", threads=1).outputs
    for out, value in want.items():
        check_close(f"{name}/{out} ({backend})", got[out], np.asarray(value, np.float32))
