"""Input shapes from --shape and --dim (shapes.input_shapes): named dimensions sized once for
every input, -1 as a dynamic dimension, everything missing reported at once, and errors in the
caller's words."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import webjit
from webjit import cli
from webjit.errors import ShapeError
from webjit.runner import load_manifest
from webjit.shapes import CLI, PYTHON, input_shapes


def model(dims_x=("batch", "seq"), dims_m=("batch", "seq"), extra=None):
    inputs = [helper.make_tensor_value_info("ids", TensorProto.FLOAT, list(dims_x)),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, list(dims_m))]
    if extra is not None:
        inputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, list(extra)))
    nodes = [helper.make_node("Add", ["ids", "mask"], ["y"])]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(dims_x))],
                              [numpy_helper.from_array(np.zeros(1, np.float32), "unused")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_one_dim_sizes_every_input_that_declares_it():
    assert input_shapes(model(), dims={"batch": 2, "seq": 7}) == {"ids": (2, 7), "mask": (2, 7)}


def test_a_given_shape_sizes_its_named_dimensions_for_the_other_inputs():
    assert input_shapes(model(), shapes={"ids": (1, 5)}) == {"ids": (1, 5), "mask": (1, 5)}


def test_minus_one_is_a_dynamic_dimension():
    assert input_shapes(model((-1, 4), (-1, 4)), shapes={"ids": (3, 4), "mask": (3, 4)}) == {
        "ids": (3, 4), "mask": (3, 4)}
    with pytest.raises(ShapeError, match=r"input 'ids' \(\?x4\) has unnamed dynamic dimensions: give --shape ids=Nx4"):
        input_shapes(model((-1, 4), (-1, 4)), words=CLI)


def test_everything_missing_is_reported_at_once():
    with pytest.raises(ShapeError) as err:
        input_shapes(model(extra=(None, 3)), words=CLI)
    message = str(err.value)
    assert "batch, seq" in message and "'ids', 'mask'" in message and "--dim batch=N --dim seq=N" in message
    assert "input 'z' (?x3)" in message and "--shape z=Nx3" in message
    assert "\n" not in message


def test_python_words_in_python_errors():
    with pytest.raises(ShapeError, match=r"dims=\{'batch': N, 'seq': N\}.*shapes=\{'ids': \(N, N\)\}"):
        webjit.compile(model())
    with pytest.raises(ShapeError, match=r"shapes=\{'mask': \(1, 8\)\} makes dimension 'seq' 8, but "
                                         r"shapes=\{'ids': \(1, 5\)\} makes it 5"):
        input_shapes(model(), shapes={"ids": (1, 5), "mask": (1, 8)}, words=PYTHON)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"dims": {"sequence": 3}}, r"--dim names sequence, which no model input has as a dimension \(the named "
                                r"dimensions are batch, seq\)"),
    ({"shapes": {"nope": (1,)}}, r"--shape names nope, which the model does not have as inputs"),
    ({"shapes": {"ids": (1, 2, 3)}}, r"--shape gives input 'ids' 3 dimensions but the model declares 2"),
    ({"shapes": {"ids": (1, 5)}, "dims": {"seq": 4}}, r"--shape ids=1x5 makes dimension 'seq' 5, but --dim seq=4 "
                                                       r"makes it 4"),
    ({"dims": {"batch": -1}}, r"a size is a whole number of 0 or more"),
])
def test_bad_shapes_are_one_sentence(kwargs, pattern):
    with pytest.raises(ShapeError, match=pattern):
        input_shapes(model(), words=CLI, **kwargs)


def test_cli_dim_and_version(tmp_path, capsys):
    import onnx
    path = tmp_path / "m.onnx"
    onnx.save(model(), path)
    assert cli.main(["compile", str(path), "--dim", "batch=1", "--dim", "seq=3", "-o", str(tmp_path / "b"), "-q"]) == 0
    assert [i["shape"] for i in load_manifest(tmp_path / "b")["inputs"]] == [[1, 3], [1, 3]]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["compile", str(path), "--dim", "seq=8..1"])
    assert exit_.value.code == 2 and "a range of sizes is LO..HI" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"webjit {webjit.__version__}"
