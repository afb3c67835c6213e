"""Control flow, recurrent ops, TopK and scatters at import: what webjit refuses is one sentence
naming the node and the value (their numerics are op cases in tests/op_cases.py)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import webjit
from webjit.errors import UnsupportedError


def model(nodes, inputs, outputs, initializers=(), opset=16):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def tensor(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def branch(name, op_type, value, size):
    return helper.make_graph([helper.make_node(op_type, ["x", value], [f"{name}_y"])], name, [], [tensor(f"{name}_y", [size])])


def test_if_on_a_runtime_condition_with_unlike_branches_is_refused():
    m = model([helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Greater", ["s", "zero"], ["c"]),
               helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch("t", "Add", "one", 2),
                                else_branch=branch("e", "Concat", "x", 4))],
              [tensor("x", [2])], [tensor("y", [2])],
              [numpy_helper.from_array(np.ones(2, np.float32), "one"), numpy_helper.from_array(np.array(0, np.float32), "zero")])
    m.graph.node[2].attribute[0].g.node[0].attribute.append(helper.make_attribute("axis", 0))
    with pytest.raises(UnsupportedError, match=r"^If 'choose' takes its branch at run time, and its output 'y' is "
                                               r"float32\[2\] in one branch but float32\[4\] in the other; "):
        webjit.compile(m, {})


def loop_model():
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["a", "a"], ["a_out"])],
                             "body", [tensor("i", [], TensorProto.INT64), tensor("c", [], TensorProto.BOOL), tensor("a", [2])],
                             [tensor("c_out", [], TensorProto.BOOL), tensor("a_out", [2])])
    return model([helper.make_node("Loop", ["n", "", "a0"], ["a"], name="repeat", body=body)],
                 [tensor("n", [], TensorProto.INT64), tensor("a0", [2])], [tensor("a", [2])])


def test_loop_with_a_runtime_trip_count_is_refused_and_binding_it_unrolls():
    with pytest.raises(UnsupportedError, match=r"^Loop 'repeat' takes its trip count from model input 'n'; webjit "
                                               r"unrolls loops at compile time: bind it with --const n=VALUE$"):
        webjit.compile(loop_model(), {})
    bundle = webjit.compile(loop_model(), {}, webjit.Options(constants={"n": np.array(3)}))
    assert [s for s in bundle.manifest["steps"]], "the unrolled loop has kernel steps"


def test_an_unsupported_op_inside_a_body_is_listed():
    body = helper.make_graph([helper.make_node("RandomUniformLike", ["x"], ["t_y"])], "t", [], [tensor("t_y", [2])])
    m = model([helper.make_node("If", ["c"], ["y"], name="choose", then_branch=body, else_branch=body)],
              [tensor("x", [2])], [tensor("y", [2])], [numpy_helper.from_array(np.array(True), "c")])
    with pytest.raises(UnsupportedError, match=r"RandomUniformLike \(nodes: choose/else_branch/#0, choose/then_branch/#0\)"):
        webjit.compile(m, {})


def test_runtime_sequence_lens_are_refused():
    m = model([helper.make_node("GRU", ["x", "w", "r", "", "lens"], ["", "h"], name="gru", hidden_size=2)],
              [tensor("x", [3, 1, 2]), tensor("lens", [1], TensorProto.INT32)], [tensor("h", [1, 1, 2])],
              [numpy_helper.from_array(np.ones((1, 6, 2), np.float32), "w"),
               numpy_helper.from_array(np.ones((1, 6, 2), np.float32), "r")])
    with pytest.raises(UnsupportedError, match=r"^GRU 'gru' takes its sequence_lens from 'lens' at run time; .*"
                                               r"bind it with --const lens=VALUE$"):
        webjit.compile(m, {})


def test_topk_with_a_runtime_k_is_refused():
    m = model([helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")],
              [tensor("x", [2, 5]), tensor("k", [1], TensorProto.INT64)],
              [tensor("v", [2, None]), tensor("i", [2, None], TensorProto.INT64)])
    with pytest.raises(UnsupportedError, match=r"^TopK 'top' takes its k from 'k', .*bind it with --const k=VALUE$"):
        webjit.compile(m, {})


def test_topk_over_a_very_long_row_is_refused():
    m = model([helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")], [tensor("x", [1, 1000000])],
              [tensor("v", [1, 1000]), tensor("i", [1, 1000], TensorProto.INT64)],
              [numpy_helper.from_array(np.array([1000], np.int64), "k")])
    with pytest.raises(UnsupportedError, match=r"^TopK 'top' ranks 1 rows of 1000000 elements for k=1000; .*up to "
                                               r"16777216 pairs per stage$"):
        webjit.compile(m, {})


def test_scatter_reducing_integers_is_refused():
    m = model([helper.make_node("ScatterND", ["d", "i", "u"], ["y"], name="sc", reduction="add")],
              [tensor("d", [4], TensorProto.INT64), tensor("i", [2, 1], TensorProto.INT64), tensor("u", [2], TensorProto.INT64)],
              [tensor("y", [4], TensorProto.INT64)])
    with pytest.raises(UnsupportedError, match=r"^ScatterND 'sc' reduces int64 values \(add\); webjit reduces float32$"):
        webjit.compile(m, {})


def test_a_function_op_whose_body_webjit_lacks_is_refused():
    m = model([helper.make_node("Bernoulli", ["x"], ["y"], name="coin", seed=1.0)], [tensor("x", [4])], [tensor("y", [4])],
              opset=22)
    with pytest.raises(UnsupportedError, match=r"^Bernoulli 'coin' is not supported \(ONNX defines it by "
                                               r"RandomUniformLike, which webjit does not support\)$"):
        webjit.compile(m, {})


def test_a_loop_too_long_to_unroll_is_refused():
    with pytest.raises(UnsupportedError, match=r"^Loop 'repeat' runs more than 4096 iterations; webjit unrolls"):
        webjit.compile(loop_model(), {}, webjit.Options(constants={"n": np.array(5000)}))
