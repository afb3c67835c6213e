"""Inputs that decide shapes: refused in one sentence when they come at run time, compiled
when `--const` (Options.constants) binds them, for every op kind that has such an input."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import webjit
from webjit.errors import ShapeError, UnsupportedError
from webjit.fuzz import ort_run
from webjit.pipeline import Options
from webjit.runner import run_bundle

F, I64 = TensorProto.FLOAT, TensorProto.INT64
X = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 11.5

# op -> (extra inputs in order: name, value to bind, or None for a data input), attrs, output type
CASES = {
    "Reshape": ([("shape", np.array([4, 6]))], {}, F),
    "Expand": ([("shape", np.array([2, 2, 3, 4]))], {}, F),
    "Unsqueeze": ([("axes", np.array([0, 3]))], {}, F),
    "Squeeze": ([("axes", np.array([0]))], {}, F),
    "Split": ([("split", np.array([1, 2]))], {"axis": 2}, F),
    "Tile": ([("repeats", np.array([1, 1, 2, 1]))], {}, F),
    "Slice": ([("starts", np.array([0, 3])), ("ends", np.array([2, -5])), ("axes", np.array([1, 2])),
               ("steps", np.array([1, -2]))], {}, F),
    "Pad": ([("pads", np.array([0, 0, 1, 0, 0, 0, 0, 2]))], {"mode": "constant"}, F),
    "Trilu": ([("k", np.array(1))], {}, F),
    "CumSum": ([("axis", np.array(-1))], {}, F),
    "ReduceSum": ([("axes", np.array([1]))], {"keepdims": 0}, F),
    "ReduceMax": ([("axes", np.array([0, 2]))], {"keepdims": 1}, F),
    "ConstantOfShape": ([("shape", np.array([2, 5]))], {"value": helper.make_tensor("v", F, [1], [1.5])}, F),
    "Range": ([("start", np.array(2.0, np.float32)), ("limit", np.array(9.0, np.float32)),
               ("delta", np.array(1.5, np.float32))], {}, F),
}


def model_for(op: str):
    extras, attrs, out_type = CASES[op]
    data = [] if op in ("ConstantOfShape", "Range") else ["x"]
    inputs = [helper.make_tensor_value_info("x", F, list(X.shape))] if data else []
    for name, value in extras:
        elem = F if value.dtype == np.float32 else I64
        inputs.append(helper.make_tensor_value_info(name, elem, list(value.shape)))
    outputs = [f"y{i}" for i in range(2 if op == "Split" else 1)]
    node = helper.make_node(op, data + [name for name, _ in extras], outputs, **attrs)
    graph = helper.make_graph([node], op, inputs, [helper.make_tensor_value_info(o, out_type, None) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    feeds = {name: value.astype(np.float32 if value.dtype == np.float32 else np.int64) for name, value in extras}
    if data:
        feeds["x"] = X
    expected = ort_run(model, feeds)  # shapes from onnxruntime: the declared outputs need them
    for out in model.graph.output:
        out.CopyFrom(helper.make_tensor_value_info(out.name, out_type, list(expected[out.name].shape)))
    return model, feeds, expected, {name: value for name, value in extras}


@pytest.mark.parametrize("op", sorted(CASES))
def test_a_shape_deciding_runtime_input_is_refused_in_one_sentence(op):
    model, _, _, bound = model_for(op)
    with pytest.raises(UnsupportedError) as info:
        webjit.compile(model)
    message = str(info.value)
    first = next(iter(bound))
    assert f"{op} '" in message and f"model input '{first}'" in message and f"--const {first}=VALUE" in message
    assert "\n" not in message


@pytest.mark.parametrize("op", sorted(CASES))
def test_const_binds_the_input_and_the_model_matches_onnxruntime(op, tmp_path):
    model, feeds, expected, bound = model_for(op)
    bundle = webjit.compile(model, options=Options(backends=("wasm",), constants=bound))
    assert [i["name"] for i in bundle.manifest["inputs"]] == (["x"] if "x" in feeds else [])
    bundle.save(tmp_path / "b")
    result = run_bundle(tmp_path / "b", {"x": X} if "x" in feeds else {}, backend="wasm", browser="node")
    for name, want in expected.items():
        np.testing.assert_allclose(result.outputs[name], want, rtol=1e-6)


def test_const_mistakes_are_one_sentence():
    model, _, _, _ = model_for("Reshape")
    with pytest.raises(ShapeError, match="--const names nope, which the model does not have as inputs"):
        webjit.compile(model, options=Options(constants={"nope": np.array([1])}))
    with pytest.raises(ShapeError, match=r"--const gives input 'shape' shape 3, but the model declares 2"):
        webjit.compile(model, options=Options(constants={"shape": np.array([1, 2, 3])}))
    with pytest.raises(ShapeError, match="fractional values, but it is int64"):
        webjit.compile(model, options=Options(constants={"shape": np.array([4.5, 6])}))
    with pytest.raises(ShapeError, match=r"--const gives input 'shape' shape a scalar, but the model declares 2"):
        webjit.compile(model, options=Options(constants={"shape": np.array(4)}))  # one number fills one element only


def test_one_number_fills_an_input_of_one_element(tmp_path):
    """A flag declared [1] (a merged decoder's use_cache_branch) takes NAME=1 from the command line."""
    flag = helper.make_tensor_value_info("flag", TensorProto.BOOL, [1])
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    branch = lambda value: helper.make_graph([helper.make_node("Mul", ["x", f"c{value}"], ["y"])], f"b{value}", [], [y],
                                             [helper.make_tensor(f"c{value}", F, [1], [value])])
    node = helper.make_node("If", ["flag"], ["y"], then_branch=branch(2.0), else_branch=branch(3.0))
    model = helper.make_model(helper.make_graph([node], "g", [x, flag], [y]), opset_imports=[helper.make_opsetid("", 17)])
    bundle = webjit.compile(model, options=Options(constants={"flag": np.array(1)}, backends=("wasm",)))
    assert [i["name"] for i in bundle.manifest["inputs"]] == ["x"] and bundle.manifest["bound"] == ["flag"]
    bundle.save(tmp_path / "b")
    x_value = np.array([1.5, -4.0], np.float32)
    result = run_bundle(tmp_path / "b", {"x": x_value}, browser="node")
    np.testing.assert_array_equal(result.outputs["y"], 2 * x_value)  # the then-branch


def test_the_command_line_binds_numbers_and_npy_files(tmp_path):
    model, _, expected, _ = model_for("Slice")
    onnx.save(model, tmp_path / "m.onnx")
    np.save(tmp_path / "steps.npy", np.array([1, -2], np.int64))
    command = [sys.executable, "-m", "webjit", "compile", str(tmp_path / "m.onnx"), "-q", "-o", str(tmp_path / "b"),
               "--const", "starts=0,3", "--const", "ends=2,-5", "--const", "axes=1,2",
               "--const", f"steps={tmp_path / 'steps.npy'}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = run_bundle(tmp_path / "b", {"x": X}, backend="wasm", browser="node").outputs["y0"]
    np.testing.assert_array_equal(out, expected["y0"])
    missing = subprocess.run(command[:6] + ["--const", "starts=0,3"], capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "bind it with --const ends=VALUE" in missing.stderr
