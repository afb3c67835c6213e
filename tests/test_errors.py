"""Bad input gets one clear sentence and a non-zero exit, never a traceback or a wrong answer."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webjit import cli, pipeline


def one_sentence(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("webjit: error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in "\n".join(err)
    return errors[0]


def save(model: onnx.ModelProto, path) -> str:
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def matmul_model(dynamic=True):
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4] if dynamic else [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3] if dynamic else [2, 3])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g", [x], [y], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_truncated_model_file(tmp_path, capsys):
    path = save(matmul_model(), tmp_path / "m.onnx")
    data = open(path, "rb").read()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    assert cli.main(["compile", str(tmp_path / "cut.onnx"), "--shape", "x=2x4", "-o", str(tmp_path / "b")]) == 2
    assert "ONNX model" in one_sentence(capsys)


def test_file_that_is_not_onnx(tmp_path, capsys):
    (tmp_path / "notes.onnx").write_text("this is not a model\n" * 10)
    assert cli.main(["compile", str(tmp_path / "notes.onnx"), "-o", str(tmp_path / "b")]) == 2
    assert "ONNX model" in one_sentence(capsys)


def test_unsupported_ops_are_all_listed_before_code_generation(tmp_path, capsys, monkeypatch):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("RandomUniformLike", ["a"], ["b"], name="ru1"),
             helper.make_node("RandomNormalLike", ["x"], ["c"], name="rn1"),
             helper.make_node("RandomNormalLike", ["x"], ["d"], name="rn2")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3, 3]) for n in ("b", "c", "d")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], outs), opset_imports=[helper.make_opsetid("", 17)])
    path = save(model, tmp_path / "m.onnx")

    def no_codegen(*args, **kwargs):
        raise AssertionError("code generation ran before the unsupported ops were reported")
    monkeypatch.setattr(pipeline, "wasm_kernel", no_codegen)
    monkeypatch.setattr(pipeline, "lower", no_codegen)
    assert cli.main(["compile", path, "-o", str(tmp_path / "b")]) == 2
    message = one_sentence(capsys)
    for words in ("2 unsupported op type", "RandomUniformLike", "ru1", "RandomNormalLike", "rn1", "rn2"):
        assert words in message


@pytest.mark.parametrize("op, out_shape, words", [
    ("NonZero", [2, "k"], ("NonZero 'n'", "input", "model input 'x'", "--const x=VALUE")),
    ("Unique", ["k"], ("Unique 'n'", "model input 'x'", "--const x=VALUE")),
    ("Det", [], ("Det 'n'", "4x4", "up to 3x3")),
])
def test_data_dependent_or_large_ops_on_runtime_inputs_are_refused(tmp_path, capsys, op, out_shape, words):
    """An output shape decided by runtime values (or a determinant webjit does not expand) is one
    sentence naming the node, never a guess."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT if op != "NonZero" else TensorProto.INT64, out_shape)
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="n")], "g", [x], [y])
    path = save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    assert cli.main(["compile", path, "-o", str(tmp_path / "b")]) == 2
    message = one_sentence(capsys)
    for word in words:
        assert word in message, message


def test_missing_shape_for_a_dynamic_dimension(tmp_path, capsys):
    path = save(matmul_model(), tmp_path / "m.onnx")
    assert cli.main(["compile", path, "-o", str(tmp_path / "b")]) == 2
    message = one_sentence(capsys)
    assert "'x'" in message and "batch" in message and "--shape x=" in message


@pytest.mark.parametrize("shape, words", [("x=2", "declares 2"), ("x=3x5", "fixes it"), ("y=1x4", "does not have")])
def test_shape_that_does_not_fit_the_model(tmp_path, capsys, shape, words):
    model = matmul_model(dynamic=(shape != "x=3x5"))
    path = save(model, tmp_path / "m.onnx")
    assert cli.main(["compile", path, "--shape", shape, "-o", str(tmp_path / "b")]) == 2
    assert words in one_sentence(capsys)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    path = save(matmul_model(), tmp / "m.onnx")
    pipeline.compile(path, {"x": (2, 4)}).save(tmp / "b")
    return tmp


@pytest.mark.parametrize("browser", ["node", "chromium"])
def test_wrong_input_shape_at_run_time(bundle, capsys, browser):
    np.save(bundle / "x_bad.npy", np.ones((3, 4), np.float32))
    assert cli.main(["run", str(bundle / "b"), "--browser", browser, "--input", f"x={bundle / 'x_bad.npy'}"]) == 2
    assert "shape" in one_sentence(capsys)


def test_wrong_input_dtype_at_run_time(bundle, capsys):
    np.save(bundle / "x_int.npy", np.ones((2, 4), np.int64))
    assert cli.main(["run", str(bundle / "b"), "--browser", "node", "--input", f"x={bundle / 'x_int.npy'}"]) == 2
    assert one_sentence(capsys) == ("webjit: error: input 'x' has dtype int64 but the model expects float32; "
                                    "save it as float32")


def test_corrupt_bundle_payload(bundle, capsys, tmp_path):
    import shutil
    shutil.copytree(bundle / "b", tmp_path / "b")
    kernel = tmp_path / "b" / "kernels" / "k0.wasm"
    data = bytearray(kernel.read_bytes())
    data[-1] ^= 0xFF
    kernel.write_bytes(bytes(data))
    assert cli.main(["run", str(tmp_path / "b"), "--browser", "node"]) == 2
    assert "corrupt" in one_sentence(capsys)


def test_bundle_from_another_format_version(bundle, capsys, tmp_path):
    import shutil
    shutil.copytree(bundle / "b", tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["format_version"] = 99
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    assert cli.main(["run", str(tmp_path / "b"), "--browser", "node"]) == 2
    assert "format version" in one_sentence(capsys)


@pytest.mark.parametrize("elem_type, name", [(TensorProto.BFLOAT16, "BFLOAT16"), (TensorProto.UINT32, "UINT32")])
def test_input_dtype_the_runtime_cannot_carry(tmp_path, capsys, elem_type, name):
    x = helper.make_tensor_value_info("x", elem_type, [2, 3])
    y = helper.make_tensor_value_info("y", elem_type, [2, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    assert cli.main(["compile", path, "-o", str(tmp_path / "b")]) == 2
    message = one_sentence(capsys)
    assert f"'x' has element type {name}, which webjit does not support" in message
